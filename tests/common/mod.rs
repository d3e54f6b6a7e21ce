//! What the protocol test files share: loading bundled scenarios, and the two
//! sweeps every protocol's scenarios go through.

#![allow(dead_code)] // each test file uses its own part

use faultline_sim::Scenario;

pub fn bundled(name: &str) -> Scenario {
    faultline::cli::load_scenario(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The bundled scenarios under `folder/` that `keep` keeps.
pub fn bundled_in(folder: &str, keep: impl Fn(&str) -> bool) -> Vec<&'static str> {
    faultline::cli::BUNDLED.iter().map(|(n, _)| *n).filter(|n| n.starts_with(folder) && keep(n)).collect()
}

/// Every seed in `seeds` passes `s`; the failure names the first seed that does not.
pub fn passes_every_seed(s: &Scenario, seeds: std::ops::Range<u64>) {
    let out = faultline::cli::sweep::run_seeds(s, seeds, 2, &indicatif::ProgressBar::hidden());
    let failing: Vec<_> = out.iter().filter(|o| !o.failures.is_empty()).map(|o| (o.seed, &o.failures[0])).collect();
    assert!(failing.is_empty(), "{}: {} failing seeds, first: {:?}", s.path, failing.len(), failing.first());
}

/// The scenario passes its own seed range's first ten seeds (or 1..11).
pub fn passes_ten_seeds(name: &str) {
    let s = bundled(name);
    let seeds = s.seeds.clone().map_or(1..11, |r| r.start..r.start + 10);
    let out = faultline::cli::sweep::run_seeds(&s, seeds, 2, &indicatif::ProgressBar::hidden());
    for o in out {
        assert!(o.failures.is_empty(), "{name} seed {}: {:?}", o.seed, o.failures);
    }
}

/// On how many of its `seeds` a zoo scenario says it is caught: `[check] caught`.
pub fn stated_count(s: &Scenario) -> u64 {
    s.caught.unwrap_or_else(|| panic!("{}: a zoo scenario states `caught` in [check]", s.path))
}

/// A scenario that must fail is caught for one of `reasons` (the start of its first failure)
/// on exactly as many of its seeds as its `[check] caught` says,
/// its own seed among them, so `faultline run NAME` shows the bug.
pub fn zoo_is_caught_as_often_as_it_says(name: &str, reasons: &[&str]) {
    let s = bundled(name);
    let range = s.seeds.clone().expect("a zoo scenario states its seeds");
    let out = faultline::cli::sweep::run_seeds(&s, range.clone(), 2, &indicatif::ProgressBar::hidden());
    let caught: Vec<_> = out.iter().filter(|o| !o.failures.is_empty()).collect();
    for o in &caught {
        assert!(reasons.iter().any(|r| o.failures[0].starts_with(r)), "{name} seed {}: {}", o.seed, o.failures[0]);
    }
    let stated = stated_count(&s);
    assert_eq!(caught.len() as u64, stated, "{name}: its `caught` count is out of date");
    assert!(caught.iter().any(|o| o.seed == s.seed), "{name}: seed {} does not catch it", s.seed);
}

/// Fails with a line diff of `expected` against `actual` (`-` expected, `+` actual,
/// two lines of context), not two walls of text. `what` says what differs and how
/// to regenerate it.
pub fn assert_same_lines(actual: &str, expected: &str, what: &str) {
    if actual == expected {
        return;
    }
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    // The longest common subsequence, by dynamic programming: outputs are a few
    // hundred lines at most.
    let mut lcs = vec![vec![0u32; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let mut ops: Vec<(char, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            ops.push((' ', e[i]));
            (i, j) = (i + 1, j + 1);
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', e[i]));
            i += 1;
        } else {
            ops.push(('+', a[j]));
            j += 1;
        }
    }
    let near = |k: usize| ops[k.saturating_sub(2)..(k + 3).min(ops.len())].iter().any(|o| o.0 != ' ');
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            out.push_str(&format!("{op} {line}\n"));
            skipped = false;
        } else if !skipped {
            out.push_str("  ...\n");
            skipped = true;
        }
    }
    if actual.lines().eq(expected.lines()) {
        out.push_str("(the line endings differ)\n");
    }
    panic!("{what}\n--- expected\n+++ actual\n{out}");
}

/// Puts `table` between the `open` and `close` markers of the book page `book`:
/// rewrites the page with FAULTLINE_UPDATE_BOOK set, else fails with a line diff
/// naming `regenerate`, the command that rewrites it.
pub fn book_table(book: &str, open: &str, close: &str, table: &str, regenerate: &str) {
    let page = std::fs::read_to_string(book).unwrap_or_else(|e| panic!("{book}: {e}"));
    let start = page.find(open).unwrap_or_else(|| panic!("{book}: no marker {open}"));
    let end = page.find(close).unwrap_or_else(|| panic!("{book}: no marker {close}"));
    let text = format!("{}\n\n{table}\n{}", &page[..start + open.len()], &page[end..]);
    if std::env::var_os("FAULTLINE_UPDATE_BOOK").is_some() {
        std::fs::write(book, text).expect("write the book");
        return;
    }
    assert_same_lines(&text, &page, &format!("the table in {book} (regenerate: {regenerate})"));
}

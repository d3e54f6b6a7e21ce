//! The bug zoo's detection table (book/src/zoo.md) is measured, not claimed: for each
//! zoo variant, how many seeds of its own scenario and of its protocol's general
//! nemesis scenario (seeds 1..201, only the `variant` changed) fail the check that
//! names its bug. Every count in the table must be what a sweep finds today, and every
//! variant must be caught by its general scenario on at least 5% of those seeds. The
//! zoo files' own `[check] caught` counts are checked against the same sweeps.
//!
//! After a change that moves the counts on purpose, regenerate the table with
//!
//!     FAULTLINE_UPDATE_BOOK=1 cargo test --test zoo

mod common;

use faultline::cli::sweep::{SeedOutcome, caught_enough, run_seeds};
use faultline_sim::scenario::Expect;
use indicatif::ProgressBar;

const BOOK: &str = "book/src/zoo.md";
const OPEN: &str = "<!-- zoo-table: measured by tests/zoo.rs -->";
const CLOSE: &str = "<!-- /zoo-table -->";
/// The seeds of the general scenario, and the least share of them that must catch.
const GENERAL_SEEDS: std::ops::Range<u64> = 1..201;
const GENERAL_MIN_PERCENT: u64 = 5;

struct Row {
    protocol: String,
    variant: String,
    own: String,
    own_caught: String,
    general: String,
    general_caught: String,
    check: String,
}

fn cell(text: &str) -> String {
    text.trim().trim_matches('`').to_string()
}

fn rows(book: &str) -> Vec<Row> {
    let start = book.find(OPEN).unwrap_or_else(|| panic!("{BOOK} has no {OPEN}"));
    let end = book.find(CLOSE).unwrap_or_else(|| panic!("{BOOK} has no {CLOSE}"));
    book[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| protocol"))
        .map(|l| {
            let c: Vec<&str> = l.trim().trim_matches('|').split('|').collect();
            assert_eq!(c.len(), 7, "a zoo table row has 7 cells: {l}");
            Row {
                protocol: cell(c[0]),
                variant: cell(c[1]),
                own: cell(c[2]),
                own_caught: c[3].trim().to_string(),
                general: cell(c[4]),
                general_caught: c[5].trim().to_string(),
                check: c[6].trim().to_string(),
            }
        })
        .collect()
}

/// Seeds on which `check` (as `Check`'s Display words it) failed. "assertion on
/// `PROBE`" names any `[[check.assert]]` on that probe (the zoo file's and the
/// general scenario's sit on different lines, at different times).
fn caught_by(outcomes: &[SeedOutcome], check: &str) -> usize {
    let probe = check.strip_prefix("assertion on ");
    let names = |c: &faultline_sim::Check| match (c, probe) {
        (faultline_sim::Check::Assertion(label), Some(p)) => label.contains(&format!(": {p} ")),
        _ => c.to_string() == check,
    };
    outcomes.iter().filter(|o| o.checks.iter().any(names)).count()
}

fn sweep(s: &faultline_sim::Scenario, seeds: std::ops::Range<u64>) -> Vec<SeedOutcome> {
    run_seeds(s, seeds, 2, &ProgressBar::hidden())
}

#[test]
fn the_zoo_table_in_the_book_is_what_sweeps_measure() {
    let book = std::fs::read_to_string(BOOK).expect("the book's zoo chapter");
    let table = rows(&book);
    assert!(table.len() >= 16, "every zoo variant has a row");
    let mut measured = Vec::new();
    let mut wrong = Vec::new();
    for row in &table {
        // Its own scenario: the stated count, and the named check's count.
        let own = common::bundled(&row.own);
        assert_eq!((own.protocol.as_str(), own.variant.as_str()), (row.protocol.as_str(), row.variant.as_str()));
        assert_eq!(own.expect, Expect::Fail, "{} says expect = \"fail\"", row.own);
        let range = own.seeds.clone().expect("a zoo scenario states its seeds");
        let out = sweep(&own, range.clone());
        let any = out.iter().filter(|o| !o.failures.is_empty()).count() as u64;
        assert_eq!(any, common::stated_count(&own), "{}: its `caught` count", row.own);
        assert!(out.iter().all(|o| !o.panicked), "{}: a seed panicked", row.own);
        let min = own.catch_at_least.unwrap_or_else(|| panic!("{} states catch_at_least", row.own));
        assert!(
            caught_enough(&own, any as usize, (range.end - range.start) as usize),
            "{}: caught on {any} seeds, under its catch_at_least of {min}",
            row.own
        );
        let own_caught = format!("{} / {}", caught_by(&out, &row.check), range.end - range.start);

        // The general scenario with only the variant changed.
        let mut general = common::bundled(&row.general);
        assert_eq!(general.variant, "correct", "{} runs the correct variant", row.general);
        general.variant = row.variant.clone();
        let out = sweep(&general, GENERAL_SEEDS);
        let n = caught_by(&out, &row.check) as u64;
        let seeds = GENERAL_SEEDS.end - GENERAL_SEEDS.start;
        assert!(
            n * 100 >= GENERAL_MIN_PERCENT * seeds,
            "{} {}: caught by {} on only {n} of {seeds} seeds of {}",
            row.protocol,
            row.variant,
            row.check,
            row.general
        );
        let general_caught = format!("{n} / {seeds}");
        if (own_caught.as_str(), general_caught.as_str()) != (row.own_caught.as_str(), row.general_caught.as_str()) {
            wrong.push(format!(
                "{} {}: the table says {} and {}, sweeps find {own_caught} and {general_caught}",
                row.protocol, row.variant, row.own_caught, row.general_caught
            ));
        }
        measured.push((row, own_caught, general_caught));
    }
    if std::env::var_os("FAULTLINE_UPDATE_BOOK").is_some() {
        let mut text = String::new();
        text.push_str(&book[..book.find(OPEN).expect("open") + OPEN.len()]);
        text.push_str("\n\n| protocol | variant | its own scenario | caught there | general scenario | caught there | the check that names the bug |\n|---|---|---|---:|---|---:|---|\n");
        for (r, own, general) in &measured {
            text.push_str(&format!(
                "| {} | `{}` | `{}` | {own} | `{}` | {general} | {} |\n",
                r.protocol, r.variant, r.own, r.general, r.check
            ));
        }
        text.push('\n');
        text.push_str(&book[book.find(CLOSE).expect("close")..]);
        std::fs::write(BOOK, text).expect("write the book");
        return;
    }
    assert!(wrong.is_empty(), "{}\n(regenerate: FAULTLINE_UPDATE_BOOK=1 cargo test --test zoo)", wrong.join("\n"));
}

/// Every zoo file with a broken variant has a row: no variant escapes the table.
#[test]
fn every_zoo_variant_is_in_the_table() {
    let book = std::fs::read_to_string(BOOK).expect("the book's zoo chapter");
    let table = rows(&book);
    for name in common::bundled_in("zoo/", |_| true) {
        let s = common::bundled(name);
        if s.variant == "correct" {
            continue; // a correct protocol under faults it cannot survive, e.g. 3PC split
        }
        assert!(
            table.iter().any(|r| r.own == name && r.variant == s.variant),
            "{name} ({} {}) has no row in {BOOK}",
            s.protocol,
            s.variant
        );
    }
}

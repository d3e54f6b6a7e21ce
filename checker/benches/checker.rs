//! The linearizability checker on Porcupine's test data, parsing excluded, side by side
//! with Porcupine itself (its current source in `../shared/anchors/porcupine`, run by
//! that folder's `bench.sh` in this same run: Go's `testing.B`, parsing excluded too)
//! and with the todc-utils WGL checker (the etcd set; it has no key-value model).
//!
//!     cargo bench -p faultline-checker --bench checker
//!
//! Needs Go (`apt-get install golang-go`); the Porcupine half takes about three
//! minutes. `PORCUPINE_MS=FILE` reads bench.sh's output from FILE instead of running it.
//! Prints a Markdown table for BENCHMARKS.md. Our times are the best of 5 batches of
//! at least 20 ms each, per check.
#![allow(clippy::disallowed_methods)] // a benchmark reads the wall clock

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use faultline_checker::import::{Format, import};
use faultline_checker::linearizability::{Budget, LinResult};
use todc_utils::linearizability::WGLChecker;
use todc_utils::specifications::etcd::{EtcdSpecification, history_from_log};

const REPS: usize = 5;
/// How long one timed batch of our checks runs, at least.
const BATCH: Duration = Duration::from_millis(20);
const HARD: &[&str] = &["002", "007", "057", "099", "075", "040", "080", "097", "053", "085"];

fn best<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..REPS {
        let t0 = Instant::now();
        let r = f();
        best = best.min(t0.elapsed());
        out = Some(r);
    }
    (best, out.expect("ran"))
}

/// Our time per check: the best of [`REPS`] batches, each long enough to time (as Go's
/// `testing.B` makes Porcupine's): a file checked in 50 µs is checked hundreds of times
/// per batch, so a single slow run cannot halve its ratio.
fn ours(path: &Path) -> (Duration, LinResult) {
    let src = std::fs::read_to_string(path).expect("read");
    let name = path.display().to_string();
    let format = Format::detect(&src).expect("a known format");
    // Parsing excluded: each check gets its own copy of the parsed history.
    let parsed = || import(&name, &src, format).expect("parses");
    let t0 = Instant::now();
    let verdict = parsed().check(&Budget::default());
    let once = t0.elapsed();
    let per_batch = (BATCH.as_nanos() / once.as_nanos().max(1)).clamp(1, 10_000) as u32;
    let mut total = Duration::MAX;
    for _ in 0..REPS {
        let copies: Vec<_> = (0..per_batch).map(|_| parsed()).collect();
        let t0 = Instant::now();
        for imported in copies {
            std::hint::black_box(imported.check(&Budget::default()));
        }
        total = total.min(t0.elapsed() / per_batch);
    }
    (total, verdict)
}

fn todc(path: &Path) -> (Duration, bool) {
    let history = history_from_log(path.display().to_string());
    best(|| WGLChecker::<EtcdSpecification>::is_linearizable(history.clone()))
}

/// Porcupine's milliseconds per file: bench.sh's `<file> <ms>` lines, measured now.
fn porcupine_ms(shared: &Path) -> Vec<(String, f64)> {
    let text = match std::env::var_os("PORCUPINE_MS") {
        Some(file) => std::fs::read_to_string(&file).expect("read PORCUPINE_MS"),
        None => {
            let script = shared.join("anchors/porcupine/bench.sh");
            assert!(script.is_file(), "missing Porcupine's bench at {}", script.display());
            eprintln!("running {} (about three minutes)", script.display());
            let out = std::process::Command::new("bash").arg(&script).output().expect("run bench.sh");
            assert!(out.status.success(), "bench.sh failed: {}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8(out.stdout).expect("utf-8")
        }
    };
    let rows: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| {
            let (file, ms) = l.split_once(' ')?;
            Some((file.to_string(), ms.trim().parse().ok()?))
        })
        .collect();
    assert!(rows.len() >= 100, "bench.sh gave {} timings, not one per file", rows.len());
    rows
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    let dir = shared.join("validation/porcupine");
    assert!(dir.join("MANIFEST.md").is_file(), "missing validation data at {}", dir.display());
    let porcupine = porcupine_ms(&shared);
    let pc = |f: &str| porcupine.iter().find(|(n, _)| n == f).map_or(f64::NAN, |(_, m)| *m);
    let mut all_ratios: Vec<(f64, String)> = Vec::new();

    println!("| history | faultline | todc-utils WGL | Porcupine (same run) | faultline vs Porcupine |");
    println!("|---|---:|---:|---:|---:|");
    let (mut total_ours, mut total_todc, mut total_pc) = (Duration::ZERO, Duration::ZERO, 0.0);
    let mut hard_rows = Vec::new();
    let mut easy_ratios = Vec::new();
    for n in 0..=102 {
        let file = format!("jepsen/etcd_{n:03}.log");
        let path = dir.join(&file);
        if std::fs::metadata(&path).map_or(0, |m| m.len()) == 0 {
            continue; // etcd_095 is empty
        }
        let (t, _) = ours(&path);
        let (u, _) = todc(&path);
        total_ours += t;
        total_todc += u;
        total_pc += pc(&file);
        all_ratios.push((pc(&file) / (t.as_secs_f64() * 1e3), file.clone()));
        if HARD.contains(&&format!("{n:03}")[..]) {
            hard_rows.push((file, t, u));
        } else {
            easy_ratios.push(pc(&file) / (t.as_secs_f64() * 1e3));
        }
    }
    println!(
        "| etcd set (102 logs) | {} | {} | {:.0} ms | {:.1}x faster |",
        ms(total_ours),
        ms(total_todc),
        total_pc,
        total_pc / (total_ours.as_secs_f64() * 1e3)
    );
    easy_ratios.sort_by(f64::total_cmp);
    println!(
        "| the {} other etcd logs | | | | min {:.1}x, median {:.1}x |",
        easy_ratios.len(),
        easy_ratios[0],
        easy_ratios[easy_ratios.len() / 2]
    );
    for (file, t, u) in hard_rows {
        let p = pc(&file);
        println!("| {file} | {} | {} | {p:.3} ms | {:.1}x |", ms(t), ms(u), p / (t.as_secs_f64() * 1e3));
    }
    for file in
        ["kv/c01-ok.txt", "kv/c01-bad.txt", "kv/c10-ok.txt", "kv/c10-bad.txt", "kv/c50-ok.txt", "kv/c50-bad.txt"]
    {
        let (t, r) = ours(&dir.join(file));
        let p = pc(file);
        let verdict = if matches!(r, LinResult::Linearizable) { "ok" } else { "bad" };
        println!("| {file} ({verdict}) | {} | — | {p:.3} ms | {:.1}x |", ms(t), p / (t.as_secs_f64() * 1e3));
        all_ratios.push((p / (t.as_secs_f64() * 1e3), file.to_string()));
    }
    all_ratios.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (lo, lo_file) = &all_ratios[0];
    println!();
    println!("slowest against Porcupine: {lo_file} at {lo:.1}x; over all {} files:", all_ratios.len());
    for (r, f) in all_ratios.iter().take(5) {
        println!("  {f} {r:.2}x");
    }
}

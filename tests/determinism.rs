//! Determinism is sacred: the same scenario and seed give a byte-identical trace, run
//! after run, and a sweep's per-seed results do not depend on --jobs.

use faultline::cli::run::run_to_dir;
use faultline::cli::sweep::{digest, run_seeds};
use indicatif::ProgressBar;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_same_seed_writes_byte_identical_run_folders() {
    for name in [
        "pb/nemesis",
        "pb/crash-restart",
        "raft/nemesis",
        "raft/figure-8",
        "commit/twopc-nemesis",
        "commit/threepc-nemesis",
        "paxos/nemesis",
        "chash/migration-nemesis",
        "stream/nemesis",
        "images/one-group",
    ] {
        let scenario = faultline::cli::load_scenario(name).expect("bundled scenario");
        let (a, b) =
            (temp_dir(&format!("{}-a", name.replace('/', "-"))), temp_dir(&format!("{}-b", name.replace('/', "-"))));
        let ra = run_to_dir(&scenario, 17, &a).expect("run a");
        let rb = run_to_dir(&scenario, 17, &b).expect("run b");
        assert_eq!(ra.trace_hash, rb.trace_hash);
        assert!(ra.trace_lines > 1_000, "a real run: {} lines", ra.trace_lines);
        for file in ["trace.jsonl", "history.json", "summary.json"] {
            let fa = std::fs::read(a.join(file)).expect(file);
            let fb = std::fs::read(b.join(file)).expect(file);
            assert!(fa == fb, "{name}: {file} differs between two runs of seed 17");
        }
        // A run that only hashes its trace (a sweep's) gives the digest of the run
        // that wrote it: both hash the same typed events.
        let hashed = faultline_protocols::run(&scenario, 17, faultline_sim::Trace::hash_only());
        assert_eq!(hashed.trace_hash, ra.trace_hash, "{name}: hashing only, the same digest");
        assert_eq!(hashed.trace_lines, ra.trace_lines);
        let other = run_to_dir(&scenario, 18, &temp_dir("other")).expect("run c");
        assert_ne!(other.trace_hash, ra.trace_hash, "another seed, another trace");
    }
}

#[test]
fn sweep_results_do_not_depend_on_jobs() {
    let scenario = faultline::cli::load_scenario("pb/nemesis").expect("bundled scenario");
    let one = run_seeds(&scenario, 1..41, 1, &ProgressBar::hidden());
    let two = run_seeds(&scenario, 1..41, 2, &ProgressBar::hidden());
    assert_eq!(one.len(), 40);
    assert_eq!(one, two, "per-seed hashes, events and verdicts must match");
    assert_eq!(digest(&one), digest(&two));
    let mut hashes: Vec<u64> = one.iter().map(|o| o.trace_hash).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 40, "every seed is a different run");
}

#[test]
fn a_sweep_seed_replays_exactly_with_run() {
    let scenario = faultline::cli::load_scenario("zoo/pb-stale-reads").expect("bundled scenario");
    let swept = run_seeds(&scenario, 5..6, 1, &ProgressBar::hidden());
    let replayed = run_to_dir(&scenario, 5, &temp_dir("replay")).expect("run");
    assert_eq!(Some(swept[0].trace_hash), replayed.trace_hash);
    assert_eq!(swept[0].failures, replayed.failures());
}

fn panics_on_seed_3(s: &faultline_sim::Scenario, seed: u64, t: faultline_sim::Trace) -> faultline_sim::RunResult {
    assert_ne!(seed, 3, "boom at seed 3");
    faultline_protocols::run(s, seed, t)
}

#[test]
fn a_panicking_seed_is_a_failed_seed_and_the_sweep_goes_on() {
    let scenario = faultline::cli::load_scenario("pb/basic").expect("bundled scenario");
    let out = faultline::cli::sweep::run_seeds_with(panics_on_seed_3, &scenario, 1..6, 2, &ProgressBar::hidden());
    assert_eq!(out.len(), 5);
    for o in &out {
        if o.seed == 3 {
            assert!(o.panicked && !o.as_expected);
            assert!(
                o.failures[0].contains("the run panicked") && o.failures[0].contains("boom at seed 3"),
                "{:?}",
                o.failures
            );
        } else {
            assert!(!o.panicked && o.as_expected && o.trace_hash != 0, "seed {}", o.seed);
        }
    }
}

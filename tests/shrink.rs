//! `faultline shrink`: every bug-zoo scenario's own failing seed shrinks to a
//! scenario that fails the same check on its own, with at most a tenth of the
//! faults and operations the seed carried out (the nemesis' draws and the clients'
//! operations, written out). The table in the book's "Shrinking and exploring"
//! chapter is this test's output; regenerate it with
//!     FAULTLINE_UPDATE_BOOK=1 cargo test --test shrink

mod common;

use std::process::Command;

use faultline::cli::shrink::Registered;
use faultline_sim::shrink::{Host, shrink};

const BOOK: &str = "book/src/shrinking.md";
const OPEN: &str = "<!-- shrink-table: measured by tests/shrink.rs -->";
const CLOSE: &str = "<!-- /shrink-table -->";

#[test]
fn every_zoo_seed_shrinks_to_a_tenth_and_fails_the_same_check() {
    let mut table = String::from(
        "| zoo scenario | seed | check | faults | operations | nodes | duration | runs |\n|---|---|---|---|---|---|---|---|\n",
    );
    let t = faultline_sim::time::fmt_time;
    for name in common::bundled_in("zoo/", |_| true) {
        let s = common::bundled(name);
        let seed = s.seed;
        let before = Registered.run(&s, seed, false).failed_checks();
        assert!(!before.is_empty(), "{name}: its own seed {seed} must fail (tests/zoo.rs says so)");
        let shrunk = shrink(&Registered, &s, seed, &mut |_| {}).unwrap_or_else(|e| panic!("{name} seed {seed}: {e}"));
        // The file, read back and run alone, fails the check the seed failed first.
        assert_eq!(shrunk.check, before[0].check, "{name}: shrinking kept another failure");
        let rerun = Registered.run(&shrunk.scenario, seed, false).failed_checks();
        // (An assertion is the same one on whatever line the shrunk file puts it.)
        let same = |f: &faultline_sim::Failure| faultline_sim::shrink::same_check(&f.check, &shrunk.check);
        assert!(rerun.iter().any(same), "{name}: the shrunk file passes: {rerun:?}");
        assert!(shrunk.scenario.nemesis.is_none(), "{name}: the shrunk file still draws random faults");
        let (f0, f1) = shrunk.faults;
        let (o0, o1) = shrunk.ops;
        let (was, now) = (f0 + o0, f1 + o1);
        // A tenth of what the seed did; a hand-written schedule with under 20 inputs
        // has no tenth to shrink to, and must only not grow.
        if was >= 20 {
            assert!(now * 10 <= was, "{name} seed {seed}: {was} faults and operations shrank only to {now}");
        } else {
            assert!(now <= was, "{name}: shrinking added inputs");
        }
        table.push_str(&format!(
            "| {name} | {seed} | {} | {f0} → {f1} | {o0} → {o1} | {} → {} | {} → {} | {} |\n",
            shrunk.check,
            shrunk.nodes.0,
            shrunk.nodes.1,
            t(shrunk.duration.0),
            t(shrunk.duration.1),
            shrunk.runs
        ));
    }
    let regenerate = "FAULTLINE_UPDATE_BOOK=1 cargo test --test shrink";
    common::book_table(BOOK, OPEN, CLOSE, &table, regenerate);
}

/// A fresh folder of this test's own.
fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-shrink-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

fn faultline(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).current_dir(dir).output().expect("faultline runs")
}

#[test]
fn the_command_writes_a_file_that_fails_alone_and_a_run_folder_to_view() {
    let dir = temp("command");
    let root = env!("CARGO_MANIFEST_DIR");
    let zoo = format!("{root}/scenarios/zoo/raft-vote-without-log-check.toml");
    let out = faultline(&["shrink", &zoo, "--seed", "1", "--out", "small.toml", "--json"], &dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["check"], "invariant `leader-completeness`");
    assert!(report["faults"][1].as_u64() < report["faults"][0].as_u64());
    let folder = &dir.join(report["run_folder"].as_str().expect("a run folder"));
    assert!(folder.join("viewer.html").is_file(), "the shrunk run has a viewer");
    // The file runs alone and fails as it says it should (expect = "fail": exit 0).
    let text = std::fs::read_to_string(dir.join("small.toml")).expect("the file");
    assert!(text.contains("[[workload.operations]]") && !text.contains("[nemesis]"), "{text}");
    let run = faultline(&["run", "small.toml", "--json"], &dir);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout).expect("a summary");
    assert!(summary.to_string().contains("leader-completeness"), "{summary}");
    // A run folder shrinks from its own seed.
    let again = faultline(&["shrink", report["run_folder"].as_str().unwrap(), "--out", "again.toml"], &dir);
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
}

#[test]
fn a_seed_that_passes_is_refused_with_what_to_do() {
    let dir = temp("passes");
    let out = faultline(&["shrink", "raft/basic-agree", "--seed", "3"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("passes every check") && err.contains("faultline sweep"), "{err}");
    let bad = faultline(&["shrink", "no-such-scenario"], &dir);
    assert_eq!(bad.status.code(), Some(2));
}

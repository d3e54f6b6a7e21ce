//! Atomic commitment end to end: 2PC and 3PC stay atomic where they should, 2PC
//! blocks where 3PC does not, 3PC breaks under a partition, and each bug-zoo variant
//! is caught for its reason as often as its file says.

mod common;
use common::bundled;
use faultline_sim::scenario::{Expect, NemesisKind};
use faultline_sim::time::Dur;

fn sweep(name: &str, seeds: std::ops::Range<u64>) -> Vec<(u64, String)> {
    let s = bundled(name);
    let out = faultline::cli::sweep::run_seeds(&s, seeds, 2, &indicatif::ProgressBar::hidden());
    out.iter().filter(|o| !o.failures.is_empty()).map(|o| (o.seed, o.failures[0].clone())).collect()
}

#[test]
fn every_commit_scenario_passes_beyond_its_own_seed() {
    let names = common::bundled_in("commit/", |n| !n.ends_with("-nemesis") && bundled(n).expect == Expect::Pass);
    assert!(names.len() >= 12, "both protocols' scenarios are bundled: {names:?}");
    for name in names {
        common::passes_ten_seeds(name);
    }
}

#[test]
fn correct_2pc_passes_1000_seeds_of_crashes_loss_and_partitions() {
    let s = bundled("commit/twopc-nemesis");
    let kinds = &s.nemesis.as_ref().expect("a nemesis").kinds;
    for k in [NemesisKind::Partition, NemesisKind::Crash, NemesisKind::CrashLeader, NemesisKind::IsolateLeader] {
        assert!(kinds.contains(&k), "{k:?} is among the faults");
    }
    assert!(s.network.links.iter().all(|l| l.loss.0 > 0), "messages are lost");
    let failing = sweep("commit/twopc-nemesis", 1..1001);
    assert!(failing.is_empty(), "{} failing seeds, first: {:?}", failing.len(), failing.first());
}

#[test]
fn correct_3pc_passes_1000_seeds_of_crashes_and_loss_without_partitions() {
    let s = bundled("commit/threepc-nemesis");
    let kinds = &s.nemesis.as_ref().expect("a nemesis").kinds;
    assert!(kinds.contains(&NemesisKind::Crash) && kinds.contains(&NemesisKind::CrashLeader));
    assert!(!kinds.contains(&NemesisKind::Partition) && !kinds.contains(&NemesisKind::Pause));
    let failing = sweep("commit/threepc-nemesis", 1..1001);
    assert!(failing.is_empty(), "{} failing seeds, first: {:?}", failing.len(), failing.first());
}

/// The summary's "longest wait for an outcome", as a duration.
fn longest_wait(name: &str, seed: u64) -> u64 {
    let r = faultline_protocols::run(&bundled(name), seed, faultline_sim::Trace::off());
    assert!(r.failures().is_empty(), "{name} seed {seed}: {:?}", r.failures());
    let (_, text) = r.measures.iter().find(|(m, _)| m == "longest wait for an outcome").expect("measured");
    Dur::parse(text.split(' ').next().expect("a duration first")).expect("a duration").0
}

#[test]
fn after_the_same_coordinator_crash_2pc_blocks_and_3pc_does_not() {
    for seed in 1..=5 {
        let two = longest_wait("commit/twopc-coordinator-crash", seed);
        let three = longest_wait("commit/threepc-coordinator-crash", seed);
        // n1 is down from 1.15s to 3s: 2PC waits for it, 3PC's participants finish.
        assert!(two >= 1_500_000_000, "seed {seed}: 2PC waited only {two}ns");
        assert!(three < 1_000_000_000, "seed {seed}: 3PC waited {three}ns");
    }
}

#[test]
fn threepc_under_a_partition_is_caught_for_the_right_reason_as_often_as_its_file_says() {
    // The 2PC variants are in the zoo table (tests/zoo.rs).
    for (name, reason) in
        [("zoo/threepc-partition", "invariant `atomicity`"), ("commit/threepc-partition", "invariant `atomicity`")]
    {
        common::zoo_is_caught_as_often_as_it_says(name, &[reason]);
    }
}

#[test]
fn the_same_partition_leaves_2pc_atomic() {
    let failing = sweep("commit/twopc-partition", 1..101);
    assert!(failing.is_empty(), "{} failing seeds, first: {:?}", failing.len(), failing.first());
}

/// The zoo catches the bug, not the faults: the correct 2PC under each 2PC zoo
/// scenario's exact faults and seeds passes every one.
#[test]
fn correct_2pc_survives_every_2pc_zoo_scenario() {
    for name in ["zoo/twopc-majority-commit", "zoo/twopc-decision-before-log", "zoo/twopc-unilateral-abort"] {
        let zoo = bundled(name);
        let variant = format!("variant = \"{}\"", zoo.variant);
        assert!(zoo.source.contains(&variant), "{name} names its variant");
        let src =
            zoo.source.replace(&variant, "variant = \"correct\"").replace("expect = \"fail\"", "expect = \"pass\"");
        let s = faultline_sim::scenario::parse(name, &src, &faultline_protocols::catalog()).expect("parses");
        common::passes_every_seed(&s, s.seeds.clone().expect("a seed range"));
    }
}

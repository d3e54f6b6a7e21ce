//! `faultline explore`: breadth-first search over every interleaving of a small
//! configuration finds the zoo's protocol bugs with a shortest path, and nothing in
//! the correct protocols within the same kind of bounds (every state to the depth
//! bound seen: the search is complete, not cut short by a budget).

mod common;

use std::process::Command;

use faultline_sim::Check;
use faultline_sim::explore::{Bounds, Report, Stop};

fn explore(name: &str, variant: &str, bounds: Bounds) -> Report {
    let mut s = common::bundled(name);
    s.variant = variant.to_string();
    let entry = faultline_protocols::lookup(&s.protocol).expect("a bundled protocol");
    (entry.explore)(&s, bounds, &mut |_| {})
}

fn bounds(depth: usize, clients: usize) -> Bounds {
    Bounds { depth, timers: 2, crashes: 1, clients, ..Bounds::default() }
}

/// `variant` fails `check` within `depth` steps, on a path of at most `depth` steps.
fn finds(name: &str, variant: &str, depth: usize, clients: usize, check: &str) {
    let r = explore(name, variant, bounds(depth, clients));
    let cx = r
        .counterexample
        .unwrap_or_else(|| panic!("{name} {variant}: nothing found ({:?}, {} states)", r.stop, r.unique));
    assert_eq!(r.stop, Stop::Found);
    assert_eq!(cx.failure.check, Check::Invariant(check.into()), "{name} {variant}: {}", cx.failure.message);
    assert!(!cx.steps.is_empty() && cx.steps.len() <= depth, "{name} {variant}: {} steps", cx.steps.len());
}

/// The correct variant passes every state within `depth` steps, and the search saw them all.
fn passes(name: &str, depth: usize, clients: usize) {
    let r = explore(name, "correct", bounds(depth, clients));
    assert!(r.counterexample.is_none(), "{name}: {:?}", r.counterexample);
    assert_eq!(r.stop, Stop::Complete, "{name}: the search was cut short");
    assert_eq!(r.depth, depth);
    assert!(r.unique > 1_000, "{name}: only {} states: the search explored next to nothing", r.unique);
}

#[test]
fn raft_vote_bugs_are_found_and_the_reference_passes() {
    finds("explore/raft", "forget-vote", 8, 1, "one-vote-per-term");
    finds("explore/raft", "vote-without-log-check", 8, 0, "leader-completeness");
    passes("explore/raft", 6, 1);
}

#[test]
fn paxos_without_prepare_is_found_and_the_reference_passes() {
    finds("explore/paxos", "no-prepare", 8, 2, "agreement");
    passes("explore/paxos", 8, 2);
}

#[test]
fn twopc_bugs_are_found_and_the_reference_passes() {
    finds("explore/twopc", "majority-commit", 9, 2, "validity");
    finds("explore/twopc", "decision-before-log", 9, 2, "atomicity");
    passes("explore/twopc", 9, 2);
}

#[test]
fn a_shortest_path_is_shortest() {
    // Breadth-first: no path to the same failure is shorter, so a smaller depth bound
    // finds nothing.
    let r = explore("explore/raft", "forget-vote", bounds(8, 1));
    let steps = r.counterexample.expect("found").steps.len();
    let shorter = explore("explore/raft", "forget-vote", bounds(steps - 1, 1));
    assert!(shorter.counterexample.is_none());
    assert_eq!(shorter.stop, Stop::Complete);
}

#[test]
fn the_command_prints_the_path_writes_it_and_checks_its_numbers() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["explore", "explore/paxos", "--variant", "no-prepare", "--json"])
        .output()
        .expect("faultline runs");
    // The file expects a pass; the zoo variant fails it: exit 1, with the path.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(j["stop"], "found");
    assert!(j["unique"].as_u64() > Some(100) && j["unique_per_second"].as_u64() > Some(0), "{j}");
    assert!(
        j["counterexample"]["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s.as_str().unwrap().contains("Accept")))
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["explore", "explore/paxos", "--depth", "0"])
        .output()
        .expect("faultline runs");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--depth must be 1 to 1000"));
}

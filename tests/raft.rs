//! Raft end to end: the scenario mechanisms its lab needs (faults aimed at the
//! leader, assertions on probes, the liveness bound) do what they say, and fail when
//! they should.

use faultline_protocols::{catalog, run};
use faultline_sim::scenario::{Scenario, parse};
use faultline_sim::trace::TraceBuffer;
use faultline_sim::{RunResult, Trace};

fn scenario(src: &str) -> Scenario {
    parse("test.toml", src, &catalog()).unwrap_or_else(|e| panic!("{e}"))
}

mod common;
use common::bundled;

fn run_with_trace(s: &Scenario, seed: u64) -> (RunResult, Vec<serde_json::Value>) {
    let sink = TraceBuffer::default();
    let r = run(s, seed, Trace::to_writer(Box::new(sink.clone())));
    assert_eq!(r.trace_error, None);
    let text = sink.text();
    (r, text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect())
}

#[test]
fn a_crash_aimed_at_the_leader_hits_whoever_leads_then() {
    let s = bundled("raft/leader-failure");
    for seed in 1..=5 {
        let (r, trace) = run_with_trace(&s, seed);
        assert!(r.failures().is_empty(), "seed {seed}: {:?}", r.failures());
        let mut leader = None;
        let mut crashed = Vec::new();
        for ev in &trace {
            let text = ev["text"].as_str().unwrap_or("");
            if text.starts_with("leader, term") {
                leader = ev["node"].as_str().map(String::from);
            }
            if ev["ev"] == "crash" {
                crashed.push((ev["node"].as_str().map(String::from), leader.clone()));
            }
        }
        assert_eq!(crashed.len(), 2, "seed {seed}: two leader crashes");
        for (node, led) in crashed {
            assert_eq!(node, led, "seed {seed}: the crash hit the node that last became leader");
        }
    }
}

#[test]
fn a_false_assertion_fails_and_says_where_and_what_it_saw() {
    let src = bundled("raft/initial-election")
        .source
        .replace("probe = \"leaders\"\nat = \"2.5s\"\nequals = 1", "probe = \"leaders\"\nat = \"2.5s\"\nequals = 2");
    let s = scenario(&src);
    let r = run(&s, 1, Trace::off());
    let f = r.failures();
    assert_eq!(f.len(), 1, "{f:?}");
    let line = src.lines().position(|l| l == "probe = \"leaders\"").expect("the assertion") + 1;
    assert_eq!(f[0], format!("assertion failed (line {line}: `leaders` = 2 at 2.5s): it was 1"));
}

#[test]
fn probes_see_only_a_majority_group() {
    // Two of three cut off: no group holds a majority, so no leader is visible even
    // though the old leader still believes it leads.
    let s = scenario(
        r#"
name = "no majority"
protocol = "raft"
nodes = 3
duration = "3s"
[[faults]]
at = "1s"
isolate = "leader"
[[faults]]
at = "1s"
isolate = "follower"
[[check.assert]]
probe = "leader"
from = "1.01s"
to = "3s"
equals = 0
[[check.assert]]
probe = "leader"
at = "1s"
equals = 1
"#,
    );
    for seed in 1..=5 {
        let r = run(&s, seed, Trace::off());
        assert!(r.failures().is_empty(), "seed {seed}: {:?}", r.failures());
    }
}

#[test]
fn liveness_fails_when_a_majority_never_comes_back() {
    let s = scenario(
        r#"
name = "two of three crash for good"
protocol = "raft"
nodes = 3
duration = "5s"
[workload]
clients = 2
ops = 1000
rate = 20
timeout = "100ms"
retries = 100
[[faults]]
at = "1s"
crash = "follower"
[[faults]]
at = "1s"
crash = "follower"
[check]
liveness = "2s"
"#,
    );
    let r = run(&s, 1, Trace::off());
    let live: Vec<String> = r
        .failed_checks()
        .into_iter()
        .filter(|f| f.check == faultline_sim::Check::Liveness)
        .map(|f| f.message)
        .collect();
    assert!(
        live.iter().any(|m| m.starts_with("liveness: no leader with a majority within 2s of the last fault at 1s")),
        "{live:?}"
    );
    assert!(live.iter().any(|m| m.contains("did not complete within 2s")), "{live:?}");
    // The same cluster with the crashed nodes back is live.
    let healed = scenario(&s.source.replace("[check]", "[[faults]]\nat = \"2s\"\nrestart = \"crashed\"\n[check]"));
    let r = run(&healed, 1, Trace::off());
    assert!(r.failures().is_empty(), "{:?}", r.failures());
}

#[test]
fn every_raft_scenario_passes_beyond_its_own_seed() {
    let names = common::bundled_in("raft/", |n| n != "raft/nemesis");
    assert!(names.len() >= 20, "the MIT lab twins are bundled: {names:?}");
    for name in names {
        common::passes_ten_seeds(name);
    }
}

#[test]
fn correct_raft_passes_1000_seeds_of_the_random_nemesis() {
    let s = bundled("raft/nemesis");
    assert_eq!(s.variant, "correct");
    assert!(s.liveness.is_some());
    let out = faultline::cli::sweep::run_seeds(&s, 1..1001, 2, &indicatif::ProgressBar::hidden());
    let failing: Vec<_> =
        out.iter().filter(|o| !o.failures.is_empty()).map(|o| (o.seed, o.failures[0].clone())).collect();
    assert!(failing.is_empty(), "{} failing seeds, first: {:?}", failing.len(), failing.first());
}

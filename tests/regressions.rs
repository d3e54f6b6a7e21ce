//! Bugs that scenarios nobody on the team wrote found in the correct protocols and the
//! engine, each pinned by a regression scenario. Each failed on some of the 1,000
//! seeds it states before its fix (the count is in book/src/zoo.md) and must pass
//! all of them.

mod common;

#[test]
fn every_regression_scenario_passes_its_1000_seeds() {
    for name in [
        "raft/prevote-paused-voters",
        "raft/clock-step-back",
        "chash/rejoin-unacked",
        "chash/restart-forwards-stale",
        "chash/paused-across-join",
        "paxos/synod-self-delivery",
        "images/decision-before-prepare",
        "images/stale-round-ack",
        "images/handoff-under-lock",
    ] {
        let s = common::bundled(name);
        let seeds = s.seeds.clone().unwrap_or_else(|| panic!("{name} states the seeds it was measured on"));
        assert_eq!(seeds.end - seeds.start, 1000, "{name} is measured on 1,000 seeds");
        assert!(seeds.contains(&s.seed), "{name}: its own seed {} is among them", s.seed);
        assert!(s.description.as_deref().is_some_and(|d| d.starts_with("Regression.")), "{name} says why it exists");
        common::passes_every_seed(&s, seeds);
    }
}

/// The faults that made each bug still happen: the scenarios have not gone quiet.
#[test]
fn the_regression_scenarios_still_inject_what_broke_the_protocols() {
    let r = faultline_protocols::run(&common::bundled("raft/prevote-paused-voters"), 1, faultline_sim::Trace::off());
    assert!(r.stats.crashes > 10, "leaders crash again and again");
    let s = common::bundled("paxos/synod-self-delivery");
    let r = faultline_protocols::run(&s, 1, faultline_sim::Trace::off());
    assert!(r.stats.dropped_loss > 0 && r.stats.duplicated > 0, "the network still loses and duplicates");
}

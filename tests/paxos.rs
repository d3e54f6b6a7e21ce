//! Multi-Paxos end to end: every scenario passes beyond its own seed, the random
//! nemesis cannot break it, and each zoo variant is caught for its reason as often
//! as its file says.

mod common;

#[test]
fn every_paxos_scenario_passes_beyond_its_own_seed() {
    let names = common::bundled_in("paxos/", |n| n != "paxos/nemesis");
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        common::passes_ten_seeds(name);
    }
}

#[test]
fn correct_multi_paxos_passes_1000_seeds_of_the_random_nemesis() {
    let s = common::bundled("paxos/nemesis");
    assert_eq!(s.variant, "correct");
    common::passes_every_seed(&s, 1..1001);
}

#[test]
fn the_synod_chooses_one_proposed_value_over_1000_seeds_of_the_random_nemesis() {
    let s = common::bundled("paxos/synod-nemesis");
    common::passes_every_seed(&s, 1..1001);
}

/// `paxos/gaps` forces a gap (a slot only a minority accepted below one a majority
/// did) on as many seeds as its description says; every seed passes its checks.
#[test]
fn a_leader_change_fills_gaps_with_no_ops_as_often_as_the_scenario_says() {
    let s = common::bundled("paxos/gaps");
    let range = s.seeds.clone().expect("a seed range");
    let mut gaps = 0;
    for seed in range.clone() {
        let r = faultline_protocols::run(&s, seed, faultline_sim::Trace::off());
        assert!(r.failures().is_empty(), "seed {seed}: {:?}", r.failures());
        let (_, log) = r.measures.iter().find(|(m, _)| m == "log").expect("the log measure");
        if !log.contains(" 0 of them no-ops") {
            gaps += 1;
        }
    }
    let description = s.description.clone().unwrap_or_default().replace('\n', " ");
    let stated: u64 = description
        .split("Gaps on ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the description says on how many seeds");
    assert_eq!(gaps, stated, "paxos/gaps: the description's count is out of date");
}

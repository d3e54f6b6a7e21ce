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
fn the_paxos_zoo_is_caught_for_the_right_reason_as_often_as_its_files_say() {
    for (name, reason) in [
        ("zoo/paxos-no-prepare", "invariant `agreement`"),
        ("zoo/paxos-ignore-promises", "invariant `agreement`"),
        ("zoo/paxos-forget-promise", "invariant `promise-kept`"),
        ("zoo/paxos-shared-ballots", "invariant `agreement`"),
    ] {
        common::zoo_is_caught_as_often_as_it_says(name, &[reason]);
    }
}

#[test]
fn the_synod_chooses_one_proposed_value_over_1000_seeds_of_the_random_nemesis() {
    let s = common::bundled("paxos/synod-nemesis");
    common::passes_every_seed(&s, 1..1001);
}

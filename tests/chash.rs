//! The sharded store end to end: keys migrate on join and leave, through crashes,
//! loss and duplication, and no acknowledged write is lost; the zoo's placements and
//! shortcuts are caught.

mod common;
use faultline_protocols::chash::store::migrations;
use faultline_sim::NodeId;

#[test]
fn every_chash_scenario_passes_beyond_its_own_seed() {
    let names = common::bundled_in("chash/", |n| n != "chash/migration-nemesis");
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        common::passes_ten_seeds(name);
    }
}

#[test]
fn no_acknowledged_write_is_lost_over_1000_seeds_of_migrations_under_crashes() {
    let s = common::bundled("chash/migration-nemesis");
    assert!(s.linearizable, "the history is checked");
    let joins_and_leaves = s
        .faults
        .iter()
        .filter(|f| {
            matches!(
                f.action,
                faultline_sim::scenario::FaultAction::Join(_) | faultline_sim::scenario::FaultAction::Leave(_)
            )
        })
        .count();
    assert!(joins_and_leaves >= 6, "keys migrate again and again");
    common::passes_every_seed(&s, 1..1001);
}

#[test]
fn a_migration_plan_moves_what_changed_owner_and_names_the_change() {
    let v = |ids: &[usize]| ids.iter().map(|&i| NodeId(i)).collect::<Vec<_>>();
    let views = [v(&[0, 1, 2]), v(&[0, 1, 2, 3]), v(&[0, 2, 3])];
    for variant in ["correct", "mod-n"] {
        let plan = migrations(variant, 200, &views);
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[1].change, "+n4");
        assert_eq!(plan[2].change, "-n2");
        for m in &plan {
            assert_eq!(m.owned.iter().sum::<usize>(), 200, "{variant}: every key has one owner");
            assert_eq!(m.flows.values().sum::<usize>(), m.moved, "{variant}: flows add up");
        }
        // Removing n2 must move at least its keys.
        assert!(plan[2].moved as f64 >= plan[2].optimum, "{variant}");
    }
    let ring = migrations("correct", 200, &views);
    assert!(ring[1].flows.keys().all(|(_, to)| *to == NodeId(3)), "a ring moves keys only to the newcomer");
    assert!(ring[2].flows.keys().all(|(from, _)| *from == NodeId(1)), "and only from the leaver");
    let modn = migrations("mod-n", 200, &views);
    assert!(modn[1].moved > 2 * ring[1].moved, "mod n moves far more: {} vs {}", modn[1].moved, ring[1].moved);
}

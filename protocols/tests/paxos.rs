//! Multi-Paxos stepped by hand: what a new leader proposes after phase 1.

use std::collections::BTreeMap;

use faultline_protocols::paxos::{Cmd, Msg, Paxos, Timer, Variant};
use faultline_sim::disk::Durable;
use faultline_sim::protocol::Effect;
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::{Ctx, NodeId, Op, Protocol, TimerId};

fn put(client: usize, key: &str) -> Cmd {
    Cmd::Op { client, seq: 1, op: std::sync::Arc::new(Op::Put { key: key.into(), value: format!("{client}") }) }
}

/// The Accepts n1 sends n2 after it leads, by slot, having heard `promise` from n2.
fn accepts_after_phase_1(variant: Variant, reported: Vec<(u64, u64, Cmd)>) -> BTreeMap<u64, Cmd> {
    let mut rng = SimRng::new(1, Stream::Node(0));
    let mut effects: Vec<Effect<Paxos>> = Vec::new();
    let mut timers = 0;
    let mut p = {
        let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut effects, &mut timers);
        Paxos::start(&mut ctx, &variant, &Durable::new())
    };
    effects.clear();
    {
        let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut effects, &mut timers);
        p.on_timer(&mut ctx, TimerId(1), Timer::Election);
    }
    let ballot = effects
        .iter()
        .find_map(|e| match e {
            Effect::Send { msg: Msg::Prepare { ballot, .. }, .. } => Some(*ballot),
            _ => None,
        })
        .expect("the election sends Prepare");
    effects.clear();
    {
        let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut effects, &mut timers);
        // With its own promise, n2's makes a majority of three.
        p.on_message(&mut ctx, NodeId(1), Msg::Promise { ballot, accepted: reported, snapshot: None });
    }
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to: NodeId(1), msg: Msg::Accept { entries, .. } } => Some(entries.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

#[test]
fn a_new_leader_re_proposes_reported_values_and_fills_the_gaps_with_no_ops() {
    // n2 accepted values in slots 0 and 3 (in an earlier ballot); 1 and 2 are gaps.
    let reported = vec![(0, 65538, put(0, "k1")), (3, 65538, put(1, "k2"))];
    let accepts = accepts_after_phase_1(Variant::Correct, reported.clone());
    let expected = BTreeMap::from([(0, put(0, "k1")), (1, Cmd::Noop), (2, Cmd::Noop), (3, put(1, "k2"))]);
    assert_eq!(accepts, expected);

    // The zoo's ignore-promises proposes no-ops over the reported values.
    let ignoring = accepts_after_phase_1(Variant::IgnorePromises, reported);
    assert!(ignoring.values().all(|c| *c == Cmd::Noop), "{ignoring:?}");
    assert_eq!(ignoring.len(), 4);
}

//! Multi-Paxos stepped by hand: what a new leader proposes after phase 1, how it
//! answers a read, and what it does with a snapshot a promise carries.

use std::collections::BTreeMap;

use faultline_protocols::kv::Store;
use faultline_protocols::paxos::{Cmd, Msg, Paxos, Snap, Timer, Variant};
use faultline_sim::disk::Durable;
use faultline_sim::protocol::Effect;
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::{Ctx, NodeId, Op, Outcome, Protocol, Reply, Request, TimerId};

fn put(client: usize, key: &str) -> Cmd {
    Cmd::Op { client, seq: 1, op: std::sync::Arc::new(Op::Put { key: key.into(), value: format!("{client}") }) }
}

/// Node n1 of three, stepped by hand; each step returns the effects it had.
struct Node {
    p: Paxos,
    rng: SimRng,
    timers: u64,
}

impl Node {
    fn start(variant: Variant) -> Node {
        let mut rng = SimRng::new(1, Stream::Node(0));
        let (mut effects, mut timers) = (Vec::new(), 0);
        let p = Paxos::start(
            &mut Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut effects, &mut timers),
            &variant,
            &Durable::new(),
        );
        Node { p, rng, timers }
    }

    fn step(&mut self, f: impl FnOnce(&mut Paxos, &mut Ctx<'_, Paxos>)) -> Vec<Effect<Paxos>> {
        let mut effects = Vec::new();
        f(&mut self.p, &mut Ctx::manual(NodeId(0), 3, 0, &mut self.rng, &mut effects, &mut self.timers));
        effects
    }

    /// Times out and sends `Prepare`; returns its ballot.
    fn elect(&mut self) -> u64 {
        let effects = self.step(|p, ctx| p.on_timer(ctx, TimerId(1), Timer::Election));
        effects
            .iter()
            .find_map(|e| match e {
                Effect::Send { msg: Msg::Prepare { ballot, .. }, .. } => Some(*ballot),
                _ => None,
            })
            .expect("the election sends Prepare")
    }

    /// Leads, with n2's promise (and its own, a majority of three).
    fn lead(&mut self, reported: Vec<(u64, u64, Cmd)>, snapshot: Option<Snap>) -> (u64, Vec<Effect<Paxos>>) {
        let ballot = self.elect();
        let effects =
            self.step(|p, ctx| p.on_message(ctx, NodeId(1), Msg::Promise { ballot, accepted: reported, snapshot }));
        (ballot, effects)
    }
}

/// The Accepts n1 sends n2 in `effects`, by slot.
fn accepts(effects: &[Effect<Paxos>]) -> BTreeMap<u64, Cmd> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { to: NodeId(1), msg: Msg::Accept { entries, .. } } => Some(entries.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The Accepts n1 sends n2 after it leads, by slot, having heard `promise` from n2.
fn accepts_after_phase_1(variant: Variant, reported: Vec<(u64, u64, Cmd)>) -> BTreeMap<u64, Cmd> {
    accepts(&Node::start(variant).lead(reported, None).1)
}

fn replies(effects: &[Effect<Paxos>]) -> Vec<Reply> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The round of the first heartbeat in `effects`.
fn round_sent(effects: &[Effect<Paxos>]) -> Option<u64> {
    effects.iter().find_map(|e| match e {
        Effect::Send { msg: Msg::Heartbeat { round, .. }, .. } => Some(*round),
        _ => None,
    })
}

fn get(seq: u64, key: &str) -> Request {
    Request { client: 0, seq, op: Op::Get { key: key.into() }, attempt: 0, first: None }
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

#[test]
fn a_leader_answers_a_read_only_once_a_majority_acknowledges_a_round_sent_after_it() {
    let mut n = Node::start(Variant::Correct);
    let (ballot, _) = n.lead(Vec::new(), None);
    let effects = n.step(|p, ctx| p.on_request(ctx, get(1, "k")));
    assert!(replies(&effects).is_empty(), "answered before any acknowledgement: {effects:?}");
    assert!(accepts(&effects).is_empty(), "a read takes no slot");
    let round = round_sent(&effects).expect("a read starts a heartbeat round");
    assert!(round > 0);
    // An acknowledgement of an earlier round, or of another ballot, confirms nothing.
    let stale = n.step(|p, ctx| p.on_message(ctx, NodeId(1), Msg::Ack { ballot, round: round - 1 }));
    assert!(replies(&stale).is_empty(), "{stale:?}");
    let other = n.step(|p, ctx| p.on_message(ctx, NodeId(2), Msg::Ack { ballot: ballot + (1 << 16), round }));
    assert!(replies(&other).is_empty(), "{other:?}");
    // A second read while that round is out waits for the next one.
    let second = n.step(|p, ctx| p.on_request(ctx, get(2, "k")));
    assert!(replies(&second).is_empty());
    let answered = n.step(|p, ctx| p.on_message(ctx, NodeId(1), Msg::Ack { ballot, round }));
    let got = replies(&answered);
    assert_eq!(got.len(), 1, "{answered:?}");
    assert_eq!((got[0].seq, &got[0].outcome), (1, &Outcome::Value(String::new())));
    let next = round_sent(&answered).expect("the confirmed round starts the next one for the waiting read");
    assert_eq!(next, round + 1);
    let last = n.step(|p, ctx| p.on_message(ctx, NodeId(2), Msg::Ack { ballot, round: next }));
    assert_eq!(replies(&last).iter().map(|r| r.seq).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn a_promise_s_snapshot_stands_for_the_slots_it_covers() {
    // n2 applied slots 0..5 and dropped their records: its promise carries its store.
    let mut store = Store::default();
    store.apply(2, 1, &Op::Put { key: "k".into(), value: "v".into() }, true);
    let snap = Snap { upto: 5, noops: 2, store: Box::new(store) };
    let reported = vec![(6, 65538, put(1, "k2"))];
    let mut n = Node::start(Variant::Correct);
    let (ballot, effects) = n.lead(reported, Some(snap));
    // It proposes nothing below the snapshot: slot 5 is a gap, slot 6 the reported value.
    assert_eq!(accepts(&effects), BTreeMap::from([(5, Cmd::Noop), (6, put(1, "k2"))]));
    // And serves what the snapshot holds.
    let read = n.step(|p, ctx| p.on_request(ctx, get(1, "k")));
    let round = round_sent(&read).expect("a heartbeat round");
    n.step(|p, ctx| p.on_message(ctx, NodeId(1), Msg::Accepted { ballot, slots: vec![5, 6] }));
    let answered = n.step(|p, ctx| p.on_message(ctx, NodeId(1), Msg::Ack { ballot, round }));
    assert_eq!(
        replies(&answered).iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(),
        vec![Outcome::Value("v".into())]
    );
}

//! Raft stepped by hand: the rules a random run hits only now and then.

use faultline_protocols::raft::{Msg, Raft, Timer, Variant};
use faultline_sim::disk::Durable;
use faultline_sim::protocol::Effect;
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::{Ctx, NodeId, Protocol, TimerId};

const MS: u64 = 1_000_000;

struct Node {
    raft: Raft,
    rng: SimRng,
    effects: Vec<Effect<Raft>>,
    timers: u64,
}

impl Node {
    fn start(variant: Variant) -> Node {
        let (mut rng, mut effects, mut timers) = (SimRng::new(1, Stream::Node(0)), Vec::new(), 0);
        let raft = {
            let mut ctx = Ctx::manual(NodeId(0), 5, 0, &mut rng, &mut effects, &mut timers);
            Raft::start(&mut ctx, &variant, &Durable::new())
        };
        Node { raft, rng, effects, timers }
    }

    fn timer(&mut self, at_ms: u64, timer: Timer) {
        let mut ctx = Ctx::manual(NodeId(0), 5, at_ms * MS, &mut self.rng, &mut self.effects, &mut self.timers);
        self.raft.on_timer(&mut ctx, TimerId(99), timer);
    }

    fn message(&mut self, at_ms: u64, from: usize, msg: Msg) {
        let mut ctx = Ctx::manual(NodeId(0), 5, at_ms * MS, &mut self.rng, &mut self.effects, &mut self.timers);
        self.raft.on_message(&mut ctx, NodeId(from), msg);
    }

    /// The RequestVotes sent since the last call: (term, pre).
    fn asked(&mut self) -> Vec<(u64, bool)> {
        let asked = self
            .effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send { msg: Msg::RequestVote { term, pre, .. }, .. } => Some((*term, *pre)),
                _ => None,
            })
            .collect();
        self.effects.clear();
        asked
    }
}

/// Regression (raft/prevote-paused-voters): a candidate whose election timed out
/// falls back to a PreVote round. Two real votes for its old term that arrive late,
/// from voters paused across the election, must not make it leader of that term:
/// with its own vote they would be a majority of five, but a pre-candidate is a
/// follower, and another server may already lead that term.
#[test]
fn a_late_vote_for_an_old_term_does_not_elect_a_pre_candidate() {
    let mut n = Node::start(Variant::PreVote);
    n.timer(400, Timer::Election);
    assert!(n.asked().iter().all(|&(term, pre)| term == 1 && pre), "a PreVote round for term 1 first");
    n.message(401, 1, Msg::Vote { term: 1, granted: true, pre: true });
    n.message(402, 2, Msg::Vote { term: 1, granted: true, pre: true });
    assert!(n.asked().iter().all(|&(term, pre)| term == 1 && !pre), "then a real election for term 1");
    assert_eq!(n.raft.term, 1);

    // No real votes come; its election times out and it asks PreVotes for term 2.
    n.timer(1_000, Timer::Election);
    assert!(n.asked().iter().all(|&(term, pre)| term == 2 && pre), "a PreVote round for term 2");

    // Two paused voters resume and grant their votes for term 1.
    n.message(1_001, 3, Msg::Vote { term: 1, granted: true, pre: false });
    n.message(1_002, 4, Msg::Vote { term: 1, granted: true, pre: false });
    assert_eq!(n.raft.leads(), None, "leader of term {} on late votes", n.raft.term);
}

/// Regression (raft/clock-step-back): election timeouts are durations on the node's
/// monotonic clock. In a context made by hand the monotonic clock is the reading
/// given, so a timer that fires "before" the last contact changes nothing; what the
/// engine adds is that a wall-clock step never moves that clock (tested in sim).
#[test]
fn an_election_starts_one_timeout_after_the_last_contact() {
    let mut n = Node::start(Variant::Correct);
    n.timer(100, Timer::Election);
    assert!(n.asked().is_empty(), "100 ms is below any election timeout");
    n.timer(301, Timer::Election);
    assert_eq!(n.asked().first(), Some(&(1, false)), "past the longest timeout, an election");
}

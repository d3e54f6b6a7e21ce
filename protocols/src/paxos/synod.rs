//! Single-decree Paxos, the synod of "Paxos Made Simple" §2: every node is a
//! proposer, an acceptor and a learner, and together they choose one value.
//!
//! ## The algorithm
//! - Each node proposes its own value (`v1` for n1, and so on), a random 0 to 50 ms
//!   after it starts, so proposers compete from the first moment.
//! - **Phase 1a.** A proposer picks a ballot higher than any it has seen (a round
//!   number with its own id in the low bits, so ballots are unique) and sends
//!   `Prepare` to every acceptor.
//! - **Phase 1b.** An acceptor that has promised no higher ballot promises this one,
//!   syncs the promise, and answers with the value it has accepted, if any, and the
//!   ballot it accepted it in.
//! - **Phase 2a.** With promises from a majority, the proposer sends `Accept` with
//!   the value accepted in the highest ballot among them, or its own value if none
//!   was accepted.
//! - **Phase 2b.** An acceptor that has promised no higher ballot accepts, syncs, and
//!   tells every learner. A value accepted by a majority in one ballot is chosen;
//!   a learner that sees the majority learns it.
//! - A proposer that is refused or hears nothing for a while tries again with a
//!   higher ballot after a random back-off (100 to 300 ms, doubling up to 1.6 s), so
//!   duelling proposers do not pre-empt each other forever.
//!
//! The same checks as Multi-Paxos run after every event (`promise-kept`,
//! `agreement`), plus `validity`: the chosen value is one that was proposed.

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Observation, Protocol, Request, TimerId};
use serde::{Deserialize, Serialize};

use super::{Ballot, observed, print};

pub const VARIANTS: &[(&str, &str)] =
    &[("correct", "the synod: unique ballots, synced promises, values adopted from the promises, back-off")];

pub const PROBES: &[(&str, &str)] = &[
    ("learned", "nodes that have learned the chosen value"),
    ("ballots", "the highest round any proposer has reached (how much duelling it took)"),
];

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    Prepare { ballot: Ballot },
    Promise { ballot: Ballot, accepted: Option<(Ballot, String)> },
    Nack { promised: Ballot },
    Accept { ballot: Ballot, value: String },
    Accepted { ballot: Ballot, value: String },
}

faultline_sim::message_kinds!(Msg { Prepare, Promise, Nack, Accept, Accepted });

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Start (or restart) a round, unless the value is learned.
    Propose,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stored {
    Promised(Ballot),
    Accepted(Ballot, String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Synod {
    me: NodeId,
    n: usize,
    promised: Ballot,
    accepted: Option<(Ballot, String)>,
    ballot: Ballot,
    promises: BTreeMap<NodeId, Option<(Ballot, String)>>,
    /// Learners: who accepted what, per ballot.
    votes: BTreeMap<(Ballot, String), BTreeSet<NodeId>>,
    pub(crate) learned: Option<String>,
    backoff_ms: u64,
}

fn mine(me: NodeId) -> String {
    format!("v{}", me.0 + 1)
}

impl Synod {
    fn majority(&self) -> usize {
        self.n / 2 + 1
    }

    fn promise(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        self.promised = ballot;
        ctx.observe(Observation::Promised { ballot: observed(ballot) });
        ctx.write("promised", Stored::Promised(ballot));
        ctx.sync();
    }

    fn back_off(&mut self, ctx: &mut Ctx<'_, Self>) {
        let wait = ctx.rng().between(self.backoff_ms / 2, self.backoff_ms);
        self.backoff_ms = (self.backoff_ms * 2).min(1600);
        ctx.set_timer(Dur::from_millis(wait), Timer::Propose);
    }

    fn hear_accepted(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ballot: Ballot, value: String) {
        let voters = self.votes.entry((ballot, value.clone())).or_default();
        voters.insert(from);
        if voters.len() >= self.majority() && self.learned.is_none() {
            ctx.note(format!("learned {value} (ballot {}.{})", ballot >> 16, ballot & 0xffff));
            ctx.observe(Observation::Learned { slot: 0, value: print(&value) });
            self.learned = Some(value);
        }
    }

    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot, value: String) -> bool {
        if ballot < self.promised {
            return false;
        }
        if ballot > self.promised {
            self.promise(ctx, ballot);
        }
        ctx.write("accepted", Stored::Accepted(ballot, value.clone()));
        ctx.sync();
        ctx.observe(Observation::Accepted { slot: 0, ballot: observed(ballot), value: print(&value) });
        self.accepted = Some((ballot, value.clone()));
        true
    }
}

impl Protocol for Synod {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Stored;
    type Config = ();

    const PROBES: &'static [(&'static str, &'static str)] = PROBES;
    /// Every node proposes its own value: no client asks for anything.
    const OPS: &'static [faultline_sim::protocol::OpKind] = &[];

    fn start(ctx: &mut Ctx<'_, Self>, _: &(), durable: &Durable<Stored>) -> Self {
        // The draw that once named this incarnation for the checks: kept so that
        // every seed's random streams, and so its run, stay as they were.
        let _ = ctx.rng().next_u64();
        let mut s = Synod {
            me: ctx.id(),
            n: ctx.cluster_size(),
            promised: 0,
            accepted: None,
            ballot: 0,
            promises: BTreeMap::new(),
            votes: BTreeMap::new(),
            learned: None,
            backoff_ms: 200,
        };
        for v in durable.values() {
            match v {
                Stored::Promised(b) => s.promised = *b,
                Stored::Accepted(b, value) => s.accepted = Some((*b, value.clone())),
            }
        }
        let first = ctx.rng().between(0, 50);
        ctx.set_timer(Dur::from_millis(first), Timer::Propose);
        s
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        let outcome = faultline_sim::Outcome::Rejected("the synod takes no client requests".into());
        ctx.reply(faultline_sim::Reply { client: req.client, seq: req.seq, outcome });
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { ballot } => {
                if ballot >= self.promised {
                    if ballot > self.promised {
                        self.promise(ctx, ballot);
                    }
                    ctx.send(from, Msg::Promise { ballot, accepted: self.accepted.clone() });
                } else {
                    ctx.send(from, Msg::Nack { promised: self.promised });
                }
            }
            Msg::Promise { ballot, accepted } => {
                if ballot != self.ballot || self.promises.len() >= self.majority() {
                    return;
                }
                self.promises.insert(from, accepted);
                if self.promises.len() == self.majority() {
                    let value = self
                        .promises
                        .values()
                        .flatten()
                        .max_by_key(|(b, _)| *b)
                        .map_or_else(|| mine(self.me), |(_, v)| v.clone());
                    ctx.observe(Observation::Proposed { slot: 0, value: print(&value) });
                    for p in 0..self.n {
                        ctx.send(NodeId(p), Msg::Accept { ballot, value: value.clone() });
                    }
                }
            }
            Msg::Nack { promised } => {
                self.ballot = self.ballot.max(promised & !0xffff);
            }
            Msg::Accept { ballot, value } => {
                if self.accept(ctx, ballot, value.clone()) {
                    for p in 0..self.n {
                        ctx.send(NodeId(p), Msg::Accepted { ballot, value: value.clone() });
                    }
                } else {
                    ctx.send(from, Msg::Nack { promised: self.promised });
                }
            }
            Msg::Accepted { ballot, value } => self.hear_accepted(ctx, from, ballot, value),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, _timer: Timer) {
        if self.learned.is_some() {
            return;
        }
        let round = (self.ballot.max(self.promised) >> 16) + 1;
        self.ballot = round << 16 | (self.me.0 as u64 + 1);
        self.promises.clear();
        for p in 0..self.n {
            ctx.send(NodeId(p), Msg::Prepare { ballot: self.ballot });
        }
        self.back_off(ctx);
    }

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let up = nodes.iter().flatten();
        match name {
            "learned" => up.filter(|n| n.learned.is_some()).count() as i64,
            "ballots" => up.map(|n| (n.ballot >> 16) as i64).max().unwrap_or(0),
            _ => 0,
        }
    }
}

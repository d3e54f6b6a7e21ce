//! Two-phase commit (Gray 1978; Bernstein, Hadzilacos & Goodman 1987, ch. 7) over the
//! bank in [`crate::commit`].
//!
//! ## The algorithm
//! `n1` coordinates. For each client transaction it logs the transaction's start
//! (synced), sends `Prepare` with each participant's piece, and collects votes. If
//! every participant votes yes it decides commit; a no vote, or no vote within
//! `VOTE_TIMEOUT_MS`, decides abort. The decision is logged and synced before it is
//! sent to anyone (the participants and the client). Prepares and decisions are
//! re-sent every `RESEND_MS` (a few rounds) until voted on or acknowledged.
//!
//! A participant votes as [`crate::commit::Ledger::vote`] says; a yes vote is synced
//! first. Having voted yes it is *uncertain*: it may neither commit nor abort on its
//! own. If no decision comes within `ASK_AFTER_MS` it runs the cooperative
//! termination protocol: it asks the coordinator and every other participant. A
//! participant that knows the outcome tells it; one that has not voted yet aborts
//! its piece and says abort (it may: nobody can have committed without its vote);
//! an uncertain one cannot help. It asks again every `ASK_EVERY_MS`.
//!
//! Recovery: a restarted coordinator resends logged decisions and aborts every
//! transaction it began but did not decide (no participant can have committed it).
//! A restarted participant keeps its yes votes (locks and all) and asks.
//!
//! ## What it guarantees, and what it does not
//! Atomic and valid under any crash, loss, duplication or partition. Not
//! non-blocking: when the coordinator crashes after every participant voted yes and
//! before any learned the decision, they stay uncertain, holding their locks, until
//! the coordinator comes back. `faultline run` reports how long
//! ("longest wait for an outcome").
//!
//! ## The bug zoo
//! - `majority-commit`: commit once a majority of participants vote yes, as a
//!   widely shared blog post describes 2PC. Caught by `validity`.
//! - `decision-before-log`: the coordinator sends its decision first and logs it
//!   lazily (flushed every `FLUSH_MS`). A crash in between forgets a commit some
//!   participant already applied; the restarted coordinator aborts it. Caught by
//!   `atomicity`.
//! - `unilateral-abort`: a participant that voted yes and heard nothing for
//!   `ASK_AFTER_MS` aborts on its own. Caught by `atomicity` once the coordinator
//!   committed.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{Cluster, Ctx, NodeId, Protocol, Request, TimerId};
use serde::{Deserialize, Serialize};

use crate::commit::{
    COORDINATOR, Layout, Ledger, Piece, Record, Txn, TxnId, Vote, answer_ask, begin, decide, recover_coordinator,
    show_txn,
};

/// How often prepares and decisions are re-sent.
pub const RESEND_MS: u64 = 25;
/// How many times they are re-sent before the coordinator waits to be asked.
pub const RESEND_ROUNDS: u32 = 8;
/// How long the coordinator waits for every vote before it aborts.
pub const VOTE_TIMEOUT_MS: u64 = 250;
/// How long a participant that voted yes waits for the decision before asking.
pub const ASK_AFTER_MS: u64 = 300;
/// How often an uncertain participant asks again.
pub const ASK_EVERY_MS: u64 = 200;
/// `decision-before-log`: how often the coordinator flushes its log.
pub const FLUSH_MS: u64 = 30;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    Correct,
    MajorityCommit,
    DecisionBeforeLog,
    UnilateralAbort,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "logged decisions, cooperative termination, presumed abort after a coordinator crash"),
    ("majority-commit", "commits once a majority of participants vote yes"),
    ("decision-before-log", "sends the decision before it is durable; a crash forgets it"),
    ("unilateral-abort", "a participant that voted yes aborts on its own after a timeout"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        match name {
            "correct" => Some(Variant::Correct),
            "majority-commit" => Some(Variant::MajorityCommit),
            "decision-before-log" => Some(Variant::DecisionBeforeLog),
            "unilateral-abort" => Some(Variant::UnilateralAbort),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    Prepare {
        txn: TxnId,
        piece: Piece,
        participants: Vec<NodeId>,
    },
    Vote {
        txn: TxnId,
        vote: Vote,
    },
    Decision {
        txn: TxnId,
        commit: bool,
    },
    Ack {
        txn: TxnId,
    },
    /// An uncertain participant asks what became of `txn`.
    Ask {
        txn: TxnId,
    },
}

faultline_sim::message_kinds!(Msg { Prepare, Vote, Decision, Ack, Ask });

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    Resend { txn: TxnId, round: u32 },
    VoteTimeout { txn: TxnId },
    Ask { txn: TxnId },
    Flush,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TwoPc {
    variant: Variant,
    layout: Layout,
    me: NodeId,
    /// A participant's bank; on the coordinator, only its events.
    ledger: Ledger,
    /// The coordinator's transactions.
    txns: BTreeMap<TxnId, Txn>,
    flush_armed: bool,
}

impl TwoPc {
    fn is_coordinator(&self) -> bool {
        self.me == COORDINATOR
    }

    fn decide(&mut self, ctx: &mut Ctx<'_, Self>, id: TxnId, commit: bool) {
        let lazy = self.variant == Variant::DecisionBeforeLog;
        let decision = |txn, commit| Msg::Decision { txn, commit };
        if decide(ctx, &mut self.txns, id, commit, None, lazy, decision) && lazy && !self.flush_armed {
            self.flush_armed = true;
            ctx.set_timer(Dur::from_millis(FLUSH_MS), Timer::Flush);
        }
    }

    fn on_vote(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, id: TxnId, vote: Vote) {
        let variant = self.variant;
        let Some(txn) = self.txns.get_mut(&id) else { return };
        if let Some(commit) = txn.decision {
            ctx.send(from, Msg::Decision { txn: id, commit });
            return;
        }
        if !txn.pieces.contains_key(&from) {
            return;
        }
        txn.votes.insert(from, vote.yes);
        txn.values.extend(vote.values);
        if !vote.yes && txn.why.is_empty() {
            txn.why = format!("{from} voted no: {}", vote.why);
        }
        let yes = txn.votes.values().filter(|&&y| y).count();
        let no = txn.votes.len() - yes;
        let decision = match variant {
            Variant::MajorityCommit if 2 * yes > txn.pieces.len() => Some(true),
            Variant::MajorityCommit if 2 * no >= txn.pieces.len() => Some(false),
            Variant::MajorityCommit => None,
            _ if !vote.yes => Some(false),
            _ if txn.all_voted_yes() => Some(true),
            _ => None,
        };
        if let Some(commit) = decision {
            self.decide(ctx, id, commit);
        }
    }

    fn ask(&self, ctx: &mut Ctx<'_, Self>, id: TxnId, participants: &[NodeId]) {
        ctx.send(COORDINATOR, Msg::Ask { txn: id });
        for &p in participants {
            if p != self.me {
                ctx.send(p, Msg::Ask { txn: id });
            }
        }
    }
}

impl Protocol for TwoPc {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Record;
    type Config = (Variant, Layout);

    const PROBES: &'static [(&'static str, &'static str)] = crate::commit::PROBES;
    const OPS: &'static [faultline_sim::protocol::OpKind] = faultline_sim::protocol::OpKind::BANK;

    fn start(ctx: &mut Ctx<'_, Self>, config: &(Variant, Layout), durable: &Durable<Record>) -> Self {
        let (variant, layout) = *config;
        let me = ctx.id();
        // The draw that once named this incarnation for the checks: kept so that every
        // seed's random streams, and so its run, stay as they were.
        let _ = ctx.rng().next_u64();
        let mut node = TwoPc {
            variant,
            layout,
            me,
            ledger: Ledger::start(&layout, me, durable),
            txns: BTreeMap::new(),
            flush_armed: false,
        };
        if node.is_coordinator() {
            let (decided, undecided) = recover_coordinator(durable, &mut node.txns);
            for id in decided {
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: 0 });
            }
            if !undecided.is_empty() {
                ctx.note(format!("recovered: aborting {} undecided transaction(s)", undecided.len()));
            }
            for id in undecided {
                node.decide(ctx, id, false);
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: 0 });
            }
        } else {
            let undecided: Vec<TxnId> = node.ledger.undecided().map(|(&t, _)| t).collect();
            if !undecided.is_empty() {
                ctx.note(format!("recovered uncertain about {} transaction(s)", undecided.len()));
            }
            for id in undecided {
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Ask { txn: id });
            }
        }
        node
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        let prepare = |txn, piece, participants| Msg::Prepare { txn, piece, participants };
        let Some(id) = begin(ctx, &self.layout, &mut self.txns, &req, prepare) else { return };
        ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: 0 });
        ctx.set_timer(Dur::from_millis(VOTE_TIMEOUT_MS), Timer::VoteTimeout { txn: id });
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { txn, piece, participants } => {
                let fresh = self.ledger.status(txn).is_none();
                let vote = self.ledger.vote(ctx, txn, &piece, &participants);
                if fresh && vote.yes {
                    ctx.set_timer(Dur::from_millis(ASK_AFTER_MS), Timer::Ask { txn });
                }
                ctx.send(from, Msg::Vote { txn, vote });
            }
            Msg::Vote { txn, vote } => self.on_vote(ctx, from, txn, vote),
            Msg::Decision { txn, commit } => {
                if self.is_coordinator() {
                    return;
                }
                self.ledger.decide(ctx, txn, commit);
                ctx.send(COORDINATOR, Msg::Ack { txn });
            }
            Msg::Ack { txn } => {
                if let Some(t) = self.txns.get_mut(&txn)
                    && !t.acked.contains(&from)
                {
                    t.acked.push(from);
                }
            }
            Msg::Ask { txn } => {
                // An uncertain peer cannot help; everyone else answers.
                if let Some(Ok(commit)) = answer_ask(ctx, &mut self.ledger, &self.txns, txn) {
                    ctx.send(from, Msg::Decision { txn, commit });
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            Timer::Resend { txn: id, round } => {
                let Some(txn) = self.txns.get(&id) else { return };
                let mut outstanding = false;
                for (&p, piece) in &txn.pieces {
                    match txn.decision {
                        None if !txn.votes.contains_key(&p) => {
                            let participants = txn.participants();
                            ctx.send(p, Msg::Prepare { txn: id, piece: piece.clone(), participants });
                        }
                        Some(commit) if !txn.acked.contains(&p) => ctx.send(p, Msg::Decision { txn: id, commit }),
                        _ => continue,
                    }
                    outstanding = true;
                }
                if outstanding && round + 1 < RESEND_ROUNDS {
                    ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: round + 1 });
                }
            }
            Timer::VoteTimeout { txn: id } => {
                let Some(txn) = self.txns.get_mut(&id) else { return };
                if txn.decision.is_some() {
                    return;
                }
                if txn.why.is_empty() {
                    let missing: Vec<String> =
                        txn.pieces.keys().filter(|p| !txn.votes.contains_key(p)).map(|p| p.to_string()).collect();
                    txn.why = format!("no vote from {} within {VOTE_TIMEOUT_MS}ms", missing.join(", "));
                }
                let yes = txn.votes.values().filter(|&&y| y).count();
                let commit = self.variant == Variant::MajorityCommit && 2 * yes > txn.pieces.len();
                self.decide(ctx, id, commit);
            }
            Timer::Ask { txn } => {
                let Some(part) = self.ledger.parts.get(&txn) else { return };
                if part.status.decided() {
                    return;
                }
                if self.variant == Variant::UnilateralAbort {
                    ctx.note(format!("gave up waiting: abort {}", show_txn(txn)));
                    self.ledger.decide(ctx, txn, false);
                    return;
                }
                let participants = part.participants.clone();
                self.ask(ctx, txn, &participants);
                ctx.set_timer(Dur::from_millis(ASK_EVERY_MS), Timer::Ask { txn });
            }
            Timer::Flush => {
                self.flush_armed = false;
                ctx.sync();
            }
        }
    }

    fn leads(&self) -> Option<u64> {
        self.is_coordinator().then_some(1)
    }

    const HAS_LEADER: bool = true;

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        crate::commit::probe(nodes.iter().flatten().map(|n| (&n.ledger, &n.txns)), name)
    }

    fn measures(cluster: &Cluster<'_, Self>) -> Vec<(String, String)> {
        let nodes = cluster.nodes();
        let total = nodes.iter().flatten().next().map(|n| n.layout.bank.total());
        let participants = nodes.iter().enumerate().skip(1).map(|(i, n)| (NodeId(i), n.as_ref().map(|n| &n.ledger)));
        vec![crate::commit::money(participants, total)]
    }
}

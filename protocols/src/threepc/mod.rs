//! Three-phase commit (Skeen 1981, "Nonblocking commit protocols"; the termination
//! protocol as in Bernstein, Hadzilacos & Goodman 1987, §7.5) over the bank in
//! [`crate::commit`].
//!
//! ## The algorithm
//! `n1` coordinates. It logs the transaction's start, sends `CanCommit` with each
//! participant's piece and collects votes (re-sent every `RESEND_MS`). A no vote, or
//! a missing one after `PHASE_TIMEOUT_MS`, decides abort. If every vote is yes it
//! sends `PreCommit`; a participant moves from *uncertain* to *pre-committed*
//! (synced) and acknowledges. Once every participant acknowledged, or after
//! `PHASE_TIMEOUT_MS` (the silent ones will learn the outcome from the others), the
//! coordinator logs commit and sends `DoCommit` (an abort is logged and sent as `Abort`).
//!
//! The extra phase is what lets the participants finish without the coordinator. A
//! participant that voted yes and hears nothing about the transaction for
//! `SILENCE_MS` (plus `STAGGER_MS` per place it has in the participant list, so
//! the first one alive goes first) runs the termination protocol as the new
//! coordinator: it asks every other participant for its state (`StateReq`); anyone
//! who hears a `StateReq` defers its own. With the states in hand (the silent ones
//! count as crashed):
//! - someone committed (or aborted): everyone does the same;
//! - someone is pre-committed: pre-commit the uncertain ones, then commit;
//! - all are uncertain: abort (nobody can have committed: the coordinator commits
//!   only after pre-committing everyone it could reach).
//!
//! A participant that restarts while undecided takes no part in termination (its
//! state may be older than what it told others); it asks until someone tells it. A
//! restarted coordinator resends logged decisions and asks about the rest.
//!
//! Silence is measured by timers, not by comparing clock readings, so a clock that
//! steps does not set off a termination.
//!
//! ## What it guarantees, and what it does not
//! Under crashes and message loss (the network delivers within the timeouts, and a
//! silent node is a crashed one) it is atomic *and non-blocking*: the survivors
//! always decide, where 2PC would wait for the coordinator. Under a network
//! partition it is not atomic: the side holding a pre-committed participant commits,
//! the side holding only uncertain ones aborts. Both are shown by scenarios
//! (`commit/threepc-coordinator-crash`, `commit/threepc-partition`).

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{Cluster, Ctx, NodeId, Protocol, Request, TimerId};
use serde::{Deserialize, Serialize};

use crate::commit::{
    COORDINATOR, Layout, Ledger, Piece, Record, Status, Txn, TxnId, Vote, answer_ask, begin, decide,
    recover_coordinator, show_txn,
};

/// How often messages of the current phase are re-sent.
pub const RESEND_MS: u64 = 20;
/// How long the coordinator (or a terminating participant) waits in one phase.
pub const PHASE_TIMEOUT_MS: u64 = 200;
/// How many rounds a decision is re-sent to participants that have not acknowledged.
pub const DECISION_ROUNDS: u32 = 10;
/// How long a participant that voted yes waits, hearing nothing, before it starts
/// the termination protocol.
pub const SILENCE_MS: u64 = 400;
/// Added per place in the participant list, so terminations do not collide.
pub const STAGGER_MS: u64 = 100;
/// How often a restarted, undecided node asks for the outcome.
pub const ASK_EVERY_MS: u64 = 200;

pub const VARIANTS: &[(&str, &str)] =
    &[("correct", "pre-commit round, logged decisions, termination by the survivors, recovery by asking")];

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    CanCommit {
        txn: TxnId,
        piece: Piece,
        participants: Vec<NodeId>,
    },
    Vote {
        txn: TxnId,
        vote: Vote,
    },
    PreCommit {
        txn: TxnId,
    },
    PreAck {
        txn: TxnId,
    },
    /// Skeen's third phase: commit.
    DoCommit {
        txn: TxnId,
    },
    Abort {
        txn: TxnId,
    },
    Ack {
        txn: TxnId,
    },
    /// A terminating participant asks for the state of `txn`.
    StateReq {
        txn: TxnId,
    },
    /// A participant's state on `txn`; `recovering`: restarted undecided, so it
    /// does not count in a termination.
    State {
        txn: TxnId,
        status: Status,
        recovering: bool,
    },
    /// A restarted node asks what became of `txn`: a decided participant answers
    /// with the decision, an undecided one with its state.
    Ask {
        txn: TxnId,
    },
}

faultline_sim::message_kinds!(Msg { CanCommit, Vote, PreCommit, PreAck, DoCommit, Abort, Ack, StateReq, State, Ask });

impl Msg {
    fn decision(txn: TxnId, commit: bool) -> Msg {
        if commit { Msg::DoCommit { txn } } else { Msg::Abort { txn } }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    Resend {
        txn: TxnId,
        round: u32,
    },
    /// The coordinator's phase `phase` (0: votes, 1: pre-commit acks) is over.
    Phase {
        txn: TxnId,
        phase: u8,
    },
    /// Fires `SILENCE_MS` after the last word about `txn`, if `heard` is still current.
    Silence {
        txn: TxnId,
        heard: u32,
    },
    /// A terminating participant's phase (`precommitting` or polling) is over, or
    /// (`resend`) it is time to re-send that phase's messages.
    Terminate {
        txn: TxnId,
        precommitting: bool,
        resend: bool,
    },
    Ask {
        txn: TxnId,
    },
}

/// A participant running the termination protocol for one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Termination {
    /// False while polling states, true while pre-committing the uncertain ones.
    precommitting: bool,
    states: BTreeMap<NodeId, Status>,
    acked: Vec<NodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ThreePc {
    layout: Layout,
    me: NodeId,
    ledger: Ledger,
    /// The coordinator's transactions, and which are in the pre-commit phase.
    txns: BTreeMap<TxnId, Txn>,
    precommitting: BTreeSet<TxnId>,
    /// A restarted coordinator: per undecided transaction, the participants that
    /// answered and whether each had restarted undecided too.
    polled: BTreeMap<TxnId, BTreeMap<NodeId, bool>>,
    /// Per undecided transaction: a count of words heard about it (arms `Silence`).
    heard: BTreeMap<TxnId, u32>,
    terminating: BTreeMap<TxnId, Termination>,
}

impl ThreePc {
    fn is_coordinator(&self) -> bool {
        self.me == COORDINATOR
    }

    /// Our place in `txn`'s participant list.
    fn rank(&self, txn: TxnId) -> u64 {
        self.ledger.parts.get(&txn).and_then(|p| p.participants.iter().position(|&n| n == self.me)).unwrap_or(0) as u64
    }

    /// Someone spoke about `txn`: restart the silence count.
    fn heard(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId) {
        let Some(part) = self.ledger.parts.get(&txn) else { return };
        if part.status.decided() || part.recovering {
            return;
        }
        let heard = self.heard.entry(txn).or_default();
        *heard += 1;
        let heard = *heard;
        let after = SILENCE_MS + STAGGER_MS * self.rank(txn);
        ctx.set_timer(Dur::from_millis(after), Timer::Silence { txn, heard });
    }

    fn others(&self, txn: TxnId) -> Vec<NodeId> {
        self.ledger
            .parts
            .get(&txn)
            .map_or_else(Vec::new, |p| p.participants.iter().copied().filter(|&n| n != self.me).collect())
    }

    /// The coordinator decides, logs (synced), tells everyone and answers the client.
    fn decide(&mut self, ctx: &mut Ctx<'_, Self>, id: TxnId, commit: bool, given: Option<String>) {
        let decision = |txn, commit| Msg::decision(txn, commit);
        if decide(ctx, &mut self.txns, id, commit, given, false, decision) {
            ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: 0 });
        }
    }

    fn on_vote(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, id: TxnId, vote: Vote) {
        let Some(txn) = self.txns.get_mut(&id) else { return };
        if txn.decision.is_some() || !txn.pieces.contains_key(&from) || self.precommitting.contains(&id) {
            return;
        }
        txn.votes.insert(from, vote.yes);
        txn.values.extend(vote.values);
        if !vote.yes {
            txn.why = format!("{from} voted no: {}", vote.why);
            return self.decide(ctx, id, false, None);
        }
        if txn.all_voted_yes() {
            txn.acked.clear();
            for p in txn.participants() {
                ctx.send(p, Msg::PreCommit { txn: id });
            }
            self.precommitting.insert(id);
            ctx.set_timer(Dur::from_millis(PHASE_TIMEOUT_MS), Timer::Phase { txn: id, phase: 1 });
        }
    }

    /// Starts the termination protocol for `txn` as its new coordinator.
    fn terminate(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId) {
        let others = self.others(txn);
        ctx.note(format!(
            "no word on {} for {SILENCE_MS}ms: terminating, asking {} others",
            show_txn(txn),
            others.len()
        ));
        for &p in &others {
            ctx.send(p, Msg::StateReq { txn });
        }
        self.terminating.insert(txn, Termination { precommitting: false, states: BTreeMap::new(), acked: Vec::new() });
        if others.is_empty() {
            return self.conclude(ctx, txn);
        }
        ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Terminate { txn, precommitting: false, resend: true });
        ctx.set_timer(
            Dur::from_millis(PHASE_TIMEOUT_MS),
            Timer::Terminate { txn, precommitting: false, resend: false },
        );
    }

    /// Applies the termination rule to the states gathered (ours included).
    fn conclude(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId) {
        let Some(mine) = self.ledger.status(txn) else { return };
        let Some(term) = self.terminating.get_mut(&txn) else { return };
        let mut states: Vec<Status> = term.states.values().copied().collect();
        states.push(mine);
        if states.contains(&Status::Committed) {
            return self.finish(ctx, txn, true);
        }
        if states.contains(&Status::Aborted) {
            return self.finish(ctx, txn, false);
        }
        if !states.contains(&Status::PreCommitted) {
            return self.finish(ctx, txn, false);
        }
        if term.precommitting {
            return self.finish(ctx, txn, true);
        }
        // Someone is pre-committed: bring the uncertain ones along, then commit.
        term.precommitting = true;
        let uncertain: Vec<NodeId> =
            term.states.iter().filter(|(_, s)| **s == Status::Uncertain).map(|(&n, _)| n).collect();
        term.acked.clear();
        self.ledger.precommit(ctx, txn);
        if uncertain.is_empty() {
            return self.finish(ctx, txn, true);
        }
        for &p in &uncertain {
            ctx.send(p, Msg::PreCommit { txn });
        }
        ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Terminate { txn, precommitting: true, resend: true });
        ctx.set_timer(Dur::from_millis(PHASE_TIMEOUT_MS), Timer::Terminate { txn, precommitting: true, resend: false });
    }

    fn finish(&mut self, ctx: &mut Ctx<'_, Self>, txn: TxnId, commit: bool) {
        self.terminating.remove(&txn);
        ctx.note(format!("termination decides {} {}", if commit { "commit" } else { "abort" }, show_txn(txn)));
        self.ledger.decide(ctx, txn, commit);
        for p in self.others(txn) {
            ctx.send(p, Msg::decision(txn, commit));
        }
        ctx.send(COORDINATOR, Msg::decision(txn, commit));
    }

    /// A restarted coordinator hears a participant's state on an undecided `txn`.
    /// If every participant restarted undecided too, nobody can have decided (a
    /// decision is synced before anyone acts on it) and no termination is running
    /// (only participants that never restarted run one): aborting is safe, and
    /// without it they would all wait on each other forever.
    fn on_polled(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, txn: TxnId, status: Status, recovering: bool) {
        let Some(t) = self.txns.get(&txn) else { return };
        if t.decision.is_some() || !t.recovering || status.decided() {
            return;
        }
        let n = t.pieces.len();
        let polled = self.polled.entry(txn).or_default();
        polled.insert(from, recovering);
        if polled.len() == n && polled.values().all(|&r| r) {
            self.polled.remove(&txn);
            ctx.note(format!("every participant of {} restarted undecided: abort", show_txn(txn)));
            let why = "aborted: the coordinator and every participant restarted undecided".to_string();
            self.decide(ctx, txn, false, Some(why));
        }
    }

    fn ask(&self, ctx: &mut Ctx<'_, Self>, txn: TxnId, participants: &[NodeId]) {
        for &p in participants.iter().chain([&COORDINATOR]) {
            if p != self.me {
                ctx.send(p, Msg::Ask { txn });
            }
        }
    }
}

impl Protocol for ThreePc {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Record;
    type Config = Layout;

    const PROBES: &'static [(&'static str, &'static str)] = crate::commit::PROBES;
    const OPS: &'static [faultline_sim::protocol::OpKind] = faultline_sim::protocol::OpKind::BANK;

    fn start(ctx: &mut Ctx<'_, Self>, layout: &Layout, durable: &Durable<Record>) -> Self {
        let me = ctx.id();
        // The draw that once named this incarnation for the checks: kept so that every
        // seed's random streams, and so its run, stay as they were.
        let _ = ctx.rng().next_u64();
        let mut node = ThreePc {
            layout: *layout,
            me,
            ledger: Ledger::start(layout, me, durable),
            txns: BTreeMap::new(),
            precommitting: BTreeSet::new(),
            polled: BTreeMap::new(),
            heard: BTreeMap::new(),
            terminating: BTreeMap::new(),
        };
        let asking = if node.is_coordinator() {
            let (decided, undecided) = recover_coordinator(durable, &mut node.txns);
            for id in decided {
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: 0 });
            }
            undecided
        } else {
            node.ledger.undecided().map(|(&t, _)| t).collect()
        };
        if !asking.is_empty() {
            ctx.note(format!("recovered undecided on {} transaction(s): asking", asking.len()));
        }
        for txn in asking {
            ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Ask { txn });
        }
        node
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        let prepare = |txn, piece, participants| Msg::CanCommit { txn, piece, participants };
        let Some(id) = begin(ctx, &self.layout, &mut self.txns, &req, prepare) else { return };
        ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round: 0 });
        ctx.set_timer(Dur::from_millis(PHASE_TIMEOUT_MS), Timer::Phase { txn: id, phase: 0 });
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::CanCommit { txn, piece, participants } => {
                let fresh = self.ledger.status(txn).is_none();
                let vote = self.ledger.vote(ctx, txn, &piece, &participants);
                ctx.send(from, Msg::Vote { txn, vote });
                if fresh {
                    self.heard(ctx, txn);
                }
            }
            Msg::Vote { txn, vote } => self.on_vote(ctx, from, txn, vote),
            Msg::PreCommit { txn } => {
                self.ledger.precommit(ctx, txn);
                if matches!(self.ledger.status(txn), Some(Status::PreCommitted | Status::Committed)) {
                    ctx.send(from, Msg::PreAck { txn });
                }
                self.heard(ctx, txn);
            }
            Msg::PreAck { txn } => {
                if let Some(term) = self.terminating.get_mut(&txn) {
                    if term.precommitting && !term.acked.contains(&from) {
                        term.acked.push(from);
                    }
                    let waiting = term.states.iter().filter(|(_, s)| **s == Status::Uncertain).count();
                    if term.precommitting && term.acked.len() >= waiting {
                        self.finish(ctx, txn, true);
                    }
                    return;
                }
                let Some(t) = self.txns.get_mut(&txn) else { return };
                if t.decision.is_none() && !t.acked.contains(&from) {
                    t.acked.push(from);
                    if t.acked.len() == t.pieces.len() {
                        self.decide(ctx, txn, true, None);
                    }
                }
            }
            Msg::DoCommit { txn } | Msg::Abort { txn } => {
                let commit = matches!(msg, Msg::DoCommit { .. });
                if self.is_coordinator() {
                    // From a participant's termination (or an answer to our asking).
                    let given =
                        (!commit).then(|| "aborted: the participants' termination protocol decided".to_string());
                    return self.decide(ctx, txn, commit, given);
                }
                self.terminating.remove(&txn);
                self.ledger.decide(ctx, txn, commit);
                ctx.send(from, Msg::Ack { txn });
            }
            Msg::Ack { txn } => {
                if let Some(t) = self.txns.get_mut(&txn)
                    && !t.acked.contains(&from)
                {
                    t.acked.push(from);
                }
            }
            Msg::StateReq { txn } => {
                if let Some(term) = self.terminating.get(&txn) {
                    // Two terminations: the one earlier in the participant list goes on.
                    let theirs =
                        self.ledger.parts.get(&txn).and_then(|p| p.participants.iter().position(|&n| n == from));
                    if theirs.is_some_and(|r| (r as u64) > self.rank(txn)) && !term.precommitting {
                        return;
                    }
                    self.terminating.remove(&txn);
                }
                if self.ledger.status(txn).is_none() {
                    self.ledger.refuse(ctx, txn); // never voted: it may abort
                }
                let part = &self.ledger.parts[&txn];
                let (status, recovering) = (part.status, part.recovering);
                ctx.send(from, Msg::State { txn, status, recovering });
                self.heard(ctx, txn);
            }
            Msg::State { txn, status, recovering } => {
                if self.is_coordinator() {
                    return self.on_polled(ctx, from, txn, status, recovering);
                }
                let others = self.others(txn).len();
                let Some(term) = self.terminating.get_mut(&txn) else { return };
                if term.precommitting || recovering {
                    return;
                }
                term.states.insert(from, status);
                if status.decided() || term.states.len() == others {
                    self.conclude(ctx, txn);
                }
            }
            Msg::Ask { txn } => match answer_ask(ctx, &mut self.ledger, &self.txns, txn) {
                Some(Ok(commit)) => ctx.send(from, Msg::decision(txn, commit)),
                Some(Err(status)) => {
                    let recovering = self.ledger.parts[&txn].recovering;
                    ctx.send(from, Msg::State { txn, status, recovering });
                }
                None => {}
            },
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            Timer::Resend { txn: id, round } => {
                let Some(txn) = self.txns.get(&id) else { return };
                let precommitting = self.precommitting.contains(&id);
                let mut outstanding = false;
                for (&p, piece) in &txn.pieces {
                    let msg = match txn.decision {
                        Some(commit) if !txn.acked.contains(&p) => Msg::decision(id, commit),
                        None if txn.recovering => continue,
                        None if precommitting && !txn.acked.contains(&p) => Msg::PreCommit { txn: id },
                        None if !precommitting && !txn.votes.contains_key(&p) => {
                            Msg::CanCommit { txn: id, piece: piece.clone(), participants: txn.participants() }
                        }
                        _ => continue,
                    };
                    ctx.send(p, msg);
                    outstanding = true;
                }
                let round = if txn.decision.is_some() { round + 1 } else { round };
                if outstanding && round < DECISION_ROUNDS {
                    ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend { txn: id, round });
                }
            }
            Timer::Phase { txn: id, phase } => {
                let Some(txn) = self.txns.get_mut(&id) else { return };
                if txn.decision.is_some() {
                    return;
                }
                match (phase, self.precommitting.contains(&id)) {
                    (0, false) => {
                        let missing: Vec<String> =
                            txn.pieces.keys().filter(|p| !txn.votes.contains_key(p)).map(|p| p.to_string()).collect();
                        txn.why = format!("no vote from {} within {PHASE_TIMEOUT_MS}ms", missing.join(", "));
                        self.decide(ctx, id, false, None);
                    }
                    // Everyone voted yes and was told to pre-commit: the silent ones
                    // learn the outcome from the others.
                    (1, true) => self.decide(ctx, id, true, None),
                    _ => {}
                }
            }
            Timer::Silence { txn, heard } => {
                let Some(part) = self.ledger.parts.get(&txn) else { return };
                if part.status.decided() || part.recovering || self.heard.get(&txn) != Some(&heard) {
                    return;
                }
                if !self.terminating.contains_key(&txn) {
                    self.terminate(ctx, txn);
                }
                // If this termination stalls (or yields to another that then fails),
                // start over after another silence.
                self.heard(ctx, txn);
            }
            Timer::Terminate { txn, precommitting, resend } => {
                let Some(term) = self.terminating.get(&txn) else { return };
                if term.precommitting != precommitting {
                    return; // a timer of the phase before
                }
                if !resend {
                    return self.conclude(ctx, txn);
                }
                let missing: Vec<NodeId> = if precommitting {
                    let uncertain = term.states.iter().filter(|(_, s)| **s == Status::Uncertain).map(|(&n, _)| n);
                    uncertain.filter(|p| !term.acked.contains(p)).collect()
                } else {
                    self.others(txn).into_iter().filter(|p| !term.states.contains_key(p)).collect()
                };
                if missing.is_empty() {
                    return;
                }
                for p in missing {
                    let msg = if precommitting { Msg::PreCommit { txn } } else { Msg::StateReq { txn } };
                    ctx.send(p, msg);
                }
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Terminate { txn, precommitting, resend: true });
            }
            Timer::Ask { txn } => {
                if self.is_coordinator() {
                    let Some(t) = self.txns.get(&txn) else { return };
                    if t.decision.is_some() {
                        return;
                    }
                    let participants = t.participants();
                    self.polled.remove(&txn); // a fresh poll each round
                    self.ask(ctx, txn, &participants);
                } else {
                    let Some(part) = self.ledger.parts.get(&txn) else { return };
                    if part.status.decided() {
                        return;
                    }
                    let participants = part.participants.clone();
                    self.ask(ctx, txn, &participants);
                }
                ctx.set_timer(Dur::from_millis(ASK_EVERY_MS), Timer::Ask { txn });
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

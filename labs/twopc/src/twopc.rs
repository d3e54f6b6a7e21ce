//! Your two-phase commit of bank transfers: `n1` coordinates; `n2`, `n3`, ... hold
//! the accounts ([`Layout::home`] says which). Clients send transfers and reads to
//! the coordinator, which splits each into one piece per participant
//! ([`Layout::pieces`]), asks every participant to vote, and decides. Every handler
//! below compiles and does nothing; fill them in part by part, as README.md walks
//! you through, and grade as you go with `cargo run -- grade twopc --protocol mytwopc`.
//!
//! The bank itself is given: a participant's [`Ledger`] votes on a piece (locking
//! its accounts, syncing a yes vote, reporting it), and carries out a decision
//! (applying the piece on commit, releasing the locks, reporting it). The protocol
//! around it is yours. The rules the checks hold you to:
//! - `atomicity`: every participant of a transaction reaches the same decision, and
//!   it is final; `validity`: commit only if every participant voted yes.
//! - The bank's total is conserved, and every answer a client got is consistent
//!   with the ledgers.
//! - Report every decision the coordinator makes with `Observation::Decided` (the
//!   ledger reports the participants' own).
//! - Nothing outlives a crash but what you `ctx.write` and then `ctx.sync()`: a
//!   decision must be on the coordinator's disk before anyone hears it.
//! - Keep `ledger` and `txns` true: the probes (`undecided`, `locked`, `commits`,
//!   `aborts`) read them.

// The helpers below go unused until you use them: delete this line when you do.
#![allow(dead_code)]

use std::collections::BTreeMap;

use faultline::commit::{Layout, Ledger, Piece, Record, Txn, TxnId, Vote};
use faultline_sim::disk::Durable;
use faultline_sim::protocol::OpKind;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Observation, Outcome, Protocol, Reply, Request, TimerId};
use serde::Serialize;

/// The coordinator.
pub const COORDINATOR: NodeId = NodeId(0);
/// How long the coordinator waits for every vote before it may abort.
pub const VOTE_TIMEOUT: Dur = Dur::from_millis(250);
/// How often unanswered prepares and decisions are sent again (messages get lost).
pub const RESEND: Dur = Dur::from_millis(25);
/// How long a participant that voted yes waits for the decision before it asks.
pub const ASK_AFTER: Dur = Dur::from_millis(300);

/// The messages nodes send each other. A scenario's `drop` fault names them by
/// variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// Coordinator to participant: vote on your piece of `txn`.
    Prepare { txn: TxnId, piece: Piece, participants: Vec<NodeId> },
    /// Participant to coordinator: the vote ([`Ledger::vote`] makes it).
    Vote { txn: TxnId, vote: Vote },
    /// The outcome of `txn`.
    Decision { txn: TxnId, commit: bool },
    /// A participant carried out the decision.
    Ack { txn: TxnId },
    /// An uncertain participant asks what became of `txn`.
    Ask { txn: TxnId },
}
faultline_sim::message_kinds!(Msg { Prepare, Vote, Decision, Ack, Ask });

/// What a node arms its timers with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Timer {
    /// The coordinator gave up waiting for votes on `txn`.
    VoteTimeout { txn: TxnId },
    /// Send what is unanswered about `txn` again.
    Resend { txn: TxnId },
    /// A participant still uncertain about `txn` asks.
    Ask { txn: TxnId },
}

/// One node: the coordinator (`txns`) or a participant (`ledger`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TwoPc {
    pub me: NodeId,
    /// Which participant holds which account.
    pub layout: Layout,
    /// A participant's accounts, locks and parts in transactions (kept on its
    /// disk by the ledger itself, as `Record::Account` and `Record::Part`).
    pub ledger: Ledger,
    /// The coordinator's transactions: pieces, votes, decision. What of it
    /// survives a crash is what you write as `Record::Coord` and sync.
    pub txns: BTreeMap<TxnId, Txn>,
}

impl TwoPc {
    /// Report a decision the coordinator made on `txn`.
    pub fn observe_decided(ctx: &mut Ctx<'_, Self>, txn: TxnId, commit: bool, participants: Vec<NodeId>) {
        ctx.observe(Observation::Decided { txn, commit, participants, reads: Vec::new(), writes: Vec::new() });
    }
}

impl Protocol for TwoPc {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Record;
    /// The bank's layout, from the scenario.
    type Config = Layout;
    const OPS: &'static [OpKind] = OpKind::BANK;
    const PROBES: &'static [(&'static str, &'static str)] = faultline::commit::PROBES;

    /// A node starts, fresh or after a crash. A participant's ledger reads itself
    /// back from the disk. Part 2: a restarted coordinator reads back its
    /// `Record::Coord` entries, resends the decisions it made, and aborts what it
    /// had begun without deciding.
    fn start(ctx: &mut Ctx<'_, Self>, layout: &Layout, durable: &Durable<Record>) -> Self {
        let me = ctx.id();
        TwoPc { me, layout: *layout, ledger: Ledger::start(layout, me, durable), txns: BTreeMap::new() }
    }

    fn on_message(&mut self, _ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Msg) {
        match msg {
            // Part 1: a participant votes with `self.ledger.vote(ctx, txn, &piece,
            // &participants)` and sends the vote to the coordinator.
            Msg::Prepare { .. } => {}
            // Part 1: the coordinator records the vote; once it can decide, it logs
            // the decision (synced), tells every participant and answers the client.
            Msg::Vote { .. } => {}
            // Part 1: a participant carries it out with `self.ledger.decide(ctx,
            // txn, commit)` and acknowledges.
            Msg::Decision { .. } => {}
            // Part 3: the coordinator stops resending the decision to this one.
            Msg::Ack { .. } => {}
            // Part 2: tell the asker the outcome if you know it.
            Msg::Ask { .. } => {}
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            // Part 2: votes missing: abort (nobody can have committed).
            Timer::VoteTimeout { .. } => {}
            // Part 3: lost messages: send prepares and decisions again.
            Timer::Resend { .. } => {}
            // Part 2: a participant that voted yes must not decide alone: it asks.
            Timer::Ask { .. } => {}
        }
    }

    /// A client's transfer or read. Part 1: the coordinator splits it into pieces
    /// with `self.layout.pieces(&request.op)`, logs that it began (synced), and sends
    /// each participant its Prepare; any other node redirects to the coordinator. A
    /// retry of a decided transaction gets the same answer again.
    fn on_request(&mut self, _ctx: &mut Ctx<'_, Self>, _request: Request) {}

    /// The coordinator leads, always: scenario faults aimed at the leader hit it.
    fn leads(&self) -> Option<u64> {
        (self.me == COORDINATOR).then_some(1)
    }

    const HAS_LEADER: bool = true;

    /// The probes scenario files assert on. Leave this as it is.
    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        faultline::commit::probe(nodes.iter().flatten().map(|n| (&n.ledger, &n.txns)), name)
    }
}

/// An answer to a client's request.
pub fn reply(request: &Request, outcome: Outcome) -> Reply {
    Reply { client: request.client, seq: request.seq, outcome }
}

//! Your Multi-Paxos: a replicated key-value store in which every server is a
//! proposer, an acceptor and a learner, and a stable leader runs phase 1 once and
//! phase 2 for every command after it (Lamport, "Paxos Made Simple", section 3).
//! Every handler below compiles and does nothing; fill them in part by part, as
//! README.md walks you through, and grade as you go with
//! `cargo run -- grade paxos --protocol mypaxos`.
//!
//! The rules the checks hold you to:
//! - Report what you do with `ctx.observe(...)` (the `observe_*` helpers below):
//!   the lab judges Paxos's safety from these reports, not from your fields: only
//!   a proposed value is chosen (`validity`), one value per slot (`agreement`), and
//!   no acceptor accepts below a ballot it promised, even after a crash
//!   (`promise-kept`).
//! - Keep the fields marked "probe" true: scenario files assert on them through
//!   [`Paxos::probe`].
//! - Nothing outlives a crash but what you `ctx.write` and then `ctx.sync()`: a
//!   promise or an acceptance must be synced before you answer it.
//! - Answer a client once its command is chosen and applied, with `ctx.reply`; a
//!   server that does not lead answers `Outcome::Redirect(Some(leader))` (or
//!   `None`). Clients retry on another server: apply each `(client, seq)` once
//!   ([`Store::apply`] keeps the sessions that make that true).

// The helpers below go unused until you use them: delete this line when you do.
#![allow(dead_code)]

use std::collections::BTreeMap;

use faultline::kv::Store;
use faultline_sim::disk::Durable;
use faultline_sim::observe::Ballot;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Observation, Outcome, Protocol, Reply, Request, TimerId};
use serde::Serialize;

/// How often a leader sends heartbeats.
pub const HEARTBEAT: Dur = Dur::from_millis(50);
/// A server that hears no leader for a timeout drawn between these (milliseconds)
/// runs phase 1.
pub const ELECTION_MS: (u64, u64) = (150, 300);

/// What a slot of the log holds: a client's command, or a no-op that fills a gap a
/// new leader found.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Cmd {
    Noop,
    Client(Request),
}

/// A value's fingerprint, as observations carry it: equal commands, equal prints.
pub fn print(cmd: &Cmd) -> u64 {
    let (client, seq) = match cmd {
        Cmd::Noop => (0, 0),
        Cmd::Client(r) => (r.client as u64 + 1, r.seq),
    };
    let mut h = 0x9e37_79b9_7f4a_7c15u64;
    for word in [client, seq] {
        h = (h ^ word).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
    }
    h
}

/// The messages servers send each other. A scenario's `drop` fault names them by
/// variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// Phase 1a: promise me `ballot` for every slot from `from` on.
    Prepare { ballot: Ballot, from: u64 },
    /// Phase 1b: promised, with what this acceptor accepted from `from` on, as
    /// `(slot, ballot, command)`.
    Promise { ballot: Ballot, accepted: Vec<(u64, Ballot, Cmd)> },
    /// A refusal: this acceptor promised `promised`, higher than what was asked.
    Nack { promised: Ballot },
    /// Phase 2a: accept `cmd` in `slot` with `ballot`.
    Accept { ballot: Ballot, slot: u64, cmd: Cmd },
    /// Phase 2b: accepted.
    Accepted { ballot: Ballot, slot: u64 },
    /// `cmd` was chosen in `slot`: learn it.
    Commit { slot: u64, cmd: Cmd },
    /// The leader is alive; `chosen` is its first slot not yet chosen.
    Heartbeat { ballot: Ballot, chosen: u64 },
}
faultline_sim::message_kinds!(Msg { Prepare, Promise, Nack, Accept, Accepted, Commit, Heartbeat });

/// What a server arms its timers with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Timer {
    /// No word from a leader for a while: run phase 1.
    Election,
    /// Time for a leader's next heartbeat.
    Heartbeat,
}

/// What a server keeps on its disk, under keys you choose; only what you sync
/// survives a crash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Stored {
    /// The highest ballot promised.
    Promised(Ballot),
    /// What was accepted in a slot, and with which ballot.
    Accepted { ballot: Ballot, cmd: Cmd },
    /// A chosen command.
    Chosen(Cmd),
}

/// One server's state. Add what you need; keep the "probe" fields true.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Paxos {
    pub me: NodeId,
    /// The highest ballot this acceptor promised.
    pub promised: Ballot,
    /// probe: the ballot this server proposes with (and leads in, if `leading`).
    pub ballot: Ballot,
    /// probe: whether this server leads (phase 1 done with a majority).
    pub leading: bool,
    /// What this acceptor accepted, by slot.
    pub accepted: BTreeMap<u64, (Ballot, Cmd)>,
    /// probe: the commands chosen, by slot (`chosen`: the first slot with none;
    /// `noops`: how many are no-ops).
    pub chosen: BTreeMap<u64, Cmd>,
    /// The first slot not yet applied to `store`.
    pub next_apply: u64,
    /// probe: the state machine (`store.executed` counts the commands it ran).
    pub store: Store,
}

impl Paxos {
    /// The first slot this server has not learned a command for (slots start at 1).
    pub fn first_unchosen(&self) -> u64 {
        (1..).find(|s| !self.chosen.contains_key(s)).unwrap_or(u64::MAX)
    }

    /// Report the ballot and whether this server leads in it: call it whenever
    /// either changes.
    pub fn observe_leading(&self, ctx: &mut Ctx<'_, Self>) {
        let term = self.ballot.round << 16 | self.ballot.proposer;
        ctx.observe(Observation::Term { term, leader: self.leading });
    }

    /// Report that this proposer put `cmd` forward in `slot` (before it sends Accept).
    pub fn observe_proposed(ctx: &mut Ctx<'_, Self>, slot: u64, cmd: &Cmd) {
        ctx.observe(Observation::Proposed { slot, value: print(cmd) });
    }

    /// Report a promise made (after it is synced).
    pub fn observe_promised(ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        ctx.observe(Observation::Promised { ballot });
    }

    /// Report an acceptance (after it is synced).
    pub fn observe_accepted(ctx: &mut Ctx<'_, Self>, slot: u64, ballot: Ballot, cmd: &Cmd) {
        ctx.observe(Observation::Accepted { slot, ballot, value: print(cmd) });
    }

    /// Report that this server learned `cmd` was chosen in `slot`.
    pub fn observe_learned(ctx: &mut Ctx<'_, Self>, slot: u64, cmd: &Cmd) {
        ctx.observe(Observation::Learned { slot, value: print(cmd) });
    }
}

impl Protocol for Paxos {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Stored;
    type Config = ();
    const HAS_LEADER: bool = true;
    const PROBES: &'static [(&'static str, &'static str)] = &[
        ("leader", "1 if exactly one node leads with the highest ballot among those that lead, else 0"),
        ("leaders", "nodes that believe they lead"),
        ("chosen", "the most slots any node has learned"),
        ("applied", "the most commands any node has applied"),
        ("noops", "the most no-ops any node has learned (gaps a new leader filled)"),
    ];

    /// A server starts, fresh (`durable` is empty) or after a crash: read back your
    /// promise, your acceptances and what you learned. Part 1: arm the election timer.
    fn start(ctx: &mut Ctx<'_, Self>, _config: &(), _durable: &Durable<Stored>) -> Self {
        let me = ctx.id();
        let paxos = Paxos {
            me,
            promised: Ballot::default(),
            ballot: Ballot { round: 0, proposer: me.0 as u64 + 1 },
            leading: false,
            accepted: BTreeMap::new(),
            chosen: BTreeMap::new(),
            next_apply: 1,
            store: Store::default(),
        };
        paxos.observe_leading(ctx);
        paxos
    }

    fn on_message(&mut self, _ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Msg) {
        match msg {
            // Part 1: promise if the ballot is the highest seen (synced first), and
            // report what you accepted; else Nack.
            Msg::Prepare { .. } => {}
            // Part 1: with promises from a majority, lead; part 2: re-propose the
            // highest-ballot value reported in each slot, no-ops in the gaps.
            Msg::Promise { .. } => {}
            // Part 1: someone promised a higher ballot: stop leading.
            Msg::Nack { .. } => {}
            // Part 2: accept unless you promised higher (synced first).
            Msg::Accept { .. } => {}
            // Part 2: a majority of acceptances in one ballot chooses the value.
            Msg::Accepted { .. } => {}
            // Part 2: learn it; apply chosen commands in slot order; answer clients.
            Msg::Commit { .. } => {}
            // Part 1: a leader is alive: hold off your election. Part 3: catch up.
            Msg::Heartbeat { .. } => {}
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            // Part 1: pick a higher ballot (yours alone: your proposer number) and
            // send Prepare to everyone.
            Timer::Election => {}
            // Part 1: a leader sends heartbeats. Part 3: re-send what is unanswered.
            Timer::Heartbeat => {}
        }
    }

    /// A client's request. Part 2: the leader proposes it in its next slot; others
    /// redirect the client to the leader they know.
    fn on_request(&mut self, _ctx: &mut Ctx<'_, Self>, _request: Request) {}

    fn leads(&self) -> Option<u64> {
        self.leading.then_some(self.ballot.round << 16 | self.ballot.proposer)
    }

    /// The probes scenario files assert on, read from the "probe" fields over the
    /// servers that are up and in the majority group. Leave this as it is.
    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let up = nodes.iter().flatten();
        match name {
            "leaders" => up.filter(|n| n.leading).count() as i64,
            "leader" => {
                let top = up.clone().filter(|n| n.leading).map(|n| n.ballot).max();
                i64::from(top.is_some() && up.filter(|n| n.leading && Some(n.ballot) == top).count() == 1)
            }
            "chosen" => up.map(|n| n.first_unchosen().saturating_sub(1) as i64).max().unwrap_or(0),
            "applied" => up.map(|n| n.store.executed as i64).max().unwrap_or(0),
            "noops" => up.map(|n| n.chosen.values().filter(|c| **c == Cmd::Noop).count() as i64).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// An answer to a client's request.
pub fn reply(request: &Request, outcome: Outcome) -> Reply {
    Reply { client: request.client, seq: request.seq, outcome }
}

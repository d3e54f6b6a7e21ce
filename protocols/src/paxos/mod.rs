//! Multi-Paxos replicating a key-value store (Lamport, "Paxos Made Simple", §3).
//!
//! ## The algorithm
//! Every node is a proposer, an acceptor and a learner. A *ballot* is a round
//! number with the proposer's id in its low bits, so no two proposers ever use the
//! same one.
//!
//! - **Phase 1.** A node that hears no leader for an election timeout (150 to 300 ms)
//!   picks a higher ballot and sends `Prepare` for every slot from its first unlearned
//!   one. An acceptor that has promised nothing higher promises (synced to disk) and
//!   answers with what it has accepted in those slots; otherwise it answers `Nack`
//!   with its promise, and the proposer steps back. A `Prepare` with the ballot it
//!   already promised gets the same promise again: with unique ballots that can only
//!   be the same proposer asking twice.
//! - With promises from a majority the proposer leads. For each slot it re-proposes
//!   the value accepted with the highest ballot among the promises, and fills every
//!   gap below the highest such slot with a no-op.
//! - **Phase 2.** The leader skips phase 1 for every later slot: a client command gets
//!   the next slot, accepted by the leader itself, and an `Accept` at once. An
//!   `Accept` carries a batch of slots: a new leader's re-proposals, and the
//!   proposals a heartbeat re-sends, travel as one. An acceptor accepts unless it has
//!   promised a higher ballot (synced once per batch, before it answers). A majority
//!   of `Accepted` makes a value chosen.
//! - **Commits ride along.** Every `Accept` and heartbeat carries the leader's first
//!   unchosen slot; an acceptor learns each slot below it whose value it accepted in
//!   the leader's own ballot (in one ballot a leader proposes one value per slot, so
//!   that value is the chosen one). Others it asks for (`Behind`, answered by
//!   `Commit`). No message is sent to announce a choice.
//! - Learners apply chosen commands in slot order to the key-value store, whose
//!   client sessions apply a retried command once. The leader answers the client
//!   when it applies the command.
//! - **Reads take no slot.** The leader notes the slot it would propose next and
//!   starts a heartbeat round; every acceptor that still takes its ballot answers
//!   `Ack`. Once a majority acknowledged a round sent after the read came (so no
//!   other leader can have chosen anything it does not know of) and every slot
//!   below the noted one is applied, it answers from its store: linearizable, with
//!   no disk write and no `Accept`. Reads that come while a round is out wait for
//!   the next one.
//! - **Snapshots.** Every [`SNAPSHOT_EVERY`] applied slots a node writes its store
//!   to disk and deletes the accepted records below it; a restart resumes from the
//!   snapshot. A `Promise` for slots below a node's snapshot carries the snapshot
//!   in place of their records (they are chosen), and the new leader takes the
//!   furthest one it hears and proposes only above it. A node behind by more than
//!   the [`KEEP`] chosen commands a leader keeps in memory gets a `Snapshot`.
//! - The leader sends heartbeats every 50 ms with its first unchosen slot; a node
//!   that is behind says so and gets the chosen commands it lacks. With each
//!   heartbeat the leader re-sends the Accepts that have waited a whole heartbeat.
//!
//! ## Checked after every event
//! - `agreement`: once a majority of acceptors accepted a value in a slot with one
//!   ballot, that value is chosen, and no other value is ever chosen or learned in
//!   that slot.
//! - `promise-kept`: an acceptor never accepts a ballot lower than one it promised,
//!   even after a restart.
//! - `validity`: only a value some proposer proposed in a slot is chosen there.
//! - And at the end, linearizability of the client history.
//!
//! ## The bug zoo
//! - `no-prepare`: the blog-post Paxos: a proposer that times out just starts
//!   sending `Accept` with its ballot, and any majority of acceptances counts as chosen.
//! - `ignore-promises`: the new leader re-proposes no-ops instead of the values
//!   the promises report as accepted.
//! - `forget-promise`: the acceptor keeps its promise in memory only; after a restart
//!   it accepts lower ballots it had promised to refuse.
//! - `shared-ballots`: ballots are round numbers alone, so two proposers can use
//!   the same ballot with different values.
//! - `stale-reads`: the leader answers a read from its own store at once; cut off
//!   from the majority, it goes on answering with what a new leader overwrote.

pub mod synod;

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::trace::Fnv64;
use faultline_sim::{ClientId, Cluster, Ctx, NodeId, Observation, Op, Outcome, Protocol, Reply, Request, TimerId};
use serde::{Deserialize, Serialize};

use crate::kv::Store;

pub const HEARTBEAT_MS: u64 = 50;
pub const ELECTION_MIN_MS: u64 = 150;
pub const ELECTION_MAX_MS: u64 = 300;
/// The most chosen commands one catch-up message carries.
pub const BATCH_MAX: usize = 64;
/// Every this many applied slots a node writes a snapshot of its store to disk, so
/// that a restart resumes from it instead of re-learning the log from slot 0.
pub const SNAPSHOT_EVERY: u64 = 100;
/// The chosen commands a node keeps in memory below its first unlearned slot, to
/// send to a node a little behind; one further behind gets a `Snapshot`.
pub const KEEP: usize = 4 * BATCH_MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    Correct,
    NoPrepare,
    IgnorePromises,
    ForgetPromise,
    SharedBallots,
    StaleReads,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "Multi-Paxos with unique ballots, synced promises, and values adopted from the promises"),
    ("no-prepare", "sends Accept without a Prepare phase; any majority of acceptances counts as chosen"),
    ("ignore-promises", "a new leader ignores the values accepted in the promises and proposes no-ops"),
    ("forget-promise", "acceptors do not persist their promise and break it after a restart"),
    ("shared-ballots", "ballots are round numbers alone: two proposers can share one"),
    ("stale-reads", "a leader answers reads from its own store at once, without confirming it still leads"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        Some(match name {
            "correct" => Variant::Correct,
            "no-prepare" => Variant::NoPrepare,
            "ignore-promises" => Variant::IgnorePromises,
            "forget-promise" => Variant::ForgetPromise,
            "shared-ballots" => Variant::SharedBallots,
            "stale-reads" => Variant::StaleReads,
            _ => return None,
        })
    }
}

pub const PROBES: &[(&str, &str)] = &[
    ("leader", "1 if exactly one node leads with the highest ballot among those that lead, else 0"),
    ("leaders", "nodes that believe they lead"),
    ("chosen", "the most slots any node has learned"),
    ("applied", "the most operations any node has carried out: commands applied, and reads it answered as leader"),
    ("noops", "the most no-ops any node has learned (gaps a new leader filled)"),
    ("installs", "snapshots the nodes installed (from a leader, or from a promise) since they started"),
];

/// A ballot: `round << 16 | (node + 1)`; the zoo's `shared-ballots` leaves out the node.
pub type Ballot = u64;

fn round_of(b: Ballot) -> u64 {
    b >> 16
}

/// A ballot as the consensus checks see it: round, then the proposer's number.
fn observed(b: Ballot) -> faultline_sim::observe::Ballot {
    faultline_sim::observe::Ballot { round: round_of(b), proposer: b & 0xffff }
}

/// A value's fingerprint, as observations report it.
pub fn print<T: std::hash::Hash>(value: &T) -> u64 {
    let mut h = Fnv64::default();
    std::hash::Hash::hash(value, &mut h);
    std::hash::Hasher::finish(&h)
}

/// The disk key of an accepted slot, `acc/000000000042` (at least 12 digits, so
/// keys sort by slot), built without `format!`: it is written for every slot.
fn accepted_key(slot: u64) -> String {
    let mut digits = [b'0'; 20];
    let (mut at, mut n) = (digits.len(), slot);
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = std::str::from_utf8(&digits[at.min(digits.len() - 12)..]).expect("ASCII digits");
    let mut key = String::with_capacity(4 + digits.len());
    key.push_str("acc/");
    key.push_str(digits);
    key
}

/// What an acceptor reports in a promise: `(slot, ballot, command)` it accepted.
pub type Reported = Vec<(u64, Ballot, Cmd)>;

/// A log entry's command. The operation is shared (`Arc`) between the proposal,
/// every `Accept` that carries it, the acceptors' records and the learned log, as
/// Raft shares its entries: a copy is a reference count, not a string copy. It hashes,
/// compares and serialises as the operation itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmd {
    Noop,
    Op { client: ClientId, seq: u64, op: std::sync::Arc<Op> },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    Prepare {
        ballot: Ballot,
        from: u64,
    },
    /// What the acceptor accepted in the slots the `Prepare` asked about, and, if it
    /// dropped the records of some of them (every slot below its last snapshot is
    /// chosen and applied), its snapshot, which covers them.
    Promise {
        ballot: Ballot,
        accepted: Reported,
        snapshot: Option<Snap>,
    },
    Nack {
        promised: Ballot,
    },
    /// Proposals, `(slot, command)`, and the leader's first unchosen slot.
    Accept {
        ballot: Ballot,
        entries: Vec<(u64, Cmd)>,
        chosen: u64,
    },
    Accepted {
        ballot: Ballot,
        slots: Vec<u64>,
    },
    /// Chosen commands, from slot `from` on.
    Commit {
        from: u64,
        cmds: Vec<Cmd>,
    },
    /// `round` is not 0 while reads wait for a round: then every acceptor that
    /// still takes `ballot` answers `Ack`.
    Heartbeat {
        ballot: Ballot,
        chosen: u64,
        round: u64,
    },
    /// The sender still takes `ballot`, as of heartbeat round `round`.
    Ack {
        ballot: Ballot,
        round: u64,
    },
    /// The sender has learned every slot below `learned`.
    Behind {
        learned: u64,
    },
    /// For a node behind by more than the chosen commands kept in memory.
    Snapshot(Snap),
}

/// A node's store after applying every slot below `upto`, `noops` of them no-ops.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Snap {
    pub upto: u64,
    pub noops: u64,
    pub store: Box<Store>,
}

faultline_sim::message_kinds!(Msg {
    Prepare,
    Promise,
    Nack,
    Accept,
    Accepted,
    Commit,
    Heartbeat,
    Ack,
    Behind,
    Snapshot
});

impl Cmd {
    /// The command's fingerprint, as observations report it. A client's sequence
    /// number names one operation (a retry sends the same one), so `(client, seq)`
    /// tells commands apart without hashing the operation's strings, which this does
    /// about eleven times per command.
    pub fn print(&self) -> u64 {
        match self {
            Cmd::Noop => print(&()),
            Cmd::Op { client, seq, .. } => print(&(client, seq)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    Election,
    Heartbeat,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stored {
    Promised(Ballot),
    Accepted(Ballot, Cmd),
    /// The last snapshot; the accepted records below it are deleted.
    Snapshot(Snap),
}

/// A read the leader answers once a heartbeat round from `round` on is confirmed by
/// a majority and every slot below `point` is applied.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Read {
    client: ClientId,
    seq: u64,
    op: Op,
    point: u64,
    round: u64,
}

/// A slot the leader proposed in its ballot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    cmd: Cmd,
    /// Who accepted it (the leader first): bit `i` for node `i`.
    acks: u64,
    /// The heartbeat it was last sent in.
    beat: u64,
    /// Sent in an `Accept` (else waiting for the batch being made).
    sent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Paxos {
    variant: Variant,
    me: NodeId,
    n: usize,
    // Acceptor.
    pub(crate) promised: Ballot,
    pub(crate) accepted: BTreeMap<u64, (Ballot, Cmd)>,
    // Learner.
    /// Slots learned above `applied`, waiting for the slots below them.
    pub(crate) learned: BTreeMap<u64, Cmd>,
    /// The slots at or above `applied` this node accepted in ballot
    /// `unlearned_ballot` (the highest it accepted in) and has not learned: what a
    /// commit carried by an `Accept` or heartbeat may let it learn. Slots accepted
    /// in an older ballot are not kept: only their new leader's re-proposal, or a
    /// `Commit`, teaches them.
    unlearned: BTreeSet<u64>,
    unlearned_ballot: Ballot,
    /// Every slot below this is learned and applied: the first unlearned slot.
    pub(crate) applied: u64,
    /// The chosen commands of slots `log_base..applied` (at most about `2 * KEEP`).
    log: Vec<Cmd>,
    log_base: u64,
    /// No-ops among the applied slots.
    noops: u64,
    /// The slot of the last snapshot written to disk.
    snapped: u64,
    store: Store,
    // Proposer.
    ballot: Ballot,
    pub(crate) leading: bool,
    /// Phase 1 in progress: the promises so far.
    promises: Option<BTreeMap<NodeId, (Reported, Option<Snap>)>>,
    prepare_from: u64,
    next_slot: u64,
    /// Slots proposed in this ballot and not chosen yet.
    proposals: BTreeMap<u64, Proposal>,
    /// Heartbeats sent while leading.
    beat: u64,
    /// Client commands proposed by this leader and not yet applied.
    in_flight: BTreeSet<(ClientId, u64)>,
    /// Reads waiting for their round and their point.
    reads: Vec<Read>,
    /// Reads this node answered since it started.
    served: u64,
    /// Snapshots this node installed since it started.
    installs: u64,
    /// The last heartbeat round started, and per node the highest round it
    /// acknowledged in this ballot.
    round: u64,
    acked: Vec<u64>,
    leader_hint: Option<NodeId>,
    heard: bool,
}

impl Paxos {
    fn majority(&self) -> usize {
        self.n / 2 + 1
    }

    fn make_ballot(&self, round: u64) -> Ballot {
        match self.variant {
            Variant::SharedBallots => round << 16,
            _ => round << 16 | (self.me.0 as u64 + 1),
        }
    }

    fn arm_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        let after = ctx.rng().between(ELECTION_MIN_MS, ELECTION_MAX_MS);
        ctx.set_timer(Dur::from_millis(after), Timer::Election);
    }

    /// Promises `ballot` (written to disk, unless this is the zoo's `forget-promise`;
    /// the caller syncs before answering).
    fn promise(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot) {
        self.promised = ballot;
        ctx.observe(Observation::Promised { ballot: observed(ballot) });
        if self.variant != Variant::ForgetPromise {
            ctx.write("promised", Stored::Promised(ballot));
        }
    }

    /// The acceptor's answer to `Accept` of `entries`: all accepted, synced once
    /// before the answer, or none.
    fn accept(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot, entries: &[(u64, Cmd)]) -> bool {
        if ballot < self.promised {
            return false;
        }
        if ballot > self.promised {
            self.promise(ctx, ballot);
        }
        for (slot, cmd) in entries {
            ctx.write(accepted_key(*slot), Stored::Accepted(ballot, cmd.clone()));
        }
        ctx.sync();
        if ballot > self.unlearned_ballot {
            self.unlearned.clear();
            self.unlearned_ballot = ballot;
        }
        for (slot, cmd) in entries {
            ctx.observe(Observation::Accepted { slot: *slot, ballot: observed(ballot), value: cmd.print() });
            self.accepted.insert(*slot, (ballot, cmd.clone()));
            if ballot == self.unlearned_ballot && *slot >= self.applied && !self.learned.contains_key(slot) {
                self.unlearned.insert(*slot);
            }
        }
        true
    }

    /// The leader of `ballot` has chosen every slot below `chosen`: learns each of
    /// them this node accepted in `ballot` (the leader's one value for the slot).
    fn learn_chosen(&mut self, ctx: &mut Ctx<'_, Self>, ballot: Ballot, chosen: u64) {
        let from = self.applied;
        if chosen <= from || ballot != self.unlearned_ballot {
            return;
        }
        // Every slot in `unlearned` was accepted in `unlearned_ballot`, this ballot
        // (only a broken promise, the zoo's, accepts a lower one after a restart).
        while let Some(slot) = self.unlearned.first().copied().filter(|&s| s < chosen) {
            self.unlearned.remove(&slot);
            if slot >= from
                && let Some((b, cmd)) = self.accepted.get(&slot)
                && *b == ballot
            {
                let cmd = cmd.clone();
                self.learn(ctx, slot, cmd);
            }
        }
    }

    /// Learns `cmd` in `slot` and applies whatever is now contiguous.
    fn learn(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64, cmd: Cmd) {
        if slot < self.applied || self.learned.contains_key(&slot) {
            return;
        }
        ctx.observe(Observation::Learned { slot, value: cmd.print() });
        self.unlearned.remove(&slot);
        if slot == self.applied {
            self.apply(ctx, cmd);
        } else {
            self.learned.insert(slot, cmd);
        }
        self.catch_up(ctx);
    }

    /// Applies what is now contiguous, snapshots when one is due, and answers the
    /// reads that waited for it.
    fn catch_up(&mut self, ctx: &mut Ctx<'_, Self>) {
        while let Some(cmd) = self.learned.remove(&self.applied) {
            self.apply(ctx, cmd);
        }
        if self.applied >= self.snapped + SNAPSHOT_EVERY {
            self.snapshot(ctx);
        }
        if self.leading {
            self.serve_reads(ctx);
        }
    }

    /// Applies `cmd`, the command chosen in slot `applied`.
    fn apply(&mut self, ctx: &mut Ctx<'_, Self>, cmd: Cmd) {
        match &cmd {
            Cmd::Op { client, seq, op } => {
                let outcome = self.store.apply(*client, *seq, op, true);
                if self.leading
                    && let Some(outcome) = outcome
                {
                    self.in_flight.remove(&(*client, *seq));
                    ctx.reply(Reply { client: *client, seq: *seq, outcome });
                }
            }
            Cmd::Noop => self.noops += 1,
        }
        self.applied += 1;
        self.log.push(cmd);
        if self.log.len() >= 2 * KEEP {
            self.log.drain(..KEEP);
            self.log_base += KEEP as u64;
        }
    }

    /// This node's store as of `applied`.
    fn snap(&self) -> Snap {
        Snap { upto: self.applied, noops: self.noops, store: Box::new(self.store.clone()) }
    }

    /// Writes the store as of `applied` to disk and deletes the accepted records
    /// below it, synced: a restart resumes from the snapshot, and a `Promise` for
    /// slots below it carries the snapshot instead of the records.
    fn snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.snapped = self.applied;
        ctx.write("snapshot", Stored::Snapshot(self.snap()));
        let kept = self.accepted.split_off(&self.applied);
        for slot in std::mem::replace(&mut self.accepted, kept).into_keys() {
            ctx.delete(accepted_key(slot));
        }
        ctx.sync();
    }

    /// Takes a snapshot (a leader's, or one a promise carried) when it is ahead of
    /// this node.
    fn install(&mut self, ctx: &mut Ctx<'_, Self>, snap: Snap) {
        let Snap { upto, noops, store } = snap;
        if upto <= self.applied {
            return;
        }
        self.store = *store;
        (self.applied, self.noops) = (upto, noops);
        self.learned = self.learned.split_off(&upto);
        self.unlearned = self.unlearned.split_off(&upto);
        self.proposals = self.proposals.split_off(&upto);
        let store = &self.store;
        self.in_flight.retain(|(c, s)| store.answered(*c, *s).is_none());
        self.log.clear();
        self.log_base = upto;
        self.installs += 1;
        ctx.note(format!("installed a snapshot up to slot {upto}"));
        self.snapshot(ctx);
        self.catch_up(ctx);
    }

    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        let round = round_of(self.promised.max(self.ballot)) + 1;
        self.ballot = self.make_ballot(round);
        self.leading = false;
        self.proposals.clear();
        self.in_flight.clear();
        self.reads.clear();
        self.prepare_from = self.applied;
        if self.variant == Variant::NoPrepare {
            // The bug: no phase 1; lead at once and start proposing.
            self.become_leader(ctx, Vec::new());
            return;
        }
        // Our own promise first.
        self.promise(ctx, self.ballot);
        ctx.sync();
        let mine: Reported = self.accepted.range(self.prepare_from..).map(|(&s, (b, c))| (s, *b, c.clone())).collect();
        self.promises = Some(BTreeMap::from([(self.me, (mine, None))]));
        for p in ctx.peers() {
            ctx.send(p, Msg::Prepare { ballot: self.ballot, from: self.prepare_from });
        }
        self.maybe_lead(ctx);
    }

    fn maybe_lead(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(promises) = &self.promises else { return };
        if promises.len() < self.majority() {
            return;
        }
        let promises = self.promises.take().expect("promises");
        // The slots below the furthest snapshot a promise carried are chosen: take
        // it, and propose only from there.
        let mut best: BTreeMap<u64, (Ballot, Cmd)> = BTreeMap::new();
        let mut furthest: Option<Snap> = None;
        for (reported, snap) in promises.into_values() {
            if let Some(snap) = snap
                && furthest.as_ref().is_none_or(|f| snap.upto > f.upto)
            {
                furthest = Some(snap);
            }
            // Per slot, the value accepted with the highest ballot.
            for (slot, b, cmd) in reported {
                if best.get(&slot).is_none_or(|(bb, _)| b > *bb) {
                    best.insert(slot, (b, cmd));
                }
            }
        }
        if let Some(snap) = furthest {
            self.install(ctx, snap);
        }
        self.prepare_from = self.prepare_from.max(self.applied);
        let best = best.split_off(&self.prepare_from);
        let adopted: Vec<(u64, Cmd)> = match self.variant {
            Variant::IgnorePromises => best.keys().map(|&s| (s, Cmd::Noop)).collect(),
            _ => best.into_iter().map(|(s, (_, c))| (s, c)).collect(),
        };
        self.become_leader(ctx, adopted);
    }

    /// Leads with `self.ballot`: proposes `adopted`, no-ops in the gaps, and heartbeats.
    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>, adopted: Vec<(u64, Cmd)>) {
        self.leading = true;
        self.leader_hint = Some(self.me);
        self.acked.fill(0);
        ctx.note(format!("leader, ballot {}.{}", round_of(self.ballot), self.ballot & 0xffff));
        let top = adopted.iter().map(|(s, _)| s + 1).max().unwrap_or(self.prepare_from).max(self.prepare_from);
        let adopted: BTreeMap<u64, Cmd> = adopted.into_iter().collect();
        self.next_slot = top;
        for slot in self.prepare_from..top {
            if self.learned.contains_key(&slot) {
                continue;
            }
            let cmd = adopted.get(&slot).cloned().unwrap_or(Cmd::Noop);
            self.propose(ctx, slot, cmd);
        }
        self.flush(ctx);
        self.send_heartbeats(ctx);
        ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Heartbeat);
    }

    /// Proposes `cmd` in `slot`: accepted here at once, sent with the next batch
    /// ([`Paxos::flush`]).
    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64, cmd: Cmd) {
        ctx.observe(Observation::Proposed { slot, value: cmd.print() });
        let mut acks = 0;
        if self.accept(ctx, self.ballot, &[(slot, cmd.clone())]) {
            acks |= 1 << self.me.0;
        }
        self.proposals.insert(slot, Proposal { cmd, acks, beat: self.beat, sent: false });
        self.check_chosen(ctx, slot);
    }

    /// Sends every proposal not sent yet, as one `Accept` to each peer.
    fn flush(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.send_accepts(ctx, |p| !p.sent);
    }

    /// Sends the proposals `which` picks as one `Accept` to each peer.
    fn send_accepts(&mut self, ctx: &mut Ctx<'_, Self>, which: impl Fn(&Proposal) -> bool) {
        let beat = self.beat;
        let entries: Vec<(u64, Cmd)> = self
            .proposals
            .iter_mut()
            .filter(|(_, p)| which(p))
            .map(|(&slot, p)| {
                p.sent = true;
                p.beat = beat;
                (slot, p.cmd.clone())
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        let chosen = self.applied;
        for p in ctx.peers() {
            ctx.send(p, Msg::Accept { ballot: self.ballot, entries: entries.clone(), chosen });
        }
    }

    fn check_chosen(&mut self, ctx: &mut Ctx<'_, Self>, slot: u64) {
        let Some(p) = self.proposals.get(&slot) else { return };
        if (p.acks.count_ones() as usize) < self.majority() {
            return;
        }
        let cmd = p.cmd.clone();
        self.proposals.remove(&slot);
        self.learn(ctx, slot, cmd);
    }

    /// Heartbeats every peer; they carry the current round while reads wait.
    fn send_heartbeats(&self, ctx: &mut Ctx<'_, Self>) {
        let chosen = self.applied;
        let round = if self.reads.is_empty() { 0 } else { self.round };
        for p in ctx.peers() {
            ctx.send(p, Msg::Heartbeat { ballot: self.ballot, chosen, round });
        }
    }

    /// Has a majority (this node included) acknowledged heartbeat round `round`?
    fn confirmed(&self, round: u64) -> bool {
        crate::kv::round_confirmed(&self.acked, self.me.0, self.majority(), round)
    }

    /// A read: answered from the store once a round that started after it came is
    /// confirmed (no other leader can have chosen anything this one does not know
    /// of) and the slots this leader had proposed when it came are applied. It
    /// takes no slot, no disk write and no `Accept`.
    fn read(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        if self.variant == Variant::StaleReads {
            // The bug: no round, as if this node surely still led.
            return ctx.reply(Reply { client: req.client, seq: req.seq, outcome: self.store.query(&req.op) });
        }
        if self.reads.iter().any(|r| r.client == req.client && r.seq == req.seq) {
            return;
        }
        // A round already out may have been sent before this read came: wait for
        // the next one, started when that one is confirmed.
        let start = self.confirmed(self.round);
        let round = self.round + 1;
        self.reads.push(Read { client: req.client, seq: req.seq, op: req.op, point: self.next_slot, round });
        if start {
            self.round = round;
            self.send_heartbeats(ctx);
        }
        // A cluster of one confirms its rounds alone.
        self.serve_reads(ctx);
    }

    /// Answers the reads whose round is confirmed and whose point is applied, and
    /// starts the next round if reads wait for it.
    fn serve_reads(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.reads.is_empty() {
            return;
        }
        let mut answered = Vec::new();
        let mut reads = std::mem::take(&mut self.reads);
        reads.retain(|r| {
            let ready = r.round <= self.round && r.point <= self.applied && self.confirmed(r.round);
            if ready {
                answered.push((r.client, r.seq, self.store.query(&r.op)));
            }
            !ready
        });
        self.reads = reads;
        self.served += answered.len() as u64;
        for (client, seq, outcome) in answered {
            ctx.reply(Reply { client, seq, outcome });
        }
        if self.reads.iter().any(|r| r.round > self.round) && self.confirmed(self.round) {
            self.round += 1;
            self.send_heartbeats(ctx);
        }
    }

    fn step_down(&mut self, promised: Ballot) {
        if self.leading || self.promises.is_some() {
            self.leading = false;
            self.promises = None;
            self.proposals.clear();
            self.in_flight.clear();
            self.reads.clear();
        }
        self.ballot = self.ballot.max(promised & !0xffff);
    }
}

/// The handlers proper; the trait's wrap them to report leadership when it changes.
impl Paxos {
    /// What the tester sees of this node's leadership: the ballot it leads with, or
    /// else the highest it promised (a leader is in place when it leads a ballot no
    /// node it needs has promised past).
    fn state(&self) -> (u64, bool) {
        if self.leading { (self.ballot, true) } else { (self.promised, false) }
    }

    fn tell_state(&self, ctx: &mut Ctx<'_, Self>, was: (u64, bool)) {
        let (term, leader) = self.state();
        if (term, leader) != was {
            ctx.observe(Observation::Term { term, leader });
        }
    }

    fn request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        if !self.leading {
            let hint = self.leader_hint.filter(|&h| h != self.me);
            return ctx.reply(Reply { client: req.client, seq: req.seq, outcome: Outcome::Redirect(hint) });
        }
        if let Some(outcome) = self.store.answered(req.client, req.seq) {
            return ctx.reply(Reply { client: req.client, seq: req.seq, outcome: outcome.clone() });
        }
        if self.store.is_stale(req.client, req.seq) || self.in_flight.contains(&(req.client, req.seq)) {
            return;
        }
        if req.op.is_read() && !req.op.is_txn() {
            return self.read(ctx, req);
        }
        self.in_flight.insert((req.client, req.seq));
        let slot = self.next_slot;
        self.next_slot += 1;
        self.propose(ctx, slot, Cmd::Op { client: req.client, seq: req.seq, op: std::sync::Arc::new(req.op) });
        self.flush(ctx);
    }

    fn message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Prepare { ballot, from: start } => {
                // An equal ballot is the same proposer asking again (a duplicate or a
                // retry): promise again. Only unique ballots make that safe.
                if ballot >= self.promised {
                    if ballot > self.promised {
                        self.promise(ctx, ballot);
                        ctx.sync();
                    }
                    if ballot > self.ballot {
                        self.step_down(ballot);
                    }
                    let accepted = self.accepted.range(start..).map(|(&s, (b, c))| (s, *b, c.clone())).collect();
                    let snapshot = (start < self.snapped).then(|| self.snap());
                    ctx.send(from, Msg::Promise { ballot, accepted, snapshot });
                } else {
                    ctx.send(from, Msg::Nack { promised: self.promised });
                }
            }
            Msg::Promise { ballot, accepted, snapshot } => {
                if ballot != self.ballot {
                    return;
                }
                if let Some(p) = &mut self.promises {
                    p.insert(from, (accepted, snapshot));
                }
                self.maybe_lead(ctx);
            }
            Msg::Nack { promised } => {
                if promised > self.ballot {
                    self.step_down(promised);
                }
            }
            Msg::Accept { ballot, entries, chosen } => {
                if self.accept(ctx, ballot, &entries) {
                    if ballot > self.ballot {
                        self.step_down(ballot);
                    }
                    self.heard = true;
                    self.leader_hint = Some(from);
                    ctx.send(from, Msg::Accepted { ballot, slots: entries.iter().map(|(s, _)| *s).collect() });
                    self.learn_chosen(ctx, ballot, chosen);
                } else {
                    ctx.send(from, Msg::Nack { promised: self.promised });
                }
            }
            Msg::Accepted { ballot, slots } => {
                if ballot != self.ballot || !self.leading {
                    return;
                }
                for slot in slots {
                    if let Some(p) = self.proposals.get_mut(&slot) {
                        p.acks |= 1 << from.0;
                    }
                    self.check_chosen(ctx, slot);
                }
            }
            Msg::Commit { from: start, cmds } => {
                for (i, cmd) in cmds.into_iter().enumerate() {
                    self.learn(ctx, start + i as u64, cmd);
                }
            }
            Msg::Heartbeat { ballot, chosen, round } => {
                if ballot < self.promised {
                    return ctx.send(from, Msg::Nack { promised: self.promised });
                }
                if round > 0 {
                    ctx.send(from, Msg::Ack { ballot, round });
                }
                if ballot > self.ballot {
                    self.step_down(ballot);
                }
                self.heard = true;
                self.leader_hint = Some(from);
                self.learn_chosen(ctx, ballot, chosen);
                let learned = self.applied;
                if learned < chosen {
                    ctx.send(from, Msg::Behind { learned });
                }
            }
            Msg::Ack { ballot, round } => {
                if self.leading && ballot == self.ballot {
                    self.acked[from.0] = self.acked[from.0].max(round);
                    self.serve_reads(ctx);
                }
            }
            Msg::Behind { learned } => {
                if !self.leading {
                    return;
                }
                if learned < self.log_base {
                    return ctx.send(from, Msg::Snapshot(self.snap()));
                }
                let start = (learned - self.log_base) as usize;
                let cmds: Vec<Cmd> = self.log.iter().skip(start).take(BATCH_MAX).cloned().collect();
                if !cmds.is_empty() {
                    ctx.send(from, Msg::Commit { from: learned, cmds });
                }
            }
            Msg::Snapshot(snap) => self.install(ctx, snap),
        }
    }

    fn timer(&mut self, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match timer {
            Timer::Election => {
                if !self.leading && !std::mem::take(&mut self.heard) {
                    self.start_election(ctx);
                }
                self.arm_election(ctx);
            }
            Timer::Heartbeat => {
                if !self.leading {
                    return;
                }
                self.send_heartbeats(ctx);
                // Re-send, as one batch, what was sent a whole heartbeat ago and is not
                // chosen yet (lost Accepts or Accepted; what was sent since is young),
                // with whatever waits for the batch that is out.
                let beat = self.beat;
                self.beat += 1;
                self.send_accepts(ctx, |p| !p.sent || p.beat < beat);
                ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Heartbeat);
            }
        }
    }
}

impl Protocol for Paxos {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Stored;
    type Config = Variant;

    const PROBES: &'static [(&'static str, &'static str)] = PROBES;

    fn start(ctx: &mut Ctx<'_, Self>, variant: &Variant, durable: &Durable<Stored>) -> Self {
        // The draw that once named this incarnation for the checks: kept so that
        // every seed's random streams, and so its run, stay as they were.
        let _ = ctx.rng().next_u64();
        let mut p = Paxos {
            variant: *variant,
            me: ctx.id(),
            n: ctx.cluster_size(),
            promised: 0,
            accepted: BTreeMap::new(),
            learned: BTreeMap::new(),
            unlearned: BTreeSet::new(),
            unlearned_ballot: 0,
            applied: 0,
            log: Vec::new(),
            log_base: 0,
            noops: 0,
            snapped: 0,
            store: Store::default(),
            ballot: 0,
            leading: false,
            promises: None,
            prepare_from: 0,
            next_slot: 0,
            proposals: BTreeMap::new(),
            beat: 0,
            in_flight: BTreeSet::new(),
            reads: Vec::new(),
            served: 0,
            installs: 0,
            round: 0,
            acked: vec![0; ctx.cluster_size()],
            leader_hint: None,
            heard: false,
        };
        if let Some(Stored::Snapshot(Snap { upto, noops, store })) = durable.get("snapshot") {
            p.store = (**store).clone();
            (p.applied, p.log_base, p.snapped, p.noops) = (*upto, *upto, *upto, *noops);
        }
        for (key, v) in durable {
            match v {
                Stored::Promised(b) => p.promised = *b,
                Stored::Accepted(b, c) => {
                    let slot: u64 = key["acc/".len()..].parse().expect("acc/ and a slot");
                    p.accepted.insert(slot, (*b, c.clone()));
                    p.unlearned_ballot = p.unlearned_ballot.max(*b);
                }
                Stored::Snapshot(_) => {}
            }
        }
        let (from, top) = (p.applied, p.unlearned_ballot);
        p.unlearned = p.accepted.range(from..).filter(|(_, (b, _))| *b == top).map(|(s, _)| *s).collect();
        p.ballot = p.promised & !0xffff;
        let (term, leader) = p.state();
        ctx.observe(Observation::Term { term, leader });
        p.arm_election(ctx);
        p
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        let was = self.state();
        self.request(ctx, req);
        self.tell_state(ctx, was);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let was = self.state();
        self.message(ctx, from, msg);
        self.tell_state(ctx, was);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        let was = self.state();
        self.timer(ctx, timer);
        self.tell_state(ctx, was);
    }

    fn leads(&self) -> Option<u64> {
        self.leading.then_some(self.ballot)
    }

    const HAS_LEADER: bool = true;

    const OPS: &'static [faultline_sim::OpKind] = crate::kv::OPS;

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let up = nodes.iter().flatten();
        match name {
            "leaders" => up.filter(|n| n.leading).count() as i64,
            "leader" => {
                let top = up.clone().filter(|n| n.leading).map(|n| n.ballot).max();
                i64::from(top.is_some() && up.filter(|n| n.leading && Some(n.ballot) == top).count() == 1)
            }
            "chosen" => up.map(|n| n.applied as i64).max().unwrap_or(0),
            "applied" => up.map(|n| (n.store.executed + n.served) as i64).max().unwrap_or(0),
            "noops" => up.map(|n| n.noops as i64).max().unwrap_or(0),
            "installs" => up.map(|n| n.installs as i64).sum(),
            _ => 0,
        }
    }

    fn measures(cluster: &Cluster<'_, Self>) -> Vec<(String, String)> {
        let nodes = cluster.nodes();
        let up = nodes.iter().flatten();
        let noops = up.clone().map(|n| n.noops).max().unwrap_or(0);
        let slots = up.map(|n| n.applied).max().unwrap_or(0);
        vec![("log".into(), format!("{slots} slots chosen, {noops} of them no-ops (gaps a new leader filled)"))]
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_accepted_key_is_the_slot_in_at_least_twelve_digits() {
        assert_eq!(super::accepted_key(42), "acc/000000000042");
        assert_eq!(super::accepted_key(0), "acc/000000000000");
        assert_eq!(super::accepted_key(u64::MAX), format!("acc/{}", u64::MAX));
        assert_eq!(super::accepted_key(1_234_567_890_123), "acc/1234567890123");
    }
}

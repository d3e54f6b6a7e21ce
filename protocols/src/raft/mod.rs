//! Raft (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
//! extended version) as a replicated key-value store.
//!
//! ## The algorithm, as built here
//! - **Elections.** A follower that hears from no leader for a randomized election
//!   timeout ([`ELECTION_MIN_MS`]..[`ELECTION_MAX_MS`], measured on its own monotonic
//!   clock, so wall-clock steps do not matter) becomes a
//!   candidate: it bumps its term, votes for itself (term and vote synced to disk
//!   first) and asks the others. A node grants one vote per term, and only to a
//!   candidate whose log is at least as up to date as its own (§5.4.1). A majority
//!   makes a leader, which appends a no-op so it can commit in its own term.
//! - **Replication.** The leader sends `Append` with the entries from each follower's
//!   `next` index (batched, pipelined) and a heartbeat every [`HEARTBEAT_MS`]. A
//!   follower checks the entry before them (index and term), truncates a conflicting
//!   suffix, syncs what it appended, then answers. On a mismatch it returns the
//!   conflicting term and its first index, so the leader backs up a whole term per
//!   round trip (fast backtracking). A follower that got an Append within the last
//!   heartbeat interval is not sent a heartbeat.
//! - **Commitment.** The leader commits index N when a majority hold it **and** N is of
//!   its current term (§5.4.2, Figure 8); earlier entries commit with it.
//! - **Persistence.** Term, vote and log are synced before any answer that depends on
//!   them; a restarted node recovers them, its snapshot and nothing else.
//! - **Compaction.** Every [`SNAPSHOT_EVERY`] applied entries a node snapshots its
//!   state machine and drops the log prefix; a leader sends `InstallSnapshot` to a
//!   follower that needs compacted entries.
//! - **Client sessions.** Writes are applied once per `(client, seq)` (see
//!   [`crate::kv::Store`]); a retry gets the first answer.
//! - **Reads** use ReadIndex (Raft thesis §6.4): the leader notes its commit index,
//!   confirms it still leads with one round of heartbeats acknowledged by a majority,
//!   waits until it has applied that index, and answers from its state machine. No
//!   leases: clocks here drift and step, and a lease would trust them.
//!
//! - **PreVote** (thesis §9.6), as the variant `prevote`: before raising its term a
//!   server asks whether a majority would vote for it, so one that was cut off
//!   cannot force an election when it comes back. Off in `correct`, as in the paper.
//!
//! ## The bug zoo (each a `variant`)
//! See [`VARIANTS`]; each is caught by a scenario under `scenarios/zoo/raft-*.toml`.

pub mod check;
pub mod log;

use std::collections::BTreeMap;
use std::sync::Arc;

use faultline_sim::disk::Durable;
use faultline_sim::observe::Command;
use faultline_sim::time::Dur;
use faultline_sim::{ClientId, Ctx, NodeId, Observation, Outcome, Protocol, Reply, Request, TimerId};
use serde::{Deserialize, Serialize};

use crate::kv::Store;
pub use log::{Cmd, Entry, Log, Never};

/// The state machine a Raft log drives: the key-value [`Store`], or a service's own
/// (an image store's shard), which may have commands of its own beside clients'.
pub trait Machine:
    Clone + Default + std::fmt::Debug + PartialEq + Eq + std::hash::Hash + Serialize + serde::de::DeserializeOwned
{
    /// Its own commands, which the log carries beside clients' requests.
    type Cmd: Clone + std::fmt::Debug + PartialEq + Eq + std::hash::Hash + Serialize + serde::de::DeserializeOwned;
    /// Applies a client's request once per `(client, seq)` (with `dedup`): the
    /// answer, or `None` when there is none to give now (the client has moved on,
    /// or the answer comes later).
    fn apply(&mut self, req: &Request, dedup: bool) -> Option<Outcome>;
    /// Applies one of its own commands.
    fn apply_own(&mut self, cmd: &Self::Cmd);
    /// Answers a read (a get, a fetch, a list), changing nothing.
    fn query(&self, op: &faultline_sim::Op) -> Outcome;
    /// The answer already given to `(client, seq)`, if it was the client's last.
    fn answered(&self, client: ClientId, seq: u64) -> Option<&Outcome>;
    /// A retry of an operation older than the client's latest: nobody waits for it.
    fn is_stale(&self, client: ClientId, seq: u64) -> bool;
    /// Client commands executed (a deduplicated retry is not executed again).
    fn executed(&self) -> u64;
    /// What a trace shows of it inside a snapshot: "3 keys, 2 sessions".
    fn summary(&self) -> String;
}

impl Machine for Store {
    type Cmd = Never;
    fn apply(&mut self, req: &Request, dedup: bool) -> Option<Outcome> {
        Store::apply(self, req.client, req.seq, &req.op, dedup)
    }
    fn apply_own(&mut self, cmd: &Never) {
        match *cmd {}
    }
    fn query(&self, op: &faultline_sim::Op) -> Outcome {
        Store::query(self, op)
    }
    fn answered(&self, client: ClientId, seq: u64) -> Option<&Outcome> {
        Store::answered(self, client, seq)
    }
    fn is_stale(&self, client: ClientId, seq: u64) -> bool {
        Store::is_stale(self, client, seq)
    }
    fn executed(&self) -> u64 {
        self.executed
    }
    fn summary(&self) -> String {
        format!("{} keys, {} sessions", self.data.len(), self.sessions.len())
    }
}

pub const HEARTBEAT_MS: u64 = 50;
pub const ELECTION_MIN_MS: u64 = 150;
pub const ELECTION_MAX_MS: u64 = 300;
/// The most entries in one `Append`.
pub const BATCH_MAX: usize = 64;
/// A node snapshots its state machine every this many applied entries.
pub const SNAPSHOT_EVERY: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    Correct,
    /// Grants votes without the log up-to-date check (§5.4.1).
    VoteWithoutLogCheck,
    /// Commits entries of earlier terms by counting replicas (Figure 8).
    CommitOldTerm,
    /// Never writes votedFor to disk: after a restart a node can vote twice in a term.
    ForgetVote,
    /// The leader answers reads from its own state without confirming it still leads.
    StaleReads,
    /// No client sessions: a retried write is applied once per copy in the log.
    NoDedup,
    /// Correct, plus PreVote (Raft thesis §9.6): not a bug, an option.
    PreVote,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "Raft per the paper, with snapshots, client sessions and ReadIndex reads"),
    ("vote-without-log-check", "votes for any candidate, whatever its log: a stale node can lead and erase commits"),
    ("commit-old-term", "commits earlier-term entries by counting replicas (the Figure 8 bug); no no-op on election"),
    ("forget-vote", "votedFor is not persisted: after a restart a node votes twice in one term"),
    ("stale-reads", "the leader answers reads locally without confirming it still leads"),
    ("no-dedup", "no client sessions: a retried append is applied twice"),
    ("prevote", "not a bug: correct Raft plus PreVote, so a server that rejoins cannot force an election"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        Some(match name {
            "correct" => Variant::Correct,
            "vote-without-log-check" => Variant::VoteWithoutLogCheck,
            "commit-old-term" => Variant::CommitOldTerm,
            "forget-vote" => Variant::ForgetVote,
            "stale-reads" => Variant::StaleReads,
            "no-dedup" => Variant::NoDedup,
            "prevote" => Variant::PreVote,
            _ => return None,
        })
    }
}

/// A follower's hint after a failed consistency check.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conflict {
    /// The term of the follower's entry at `prev_index`, if it has one there.
    pub term: Option<u64>,
    /// The first index of that term in its log, or its log length + 1.
    pub index: u64,
}

/// Raft's messages; `C` and `S` are the state machine's own commands and the
/// machine itself (which a snapshot carries).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound(serialize = "C: Serialize, S: Machine", deserialize = "C: serde::de::DeserializeOwned, S: Machine"))]
pub enum Msg<C = Never, S = Store> {
    /// With `pre`, a PreVote: "would you vote for me in `term`?", changing nothing.
    RequestVote {
        term: u64,
        last_index: u64,
        last_term: u64,
        pre: bool,
    },
    /// A granted PreVote carries the term asked about; anything else the voter's term.
    Vote {
        term: u64,
        granted: bool,
        pre: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry<C>>,
        commit: u64,
        /// The leader's heartbeat round, echoed back: confirms leadership for reads.
        round: u64,
    },
    Appended {
        term: u64,
        /// On success: the follower's log matches the leader's up to `index`.
        ok: bool,
        index: u64,
        conflict: Option<Conflict>,
        round: u64,
    },
    InstallSnapshot {
        term: u64,
        index: u64,
        last_term: u64,
        #[serde(default, skip_serializing_if = "faultline_sim::wire::tracing")]
        chain: u64,
        /// Traced as a size, not the whole map; whole on the wire.
        #[serde(serialize_with = "store_summary")]
        store: Box<S>,
        round: u64,
    },
    Installed {
        term: u64,
        index: u64,
        round: u64,
    },
}

impl<C, S> faultline_sim::Message for Msg<C, S>
where
    C: Clone + std::fmt::Debug + Eq + std::hash::Hash + Serialize,
    S: Machine,
{
    const KINDS: &'static [&'static str] =
        &["RequestVote", "Vote", "Append", "Appended", "InstallSnapshot", "Installed"];
    fn kind(&self) -> &'static str {
        match self {
            Msg::RequestVote { .. } => "RequestVote",
            Msg::Vote { .. } => "Vote",
            Msg::Append { .. } => "Append",
            Msg::Appended { .. } => "Appended",
            Msg::InstallSnapshot { .. } => "InstallSnapshot",
            Msg::Installed { .. } => "Installed",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    Election,
    Heartbeat {
        term: u64,
    },
    /// Re-asks for PreVotes not yet given, while PreVote round `round` lasts.
    PreVote {
        round: u64,
    },
}

/// What a node keeps on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(bound(
    serialize = "C: Serialize, S: Serialize",
    deserialize = "C: serde::de::DeserializeOwned, S: serde::de::DeserializeOwned"
))]
pub enum Stored<C = Never, S = Store> {
    Term(u64),
    Vote(Option<NodeId>),
    Entry(Entry<C>),
    Snapshot { index: u64, term: u64, chain: u64, store: Box<S> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// A read waiting for its ReadIndex round and for the state machine to catch up.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Read {
    who: Reader,
    round: u64,
    /// The commit index to wait for; unknown until the leader has committed in its term.
    index: Option<u64>,
}

/// Who waits for a read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Reader {
    /// A client's get, fetch or list.
    Client(Arc<Request>),
    /// The service built on the log ([`Raft::read_index`]), by its token.
    Service(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Raft<M: Machine = Store> {
    variant: Variant,
    me: NodeId,
    n: usize,
    /// The servers of this Raft group, in node order (every node, unless a service
    /// runs several groups); shared, so iterating the peers allocates nothing.
    group: Arc<[NodeId]>,
    // Persistent.
    pub term: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log<M::Cmd>,
    /// The state machine as of the snapshot (what `InstallSnapshot` sends).
    snap_store: M,
    // Volatile.
    pub role: Role,
    leader: Option<NodeId>,
    pub commit: u64,
    pub applied: u64,
    /// The chain of the last applied entry: what this node's state machine has seen.
    pub applied_chain: u64,
    pub store: M,
    /// Snapshots installed from a leader since this node started.
    pub installs: u64,
    /// Reads for the service confirmed since it last took them ([`Raft::read_index`]).
    served: Vec<u64>,
    /// Per server, its answer to this term's vote request (or this round's PreVote):
    /// `None` until it answers. A refusal of a real vote is final for the term (the
    /// voter chose another, or its log is ahead), so it is not asked again; a PreVote
    /// refusal is not kept, since a voter that still hears a leader may stop hearing it.
    votes: Vec<Option<bool>>,
    /// Collecting PreVotes (as a follower) before standing for election.
    prevoting: bool,
    prevote_round: u64,
    next: Vec<u64>,
    matched: Vec<u64>,
    /// Per peer: the latest heartbeat round it acknowledged in this term.
    acked: Vec<u64>,
    /// Per peer: when (on this node's monotonic clock) the leader last sent it anything.
    sent_at: Vec<u64>,
    round: u64,
    /// Reads wait for a round not sent yet: the next broadcast starts it.
    need_round: bool,
    reads: Vec<Read>,
    /// Writes this node took from clients and answers once they apply, with the
    /// (index, term) where it put them in its log.
    waiting: BTreeMap<(ClientId, u64), (u64, u64)>,
    /// When this node last heard from a leader (or granted a vote), on its monotonic
    /// clock: a step of its wall clock (back or forward) neither silences nor hurries
    /// its elections.
    heard: u64,
    timeout: u64,
    election_armed: bool,
}

#[allow(clippy::borrowed_box)] // serde hands the field as it is
fn store_summary<M: Machine, S: serde::Serializer>(store: &Box<M>, s: S) -> Result<S::Ok, S::Error> {
    if faultline_sim::wire::carrying() {
        return store.serialize(s);
    }
    s.serialize_str(&store.summary())
}

/// "l" and the index in 11 base-64 digits (from an alphabet in ASCII order): fixed
/// width, so the disk's key order is log order; short, because one is made and
/// compared for every entry every node writes.
/// What an entry asks for, as observations name it.
fn command<C>(cmd: &Cmd<C>) -> Command {
    match cmd {
        Cmd::Noop => Command::Noop,
        Cmd::Client(r) => Command::Op { client: r.client, seq: r.seq },
        Cmd::Own(_) => Command::Internal,
    }
}

fn log_key(index: u64) -> String {
    let mut key = String::with_capacity(12);
    key.push('l');
    for shift in (0..11).rev() {
        key.push(KEY_DIGITS[(index >> (shift * 6)) as usize & 63] as char);
    }
    key
}

const KEY_DIGITS: &[u8; 64] = b"+0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";

fn log_index(key: &str) -> Option<u64> {
    let digits = key.strip_prefix('l')?;
    digits.bytes().try_fold(0u64, |acc, b| KEY_DIGITS.iter().position(|&d| d == b).map(|v| acc << 6 | v as u64))
}

impl<M: Machine> Raft<M> {
    /// Every other server of the group (by value, so the loop may borrow `self` mutably).
    fn peers(&self) -> impl Iterator<Item = NodeId> + use<M> {
        let (me, group) = (self.me, self.group.clone());
        (0..group.len()).map(move |i| group[i]).filter(move |&p| p != me)
    }

    /// What the tester sees of this node's leadership: its term, and whether it leads.
    fn state(&self) -> (u64, bool) {
        (self.term, self.role == Role::Leader)
    }

    /// Reports the node's term and leadership if they changed since `was`.
    fn tell_state(&self, ctx: &mut Ctx<'_, Self>, was: (u64, bool)) {
        let (term, leader) = self.state();
        if (term, leader) != was {
            ctx.observe(Observation::Term { term, leader });
        }
    }

    /// Reports that the log now ends at `index` (an entry, or a snapshot that replaced it).
    fn tell_holds(&self, ctx: &mut Ctx<'_, Self>, index: u64) {
        let (term, digest) = (self.log.term_at(index).unwrap_or(0), self.log.chain_at(index).unwrap_or(0));
        let command = match self.log.get(index) {
            Some(e) => command(&e.cmd),
            None if index == 0 => Command::Noop,
            None => Command::Snapshot,
        };
        ctx.observe(Observation::Holds { index, term, digest, command });
    }

    fn majority(&self) -> usize {
        self.group.len() / 2 + 1
    }

    fn dedup(&self) -> bool {
        self.variant != Variant::NoDedup
    }

    fn new_timeout(ctx: &mut Ctx<'_, Self>) -> u64 {
        ctx.rng().between(ELECTION_MIN_MS, ELECTION_MAX_MS) * 1_000_000
    }

    fn arm_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.election_armed {
            self.election_armed = true;
            let due = (self.heard + self.timeout).saturating_sub(ctx.monotonic()).max(1);
            ctx.set_timer(Dur(due), Timer::Election);
        }
    }

    /// Writes term and vote, and syncs: done before any answer that depends on them.
    fn save_meta(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.write("term", Stored::Term(self.term));
        if self.variant != Variant::ForgetVote {
            ctx.write("vote", Stored::Vote(self.voted_for));
        }
        ctx.sync();
    }

    /// Moves to `term` (if higher) as a follower. The caller syncs.
    fn step_down(&mut self, ctx: &mut Ctx<'_, Self>, term: u64) {
        let was = self.state();
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        if self.role == Role::Leader {
            ctx.note(format!("steps down in term {}", self.term));
            // Reads took no effect: the client may ask elsewhere.
            self.need_round = false;
            for r in std::mem::take(&mut self.reads) {
                if let Reader::Client(req) = r.who {
                    ctx.reply(Reply { client: req.client, seq: req.seq, outcome: Outcome::Redirect(None) });
                }
            }
        }
        if self.role != Role::Follower {
            self.heard = ctx.monotonic();
            self.timeout = Self::new_timeout(ctx);
        }
        self.role = Role::Follower;
        self.prevoting = false;
        self.tell_state(ctx, was);
        self.arm_election(ctx);
    }

    /// PreVote: ask whether the others would vote for us in the next term, without
    /// bumping our term. Only a majority of yes starts a real election, so a server
    /// that was cut off cannot force one when it comes back.
    fn start_prevote(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.majority() == 1 {
            return self.start_election(ctx);
        }
        // A pre-candidate is a follower that asks (etcd's PreCandidate): a candidate
        // that falls back to a PreVote round gives up its candidacy, so a real grant
        // for its old term that arrives late (from a voter paused across the election)
        // is not counted with the PreVotes toward leading that term.
        self.role = Role::Follower;
        self.prevoting = true;
        self.votes = vec![None; self.n];
        self.votes[self.me.0] = Some(true);
        self.heard = ctx.monotonic();
        self.timeout = Self::new_timeout(ctx);
        self.prevote_round += 1;
        ctx.note(format!("pre-candidate for term {}", self.term + 1));
        self.request_votes(ctx);
        ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::PreVote { round: self.prevote_round });
    }

    /// Asks every server that has not answered yet (for a PreVote or the real vote).
    fn request_votes(&self, ctx: &mut Ctx<'_, Self>) {
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let (term, pre) = if self.prevoting { (self.term + 1, true) } else { (self.term, false) };
        for p in self.peers().filter(|p| self.votes[p.0].is_none()) {
            ctx.send(p, Msg::RequestVote { term, last_index, last_term, pre });
        }
    }

    /// Votes granted so far, this node's own included.
    fn granted(&self) -> usize {
        self.votes.iter().filter(|&&v| v == Some(true)).count()
    }

    fn start_election(&mut self, ctx: &mut Ctx<'_, Self>) {
        let was = self.state();
        self.term += 1;
        self.role = Role::Candidate;
        self.prevoting = false;
        self.voted_for = Some(self.me);
        self.tell_state(ctx, was);
        ctx.observe(Observation::VotedFor { term: self.term, candidate: self.me });
        self.leader = None;
        self.votes = vec![None; self.n];
        self.votes[self.me.0] = Some(true);
        self.heard = ctx.monotonic();
        self.timeout = Self::new_timeout(ctx);
        self.save_meta(ctx);
        ctx.note(format!("candidate, term {}", self.term));
        self.request_votes(ctx);
        if self.majority() == 1 {
            self.become_leader(ctx);
        } else {
            // Retry the vote requests that get no answer, as the paper's RPCs do.
            ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Heartbeat { term: self.term });
        }
    }

    fn become_leader(&mut self, ctx: &mut Ctx<'_, Self>) {
        let was = self.state();
        self.role = Role::Leader;
        self.tell_state(ctx, was);
        self.leader = Some(self.me);
        ctx.note(format!("leader, term {}", self.term));
        let last = self.log.last_index();
        self.next = vec![last + 1; self.n];
        self.matched = vec![0; self.n];
        self.acked = vec![0; self.n];
        if self.variant == Variant::CommitOldTerm {
            // Like the MIT lab's Raft, this variant appends nothing on election: with a
            // no-op, every ack in the new term also covers a current-term entry, and
            // the counting bug could never show.
            self.matched[self.me.0] = last;
        } else {
            self.append_local(ctx, Entry::new(self.term, Cmd::Noop));
        }
        self.broadcast(ctx);
        if self.majority() == 1 {
            ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Heartbeat { term: self.term });
        }
    }

    /// The leader appends to its own log and syncs it.
    fn append_local(&mut self, ctx: &mut Ctx<'_, Self>, entry: Entry<M::Cmd>) {
        let index = self.log.push(entry);
        ctx.write(log_key(index), Stored::Entry(self.log.get(index).expect("just pushed").clone()));
        ctx.sync();
        self.tell_holds(ctx, index);
        self.matched[self.me.0] = index;
        self.advance_commit(ctx);
    }

    /// Sends every follower what it needs; a fresh heartbeat round if reads wait for
    /// one, so writes and heartbeats carry read confirmations for free.
    fn broadcast(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.need_round {
            self.round += 1;
            self.need_round = false;
        }
        for p in self.peers() {
            self.send_append(ctx, p);
        }
    }

    /// Sends `p` what it needs from `next[p]` on (or a snapshot), pipelined: `next`
    /// moves past what was sent, and a rejection moves it back.
    fn send_append(&mut self, ctx: &mut Ctx<'_, Self>, p: NodeId) {
        let next = self.next[p.0];
        if next <= self.log.snap_index {
            ctx.send(
                p,
                Msg::InstallSnapshot {
                    term: self.term,
                    index: self.log.snap_index,
                    last_term: self.log.snap_term,
                    chain: self.log.snap_chain,
                    store: Box::new(self.snap_store.clone()),
                    round: self.round,
                },
            );
            self.next[p.0] = self.log.snap_index + 1;
            return;
        }
        self.sent_at[p.0] = ctx.monotonic();
        let prev_index = next - 1;
        let prev_term = self.log.term_at(prev_index).expect("prev is at or after the snapshot");
        let entries = self.log.slice(next, BATCH_MAX);
        self.next[p.0] = next + entries.len() as u64;
        ctx.send(
            p,
            Msg::Append { term: self.term, prev_index, prev_term, entries, commit: self.commit, round: self.round },
        );
    }

    fn advance_commit(&mut self, ctx: &mut Ctx<'_, Self>) {
        let mut n = self.log.last_index();
        while n > self.commit {
            let count = self.matched.iter().filter(|&&m| m >= n).count();
            let ours = self.log.term_at(n) == Some(self.term) || self.variant == Variant::CommitOldTerm;
            if count >= self.majority() && ours {
                self.commit = n;
                ctx.observe(Observation::Committed { index: n });
                break;
            }
            n -= 1;
        }
        self.apply(ctx);
    }

    fn apply(&mut self, ctx: &mut Ctx<'_, Self>) {
        while self.applied < self.commit {
            let Some(entry) = self.log.get(self.applied + 1) else { break };
            let (chain, cmd, term) = (entry.chain, entry.cmd.clone(), entry.term);
            self.applied += 1;
            self.applied_chain = chain;
            let (index, command) = (self.applied, command(&cmd));
            ctx.observe(Observation::Applied { index, term, digest: chain, command });
            match cmd {
                Cmd::Client(req) => {
                    let outcome = self.store.apply(&req, self.dedup());
                    if self.waiting.remove(&(req.client, req.seq)).is_some()
                        && let Some(outcome) = outcome
                    {
                        ctx.reply(Reply { client: req.client, seq: req.seq, outcome });
                    }
                }
                Cmd::Own(c) => self.store.apply_own(&c),
                Cmd::Noop => {}
            }
        }
        if self.applied >= self.log.snap_index + SNAPSHOT_EVERY {
            self.snapshot(ctx);
        }
        self.serve_reads(ctx);
    }

    fn snapshot(&mut self, ctx: &mut Ctx<'_, Self>) {
        let old = self.log.snap_index;
        self.log.compact_to(self.applied);
        self.snap_store = self.store.clone();
        self.write_snapshot(ctx, old);
    }

    /// Writes the snapshot and deletes the log keys it covers (from `old` on), synced.
    fn write_snapshot(&mut self, ctx: &mut Ctx<'_, Self>, old: u64) {
        let l = &self.log;
        ctx.write(
            "snapshot",
            Stored::Snapshot {
                index: l.snap_index,
                term: l.snap_term,
                chain: l.snap_chain,
                store: Box::new(self.snap_store.clone()),
            },
        );
        for i in old + 1..=l.snap_index {
            ctx.delete(log_key(i));
        }
        ctx.sync();
    }

    /// Has a majority acknowledged heartbeat round `round`?
    fn confirmed(&self, round: u64) -> bool {
        crate::kv::round_confirmed(&self.acked, self.me.0, self.majority(), round)
    }

    /// Is a read round out and not yet confirmed?
    fn round_in_flight(&self) -> bool {
        self.reads.iter().any(|r| r.round == self.round) && !self.confirmed(self.round)
    }

    /// Answers reads whose round a majority confirmed and whose index is applied.
    fn serve_reads(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.role != Role::Leader || self.reads.is_empty() {
            return;
        }
        if self.log.term_at(self.commit) == Some(self.term) {
            for r in self.reads.iter_mut().filter(|r| r.index.is_none()) {
                r.index = Some(self.commit);
            }
        }
        let mut i = 0;
        while i < self.reads.len() {
            let r = &self.reads[i];
            if r.index.is_some_and(|x| self.applied >= x) && r.round <= self.round && self.confirmed(r.round) {
                match self.reads.swap_remove(i).who {
                    Reader::Client(req) => {
                        ctx.reply(Reply { client: req.client, seq: req.seq, outcome: self.store.query(&req.op) })
                    }
                    Reader::Service(token) => self.served.push(token),
                }
            } else {
                i += 1;
            }
        }
        if self.need_round && !self.round_in_flight() {
            self.broadcast(ctx);
        }
    }

    /// A reply from `from` in the current term: it still follows us in this round.
    fn ack_round(&mut self, from: NodeId, round: u64) {
        self.acked[from.0] = self.acked[from.0].max(round);
    }

    fn on_append(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        (term, prev_index, prev_term, entries, leader_commit, round): (u64, u64, u64, Vec<Entry<M::Cmd>>, u64, u64),
    ) {
        if term < self.term {
            let reply = Msg::Appended { term: self.term, ok: false, index: 0, conflict: None, round };
            return ctx.send(from, reply);
        }
        let was = (self.term, self.voted_for);
        self.step_down(ctx, term);
        self.leader = Some(from);
        self.heard = ctx.monotonic();
        let mut dirty = (self.term, self.voted_for) != was;
        // Consistency check on the entry before the new ones.
        let reject = if prev_index > self.log.last_index() {
            Some(Conflict { term: None, index: self.log.last_index() + 1 })
        } else if prev_index >= self.log.snap_index && self.log.term_at(prev_index) != Some(prev_term) {
            let t = self.log.term_at(prev_index).expect("held");
            Some(Conflict { term: Some(t), index: self.log.first_of_term(t, prev_index) })
        } else {
            None
        };
        if let Some(conflict) = reject {
            if dirty {
                self.save_meta(ctx);
            }
            let reply = Msg::Appended { term: self.term, ok: false, index: 0, conflict: Some(conflict), round };
            return ctx.send(from, reply);
        }
        let mut index = prev_index;
        for e in entries {
            index += 1;
            if index <= self.log.snap_index {
                continue; // compacted here: committed, so it matches
            }
            match self.log.term_at(index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    for i in index..=self.log.last_index() {
                        ctx.delete(log_key(i));
                    }
                    self.log.truncate_from(index);
                }
                None => {}
            }
            self.log.push(e);
            ctx.write(log_key(index), Stored::Entry(self.log.get(index).expect("pushed").clone()));
            self.tell_holds(ctx, index);
            dirty = true;
        }
        if dirty {
            if (self.term, self.voted_for) != was {
                ctx.write("term", Stored::Term(self.term));
                if self.variant != Variant::ForgetVote {
                    ctx.write("vote", Stored::Vote(self.voted_for));
                }
            }
            ctx.sync();
        }
        if leader_commit > self.commit {
            self.commit = self.commit.max(leader_commit.min(index));
            self.apply(ctx);
        }
        ctx.send(from, Msg::Appended { term: self.term, ok: true, index, conflict: None, round });
    }

    /// A follower's answer to `Append` or `InstallSnapshot`.
    fn on_reply(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        from: NodeId,
        (term, round): (u64, u64),
        ok: bool,
        index: u64,
        conflict: Option<Conflict>,
    ) {
        if term > self.term {
            self.step_down(ctx, term);
            self.save_meta(ctx);
        } else if term == self.term && self.role == Role::Leader {
            // A refusal with no hint answers an Append of an earlier term (its sender
            // has since moved on to ours): the round it echoes is another leader's,
            // or this node's before a restart, and confirms nothing of this term.
            if ok || conflict.is_some() {
                self.ack_round(from, round);
            }
            self.on_appended(ctx, from, ok, index, conflict);
            self.serve_reads(ctx);
        }
    }

    fn on_appended(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, ok: bool, index: u64, conflict: Option<Conflict>) {
        let p = from.0;
        if ok {
            self.matched[p] = self.matched[p].max(index);
            self.next[p] = self.next[p].max(index + 1);
            self.advance_commit(ctx);
            if self.next[p] <= self.log.last_index() {
                self.send_append(ctx, from);
            }
            return;
        }
        let Some(c) = conflict else { return };
        let next = match c.term {
            None => c.index,
            Some(t) => self.log.last_of_term(t).map_or(c.index, |i| i + 1),
        };
        self.next[p] = next.clamp(self.matched[p] + 1, self.log.last_index() + 1);
        self.send_append(ctx, from);
    }

    fn on_install(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, snap: (u64, u64, u64, u64, Box<M>, u64)) {
        let (term, index, last_term, chain, store, round) = snap;
        if term < self.term {
            return ctx.send(from, Msg::Installed { term: self.term, index: 0, round });
        }
        let was = (self.term, self.voted_for);
        self.step_down(ctx, term);
        self.leader = Some(from);
        self.heard = ctx.monotonic();
        if (self.term, self.voted_for) != was {
            self.save_meta(ctx);
        }
        if index > self.applied {
            let old = self.log.snap_index;
            let old_last = self.log.last_index();
            self.log.install(index, last_term, chain);
            if self.log.last_index() == index {
                for i in index + 1..=old_last {
                    ctx.delete(log_key(i));
                }
                self.tell_holds(ctx, index);
            }
            self.snap_store = *store;
            self.store = self.snap_store.clone();
            self.commit = self.commit.max(index);
            self.applied = index;
            self.applied_chain = chain;
            ctx.observe(Observation::Applied { index, term: last_term, digest: chain, command: Command::Snapshot });
            self.installs += 1;
            ctx.note(format!("installed a snapshot up to index {index}"));
            self.write_snapshot(ctx, old);
            self.apply(ctx);
        }
        ctx.send(from, Msg::Installed { term: self.term, index, round });
    }

    /// A read needs a round sent after it arrived. If one is in flight, it waits
    /// for the next (sent when that one is confirmed, or with the next write or
    /// heartbeat); otherwise a round goes out now.
    fn start_read(&mut self, ctx: &mut Ctx<'_, Self>, who: Reader) {
        let index = (self.log.term_at(self.commit) == Some(self.term)).then_some(self.commit);
        let in_flight = self.round_in_flight();
        self.reads.push(Read { who, round: self.round + 1, index });
        self.need_round = true;
        if !in_flight {
            self.broadcast(ctx);
        }
        self.serve_reads(ctx);
    }

    fn on_client(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        if self.role != Role::Leader {
            // With no leader known, stay silent: the client times out and tries elsewhere.
            if let Some(l) = self.leader {
                ctx.reply(Reply { client: req.client, seq: req.seq, outcome: Outcome::Redirect(Some(l)) });
            }
            return;
        }
        if self.dedup() {
            if self.store.is_stale(req.client, req.seq) {
                return;
            }
            if let Some(outcome) = self.store.answered(req.client, req.seq) {
                ctx.reply(Reply { client: req.client, seq: req.seq, outcome: outcome.clone() });
                return;
            }
        }
        if req.op.is_read() {
            if self.variant == Variant::StaleReads {
                ctx.reply(Reply { client: req.client, seq: req.seq, outcome: self.store.query(&req.op) });
                return;
            }
            self.start_read(ctx, Reader::Client(Arc::new(req)));
            return;
        }
        if self.dedup()
            && let Some(&(index, term)) = self.waiting.get(&(req.client, req.seq))
            && self.log.term_at(index) == Some(term)
        {
            return; // still in the log, not yet applied: the answer comes then
        }
        self.waiting.insert((req.client, req.seq), (self.log.last_index() + 1, self.term));
        self.append_local(ctx, Entry::new(self.term, Cmd::Client(Arc::new(req))));
        self.broadcast(ctx);
    }
}

impl<M: Machine> Raft<M> {
    /// A server of the Raft group `group` (a service that runs several groups on
    /// one cluster starts each node's this way; the protocol's own `start` makes
    /// every node one group's), recovering what `durable` holds.
    pub fn start_in(
        ctx: &mut Ctx<'_, Self>,
        variant: Variant,
        group: Vec<NodeId>,
        durable: &Durable<Stored<M::Cmd, M>>,
    ) -> Self {
        let n = ctx.cluster_size();
        let mut r = Raft {
            variant,
            me: ctx.id(),
            n,
            group: group.into(),
            term: 0,
            voted_for: None,
            log: Log::default(),
            snap_store: M::default(),
            role: Role::Follower,
            leader: None,
            commit: 0,
            applied: 0,
            applied_chain: 0,
            store: M::default(),
            installs: 0,
            served: Vec::new(),
            votes: vec![None; n],
            prevoting: false,
            prevote_round: 0,
            next: vec![1; n],
            matched: vec![0; n],
            acked: vec![0; n],
            sent_at: vec![0; n],
            round: 0,
            need_round: false,
            reads: Vec::new(),
            waiting: BTreeMap::new(),
            heard: ctx.monotonic(),
            timeout: Self::new_timeout(ctx),
            election_armed: false,
        };
        if let Some(Stored::Snapshot { index, term, chain, store }) = durable.get("snapshot") {
            r.log.install(*index, *term, *chain);
            r.snap_store = (**store).clone();
            r.store = r.snap_store.clone();
            (r.commit, r.applied, r.applied_chain) = (*index, *index, *chain);
        }
        for (key, value) in durable {
            match value {
                Stored::Term(t) => r.term = *t,
                Stored::Vote(v) => r.voted_for = *v,
                Stored::Entry(e) => {
                    // Keys sort in index order; only the part after the snapshot counts.
                    let index = log_index(key).expect("log keys are written by log_key");
                    if index == r.log.last_index() + 1 {
                        r.log.push(e.clone());
                    }
                }
                Stored::Snapshot { .. } => {}
            }
        }
        // What the tester sees of a node that (re)starts: its term, where its log
        // ends, and a snapshot it applied.
        ctx.observe(Observation::Term { term: r.term, leader: false });
        r.tell_holds(ctx, r.log.last_index());
        if r.applied > 0 {
            let (index, term, digest) = (r.applied, r.log.snap_term, r.applied_chain);
            ctx.observe(Observation::Applied { index, term, digest, command: Command::Snapshot });
        }
        if r.term > 0 {
            ctx.note(format!(
                "recovered term {}, vote {}, log to {} (snapshot {})",
                r.term,
                r.voted_for.map_or("none".to_string(), |v| v.to_string()),
                r.log.last_index(),
                r.log.snap_index
            ));
        }
        r.arm_election(ctx);
        r
    }

    /// Whether this server leads its group.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// The leader this server last heard from (itself, if it leads).
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }

    /// As leader, starts a linearizable read for the service built on the log
    /// (ReadIndex, as clients' reads): `token` comes back from
    /// [`Raft::take_served`] once the state machine may answer it. False on a
    /// server that does not lead; a read under way is dropped if it steps down.
    pub fn read_index(&mut self, ctx: &mut Ctx<'_, Self>, token: u64) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        self.start_read(ctx, Reader::Service(token));
        true
    }

    /// The service's reads confirmed since the last call, by token.
    pub fn take_served(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.served)
    }

    /// The state machine, as applied on this server.
    pub fn machine(&self) -> &M {
        &self.store
    }

    /// As leader, appends one of the state machine's own commands to the log and
    /// sends it on; it applies once committed. False (and nothing appended) on a
    /// server that does not lead.
    pub fn propose(&mut self, ctx: &mut Ctx<'_, Self>, cmd: M::Cmd) -> bool {
        if self.role != Role::Leader {
            return false;
        }
        self.append_local(ctx, Entry::new(self.term, Cmd::Own(Arc::new(cmd))));
        self.broadcast(ctx);
        true
    }
}

impl<M: Machine> Protocol for Raft<M> {
    type Msg = Msg<M::Cmd, M>;
    type Timer = Timer;
    type Stored = Stored<M::Cmd, M>;
    type Config = Variant;

    fn start(ctx: &mut Ctx<'_, Self>, variant: &Variant, durable: &Durable<Self::Stored>) -> Self {
        let group = (0..ctx.cluster_size()).map(NodeId).collect();
        Self::start_in(ctx, *variant, group, durable)
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Self::Msg) {
        match msg {
            Msg::RequestVote { term, last_index, last_term, pre: true } => {
                // Yes only if the candidate's term would be new to us, its log is up to
                // date, and we have not heard from a leader for an election timeout.
                let up_to_date = (last_term, last_index) >= (self.log.last_term(), self.log.last_index());
                let quiet = ctx.monotonic() >= self.heard + ELECTION_MIN_MS * 1_000_000;
                let granted = term > self.term && up_to_date && quiet && self.role != Role::Leader;
                ctx.send(from, Msg::Vote { term: if granted { term } else { self.term }, granted, pre: true });
            }
            Msg::Vote { term, granted, pre: true } => {
                if granted && self.prevoting && term == self.term + 1 {
                    self.votes[from.0] = Some(true);
                    if self.granted() >= self.majority() {
                        self.start_election(ctx);
                    }
                } else if !granted && term > self.term {
                    self.step_down(ctx, term);
                    self.save_meta(ctx);
                }
            }
            Msg::RequestVote { term, last_index, last_term, pre: false } => {
                let was = (self.term, self.voted_for);
                if term > self.term {
                    self.step_down(ctx, term);
                }
                let up_to_date = (last_term, last_index) >= (self.log.last_term(), self.log.last_index());
                let log_ok = up_to_date || self.variant == Variant::VoteWithoutLogCheck;
                let granted = term == self.term && self.voted_for.is_none_or(|v| v == from) && log_ok;
                if granted {
                    self.voted_for = Some(from);
                    self.heard = ctx.monotonic();
                    ctx.observe(Observation::VotedFor { term, candidate: from });
                }
                if (self.term, self.voted_for) != was {
                    self.save_meta(ctx);
                }
                ctx.send(from, Msg::Vote { term: self.term, granted, pre: false });
            }
            Msg::Vote { term, granted, pre: false } => {
                if term > self.term {
                    self.step_down(ctx, term);
                    self.save_meta(ctx);
                } else if term == self.term && self.role == Role::Candidate && !self.prevoting {
                    self.votes[from.0] = Some(granted);
                    if granted && self.granted() >= self.majority() {
                        self.become_leader(ctx);
                    }
                }
            }
            Msg::Append { term, prev_index, prev_term, entries, commit, round } => {
                self.on_append(ctx, from, (term, prev_index, prev_term, entries, commit, round))
            }
            Msg::Appended { term, ok, index, conflict, round } => {
                self.on_reply(ctx, from, (term, round), ok, index, conflict)
            }
            Msg::InstallSnapshot { term, index, last_term, chain, store, round } => {
                self.on_install(ctx, from, (term, index, last_term, chain, store, round))
            }
            // A follower that installed a snapshot matches the leader up to its index.
            // Index 0: the refusal of a snapshot of an earlier term.
            Msg::Installed { term, index, round } => self.on_reply(ctx, from, (term, round), index > 0, index, None),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            Timer::Election => {
                self.election_armed = false;
                if self.role == Role::Leader {
                    return;
                }
                if ctx.monotonic() >= self.heard + self.timeout {
                    if self.variant == Variant::PreVote {
                        self.start_prevote(ctx);
                    } else {
                        self.start_election(ctx);
                    }
                }
                if self.role != Role::Leader {
                    self.arm_election(ctx);
                }
            }
            Timer::Heartbeat { term } => {
                if term != self.term {
                    return;
                }
                match self.role {
                    // A follower sent an Append within the last interval has heard
                    // from us recently enough; a round that reads wait for goes to all.
                    Role::Leader if self.need_round => self.broadcast(ctx),
                    Role::Leader => {
                        let due = ctx.monotonic().saturating_sub(Dur::from_millis(HEARTBEAT_MS).0);
                        for p in self.peers() {
                            if self.sent_at[p.0] <= due {
                                self.send_append(ctx, p);
                            }
                        }
                    }
                    Role::Candidate => self.request_votes(ctx),
                    Role::Follower => return,
                }
                ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::Heartbeat { term });
            }
            Timer::PreVote { round } => {
                if self.prevoting && round == self.prevote_round {
                    self.request_votes(ctx);
                    ctx.set_timer(Dur::from_millis(HEARTBEAT_MS), Timer::PreVote { round });
                }
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, request: Request) {
        self.on_client(ctx, request);
    }

    fn leads(&self) -> Option<u64> {
        (self.role == Role::Leader).then_some(self.term)
    }

    const HAS_LEADER: bool = true;

    const OPS: &'static [faultline_sim::OpKind] = crate::kv::OPS;

    const PROBES: &'static [(&'static str, &'static str)] = check::PROBES;

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        check::probe(nodes, name)
    }

    fn check_invariants(&self) -> Result<(), faultline_sim::Violation> {
        check::local(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_sim::protocol::Effect;
    use faultline_sim::rng::{SimRng, Stream};

    /// Found by 10,000 seeds of images/nemesis (seed 1156, a shard's Raft group): a
    /// leader cut off from its group answered a read at once, stale. A follower had
    /// refused an Append of an earlier term, sent by the same node before it led
    /// again, and echoed that Append's round (2) in its refusal, with its own term,
    /// which was the new leader's: the leader took it as the acknowledgement of its
    /// own round 1. A refusal without a hint confirms no round.
    #[test]
    fn a_refusal_of_an_earlier_terms_append_does_not_confirm_a_read() {
        let mut rng = SimRng::new(1, Stream::Node(0));
        let mut timers = 0;
        let mut effects: Vec<Effect<Raft>> = Vec::new();
        let mut step = |r: &mut Raft, f: &mut dyn FnMut(&mut Raft, &mut Ctx<'_, Raft>)| -> Vec<Effect<Raft>> {
            let mut out = Vec::new();
            let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut out, &mut timers);
            f(r, &mut ctx);
            out
        };
        let (mut rng0, mut timers0) = (SimRng::new(2, Stream::Node(0)), 0);
        let mut r = {
            let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng0, &mut effects, &mut timers0);
            <Raft as Protocol>::start(&mut ctx, &Variant::Correct, &Durable::new())
        };
        step(&mut r, &mut |r, c| r.start_election(c));
        let term = r.term;
        step(&mut r, &mut |r, c| r.on_message(c, NodeId(1), Msg::Vote { term, granted: true, pre: false }));
        assert_eq!(r.role, Role::Leader);
        // The no-op commits with n2's acknowledgement, so reads may be answered.
        let last = r.log.last_index();
        step(&mut r, &mut |r, c| {
            r.on_message(c, NodeId(1), Msg::Appended { term, ok: true, index: last, conflict: None, round: 0 })
        });
        let replies = |effects: &[Effect<Raft>]| effects.iter().filter(|e| matches!(e, Effect::Reply(_))).count();
        let read = Request::new(0, 1, faultline_sim::Op::Get { key: "k1".into() });
        let sent = step(&mut r, &mut |r, c| r.on_request(c, read.clone()));
        assert_eq!(replies(&sent), 0, "a read waits for its round");
        let round = r.round;
        let stale = Msg::Appended { term, ok: false, index: 0, conflict: None, round: round + 1 };
        let after = step(&mut r, &mut |r, c| r.on_message(c, NodeId(2), stale.clone()));
        assert_eq!(replies(&after), 0, "an old Append's refusal confirms nothing");
        let ack = Msg::Appended { term, ok: true, index: last, conflict: None, round };
        let after = step(&mut r, &mut |r, c| r.on_message(c, NodeId(2), ack.clone()));
        assert_eq!(replies(&after), 1, "a majority acknowledged the round: the read is answered");
    }

    #[test]
    fn log_keys_sort_in_index_order_and_read_back() {
        let samples = [0u64, 1, 9, 10, 63, 64, 65, 4095, 4096, 1 << 40, u64::MAX >> 2];
        let keys: Vec<String> = samples.iter().map(|&i| log_key(i)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (&i, k) in samples.iter().zip(&keys) {
            assert_eq!(log_index(k), Some(i), "{k}");
        }
        assert_eq!(log_index("term"), None);
    }
}

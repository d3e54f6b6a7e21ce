//! Your Raft: one state machine per server, driven by the simulator. Every handler
//! below compiles and does nothing; fill them in part by part, as README.md walks
//! you through (3A election, 3B log, 3C persistence, 3D snapshots), and grade as you
//! go with `cargo run -- grade raft --protocol myraft`.
//!
//! The rules the checks hold you to:
//! - Report what you do with `ctx.observe(...)` (the `observe_*` helpers below do it
//!   for you): the lab judges Raft's safety properties (one vote per term, one leader
//!   per term, logs that match, committed entries that stay, state machines that
//!   agree) from these reports, not from your fields.
//! - Keep the fields marked "probe" true: scenario files assert on them through
//!   [`Raft::probe`] (is there a leader, what is the term, how many commands ran),
//!   as MIT's tests call `GetState()`.
//! - Nothing outlives a crash but what you `ctx.write` and then `ctx.sync()`.
//! - Answer each client request once it is committed and applied, with
//!   `ctx.reply(...)`; a server that is not the leader answers
//!   `Outcome::Redirect(Some(leader))` (or `None` if it does not know one). Clients
//!   retry a request that times out, on another server: apply each `(client, seq)`
//!   once ([`Store::apply`] keeps the sessions that make that true).

// The helpers below go unused until you use them: delete this line when you do.
#![allow(dead_code)]

use faultline::kv::Store;
use faultline::raft_probes::View;
use faultline_sim::disk::Durable;
use faultline_sim::observe::Command;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Observation, Outcome, Protocol, Reply, Request, TimerId};
use serde::Serialize;

/// How often a leader sends heartbeats. MIT asks for at most ten a second; the
/// `RPC counts` part counts your messages.
pub const HEARTBEAT: Dur = Dur::from_millis(50);
/// Election timeouts are drawn at random between these, in milliseconds.
pub const ELECTION_MS: (u64, u64) = (150, 300);
/// Snapshot the state machine each time this many more entries have been applied
/// (part 3D: `snapshots basic` holds the log to at most 120 entries).
pub const SNAPSHOT_EVERY: u64 = 100;

/// One log entry: the term it was created in, and the client request it carries
/// (`None` for the no-op a new leader appends).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Entry {
    pub term: u64,
    pub request: Option<Request>,
}

impl Entry {
    /// What the entry asks for, as observations name it.
    pub fn command(&self) -> Command {
        match &self.request {
            Some(r) => Command::Op { client: r.client, seq: r.seq },
            None => Command::Noop,
        }
    }
}

/// The messages servers send each other (Figure 2 of the Raft paper, and Figure 13
/// for snapshots). A scenario's `drop` fault names them by variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Msg {
    /// A candidate asks for a vote.
    RequestVote { term: u64, last_index: u64, last_term: u64 },
    /// The answer to a RequestVote.
    Vote { term: u64, granted: bool },
    /// A leader replicates entries after `prev_index` (empty: a heartbeat).
    Append { term: u64, prev_index: u64, prev_term: u64, entries: Vec<Entry>, commit: u64 },
    /// The answer to an Append: on success, the follower's log matches up to `index`.
    Appended { term: u64, success: bool, index: u64 },
    /// A leader sends its snapshot to a follower that lags behind its log.
    InstallSnapshot { term: u64, last_index: u64, last_term: u64, store: Store },
    /// The answer to an InstallSnapshot.
    Installed { term: u64, last_index: u64 },
}
faultline_sim::message_kinds!(Msg { RequestVote, Vote, Append, Appended, InstallSnapshot, Installed });

/// What a server arms its timers with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Timer {
    /// No word from a leader for a while: stand for election.
    Election,
    /// Time for a leader's next heartbeat.
    Heartbeat,
}

/// What a server keeps on its disk (part 3C), under keys you choose with
/// `ctx.write(key, value)`; only what you `ctx.sync()` survives a crash.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Stored {
    Term(u64),
    VotedFor(Option<NodeId>),
    Log(Vec<Entry>),
    Snapshot { last_index: u64, last_term: u64, store: Store },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

/// One server's state. Add what you need; keep the "probe" fields true.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Raft {
    pub me: NodeId,
    /// probe: the current term.
    pub term: u64,
    pub voted_for: Option<NodeId>,
    /// probe: whether this server leads (in `term`).
    pub role: Role,
    /// The entries after the snapshot: `log[0]` is index `snapshot_index + 1`.
    /// probe: `log.len()` is the log the snapshots must keep short.
    pub log: Vec<Entry>,
    pub snapshot_index: u64,
    pub snapshot_term: u64,
    /// probe: the highest index known committed.
    pub commit: u64,
    /// The highest index applied to `store`.
    pub applied: u64,
    /// probe: the digest of the log up to `applied` ([`chain`] of each entry in turn).
    pub applied_digest: u64,
    /// probe: the state machine (`store.executed` counts the commands it ran).
    pub store: Store,
    /// probe: snapshots installed from a leader since this server started.
    pub installs: u64,
}

/// The fingerprint of a log up to an entry, from the fingerprint up to the entry
/// before it (`prev`, 0 before the first): equal digests, equal logs. Observations
/// carry it, so the lab can tell whether two servers' logs match.
pub fn chain(prev: u64, entry: &Entry) -> u64 {
    let (client, seq) = match &entry.request {
        Some(r) => (r.client as u64 + 1, r.seq),
        None => (0, 0),
    };
    let mut h = prev ^ 0x9e37_79b9_7f4a_7c15;
    for word in [entry.term, client, seq] {
        h = (h ^ word).wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
    }
    h
}

impl Raft {
    /// Report the term and whether this server leads in it: call it whenever
    /// either changes.
    pub fn observe_term(&self, ctx: &mut Ctx<'_, Self>) {
        ctx.observe(Observation::Term { term: self.term, leader: self.role == Role::Leader });
    }

    /// Report a vote granted in the current term (to yourself when you stand).
    pub fn observe_vote(&self, ctx: &mut Ctx<'_, Self>, candidate: NodeId) {
        ctx.observe(Observation::VotedFor { term: self.term, candidate });
    }

    /// Report that the log now ends at `index` with `entry`, whose chain is `digest`:
    /// for each entry appended, in order (after a truncation, for the new entries).
    pub fn observe_holds(ctx: &mut Ctx<'_, Self>, index: u64, entry: &Entry, digest: u64) {
        ctx.observe(Observation::Holds { index, term: entry.term, digest, command: entry.command() });
    }

    /// Report that this leader marked `index` committed.
    pub fn observe_committed(ctx: &mut Ctx<'_, Self>, index: u64) {
        ctx.observe(Observation::Committed { index });
    }

    /// Report that the entry at `index` was applied to the state machine.
    pub fn observe_applied(ctx: &mut Ctx<'_, Self>, index: u64, entry: &Entry, digest: u64) {
        ctx.observe(Observation::Applied { index, term: entry.term, digest, command: entry.command() });
    }
}

impl Protocol for Raft {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Stored;
    type Config = ();
    const HAS_LEADER: bool = true;
    const PROBES: &'static [(&'static str, &'static str)] = faultline::raft_probes::PROBES;

    /// A server starts, fresh (`durable` is empty) or after a crash (3C: read back
    /// your term, vote and log from `durable`, a map from your keys to `Stored`).
    /// 3A: arm the election timer here.
    fn start(ctx: &mut Ctx<'_, Self>, _config: &(), _durable: &Durable<Stored>) -> Self {
        let raft = Raft {
            me: ctx.id(),
            term: 0,
            voted_for: None,
            role: Role::Follower,
            log: Vec::new(),
            snapshot_index: 0,
            snapshot_term: 0,
            commit: 0,
            applied: 0,
            applied_digest: 0,
            store: Store::default(),
            installs: 0,
        };
        raft.observe_term(ctx);
        raft
    }

    fn on_message(&mut self, _ctx: &mut Ctx<'_, Self>, _from: NodeId, msg: Msg) {
        match msg {
            // 3A: grant the vote if the candidate's term is current, you have not
            // voted for another in it, and (3B) its log is at least as up to date.
            Msg::RequestVote { .. } => {}
            // 3A: count votes; a majority makes you leader.
            Msg::Vote { .. } => {}
            // 3A: a leader's heartbeat resets your election timer. 3B: check
            // prev_index/prev_term, append, learn the commit index, apply.
            Msg::Append { .. } => {}
            // 3B: advance the follower's match index, or back its next index up.
            Msg::Appended { .. } => {}
            // 3D: replace your state machine with the leader's snapshot.
            Msg::InstallSnapshot { .. } => {}
            // 3D: the follower now holds everything up to last_index.
            Msg::Installed { .. } => {}
        }
    }

    fn on_timer(&mut self, _ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            // 3A: become a candidate: a new term, a vote for yourself, RequestVotes.
            Timer::Election => {}
            // 3A: a leader sends heartbeats (3B: and the entries each peer lacks).
            Timer::Heartbeat => {}
        }
    }

    /// A client's request. 3B: a leader appends it to its log and answers once it
    /// is applied; any other server redirects the client to the leader it knows.
    fn on_request(&mut self, _ctx: &mut Ctx<'_, Self>, _request: Request) {}

    fn leads(&self) -> Option<u64> {
        (self.role == Role::Leader).then_some(self.term)
    }

    /// The probes scenario files assert on, read from the "probe" fields over the
    /// servers that are up and in the majority group. Leave this as it is.
    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let views: Vec<View> = nodes
            .iter()
            .flatten()
            .map(|r| View {
                term: r.term,
                leads: r.role == Role::Leader,
                commit: r.commit,
                commands: r.store.executed,
                applied: (r.applied, r.applied_digest),
                log: r.log.len() as u64,
                installs: r.installs,
            })
            .collect();
        faultline::raft_probes::measure(&views, name)
    }
}

/// An answer to a client's request.
pub fn reply(request: &Request, outcome: Outcome) -> Reply {
    Reply { client: request.client, seq: request.seq, outcome }
}

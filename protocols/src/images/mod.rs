//! A sharded, replicated image store: images placed on shards by consistent
//! hashing, each shard a Raft group, and every upload and delete made atomic across
//! shards by two-phase commit, the way the course's articles build one.
//!
//! ## The layout
//! The nodes form groups of three (`n1..n3` serve shard 1, `n4..n6` shard 2, ...;
//! nodes left over join the last group). Each group runs Raft (the same Raft as
//! `protocol = "raft"`, over its own servers) and replicates one shard's state
//! machine ([`shard::Shard`]). An image's metadata (size, checksum, tags) lives on
//! the shard its name is placed on; its bytes are cut into chunks of
//! [`CHUNK_BYTES`], each placed on a shard by its own id, so a large image spans
//! shards. Placement is a ring with 100 virtual nodes per shard.
//!
//! ## Operations
//! - `fetch` and `tag` go to the image's metadata shard: a fetch is a ReadIndex read
//!   on its leader, a tag a log entry (refused, changing nothing, while an upload
//!   or delete of the image is under way).
//! - `upload` and `delete` are transactions coordinated by the metadata shard's
//!   leader, every step a log entry of the group that takes it, so a new leader
//!   carries on where the old one stopped. The client's request, as it applies,
//!   splits the writes by shard and prepares the metadata shard's own (locking
//!   them); the leader sends each other shard its `Prepare`; that shard's leader
//!   logs it, and the entry prepares (yes: locked and within the shard's quota of
//!   [`QUOTA_BYTES`]) or refuses (no); the vote comes back and is logged at the
//!   coordinator; once every shard has voted, the decision (commit only if all
//!   said yes) applies there, answers the client and goes out to the shards, which
//!   log it and acknowledge. Leaders re-send what is unanswered every [`RESEND_MS`].
//! - `list` is gathered by the node asked: every shard's leader answers the names
//!   it holds with the tag after a ReadIndex round, and the node answers the union.
//!
//! ## What is checked
//! Linearizability per image (fetch, tag, upload, delete), `list-by-tag` for the
//! lists, each group's replicated log by the log family (one leader per term per
//! group, and the rest), and two probes a scenario asserts at the end:
//! `orphans` (an image's metadata without all its chunks, or a chunk no image's
//! metadata names: atomicity) and `corrupt` (a chunk whose size or checksum is not
//! what its image's metadata says).
//!
//! ## The zoo
//! `no-2pc` writes each shard's part as it goes, without preparing (a lost message
//! or a crash leaves an orphan); `majority-commit` commits once more than half of
//! the shards voted yes; `follower-reads` answers a fetch from whichever server of
//! the metadata shard is asked, leader or not.

pub mod shard;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{ClientId, Ctx, NodeId, Op, OpKind, Outcome, Protocol, Reply, Request, TimerId};
use serde::{Deserialize, Serialize};

use crate::chash::{Placement, Ring, name_hash};
use crate::commit::show_txn;
use crate::raft::{self, Machine, Raft};
use shard::{Own, Shard, Status, TxnId, Write};

/// Servers per shard.
pub const GROUP_SIZE: usize = 3;
/// The most bytes of one chunk.
pub const CHUNK_BYTES: u64 = 1 << 20;
/// The bytes of chunks one shard takes, prepared ones included: beyond it, it votes no.
pub const QUOTA_BYTES: u64 = 24 << 20;
/// How often a leader re-sends what is unanswered.
pub const RESEND_MS: u64 = 25;
/// Virtual nodes per shard on the placement ring.
pub const VNODES: u32 = 100;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Variant {
    #[default]
    Correct,
    /// Each shard's writes applied as they arrive, without two-phase commit.
    No2pc,
    /// The coordinator commits once more than half of the shards voted yes.
    MajorityCommit,
    /// Any server of the metadata shard answers a fetch from what it has applied.
    FollowerReads,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "shards are Raft groups; uploads and deletes commit atomically across them by two-phase commit"),
    ("no-2pc", "an upload writes each shard as it goes, without preparing: a lost write leaves an orphan"),
    ("majority-commit", "the coordinator commits once more than half of the shards voted yes"),
    ("follower-reads", "any server of the image's shard answers a fetch, leader or not: stale reads"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        Some(match name {
            "correct" => Variant::Correct,
            "no-2pc" => Variant::No2pc,
            "majority-commit" => Variant::MajorityCommit,
            "follower-reads" => Variant::FollowerReads,
            _ => return None,
        })
    }
}

pub const PROBES: &[(&str, &str)] = &[
    (
        "orphans",
        "images whose metadata lacks a chunk, plus chunks no image names (the most advanced server of each shard)",
    ),
    ("corrupt", "chunks whose size or checksum is not what their image's metadata says"),
    ("images", "images stored (metadata held), over every shard"),
    ("pending", "transactions prepared and not yet decided, over every shard"),
];

/// Which node serves which shard, and where a key is placed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layout {
    pub nodes: usize,
    pub groups: usize,
}

thread_local! {
    /// The placement ring of each shard count met (rings are the same for all).
    static RINGS: std::cell::RefCell<BTreeMap<usize, Arc<Ring>>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

impl Layout {
    pub fn of(nodes: usize) -> Layout {
        Layout { nodes, groups: (nodes / GROUP_SIZE).max(1) }
    }

    /// The shard node `node` serves.
    pub fn group_of(&self, node: NodeId) -> usize {
        (node.0 / GROUP_SIZE).min(self.groups - 1)
    }

    /// The servers of shard `g`.
    pub fn members(&self, g: usize) -> Vec<NodeId> {
        (0..self.nodes).map(NodeId).filter(|&n| self.group_of(n) == g).collect()
    }

    /// The shard a key is placed on (an image's name, or a chunk's id).
    pub fn shard_of(&self, key: &str) -> usize {
        let ring = RINGS.with(|r| {
            r.borrow_mut()
                .entry(self.groups)
                .or_insert_with(|| {
                    let members: Vec<u32> = (0..self.groups as u32).collect();
                    Arc::new(Ring::new(&members, VNODES))
                })
                .clone()
        });
        ring.owner(name_hash(key)) as usize
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// The shard's Raft group.
    Raft(raft::Msg<Own, Shard>),
    /// To a participant shard: prepare these writes.
    Prepare {
        txn: TxnId,
        coordinator: usize,
        writes: Vec<Write>,
    },
    /// To the coordinator's shard: `group`'s vote.
    Voted {
        txn: TxnId,
        group: usize,
        yes: bool,
    },
    /// To a participant shard: the decision.
    Decision {
        txn: TxnId,
        commit: bool,
    },
    /// To the coordinator's shard: `group` has applied the decision.
    Done {
        txn: TxnId,
        group: usize,
    },
    /// `no-2pc`: apply these writes.
    Write {
        writes: Vec<Write>,
    },
    /// To a shard: the names it holds with `tag`, for the list a client asked the
    /// sender for (its request `(client, seq)`: unique, across restarts too).
    ListPart {
        client: ClientId,
        seq: u64,
        tag: String,
    },
    ListAnswer {
        client: ClientId,
        seq: u64,
        tag: String,
        group: usize,
        names: Vec<String>,
    },
    /// Not the leader of `group`: try `leader`.
    NotLeader {
        group: usize,
        leader: Option<NodeId>,
    },
}

impl faultline_sim::Message for Msg {
    const KINDS: &'static [&'static str] = &[
        "RequestVote",
        "Vote",
        "Append",
        "Appended",
        "InstallSnapshot",
        "Installed",
        "Prepare",
        "Voted",
        "Decision",
        "Done",
        "Write",
        "ListPart",
        "ListAnswer",
        "NotLeader",
    ];
    fn kind(&self) -> &'static str {
        match self {
            Msg::Raft(m) => m.kind(),
            Msg::Prepare { .. } => "Prepare",
            Msg::Voted { .. } => "Voted",
            Msg::Decision { .. } => "Decision",
            Msg::Done { .. } => "Done",
            Msg::Write { .. } => "Write",
            Msg::ListPart { .. } => "ListPart",
            Msg::ListAnswer { .. } => "ListAnswer",
            Msg::NotLeader { .. } => "NotLeader",
        }
    }
}

impl From<raft::Msg<Own, Shard>> for Msg {
    fn from(m: raft::Msg<Own, Shard>) -> Msg {
        Msg::Raft(m)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    Raft(raft::Timer),
    /// Re-send what is unanswered.
    Resend,
}

impl From<raft::Timer> for Timer {
    fn from(t: raft::Timer) -> Timer {
        Timer::Raft(t)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stored {
    Raft(raft::Stored<Own, Shard>),
}

impl From<raft::Stored<Own, Shard>> for Stored {
    fn from(s: raft::Stored<Own, Shard>) -> Stored {
        Stored::Raft(s)
    }
}

/// A list this node is gathering for a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Gathering {
    tag: String,
    answers: BTreeMap<usize, Vec<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Images {
    variant: Variant,
    layout: Layout,
    me: NodeId,
    group: usize,
    pub raft: Raft<Shard>,
    /// Per shard: the leader last heard from, and on which round of re-sends.
    hints: Vec<Option<(NodeId, u64)>>,
    /// Per shard: the member to try next when no leader is known.
    rotate: Vec<usize>,
    /// Re-send rounds so far.
    round: u64,
    /// What [`Images::resend`] sent this round: (transaction, shard, a decision?).
    sent: BTreeSet<(TxnId, usize, bool)>,
    /// Transactions (and the shard told) whose decision or no vote this node noted.
    announced: BTreeSet<(TxnId, usize)>,
    /// Uploads and deletes whose clients wait here for the decision.
    waiting: BTreeSet<(ClientId, u64)>,
    /// Lists this node gathers, by the client's request.
    lists: BTreeMap<(ClientId, u64), Gathering>,
    /// ReadIndex reads under way for other nodes' lists: token -> (asker, request, tag).
    reading: BTreeMap<u64, (NodeId, (ClientId, u64), String)>,
    next_token: u64,
}

impl Images {
    /// The node to send shard `g`'s leader something: the leader heard from in the
    /// last few rounds, else the next member in turn.
    fn target(&mut self, g: usize) -> NodeId {
        if g == self.group
            && let Some(l) = self.raft.leader()
        {
            return l;
        }
        if let Some((l, at)) = self.hints[g]
            && self.round <= at + 3
        {
            return l;
        }
        let members = self.layout.members(g);
        self.rotate[g] = (self.rotate[g] + 1) % members.len();
        members[self.rotate[g]]
    }

    fn heard_leader(&mut self, from: NodeId) {
        let g = self.layout.group_of(from);
        self.hints[g] = Some((from, self.round));
    }

    fn shard(&self) -> &Shard {
        self.raft.machine()
    }

    /// Runs a step of this node's Raft server, then does what it asks of the
    /// service: answers confirmed list reads, and (as leader) whatever moved.
    fn in_raft<R>(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        f: impl FnOnce(&mut Raft<Shard>, &mut Ctx<'_, Raft<Shard>>) -> R,
    ) -> R {
        let before = self.raft.applied;
        let out = ctx.nest(|c| f(&mut self.raft, c));
        for token in self.raft.take_served() {
            if let Some((to, (client, seq), tag)) = self.reading.remove(&token) {
                let names = self.shard().tagged(&tag);
                ctx.send(to, Msg::ListAnswer { client, seq, tag, group: self.group, names });
            }
        }
        if !self.raft.is_leader() {
            self.reading.clear(); // a server that steps down drops its reads under way
        }
        let outbox = std::mem::take(&mut self.raft.store.outbox);
        if self.raft.applied != before {
            if self.raft.is_leader() {
                for (g, writes) in outbox {
                    let to = self.target(g);
                    ctx.send(to, Msg::Write { writes });
                }
            }
            self.answer_waiting(ctx);
            self.resend(ctx);
        }
        out
    }

    /// Proposes a command of the shard's own (as leader).
    fn propose(&mut self, ctx: &mut Ctx<'_, Self>, cmd: Own) {
        self.in_raft(ctx, |r, c| r.propose(c, cmd));
    }

    /// Answers clients whose transaction is decided.
    fn answer_waiting(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.raft.is_leader() {
            self.waiting.clear();
            return;
        }
        let done: Vec<(ClientId, u64, Outcome)> =
            self.waiting.iter().filter_map(|&(c, s)| self.shard().answered(c, s).map(|o| (c, s, o.clone()))).collect();
        for (client, seq, outcome) in done {
            self.waiting.remove(&(client, seq));
            ctx.reply(Reply { client, seq, outcome });
        }
    }

    /// As leader, sends every message a transaction under way still waits for
    /// and that has not gone out since the last re-send round (so what an entry
    /// just applied calls for goes out at once, and the rest once a round).
    fn resend(&mut self, ctx: &mut Ctx<'_, Self>) {
        if !self.raft.is_leader() {
            return;
        }
        let me = self.group;
        let mut out: Vec<(usize, Msg)> = Vec::new();
        for (&txn, c) in &self.shard().coord {
            for (&g, writes) in &c.pieces {
                match c.decision {
                    None if !c.votes.contains_key(&g) => {
                        out.push((g, Msg::Prepare { txn, coordinator: me, writes: writes.clone() }))
                    }
                    Some(commit) if !c.acked.contains(&g) => out.push((g, Msg::Decision { txn, commit })),
                    _ => {}
                }
            }
        }
        for (&txn, p) in &self.shard().parts {
            if p.coordinator != me && matches!(p.status, Status::Prepared | Status::Refused) {
                out.push((p.coordinator, Msg::Voted { txn, group: me, yes: p.status == Status::Prepared }));
            }
        }
        for (g, msg) in &out {
            // Said once per transaction and leader, for the trace and the timelines.
            let said = match msg {
                Msg::Decision { txn, commit } => {
                    let votes = self.shard().coord.get(txn).map(|c| c.votes.clone()).unwrap_or_default();
                    let votes: Vec<String> = votes
                        .iter()
                        .map(|(g, yes)| format!("shard {} {}", g + 1, if *yes { "yes" } else { "no" }))
                        .collect();
                    let verdict = if *commit { "commit" } else { "abort" };
                    Some((*txn, format!("{} {verdict}: {}", show_txn(*txn), votes.join(", "))))
                }
                Msg::Voted { txn, yes: false, .. } => {
                    Some((*txn, format!("shard {} votes no on {}: it would not fit", self.group + 1, show_txn(*txn))))
                }
                _ => None,
            };
            let once = if matches!(msg, Msg::Decision { .. }) { usize::MAX } else { *g };
            if let Some((txn, text)) = said
                && self.announced.insert((txn, once))
            {
                ctx.note(text);
            }
        }
        for (g, msg) in out {
            let key = match &msg {
                Msg::Prepare { txn, .. } | Msg::Voted { txn, .. } => (*txn, g, false),
                Msg::Decision { txn, .. } => (*txn, g, true),
                _ => continue,
            };
            if self.sent.insert(key) {
                let to = self.target(g);
                ctx.send(to, msg);
            }
        }
    }

    /// Asks every shard that has not answered for its part of client request `id`'s list.
    fn ask_lists(&mut self, ctx: &mut Ctx<'_, Self>, id: (ClientId, u64)) {
        let Some(l) = self.lists.get(&id) else { return };
        let (missing, tag): (Vec<usize>, String) =
            ((0..self.layout.groups).filter(|g| !l.answers.contains_key(g)).collect(), l.tag.clone());
        for g in missing {
            let to = self.target(g);
            ctx.send(to, Msg::ListPart { client: id.0, seq: id.1, tag: tag.clone() });
        }
    }

    /// A message for the shard's leader, on a server that does not lead: say who does.
    fn not_leader(&self, ctx: &mut Ctx<'_, Self>, from: NodeId) {
        ctx.send(from, Msg::NotLeader { group: self.group, leader: self.raft.leader() });
    }
}

impl Protocol for Images {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Stored;
    type Config = Variant;

    fn start(ctx: &mut Ctx<'_, Self>, variant: &Variant, durable: &Durable<Stored>) -> Self {
        let layout = Layout::of(ctx.cluster_size());
        let me = ctx.id();
        let group = layout.group_of(me);
        let theirs: Durable<raft::Stored<Own, Shard>> = durable
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    match v {
                        Stored::Raft(s) => s.clone(),
                    },
                )
            })
            .collect();
        let members = layout.members(group);
        let mut raft = ctx.nest(|c| Raft::start_in(c, raft::Variant::Correct, members, &theirs));
        // A fresh shard (no snapshot recovered) learns which it is.
        if raft.store.layout == Layout::default() {
            raft.store = Shard::new(group, layout, *variant);
        }
        ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend);
        Images {
            variant: *variant,
            layout,
            me,
            group,
            raft,
            hints: vec![None; layout.groups],
            rotate: vec![0; layout.groups],
            round: 0,
            sent: BTreeSet::new(),
            announced: BTreeSet::new(),
            waiting: BTreeSet::new(),
            lists: BTreeMap::new(),
            reading: BTreeMap::new(),
            next_token: 0,
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let leads = self.raft.is_leader();
        match msg {
            Msg::Raft(m) => self.in_raft(ctx, |r, c| r.on_message(c, from, m)),
            Msg::NotLeader { group, leader } => {
                if let Some(l) = leader.filter(|l| self.layout.group_of(*l) == group) {
                    self.hints[group] = Some((l, self.round));
                }
            }
            Msg::ListAnswer { client, seq, tag, group, names } => {
                self.heard_leader(from);
                // Only an answer to this very request: a node that restarted may ask
                // again, and a late answer to an earlier list must not be taken.
                let Some(l) = self.lists.get_mut(&(client, seq)).filter(|l| l.tag == tag) else { return };
                l.answers.insert(group, names);
                if l.answers.len() == self.layout.groups {
                    let l = self.lists.remove(&(client, seq)).expect("present");
                    let mut names: Vec<String> = l.answers.into_values().flatten().collect();
                    names.sort();
                    names.dedup();
                    ctx.reply(Reply { client, seq, outcome: Outcome::Value(names.join(",")) });
                }
            }
            _ if !leads => self.not_leader(ctx, from),
            Msg::ListPart { client, seq, tag } => {
                self.next_token += 1;
                let token = self.next_token;
                self.reading.insert(token, (from, (client, seq), tag));
                self.in_raft(ctx, |r, c| r.read_index(c, token));
            }
            Msg::Prepare { txn, coordinator, writes } => {
                self.heard_leader(from);
                if !self.shard().parts.contains_key(&txn) {
                    self.propose(ctx, Own::Prepare { txn, coordinator, writes });
                }
            }
            Msg::Voted { txn, group, yes } => {
                self.heard_leader(from);
                let open =
                    self.shard().coord.get(&txn).is_some_and(|c| c.decision.is_none() && !c.votes.contains_key(&group));
                if open {
                    self.propose(ctx, Own::Vote { txn, group, yes });
                }
            }
            Msg::Decision { txn, commit } => {
                self.heard_leader(from);
                match self.shard().parts.get(&txn).map(|p| p.status) {
                    Some(Status::Committed | Status::Aborted) => ctx.send(from, Msg::Done { txn, group: self.group }),
                    // Appended after the prepare (which this leader's log holds, if
                    // the shard voted, though it may not have applied it yet).
                    _ => self.propose(ctx, Own::Finish { txn, commit }),
                }
            }
            Msg::Done { txn, group } => {
                self.heard_leader(from);
                if self.shard().coord.get(&txn).is_some_and(|c| !c.acked.contains(&group)) {
                    self.propose(ctx, Own::Acked { txn, group });
                }
            }
            Msg::Write { writes } => self.propose(ctx, Own::Write { writes }),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            Timer::Raft(t) => self.in_raft(ctx, |r, c| r.on_timer(c, _id, t)),
            Timer::Resend => {
                self.round += 1;
                self.sent.clear();
                self.resend(ctx);
                let ids: Vec<(ClientId, u64)> = self.lists.keys().copied().collect();
                for id in ids {
                    self.ask_lists(ctx, id);
                }
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend);
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        if let Op::List { tag } = &req.op {
            let id = (req.client, req.seq);
            self.lists.insert(id, Gathering { tag: tag.clone(), answers: BTreeMap::new() });
            return self.ask_lists(ctx, id);
        }
        let home = self.layout.shard_of(req.op.key());
        if home != self.group {
            let to = self.target(home);
            return ctx.reply(Reply { client: req.client, seq: req.seq, outcome: Outcome::Redirect(Some(to)) });
        }
        if self.variant == Variant::FollowerReads && matches!(req.op, Op::Fetch { .. }) {
            let outcome = self.shard().query(&req.op);
            return ctx.reply(Reply { client: req.client, seq: req.seq, outcome });
        }
        let write = matches!(req.op, Op::Upload { .. } | Op::Delete { .. });
        let (client, seq) = (req.client, req.seq);
        self.in_raft(ctx, |r, c| r.on_request(c, req));
        if write && self.raft.is_leader() && self.shard().answered(client, seq).is_none() {
            self.waiting.insert((client, seq));
        }
    }

    fn leads(&self) -> Option<u64> {
        self.raft.leads()
    }

    const HAS_LEADER: bool = true;

    const MIN_NODES: usize = 2 * GROUP_SIZE;

    const OPS: &'static [OpKind] = OpKind::IMAGES;

    fn replica_group(node: NodeId, nodes: usize) -> usize {
        Layout::of(nodes).group_of(node)
    }

    const PROBES: &'static [(&'static str, &'static str)] = PROBES;

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let Some(layout) = nodes.iter().flatten().map(|n| n.layout).next() else { return 0 };
        // Each shard as its most advanced server holds it.
        let shards: Vec<&Shard> = (0..layout.groups)
            .filter_map(|g| {
                let servers = nodes.iter().flatten().filter(|n| n.group == g);
                servers.max_by_key(|n| n.raft.applied).map(|n| n.shard())
            })
            .collect();
        match name {
            "orphans" | "corrupt" => {
                // Only what the servers given can tell: a chunk on a shard none of
                // whose servers is among them is unknown, not missing.
                let home = |id: &str| shards.iter().find(|s| s.group == layout.shard_of(id));
                let (mut orphans, mut corrupt) = (0i64, 0i64);
                let mut named: BTreeSet<String> = BTreeSet::new();
                for s in &shards {
                    for (image, meta) in &s.metas {
                        let mut whole = true;
                        for (id, want) in meta.chunks(image) {
                            let Some(home) = home(&id) else { continue };
                            match home.chunks.get(&id) {
                                None => whole = false,
                                Some(have) => {
                                    corrupt += i64::from(*have != want);
                                    named.insert(id);
                                }
                            }
                        }
                        orphans += i64::from(!whole);
                    }
                }
                // A chunk no image names: only when every shard's metadata is in view.
                if shards.len() == layout.groups {
                    let unnamed = shards.iter().flat_map(|s| s.chunks.keys()).filter(|k| !named.contains(*k));
                    orphans += unnamed.count() as i64;
                }
                if name == "orphans" { orphans } else { corrupt }
            }
            "images" => shards.iter().map(|s| s.metas.len() as i64).sum(),
            "pending" => {
                shards.iter().flat_map(|s| s.parts.values()).filter(|p| p.status == Status::Prepared).count() as i64
            }
            _ => 0,
        }
    }

    fn check_invariants(&self) -> Result<(), faultline_sim::Violation> {
        raft::check::local(&self.raft)
    }
}

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
//! ## Rebalancing
//! A shard is in the ring while all its servers are members of the cluster (the
//! scenario's `members`, `join` and `leave`). The ring of every epoch is part of
//! each shard's replicated state: epoch 0 has every shard. When the members change,
//! the controller (shard 1's leader) logs the list of rings with the new one
//! appended and sends it to every other shard, whose leader logs it too. A shard
//! that learns a new epoch moves into it once it is settled in the current one, and
//! on entering it takes out of its own state every image and chunk the new ring
//! places on another shard, in one hand-off per receiving shard (together with its
//! clients' last answers, so a retried request is not applied twice). A hand-off
//! waits while an upload or delete holds any of its keys, and is re-sent until the
//! receiving shard has logged it. A request for a key placed elsewhere is answered
//! `Redirect` to the shard that has it now; one for a key placed here that is not
//! installed yet goes unanswered (an entry already in the log applies as nothing),
//! and the client's retry finds it. A list is gathered from the shards of one epoch, each ready
//! in it. The probes `epoch`, `moved`, `moved-percent` and `misplaced` show it.
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
//! the metadata shard is asked, leader or not; `mod-n` places keys by
//! `hash % shards` instead of the ring, so a change of the ring moves nearly
//! everything (the `moved-percent` probe).

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
    /// Images and chunks placed by hash mod the number of shards in the ring.
    ModN,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "shards are Raft groups; uploads and deletes commit atomically across them by two-phase commit"),
    ("no-2pc", "an upload writes each shard as it goes, without preparing: a lost write leaves an orphan"),
    ("majority-commit", "the coordinator commits once more than half of the shards voted yes"),
    ("follower-reads", "any server of the image's shard answers a fetch, leader or not: stale reads"),
    ("mod-n", "images and chunks placed by hash mod the number of shards: nearly all move when a shard joins"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        Some(match name {
            "correct" => Variant::Correct,
            "no-2pc" => Variant::No2pc,
            "majority-commit" => Variant::MajorityCommit,
            "follower-reads" => Variant::FollowerReads,
            "mod-n" => Variant::ModN,
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
    ("moved", "images and chunks handed from one shard to another as the ring changed, over every shard"),
    (
        "moved-percent",
        "of the images and chunks the shards held as the ring changed, the percentage handed to another shard (a ring moves about 1/n when the n-th shard joins)",
    ),
    (
        "misplaced",
        "images and chunks held by a shard that the latest ring places on another, or still being handed off, over every shard",
    ),
    (
        "epoch",
        "the lowest epoch (ring) any shard is in: every shard has taken the ring's last change once it equals the count of changes",
    ),
];

/// Which node serves which shard, and where a key is placed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Layout {
    pub nodes: usize,
    pub groups: usize,
}

thread_local! {
    /// The placement ring of each set of shards met (the same for every node).
    static RINGS: std::cell::RefCell<BTreeMap<Vec<usize>, Arc<Ring>>> = const { std::cell::RefCell::new(BTreeMap::new()) };
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

    /// Every shard, in order: the placement of epoch 0.
    pub fn all(&self) -> Vec<usize> {
        (0..self.groups).collect()
    }

    /// The shards in the ring under a membership view: those all of whose servers
    /// are members (a shard joins once its last server has joined, and leaves when
    /// its first server leaves).
    pub fn in_ring(&self, members: &[NodeId]) -> Vec<usize> {
        (0..self.groups).filter(|&g| self.members(g).iter().all(|n| members.contains(n))).collect()
    }

    /// The shard a key is placed on (an image's name, or a chunk's id) when every
    /// shard is in the ring.
    pub fn shard_of(&self, key: &str) -> usize {
        place(&self.all(), false, key)
    }
}

/// The shard of `shards` a key is placed on: by the ring (100 virtual nodes per
/// shard), or, for the zoo's `mod-n`, by its hash modulo how many shards there are.
pub fn place(shards: &[usize], mod_n: bool, key: &str) -> usize {
    let hash = name_hash(key);
    if mod_n {
        return shards[(hash % shards.len() as u64) as usize];
    }
    let ring = RINGS.with(|r| {
        r.borrow_mut()
            .entry(shards.to_vec())
            .or_insert_with(|| {
                let members: Vec<u32> = shards.iter().map(|&g| g as u32).collect();
                Arc::new(Ring::new(&members, VNODES))
            })
            .clone()
    });
    ring.owner(hash) as usize
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
        /// The epoch the asker gathers in: only a shard in it, with all placed on
        /// it installed, answers.
        epoch: usize,
    },
    ListAnswer {
        client: ClientId,
        seq: u64,
        tag: String,
        group: usize,
        epoch: usize,
        names: Vec<String>,
    },
    /// From the controller (shard 1) to a shard: every epoch's ring so far.
    Epochs {
        epochs: Vec<Vec<usize>>,
    },
    /// To the controller: how many epochs shard `group` knows.
    Know {
        group: usize,
        count: usize,
    },
    /// To a shard: what shard `from` hands it on entering `epoch`.
    Handoff {
        epoch: usize,
        from: usize,
        data: shard::Handoff,
    },
    /// To the shard that handed it off: `group` has installed it.
    Took {
        epoch: usize,
        group: usize,
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
        "Epochs",
        "Know",
        "Handoff",
        "Took",
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
            Msg::Epochs { .. } => "Epochs",
            Msg::Know { .. } => "Know",
            Msg::Handoff { .. } => "Handoff",
            Msg::Took { .. } => "Took",
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
    /// The epoch whose ring's shards are asked (started again if this node's moves on).
    epoch: usize,
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
    reading: BTreeMap<u64, (NodeId, (ClientId, u64), String, usize)>,
    next_token: u64,
    /// The controller's leader: how many epochs each shard said it knows.
    told: Vec<usize>,
    /// Hand-offs (epoch, shard) sent this round.
    handed: BTreeSet<(usize, usize)>,
    /// The last epoch this node noted entering.
    noted_epoch: usize,
    /// The re-send round in which the controller last proposed a new epoch.
    learn_round: u64,
    /// The re-send round in which the controller last told the shards behind.
    told_round: u64,
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
            if let Some((to, (client, seq), tag, epoch)) = self.reading.remove(&token) {
                let shard = self.shard();
                if shard.epoch == epoch && shard.ready() {
                    let names = shard.tagged(&tag);
                    ctx.send(to, Msg::ListAnswer { client, seq, tag, group: self.group, epoch, names });
                }
            }
        }
        if !self.raft.is_leader() {
            self.reading.clear(); // a server that steps down drops its reads under way
        }
        let outbox = std::mem::take(&mut self.raft.store.outbox);
        if self.raft.applied != before {
            let epoch = self.shard().epoch;
            if epoch > self.noted_epoch {
                self.noted_epoch = epoch;
                if self.raft.is_leader() {
                    let ring: Vec<String> = self.shard().epochs[epoch].iter().map(|g| (g + 1).to_string()).collect();
                    ctx.note(format!(
                        "shard {} enters epoch {epoch}: the ring is shards {}",
                        self.group + 1,
                        ring.join(", ")
                    ));
                }
            }
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
        // What is owed, as (transaction, shard, a decision?): cheap to list; a
        // message is made only for what has not gone out this round.
        let shard = self.raft.machine();
        let mut owed: Vec<(TxnId, usize, bool)> = Vec::new();
        for (&txn, c) in &shard.coord {
            for &g in c.pieces.keys() {
                match c.decision {
                    None if !c.votes.contains_key(&g) => owed.push((txn, g, false)),
                    Some(_) if !c.acked.contains(&g) => owed.push((txn, g, true)),
                    _ => {}
                }
            }
        }
        owed.extend(shard.voting.iter().filter_map(|t| Some((*t, shard.parts.get(t)?.coordinator, false))));
        owed.retain(|k| !self.sent.contains(k));
        let mut sends = Vec::with_capacity(owed.len());
        for (txn, g, decision) in owed {
            let shard = self.raft.machine();
            let (msg, note) = match (shard.coord.get(&txn), shard.parts.get(&txn)) {
                (Some(c), _) if decision => {
                    let commit = c.decision.expect("decided");
                    // Said once per transaction and leader, for the trace and the timelines.
                    let note = self.announced.insert((txn, usize::MAX)).then(|| {
                        let votes: Vec<String> = c
                            .votes
                            .iter()
                            .map(|(g, yes)| format!("shard {} {}", g + 1, if *yes { "yes" } else { "no" }))
                            .collect();
                        let verdict = if commit { "commit" } else { "abort" };
                        format!("{} {verdict}: {}", show_txn(txn), votes.join(", "))
                    });
                    (Msg::Decision { txn, commit }, note)
                }
                (Some(c), _) => (Msg::Prepare { txn, coordinator: me, writes: c.pieces[&g].clone() }, None),
                (None, Some(p)) => {
                    let yes = p.status == Status::Prepared;
                    let note = (!yes && self.announced.insert((txn, g)))
                        .then(|| format!("shard {} votes no on {}: it would not fit", me + 1, show_txn(txn)));
                    (Msg::Voted { txn, group: me, yes }, note)
                }
                (None, None) => continue,
            };
            if let Some(text) = note {
                ctx.note(text);
            }
            self.sent.insert((txn, g, decision));
            sends.push((g, msg));
        }
        // The notes first, then the messages, as the trace has always had them.
        for (g, msg) in sends {
            let to = self.target(g);
            ctx.send(to, msg);
        }
        self.rebalance(ctx);
    }

    /// As leader: the controller (shard 1) logs a new epoch when the ring of the
    /// membership view differs from its last, and tells every shard that does not
    /// know it yet; every shard sends its hand-offs not yet installed.
    fn rebalance(&mut self, ctx: &mut Ctx<'_, Self>) {
        let shard = self.raft.machine();
        if self.group == 0 && self.learn_round != self.round {
            let ring = self.layout.in_ring(ctx.members());
            if !ring.is_empty() && shard.epochs.last() != Some(&ring) {
                let mut epochs = shard.epochs.clone();
                epochs.push(ring);
                self.learn_round = self.round;
                return self.propose(ctx, Own::Learn { epochs });
            }
        }
        let shard = self.raft.machine();
        if self.group == 0 && shard.epochs.len() > 1 && self.told_round != self.round {
            self.told_round = self.round;
            let count = shard.epochs.len();
            let behind: Vec<usize> = (1..self.layout.groups).filter(|&g| self.told[g] < count).collect();
            for g in behind {
                let epochs = self.raft.machine().epochs.clone();
                let to = self.target(g);
                ctx.send(to, Msg::Epochs { epochs });
            }
        }
        let owed: Vec<(usize, usize)> =
            self.raft.machine().outgoing.keys().filter(|k| !self.handed.contains(k)).copied().collect();
        for (epoch, h) in owed {
            self.handed.insert((epoch, h));
            let data = self.raft.machine().outgoing[&(epoch, h)].clone();
            let to = self.target(h);
            ctx.send(to, Msg::Handoff { epoch, from: self.group, data });
        }
    }

    /// Asks every shard that has not answered for its part of client request `id`'s list.
    fn ask_lists(&mut self, ctx: &mut Ctx<'_, Self>, id: (ClientId, u64)) {
        let epoch = self.raft.machine().epoch;
        let Some(l) = self.lists.get_mut(&id) else { return };
        if l.epoch != epoch {
            // This node's shard moved on: gather again, from the new ring.
            l.epoch = epoch;
            l.answers.clear();
        }
        let ring = &self.raft.machine().epochs[epoch];
        let missing: Vec<usize> = ring.iter().copied().filter(|g| !l.answers.contains_key(g)).collect();
        let tag = l.tag.clone();
        for g in missing {
            let to = self.target(g);
            ctx.send(to, Msg::ListPart { client: id.0, seq: id.1, tag: tag.clone(), epoch });
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
            told: vec![1; layout.groups],
            handed: BTreeSet::new(),
            noted_epoch: 0,
            learn_round: u64::MAX,
            told_round: u64::MAX,
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
            Msg::ListAnswer { client, seq, tag, group, epoch, names } => {
                self.heard_leader(from);
                // Only an answer to this very request, in this epoch: a node that
                // restarted may ask again, and a late answer to an earlier list (or
                // ring) must not be taken.
                let Some(l) = self.lists.get_mut(&(client, seq)).filter(|l| l.tag == tag && l.epoch == epoch) else {
                    return;
                };
                l.answers.insert(group, names);
                if l.answers.len() == self.raft.machine().epochs[epoch].len() {
                    let l = self.lists.remove(&(client, seq)).expect("present");
                    let mut names: Vec<String> = l.answers.into_values().flatten().collect();
                    names.sort();
                    names.dedup();
                    ctx.reply(Reply { client, seq, outcome: Outcome::Value(names.join(",")) });
                }
            }
            _ if !leads => self.not_leader(ctx, from),
            Msg::ListPart { client, seq, tag, epoch } => {
                if self.shard().epoch != epoch {
                    return; // asked again once both are in the same epoch
                }
                self.next_token += 1;
                let token = self.next_token;
                self.reading.insert(token, (from, (client, seq), tag, epoch));
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
            Msg::Epochs { epochs } => {
                self.heard_leader(from);
                let known = self.shard().epochs.len();
                if epochs.len() > known {
                    self.propose(ctx, Own::Learn { epochs });
                }
                ctx.send(from, Msg::Know { group: self.group, count: known });
            }
            Msg::Know { group, count } => {
                if let Some(t) = self.told.get_mut(group) {
                    *t = (*t).max(count);
                }
            }
            Msg::Handoff { epoch, from: sender, data } => {
                self.heard_leader(from);
                if self.shard().installed.contains(&(epoch, sender)) {
                    ctx.send(from, Msg::Took { epoch, group: self.group });
                } else {
                    self.propose(ctx, Own::Install { epoch, from: sender, data });
                }
            }
            Msg::Took { epoch, group } => {
                self.heard_leader(from);
                if self.shard().outgoing.contains_key(&(epoch, group)) {
                    self.propose(ctx, Own::Sent { epoch, to: group });
                }
            }
        }
    }

    fn on_membership(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.resend(ctx);
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            Timer::Raft(t) => self.in_raft(ctx, |r, c| r.on_timer(c, _id, t)),
            Timer::Resend => {
                self.round += 1;
                self.sent.clear();
                self.handed.clear();
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
            let epoch = self.shard().epoch;
            self.lists.insert(id, Gathering { tag: tag.clone(), epoch, answers: BTreeMap::new() });
            return self.ask_lists(ctx, id);
        }
        let home = self.shard().owner(req.op.key());
        if home != self.group {
            let to = self.target(home);
            return ctx.reply(Reply { client: req.client, seq: req.seq, outcome: Outcome::Redirect(Some(to)) });
        }
        if !self.shard().serves(req.op.key()) {
            return; // placed here, not yet handed here: the client's retry comes back
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
        // The shard that has taken the most changes of the ring: its placement is the latest.
        let Some(latest) = shards.iter().max_by_key(|s| s.epoch) else { return 0 };
        match name {
            "orphans" | "corrupt" => {
                // Only what the servers given can tell: a chunk on a shard none of
                // whose servers is among them is unknown, not missing. A chunk is
                // looked for in whatever any of them holds or is handing off, and
                // counts as missing only if the latest ring places it on one in view.
                let found = |id: &str| shards.iter().find_map(|s| s.chunk(id));
                let in_view = |id: &str| shards.iter().any(|s| s.group == latest.owner(id));
                let (mut orphans, mut corrupt) = (0i64, 0i64);
                let mut named: BTreeSet<String> = BTreeSet::new();
                for (image, meta) in shards.iter().flat_map(|s| s.every_meta()) {
                    let mut whole = true;
                    for (id, want) in meta.chunks(image) {
                        match found(&id) {
                            None if !in_view(&id) => {} // placed on a shard out of view
                            None => whole = false,
                            Some(have) => {
                                corrupt += i64::from(*have != want);
                                named.insert(id);
                            }
                        }
                    }
                    orphans += i64::from(!whole);
                }
                // A chunk no image names: only when every shard's metadata is in view.
                if shards.len() == layout.groups {
                    let unnamed = shards.iter().flat_map(|s| s.every_chunk()).filter(|(k, _)| !named.contains(*k));
                    orphans += unnamed.count() as i64;
                }
                if name == "orphans" { orphans } else { corrupt }
            }
            "images" => shards.iter().map(|s| s.metas.len() as i64).sum(),
            "pending" => {
                shards.iter().flat_map(|s| s.parts.values()).filter(|p| p.status == Status::Prepared).count() as i64
            }
            "moved" => shards.iter().map(|s| s.moved as i64).sum(),
            "moved-percent" => {
                let (moved, held) = shards.iter().fold((0, 0), |(m, h), s| (m + s.moved, h + s.held));
                (moved * 100).checked_div(held).unwrap_or(0) as i64
            }
            "epoch" => shards.iter().map(|s| s.epoch as i64).min().unwrap_or(0),
            "misplaced" => {
                let away = |s: &Shard| {
                    let keys = s.metas.keys().chain(s.chunks.keys());
                    keys.filter(|k| latest.owner(k) != s.group).count()
                        + s.outgoing.values().map(shard::Handoff::len).sum::<usize>()
                };
                shards.iter().map(|s| away(s) as i64).sum()
            }
            _ => 0,
        }
    }

    fn check_invariants(&self) -> Result<(), faultline_sim::Violation> {
        raft::check::local(&self.raft)
    }
}

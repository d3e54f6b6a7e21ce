//! A sharded key-value store on the simulation core: each key lives on one member,
//! chosen by a consistent-hashing placement over the current membership; when the
//! membership changes, keys migrate over the simulated network while clients keep
//! reading and writing.
//!
//! ## The algorithm
//! The keys are the workload's `k1..kK`. A node *owns* a key when the placement puts
//! it there under the current view (`ctx.members()`, announced to every node by a
//! configuration service, as ZooKeeper or etcd would). It *holds* a key when it has
//! the key's data on disk: its value, a version (one more per write), and per client
//! the last operation on that key and its answer (so a retry that follows the key to
//! its new owner is still applied once).
//!
//! - A request for a key the node owns and *serves* (holds the key's one live
//!   copy) is answered; a write is synced before the answer. A key it owns but does
//!   not serve yet waits for the data; a key it does not own is redirected.
//! - **Hand-off.** At every moment at most one copy of a key is live. A node whose
//!   live copy it no longer owns (a view change, or a transfer that arrived after
//!   the view moved on) hands it to the owner: it records the copy as *handed off*
//!   to that node, with the hand-off's **hop** number (one more than the copy's),
//!   syncs the record, and only then sends `Transfer`. From then on it neither
//!   serves nor forwards that copy: it re-sends it only to the node it was handed
//!   to, until that node acknowledges it. A restart keeps the record.
//! - **Fencing.** Each node remembers, per key and durably, the highest hop it has
//!   seen (on a live copy, a handed-off one, or a tombstone left when a hand-off is
//!   acknowledged). A `Transfer` is taken only if its hop is higher; either way it is
//!   acknowledged, after a sync. So a late duplicate, or a copy re-sent after the key
//!   has moved on, never comes back to life.
//! - When ownership returns to a node that still holds a handed-off copy (it left and
//!   rejoined before the ack came), it does not serve that copy: it waits for the
//!   key to come back from the node it gave it to, with a higher hop and every write
//!   taken meanwhile.
//! - A crash during migration makes keys unavailable for a while, never lost.
//!
//! ## What is checked
//! Linearizability of the client history, key by key (a lost acknowledged write, or
//! two owners serving one key, shows up there); `one-value-per-version`: every
//! version of a key that any node ever held has one value (the sharded store
//! family's, judged from what each node reports it holds:
//! [`faultline_sim::families::store`]); and `migration-cost`:
//! each view change moves at most twice the keys the optimum moves, plus two (the
//! optimum: the joiners' share, or the leavers' keys), as [`MOVED_OVER_OPTIMUM_MAX`]
//! says. Both are the family's, judged from what nodes report: [`Observation::Stores`]
//! when a node comes to hold a key, [`Observation::Owners`] when it acts on a view.
//!
//! ## Variants
//! The placement: `correct` (a ring with 100 virtual nodes), `jump`, `rendezvous`,
//! `maglev`, `bounded` (bounded loads, c = 1.25), and the zoo's `mod-n`, which moves
//! nearly every key on every change. And the zoo's `no-wait`: a new owner serves a
//! key before the old owner's data arrives, as if it were empty; acknowledged writes
//! disappear.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{ClientId, Ctx, NodeId, Observation, Outcome, Protocol, Reply, Request, TimerId};
use serde::{Deserialize, Serialize};

use super::{Algo, MAGLEV_TABLE, name_hash};

/// How often unacknowledged transfers are re-sent.
pub const RESEND_MS: u64 = 50;
pub use faultline_sim::families::store::{MOVED_OVER_OPTIMUM_MAX, MOVED_SLACK_KEYS, Migration};

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "placement by a ring with 100 virtual nodes"),
    (
        "jump",
        "placement by jump consistent hash over the members in node order (a member leaving from the middle renumbers the rest: migration-cost)",
    ),
    ("rendezvous", "not a bug: placement by highest random weight"),
    ("maglev", "not a bug: placement by Maglev's lookup table (65,537 entries)"),
    ("bounded", "not a bug: placement by a ring with bounded loads (c = 1.25)"),
    ("mod-n", "placement by hash mod n: nearly every key moves on every membership change"),
    ("no-wait", "a ring, but a new owner serves a key before its data arrives, starting from empty"),
];

pub const PROBES: &[(&str, &str)] = &[
    ("moved", "keys received by transfer since the start, over all nodes (a restart forgets its count)"),
    ("moving", "keys held by a node that no longer owns them: still on their way"),
    ("waiting", "client requests waiting for their key's data to arrive"),
    ("missing", "keys a node owns under its view but does not hold yet (unavailable)"),
    ("held", "keys held, over all nodes; each key is counted once per node holding it"),
    ("most-owned", "the most keys any one node owns under its view"),
];

/// The placement a variant names.
pub fn algo(variant: &str) -> Option<Algo> {
    Some(match variant {
        "correct" => Algo::Ring { vnodes: 100 },
        "jump" => Algo::Jump,
        "rendezvous" => Algo::Rendezvous,
        "maglev" => Algo::Maglev { table: MAGLEV_TABLE },
        "bounded" => Algo::Bounded { vnodes: 100, c: 1.25 },
        "mod-n" => Algo::ModN,
        "no-wait" => Algo::Ring { vnodes: 100 },
        _ => return None,
    })
}

/// How a run configures the store: the variant (its placement) and the number of keys.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub variant: &'static str,
    pub keys: usize,
}

/// One key's data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyData {
    pub value: String,
    pub version: u64,
    /// How many hand-offs brought this copy here: the fence for stale transfers.
    pub hop: u64,
    /// Per client: the last operation's sequence number on this key, and its answer.
    pub sessions: BTreeMap<ClientId, (u64, Outcome)>,
}

impl KeyData {
    fn empty(hop: u64) -> KeyData {
        KeyData { value: String::new(), version: 0, hop, sessions: BTreeMap::new() }
    }
}

/// What a node has of one key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Holding {
    /// The key's one live copy: served when this node owns the key.
    Live(KeyData),
    /// Handed to `to` (with `data.hop`, the hand-off's hop) and not acknowledged yet:
    /// re-sent to `to` only, never served or sent elsewhere.
    HandedOff { data: KeyData, to: NodeId },
    /// Handed off and acknowledged: only the hop is kept, to fence stale transfers.
    Gone { hop: u64 },
}

impl Holding {
    /// The highest hop this node has seen for the key.
    fn hop(&self) -> u64 {
        match self {
            Holding::Live(d) | Holding::HandedOff { data: d, .. } => d.hop,
            Holding::Gone { hop } => *hop,
        }
    }

    /// The data this node has, live or handed off.
    fn data(&self) -> Option<&KeyData> {
        match self {
            Holding::Live(d) | Holding::HandedOff { data: d, .. } => Some(d),
            Holding::Gone { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Stored {
    /// The node has taken its initial keys (at its first start).
    Booted,
    Key(Holding),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    Transfer { key: String, data: KeyData },
    TransferAck { key: String, hop: u64 },
}

faultline_sim::message_kinds!(Msg { Transfer, TransferAck });

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    Resend,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    me: NodeId,
    /// The variant, which names the placement ([`algo`]).
    variant: &'static str,
    keys: usize,
    /// The view acted on, its members, and each key's owner under it (by key index).
    view: u64,
    members: Vec<NodeId>,
    owners: Vec<NodeId>,
    held: BTreeMap<String, Holding>,
    waiting: Vec<Request>,
    moved_in: u64,
    resend_armed: bool,
}

fn key_name(i: usize) -> String {
    format!("k{}", i + 1)
}

/// `k7` -> 6, if it is one of the store's keys.
fn key_index(key: &str, keys: usize) -> Option<usize> {
    key.strip_prefix('k').and_then(|d| d.parse::<usize>().ok()).filter(|&i| (1..=keys).contains(&i)).map(|i| i - 1)
}

fn owners(algo: Algo, members: &[NodeId], keys: usize) -> Vec<NodeId> {
    if members.is_empty() {
        return Vec::new();
    }
    let ids: Vec<u32> = members.iter().map(|m| m.0 as u32).collect();
    let hashes: Vec<u64> = (0..keys).map(|i| name_hash(&key_name(i))).collect();
    algo.build(&ids, keys).assign(&hashes).into_iter().map(|m| NodeId(m as usize)).collect()
}

impl Shard {
    fn owner(&self, key: &str) -> Option<NodeId> {
        key_index(key, self.keys).and_then(|i| self.owners.get(i).copied())
    }

    fn owns(&self, key: &str) -> bool {
        self.owner(key) == Some(self.me)
    }

    /// The live copy of `key`, if this node has it.
    fn live(&self, key: &str) -> Option<&KeyData> {
        match self.held.get(key) {
            Some(Holding::Live(d)) => Some(d),
            _ => None,
        }
    }

    /// Acts on a new view if there is one: recompute owners, hand off what is no
    /// longer ours, redirect waiting requests whose key moved on.
    fn catch_up(&mut self, ctx: &mut Ctx<'_, Self>) {
        if ctx.view() == self.view && !self.owners.is_empty() {
            return;
        }
        self.view = ctx.view();
        self.members = ctx.members().to_vec();
        self.owners = owners(algo(self.variant).expect("a known variant"), ctx.members(), self.keys);
        ctx.observe(Observation::Owners {
            view: self.view,
            members: self.members.clone(),
            owners: self.owners.clone(),
        });
        ctx.note(format!(
            "view {}: owns {} of {} keys",
            self.view,
            self.owners.iter().filter(|&&o| o == self.me).count(),
            self.keys
        ));
        self.hand_off(ctx);
        let waiting = std::mem::take(&mut self.waiting);
        for req in waiting {
            self.serve(ctx, req);
        }
    }

    /// Hands every live copy we do not own to its owner: recorded and synced first,
    /// then sent; arms the re-send.
    fn hand_off(&mut self, ctx: &mut Ctx<'_, Self>) {
        let mut sends = Vec::new();
        for (key, holding) in &mut self.held {
            let Holding::Live(data) = holding else { continue };
            let Some(to) = key_index(key, self.keys).and_then(|i| self.owners.get(i).copied()) else { continue };
            if to == self.me {
                continue;
            }
            let mut data = data.clone();
            data.hop += 1;
            *holding = Holding::HandedOff { data: data.clone(), to };
            ctx.write(format!("key/{key}"), Stored::Key(holding.clone()));
            sends.push((to, Msg::Transfer { key: key.clone(), data }));
        }
        if !sends.is_empty() {
            ctx.sync();
            for (to, msg) in sends {
                ctx.send(to, msg);
            }
        }
        self.arm_resend(ctx);
    }

    fn arm_resend(&mut self, ctx: &mut Ctx<'_, Self>) {
        let pending = self.held.values().any(|h| matches!(h, Holding::HandedOff { .. }));
        if pending && !self.resend_armed {
            self.resend_armed = true;
            ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend);
        }
    }

    /// Re-sends each unacknowledged hand-off to the node it was handed to.
    fn resend(&mut self, ctx: &mut Ctx<'_, Self>) {
        for (key, holding) in &self.held {
            if let Holding::HandedOff { data, to } = holding {
                ctx.send(*to, Msg::Transfer { key: key.clone(), data: data.clone() });
            }
        }
        self.arm_resend(ctx);
    }

    fn on_transfer(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, key: String, data: KeyData) {
        let hop = data.hop;
        let fresh = self.held.get(&key).is_none_or(|h| h.hop() < hop);
        if fresh && key_index(&key, self.keys).is_some() {
            // Taken: synced before the ack (below), handed on at once if the view
            // has moved on while it travelled.
            tell(ctx, &key, &data);
            let holding = Holding::Live(data);
            ctx.write(format!("key/{key}"), Stored::Key(holding.clone()));
            ctx.sync();
            self.held.insert(key.clone(), holding);
            self.moved_in += 1;
        }
        ctx.send(from, Msg::TransferAck { key: key.clone(), hop });
        if !fresh {
            return;
        }
        if self.owns(&key) {
            let (ready, rest): (Vec<Request>, Vec<Request>) =
                std::mem::take(&mut self.waiting).into_iter().partition(|r| r.op.key() == key);
            self.waiting = rest;
            for req in ready {
                self.serve(ctx, req);
            }
        } else {
            self.hand_off(ctx);
        }
    }

    fn on_transfer_ack(&mut self, ctx: &mut Ctx<'_, Self>, key: String, hop: u64) {
        if let Some(Holding::HandedOff { data, .. }) = self.held.get(&key)
            && data.hop == hop
        {
            let gone = Holding::Gone { hop };
            ctx.write(format!("key/{key}"), Stored::Key(gone.clone()));
            ctx.sync();
            self.held.insert(key, gone);
        }
    }

    fn serve(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        let key = req.op.key().to_string();
        let reply = |ctx: &mut Ctx<'_, Self>, outcome: Outcome| {
            ctx.reply(Reply { client: req.client, seq: req.seq, outcome });
        };
        match self.owner(&key) {
            None => {
                let why = format!("{key} is not one of this store's keys (k1..k{})", self.keys);
                return reply(ctx, Outcome::Rejected(why));
            }
            Some(o) if o != self.me => return reply(ctx, Outcome::Redirect(Some(o))),
            Some(_) => {}
        }
        if self.variant == "no-wait" && self.live(&key).is_none() {
            // The bug: a key that is ours is served at once, from nothing.
            let hop = self.held.get(&key).map_or(0, Holding::hop);
            let data = KeyData::empty(hop);
            tell(ctx, &key, &data);
            self.held.insert(key.clone(), Holding::Live(data));
        }
        let Some(Holding::Live(data)) = self.held.get_mut(&key) else {
            self.waiting.push(req); // ours, but its data is still on the way
            return;
        };
        if let Some((seq, outcome)) = data.sessions.get(&req.client) {
            if *seq == req.seq {
                return reply(ctx, outcome.clone());
            }
            if *seq > req.seq {
                return; // an old retry: the client has moved on
            }
        }
        let outcome = crate::kv::apply(&mut data.value, &req.op);
        if req.op.is_txn() {
            return reply(ctx, outcome);
        }
        if !req.op.is_read() {
            data.version += 1;
            data.sessions.insert(req.client, (req.seq, outcome.clone()));
            ctx.write(format!("key/{key}"), Stored::Key(Holding::Live(data.clone())));
            ctx.sync();
            tell(ctx, &key, data);
        }
        reply(ctx, outcome);
    }
}

impl Protocol for Shard {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Stored;
    type Config = Config;

    const PROBES: &'static [(&'static str, &'static str)] = PROBES;

    fn start(ctx: &mut Ctx<'_, Self>, config: &Config, durable: &Durable<Stored>) -> Self {
        let algo = algo(config.variant).expect("a known variant");
        let mut s = Shard {
            me: ctx.id(),
            variant: config.variant,
            keys: config.keys,
            view: 0,
            members: Vec::new(),
            owners: Vec::new(),
            held: BTreeMap::new(),
            waiting: Vec::new(),
            moved_in: 0,
            resend_armed: false,
        };
        for (k, v) in durable {
            if let Stored::Key(holding) = v {
                s.held.insert(k["key/".len()..].to_string(), holding.clone());
            }
        }
        if !durable.contains_key("booted") {
            // First start: the keys this node owns in the first view begin here, empty.
            let first = owners(algo, ctx.members(), config.keys);
            for i in (0..config.keys).filter(|&i| first.get(i) == Some(&s.me)) {
                let data = KeyData::empty(0);
                tell(ctx, &key_name(i), &data);
                let holding = Holding::Live(data);
                ctx.write(format!("key/{}", key_name(i)), Stored::Key(holding.clone()));
                s.held.insert(key_name(i), holding);
            }
            ctx.write("booted", Stored::Booted);
            ctx.sync();
        }
        s.catch_up(ctx);
        // Hand-offs that were under way when it crashed go on.
        s.resend(ctx);
        s
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        self.catch_up(ctx);
        self.serve(ctx, req);
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        self.catch_up(ctx);
        match msg {
            Msg::Transfer { key, data } => self.on_transfer(ctx, from, key, data),
            Msg::TransferAck { key, hop } => self.on_transfer_ack(ctx, key, hop),
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, _timer: Timer) {
        self.resend_armed = false;
        self.resend(ctx);
    }

    fn on_membership(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.catch_up(ctx);
    }

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let up = nodes.iter().flatten();
        match name {
            "moved" => up.map(|n| n.moved_in as i64).sum(),
            "moving" => {
                up.map(|n| n.held.iter().filter(|(k, h)| h.data().is_some() && !n.owns(k)).count() as i64).sum()
            }
            "waiting" => up.map(|n| n.waiting.len() as i64).sum(),
            "missing" => up
                .map(|n| {
                    let mine = (0..n.keys).filter(|&i| n.owners.get(i) == Some(&n.me));
                    mine.filter(|&i| n.live(&key_name(i)).is_none()).count() as i64
                })
                .sum(),
            "held" => up.map(|n| n.held.values().filter(|h| h.data().is_some()).count() as i64).sum(),
            "most-owned" => up.map(|n| n.owners.iter().filter(|&&o| o == n.me).count() as i64).max().unwrap_or(0),
            _ => 0,
        }
    }
}

/// Tells the tester that this node holds `key` at `data`'s version (the sharded
/// store family's `one-value-per-version` is judged from these).
fn tell(ctx: &mut Ctx<'_, Shard>, key: &str, data: &KeyData) {
    ctx.observe(Observation::Stores { key: key.to_string(), version: data.version, value: name_hash(&data.value) });
}

/// The placement's plan for a sequence of views (members in node order): who owns
/// what in each, and what moves between consecutive ones. The run summary words it
/// from the views the nodes saw; `faultline run` draws it as `migration.svg` from
/// the scenario's `members` and its `join` / `leave` faults.
pub fn migrations(variant: &str, keys: usize, views: &[Vec<NodeId>]) -> Vec<Migration> {
    let Some(algo) = algo(variant) else { return Vec::new() };
    let nodes = views.iter().flatten().map(|n| n.0 + 1).max().unwrap_or(0);
    let placed: Vec<Vec<NodeId>> = views.iter().map(|members| owners(algo, members, keys)).collect();
    let mut out = Vec::new();
    for (view, (members, now)) in views.iter().zip(&placed).enumerate() {
        let before = view.checked_sub(1).map(|b| (views[b].as_slice(), placed[b].as_slice()));
        let mut m = Migration::new(view as u64, before, members, now);
        m.owned.resize(nodes.max(m.owned.len()), 0);
        out.push(m);
    }
    out
}

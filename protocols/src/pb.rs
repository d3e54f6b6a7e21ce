//! Primary-backup key-value register: the small protocol that proves the end-to-end
//! path (scenario -> run -> history -> check -> exit code) before Raft lands.
//!
//! ## The algorithm
//! `n1` is the primary, fixed for the whole run; every other node is a backup. The
//! primary orders every write, appends it to its log, writes the entry to durable
//! storage and syncs it, applies it to its key-value map, and only then replies to the
//! client. It replicates the log to the backups in the background (`Replicate`, with a
//! resend every `RESEND_INTERVAL_MS`), and backups answer `Ack` with how much of the log
//! they hold. Reads are answered by the primary from its map: it is the only node that
//! ever decides anything, so its map is the truth. Backups redirect clients to it.
//!
//! Clients retry with the same `(client, seq)`; the primary keeps, per client, the last
//! sequence number it applied and the answer it gave, and answers a retry from there
//! rather than applying it twice. That table is rebuilt from the log on restart.
//!
//! ## What it guarantees, and what it does not
//! Linearizable, under any message fault, partition, pause, clock skew or crash: a
//! write is durable before it is acknowledged, and a restarted primary recovers every
//! acknowledged write. It is not available while the primary is down: there is no
//! failover. That is what Raft and Paxos add.
//!
//! ## The bug zoo
//! - `stale-reads`: backups answer reads from their own copy, which lags the primary.
//!   A client that wrote through the primary can then read an older value from a
//!   backup: not linearizable.
//! - `unsynced-log`: the primary writes log entries but never syncs them. A crash
//!   forgets acknowledged writes; after the restart the primary serves old values.
//!
//! ## Invariant
//! `backup-log-prefix`: each backup's log is a prefix of the primary's (checked on
//! lengths and the backup's last entry): of its log while it is up, and of what its
//! disk holds while it is down, which is all it will restart with. Every entry a
//! backup holds was acknowledged to a client first, so this is also "an
//! acknowledged write survives the primary's crash", read from the down node's disk
//! ([`Cluster::synced`]).

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{ClientId, Cluster, Ctx, NodeId, Op, Outcome, Protocol, Reply, Request, TimerId, Violation};
use serde::{Deserialize, Serialize};

use crate::kv::Store;

/// How often the primary re-sends log entries a backup has not acknowledged.
pub const RESEND_INTERVAL_MS: u64 = 50;
/// The most entries in one `Replicate` message.
pub const BATCH_ENTRIES_MAX: usize = 16;

const PRIMARY: NodeId = NodeId(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    Correct,
    StaleReads,
    UnsyncedLog,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "writes synced before they are acknowledged; reads at the primary"),
    ("stale-reads", "backups answer reads from their lagging copy"),
    ("unsynced-log", "the primary never syncs its log: a crash forgets acknowledged writes"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        match name {
            "correct" => Some(Variant::Correct),
            "stale-reads" => Some(Variant::StaleReads),
            "unsynced-log" => Some(Variant::UnsyncedLog),
            _ => None,
        }
    }
}

/// One log entry: a client's write, named by `(client, seq)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    pub client: ClientId,
    pub seq: u64,
    pub op: Op,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Entries starting at log index `from` (1-based).
    Replicate { from: u64, entries: Vec<Entry> },
    /// The backup holds the log up to `len`.
    Ack { len: u64 },
}

faultline_sim::message_kinds!(Msg { Replicate, Ack });

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Timer {
    Resend,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pb {
    variant: Variant,
    me: NodeId,
    log: Vec<Entry>,
    /// The map and the client sessions.
    store: Store,
    /// Primary only: how much of the log each node has acknowledged.
    acked: Vec<u64>,
}

impl Pb {
    fn is_primary(&self) -> bool {
        self.me == PRIMARY
    }

    /// Applies a write to the map and returns the answer for the client.
    fn apply(&mut self, entry: &Entry) -> Outcome {
        let outcome = self.store.execute(&entry.op);
        self.store.sessions.insert(entry.client, (entry.seq, outcome.clone()));
        self.log.push(entry.clone());
        outcome
    }

    fn replicate_to(&self, ctx: &mut Ctx<'_, Self>, to: NodeId) {
        let have = self.acked[to.0] as usize;
        if have >= self.log.len() {
            return;
        }
        let end = (have + BATCH_ENTRIES_MAX).min(self.log.len());
        ctx.send(to, Msg::Replicate { from: have as u64 + 1, entries: self.log[have..end].to_vec() });
    }

    fn ignore_request(&self, req: &Request) -> bool {
        // A retry of an operation older than the client's latest: the client has moved
        // on and will not read the answer.
        self.store.is_stale(req.client, req.seq)
    }
}

fn log_key(index: usize) -> String {
    format!("log/{index:010}")
}

impl Protocol for Pb {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Entry;
    type Config = Variant;

    /// The primary leads, always in "term" 1: faults aimed at "leader" hit n1 while
    /// it is up, and "follower" picks a backup.
    fn leads(&self) -> Option<u64> {
        self.is_primary().then_some(1)
    }

    const HAS_LEADER: bool = true;

    fn start(ctx: &mut Ctx<'_, Self>, variant: &Variant, durable: &Durable<Entry>) -> Self {
        let mut pb = Pb {
            variant: *variant,
            me: ctx.id(),
            log: Vec::new(),
            store: Store::default(),
            acked: vec![0; ctx.cluster_size()],
        };
        // Keys are zero-padded, so the map's order is log order.
        for entry in durable.values() {
            pb.apply(entry);
        }
        if pb.is_primary() {
            if !pb.log.is_empty() {
                ctx.note(format!("primary recovered {} log entries", pb.log.len()));
            }
            ctx.set_timer(Dur::from_millis(RESEND_INTERVAL_MS), Timer::Resend);
        }
        pb
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        if !self.is_primary() {
            let reply = match (&req.op, self.variant) {
                (Op::Get { key }, Variant::StaleReads) => self.store.read(key),
                _ => Outcome::Redirect(Some(PRIMARY)),
            };
            ctx.reply(Reply { client: req.client, seq: req.seq, outcome: reply });
            return;
        }
        if self.ignore_request(&req) {
            return;
        }
        if let Some(outcome) = self.store.answered(req.client, req.seq) {
            ctx.reply(Reply { client: req.client, seq: req.seq, outcome: outcome.clone() });
            return;
        }
        if let Op::Get { key } = &req.op {
            ctx.reply(Reply { client: req.client, seq: req.seq, outcome: self.store.read(key) });
            return;
        }
        let entry = Entry { client: req.client, seq: req.seq, op: req.op };
        let outcome = self.apply(&entry);
        ctx.write(log_key(self.log.len()), entry);
        if self.variant != Variant::UnsyncedLog {
            ctx.sync();
        }
        ctx.reply(Reply { client: req.client, seq: req.seq, outcome });
        for peer in ctx.peers().collect::<Vec<_>>() {
            self.replicate_to(ctx, peer);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate { from: start, entries } => {
                if self.is_primary() {
                    return; // only the primary sends these
                }
                for (index, entry) in (start..).zip(entries) {
                    if index == self.log.len() as u64 + 1 {
                        self.apply(&entry);
                    }
                }
                ctx.send(from, Msg::Ack { len: self.log.len() as u64 });
            }
            Msg::Ack { len } => {
                if !self.is_primary() {
                    return;
                }
                // Send more only when the acknowledgement moves: a duplicated or stale
                // Ack must not set off a second stream of Replicates. A backup that
                // restarted acknowledges less than before, and so starts over.
                let len = len.min(self.log.len() as u64);
                if len != self.acked[from.0] {
                    self.acked[from.0] = len;
                    self.replicate_to(ctx, from);
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        match timer {
            Timer::Resend => {
                for peer in ctx.peers().collect::<Vec<_>>() {
                    self.replicate_to(ctx, peer);
                }
                ctx.set_timer(Dur::from_millis(RESEND_INTERVAL_MS), Timer::Resend);
            }
        }
    }

    fn check_cluster(cluster: &Cluster<'_, Self>) -> Result<(), Violation> {
        let nodes = cluster.nodes();
        let primary = nodes.first().copied().flatten();
        for (i, node) in nodes.iter().enumerate().skip(1) {
            let Some(b) = node else { continue };
            let Some(last) = b.log.last() else { continue };
            let len = b.log.len();
            let differs = match primary {
                Some(p) => (len > p.log.len() || p.log[len - 1] != *last).then(|| {
                    format!("the primary holds {} and they differ at entry {}", p.log.len(), len.min(p.log.len() + 1))
                }),
                // Down, the primary is what its disk holds: what it will restart with.
                None => (cluster.synced(PRIMARY, &log_key(len)) != Some(last))
                    .then(|| format!("the primary is down and its disk lacks entry {len}")),
            };
            if let Some(why) = differs {
                return Err(Violation {
                    invariant: "backup-log-prefix".into(),
                    detail: format!("backup n{} holds {len} log entries but {why}", i + 1),
                });
            }
        }
        Ok(())
    }
}

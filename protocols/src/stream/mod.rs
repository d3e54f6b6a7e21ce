//! An exactly-once stream job: a source, an operator and a two-phase-commit sink
//! (Flink's `TwoPhaseCommitSinkFunction` writing to a transactional store such as
//! Kafka), with the checkpoints that tie them together.
//!
//! ## The job
//! `n1` is the job's checkpoint coordinator (Flink's JobManager). `n2..n(N-1)` are
//! its tasks: task `n{p+1}` reads source partition `p` (partition 1 on `n2`), counts
//! records per key (the operator, whose state is the count of each key), and writes
//! the counted records through its sink to the external store, `nN`. A source
//! partition is a replayable log (as a Kafka topic is): record `p#s` is the same
//! record whoever reads it, with key `key_of(p, s)`. Each source emits [`RECORDS`]
//! records, one every [`EMIT_MS`].
//!
//! The sink writes into a transaction of the store, one per checkpoint interval.
//! Every [`CHECKPOINT_EVERY_MS`] the coordinator starts a checkpoint and sends
//! each task its barrier. At the barrier a task:
//! 1. **pre-commits** its open transaction: every record written is made durable in
//!    the store, not yet visible (the store says how many it holds; the task sends
//!    again what is missing);
//! 2. snapshots its state (the source's position, the operator's counts, and the
//!    transactions pre-committed and not yet committed) and opens a new transaction;
//! 3. acknowledges the checkpoint with that snapshot, once the pre-commit is done.
//!
//! When every task has acknowledged, the checkpoint is **complete**: the coordinator
//! stores it durably, then tells the tasks, and only then does each sink **commit**
//! the transactions that checkpoint covers. A checkpoint that does not complete
//! within [`CHECKPOINT_TICKS`] intervals is abandoned.
//!
//! ## Recovery
//! A restarted task takes a new *attempt* number (durable, one more per restart)
//! and asks the coordinator for the last completed checkpoint (which then abandons
//! any checkpoint in flight and no longer counts acknowledgements from the task's
//! earlier attempts). From it the task restores the source's position and the
//! operator's counts, and its sink *recovers*: it tells the store to commit the
//! transactions the snapshot lists as pre-committed (the checkpoint completed, so
//! they must be), to abort every other transaction of its earlier attempts (their
//! records will be read again from the source), and to fence its earlier attempts
//! out (Kafka's producer epoch). Then it reads on from the restored position.
//!
//! ## The store
//! A transactional log per partition, as a Kafka consumer reading committed records
//! sees it: transactions are shown in order (by attempt, then by number), a
//! committed one's records when every transaction before it is committed or
//! aborted. It reports each record as it shows it ([`Observation::Output`]), and the
//! stream family judges the output: `exactly-once`, `no-loss`, `operator-state`
//! ([`faultline_sim::families::stream`]). Open transactions live in memory (lost if
//! the store crashes); pre-committed and committed ones, fences and how far each
//! partition's output has got are synced.
//!
//! ## The bug zoo
//! - `commit-on-barrier`: the sink commits at the barrier, right after pre-commit,
//!   without waiting for the checkpoint to complete. A task that crashes before
//!   the checkpoint completes restarts from the one before, reads those records
//!   again and commits them again. Caught by `exactly-once`.
//! - `skip-pre-commit`: the sink acknowledges the barrier without pre-committing,
//!   taking its writes to be in the store. A write still in flight or lost, or an
//!   open transaction a store crash forgot, is gone, while the checkpoint says the
//!   source is past it. Caught by `no-loss`.
//! - `forget-pending`: a recovering sink does not commit the transactions its
//!   checkpoint lists as pre-committed; the store aborts them with the rest, and the
//!   source reads on past their records. Caught by `no-loss`.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Observation, Protocol, Request, TimerId};
use serde::{Deserialize, Serialize};

/// Records each source partition emits.
pub const RECORDS: u64 = 300;
/// How often a source emits its next record.
pub const EMIT_MS: u64 = 10;
/// Keys per partition (the operator counts records per key).
pub const KEYS: u64 = 3;
/// How often the coordinator starts a checkpoint.
pub const CHECKPOINT_EVERY_MS: u64 = 200;
/// A checkpoint not complete after this many intervals is abandoned.
pub const CHECKPOINT_TICKS: u32 = 3;
/// How often a task sends again what has not been answered.
pub const RESEND_MS: u64 = 50;

/// The checkpoint coordinator.
pub const COORDINATOR: NodeId = NodeId(0);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    Correct,
    CommitOnBarrier,
    SkipPreCommit,
    ForgetPending,
}

pub const VARIANTS: &[(&str, &str)] = &[
    ("correct", "pre-commit at the barrier, commit once the checkpoint completes, recover pending transactions"),
    ("commit-on-barrier", "commits at the barrier, before the checkpoint completes"),
    ("skip-pre-commit", "acknowledges the barrier without pre-committing its writes"),
    ("forget-pending", "a recovering sink aborts the transactions its checkpoint had pre-committed"),
];

impl Variant {
    pub fn from_name(name: &str) -> Option<Variant> {
        match name {
            "correct" => Some(Variant::Correct),
            "commit-on-barrier" => Some(Variant::CommitOnBarrier),
            "skip-pre-commit" => Some(Variant::SkipPreCommit),
            "forget-pending" => Some(Variant::ForgetPending),
            _ => None,
        }
    }
}

/// The key of partition `p`'s record `seq`: one of the partition's [`KEYS`] keys,
/// the same for every reader.
pub fn key_of(p: u64, seq: u64) -> u64 {
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ p;
    x ^= x >> 29;
    p * KEYS + x % KEYS
}

/// A sink transaction: the task's attempt, then its number within the attempt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TxnKey {
    pub attempt: u64,
    pub n: u64,
}

impl std::fmt::Display for TxnKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "x{}.{}", self.attempt, self.n)
    }
}

/// A record as the operator leaves it: its number, key and the key's count so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rec {
    pub seq: u64,
    pub key: u64,
    pub count: u64,
}

/// What a task's snapshot holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TaskState {
    /// The next record the source reads.
    pub offset: u64,
    /// The operator's count per key.
    pub counts: Vec<(u64, u64)>,
    /// Transactions pre-committed and not known to be committed.
    pub pending: Vec<TxnKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Msg {
    /// Coordinator to task: snapshot for checkpoint `checkpoint`.
    Barrier {
        checkpoint: u64,
    },
    /// Task to coordinator: the snapshot, its pre-commits done.
    Ack {
        checkpoint: u64,
        attempt: u64,
        state: TaskState,
    },
    /// Coordinator to task: checkpoint `checkpoint` is complete (the latest one).
    Complete {
        checkpoint: u64,
    },
    /// Task to coordinator: the task restarted as attempt `attempt`.
    Restore {
        attempt: u64,
    },
    /// Coordinator to task: the last completed checkpoint (0, no state: none yet).
    Restored {
        attempt: u64,
        checkpoint: u64,
        state: Option<TaskState>,
    },
    /// Sink to store: records from position `index` of transaction `txn`.
    Write {
        txn: TxnKey,
        index: u64,
        recs: Vec<Rec>,
    },
    /// Store to sink: it holds `len` records of `txn`.
    Have {
        txn: TxnKey,
        len: u64,
    },
    /// Sink to store: make `txn`'s `len` records durable.
    PreCommit {
        txn: TxnKey,
        len: u64,
    },
    PreCommitted {
        txn: TxnKey,
    },
    Commit {
        txn: TxnKey,
    },
    Committed {
        txn: TxnKey,
    },
    /// Sink to store: commit `commit`, abort the rest of earlier attempts, fence them.
    Recover {
        attempt: u64,
        commit: Vec<TxnKey>,
    },
    Recovered {
        attempt: u64,
    },
}

faultline_sim::message_kinds!(Msg {
    Barrier,
    Ack,
    Complete,
    Restore,
    Restored,
    Write,
    Have,
    PreCommit,
    PreCommitted,
    Commit,
    Committed,
    Recover,
    Recovered
});

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// Coordinator: start (or chase) a checkpoint.
    Trigger,
    /// Task: the source's next record.
    Emit,
    /// Task: send again what is unanswered.
    Resend,
}

/// Where a store transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    Open,
    PreCommitted,
    Committed,
    Aborted,
}

/// What a node keeps on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Record {
    /// Task: its attempt.
    Attempt(u64),
    /// Coordinator: the next checkpoint's number.
    Next(u64),
    /// Coordinator: the last completed checkpoint, every task's snapshot by task.
    Checkpoint { id: u64, states: Vec<TaskState> },
    /// Store: a partition's fence (its task's current attempt).
    Fence(u64),
    /// Store: a transaction that is not open.
    Txn { status: Status, recs: Vec<Rec> },
    /// Store: a partition's output shows every transaction up to `through`
    /// (`records` records); its sink has committed up to `released`.
    Cursor { through: TxnKey, records: u64, released: TxnKey },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Inflight {
    id: u64,
    ticks: u32,
    acks: BTreeMap<NodeId, TaskState>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Coordinator {
    next: u64,
    latest: Option<(u64, Vec<TaskState>)>,
    inflight: Option<Inflight>,
    /// Per task, the least attempt whose acknowledgements count.
    min_attempt: BTreeMap<NodeId, u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Asked the coordinator for the last completed checkpoint.
    Restoring,
    /// Restored; asked the store to recover these transactions.
    Recovering(Vec<TxnKey>),
    Running,
}

/// A transaction the sink has handed over at a barrier.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Pending {
    checkpoint: u64,
    txn: TxnKey,
    /// Its records, until the store has pre-committed them.
    recs: Vec<Rec>,
    precommitted: bool,
    /// Commit sent (its checkpoint completed); waiting for the store to say so.
    committing: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Task {
    partition: u64,
    attempt: u64,
    phase: Phase,
    offset: u64,
    counts: BTreeMap<u64, u64>,
    open: TxnKey,
    recs: Vec<Rec>,
    last_barrier: u64,
    pending: Vec<Pending>,
    /// Snapshots taken at barriers whose checkpoint has not completed.
    snapshots: BTreeMap<u64, TaskState>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Partition {
    fence: u64,
    /// Transactions after `through`, by key.
    txns: BTreeMap<TxnKey, (Status, Vec<Rec>)>,
    through: TxnKey,
    records: u64,
    /// The latest transaction its sink asked to commit: the sink commits in order,
    /// so one before it that the store never heard of is not coming (it was lost).
    released: TxnKey,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    partitions: BTreeMap<u64, Partition>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Coordinator(Coordinator),
    Task(Task),
    Store(Store),
    /// A cluster too small for a job (it needs a coordinator, a task and a store).
    Idle,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Stream {
    variant: Variant,
    nodes: usize,
    role: Role,
}

fn store_of(nodes: usize) -> NodeId {
    NodeId(nodes - 1)
}

fn tasks(nodes: usize) -> impl Iterator<Item = NodeId> {
    (1..nodes.saturating_sub(1)).map(NodeId)
}

fn txn_key(p: u64, txn: TxnKey) -> String {
    format!("t/{p}/{:016x}/{:016x}", txn.attempt, txn.n)
}

impl Coordinator {
    fn start(durable: &Durable<Record>) -> Coordinator {
        let mut c = Coordinator { next: 1, latest: None, inflight: None, min_attempt: BTreeMap::new() };
        for record in durable.values() {
            match record {
                Record::Next(n) => c.next = *n,
                Record::Checkpoint { id, states } => c.latest = Some((*id, states.clone())),
                _ => {}
            }
        }
        c
    }

    fn tick(&mut self, ctx: &mut Ctx<'_, Stream>, nodes: usize) {
        if let Some((id, _)) = &self.latest {
            for t in tasks(nodes) {
                ctx.send(t, Msg::Complete { checkpoint: *id });
            }
        }
        if let Some(f) = &mut self.inflight {
            f.ticks += 1;
            if f.ticks < CHECKPOINT_TICKS {
                for t in tasks(nodes).filter(|t| !f.acks.contains_key(t)) {
                    ctx.send(t, Msg::Barrier { checkpoint: f.id });
                }
                return;
            }
            ctx.note(format!("checkpoint {} abandoned", f.id));
        }
        let id = self.next;
        self.next += 1;
        ctx.write("next", Record::Next(self.next));
        ctx.sync();
        self.inflight = Some(Inflight { id, ticks: 0, acks: BTreeMap::new() });
        for t in tasks(nodes) {
            ctx.send(t, Msg::Barrier { checkpoint: id });
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Stream>, nodes: usize, from: NodeId, msg: Msg) {
        match msg {
            Msg::Ack { checkpoint, attempt, state } => {
                if attempt < self.min_attempt.get(&from).copied().unwrap_or(0) {
                    return;
                }
                let Some(f) = &mut self.inflight else {
                    if let Some((id, _)) = &self.latest
                        && checkpoint <= *id
                    {
                        ctx.send(from, Msg::Complete { checkpoint: *id });
                    }
                    return;
                };
                if f.id != checkpoint {
                    return;
                }
                f.acks.insert(from, state);
                if f.acks.len() < nodes - 2 {
                    return;
                }
                let id = f.id;
                let states: Vec<TaskState> = std::mem::take(&mut f.acks).into_values().collect();
                self.inflight = None;
                ctx.write("checkpoint", Record::Checkpoint { id, states: states.clone() });
                ctx.sync();
                ctx.note(format!("checkpoint {id} complete"));
                self.latest = Some((id, states));
                for t in tasks(nodes) {
                    ctx.send(t, Msg::Complete { checkpoint: id });
                }
            }
            Msg::Restore { attempt } => {
                let least = self.min_attempt.entry(from).or_default();
                *least = (*least).max(attempt);
                if let Some(f) = self.inflight.take() {
                    ctx.note(format!("checkpoint {} abandoned: {from} restarts", f.id));
                }
                let (checkpoint, state) = match &self.latest {
                    Some((id, states)) => (*id, states.get(from.0 - 1).cloned()),
                    None => (0, None),
                };
                ctx.send(from, Msg::Restored { attempt, checkpoint, state });
            }
            _ => {}
        }
    }
}

impl Task {
    fn start(ctx: &mut Ctx<'_, Stream>, durable: &Durable<Record>) -> Task {
        let before = durable.values().find_map(|r| if let Record::Attempt(a) = r { Some(*a) } else { None });
        let attempt = before.unwrap_or(0) + 1;
        ctx.write("attempt", Record::Attempt(attempt));
        ctx.sync();
        ctx.send(COORDINATOR, Msg::Restore { attempt });
        ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend);
        Task {
            partition: ctx.id().0 as u64,
            attempt,
            phase: Phase::Restoring,
            offset: 1,
            counts: BTreeMap::new(),
            open: TxnKey { attempt, n: 1 },
            recs: Vec::new(),
            last_barrier: 0,
            pending: Vec::new(),
            snapshots: BTreeMap::new(),
        }
    }

    fn emit(&mut self, ctx: &mut Ctx<'_, Stream>, store: NodeId) {
        if self.offset > RECORDS {
            return;
        }
        let seq = self.offset;
        let key = key_of(self.partition, seq);
        let count = self.counts.entry(key).or_default();
        *count += 1;
        let rec = Rec { seq, key, count: *count };
        let index = self.recs.len() as u64;
        self.recs.push(rec);
        self.offset += 1;
        ctx.send(store, Msg::Write { txn: self.open, index, recs: vec![rec] });
    }

    fn barrier(&mut self, ctx: &mut Ctx<'_, Stream>, variant: Variant, store: NodeId, checkpoint: u64) {
        if self.phase != Phase::Running || checkpoint <= self.last_barrier {
            return;
        }
        self.last_barrier = checkpoint;
        let txn = self.open;
        let recs = std::mem::take(&mut self.recs);
        let skip = variant == Variant::SkipPreCommit;
        if !skip {
            ctx.send(store, Msg::PreCommit { txn, len: recs.len() as u64 });
        }
        self.pending.push(Pending {
            checkpoint,
            txn,
            recs: if skip { Vec::new() } else { recs },
            precommitted: skip,
            committing: false,
        });
        self.open = TxnKey { attempt: self.attempt, n: txn.n + 1 };
        let state = TaskState {
            offset: self.offset,
            counts: self.counts.iter().map(|(&k, &c)| (k, c)).collect(),
            pending: self.pending.iter().map(|p| p.txn).collect(),
        };
        self.snapshots.insert(checkpoint, state);
        self.ack_ready(ctx);
    }

    /// Acknowledges every snapshot whose transactions are all pre-committed.
    fn ack_ready(&self, ctx: &mut Ctx<'_, Stream>) {
        for (&checkpoint, state) in &self.snapshots {
            if self.pending.iter().any(|p| p.checkpoint <= checkpoint && !p.precommitted) {
                break;
            }
            ctx.send(COORDINATOR, Msg::Ack { checkpoint, attempt: self.attempt, state: state.clone() });
        }
    }

    fn commit_through(&mut self, ctx: &mut Ctx<'_, Stream>, store: NodeId, checkpoint: u64) {
        self.snapshots.retain(|&c, _| c > checkpoint);
        for p in &mut self.pending {
            if p.checkpoint <= checkpoint && p.precommitted && !p.committing {
                p.committing = true;
                ctx.send(store, Msg::Commit { txn: p.txn });
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Stream>, variant: Variant, store: NodeId, msg: Msg) {
        match msg {
            Msg::Restored { attempt, checkpoint, state }
                if attempt == self.attempt && self.phase == Phase::Restoring =>
            {
                let state = state.unwrap_or(TaskState { offset: 1, ..TaskState::default() });
                self.offset = state.offset;
                self.counts = state.counts.into_iter().collect();
                let commit = if variant == Variant::ForgetPending { Vec::new() } else { state.pending };
                if checkpoint > 0 {
                    ctx.note(format!(
                        "restored from checkpoint {checkpoint}: source at p{}#{}, {} transaction(s) to commit",
                        self.partition,
                        self.offset,
                        commit.len()
                    ));
                }
                ctx.send(store, Msg::Recover { attempt, commit: commit.clone() });
                self.phase = Phase::Recovering(commit);
            }
            Msg::Recovered { attempt } if attempt == self.attempt && matches!(self.phase, Phase::Recovering(_)) => {
                self.phase = Phase::Running;
                ctx.set_timer(Dur::from_millis(EMIT_MS), Timer::Emit);
            }
            Msg::Barrier { checkpoint } => self.barrier(ctx, variant, store, checkpoint),
            Msg::Complete { checkpoint } if self.phase == Phase::Running => self.commit_through(ctx, store, checkpoint),
            Msg::Have { txn, len } => {
                let recs = if txn == self.open {
                    &self.recs
                } else if let Some(p) = self.pending.iter().find(|p| p.txn == txn && !p.precommitted) {
                    &p.recs
                } else {
                    return;
                };
                if let Some(rest) = recs.get(len as usize..)
                    && !rest.is_empty()
                {
                    ctx.send(store, Msg::Write { txn, index: len, recs: rest.to_vec() });
                }
                if txn != self.open {
                    ctx.send(store, Msg::PreCommit { txn, len: recs.len() as u64 });
                }
            }
            Msg::PreCommitted { txn } => {
                let Some(p) = self.pending.iter_mut().find(|p| p.txn == txn && !p.precommitted) else { return };
                p.precommitted = true;
                p.recs = Vec::new();
                if variant == Variant::CommitOnBarrier {
                    p.committing = true;
                    ctx.send(store, Msg::Commit { txn });
                }
                self.ack_ready(ctx);
            }
            Msg::Committed { txn } => self.pending.retain(|p| !(p.txn == txn && p.committing)),
            _ => {}
        }
    }

    fn resend(&self, ctx: &mut Ctx<'_, Stream>, store: NodeId) {
        match &self.phase {
            Phase::Restoring => ctx.send(COORDINATOR, Msg::Restore { attempt: self.attempt }),
            Phase::Recovering(commit) => {
                ctx.send(store, Msg::Recover { attempt: self.attempt, commit: commit.clone() })
            }
            Phase::Running => {
                for p in &self.pending {
                    if !p.precommitted {
                        ctx.send(store, Msg::PreCommit { txn: p.txn, len: p.recs.len() as u64 });
                    } else if p.committing {
                        ctx.send(store, Msg::Commit { txn: p.txn });
                    }
                }
                self.ack_ready(ctx);
            }
        }
    }
}

impl Store {
    fn start(durable: &Durable<Record>) -> Store {
        let mut partitions: BTreeMap<u64, Partition> = BTreeMap::new();
        for (key, record) in durable {
            let mut parts = key.split('/');
            let (kind, p) = (parts.next(), parts.next().and_then(|p| p.parse::<u64>().ok()));
            let Some(p) = p else { continue };
            let part = partitions.entry(p).or_default();
            match (kind, record) {
                (Some("f"), Record::Fence(a)) => part.fence = *a,
                (Some("o"), Record::Cursor { through, records, released }) => {
                    (part.through, part.records, part.released) = (*through, *records, *released)
                }
                (Some("t"), Record::Txn { status, recs }) => {
                    let mut hex = parts.map(|h| u64::from_str_radix(h, 16).unwrap_or(0));
                    let txn = TxnKey { attempt: hex.next().unwrap_or(0), n: hex.next().unwrap_or(0) };
                    part.txns.insert(txn, (*status, recs.clone()));
                }
                _ => {}
            }
        }
        Store { partitions }
    }

    /// Shows every transaction of partition `p` that is resolved and has nothing
    /// unresolved before it, and syncs how far the output got.
    fn advance(&mut self, ctx: &mut Ctx<'_, Stream>, p: u64) {
        let Some(part) = self.partitions.get_mut(&p) else { return };
        let mut moved = false;
        while let Some(entry) = part.txns.first_entry() {
            let (status, _) = entry.get();
            let txn = *entry.key();
            // The next transaction in the log's order: the next of the same attempt,
            // or the first of a later one once every earlier attempt is fenced out (a
            // transaction the store has not heard of yet may not be passed over,
            // unless its attempt is fenced out or its sink committed a later one).
            let next = if txn.attempt < part.fence || txn <= part.released {
                true
            } else if txn.attempt == part.through.attempt {
                txn.n == part.through.n + 1
            } else {
                txn.n == 1 && part.fence >= txn.attempt
            };
            if !next || !matches!(status, Status::Committed | Status::Aborted) {
                break;
            }
            let (status, recs) = entry.remove();
            if status == Status::Committed {
                for r in &recs {
                    ctx.observe(Observation::Output { partition: p, seq: r.seq, key: r.key, count: r.count });
                }
                part.records += recs.len() as u64;
            }
            ctx.delete(txn_key(p, txn));
            part.through = txn;
            moved = true;
        }
        if moved {
            Store::save_cursor(ctx, p, part);
        }
    }

    fn save_cursor(ctx: &mut Ctx<'_, Stream>, p: u64, part: &Partition) {
        let (through, records, released) = (part.through, part.records, part.released);
        ctx.write(format!("o/{p}"), Record::Cursor { through, records, released });
        ctx.sync();
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Stream>, from: NodeId, msg: Msg) {
        let p = from.0 as u64;
        let part = self.partitions.entry(p).or_default();
        match msg {
            Msg::Write { txn, index, recs } => {
                if txn.attempt < part.fence || txn <= part.through {
                    return;
                }
                let (status, held) = part.txns.entry(txn).or_insert((Status::Open, Vec::new()));
                if *status != Status::Open {
                    return;
                }
                let len = held.len() as u64;
                if index > len {
                    ctx.send(from, Msg::Have { txn, len });
                    return;
                }
                held.extend(recs.into_iter().skip((len - index) as usize));
            }
            Msg::PreCommit { txn, len } => {
                if txn.attempt < part.fence {
                    return;
                }
                if txn <= part.through {
                    ctx.send(from, Msg::PreCommitted { txn });
                    return;
                }
                let (status, held) = part.txns.entry(txn).or_insert((Status::Open, Vec::new()));
                match status {
                    Status::Open if held.len() as u64 == len => {
                        *status = Status::PreCommitted;
                        ctx.write(txn_key(p, txn), Record::Txn { status: Status::PreCommitted, recs: held.clone() });
                        ctx.sync();
                        ctx.send(from, Msg::PreCommitted { txn });
                    }
                    Status::Open => ctx.send(from, Msg::Have { txn, len: held.len() as u64 }),
                    Status::PreCommitted | Status::Committed => ctx.send(from, Msg::PreCommitted { txn }),
                    Status::Aborted => {}
                }
            }
            Msg::Commit { txn } => {
                if txn.attempt < part.fence {
                    return;
                }
                if let Some((status, held)) = part.txns.get_mut(&txn)
                    && matches!(status, Status::Open | Status::PreCommitted)
                {
                    *status = Status::Committed;
                    ctx.write(txn_key(p, txn), Record::Txn { status: Status::Committed, recs: held.clone() });
                }
                if txn > part.released {
                    part.released = txn;
                    Store::save_cursor(ctx, p, part);
                }
                ctx.sync();
                ctx.send(from, Msg::Committed { txn });
                self.advance(ctx, p);
            }
            Msg::Recover { attempt, commit } => {
                if attempt < part.fence {
                    return;
                }
                for (txn, (status, held)) in part.txns.iter_mut() {
                    let new = match status {
                        Status::Committed | Status::Aborted => continue,
                        _ if commit.contains(txn) => Status::Committed,
                        _ if txn.attempt < attempt => Status::Aborted,
                        _ => continue,
                    };
                    *status = new;
                    ctx.write(txn_key(p, *txn), Record::Txn { status: new, recs: held.clone() });
                }
                part.fence = attempt;
                ctx.write(format!("f/{p}"), Record::Fence(attempt));
                ctx.sync();
                ctx.send(from, Msg::Recovered { attempt });
                self.advance(ctx, p);
            }
            _ => {}
        }
    }
}

impl Protocol for Stream {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = Record;
    type Config = Variant;

    const OPS: &'static [faultline_sim::protocol::OpKind] = &[];
    const HAS_LEADER: bool = true;
    const MIN_NODES: usize = 3;
    const PROBES: &'static [(&'static str, &'static str)] = &[
        (
            "behind",
            "records the sources will emit that the store's output does not show yet (all of them while the \
             store is down or cut off)",
        ),
        ("output", "records the store's output shows"),
        ("pending", "pre-committed transactions the store holds, waiting to be committed"),
    ];

    fn start(ctx: &mut Ctx<'_, Self>, variant: &Variant, durable: &Durable<Record>) -> Self {
        let nodes = ctx.cluster_size();
        let me = ctx.id();
        let role = if nodes < 3 {
            ctx.note("a stream job needs at least 3 nodes: a coordinator, a task and a store");
            Role::Idle
        } else if me == COORDINATOR {
            let c = Coordinator::start(durable);
            ctx.set_timer(Dur::from_millis(CHECKPOINT_EVERY_MS), Timer::Trigger);
            Role::Coordinator(c)
        } else if me == store_of(nodes) {
            Role::Store(Store::start(durable))
        } else {
            Role::Task(Task::start(ctx, durable))
        };
        Stream { variant: *variant, nodes, role }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        let store = store_of(self.nodes);
        match &mut self.role {
            Role::Coordinator(c) => c.on_message(ctx, self.nodes, from, msg),
            Role::Task(t) => t.on_message(ctx, self.variant, store, msg),
            Role::Store(s) if from != COORDINATOR && from != store => s.on_message(ctx, from, msg),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _id: TimerId, timer: Timer) {
        let store = store_of(self.nodes);
        match (&mut self.role, timer) {
            (Role::Coordinator(c), Timer::Trigger) => {
                c.tick(ctx, self.nodes);
                ctx.set_timer(Dur::from_millis(CHECKPOINT_EVERY_MS), Timer::Trigger);
            }
            (Role::Task(t), Timer::Emit) => {
                t.emit(ctx, store);
                if t.offset <= RECORDS {
                    ctx.set_timer(Dur::from_millis(EMIT_MS), Timer::Emit);
                }
            }
            (Role::Task(t), Timer::Resend) => {
                t.resend(ctx, store);
                ctx.set_timer(Dur::from_millis(RESEND_MS), Timer::Resend);
            }
            _ => {}
        }
    }

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
        ctx.reply(faultline_sim::Reply {
            client: req.client,
            seq: req.seq,
            outcome: faultline_sim::Outcome::Rejected("a stream job serves no clients".into()),
        });
    }

    fn leads(&self) -> Option<u64> {
        matches!(self.role, Role::Coordinator(_)).then_some(1)
    }

    fn probe(nodes: &[Option<&Self>], name: &str) -> i64 {
        let Some(any) = nodes.iter().flatten().next() else { return 0 };
        let total = (any.nodes.saturating_sub(2) as u64 * RECORDS) as i64;
        let store = nodes.last().copied().flatten().and_then(|n| match &n.role {
            Role::Store(s) => Some(s),
            _ => None,
        });
        let output = store.map_or(0, |s| s.partitions.values().map(|p| p.records).sum::<u64>() as i64);
        match name {
            "behind" => total - output,
            "output" => output,
            "pending" => store.map_or(0, |s| {
                let txns = s.partitions.values().flat_map(|p| p.txns.values());
                txns.filter(|(status, _)| *status == Status::PreCommitted).count() as i64
            }),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_the_partitions_own_keys() {
        let keys: std::collections::BTreeSet<u64> = (1..=100).map(|s| key_of(2, s)).collect();
        assert_eq!(keys, (6..9).collect());
    }
}

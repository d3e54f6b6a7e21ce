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
//! aborted. It reports each record as it shows it
//! ([`faultline_sim::Observation::Output`]), and the stream family judges the
//! output: `exactly-once`, `no-loss`, `operator-state`
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

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Protocol, Request, TimerId};
use serde::{Deserialize, Serialize};

mod coordinator;
mod store;
mod task;

pub use coordinator::Coordinator;
pub use store::Store;
pub use task::Task;

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

/// The task nodes of a cluster of `nodes`: all but the coordinator and the store.
fn tasks(nodes: usize) -> impl Iterator<Item = NodeId> {
    (1..nodes.saturating_sub(1)).map(NodeId)
}

/// How many records the sources of a cluster of `nodes` emit in all.
pub fn records_in(nodes: usize) -> u64 {
    tasks(nodes).count() as u64 * RECORDS
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
                if t.has_more() {
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
        let total = records_in(any.nodes) as i64;
        let store = nodes.last().copied().flatten().and_then(|n| match &n.role {
            Role::Store(s) => Some(s),
            _ => None,
        });
        let output = store.map_or(0, |s| s.records_output() as i64);
        match name {
            "behind" => total - output,
            "output" => output,
            "pending" => store.map_or(0, |s| s.precommitted() as i64),
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

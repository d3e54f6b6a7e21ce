//! A task: reads its source partition, counts records per key, and writes them
//! through its two-phase-commit sink; snapshots at each barrier and recovers from
//! the last completed checkpoint after a restart.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId};

use super::{
    COORDINATOR, EMIT_MS, Msg, RECORDS, RESEND_MS, Rec, Record, Stream, TaskState, Timer, TxnKey, Variant, key_of,
};

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

impl Task {
    /// Whether the source has records left to emit.
    pub(super) fn has_more(&self) -> bool {
        self.offset <= RECORDS
    }

    pub(super) fn start(ctx: &mut Ctx<'_, Stream>, durable: &Durable<Record>) -> Task {
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

    pub(super) fn emit(&mut self, ctx: &mut Ctx<'_, Stream>, store: NodeId) {
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

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, Stream>, variant: Variant, store: NodeId, msg: Msg) {
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

    pub(super) fn resend(&self, ctx: &mut Ctx<'_, Stream>, store: NodeId) {
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

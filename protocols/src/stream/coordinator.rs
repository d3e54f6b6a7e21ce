//! The checkpoint coordinator: starts a checkpoint every interval, completes it
//! when every task has acknowledged it, keeps the last completed one durably, and
//! answers a restarted task with it.

use std::collections::BTreeMap;

use faultline_sim::Ctx;
use faultline_sim::NodeId;
use faultline_sim::disk::Durable;

use super::{CHECKPOINT_TICKS, Msg, Record, Stream, TaskState, tasks};

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

impl Coordinator {
    pub(super) fn start(durable: &Durable<Record>) -> Coordinator {
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

    pub(super) fn tick(&mut self, ctx: &mut Ctx<'_, Stream>, nodes: usize) {
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

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, Stream>, nodes: usize, from: NodeId, msg: Msg) {
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
                if f.acks.len() < tasks(nodes).count() {
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

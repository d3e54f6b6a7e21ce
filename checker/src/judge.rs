//! The judge: one run's checker state for every protocol family, fed the
//! [`Observation`]s nodes report, in order (see [`crate::observe`]).

use crate::families::{
    commit::Commitment, consensus::Consensus, log::ReplicatedLog, store::ShardedStore, stream::StreamOutput,
};
use crate::observe::{Observation, Violation};
use crate::op::NodeId;
use crate::time::Time;

/// Holds a run to the invariants of every family whose observations it sees.
/// Families start watching at their first observation, so a run pays only for the
/// families its protocol reports.
#[derive(Clone, Debug)]
pub struct Judge {
    nodes: usize,
    consensus: Option<Box<Consensus>>,
    commit: Option<Box<Commitment>>,
    log: Option<Box<ReplicatedLog>>,
    store: Option<Box<ShardedStore>>,
    stream: Option<Box<StreamOutput>>,
}

impl Judge {
    /// A judge for a cluster of `nodes` nodes (a majority is more than half of them).
    pub fn new(nodes: usize) -> Judge {
        Judge { nodes, consensus: None, commit: None, log: None, store: None, stream: None }
    }

    /// Takes what `node`, in its incarnation `boot` (0 at first, one more per
    /// restart), was seen to do at time `now`: an error is the first invariant it breaks.
    pub fn observe(&mut self, node: NodeId, boot: u64, now: Time, obs: &Observation) -> Result<(), Violation> {
        match obs {
            Observation::Proposed { .. }
            | Observation::Promised { .. }
            | Observation::Accepted { .. }
            | Observation::Learned { .. } => {
                let n = self.nodes;
                self.consensus.get_or_insert_with(|| Box::new(Consensus::new(n))).observe(node, obs)
            }
            Observation::Voted { .. } | Observation::Decided { .. } => {
                self.commit.get_or_insert_with(Box::default).observe(node, boot, now, obs)
            }
            Observation::Term { .. }
            | Observation::VotedFor { .. }
            | Observation::Holds { .. }
            | Observation::Committed { .. }
            | Observation::Applied { .. } => {
                let n = self.nodes;
                self.log.get_or_insert_with(|| Box::new(ReplicatedLog::new(n))).observe(node, obs)
            }
            Observation::Stores { .. } | Observation::Owners { .. } => {
                self.store.get_or_insert_with(Box::default).observe(node, obs)
            }
            Observation::Output { .. } => self.stream.get_or_insert_with(Box::default).observe(now, obs),
        }
    }

    /// `node` crashed: it leads nothing until it starts again and says so.
    pub fn down(&mut self, node: NodeId) {
        if let Some(log) = &mut self.log {
            log.down(node);
        }
    }

    /// Whether nodes report leadership at all ([`Observation::Term`]).
    pub fn sees_leaders(&self) -> bool {
        self.log.is_some()
    }

    /// Whether a leader with a majority is in place among the nodes `group` marks
    /// (the nodes that are up and can reach a majority): one of them leads, in a
    /// term no node of the group has gone past.
    pub fn leader_among(&self, group: &[bool]) -> bool {
        self.log.as_ref().is_some_and(|log| log.leader_among(group))
    }

    /// What the families measured over the run, as `(name, value)`, for the run's
    /// summary; `now` is the end of the run.
    pub fn measures(&self, now: Time) -> Vec<(String, String)> {
        let mut out = self.commit.as_ref().map_or_else(Vec::new, |c| c.measures(now));
        if let Some(store) = &self.store {
            out.extend(store.measures());
        }
        if let Some(stream) = &self.stream {
            out.extend(stream.measures());
        }
        out
    }
}

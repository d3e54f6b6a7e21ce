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
    /// Per node, the replication group it serves in (all 0 but for a service that
    /// runs several groups, each with its own log).
    groups: Vec<usize>,
    consensus: Option<Box<Consensus>>,
    commit: Option<Box<Commitment>>,
    /// Per group, its replicated log's checks.
    log: Vec<Option<Box<ReplicatedLog>>>,
    store: Option<Box<ShardedStore>>,
    stream: Option<Box<StreamOutput>>,
}

impl Judge {
    /// A judge for a cluster of `nodes` nodes (a majority is more than half of them).
    pub fn new(nodes: usize) -> Judge {
        Judge::grouped(nodes, vec![0; nodes])
    }

    /// A judge for a cluster whose node `i` serves in replication group
    /// `groups[i]`: each group's replicated log is judged apart (one leader per
    /// term per group, and so on). Nodes past `groups` are in group 0.
    pub fn grouped(nodes: usize, groups: Vec<usize>) -> Judge {
        let count = groups.iter().max().map_or(1, |g| g + 1);
        Judge { nodes, groups, consensus: None, commit: None, log: vec![None; count], store: None, stream: None }
    }

    fn group_of(&self, node: NodeId) -> usize {
        self.groups.get(node.0).copied().unwrap_or(0)
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
                let (n, g) = (self.nodes, self.group_of(node));
                self.log[g].get_or_insert_with(|| Box::new(ReplicatedLog::new(n))).observe(node, obs)
            }
            Observation::Stores { .. } | Observation::Owners { .. } => {
                self.store.get_or_insert_with(Box::default).observe(node, obs)
            }
            Observation::Output { .. } => self.stream.get_or_insert_with(Box::default).observe(now, obs),
        }
    }

    /// `node` crashed: it leads nothing until it starts again and says so.
    pub fn down(&mut self, node: NodeId) {
        let g = self.group_of(node);
        if let Some(log) = &mut self.log[g] {
            log.down(node);
        }
    }

    /// Whether nodes report leadership at all ([`Observation::Term`]).
    pub fn sees_leaders(&self) -> bool {
        self.log.iter().any(Option::is_some)
    }

    /// Whether a leader with a majority is in place among the nodes `group` marks
    /// (the nodes that are up and can reach a majority): one of them leads, in a
    /// term no node of the group has gone past. With several replication groups,
    /// in every group that has a majority of its own servers marked (and in one at least).
    pub fn leader_among(&self, group: &[bool]) -> bool {
        if let [log] = self.log.as_slice() {
            return log.as_ref().is_some_and(|log| log.leader_among(group));
        }
        // Per group: its servers, and those of them `group` marks.
        let (mut servers, mut marked) = (vec![0usize; self.log.len()], vec![0usize; self.log.len()]);
        for i in 0..group.len().max(self.groups.len()) {
            let g = self.group_of(NodeId(i));
            servers[g] += 1;
            marked[g] += usize::from(group.get(i).copied().unwrap_or(false));
        }
        let mut any = false;
        for (g, log) in self.log.iter().enumerate() {
            if marked[g] * 2 <= servers[g] {
                continue;
            }
            // A group's log knows only its own servers: the others never report to it.
            if !log.as_ref().is_some_and(|log| log.leader_among(group)) {
                return false;
            }
            any = true;
        }
        any
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

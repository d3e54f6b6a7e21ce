//! The network between nodes: latency per link, loss, duplication, reordering, and
//! which links are cut. A cut is directional, so one-way links are a cut in one
//! direction only; partitions are sets of cuts.
//!
//! `Network` is a component of the engine: it owns the links' state (cuts, FIFO
//! order, `drop` rules, messages held on cut links) and its random stream, and on
//! each send answers the message's `Fate`; the engine carries it out.

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;

use crate::protocol::NodeId;
use crate::rng::SimRng;
use crate::scenario::{CutMode, Latency, NetworkConfig, SplitKind};
use crate::time::Time;
use crate::trace::{Addr, NodeIdName};

/// What becomes of a message as it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// A node's message to itself: it never crosses the network, and arrives at once.
    Loopback,
    /// A `drop` fault took it.
    DroppedByFault,
    /// The link lost it.
    Lost,
    /// It arrives at `at` (out of FIFO order if `reordered`), and a copy at
    /// `copy_at` if the link duplicated it.
    Arrives { at: Time, reordered: bool, copy_at: Option<Time> },
}

/// The links between nodes (and clients), and their state over a run.
pub(crate) struct Network<H> {
    n: usize,
    config: NetworkConfig,
    /// Which links are cut now.
    pub(crate) cuts: Cuts,
    /// Per link (clients as index `n`): when its last FIFO message arrives.
    fifo_last: Vec<Time>,
    rng: SimRng,
    /// Messages to lose by kind: `(kind, receivers, until)`.
    drops: Vec<(String, Vec<NodeId>, Time)>,
    /// Messages held on cut links, released when the cut heals.
    held: Vec<H>,
}

impl<H> Network<H> {
    /// The network of `n` nodes as `config` says, drawing from `rng`.
    pub(crate) fn new(n: usize, config: NetworkConfig, rng: SimRng) -> Network<H> {
        Network {
            n,
            config,
            cuts: Cuts::new(n),
            fifo_last: vec![0; (n + 1) * (n + 1)],
            rng,
            drops: Vec::new(),
            held: Vec::new(),
        }
    }

    fn link_index(&self, from: Addr, to: Addr) -> usize {
        let idx = |a: Addr| match a {
            Addr::Node(NodeId(i)) => i,
            Addr::Client(_) => self.n,
        };
        idx(from) * (self.n + 1) + idx(to)
    }

    /// The fate of a message sent at `now` from `from` to `to`; `kind` names a
    /// node's message (asked only while a `drop` rule is in force).
    #[inline(always)]
    pub(crate) fn send(
        &mut self,
        now: Time,
        from: Addr,
        to: Addr,
        kind: impl FnOnce() -> Option<&'static str>,
    ) -> Fate {
        // One look at the ends: the link's settings and its FIFO slot.
        let (link, li) = match (from, to) {
            (Addr::Node(a), Addr::Node(b)) if a == b => return Fate::Loopback,
            (Addr::Node(a), Addr::Node(b)) => (a.0 * self.n + b.0, a.0 * (self.n + 1) + b.0),
            _ => (usize::MAX, self.link_index(from, to)),
        };
        if !self.drops.is_empty() && self.dropped(now, to, kind) {
            return Fate::DroppedByFault;
        }
        let link = self.config.links.get(link).unwrap_or(&self.config.client_link);
        if self.rng.chance(link.loss) {
            return Fate::Lost;
        }
        let mut at = now + sample(&link.latency, &mut self.rng);
        let reordered = self.rng.chance(link.reorder);
        if reordered {
            // Skips the link's FIFO order and arrives late.
            at += self.rng.between(1, 2 * link.latency.max_hint().max(1));
        } else {
            at = at.max(self.fifo_last[li]);
            self.fifo_last[li] = at;
        }
        let copy_at = self.rng.chance(link.duplicate).then(|| now + sample(&link.latency, &mut self.rng));
        Fate::Arrives { at, reordered, copy_at }
    }

    /// A `drop` rule covers a message to `to` of kind `kind`: its kind and its
    /// receiver match a rule whose time has not run out.
    fn dropped(&mut self, now: Time, to: Addr, kind: impl FnOnce() -> Option<&'static str>) -> bool {
        self.drops.retain(|(_, _, until)| now < *until);
        let (Addr::Node(to), Some(kind)) = (to, kind()) else { return false };
        self.drops.iter().any(|(k, nodes, _)| k == kind && nodes.contains(&to))
    }

    /// Loses every message of `kind` to `to` until `until`.
    pub(crate) fn add_drop(&mut self, kind: String, to: Vec<NodeId>, until: Time) {
        self.drops.push((kind, to, until));
    }

    /// What a cut link does to a message: drop it, or hold it until the cut heals.
    pub(crate) fn on_cut(&self) -> CutMode {
        self.config.on_cut
    }

    /// Holds a message on a cut link.
    pub(crate) fn hold(&mut self, message: H) {
        self.held.push(message);
    }

    /// How many messages are held.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    /// Cuts no link any more; returns the messages that were held, to deliver again.
    pub(crate) fn heal(&mut self) -> Vec<H> {
        self.cuts.heal();
        std::mem::take(&mut self.held)
    }

    /// A fresh latency on the link from `a` to `b` (for a message released by a heal).
    pub(crate) fn latency(&mut self, a: NodeId, b: NodeId) -> Time {
        let link = self.config.links[a.0 * self.n + b.0];
        sample(&link.latency, &mut self.rng)
    }
}

/// Draws a latency from its distribution.
#[inline(always)]
pub fn sample(lat: &Latency, rng: &mut SimRng) -> u64 {
    match *lat {
        Latency::Constant(v) => v,
        Latency::Uniform { min, max } => rng.between(min, max),
        Latency::Exponential { min, mean } => min.saturating_add(rng.exponential(mean)),
        Latency::LongTail { min, max, tail, tail_max } => {
            if rng.chance(tail) {
                rng.between(max, tail_max.max(max))
            } else {
                rng.between(min, max)
            }
        }
    }
}

/// Which directed links are cut: `cut[from * n + to]`.
#[derive(Clone, Debug)]
pub struct Cuts {
    n: usize,
    cut: Vec<bool>,
}

impl Cuts {
    /// No link cut, among `n` nodes.
    pub fn new(n: usize) -> Cuts {
        Cuts { n, cut: vec![false; n * n] }
    }
    #[inline]
    /// Whether messages from `from` to `to` are cut off.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut[from.0 * self.n + to.0]
    }
    /// Whether any link is cut.
    pub fn any(&self) -> bool {
        self.cut.iter().any(|&c| c)
    }
    /// Cuts no link.
    pub fn heal(&mut self) {
        self.cut.fill(false);
    }
    /// Cuts the link from `from` to `to` (a node's link to itself is never cut).
    pub fn set(&mut self, from: NodeId, to: NodeId) {
        if from != to {
            self.cut[from.0 * self.n + to.0] = true;
        }
    }

    /// Replaces every cut with a partition into `groups`: links between groups are cut
    /// both ways. Nodes in no group can talk only to themselves.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        let mut side = vec![usize::MAX; self.n];
        for (g, members) in groups.iter().enumerate() {
            for m in members {
                side[m.0] = g;
            }
        }
        for a in 0..self.n {
            for b in 0..self.n {
                self.cut[a * self.n + b] = a != b && (side[a] != side[b] || side[a] == usize::MAX);
            }
        }
    }

    /// Cuts `node` off from everyone, both ways, on top of existing cuts.
    pub fn isolate(&mut self, node: NodeId) {
        for other in 0..self.n {
            self.set(node, NodeId(other));
            self.set(NodeId(other), node);
        }
    }

    /// Is `node` cut off from every other node, both ways?
    pub fn is_isolated(&self, node: NodeId) -> bool {
        (0..self.n).filter(|&o| o != node.0).all(|o| self.is_cut(node, NodeId(o)) && self.is_cut(NodeId(o), node))
    }

    /// Replaces every cut with a named partition over nodes shuffled by `rng`.
    pub fn split(&mut self, kind: SplitKind, rng: &mut SimRng) {
        let n = self.n;
        let mut order: Vec<NodeId> = (0..n).map(NodeId).collect();
        rng.shuffle(&mut order);
        match kind {
            SplitKind::Halves => {
                let (a, b) = order.split_at(n / 2);
                self.partition(&[a.to_vec(), b.to_vec()]);
            }
            SplitKind::Bridge => {
                // Two halves that cannot talk, and one node that talks to both.
                let bridge = order[0];
                let rest = &order[1..];
                let (a, b) = rest.split_at(rest.len() / 2);
                self.partition(&[a.to_vec(), b.to_vec()]);
                for other in 0..n {
                    let o = NodeId(other);
                    self.cut[bridge.0 * n + o.0] = false;
                    self.cut[o.0 * n + bridge.0] = false;
                }
            }
            SplitKind::MajorityRing => {
                // On a ring in shuffled order, each node sees the nodes within `reach`
                // positions: a majority, but no two nodes see the same majority.
                let reach = (n / 2).div_ceil(2);
                self.heal();
                for (i, &a) in order.iter().enumerate() {
                    for (j, &b) in order.iter().enumerate() {
                        let d = i.abs_diff(j);
                        if d.min(n - d) > reach {
                            self.set(a, b);
                        }
                    }
                }
            }
        }
    }

    /// The cut links, in order.
    pub fn cut_links(&self) -> Vec<(NodeId, NodeId)> {
        let mut out = Vec::new();
        for a in 0..self.n {
            for b in 0..self.n {
                if self.cut[a * self.n + b] {
                    out.push((NodeId(a), NodeId(b)));
                }
            }
        }
        out
    }

    /// The cuts as the trace records a partition: the groups that can reach each
    /// other, and every cut link.
    #[allow(clippy::type_complexity)]
    pub fn traced(&self) -> (Vec<Vec<NodeIdName>>, Vec<(NodeIdName, NodeIdName)>) {
        let groups = self.groups().into_iter().map(|g| g.into_iter().map(NodeIdName).collect()).collect();
        let cut = self.cut_links().into_iter().map(|(a, b)| (NodeIdName(a), NodeIdName(b))).collect();
        (groups, cut)
    }

    /// Groups of nodes that can all reach each other (strongly connected components of
    /// the graph of working links), each sorted, in order of their first node.
    pub fn groups(&self) -> Vec<Vec<NodeId>> {
        let mut g: DiGraphMap<usize, ()> = DiGraphMap::new();
        for a in 0..self.n {
            g.add_node(a);
        }
        for a in 0..self.n {
            for b in 0..self.n {
                if a != b && !self.cut[a * self.n + b] {
                    g.add_edge(a, b, ());
                }
            }
        }
        let mut groups: Vec<Vec<NodeId>> = tarjan_scc(&g)
            .into_iter()
            .map(|mut c| {
                c.sort_unstable();
                c.into_iter().map(NodeId).collect()
            })
            .collect();
        groups.sort();
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn explicit_partition_cuts_between_groups_only() {
        let mut c = Cuts::new(4);
        c.partition(&[vec![NodeId(0)], vec![NodeId(1), NodeId(2), NodeId(3)]]);
        assert!(c.is_cut(NodeId(0), NodeId(1)) && c.is_cut(NodeId(1), NodeId(0)));
        assert!(!c.is_cut(NodeId(1), NodeId(2)));
        assert_eq!(c.groups(), vec![vec![NodeId(0)], vec![NodeId(1), NodeId(2), NodeId(3)]]);
    }

    #[test]
    fn one_way_cut_keeps_the_other_direction() {
        let mut c = Cuts::new(3);
        c.set(NodeId(0), NodeId(1));
        assert!(c.is_cut(NodeId(0), NodeId(1)));
        assert!(!c.is_cut(NodeId(1), NodeId(0)));
        // n1 and n2 still reach each other through n3.
        assert_eq!(c.groups().len(), 1);
    }

    #[test]
    fn majority_ring_gives_every_node_a_majority_but_no_common_one() {
        let mut c = Cuts::new(5);
        c.split(SplitKind::MajorityRing, &mut SimRng::new(3, Stream::Nemesis));
        let mut views = Vec::new();
        for a in 0..5 {
            let view: Vec<usize> = (0..5).filter(|&b| !c.is_cut(NodeId(a), NodeId(b))).collect();
            assert_eq!(view.len(), 3, "node {a} sees {view:?}");
            views.push(view);
        }
        views.sort();
        views.dedup();
        assert_eq!(views.len(), 5);
    }

    #[test]
    fn bridge_node_talks_to_both_halves() {
        let mut c = Cuts::new(5);
        c.split(SplitKind::Bridge, &mut SimRng::new(9, Stream::Nemesis));
        let bridge = (0..5).find(|&a| (0..5).all(|b| !c.is_cut(NodeId(a), NodeId(b)))).expect("a bridge node");
        let others: Vec<usize> = (0..5).filter(|&a| a != bridge).collect();
        let cut_pairs = others
            .iter()
            .flat_map(|&a| others.iter().map(move |&b| (a, b)))
            .filter(|&(a, b)| c.is_cut(NodeId(a), NodeId(b)))
            .count();
        assert_eq!(cut_pairs, 8, "two halves of two nodes cut both ways");
    }
}

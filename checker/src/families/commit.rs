//! Atomic commitment (two- and three-phase commit), judged from what nodes were
//! seen to do:
//!
//! - `atomicity`: no transaction commits at one node and aborts at another.
//! - `validity`: a transaction commits only if every participant voted yes.
//! - `serializability`: committed transactions form no dependency cycle. Each
//!   commit adds edges to a graph (petgraph) from the versions it read and
//!   overwrote: write-write (`ww`), write-read (`wr`) and read-write
//!   anti-dependencies (`rw`). A cycle is named as Elle names them: G0 (only ww),
//!   G1c (ww and wr), G2 (with an anti-dependency).
//!
//! It also measures blocking: how long each participant waited, from its yes vote
//! to learning the outcome (across its crashes), reported with the run's summary.

use std::collections::{BTreeMap, VecDeque};

use petgraph::graphmap::DiGraphMap;

use crate::observe::{Observation, TxnId, Violation, show_txn};
use crate::op::NodeId;
use crate::time::{Time, fmt_time};

/// A dependency between two committed transactions, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dep {
    /// The second overwrote the first's write.
    WW,
    /// The second read the first's write.
    WR,
    /// The second overwrote what the first read (an anti-dependency).
    RW,
}

impl Dep {
    fn arrow(self) -> &'static str {
        match self {
            Dep::WW => "-ww->",
            Dep::WR => "-wr->",
            Dep::RW => "-rw->",
        }
    }
}

/// The dependency graph of committed transactions.
#[derive(Clone, Debug, Default)]
pub struct Deps {
    graph: DiGraphMap<TxnId, Dep>,
    /// `(account, version) -> the transaction that overwrote that version`.
    next_writer: BTreeMap<(String, TxnId), TxnId>,
    /// `(account, version) -> the transactions that read it`.
    readers: BTreeMap<(String, TxnId), Vec<TxnId>>,
}

impl Deps {
    /// Adds committed `txn`, which read `reads` (`(account, version)`) and wrote
    /// over `writes`; a cycle it closes is the error, worded.
    pub fn commit(&mut self, txn: TxnId, reads: &[(String, TxnId)], writes: &[(String, TxnId)]) -> Result<(), String> {
        let mut edges = Vec::new();
        for (a, version) in reads {
            if *version != 0 {
                edges.push((*version, txn, Dep::WR));
            }
            if let Some(&next) = self.next_writer.get(&(a.clone(), *version)) {
                edges.push((txn, next, Dep::RW));
            }
            self.readers.entry((a.clone(), *version)).or_default().push(txn);
        }
        for (a, version) in writes {
            if *version != 0 {
                edges.push((*version, txn, Dep::WW));
            }
            for &r in self.readers.get(&(a.clone(), *version)).into_iter().flatten() {
                edges.push((r, txn, Dep::RW));
            }
            self.next_writer.insert((a.clone(), *version), txn);
        }
        for (from, to, dep) in edges {
            if from == to {
                continue;
            }
            let dep = self.graph.edge_weight(from, to).map_or(dep, |&d| d.min(dep));
            self.graph.add_edge(from, to, dep);
            if let Some(cycle) = self.cycle(from, to) {
                return Err(cycle);
            }
        }
        Ok(())
    }

    /// The weakest cycle through the edge `from -> to`, if there is one: a path back
    /// from `to` to `from`, trying ww edges only, then ww and wr, then any.
    fn cycle(&self, from: TxnId, to: TxnId) -> Option<String> {
        let first = *self.graph.edge_weight(from, to)?;
        for limit in [Dep::WW, Dep::WR, Dep::RW] {
            if first > limit {
                continue;
            }
            let Some(path) = self.path(to, from, limit) else { continue };
            let mut text = show_txn(from);
            let mut worst = first;
            text.push_str(&format!(" {} {}", first.arrow(), show_txn(to)));
            for w in path.windows(2) {
                let d = *self.graph.edge_weight(w[0], w[1]).expect("a path's edge");
                worst = worst.max(d);
                text.push_str(&format!(" {} {}", d.arrow(), show_txn(w[1])));
            }
            let name = match worst {
                Dep::WW => "G0 (write cycle)",
                Dep::WR => "G1c (circular information flow)",
                Dep::RW => "G2 (anti-dependency cycle)",
            };
            return Some(format!("{name}: {text}"));
        }
        None
    }

    /// A shortest path from `a` to `b` over edges no stronger than `limit`.
    fn path(&self, a: TxnId, b: TxnId, limit: Dep) -> Option<Vec<TxnId>> {
        let mut parent: BTreeMap<TxnId, TxnId> = BTreeMap::new();
        let mut queue = VecDeque::from([a]);
        parent.insert(a, a);
        while let Some(x) = queue.pop_front() {
            if x == b {
                let mut path = vec![b];
                let mut at = b;
                while at != a {
                    at = parent[&at];
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            for (_, y, &d) in self.graph.edges(x) {
                if d <= limit && !parent.contains_key(&y) {
                    parent.insert(y, x);
                    queue.push_back(y);
                }
            }
        }
        None
    }
}

/// What the atomic-commitment checks keep for the whole run.
#[derive(Clone, Debug, Default)]
pub struct Commitment {
    votes: BTreeMap<(TxnId, usize), bool>,
    /// The first outcome seen per transaction: `(commit, node, when, node's boot)`.
    outcome: BTreeMap<TxnId, (bool, usize, Time, u64)>,
    /// `(txn, node) -> when it voted yes`, until it learns the outcome.
    waiting: BTreeMap<(TxnId, usize), Time>,
    /// The longest wait that ended: `(how long, txn, node, from)`.
    longest: Option<(Time, TxnId, usize, Time)>,
    deps: Deps,
}

impl Commitment {
    /// Takes one observation of `node`'s, in its incarnation `boot`, at `now`.
    pub fn observe(&mut self, node: NodeId, boot: u64, now: Time, obs: &Observation) -> Result<(), Violation> {
        let i = node.0;
        match obs {
            Observation::Voted { txn, yes } => {
                self.votes.insert((*txn, i), *yes);
                if *yes {
                    self.waiting.entry((*txn, i)).or_insert(now);
                }
            }
            Observation::Decided { txn, commit, participants, reads, writes } => {
                if *commit {
                    for p in participants {
                        let vote = match self.votes.get(&(*txn, p.0)) {
                            Some(true) => continue,
                            Some(false) => "voted no",
                            None => "had not voted",
                        };
                        return Err(Violation {
                            invariant: "validity".into(),
                            detail: format!("{} committed at {node}, but participant {p} {vote}", show_txn(*txn)),
                        });
                    }
                }
                let word = |c: bool| if c { "committed" } else { "aborted" };
                match self.outcome.get(txn) {
                    Some(&(c, n, t, b)) if c != *commit => {
                        let again = if n == i && b != boot { " after a restart" } else { "" };
                        return Err(Violation {
                            invariant: "atomicity".into(),
                            detail: format!(
                                "{} {} at {} at {}, but {} at {node}{again}",
                                show_txn(*txn),
                                word(c),
                                NodeId(n),
                                fmt_time(t),
                                word(*commit)
                            ),
                        });
                    }
                    Some(_) => {}
                    None => drop(self.outcome.insert(*txn, (*commit, i, now, boot))),
                }
                if let Some(since) = self.waiting.remove(&(*txn, i))
                    && self.longest.is_none_or(|l| now - since > l.0)
                {
                    self.longest = Some((now - since, *txn, i, since));
                }
                if *commit
                    && (!reads.is_empty() || !writes.is_empty())
                    && let Err(cycle) = self.deps.commit(*txn, reads, writes)
                {
                    return Err(Violation {
                        invariant: "serializability".into(),
                        detail: format!("committing {} at {node} closes a cycle: {cycle}", show_txn(*txn)),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The run's numbers: outcomes, the longest wait for one, and who is still
    /// waiting at `now`, the end of the run.
    pub fn measures(&self, now: Time) -> Vec<(String, String)> {
        let committed = self.outcome.values().filter(|o| o.0).count();
        let mut out = vec![(
            "transactions".to_string(),
            format!("{committed} committed, {} aborted", self.outcome.len() - committed),
        )];
        if let Some((d, txn, node, from)) = self.longest {
            out.push((
                "longest wait for an outcome".into(),
                format!(
                    "{} ({} at {}, from its yes vote at {} to {})",
                    fmt_time(d),
                    show_txn(txn),
                    NodeId(node),
                    fmt_time(from),
                    fmt_time(from + d)
                ),
            ));
        }
        if let Some((&(txn, node), &since)) = self.waiting.iter().min_by_key(|(k, t)| (**t, **k)) {
            out.push((
                "still waiting at the end".into(),
                format!(
                    "{} participant(s); the longest, {} at {}, since {} ({})",
                    self.waiting.len(),
                    show_txn(txn),
                    NodeId(node),
                    fmt_time(since),
                    fmt_time(now - since)
                ),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T1: TxnId = 1 << 32 | 1;
    const T2: TxnId = 2 << 32 | 1;
    const T3: TxnId = 3 << 32 | 1;

    fn rw(a: &str, v: TxnId) -> Vec<(String, TxnId)> {
        vec![(a.to_string(), v)]
    }

    #[test]
    fn serial_transfers_and_reads_make_no_cycle() {
        let mut d = Deps::default();
        d.commit(T1, &rw("a1", 0), &rw("a1", 0)).unwrap();
        d.commit(T2, &rw("a1", T1), &rw("a1", T1)).unwrap();
        d.commit(T3, &rw("a1", T2), &[]).unwrap();
    }

    #[test]
    fn two_writers_in_opposite_orders_on_two_accounts_are_g0() {
        let mut d = Deps::default();
        d.commit(T1, &[], &rw("a1", 0)).unwrap();
        d.commit(T2, &[], &rw("a1", T1)).unwrap();
        d.commit(T2, &[], &rw("a2", 0)).unwrap();
        let e = d.commit(T1, &[], &rw("a2", T2)).unwrap_err();
        assert_eq!(e, "G0 (write cycle): t2.1 -ww-> t1.1 -ww-> t2.1");
    }

    #[test]
    fn reading_each_others_writes_is_g1c() {
        let mut d = Deps::default();
        d.commit(T1, &[], &rw("a1", 0)).unwrap();
        d.commit(T2, &[], &rw("a2", 0)).unwrap();
        d.commit(T2, &rw("a1", T1), &[]).unwrap();
        let e = d.commit(T1, &rw("a2", T2), &[]).unwrap_err();
        assert!(e.starts_with("G1c"), "{e}");
    }

    #[test]
    fn write_skew_is_g2() {
        // T1 and T2 each read both accounts at their initial versions, then each
        // writes one: each overwrote what the other read.
        let mut d = Deps::default();
        let both = vec![("a1".to_string(), 0), ("a2".to_string(), 0)];
        d.commit(T1, &both, &rw("a1", 0)).unwrap();
        let e = d.commit(T2, &both, &rw("a2", 0)).unwrap_err();
        assert!(e.starts_with("G2"), "{e}");
        assert!(e.contains("-rw->"), "{e}");
    }
}

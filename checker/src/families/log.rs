//! A replicated log with elected leaders (Raft's Figure 3), judged from what nodes
//! were seen to do ([`Observation::Term`], [`Observation::VotedFor`],
//! [`Observation::Holds`], [`Observation::Committed`], [`Observation::Applied`]):
//!
//! - `election-safety`: at most one leader per term, ever.
//! - `one-vote-per-term`: a node grants at most one candidate its vote in a term, even
//!   across restarts (what election safety rests on).
//! - `log-matching`: two logs holding an entry with the same index and term are
//!   identical up to it: every report of that entry, by any node at any time, carries
//!   the same digest.
//! - `current-term-commit`: a leader moves its commit index, by counting replicas,
//!   only onto an entry of its own term; earlier entries commit with it (§5.4.2,
//!   Figure 8). What leader completeness rests on: breaking it is the Figure 8 bug
//!   even on a run in which no later leader happens to lack the entry.
//! - `leader-completeness`: a node that leads a term later than the one in which the
//!   highest applied entry was first applied holds that entry.
//! - `state-machine-safety`: no two nodes apply different entries at one index, ever.
//!
//! To judge leader completeness and current-term commits the checker keeps each
//! node's log as its [`Observation::Holds`] reports tell it: a term and a digest per
//! entry, not the entries themselves.

use std::collections::BTreeMap;

use crate::observe::{Command, Observation, Violation};
use crate::op::NodeId;

/// One node as its observations describe it.
#[derive(Clone, Debug, Default)]
struct Seen {
    term: u64,
    leader: bool,
    /// False from a crash until the node's next observation.
    up: bool,
    /// The index of `log[0]`.
    base: u64,
    /// `(term, digest, command)` per entry from `base` on.
    log: Vec<(u64, u64, Command)>,
}

impl Seen {
    fn hold(&mut self, index: u64, entry: (u64, u64, Command)) {
        let end = self.base + self.log.len() as u64;
        if entry.2 == Command::Snapshot || index < self.base || index > end {
            // A snapshot replaces the log; a gap means one did.
            self.base = index;
            self.log.clear();
        } else {
            self.log.truncate((index - self.base) as usize);
        }
        self.log.push(entry);
    }

    fn last(&self) -> u64 {
        (self.base + self.log.len() as u64).saturating_sub(1)
    }

    fn at(&self, index: u64) -> Option<&(u64, u64, Command)> {
        index.checked_sub(self.base).and_then(|k| self.log.get(k as usize))
    }
}

/// "a no-op of term 3", "operation #4 of c2 (term 3)", "a snapshot ending in term 3".
fn applied_what(command: Command, term: u64) -> String {
    match command {
        Command::Noop => format!("a no-op of term {term}"),
        Command::Snapshot => format!("a snapshot ending in term {term}"),
        op => format!("{op} (term {term})"),
    }
}

/// Values by log index. Indexes grow one at a time, so most live in a vector; one
/// far beyond those seen so far (a protocol's bug, or a huge snapshot jump) goes to
/// a map, so a wild index costs a map entry, not memory up to it.
#[derive(Clone, Debug)]
struct ByIndex<T> {
    dense: Vec<Option<T>>,
    sparse: BTreeMap<u64, T>,
}

/// How far past the vector's end an index may land and still extend it.
const DENSE_REACH: u64 = 1 << 16;

impl<T> Default for ByIndex<T> {
    fn default() -> Self {
        ByIndex { dense: Vec::new(), sparse: BTreeMap::new() }
    }
}

impl<T> ByIndex<T> {
    fn get(&self, index: u64) -> Option<&T> {
        match usize::try_from(index).ok().and_then(|i| self.dense.get(i)) {
            Some(slot) => slot.as_ref(),
            None => self.sparse.get(&index),
        }
    }

    fn insert(&mut self, index: u64, value: T) {
        let len = self.dense.len() as u64;
        if index < len {
            self.dense[index as usize] = Some(value);
        } else if index - len <= DENSE_REACH && self.sparse.is_empty() {
            self.dense.resize_with(index as usize, || None);
            self.dense.push(Some(value));
        } else {
            self.sparse.insert(index, value);
        }
    }
}

/// What the replicated-log checks keep for the whole run.
#[derive(Clone, Debug)]
pub struct ReplicatedLog {
    nodes: Vec<Seen>,
    /// term -> its leader.
    leaders: BTreeMap<u64, NodeId>,
    /// (term, voter) -> the candidate it voted for.
    votes: BTreeMap<(u64, NodeId), NodeId>,
    /// index -> the first term reported there: the digest up to that entry, and
    /// who reported it first.
    entries: ByIndex<(u64, u64, NodeId)>,
    /// (index, term) -> the same, for the other terms reported at an index (entries
    /// that a new leader overwrote).
    overwritten: BTreeMap<(u64, u64), (u64, NodeId)>,
    /// index -> the digest applied there, and who applied it first (its term, command).
    applied: ByIndex<(u64, NodeId, u64, Command)>,
    /// The highest index applied anywhere: the index, the term of the node that
    /// applied it first, and the digest.
    top: Option<(u64, u64, u64)>,
}

impl ReplicatedLog {
    /// The checks for a cluster of `nodes` nodes.
    pub fn new(nodes: usize) -> ReplicatedLog {
        ReplicatedLog {
            nodes: vec![Seen::default(); nodes],
            leaders: BTreeMap::new(),
            votes: BTreeMap::new(),
            entries: ByIndex::default(),
            overwritten: BTreeMap::new(),
            applied: ByIndex::default(),
            top: None,
        }
    }

    /// `node` crashed: it leads nothing until it reports again.
    pub fn down(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(node.0) {
            (n.up, n.leader) = (false, false);
        }
    }

    /// Whether one of the nodes `group` marks leads, in a term none of them has
    /// gone past (as their latest [`Observation::Term`] says).
    pub fn leader_among(&self, group: &[bool]) -> bool {
        let members = || self.nodes.iter().zip(group).filter(|(n, g)| **g && n.up).map(|(n, _)| n);
        let top = members().map(|n| n.term).max();
        members().any(|n| n.leader && Some(n.term) == top)
    }

    /// Takes one observation of `node`'s (only replicated-log observations count).
    pub fn observe(&mut self, node: NodeId, obs: &Observation) -> Result<(), Violation> {
        let i = node.0;
        if self.nodes.len() <= i {
            self.nodes.resize(i + 1, Seen::default());
        }
        self.nodes[i].up = true;
        match *obs {
            Observation::Term { term, leader } => {
                (self.nodes[i].term, self.nodes[i].leader) = (term, leader);
                if leader {
                    match self.leaders.get(&term) {
                        Some(&first) if first != node => {
                            return Err(Violation {
                                invariant: "election-safety".into(),
                                detail: format!("{first} leads term {term}; but now {node} leads term {term}"),
                            });
                        }
                        Some(_) => {}
                        None => drop(self.leaders.insert(term, node)),
                    }
                    self.complete(i)?;
                }
                Ok(())
            }
            Observation::VotedFor { term, candidate } => match self.votes.get(&(term, node)) {
                Some(&first) if first != candidate => Err(Violation {
                    invariant: "one-vote-per-term".into(),
                    detail: format!(
                        "in term {term} {node} voted for {first}; but now in term {term} {node} voted for {candidate}"
                    ),
                }),
                Some(_) => Ok(()),
                None => {
                    self.votes.insert((term, node), candidate);
                    Ok(())
                }
            },
            Observation::Holds { index, term, digest, command } => {
                let first_said = match self.entries.get(index) {
                    Some(&(t, d, first)) if t == term => Some((d, first)),
                    Some(_) => self.overwritten.get(&(index, term)).copied(),
                    None => None,
                };
                match first_said {
                    Some((d, first)) if d != digest => {
                        return Err(Violation {
                            invariant: "log-matching".into(),
                            detail: format!(
                                "{first} and {node} both hold an entry of term {term} at index {index}, but their \
                                 logs up to it differ"
                            ),
                        });
                    }
                    Some(_) => {}
                    None if self.entries.get(index).is_none() => self.entries.insert(index, (term, digest, node)),
                    None => drop(self.overwritten.insert((index, term), (digest, node))),
                }
                self.nodes[i].hold(index, (term, digest, command));
                self.complete(i)
            }
            Observation::Committed { index } => {
                let n = &self.nodes[i];
                let of = n.at(index).map(|e| e.0);
                if n.leader && of != Some(n.term) {
                    return Err(Violation {
                        invariant: "current-term-commit".into(),
                        detail: format!(
                            "{node} leads term {} and committed index {index} by counting replicas, but that entry \
                             is of term {} (Raft §5.4.2: only an entry of the leader's own term commits by counting)",
                            n.term,
                            of.map_or("(compacted)".into(), |t| t.to_string())
                        ),
                    });
                }
                Ok(())
            }
            Observation::Applied { index, term, digest, command } => {
                match self.applied.get(index) {
                    Some(&(d, first, t, c)) if d != digest => {
                        return Err(Violation {
                            invariant: "state-machine-safety".into(),
                            detail: format!(
                                "at index {index} {first} applied {}; but now at index {index} {node} applied {}",
                                applied_what(c, t),
                                applied_what(command, term)
                            ),
                        });
                    }
                    Some(_) => {}
                    None => self.applied.insert(index, (digest, node, term, command)),
                }
                if self.top.is_none_or(|(top, _, _)| index > top) {
                    self.top = Some((index, self.nodes[i].term, digest));
                    // A new commit is checked against every leader.
                    for l in 0..self.nodes.len() {
                        self.complete(l)?;
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Leader completeness for node `i`, if it is up and leads a term later than the
    /// one in which the highest applied entry was first applied.
    fn complete(&self, i: usize) -> Result<(), Violation> {
        let Some((top, top_term, digest)) = self.top else { return Ok(()) };
        let n = &self.nodes[i];
        if top == 0 || !n.up || !n.leader || n.term <= top_term {
            return Ok(());
        }
        let lacks = if top > n.last() {
            Some(format!("its log ends at index {}", n.last()))
        } else {
            match n.at(top) {
                Some(&(t, d, c)) if d != digest => Some(format!("it holds {} there instead", applied_what(c, t))),
                _ => None,
            }
        };
        match lacks {
            Some(why) => Err(Violation {
                invariant: "leader-completeness".into(),
                detail: format!(
                    "{} leads term {} but lacks the entry committed at index {top} in term {top_term}: {why}",
                    NodeId(i),
                    n.term
                ),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(index: u64, term: u64, digest: u64) -> Observation {
        Observation::Holds { index, term, digest, command: Command::Noop }
    }

    fn applied(index: u64, term: u64, digest: u64) -> Observation {
        Observation::Applied { index, term, digest, command: Command::Noop }
    }

    fn lead(term: u64) -> Observation {
        Observation::Term { term, leader: true }
    }

    #[test]
    fn figure_8_overwrite_breaks_leader_completeness() {
        let mut log = ReplicatedLog::new(3);
        let (n1, n3) = (NodeId(0), NodeId(2));
        // n1 leads term 4 and applies its term-2 entry at index 2 (digest 22).
        for o in [holds(1, 1, 11), holds(2, 2, 22), lead(4), applied(2, 2, 22)] {
            log.observe(n1, &o).unwrap();
        }
        // n3's index 2 is of term 3; n1 crashes and n3 wins term 5.
        for o in [holds(1, 1, 11), holds(2, 3, 33)] {
            log.observe(n3, &o).unwrap();
        }
        log.down(n1);
        let v = log.observe(n3, &lead(5)).unwrap_err();
        assert_eq!(v.invariant, "leader-completeness");
        assert_eq!(
            v.detail,
            "n3 leads term 5 but lacks the entry committed at index 2 in term 4: it holds a no-op of term 3 there \
             instead"
        );
    }

    #[test]
    fn two_leaders_in_a_term_and_diverging_applies_are_caught() {
        let mut log = ReplicatedLog::new(3);
        log.observe(NodeId(0), &lead(2)).unwrap();
        log.observe(NodeId(0), &lead(2)).unwrap();
        let v = log.observe(NodeId(1), &lead(2)).unwrap_err();
        assert_eq!(
            (v.invariant.as_str(), v.detail.as_str()),
            ("election-safety", "n1 leads term 2; but now n2 leads term 2")
        );

        let mut log = ReplicatedLog::new(3);
        log.observe(NodeId(0), &applied(2, 1, 5)).unwrap();
        let v = log.observe(NodeId(1), &applied(2, 2, 6)).unwrap_err();
        assert_eq!(v.invariant, "state-machine-safety");
        assert_eq!(
            v.detail,
            "at index 2 n1 applied a no-op of term 1; but now at index 2 n2 applied a no-op of term 2"
        );
    }

    #[test]
    fn logs_that_agree_on_a_term_at_an_index_must_agree_below_it() {
        let mut log = ReplicatedLog::new(3);
        log.observe(NodeId(0), &holds(3, 2, 100)).unwrap();
        let v = log.observe(NodeId(1), &holds(3, 2, 101)).unwrap_err();
        assert_eq!(v.invariant, "log-matching");
        assert!(v.detail.contains("n1 and n2 both hold an entry of term 2 at index 3"), "{}", v.detail);
    }

    #[test]
    fn a_leader_commits_by_counting_only_in_its_own_term() {
        let mut log = ReplicatedLog::new(3);
        for o in [holds(1, 1, 11), lead(2), Observation::Committed { index: 1 }] {
            if let Err(v) = log.observe(NodeId(0), &o) {
                assert_eq!(v.invariant, "current-term-commit");
                assert!(v.detail.starts_with("n1 leads term 2 and committed index 1"), "{}", v.detail);
                return;
            }
        }
        panic!("committing a term-1 entry in term 2 is caught");
    }

    #[test]
    fn a_second_vote_in_a_term_is_caught_even_after_a_restart() {
        let mut log = ReplicatedLog::new(3);
        let vote = |c| Observation::VotedFor { term: 3, candidate: NodeId(c) };
        log.observe(NodeId(2), &vote(0)).unwrap();
        log.down(NodeId(2));
        let v = log.observe(NodeId(2), &vote(1)).unwrap_err();
        assert_eq!(v.invariant, "one-vote-per-term");
        assert_eq!(v.detail, "in term 3 n3 voted for n1; but now in term 3 n3 voted for n2");
    }

    #[test]
    fn an_overwritten_entry_and_a_wild_index_are_still_matched() {
        let mut log = ReplicatedLog::new(3);
        log.observe(NodeId(0), &holds(2, 1, 21)).unwrap();
        log.observe(NodeId(1), &holds(2, 2, 22)).unwrap();
        log.observe(NodeId(2), &holds(2, 2, 22)).unwrap();
        let v = log.observe(NodeId(2), &holds(2, 2, 23)).unwrap_err();
        assert!(v.detail.starts_with("n2 and n3 both hold an entry of term 2 at index 2"), "{}", v.detail);
        let far = u64::MAX - 1;
        log.observe(NodeId(0), &holds(far, 9, 1)).unwrap();
        assert!(log.observe(NodeId(1), &holds(far, 9, 2)).is_err(), "a far index is kept too");
        assert!(log.entries.dense.len() < 10, "and costs no memory up to it");
    }

    #[test]
    fn a_leader_with_a_majority_is_the_one_in_the_highest_term() {
        let mut log = ReplicatedLog::new(3);
        log.observe(NodeId(0), &lead(2)).unwrap();
        log.observe(NodeId(1), &Observation::Term { term: 2, leader: false }).unwrap();
        log.observe(NodeId(2), &Observation::Term { term: 3, leader: false }).unwrap();
        assert!(log.leader_among(&[true, true, false]));
        assert!(!log.leader_among(&[true, true, true]), "n3 has moved on to term 3");
        assert!(!log.leader_among(&[false, true, true]));
        log.down(NodeId(0));
        assert!(!log.leader_among(&[true, true, false]), "a crashed leader leads nothing");
    }
}

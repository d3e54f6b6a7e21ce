//! Consensus (single-decree and multi-slot Paxos), judged from what nodes were seen
//! to do:
//!
//! - `promise-kept`: an acceptor never accepts a ballot lower than the highest it has
//!   promised or accepted, in this incarnation or an earlier one.
//! - `agreement`: when a majority of acceptors have accepted one value in a slot with
//!   one ballot, that value is chosen; no other value is ever chosen in that slot, and
//!   every node that learns the slot learns that value.
//! - `validity`: a value chosen or learned in a slot is one a proposer proposed there.

use std::collections::{BTreeMap, BTreeSet};

use crate::observe::{Ballot, Observation, Violation};
use crate::op::NodeId;

/// What the consensus checks keep for the whole run.
#[derive(Clone, Debug)]
pub struct Consensus {
    majority: usize,
    /// Per node: the highest ballot it promised or accepted, across restarts.
    promised: Vec<Ballot>,
    /// `(slot, ballot, value) -> acceptors that accepted it`.
    votes: BTreeMap<(u64, Ballot, u64), BTreeSet<usize>>,
    /// `(slot, value)` some proposer put forward.
    proposed: BTreeSet<(u64, u64)>,
    /// Per slot: the value chosen first, and how that was known.
    chosen: BTreeMap<u64, (u64, String)>,
}

impl Consensus {
    /// The checks for a cluster of `nodes` acceptors.
    pub fn new(nodes: usize) -> Consensus {
        Consensus {
            majority: nodes / 2 + 1,
            promised: vec![Ballot::default(); nodes],
            votes: BTreeMap::new(),
            proposed: BTreeSet::new(),
            chosen: BTreeMap::new(),
        }
    }

    /// Takes one observation of `node`'s (only consensus observations count).
    pub fn observe(&mut self, node: NodeId, obs: &Observation) -> Result<(), Violation> {
        let i = node.0;
        if self.promised.len() <= i {
            self.promised.resize(i + 1, Ballot::default());
        }
        match *obs {
            Observation::Proposed { slot, value } => {
                self.proposed.insert((slot, value));
                Ok(())
            }
            Observation::Promised { ballot } => {
                self.promised[i] = self.promised[i].max(ballot);
                Ok(())
            }
            Observation::Accepted { slot, ballot, value } => {
                if ballot < self.promised[i] {
                    return Err(Violation {
                        invariant: "promise-kept".into(),
                        detail: format!(
                            "{node} accepted ballot {ballot} in slot {slot} after promising ballot {}",
                            self.promised[i]
                        ),
                    });
                }
                self.promised[i] = ballot;
                let voters = self.votes.entry((slot, ballot, value)).or_default();
                voters.insert(i);
                if voters.len() == self.majority {
                    self.choose(slot, value, || format!("chosen by a majority in ballot {ballot}"))?;
                }
                Ok(())
            }
            Observation::Learned { slot, value } => self.choose(slot, value, || format!("learned by {node}")),
            _ => Ok(()),
        }
    }

    /// `value` is chosen in `slot` (`how` says why we know): it must have been
    /// proposed there, and be the only value ever chosen there.
    fn choose(&mut self, slot: u64, value: u64, how: impl FnOnce() -> String) -> Result<(), Violation> {
        if !self.proposed.contains(&(slot, value)) {
            return Err(Violation {
                invariant: "validity".into(),
                detail: format!("slot {slot}: value {value:016x} {}, but no proposer proposed it there", how()),
            });
        }
        match self.chosen.get(&slot) {
            Some((v, _)) if *v == value => Ok(()),
            Some((_, first)) => Err(Violation {
                invariant: "agreement".into(),
                detail: format!("{first}; but now slot {slot}: value {value:016x} {}", how()),
            }),
            None => {
                self.chosen.insert(slot, (value, format!("slot {slot}: value {value:016x} {}", how())));
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(round: u64, proposer: u64) -> Ballot {
        Ballot { round, proposer }
    }

    #[test]
    fn two_majorities_for_different_values_break_agreement() {
        let mut c = Consensus::new(3);
        for v in [1, 2] {
            c.observe(NodeId(0), &Observation::Proposed { slot: 0, value: v }).unwrap();
        }
        let acc = |n, ballot, value| (NodeId(n), Observation::Accepted { slot: 0, ballot, value });
        for (n, o) in [acc(0, b(1, 1), 1), acc(1, b(1, 1), 1), acc(1, b(2, 2), 2)] {
            c.observe(n, &o).unwrap();
        }
        let (n, o) = acc(2, b(2, 2), 2);
        let v = c.observe(n, &o).unwrap_err();
        assert_eq!(v.invariant, "agreement");
        assert_eq!(
            v.detail,
            "slot 0: value 0000000000000001 chosen by a majority in ballot 1.1; \
             but now slot 0: value 0000000000000002 chosen by a majority in ballot 2.2"
        );
    }

    #[test]
    fn learning_a_value_nobody_proposed_breaks_validity() {
        let mut c = Consensus::new(3);
        let v = c.observe(NodeId(2), &Observation::Learned { slot: 4, value: 9 }).unwrap_err();
        assert_eq!(v.invariant, "validity");
        assert!(v.detail.contains("learned by n3"), "{}", v.detail);
    }

    #[test]
    fn a_promise_outlives_a_restart_and_the_same_value_may_be_chosen_twice() {
        let mut c = Consensus::new(3);
        c.observe(NodeId(0), &Observation::Proposed { slot: 0, value: 5 }).unwrap();
        c.observe(NodeId(1), &Observation::Promised { ballot: b(3, 1) }).unwrap();
        for n in [0, 1] {
            c.observe(NodeId(n), &Observation::Accepted { slot: 0, ballot: b(3, 1), value: 5 }).unwrap();
        }
        c.observe(NodeId(2), &Observation::Learned { slot: 0, value: 5 }).unwrap();
        let v = c.observe(NodeId(1), &Observation::Accepted { slot: 0, ballot: b(2, 3), value: 5 }).unwrap_err();
        assert_eq!(v.invariant, "promise-kept");
    }
}

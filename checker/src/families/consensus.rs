//! Consensus (single-decree and multi-slot Paxos), judged from what nodes were seen
//! to do:
//!
//! - `promise-kept`: an acceptor never accepts a ballot lower than the highest it has
//!   promised or accepted, in this incarnation or an earlier one.
//! - `agreement`: when a majority of acceptors have accepted one value in a slot with
//!   one ballot, that value is chosen; no other value is ever chosen in that slot, and
//!   every node that learns the slot learns that value.
//! - `validity`: a value chosen or learned in a slot is one a proposer proposed there.

use std::collections::BTreeMap;

use crate::observe::{Ballot, Observation, Violation};
use crate::op::NodeId;

/// How the checks came to know a slot's chosen value, worded only for a violation.
#[derive(Clone, Copy, Debug)]
enum How {
    /// A majority of acceptors accepted it in this ballot.
    Majority(Ballot),
    /// This node reported learning it.
    Learned(NodeId),
}

impl std::fmt::Display for How {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            How::Majority(ballot) => write!(f, "chosen by a majority in ballot {ballot}"),
            How::Learned(node) => write!(f, "learned by {node}"),
        }
    }
}

/// The acceptors that accepted one `(ballot, value)` in a slot: a bit per node for
/// the first 64, a list beyond.
#[derive(Clone, Debug)]
struct Votes {
    ballot: Ballot,
    value: u64,
    first: u64,
    more: Vec<usize>,
}

impl Votes {
    /// Counts `node` in (once); returns how many acceptors there are now.
    fn add(&mut self, node: usize) -> usize {
        if node < 64 {
            self.first |= 1 << node;
        } else if !self.more.contains(&node) {
            self.more.push(node);
        }
        self.first.count_ones() as usize + self.more.len()
    }
}

/// What the checks keep of one slot.
#[derive(Clone, Debug, Default)]
struct Slot {
    /// Values some proposer put forward here.
    proposed: Vec<u64>,
    /// Each `(ballot, value)` accepted here, with its acceptors.
    votes: Vec<Votes>,
    /// The value chosen first, and how that was known.
    chosen: Option<(u64, How)>,
}

/// What the consensus checks keep for the whole run.
#[derive(Clone, Debug)]
pub struct Consensus {
    majority: usize,
    /// Per node: the highest ballot it promised or accepted, across restarts.
    promised: Vec<Ballot>,
    /// What was proposed, accepted and chosen in each slot: slots below
    /// [`DENSE_SLOTS`] by index (logs number their slots from 0 up), the rest by key.
    dense: Vec<Slot>,
    sparse: BTreeMap<u64, Slot>,
}

/// Slots below this are kept in a vector indexed by slot; a protocol that numbers
/// its slots sparsely (or from a huge number) costs a map lookup per observation,
/// not a vector of its largest slot's size.
pub const DENSE_SLOTS: u64 = 1 << 16;

impl Consensus {
    /// The checks for a cluster of `nodes` acceptors.
    pub fn new(nodes: usize) -> Consensus {
        Consensus {
            majority: nodes / 2 + 1,
            promised: vec![Ballot::default(); nodes],
            dense: Vec::new(),
            sparse: BTreeMap::new(),
        }
    }

    /// What the checks keep of `slot`, made empty on first use.
    fn slot(&mut self, slot: u64) -> &mut Slot {
        if slot >= DENSE_SLOTS {
            return self.sparse.entry(slot).or_default();
        }
        let i = slot as usize;
        if self.dense.len() <= i {
            self.dense.resize_with(i + 1, Slot::default);
        }
        &mut self.dense[i]
    }

    /// Takes one observation of `node`'s (only consensus observations count).
    pub fn observe(&mut self, node: NodeId, obs: &Observation) -> Result<(), Violation> {
        let i = node.0;
        if self.promised.len() <= i {
            self.promised.resize(i + 1, Ballot::default());
        }
        match *obs {
            Observation::Proposed { slot, value } => {
                let proposed = &mut self.slot(slot).proposed;
                if !proposed.contains(&value) {
                    proposed.push(value);
                }
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
                let majority = self.majority;
                let s = self.slot(slot);
                let at = match s.votes.iter().position(|v| v.ballot == ballot && v.value == value) {
                    Some(at) => at,
                    None => {
                        s.votes.push(Votes { ballot, value, first: 0, more: Vec::new() });
                        s.votes.len() - 1
                    }
                };
                if s.votes[at].add(i) == majority {
                    Self::choose(s, slot, value, How::Majority(ballot))?;
                }
                Ok(())
            }
            Observation::Learned { slot, value } => Self::choose(self.slot(slot), slot, value, How::Learned(node)),
            _ => Ok(()),
        }
    }

    /// `value` is chosen in `slot` (`how` says why we know): it must have been
    /// proposed there, and be the only value ever chosen there.
    fn choose(s: &mut Slot, slot: u64, value: u64, how: How) -> Result<(), Violation> {
        if !s.proposed.contains(&value) {
            return Err(Violation {
                invariant: "validity".into(),
                detail: format!("slot {slot}: value {value:016x} {how}, but no proposer proposed it there"),
            });
        }
        match s.chosen {
            Some((v, _)) if v == value => Ok(()),
            Some((v, first)) => Err(Violation {
                invariant: "agreement".into(),
                detail: format!("slot {slot}: value {v:016x} {first}; but now slot {slot}: value {value:016x} {how}"),
            }),
            None => {
                s.chosen = Some((value, how));
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

    /// Slots far apart (kept by key, not by index) are judged as dense ones are, and
    /// a huge slot number costs no huge vector.
    #[test]
    fn a_sparse_slot_is_judged_like_a_dense_one() {
        let mut c = Consensus::new(3);
        let far = 1 << 40;
        for v in [1, 2] {
            c.observe(NodeId(0), &Observation::Proposed { slot: far, value: v }).unwrap();
        }
        c.observe(NodeId(1), &Observation::Learned { slot: far, value: 1 }).unwrap();
        let v = c.observe(NodeId(2), &Observation::Learned { slot: far, value: 2 }).unwrap_err();
        assert_eq!(v.invariant, "agreement");
        assert!(c.dense.is_empty(), "no vector for a far slot");
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

//! Paxos' safety, checked after every event from what each node did ([`Act`]s):
//!
//! - `promise-kept`: an acceptor never accepts a ballot lower than the highest it has
//!   promised, in this incarnation or an earlier one.
//! - `agreement`: when a majority of acceptors have accepted one value in a slot with
//!   one ballot, that value is chosen; no other value is ever chosen in that slot, and
//!   every node that learns the slot learns that value.
//! - `validity`: a value chosen or learned in a slot is one a proposer proposed there.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;

use faultline_sim::check::facts::{Cursors, Facts};
use faultline_sim::trace::Fnv64;
use faultline_sim::{NodeId, Violation};

use super::{Ballot, Paxos, round_of};

/// What the checks need of a node: its acts this incarnation, and which incarnation.
pub trait Acts {
    fn acts(&self) -> &[Act];
    fn boot(&self) -> u64;
}

impl Acts for Paxos {
    fn acts(&self) -> &[Act] {
        &self.acts
    }
    fn boot(&self) -> u64 {
        self.boot
    }
}

/// Something a node did that the checks follow.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Act {
    /// A proposer put this value forward in this slot.
    Proposed {
        slot: u64,
        print: u64,
    },
    Promised {
        ballot: Ballot,
    },
    Accepted {
        slot: u64,
        ballot: Ballot,
        print: u64,
    },
    Learned {
        slot: u64,
        print: u64,
    },
}

/// A value's fingerprint.
pub fn print<T: Hash>(value: &T) -> u64 {
    let mut h = Fnv64::default();
    value.hash(&mut h);
    h.finish()
}

fn show(b: Ballot) -> String {
    format!("{}.{}", round_of(b), b & 0xffff)
}

#[derive(Default)]
struct Memory {
    /// How far each node's acts have been read.
    read: Cursors,
    /// Per node: the highest ballot it ever promised.
    promised: Vec<Ballot>,
    /// `(slot, ballot, value) -> acceptors that accepted it`.
    votes: BTreeMap<(u64, Ballot, u64), BTreeSet<usize>>,
    /// `(slot, value)` some proposer put forward.
    proposed: BTreeSet<(u64, u64)>,
}

pub fn check<N: Acts>(nodes: &[Option<N>], stepped: usize, facts: &mut Facts) -> Result<(), Violation> {
    let Some(n) = &nodes[stepped] else { return Ok(()) };
    let (acts, boot) = (n.acts(), n.boot());
    let majority = nodes.len() / 2 + 1;
    let m = facts.memory::<Memory>();
    if m.promised.len() < nodes.len() {
        m.promised.resize(nodes.len(), 0);
    }
    let unread = m.read.unread(stepped, boot, acts.len());
    let node = NodeId(stepped);
    let mut chosen = Vec::new();
    for act in &acts[unread] {
        match *act {
            Act::Proposed { slot, print } => drop(m.proposed.insert((slot, print))),
            Act::Promised { ballot } => m.promised[stepped] = m.promised[stepped].max(ballot),
            Act::Accepted { slot, ballot, print } => {
                if ballot < m.promised[stepped] {
                    return Err(Violation {
                        invariant: "promise-kept".into(),
                        detail: format!(
                            "{node} accepted ballot {} in slot {slot} after promising ballot {}",
                            show(ballot),
                            show(m.promised[stepped])
                        ),
                    });
                }
                m.promised[stepped] = ballot;
                let voters = m.votes.entry((slot, ballot, print)).or_default();
                voters.insert(stepped);
                if voters.len() == majority {
                    chosen.push((slot, print, format!("chosen by a majority in ballot {}", show(ballot))));
                }
            }
            Act::Learned { slot, print } => chosen.push((slot, print, format!("learned by {node}"))),
        }
    }
    if let Some((slot, print, how)) = chosen.iter().find(|(slot, print, _)| !m.proposed.contains(&(*slot, *print))) {
        return Err(Violation {
            invariant: "validity".into(),
            detail: format!("slot {slot}: value {print:016x} {how}, but no proposer proposed it there"),
        });
    }
    for (slot, print, how) in chosen {
        facts.claim_print("agreement", "chosen", slot, print, || format!("slot {slot}: value {print:016x} {how}"))?;
    }
    Ok(())
}

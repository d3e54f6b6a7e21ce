//! A key-value store whose keys move between nodes (the sharded store), judged from
//! what nodes report ([`Observation::Stores`], [`Observation::Owners`]):
//!
//! - `one-value-per-version`: every version of a key that any node ever held has one
//!   value. Two live copies of a key written apart, or a copy that lost writes and
//!   was written again, give one version two values.
//! - `migration-cost`: each change of view moves at most [`MOVED_OVER_OPTIMUM_MAX`]
//!   times the keys the optimum moves, plus [`MOVED_SLACK_KEYS`]. The optimum is
//!   what any placement must move: the joiners' share of the keys, or the keys the
//!   leavers owned. It is the promise of consistent hashing, judged from the
//!   placements the nodes report (the first report of each view counts), so any
//!   placement algorithm is held to it.
//!
//! Whether the keys' owners answer clients correctly is the linearizability
//! checker's question, on the client history.

use std::collections::BTreeMap;

use crate::observe::{Observation, Violation};
use crate::op::NodeId;

/// `migration-cost`: a view change may move at most this many times the optimum...
pub const MOVED_OVER_OPTIMUM_MAX: f64 = 2.0;
/// ...plus this many keys (a ring's placement of a few dozen keys is lumpy).
pub const MOVED_SLACK_KEYS: f64 = 2.0;

/// One view of a run and the migration into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    /// The view's number.
    pub view: u64,
    /// Its members.
    pub members: Vec<NodeId>,
    /// Keys each node owns in this view, by node index (every node up to the
    /// highest member).
    pub owned: Vec<usize>,
    /// Keys whose owner changed from the view before: `(from, to) -> count`.
    pub flows: BTreeMap<(NodeId, NodeId), usize>,
    /// How many keys changed owner.
    pub moved: usize,
    /// The least any placement must move: the joiners' share, or the leavers' keys.
    pub optimum: f64,
    /// Who joined (+) or left (-): `"+n4"`, `"-n2"`; `"start"` for the first view.
    pub change: String,
}

impl Migration {
    /// The migration into the view whose members are `members` and whose keys are
    /// placed on `owners`, from the view `before` (its members and owners; `None`
    /// for the first view).
    pub fn new(view: u64, before: Option<(&[NodeId], &[NodeId])>, members: &[NodeId], owners: &[NodeId]) -> Migration {
        let nodes = members.iter().chain(owners).map(|n| n.0 + 1).max().unwrap_or(0);
        let mut owned = vec![0; nodes];
        for o in owners {
            owned[o.0] += 1;
        }
        let (mut flows, mut moved, mut optimum, mut change) = (BTreeMap::new(), 0, 0.0, String::from("start"));
        if let Some((was_members, was)) = before {
            for (a, b) in was.iter().zip(owners) {
                if a != b {
                    *flows.entry((*a, *b)).or_insert(0) += 1;
                    moved += 1;
                }
            }
            let joined: Vec<&NodeId> = members.iter().filter(|m| !was_members.contains(m)).collect();
            let left: Vec<&NodeId> = was_members.iter().filter(|m| !members.contains(m)).collect();
            optimum = if joined.is_empty() {
                was.iter().filter(|o| left.contains(o)).count() as f64
            } else {
                owners.len() as f64 * joined.len() as f64 / members.len().max(1) as f64
            };
            let names =
                |v: &[&NodeId], sign: &str| v.iter().map(|n| format!("{sign}{n}")).collect::<Vec<_>>().join(" ");
            change = format!("{}{}", names(&joined, "+"), names(&left, "-"));
        }
        Migration { view, members: members.to_vec(), owned, flows, moved, optimum, change }
    }

    /// "+n4: 9 of 40 keys moved (optimum 8.0): n1->n4 3, n2->n4 6".
    pub fn describe(&self, keys: usize) -> String {
        let flows: Vec<String> = self.flows.iter().map(|((a, b), n)| format!("{a}->{b} {n}")).collect();
        format!(
            "{}: {} of {keys} keys moved (optimum {:.1}): {}",
            self.change,
            self.moved,
            self.optimum,
            if flows.is_empty() { "none".into() } else { flows.join(", ") }
        )
    }

    /// `migration-cost` for this migration.
    pub fn check(&self, keys: usize) -> Result<(), Violation> {
        let bound = MOVED_OVER_OPTIMUM_MAX * self.optimum + MOVED_SLACK_KEYS;
        if self.moved as f64 > bound {
            return Err(Violation {
                invariant: "migration-cost".into(),
                detail: format!(
                    "view {} ({}) moves {} of {keys} keys where the optimum is {:.1}: more than {bound:.1} \
                     ({MOVED_OVER_OPTIMUM_MAX} x the optimum + {MOVED_SLACK_KEYS})",
                    self.view, self.change, self.moved, self.optimum
                ),
            });
        }
        Ok(())
    }
}

/// What the store checks keep for the whole run.
#[derive(Clone, Debug, Default)]
pub struct ShardedStore {
    /// key -> version -> the value's fingerprint, and who held it first.
    versions: BTreeMap<String, BTreeMap<u64, (u64, NodeId)>>,
    /// view -> its members and each key's owner, as first reported.
    views: BTreeMap<u64, (Vec<NodeId>, Vec<NodeId>)>,
}

impl ShardedStore {
    /// Takes one observation of `node`'s (only store observations count).
    pub fn observe(&mut self, node: NodeId, obs: &Observation) -> Result<(), Violation> {
        if let Observation::Owners { view, members, owners } = obs {
            return self.placed(*view, members, owners);
        }
        let Observation::Stores { key, version, value } = obs else { return Ok(()) };
        // Looked up by `&str` first: a key is copied once, when first seen.
        let versions = match self.versions.get_mut(key.as_str()) {
            Some(v) => v,
            None => self.versions.entry(key.clone()).or_default(),
        };
        match versions.get(version) {
            Some(&(v, first)) if v != *value => Err(Violation {
                invariant: "one-value-per-version".into(),
                detail: format!(
                    "{key} version {version} held one value at {first} (fingerprint {v:016x}) and another at {node} \
                     ({value:016x})"
                ),
            }),
            Some(_) => Ok(()),
            None => {
                versions.insert(*version, (*value, node));
                Ok(())
            }
        }
    }
}

impl ShardedStore {
    fn placed(&mut self, view: u64, members: &[NodeId], owners: &[NodeId]) -> Result<(), Violation> {
        if self.views.contains_key(&view) {
            return Ok(());
        }
        self.views.insert(view, (members.to_vec(), owners.to_vec()));
        let Some((_, (was_members, was))) = self.views.range(..view).next_back() else { return Ok(()) };
        Migration::new(view, Some((was_members, was)), members, owners).check(owners.len())
    }

    /// Each view after the first, as `("view N", what moved into it)`.
    pub fn measures(&self) -> Vec<(String, String)> {
        self.migrations()
            .iter()
            .skip(1)
            .map(|m| (format!("view {}", m.view), m.describe(m.owned.iter().sum())))
            .collect()
    }

    /// Every view reported, in order, with the migration into it from the one before.
    pub fn migrations(&self) -> Vec<Migration> {
        let mut before: Option<(&[NodeId], &[NodeId])> = None;
        let mut out = Vec::new();
        for (view, (members, owners)) in &self.views {
            out.push(Migration::new(*view, before, members, owners));
            before = Some((members, owners));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_version_with_two_values_is_caught() {
        let mut s = ShardedStore::default();
        let stores = |version, value| Observation::Stores { key: "k1".into(), version, value };
        s.observe(NodeId(0), &stores(1, 10)).unwrap();
        s.observe(NodeId(1), &stores(1, 10)).unwrap();
        s.observe(NodeId(1), &stores(2, 20)).unwrap();
        let v = s.observe(NodeId(2), &stores(2, 21)).unwrap_err();
        assert_eq!(v.invariant, "one-value-per-version");
        assert!(v.detail.starts_with("k1 version 2 held one value at n2"), "{}", v.detail);
    }

    #[test]
    fn a_join_that_moves_every_key_costs_too_much() {
        let (n1, n2, n3) = (NodeId(0), NodeId(1), NodeId(2));
        let owners = |v: &[NodeId]| Observation::Owners { view: 0, members: vec![n1, n2], owners: v.to_vec() };
        let mut s = ShardedStore::default();
        s.observe(n1, &owners(&[n1, n2, n1, n2, n1, n2, n1, n2, n1, n2])).unwrap();
        // n3 joins: the optimum moves a third of the keys (3.3); a ring moves 3.
        let ring = [n1, n3, n1, n2, n3, n2, n1, n2, n3, n2];
        let joined = |view, v: &[NodeId]| Observation::Owners { view, members: vec![n1, n2, n3], owners: v.to_vec() };
        s.observe(n2, &joined(1, &ring)).unwrap();
        assert_eq!(
            s.measures(),
            [("view 1".to_string(), "+n3: 3 of 10 keys moved (optimum 3.3): n1->n3 2, n2->n3 1".to_string())]
        );
        // mod n: every key but two moves.
        let modn = [n1, n2, n3, n1, n2, n3, n1, n2, n3, n1];
        let v = s.observe(n3, &joined(2, &modn)).unwrap_err();
        assert_eq!(v.invariant, "migration-cost");
        assert!(v.detail.starts_with("view 2 () moves"), "{}", v.detail);
        s.observe(n3, &joined(2, &ring)).expect("a view is judged once, by its first report");
    }
}

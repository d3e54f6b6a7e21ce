//! A key-value store whose keys move between nodes (the sharded store), judged from
//! what nodes report ([`Observation::Stores`]):
//!
//! - `one-value-per-version`: every version of a key that any node ever held has one
//!   value. Two live copies of a key written apart, or a copy that lost writes and
//!   was written again, give one version two values.
//!
//! Whether the keys' owners answer clients correctly is the linearizability
//! checker's question, on the client history.

use std::collections::BTreeMap;

use crate::observe::{Observation, Violation};
use crate::op::NodeId;

/// What the store checks keep for the whole run.
#[derive(Debug, Default)]
pub struct ShardedStore {
    /// key -> version -> the value's fingerprint, and who held it first.
    versions: BTreeMap<String, BTreeMap<u64, (u64, NodeId)>>,
}

impl ShardedStore {
    /// Takes one observation of `node`'s (only store observations count).
    pub fn observe(&mut self, node: NodeId, obs: &Observation) -> Result<(), Violation> {
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
}

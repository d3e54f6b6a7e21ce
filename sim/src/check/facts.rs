//! Facts a run establishes, kept for the whole run: "at most one X per Y, ever".
//! Cluster-wide checks see only the nodes' current states, but some properties span
//! time: Raft's election safety (one leader per term, even if the first has crashed
//! by the time the second wins), Paxos' agreement (one value chosen per slot), state
//! machine safety (one command applied per index, on every node). A check claims a
//! fact; a second, different claim of the same kind and key is a violation.

use std::collections::BTreeMap;

use crate::protocol::Violation;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Facts {
    claims: BTreeMap<(&'static str, u64), (String, String)>,
}

impl Facts {
    /// Claims that the one `kind` for `key` is `value` (e.g. kind "leader", key = term,
    /// value = "n2"), said by `who`. Claiming the same value again is fine; a different
    /// value is a violation of `invariant`, naming both claims.
    pub fn claim(
        &mut self,
        invariant: &str,
        kind: &'static str,
        key: u64,
        value: impl Into<String>,
        who: impl Into<String>,
    ) -> Result<(), Violation> {
        let (value, who) = (value.into(), who.into());
        match self.claims.get(&(kind, key)) {
            None => {
                self.claims.insert((kind, key), (value, who));
                Ok(())
            }
            Some((v, _)) if *v == value => Ok(()),
            Some((v, first)) => Err(Violation {
                invariant: invariant.to_string(),
                detail: format!("{kind} {key} is {v} (said by {first}), and now {value} (said by {who})"),
            }),
        }
    }

    /// What was claimed for `kind` and `key`, if anything.
    pub fn get(&self, kind: &'static str, key: u64) -> Option<&str> {
        self.claims.get(&(kind, key)).map(|(v, _)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_different_claim_is_a_violation() {
        let mut f = Facts::default();
        assert!(f.claim("election-safety", "leader", 3, "n1", "n1").is_ok());
        assert!(f.claim("election-safety", "leader", 3, "n1", "n1").is_ok());
        assert!(f.claim("election-safety", "leader", 4, "n2", "n2").is_ok());
        let v = f.claim("election-safety", "leader", 3, "n2", "n2").unwrap_err();
        assert_eq!(v.invariant, "election-safety");
        assert_eq!(v.detail, "leader 3 is n1 (said by n1), and now n2 (said by n2)");
        assert_eq!(f.get("leader", 4), Some("n2"));
    }
}

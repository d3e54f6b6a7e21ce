//! Facts a run establishes, kept for the whole run: "at most one X per Y, ever", for
//! a protocol's own [`check_cluster`](crate::protocol::Protocol::check_cluster)
//! (the sharded store's one value per key version). Cluster-wide checks see only the
//! nodes' current states, but some properties span time: a value claimed for a key
//! stays claimed even if the node that claimed it has crashed since. A check claims
//! a fact; a second, different claim of the same kind and key is a violation. The
//! protocol families' invariants do not use this: they judge observations
//! ([`crate::judge::Judge`]).
//!
//! Checks run after every event, so lookups are cheap: facts are grouped by kind (a
//! handful per protocol, found by pointer first), then keyed by a number.

use std::collections::BTreeMap;

use crate::observe::Violation;

#[derive(Clone, Debug, Default)]
struct Kind {
    name: &'static str,
    /// The name's length and first bytes: most lookups are settled without a memcmp.
    quick: u64,
    claims: BTreeMap<u64, (String, String)>,
    prints: BTreeMap<u64, (u64, String)>,
}

#[derive(Default)]
/// What a run's checks have claimed so far, by kind and key (see the module).
pub struct Facts {
    kinds: Vec<Kind>,
    /// The engine's virtual time at the check.
    pub(crate) now: crate::time::Time,
    /// A protocol's own checker memory, by type: see [`Facts::memory`].
    memory: Option<Box<dyn std::any::Any>>,
}

impl std::fmt::Debug for Facts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts").field("kinds", &self.kinds).field("now", &self.now).finish_non_exhaustive()
    }
}

fn quick(name: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = name.len().min(7);
    b[..n].copy_from_slice(&name.as_bytes()[..n]);
    b[7] = name.len() as u8;
    u64::from_le_bytes(b)
}

impl Kind {
    fn is(&self, name: &'static str, quick: u64) -> bool {
        std::ptr::eq(self.name, name) || (self.quick == quick && self.name == name)
    }
}

impl Facts {
    fn kind(&mut self, name: &'static str) -> &mut Kind {
        let q = quick(name);
        let i = match self.kinds.iter().position(|k| k.is(name, q)) {
            Some(i) => i,
            None => {
                self.kinds.push(Kind { name, quick: q, ..Kind::default() });
                self.kinds.len() - 1
            }
        };
        &mut self.kinds[i]
    }

    fn find(&self, name: &'static str) -> Option<&Kind> {
        let q = quick(name);
        self.kinds.iter().find(|k| k.is(name, q))
    }

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
        let claims = &mut self.kind(kind).claims;
        match claims.get(&key) {
            None => {
                claims.insert(key, (value, who));
                Ok(())
            }
            Some((v, _)) if *v == value => Ok(()),
            Some((v, first)) => Err(Violation {
                invariant: invariant.to_string(),
                detail: format!("{kind} {key} is {v} (said by {first}), and now {value} (said by {who})"),
            }),
        }
    }

    /// Like [`Facts::claim`], for checks that run after every event: the value is a
    /// fingerprint (a hash of, say, a log prefix), and `describe` is called only to
    /// word a first claim or a conflict, so an agreeing claim allocates nothing. The
    /// descriptions name the key themselves ("at index 7 n1 applied ...").
    pub fn claim_print(
        &mut self,
        invariant: &str,
        kind: &'static str,
        key: u64,
        print: u64,
        describe: impl FnOnce() -> String,
    ) -> Result<(), Violation> {
        let prints = &mut self.kind(kind).prints;
        match prints.get(&key) {
            None => {
                prints.insert(key, (print, describe()));
                Ok(())
            }
            Some((p, _)) if *p == print => Ok(()),
            Some((_, first)) => {
                Err(Violation { invariant: invariant.to_string(), detail: format!("{first}; but now {}", describe()) })
            }
        }
    }

    /// The fingerprint claimed for `kind` and `key` by [`Facts::claim_print`].
    pub fn print(&self, kind: &'static str, key: u64) -> Option<u64> {
        self.find(kind).and_then(|k| k.prints.get(&key)).map(|(p, _)| *p)
    }

    /// The virtual time of the event just checked (the end of the run, for
    /// [`crate::protocol::Protocol::measures`]).
    pub fn now(&self) -> crate::time::Time {
        self.now
    }

    /// Memory a protocol's checker keeps for the whole run, of its own type `T`:
    /// what claims cannot say, such as a graph of transactions or how long each node
    /// has waited. Created empty on first use; one type per run.
    pub fn memory<T: Default + 'static>(&mut self) -> &mut T {
        if !self.memory.as_ref().is_some_and(|m| m.is::<T>()) {
            self.memory = Some(Box::new(T::default()));
        }
        self.memory.as_mut().and_then(|m| m.downcast_mut::<T>()).expect("just made")
    }

    /// What was claimed for `kind` and `key`, if anything.
    pub fn get(&self, kind: &'static str, key: u64) -> Option<&str> {
        self.find(kind).and_then(|k| k.claims.get(&key)).map(|(v, _)| v.as_str())
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
        assert_eq!(f.get("ballot", 4), None, "kinds are separate");
    }

    #[test]
    fn fingerprint_claims_describe_only_first_claims_and_conflicts() {
        let mut f = Facts::default();
        assert!(f.claim_print("sms", "applied", 7, 42, || "n1 applied put x".into()).is_ok());
        assert!(f.claim_print("sms", "applied", 7, 42, || unreachable!("agreeing claims are not described")).is_ok());
        let v = f.claim_print("sms", "applied", 7, 43, || "n2 applied get y".into()).unwrap_err();
        assert_eq!(v.detail, "n1 applied put x; but now n2 applied get y");
        assert_eq!(f.print("applied", 7), Some(42));
        assert_eq!(f.print("applied", 8), None);
    }
}

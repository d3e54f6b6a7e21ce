//! Facts a run establishes, kept for the whole run: "at most one X per Y, ever".
//! Cluster-wide checks see only the nodes' current states, but some properties span
//! time: Raft's election safety (one leader per term, even if the first has crashed
//! by the time the second wins), Paxos' agreement (one value chosen per slot), state
//! machine safety (one command applied per index, on every node). A check claims a
//! fact; a second, different claim of the same kind and key is a violation.
//!
//! Checks run after every event, so lookups are cheap: facts are grouped by kind (a
//! handful per protocol, found by pointer first), then keyed by a number.

use std::collections::BTreeMap;

use crate::protocol::Violation;

/// How a first claim is worded when a conflict needs it: text, or raw numbers and
/// the function that words them (so a claim made after every event allocates nothing).
#[derive(Clone, Debug)]
enum Said {
    Text(String),
    Witness([u64; 4], fn([u64; 4]) -> String),
}

impl Said {
    fn text(&self) -> String {
        match self {
            Said::Text(t) => t.clone(),
            Said::Witness(w, show) => show(*w),
        }
    }
    fn into_text(self) -> String {
        match self {
            Said::Text(t) => t,
            Said::Witness(w, show) => show(w),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Kind {
    name: &'static str,
    /// The name's length and first bytes: most lookups are settled without a memcmp.
    quick: u64,
    claims: BTreeMap<u64, (String, String)>,
    prints: BTreeMap<u64, (u64, Said)>,
}

/// Where a check has read up to in each node's own log of what it did (a vector the
/// node appends to and loses on a restart): per node, `(boot, entries read)`, where
/// `boot` tells one incarnation from the next.
#[derive(Clone, Debug, Default)]
pub struct Cursors(Vec<(u64, usize)>);

impl Cursors {
    /// The entries of `node`'s log (now `len` long, in incarnation `boot`) not read
    /// yet; they count as read from now on. A new incarnation starts from 0.
    pub fn unread(&mut self, node: usize, boot: u64, len: usize) -> std::ops::Range<usize> {
        if self.0.len() <= node {
            self.0.resize(node + 1, (0, 0));
        }
        let (b, read) = &mut self.0[node];
        if *b != boot {
            (*b, *read) = (boot, 0);
        }
        let from = (*read).min(len);
        *read = len;
        from..len
    }
}

#[derive(Default)]
pub struct Facts {
    kinds: Vec<Kind>,
    scratch: Vec<u64>,
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
        self.claim_said(invariant, kind, key, print, || Said::Text(describe()))
    }

    /// Like [`Facts::claim_print`], but a first claim keeps four numbers (`witness`)
    /// and words them with `show` only if a conflict needs it: for claims that are new
    /// on most events, such as each index a node applies.
    pub fn claim_witness(
        &mut self,
        invariant: &str,
        kind: &'static str,
        key: u64,
        print: u64,
        witness: [u64; 4],
        show: fn([u64; 4]) -> String,
    ) -> Result<(), Violation> {
        self.claim_said(invariant, kind, key, print, || Said::Witness(witness, show))
    }

    /// `said` words this claim: it is kept if the claim is the first, or quoted as
    /// the second side of a conflict; an agreeing claim never calls it.
    fn claim_said(
        &mut self,
        invariant: &str,
        kind: &'static str,
        key: u64,
        print: u64,
        said: impl FnOnce() -> Said,
    ) -> Result<(), Violation> {
        let prints = &mut self.kind(kind).prints;
        match prints.get(&key) {
            None => {
                prints.insert(key, (print, said()));
                Ok(())
            }
            Some((p, _)) if *p == print => Ok(()),
            Some((_, first)) => Err(Violation {
                invariant: invariant.to_string(),
                detail: format!("{}; but now {}", first.text(), said().into_text()),
            }),
        }
    }

    /// The fingerprint claimed for `kind` and `key` by [`Facts::claim_print`].
    pub fn print(&self, kind: &'static str, key: u64) -> Option<u64> {
        self.find(kind).and_then(|k| k.prints.get(&key)).map(|(p, _)| *p)
    }

    /// Free space a protocol's cluster check may keep between calls, e.g. what each
    /// node looked like when last checked, to skip claims that cannot have changed.
    pub fn scratch(&mut self) -> &mut Vec<u64> {
        &mut self.scratch
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
    fn cursors_hand_out_each_entry_once_and_start_over_on_a_new_boot() {
        let mut c = Cursors::default();
        assert_eq!(c.unread(2, 7, 3), 0..3);
        assert_eq!(c.unread(2, 7, 5), 3..5);
        assert_eq!(c.unread(2, 7, 5), 5..5);
        assert_eq!(c.unread(0, 1, 1), 0..1, "nodes are separate");
        assert_eq!(c.unread(2, 8, 1), 0..1, "a restart's log starts afresh");
    }

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
        let show: fn([u64; 4]) -> String = |w| format!("n{} applied the entry of term {}", w[0], w[1]);
        assert!(f.claim_witness("sms", "applied", 8, 5, [1, 2, 0, 0], show).is_ok());
        assert!(f.claim_witness("sms", "applied", 8, 5, [3, 2, 0, 0], show).is_ok(), "same print: agrees");
        let v = f.claim_witness("sms", "applied", 8, 6, [3, 4, 0, 0], show).unwrap_err();
        assert_eq!(v.detail, "n1 applied the entry of term 2; but now n3 applied the entry of term 4");
    }
}

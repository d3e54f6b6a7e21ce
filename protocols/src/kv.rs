//! The key-value state machine the replicated protocols share, with client sessions:
//! per client, the last sequence number applied and its answer, so a retried write
//! applies once and its retry gets the first answer.

use std::collections::BTreeMap;

use faultline_sim::{ClientId, Image, Op, OpKind, Outcome};
use serde::{Deserialize, Serialize};

/// What a store of this state machine serves: the key-value operations, and the
/// image store's (an image is a key holding its record; a list reads them all).
pub const OPS: &[OpKind] = &[
    OpKind::Get,
    OpKind::Put,
    OpKind::Append,
    OpKind::Cas,
    OpKind::Upload,
    OpKind::Fetch,
    OpKind::Tag,
    OpKind::Delete,
    OpKind::List,
];

/// Runs `op` on one key's value: what a get reads, a put, append or cas does.
pub fn apply(value: &mut String, op: &Op) -> Outcome {
    match op {
        Op::Get { .. } => Outcome::Value(value.clone()),
        Op::Put { value: v, .. } => {
            value.clone_from(v);
            Outcome::Done
        }
        Op::Append { value: v, .. } => {
            value.push_str(v);
            Outcome::Done
        }
        Op::Cas { from, to, .. } => {
            let ok = *value == *from;
            if ok {
                value.clone_from(to);
            }
            Outcome::Swapped(ok)
        }
        Op::Transfer { .. } | Op::Read { .. } => {
            Outcome::Rejected("this store holds keys, not bank accounts: run it with a key-value workload".into())
        }
        // An image's key holds its record's text ("" for none).
        Op::Upload { size, content, tags, .. } => {
            *value = Image::uploaded(*size, content, tags).to_string();
            Outcome::Done
        }
        Op::Fetch { .. } => Outcome::Value(value.clone()),
        Op::Tag { tag, .. } => match Image::parse(value) {
            Some(mut image) => {
                image.tags.insert(tag.clone());
                *value = image.to_string();
                Outcome::Swapped(true)
            }
            None => Outcome::Swapped(false),
        },
        Op::Delete { .. } => {
            value.clear();
            Outcome::Done
        }
        Op::List { .. } => Outcome::Rejected("a list reads every image, not one key's value".into()),
    }
}

/// Has a majority confirmed heartbeat round `round`, for a leader's read? `acked`
/// holds, per node, the highest round it acknowledged in the leader's term or
/// ballot; the leader `me` counts as confirming every round. Raft's ReadIndex and
/// Multi-Paxos's reads both ask this.
pub fn round_confirmed(acked: &[u64], me: usize, majority: usize, round: u64) -> bool {
    let others = acked.iter().enumerate().filter(|&(i, &a)| i != me && a >= round).count();
    1 + others >= majority
}

/// The images (keys holding an image's record) tagged `tag`, in name order, joined
/// by commas: what a list answers.
pub fn list_tagged<'a>(images: impl Iterator<Item = (&'a String, &'a String)>, tag: &str) -> String {
    let tagged = images.filter(|(_, record)| Image::parse(record).is_some_and(|i| i.tags.contains(tag)));
    tagged.map(|(name, _)| name.as_str()).collect::<Vec<_>>().join(",")
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Store {
    pub data: BTreeMap<String, String>,
    /// Per client: the last seq applied and its answer.
    pub sessions: BTreeMap<ClientId, (u64, Outcome)>,
    /// Operations executed (a deduplicated retry is not executed again).
    pub executed: u64,
}

impl Store {
    pub fn read(&self, key: &str) -> Outcome {
        Outcome::Value(self.data.get(key).cloned().unwrap_or_default())
    }

    /// Answers a read (a get, a fetch, a list) from the map, changing nothing.
    pub fn query(&self, op: &Op) -> Outcome {
        match op {
            Op::List { tag } => Outcome::Value(list_tagged(self.data.iter(), tag)),
            op => self.read(op.key()),
        }
    }

    /// Runs `op` on the map, with no session bookkeeping.
    pub fn execute(&mut self, op: &Op) -> Outcome {
        self.executed += 1;
        let key = op.key();
        // Keys are few and written often: look them up before allocating one, and
        // never store a key that a read or a failed cas only looked at.
        let value = match (self.data.get_mut(key), op) {
            (_, Op::List { tag }) => return Outcome::Value(list_tagged(self.data.iter(), tag)),
            (Some(v), _) => v,
            (None, Op::Get { .. } | Op::Fetch { .. }) => return Outcome::Value(String::new()),
            (None, Op::Tag { .. }) => return Outcome::Swapped(false),
            (None, Op::Delete { .. }) => return Outcome::Done,
            (None, Op::Cas { from, .. }) if !from.is_empty() => return Outcome::Swapped(false),
            (None, op) if op.is_txn() => return apply(&mut String::new(), op),
            (None, _) => self.data.entry(key.to_string()).or_default(),
        };
        apply(value, op)
    }

    /// Applies `(client, seq, op)` once. With `dedup`, a retry of the client's last
    /// operation gets the first answer and a retry of an older one is skipped (`None`:
    /// the client has moved on). Without it, every copy applies: the zoo's bug.
    pub fn apply(&mut self, client: ClientId, seq: u64, op: &Op, dedup: bool) -> Option<Outcome> {
        if dedup && let Some((last, outcome)) = self.sessions.get(&client) {
            if seq == *last {
                return Some(outcome.clone());
            }
            if seq < *last {
                return None;
            }
        }
        let outcome = self.execute(op);
        self.sessions.insert(client, (seq, outcome.clone()));
        Some(outcome)
    }

    /// The answer already given to `(client, seq)`, if it was the client's last.
    pub fn answered(&self, client: ClientId, seq: u64) -> Option<&Outcome> {
        self.sessions.get(&client).filter(|(s, _)| *s == seq).map(|(_, o)| o)
    }

    /// A retry of an operation older than the client's latest: nobody waits for it.
    pub fn is_stale(&self, client: ClientId, seq: u64) -> bool {
        self.sessions.get(&client).is_some_and(|(s, _)| seq < *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_write_applies_once_unless_dedup_is_off() {
        let op = Op::Append { key: "k".into(), value: "x;".into() };
        let mut s = Store::default();
        assert_eq!(s.apply(1, 1, &op, true), Some(Outcome::Done));
        assert_eq!(s.apply(1, 1, &op, true), Some(Outcome::Done));
        assert_eq!(s.read("k"), Outcome::Value("x;".into()));
        assert_eq!(s.apply(1, 0, &op, true), None, "older than the last: skipped");
        s.apply(1, 1, &op, false);
        assert_eq!(s.read("k"), Outcome::Value("x;x;".into()), "no dedup: applied twice");
        assert_eq!(s.answered(1, 1), Some(&Outcome::Done));
        assert!(s.is_stale(1, 0) && !s.is_stale(1, 2));
    }
}

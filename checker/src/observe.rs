//! What a node lets a tester see, and the judge that holds every run to it.
//!
//! A protocol's private state is its own business: two implementations of Paxos
//! keep their promises in different fields. What they share is what a tester can
//! observe, the way MIT's Raft tester sees only `GetState()` and the apply channel.
//! A node reports those moments as [`Observation`]s ("I promised ballot 4.2", "I
//! voted yes on t3.1", "I decided t3.1: commit"), and the [`Judge`](crate::judge::Judge) checks them
//! against the invariants of the protocol's family, by the same names for every
//! implementation:
//!
//! - **consensus** (single-decree and multi-slot Paxos): `promise-kept`,
//!   `agreement`, `validity` ([`consensus`](crate::families::consensus));
//! - **atomic commitment** (two- and three-phase commit): `atomicity`, `validity`,
//!   `serializability` ([`commit`](crate::families::commit));
//! - **replicated log** (Raft, and any protocol that elects leaders by term and
//!   replicates a log): `election-safety`, `one-vote-per-term`, `log-matching`,
//!   `current-term-commit`, `leader-completeness`, `state-machine-safety`
//!   ([`log`](crate::families::log));
//! - **sharded store** (keys that move between nodes): `one-value-per-version`,
//!   `migration-cost` ([`store`](crate::families::store));
//! - **stream** (a job's exactly-once sink): `exactly-once`, `no-loss`,
//!   `operator-state` ([`stream`](crate::families::stream)).
//!
//! [`Observation::Term`] also tells the engine's liveness check whether a leader
//! with a majority is in place ([`Judge::leader_among`](crate::judge::Judge::leader_among)).
//!
//! The judge needs nothing but the observations, in the order they happened, each
//! with its node, the node's incarnation (which restart it is in) and the time; so
//! the same judge can follow a simulated run, a run on real sockets, or a trace read
//! back from disk.
//!
//! ```
//! use faultline_checker::judge::Judge;
//! use faultline_checker::observe::{Ballot, Observation};
//! use faultline_checker::op::NodeId;
//!
//! let mut judge = Judge::new(3);
//! let b = Ballot { round: 2, proposer: 1 };
//! let said = |judge: &mut Judge, node, obs| judge.observe(NodeId(node), 0, 0, &obs);
//! said(&mut judge, 0, Observation::Proposed { slot: 0, value: 7 }).unwrap();
//! said(&mut judge, 1, Observation::Promised { ballot: b }).unwrap();
//! // An acceptor that promised 2.1 may not accept the older ballot 1.3.
//! let v = said(&mut judge, 1, Observation::Accepted { slot: 0, ballot: Ballot { round: 1, proposer: 3 }, value: 7 })
//!     .unwrap_err();
//! assert_eq!(v.invariant, "promise-kept");
//! assert_eq!(v.detail, "n2 accepted ballot 1.3 in slot 0 after promising ballot 2.1");
//! ```

use serde::{Deserialize, Serialize};

use crate::op::{ClientId, NodeId};

/// A property of a run that failed, named so a student can look it up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The invariant's name, e.g. `agreement`.
    pub invariant: String,
    /// What happened, naming the nodes, values and times involved.
    pub detail: String,
}

/// A Paxos ballot: proposals are ordered by round, then by proposer. Shown as
/// `round.proposer`, e.g. `4.2`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    /// The round, growing with each new attempt.
    pub round: u64,
    /// Tells apart proposers that use the same round (usually the node's number).
    pub proposer: u64,
}

impl std::fmt::Display for Ballot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.round, self.proposer)
    }
}

/// A transaction's id: its client's number (from 1) in the high 32 bits and the
/// client's operation number in the low 32; `0` is the initial version of every
/// account. Shown by [`show_txn`] as `t3.12`.
pub type TxnId = u64;

/// `t3.12` for client c3's 12th operation; `initial` for 0.
pub fn show_txn(txn: TxnId) -> String {
    if txn == 0 { "initial".into() } else { format!("t{}.{}", txn >> 32, txn & 0xffff_ffff) }
}

/// What a log entry asks of the state machine, as observations name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Command {
    /// An entry that changes nothing (a new leader's first, say).
    Noop,
    /// A client's operation: client `client`'s operation number `seq`.
    Op {
        /// The client.
        client: ClientId,
        /// The client's number for the operation (1, 2, 3, ...).
        seq: u64,
    },
    /// A snapshot: everything up to the index at once.
    Snapshot,
    /// A command of the service's own, not a client's (a shard's record of a
    /// transaction, say).
    Internal,
}

impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Noop => f.write_str("a no-op"),
            Command::Op { client, seq } => write!(f, "operation #{seq} of c{}", client + 1),
            Command::Snapshot => f.write_str("a snapshot"),
            Command::Internal => f.write_str("a command of the service's own"),
        }
    }
}

/// Something a node did that a tester may see. Values are given as fingerprints
/// (any hash that two nodes compute alike for the same value), so observations stay
/// small whatever a protocol's values are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "kebab-case")]
pub enum Observation {
    /// Consensus: a proposer put `value` forward in `slot` (0 for single-decree).
    Proposed {
        /// The slot (log position); 0 for single-decree Paxos.
        slot: u64,
        /// The value's fingerprint.
        value: u64,
    },
    /// Consensus: an acceptor promised to accept nothing below `ballot`.
    Promised {
        /// The ballot promised.
        ballot: Ballot,
    },
    /// Consensus: an acceptor accepted `value` in `slot` with `ballot`.
    Accepted {
        /// The slot.
        slot: u64,
        /// The ballot of the proposal accepted.
        ballot: Ballot,
        /// The value's fingerprint.
        value: u64,
    },
    /// Consensus: a node learned that `value` was chosen in `slot`.
    Learned {
        /// The slot.
        slot: u64,
        /// The value's fingerprint.
        value: u64,
    },
    /// Atomic commitment: a participant voted on `txn`.
    Voted {
        /// The transaction.
        txn: TxnId,
        /// Yes (prepared, ready to commit) or no.
        yes: bool,
    },
    /// Atomic commitment: a node learned or made the outcome of `txn` and acted on it.
    Decided {
        /// The transaction.
        txn: TxnId,
        /// Commit (true) or abort.
        commit: bool,
        /// The participants whose yes votes a commit needs (empty if the node does
        /// not know them).
        #[serde(with = "names")]
        participants: Vec<NodeId>,
        /// On a commit, `(account, version)` the node's piece read: the version is
        /// the transaction that wrote what was read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        reads: Vec<(String, TxnId)>,
        /// On a commit, `(account, version)` the node's piece overwrote.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        writes: Vec<(String, TxnId)>,
    },
    /// Leadership (MIT's `GetState()`): the node's current term (or ballot, or epoch:
    /// any number that grows with each new leader) is `term`, and it does or does not
    /// lead in it. Reported when either changes, and when the node starts.
    Term {
        /// The current term.
        term: u64,
        /// Whether the node leads in `term`.
        leader: bool,
    },
    /// Replicated log: the node granted its vote in `term` to `candidate` (itself, if
    /// it stands).
    VotedFor {
        /// The term of the election.
        term: u64,
        /// Who got the vote.
        #[serde(with = "name")]
        candidate: NodeId,
    },
    /// Replicated log: the node's log now ends at `index` (anything after it is gone),
    /// with an entry of `term` there that asks for `command`; `digest` fingerprints
    /// the whole log up to it (equal digests, equal logs). Reported for each entry a
    /// node appends, in order; at start, for the last entry it recovered (index 0,
    /// term 0, digest 0 for an empty log); and for a snapshot that replaces its log.
    Holds {
        /// The index of the last entry.
        index: u64,
        /// The entry's term.
        term: u64,
        /// The fingerprint of the log up to and including it.
        digest: u64,
        /// What the entry asks for.
        command: Command,
    },
    /// Replicated log: a leader marked `index` committed because a majority holds it
    /// (followers, which learn commits from the leader, do not report this).
    Committed {
        /// The new commit index.
        index: u64,
    },
    /// Replicated log (MIT's apply channel): the node applied the entry at `index`
    /// (of `term`, asking for `command`) to its state machine; `digest` fingerprints
    /// the log up to it.
    Applied {
        /// The index applied.
        index: u64,
        /// The entry's term.
        term: u64,
        /// The fingerprint of the log up to and including it.
        digest: u64,
        /// What the entry asked for.
        command: Command,
    },
    /// Store: the node holds `key` at `version` (one more per write), with a value
    /// whose fingerprint is `value`. Reported when a copy of a key comes to be on the
    /// node (created, or taken over from another node) and after each write to it.
    Stores {
        /// The key.
        key: String,
        /// The key's version: 0 when created, one more per write.
        version: u64,
        /// The value's fingerprint.
        value: u64,
    },
    /// Store: in view `view` of the membership (its `members`), the node places key
    /// number `i` on `owners[i]`. Reported when the node acts on a new view; the
    /// family judges what each change of view moved (`migration-cost`).
    Owners {
        /// The view's number (one more per membership change).
        view: u64,
        /// The view's members.
        #[serde(with = "names")]
        members: Vec<NodeId>,
        /// Each key's owner, by key number.
        #[serde(with = "names")]
        owners: Vec<NodeId>,
    },
    /// Stream: the external store made record `seq` of source partition `partition`
    /// visible at `position` of that partition's output (records are numbered 1, 2,
    /// 3, ... in the order the source emitted them; positions from 0), with key `key`
    /// and `count`, the partition's operator's running count of records of `key`,
    /// this one included. Reported when a committed transaction makes the record
    /// visible; a store that restarts between showing a record and making that
    /// durable shows it again at the same position, which is the same output.
    Output {
        /// The source partition.
        partition: u64,
        /// Where in the partition's output it stands, from 0.
        position: u64,
        /// The record's number in its partition.
        seq: u64,
        /// The record's key.
        key: u64,
        /// The operator's count of records of `key` so far, this one included.
        count: u64,
    },
}

impl std::fmt::Display for Observation {
    /// A short phrase, as the viewer labels the moment: "voted yes on t3.1".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Observation::Proposed { slot, value } => write!(f, "proposed {value:016x} in slot {slot}"),
            Observation::Promised { ballot } => write!(f, "promised ballot {ballot}"),
            Observation::Accepted { slot, ballot, value } => {
                write!(f, "accepted {value:016x} in slot {slot}, ballot {ballot}")
            }
            Observation::Learned { slot, value } => write!(f, "learned {value:016x} in slot {slot}"),
            Observation::Voted { txn, yes } => {
                write!(f, "voted {} on {}", if *yes { "yes" } else { "no" }, show_txn(*txn))
            }
            Observation::Decided { txn, commit, .. } => {
                write!(f, "decided {} {}", if *commit { "commit" } else { "abort" }, show_txn(*txn))
            }
            Observation::Term { term, leader: true } => write!(f, "leads term {term}"),
            Observation::Term { term, leader: false } => write!(f, "in term {term}, not leading"),
            Observation::VotedFor { term, candidate } => write!(f, "voted for {candidate} in term {term}"),
            Observation::Holds { index, term, command, .. } => {
                write!(f, "log ends at {index} ({command}, term {term})")
            }
            Observation::Committed { index } => write!(f, "committed up to {index}"),
            Observation::Applied { index, term, command, .. } => write!(f, "applied {index} ({command}, term {term})"),
            Observation::Stores { key, version, .. } => write!(f, "holds {key} at version {version}"),
            Observation::Owners { view, members, owners } => {
                write!(f, "view {view}: {} members, {} keys", members.len(), owners.len())
            }
            Observation::Output { partition, position, seq, key, count } => {
                write!(f, "output p{partition}#{seq} at {position} (key {key}, count {count})")
            }
        }
    }
}

/// A node id as the trace names it, `"n3"`.
mod name {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::op::NodeId;

    pub fn serialize<S: Serializer>(node: &NodeId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(node)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NodeId, D::Error> {
        let name = String::deserialize(d)?;
        NodeId::parse(&name).ok_or_else(|| D::Error::custom(format!("`{name}` is not a node (n1, n2, ...)")))
    }
}

/// Node ids as the trace names them, `["n1", "n3"]`.
mod names {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    use crate::op::NodeId;

    pub fn serialize<S: Serializer>(nodes: &[NodeId], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(nodes.iter().map(|n| n.to_string()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<NodeId>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| {
                NodeId::parse(name).ok_or_else(|| D::Error::custom(format!("`{name}` is not a node (n1, n2, ...)")))
            })
            .collect()
    }
}

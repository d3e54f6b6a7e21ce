//! What clients ask for: the operations of a key-value store and of a bank, as a
//! history records them and a checker judges them.

use serde::{Deserialize, Serialize};

/// A node's index in the cluster: `n1` is `NodeId(0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub usize);

impl NodeId {
    /// The node a name such as `"n3"` names (`NodeId(2)`), as [`NodeId`]'s
    /// `Display` writes it; `None` for anything else (`"n0"`, `"n03"`, `"c1"`).
    pub fn parse(name: &str) -> Option<NodeId> {
        name.strip_prefix('n')
            .filter(|n| !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .map(NodeId)
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{}", self.0 + 1)
    }
}

/// A client's index (the history's `process`; the trace calls client 0 `c1`).
pub type ClientId = usize;

/// A key-value operation a client asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum Op {
    /// Read a key.
    Get {
        /// The key.
        key: String,
    },
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: String,
    },
    /// Append to a key's value.
    Append {
        /// The key.
        key: String,
        /// What to append.
        value: String,
    },
    /// Compare-and-set: set `key` to `to` if it holds `from`.
    Cas {
        /// The key.
        key: String,
        /// The value it must hold.
        from: String,
        /// The value to set.
        to: String,
    },
    /// A bank transaction: move `amount` from account `from` to account `to`, or
    /// change nothing if `from` holds less.
    Transfer {
        /// The account paid from.
        from: String,
        /// The account paid to.
        to: String,
        /// How much.
        amount: u64,
    },
    /// A bank transaction that reads every account in `keys` at one moment; the
    /// answer is `"a1=100 a2=95 ..."`.
    Read {
        /// The accounts to read.
        keys: Vec<String>,
    },
}

impl Op {
    /// Roughly how many bytes the operation holds: what a message carrying it costs.
    pub fn weight_bytes(&self) -> usize {
        let text = match self {
            Op::Get { key } => key.len(),
            Op::Put { key, value } | Op::Append { key, value } => key.len() + value.len(),
            Op::Cas { key, from, to } => key.len() + from.len() + to.len(),
            Op::Transfer { from, to, .. } => from.len() + to.len(),
            Op::Read { keys } => keys.iter().map(|k| k.len() + std::mem::size_of::<String>()).sum(),
        };
        std::mem::size_of::<Op>() + text
    }

    /// The key it is about (a transfer's paying account, a read's first).
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Append { key, .. } | Op::Cas { key, .. } => key,
            Op::Transfer { from, .. } => from,
            Op::Read { keys } => keys.first().map_or("", |k| k.as_str()),
        }
    }
    /// Has no effect: a failed or unanswered one changed nothing.
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Get { .. } | Op::Read { .. })
    }
    /// A bank transaction over several accounts, not a key-value operation.
    pub fn is_txn(&self) -> bool {
        matches!(self, Op::Transfer { .. } | Op::Read { .. })
    }
    /// Its name: get, put, append, cas, transfer or read.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Its kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Get { .. } => OpKind::Get,
            Op::Put { .. } => OpKind::Put,
            Op::Append { .. } => OpKind::Append,
            Op::Cas { .. } => OpKind::Cas,
            Op::Transfer { .. } => OpKind::Transfer,
            Op::Read { .. } => OpKind::Read,
        }
    }
}

/// Which operation an [`Op`] is, without its arguments: what a protocol declares it
/// serves (faultline-sim's `Protocol::OPS`) and what a workload's `mix` weighs. The scenario file's
/// words are "get", "put", "append", "cas", "transfer" and "read".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    /// A read.
    Get,
    /// A put.
    Put,
    /// An append.
    Append,
    /// A compare-and-set.
    Cas,
    /// A bank transfer.
    Transfer,
    /// A bank read of many accounts.
    Read,
}

impl OpKind {
    /// Every kind, in the order a workload's mix weighs them.
    pub const ALL: [OpKind; 6] =
        [OpKind::Get, OpKind::Put, OpKind::Append, OpKind::Cas, OpKind::Transfer, OpKind::Read];
    /// What a key-value store serves.
    pub const KV: &'static [OpKind] = &[OpKind::Get, OpKind::Put, OpKind::Append, OpKind::Cas];
    /// What a bank of accounts serves.
    pub const BANK: &'static [OpKind] = &[OpKind::Transfer, OpKind::Read];

    /// Its word in a scenario file and a history: "get", "put", ...
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Append => "append",
            OpKind::Cas => "cas",
            OpKind::Transfer => "transfer",
            OpKind::Read => "read",
        }
    }
}

impl std::fmt::Display for OpKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An operation as a student reads it: `put k1 = "x"`, `cas k2 from "a" to "b"`.
impl std::fmt::Display for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Get { key } => write!(f, "get {key}"),
            Op::Put { key, value } => write!(f, "put {key} = {value:?}"),
            Op::Append { key, value } => write!(f, "append {value:?} to {key}"),
            Op::Cas { key, from, to } => write!(f, "cas {key} from {from:?} to {to:?}"),
            Op::Transfer { from, to, amount } => write!(f, "transfer {amount} from {from} to {to}"),
            Op::Read { keys } => write!(f, "read {}", keys.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_read_back() {
        for i in [0, 1, 9, 41] {
            assert_eq!(NodeId::parse(&NodeId(i).to_string()), Some(NodeId(i)));
        }
        for bad in ["n0", "n03", "c1", "n", "n-1", "n+1", "", "1"] {
            assert_eq!(NodeId::parse(bad), None, "{bad}");
        }
    }
}

//! What clients ask for: the operations of a key-value store, of a bank and of an
//! image store, as a history records them and a checker judges them.

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
    /// Image store: store image `name`, `size` bytes whose content `content` names
    /// (a client's tag such as `"2.7"`: the bytes are a function of it), with `tags`.
    /// Replaces an image of that name.
    Upload {
        /// The image's name.
        name: String,
        /// Its size in bytes.
        size: u64,
        /// What its bytes are (see [`Image::checksum_of`]).
        content: String,
        /// Its tags.
        tags: Vec<String>,
    },
    /// Image store: the image's record ([`Image`]'s text: size, checksum, tags), or
    /// `""` if there is no image of that name.
    Fetch {
        /// The image's name.
        name: String,
    },
    /// Image store: add `tag` to image `name`. Swapped (true) if the image exists,
    /// not swapped (false, nothing changed) if it does not.
    Tag {
        /// The image's name.
        name: String,
        /// The tag to add.
        tag: String,
    },
    /// Image store: remove image `name` (its bytes and its metadata), if there is one.
    Delete {
        /// The image's name.
        name: String,
    },
    /// Image store: the names of the images tagged `tag`, in name order, joined by
    /// commas.
    List {
        /// The tag.
        tag: String,
    },
}

/// An image as the image store answers a fetch: its size, the checksum of its bytes
/// and its tags. Written `size=1024 sum=0a1b2c3d tags=cat,red` (tags in order).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Image {
    /// Bytes.
    pub size: u64,
    /// The checksum of its bytes ([`Image::checksum_of`]).
    pub checksum: u32,
    /// Its tags, in order, each once.
    pub tags: std::collections::BTreeSet<String>,
}

impl Image {
    /// The image an upload of `size` bytes of `content` with `tags` stores.
    pub fn uploaded(size: u64, content: &str, tags: &[String]) -> Image {
        Image { size, checksum: Image::checksum_of(content, size), tags: tags.iter().cloned().collect() }
    }

    /// The checksum of the `size` bytes an upload of `content` carries: FNV-1a over
    /// the content's name and the size, folded to 32 bits (pinned: histories hold it).
    pub fn checksum_of(content: &str, size: u64) -> u32 {
        let mut h = crate::fnv::Fnv64::default();
        h.update(content.as_bytes());
        h.update(&size.to_le_bytes());
        let h = h.finish();
        (h ^ (h >> 32)) as u32
    }

    /// Reads an image's text back (`None` for anything [`Image`]'s `Display` does not write).
    pub fn parse(text: &str) -> Option<Image> {
        let mut parts = text.split(' ');
        let size = parts.next()?.strip_prefix("size=")?.parse().ok()?;
        let sum = parts.next()?.strip_prefix("sum=")?;
        let checksum = u32::from_str_radix(sum, 16).ok().filter(|_| sum.len() == 8)?;
        let tags = parts.next()?.strip_prefix("tags=")?;
        let tags = tags.split(',').filter(|t| !t.is_empty()).map(String::from).collect();
        let image = Image { size, checksum, tags };
        (parts.next().is_none() && image.to_string() == text).then_some(image)
    }
}

impl std::fmt::Display for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "size={} sum={:08x} tags=", self.size, self.checksum)?;
        for (i, t) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(t)?;
        }
        Ok(())
    }
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
            // The bytes are a function of `content`: the simulation never holds them.
            Op::Upload { name, content, tags, .. } => {
                name.len() + content.len() + tags.iter().map(|t| t.len() + std::mem::size_of::<String>()).sum::<usize>()
            }
            Op::Fetch { name } | Op::Delete { name } => name.len(),
            Op::Tag { name, tag } => name.len() + tag.len(),
            Op::List { tag } => tag.len(),
        };
        std::mem::size_of::<Op>() + text
    }

    /// The key it is about (a transfer's paying account, a read's first).
    pub fn key(&self) -> &str {
        match self {
            Op::Get { key } | Op::Put { key, .. } | Op::Append { key, .. } | Op::Cas { key, .. } => key,
            Op::Transfer { from, .. } => from,
            Op::Read { keys } => keys.first().map_or("", |k| k.as_str()),
            Op::Upload { name, .. } | Op::Fetch { name } | Op::Tag { name, .. } | Op::Delete { name } => name,
            Op::List { tag } => tag,
        }
    }
    /// Has no effect: a failed or unanswered one changed nothing.
    pub fn is_read(&self) -> bool {
        matches!(self, Op::Get { .. } | Op::Read { .. } | Op::Fetch { .. } | Op::List { .. })
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
            Op::Upload { .. } => OpKind::Upload,
            Op::Fetch { .. } => OpKind::Fetch,
            Op::Tag { .. } => OpKind::Tag,
            Op::Delete { .. } => OpKind::Delete,
            Op::List { .. } => OpKind::List,
        }
    }
}

/// Which operation an [`Op`] is, without its arguments: what a protocol declares it
/// serves (faultline-sim's `Protocol::OPS`) and what a workload's `mix` weighs. The scenario file's
/// words are "get", "put", "append", "cas", "transfer", "read", "upload", "fetch",
/// "tag", "delete" and "list".
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
    /// An image upload.
    Upload,
    /// An image fetch (an image store's get).
    Fetch,
    /// Tagging an image.
    Tag,
    /// Deleting an image.
    Delete,
    /// Listing the images with a tag.
    List,
}

impl OpKind {
    /// Every kind, in the order a workload's mix weighs them.
    pub const ALL: [OpKind; 11] = [
        OpKind::Get,
        OpKind::Put,
        OpKind::Append,
        OpKind::Cas,
        OpKind::Transfer,
        OpKind::Read,
        OpKind::Upload,
        OpKind::Fetch,
        OpKind::Tag,
        OpKind::Delete,
        OpKind::List,
    ];
    /// What a key-value store serves.
    pub const KV: &'static [OpKind] = &[OpKind::Get, OpKind::Put, OpKind::Append, OpKind::Cas];
    /// What a bank of accounts serves.
    pub const BANK: &'static [OpKind] = &[OpKind::Transfer, OpKind::Read];
    /// What an image store serves.
    pub const IMAGES: &'static [OpKind] = &[OpKind::Upload, OpKind::Fetch, OpKind::Tag, OpKind::Delete, OpKind::List];

    /// Its word in a scenario file and a history: "get", "put", ...
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Append => "append",
            OpKind::Cas => "cas",
            OpKind::Transfer => "transfer",
            OpKind::Read => "read",
            OpKind::Upload => "upload",
            OpKind::Fetch => "fetch",
            OpKind::Tag => "tag",
            OpKind::Delete => "delete",
            OpKind::List => "list",
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
            Op::Upload { name, size, content, tags } => {
                write!(f, "upload {name} ({size} bytes of {content:?}, tags [{}])", tags.join(", "))
            }
            Op::Fetch { name } => write!(f, "fetch {name}"),
            Op::Tag { name, tag } => write!(f, "tag {name} with {tag:?}"),
            Op::Delete { name } => write!(f, "delete {name}"),
            Op::List { tag } => write!(f, "list {tag:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_reads_back_and_its_checksum_is_pinned() {
        let image = Image::uploaded(4096, "2.7", &["red".into(), "cat".into(), "red".into()]);
        assert_eq!(image.to_string(), format!("size=4096 sum={:08x} tags=cat,red", image.checksum));
        assert_eq!(Image::parse(&image.to_string()), Some(image.clone()));
        // Pinned: histories and traces hold it.
        assert_eq!(Image::checksum_of("2.7", 4096), 0x3390_1aa6);
        assert_ne!(Image::checksum_of("2.7", 4097), image.checksum, "the size is in the checksum");
        for bad in ["", "size=1", "size=1 sum=zz tags=", "size=1 sum=0000000a tags=b,a", "size=01 sum=0000000a tags="] {
            assert_eq!(Image::parse(bad), None, "{bad}");
        }
    }

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

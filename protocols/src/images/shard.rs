//! One shard's state machine, replicated by its group's Raft log: the images whose
//! metadata it holds, the chunks of bytes it holds, and its part in each
//! transaction (as participant, and as coordinator of the uploads and deletes of
//! the images whose metadata it holds).
//!
//! Everything here changes only as log entries apply, so every server of the group
//! holds the same, and a new leader knows every transaction under way.

use std::collections::{BTreeMap, BTreeSet};

use faultline_sim::{ClientId, Image, Op, Outcome, Request};
use serde::{Deserialize, Serialize};

use super::{CHUNK_BYTES, Layout, QUOTA_BYTES, Variant};
use crate::commit::txn_id;
use crate::raft::Machine;

/// A transaction: an upload or a delete, named by the client request that asked.
pub type TxnId = u64;

/// An image's metadata, on the shard that owns its name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Meta {
    pub size: u64,
    /// The checksum of the whole image's bytes.
    pub checksum: u32,
    pub tags: BTreeSet<String>,
    /// What the bytes are (the upload's content): names the chunks.
    pub content: String,
}

impl Meta {
    /// What a fetch answers.
    pub fn record(&self) -> String {
        Image { size: self.size, checksum: self.checksum, tags: self.tags.clone() }.to_string()
    }

    /// The chunks its bytes are cut into: `(id, bytes, checksum)`.
    pub fn chunks(&self, name: &str) -> impl Iterator<Item = (String, Chunk)> + '_ {
        let count = self.size.div_ceil(CHUNK_BYTES).max(1);
        let name = name.to_string();
        (0..count).map(move |k| {
            let bytes = (self.size - k * CHUNK_BYTES).min(CHUNK_BYTES);
            let id = format!("{name}@{}#{k}", self.content);
            let checksum = Image::checksum_of(&id, bytes);
            (id, Chunk { bytes, checksum })
        })
    }
}

/// A chunk of an image's bytes, on the shard its id is placed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Chunk {
    pub bytes: u64,
    pub checksum: u32,
}

/// One change a transaction makes on one shard (`None` removes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Write {
    Meta(String, Option<Meta>),
    Chunk(String, Option<Chunk>),
}

impl Write {
    /// What it locks while prepared.
    fn key(&self) -> String {
        match self {
            Write::Meta(name, _) => format!("m:{name}"),
            Write::Chunk(id, _) => format!("c:{id}"),
        }
    }
}

/// Where a participant stands on a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Voted yes: its writes are locked in, waiting for the decision.
    Prepared,
    /// Voted no (its writes conflicted, or would not fit).
    Refused,
    Committed,
    Aborted,
}

/// A shard's part in a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Part {
    /// The group that coordinates it.
    pub coordinator: usize,
    pub writes: Vec<Write>,
    pub status: Status,
}

/// A transaction this shard coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Coord {
    /// The other groups' writes.
    pub pieces: BTreeMap<usize, Vec<Write>>,
    /// Every participant's vote so far, this group's own included.
    pub votes: BTreeMap<usize, bool>,
    pub decision: Option<bool>,
    /// The participants that acknowledged the decision.
    pub acked: BTreeSet<usize>,
}

/// The log's commands of the shard's own (a client's upload or delete comes as its
/// request, which starts a transaction here, at its image's metadata shard).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Own {
    /// Participant: prepare these writes for `txn`, coordinated by `coordinator`.
    Prepare { txn: TxnId, coordinator: usize, writes: Vec<Write> },
    /// Coordinator: participant `group` voted.
    Vote { txn: TxnId, group: usize, yes: bool },
    /// Participant: the decision on `txn`.
    Finish { txn: TxnId, commit: bool },
    /// Coordinator: `group` has the decision.
    Acked { txn: TxnId, group: usize },
    /// The zoo's `no-2pc`: writes applied as they come, unprepared.
    Write { writes: Vec<Write> },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which group this is, of how many, and the variant: set when the node starts.
    pub group: usize,
    pub layout: Layout,
    pub variant: Variant,
    pub metas: BTreeMap<String, Meta>,
    pub chunks: BTreeMap<String, Chunk>,
    /// Bytes of chunks held, and of chunks prepared to be written.
    pub used: u64,
    /// key -> the transaction that holds it.
    pub locks: BTreeMap<String, TxnId>,
    pub parts: BTreeMap<TxnId, Part>,
    pub coord: BTreeMap<TxnId, Coord>,
    /// Per client: its last request here and the answer (`None` while its
    /// transaction is under way).
    pub sessions: BTreeMap<ClientId, (u64, Option<Outcome>)>,
    /// The client of each transaction coordinated here, for the answer.
    pub clients: BTreeMap<TxnId, (ClientId, u64)>,
    pub executed: u64,
    /// `no-2pc`: other shards' writes to send, once, as the entry applies (not
    /// part of the replicated state: lost with the server that applied it).
    #[serde(skip)]
    pub outbox: Vec<(usize, Vec<Write>)>,
}

impl Shard {
    /// A shard of group `group` of `layout`.
    pub fn new(group: usize, layout: Layout, variant: Variant) -> Shard {
        Shard { group, layout, variant, ..Shard::default() }
    }

    /// The names (comma-free) of this shard's images tagged `tag`, in order.
    pub fn tagged(&self, tag: &str) -> Vec<String> {
        self.metas.iter().filter(|(_, m)| m.tags.contains(tag)).map(|(n, _)| n.clone()).collect()
    }

    /// Whether `writes` can be locked and would fit, for `txn`.
    fn can_prepare(&self, txn: TxnId, writes: &[Write]) -> bool {
        let free = writes.iter().all(|w| self.locks.get(&w.key()).is_none_or(|&t| t == txn));
        free && self.used.saturating_add(added(writes)) <= QUOTA_BYTES
    }

    fn lock(&mut self, txn: TxnId, writes: &[Write]) {
        for w in writes {
            self.locks.insert(w.key(), txn);
        }
        self.used = self.used.saturating_add(added(writes));
    }

    fn unlock(&mut self, txn: TxnId, writes: &[Write]) {
        for w in writes {
            if self.locks.get(&w.key()) == Some(&txn) {
                self.locks.remove(&w.key());
            }
        }
        self.used = self.used.saturating_sub(added(writes));
    }

    /// Applies writes (their bytes already counted in `used` when prepared, or
    /// counted now when not).
    fn write(&mut self, writes: &[Write], counted: bool) {
        if !counted {
            self.used = self.used.saturating_add(added(writes));
        }
        for w in writes {
            match w {
                Write::Meta(name, Some(m)) => drop(self.metas.insert(name.clone(), m.clone())),
                Write::Meta(name, None) => drop(self.metas.remove(name)),
                Write::Chunk(id, Some(c)) => drop(self.chunks.insert(id.clone(), *c)),
                Write::Chunk(id, None) => {
                    if let Some(c) = self.chunks.remove(id) {
                        self.used = self.used.saturating_sub(c.bytes);
                    }
                }
            }
        }
    }

    /// Starts `txn` for an upload or a delete of `name`: its writes split by shard,
    /// this shard's prepared at once. The answer if it is over already (nothing to
    /// do, refused, or all on this shard), `None` if other shards must vote.
    fn begin(&mut self, txn: TxnId, req: &Request) -> Option<Outcome> {
        let name = req.op.key();
        if self.locks.contains_key(&format!("m:{name}")) {
            return Some(Outcome::Rejected(format!("busy: another upload or delete of {name} is under way")));
        }
        let old = self.metas.get(name).cloned();
        let mut writes: Vec<(usize, Write)> = Vec::new();
        if let Op::Upload { size, content, tags, .. } = &req.op {
            let meta = Meta {
                size: *size,
                checksum: Image::checksum_of(content, *size),
                tags: tags.iter().cloned().collect(),
                content: content.clone(),
            };
            writes.extend(meta.chunks(name).map(|(id, c)| (self.layout.shard_of(&id), Write::Chunk(id, Some(c)))));
            writes.push((self.group, Write::Meta(name.to_string(), Some(meta))));
        } else if old.is_some() {
            writes.push((self.group, Write::Meta(name.to_string(), None)));
        } else {
            return Some(Outcome::Done); // nothing to delete
        }
        // A replaced or deleted image's chunks go (unless the new upload is the same).
        for (id, _) in old.iter().flat_map(|m| m.chunks(name)) {
            if !writes.iter().any(|(_, w)| matches!(w, Write::Chunk(x, _) if *x == id)) {
                writes.push((self.layout.shard_of(&id), Write::Chunk(id, None)));
            }
        }
        let mut pieces: BTreeMap<usize, Vec<Write>> = BTreeMap::new();
        for (g, w) in writes {
            pieces.entry(g).or_default().push(w);
        }
        let mine = pieces.remove(&self.group).unwrap_or_default();
        if self.variant == Variant::No2pc {
            self.write(&mine, false);
            self.outbox.extend(pieces);
            return Some(Outcome::Done);
        }
        if !self.can_prepare(txn, &mine) {
            return Some(Outcome::Rejected(format!("shard {} is full", self.group + 1)));
        }
        if pieces.is_empty() {
            self.write(&mine, false);
            return Some(Outcome::Done);
        }
        self.lock(txn, &mine);
        let me = self.group;
        self.parts.insert(txn, Part { coordinator: me, writes: mine, status: Status::Prepared });
        let votes = BTreeMap::from([(me, true)]);
        self.coord.insert(txn, Coord { pieces, votes, decision: None, acked: BTreeSet::new() });
        self.clients.insert(txn, (req.client, req.seq));
        None
    }

    /// The coordinator decides once every participant has voted (all yes: commit).
    /// The zoo's `majority-commit` commits once more than half have voted yes.
    fn maybe_decide(&mut self, txn: TxnId) {
        let Some(c) = self.coord.get(&txn) else { return };
        if c.decision.is_some() {
            return;
        }
        let all = c.pieces.len() + 1;
        let yes = c.votes.values().filter(|&&v| v).count();
        let decision = if self.variant == Variant::MajorityCommit && yes * 2 > all {
            true
        } else if c.votes.len() == all {
            yes == all
        } else {
            return;
        };
        self.coord.get_mut(&txn).expect("present").decision = Some(decision);
        self.finish(txn, decision);
        if let Some((client, seq)) = self.clients.get(&txn).copied() {
            let answer =
                if decision { Outcome::Done } else { Outcome::Rejected("aborted: a shard could not take it".into()) };
            if self.sessions.get(&client).is_some_and(|(s, _)| *s == seq) {
                self.sessions.insert(client, (seq, Some(answer)));
            }
        }
    }

    /// A participant learns the decision: applies or drops its writes, unlocks.
    fn finish(&mut self, txn: TxnId, commit: bool) {
        let Some(part) = self.parts.get_mut(&txn) else {
            // Never prepared here (the coordinator aborted without this shard's
            // vote): remember the outcome, so a late prepare takes nothing.
            let (coordinator, writes) = (usize::MAX, Vec::new());
            self.parts.insert(txn, Part { coordinator, writes, status: Status::Aborted });
            return;
        };
        match part.status {
            Status::Prepared => {}
            Status::Refused => return part.status = Status::Aborted, // nothing was locked
            Status::Committed | Status::Aborted => return,
        }
        let writes = part.writes.clone();
        self.unlock(txn, &writes);
        if commit {
            self.write(&writes, false);
        }
        // The outcome stays (a late prepare must find it); the writes are done with.
        let part = self.parts.get_mut(&txn).expect("present");
        part.status = if commit { Status::Committed } else { Status::Aborted };
        part.writes = Vec::new();
    }
}

/// Bytes a set of writes adds (chunks written).
fn added(writes: &[Write]) -> u64 {
    writes.iter().map(|w| if let Write::Chunk(_, Some(c)) = w { c.bytes } else { 0 }).sum()
}

impl Machine for Shard {
    type Cmd = Own;

    fn apply(&mut self, req: &Request, dedup: bool) -> Option<Outcome> {
        if dedup && let Some((last, answer)) = self.sessions.get(&req.client) {
            if req.seq == *last {
                return answer.clone();
            }
            if req.seq < *last {
                return None;
            }
        }
        self.executed += 1;
        let txn = txn_id(req.client, req.seq);
        let answer = match &req.op {
            Op::Tag { name, tag } => Some(match self.metas.get_mut(name) {
                _ if self.locks.contains_key(&format!("m:{name}")) => {
                    Outcome::Rejected(format!("busy: an upload or delete of {name} is under way"))
                }
                Some(m) => {
                    m.tags.insert(tag.clone());
                    Outcome::Swapped(true)
                }
                None => Outcome::Swapped(false),
            }),
            Op::Upload { .. } | Op::Delete { .. } => self.begin(txn, req),
            op => Some(self.query(op)),
        };
        self.sessions.insert(req.client, (req.seq, answer.clone()));
        answer
    }

    fn apply_own(&mut self, cmd: &Own) {
        match cmd {
            Own::Prepare { txn, coordinator, writes } => {
                if self.parts.contains_key(txn) {
                    return;
                }
                let status = if self.can_prepare(*txn, writes) {
                    self.lock(*txn, writes);
                    Status::Prepared
                } else {
                    Status::Refused
                };
                self.parts.insert(*txn, Part { coordinator: *coordinator, writes: writes.clone(), status });
            }
            Own::Vote { txn, group, yes } => {
                if let Some(c) = self.coord.get_mut(txn)
                    && c.decision.is_none()
                {
                    c.votes.insert(*group, *yes);
                    self.maybe_decide(*txn);
                }
            }
            Own::Finish { txn, commit } => self.finish(*txn, *commit),
            Own::Acked { txn, group } => {
                if let Some(c) = self.coord.get_mut(txn) {
                    c.acked.insert(*group);
                    // Every shard has the decision: nothing is left to send for it.
                    if c.decision.is_some() && c.pieces.keys().all(|g| c.acked.contains(g)) {
                        self.coord.remove(txn);
                        self.clients.remove(txn);
                    }
                }
            }
            Own::Write { writes } => self.write(writes, false),
        }
    }

    fn query(&self, op: &Op) -> Outcome {
        match op {
            Op::Fetch { name } => Outcome::Value(self.metas.get(name).map(Meta::record).unwrap_or_default()),
            Op::List { tag } => Outcome::Value(self.tagged(tag).join(",")),
            other => Outcome::Rejected(format!("an image store answers fetch and list, not {}", other.name())),
        }
    }

    fn answered(&self, client: ClientId, seq: u64) -> Option<&Outcome> {
        self.sessions.get(&client).filter(|(s, _)| *s == seq).and_then(|(_, a)| a.as_ref())
    }

    fn is_stale(&self, client: ClientId, seq: u64) -> bool {
        self.sessions.get(&client).is_some_and(|(s, _)| seq < *s)
    }

    fn executed(&self) -> u64 {
        self.executed
    }

    fn summary(&self) -> String {
        format!("{} images, {} chunks, {} transactions", self.metas.len(), self.chunks.len(), self.parts.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(client: ClientId, seq: u64, name: &str, size: u64) -> Request {
        Request::new(
            client,
            seq,
            Op::Upload { name: name.into(), size, content: format!("{client}.{seq}"), tags: vec![] },
        )
    }

    /// Three shards; the image's metadata shard, and a shard of it on the coordinator.
    fn coordinator_for(name: &str, variant: Variant) -> Shard {
        let layout = Layout::of(9);
        Shard::new(layout.shard_of(name), layout, variant)
    }

    #[test]
    fn an_upload_prepares_its_own_writes_and_waits_for_the_other_shards() {
        let mut s = coordinator_for("big", Variant::Correct);
        let req = upload(0, 1, "big", 8 * CHUNK_BYTES);
        assert_eq!(s.apply(&req, true), None, "other shards must vote");
        let txn = txn_id(0, 1);
        let c = s.coord.get(&txn).expect("coordinated here").clone();
        assert!(!c.pieces.is_empty() && !c.pieces.contains_key(&s.group));
        let chunks: usize = c.pieces.values().map(Vec::len).sum::<usize>()
            + s.parts[&txn].writes.iter().filter(|w| matches!(w, Write::Chunk(..))).count();
        assert_eq!(chunks, 8, "eight 1 MiB chunks");
        assert!(s.metas.is_empty(), "nothing visible before the decision");
        // A retry while it is under way starts nothing new.
        assert_eq!(s.apply(&req, true), None);
        assert_eq!(s.coord.len(), 1);
        // Every other shard says yes: committed, answered.
        let others: Vec<usize> = c.pieces.keys().copied().collect();
        for g in others {
            s.apply_own(&Own::Vote { txn, group: g, yes: true });
        }
        assert_eq!(s.coord[&txn].decision, Some(true));
        assert_eq!(s.answered(0, 1), Some(&Outcome::Done));
        assert!(s.metas.contains_key("big") && s.locks.is_empty());
    }

    #[test]
    fn one_no_aborts_the_upload_unless_the_coordinator_counts_a_majority() {
        for (variant, committed) in [(Variant::Correct, false), (Variant::MajorityCommit, true)] {
            let mut s = coordinator_for("big", variant);
            s.apply(&upload(0, 1, "big", 8 * CHUNK_BYTES), true);
            let txn = txn_id(0, 1);
            let others: Vec<usize> = s.coord[&txn].pieces.keys().copied().collect();
            assert_eq!(others.len(), 2, "the chunks spread over both other shards");
            s.apply_own(&Own::Vote { txn, group: others[0], yes: true });
            s.apply_own(&Own::Vote { txn, group: others[1], yes: false });
            assert_eq!(s.coord[&txn].decision, Some(committed), "{variant:?}");
            assert_eq!(s.metas.contains_key("big"), committed, "{variant:?}");
        }
    }

    #[test]
    fn a_shard_refuses_what_would_not_fit_and_a_late_prepare_after_an_abort_takes_nothing() {
        let layout = Layout::of(9);
        let mut s = Shard::new(0, layout, Variant::Correct);
        let chunk = |k: u64| Write::Chunk(format!("x@1.1#{k}"), Some(Chunk { bytes: CHUNK_BYTES, checksum: 0 }));
        let full: Vec<Write> = (0..QUOTA_BYTES / CHUNK_BYTES + 1).map(chunk).collect();
        s.apply_own(&Own::Prepare { txn: 7, coordinator: 1, writes: full });
        assert_eq!(s.parts[&7].status, Status::Refused);
        s.apply_own(&Own::Finish { txn: 7, commit: false });
        assert_eq!(s.parts[&7].status, Status::Aborted);
        // Aborted before its prepare arrived: the prepare is ignored.
        s.apply_own(&Own::Finish { txn: 8, commit: false });
        s.apply_own(&Own::Prepare { txn: 8, coordinator: 1, writes: vec![chunk(0)] });
        assert!(s.locks.is_empty() && s.chunks.is_empty() && s.used == 0);
    }
}

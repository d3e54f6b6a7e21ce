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

use super::{CHUNK_BYTES, Layout, QUOTA_BYTES, Variant, place};
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

    /// What places it on a shard: the image's name, or the chunk's id.
    fn placed_by(&self) -> &str {
        match self {
            Write::Meta(name, _) | Write::Chunk(name, _) => name,
        }
    }

    /// What places a lock's key (as [`Write::key`] makes it) on a shard.
    fn placed_by_key(key: &str) -> &str {
        key.split_once(':').map_or(key, |(_, placed)| placed)
    }
}

/// What a shard hands another when the ring changes: the images and chunks placed
/// on it now, and the answers the sender gave its clients (so a retry of an
/// upload it answered is not done again by the new owner).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Handoff {
    pub metas: Vec<(String, Meta)>,
    pub chunks: Vec<(String, Chunk)>,
    pub sessions: Vec<(ClientId, u64, Outcome)>,
}

impl Handoff {
    /// Images and chunks it carries.
    pub fn len(&self) -> usize {
        self.metas.len() + self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
    /// The rings so far, epoch by epoch (the controller, shard 1, logs each new one
    /// and tells the other shards): taken if it extends the list this shard has.
    Learn { epochs: Vec<Vec<usize>> },
    /// What shard `from` handed this one on entering `epoch`.
    Install { epoch: usize, from: usize, data: Handoff },
    /// Shard `to` has installed what this one handed it for `epoch`.
    Sent { epoch: usize, to: usize },
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
    /// The parts coordinated elsewhere that voted and wait for the decision (their
    /// vote is re-sent until it comes): an index of `parts`, so a leader's re-send
    /// round does not scan every transaction the shard ever took part in.
    pub voting: BTreeSet<TxnId>,
    pub coord: BTreeMap<TxnId, Coord>,
    /// Per client: its last request here and the answer (`None` while its
    /// transaction is under way).
    pub sessions: BTreeMap<ClientId, (u64, Option<Outcome>)>,
    /// The client of each transaction coordinated here, for the answer.
    pub clients: BTreeMap<TxnId, (ClientId, u64)>,
    pub executed: u64,
    /// The ring of every epoch known (the shards in it, in order); epoch 0 is
    /// every shard.
    pub epochs: Vec<Vec<usize>>,
    /// The epoch this shard is in: it serves what the epoch's ring places on it,
    /// once what it gained is installed. It moves to the next once it has handed
    /// off all it lost and installed all it gained.
    pub epoch: usize,
    /// (epoch, shard) whose hand-off to this one is installed.
    pub installed: BTreeSet<(usize, usize)>,
    /// (epoch, shard) this one has handed off to (built: taken out of its own).
    pub shipped: BTreeSet<(usize, usize)>,
    /// Hand-offs built and not yet installed by their shard, re-sent until they are.
    pub outgoing: BTreeMap<(usize, usize), Handoff>,
    /// Images and chunks handed off so far.
    pub moved: u64,
    /// Images and chunks held at each change of the ring, summed (what stayed and
    /// what was handed off, counted as the epoch's last hand-off is built): what
    /// `moved` is a share of.
    pub held: u64,
    /// Images and chunks handed off in this epoch so far.
    pub moving: u64,
    /// `no-2pc`: other shards' writes to send, once, as the entry applies (not
    /// part of the replicated state: lost with the server that applied it).
    #[serde(skip)]
    pub outbox: Vec<(usize, Vec<Write>)>,
}

impl Shard {
    /// A shard of group `group` of `layout`.
    pub fn new(group: usize, layout: Layout, variant: Variant) -> Shard {
        Shard { group, layout, variant, epochs: vec![layout.all()], ..Shard::default() }
    }

    /// The shard `key` is placed on in `epoch`.
    pub fn owner_in(&self, epoch: usize, key: &str) -> usize {
        place(&self.epochs[epoch], self.variant == Variant::ModN, key)
    }

    /// The shard `key` is placed on now.
    pub fn owner(&self, key: &str) -> usize {
        self.owner_in(self.epoch, key)
    }

    /// Whether this shard serves `key` now: placed here, and, if it came from
    /// another shard on entering this epoch, installed.
    pub fn serves(&self, key: &str) -> bool {
        if self.owner(key) != self.group {
            return false;
        }
        if self.epoch == 0 {
            return true;
        }
        let before = self.owner_in(self.epoch - 1, key);
        before == self.group || self.installed.contains(&(self.epoch, before))
    }

    /// Whether everything placed here now is here: every hand-off into this epoch installed.
    pub fn ready(&self) -> bool {
        self.epoch == 0
            || !self.epochs[self.epoch].contains(&self.group)
            || self.epochs[self.epoch - 1].iter().all(|&f| f == self.group || self.installed.contains(&(self.epoch, f)))
    }

    /// Whether this shard is done with its epoch: all it gained installed, and all
    /// it lost installed by its new shards.
    fn settled(&self) -> bool {
        let e = self.epoch;
        self.ready()
            && (e == 0
                || !self.epochs[e - 1].contains(&self.group)
                || self.epochs[e].iter().all(|&h| h == self.group || self.shipped.contains(&(e, h)))
                    && !self.outgoing.keys().any(|&(oe, _)| oe == e))
    }

    /// Moves to the next epochs known while settled, handing off what each takes
    /// away as soon as nothing holds it (a transaction under way keeps its writes
    /// until it is decided).
    fn advance(&mut self) {
        loop {
            self.ship();
            if self.settled() && self.epoch + 1 < self.epochs.len() {
                self.epoch += 1;
                self.moving = 0;
            } else {
                return;
            }
        }
    }

    /// Builds the hand-off to each shard of this epoch's ring that has not had
    /// one, if none of what it takes is locked.
    fn ship(&mut self) {
        let e = self.epoch;
        if e == 0 || !self.epochs[e - 1].contains(&self.group) {
            return;
        }
        for h in self.epochs[e].clone() {
            if h == self.group || self.shipped.contains(&(e, h)) {
                continue;
            }
            // Locked by a transaction under way: what it writes (a new chunk too)
            // is written here when it is decided, and goes with the rest.
            if self.locks.keys().any(|k| self.owner(Write::placed_by_key(k)) == h) {
                continue;
            }
            let metas: Vec<String> = self.metas.keys().filter(|n| self.owner(n) == h).cloned().collect();
            let chunks: Vec<String> = self.chunks.keys().filter(|c| self.owner(c) == h).cloned().collect();
            let mut data = Handoff::default();
            for n in metas {
                let m = self.metas.remove(&n).expect("listed");
                data.metas.push((n, m));
            }
            for id in chunks {
                let c = self.chunks.remove(&id).expect("listed");
                self.used = self.used.saturating_sub(c.bytes);
                data.chunks.push((id, c));
            }
            data.sessions = self.sessions.iter().filter_map(|(&c, (s, a))| Some((c, *s, a.clone()?))).collect();
            self.moved += data.len() as u64;
            self.moving += data.len() as u64;
            self.shipped.insert((e, h));
            self.outgoing.insert((e, h), data);
            if self.epochs[e].iter().all(|&g| g == self.group || self.shipped.contains(&(e, g))) {
                // What stayed: held here before this epoch (not what others handed in).
                let before = |k: &String| self.owner_in(e - 1, k) == self.group;
                let stayed =
                    self.metas.keys().filter(|k| before(k)).count() + self.chunks.keys().filter(|k| before(k)).count();
                self.held += self.moving + stayed as u64;
            }
        }
    }

    /// Takes what shard `from` handed this one on entering `epoch`.
    fn install(&mut self, epoch: usize, from: usize, data: &Handoff) {
        if !self.installed.insert((epoch, from)) {
            return;
        }
        for (n, m) in &data.metas {
            self.metas.insert(n.clone(), m.clone());
        }
        for (id, c) in &data.chunks {
            if let Some(old) = self.chunks.insert(id.clone(), *c) {
                self.used = self.used.saturating_sub(old.bytes);
            }
            self.used = self.used.saturating_add(c.bytes);
        }
        for (client, seq, answer) in &data.sessions {
            let newer = self.sessions.get(client).is_none_or(|(s, a)| seq > s || (seq == s && a.is_none()));
            if newer {
                self.sessions.insert(*client, (*seq, Some(answer.clone())));
            }
        }
    }

    /// Every image this shard holds or is handing off.
    pub fn every_meta(&self) -> impl Iterator<Item = (&String, &Meta)> {
        let handed = self.outgoing.values().flat_map(|h| h.metas.iter().map(|(n, m)| (n, m)));
        self.metas.iter().chain(handed)
    }

    /// Every chunk this shard holds or is handing off.
    pub fn every_chunk(&self) -> impl Iterator<Item = (&String, &Chunk)> {
        let handed = self.outgoing.values().flat_map(|h| h.chunks.iter().map(|(id, c)| (id, c)));
        self.chunks.iter().chain(handed)
    }

    /// Chunk `id`, held here or being handed off.
    pub fn chunk(&self, id: &str) -> Option<&Chunk> {
        let handed = || self.outgoing.values().flat_map(|h| &h.chunks);
        self.chunks.get(id).or_else(|| handed().find(|(c, _)| c == id).map(|(_, c)| c))
    }

    /// The names (comma-free) of this shard's images tagged `tag`, in order
    /// (those placed on it now: one it is handing off is answered by its new shard).
    pub fn tagged(&self, tag: &str) -> Vec<String> {
        self.metas
            .iter()
            .filter(|(n, m)| m.tags.contains(tag) && (self.epoch == 0 || self.owner(n) == self.group))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Whether `writes` can be locked and would fit, for `txn`.
    fn can_prepare(&self, txn: TxnId, writes: &[Write]) -> bool {
        if !writes.iter().all(|w| self.serves(w.placed_by())) {
            return false; // placed elsewhere now, or not yet handed here
        }
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
            writes.extend(meta.chunks(name).map(|(id, c)| (self.owner(&id), Write::Chunk(id, Some(c)))));
            writes.push((self.group, Write::Meta(name.to_string(), Some(meta))));
        } else if old.is_some() {
            writes.push((self.group, Write::Meta(name.to_string(), None)));
        } else {
            return Some(Outcome::Done); // nothing to delete
        }
        // A replaced or deleted image's chunks go (unless the new upload is the same).
        for (id, _) in old.iter().flat_map(|m| m.chunks(name)) {
            if !writes.iter().any(|(_, w)| matches!(w, Write::Chunk(x, _) if *x == id)) {
                writes.push((self.owner(&id), Write::Chunk(id, None)));
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
            Status::Refused => {
                part.status = Status::Aborted; // nothing was locked
                self.voting.remove(&txn);
                return;
            }
            Status::Committed | Status::Aborted => return,
        }
        self.voting.remove(&txn);
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

    /// Applies one of the shard's own commands (then [`Shard::advance`] runs).
    fn apply_cmd(&mut self, cmd: &Own) {
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
                if *coordinator != self.group {
                    self.voting.insert(*txn);
                }
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
            Own::Learn { epochs } => {
                if epochs.len() > self.epochs.len() && epochs.starts_with(&self.epochs) {
                    self.epochs = epochs.clone();
                }
            }
            Own::Install { epoch, from, data } => self.install(*epoch, *from, data),
            Own::Sent { epoch, to } => {
                self.outgoing.remove(&(*epoch, *to));
            }
        }
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
        if !matches!(req.op, Op::List { .. }) && !self.serves(req.op.key()) {
            return None; // placed elsewhere now (the client retries there), or not yet here
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
        self.advance();
        answer
    }

    fn apply_own(&mut self, cmd: &Own) {
        self.apply_cmd(cmd);
        self.advance();
    }

    fn query(&self, op: &Op) -> Outcome {
        match op {
            Op::Fetch { name } if !self.serves(name) => Outcome::Redirect(None),
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

    /// Shard 1 of three leaves the ring: what it holds goes to the others in one
    /// hand-off each, but not while an upload under way holds one of the keys; the
    /// upload is decided first and its image moves with the rest. The shard moves
    /// on only once both receivers say they installed theirs.
    #[test]
    fn a_leaving_shard_hands_off_everything_once_nothing_holds_it() {
        let layout = Layout::of(9);
        let name = (0..).map(|i| format!("i{i}")).find(|n| layout.shard_of(n) == 1).expect("a name on shard 1");
        let mut s = Shard::new(1, layout, Variant::Correct);
        let meta = |n: &str| {
            Write::Meta(
                n.to_string(),
                Some(Meta { size: 1, checksum: 0, content: String::new(), tags: Default::default() }),
            )
        };
        s.apply_own(&Own::Prepare { txn: 7, coordinator: 0, writes: vec![meta(&name)] });
        assert_eq!(s.parts[&7].status, Status::Prepared);
        s.apply_own(&Own::Learn { epochs: vec![vec![0, 1, 2], vec![0, 2]] });
        assert_eq!(s.epoch, 1);
        let to = s.owner(&name);
        assert!(!s.outgoing.contains_key(&(1, to)), "the prepared image holds its hand-off back");
        assert_eq!(s.outgoing.len(), 1, "the other shard's (empty) hand-off goes");
        assert!(!s.serves(&name), "out of the ring: it serves nothing");
        s.apply_own(&Own::Finish { txn: 7, commit: true });
        assert!(s.metas.is_empty(), "decided, and handed off with the rest");
        let handed: Vec<&String> = s.outgoing.values().flat_map(|h| h.metas.iter().map(|(n, _)| n)).collect();
        assert_eq!(handed, [&name]);
        assert!(s.outgoing.contains_key(&(1, to)));
        assert_eq!(s.outgoing.len(), 2, "one hand-off to each shard of the new ring");
        s.apply_own(&Own::Learn { epochs: vec![vec![0, 1, 2], vec![0, 2], vec![0, 1, 2]] });
        assert_eq!(s.epoch, 1, "not settled: nothing it handed off is installed yet");
        s.apply_own(&Own::Sent { epoch: 1, to: 0 });
        s.apply_own(&Own::Sent { epoch: 1, to: 2 });
        assert_eq!(s.epoch, 2, "settled, it takes the next ring");
        assert!(!s.ready(), "back in the ring, it waits for what the others hand it");
        assert_eq!((s.moved, s.held), (1, 1));
    }
}

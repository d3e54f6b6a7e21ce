//! The Raft log with a compacted prefix. Index 0 is the empty prefix; a snapshot
//! replaces entries `1..=snap_index`. Every entry carries `chain`, a fingerprint of the
//! whole log up to and including it, computed by the node that holds it: two logs
//! with the same chain at an index are identical up to it (Log Matching, checkable in
//! O(1)).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use faultline_sim::Request;
use serde::{Deserialize, Serialize};

/// A command no state machine has: the key-value store's own commands ([`Cmd::Own`]
/// never holds one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Never {}

/// What an entry asks the state machine to do: `C` is the machine's own kind of
/// command (a shard's transaction records, say), beside clients' requests.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cmd<C = Never> {
    /// A new leader's first entry: lets it commit (and serve reads) in its own term.
    Noop,
    /// Shared: an entry is copied into every Append and onto every disk.
    Client(Arc<Request>),
    /// One of the state machine's own commands.
    Own(Arc<C>),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry<C = Never> {
    pub term: u64,
    pub cmd: Cmd<C>,
    /// Fingerprint of the log up to here (recomputed by each holder).
    #[serde(default, skip_serializing_if = "faultline_sim::wire::tracing")]
    pub chain: u64,
}

impl<C: std::fmt::Debug> Entry<C> {
    pub fn new(term: u64, cmd: Cmd<C>) -> Entry<C> {
        Entry { term, cmd, chain: 0 }
    }

    /// "put k1=1.3 by c1 (term 2)" for violation messages.
    pub fn describe(&self) -> String {
        match &self.cmd {
            Cmd::Noop => format!("no-op (term {})", self.term),
            Cmd::Client(r) => {
                format!("{} {} by c{} #{} (term {})", r.op.name(), r.op.key(), r.client + 1, r.seq, self.term)
            }
            Cmd::Own(c) => format!("{c:?} (term {})", self.term),
        }
    }
}

/// A pinned hasher that takes eight bytes per step (FNV's byte-at-a-time loop was the
/// hot spot of every append): multiply-rotate per word, then an avalanche.
#[derive(Default)]
struct ChainHasher(u64);

impl ChainHasher {
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(27);
    }
}

impl Hasher for ChainHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.word(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(b) ^ (rest.len() as u64) << 56);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.word(x);
    }
    fn write_usize(&mut self, x: usize) {
        self.word(x as u64);
    }
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^ (x >> 33)
    }
}

/// The chain after `prev` with an entry of `term` and `cmd`.
pub fn chain<C: Hash>(prev: u64, term: u64, cmd: &Cmd<C>) -> u64 {
    let mut h = ChainHasher(0x6661_756c_746c_696e);
    h.word(prev);
    h.word(term);
    cmd.hash(&mut h);
    h.finish()
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Log<C = Never> {
    pub snap_index: u64,
    pub snap_term: u64,
    pub snap_chain: u64,
    entries: Vec<Entry<C>>,
}

impl<C> Default for Log<C> {
    fn default() -> Self {
        Log { snap_index: 0, snap_term: 0, snap_chain: 0, entries: Vec::new() }
    }
}

impl<C: Clone + Hash> Log<C> {
    pub fn last_index(&self) -> u64 {
        self.snap_index + self.entries.len() as u64
    }
    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snap_term, |e| e.term)
    }
    /// Entries held (not compacted).
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn get(&self, index: u64) -> Option<&Entry<C>> {
        index.checked_sub(self.snap_index + 1).and_then(|i| self.entries.get(i as usize))
    }
    /// The term at `index`: known for the snapshot's last entry and held entries.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snap_index { Some(self.snap_term) } else { self.get(index).map(|e| e.term) }
    }
    pub fn chain_at(&self, index: u64) -> Option<u64> {
        if index == self.snap_index { Some(self.snap_chain) } else { self.get(index).map(|e| e.chain) }
    }
    /// Appends at `last_index() + 1`, computing the chain; returns the new index.
    pub fn push(&mut self, mut entry: Entry<C>) -> u64 {
        entry.chain = chain(self.chain_at(self.last_index()).unwrap_or(0), entry.term, &entry.cmd);
        self.entries.push(entry);
        self.last_index()
    }
    /// Drops `index..` (index > snap_index).
    pub fn truncate_from(&mut self, index: u64) {
        self.entries.truncate(index.saturating_sub(self.snap_index + 1) as usize);
    }
    /// Up to `max` entries from `from` (> snap_index) on.
    pub fn slice(&self, from: u64, max: usize) -> Vec<Entry<C>> {
        let start = from.saturating_sub(self.snap_index + 1) as usize;
        self.entries.iter().skip(start).take(max).cloned().collect()
    }
    /// The first index holding `term` at or before `index`, walking back over held entries.
    pub fn first_of_term(&self, term: u64, index: u64) -> u64 {
        let mut i = index;
        while i > self.snap_index + 1 && self.term_at(i - 1) == Some(term) {
            i -= 1;
        }
        i
    }
    /// The last index holding `term`, if any held entry has it.
    pub fn last_of_term(&self, term: u64) -> Option<u64> {
        (self.snap_index + 1..=self.last_index()).rev().find(|&i| self.term_at(i) == Some(term))
    }
    /// Forgets `..=index` (held, index > snap_index): a snapshot now covers it.
    pub fn compact_to(&mut self, index: u64) {
        let (term, chain) = (self.term_at(index).unwrap_or(0), self.chain_at(index).unwrap_or(0));
        let drop = (index - self.snap_index) as usize;
        self.entries.drain(..drop.min(self.entries.len()));
        (self.snap_index, self.snap_term, self.snap_chain) = (index, term, chain);
    }
    /// Replaces the prefix `..=index` with a snapshot received from the leader; keeps
    /// the held entries after it if the log agrees at `index`, else drops them all.
    pub fn install(&mut self, index: u64, term: u64, chain: u64) {
        if self.term_at(index) == Some(term) && index > self.snap_index {
            self.compact_to(index);
            self.snap_chain = chain;
        } else {
            self.entries.clear();
            (self.snap_index, self.snap_term, self.snap_chain) = (index, term, chain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_of(terms: &[u64]) -> Log {
        let mut l = Log::default();
        for &t in terms {
            l.push(Entry::new(t, Cmd::Noop));
        }
        l
    }

    #[test]
    fn indexes_terms_and_chains_survive_compaction() {
        let mut l = log_of(&[1, 1, 2, 2, 2, 3]);
        assert_eq!((l.last_index(), l.last_term()), (6, 3));
        assert_eq!(l.first_of_term(2, 5), 3);
        assert_eq!(l.last_of_term(2), Some(5));
        assert_eq!(l.last_of_term(9), None);
        let c4 = l.chain_at(4).unwrap();
        l.compact_to(4);
        assert_eq!((l.snap_index, l.snap_term, l.len()), (4, 2, 2));
        assert_eq!(l.chain_at(4), Some(c4));
        assert_eq!(l.term_at(3), None);
        assert_eq!(l.slice(5, 10).len(), 2);
        l.truncate_from(6);
        assert_eq!(l.last_index(), 5);
    }

    #[test]
    fn chains_differ_when_any_earlier_entry_differs() {
        let (a, b) = (log_of(&[1, 1, 2]), log_of(&[1, 2, 2]));
        assert_eq!(a.chain_at(1), b.chain_at(1));
        assert_ne!(a.chain_at(3), b.chain_at(3));
    }

    #[test]
    fn install_keeps_an_agreeing_suffix_and_drops_a_conflicting_log() {
        let mut l = log_of(&[1, 1, 2, 2]);
        let c = l.chain_at(2).unwrap();
        l.install(2, 1, c);
        assert_eq!((l.snap_index, l.last_index()), (2, 4));
        let mut m = log_of(&[1, 1, 2, 2]);
        m.install(3, 5, 77);
        assert_eq!((m.snap_index, m.last_index(), m.snap_term), (3, 3, 5));
    }
}

//! Per-node durable storage. Writes land in a volatile buffer; `sync` makes them
//! durable; a crash throws the buffer away. A protocol that forgets to sync loses data
//! the way a real one would.
//!
//! Synced writes go to a journal first and are merged into the keyed image only when
//! someone needs the image (a restart) or the journal grows long: protocols sync on
//! almost every step, and a map insert per write was a tenth of a Raft run.

use std::collections::BTreeMap;

/// What survives a crash: the synced key-value image of one node's disk.
pub type Durable<S> = BTreeMap<String, S>;

/// Every node's disk, as a protocol's own check reads it
/// ([`crate::protocol::Cluster::synced`]).
pub trait Disks<S> {
    /// Node `node`'s disk (`None` past the cluster's end).
    fn disk(&self, node: usize) -> Option<&Disk<S>>;
}

/// Merge the journal into the image once it holds this many writes.
const JOURNAL_MAX: usize = 4096;

#[derive(Clone, Debug, Hash)]
/// One node's disk: a durable image, and the writes since the last sync, which a
/// crash loses.
pub struct Disk<S> {
    image: Durable<S>,
    journal: Vec<(String, Option<S>)>,
    pending: Vec<(String, Option<S>)>,
}

impl<S: Clone> Default for Disk<S> {
    fn default() -> Self {
        Disk { image: BTreeMap::new(), journal: Vec::new(), pending: Vec::new() }
    }
}

impl<S: Clone> Disk<S> {
    /// Writes `value` under `key` (`None` deletes it); lost on a crash until synced.
    pub fn write(&mut self, key: String, value: Option<S>) {
        self.pending.push((key, value));
    }

    /// Makes every pending write durable; returns how many there were.
    pub fn sync(&mut self) -> usize {
        let n = self.pending.len();
        self.journal.append(&mut self.pending);
        if self.journal.len() >= JOURNAL_MAX {
            self.merge();
        }
        n
    }

    /// Loses every unsynced write; returns how many were lost. What is left is the
    /// image a restart reads, merged now: a down node's disk is read by checks
    /// ([`Disk::synced`]) until it restarts.
    pub fn crash(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        self.merge();
        n
    }

    /// What `key` holds durably (what a crash now would keep), without changing the
    /// disk: the latest synced write to it, if that was not a delete.
    pub fn synced(&self, key: &str) -> Option<&S> {
        match self.journal.iter().rev().find(|(k, _)| k == key) {
            Some((_, value)) => value.as_ref(),
            None => self.image.get(key),
        }
    }

    fn merge(&mut self) {
        for (key, value) in self.journal.drain(..) {
            match value {
                Some(v) => {
                    self.image.insert(key, v);
                }
                None => {
                    self.image.remove(&key);
                }
            }
        }
    }

    /// Everything synced, in key order.
    pub fn durable(&mut self) -> &Durable<S> {
        self.merge();
        &self.image
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_loses_unsynced_writes_only() {
        let mut d: Disk<u32> = Disk::default();
        d.write("a".into(), Some(1));
        d.sync();
        d.write("b".into(), Some(2));
        d.write("a".into(), None);
        assert_eq!(d.synced("a"), Some(&1), "a synced write, before the crash");
        assert_eq!(d.crash(), 2);
        assert_eq!((d.synced("a"), d.synced("b")), (Some(&1), None));
        assert_eq!(d.durable().get("a"), Some(&1));
        assert_eq!(d.durable().get("b"), None);
    }

    #[test]
    fn the_journal_applies_in_order_across_merges() {
        let mut d: Disk<usize> = Disk::default();
        for i in 0..(2 * JOURNAL_MAX + 3) {
            d.write(format!("k{}", i % 7), Some(i));
            if i % 5 == 0 {
                d.write(format!("k{}", i % 3), None);
            }
            d.sync();
        }
        let mut model = BTreeMap::new();
        for i in 0..(2 * JOURNAL_MAX + 3) {
            model.insert(format!("k{}", i % 7), i);
            if i % 5 == 0 {
                model.remove(&format!("k{}", i % 3));
            }
        }
        for k in 0..7 {
            assert_eq!(d.synced(&format!("k{k}")), model.get(&format!("k{k}")), "k{k}, read without a merge");
        }
        assert_eq!(d.durable(), &model);
    }
}

//! Per-node durable storage. Writes land in a volatile buffer; `sync` makes them
//! durable; a crash throws the buffer away. A protocol that forgets to sync loses data
//! the way a real one would.

use std::collections::BTreeMap;

/// What survives a crash: the synced key-value image of one node's disk.
pub type Durable<S> = BTreeMap<String, S>;

#[derive(Clone, Debug)]
pub struct Disk<S> {
    synced: Durable<S>,
    pending: Vec<(String, Option<S>)>,
}

impl<S: Clone> Default for Disk<S> {
    fn default() -> Self {
        Disk { synced: BTreeMap::new(), pending: Vec::new() }
    }
}

impl<S: Clone> Disk<S> {
    pub fn write(&mut self, key: String, value: Option<S>) {
        self.pending.push((key, value));
    }

    /// Makes every pending write durable; returns how many there were.
    pub fn sync(&mut self) -> usize {
        let n = self.pending.len();
        for (key, value) in self.pending.drain(..) {
            match value {
                Some(v) => {
                    self.synced.insert(key, v);
                }
                None => {
                    self.synced.remove(&key);
                }
            }
        }
        n
    }

    /// Loses every unsynced write; returns how many were lost.
    pub fn crash(&mut self) -> usize {
        let n = self.pending.len();
        self.pending.clear();
        n
    }

    pub fn durable(&self) -> &Durable<S> {
        &self.synced
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
        assert_eq!(d.crash(), 2);
        assert_eq!(d.durable().get("a"), Some(&1));
        assert_eq!(d.durable().get("b"), None);
    }
}

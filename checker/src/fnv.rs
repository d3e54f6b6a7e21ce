//! A pinned hash for short inputs (the simulator's digests, an image's checksum).

/// FNV-1a, 64 bit: a pinned hash, the same on every machine and Rust release. Byte at
/// a time, so for short inputs (a sweep's digest), not for the trace.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    /// Hashes `bytes` into the running value.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    /// The hash of everything hashed so far.
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// So `Hash` types (a log entry, a command) can be fingerprinted with a pinned hash.
impl std::hash::Hasher for Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

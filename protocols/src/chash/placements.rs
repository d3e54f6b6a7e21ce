//! The six placements, each with its plain reference version.

use super::{Placement, mix};

/// `members[hash mod n]`: balanced, and nearly every key moves when n changes.
pub struct ModN {
    members: Vec<u32>,
}

impl ModN {
    pub fn new(members: &[u32]) -> ModN {
        ModN { members: members.to_vec() }
    }
}

impl Placement for ModN {
    fn owner(&self, key: u64) -> u32 {
        self.members[(key % self.members.len() as u64) as usize]
    }
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32> {
        let n = self.members.len() as u64;
        keys.iter().map(|&k| self.members[(k - (k / n) * n) as usize]).collect()
    }
    fn memory(&self) -> usize {
        4 * self.members.len()
    }
}

/// Karger's ring: each member hashed to `vnodes` points on a 64-bit circle; a key
/// belongs to the first point at or after its hash (wrapping around).
pub struct Ring {
    /// `(point, member)`, sorted.
    points: Vec<(u64, u32)>,
}

fn ring_point(member: u32, vnode: u32) -> u64 {
    mix(((member as u64) << 32 | vnode as u64) ^ 0x7269_6e67)
}

impl Ring {
    pub fn new(members: &[u32], vnodes: u32) -> Ring {
        let mut points: Vec<(u64, u32)> =
            members.iter().flat_map(|&m| (0..vnodes).map(move |v| (ring_point(m, v), m))).collect();
        points.sort_unstable();
        Ring { points }
    }

    /// Index of the first point at or after `key`, wrapping to 0.
    fn first_at(&self, key: u64) -> usize {
        let i = self.points.partition_point(|p| p.0 < key);
        if i == self.points.len() { 0 } else { i }
    }

    /// The reference: a linear scan for the smallest point at or after `key`.
    fn first_at_reference(&self, key: u64) -> usize {
        let after = (0..self.points.len()).filter(|&i| self.points[i].0 >= key).min_by_key(|&i| self.points[i]);
        after.or_else(|| (0..self.points.len()).min_by_key(|&i| self.points[i])).expect("a ring with points")
    }
}

impl Placement for Ring {
    fn owner(&self, key: u64) -> u32 {
        self.points[self.first_at(key)].1
    }
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32> {
        keys.iter().map(|&k| self.points[self.first_at_reference(k)].1).collect()
    }
    fn memory(&self) -> usize {
        12 * self.points.len()
    }
}

/// Jump consistent hash: bucket numbers 0..n (here, positions in the member list).
pub struct Jump {
    members: Vec<u32>,
}

fn lcg(key: u64) -> u64 {
    key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1)
}

/// The paper's loop, in exact integer arithmetic: from bucket b the key next jumps
/// to floor((b + 1) * 2^31 / r), r drawn from a linear congruential generator.
pub fn jump(mut key: u64, n: u32) -> u32 {
    let (mut b, mut j) = (0u128, 0u128);
    while j < n as u128 {
        b = j;
        key = lcg(key);
        j = ((b + 1) << 31) / ((key >> 33) + 1) as u128;
    }
    b as u32
}

/// The reference: the same jumps, found by stepping one bucket at a time.
fn jump_reference(mut key: u64, n: u32) -> u32 {
    let n = n as u128;
    let mut b = 0u128;
    loop {
        key = lcg(key);
        let r = ((key >> 33) + 1) as u128;
        let x = (b + 1) << 31;
        let mut j = b + 1;
        while j < n && (j + 1) * r <= x {
            j += 1;
        }
        if j >= n {
            return b as u32;
        }
        b = j;
    }
}

impl Jump {
    pub fn new(members: &[u32]) -> Jump {
        Jump { members: members.to_vec() }
    }
}

impl Placement for Jump {
    fn owner(&self, key: u64) -> u32 {
        self.members[jump(key, self.members.len() as u32) as usize]
    }
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32> {
        keys.iter().map(|&k| self.members[jump_reference(k, self.members.len() as u32) as usize]).collect()
    }
    fn memory(&self) -> usize {
        4 * self.members.len()
    }
}

/// Rendezvous (highest random weight): each key goes to the member with the highest
/// hash of (key, member).
pub struct Rendezvous {
    /// `(member, hash of member)`.
    members: Vec<(u32, u64)>,
}

fn weight(key: u64, member_hash: u64) -> u64 {
    mix(key ^ member_hash)
}

impl Rendezvous {
    pub fn new(members: &[u32]) -> Rendezvous {
        Rendezvous { members: members.iter().map(|&m| (m, mix(m as u64 ^ 0x0068_7277))).collect() }
    }
}

impl Placement for Rendezvous {
    fn owner(&self, key: u64) -> u32 {
        let mut best = (0u64, 0u32);
        for &(m, h) in &self.members {
            let w = (weight(key, h), m);
            if w > best {
                best = w;
            }
        }
        best.1
    }
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32> {
        keys.iter()
            .map(|&k| {
                let mut all: Vec<(u64, u32)> = self.members.iter().map(|&(m, h)| (weight(k, h), m)).collect();
                all.sort_unstable_by(|a, b| b.cmp(a));
                all[0].1
            })
            .collect()
    }
    fn memory(&self) -> usize {
        12 * self.members.len()
    }
}

/// Maglev: a lookup table of prime size M filled by the members in turns, each
/// taking the next free slot of its own permutation of 0..M.
pub struct Maglev {
    members: Vec<u32>,
    table: Vec<u32>,
}

pub fn is_prime(m: u64) -> bool {
    m >= 2 && (2..).take_while(|d| d * d <= m).all(|d| !m.is_multiple_of(d))
}

fn maglev_offset_skip(member: u32, m: u64) -> (u64, u64) {
    (mix(member as u64 ^ 0x006f_6666) % m, mix(member as u64 ^ 0x736b_6970) % (m - 1) + 1)
}

impl Maglev {
    /// `m`: the table size, a prime.
    pub fn new(members: &[u32], m: u64) -> Maglev {
        assert!(is_prime(m), "Maglev's table size must be prime");
        let mut sorted = members.to_vec();
        sorted.sort_unstable();
        let perms: Vec<(u64, u64)> = sorted.iter().map(|&b| maglev_offset_skip(b, m)).collect();
        // Per member: where its permutation is now (offset + j * skip mod M, kept
        // incrementally).
        let mut at: Vec<u64> = perms.iter().map(|p| p.0).collect();
        let mut table = vec![u32::MAX; m as usize];
        let mut filled = 0u64;
        'fill: loop {
            for i in 0..sorted.len() {
                let mut c = at[i];
                while table[c as usize] != u32::MAX {
                    c = (c + perms[i].1) % m;
                }
                table[c as usize] = i as u32;
                at[i] = (c + perms[i].1) % m;
                filled += 1;
                if filled == m {
                    break 'fill;
                }
            }
        }
        Maglev { members: sorted, table }
    }

    /// The reference: the paper's pseudo-code (its Pseudocode 1) as written, with
    /// `next[i]` counting and each permutation entry computed from scratch.
    #[allow(clippy::needless_range_loop)] // indexed as the pseudo-code is
    fn table_reference(&self) -> Vec<u32> {
        let m = self.table.len() as u64;
        let n = self.members.len();
        let permutation = |i: usize, j: u64| {
            let (offset, skip) = maglev_offset_skip(self.members[i], m);
            ((offset as u128 + j as u128 * skip as u128) % m as u128) as u64
        };
        let mut next = vec![0u64; n];
        let mut entry = vec![-1i64; m as usize];
        let mut filled = 0;
        loop {
            for i in 0..n {
                let mut c = permutation(i, next[i]);
                while entry[c as usize] >= 0 {
                    next[i] += 1;
                    c = permutation(i, next[i]);
                }
                entry[c as usize] = i as i64;
                next[i] += 1;
                filled += 1;
                if filled == m {
                    return entry.into_iter().map(|e| e as u32).collect();
                }
            }
        }
    }
}

impl Placement for Maglev {
    fn owner(&self, key: u64) -> u32 {
        self.members[self.table[(key % self.table.len() as u64) as usize] as usize]
    }
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32> {
        let table = self.table_reference();
        keys.iter().map(|&k| self.members[table[(k % table.len() as u64) as usize] as usize]).collect()
    }
    fn memory(&self) -> usize {
        4 * self.table.len() + 4 * self.members.len()
    }
}

/// Consistent hashing with bounded loads: a ring where no member takes more than
/// `ceil(c * keys / n)` keys; a key whose ring owner is full walks on to the next
/// point whose member is not. Keys are placed in the order given.
pub struct Bounded {
    ring: Ring,
    members: Vec<u32>,
    capacity: usize,
}

impl Bounded {
    pub fn new(members: &[u32], vnodes: u32, c: f64, keys: usize) -> Bounded {
        let capacity = ((c * keys as f64) / members.len() as f64).ceil().max(1.0) as usize;
        Bounded { ring: Ring::new(members, vnodes), members: members.to_vec(), capacity }
    }

    /// The load of each member, by its position in `members`.
    fn slot(&self, member: u32) -> usize {
        self.members.iter().position(|&m| m == member).expect("a member")
    }

    fn place(&self, keys: &[u64], first: impl Fn(u64) -> usize) -> Vec<u32> {
        let mut load = vec![0usize; self.members.len()];
        let slots: std::collections::BTreeMap<u32, usize> = self.members.iter().map(|&m| (m, self.slot(m))).collect();
        let points = &self.ring.points;
        keys.iter()
            .map(|&k| {
                let mut i = first(k);
                loop {
                    let m = points[i].1;
                    let s = slots[&m];
                    if load[s] < self.capacity {
                        load[s] += 1;
                        return m;
                    }
                    i = (i + 1) % points.len();
                }
            })
            .collect()
    }
}

impl Placement for Bounded {
    /// Without the key set, a single lookup is the ring's.
    fn owner(&self, key: u64) -> u32 {
        self.ring.owner(key)
    }
    fn assign(&self, keys: &[u64]) -> Vec<u32> {
        self.place(keys, |k| self.ring.first_at(k))
    }
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32> {
        self.place(keys, |k| self.ring.first_at_reference(k))
    }
    fn memory(&self) -> usize {
        self.ring.memory() + 8 * self.members.len()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ALL, Algo, key_hash};
    use faultline_sim::rng::{SimRng, Stream};

    /// Every placement agrees with its reference, over random memberships (sizes,
    /// ids, gaps) and keys.
    #[test]
    fn every_placement_agrees_with_its_reference() {
        let mut rng = SimRng::new(7, Stream::Workload);
        for round in 0..12 {
            let n = 1 + rng.below(if round < 6 { 8 } else { 60 }) as usize;
            let mut members: Vec<u32> = Vec::new();
            while members.len() < n {
                let m = rng.below(1000) as u32;
                if !members.contains(&m) {
                    members.push(m);
                }
            }
            let keys: Vec<u64> = (0..300).map(|_| key_hash(rng.next_u64())).collect();
            for algo in ALL.iter().chain(&[Algo::Ring { vnodes: 1 }, Algo::Bounded { vnodes: 3, c: 1.05 }]) {
                let p = algo.build(&members, keys.len());
                assert_eq!(p.assign(&keys), p.assign_reference(&keys), "{} over {members:?}", algo.name());
            }
        }
    }

    /// Known answers of the paper's algorithm, as ClickHouse's
    /// `jumpConsistentHash` tests pin them (tests/queries/0_stateless/
    /// 00580_consistent_hashing_functions), and two more from a Microsoft port.
    #[test]
    fn jump_gives_the_known_answers() {
        let known = [
            (1u64, 1u32, 0u32),
            (42, 57, 43),
            (256, 1024, 520),
            (3_735_883_980, 1, 0),
            (3_735_883_980, 666, 361),
            (16_045_690_984_833_335_023, 255, 237),
            (10_863_919_174_838_991, 11, 6),
            (2_016_238_256_797_177_309, 11, 3),
        ];
        for (key, n, bucket) in known {
            assert_eq!(super::jump(key, n), bucket, "jump({key}, {n})");
            assert_eq!(super::jump_reference(key, n), bucket, "the reference, ({key}, {n})");
        }
    }
}

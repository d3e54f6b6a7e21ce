//! Consistent hashing: where keys live, and how many move when the membership
//! changes. Six placement algorithms behind one trait ([`Placement`]), each with a
//! plain reference version that the tests compare it against, and the metrics that
//! `faultline hash` prints ([`metrics`]).
//!
//! | algorithm | source | lookup |
//! |---|---|---|
//! | `mod-n` | `hash(key) mod n`, as blog posts present it | O(1) |
//! | `ring` | Karger et al. 1997, with virtual nodes | O(log nv) |
//! | `jump` | Lamping & Veach 2014, "A Fast, Minimal Memory, Consistent Hash Algorithm" | O(log n) |
//! | `rendezvous` | Thaler & Ravishankar 1998, highest random weight | O(n) |
//! | `maglev` | Eisenbud et al. 2016, "Maglev" | O(1) |
//! | `bounded` | Mirrokni, Thorup & Zadimoghaddam 2018, bounded loads on a ring | O(log nv) amortised |
//!
//! Nodes are numbers (`u32`); keys are 64-bit hashes ([`key_hash`]).

pub mod metrics;
mod placements;
pub mod store;

pub use placements::{Bounded, Jump, Maglev, ModN, Rendezvous, Ring};

/// A placement of keys on the current members.
pub trait Placement {
    /// The member that owns the key with hash `key`.
    fn owner(&self, key: u64) -> u32;
    /// The owner of each key in `keys`, in order. Bounded loads depends on the whole
    /// key set (a key skips full nodes); the others place each key on its own.
    fn assign(&self, keys: &[u64]) -> Vec<u32> {
        keys.iter().map(|&k| self.owner(k)).collect()
    }
    /// The same answers, from the plain reference version (for the tests and the
    /// benchmark's baseline).
    fn assign_reference(&self, keys: &[u64]) -> Vec<u32>;
    /// Bytes of lookup state.
    fn memory(&self) -> usize;
}

/// An algorithm and its parameters, by the name `faultline hash` uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Algo {
    ModN,
    Ring { vnodes: u32 },
    Jump,
    Rendezvous,
    Maglev { table: u64 },
    Bounded { vnodes: u32, c: f64 },
}

/// Every algorithm, with the parameters the metrics use by default.
pub const ALL: &[Algo] = &[
    Algo::ModN,
    Algo::Ring { vnodes: 100 },
    Algo::Jump,
    Algo::Rendezvous,
    Algo::Maglev { table: MAGLEV_TABLE },
    Algo::Bounded { vnodes: 100, c: 1.25 },
];

impl Algo {
    pub fn name(&self) -> String {
        match self {
            Algo::ModN => "mod-n".into(),
            Algo::Ring { vnodes } => format!("ring/{vnodes}"),
            Algo::Jump => "jump".into(),
            Algo::Rendezvous => "rendezvous".into(),
            Algo::Maglev { table: MAGLEV_TABLE } => "maglev".into(),
            Algo::Maglev { table } => format!("maglev/{table}"),
            Algo::Bounded { c, .. } => format!("bounded/{c}"),
        }
    }

    /// Parses `mod-n`, `ring`, `ring/50`, `jump`, `rendezvous`, `maglev`, `bounded`,
    /// `bounded/1.1`, `maglev/655373`.
    pub fn parse(text: &str) -> Result<Algo, String> {
        let (base, arg) = text.split_once('/').map_or((text, None), |(a, b)| (a, Some(b)));
        let whole = |what: &str, range: std::ops::RangeInclusive<u64>| -> Result<Option<u64>, String> {
            arg.map(|a| match a.trim().parse::<u64>() {
                Ok(v) if range.contains(&v) => Ok(v),
                _ => Err(format!("`{text}`: {what} must be a whole number from {} to {}", range.start(), range.end())),
            })
            .transpose()
        };
        let algo = match base {
            "mod-n" | "modn" => Algo::ModN,
            "ring" => {
                let v = whole("a ring's number of virtual nodes", 1..=RING_VNODES_MAX)?.unwrap_or(100);
                Algo::Ring { vnodes: v as u32 }
            }
            "jump" => Algo::Jump,
            "rendezvous" | "hrw" => Algo::Rendezvous,
            "maglev" => {
                let m = whole("Maglev's table size", 3..=MAGLEV_TABLE_MAX)?.unwrap_or(MAGLEV_TABLE);
                if !placements::is_prime(m) {
                    return Err(format!("`{text}`: Maglev's table size must be a prime (e.g. 65537 or 655373)"));
                }
                Algo::Maglev { table: m }
            }
            "bounded" => {
                let c = match arg {
                    None => 1.25,
                    Some(a) => {
                        a.trim().parse::<f64>().map_err(|_| format!("`{a}` in `{text}` is not a load factor"))?
                    }
                };
                // Written so that NaN fails too.
                if !(c > 1.0 && c <= BOUNDED_C_MAX) {
                    return Err(format!(
                        "`{text}`: the load factor c must be more than 1 and at most {BOUNDED_C_MAX}, e.g. bounded/1.25"
                    ));
                }
                Algo::Bounded { vnodes: 100, c }
            }
            _ => {
                return Err(format!(
                    "unknown algorithm `{text}`: choose from mod-n, ring[/VNODES], jump, rendezvous, maglev, bounded[/C]"
                ));
            }
        };
        if arg.is_some() && !matches!(algo, Algo::Ring { .. } | Algo::Bounded { .. } | Algo::Maglev { .. }) {
            return Err(format!("`{text}`: only ring, maglev and bounded take a parameter"));
        }
        Ok(algo)
    }

    /// The placement over `members` (in this order: jump and mod-n number buckets by it).
    pub fn build(&self, members: &[u32], keys: usize) -> Box<dyn Placement> {
        match *self {
            Algo::ModN => Box::new(ModN::new(members)),
            Algo::Ring { vnodes } => Box::new(Ring::new(members, vnodes)),
            Algo::Jump => Box::new(Jump::new(members)),
            Algo::Rendezvous => Box::new(Rendezvous::new(members)),
            Algo::Maglev { table } => Box::new(Maglev::new(members, table)),
            Algo::Bounded { vnodes, c } => Box::new(Bounded::new(members, vnodes, c, keys)),
        }
    }

    /// The members after `victim` leaves. Jump (and mod-n) number buckets 0..n: the
    /// standard way to remove one is to give its number to the last bucket, so the
    /// last bucket's keys move too.
    pub fn without(&self, members: &[u32], victim: u32) -> Vec<u32> {
        let mut m = members.to_vec();
        if let Some(i) = m.iter().position(|&x| x == victim) {
            match self {
                Algo::Jump | Algo::ModN => drop(m.swap_remove(i)),
                _ => drop(m.remove(i)),
            }
        }
        m
    }

    /// How a lookup scales, for the metrics table.
    pub fn lookup_cost(&self) -> &'static str {
        match self {
            Algo::ModN | Algo::Maglev { .. } => "O(1)",
            Algo::Ring { .. } => "O(log nv)",
            Algo::Jump => "O(log n)",
            Algo::Rendezvous => "O(n)",
            Algo::Bounded { .. } => "O(log nv)+",
        }
    }
}

/// Maglev's default lookup-table size: the paper's example, a prime. It stays fixed
/// as members come and go (a new size would move nearly every key); the paper asks
/// for M much larger than the number of members (over 100 times).
pub const MAGLEV_TABLE: u64 = 65_537;
/// The largest Maglev table `maglev/M` may ask for (a prime; about 8 MB per table).
pub const MAGLEV_TABLE_MAX: u64 = 1_000_003;
/// The most virtual nodes per member `ring/V` may ask for.
pub const RING_VNODES_MAX: u64 = 10_000;
/// The largest load factor `bounded/C` may ask for (beyond it, no bound is felt).
pub const BOUNDED_C_MAX: f64 = 100.0;

/// SplitMix64's finalizer: a fixed, well-mixed 64-bit hash of a 64-bit number.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The hash of key number `i` (the metrics' keys are 0..K).
pub fn key_hash(i: u64) -> u64 {
    mix(i ^ 0x6b65_7973)
}

/// The hash of a key named by a string, e.g. `"k17"`.
pub fn name_hash(name: &str) -> u64 {
    let mut h = faultline_sim::trace::Fnv64::default();
    std::hash::Hasher::write(&mut h, name.as_bytes());
    mix(std::hash::Hasher::finish(&h))
}

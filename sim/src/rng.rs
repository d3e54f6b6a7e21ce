//! Random streams. One `u64` seed per run; every stream is a ChaCha8Rng keyed by that
//! seed and told apart by its ChaCha stream number, fixed per purpose. Adding a node
//! or a draw in one stream never shifts another.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::time::{PPM_ONE, Ppm};

/// The purposes that own a random stream, in their fixed order.
#[derive(Clone, Copy, Debug)]
pub enum Stream {
    /// Message latency, loss, duplication and reordering.
    Network,
    /// The nemesis' faults, and scheduled faults aimed at a random node.
    Nemesis,
    /// Clients: which operation next, on which key, with what value.
    Workload,
    /// A node's own stream ([`crate::Ctx::rng`]).
    Node(usize),
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Network => 0,
            Stream::Nemesis => 1,
            Stream::Workload => 2,
            Stream::Node(i) => 3 + i as u64,
        }
    }
}

/// The deterministic generator every part of the simulation draws from.
#[derive(Clone, Debug)]
pub struct SimRng(ChaCha8Rng);

impl SimRng {
    /// The stream `stream` of `seed`: every stream of a seed is independent.
    pub fn new(seed: u64, stream: Stream) -> SimRng {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(stream.number());
        SimRng(rng)
    }

    #[inline]
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A uniform integer in `0..n` (n > 0), without modulo bias (Lemire's method).
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0)");
        loop {
            let m = (self.next_u64() as u128) * (n as u128);
            let low = m as u64;
            if low >= n || low >= n.wrapping_neg() % n {
                return (m >> 64) as u64;
            }
        }
    }

    /// A uniform integer in `lo..=hi`.
    #[inline]
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        if hi - lo == u64::MAX {
            return self.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: Ppm) -> bool {
        p.0 > 0 && (p.0 >= PPM_ONE || self.below(PPM_ONE as u64) < p.0 as u64)
    }

    /// An exponential draw with the given mean, by inversion on a 53-bit uniform.
    /// Floats are used only inside the draw, with the pinned [`crate::fmath::ln`], not
    /// the platform's libm; the result is an integer, the same on every machine.
    pub fn exponential(&mut self, mean: u64) -> u64 {
        let u = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        let x = -crate::fmath::ln(1.0 - u) * mean as f64;
        if x >= u64::MAX as f64 { u64::MAX } else { x as u64 }
    }

    /// Picks an index with probability proportional to its weight.
    pub fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        assert!(total > 0, "weighted() with all-zero weights");
        let mut pick = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if pick < w {
                return i;
            }
            pick -= w;
        }
        unreachable!("pick below total")
    }

    /// Shuffles `items` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_and_repeatable() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = SimRng::new(7, Stream::Node(0));
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = SimRng::new(7, Stream::Node(0));
                move |_| r.next_u64()
            })
            .collect();
        let c = SimRng::new(7, Stream::Node(1)).next_u64();
        assert_eq!(a, b);
        assert_ne!(a[0], c);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = SimRng::new(1, Stream::Workload);
        let mut seen = [0u32; 5];
        for _ in 0..5_000 {
            seen[r.below(5) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }
}

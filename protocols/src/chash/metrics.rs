//! What a membership change costs and how even a placement is: the numbers
//! `faultline hash` prints.

use super::{Algo, key_hash};

/// A membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// `k` new members join.
    Add(usize),
    /// `k` members leave (or crash: for placement the same).
    Remove(usize),
}

/// The most members one `--change` may add or remove.
pub const CHANGE_MAX: usize = 100_000;

impl Change {
    pub fn parse(text: &str) -> Result<Change, String> {
        let (what, k) = text.split_once(':').map_or((text, "1"), |(a, b)| (a, b));
        let k: usize = match k.parse::<usize>() {
            Ok(k) if k <= CHANGE_MAX => k,
            _ => {
                return Err(format!(
                    "`{text}`: the count after `:` must be a whole number up to {CHANGE_MAX}, e.g. add:3"
                ));
            }
        };
        if k == 0 {
            return Err(format!("`{text}`: change at least one member"));
        }
        match what {
            "add" => Ok(Change::Add(k)),
            "remove" | "crash" => Ok(Change::Remove(k)),
            _ => Err(format!("unknown change `{text}`: add[:K], remove[:K] or crash[:K]")),
        }
    }

    pub fn name(&self) -> String {
        match self {
            Change::Add(1) => "add 1".into(),
            Change::Add(k) => format!("add {k}"),
            Change::Remove(k) => format!("remove {k}"),
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    pub algo: String,
    pub nodes: usize,
    pub keys: usize,
    pub change: String,
    /// Fraction of keys whose owner changed.
    pub moved: f64,
    /// The least any placement must move: the new members' share on an add, the
    /// leavers' share on a removal.
    pub optimum: f64,
    /// Fraction of keys that moved between two members present before and after
    /// (none need to).
    pub between_survivors: f64,
    /// Before the change: the largest member's keys over the mean, and the
    /// coefficient of variation of keys per member.
    pub max_over_mean: f64,
    pub cv: f64,
    pub lookup: &'static str,
    pub memory: usize,
    /// Keys per member before the change, by member (for the load chart).
    pub loads: Vec<usize>,
}

/// Members `0..n`; the leavers are spread evenly through the list (the middle ones,
/// not the last: the last is the easy case for jump and mod-n).
fn leavers(n: usize, k: usize) -> Vec<u32> {
    (0..k).map(|i| ((i * n) / k + n / (2 * k)) as u32).collect()
}

/// Measures `algo` on `n` members and `keys` keys before and after `change`.
pub fn measure(algo: Algo, n: usize, keys: usize, change: Change) -> Row {
    let hashes: Vec<u64> = (0..keys as u64).map(key_hash).collect();
    let before_members: Vec<u32> = (0..n as u32).collect();
    let after_members = match change {
        Change::Add(k) => (0..(n + k) as u32).collect(),
        Change::Remove(k) => {
            leavers(n, k.min(n - 1)).into_iter().fold(before_members.clone(), |m, v| algo.without(&m, v))
        }
    };
    let before = algo.build(&before_members, keys);
    let after = algo.build(&after_members, keys);
    let (a, b) = (before.assign(&hashes), after.assign(&hashes));
    let mut loads = vec![0usize; n];
    for &owner in &a {
        loads[owner as usize] += 1;
    }
    let moved = a.iter().zip(&b).filter(|(x, y)| x != y).count();
    let survivors = |m: u32| before_members.contains(&m) && after_members.contains(&m);
    let between = a.iter().zip(&b).filter(|&(x, y)| x != y && survivors(*x) && survivors(*y)).count();
    let optimum = match change {
        Change::Add(k) => k as f64 / (n + k) as f64,
        Change::Remove(_) => {
            let gone: usize = (0..n as u32).filter(|m| !after_members.contains(m)).map(|m| loads[m as usize]).sum();
            gone as f64 / keys as f64
        }
    };
    let mean = keys as f64 / n as f64;
    let max = *loads.iter().max().unwrap_or(&0) as f64;
    let var = loads.iter().map(|&l| (l as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    Row {
        algo: algo.name(),
        nodes: n,
        keys,
        change: change.name(),
        moved: moved as f64 / keys as f64,
        optimum,
        between_survivors: between as f64 / keys as f64,
        max_over_mean: max / mean,
        cv: var.sqrt() / mean,
        lookup: algo.lookup_cost(),
        memory: before.memory(),
        loads,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chash::ALL;

    #[test]
    fn mod_n_moves_almost_everything_and_the_consistent_ones_near_the_optimum() {
        let n = 10;
        let keys = 20_000;
        let add = |a: Algo| measure(a, n, keys, Change::Add(1));
        let modn = add(Algo::ModN);
        assert!((modn.moved - 10.0 / 11.0).abs() < 0.02, "mod-n moves n/(n+1): {}", modn.moved);
        for algo in [Algo::Jump, Algo::Rendezvous, Algo::Ring { vnodes: 100 }] {
            let r = add(algo);
            assert!(r.moved < 1.3 * r.optimum, "{}: moved {} vs optimum {}", r.algo, r.moved, r.optimum);
            assert_eq!(r.between_survivors, 0.0, "{}: keys never move between survivors", r.algo);
        }
    }

    #[test]
    fn a_removal_moves_exactly_the_victims_keys_for_ring_and_rendezvous() {
        for algo in [Algo::Ring { vnodes: 50 }, Algo::Rendezvous] {
            let r = measure(algo, 20, 10_000, Change::Remove(2));
            assert_eq!(r.moved, r.optimum, "{}", r.algo);
            assert_eq!(r.between_survivors, 0.0);
        }
        // Jump renumbers: the last bucket takes the leaver's number, so its keys move.
        let j = measure(Algo::Jump, 20, 10_000, Change::Remove(1));
        assert!(j.moved > 1.5 * j.optimum && j.between_survivors > 0.0, "{j:?}");
    }

    #[test]
    fn bounded_loads_keep_every_member_under_its_capacity() {
        let r = measure(Algo::Bounded { vnodes: 100, c: 1.25 }, 50, 20_000, Change::Add(1));
        assert!(r.max_over_mean <= 1.25 + 1e-9, "{}", r.max_over_mean);
        let ring = measure(Algo::Ring { vnodes: 100 }, 50, 20_000, Change::Add(1));
        assert!(ring.max_over_mean > r.max_over_mean);
    }

    #[test]
    fn every_algorithm_measures() {
        for &algo in ALL {
            let r = measure(algo, 7, 2_000, Change::Remove(1));
            assert!(r.moved >= r.optimum - 1e-12, "{}: nothing moves less than the optimum", r.algo);
            assert_eq!(r.loads.iter().sum::<usize>(), 2_000);
        }
    }
}

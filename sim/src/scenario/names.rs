//! The words a scenario file uses for its choices (`on_cut = "hold"`, `kinds =
//! ["crash-leader"]`, `expect = "fail"`), in one table per enum. The parser reads
//! them, `Display` writes them, and an unknown word gets the list and the closest
//! match from the same table, so the three can never disagree.

use super::{CutMode, Expect, KeyDist, LatencyDist, NemesisKind, SplitKind, WorkloadKind};
use crate::protocol::OpKind;

/// An enum that a scenario file names by a word.
///
/// ```
/// use faultline_sim::scenario::{Named, NemesisKind};
/// assert_eq!(NemesisKind::from_name("crash-leader"), Some(NemesisKind::CrashLeader));
/// assert_eq!(NemesisKind::CrashLeader.to_string(), "crash-leader");
/// assert_eq!(NemesisKind::from_name("crash-follower"), None);
/// ```
pub trait Named: Copy + Eq + Sized + 'static {
    /// What the file calls a value of it, for messages: "nemesis kind".
    const WHAT: &'static str;
    /// Every value with its word, in the order help text lists them.
    const NAMES: &'static [(&'static str, Self)];

    /// The value a word names.
    fn from_name(word: &str) -> Option<Self> {
        Self::NAMES.iter().find(|(n, _)| *n == word).map(|(_, v)| *v)
    }

    /// The word for this value.
    fn name(self) -> &'static str;

    /// The words, in table order.
    fn names() -> impl Iterator<Item = &'static str> {
        Self::NAMES.iter().map(|(n, _)| *n)
    }
}

/// Implements [`Named`] and a `Display` that writes the word. `name` is a match, so
/// a variant missing from the table does not compile.
macro_rules! named {
    ($ty:ident, $what:literal, [$($word:literal => $variant:ident),+ $(,)?]) => {
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl Named for $ty {
            const WHAT: &'static str = $what;
            const NAMES: &'static [(&'static str, Self)] = &[$(($word, $ty::$variant)),+];
            fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }
    };
}

named!(CutMode, "on_cut mode", ["drop" => Drop, "hold" => Hold]);
named!(SplitKind, "split", ["halves" => Halves, "majority-ring" => MajorityRing, "bridge" => Bridge]);
named!(NemesisKind, "nemesis kind", [
    "partition" => Partition,
    "crash" => Crash,
    "pause" => Pause,
    "clock" => Clock,
    "crash-leader" => CrashLeader,
    "isolate-leader" => IsolateLeader,
]);
named!(KeyDist, "key distribution", ["uniform" => Uniform, "zipf" => Zipf]);
named!(Expect, "expectation", ["pass" => Pass, "fail" => Fail]);
named!(WorkloadKind, "workload kind", ["kv" => Kv, "bank" => Bank, "images" => Images]);
// OpKind's words are its own (`OpKind::name`, in faultline-checker): the table
// is built from them rather than written again.
impl Named for OpKind {
    const WHAT: &'static str = "operation";
    const NAMES: &'static [(&'static str, Self)] = &[
        (OpKind::Get.name(), OpKind::Get),
        (OpKind::Put.name(), OpKind::Put),
        (OpKind::Append.name(), OpKind::Append),
        (OpKind::Cas.name(), OpKind::Cas),
        (OpKind::Transfer.name(), OpKind::Transfer),
        (OpKind::Read.name(), OpKind::Read),
    ];
    fn name(self) -> &'static str {
        OpKind::name(self)
    }
}
named!(LatencyDist, "latency distribution", [
    "constant" => Constant,
    "uniform" => Uniform,
    "exponential" => Exponential,
    "long-tail" => LongTail,
]);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Named + std::fmt::Debug + std::fmt::Display>() {
        for &(word, value) in T::NAMES {
            assert_eq!(T::from_name(word), Some(value), "{} {word}", T::WHAT);
            assert_eq!(value.name(), word);
            assert_eq!(value.to_string(), word);
        }
        let mut words: Vec<&str> = T::names().collect();
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), T::NAMES.len(), "{}: a word names two values", T::WHAT);
    }

    #[test]
    fn every_table_reads_back_what_it_writes() {
        round_trip::<CutMode>();
        round_trip::<SplitKind>();
        round_trip::<NemesisKind>();
        round_trip::<KeyDist>();
        round_trip::<Expect>();
        round_trip::<WorkloadKind>();
        round_trip::<LatencyDist>();
        round_trip::<OpKind>();
    }
}

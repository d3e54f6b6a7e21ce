//! A stream job's output (an exactly-once sink), judged from what the external
//! store reports as it makes records visible ([`Observation::Output`]): each record
//! at a position of its partition's output. An exactly-once output is the source
//! itself: position `k` of partition `p` holds record `p#(k+1)`.
//!
//! - `exactly-once`: no record appears in the output twice (a record at a later
//!   position than its own is a repeat).
//! - `no-loss`: no record is skipped (a record at an earlier position than its own
//!   means the records between never appeared), and nothing shown is lost: a
//!   position reported again (a store that restarted before making what it had
//!   shown durable shows it again) holds the record it held.
//! - `operator-state`: each record carries its partition's operator's running count
//!   of its key; it must be the number of records of that key in the partition's
//!   output so far, this one included. A job that restores its source's position
//!   from one checkpoint and its operator's state from another breaks it. (Counts
//!   are checked while every position of the partition was reported.)
//!
//! Records are named `p2#17`: partition 2's 17th record.

use std::collections::BTreeMap;

use crate::observe::{Observation, Violation};
use crate::time::{Time, fmt_time};

/// One partition's output as reported.
#[derive(Clone, Debug, Default)]
struct Partition {
    /// By position: the record's number and when it was first reported (a
    /// position whose report never came is missing; a map, so a node that reports
    /// a huge position costs one entry, not a vector that long).
    shown: BTreeMap<u64, (u64, Time)>,
    /// Positions in the output: one past the highest reported.
    len: u64,
    /// Records of each key in the output so far.
    per_key: BTreeMap<u64, u64>,
    /// Every position so far was reported, so the counts per key are known.
    counted: bool,
}

/// The judge's view of a stream job's output.
#[derive(Clone, Debug, Default)]
pub struct StreamOutput {
    partitions: BTreeMap<u64, Partition>,
}

fn violation(invariant: &str, detail: String) -> Result<(), Violation> {
    Err(Violation { invariant: invariant.into(), detail })
}

impl StreamOutput {
    /// Takes an observation made at `now`; an error is the first invariant it breaks.
    pub fn observe(&mut self, now: Time, obs: &Observation) -> Result<(), Violation> {
        let Observation::Output { partition, position, seq, key, count } = *obs else { return Ok(()) };
        let part =
            self.partitions.entry(partition).or_insert_with(|| Partition { counted: true, ..Default::default() });
        if let Some((was, first)) = part.shown.get(&position) {
            if *was == seq {
                return Ok(()); // the same output, reported again
            }
            return violation(
                "no-loss",
                format!(
                    "position {position} of p{partition}'s output held p{partition}#{was} (shown at {}), and at {} \
                     holds p{partition}#{seq}: the store lost what it had shown",
                    fmt_time(*first),
                    fmt_time(now)
                ),
            );
        }
        let own = seq.saturating_sub(1);
        if seq == 0 || own > position {
            let missing = if own == position + 1 {
                format!("p{partition}#{} never did", position + 1)
            } else {
                format!("p{partition}#{}..p{partition}#{own} never did", position + 1)
            };
            return violation(
                "no-loss",
                format!("record p{partition}#{seq} appeared in the output at {} but {missing}: lost", fmt_time(now)),
            );
        }
        if own < position {
            let before = match part.shown.get(&own) {
                Some((_, t)) => format!("at {}", fmt_time(*t)),
                None => "before".to_string(),
            };
            return violation(
                "exactly-once",
                format!(
                    "record p{partition}#{seq} appeared in the output twice: {before} and again at {}",
                    fmt_time(now)
                ),
            );
        }
        if position > part.len {
            part.counted = false; // reports lost in a crash: the counts are unknown
        }
        part.len = part.len.max(position + 1);
        part.shown.insert(position, (seq, now));
        let of_key = part.per_key.entry(key).or_default();
        *of_key += 1;
        if part.counted && count != *of_key {
            return violation(
                "operator-state",
                format!(
                    "record p{partition}#{seq} (key {key}) carries the operator's count {count}, but it is record \
                     {} of key {key} in the output: the operator's state and the source's position were not \
                     restored together",
                    *of_key
                ),
            );
        }
        Ok(())
    }

    /// Records in the output, per partition, for the run's summary.
    pub fn measures(&self) -> Vec<(String, String)> {
        let per: Vec<String> = self.partitions.iter().map(|(p, s)| format!("p{p} {}", s.len)).collect();
        let total: u64 = self.partitions.values().map(|s| s.len).sum();
        vec![("records output".into(), format!("{total} ({})", per.join(", ")))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Record `seq` at its own position (as an exactly-once output has it).
    fn out(partition: u64, seq: u64, key: u64, count: u64) -> Observation {
        Observation::Output { partition, position: seq - 1, seq, key, count }
    }

    fn at(partition: u64, position: u64, seq: u64, key: u64, count: u64) -> Observation {
        Observation::Output { partition, position, seq, key, count }
    }

    #[test]
    fn in_order_once_each_passes_and_is_counted() {
        let mut s = StreamOutput::default();
        for (seq, key, count) in [(1, 7, 1), (2, 8, 1), (3, 7, 2)] {
            s.observe(seq, &out(1, seq, key, count)).unwrap();
        }
        s.observe(4, &out(2, 1, 9, 1)).unwrap();
        assert_eq!(s.measures()[0].1, "4 (p1 3, p2 1)");
    }

    #[test]
    fn a_record_shown_again_breaks_exactly_once() {
        let mut s = StreamOutput::default();
        s.observe(1_000_000, &out(1, 1, 7, 1)).unwrap();
        s.observe(2_000_000, &out(1, 2, 7, 2)).unwrap();
        let v = s.observe(3_000_000, &at(1, 2, 2, 7, 3)).unwrap_err();
        assert_eq!(v.invariant, "exactly-once");
        assert!(v.detail.contains("p1#2 appeared in the output twice"), "{}", v.detail);
    }

    #[test]
    fn a_skipped_record_breaks_no_loss() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(3, 1, 7, 1)).unwrap();
        let v = s.observe(2, &at(3, 1, 4, 7, 2)).unwrap_err();
        assert_eq!(v.invariant, "no-loss");
        assert!(v.detail.contains("p3#2..p3#3 never did"), "{}", v.detail);
    }

    /// A store killed after showing a record and before making that durable shows
    /// it again, at the same position: the same output, not a repeat. The same
    /// position holding another record is a store that lost what it showed.
    #[test]
    fn a_position_reported_again_is_the_same_output_unless_it_changed() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(1, 1, 7, 1)).unwrap();
        s.observe(2, &out(1, 2, 7, 2)).unwrap();
        s.observe(3, &out(1, 2, 7, 2)).unwrap();
        s.observe(4, &out(1, 3, 8, 1)).unwrap();
        assert_eq!(s.measures()[0].1, "3 (p1 3)");
        let v = s.observe(5, &at(1, 1, 3, 8, 1)).unwrap_err();
        assert_eq!(v.invariant, "no-loss");
        assert!(v.detail.contains("lost what it had shown"), "{}", v.detail);
    }

    /// A node that reports a record far along costs one entry, not a vector that long.
    #[test]
    fn a_huge_position_is_judged_without_a_huge_allocation() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(1, 1 << 50, 7, 1)).unwrap();
        assert_eq!(s.partitions[&1].shown.len(), 1);
        assert_eq!(s.measures()[0].1, format!("{} (p1 {})", 1u64 << 50, 1u64 << 50));
    }

    /// Reports a crash lost (positions never reported) hide nothing: every record is
    /// still checked against its position, and only the counts go unchecked.
    #[test]
    fn unreported_positions_leave_order_checked_and_counts_unknown() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(2, 1, 7, 1)).unwrap();
        s.observe(2, &out(2, 4, 7, 9)).unwrap();
        let v = s.observe(3, &at(2, 4, 4, 7, 3)).unwrap_err();
        assert_eq!(v.invariant, "exactly-once");
    }

    #[test]
    fn a_count_that_disagrees_with_the_output_breaks_operator_state() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(1, 1, 7, 1)).unwrap();
        let v = s.observe(2, &out(1, 2, 7, 3)).unwrap_err();
        assert_eq!(v.invariant, "operator-state");
    }
}

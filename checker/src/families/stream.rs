//! A stream job's output (an exactly-once sink), judged from what the external
//! store reports as it makes records visible ([`Observation::Output`]):
//!
//! - `exactly-once`: no record appears in the output twice.
//! - `no-loss`: the output shows each source partition's records in the order the
//!   source emitted them, each once, with none skipped: a record that appears
//!   before an earlier record of its partition has appeared means the earlier one
//!   was lost (a store that shows records in emission order, as a Kafka consumer
//!   reading committed records does, never skips one it will show later).
//! - `operator-state`: each record carries the operator's running count of its
//!   key; it must be the number of records of that key in the output so far (this
//!   one included). A job that restores its source's position from one checkpoint
//!   and its operator's state from another breaks it.
//!
//! Records are named `p2#17`: partition 2's 17th record.

use std::collections::BTreeMap;

use crate::observe::{Observation, Violation};
use crate::time::{Time, fmt_time};

/// The judge's view of a stream job's output.
#[derive(Clone, Debug, Default)]
pub struct StreamOutput {
    /// Per partition: when each record appeared, by `seq - 1`.
    seen: BTreeMap<u64, Vec<Time>>,
    /// Records of each key in the output so far.
    per_key: BTreeMap<u64, u64>,
}

fn violation(invariant: &str, detail: String) -> Result<(), Violation> {
    Err(Violation { invariant: invariant.into(), detail })
}

impl StreamOutput {
    /// Takes an observation made at `now`; an error is the first invariant it breaks.
    pub fn observe(&mut self, now: Time, obs: &Observation) -> Result<(), Violation> {
        let Observation::Output { partition, seq, key, count } = *obs else { return Ok(()) };
        let seen = self.seen.entry(partition).or_default();
        let next = seen.len() as u64 + 1;
        if seq == 0 {
            return violation("no-loss", format!("record p{partition}#0 appeared: records are numbered from 1"));
        }
        if seq < next {
            let first = seen[(seq - 1) as usize];
            return violation(
                "exactly-once",
                format!(
                    "record p{partition}#{seq} appeared in the output twice: at {} and again at {}",
                    fmt_time(first),
                    fmt_time(now)
                ),
            );
        }
        if seq > next {
            let missing = if seq == next + 1 {
                format!("p{partition}#{next} never did")
            } else {
                format!("p{partition}#{next}..p{partition}#{} never did", seq - 1)
            };
            return violation(
                "no-loss",
                format!("record p{partition}#{seq} appeared in the output at {} but {missing}: lost", fmt_time(now)),
            );
        }
        seen.push(now);
        let of_key = self.per_key.entry(key).or_default();
        *of_key += 1;
        if count != *of_key {
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
        let per: Vec<String> = self.seen.iter().map(|(p, s)| format!("p{p} {}", s.len())).collect();
        let total: usize = self.seen.values().map(Vec::len).sum();
        vec![("records output".into(), format!("{total} ({})", per.join(", ")))]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(partition: u64, seq: u64, key: u64, count: u64) -> Observation {
        Observation::Output { partition, seq, key, count }
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
        let v = s.observe(3_000_000, &out(1, 2, 7, 3)).unwrap_err();
        assert_eq!(v.invariant, "exactly-once");
        assert!(v.detail.contains("p1#2 appeared in the output twice"), "{}", v.detail);
    }

    #[test]
    fn a_skipped_record_breaks_no_loss() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(3, 1, 7, 1)).unwrap();
        let v = s.observe(2, &out(3, 4, 7, 2)).unwrap_err();
        assert_eq!(v.invariant, "no-loss");
        assert!(v.detail.contains("p3#2..p3#3 never did"), "{}", v.detail);
    }

    #[test]
    fn a_count_that_disagrees_with_the_output_breaks_operator_state() {
        let mut s = StreamOutput::default();
        s.observe(1, &out(1, 1, 7, 1)).unwrap();
        let v = s.observe(2, &out(1, 2, 7, 3)).unwrap_err();
        assert_eq!(v.invariant, "operator-state");
    }
}

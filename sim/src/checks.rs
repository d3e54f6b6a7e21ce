//! Scenario-level checks beyond invariants and linearizability: `[[check.assert]]`
//! assertions on probes, and the liveness bound.
//!
//! A sans-IO component, like the clients and the nemesis: [`Watch`] keeps what the
//! checks follow over a run and judges what the engine measures for it (a probe's
//! value, whether a leader with a majority is in place, the client history). It
//! imports nothing from the engine.

use serde::Serialize;

use crate::history::History;
use crate::scenario::{Assertion, Scenario, When};
use crate::time::{Time, fmt_time};

/// The check a failure comes from: what a sweep counts failures by. Text is made
/// from it only for people ([`std::fmt::Display`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Check {
    /// The run stopped at [`EVENTS_PER_RUN_MAX`](crate::engine::EVENTS_PER_RUN_MAX).
    EventLimit,
    /// The run stopped at [`PENDING_EVENTS_MAX`](crate::engine::PENDING_EVENTS_MAX), its memory ceiling.
    MemoryLimit,
    /// A protocol invariant, by its name.
    Invariant(String),
    /// The client history is not linearizable.
    Linearizability,
    /// The linearizability search ran out of budget: neither pass nor fail.
    LinearizabilityUnknown,
    /// The bank workload's conserved total.
    ConservedTotal,
    /// `[check] liveness`.
    Liveness,
    /// A `[[check.assert]]`, by its label.
    Assertion(String),
    /// A `[schedule]` step could not be taken: the run did not follow its script
    /// (never a catch: see [`Check::catches`]).
    Schedule,
}

impl Check {
    /// Whether failing this check catches a bug: every check but an undecided
    /// linearizability search and a schedule that could not be followed.
    pub fn catches(&self) -> bool {
        !matches!(self, Check::LinearizabilityUnknown | Check::Schedule)
    }
}

/// A check read back from how it displays (`faultline merge` reads sweeps' JSON).
impl std::str::FromStr for Check {
    type Err = String;
    fn from_str(text: &str) -> Result<Check, String> {
        let inner = |prefix: &str, suffix: &str| text.strip_prefix(prefix)?.strip_suffix(suffix).map(str::to_string);
        Ok(match text {
            "event limit" => Check::EventLimit,
            "memory limit" => Check::MemoryLimit,
            "linearizability" => Check::Linearizability,
            "linearizability (unknown)" => Check::LinearizabilityUnknown,
            "conserved total" => Check::ConservedTotal,
            "liveness" => Check::Liveness,
            "schedule" => Check::Schedule,
            _ => match (inner("invariant `", "`"), inner("assertion (", ")")) {
                (Some(name), _) => Check::Invariant(name),
                (_, Some(label)) => Check::Assertion(label),
                _ => return Err(format!("unknown check \"{text}\"")),
            },
        })
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::EventLimit => f.write_str("event limit"),
            Check::MemoryLimit => f.write_str("memory limit"),
            Check::Invariant(name) => write!(f, "invariant `{name}`"),
            Check::Linearizability => f.write_str("linearizability"),
            Check::LinearizabilityUnknown => f.write_str("linearizability (unknown)"),
            Check::ConservedTotal => f.write_str("conserved total"),
            Check::Liveness => f.write_str("liveness"),
            Check::Assertion(label) => write!(f, "assertion ({label})"),
            Check::Schedule => f.write_str("schedule"),
        }
    }
}

/// One failed check and what a student reads about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Which check.
    pub check: Check,
    /// What failed, in a sentence.
    pub message: String,
}

/// When a check wants to look.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Look {
    /// Assertion `idx`: a window opens (`end: false`) or its instant or end comes.
    Assert { idx: usize, end: bool },
    /// Liveness: start watching for a leader (`deadline: false`), or give up.
    Liveness { deadline: bool },
}

/// What the checks follow over a run, and the failures they found.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    /// Per assertion: watching now, settled, the value at `from` (for growth).
    asserts: Vec<(bool, bool, i64)>,
    watching: usize,
    /// Liveness: the leader watch is on; a leader was seen.
    live_watch: bool,
    live_leader: bool,
    /// Assertions, liveness and conserved-total checks that failed.
    pub(crate) failures: Vec<Failure>,
}

/// When the last fault happens: the last scheduled one, or the nemesis' stop.
pub(crate) fn quiet_from(scenario: &Scenario) -> Time {
    let last = scenario.faults.iter().map(|f| f.at).max().unwrap_or(0);
    let stop = scenario.nemesis.as_ref().filter(|n| !n.kinds.is_empty()).map_or(0, |n| n.stop);
    last.max(stop)
}

impl Watch {
    /// The checks of `scenario`, and when each assertion wants to look.
    pub(crate) fn new(scenario: &Scenario) -> (Watch, Vec<(Time, Look)>) {
        let mut looks = Vec::new();
        for (idx, a) in scenario.asserts.iter().enumerate() {
            match a.when {
                When::At(at) => looks.push((at, Look::Assert { idx, end: true })),
                When::Always { from, to } | When::Growth { from, to } | When::Eventually { from, by: to } => {
                    looks.push((from, Look::Assert { idx, end: false }));
                    looks.push((to, Look::Assert { idx, end: true }));
                }
            }
        }
        let watch = Watch { asserts: vec![(false, false, 0); scenario.asserts.len()], ..Watch::default() };
        (watch, looks)
    }

    /// When the liveness watch looks. It needs a protocol that reports leadership
    /// (`leaders`); it starts at the quiet time (to be scheduled after the faults and
    /// the nemesis, so that it starts only once the last fault has happened) and
    /// gives up `liveness` later, unless that is past `end`.
    pub(crate) fn liveness_looks(scenario: &Scenario, leaders: bool, end: Time) -> Vec<(Time, Look)> {
        let mut looks = Vec::new();
        if let Some(bound) = scenario.liveness
            && leaders
        {
            let quiet = quiet_from(scenario);
            looks.push((quiet, Look::Liveness { deadline: false }));
            if quiet + bound <= end {
                looks.push((quiet + bound, Look::Liveness { deadline: true }));
            }
        }
        looks
    }

    /// Whether it must look after every event (a window or the liveness watch is open).
    #[inline]
    pub(crate) fn active(&self) -> bool {
        self.watching > 0 || self.live_watch
    }

    /// Assertion `idx` (`a`) at `now`, its probe measuring `v`: at its instant, as
    /// a window opens, while it is open, or at its end (`end`).
    pub(crate) fn assert(&mut self, idx: usize, a: &Assertion, end: bool, now: Time, v: i64) {
        let (watching, settled, start) = self.asserts[idx];
        if settled {
            return;
        }
        let (holds, holds_growth) = (a.holds(v), a.holds(v - start));
        let mut fail = None;
        match a.when {
            When::At(_) => fail = (!holds).then(|| format!("it was {v}")),
            When::Growth { .. } if !end => self.asserts[idx].2 = v,
            When::Growth { .. } => {
                let grew = v - start;
                fail = (!holds_growth).then(|| format!("it went from {start} to {v} ({grew:+})"));
            }
            When::Always { .. } => {
                if !holds {
                    fail = Some(format!("it was {v} at {}", fmt_time(now)));
                } else if !end && !watching {
                    self.asserts[idx].0 = true;
                    self.watching += 1;
                    return;
                }
            }
            When::Eventually { .. } => {
                if holds {
                    self.settle(idx);
                    return;
                }
                if !end {
                    if !watching {
                        self.asserts[idx].0 = true;
                        self.watching += 1;
                    }
                    return;
                }
                fail = Some(format!("it never did; it was {v} at the end of the window"));
            }
        }
        if end || fail.is_some() {
            self.settle(idx);
        }
        if let Some(why) = fail {
            let label = &a.label;
            let failure = Failure {
                check: Check::Assertion(label.clone()),
                message: format!("assertion failed ({label}): {why}"),
            };
            self.failures.push(failure);
        }
    }

    fn settle(&mut self, idx: usize) {
        if self.asserts[idx].0 {
            self.watching -= 1;
        }
        self.asserts[idx] = (false, true, self.asserts[idx].2);
    }

    /// After every event while [`Watch::active`]: each open window looks again
    /// (`probe` measures), and the liveness watch asks whether a leader is in place.
    pub(crate) fn step(
        &mut self,
        asserts: &[Assertion],
        now: Time,
        mut probe: impl FnMut(&str) -> i64,
        leader: impl FnOnce() -> bool,
    ) {
        for (idx, a) in asserts.iter().enumerate() {
            if self.asserts[idx].0 {
                let v = probe(&a.probe);
                self.assert(idx, a, false, now, v);
            }
        }
        if self.live_watch && leader() {
            self.live_watch = false;
            self.live_leader = true;
        }
    }

    /// The liveness watch starts (it looks at once, as after an event), or its
    /// deadline comes: no leader seen is a failure.
    pub(crate) fn liveness(
        &mut self,
        scenario: &Scenario,
        deadline: bool,
        now: Time,
        probe: impl FnMut(&str) -> i64,
        leader: impl FnOnce() -> bool,
    ) {
        if !deadline {
            self.live_watch = true;
            self.step(&scenario.asserts, now, probe, leader);
        } else if !self.live_leader {
            self.live_watch = false;
            let bound = scenario.liveness.unwrap_or(0);
            self.failures.push(Failure {
                check: Check::Liveness,
                message: format!(
                    "liveness: no leader with a majority within {} of the last fault at {}",
                    fmt_time(bound),
                    fmt_time(quiet_from(scenario))
                ),
            });
        }
    }

    /// After the run (at `end`): every operation pending at the last fault, or
    /// invoked after it, gets an answer within the liveness bound: ok, or a definite
    /// no such as an abort.
    pub(crate) fn finish(&mut self, scenario: &Scenario, history: &History, end: Time) {
        let Some(bound) = scenario.liveness else { return };
        let quiet = quiet_from(scenario);
        let mut late = Vec::new();
        for o in &history.ops {
            let done = o.complete.as_ref().map(|(t, _)| *t);
            if done.is_some_and(|t| t <= quiet) {
                continue;
            }
            let deadline = o.invoke.max(quiet) + bound;
            let ok_in_time = matches!(&o.complete, Some((t, c)) if *t <= deadline && c.answered());
            if deadline <= end && !ok_in_time {
                late.push(o);
            }
        }
        if let Some(first) = late.first() {
            let what = match &first.complete {
                None => "never completed".into(),
                Some((t, c)) if c.answered() => format!("completed only at {}", fmt_time(*t)),
                Some((t, c)) => {
                    format!("ended without an answer at {} ({})", fmt_time(*t), c.error().unwrap_or(""))
                }
            };
            self.failures.push(Failure {
                check: Check::Liveness,
                message: format!(
                    "liveness: {} operation(s) did not complete within {} of the last fault at {}; the first, \
                 operation {} ({} by c{} at {}), {what}",
                    late.len(),
                    fmt_time(bound),
                    fmt_time(quiet),
                    first.id,
                    first.op.name(),
                    first.client + 1,
                    fmt_time(first.invoke)
                ),
            });
        }
    }
}

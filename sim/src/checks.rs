//! Scenario-level checks beyond invariants and linearizability: `[[check.assert]]`
//! assertions on probes, and the liveness bound.

use crate::engine::{Check, Ev, Failure, Sim};
use crate::protocol::{NodeId, Protocol};
use crate::scenario::When;
use crate::time::fmt_time;

impl<P: Protocol> Sim<P> {
    /// Schedules each assertion's instants.
    pub(crate) fn boot_checks(&mut self) {
        for idx in 0..self.scenario.asserts.len() {
            match self.scenario.asserts[idx].when {
                When::At(at) => self.schedule(at, Ev::Assert { idx, end: true }),
                When::Always { from, to } | When::Growth { from, to } | When::Eventually { from, by: to } => {
                    self.schedule(from, Ev::Assert { idx, end: false });
                    self.schedule(to, Ev::Assert { idx, end: true });
                }
            }
        }
    }

    /// Schedules the liveness watch: after the faults and the nemesis, so that at the
    /// quiet time it starts only once the last fault has happened.
    pub(crate) fn boot_liveness(&mut self) {
        // Nodes have started, so a protocol that reports leadership has said so.
        if let Some(bound) = self.scenario.liveness
            && self.judge.sees_leaders()
        {
            let quiet = self.quiet_from();
            self.schedule(quiet, Ev::Liveness { deadline: false });
            if quiet + bound <= self.end() {
                self.schedule(quiet + bound, Ev::Liveness { deadline: true });
            }
        }
    }

    /// When the last fault happens: the last scheduled one, or the nemesis' stop.
    pub(crate) fn quiet_from(&self) -> u64 {
        let last = self.scenario.faults.iter().map(|f| f.at).max().unwrap_or(0);
        let stop = self.scenario.nemesis.as_ref().filter(|n| !n.kinds.is_empty()).map_or(0, |n| n.stop);
        last.max(stop)
    }

    /// Marks the nodes that are up and in a group holding more than half of the
    /// cluster. The partition's groups must be current ([`Self::refresh_groups`]).
    fn majority_group(&self) -> Vec<bool> {
        let n = self.node_count();
        let mut mask = vec![false; n];
        for g in self.groups.iter().flatten() {
            let up: Vec<NodeId> = g.iter().copied().filter(|m| self.slots[m.0].up).collect();
            if up.len() * 2 > n {
                for m in up {
                    mask[m.0] = true;
                }
            }
        }
        mask
    }

    /// The states of the nodes of [`Self::majority_group`]; `None` for the others.
    fn majority_view(&self) -> Vec<Option<&P>> {
        self.states.iter().zip(self.majority_group()).map(|(s, m)| if m { s.as_ref() } else { None }).collect()
    }

    /// Recomputes the partition's groups if the cuts changed since they were last needed.
    fn refresh_groups(&mut self) {
        if self.groups.is_none() {
            self.groups = Some(self.cuts.groups());
        }
    }

    /// Measures a probe now (after [`Self::refresh_groups`]).
    fn probe(&self, name: &str) -> i64 {
        match name {
            "messages" => self.peer_sent as i64,
            "ops-ok" => self.history.count(crate::history::EventType::Ok) as i64,
            "ops-pending" => self.history.ops.iter().filter(|o| o.complete.is_none()).count() as i64,
            _ => {
                let view = self.majority_view();
                P::probe(&view, name)
            }
        }
    }

    pub(crate) fn assert_step(&mut self, idx: usize, end: bool) {
        let (watching, settled, start) = self.watch[idx];
        if settled {
            return;
        }
        // This runs after every event while a window is open: borrow the assertion,
        // do not copy it.
        self.refresh_groups();
        let a = &self.scenario.asserts[idx];
        let v = self.probe(&a.probe);
        let (when, holds, holds_growth) = (a.when, a.holds(v), a.holds(v - start));
        let mut fail = None;
        match when {
            When::At(_) => fail = (!holds).then(|| format!("it was {v}")),
            When::Growth { .. } if !end => self.watch[idx].2 = v,
            When::Growth { .. } => {
                let grew = v - start;
                fail = (!holds_growth).then(|| format!("it went from {start} to {v} ({grew:+})"));
            }
            When::Always { .. } => {
                if !holds {
                    fail = Some(format!("it was {v} at {}", fmt_time(self.now)));
                } else if !end && !watching {
                    self.watch[idx].0 = true;
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
                        self.watch[idx].0 = true;
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
            let label = &self.scenario.asserts[idx].label;
            let failure = Failure {
                check: Check::Assertion(label.clone()),
                message: format!("assertion failed ({label}): {why}"),
            };
            self.assertion_failures.push(failure);
        }
    }

    fn settle(&mut self, idx: usize) {
        if self.watch[idx].0 {
            self.watching -= 1;
        }
        self.watch[idx] = (false, true, self.watch[idx].2);
    }

    /// After every event while a window or the liveness watch is open.
    pub(crate) fn watch_step(&mut self) {
        for idx in 0..self.watch.len() {
            if self.watch[idx].0 {
                self.assert_step(idx, false);
            }
        }
        if self.live_watch {
            self.refresh_groups();
            // A leader is what the nodes report of themselves (Observation::Term),
            // among those that can reach a majority.
            if self.judge.leader_among(&self.majority_group()) {
                self.live_watch = false;
                self.live_leader = true;
            }
        }
    }

    pub(crate) fn liveness_step(&mut self, deadline: bool) {
        if !deadline {
            self.live_watch = true;
            self.watch_step();
        } else if !self.live_leader {
            self.live_watch = false;
            let bound = self.scenario.liveness.unwrap_or(0);
            self.assertion_failures.push(Failure {
                check: Check::Liveness,
                message: format!(
                    "liveness: no leader with a majority within {} of the last fault at {}",
                    fmt_time(bound),
                    fmt_time(self.quiet_from())
                ),
            });
        }
    }

    /// After the run: every operation pending at the last fault, or invoked after it,
    /// gets an answer within the liveness bound: ok, or a definite no such as an abort.
    pub(crate) fn finish_checks(&mut self) {
        let Some(bound) = self.scenario.liveness else { return };
        let quiet = self.quiet_from();
        let end = self.now;
        let mut late = Vec::new();
        for o in &self.history.ops {
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
            self.assertion_failures.push(Failure {
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

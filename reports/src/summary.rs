//! The run summary: counts, client latency percentiles, messages per operation, and
//! the verdicts, as a data structure with a text and a JSON rendering.

use std::io::{self, Write};

use std::fmt;

use faultline_sim::check::LinResult;
use faultline_sim::history::Completion;
use faultline_sim::scenario::Expect;
use faultline_sim::time::fmt_time;
use faultline_sim::{Check, RunResult, Scenario, Stats};
use serde::{Serialize, Serializer};

/// A verdict serialises as the words the text summary prints, so the JSON and the
/// terminal say the same thing.
fn as_text<T: fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn opt_as_text<T: fmt::Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// What ended a run before its duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoppedBy {
    Invariant,
    EventLimit,
    MemoryCeiling,
}

impl fmt::Display for StoppedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoppedBy::Invariant => "the failed invariant",
            StoppedBy::EventLimit => "the event limit",
            StoppedBy::MemoryCeiling => "the memory ceiling",
        })
    }
}

/// The protocol's invariants over the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invariants {
    /// `[check] invariants = false`.
    Off,
    Held,
    /// The first one that failed, by name.
    Violated(String),
}

impl fmt::Display for Invariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invariants::Off => f.write_str("off"),
            Invariants::Held => f.write_str("ok"),
            Invariants::Violated(name) => write!(f, "violated: {name}"),
        }
    }
}

/// The client history's linearizability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linearizable {
    NotChecked,
    Yes,
    /// Not linearizable, first seen on this key.
    No(String),
    /// The search budget ran out.
    Unknown,
}

impl fmt::Display for Linearizable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Linearizable::NotChecked => f.write_str("not checked"),
            Linearizable::Yes => f.write_str("yes"),
            Linearizable::No(key) => write!(f, "NO (key {key})"),
            Linearizable::Unknown => f.write_str("unknown (search budget ran out)"),
        }
    }
}

/// A bank workload's conserved total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conserved {
    Held,
    Violated,
}

impl fmt::Display for Conserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Conserved::Held => "ok",
            Conserved::Violated => "violated",
        })
    }
}

/// Whether the checks came out as the scenario expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
        })
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct OpCounts {
    pub invoked: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
}

/// Latency of completed (ok) client operations, from invocation to reply.
#[derive(Clone, Debug, Serialize)]
pub struct Latencies {
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub path: String,
    pub protocol: String,
    pub variant: String,
    pub seed: u64,
    pub end_time_ns: u64,
    /// The scenario's duration.
    pub duration_ns: u64,
    pub last_event_ns: u64,
    /// What ended the run before its duration: a failed invariant or a limit.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_as_text")]
    pub stopped_by: Option<StoppedBy>,
    pub stats: Stats,
    pub ops: Option<OpCounts>,
    pub latency: Option<Latencies>,
    /// Node-to-node and client messages sent per client operation.
    pub messages_per_op: Option<f64>,
    #[serde(serialize_with = "as_text")]
    pub invariants: Invariants,
    #[serde(serialize_with = "as_text")]
    pub linearizable: Linearizable,
    /// A bank workload's conserved total: "ok" or "violated".
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_as_text")]
    pub conserved_total: Option<Conserved>,
    pub failures: Vec<String>,
    /// What the protocol measured, e.g. how long participants stayed blocked.
    pub measures: Vec<(String, String)>,
    #[serde(serialize_with = "as_text")]
    pub expect: Expect,
    /// "pass" when the checks came out as the scenario expects.
    #[serde(serialize_with = "as_text")]
    pub result: Outcome,
    pub trace_hash: Option<String>,
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = (sorted.len() * p).div_ceil(100).saturating_sub(1);
    sorted[idx.min(sorted.len() - 1)]
}

pub fn summarize(scenario: &Scenario, result: &RunResult) -> Summary {
    let ops = &result.history.ops;
    let has_clients = scenario.workload.is_some();
    let mut lat: Vec<u64> = ops
        .iter()
        .filter_map(|o| match &o.complete {
            Some((t, Completion::Ok { .. })) => Some(t - o.invoke),
            _ => None,
        })
        .collect();
    lat.sort_unstable();
    let counts = OpCounts {
        invoked: ops.len(),
        ok: result.history.count(faultline_sim::history::EventType::Ok),
        fail: result.history.count(faultline_sim::history::EventType::Fail),
        info: result.history.count(faultline_sim::history::EventType::Info),
    };
    let invariants = match &result.violation {
        _ if !scenario.invariants => Invariants::Off,
        None => Invariants::Held,
        Some((_, v)) => Invariants::Violated(v.invariant.clone()),
    };
    let linearizable = match &result.linearizability {
        None => Linearizable::NotChecked,
        Some(LinResult::Linearizable) => Linearizable::Yes,
        Some(LinResult::NotLinearizable { key, .. }) => Linearizable::No(key.clone()),
        Some(LinResult::Unknown { .. }) => Linearizable::Unknown,
    };
    Summary {
        scenario: scenario.name.clone(),
        path: scenario.path.clone(),
        protocol: scenario.protocol.clone(),
        variant: scenario.variant.clone(),
        seed: result.seed,
        end_time_ns: result.end_time,
        duration_ns: scenario.duration,
        last_event_ns: result.last_event,
        stopped_by: if result.violation.is_some() {
            Some(StoppedBy::Invariant)
        } else if result.event_limit_hit {
            Some(StoppedBy::EventLimit)
        } else if result.memory_limit_hit {
            Some(StoppedBy::MemoryCeiling)
        } else {
            None
        },
        stats: result.stats.clone(),
        messages_per_op: (has_clients && !ops.is_empty()).then(|| result.stats.sent as f64 / ops.len() as f64),
        ops: has_clients.then_some(counts),
        latency: (!lat.is_empty()).then(|| Latencies {
            p50_ns: percentile(&lat, 50),
            p90_ns: percentile(&lat, 90),
            p99_ns: percentile(&lat, 99),
            max_ns: *lat.last().expect("non-empty"),
        }),
        invariants,
        linearizable,
        conserved_total: scenario.workload.as_ref().and_then(|w| w.bank).map(|_| {
            let broken = result.assertion_failures.iter().any(|f| f.check == Check::ConservedTotal);
            if broken { Conserved::Violated } else { Conserved::Held }
        }),
        failures: result.failures(),
        measures: result.measures.clone(),
        expect: result.expect,
        result: if result.as_expected() { Outcome::Pass } else { Outcome::Fail },
        trace_hash: result.trace_hash.map(|h| format!("{h:016x}")),
    }
}

/// The first lines of a run's summary, printed before the run starts so that the seed
/// is on the screen even if the run never finishes.
pub fn write_header(w: &mut impl Write, scenario: &str, protocol: &str, variant: &str, seed: u64) -> io::Result<()> {
    let p = faultline_sim::diag::printable;
    writeln!(w, "scenario   {} ({protocol}, {})", p(scenario), p(variant))?;
    writeln!(w, "seed       {seed}")
}

/// Groups digits in threes: 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Summary {
    /// The terminal summary, one fact a line: [`write_header`] then the rest.
    pub fn write_text(&self, w: &mut impl Write) -> io::Result<()> {
        write_header(w, &self.scenario, &self.protocol, &self.variant, self.seed)?;
        self.write_body(w)
    }

    /// Everything after the header: what happened, the verdicts, the result.
    pub fn write_body(&self, w: &mut impl Write) -> io::Result<()> {
        let s = &self.stats;
        let stopped = match &self.stopped_by {
            Some(why) if self.end_time_ns < self.duration_ns => format!(" (stopped at {why})"),
            _ => String::new(),
        };
        writeln!(
            w,
            "virtual    ran {} of {}{stopped}; last event at {}",
            fmt_time(self.end_time_ns),
            fmt_time(self.duration_ns),
            fmt_time(self.last_event_ns)
        )?;
        writeln!(w, "events     {}", thousands(s.events))?;
        writeln!(
            w,
            "messages   sent {}  delivered {}  dropped {} (loss {}, partition {}, node down {})  duplicated {}  held {}",
            thousands(s.sent),
            thousands(s.delivered),
            thousands(s.dropped()),
            s.dropped_loss,
            s.dropped_partition,
            s.dropped_node_down,
            s.duplicated,
            s.held
        )?;
        if s.crashes + s.restarts > 0 {
            writeln!(
                w,
                "nodes      crashes {}  restarts {}  unsynced writes lost {}",
                s.crashes, s.restarts, s.lost_writes
            )?;
        }
        if let Some(o) = &self.ops {
            write!(w, "clients    {} ops: {} ok, {} fail, {} info", o.invoked, o.ok, o.fail, o.info)?;
            if let Some(l) = &self.latency {
                write!(w, "  latency p50 {} p99 {}", fmt_time(l.p50_ns), fmt_time(l.p99_ns))?;
            }
            if let Some(m) = self.messages_per_op {
                write!(w, "  {m:.1} msgs/op")?;
            }
            writeln!(w)?;
        }
        write!(w, "checks     invariants: {}  linearizable: {}", self.invariants, self.linearizable)?;
        match &self.conserved_total {
            Some(c) => writeln!(w, "  conserved total: {c}")?,
            None => writeln!(w)?,
        }
        for f in &self.failures {
            writeln!(w, "  - {f}")?;
        }
        for (name, value) in &self.measures {
            writeln!(w, "measured   {name}: {value}")?;
        }
        if let Some(h) = &self.trace_hash {
            writeln!(w, "trace hash {h}")?;
        }
        let verdict = match (self.result, self.expect) {
            (Outcome::Pass, Expect::Fail) => "PASS (a check failed, as this bug-zoo scenario expects)",
            (Outcome::Pass, Expect::Pass) => "PASS",
            (Outcome::Fail, Expect::Fail) => "FAIL (expected a check to fail, but every check passed)",
            (Outcome::Fail, Expect::Pass) => "FAIL",
        };
        writeln!(w, "result     {verdict}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 90), 7);
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
    }
}

//! Scenario files: TOML, parsed with serde (`deny_unknown_fields`), then checked by a
//! second pass that keeps exact spans for semantic errors (unknown node, fault after
//! the end, unknown protocol). Every error is a [`Diagnostic`](crate::diag::Diagnostic) with file:line:column.

//!
//! The module is in pieces: [`raw`] is the file as written (and the JSON Schema),
//! `parse` checks it section by section into the types below, and [`Named`] holds
//! the one table of words for each enum a file names by a word.

use std::ops::Range;

use crate::protocol::NodeId;
use crate::time::{NANOS_PER_MILLI, Ppm};

mod names;
mod parse;
pub mod raw;

pub use names::Named;
pub use parse::parse;
pub use raw::*;

/// The most nodes a scenario may have: links are a dense n×n matrix.
pub const NODES_MAX: usize = 64;
pub const CLIENTS_MAX: usize = 1_000;
/// The most keys a key-value workload may name (each client draws among them).
pub const KEYS_MAX: u64 = 100_000;
/// The most bank accounts: a read of every account touches each one.
pub const ACCOUNTS_MAX: u64 = 1_000;
/// The largest starting balance of an account.
pub const BALANCE_MAX: u64 = 1_000_000_000_000;
/// The most operations a workload may issue: the history holds each one.
pub const OPS_MAX: u64 = 1_000_000;
/// The most times a client re-sends one operation.
pub const RETRIES_MAX: u64 = 10_000;
/// The shortest client timeout.
pub const TIMEOUT_NS_MIN: u64 = 1_000;
/// The most operations per second one client may aim for.
pub const CLIENT_RATE_MAX: f64 = 1_000_000.0;
/// The largest zipf exponent.
pub const ZIPF_EXPONENT_MAX: f64 = 10.0;
/// The shortest mean time between nemesis faults (the most faults per second is its inverse).
pub const NEMESIS_INTERVAL_NS_MIN: u64 = NANOS_PER_MILLI;

// ---------------------------------------------------------------------------------
// The scenario as the engine uses it.

/// A latency distribution's name (the `dist` of a latency table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LatencyDist {
    Constant,
    Uniform,
    Exponential,
    LongTail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    Constant(u64),
    Uniform { min: u64, max: u64 },
    Exponential { min: u64, mean: u64 },
    LongTail { min: u64, max: u64, tail: Ppm, tail_max: u64 },
}

impl Latency {
    pub fn max_hint(&self) -> u64 {
        match *self {
            Latency::Constant(v) => v,
            Latency::Uniform { max, .. } => max,
            Latency::Exponential { min, mean } => min + 4 * mean,
            Latency::LongTail { max, .. } => max,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    pub latency: Latency,
    pub loss: Ppm,
    pub duplicate: Ppm,
    pub reorder: Ppm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    Drop,
    Hold,
}

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Dense n×n matrix, `links[from * n + to]`.
    pub links: Vec<LinkConfig>,
    /// Client <-> node links: never partitioned, but lossy and slow like the rest.
    pub client_link: LinkConfig,
    pub on_cut: CutMode,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitKind {
    Halves,
    MajorityRing,
    Bridge,
}

/// Which node a fault hits: a fixed one, or one chosen when the fault happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Node(NodeId),
    /// The up node that leads with the highest term ([`crate::Protocol::leads`]).
    Leader,
    /// An up node that does not lead, chosen by the nemesis stream.
    Follower,
    /// Any up node, chosen by the nemesis stream.
    Any,
    /// Every node that is down (for restart).
    Crashed,
    /// Every paused node (for resume).
    Paused,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Node(n) => write!(f, "{n}"),
            Target::Leader => f.write_str("leader"),
            Target::Follower => f.write_str("follower"),
            Target::Any => f.write_str("any"),
            Target::Crashed => f.write_str("crashed"),
            Target::Paused => f.write_str("paused"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    Partition(Vec<Vec<NodeId>>),
    Split(SplitKind),
    Isolate(Target),
    Cut {
        from: Vec<NodeId>,
        to: Vec<NodeId>,
    },
    Heal,
    Crash(Target),
    Restart(Target),
    Pause(Target),
    Resume(Target),
    Clock {
        node: NodeId,
        skew_ns: Option<i64>,
        drift_ppm: Option<i64>,
    },
    Join(NodeId),
    Leave(NodeId),
    /// Lose every message of kind `kind` sent to any of `to`, for `ns` nanoseconds.
    Drop {
        kind: String,
        to: Vec<NodeId>,
        ns: u64,
    },
}

#[derive(Clone, Debug)]
pub struct Fault {
    pub at: u64,
    pub action: FaultAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NemesisKind {
    Partition,
    Crash,
    Pause,
    Clock,
    /// Crash whoever leads (then restart it on heal).
    CrashLeader,
    /// Cut whoever leads off from the rest (then heal).
    IsolateLeader,
}

#[derive(Clone, Debug)]
pub struct NemesisConfig {
    pub kinds: Vec<NemesisKind>,
    pub interval: u64,
    pub fault_duration: u64,
    pub stop: u64,
    pub max_skew: u64,
    pub overlap: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDist {
    Uniform,
    Zipf,
}

pub use faultline_checker::bank::Bank;

/// What a protocol's clients speak, and what a `[workload]` issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    /// get, put, append and cas on keys; judged for linearizability.
    Kv,
    /// Transfers between accounts and reads of them all; judged by the conserved total.
    Bank,
}

#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    pub clients: usize,
    pub ops: u64,
    /// Weights of get, put, append, cas, transfer, read.
    pub mix: [u64; 6],
    /// Set for a bank workload (its mix weighs only transfer and read).
    pub bank: Option<Bank>,
    pub keys: usize,
    pub distribution: KeyDist,
    pub zipf_exponent: f64,
    /// Mean gap between one client's operations (0: back to back).
    pub think: u64,
    pub timeout: u64,
    pub retries: u32,
    pub start: u64,
    pub stop: u64,
}

impl WorkloadKind {
    /// What the clients of a protocol that serves `ops` speak: a bank if it serves
    /// only bank transactions, key-value otherwise.
    pub fn serving(ops: &[crate::protocol::OpKind]) -> WorkloadKind {
        if !ops.is_empty() && ops.iter().all(|k| crate::protocol::OpKind::BANK.contains(k)) {
            WorkloadKind::Bank
        } else {
            WorkloadKind::Kv
        }
    }
}

impl WorkloadConfig {
    pub fn kind(&self) -> WorkloadKind {
        if self.bank.is_some() { WorkloadKind::Bank } else { WorkloadKind::Kv }
    }
}

/// When an assertion is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    At(u64),
    Always { from: u64, to: u64 },
    Eventually { from: u64, by: u64 },
    Growth { from: u64, to: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    pub probe: String,
    pub when: When,
    pub at_least: Option<i64>,
    pub at_most: Option<i64>,
    /// How the failure message names it, e.g. "line 40: `leader` = 1 at 2s".
    pub label: String,
}

impl Assertion {
    pub fn holds(&self, v: i64) -> bool {
        self.at_least.is_none_or(|lo| v >= lo) && self.at_most.is_none_or(|hi| v <= hi)
    }
}

/// Probes every protocol has, measured by the engine.
pub const ENGINE_PROBES: &[(&str, &str)] = &[
    ("messages", "messages sent between nodes so far"),
    ("ops-ok", "client operations completed ok so far"),
    ("ops-pending", "client operations outstanding now"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    Pass,
    Fail,
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub path: String,
    pub source: String,
    pub name: String,
    pub description: Option<String>,
    pub protocol: String,
    pub variant: String,
    pub nodes: usize,
    pub duration: u64,
    pub seed: u64,
    pub seeds: Option<Range<u64>>,
    pub network: NetworkConfig,
    /// Initial (skew ns, drift ppm) per node.
    pub clocks: Vec<(i64, i64)>,
    /// The members at the start, in node order.
    pub members: Vec<NodeId>,
    pub faults: Vec<Fault>,
    pub nemesis: Option<NemesisConfig>,
    pub workload: Option<WorkloadConfig>,
    pub linearizable: bool,
    pub invariants: bool,
    pub expect: Expect,
    /// With `Expect::Fail`: the least share of a sweep's seeds that must catch it.
    pub catch_at_least: Option<Ppm>,
    /// With `Expect::Fail`: on how many of `seeds` a check fails (`[check] caught`).
    pub caught: Option<u64>,
    /// The linearizability search's budget per key (`[check] budget`).
    pub budget: crate::check::linearizability::Budget,
    pub liveness: Option<u64>,
    pub asserts: Vec<Assertion>,
}

/// The protocols a scenario may name, with their variants, so unknown names are
/// caught at parse time with a suggestion.
pub struct Catalog<'a> {
    pub protocols: Vec<Known<'a>>,
}

/// What a scenario file may say about one protocol.
pub struct Known<'a> {
    pub name: &'a str,
    pub variants: Vec<&'a str>,
    pub probes: Vec<&'a str>,
    /// Its message kinds ([`crate::protocol::Message::KINDS`]), which `drop` faults name.
    pub messages: Vec<&'a str>,
    /// The operations it serves ([`crate::Protocol::OPS`]): a mix may weigh only these.
    pub ops: Vec<crate::protocol::OpKind>,
    /// Whether it has a leader ([`crate::Protocol::HAS_LEADER`]): faults aimed at
    /// "leader", and the nemesis kinds crash-leader and isolate-leader, need one.
    pub leader: bool,
}

impl<'a> Known<'a> {
    /// The workload kind its clients speak, from the operations it serves.
    pub fn workload(&self) -> WorkloadKind {
        WorkloadKind::serving(&self.ops)
    }

    /// What a scenario may say about protocol `P`, registered as `name` with
    /// `variants` ("correct" first): its probes, message kinds, operations and
    /// leader come from the trait.
    ///
    /// ```
    /// use faultline_sim::scenario::{Catalog, Known};
    /// # use faultline_sim::{Ctx, NodeId, Protocol, Request, TimerId, disk::Durable};
    /// # #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    /// # struct Quiet;
    /// # impl Protocol for Quiet {
    /// #     type Msg = ();
    /// #     type Timer = ();
    /// #     type Stored = ();
    /// #     type Config = ();
    /// #     const OPS: &'static [faultline_sim::OpKind] = &[];
    /// #     fn start(_: &mut Ctx<'_, Self>, _: &(), _: &Durable<()>) -> Self { Quiet }
    /// #     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    /// #     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: ()) {}
    /// #     fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
    /// # }
    /// let catalog = Catalog { protocols: vec![Known::of::<Quiet>("quiet", vec!["correct"])] };
    /// let src = "name = \"q\"\nprotocol = \"quiet\"\nnodes = 3\nduration = \"1s\"\n";
    /// let scenario = faultline_sim::scenario::parse("q.toml", src, &catalog).expect("parses");
    /// let result = faultline_sim::Sim::<Quiet>::new(&scenario, (), 1, faultline_sim::Trace::off()).run();
    /// assert!(result.as_expected());
    /// ```
    pub fn of<P: crate::Protocol>(name: &'a str, variants: Vec<&'a str>) -> Known<'a> {
        Known {
            name,
            variants,
            probes: P::PROBES.iter().map(|p| p.0).collect(),
            messages: <P::Msg as crate::protocol::Message>::KINDS.to_vec(),
            ops: P::OPS.to_vec(),
            leader: P::HAS_LEADER,
        }
    }
}

/// Parses "A..B" (B exclusive) or "A..=B".
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let hint = || format!("invalid seed range \"{text}\": write it as A..B (B excluded) or A..=B, e.g. \"1..100\"");
    let (a, b, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        return Err(hint());
    };
    let a: u64 = a.trim().parse().map_err(|_| hint())?;
    let b: u64 = b.trim().parse().map_err(|_| hint())?;
    let end = if inclusive { b.checked_add(1).ok_or_else(hint)? } else { b };
    if end <= a {
        return Err(format!("seed range \"{text}\" is empty: the end must be past the start"));
    }
    Ok(a..end)
}
/// The JSON Schema of scenario files, for editor completion.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawScenario);
    serde_json::to_string_pretty(&schema).expect("schema serialises")
}

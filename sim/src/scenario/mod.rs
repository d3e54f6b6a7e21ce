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
pub use parse::{Instead, parse, parse_as, toml_diagnostic};
pub use raw::*;

/// The most nodes a scenario may have: links are a dense n×n matrix.
pub const NODES_MAX: usize = 64;
/// The most clients a workload may run.
pub const CLIENTS_MAX: usize = 1_000;
/// The most keys a key-value workload may name (each client draws among them).
pub const KEYS_MAX: u64 = 100_000;
/// The most bank accounts: a read of every account touches each one.
pub const ACCOUNTS_MAX: u64 = 1_000;
/// The largest starting balance of an account.
pub const BALANCE_MAX: u64 = 1_000_000_000_000;
/// The most operations a workload may issue: the history holds each one.
pub const OPS_MAX: u64 = 1_000_000;
/// The largest image an upload may carry (1 GiB).
pub const IMAGE_SIZE_MAX: u64 = 1 << 30;
/// The most tags one upload may carry.
pub const IMAGE_TAGS_MAX: usize = 64;
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
    /// `"constant"`: every message takes the same time.
    Constant,
    /// `"uniform"`: anywhere between a least and a most.
    Uniform,
    /// `"exponential"`: a least, plus an exponential wait with a mean.
    Exponential,
    /// `"long-tail"`: uniform, except that a share of messages is slow.
    LongTail,
}

/// How long a message takes on a link, in nanoseconds of virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Latency {
    /// Always this long.
    Constant(u64),
    /// Uniform between `min` and `max`.
    Uniform {
        /// The least.
        min: u64,
        /// The most.
        max: u64,
    },
    /// `min` plus an exponential wait of mean `mean`.
    Exponential {
        /// The least.
        min: u64,
        /// The mean of the wait past `min`.
        mean: u64,
    },
    /// Uniform between `min` and `max`, except that a share `tail` of messages is
    /// slow: uniform between `max` and `tail_max`.
    LongTail {
        /// The least.
        min: u64,
        /// The most, for a message that is not slow.
        max: u64,
        /// The chance of a slow message.
        tail: Ppm,
        /// The most, for a slow one.
        tail_max: u64,
    },
}

impl Latency {
    /// About the longest a message takes (an exponential's mean plus four means),
    /// for sizing timeouts and the viewer's scale.
    pub fn max_hint(&self) -> u64 {
        match *self {
            Latency::Constant(v) => v,
            Latency::Uniform { max, .. } => max,
            Latency::Exponential { min, mean } => min + 4 * mean,
            Latency::LongTail { max, .. } => max,
        }
    }
}

/// One direction of one link: its latency and its faults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// How long a message takes.
    pub latency: Latency,
    /// The chance a message is lost.
    pub loss: Ppm,
    /// The chance a message is delivered twice.
    pub duplicate: Ppm,
    /// The chance a message is delayed past later ones (FIFO order broken).
    pub reorder: Ppm,
}

/// What a cut link does with a message sent over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutMode {
    /// Loses it (`on_cut = "drop"`, the default).
    Drop,
    /// Holds it until the link heals, then delivers it (`on_cut = "hold"`).
    Hold,
}

/// The network: every link's behaviour, and what a partition does.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// Dense n×n matrix, `links[from * n + to]`.
    pub links: Vec<LinkConfig>,
    /// Client <-> node links: never partitioned, but lossy and slow like the rest.
    pub client_link: LinkConfig,
    /// What a cut link does with messages.
    pub on_cut: CutMode,
}

/// A partition's shape, for the `split` fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitKind {
    /// Two halves (the first half has the extra node of an odd cluster).
    Halves,
    /// Each node reaches only its neighbours on a ring: every node sees a
    /// majority, but no two majorities are the same.
    MajorityRing,
    /// Two halves joined by one node that reaches both.
    Bridge,
}

/// Which node a fault hits: a fixed one, or one chosen when the fault happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// This node.
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

/// What a scheduled fault (`[[faults]]`) does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Cut the cluster into these groups: nodes in different groups cannot talk.
    Partition(Vec<Vec<NodeId>>),
    /// Cut the cluster into a named shape.
    Split(SplitKind),
    /// Cut one node off from every other.
    Isolate(Target),
    /// Cut the links from each of `from` to each of `to`, one way only.
    Cut {
        /// The senders.
        from: Vec<NodeId>,
        /// The receivers.
        to: Vec<NodeId>,
    },
    /// Restore every link.
    Heal,
    /// Crash the node: it loses its memory and unsynced writes.
    Crash(Target),
    /// Start a crashed node again from its disk.
    Restart(Target),
    /// Stop the node without losing anything; what reaches it waits.
    Pause(Target),
    /// Let a paused node go on.
    Resume(Target),
    /// Set a node's clock: its skew (offset) and drift (rate error), in ppm.
    Clock {
        /// The node.
        node: NodeId,
        /// The new offset in nanoseconds, if given.
        skew_ns: Option<i64>,
        /// The new drift in parts per million, if given.
        drift_ppm: Option<i64>,
    },
    /// Add the node to the membership (a new view).
    Join(NodeId),
    /// Take the node out of the membership (a new view).
    Leave(NodeId),
    /// Lose every message of kind `kind` sent to any of `to`, for `ns` nanoseconds.
    Drop {
        /// The message kind ([`crate::protocol::Message::KINDS`]).
        kind: String,
        /// The receivers.
        to: Vec<NodeId>,
        /// How long, in nanoseconds.
        ns: u64,
    },
}

/// A fault at a moment of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// When, in nanoseconds of virtual time.
    pub at: u64,
    /// What it does.
    pub action: FaultAction,
}

/// A kind of fault the random nemesis may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NemesisKind {
    /// A random partition.
    Partition,
    /// Crash a random node (restarted when the fault heals).
    Crash,
    /// Pause a random node (resumed when the fault heals).
    Pause,
    /// Skew a random node's clock by up to `max_skew`.
    Clock,
    /// Crash whoever leads (then restart it on heal).
    CrashLeader,
    /// Cut whoever leads off from the rest (then heal).
    IsolateLeader,
}

/// The random nemesis (`[nemesis]`): faults drawn from the run's nemesis stream.
/// Times are in nanoseconds.
#[derive(Clone, Debug)]
pub struct NemesisConfig {
    /// The kinds it draws from.
    pub kinds: Vec<NemesisKind>,
    /// The mean time between faults.
    pub interval: u64,
    /// The mean time a fault lasts before it heals.
    pub fault_duration: u64,
    /// When it stops and heals everything.
    pub stop: u64,
    /// The largest clock skew it sets.
    pub max_skew: u64,
    /// Whether faults may overlap (otherwise one at a time).
    pub overlap: bool,
}

/// How clients pick keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyDist {
    /// Every key alike.
    Uniform,
    /// A few hot keys: key `k` is picked in proportion to `1 / k^exponent`.
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
    /// upload, fetch, tag, delete and list on named images; judged for
    /// linearizability per image and by the lists' agreement with it.
    Images,
}

/// One operation of an explicit workload (`[[workload.operations]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scripted {
    /// The client that invokes it.
    pub client: usize,
    /// The earliest moment, in nanoseconds.
    pub at: u64,
    /// The operation.
    pub op: crate::protocol::Op,
}

/// The most steps a `[schedule]` may list.
pub const SCHEDULE_STEPS_MAX: usize = 100_000;

/// A `[schedule]`: the steps a run takes, in order, instead of drawing them from its
/// seed (see [`crate::explore::replay`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Each step as written.
    pub steps: Vec<String>,
    /// Where each step is in the file (byte ranges), for errors.
    pub spans: Vec<Range<usize>>,
}

/// The clients (`[workload]`). Times are in nanoseconds.
#[derive(Clone, Debug)]
pub struct WorkloadConfig {
    /// An explicit list of operations in place of the random mix (empty: random).
    pub script: Vec<Scripted>,
    /// How many clients.
    pub clients: usize,
    /// How many operations in all, shared among the clients.
    pub ops: u64,
    /// What the clients speak.
    pub kind: WorkloadKind,
    /// Weights of each operation, in [`OpKind::ALL`](crate::protocol::OpKind::ALL)'s order.
    pub mix: [u64; 11],
    /// Set for a bank workload (its mix weighs only transfer and read).
    pub bank: Option<Bank>,
    /// How many keys (or, for a bank, accounts).
    pub keys: usize,
    /// How clients pick keys.
    pub distribution: KeyDist,
    /// The zipf exponent, with [`KeyDist::Zipf`].
    pub zipf_exponent: f64,
    /// Mean gap between one client's operations (0: back to back).
    pub think: u64,
    /// How long a client waits for an answer before it re-sends.
    pub timeout: u64,
    /// How many times a client re-sends one operation before it gives up.
    pub retries: u32,
    /// When the clients start.
    pub start: u64,
    /// When they stop issuing new operations.
    pub stop: u64,
}

impl WorkloadConfig {
    /// No clients at all: what a scenario without a `[workload]` runs (a protocol
    /// that serves no clients, judged by what its nodes observe).
    pub fn none() -> WorkloadConfig {
        WorkloadConfig {
            script: Vec::new(),
            clients: 0,
            ops: 0,
            kind: WorkloadKind::Kv,
            mix: [0; 11],
            bank: None,
            keys: 0,
            distribution: KeyDist::Uniform,
            zipf_exponent: 0.0,
            think: 0,
            timeout: 0,
            retries: 0,
            start: 0,
            stop: 0,
        }
    }
}

impl WorkloadKind {
    /// Every kind, in the order `faultline list` names them.
    pub const ALL: [WorkloadKind; 3] = [WorkloadKind::Kv, WorkloadKind::Bank, WorkloadKind::Images];

    /// The operations its clients issue.
    pub fn ops(self) -> &'static [crate::protocol::OpKind] {
        use crate::protocol::OpKind;
        match self {
            WorkloadKind::Kv => OpKind::KV,
            WorkloadKind::Bank => OpKind::BANK,
            WorkloadKind::Images => OpKind::IMAGES,
        }
    }

    /// The kinds a protocol that serves `ops` can run: those whose operations it
    /// serves one of, in [`WorkloadKind::ALL`]'s order.
    pub fn served_by(ops: &[crate::protocol::OpKind]) -> impl Iterator<Item = WorkloadKind> + '_ {
        WorkloadKind::ALL.into_iter().filter(|k| k.ops().iter().any(|o| ops.contains(o)))
    }
}

impl WorkloadConfig {
    /// What these clients speak.
    pub fn kind(&self) -> WorkloadKind {
        self.kind
    }
}

/// When an assertion is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// At one moment.
    At(u64),
    /// At every moment from `from` to `to`.
    Always {
        /// The window's start.
        from: u64,
        /// Its end.
        to: u64,
    },
    /// At some moment from `from` until `by`.
    Eventually {
        /// The window's start.
        from: u64,
        /// The deadline.
        by: u64,
    },
    /// On how much the probe grew from `from` to `to`.
    Growth {
        /// The window's start.
        from: u64,
        /// Its end.
        to: u64,
    },
}

/// One `[[check.assert]]`: a probe's value must lie within bounds, when `when` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assertion {
    /// The probe's name ([`crate::Protocol::PROBES`] or [`ENGINE_PROBES`]).
    pub probe: String,
    /// When it is judged.
    pub when: When,
    /// The least the value may be.
    pub at_least: Option<i64>,
    /// The most the value may be.
    pub at_most: Option<i64>,
    /// How the failure message names it, e.g. "line 40: `leader` = 1 at 2s".
    pub label: String,
}

impl Assertion {
    /// Whether value `v` is within the bounds.
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

/// What a scenario expects of its checks (`[check] expect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Every check passes.
    Pass,
    /// Some check fails: a bug-zoo scenario, which must catch its bug.
    Fail,
}

/// A parsed scenario file, as the engine runs it: every time in nanoseconds of
/// virtual time, every name resolved, every number in its range.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file it came from, as given.
    pub path: String,
    /// The file's text (with the protocol and variant run in place of the file's,
    /// when they differ: [`parse_as`]), as the run folder keeps it.
    pub source: String,
    /// Its `name`.
    pub name: String,
    /// Its `description`.
    pub description: Option<String>,
    /// The protocol it runs.
    pub protocol: String,
    /// The protocol the file names, when it runs on another ([`parse_as`]).
    pub file_protocol: Option<String>,
    /// The file's expectation, when [`parse_as`] holds it to another.
    pub file_expect: Option<Expect>,
    /// The variant the file names, when it runs on another ([`parse_as`]).
    pub file_variant: Option<String>,
    /// The protocol's variant (`"correct"`, or a bug-zoo variant).
    pub variant: String,
    /// How many nodes (n1 to nN).
    pub nodes: usize,
    /// How long the run lasts.
    pub duration: u64,
    /// The seed a plain `run` uses.
    pub seed: u64,
    /// The seeds a `sweep` uses by default.
    pub seeds: Option<Range<u64>>,
    /// The links.
    pub network: NetworkConfig,
    /// Initial (skew ns, drift ppm) per node.
    pub clocks: Vec<(i64, i64)>,
    /// The members at the start, in node order.
    pub members: Vec<NodeId>,
    /// The scheduled faults, in time order.
    pub faults: Vec<Fault>,
    /// The random nemesis, if any.
    pub nemesis: Option<NemesisConfig>,
    /// The clients, if any.
    pub workload: Option<WorkloadConfig>,
    /// Whether the client history is checked for linearizability.
    pub linearizable: bool,
    /// Whether invariants are checked after every event.
    pub invariants: bool,
    /// What the scenario expects of its checks.
    pub expect: Expect,
    /// With `Expect::Fail`: the least share of a sweep's seeds that must catch it.
    pub catch_at_least: Option<Ppm>,
    /// With `Expect::Fail`: on how many of `seeds` a check fails (`[check] caught`).
    pub caught: Option<u64>,
    /// The linearizability search's budget per key (`[check] budget`).
    pub budget: crate::check::linearizability::Budget,
    /// When nodes report their leadership: a leader with a majority must be in
    /// place within this long whenever a majority can talk (`[check] liveness`).
    pub liveness: Option<u64>,
    /// The `[[check.assert]]`s.
    pub asserts: Vec<Assertion>,
    /// The steps to take instead of drawing them, if any.
    pub schedule: Option<Schedule>,
}

/// The protocols a scenario may name, with their variants, so unknown names are
/// caught at parse time with a suggestion.
pub struct Catalog<'a> {
    /// Every protocol a scenario may name.
    pub protocols: Vec<Known<'a>>,
}

/// What a scenario file may say about one protocol.
pub struct Known<'a> {
    /// Its name, as `protocol = "..."` gives it.
    pub name: &'a str,
    /// Its variants, `"correct"` first.
    pub variants: Vec<&'a str>,
    /// Its probes ([`crate::Protocol::PROBES`]), which assertions name.
    pub probes: Vec<&'a str>,
    /// Its message kinds ([`crate::protocol::Message::KINDS`]), which `drop` faults name.
    pub messages: Vec<&'a str>,
    /// The operations it serves ([`crate::Protocol::OPS`]): a mix may weigh only these.
    pub ops: Vec<crate::protocol::OpKind>,
    /// Whether it has a leader ([`crate::Protocol::HAS_LEADER`]): faults aimed at
    /// "leader", and the nemesis kinds crash-leader and isolate-leader, need one.
    pub leader: bool,
    /// The fewest nodes it runs on ([`crate::Protocol::MIN_NODES`]).
    pub min_nodes: usize,
}

impl<'a> Known<'a> {
    /// Whether its clients can speak workload kind `kind` (it serves one of the
    /// kind's operations).
    pub fn serves(&self, kind: WorkloadKind) -> bool {
        WorkloadKind::served_by(&self.ops).any(|k| k == kind)
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
            min_nodes: P::MIN_NODES,
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

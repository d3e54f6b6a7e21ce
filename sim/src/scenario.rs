//! Scenario files: TOML, parsed with serde (`deny_unknown_fields`), then checked by a
//! second pass that keeps exact spans for semantic errors (unknown node, fault after
//! the end, unknown protocol). Every error is a [`Diagnostic`] with file:line:column.

use std::collections::BTreeSet;
use std::ops::Range;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_spanned::Spanned;

use crate::diag::{Diagnostic, closest};
use crate::protocol::NodeId;
use crate::time::{Dur, NANOS_PER_MILLI, Ppm};

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
// Value types that parse from strings with a helpful message.

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dur::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Ppm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ppm::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A signed duration such as `"-50ms"` or `"+2s"`, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedDur(pub i64);

impl<'de> Deserialize<'de> for SignedDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let t = s.trim();
        let (neg, rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let v = Dur::parse(rest).map_err(serde::de::Error::custom)?.0 as i64;
        Ok(SignedDur(if neg { -v } else { v }))
    }
}

/// A signed rate such as `"+0.5%"` or `"-200ppm"`, in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedPpm(pub i64);

impl<'de> Deserialize<'de> for SignedPpm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let t = s.trim();
        let (neg, rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let v = Ppm::parse(rest).map_err(serde::de::Error::custom)?.0 as i64;
        Ok(SignedPpm(if neg { -v } else { v }))
    }
}

// ---------------------------------------------------------------------------------
// The file as written. Field docs become the JSON Schema's descriptions.

/// A faultline scenario: a protocol, a cluster, a network, faults, a workload, checks.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// A short title shown in summaries.
    pub name: String,
    /// What the scenario shows, in a sentence or two.
    #[serde(default)]
    pub description: Option<String>,
    /// A protocol name from `faultline list`, e.g. "pb".
    #[schemars(with = "String")]
    pub protocol: Spanned<String>,
    /// "correct", or the name of a bug-zoo variant from `faultline list`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub variant: Option<Spanned<String>>,
    /// How many nodes: they are named n1, n2, ... nN.
    #[schemars(with = "u32")]
    pub nodes: Spanned<u32>,
    /// How long the run lasts in virtual time, e.g. "10s".
    #[schemars(with = "String")]
    pub duration: Spanned<Dur>,
    /// The seed `faultline run` uses when no --seed is given.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Seeds that `faultline sweep` uses when no --seeds is given, e.g. "1..100".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub seeds: Option<Spanned<String>>,
    /// The nodes that are members at the start, e.g. ["n1", "n2", "n3"] (default: all).
    /// `join` and `leave` faults change the membership; a protocol that shards data
    /// by membership moves it.
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    pub members: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    pub network: RawNetwork,
    /// Clocks that start skewed or drifting.
    #[serde(default)]
    pub clocks: Vec<RawClock>,
    /// Faults at fixed virtual times.
    #[serde(default)]
    pub faults: Vec<RawFault>,
    /// A seeded random fault injector.
    #[serde(default)]
    pub nemesis: Option<RawNemesis>,
    #[serde(default)]
    pub workload: Option<RawWorkload>,
    #[serde(default)]
    pub check: RawCheck,
}

/// The network between nodes (and between clients and nodes).
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// Message latency on every link, unless a [[network.links]] entry says otherwise.
    #[serde(default)]
    pub latency: Option<RawLatency>,
    /// Chance that a message is lost, e.g. "1%".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub loss: Option<Ppm>,
    /// Chance that a message is delivered twice, e.g. "0.5%".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duplicate: Option<Ppm>,
    /// Chance that a message skips the link's FIFO order and arrives late, e.g. "2%".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reorder: Option<Ppm>,
    /// What a cut link does with a message: "drop" it, or "hold" it until heal.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub on_cut: Option<Spanned<String>>,
    /// Per-link overrides (directional: from -> to).
    #[serde(default)]
    pub links: Vec<RawLink>,
}

/// A latency distribution: dist = "constant" (value), "uniform" (min, max),
/// "exponential" (min, mean) or "long-tail" (min, max, tail, tail_max).
#[derive(Deserialize, JsonSchema, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    #[schemars(with = "String")]
    pub dist: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub value: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub min: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub mean: Option<Dur>,
    /// long-tail: the chance of a slow message, e.g. "1%".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tail: Option<Ppm>,
    /// long-tail: the slowest a slow message can be.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tail_max: Option<Dur>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    #[serde(default)]
    pub latency: Option<RawLatency>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub loss: Option<Ppm>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duplicate: Option<Ppm>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reorder: Option<Ppm>,
}

/// A node clock that starts off: skew is an offset ("-50ms"), drift a rate ("+0.5%").
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    #[schemars(with = "String")]
    pub node: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub skew: Option<SignedDur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub drift: Option<SignedPpm>,
}

/// One fault at a virtual time: `at` plus exactly one action key.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// When, e.g. "2s".
    #[schemars(with = "String")]
    pub at: Spanned<Dur>,
    /// Explicit groups, e.g. [["n1"], ["n2", "n3"]]; unlisted nodes form one more group.
    #[serde(default)]
    #[schemars(with = "Option<Vec<Vec<String>>>")]
    pub partition: Option<Vec<Vec<Spanned<String>>>>,
    /// Cut one node off from all others: a node name, or "leader", "follower", "any".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub isolate: Option<Spanned<String>>,
    /// A named partition over nodes shuffled by the seed: "halves", "majority-ring", "bridge".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub split: Option<Spanned<String>>,
    /// A one-way cut: messages from `from` to `to` stop; the other way still works.
    #[serde(default)]
    pub cut: Option<RawCut>,
    /// "all": every link works again.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub heal: Option<Spanned<String>>,
    /// A node name, or "leader" (whoever leads at that moment), "follower", "any".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub crash: Option<Spanned<String>>,
    /// A node name, or "crashed" (every node that is down).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub restart: Option<Spanned<String>>,
    /// A node name, or "leader", "follower", "any".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub pause: Option<Spanned<String>>,
    /// A node name, or "paused" (every paused node).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub resume: Option<Spanned<String>>,
    /// Step a clock ("skew", added to its reading) or change its drift.
    #[serde(default)]
    pub clock: Option<RawClock>,
    /// A node joins the membership (see the top-level `members`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub join: Option<Spanned<String>>,
    /// A node leaves the membership; it stays up, and can hand its data over.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub leave: Option<Spanned<String>>,
    /// Lose every message of one kind (as the trace names it, e.g. "Accept") sent to
    /// the nodes in `to`, from any sender, for a while (`for`).
    #[serde(default)]
    pub drop: Option<RawDrop>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrop {
    pub kind: String,
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Spanned<String>>,
    /// How long, e.g. "5ms".
    #[serde(rename = "for")]
    #[schemars(with = "String")]
    pub duration: Dur,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCut {
    #[schemars(with = "Vec<String>")]
    pub from: Vec<Spanned<String>>,
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Spanned<String>>,
}

/// The random nemesis: every `interval` on average it starts one fault of a kind
/// from `kinds`, which lasts `fault_duration` on average, then heals it.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNemesis {
    /// Any of "partition", "crash", "pause", "clock", "crash-leader", "isolate-leader".
    #[schemars(with = "Vec<String>")]
    pub kinds: Vec<Spanned<String>>,
    /// Mean time between faults, e.g. "1s".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub interval: Option<Spanned<Dur>>,
    /// Faults per second on average: another way to say `interval` (give one of them).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub rate: Option<Spanned<f64>>,
    /// Mean time a fault lasts, e.g. "500ms".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub fault_duration: Option<Dur>,
    /// When the nemesis stops and heals everything (default: 80% of the duration).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop: Option<Spanned<Dur>>,
    /// Largest clock step for "clock" faults (default "500ms").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max_skew: Option<Dur>,
    /// Start the next fault without waiting for the last to heal, so faults pile up;
    /// whenever crashes leave less than a majority up, a random crashed node restarts
    /// at once (as in the MIT lab's Figure 8 test). Default false: one fault at a time.
    #[serde(default)]
    pub overlap: bool,
}

/// Simulated clients running a key-value or a bank workload.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// "kv" (default): get / put / append / cas on keys k1..kN. "bank": transactions
    /// over accounts a1..aN that move money (transfer) or read every account (read).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub kind: Option<Spanned<String>>,
    /// Bank: how many accounts, a1..aN (default 8).
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub accounts: Option<Spanned<u32>>,
    /// Bank: what each account holds at the start (default 100).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub balance: Option<Spanned<u64>>,
    /// Bank: the largest amount one transfer moves (default 50; each draws 1..=amount).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub amount: Option<Spanned<u64>>,
    /// How many clients; each has one operation outstanding at a time.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub clients: Option<Spanned<u32>>,
    /// How many operations in all (clients stop early if the duration ends).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub ops: Option<Spanned<u64>>,
    /// Relative weights of get / put / append / cas (kv), or transfer / read (bank).
    #[serde(default)]
    #[schemars(with = "Option<RawMix>")]
    pub mix: Option<Spanned<RawMix>>,
    /// How many keys: k1 .. kN.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub keys: Option<Spanned<u32>>,
    /// "uniform" or "zipf".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub distribution: Option<Spanned<String>>,
    /// The zipf exponent s (default 1.0).
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub zipf_exponent: Option<Spanned<f64>>,
    /// Operations per second each client aims for (exponential gaps); unset = back to back.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub rate: Option<Spanned<f64>>,
    /// How long a client waits for a reply before it retries or gives up.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub timeout: Option<Spanned<Dur>>,
    /// How many times a client re-sends an operation (same id) before it gives up.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    pub retries: Option<Spanned<u32>>,
    /// When clients start (default "0s").
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub start: Option<Dur>,
    /// When clients stop starting operations (default: the end of the run); those
    /// in progress still finish.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub stop: Option<Dur>,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    #[serde(default)]
    pub get: u32,
    #[serde(default)]
    pub put: u32,
    #[serde(default)]
    pub append: u32,
    #[serde(default)]
    pub cas: u32,
    #[serde(default)]
    pub transfer: u32,
    #[serde(default)]
    pub read: u32,
}

/// What to check, and what the outcome should be.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// Judge the client history for linearizability (default true for a key-value
    /// workload; a bank workload is judged by its conserved total instead).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub linearizable: Option<Spanned<bool>>,
    /// Check the protocol's cluster-wide invariants after every event (default true).
    #[serde(default)]
    pub invariants: Option<bool>,
    /// "pass", or "fail" for bug-zoo demonstrations that must be caught.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub expect: Option<Spanned<String>>,
    /// Liveness bound, e.g. "2s": after the last fault, every client operation still
    /// pending or invoked later completes ok within this long, and (for protocols with
    /// a "leader" probe) a leader with a majority is in place within this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub liveness: Option<Dur>,
    /// With expect = "fail": the least share of a sweep's seeds that must catch the
    /// bug, e.g. "5%"; a sweep that catches fewer fails (default: one seed is enough).
    /// Ignored with expect = "pass".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub catch_at_least: Option<Spanned<Ppm>>,
    /// The linearizability search's budget: steps and memo memory per key, wall-clock
    /// time for the whole check, e.g. "steps=50e6,memory=64MiB" (the default) or
    /// "time=10s". Reaching it
    /// makes the verdict "unknown", reported apart from a failure. `--budget` on the
    /// command line overrides it.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub budget: Option<Spanned<String>>,
    /// Assertions on probes (see `faultline list` for each protocol's probes).
    #[serde(default, rename = "assert")]
    pub asserts: Vec<RawAssert>,
}

/// An assertion on a probe. Timing: `at` (one instant), `from` + `to` (at every
/// event in the window), or `from` + `by` (at some event in the window). An instant
/// T sees the cluster just before anything else that happens at T (a fault at 2s is
/// seen from 2s on by a window that starts at 2.01s). With
/// `growth = true` (and `from` + `to`) the comparison applies to value(to) - value(from).
/// Comparisons: any of `equals`, `at_least`, `at_most`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAssert {
    /// A probe name: "messages", "ops-ok", "ops-pending", or one of the protocol's.
    #[schemars(with = "String")]
    pub probe: Spanned<String>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub at: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub to: Option<Dur>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub by: Option<Dur>,
    /// Compare the change over [from, to] instead of the value.
    #[serde(default)]
    pub growth: bool,
    #[serde(default)]
    pub equals: Option<i64>,
    #[serde(default)]
    pub at_least: Option<i64>,
    #[serde(default)]
    pub at_most: Option<i64>,
}

// ---------------------------------------------------------------------------------
// The scenario as the engine uses it.

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

/// The bank workload: accounts a1..aN, each starting with `balance`; the total of
/// all accounts never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bank {
    pub accounts: usize,
    pub balance: u64,
    /// The largest amount one transfer moves.
    pub amount: u64,
}

impl Bank {
    /// Account `i` (from 0) is named `a{i+1}`.
    pub fn account(i: usize) -> String {
        format!("a{}", i + 1)
    }
    /// What every account together holds, always.
    pub fn total(&self) -> u64 {
        self.accounts as u64 * self.balance
    }
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
    /// The workload kind its clients speak: "kv" or "bank".
    pub workload: &'a str,
    /// Whether it has a leader ([`crate::Protocol::HAS_LEADER`]): faults aimed at
    /// "leader", and the nemesis kinds crash-leader and isolate-leader, need one.
    pub leader: bool,
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

struct Checker<'a> {
    path: &'a str,
    src: &'a str,
    nodes: usize,
    /// The protocol's name when it has no leader to aim at.
    leaderless: Option<&'a str>,
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.path, self.src, span, msg)
    }

    fn node(&self, name: &Spanned<String>) -> Result<NodeId, Diagnostic> {
        let s = name.get_ref().trim();
        let idx = s.strip_prefix('n').and_then(|d| d.parse::<usize>().ok());
        match idx {
            Some(i) if (1..=self.nodes).contains(&i) && s == format!("n{i}") => Ok(NodeId(i - 1)),
            _ => Err(self
                .err(name.span(), format!("node `{s}` is not in the cluster"))
                .with_help(format!("this scenario has {} nodes, named n1 to n{}", self.nodes, self.nodes))),
        }
    }

    /// A node name, or one of `selectors` ("leader", "crashed", ...).
    fn target(&self, name: &Spanned<String>, selectors: &[&str]) -> Result<Target, Diagnostic> {
        let s = name.get_ref().trim();
        let t = match s {
            "leader" => Target::Leader,
            "follower" => Target::Follower,
            "any" => Target::Any,
            "crashed" => Target::Crashed,
            "paused" => Target::Paused,
            _ => {
                return self.node(name).map(Target::Node).map_err(|mut d| {
                    let sel = selectors.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
                    let nodes = format!(
                        "this scenario has {n} nodes, named n1 to n{n}; or aim at a role: {sel}",
                        n = self.nodes
                    );
                    d.help = Some(match closest(s, selectors.iter().copied()) {
                        Some(c) => format!("did you mean \"{c}\"? {nodes}"),
                        None => nodes,
                    });
                    d
                });
            }
        };
        if !selectors.contains(&s) {
            let sel = selectors.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
            return Err(self
                .err(name.span(), format!("\"{s}\" cannot be used here"))
                .with_help(format!("name a node (n1, n2, ...) or one of {sel}")));
        }
        if t == Target::Leader
            && let Some(proto) = self.leaderless
        {
            return Err(self
                .err(name.span(), format!("protocol \"{proto}\" has no leader, so \"leader\" would hit no node"))
                .with_help(format!("name a node (n1 to n{}), or \"any\" for a node picked at random", self.nodes)));
        }
        Ok(t)
    }

    fn assertion(&self, a: &RawAssert, probes: &[&str], duration: u64) -> Result<Assertion, Diagnostic> {
        let span = a.probe.span();
        let name = a.probe.get_ref().as_str();
        let all: Vec<&str> = ENGINE_PROBES.iter().map(|p| p.0).chain(probes.iter().copied()).collect();
        if !all.contains(&name) {
            let list = all.join(", ");
            return Err(self.err(span.clone(), format!("unknown probe \"{name}\"")).with_help(
                match closest(name, all.iter().copied()) {
                    Some(c) => format!("did you mean \"{c}\"? probes here: {list}"),
                    None => format!("probes here: {list} (see `faultline list`)"),
                },
            ));
        }
        let timing_help = "give `at`, or `from` and `to` (holds throughout), or `from` and `by` (holds at some point)";
        let when = match (a.at, a.from, a.to, a.by) {
            (Some(at), None, None, None) if !a.growth => When::At(at.0),
            (None, Some(f), Some(t), None) if f.0 <= t.0 => {
                if a.growth {
                    When::Growth { from: f.0, to: t.0 }
                } else {
                    When::Always { from: f.0, to: t.0 }
                }
            }
            (None, Some(f), None, Some(b)) if f.0 <= b.0 && !a.growth => When::Eventually { from: f.0, by: b.0 },
            _ if a.growth => {
                return Err(self
                    .err(span, "`growth = true` needs `from` and `to` (from before to), and nothing else")
                    .with_help("e.g. from = \"1s\", to = \"2s\", growth = true, equals = 0"));
            }
            _ => {
                return Err(self
                    .err(span, "this assertion's timing is unclear (or `from` is after `to`/`by`)")
                    .with_help(timing_help));
            }
        };
        let last = match when {
            When::At(t) => t,
            When::Always { to, .. } | When::Growth { to, .. } => to,
            When::Eventually { by, .. } => by,
        };
        if last > duration {
            return Err(self
                .err(span, "this assertion looks past the end of the run")
                .with_help("make the run longer, or move the assertion's times before `duration`"));
        }
        let (mut at_least, mut at_most) = (a.at_least, a.at_most);
        if let Some(e) = a.equals {
            at_least = Some(at_least.map_or(e, |x| x.max(e)));
            at_most = Some(at_most.map_or(e, |x| x.min(e)));
        }
        if at_least.is_none() && at_most.is_none() {
            return Err(self
                .err(span, "this assertion compares with nothing")
                .with_help("add `equals`, `at_least` or `at_most`"));
        }
        let cmp = match (at_least, at_most) {
            (Some(lo), Some(hi)) if lo == hi => format!("= {lo}"),
            (Some(lo), Some(hi)) => format!("in {lo}..={hi}"),
            (Some(lo), None) => format!(">= {lo}"),
            (None, Some(hi)) => format!("<= {hi}"),
            (None, None) => unreachable!("checked above"),
        };
        let t = |ns: u64| crate::time::fmt_time(ns);
        let what = match when {
            When::At(at) => format!("`{name}` {cmp} at {}", t(at)),
            When::Always { from, to } => format!("`{name}` {cmp} from {} to {}", t(from), t(to)),
            When::Eventually { from, by } => format!("`{name}` {cmp} at some point from {} by {}", t(from), t(by)),
            When::Growth { from, to } => format!("growth of `{name}` from {} to {} {cmp}", t(from), t(to)),
        };
        let line = self.src[..span.start].matches('\n').count() + 1;
        Ok(Assertion { probe: name.to_string(), when, at_least, at_most, label: format!("line {line}: {what}") })
    }

    fn nodes_list(&self, names: &[Spanned<String>]) -> Result<Vec<NodeId>, Diagnostic> {
        names.iter().map(|n| self.node(n)).collect()
    }

    fn latency(&self, raw: &RawLatency) -> Result<Latency, Diagnostic> {
        let kinds = ["constant", "uniform", "exponential", "long-tail"];
        let dist = raw.dist.get_ref().as_str();
        let need = |field: &str, v: Option<Dur>| {
            v.map(|d| d.0).ok_or_else(|| {
                self.err(raw.dist.span(), format!("latency dist \"{dist}\" needs `{field}`"))
                    .with_help(example_latency(dist))
            })
        };
        let lat = match dist {
            "constant" => Latency::Constant(need("value", raw.value)?),
            "uniform" => Latency::Uniform { min: need("min", raw.min)?, max: need("max", raw.max)? },
            "exponential" => Latency::Exponential { min: raw.min.map_or(0, |d| d.0), mean: need("mean", raw.mean)? },
            "long-tail" => Latency::LongTail {
                min: need("min", raw.min)?,
                max: need("max", raw.max)?,
                tail: raw.tail.unwrap_or(Ppm(10_000)),
                tail_max: need("tail_max", raw.tail_max)?,
            },
            other => {
                let mut d = self.err(raw.dist.span(), format!("unknown latency distribution \"{other}\""));
                d.help = Some(match closest(other, kinds) {
                    Some(k) => format!("did you mean \"{k}\"? the distributions are {}", kinds.join(", ")),
                    None => format!("the distributions are {}", kinds.join(", ")),
                });
                return Err(d);
            }
        };
        if let Latency::Uniform { min, max } | Latency::LongTail { min, max, .. } = lat
            && min > max
        {
            return Err(self
                .err(raw.dist.span(), "latency `min` is larger than `max`")
                .with_help(example_latency(dist)));
        }
        Ok(lat)
    }

    /// `v` if it lies in `lo..=hi`, else a located error that states the range.
    fn in_range<T: Copy + PartialOrd + std::fmt::Display>(
        &self,
        v: &Spanned<T>,
        what: &str,
        lo: T,
        hi: T,
    ) -> Result<T, Diagnostic> {
        let x = *v.get_ref();
        // Written so that NaN fails too.
        if x >= lo && x <= hi {
            Ok(x)
        } else {
            Err(self.err(v.span(), format!("{what} must be from {lo} to {hi}, not {x}")))
        }
    }

    fn choice<'c>(&self, v: &Spanned<String>, what: &str, options: &[&'c str]) -> Result<&'c str, Diagnostic> {
        let s = v.get_ref().as_str();
        options.iter().copied().find(|o| *o == s).ok_or_else(|| {
            let list = options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ");
            let help = match closest(s, options.iter().copied()) {
                Some(c) => format!("did you mean \"{c}\"? {what} is one of {list}"),
                None => format!("{what} is one of {list}"),
            };
            self.err(v.span(), format!("unknown {what} \"{s}\"")).with_help(help)
        })
    }
}

fn example_latency(dist: &str) -> String {
    match dist {
        "constant" => "e.g. latency = { dist = \"constant\", value = \"5ms\" }".into(),
        "exponential" => "e.g. latency = { dist = \"exponential\", min = \"1ms\", mean = \"5ms\" }".into(),
        "long-tail" => {
            "e.g. latency = { dist = \"long-tail\", min = \"1ms\", max = \"5ms\", tail = \"1%\", tail_max = \"500ms\" }"
                .into()
        }
        _ => "e.g. latency = { dist = \"uniform\", min = \"1ms\", max = \"10ms\" }".into(),
    }
}

/// Turns a serde/toml error into a diagnostic with a hint.
fn toml_error(path: &str, src: &str, e: &toml::de::Error) -> Diagnostic {
    let msg = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    let mut d = Diagnostic::at(path, src, span, msg.lines().next().unwrap_or("invalid TOML").to_string());
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let listed = expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
        d.message = format!("unknown field `{field}`");
        d.help = Some(match closest(field, expected.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? valid fields here: {listed}"),
            None => format!("valid fields here: {listed}"),
        });
    } else if msg.starts_with("invalid type") && msg.contains("expected struct Raw") {
        // Say "a table" rather than the Rust type's name, and show the table form.
        let first = msg.lines().next().unwrap_or("");
        let (found, rest) = first.split_once(", expected struct Raw").unwrap_or((first, ""));
        let what = rest.split_whitespace().next().unwrap_or("");
        d.message = format!("{found}, expected a table");
        d.help = Some(match what {
            "Latency" => "a latency is a table: latency = { dist = \"constant\", value = \"5ms\" } (or dist = \"uniform\", min, max)".into(),
            "Fault" => "each [[faults]] entry is a table with `at` and one action, e.g. at = \"1s\" and crash = \"n2\"".into(),
            "Mix" => "a mix is a table of weights, e.g. mix = { get = 50, put = 30, append = 20 }".into(),
            "Clock" => "a clock is a table, e.g. clock = { node = \"n2\", skew = \"+200ms\" }".into(),
            _ => "write it as a table, { key = value, ... } or a [section]; see `faultline schema` or scenarios/ for examples".into(),
        });
    } else if msg.starts_with("invalid length") && msg.contains("expected struct Raw") {
        // A table written as an array: serde offers the struct as a sequence.
        d.message = "expected a table here, found a list".into();
        d.help = Some(if msg.contains("RawFault") {
            "each fault is a table with `at` and one action: a [[faults]] section with at = \"1s\" and, say, crash = \"n2\"".into()
        } else {
            "write it as a table, { key = value, ... } or a [section]; see `faultline schema` or scenarios/ for examples"
                .into()
        });
    } else if msg.starts_with("invalid type") {
        d.help = Some("check the value's type: durations and rates are strings (\"10s\", \"1%\"), counts are bare numbers (nodes = 5)".into());
    } else if msg.contains("recursion limit") {
        d.help = Some("the file nests arrays or tables far deeper than a scenario ever does; a scenario nests at most three levels".into());
    } else if msg.starts_with("missing field") {
        d.help = Some("every scenario needs at least: name, protocol, nodes, duration; see `faultline schema` or scenarios/ for examples".into());
    }
    d
}

/// Parses and checks a scenario file. `path` is used only in messages.
pub fn parse(path: &str, src: &str, catalog: &Catalog<'_>) -> Result<Scenario, Diagnostic> {
    let raw: RawScenario = toml::from_str(src).map_err(|e| toml_error(path, src, &e))?;
    let nodes = *raw.nodes.get_ref() as usize;
    let mut c = Checker { path, src, nodes, leaderless: None };
    if nodes == 0 || nodes > NODES_MAX {
        return Err(c.err(raw.nodes.span(), format!("a cluster has 1 to {NODES_MAX} nodes, not {nodes}")));
    }
    let duration = raw.duration.get_ref().0;
    if duration == 0 {
        return Err(c
            .err(raw.duration.span(), "the duration must be more than zero")
            .with_help("e.g. duration = \"10s\""));
    }

    // Protocol and variant, against the registry.
    let proto_name = raw.protocol.get_ref().as_str();
    let names: Vec<&str> = catalog.protocols.iter().map(|k| k.name).collect();
    let Some(Known { variants, probes, workload: speaks, leader, .. }) =
        catalog.protocols.iter().find(|k| k.name == proto_name)
    else {
        let help = match closest(proto_name, names.iter().copied()) {
            Some(n) => format!("did you mean \"{n}\"? known protocols: {}", names.join(", ")),
            None => format!("known protocols: {} (see `faultline list`)", names.join(", ")),
        };
        return Err(c.err(raw.protocol.span(), format!("unknown protocol \"{proto_name}\"")).with_help(help));
    };
    if !leader {
        c.leaderless = Some(proto_name);
    }
    let c = c;
    let variant = match &raw.variant {
        None => "correct".to_string(),
        Some(v) => c.choice(v, &format!("{proto_name} variant"), variants)?.to_string(),
    };

    let seeds = match &raw.seeds {
        None => None,
        Some(s) => Some(parse_seed_range(s.get_ref()).map_err(|m| c.err(s.span(), m))?),
    };

    // Network.
    let default_latency = match &raw.network.latency {
        Some(l) => c.latency(l)?,
        None => Latency::Uniform { min: NANOS_PER_MILLI, max: 5 * NANOS_PER_MILLI },
    };
    let base = LinkConfig {
        latency: default_latency,
        loss: raw.network.loss.unwrap_or_default(),
        duplicate: raw.network.duplicate.unwrap_or_default(),
        reorder: raw.network.reorder.unwrap_or_default(),
    };
    let mut links = vec![base; nodes * nodes];
    for l in &raw.network.links {
        let (from, to) = (c.node(&l.from)?, c.node(&l.to)?);
        let link = &mut links[from.0 * nodes + to.0];
        if let Some(lat) = &l.latency {
            link.latency = c.latency(lat)?;
        }
        link.loss = l.loss.unwrap_or(link.loss);
        link.duplicate = l.duplicate.unwrap_or(link.duplicate);
        link.reorder = l.reorder.unwrap_or(link.reorder);
    }
    let on_cut = match &raw.network.on_cut {
        None => CutMode::Drop,
        Some(v) => match c.choice(v, "on_cut mode", &["drop", "hold"])? {
            "hold" => CutMode::Hold,
            _ => CutMode::Drop,
        },
    };
    let network = NetworkConfig { links, client_link: base, on_cut };

    let mut clocks = vec![(0i64, 0i64); nodes];
    for clk in &raw.clocks {
        let n = c.node(&clk.node)?;
        clocks[n.0] = (clk.skew.map_or(0, |s| s.0), clk.drift.map_or(0, |d| d.0));
    }

    // Faults.
    let mut faults = Vec::with_capacity(raw.faults.len());
    for f in &raw.faults {
        let at = f.at.get_ref().0;
        if at > duration {
            return Err(c
                .err(
                    f.at.span(),
                    format!("this fault is at {}, after the run ends at {}", f.at.get_ref(), raw.duration.get_ref()),
                )
                .with_help("schedule it before `duration`, or make the run longer"));
        }
        let mut actions = Vec::new();
        if let Some(groups) = &f.partition {
            let mut seen = BTreeSet::new();
            let mut resolved = Vec::new();
            for g in groups {
                let mut group = Vec::new();
                for name in g {
                    let n = c.node(name)?;
                    if !seen.insert(n) {
                        return Err(c
                            .err(name.span(), format!("node `{}` is in two groups", name.get_ref()))
                            .with_help("each node belongs to one side of a partition"));
                    }
                    group.push(n);
                }
                resolved.push(group);
            }
            let rest: Vec<NodeId> = (0..nodes).map(NodeId).filter(|n| !seen.contains(n)).collect();
            if !rest.is_empty() {
                resolved.push(rest);
            }
            actions.push(FaultAction::Partition(resolved));
        }
        if let Some(n) = &f.isolate {
            actions.push(FaultAction::Isolate(c.target(n, &["leader", "follower", "any"])?));
        }
        if let Some(s) = &f.split {
            actions.push(FaultAction::Split(match c.choice(s, "split", &["halves", "majority-ring", "bridge"])? {
                "halves" => SplitKind::Halves,
                "majority-ring" => SplitKind::MajorityRing,
                _ => SplitKind::Bridge,
            }));
        }
        if let Some(cut) = &f.cut {
            actions.push(FaultAction::Cut { from: c.nodes_list(&cut.from)?, to: c.nodes_list(&cut.to)? });
        }
        if let Some(h) = &f.heal {
            c.choice(h, "heal target", &["all"])?;
            actions.push(FaultAction::Heal);
        }
        let picks: &[&str] = &["leader", "follower", "any"];
        for (field, make, selectors) in [
            (&f.crash, FaultAction::Crash as fn(Target) -> FaultAction, picks),
            (&f.restart, FaultAction::Restart, &["crashed"]),
            (&f.pause, FaultAction::Pause, picks),
            (&f.resume, FaultAction::Resume, &["paused"]),
        ] {
            if let Some(n) = field {
                actions.push(make(c.target(n, selectors)?));
            }
        }
        if let Some(clk) = &f.clock {
            actions.push(FaultAction::Clock {
                node: c.node(&clk.node)?,
                skew_ns: clk.skew.map(|s| s.0),
                drift_ppm: clk.drift.map(|d| d.0),
            });
        }
        if let Some(n) = &f.join {
            actions.push(FaultAction::Join(c.node(n)?));
        }
        if let Some(n) = &f.leave {
            actions.push(FaultAction::Leave(c.node(n)?));
        }
        if let Some(d) = &f.drop {
            actions.push(FaultAction::Drop { kind: d.kind.clone(), to: c.nodes_list(&d.to)?, ns: d.duration.0 });
        }
        let help = "give each [[faults]] entry `at` and one of: partition, isolate, split, cut, heal, crash, restart, pause, resume, clock, join, leave, drop";
        match actions.len() {
            1 => faults.push(Fault { at, action: actions.pop().expect("one action") }),
            0 => {
                return Err(c.err(f.at.span(), "this fault has a time but no action").with_help(help));
            }
            _ => {
                return Err(c
                    .err(f.at.span(), "this fault has more than one action")
                    .with_help("split it into one [[faults]] entry per action (they may share the same `at`)"));
            }
        }
    }
    // Stable: faults at the same time keep file order.
    faults.sort_by_key(|f| f.at);

    let nemesis = match &raw.nemesis {
        None => None,
        Some(n) => {
            let mut kinds = Vec::new();
            for k in &n.kinds {
                let all = ["partition", "crash", "pause", "clock", "crash-leader", "isolate-leader"];
                let kind = c.choice(k, "nemesis kind", &all)?;
                if let Some(proto) = c.leaderless
                    && kind.ends_with("-leader")
                {
                    let instead = if kind == "crash-leader" { "crash" } else { "partition" };
                    return Err(c
                        .err(
                            k.span(),
                            format!("protocol \"{proto}\" has no leader, so \"{kind}\" would inject nothing"),
                        )
                        .with_help(format!("use \"{instead}\", which picks a node at random")));
                }
                kinds.push(match kind {
                    "partition" => NemesisKind::Partition,
                    "crash" => NemesisKind::Crash,
                    "pause" => NemesisKind::Pause,
                    "crash-leader" => NemesisKind::CrashLeader,
                    "isolate-leader" => NemesisKind::IsolateLeader,
                    _ => NemesisKind::Clock,
                });
            }
            let stop = n.stop.as_ref().map_or(duration / 10 * 8, |s| s.get_ref().0);
            if let Some(s) = &n.stop
                && s.get_ref().0 > duration
            {
                return Err(c
                    .err(s.span(), "the nemesis stops after the run ends")
                    .with_help("set `stop` before `duration`"));
            }
            let interval = match (&n.interval, &n.rate) {
                (Some(i), Some(_)) => {
                    return Err(c
                        .err(i.span(), "the nemesis has both `interval` and `rate`")
                        .with_help("they say the same thing: keep one (rate = 2.0 is interval = \"500ms\")"));
                }
                (Some(i), None) => {
                    let ns = i.get_ref().0;
                    if ns < NEMESIS_INTERVAL_NS_MIN {
                        return Err(c.err(i.span(), "the nemesis `interval` must be at least 1ms").with_help(
                            "faults closer than that pile up faster than anything can react; e.g. interval = \"100ms\"",
                        ));
                    }
                    ns
                }
                (None, Some(r)) => {
                    let r = *r.get_ref();
                    if !(r > 0.0 && r <= 1e9 / NEMESIS_INTERVAL_NS_MIN as f64) {
                        return Err(c
                            .err(
                                n.rate.as_ref().expect("rate").span(),
                                "the nemesis `rate` must be more than 0 and at most 1000 faults per second",
                            )
                            .with_help("e.g. rate = 2.0"));
                    }
                    ((1e9 / r) as u64).max(1)
                }
                (None, None) => NANOS_PER_MILLI * 1000,
            };
            Some(NemesisConfig {
                kinds,
                interval,
                fault_duration: n.fault_duration.map_or(NANOS_PER_MILLI * 500, |d| d.0.max(1)),
                stop,
                max_skew: n.max_skew.map_or(500 * NANOS_PER_MILLI, |d| d.0),
                overlap: n.overlap,
            })
        }
    };

    let workload = match &raw.workload {
        None => None,
        Some(w) => {
            let clients = w.clients.as_ref().map_or(3, |c| *c.get_ref() as usize);
            if let Some(cl) = &w.clients
                && (clients == 0 || clients > CLIENTS_MAX)
            {
                return Err(c.err(cl.span(), format!("clients must be 1 to {CLIENTS_MAX}, not {clients}")));
            }
            let keys = w.keys.as_ref().map_or(5, |k| *k.get_ref() as usize);
            if let Some(k) = &w.keys
                && keys == 0
            {
                return Err(c.err(k.span(), "a workload needs at least one key"));
            }
            if let Some(k) = &w.keys {
                c.in_range(k, "`keys`", 1, KEYS_MAX as u32)?;
            }
            let ops = match &w.ops {
                Some(o) => c.in_range(o, "`ops`", 0, OPS_MAX)?,
                None => 100,
            };
            let retries = match &w.retries {
                Some(r) => c.in_range(r, "`retries`", 0, RETRIES_MAX as u32)?,
                None => 2,
            };
            let timeout = match &w.timeout {
                Some(t) => {
                    match c.in_range(&Spanned::new(t.span(), t.get_ref().0), "`timeout` (ns)", TIMEOUT_NS_MIN, u64::MAX)
                    {
                        Ok(ns) => ns,
                        Err(d) => {
                            return Err(
                                d.with_help("a client waits at least 1us for a reply, e.g. timeout = \"200ms\"")
                            );
                        }
                    }
                }
                None => 500 * NANOS_PER_MILLI,
            };
            let zipf_exponent = match &w.zipf_exponent {
                Some(z) => {
                    if z.get_ref().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                        return Err(c
                            .err(z.span(), "`zipf_exponent` must be more than 0")
                            .with_help("e.g. zipf_exponent = 1.0"));
                    }
                    c.in_range(z, "`zipf_exponent`", f64::MIN_POSITIVE, ZIPF_EXPONENT_MAX)?
                }
                None => 1.0,
            };
            let is_bank = match &w.kind {
                None => false,
                Some(k) => c.choice(k, "workload kind", &["kv", "bank"])? == "bank",
            };
            let default_mix = if is_bank {
                RawMix { get: 0, put: 0, append: 0, cas: 0, transfer: 80, read: 20 }
            } else {
                RawMix { get: 50, put: 30, append: 20, cas: 0, transfer: 0, read: 0 }
            };
            let mix = w.mix.as_ref().map_or(default_mix, |m| *m.get_ref());
            let weights = [
                mix.get as u64,
                mix.put as u64,
                mix.append as u64,
                mix.cas as u64,
                mix.transfer as u64,
                mix.read as u64,
            ];
            if let Some(m) = &w.mix {
                let (theirs, ours, example) = if is_bank {
                    (&weights[..4], "transfer and read", "mix = { transfer = 80, read = 20 }")
                } else {
                    (&weights[4..], "get, put, append and cas", "mix = { get = 50, put = 30, append = 20 }")
                };
                if theirs.iter().any(|&x| x > 0) {
                    let kind = if is_bank { "a bank" } else { "a key-value" };
                    return Err(c
                        .err(m.span(), format!("{kind} workload's mix weighs only {ours}"))
                        .with_help(format!("e.g. {example}; set `kind` to choose the workload")));
                }
                if weights.iter().sum::<u64>() == 0 {
                    return Err(c
                        .err(m.span(), "the workload mix gives every operation weight 0")
                        .with_help(format!("e.g. {example}")));
                }
            }
            let bank = if is_bank {
                let accounts = w.accounts.as_ref().map_or(8, |a| *a.get_ref() as usize);
                if let Some(a) = &w.accounts
                    && accounts < 2
                {
                    return Err(c.err(a.span(), "a bank needs at least 2 accounts to transfer between"));
                }
                if let Some(a) = &w.accounts {
                    c.in_range(a, "`accounts`", 2, ACCOUNTS_MAX as u32)?;
                }
                if let Some(b) = &w.balance {
                    c.in_range(b, "`balance`", 0, BALANCE_MAX)?;
                }
                let balance = w.balance.as_ref().map_or(100, |b| *b.get_ref());
                let amount = w.amount.as_ref().map_or(50, |a| *a.get_ref());
                if let Some(a) = &w.amount
                    && amount == 0
                {
                    return Err(c.err(a.span(), "a transfer `amount` must be at least 1"));
                }
                if let Some(a) = &w.amount {
                    c.in_range(a, "`amount`", 1, BALANCE_MAX)?;
                }
                Some(Bank { accounts, balance, amount })
            } else {
                for (field, span) in [
                    ("accounts", w.accounts.as_ref().map(|a| a.span())),
                    ("balance", w.balance.as_ref().map(|a| a.span())),
                    ("amount", w.amount.as_ref().map(|a| a.span())),
                ] {
                    if let Some(span) = span {
                        return Err(c
                            .err(span, format!("`{field}` belongs to a bank workload"))
                            .with_help("add kind = \"bank\" to [workload], or remove it"));
                    }
                }
                None
            };
            let distribution = match &w.distribution {
                None => KeyDist::Uniform,
                Some(d) => match c.choice(d, "key distribution", &["uniform", "zipf"])? {
                    "zipf" => KeyDist::Zipf,
                    _ => KeyDist::Uniform,
                },
            };
            let think = match &w.rate {
                Some(r) if *r.get_ref() > 0.0 && r.get_ref().is_finite() => {
                    (1e9 / c.in_range(
                        r,
                        "workload `rate` (operations per second per client)",
                        1e-6,
                        CLIENT_RATE_MAX,
                    )?) as u64
                }
                Some(r) => {
                    return Err(c
                        .err(r.span(), "workload `rate` must be a positive number of operations per second")
                        .with_help("e.g. rate = 100, or leave it out for back-to-back operations"));
                }
                None => 0,
            };
            Some(WorkloadConfig {
                clients,
                ops,
                mix: weights,
                bank,
                keys,
                distribution,
                zipf_exponent,
                think,
                timeout,
                retries,
                start: w.start.map_or(0, |d| d.0),
                stop: w.stop.map_or(u64::MAX, |d| d.0),
            })
        }
    };

    let expect = match &raw.check.expect {
        None => Expect::Pass,
        Some(e) => match c.choice(e, "expectation", &["pass", "fail"])? {
            "fail" => Expect::Fail,
            _ => Expect::Pass,
        },
    };

    // Only a scenario that expects to fail is judged by its catch rate; with
    // expect = "pass" (a zoo file flipped to watch the bug) the line is ignored.
    let catch_at_least = match expect {
        Expect::Fail => raw.check.catch_at_least.as_ref().map(|r| *r.get_ref()),
        Expect::Pass => None,
    };

    let budget = match &raw.check.budget {
        None => crate::check::linearizability::Budget::default(),
        Some(b) => crate::check::linearizability::Budget::parse(b.get_ref()).map_err(|why| {
            c.err(b.span(), format!("check `budget`: {why}")).with_help(
                "e.g. budget = \"steps=50e6,memory=64MiB,time=10s\" (any of the three; the rest keep their defaults)",
            )
        })?,
    };

    let is_bank = workload.as_ref().is_some_and(|w| w.bank.is_some());
    if let Some(w) = &raw.workload
        && (*speaks == "bank") != is_bank
    {
        let msg = if is_bank {
            format!("{proto_name} stores keys (a kv workload), but this [workload] is a bank")
        } else {
            format!(
                "{proto_name} runs bank transactions, but this [workload] is key-value (kind = \"kv\", the default)"
            )
        };
        let help = if *speaks == "bank" {
            "add kind = \"bank\" to [workload] (accounts, balance, amount and mix = { transfer, read } set it up)"
        } else {
            "remove kind = \"bank\": this protocol stores keys (mix = { get, put, append, cas })"
        };
        let span = w.kind.as_ref().map_or(raw.protocol.span(), |k| k.span());
        return Err(c.err(span, msg).with_help(help));
    }
    if let Some(l) = &raw.check.linearizable
        && *l.get_ref()
        && is_bank
    {
        return Err(c
            .err(l.span(), "a bank workload's history is not a key-value history to check for linearizability")
            .with_help(
                "remove `linearizable`: bank runs are judged by the conserved total and the protocol's invariants",
            ));
    }
    let mut asserts = Vec::with_capacity(raw.check.asserts.len());
    for a in &raw.check.asserts {
        asserts.push(c.assertion(a, probes, duration)?);
    }

    let members = match &raw.members {
        None => (0..nodes).map(NodeId).collect(),
        Some(list) => {
            let mut m = c.nodes_list(list)?;
            m.sort();
            m.dedup();
            if m.is_empty() {
                return Err(c
                    .err(raw.nodes.span(), "`members` is empty: the cluster starts with no member")
                    .with_help(
                        "list the nodes that are members at the start, e.g. members = [\"n1\", \"n2\", \"n3\"]",
                    ));
            }
            m
        }
    };
    Ok(Scenario {
        members,
        path: path.to_string(),
        source: src.to_string(),
        name: raw.name,
        description: raw.description,
        protocol: proto_name.to_string(),
        variant,
        nodes,
        duration,
        seed: raw.seed.unwrap_or(1),
        seeds,
        network,
        clocks,
        faults,
        nemesis,
        linearizable: raw.check.linearizable.as_ref().map_or(workload.is_some() && !is_bank, |l| *l.get_ref()),
        invariants: raw.check.invariants.unwrap_or(true),
        workload,
        expect,
        catch_at_least,
        budget,
        liveness: raw.check.liveness.map(|d| d.0.max(1)),
        asserts,
    })
}

/// The JSON Schema of scenario files, for editor completion.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawScenario);
    serde_json::to_string_pretty(&schema).expect("schema serialises")
}

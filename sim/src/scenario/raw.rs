//! The file as written: serde types whose field docs become the JSON Schema.
//! Nothing here judges a value beyond its type; `parse` does that, with spans.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_spanned::Spanned;

use crate::time::{Dur, Ppm};

// ---------------------------------------------------------------------------------
// Value types that parse from strings with a helpful message.

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
    /// The network: latency, loss, duplication, reordering, per-link overrides.
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
    /// Clients and the operations they issue.
    #[serde(default)]
    pub workload: Option<RawWorkload>,
    /// What to check, and what the outcome should be.
    #[serde(default)]
    pub check: RawCheck,
    /// Steps to take, in order, in place of what the seed would draw: a path that
    /// `faultline explore` found, replayed by `faultline run` (and edited by hand).
    #[serde(default)]
    #[schemars(with = "Option<RawSchedule>")]
    pub schedule: Option<Spanned<RawSchedule>>,
}

/// A schedule: every delivery, loss, timer firing, crash and restart of a run, in
/// order, as `faultline explore` words them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// The steps, e.g. "c1 asks n1: put k1 1.1", "RequestVote n1 -> n2 arrives",
    /// "n2 timer Election fires", "n3 crashes". Where two steps possible at once read
    /// the same, a suffix " (#2)" picks the second.
    #[schemars(with = "Vec<String>")]
    pub steps: Vec<Spanned<String>>,
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
    /// The distribution: "constant", "uniform", "exponential" or "long-tail".
    #[schemars(with = "String")]
    pub dist: Spanned<String>,
    /// constant: the latency, e.g. "5ms".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub value: Option<Dur>,
    /// uniform, exponential, long-tail: the least latency.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub min: Option<Dur>,
    /// uniform, long-tail: the most (for long-tail, of a message that is not slow).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub max: Option<Dur>,
    /// exponential: the mean wait past `min`.
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

/// One directed link's overrides (from -> to); what it leaves out comes from `[network]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    /// The sending node, e.g. "n1".
    #[schemars(with = "String")]
    pub from: Spanned<String>,
    /// The receiving node, e.g. "n2".
    #[schemars(with = "String")]
    pub to: Spanned<String>,
    /// Latency on this link.
    #[serde(default)]
    pub latency: Option<RawLatency>,
    /// Chance that a message on this link is lost, e.g. "1%".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub loss: Option<Ppm>,
    /// Chance that a message on this link is delivered twice.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub duplicate: Option<Ppm>,
    /// Chance that a message on this link arrives out of FIFO order.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reorder: Option<Ppm>,
}

/// A node clock that starts off: skew is an offset ("-50ms"), drift a rate ("+0.5%").
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClock {
    /// The node, e.g. "n2".
    #[schemars(with = "String")]
    pub node: Spanned<String>,
    /// Its clock's offset, e.g. "-50ms".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub skew: Option<SignedDur>,
    /// Its clock's rate error, e.g. "+0.5%".
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
    /// Lose every message of one kind (e.g. "Accept"; `faultline list` names them) sent to
    /// the nodes in `to`, from any sender, for a while (`for`).
    #[serde(default)]
    pub drop: Option<RawDrop>,
}

/// `drop`: lose every message of one kind sent to some nodes, for a while.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDrop {
    /// A message kind of the protocol, e.g. "Accept" (`faultline list` names them).
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// The receivers whose incoming messages of that kind are lost, e.g. ["n2"].
    #[schemars(with = "Vec<String>")]
    pub to: Vec<Spanned<String>>,
    /// How long, e.g. "5ms".
    #[serde(rename = "for")]
    #[schemars(with = "String")]
    pub duration: Dur,
}

/// `cut`: cut the links from each of `from` to each of `to`, one way only.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCut {
    /// The senders, e.g. ["n1"].
    #[schemars(with = "Vec<String>")]
    pub from: Vec<Spanned<String>>,
    /// The receivers, e.g. ["n2", "n3"].
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
    /// "images": upload / fetch / tag / delete images i1..iN, and list the images
    /// with a tag.
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
    /// An explicit list of operations (`[[workload.operations]]`), in place of the
    /// random mix: each client invokes its own in order, each no earlier than its
    /// `at` (later if the client's previous operation is still outstanding).
    /// `faultline shrink` writes these.
    #[serde(default)]
    pub operations: Vec<RawScripted>,
}

/// One operation of `[[workload.operations]]`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScripted {
    /// The client that invokes it: "c1" .. "cN".
    #[schemars(with = "String")]
    pub client: Spanned<String>,
    /// The earliest moment it is invoked.
    #[schemars(with = "String")]
    pub at: Spanned<Dur>,
    /// "get", "put", "append", "cas" (kv), "transfer" or "read" (bank), "upload",
    /// "fetch", "tag", "delete" or "list" (images).
    #[schemars(with = "String")]
    pub op: Spanned<String>,
    /// upload, fetch, tag, delete: the image's name.
    #[serde(default)]
    pub name: Option<String>,
    /// upload: the image's size in bytes.
    #[serde(default)]
    pub size: Option<u64>,
    /// upload: the image's tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// tag: the tag added; list: the tag listed.
    #[serde(default)]
    pub tag: Option<String>,
    /// get, put, append, cas: the key.
    #[serde(default)]
    pub key: Option<String>,
    /// put, append: the value written; upload: what the bytes are (default: the
    /// client and operation number, e.g. "1.3").
    #[serde(default)]
    pub value: Option<String>,
    /// cas: the value expected; transfer: the account debited.
    #[serde(default)]
    pub from: Option<String>,
    /// cas: the value set; transfer: the account credited.
    #[serde(default)]
    pub to: Option<String>,
    /// transfer: how much.
    #[serde(default)]
    pub amount: Option<u64>,
}

/// The weights of each operation in a workload's mix (an operation not named weighs 0).
#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RawMix {
    /// Reads of one key.
    #[serde(default)]
    pub get: u32,
    /// Writes of one key.
    #[serde(default)]
    pub put: u32,
    /// Appends to one key's value.
    #[serde(default)]
    pub append: u32,
    /// Compare-and-set on one key.
    #[serde(default)]
    pub cas: u32,
    /// Bank: a transfer between two accounts.
    #[serde(default)]
    pub transfer: u32,
    /// Bank: a read of every account.
    #[serde(default)]
    pub read: u32,
    /// Images: store an image (its bytes and its metadata).
    #[serde(default)]
    pub upload: u32,
    /// Images: get an image's record.
    #[serde(default)]
    pub fetch: u32,
    /// Images: add a tag to an image.
    #[serde(default)]
    pub tag: u32,
    /// Images: remove an image.
    #[serde(default)]
    pub delete: u32,
    /// Images: list the images with a tag.
    #[serde(default)]
    pub list: u32,
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
    /// pending or invoked later completes ok within this long, and (for protocols whose
    /// nodes report their leadership) a leader with a majority is in place within this long.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub liveness: Option<Dur>,
    /// With expect = "fail": the least share of a sweep's seeds that must catch the
    /// bug, e.g. "5%"; a sweep that catches fewer fails (default: one seed is enough).
    /// Ignored with expect = "pass".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub catch_at_least: Option<Spanned<Ppm>>,
    /// With expect = "fail": on how many of `seeds` a check fails, as last measured
    /// (the bundled zoo's tests hold each file to its count). Ignored with expect = "pass".
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub caught: Option<Spanned<u64>>,
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
    /// The moment, for a check at one time, e.g. "2s".
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub at: Option<Dur>,
    /// The window's start, for `always`, `eventually` or `growth`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<Dur>,
    /// The window's end, for `always` or `growth`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub to: Option<Dur>,
    /// The deadline, for `eventually` (from `from`).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub by: Option<Dur>,
    /// Compare the change over [from, to] instead of the value.
    #[serde(default)]
    pub growth: bool,
    /// The value must be exactly this.
    #[serde(default)]
    pub equals: Option<i64>,
    /// The value must be at least this.
    #[serde(default)]
    pub at_least: Option<i64>,
    /// The value must be at most this.
    #[serde(default)]
    pub at_most: Option<i64>,
}

//! faultline-protocols: protocol implementations with their bug zoos, and a registry
//! that finds them by the names scenario files use.

pub mod chash;
pub mod commit;
pub mod images;
pub mod kv;
#[cfg(madsim)]
pub mod madsim_host;
pub mod paxos;
pub mod pb;
pub mod pingpong;
pub mod raft;
pub mod stream;
pub mod threepc;
pub mod twopc;

use faultline_sim::protocol::OpKind;
use faultline_sim::scenario::{Catalog, Known};
use faultline_sim::{RunResult, Scenario, Sim, Trace};

/// A protocol as the CLI and scenario files know it.
pub struct Entry {
    pub name: &'static str,
    pub summary: &'static str,
    pub variants: &'static [(&'static str, &'static str)],
    pub probes: &'static [(&'static str, &'static str)],
    pub messages: &'static [&'static str],
    pub ops: &'static [OpKind],
    pub leader: bool,
    /// The fewest nodes it runs on ([`faultline_sim::Protocol::MIN_NODES`]).
    pub min_nodes: usize,
    pub run: Runner,
    /// Searches a small configuration of the scenario exhaustively (`faultline explore`).
    pub explore: ExploreRunner,
    /// Runs a scenario's `[schedule]` (what [`Entry::run`] does for one), saying which
    /// step cannot be taken.
    pub replay: Replayer,
    /// Runs one node of a scenario as a real process (`faultline node`, under
    /// `faultline cluster`); `None` for a protocol whose messages and disk records
    /// cannot leave the simulator (no `Deserialize`). See [`Entry::networked`].
    pub node: Option<NodeRunner>,
    /// A fresh judge of the protocol's observations for a cluster of this many
    /// nodes, each judged with its replication group
    /// ([`faultline_sim::Protocol::replica_group`]): what the engine judges with,
    /// for a run judged outside it (a real cluster, the madsim host).
    pub judge: fn(usize) -> faultline_sim::judge::Judge,
}

/// Runs one node of a scenario on real sockets until the process is killed.
#[cfg(not(madsim))]
pub type NodeRunner = Box<dyn Fn(&Scenario, faultline_net::NodeSpec) -> std::io::Result<()> + Send + Sync>;
/// Under madsim's simulator: the node as a future, for a simulated node to run.
#[cfg(madsim)]
pub type NodeRunner = Box<
    dyn Fn(
            &Scenario,
            faultline_net::NodeSpec,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = std::io::Result<()>>>>
        + Send
        + Sync,
>;

/// Runs one seed of a scenario on a protocol; with [`Record::Faults`] the result
/// lists every fault carried out ([`RunResult::applied`]).
pub type Runner = Box<dyn Fn(&Scenario, u64, Trace, Record) -> RunResult + Send + Sync>;

/// Searches a scenario's configuration within bounds, reporting each finished level.
pub type ExploreRunner = Box<
    dyn Fn(
            &Scenario,
            faultline_sim::explore::Bounds,
            &mut dyn FnMut(&faultline_sim::explore::Report),
        ) -> faultline_sim::explore::Report
        + Send
        + Sync,
>;

/// Replays a scenario's `[schedule]` with a seed, writing a trace.
pub type Replayer =
    Box<dyn Fn(&Scenario, u64, Trace) -> Result<RunResult, faultline_sim::explore::ScheduleError> + Send + Sync>;

/// What a run keeps beyond its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record {
    /// Nothing more.
    Off,
    /// The faults it carried out, targets resolved (what `faultline shrink` starts from).
    Faults,
}

impl Entry {
    /// A protocol written outside this repository, registered under `name`:
    /// `variants` are its variants with what each is ("correct" first), and
    /// `config` makes its [`Protocol::Config`](faultline_sim::Protocol::Config)
    /// for a scenario (usually from `scenario.variant`). Its probes, message kinds,
    /// operations and leadership come from the trait. Hand it to
    /// `faultline::cli::main_with` and the whole command line runs it.
    ///
    /// Its types cross threads (`Send`; a configuration `Sync` too): `faultline
    /// explore --jobs` searches on several.
    pub fn of<P: faultline_sim::Protocol + Send + 'static>(
        name: &'static str,
        summary: &'static str,
        variants: &'static [(&'static str, &'static str)],
        config: impl Fn(&Scenario) -> P::Config + Send + Sync + 'static,
    ) -> Entry
    where
        P::Msg: Send,
        P::Timer: Send,
        P::Stored: Send,
        P::Config: Send + Sync,
    {
        let config = std::sync::Arc::new(config);
        let for_explore = config.clone();
        let for_replay = config.clone();
        Entry {
            explore: Box::new(move |s, bounds, progress| {
                faultline_sim::explore::Explorer::<P>::new(s, for_explore(s), bounds).run_threaded(s, progress)
            }),
            replay: Box::new(move |s, seed, trace| faultline_sim::explore::replay::<P>(s, for_replay(s), seed, trace)),
            name,
            summary,
            variants,
            probes: P::PROBES,
            messages: <P::Msg as faultline_sim::protocol::Message>::KINDS,
            ops: P::OPS,
            leader: P::HAS_LEADER,
            min_nodes: P::MIN_NODES,
            judge: faultline_sim::protocol::judge_for::<P>,
            run: Box::new(move |s, seed, trace, record| {
                if s.schedule.is_some() {
                    // The steps are the file's, not the seed's (a path `explore` found).
                    return faultline_sim::explore::replay::<P>(s, config(s), seed, trace)
                        .unwrap_or_else(|e| unfollowed(s, seed, &e));
                }
                let sim = Sim::<P>::new(s, config(s), seed, trace);
                match record {
                    Record::Off => sim.run(),
                    Record::Faults => sim.recording().run(),
                }
            }),
            node: None,
        }
    }

    /// [`Entry::of`] for a protocol that also runs on a real network: its messages
    /// and disk records derive `Deserialize` as well as `Serialize` (a field the
    /// trace abbreviates asks [`faultline_sim::wire::carrying`]), and `faultline
    /// cluster` runs it as one process per node.
    pub fn networked<P: faultline_sim::Protocol + Send + 'static>(
        name: &'static str,
        summary: &'static str,
        variants: &'static [(&'static str, &'static str)],
        config: impl Fn(&Scenario) -> P::Config + Send + Sync + 'static,
    ) -> Entry
    where
        P::Timer: Send,
        P::Config: Send + Sync,
        P::Msg: Send + serde::de::DeserializeOwned,
        P::Stored: Send + serde::de::DeserializeOwned,
    {
        let config = std::sync::Arc::new(config);
        let for_nodes = config.clone();
        #[cfg(not(madsim))]
        let node: NodeRunner = Box::new(move |s, spec| faultline_net::run_node::<P>(for_nodes(s), spec));
        #[cfg(madsim)]
        let node: NodeRunner = Box::new(move |s, spec| Box::pin(faultline_net::serve::<P>(for_nodes(s), spec)));
        Entry { node: Some(node), ..Entry::of::<P>(name, summary, variants, move |s| config(s)) }
    }
}

/// A run whose `[schedule]` could not be followed (commands that load a file
/// check its schedule first, so only a caller that did not meets this).
fn unfollowed(s: &Scenario, seed: u64, e: &faultline_sim::explore::ScheduleError) -> RunResult {
    let mut r = RunResult::empty(seed, s.expect);
    r.assertion_failures.push(faultline_sim::Failure { check: faultline_sim::Check::Schedule, message: e.to_string() });
    r
}

/// A variant that the scenario parser has already checked against the list.
fn variant<V>(s: &Scenario, from_name: fn(&str) -> Option<V>) -> V {
    from_name(&s.variant).expect("variant checked at parse time")
}

/// The protocols this repository ships.
fn bundled() -> Vec<Entry> {
    vec![
        Entry::networked::<pb::Pb>(
            "pb",
            "primary-backup key-value register with a fixed primary (n1)",
            pb::VARIANTS,
            |s| variant(s, pb::Variant::from_name),
        ),
        Entry::networked::<raft::Raft>(
            "raft",
            "Raft replicated key-value store: elections, log replication, snapshots, ReadIndex reads",
            raft::VARIANTS,
            |s| variant(s, raft::Variant::from_name),
        ),
        Entry::networked::<paxos::Paxos>(
            "paxos",
            "Multi-Paxos replicated key-value store: a stable leader, phase 1 only on leader change",
            paxos::VARIANTS,
            |s| variant(s, paxos::Variant::from_name),
        ),
        Entry::networked::<paxos::synod::Synod>(
            "synod",
            "single-decree Paxos: every node proposes its own value and all agree on one",
            paxos::synod::VARIANTS,
            |_| (),
        ),
        Entry::networked::<twopc::TwoPc>(
            "twopc",
            "two-phase commit of bank transfers: n1 coordinates, n2.. hold the accounts",
            twopc::VARIANTS,
            |s| (variant(s, twopc::Variant::from_name), commit::Layout::of(s)),
        ),
        Entry::networked::<threepc::ThreePc>(
            "threepc",
            "three-phase commit with Skeen's termination protocol: non-blocking under crashes, not partitions",
            threepc::VARIANTS,
            commit::Layout::of,
        ),
        Entry::networked::<chash::store::Shard>(
            "chash",
            "sharded key-value store: keys placed by consistent hashing, migrated on join and leave",
            chash::store::VARIANTS,
            |s| chash::store::Config {
                variant: variant(s, |v| chash::store::VARIANTS.iter().map(|x| x.0).find(|x| *x == v)),
                keys: s.workload.as_ref().map_or(5, |w| w.keys),
            },
        ),
        Entry::networked::<stream::Stream>(
            "stream",
            "exactly-once stream job: checkpoints, and a sink that pre-commits at the barrier and commits on completion",
            stream::VARIANTS,
            |s| variant(s, stream::Variant::from_name),
        ),
        Entry::networked::<images::Images>(
            "images",
            "sharded image store: each shard a Raft group, uploads atomic across shards by two-phase commit",
            images::VARIANTS,
            |s| variant(s, images::Variant::from_name),
        ),
        Entry::of::<pingpong::PingPong>(
            "pingpong",
            "every node pings every other; the engine benchmark's workload",
            pingpong::VARIANTS,
            |_| (),
        ),
    ]
}

static REGISTRY: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
static EXTRA: std::sync::Mutex<Vec<Entry>> = std::sync::Mutex::new(Vec::new());

/// Adds protocols written outside this repository to the registry, beside the
/// bundled ones. Call it before anything looks a protocol up; a name already taken
/// (by a bundled protocol or an earlier registration) is refused.
pub fn register(entries: Vec<Entry>) -> Result<(), String> {
    if REGISTRY.get().is_some() {
        return Err("protocols must be registered before the registry is first used".into());
    }
    let mut extra = EXTRA.lock().map_err(|_| "the registry's lock is poisoned".to_string())?;
    let bundled: Vec<&str> = bundled().iter().map(|e| e.name).collect();
    for (i, e) in entries.iter().enumerate() {
        let earlier = extra.iter().chain(&entries[..i]).any(|x| x.name == e.name);
        if bundled.contains(&e.name) || earlier {
            return Err(format!(
                "a protocol named \"{}\" is already registered: register yours under another name",
                e.name
            ));
        }
        if e.variants.first().map(|v| v.0) != Some("correct") {
            return Err(format!("protocol \"{}\": its first variant must be \"correct\"", e.name));
        }
    }
    extra.extend(entries);
    Ok(())
}

/// Every protocol scenario files may name: the bundled ones, then any registered.
pub fn registry() -> &'static [Entry] {
    REGISTRY.get_or_init(|| {
        let mut all = bundled();
        all.append(&mut EXTRA.lock().map(|mut e| std::mem::take(&mut *e)).unwrap_or_default());
        all
    })
}

pub fn lookup(name: &str) -> Option<&'static Entry> {
    registry().iter().find(|e| e.name == name)
}

/// The names scenario files may use, for parse-time checks.
pub fn catalog() -> Catalog<'static> {
    Catalog {
        protocols: registry()
            .iter()
            .map(|e| Known {
                name: e.name,
                variants: e.variants.iter().map(|v| v.0).collect(),
                probes: e.probes.iter().map(|p| p.0).collect(),
                messages: e.messages.to_vec(),
                ops: e.ops.to_vec(),
                leader: e.leader,
                min_nodes: e.min_nodes,
            })
            .collect(),
    }
}

/// Runs a scenario with the protocol it names.
pub fn run(scenario: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let entry = lookup(&scenario.protocol).expect("protocol checked at parse time");
    (entry.run)(scenario, seed, trace, Record::Off)
}

/// Checks that every step of a scenario's `[schedule]` can be taken (nothing to do
/// without one).
pub fn check_schedule(scenario: &Scenario) -> Result<(), faultline_sim::explore::ScheduleError> {
    if scenario.schedule.is_none() {
        return Ok(());
    }
    let entry = lookup(&scenario.protocol).expect("protocol checked at parse time");
    (entry.replay)(scenario, scenario.seed, Trace::off()).map(drop)
}

/// [`run`], keeping the faults the run carried out ([`RunResult::applied`]).
pub fn run_recording(scenario: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let entry = lookup(&scenario.protocol).expect("protocol checked at parse time");
    (entry.run)(scenario, seed, trace, Record::Faults)
}

//! faultline-protocols: protocol implementations with their bug zoos, and a registry
//! that finds them by the names scenario files use.

pub mod chash;
pub mod commit;
pub mod kv;
pub mod paxos;
pub mod pb;
pub mod pingpong;
pub mod raft;
pub mod threepc;
pub mod twopc;

use faultline_sim::protocol::OpKind;
use faultline_sim::scenario::{Catalog, Known};
use faultline_sim::{RunResult, Scenario, Sim, Trace};

/// A protocol as the CLI and scenario files know it.
pub struct Entry {
    pub name: &'static str,
    pub summary: &'static str,
    /// `(variant, what it does)`; "correct" comes first.
    pub variants: &'static [(&'static str, &'static str)],
    /// `(probe, what it measures)` for `[[check.assert]]`.
    pub probes: &'static [(&'static str, &'static str)],
    /// Its message kinds, which `drop` faults name.
    pub messages: &'static [&'static str],
    /// The client operations it serves ([`faultline_sim::Protocol::OPS`]).
    pub ops: &'static [OpKind],
    /// It has a leader to aim faults at ([`faultline_sim::Protocol::HAS_LEADER`]).
    pub leader: bool,
    /// Runs a parsed scenario with one seed.
    pub run: fn(&Scenario, u64, Trace) -> RunResult,
}

fn run_pb(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let variant = pb::Variant::from_name(&s.variant).expect("variant checked at parse time");
    Sim::<pb::Pb>::new(s, variant, seed, trace).run()
}

fn run_raft(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let variant = raft::Variant::from_name(&s.variant).expect("variant checked at parse time");
    Sim::<raft::Raft>::new(s, variant, seed, trace).run()
}

fn run_twopc(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let variant = twopc::Variant::from_name(&s.variant).expect("variant checked at parse time");
    Sim::<twopc::TwoPc>::new(s, (variant, commit::Layout::of(s)), seed, trace).run()
}

fn run_threepc(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    Sim::<threepc::ThreePc>::new(s, commit::Layout::of(s), seed, trace).run()
}

fn run_chash(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let variant =
        chash::store::VARIANTS.iter().map(|v| v.0).find(|v| *v == s.variant).expect("variant checked at parse time");
    let keys = s.workload.as_ref().map_or(5, |w| w.keys);
    Sim::<chash::store::Shard>::new(s, chash::store::Config { variant, keys }, seed, trace).run()
}

fn run_paxos(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let variant = paxos::Variant::from_name(&s.variant).expect("variant checked at parse time");
    Sim::<paxos::Paxos>::new(s, variant, seed, trace).run()
}

fn run_synod(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    Sim::<paxos::synod::Synod>::new(s, (), seed, trace).run()
}

fn run_pingpong(s: &Scenario, seed: u64, trace: Trace) -> RunResult {
    Sim::<pingpong::PingPong>::new(s, (), seed, trace).run()
}

/// A protocol's message kinds, in a constant.
const fn kinds<P: faultline_sim::Protocol>() -> &'static [&'static str] {
    <P::Msg as faultline_sim::protocol::Message>::KINDS
}

pub const REGISTRY: &[Entry] = &[
    Entry {
        name: "pb",
        summary: "primary-backup key-value register with a fixed primary (n1)",
        variants: pb::VARIANTS,
        probes: <pb::Pb as faultline_sim::Protocol>::PROBES,
        messages: kinds::<pb::Pb>(),
        ops: <pb::Pb as faultline_sim::Protocol>::OPS,
        leader: <pb::Pb as faultline_sim::Protocol>::HAS_LEADER,
        run: run_pb,
    },
    Entry {
        name: "raft",
        summary: "Raft replicated key-value store: elections, log replication, snapshots, ReadIndex reads",
        variants: raft::VARIANTS,
        probes: <raft::Raft as faultline_sim::Protocol>::PROBES,
        messages: kinds::<raft::Raft>(),
        ops: <raft::Raft as faultline_sim::Protocol>::OPS,
        leader: <raft::Raft as faultline_sim::Protocol>::HAS_LEADER,
        run: run_raft,
    },
    Entry {
        name: "paxos",
        summary: "Multi-Paxos replicated key-value store: a stable leader, phase 1 only on leader change",
        variants: paxos::VARIANTS,
        probes: paxos::PROBES,
        messages: kinds::<paxos::Paxos>(),
        ops: <paxos::Paxos as faultline_sim::Protocol>::OPS,
        leader: <paxos::Paxos as faultline_sim::Protocol>::HAS_LEADER,
        run: run_paxos,
    },
    Entry {
        name: "synod",
        summary: "single-decree Paxos: every node proposes its own value and all agree on one",
        variants: paxos::synod::VARIANTS,
        probes: paxos::synod::PROBES,
        messages: kinds::<paxos::synod::Synod>(),
        ops: <paxos::synod::Synod as faultline_sim::Protocol>::OPS,
        leader: <paxos::synod::Synod as faultline_sim::Protocol>::HAS_LEADER,
        run: run_synod,
    },
    Entry {
        name: "twopc",
        summary: "two-phase commit of bank transfers: n1 coordinates, n2.. hold the accounts",
        variants: twopc::VARIANTS,
        probes: commit::PROBES,
        messages: kinds::<twopc::TwoPc>(),
        ops: <twopc::TwoPc as faultline_sim::Protocol>::OPS,
        leader: <twopc::TwoPc as faultline_sim::Protocol>::HAS_LEADER,
        run: run_twopc,
    },
    Entry {
        name: "threepc",
        summary: "three-phase commit with Skeen's termination protocol: non-blocking under crashes, not partitions",
        variants: threepc::VARIANTS,
        probes: commit::PROBES,
        messages: kinds::<threepc::ThreePc>(),
        ops: <threepc::ThreePc as faultline_sim::Protocol>::OPS,
        leader: <threepc::ThreePc as faultline_sim::Protocol>::HAS_LEADER,
        run: run_threepc,
    },
    Entry {
        name: "chash",
        summary: "sharded key-value store: keys placed by consistent hashing, migrated on join and leave",
        variants: chash::store::VARIANTS,
        probes: chash::store::PROBES,
        messages: kinds::<chash::store::Shard>(),
        ops: <chash::store::Shard as faultline_sim::Protocol>::OPS,
        leader: <chash::store::Shard as faultline_sim::Protocol>::HAS_LEADER,
        run: run_chash,
    },
    Entry {
        name: "pingpong",
        summary: "every node pings every other; the engine benchmark's workload",
        variants: pingpong::VARIANTS,
        probes: &[],
        messages: kinds::<pingpong::PingPong>(),
        ops: <pingpong::PingPong as faultline_sim::Protocol>::OPS,
        leader: <pingpong::PingPong as faultline_sim::Protocol>::HAS_LEADER,
        run: run_pingpong,
    },
];

pub fn lookup(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// The names scenario files may use, for parse-time checks.
pub fn catalog() -> Catalog<'static> {
    Catalog {
        protocols: REGISTRY
            .iter()
            .map(|e| Known {
                name: e.name,
                variants: e.variants.iter().map(|v| v.0).collect(),
                probes: e.probes.iter().map(|p| p.0).collect(),
                messages: e.messages.to_vec(),
                ops: e.ops.to_vec(),
                leader: e.leader,
            })
            .collect(),
    }
}

/// Runs a scenario with the protocol it names.
pub fn run(scenario: &Scenario, seed: u64, trace: Trace) -> RunResult {
    let entry = lookup(&scenario.protocol).expect("protocol checked at parse time");
    (entry.run)(scenario, seed, trace)
}

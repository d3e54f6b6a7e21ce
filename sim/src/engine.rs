//! The discrete-event engine. Single-threaded: one queue ordered by
//! (virtual time, sequence number), so ties are broken by the order events were
//! scheduled and never by chance. It owns the nodes, the network, the clients and the
//! fault schedule; protocols see only their [`Ctx`].

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::linearizability::{LinResult, check_history};
pub use crate::checks::{Check, Failure};
use crate::checks::{Look, Watch};
use crate::clock::Clock;
use crate::disk::Disk;
use crate::history::History;
use crate::judge::Judge;
use crate::nemesis::{Act, Nemesis, NemesisStep, View};
use crate::network::{Fate, Network};
use crate::protocol::{
    Cluster, Ctx, Effect, Message, NodeId, Observation, Protocol, Reply, Request, TimerId, Violation,
};
use crate::queue::{Entry, EventQueue};
use crate::rng::{SimRng, Stream};
use crate::scenario::{CutMode, Expect, Fault, FaultAction, Scenario, Target};
use crate::time::Time;
use crate::trace::{Addr, Body, Event as TraceEvent, NodeIdName, Trace};
use crate::workload::{ClientStep, Clients};

/// What travels on a link.
#[derive(Clone, Debug)]
pub(crate) enum Payload<M> {
    Peer(M),
    // Boxed so that a Payload, which every send passes by value, is no bigger than a
    // peer message: client traffic is the rarer kind.
    Request(Box<Request>),
    Reply(Box<Reply>),
}

/// What a client delivery weighs against [`PENDING_CLIENT_BYTES_MAX`].
fn client_weight<M>(d: &ClientDelivery<M>) -> usize {
    std::mem::size_of::<ClientDelivery<M>>()
        + match &d.payload {
            Payload::Request(r) => r.op.weight_bytes(),
            _ => std::mem::size_of::<Reply>(),
        }
}

/// A message to or from a client, boxed so the common event stays small.
pub(crate) struct ClientDelivery<M> {
    from: Addr,
    to: Addr,
    id: u64,
    payload: Payload<M>,
}

pub(crate) enum Ev<P: Protocol> {
    /// A message between nodes.
    Peer {
        from: NodeId,
        to: NodeId,
        id: u64,
        msg: P::Msg,
    },
    /// A request to a node or a reply to a client.
    Client(Box<ClientDelivery<P::Msg>>),
    Timer {
        node: usize,
        incarnation: u32,
        id: TimerId,
    },
    ClientNext {
        client: usize,
    },
    ClientTimeout {
        client: usize,
        seq: u64,
        attempt: u32,
    },
    Fault(usize),
    Nemesis(NemesisStep),
    /// A scenario check looks: an assertion's instant or window, or the liveness watch.
    Look(Look),
}

pub(crate) struct NodeSlot<P: Protocol> {
    pub(crate) up: bool,
    pub(crate) paused: bool,
    incarnation: u32,
    disk: Disk<P::Stored>,
    timers: BTreeMap<TimerId, P::Timer>,
    next_timer: u64,
    rng: SimRng,
    pub(crate) clock: Clock,
    backlog: Vec<Ev<P>>,
    /// The membership view this node last acted on: a node paused across a change
    /// hears of it when it resumes, before its backlog.
    view_seen: u64,
}

impl<P: Protocol> crate::disk::Disks<P::Stored> for Vec<NodeSlot<P>> {
    fn disk(&self, node: usize) -> Option<&Disk<P::Stored>> {
        self.get(node).map(|s| &s.disk)
    }
}

fn delivery<P: Protocol>(from: Addr, to: Addr, id: u64, payload: Payload<P::Msg>) -> Ev<P> {
    match (from, to, payload) {
        (Addr::Node(from), Addr::Node(to), Payload::Peer(msg)) => Ev::Peer { from, to, id, msg },
        (from, to, payload) => Ev::Client(Box::new(ClientDelivery { from, to, id, payload })),
    }
}

/// The most events one run may process. A protocol that answers every message with
/// more than one message can grow without bound; the run stops here and fails.
pub const EVENTS_PER_RUN_MAX: u64 = 20_000_000;

/// The run's memory ceiling: the most events that may wait at once (in the queue,
/// or held on a cut link). They are what a run's memory grows with; the history and
/// the nodes' disks are bounded by the scenario's ranges. About 250 MB at most.
pub const PENDING_EVENTS_MAX: usize = 2_000_000;
/// The memory ceiling for client traffic waiting in the queue, in bytes: a request
/// carries its operation (a bank read names every account), so it is weighed.
pub const PENDING_CLIENT_BYTES_MAX: usize = 256 << 20;

/// Counters a run summary reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Events the engine took from its queue.
    pub events: u64,
    /// Messages put on the wire: between nodes, and clients' requests and replies.
    pub sent: u64,
    /// Messages delivered (client traffic too).
    pub delivered: u64,
    /// Messages lost to the network's loss rate or a `drop` fault.
    pub dropped_loss: u64,
    /// Messages lost to a partition.
    pub dropped_partition: u64,
    /// Messages lost because their receiver was down.
    pub dropped_node_down: u64,
    /// Messages delivered twice.
    pub duplicated: u64,
    /// Messages delivered out of order.
    pub reordered: u64,
    /// Messages held on a cut link (delivered when it heals).
    pub held: u64,
    /// Timers that fired.
    pub timers: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Writes lost in crashes, not yet synced.
    pub lost_writes: u64,
    /// Requests clients sent (first attempts and retries).
    pub client_requests: u64,
}

impl Stats {
    /// Messages lost, for every reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_partition + self.dropped_node_down
    }
}

/// Everything a run produced.
#[derive(Debug)]
pub struct RunResult {
    /// The seed the run used.
    pub seed: u64,
    /// Virtual time when the run ended: the scenario's duration, or earlier when a
    /// check stopped it.
    pub end_time: Time,
    /// When the last event happened (a quiet end of a run has none for a while).
    pub last_event: Time,
    /// What the run counted.
    pub stats: Stats,
    /// What the clients did and saw.
    pub history: History,
    /// The trace's pinned hash (`None` when the trace was off).
    pub trace_hash: Option<u64>,
    /// Lines the trace got.
    pub trace_lines: u64,
    /// Writing the trace failed (disk full, say): the run's checks still stand, but
    /// the trace on disk is incomplete.
    pub trace_error: Option<String>,
    /// The first invariant that failed, and when.
    pub violation: Option<(Time, Violation)>,
    /// The linearizability checker's verdict, if the history was checked.
    pub linearizability: Option<LinResult>,
    /// What the scenario expects of the run.
    pub expect: Expect,
    /// The run stopped at [`EVENTS_PER_RUN_MAX`] before its duration was up.
    pub event_limit_hit: bool,
    /// The run stopped at [`PENDING_EVENTS_MAX`] before its duration was up.
    pub memory_limit_hit: bool,
    /// `[[check.assert]]`, liveness and conserved-total checks that failed.
    pub assertion_failures: Vec<Failure>,
    /// What the protocol measured, as `(name, value)` ([`Protocol::measures`]).
    pub measures: Vec<(String, String)>,
    /// With [`Sim::recording`]: every fault the run carried out, scheduled or drawn
    /// by the nemesis, as it happened (targets resolved to nodes, splits to cut
    /// links): a schedule that replays the run's faults without the nemesis.
    pub applied: Vec<Fault>,
}

/// What the end of a run checks of its clients' history, as `scenario` asks: its
/// linearizability (with a workload, when asked), and the workload's own check.
pub(crate) fn history_checks(scenario: &Scenario, history: &History) -> (Option<LinResult>, Option<Failure>) {
    let workload = scenario.workload.as_ref();
    let linearizability =
        (scenario.linearizable && workload.is_some()).then(|| check_history(history, &scenario.budget));
    (linearizability, workload.and_then(|w| workload_check(w, history)))
}

/// The check a workload's kind brings beyond linearizability per key: a bank's
/// conserved total, an image store's lists.
pub fn workload_check(workload: &crate::scenario::WorkloadConfig, history: &History) -> Option<Failure> {
    use crate::scenario::WorkloadKind;
    match (workload.kind(), workload.bank) {
        (WorkloadKind::Bank, Some(bank)) => {
            let why = crate::check::bank::conserved_total(history, &bank).err()?;
            Some(Failure { check: Check::ConservedTotal, message: why })
        }
        (WorkloadKind::Images, _) => {
            let why = crate::check::images::lists_agree(history).err()?;
            Some(Failure { check: Check::Invariant(crate::check::images::INVARIANT.into()), message: why })
        }
        _ => None,
    }
}

/// A broken invariant, seen at `t`, as the failure a student reads.
pub fn invariant_failure(t: Time, v: &Violation) -> Failure {
    Failure {
        check: Check::Invariant(v.invariant.clone()),
        message: format!("invariant `{}` violated at {}: {}", v.invariant, crate::time::fmt_time(t), v.detail),
    }
}

/// What a linearizability verdict fails, if anything, in the words a student reads.
pub fn linearizability_failure(history: &History, result: &LinResult) -> Option<Failure> {
    match result {
        LinResult::Linearizable => None,
        LinResult::NotLinearizable { key, why } => {
            Some(Failure { check: Check::Linearizability, message: not_linearizable(history, key, why) })
        }
        LinResult::Unknown { undecided } => {
            let keys: Vec<String> = undecided
                .iter()
                .map(|u| format!("{} ({} budget: {} states)", u.key, u.explored.spent, u.explored.states))
                .collect();
            Some(Failure {
                check: Check::LinearizabilityUnknown,
                message: format!(
                    "linearizability unknown: the search budget ran out on keys {} (raise it with --budget or \
                     [check] budget)",
                    keys.join(", ")
                ),
            })
        }
    }
}

/// Why `history` is not linearizable, in one line for a student: the key, the
/// operation that cannot be placed, the prefix before it, and the cause.
fn not_linearizable(history: &History, key: &str, why: &crate::check::linearizability::Explanation) -> String {
    let op = history.ops.get(why.op).map_or(String::new(), |o| {
        format!(" ({} by c{} at {})", o.op.name(), o.client + 1, crate::time::fmt_time(o.invoke))
    });
    format!(
        "history is not linearizable: key {key}: operation {}{op} cannot be placed after the longest linearizable \
         prefix ({} operations): {}",
        why.op,
        why.prefix.len(),
        why.needs
    ) + &why.cause.as_ref().map_or(String::new(), |c| format!("; {}", c.describe(|id| history.describe(id))))
}

impl RunResult {
    /// A run in which nothing happened yet, for a driver other than the engine (the
    /// explorer's replay of a schedule) to fill in.
    pub fn empty(seed: u64, expect: Expect) -> RunResult {
        RunResult {
            seed,
            end_time: 0,
            last_event: 0,
            stats: Stats::default(),
            history: History::default(),
            trace_hash: None,
            trace_lines: 0,
            trace_error: None,
            violation: None,
            linearizability: None,
            expect,
            event_limit_hit: false,
            memory_limit_hit: false,
            assertion_failures: Vec::new(),
            measures: Vec::new(),
            applied: Vec::new(),
        }
    }

    /// The checks that failed, each as one line for a student.
    pub fn failures(&self) -> Vec<String> {
        self.failed_checks().into_iter().map(|f| f.message).collect()
    }

    /// The checks that failed, typed, in the order [`Self::failures`] words them.
    pub fn failed_checks(&self) -> Vec<Failure> {
        let mut out = Vec::new();
        let mut push = |check: Check, message: String| out.push(Failure { check, message });
        if self.event_limit_hit {
            push(
                Check::EventLimit,
                format!(
                    "the run hit the limit of {EVENTS_PER_RUN_MAX} events at {} of virtual time: is a message storm \
                 (each message answered by several) growing without bound?",
                    crate::time::fmt_time(self.end_time)
                ),
            );
        }
        if self.memory_limit_hit {
            push(
                Check::MemoryLimit,
                format!(
                    "the run hit its memory ceiling ({PENDING_EVENTS_MAX} waiting events, or {} MiB of waiting \
                     client traffic) at {} of virtual time: messages pile up faster than they are handled (a \
                     storm, or clients that retry faster than the network answers)",
                    PENDING_CLIENT_BYTES_MAX >> 20,
                    crate::time::fmt_time(self.end_time)
                ),
            );
        }
        if let Some((t, v)) = &self.violation {
            out.push(invariant_failure(*t, v));
        }
        out.extend(self.linearizability.as_ref().and_then(|r| linearizability_failure(&self.history, r)));
        out.extend(self.assertion_failures.iter().cloned());
        out
    }

    /// Did the checks come out as the scenario expects?
    pub fn as_expected(&self) -> bool {
        let failed = self.failed_checks();
        match self.expect {
            Expect::Pass => failed.is_empty(),
            // An undecided check catches nothing, nor a schedule that could not be
            // followed: the bug must fail a check outright.
            Expect::Fail => failed.iter().any(|f| f.check.catches()),
        }
    }

    /// Nothing failed, but the linearizability search ran out of budget: the run
    /// is neither a pass nor a failure.
    pub fn is_unknown(&self) -> bool {
        let failed = self.failed_checks();
        !failed.is_empty() && failed.iter().all(|f| f.check == Check::LinearizabilityUnknown)
    }
}

/// One run of a scenario with one protocol and one seed.
pub struct Sim<P: Protocol> {
    seed: u64,
    config: P::Config,
    pub(crate) now: Time,
    seq: u64,
    end: Time,
    queue: EventQueue,
    slab: Vec<Option<Ev<P>>>,
    free: Vec<u32>,
    pub(crate) states: Vec<Option<P>>,
    pub(crate) slots: Vec<NodeSlot<P>>,
    pub(crate) scenario: Scenario,
    /// The links, their cuts and FIFO order, `drop` rules, held messages.
    net: Network<Ev<P>>,
    pub(crate) nemesis_rng: SimRng,
    pub(crate) nemesis: Option<Nemesis>,
    pub(crate) clients: Option<Clients>,
    pub(crate) history: History,
    pub(crate) trace: Trace,
    pub(crate) stats: Stats,
    effects: Vec<Effect<P>>,
    next_msg: u64,
    violation: Option<(Time, Violation)>,
    /// Holds what nodes report ([`Effect::Observe`]) to their family's invariants.
    pub(crate) judge: Judge,
    /// The observations of the step in progress, judged once its effects are out.
    observed: Vec<Observation>,
    pub(crate) peer_sent: u64,
    /// Groups of the current partition, until the cuts change.
    pub(crate) groups: Option<Vec<Vec<NodeId>>>,
    /// The scenario's assertions and liveness bound.
    watch: Watch,
    /// The membership view and its number.
    members: Vec<NodeId>,
    view: u64,
    /// Bytes of client traffic in the queue (see [`PENDING_CLIENT_BYTES_MAX`]).
    client_bytes: usize,
    /// The faults carried out so far, when recording ([`Sim::recording`]).
    applied: Option<Vec<Fault>>,
}

impl<P: Protocol> Sim<P> {
    /// A run of `scenario` with every node's protocol configured by `config`, drawing
    /// every random choice from `seed`, writing its events to `trace`. [`Sim::run`]
    /// runs it.
    pub fn new(scenario: &Scenario, config: P::Config, seed: u64, trace: Trace) -> Sim<P> {
        let n = scenario.nodes;
        let slots = (0..n)
            .map(|i| NodeSlot {
                up: false,
                paused: false,
                incarnation: 0,
                disk: Disk::default(),
                timers: BTreeMap::new(),
                next_timer: 0,
                rng: SimRng::new(seed, Stream::Node(i)),
                clock: Clock::new(scenario.clocks[i].0, scenario.clocks[i].1),
                backlog: Vec::new(),
                view_seen: 0,
            })
            .collect();
        Sim {
            seed,
            config,
            now: 0,
            seq: 0,
            end: scenario.duration,
            queue: EventQueue::new(),
            slab: Vec::new(),
            free: Vec::new(),
            states: (0..n).map(|_| None).collect(),
            slots,
            net: Network::new(n, scenario.network.clone(), SimRng::new(seed, Stream::Network)),
            nemesis_rng: SimRng::new(seed, Stream::Nemesis),
            nemesis: scenario.nemesis.clone().map(Nemesis::new),
            clients: scenario.workload.clone().map(|w| Clients::new(w, seed)),
            history: History::default(),
            trace,
            stats: Stats::default(),
            effects: Vec::new(),
            next_msg: 0,
            violation: None,
            judge: crate::protocol::judge_for::<P>(n),
            observed: Vec::new(),
            peer_sent: 0,
            groups: None,
            watch: Watch::default(),
            members: scenario.members.clone(),
            view: 0,
            client_bytes: 0,
            applied: None,
            scenario: scenario.clone(),
        }
    }

    /// Records every fault carried out, as [`RunResult::applied`] (for `shrink`).
    pub fn recording(mut self) -> Sim<P> {
        self.applied = Some(Vec::new());
        self
    }

    fn applied(&mut self, action: FaultAction) {
        if let Some(list) = &mut self.applied {
            list.push(Fault { at: self.now, action });
        }
    }

    #[inline(always)]
    pub(crate) fn schedule(&mut self, time: Time, ev: Ev<P>) {
        if let Ev::Client(d) = &ev {
            self.client_bytes += client_weight(d);
        }
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i as usize] = Some(ev);
                i
            }
            None => {
                self.slab.push(Some(ev));
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.queue.push(Entry::new(time, self.seq, slot));
    }

    pub(crate) fn node_count(&self) -> usize {
        self.slots.len()
    }

    /// Runs to the end of the scenario (or the first invariant violation).
    pub fn run(mut self) -> RunResult {
        for i in 0..self.node_count() {
            self.start_node(i);
        }
        // First, so an assertion at time T sees the cluster just before anything else
        // that happens at T.
        let (watch, looks) = Watch::new(&self.scenario);
        self.watch = watch;
        for (at, look) in looks {
            self.schedule(at, Ev::Look(look));
        }
        for i in 0..self.scenario.faults.len() {
            let at = self.scenario.faults[i].at;
            self.schedule(at, Ev::Fault(i));
        }
        self.boot_nemesis();
        for (at, look) in Watch::liveness_looks(&self.scenario, self.judge.sees_leaders(), self.end()) {
            // Nodes have started, so a protocol that reports leadership has said so.
            self.schedule(at, Ev::Look(look));
        }
        if let Some(cl) = &mut self.clients {
            let n = self.slots.len();
            for step in cl.boot(n) {
                self.client_step(Some(step));
            }
        }
        let mut last_event = 0;
        let mut memory_limit_hit = false;
        while let Some(q) = self.queue.pop() {
            let time = q.time();
            if time > self.end {
                self.now = self.end;
                break;
            }
            self.now = time;
            last_event = time;
            self.stats.events += 1;
            let ev = self.slab[q.slot() as usize].take().expect("a queued event");
            self.free.push(q.slot());
            self.dispatch(ev);
            if self.watch.active() {
                self.watch_step();
            }
            if self.violation.is_some() || self.stats.events >= EVENTS_PER_RUN_MAX {
                break;
            }
            if self.queue.len() + self.net.held() > PENDING_EVENTS_MAX || self.client_bytes > PENDING_CLIENT_BYTES_MAX {
                memory_limit_hit = true;
                break;
            }
        }
        if self.queue.is_empty()
            && self.violation.is_none()
            && self.stats.events < EVENTS_PER_RUN_MAX
            && !memory_limit_hit
        {
            // Nothing left to happen: the run still lasts its whole duration.
            self.now = self.end;
        }
        if let Some(cl) = &mut self.clients {
            cl.finish(self.now, &mut self.history);
        }
        let events = self.stats.events;
        self.trace.emit::<(), ()>(self.now, || TraceEvent::End { events });
        let (trace_hash, trace_lines, trace_error) = match self.trace.finish() {
            Ok((h, l)) if self.trace.is_on() => (Some(h), l, None),
            Ok(_) => (None, 0, None),
            Err(e) => (None, 0, Some(e.to_string())),
        };
        let (linearizability, total) = history_checks(&self.scenario, &self.history);
        let event_limit_hit = self.stats.events >= EVENTS_PER_RUN_MAX;
        if self.violation.is_none() && !event_limit_hit && !memory_limit_hit {
            self.watch.finish(&self.scenario, &self.history, self.now);
        }
        self.watch.failures.extend(total);
        let measures = if self.scenario.invariants {
            let mut m = self.judge.measures(self.now);
            m.extend(P::measures(&Cluster::new(&self.states, &self.slots, 0, self.now)));
            m
        } else {
            Vec::new()
        };
        RunResult {
            seed: self.seed,
            end_time: self.now,
            last_event,
            stats: self.stats,
            history: self.history,
            trace_hash,
            trace_lines,
            trace_error,
            violation: self.violation,
            linearizability,
            expect: self.scenario.expect,
            event_limit_hit,
            memory_limit_hit,
            assertion_failures: self.watch.failures,
            measures,
            applied: self.applied.unwrap_or_default(),
        }
    }

    /// Carries out one event taken off the queue.
    fn dispatch(&mut self, ev: Ev<P>) {
        match ev {
            Ev::Peer { from, to, id, msg } => self.deliver_peer(from, to, id, msg),
            Ev::Client(d) => {
                self.client_bytes -= client_weight(&d);
                let ClientDelivery { from, to, id, payload } = *d;
                self.deliver(from, to, id, payload)
            }
            Ev::Timer { node, incarnation, id } => {
                let slot = &mut self.slots[node];
                if !slot.up || slot.incarnation != incarnation {
                    return; // armed before a crash
                }
                if slot.paused {
                    slot.backlog.push(Ev::Timer { node, incarnation, id });
                    return;
                }
                let Some(timer) = slot.timers.remove(&id) else {
                    return; // cancelled
                };
                self.stats.timers += 1;
                self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Timer {
                    node: NodeIdName(NodeId(node)),
                    id: id.0,
                    timer: &timer,
                });
                self.call(node, |p, ctx| p.on_timer(ctx, id, timer));
            }
            Ev::ClientNext { client } => {
                let end = self.end();
                let step = self
                    .clients
                    .as_mut()
                    .and_then(|cl| cl.next(client, self.now, end, &mut self.history, &mut self.trace));
                self.client_step(step);
            }
            Ev::ClientTimeout { client, seq, attempt } => {
                let n = self.slots.len();
                let step = self
                    .clients
                    .as_mut()
                    .and_then(|cl| cl.timeout(client, seq, attempt, self.now, n, &mut self.history, &mut self.trace));
                self.client_step(step);
            }
            Ev::Fault(i) => {
                let action = self.scenario.faults[i].action.clone();
                self.apply_fault(&action);
            }
            Ev::Nemesis(step) => self.nemesis_step(step),
            Ev::Look(look) => self.look(look),
        }
    }

    /// The common case, kept short: a message between two nodes that are up, unpaused
    /// and not cut off from each other. Everything else takes [`Self::deliver`].
    #[inline]
    fn deliver_peer(&mut self, from: NodeId, to: NodeId, id: u64, msg: P::Msg) {
        let slot = &self.slots[to.0];
        if !slot.up || slot.paused || self.net.cuts.is_cut(from, to) {
            return self.deliver(Addr::Node(from), Addr::Node(to), id, Payload::Peer(msg));
        }
        self.stats.delivered += 1;
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Deliver {
            from: Addr::Node(from),
            to: Addr::Node(to),
            id,
        });
        self.call(to.0, |p, ctx| p.on_message(ctx, from, msg));
    }

    fn deliver(&mut self, from: Addr, to: Addr, id: u64, payload: Payload<P::Msg>) {
        match to {
            Addr::Node(NodeId(n)) => {
                if !self.slots[n].up {
                    self.stats.dropped_node_down += 1;
                    self.trace_drop(from, to, id, "node down");
                    return;
                }
                if let Addr::Node(f) = from
                    && self.net.cuts.is_cut(f, NodeId(n))
                {
                    match self.net.on_cut() {
                        CutMode::Drop => {
                            self.stats.dropped_partition += 1;
                            self.trace_drop(from, to, id, "partition");
                        }
                        CutMode::Hold => {
                            self.stats.held += 1;
                            self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Hold { from, to, id });
                            self.net.hold(delivery(from, to, id, payload));
                        }
                    }
                    return;
                }
                if self.slots[n].paused {
                    self.slots[n].backlog.push(delivery(from, to, id, payload));
                    return;
                }
                self.stats.delivered += 1;
                self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Deliver { from, to, id });
                match payload {
                    Payload::Peer(msg) => {
                        let Addr::Node(f) = from else { unreachable!("peer messages come from nodes") };
                        self.call(n, |p, ctx| p.on_message(ctx, f, msg));
                    }
                    Payload::Request(req) => self.call(n, |p, ctx| p.on_request(ctx, *req)),
                    Payload::Reply(_) => unreachable!("replies go to clients"),
                }
            }
            Addr::Client(c) => {
                self.stats.delivered += 1;
                self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Deliver { from, to, id });
                if let Payload::Reply(reply) = payload {
                    let n = self.slots.len();
                    let step = self
                        .clients
                        .as_mut()
                        .and_then(|cl| cl.reply(c, *reply, self.now, n, &mut self.history, &mut self.trace));
                    self.client_step(step);
                }
            }
        }
    }

    fn trace_drop(&mut self, from: Addr, to: Addr, id: u64, reason: &'static str) {
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Drop { from, to, id, reason });
    }

    /// Calls into a live node's protocol, then carries out its effects.
    #[inline]
    fn call(&mut self, node: usize, f: impl FnOnce(&mut P, &mut Ctx<'_, P>)) {
        self.step_node(node, |ctx, state, _| {
            if let Some(state) = state {
                f(state, ctx);
            }
        });
    }

    fn start_node(&mut self, node: usize) {
        let slot = &mut self.slots[node];
        slot.up = true;
        slot.paused = false;
        slot.view_seen = self.view;
        let durable = slot.disk.durable().clone();
        self.step_node(node, |ctx, state, config| *state = Some(P::start(ctx, config, &durable)));
    }

    /// Hands `f` a context for `node` with its state and the run's protocol config;
    /// then carries out the effects `f` produced and checks the cluster's invariants.
    #[inline]
    fn step_node(&mut self, node: usize, f: impl FnOnce(&mut Ctx<'_, P>, &mut Option<P>, &P::Config)) {
        let mut effects = std::mem::take(&mut self.effects);
        let n = self.slots.len();
        let slot = &mut self.slots[node];
        {
            let mut ctx = Ctx {
                id: NodeId(node),
                nodes: n,
                local_now: slot.clock.local(self.now),
                mono_now: slot.clock.monotonic(self.now),
                rng: crate::protocol::RngSlot::Ready(&mut slot.rng),
                effects: &mut effects,
                next_timer: &mut slot.next_timer,
                members: &self.members,
                view: self.view,
            };
            f(&mut ctx, &mut self.states[node], &self.config);
        }
        self.apply_effects(node, &mut effects);
        self.effects = effects;
        self.check_invariants(node);
    }

    /// The node's own invariants after its step, then the cluster's, then what it
    /// reported, judged by its family's invariants. Runs after every step: kept
    /// inline (a call here cost ping-pong 4% of its instructions).
    #[inline(always)]
    fn check_invariants(&mut self, node: usize) {
        if !self.scenario.invariants || self.violation.is_some() {
            if !self.observed.is_empty() {
                self.note_leadership(node);
            }
            return;
        }
        let local = self.states[node].as_ref().map_or(Ok(()), |s| s.check_invariants());
        let mut verdict =
            local.and_then(|()| P::check_cluster(&Cluster::new(&self.states, &self.slots, node, self.now)));
        if verdict.is_ok() && !self.observed.is_empty() {
            verdict = self.judge_observed(node);
        }
        if let Err(v) = verdict {
            self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Violation {
                invariant: &v.invariant,
                detail: &v.detail,
            });
            self.violation = Some((self.now, v));
        }
        self.observed.clear();
    }

    /// Hands the judge what `node` reported in its step, in order; the first
    /// violation stops it. Out of line: most steps report nothing.
    #[inline(never)]
    fn judge_observed(&mut self, node: usize) -> Result<(), Violation> {
        let boot = u64::from(self.slots[node].incarnation);
        for obs in self.observed.drain(..) {
            self.judge.observe(NodeId(node), boot, self.now, &obs)?;
        }
        Ok(())
    }

    /// Unjudged (invariants off, or the run already failed), what `node` reported of
    /// its leadership still tells the liveness check who leads.
    #[inline(never)]
    fn note_leadership(&mut self, node: usize) {
        let boot = u64::from(self.slots[node].incarnation);
        for obs in self.observed.drain(..) {
            if matches!(obs, Observation::Term { .. }) {
                let _ = self.judge.observe(NodeId(node), boot, self.now, &obs);
            }
        }
    }

    #[inline]
    fn apply_effects(&mut self, node: usize, effects: &mut Vec<Effect<P>>) {
        // In order; popping from the reversed buffer is cheaper than a Drain (measured
        // again 2026-12-04: a Drain cost ping-pong 1.3% more instructions, and skipping
        // the reverse of a one-effect buffer 1.5% more).
        effects.reverse();
        while let Some(eff) = effects.pop() {
            match eff {
                Effect::Send { to, msg } => {
                    assert!(to.0 < self.slots.len(), "node n{} sent to {to}, which is not in the cluster", node + 1);
                    self.send(Addr::Node(NodeId(node)), Addr::Node(to), Payload::Peer(msg));
                }
                Effect::SetTimer { id, after, timer } => {
                    let slot = &mut self.slots[node];
                    let at = self.now + slot.clock.real_delay(after.nanos());
                    let incarnation = slot.incarnation;
                    slot.timers.insert(id, timer);
                    self.schedule(at, Ev::Timer { node, incarnation, id });
                }
                Effect::CancelTimer { id } => {
                    self.slots[node].timers.remove(&id);
                }
                Effect::Reply(reply) => {
                    let to = Addr::Client(reply.client);
                    self.send(Addr::Node(NodeId(node)), to, Payload::Reply(Box::new(reply)));
                }
                Effect::Write { key, value } => self.slots[node].disk.write(key, value),
                Effect::Sync => {
                    let writes = self.slots[node].disk.sync();
                    self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Sync {
                        node: NodeIdName(NodeId(node)),
                        writes,
                    });
                }
                Effect::Note(text) => {
                    self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Note {
                        node: NodeIdName(NodeId(node)),
                        text: &text,
                    });
                }
                Effect::Observe(obs) => {
                    self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Observe {
                        node: NodeIdName(NodeId(node)),
                        obs: &obs,
                    });
                    self.observed.push(*obs);
                }
            }
        }
    }

    /// Carries out what a client asked for.
    fn client_step(&mut self, step: Option<ClientStep>) {
        match step {
            None => {}
            Some(ClientStep::Wake { client, at }) => self.schedule(at, Ev::ClientNext { client }),
            Some(ClientStep::Send { client, to, request, seq, attempt, timeout_at }) => {
                self.stats.client_requests += 1;
                self.send(Addr::Client(client), Addr::Node(to), Payload::Request(Box::new(request)));
                self.schedule(timeout_at, Ev::ClientTimeout { client, seq, attempt });
            }
        }
    }

    /// Puts a message on the wire: loss, latency, FIFO or reordering, duplication.
    #[inline(always)]
    pub(crate) fn send(&mut self, from: Addr, to: Addr, payload: Payload<P::Msg>) {
        self.stats.sent += 1;
        self.next_msg += 1;
        let id = self.next_msg;
        self.trace.emit::<P::Msg, P::Timer>(self.now, || {
            let msg = match &payload {
                Payload::Peer(m) => Body::Peer(m),
                Payload::Request(r) => Body::Request { request: r },
                Payload::Reply(r) => Body::Reply { reply: r },
            };
            TraceEvent::Send { from, to, id, msg }
        });
        let kind = || match &payload {
            Payload::Peer(m) => Some(m.kind()),
            _ => None,
        };
        let fate = self.net.send(self.now, from, to, kind);
        let peer = matches!((from, to), (Addr::Node(_), Addr::Node(_)));
        match fate {
            Fate::Loopback => {
                // A node's message to itself never crosses the network. It is not
                // lost, duplicated, reordered, cut or dropped by a fault, and arrives
                // at once, after the step that sent it, in the order sent.
                self.peer_sent += 1;
                self.schedule(self.now, delivery(from, to, id, payload));
            }
            Fate::DroppedByFault => {
                self.stats.dropped_loss += 1;
                self.trace_drop(from, to, id, "dropped by a fault");
            }
            Fate::Lost => {
                self.peer_sent += u64::from(peer);
                self.stats.dropped_loss += 1;
                self.trace_drop(from, to, id, "loss");
            }
            Fate::Arrives { at, reordered, copy_at } => {
                self.peer_sent += u64::from(peer);
                if reordered {
                    self.stats.reordered += 1;
                    self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Reorder { from, to, id });
                }
                if let Some(copy_at) = copy_at {
                    self.stats.duplicated += 1;
                    self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Duplicate { from, to, id });
                    self.schedule(copy_at, delivery(from, to, id, payload.clone()));
                }
                self.schedule(at, delivery(from, to, id, payload));
            }
        }
    }

    /// A scenario check looks now: the engine measures, the watch judges.
    fn look(&mut self, look: Look) {
        self.refresh_groups();
        let mut watch = std::mem::take(&mut self.watch);
        match look {
            Look::Assert { idx, end } => {
                let a = &self.scenario.asserts[idx];
                watch.assert(idx, a, end, self.now, self.probe(&a.probe));
            }
            Look::Liveness { deadline } => watch.liveness(
                &self.scenario,
                deadline,
                self.now,
                |name| self.probe(name),
                || self.judge.leader_among(&self.majority_group()),
            ),
        }
        self.watch = watch;
    }

    /// After every event while a window or the liveness watch is open.
    fn watch_step(&mut self) {
        self.refresh_groups();
        let mut watch = std::mem::take(&mut self.watch);
        watch.step(
            &self.scenario.asserts,
            self.now,
            |name| self.probe(name),
            || {
                // A leader is what the nodes report of themselves (Observation::Term),
                // among those that can reach a majority.
                self.judge.leader_among(&self.majority_group())
            },
        );
        self.watch = watch;
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
            self.groups = Some(self.net.cuts.groups());
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

    /// The nemesis' first steps: when it starts its first fault, and when it stops.
    fn boot_nemesis(&mut self) {
        let Some(nem) = &self.nemesis else { return };
        let acts = nem.boot(&mut self.nemesis_rng);
        self.nemesis_acts(acts);
    }

    /// What the nemesis sees of the cluster.
    fn nemesis_view(&self) -> View {
        View {
            up: self.slots.iter().map(|s| s.up).collect(),
            paused: self.slots.iter().map(|s| s.paused).collect(),
            leader: self.leader(),
        }
    }

    /// Runs one step of the nemesis: it plans, the engine carries out its acts.
    fn nemesis_step(&mut self, step: NemesisStep) {
        let Some(mut nem) = self.nemesis.take() else { return };
        let acts = match step {
            _ if nem.stopped() => Vec::new(),
            NemesisStep::Start => {
                let view = self.nemesis_view();
                if let Some(fault) = nem.start(&mut self.nemesis_rng, &view) {
                    self.apply_fault(&fault);
                }
                let up = self.slots.iter().map(|s| s.up).collect();
                nem.started(self.now, &mut self.nemesis_rng, up)
            }
            NemesisStep::Heal(id) => nem.heal(id, self.now, &mut self.nemesis_rng),
            NemesisStep::Stop => nem.stop(),
        };
        self.nemesis = Some(nem);
        self.nemesis_acts(acts);
    }

    /// Carries out what the nemesis asked for, in order.
    fn nemesis_acts(&mut self, acts: Vec<Act>) {
        for act in acts {
            match act {
                Act::Fault(fault) => self.apply_fault(&fault),
                Act::Resync(node) => {
                    // Back to the scenario's own skew and drift for this node: a step
                    // back, as an NTP correction would make, shown in the trace.
                    let (skew, drift) = self.scenario.clocks[node.0];
                    let now = self.now;
                    if self.applied.is_some() {
                        let by = skew - self.slots[node.0].clock.offset(now);
                        self.applied(FaultAction::Clock { node, skew_ns: Some(by), drift_ppm: Some(drift) });
                    }
                    self.slots[node.0].clock.resync(now, skew, drift);
                    self.trace_clock(node.0);
                }
                Act::Schedule(at, step) => self.schedule(at, Ev::Nemesis(step)),
            }
        }
    }

    /// Carries out one fault, from the schedule or the nemesis.
    pub(crate) fn apply_fault(&mut self, action: &FaultAction) {
        if !matches!(
            action,
            FaultAction::Crash(_)
                | FaultAction::Restart(_)
                | FaultAction::Pause(_)
                | FaultAction::Resume(_)
                | FaultAction::Clock { .. }
        ) {
            self.groups = None;
        }
        match action {
            FaultAction::Partition(groups) => {
                self.net.cuts.partition(groups);
                self.applied(action.clone());
                self.trace_partition("groups");
            }
            FaultAction::Split(kind) => {
                self.net.cuts.split(*kind, &mut self.nemesis_rng);
                if self.applied.is_some() {
                    // The shape drawn, written out: everything healed, then each cut link.
                    self.applied(FaultAction::Heal);
                    let mut links = self.net.cuts.cut_links();
                    links.sort();
                    for (from, to) in links {
                        self.applied(FaultAction::Cut { from: vec![from], to: vec![to] });
                    }
                }
                self.trace_partition(crate::scenario::Named::name(*kind));
            }
            FaultAction::Isolate(target) => {
                // "follower" and "any" pick among nodes not already cut off.
                let picked = match target {
                    Target::Follower | Target::Any => {
                        let isolated: Vec<bool> =
                            (0..self.node_count()).map(|i| self.net.cuts.is_isolated(NodeId(i))).collect();
                        self.resolve_among(*target, |i| !isolated[i])
                    }
                    _ => self.resolve(*target),
                };
                for node in picked {
                    self.net.cuts.isolate(NodeId(node));
                    self.applied(FaultAction::Isolate(Target::Node(NodeId(node))));
                }
                self.trace_partition("isolate");
            }
            FaultAction::Cut { from, to } => {
                for &a in from {
                    for &b in to {
                        self.net.cuts.set(a, b);
                    }
                }
                self.applied(action.clone());
                self.trace_partition("one-way");
            }
            FaultAction::Heal => {
                self.applied(FaultAction::Heal);
                self.heal()
            }
            FaultAction::Crash(target) => {
                for node in self.resolve(*target) {
                    self.applied(FaultAction::Crash(Target::Node(NodeId(node))));
                    self.crash(node);
                }
            }
            FaultAction::Restart(target) => {
                for node in self.resolve(*target) {
                    self.applied(FaultAction::Restart(Target::Node(NodeId(node))));
                    self.restart(node);
                }
            }
            FaultAction::Pause(target) => {
                for node in self.resolve(*target) {
                    self.applied(FaultAction::Pause(Target::Node(NodeId(node))));
                    let slot = &mut self.slots[node];
                    if slot.up && !slot.paused {
                        slot.paused = true;
                        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Pause {
                            node: NodeIdName(NodeId(node)),
                        });
                    }
                }
            }
            FaultAction::Resume(target) => {
                for node in self.resolve(*target) {
                    self.applied(FaultAction::Resume(Target::Node(NodeId(node))));
                    let slot = &mut self.slots[node];
                    if slot.up && slot.paused {
                        slot.paused = false;
                        let backlog = std::mem::take(&mut slot.backlog);
                        let missed_view = slot.view_seen != self.view;
                        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Resume {
                            node: NodeIdName(NodeId(node)),
                            backlog: backlog.len(),
                        });
                        if missed_view {
                            // The view changed while it slept: it hears so first.
                            self.slots[node].view_seen = self.view;
                            self.call(node, |p, ctx| p.on_membership(ctx));
                        }
                        for ev in backlog {
                            self.schedule(self.now, ev);
                        }
                    }
                }
            }
            FaultAction::Drop { kind, to, ns } => {
                self.applied(action.clone());
                self.net.add_drop(kind.clone(), to.clone(), self.now + ns)
            }
            FaultAction::Join(node) | FaultAction::Leave(node) => {
                self.applied(action.clone());
                let joins = matches!(action, FaultAction::Join(_));
                if joins == self.members.contains(node) {
                    return; // already a member, or already not one
                }
                if joins {
                    self.members.push(*node);
                    self.members.sort();
                } else {
                    self.members.retain(|m| m != node);
                }
                self.view += 1;
                let members = self.members.iter().map(|&m| NodeIdName(m)).collect();
                self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Membership { epoch: self.view, members });
                // A paused node hears of it when it resumes; a down one when it starts.
                for i in 0..self.node_count() {
                    if self.slots[i].up && !self.slots[i].paused {
                        self.slots[i].view_seen = self.view;
                        self.call(i, |p, ctx| p.on_membership(ctx));
                    }
                }
            }
            FaultAction::Clock { node, skew_ns, drift_ppm } => {
                self.applied(action.clone());
                let now = self.now;
                let clock = &mut self.slots[node.0].clock;
                if let Some(by) = skew_ns {
                    clock.step(now, *by);
                }
                if let Some(ppm) = drift_ppm {
                    clock.set_drift(now, *ppm);
                }
                self.trace_clock(node.0);
            }
        }
    }

    fn restart(&mut self, node: usize) {
        if self.slots[node].up {
            self.crash(node);
        }
        self.stats.restarts += 1;
        let durable_keys = self.slots[node].disk.durable().len();
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Restart {
            node: NodeIdName(NodeId(node)),
            durable_keys,
        });
        self.start_node(node);
    }

    /// The up node that leads with the highest term (the lowest index on a tie).
    pub(crate) fn leader(&self) -> Option<usize> {
        let mut best: Option<(u64, usize)> = None;
        for (i, s) in self.states.iter().enumerate() {
            if let Some(t) = s.as_ref().and_then(P::leads)
                && best.is_none_or(|(bt, _)| t > bt)
            {
                best = Some((t, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// The nodes a fault aimed at `target` hits now (possibly none: no leader yet).
    pub(crate) fn resolve(&mut self, target: Target) -> Vec<usize> {
        self.resolve_among(target, |_| true)
    }

    /// Like [`Self::resolve`], with "follower" and "any" picking only nodes `eligible`.
    fn resolve_among(&mut self, target: Target, eligible: impl Fn(usize) -> bool) -> Vec<usize> {
        self.nemesis_view().resolve(target, eligible, &mut self.nemesis_rng)
    }

    pub(crate) fn trace_clock(&mut self, node: usize) {
        let clock = self.slots[node].clock;
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Clock {
            node: NodeIdName(NodeId(node)),
            skew_ns: clock.offset(self.now),
            drift_ppm: clock.drift_ppm(),
        });
    }

    fn trace_partition(&mut self, kind: &str) {
        if !self.trace.is_on() {
            return;
        }
        let (groups, cut) = self.net.cuts.traced();
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Partition { kind, groups, cut });
    }

    pub(crate) fn heal(&mut self) {
        let held = self.net.heal();
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Heal { released: held.len() });
        for ev in held {
            let delay = match &ev {
                Ev::Peer { from: a, to: b, .. } => self.net.latency(*a, *b),
                _ => 0,
            };
            self.schedule(self.now + delay, ev);
        }
    }

    pub(crate) fn crash(&mut self, node: usize) {
        let slot = &mut self.slots[node];
        if !slot.up {
            return;
        }
        slot.up = false;
        slot.paused = false;
        slot.incarnation += 1;
        slot.timers.clear();
        let lost = slot.disk.crash();
        let backlog = std::mem::take(&mut slot.backlog);
        self.states[node] = None;
        self.judge.down(NodeId(node));
        self.stats.crashes += 1;
        self.stats.lost_writes += lost as u64;
        self.trace.emit::<P::Msg, P::Timer>(self.now, || TraceEvent::Crash {
            node: NodeIdName(NodeId(node)),
            lost_writes: lost,
        });
        for ev in backlog {
            let (from, to, id) = match ev {
                Ev::Peer { from, to, id, .. } => (Addr::Node(from), Addr::Node(to), id),
                Ev::Client(d) => (d.from, d.to, d.id),
                _ => continue,
            };
            self.stats.dropped_node_down += 1;
            self.trace_drop(from, to, id, "node down");
        }
        // What the crash left (its disk, the rest of the cluster) is checked now,
        // not at the next step: "an acknowledged write survives" fails at the crash.
        self.check_invariants(node);
    }

    pub(crate) fn end(&self) -> Time {
        self.end
    }
}

#[cfg(test)]
mod check_text {
    use super::Check;

    /// Every check reads back from how it displays (sweeps' JSON records the text).
    #[test]
    fn checks_read_back_from_their_text() {
        let all = [
            Check::EventLimit,
            Check::MemoryLimit,
            Check::Invariant("election-safety".into()),
            Check::Linearizability,
            Check::LinearizabilityUnknown,
            Check::ConservedTotal,
            Check::Liveness,
            Check::Assertion("a label (with brackets)".into()),
        ];
        for c in all {
            assert_eq!(c.to_string().parse::<Check>(), Ok(c.clone()), "{c}");
        }
        assert!("linearisability".parse::<Check>().is_err());
    }
}

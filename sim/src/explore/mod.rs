//! Exhaustive, bounded exploration of a small configuration: breadth-first over every
//! order in which messages are delivered, lost or duplicated, timers fire, nodes crash
//! and restart, and clients' requests interleave, with states deduplicated by a
//! fingerprint. Breadth-first, so a counterexample found is a shortest one.
//!
//! The run is untimed: any armed timer may fire at any moment (each step advances
//! every node's clock by [`STEP_NS`], so a timeout is always due when its timer
//! fires), and any message in flight may arrive next. The properties are the run's
//! own checks: each node's invariants, the protocol's cluster invariants, and its
//! family's judge over what nodes observe. Linearizability of client histories is
//! left to `run` and `sweep`.
//!
//! The explorer runs any [`Protocol`] through its public trait: a student's protocol
//! is explored like a bundled one.
//!
//! A path found is written as a scenario file whose `[schedule]` lists its steps
//! ([`schedule_toml`]), and [`replay`] takes those steps again as a run of its own,
//! with a trace, a history and every check: what `faultline run` does with such a
//! file.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::checks::Failure;
use crate::disk::{Disk, Disks};
use crate::engine::{RunResult, Stats};
use crate::history::{Completion, GaveUp, History};
use crate::judge::Judge;
use crate::observe::Violation;
use crate::protocol::{Cluster, Ctx, Effect, NodeId, Op, Outcome, Protocol, Reply, Request, RngSlot, TimerId};
use crate::rng::Stream;
use crate::scenario::Scenario;
use crate::time::{NANOS_PER_SEC, Time};
use crate::trace::{Addr, Body, Event as TraceEvent, NodeIdName, Trace, Written};
use crate::workload::{completion_of, emit_complete};

use crate::engine::invariant_failure as invariant;

mod parallel;
mod schedule;
pub use parallel::THREADS_MAX;
pub use schedule::{ScheduleError, replay, schedule_toml};

/// How far a step moves every node's clock: longer than any timeout.
pub const STEP_NS: u64 = 10 * NANOS_PER_SEC;

/// The most states a search may be asked to keep.
pub const STATES_MAX: u64 = 100_000_000;
/// The deepest a search may be asked to go.
pub const DEPTH_MAX: usize = 1_000;

/// The bounds of a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// The most steps on a path.
    pub depth: usize,
    /// The most unique states kept; the search stops there.
    pub states: u64,
    /// The most crashes on a path (each crashed node may restart any time).
    pub crashes: u32,
    /// The most messages lost on a path.
    pub losses: u32,
    /// The most messages duplicated on a path.
    pub duplicates: u32,
    /// The most timer firings on a path: what keeps a leader's heartbeats from
    /// filling the search with rounds that change nothing.
    pub timers: u32,
    /// The most memory the process may hold (resident, as Linux counts it); the
    /// search stops there, reported as [`Stop::Memory`].
    pub memory_bytes: u64,
    /// Operations each client invokes, one after another.
    pub ops_per_client: usize,
    /// Clients.
    pub clients: usize,
    /// Threads searching ([`Explorer::run_threaded`]; [`Explorer::run`] uses one).
    pub threads: usize,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            depth: 12,
            states: 2_000_000,
            crashes: 1,
            losses: 0,
            duplicates: 0,
            timers: 4,
            memory_bytes: 4 << 30,
            ops_per_client: 1,
            clients: 1,
            threads: 1,
        }
    }
}

/// One step of a path, as a person reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A message from one node arrives at another.
    Deliver {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message's kind.
        kind: &'static str,
    },
    /// A message is lost.
    Lose {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message's kind.
        kind: &'static str,
    },
    /// A message arrives, and a copy stays in flight.
    Duplicate {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// The message's kind.
        kind: &'static str,
    },
    /// A client's request arrives at a node.
    Request {
        /// The client.
        client: usize,
        /// The node.
        to: NodeId,
        /// What it asks.
        op: Op,
    },
    /// A node's answer arrives at its client.
    Reply {
        /// The client.
        client: usize,
        /// The answer.
        outcome: String,
    },
    /// A timer fires.
    Fire {
        /// The node.
        node: NodeId,
        /// The timer, as it prints.
        timer: String,
    },
    /// A node crashes.
    Crash(NodeId),
    /// A crashed node restarts from its disk.
    Restart(NodeId),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Deliver { from, to, kind } => write!(f, "{kind} {from} -> {to} arrives"),
            Step::Lose { from, to, kind } => write!(f, "{kind} {from} -> {to} is lost"),
            Step::Duplicate { from, to, kind } => write!(f, "{kind} {from} -> {to} arrives twice"),
            Step::Request { client, to, op } => write!(f, "c{} asks {to}: {op}", client + 1),
            Step::Reply { client, outcome } => write!(f, "c{} hears {outcome}", client + 1),
            Step::Fire { node, timer } => write!(f, "{node} timer {timer} fires"),
            Step::Crash(n) => write!(f, "{n} crashes"),
            Step::Restart(n) => write!(f, "{n} restarts"),
        }
    }
}

/// A shortest path to a failed check.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The check that failed, and how.
    pub failure: Failure,
    /// The steps, from the start.
    pub steps: Vec<Step>,
    /// The steps as a `[schedule]` lists them: each step's words, with ` (#k)` where
    /// another step possible at that moment reads the same ([`replay`] takes them).
    pub schedule: Vec<String>,
    /// The clients the search ran.
    pub clients: usize,
    /// What each of them invoked, in order (as `[[workload.operations]]`).
    pub operations: Vec<crate::scenario::Scripted>,
}

/// Why a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Every state within the depth bound was seen (or no state had a successor).
    Complete,
    /// A check failed: see [`Report::counterexample`].
    Found,
    /// The state budget ran out first.
    States,
    /// The memory budget ran out first.
    Memory,
}

/// What a search did.
#[derive(Clone, Debug)]
pub struct Report {
    /// States taken off the queue and expanded.
    pub explored: u64,
    /// Distinct states seen (by fingerprint).
    pub unique: u64,
    /// Transitions tried.
    pub transitions: u64,
    /// The deepest level finished.
    pub depth: usize,
    /// Why it ended.
    pub stop: Stop,
    /// The first failure, on a shortest path.
    pub counterexample: Option<Counterexample>,
}

impl Report {
    /// A search that has seen its first state and nothing else.
    fn start() -> Report {
        Report { explored: 0, unique: 1, transitions: 0, depth: 0, stop: Stop::Complete, counterexample: None }
    }
}

/// A message in flight. Its `id` names it in a replay's trace only: two states that
/// differ in ids alone are one state, so ids (and who sent a reply) are not hashed.
#[derive(Clone)]
enum Packet<P: Protocol> {
    Peer { id: u64, from: NodeId, to: NodeId, msg: P::Msg },
    Request { id: u64, client: usize, to: NodeId, request: Request },
    Reply { id: u64, from: NodeId, client: usize, reply: Reply },
}

impl<P: Protocol> Hash for Packet<P> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Packet::Peer { from, to, msg, .. } => (0u8, from, to, msg).hash(h),
            Packet::Request { client, to, request, .. } => (1u8, client, to, request).hash(h),
            Packet::Reply { client, reply, .. } => (2u8, client, reply).hash(h),
        }
    }
}

#[derive(Clone)]
struct Node<P: Protocol> {
    disk: Disk<P::Stored>,
    timers: BTreeMap<u64, P::Timer>,
    next_timer: u64,
    boot: u64,
    /// The fingerprint of the node's state, disk and armed timers, kept up to date
    /// as the node steps ([`Node::refresh`]): a state's fingerprint rehashes only
    /// the node that changed.
    fp: u64,
}

impl<P: Protocol> Node<P> {
    fn refresh(&mut self, state: &Option<Rc<P>>) {
        let mut h = Fp::default();
        state.hash(&mut h);
        self.disk.hash(&mut h);
        // Timers by payload, as a multiset (ids differ between equal states).
        h.write_usize(self.timers.len());
        h.write_u64(self.timers.values().fold(0u64, |sum, t| sum.wrapping_add(fx(t))));
        self.fp = h.finish();
    }
}

/// A message in flight with its fingerprint, hashed once when sent.
struct Flight<P: Protocol> {
    fp: u64,
    packet: Packet<P>,
}

#[derive(Clone, Hash)]
struct Client {
    ops: VecDeque<Op>,
    seq: u64,
    /// The request outstanding, and where it went last.
    pending: Option<(Request, usize)>,
    redirects: u32,
}

#[derive(Clone)]
struct World<P: Protocol> {
    // States share what a step did not change: each successor copies only the node
    // that stepped, and holds the rest (and the judge, and messages) by reference.
    /// Each node's state, `None` while down (a slice of these is what cluster checks read).
    states: Vec<Option<Rc<P>>>,
    nodes: Vec<Rc<Node<P>>>,
    net: Vec<Rc<Flight<P>>>,
    /// The messages in flight as a multiset: the wrapping sum of their fingerprints.
    net_fp: u64,
    clients: Rc<Vec<Client>>,
    judge: Rc<Judge>,
    tally: Tally,
}

/// What a path has spent of the bounds, how long it is, and the messages it sent.
#[derive(Clone, Copy, Default)]
struct Tally {
    crashes: u32,
    losses: u32,
    duplicates: u32,
    timers: u32,
    depth: usize,
    /// Messages sent so far: the next one's id (not part of the state).
    sent: u64,
}

impl<P: Protocol> World<P> {
    /// The time of the step in progress: each step moves every clock [`STEP_NS`].
    fn now(&self) -> Time {
        (self.tally.depth as u64 + 1) * STEP_NS
    }
}

/// What a replay keeps beyond the states: the trace, the clients' history.
struct Log {
    trace: Trace,
    history: History,
    /// Each client's operation in progress, by its id in the history.
    ops: Vec<Option<usize>>,
    stats: Stats,
}

/// A step that broke an invariant: when, and which.
type Broken = (Time, Violation);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Deliver(u32),
    Lose(u32),
    Duplicate(u32),
    Fire(u32, u64),
    Crash(u32),
    Restart(u32),
}

struct DiskView<'a, P: Protocol>(&'a [Rc<Node<P>>]);

impl<P: Protocol> Disks<P::Stored> for DiskView<'_, P> {
    fn disk(&self, node: usize) -> Option<&Disk<P::Stored>> {
        self.0.get(node).map(|n| &n.disk)
    }
}

/// The fingerprint hasher: word-at-a-time multiply and rotate, then a final mix
/// (splitmix64's), so every input bit reaches every output bit. Fast, not keyed: a
/// fingerprint only tells states apart.
struct Fp(u64);

impl Default for Fp {
    /// Starts from a constant that is not 0: from 0, a value that hashes as one zero
    /// word (a unit variant numbered 0, such as an enum's first timer) would have the
    /// fingerprint 0, and vanish from a multiset summed of fingerprints (an armed
    /// timer unseen: two states, one with and one without it, taken for one).
    fn default() -> Fp {
        Fp(0x243F_6A88_85A3_08D3)
    }
}

impl Hasher for Fp {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(b) ^ ((rest.len() as u64) << 59));
        }
    }
    #[inline]
    fn write_u64(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    #[inline]
    fn write_u8(&mut self, w: u8) {
        self.write_u64(u64::from(w));
    }
    #[inline]
    fn write_u32(&mut self, w: u32) {
        self.write_u64(u64::from(w));
    }
    #[inline]
    fn write_usize(&mut self, w: usize) {
        self.write_u64(w as u64);
    }
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The fingerprints seen: open addressing with linear probing over one array, so a
/// lookup of a new state (the search's most frequent memory access, and a cache
/// miss in a large set) touches one cache line. Fingerprints are already uniform:
/// no more hashing. 0 marks an empty slot (a fingerprint of 0 is stored as 1).
struct FpSet {
    slots: Vec<u64>,
    len: usize,
}

impl FpSet {
    fn with_capacity(n: usize) -> FpSet {
        FpSet { slots: Self::empty((n.max(8) * 8 / 5).next_power_of_two()), len: 0 }
    }

    /// `n` empty slots, written now. `vec![0; n]` would ask the system for zeroed
    /// pages, each mapped on first read to one shared page of zeros and copied on
    /// first write; with the search on several threads, each such copy makes the
    /// kernel interrupt every other core to flush its address cache (a third of a
    /// two-thread search's time, measured). Writing the zeros first maps each page once.
    #[allow(clippy::slow_vector_initialization)] // the point: not calloc's pages
    fn empty(n: usize) -> Vec<u64> {
        let mut slots = Vec::with_capacity(n);
        slots.resize(n, 0);
        slots
    }

    /// Asks the processor to bring `fp`'s slot into cache: [`FpSet::insert`] of it a
    /// little later (after the next successor is made) does not wait on memory.
    #[inline]
    fn prefetch(&self, fp: u64) {
        prefetch_slot(self.slots.as_ptr(), self.slots.len() - 1, fp);
    }

    /// Adds `fp`; false if it was there.
    fn insert(&mut self, fp: u64) -> bool {
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            let bigger = Self::empty(self.slots.len() * 2);
            let old = std::mem::replace(&mut self.slots, bigger);
            self.len = 0;
            for f in old.into_iter().filter(|&f| f != 0) {
                self.insert(f);
            }
        }
        let fp = fp.max(1);
        let mask = self.slots.len() - 1;
        let mut i = (fp as usize) & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = fp;
                    self.len += 1;
                    return true;
                }
                f if f == fp => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

/// Asks the processor to bring into cache the slot of `fp` in a set whose slots
/// start at `base`, `mask + 1` of them. Only an address is made, never read: a
/// stale `base` (a set since grown) costs a wasted hint, nothing more.
#[inline]
fn prefetch_slot(base: *const u64, mask: usize, fp: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        let slot = base.wrapping_add((fp.max(1) as usize) & mask).cast::<i8>();
        // SAFETY: a prefetch is a hint: it reads nothing the program sees and never
        // faults, whatever the address; every x86_64 processor has SSE.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (base, mask, fp);
}

fn fx<T: Hash>(t: &T) -> u64 {
    let mut h = Fp::default();
    t.hash(&mut h);
    h.finish()
}

impl<P: Protocol> World<P> {
    /// The state's fingerprint: nodes, disks, armed timers (their payloads, not their
    /// ids), what is in flight (as a multiset), the clients, and the fault budget used.
    /// Each part is kept up to date as steps change it, so this only combines them.
    fn fingerprint(&self) -> u64 {
        let mut h = Fp::default();
        for n in &self.nodes {
            h.write_u64(n.fp);
        }
        h.write_u64(self.net_fp);
        h.write_usize(self.net.len());
        self.clients.hash(&mut h);
        let t = self.tally;
        (t.crashes, t.losses, t.duplicates, t.timers).hash(&mut h);
        h.finish()
    }
}

/// A search of one scenario's configuration.
pub struct Explorer<P: Protocol> {
    config: P::Config,
    n: usize,
    members: Vec<NodeId>,
    bounds: Bounds,
    seed: u64,
    /// While replaying a schedule: what the replay writes down.
    log: RefCell<Option<Log>>,
    /// A step's effects, kept between steps so a step does not allocate it.
    effects: RefCell<Vec<Effect<P>>>,
}

impl<P: Protocol> Explorer<P> {
    /// A search of `scenario`'s cluster (its node count, members and workload's
    /// operations) with every node configured by `config`, within `bounds`.
    pub fn new(scenario: &Scenario, config: P::Config, bounds: Bounds) -> Explorer<P> {
        Explorer {
            config,
            n: scenario.nodes,
            members: scenario.members.clone(),
            bounds,
            seed: scenario.seed,
            log: RefCell::new(None),
            effects: RefCell::new(Vec::new()),
        }
    }

    /// Writes the event `ev` builds to the replay's trace (nothing during a search).
    fn emit<'e>(&self, t: Time, ev: impl FnOnce() -> Written<'e, P::Msg, P::Timer>)
    where
        P::Msg: 'e,
        P::Timer: 'e,
    {
        if let Some(log) = self.log.borrow_mut().as_mut() {
            log.stats.events += 1;
            log.trace.emit(t, ev);
        }
    }

    /// Counts in the replay's statistics (nothing during a search).
    fn count(&self, f: impl FnOnce(&mut Stats)) {
        if let Some(log) = self.log.borrow_mut().as_mut() {
            f(&mut log.stats);
        }
    }

    /// The operations each client invokes: the scenario's listed ones if it has them,
    /// else writes of distinct values to one key (a bank: transfers between two accounts).
    fn client_ops(&self, scenario: &Scenario) -> Vec<VecDeque<Op>> {
        let b = self.bounds;
        let w = scenario.workload.as_ref();
        (0..b.clients)
            .map(|c| {
                let listed: VecDeque<Op> = w
                    .map(|w| w.script.iter().filter(|s| s.client == c).map(|s| s.op.clone()).collect())
                    .unwrap_or_default();
                if !listed.is_empty() {
                    return listed;
                }
                (0..b.ops_per_client)
                    .map(|i| match w.and_then(|w| w.bank) {
                        Some(bank) => {
                            // Even clients move a1 -> a2, odd ones back: transactions that conflict.
                            let (from, to) = if c % 2 == 0 { (0, 1) } else { (1, 0) };
                            Op::Transfer {
                                from: crate::scenario::Bank::account(from),
                                to: crate::scenario::Bank::account(to),
                                amount: 1 + (c as u64 % bank.amount),
                            }
                        }
                        None => Op::Put { key: "k1".into(), value: format!("{}.{}", c + 1, i + 1) },
                    })
                    .collect()
            })
            .collect()
    }

    fn initial(&self, scenario: &Scenario) -> Result<World<P>, Broken> {
        let mut w = World {
            states: (0..self.n).map(|_| None).collect(),
            nodes: (0..self.n)
                .map(|_| {
                    Rc::new(Node { disk: Disk::default(), timers: BTreeMap::new(), next_timer: 0, boot: 0, fp: 0 })
                })
                .collect(),
            net: Vec::new(),
            net_fp: 0,
            clients: Rc::new(
                self.client_ops(scenario)
                    .into_iter()
                    .map(|ops| Client { ops, seq: 0, pending: None, redirects: 0 })
                    .collect(),
            ),
            judge: Rc::new(crate::protocol::judge_for::<P>(self.n)),
            tally: Tally::default(),
        };
        for i in 0..self.n {
            self.boot(&mut w, i)?;
        }
        for c in 0..w.clients.len() {
            self.next_op(&mut w, c);
        }
        Ok(w)
    }

    fn next_op(&self, w: &mut World<P>, c: usize) {
        let now = w.now();
        let client = &mut Rc::make_mut(&mut w.clients)[c];
        if let Some(op) = client.ops.pop_front() {
            client.seq += 1;
            let to = NodeId(c % self.n);
            let request = Request::new(c, client.seq, op);
            client.pending = Some((request.clone(), to.0));
            client.redirects = 0;
            if let Some(log) = self.log.borrow_mut().as_mut() {
                let op_id = log.history.invoke(now, c, request.op.clone());
                log.ops[c] = Some(op_id);
                log.stats.events += 1;
                log.trace.emit::<P::Msg, P::Timer>(now, || TraceEvent::Invoke {
                    client: Addr::Client(c),
                    op: op_id,
                    request: &request,
                });
            }
            self.request(w, c, to, request);
        }
    }

    /// Client `c` sends `request` to node `to`.
    fn request(&self, w: &mut World<P>, client: usize, to: NodeId, request: Request) {
        self.post(w, |id| Packet::Request { id, client, to, request });
    }

    /// Puts a message in flight (numbered), and in a replay's trace.
    fn post(&self, w: &mut World<P>, packet: impl FnOnce(u64) -> Packet<P>) {
        w.tally.sent += 1;
        let p = packet(w.tally.sent);
        if self.log.borrow().is_some() {
            let (from, to, msg) = match &p {
                Packet::Peer { from, to, msg, .. } => (Addr::Node(*from), Addr::Node(*to), Body::Peer(msg)),
                Packet::Request { client, to, request, .. } => {
                    self.count(|s| s.client_requests += 1);
                    (Addr::Client(*client), Addr::Node(*to), Body::Request { request })
                }
                Packet::Reply { from, client, reply, .. } => {
                    (Addr::Node(*from), Addr::Client(*client), Body::Reply { reply })
                }
            };
            self.count(|s| s.sent += 1);
            self.emit(w.now(), || TraceEvent::Send { from, to, id: w.tally.sent, msg });
        }
        let fp = fx(&p);
        w.net_fp = w.net_fp.wrapping_add(fp);
        w.net.push(Rc::new(Flight { fp, packet: p }));
    }

    /// Takes message `i` out of flight.
    fn unpost(w: &mut World<P>, i: u32) -> Rc<Flight<P>> {
        let f = w.net.swap_remove(i as usize);
        w.net_fp = w.net_fp.wrapping_sub(f.fp);
        f
    }

    fn boot(&self, w: &mut World<P>, i: usize) -> Result<(), Broken> {
        let durable = Rc::make_mut(&mut w.nodes[i]).disk.durable().clone();
        self.step(w, i, |ctx, state, config| *state = Some(Rc::new(P::start(ctx, config, &durable))))
    }

    /// Runs one handler of node `i` and carries out its effects; a broken invariant is
    /// the failure.
    fn step(
        &self,
        w: &mut World<P>,
        i: usize,
        f: impl FnOnce(&mut Ctx<'_, P>, &mut Option<Rc<P>>, &P::Config),
    ) -> Result<(), Broken> {
        let now = w.now();
        let mut effects = std::mem::take(&mut *self.effects.borrow_mut());
        let mut rng = None;
        let node = Rc::make_mut(&mut w.nodes[i]);
        let mut next_timer = node.next_timer;
        {
            let mut ctx = Ctx {
                id: NodeId(i),
                nodes: self.n,
                local_now: now,
                mono_now: now,
                rng: RngSlot::Later {
                    seed: self.seed ^ fx(&(w.tally.depth, i)),
                    stream: Stream::Node(i),
                    slot: &mut rng,
                },
                effects: &mut effects,
                next_timer: &mut next_timer,
                members: &self.members,
                view: 0,
            };
            f(&mut ctx, &mut w.states[i], &self.config);
        }
        node.next_timer = next_timer;
        let boot = node.boot;
        let me = NodeIdName(NodeId(i));
        let mut drained = effects.drain(..);
        let outcome = drained.try_for_each(|e| {
            match e {
                Effect::Send { to, msg } => self.post(w, |id| Packet::Peer { id, from: NodeId(i), to, msg }),
                Effect::SetTimer { id, timer, .. } => {
                    Rc::make_mut(&mut w.nodes[i]).timers.insert(id.0, timer);
                }
                Effect::CancelTimer { id } => {
                    Rc::make_mut(&mut w.nodes[i]).timers.remove(&id.0);
                }
                Effect::Reply(reply) => {
                    let client = reply.client;
                    if client < w.clients.len() {
                        self.post(w, |id| Packet::Reply { id, from: NodeId(i), client, reply });
                    }
                }
                Effect::Write { key, value } => Rc::make_mut(&mut w.nodes[i]).disk.write(key, value),
                Effect::Sync => {
                    let writes = Rc::make_mut(&mut w.nodes[i]).disk.sync();
                    self.emit(now, || TraceEvent::Sync { node: me, writes });
                }
                Effect::Note(text) => self.emit(now, || TraceEvent::Note { node: me, text: &text }),
                Effect::Observe(obs) => {
                    self.emit(now, || TraceEvent::Observe { node: me, obs: &obs });
                    Rc::make_mut(&mut w.judge).observe(NodeId(i), boot, now, &obs).map_err(|v| (now, v))?;
                }
            }
            Ok(())
        });
        drop(drained);
        *self.effects.borrow_mut() = effects;
        outcome?;
        Rc::make_mut(&mut w.nodes[i]).refresh(&w.states[i]);
        if let Some(state) = &w.states[i] {
            state.check_invariants().map_err(|v| (now, v))?;
        }
        P::check_cluster(&Cluster::shared(&w.states, &DiskView(&w.nodes), i, now)).map_err(|v| (now, v))
    }

    fn actions(&self, w: &World<P>) -> Vec<Action> {
        let b = self.bounds;
        let mut out = Vec::new();
        for (i, f) in w.net.iter().enumerate() {
            if w.net[..i].iter().any(|g| g.fp == f.fp) {
                continue; // the same message twice in flight: one choice
            }
            out.push(Action::Deliver(i as u32));
            if matches!(f.packet, Packet::Peer { .. }) {
                if w.tally.losses < b.losses {
                    out.push(Action::Lose(i as u32));
                }
                if w.tally.duplicates < b.duplicates {
                    out.push(Action::Duplicate(i as u32));
                }
            }
        }
        for (i, n) in w.nodes.iter().enumerate() {
            if w.states[i].is_some() {
                if w.tally.timers < b.timers {
                    for &id in n.timers.keys() {
                        out.push(Action::Fire(i as u32, id));
                    }
                }
                if w.tally.crashes < b.crashes {
                    out.push(Action::Crash(i as u32));
                }
            } else {
                out.push(Action::Restart(i as u32));
            }
        }
        out
    }

    /// The actions possible in `w` whose words are `words`, in the search's order.
    fn read_alike(&self, w: &World<P>, words: &str) -> Vec<Action> {
        self.actions(w).into_iter().filter(|&a| self.describe(w, a).to_string() == words).collect()
    }

    /// `a` in `w`, as a person reads it.
    fn describe(&self, w: &World<P>, a: Action) -> Step {
        let packet = |i: u32| &w.net[i as usize].packet;
        match a {
            Action::Deliver(i) | Action::Lose(i) | Action::Duplicate(i) => match packet(i) {
                Packet::Peer { from, to, msg, .. } => {
                    let (from, to, kind) = (*from, *to, crate::protocol::Message::kind(msg));
                    match a {
                        Action::Lose(_) => Step::Lose { from, to, kind },
                        Action::Duplicate(_) => Step::Duplicate { from, to, kind },
                        _ => Step::Deliver { from, to, kind },
                    }
                }
                Packet::Request { client, to, request, .. } => {
                    Step::Request { client: *client, to: *to, op: request.op.clone() }
                }
                Packet::Reply { client, reply, .. } => {
                    Step::Reply { client: *client, outcome: format!("{:?}", reply.outcome) }
                }
            },
            Action::Fire(i, id) => Step::Fire {
                node: NodeId(i as usize),
                timer: w.nodes[i as usize].timers.get(&id).map_or(String::new(), |t| format!("{t:?}")),
            },
            Action::Crash(i) => Step::Crash(NodeId(i as usize)),
            Action::Restart(i) => Step::Restart(NodeId(i as usize)),
        }
    }

    /// Carries out `a` on `w`; a broken invariant is the failure.
    fn apply(&self, w: &mut World<P>, a: Action) -> Result<(), Broken> {
        w.tally.depth += 1;
        let now = w.now();
        match a {
            Action::Deliver(i) | Action::Duplicate(i) => {
                let duplicate = matches!(a, Action::Duplicate(_));
                let f = if duplicate {
                    w.tally.duplicates += 1;
                    w.net[i as usize].clone()
                } else {
                    Self::unpost(w, i)
                };
                let p = Rc::try_unwrap(f).map_or_else(|shared| shared.packet.clone(), |f| f.packet);
                self.deliver(w, p, duplicate)
            }
            Action::Lose(i) => {
                w.tally.losses += 1;
                if let Packet::Peer { id, from, to, .. } = &Self::unpost(w, i).packet {
                    self.count(|s| s.dropped_loss += 1);
                    self.emit(now, || TraceEvent::Drop {
                        from: Addr::Node(*from),
                        to: Addr::Node(*to),
                        id: *id,
                        reason: "loss",
                    });
                }
                Ok(())
            }
            Action::Fire(i, id) => {
                let node = i as usize;
                let timer = Rc::make_mut(&mut w.nodes[node]).timers.remove(&id).expect("an armed timer");
                w.tally.timers += 1;
                self.count(|s| s.timers += 1);
                self.emit(now, || TraceEvent::Timer { node: NodeIdName(NodeId(node)), id, timer: &timer });
                self.step(w, node, |ctx, s, _| {
                    if let Some(s) = s {
                        Rc::make_mut(s).on_timer(ctx, TimerId(id), timer)
                    }
                })
            }
            Action::Crash(i) => {
                w.states[i as usize] = None;
                let n = Rc::make_mut(&mut w.nodes[i as usize]);
                n.timers.clear();
                let lost_writes = n.disk.crash();
                n.refresh(&None);
                w.tally.crashes += 1;
                self.count(|s| {
                    s.crashes += 1;
                    s.lost_writes += lost_writes as u64;
                });
                self.emit(now, || TraceEvent::Crash { node: NodeIdName(NodeId(i as usize)), lost_writes });
                Ok(())
            }
            Action::Restart(i) => {
                let n = Rc::make_mut(&mut w.nodes[i as usize]);
                n.boot += 1;
                let durable_keys = n.disk.durable().len();
                self.count(|s| s.restarts += 1);
                self.emit(now, || TraceEvent::Restart { node: NodeIdName(NodeId(i as usize)), durable_keys });
                self.boot(w, i as usize)
            }
        }
    }

    fn deliver(&self, w: &mut World<P>, p: Packet<P>, duplicate: bool) -> Result<(), Broken> {
        let now = w.now();
        match p {
            Packet::Peer { id, from, to, msg } => {
                let (f, t) = (Addr::Node(from), Addr::Node(to));
                if duplicate {
                    self.count(|s| s.duplicated += 1);
                    self.emit(now, || TraceEvent::Duplicate { from: f, to: t, id });
                }
                if w.states[to.0].is_none() {
                    self.count(|s| s.dropped_node_down += 1);
                    self.emit(now, || TraceEvent::Drop { from: f, to: t, id, reason: "node down" });
                    return Ok(());
                }
                self.count(|s| s.delivered += 1);
                self.emit(now, || TraceEvent::Deliver { from: f, to: t, id });
                self.step(w, to.0, |ctx, s, _| {
                    if let Some(s) = s {
                        Rc::make_mut(s).on_message(ctx, from, msg)
                    }
                })
            }
            Packet::Request { id, client, to, request } => {
                let (f, t) = (Addr::Client(client), Addr::Node(to));
                if w.states[to.0].is_none() {
                    self.count(|s| s.dropped_node_down += 1);
                    self.emit(now, || TraceEvent::Drop { from: f, to: t, id, reason: "node down" });
                    // No answer from a down node: the client asks the next one.
                    let next = NodeId((to.0 + 1) % self.n);
                    if let Some((req, target)) = &mut Rc::make_mut(&mut w.clients)[client].pending {
                        *target = next.0;
                        let req = req.clone();
                        self.request(w, client, next, req);
                    }
                    return Ok(());
                }
                self.count(|s| s.delivered += 1);
                self.emit(now, || TraceEvent::Deliver { from: f, to: t, id });
                self.step(w, to.0, |ctx, s, _| {
                    if let Some(s) = s {
                        Rc::make_mut(s).on_request(ctx, request)
                    }
                })
            }
            Packet::Reply { id, from, client, reply } => {
                self.count(|s| s.delivered += 1);
                self.emit(now, || TraceEvent::Deliver { from: Addr::Node(from), to: Addr::Client(client), id });
                let c = &mut Rc::make_mut(&mut w.clients)[client];
                let Some((req, target)) = c.pending.clone() else { return Ok(()) };
                if req.seq != reply.seq {
                    return Ok(());
                }
                let follow = match reply.outcome {
                    Outcome::Redirect(hint) if c.redirects < 2 * self.n as u32 => {
                        c.redirects += 1;
                        Some(hint.map_or((target + 1) % self.n, |h| h.0 % self.n))
                    }
                    // Redirected around a loop: the client gives up on it.
                    Outcome::Redirect(_) => None,
                    outcome => {
                        if let Some(log) = self.log.borrow_mut().as_mut()
                            && let Some(op_id) = log.ops[client].take()
                        {
                            let completion = completion_of(outcome).expect("not a redirect");
                            emit_complete(&mut log.trace, now, client, op_id, &completion);
                            log.stats.events += 1;
                            log.history.complete(op_id, now, completion);
                        }
                        None
                    }
                };
                match follow {
                    Some(to) => {
                        c.pending = Some((req.clone(), to));
                        self.request(w, client, NodeId(to), req);
                    }
                    None => {
                        Rc::make_mut(&mut w.clients)[client].pending = None;
                        self.give_up(client, now);
                        self.next_op(w, client);
                    }
                }
                Ok(())
            }
        }
    }

    /// In a replay, `client`'s operation still open ends without an answer.
    fn give_up(&self, client: usize, now: Time) {
        if let Some(log) = self.log.borrow_mut().as_mut()
            && let Some(op_id) = log.ops[client].take()
        {
            let op = log.history.ops[op_id].op.clone();
            let completion = Completion::gave_up(&op, GaveUp::RunEnded);
            emit_complete(&mut log.trace, now, client, op_id, &completion);
            log.stats.events += 1;
            log.history.complete(op_id, now, completion);
        }
    }

    /// Searches breadth-first; `progress` hears of each level as it is finished.
    pub fn run(&self, scenario: &Scenario, progress: &mut dyn FnMut(&Report)) -> Report {
        let mut report = Report::start();
        let start = match self.initial(scenario) {
            Ok(w) => w,
            Err((t, v)) => {
                let failure = invariant(t, &v);
                report.counterexample = Some(self.counterexample(scenario, failure, Vec::new(), Vec::new()));
                report.stop = Stop::Found;
                return report;
            }
        };
        // Each state's parent and the action that reached it, to rebuild a path.
        let mut parents: Vec<(u32, Action)> = vec![(u32::MAX, Action::Crash(u32::MAX))];
        let mut seen = FpSet::with_capacity(self.bounds.states.min(1 << 23) as usize);
        seen.insert(start.fingerprint());
        let mut frontier: Vec<(World<P>, u32)> = vec![(start, 0)];
        for depth in 0..self.bounds.depth {
            let mut next = Vec::new();
            // A successor waits here, its fingerprint's slot prefetched, while the
            // next one is made: the set's lookup (a cache miss in a large set) then
            // overlaps that work. The order of lookups is unchanged.
            let mut waiting: Option<(World<P>, u64, u32, Action)> = None;
            let mut admit = |waiting: Option<(World<P>, u64, u32, Action)>, report: &mut Report, ahead: u64| {
                seen.prefetch(ahead);
                let (child, fp, parent, a) = waiting?;
                if !seen.insert(fp) {
                    return None;
                }
                report.unique += 1;
                if report.unique >= self.bounds.states {
                    return Some(Stop::States);
                }
                if report.unique.is_multiple_of(4096) && resident_bytes() > self.bounds.memory_bytes {
                    return Some(Stop::Memory);
                }
                parents.push((parent, a));
                next.push((child, parents.len() as u32 - 1));
                None
            };
            for (w, id) in frontier {
                report.explored += 1;
                for a in self.actions(&w) {
                    report.transitions += 1;
                    let mut child = w.clone();
                    if let Err((t, v)) = self.apply(&mut child, a) {
                        parents.push((id, a));
                        let (steps, schedule) = self.path(scenario, &parents, parents.len() as u32 - 1);
                        report.counterexample = Some(self.counterexample(scenario, invariant(t, &v), steps, schedule));
                        report.depth = depth + 1;
                        report.stop = Stop::Found;
                        return report;
                    }
                    let fp = child.fingerprint();
                    if let Some(stop) = admit(waiting.replace((child, fp, id, a)), &mut report, fp) {
                        report.stop = stop;
                        report.depth = depth;
                        return report;
                    }
                }
            }
            if let Some(stop) = admit(waiting.take(), &mut report, 0) {
                report.stop = stop;
                report.depth = depth;
                return report;
            }
            report.depth = depth + 1;
            progress(&report);
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        report
    }

    fn counterexample(
        &self,
        scenario: &Scenario,
        failure: Failure,
        steps: Vec<Step>,
        schedule: Vec<String>,
    ) -> Counterexample {
        let operations = self
            .client_ops(scenario)
            .into_iter()
            .enumerate()
            .flat_map(|(client, ops)| ops.into_iter().map(move |op| crate::scenario::Scripted { client, at: 0, op }))
            .collect();
        Counterexample { failure, steps, schedule, clients: self.bounds.clients, operations }
    }

    /// The steps to state `id`, replayed from the start: as steps, and as a
    /// schedule's words.
    fn path(&self, scenario: &Scenario, parents: &[(u32, Action)], id: u32) -> (Vec<Step>, Vec<String>) {
        let mut actions = Vec::new();
        let mut at = id;
        while at != 0 {
            let (parent, a) = parents[at as usize];
            actions.push(a);
            at = parent;
        }
        actions.reverse();
        let Ok(mut w) = self.initial(scenario) else { return (Vec::new(), Vec::new()) };
        let mut steps = Vec::new();
        let mut words = Vec::new();
        for a in actions {
            let step = self.describe(&w, a);
            let text = step.to_string();
            // Which of the steps possible here that read the same this one is.
            let same = self.read_alike(&w, &text);
            let nth = same.iter().position(|&b| b == a).unwrap_or(0);
            words.push(if same.len() > 1 { format!("{text} (#{})", nth + 1) } else { text });
            steps.push(step);
            if self.apply(&mut w, a).is_err() {
                break;
            }
        }
        (steps, words)
    }
}

/// The process's resident memory, where the system says (Linux); 0 elsewhere.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_set_keeps_every_member_as_it_grows() {
        let mut set = FpSet::with_capacity(4);
        let first = set.slots.len();
        // Fingerprints that collide in the low bits: a run of probes.
        let fps: Vec<u64> = (1..10_000u64).map(|i| i << 40).chain([u64::MAX]).collect();
        for &f in &fps {
            assert!(set.insert(f), "{f} is new");
        }
        assert!(set.slots.len() > first, "it grew");
        assert_eq!(set.len, fps.len());
        for &f in &fps {
            assert!(!set.insert(f), "{f} was kept through every growth");
        }
        // 0 marks an empty slot: it is kept as 1, so the two are one member.
        assert!(set.insert(0));
        assert!(!set.insert(1));
        assert!(set.insert(12345));
    }
}

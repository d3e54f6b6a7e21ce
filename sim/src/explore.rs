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

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::checks::Failure;
use crate::disk::{Disk, Disks};
use crate::judge::Judge;
use crate::protocol::{Cluster, Ctx, Effect, NodeId, Op, Outcome, Protocol, Reply, Request, TimerId};
use crate::rng::{SimRng, Stream};
use crate::scenario::Scenario;
use crate::time::{NANOS_PER_SEC, Time};

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

#[derive(Clone)]
enum Packet<P: Protocol> {
    Peer { from: NodeId, to: NodeId, msg: P::Msg },
    Request { client: usize, to: NodeId, request: Request },
    Reply { client: usize, reply: Reply },
}

impl<P: Protocol> Hash for Packet<P> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Packet::Peer { from, to, msg } => (0u8, from, to, msg).hash(h),
            Packet::Request { client, to, request } => (1u8, client, to, request).hash(h),
            Packet::Reply { client, reply } => (2u8, client, reply).hash(h),
        }
    }
}

#[derive(Clone)]
struct Node<P: Protocol> {
    disk: Disk<P::Stored>,
    timers: BTreeMap<u64, P::Timer>,
    next_timer: u64,
    boot: u64,
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
    net: Vec<Rc<Packet<P>>>,
    clients: Vec<Client>,
    judge: Rc<Judge>,
    crashes: u32,
    losses: u32,
    duplicates: u32,
    timers: u32,
    depth: usize,
}

#[derive(Clone, Copy, Debug)]
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
#[derive(Default)]
struct Fp(u64);

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

/// A set of fingerprints needs no more hashing.
#[derive(Default)]
struct Ident(u64);

impl Hasher for Ident {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only fingerprints")
    }
    fn write_u64(&mut self, w: u64) {
        self.0 = w;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

fn fx<T: Hash>(t: &T) -> u64 {
    let mut h = Fp::default();
    t.hash(&mut h);
    h.finish()
}

impl<P: Protocol> World<P> {
    /// The state's fingerprint: nodes, disks, armed timers (their payloads, not their
    /// ids), what is in flight (as a multiset), the clients, and the fault budget used.
    fn fingerprint(&self) -> u64 {
        let mut h = Fp::default();
        for (state, n) in self.states.iter().zip(&self.nodes) {
            state.hash(&mut h);
            n.disk.hash(&mut h);
            let mut timers: Vec<u64> = n.timers.values().map(fx).collect();
            timers.sort_unstable();
            timers.hash(&mut h);
        }
        let mut net: Vec<u64> = self.net.iter().map(fx).collect();
        net.sort_unstable();
        net.hash(&mut h);
        self.clients.hash(&mut h);
        (self.crashes, self.losses, self.duplicates, self.timers).hash(&mut h);
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
}

impl<P: Protocol> Explorer<P> {
    /// A search of `scenario`'s cluster (its node count, members and workload's
    /// operations) with every node configured by `config`, within `bounds`.
    pub fn new(scenario: &Scenario, config: P::Config, bounds: Bounds) -> Explorer<P> {
        Explorer { config, n: scenario.nodes, members: scenario.members.clone(), bounds, seed: scenario.seed }
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

    fn initial(&self, scenario: &Scenario) -> Result<World<P>, Failure> {
        let mut w = World {
            states: (0..self.n).map(|_| None).collect(),
            nodes: (0..self.n)
                .map(|_| Rc::new(Node { disk: Disk::default(), timers: BTreeMap::new(), next_timer: 0, boot: 0 }))
                .collect(),
            net: Vec::new(),
            clients: self
                .client_ops(scenario)
                .into_iter()
                .map(|ops| Client { ops, seq: 0, pending: None, redirects: 0 })
                .collect(),
            judge: Rc::new(Judge::new(self.n)),
            crashes: 0,
            losses: 0,
            duplicates: 0,
            timers: 0,
            depth: 0,
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
        let client = &mut w.clients[c];
        if let Some(op) = client.ops.pop_front() {
            client.seq += 1;
            let to = c % self.n;
            let request = Request::new(c, client.seq, op);
            client.pending = Some((request.clone(), to));
            client.redirects = 0;
            w.net.push(Rc::new(Packet::Request { client: c, to: NodeId(to), request }));
        }
    }

    fn boot(&self, w: &mut World<P>, i: usize) -> Result<(), Failure> {
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
    ) -> Result<(), Failure> {
        let now: Time = (w.depth as u64 + 1) * STEP_NS;
        let mut effects = Vec::new();
        let mut rng = SimRng::new(self.seed ^ fx(&(w.depth, i)), Stream::Node(i));
        let node = Rc::make_mut(&mut w.nodes[i]);
        let mut next_timer = node.next_timer;
        {
            let mut ctx =
                Ctx::hosted(NodeId(i), self.n, now, &mut rng, &mut effects, &mut next_timer, &self.members, 0);
            f(&mut ctx, &mut w.states[i], &self.config);
        }
        node.next_timer = next_timer;
        let boot = node.boot;
        for e in effects {
            let node = Rc::make_mut(&mut w.nodes[i]);
            match e {
                Effect::Send { to, msg } => w.net.push(Rc::new(Packet::Peer { from: NodeId(i), to, msg })),
                Effect::SetTimer { id, timer, .. } => {
                    node.timers.insert(id.0, timer);
                }
                Effect::CancelTimer { id } => {
                    node.timers.remove(&id.0);
                }
                Effect::Reply(reply) => {
                    let client = reply.client;
                    if client < w.clients.len() {
                        w.net.push(Rc::new(Packet::Reply { client, reply }));
                    }
                }
                Effect::Write { key, value } => node.disk.write(key, value),
                Effect::Sync => {
                    node.disk.sync();
                }
                Effect::Note(_) => {}
                Effect::Observe(obs) => {
                    Rc::make_mut(&mut w.judge).observe(NodeId(i), boot, now, &obs).map_err(|v| invariant(now, &v))?;
                }
            }
        }
        if let Some(state) = &w.states[i] {
            state.check_invariants().map_err(|v| invariant(now, &v))?;
        }
        P::check_cluster(&Cluster::shared(&w.states, &DiskView(&w.nodes), i, now)).map_err(|v| invariant(now, &v))
    }

    fn actions(&self, w: &World<P>) -> Vec<Action> {
        let b = self.bounds;
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (i, p) in w.net.iter().enumerate() {
            if !seen.insert(fx(p)) {
                continue; // the same message twice in flight: one choice
            }
            out.push(Action::Deliver(i as u32));
            if matches!(**p, Packet::Peer { .. }) {
                if w.losses < b.losses {
                    out.push(Action::Lose(i as u32));
                }
                if w.duplicates < b.duplicates {
                    out.push(Action::Duplicate(i as u32));
                }
            }
        }
        for (i, n) in w.nodes.iter().enumerate() {
            if w.states[i].is_some() {
                if w.timers < b.timers {
                    for &id in n.timers.keys() {
                        out.push(Action::Fire(i as u32, id));
                    }
                }
                if w.crashes < b.crashes {
                    out.push(Action::Crash(i as u32));
                }
            } else {
                out.push(Action::Restart(i as u32));
            }
        }
        out
    }

    /// Carries out `a` on `w`: the step it was, and a failure it caused.
    fn apply(&self, w: &mut World<P>, a: Action) -> (Step, Result<(), Failure>) {
        w.depth += 1;
        match a {
            Action::Deliver(i) | Action::Duplicate(i) => {
                let duplicate = matches!(a, Action::Duplicate(_));
                let p = if duplicate {
                    w.duplicates += 1;
                    w.net[i as usize].clone()
                } else {
                    w.net.swap_remove(i as usize)
                };
                let p = Rc::try_unwrap(p).unwrap_or_else(|shared| (*shared).clone());
                self.deliver(w, p, duplicate)
            }
            Action::Lose(i) => {
                w.losses += 1;
                let step = match &*w.net.swap_remove(i as usize) {
                    Packet::Peer { from, to, msg } => {
                        Step::Lose { from: *from, to: *to, kind: crate::protocol::Message::kind(msg) }
                    }
                    _ => unreachable!("only peer messages are lost"),
                };
                (step, Ok(()))
            }
            Action::Fire(i, id) => {
                let node = i as usize;
                let timer = Rc::make_mut(&mut w.nodes[node]).timers.remove(&id).expect("an armed timer");
                w.timers += 1;
                let step = Step::Fire { node: NodeId(node), timer: format!("{timer:?}") };
                let r = self.step(w, node, |ctx, s, _| {
                    if let Some(s) = s {
                        Rc::make_mut(s).on_timer(ctx, TimerId(id), timer)
                    }
                });
                (step, r)
            }
            Action::Crash(i) => {
                w.states[i as usize] = None;
                let n = Rc::make_mut(&mut w.nodes[i as usize]);
                n.timers.clear();
                n.disk.crash();
                w.crashes += 1;
                (Step::Crash(NodeId(i as usize)), Ok(()))
            }
            Action::Restart(i) => {
                Rc::make_mut(&mut w.nodes[i as usize]).boot += 1;
                let r = self.boot(w, i as usize);
                (Step::Restart(NodeId(i as usize)), r)
            }
        }
    }

    fn deliver(&self, w: &mut World<P>, p: Packet<P>, duplicate: bool) -> (Step, Result<(), Failure>) {
        match p {
            Packet::Peer { from, to, msg } => {
                let kind = crate::protocol::Message::kind(&msg);
                let step =
                    if duplicate { Step::Duplicate { from, to, kind } } else { Step::Deliver { from, to, kind } };
                if w.states[to.0].is_none() {
                    return (step, Ok(()));
                }
                let r = self.step(w, to.0, |ctx, s, _| {
                    if let Some(s) = s {
                        Rc::make_mut(s).on_message(ctx, from, msg)
                    }
                });
                (step, r)
            }
            Packet::Request { client, to, request } => {
                let step = Step::Request { client, to, op: request.op.clone() };
                if w.states[to.0].is_none() {
                    // No answer from a down node: the client asks the next one.
                    let next = NodeId((to.0 + 1) % self.n);
                    if let Some((req, target)) = &mut w.clients[client].pending {
                        *target = next.0;
                        w.net.push(Rc::new(Packet::Request { client, to: next, request: req.clone() }));
                    }
                    return (step, Ok(()));
                }
                let r = self.step(w, to.0, |ctx, s, _| {
                    if let Some(s) = s {
                        Rc::make_mut(s).on_request(ctx, request)
                    }
                });
                (step, r)
            }
            Packet::Reply { client, reply } => {
                let step = Step::Reply { client, outcome: format!("{:?}", reply.outcome) };
                let c = &mut w.clients[client];
                let Some((req, target)) = c.pending.clone() else { return (step, Ok(())) };
                if req.seq != reply.seq {
                    return (step, Ok(()));
                }
                match reply.outcome {
                    Outcome::Redirect(hint) if c.redirects < 2 * self.n as u32 => {
                        c.redirects += 1;
                        let to = hint.map_or((target + 1) % self.n, |h| h.0 % self.n);
                        c.pending = Some((req.clone(), to));
                        w.net.push(Rc::new(Packet::Request { client, to: NodeId(to), request: req }));
                    }
                    Outcome::Redirect(_) => {
                        c.pending = None; // gave up on it
                        self.next_op(w, client);
                    }
                    _ => {
                        c.pending = None;
                        self.next_op(w, client);
                    }
                }
                (step, Ok(()))
            }
        }
    }

    /// Searches breadth-first; `progress` hears of each level as it is finished.
    pub fn run(&self, scenario: &Scenario, progress: &mut dyn FnMut(&Report)) -> Report {
        let mut report =
            Report { explored: 0, unique: 1, transitions: 0, depth: 0, stop: Stop::Complete, counterexample: None };
        let start = match self.initial(scenario) {
            Ok(w) => w,
            Err(failure) => {
                report.counterexample = Some(Counterexample { failure, steps: Vec::new() });
                report.stop = Stop::Found;
                return report;
            }
        };
        // Each state's parent and the action that reached it, to rebuild a path.
        let mut parents: Vec<(u32, Action)> = vec![(u32::MAX, Action::Crash(u32::MAX))];
        let mut seen: HashSet<u64, std::hash::BuildHasherDefault<Ident>> = HashSet::default();
        seen.insert(start.fingerprint());
        let mut frontier: Vec<(World<P>, u32)> = vec![(start, 0)];
        for depth in 0..self.bounds.depth {
            let mut next = Vec::new();
            for (w, id) in frontier {
                report.explored += 1;
                for a in self.actions(&w) {
                    report.transitions += 1;
                    let mut child = w.clone();
                    let (_, result) = self.apply(&mut child, a);
                    if let Err(failure) = result {
                        parents.push((id, a));
                        let steps = self.path(scenario, &parents, parents.len() as u32 - 1);
                        report.counterexample = Some(Counterexample { failure, steps });
                        report.depth = depth + 1;
                        report.stop = Stop::Found;
                        return report;
                    }
                    if !seen.insert(child.fingerprint()) {
                        continue;
                    }
                    report.unique += 1;
                    if report.unique >= self.bounds.states {
                        report.stop = Stop::States;
                        report.depth = depth;
                        return report;
                    }
                    if report.unique.is_multiple_of(4096) && resident_bytes() > self.bounds.memory_bytes {
                        report.stop = Stop::Memory;
                        report.depth = depth;
                        return report;
                    }
                    parents.push((id, a));
                    next.push((child, parents.len() as u32 - 1));
                }
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

    /// The steps to state `id`, replayed from the start.
    fn path(&self, scenario: &Scenario, parents: &[(u32, Action)], id: u32) -> Vec<Step> {
        let mut actions = Vec::new();
        let mut at = id;
        while at != 0 {
            let (parent, a) = parents[at as usize];
            actions.push(a);
            at = parent;
        }
        actions.reverse();
        let Ok(mut w) = self.initial(scenario) else { return Vec::new() };
        actions.into_iter().map(|a| self.apply(&mut w, a).0).collect()
    }
}

/// The process's resident memory, where the system says (Linux); 0 elsewhere.
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

use crate::engine::invariant_failure as invariant;

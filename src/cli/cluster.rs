//! `faultline cluster` and `faultline node`: a scenario's protocol as real processes
//! on loopback sockets, judged by the simulator's own checkers.
//!
//! `cluster` starts one `faultline node` process per node (each told every peer's
//! address, so the same nodes also run across machines), drives the scenario's
//! workload with the simulator's client logic on a real clock and a real socket, and
//! carries out the scenario's faults for real: a crash is `kill -9` and a restart a
//! new process on the node's own files; a pause is SIGSTOP, a resume SIGCONT. At the
//! end it merges the nodes' traces with the clients', judges the history for
//! linearizability and the observations with the protocol family's invariants, and
//! writes a run folder that `faultline report` draws.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use faultline_net::{NodeSpec, Wire, since};
use faultline_sim::history::History;
use faultline_sim::judge::Judge;
use faultline_sim::nemesis::{Act, Nemesis, NemesisStep, View};
use faultline_sim::network::Cuts;
use faultline_sim::protocol::{NodeId, Reply};
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::scenario::{FaultAction, Scenario, Target};
use faultline_sim::trace::{Event, NodeIdName, ReadEvent, Trace};
use faultline_sim::wire;
use faultline_sim::workload::{ClientStep, Clients};

use super::{EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK};
use crate::cli::load::{Named, load};

/// The most nodes a real cluster may start: each is a process.
pub const CLUSTER_NODES_MAX: usize = 16;
/// The longest real run, in seconds: a cluster runs on the wall clock.
pub const CLUSTER_SECONDS_MAX: u64 = 300;
/// Exit code: the cluster itself could not run (a port, a process, a file).
pub const EXIT_CLUSTER: u8 = 4;
/// Exit code: interrupted (Ctrl-C); nodes stopped and cleaned up.
pub const EXIT_INTERRUPTED: u8 = 130;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// `faultline node`'s arguments.
#[derive(Debug)]
pub struct NodeArgs {
    pub scenario: String,
    pub protocol: Option<String>,
    pub variant: Option<String>,
    pub node: String,
    pub peers: String,
    pub dir: PathBuf,
    pub seed: u64,
    pub epoch_ns: Option<u64>,
}

/// Parses `127.0.0.1:7001,127.0.0.1:7002,...`.
fn parse_peers(text: &str) -> Result<Vec<SocketAddr>, String> {
    let peers: Result<Vec<SocketAddr>, String> = text
        .split(',')
        .map(|p| p.trim().parse().map_err(|e| format!("`{p}` is not an address such as 127.0.0.1:7001: {e}")))
        .collect();
    let peers = peers?;
    if peers.is_empty() || peers.len() > CLUSTER_NODES_MAX {
        return Err(format!("give 1 to {CLUSTER_NODES_MAX} peer addresses, comma-separated"));
    }
    Ok(peers)
}

/// Runs one node until it is killed.
pub fn node(args: NodeArgs) -> u8 {
    let named = Named {
        scenario: &args.scenario,
        protocol: args.protocol.as_deref(),
        variant: args.variant.as_deref(),
        expect: None,
    };
    let scenario = match load(named) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    let peers = match parse_peers(&args.peers) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --peers: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let id = match NodeId::parse(&args.node) {
        Some(NodeId(i)) if i < peers.len() => i,
        _ => {
            eprintln!("error: --node {}: name one of n1..n{} (one per peer address)", args.node, peers.len());
            return EXIT_BAD_INPUT;
        }
    };
    let Some(run) = runner(&scenario) else {
        eprintln!("{}", not_networked(&scenario));
        return EXIT_BAD_INPUT;
    };
    let spec = NodeSpec {
        id,
        peers,
        dir: args.dir,
        seed: args.seed,
        epoch_ns: args.epoch_ns.unwrap_or_else(faultline_net::now_ns),
        faults: link_faults(&scenario),
    };
    match run(&scenario, spec) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: node {}: {e}", args.node);
            EXIT_CLUSTER
        }
    }
}

/// The loss and duplication a node injects, from the scenario's [network] (one rate
/// on every peer link: [`unsupported`] refuses per-link rates).
fn link_faults(s: &Scenario) -> faultline_net::LinkFaults {
    let n = s.nodes;
    let peer = if n > 1 { s.network.links[1] } else { s.network.client_link };
    faultline_net::LinkFaults { loss: peer.loss, duplicate: peer.duplicate, client_loss: s.network.client_link.loss }
}

fn runner(scenario: &Scenario) -> Option<&'static faultline_protocols::NodeRunner> {
    faultline_protocols::lookup(&scenario.protocol).and_then(|e| e.node.as_ref())
}

fn not_networked(scenario: &Scenario) -> String {
    let able: Vec<&str> = faultline_protocols::registry().iter().filter(|e| e.node.is_some()).map(|e| e.name).collect();
    format!(
        "error: {}: protocol `{}` does not run on a real network yet: its messages and disk records must \
         derive Deserialize (register it with Entry::networked)\n  help: these do: {}",
        scenario.path,
        scenario.protocol,
        able.join(", ")
    )
}

/// What a real cluster cannot do yet, named with the scenario's file.
fn unsupported(s: &Scenario) -> Option<String> {
    let say = |what: String| Some(format!("error: {}: {what}", s.path));
    if s.nodes > CLUSTER_NODES_MAX {
        return say(format!("a real cluster runs at most {CLUSTER_NODES_MAX} nodes, and this one has {}", s.nodes));
    }
    if s.duration > CLUSTER_SECONDS_MAX * 1_000_000_000 {
        return say(format!(
            "a real cluster runs on the wall clock, at most {CLUSTER_SECONDS_MAX} s; this scenario lasts {}",
            faultline_sim::time::fmt_time(s.duration)
        ));
    }
    if s.workload.is_none() {
        return say("a real cluster needs a [workload]: the clients' history is what it judges".into());
    }
    if let Some(nem) = &s.nemesis
        && nem.kinds.contains(&faultline_sim::scenario::NemesisKind::Clock)
    {
        return say(
            "clock faults are not carried out on a real cluster: take \"clock\" out of the nemesis' kinds".into()
        );
    }
    if !s.clocks.iter().all(|&(skew, drift)| skew == 0 && drift == 0) {
        return say(
            "clock skew and drift are not carried out on a real cluster: every node reads the machine's clock".into()
        );
    }
    let n = s.nodes;
    let peer_links: Vec<_> = (0..n * n).filter(|i| i / n != i % n).map(|i| s.network.links[i]).collect();
    let same = |l: &&faultline_sim::scenario::LinkConfig| {
        (l.loss, l.duplicate) == (peer_links[0].loss, peer_links[0].duplicate)
    };
    if !peer_links.iter().all(|l| same(&l)) {
        return say(
            "a real cluster injects one loss and duplication rate on every link: give them in [network], not per link"
                .into(),
        );
    }
    if peer_links.iter().chain([&s.network.client_link]).any(|l| l.reorder.0 > 0) {
        return say(
            "reordering is not injected on a real network (loopback keeps order): remove `reorder` from [network]"
                .into(),
        );
    }
    if s.network.on_cut == faultline_sim::scenario::CutMode::Hold {
        return say(
            "on_cut = \"hold\" is not carried out on a real network: a cut link loses what is sent over it".into()
        );
    }
    for (i, f) in s.faults.iter().enumerate() {
        let ok = matches!(
            f.action,
            FaultAction::Crash(_)
                | FaultAction::Restart(_)
                | FaultAction::Pause(_)
                | FaultAction::Resume(_)
                | FaultAction::Partition(_)
                | FaultAction::Split(_)
                | FaultAction::Isolate(_)
                | FaultAction::Cut { .. }
                | FaultAction::Heal
        );
        if !ok {
            return say(format!(
                "fault {} ({:?}) is not carried out on a real cluster yet: it applies crashes, restarts, pauses \
                 and resumes (kill -9, a new process on the node's files, SIGSTOP, SIGCONT), and partitions, \
                 cuts and heals (the nodes drop what crosses a cut link)",
                i + 1,
                f.action
            ));
        }
    }
    None
}

/// The node processes, killed when this is dropped (an error, Ctrl-C, or the end).
struct Nodes {
    exe: PathBuf,
    args: Vec<String>,
    peers: Vec<SocketAddr>,
    dir: PathBuf,
    seed: u64,
    epoch_ns: u64,
    children: Vec<Option<Child>>,
    paused: Vec<bool>,
    /// When each incarnation of each node started: an observation's incarnation.
    starts: Vec<Vec<u64>>,
}

impl Nodes {
    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{}", i + 1))
    }

    fn spawn(&mut self, i: usize) -> std::io::Result<()> {
        let dir = self.node_dir(i);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("stderr.log"))?;
        let peers: Vec<String> = self.peers.iter().map(SocketAddr::to_string).collect();
        let child = Command::new(&self.exe)
            .args(&self.args)
            .args(["--node", &format!("n{}", i + 1), "--peers", &peers.join(",")])
            .arg("--dir")
            .arg(&dir)
            .args(["--seed", &self.seed.to_string(), "--epoch-ns", &self.epoch_ns.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.children[i] = Some(child);
        self.paused[i] = false;
        self.starts[i].push(since(self.epoch_ns));
        Ok(())
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill(); // SIGKILL: nothing unsynced survives
            let _ = c.wait();
        }
        self.paused[i] = false;
    }

    fn signal(&mut self, i: usize, sig: libc::c_int) -> bool {
        match &self.children[i] {
            Some(c) => {
                // SAFETY: sending a signal to our own child, which we have not reaped.
                unsafe { libc::kill(c.id() as libc::pid_t, sig) == 0 }
            }
            None => false,
        }
    }

    /// A node that exited on its own (it should run until killed): its stderr.
    fn died(&mut self) -> Option<String> {
        for i in 0..self.children.len() {
            if let Some(c) = &mut self.children[i]
                && let Ok(Some(status)) = c.try_wait()
            {
                self.children[i] = None;
                let log = std::fs::read_to_string(self.node_dir(i).join("stderr.log")).unwrap_or_default();
                return Some(format!("node n{} exited ({status}): {}", i + 1, log.trim()));
            }
        }
        None
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.kill(i);
        }
    }
}

/// Loopback addresses with free UDP ports for `n` nodes.
fn free_ports(n: usize) -> std::io::Result<Vec<SocketAddr>> {
    // Held together, so no two are the same; released just before the nodes bind.
    let sockets: Vec<std::net::UdpSocket> =
        (0..n).map(|_| std::net::UdpSocket::bind("127.0.0.1:0")).collect::<Result<_, _>>()?;
    sockets.iter().map(std::net::UdpSocket::local_addr).collect()
}

enum Ev {
    Next(usize),
    Timeout { client: usize, seq: u64, attempt: u32 },
    Fault(usize),
    Nemesis(NemesisStep),
}

/// The clients' side of a real run.
struct Driver<'a> {
    scenario: &'a Scenario,
    nodes: Nodes,
    clients: Clients,
    history: History,
    trace: Trace,
    agenda: BTreeMap<(u64, u64), Ev>,
    order: u64,
    /// The links the scenario's faults have cut, as the simulator keeps them.
    cuts: Cuts,
    /// Draws a split's shape, and which client requests the client link loses.
    rng: SimRng,
    /// When the cuts were last told to every node.
    told: u64,
    /// The term each node last said it leads (`None`: it does not, or is down).
    leads: Vec<Option<u64>>,
    nemesis: Option<Nemesis>,
}

impl Driver<'_> {
    /// The up node that leads with the highest term, as the nodes last said.
    fn leader(&self) -> Option<usize> {
        (0..self.scenario.nodes)
            .filter(|&i| self.nodes.children[i].is_some() && !self.nodes.paused[i])
            .filter_map(|i| self.leads[i].map(|t| (t, i)))
            .max()
            .map(|(_, i)| i)
    }

    /// The nodes a fault's target names, as the simulator resolves them.
    fn resolve(&mut self, target: Target) -> Vec<usize> {
        let n = self.scenario.nodes;
        let up = |d: &Self, i: usize| d.nodes.children[i].is_some();
        match target {
            Target::Node(NodeId(x)) => (x < n).then_some(x).into_iter().collect(),
            Target::Leader => self.leader().into_iter().collect(),
            Target::Follower | Target::Any => {
                let leader = if target == Target::Follower { self.leader() } else { None };
                let pool: Vec<usize> = (0..n).filter(|&i| up(self, i) && Some(i) != leader).collect();
                if pool.is_empty() {
                    return Vec::new();
                }
                vec![pool[self.rng.below(pool.len() as u64) as usize]]
            }
            Target::Crashed => (0..n).filter(|&i| !up(self, i)).collect(),
            Target::Paused => (0..n).filter(|&i| up(self, i) && self.nodes.paused[i]).collect(),
        }
    }

    /// Tells every node which of its links are cut.
    async fn tell_cuts(&mut self, socket: &tokio::net::UdpSocket) {
        let n = self.scenario.nodes;
        for i in 0..n {
            let out = (0..n).map(|j| self.cuts.is_cut(NodeId(i), NodeId(j))).collect();
            let into = (0..n).map(|j| self.cuts.is_cut(NodeId(j), NodeId(i))).collect();
            if let Ok(bytes) = wire::encode(&Wire::<()>::Cuts { out, into }) {
                let _ = socket.send_to(&bytes, self.nodes.peers[i]).await;
            }
        }
        self.told = since(self.nodes.epoch_ns);
    }

    fn trace_cuts(&mut self, now: u64, kind: &str) {
        let groups = self.cuts.groups().into_iter().map(|g| g.into_iter().map(NodeIdName).collect()).collect();
        let cut = self.cuts.cut_links().into_iter().map(|(a, b)| (NodeIdName(a), NodeIdName(b))).collect();
        self.trace.emit::<(), ()>(now, &Event::Partition { kind, groups, cut });
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.order += 1;
        self.agenda.insert((t, self.order), ev);
    }

    async fn step(&mut self, socket: &tokio::net::UdpSocket, step: Option<ClientStep>) {
        match step {
            None => {}
            Some(ClientStep::Wake { client, at }) => self.at(at, Ev::Next(client)),
            Some(ClientStep::Send { client, to, request, seq, attempt, timeout_at }) => {
                let lost = self.rng.chance(self.scenario.network.client_link.loss);
                if let (Some(addr), Ok(bytes), false) =
                    (self.nodes.peers.get(to.0), wire::encode(&Wire::<()>::Request(request)), lost)
                {
                    // A node that is down refuses it: the attempt times out, as in the simulator.
                    let _ = socket.send_to(&bytes, addr).await;
                }
                self.at(timeout_at, Ev::Timeout { client, seq, attempt });
            }
        }
    }

    /// Runs one step of the nemesis, as the engine does: it plans, the driver acts.
    fn nemesis_step(&mut self, step: NemesisStep, now: u64) -> std::io::Result<()> {
        let Some(mut nem) = self.nemesis.take() else { return Ok(()) };
        let up = |d: &Self| d.nodes.children.iter().map(Option::is_some).collect::<Vec<bool>>();
        let acts = match step {
            _ if nem.stopped() => Vec::new(),
            NemesisStep::Start => {
                let view = View { up: up(self), paused: self.nodes.paused.clone(), leader: self.leader() };
                if let Some(fault) = nem.start(&mut self.rng, &view) {
                    self.apply(fault, now)?;
                }
                let after = up(self);
                nem.started(now, &mut self.rng, after)
            }
            NemesisStep::Heal(id) => nem.heal(id, now, &mut self.rng),
            NemesisStep::Stop => nem.stop(),
        };
        self.nemesis = Some(nem);
        for act in acts {
            match act {
                Act::Fault(fault) => self.apply(fault, now)?,
                Act::Resync(_) => {} // no clock faults on a real cluster
                Act::Schedule(at, step) => self.at(at, Ev::Nemesis(step)),
            }
        }
        Ok(())
    }

    /// Carries out one fault, from the schedule or the nemesis.
    fn apply(&mut self, action: FaultAction, now: u64) -> std::io::Result<()> {
        let n = self.scenario.nodes;
        let name = |i: usize| NodeIdName(NodeId(i));
        match action {
            FaultAction::Crash(target) => {
                for x in self.resolve(target) {
                    if self.nodes.children[x].is_some() {
                        self.nodes.kill(x);
                        self.leads[x] = None;
                        self.trace.emit::<(), ()>(now, &Event::Crash { node: name(x), lost_writes: 0 });
                    }
                }
            }
            FaultAction::Restart(target) => {
                for x in self.resolve(target) {
                    if self.nodes.children[x].is_none() {
                        self.nodes.spawn(x)?;
                        self.trace.emit::<(), ()>(now, &Event::Restart { node: name(x), durable_keys: 0 });
                    }
                }
            }
            FaultAction::Pause(target) => {
                for x in self.resolve(target) {
                    if !self.nodes.paused[x] && self.nodes.signal(x, libc::SIGSTOP) {
                        self.nodes.paused[x] = true;
                        self.trace.emit::<(), ()>(now, &Event::Pause { node: name(x) });
                    }
                }
            }
            FaultAction::Resume(target) => {
                for x in self.resolve(target) {
                    if self.nodes.paused[x] && self.nodes.signal(x, libc::SIGCONT) {
                        self.nodes.paused[x] = false;
                        self.trace.emit::<(), ()>(now, &Event::Resume { node: name(x), backlog: 0 });
                    }
                }
            }
            FaultAction::Partition(groups) => {
                self.cuts.partition(&groups);
                self.trace_cuts(now, "groups");
            }
            FaultAction::Split(kind) => {
                self.cuts.split(kind, &mut self.rng);
                self.trace_cuts(now, faultline_sim::scenario::Named::name(kind));
            }
            FaultAction::Isolate(target) => {
                let picked = match target {
                    // "follower" and "any" pick among nodes not already cut off.
                    Target::Follower | Target::Any => {
                        let pool: Vec<usize> = self
                            .resolve(Target::Crashed)
                            .into_iter()
                            .chain((0..n).filter(|&i| self.nodes.children[i].is_some()))
                            .filter(|&i| !self.cuts.is_isolated(NodeId(i)) && Some(i) != self.leader())
                            .collect();
                        pool.get(self.rng.below(pool.len().max(1) as u64) as usize).copied().into_iter().collect()
                    }
                    _ => self.resolve(target),
                };
                for x in picked {
                    self.cuts.isolate(NodeId(x));
                }
                self.trace_cuts(now, "isolate");
            }
            FaultAction::Cut { from, to } => {
                for &a in &from {
                    for &b in &to {
                        self.cuts.set(a, b);
                    }
                }
                self.trace_cuts(now, "one-way");
            }
            FaultAction::Heal => {
                self.cuts.heal();
                self.trace.emit::<(), ()>(now, &Event::Heal { released: 0 });
            }
            _ => {} // a crash of a node already down, and so on: nothing to do
        }
        Ok(())
    }

    /// Runs the workload and the faults on the wall clock until the scenario's end.
    async fn drive(&mut self) -> Result<(), String> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.map_err(|e| format!("a client socket: {e}"))?;
        let epoch = self.nodes.epoch_ns;
        let n = self.scenario.nodes;
        let end = self.scenario.duration;
        for step in self.clients.boot(n).collect::<Vec<_>>() {
            self.step(&socket, Some(step)).await;
        }
        for i in 0..self.scenario.faults.len() {
            self.at(self.scenario.faults[i].at, Ev::Fault(i));
        }
        if let Some(nem) = &self.nemesis {
            for act in nem.boot(&mut self.rng) {
                if let Act::Schedule(at, step) = act {
                    self.at(at, Ev::Nemesis(step));
                }
            }
        }
        let mut buf = vec![0u8; faultline_net::DATAGRAM_BYTES_MAX + 1];
        loop {
            if INTERRUPTED.load(Ordering::SeqCst) {
                return Err("interrupted".into());
            }
            if let Some(died) = self.nodes.died() {
                return Err(died);
            }
            let now = since(epoch);
            if now >= end {
                break;
            }
            while let Some(entry) = self.agenda.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let step = match entry.remove() {
                    Ev::Next(c) => self.clients.next(c, now, end, &mut self.history, &mut self.trace),
                    Ev::Timeout { client, seq, attempt } => {
                        self.clients.timeout(client, seq, attempt, now, n, &mut self.history, &mut self.trace)
                    }
                    Ev::Fault(i) => {
                        let action = self.scenario.faults[i].action.clone();
                        self.apply(action, now).map_err(|e| format!("fault {}: {e}", i + 1))?;
                        self.tell_cuts(&socket).await;
                        None
                    }
                    Ev::Nemesis(step) => {
                        self.nemesis_step(step, now).map_err(|e| format!("the nemesis: {e}"))?;
                        self.tell_cuts(&socket).await;
                        None
                    }
                };
                self.step(&socket, step).await;
            }
            if now.saturating_sub(self.told) >= 100_000_000 {
                self.tell_cuts(&socket).await;
            }
            let next = self.agenda.first_key_value().map_or(end, |(k, _)| k.0).min(end);
            let wait = Duration::from_nanos(next.saturating_sub(since(epoch)).clamp(100_000, 50_000_000));
            let got = match tokio::time::timeout(wait, socket.recv_from(&mut buf)).await {
                Ok(Ok((len, _))) => wire::decode::<Wire<serde::de::IgnoredAny>>(&buf[..len]).ok(),
                _ => None,
            };
            if let Some(Wire::Leads { node, term }) = got {
                if node < n && self.nodes.children[node].is_some() {
                    self.leads[node] = term;
                }
            } else if let Some(Wire::Reply(reply)) = got {
                let reply: Reply = reply;
                let now = since(epoch);
                let client = reply.client;
                if client < self.scenario.workload.as_ref().map_or(0, |w| w.clients) {
                    let step = self.clients.reply(client, reply, now, n, &mut self.history, &mut self.trace);
                    self.step(&socket, step).await;
                }
            }
        }
        self.clients.finish(since(epoch), &mut self.history);
        Ok(())
    }
}

/// What a real run found.
#[derive(serde::Serialize)]
struct Outcome {
    scenario: String,
    protocol: String,
    variant: String,
    mode: &'static str,
    nodes: usize,
    seed: u64,
    ops: usize,
    ok: usize,
    /// Latency of the operations that completed ok, invocation to answer, in ns.
    latency_p50_ns: u64,
    latency_p99_ns: u64,
    crashes: usize,
    restarts: usize,
    linearizable: Option<bool>,
    /// A bank workload's conserved total: `None` for a key-value workload.
    conserved_total: Option<bool>,
    /// The first invariant the observations broke, if any.
    violation: Option<String>,
    failures: Vec<String>,
    run_folder: String,
}

/// Reads every node's trace and the clients', in time order (a stable sort: one
/// node's lines keep their order).
fn merged(dir: &Path, nodes: usize) -> std::io::Result<Vec<(u64, String)>> {
    let mut files = vec![dir.join("clients.jsonl")];
    files.extend((0..nodes).map(|i| dir.join(format!("n{}", i + 1)).join("trace.jsonl")));
    let mut lines = Vec::new();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for line in text.lines() {
            // A node killed mid-line leaves half a line: it is not an event.
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(line)
                && let Some(t) = v.get("t").and_then(serde_json::Value::as_u64)
            {
                lines.push((t, line.to_string()));
            }
        }
    }
    lines.sort_by_key(|(t, _)| *t);
    Ok(lines)
}

/// Runs `named` as a real cluster and judges it.
pub fn cluster(named: Named<'_>, seed: Option<u64>, out: Option<PathBuf>, json: bool) -> u8 {
    let scenario = match load(named) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_BAD_INPUT;
        }
    };
    if runner(&scenario).is_none() {
        eprintln!("{}", not_networked(&scenario));
        return EXIT_BAD_INPUT;
    }
    if let Some(msg) = unsupported(&scenario) {
        eprintln!("{msg}");
        return EXIT_BAD_INPUT;
    }
    let seed = seed.unwrap_or(scenario.seed);
    let dir =
        out.unwrap_or_else(|| PathBuf::from("runs").join(format!("cluster-{}", super::run::run_name(&scenario, seed))));
    match run_cluster(&scenario, named, seed, &dir) {
        Ok(outcome) => report(&outcome, json),
        Err(e) if INTERRUPTED.load(Ordering::SeqCst) => {
            eprintln!("interrupted: every node stopped ({e})");
            EXIT_INTERRUPTED
        }
        Err(e) => {
            eprintln!("error: {}: the cluster could not run: {e}", scenario.path);
            EXIT_CLUSTER
        }
    }
}

fn run_cluster(scenario: &Scenario, named: Named<'_>, seed: u64, dir: &Path) -> Result<Outcome, String> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("{what}: {e}")
    };
    if dir.exists() {
        // Only a run folder is replaced, never a folder the user keeps other things in.
        let ours = dir.join("clients.jsonl").exists()
            || std::fs::read_dir(dir).map_err(io("the run folder"))?.next().is_none();
        if !ours {
            return Err(format!("{} exists and is not a cluster run folder: choose another --out", dir.display()));
        }
        std::fs::remove_dir_all(dir).map_err(io("clearing the run folder"))?;
    }
    std::fs::create_dir_all(dir).map_err(io("the run folder"))?;
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
    let mut args = vec!["node".to_string(), named.scenario.to_string()];
    if let Some(p) = named.protocol {
        args.extend(["--protocol".into(), p.into()]);
    }
    if let Some(v) = named.variant {
        args.extend(["--variant".into(), v.into()]);
    }
    let n = scenario.nodes;
    let peers = free_ports(n).map_err(io("free loopback ports"))?;
    let epoch_ns = faultline_net::now_ns();
    let mut nodes = Nodes {
        exe: std::env::current_exe().map_err(io("this program's path"))?,
        args,
        peers,
        dir: dir.to_path_buf(),
        seed,
        epoch_ns,
        children: (0..n).map(|_| None).collect(),
        paused: vec![false; n],
        starts: vec![Vec::new(); n],
    };
    for i in 0..n {
        nodes.spawn(i).map_err(io("starting a node"))?;
    }
    let clients_file = std::fs::File::create(dir.join("clients.jsonl")).map_err(io("the clients' trace"))?;
    let workload = scenario.workload.clone().expect("checked: a workload");
    let mut driver = Driver {
        scenario,
        nodes,
        clients: Clients::new(workload, seed),
        history: History::default(),
        trace: Trace::to_writer(Box::new(std::io::BufWriter::new(clients_file))),
        agenda: BTreeMap::new(),
        order: 0,
        cuts: Cuts::new(n),
        rng: SimRng::new(seed, Stream::Nemesis),
        told: 0,
        leads: vec![None; n],
        nemesis: scenario.nemesis.clone().map(Nemesis::new),
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io("a runtime"))?;
    runtime.block_on(driver.drive())?;
    let bank = driver.clients.bank();
    let Driver { nodes, history, mut trace, .. } = driver;
    let starts = nodes.starts.clone();
    let boots = |node: usize, t: u64| {
        let started = starts[node].iter().filter(|&&s| s <= t).count();
        started.saturating_sub(1) as u64
    };
    drop(nodes); // every node killed before its trace is read
    trace.finish().map_err(io("the clients' trace"))?;

    // Judge: the observations in time order, the history for linearizability.
    let lines = merged(dir, n).map_err(io("the nodes' traces"))?;
    let mut judge = Judge::new(n);
    let mut invariants = Ok(());
    let (mut crashes, mut restarts) = (0, 0);
    for (t, line) in &lines {
        match serde_json::from_str::<ReadEvent>(line) {
            Ok(Event::Observe { node, obs }) if invariants.is_ok() => {
                let node = node.0;
                if let Err(v) = judge.observe(node, boots(node.0, *t), *t, &obs) {
                    invariants = Err(format!(
                        "invariant `{}` violated at {}: {}",
                        v.invariant,
                        faultline_sim::time::fmt_time(*t),
                        v.detail
                    ));
                }
            }
            Ok(Event::Crash { node, .. }) => {
                crashes += 1;
                judge.down(node.0);
            }
            Ok(Event::Restart { .. }) => restarts += 1,
            _ => {}
        }
    }
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("trace.jsonl")).map_err(io("trace.jsonl"))?);
    for (_, line) in &lines {
        writeln!(file, "{line}").map_err(io("trace.jsonl"))?;
    }
    file.flush().map_err(io("trace.jsonl"))?;
    std::fs::write(dir.join("history.json"), history.to_json()).map_err(io("history.json"))?;
    std::fs::write(dir.join("scenario.toml"), &scenario.source).map_err(io("scenario.toml"))?;
    use faultline_sim::check::linearizability::{LinResult, check_history};
    let verdict = scenario.linearizable.then(|| check_history(&history, &scenario.budget));
    let mut failures = Vec::new();
    if let Err(v) = &invariants {
        failures.push(v.clone());
    }
    let linearizable = match &verdict {
        None => None,
        Some(LinResult::Linearizable) => Some(true),
        Some(LinResult::NotLinearizable { key, why }) => {
            failures.push(faultline_sim::engine::not_linearizable(&history, key, why));
            Some(false)
        }
        Some(LinResult::Unknown { .. }) => {
            failures.push("linearizability unknown: the search budget ran out (raise [check] budget)".into());
            None
        }
    };
    // A bank's transfers move money and never make or lose it (Jepsen's bank test).
    let conserved = bank.map(|b| faultline_sim::check::bank::conserved_total(&history, &b));
    if let Some(Err(why)) = &conserved {
        failures.push(why.clone());
    }
    let ops = history.ops.len();
    let ok = history.count(faultline_sim::history::EventType::Ok);
    let mut latencies: Vec<u64> = history
        .ops
        .iter()
        .filter_map(|o| match &o.complete {
            Some((t, faultline_sim::history::Completion::Ok { .. })) => Some(t.saturating_sub(o.invoke)),
            _ => None,
        })
        .collect();
    latencies.sort_unstable();
    let pct = |p: usize| latencies.get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1))).copied();
    let outcome = Outcome {
        scenario: scenario.path.clone(),
        protocol: scenario.protocol.clone(),
        variant: scenario.variant.clone(),
        mode: "cluster",
        nodes: n,
        seed,
        ops,
        ok,
        latency_p50_ns: pct(50).unwrap_or(0),
        latency_p99_ns: pct(99).unwrap_or(0),
        crashes,
        restarts,
        linearizable,
        conserved_total: conserved.map(|c| c.is_ok()),
        violation: invariants.err(),
        failures,
        run_folder: dir.display().to_string(),
    };
    let summary = serde_json::to_string_pretty(&outcome).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("summary.json"), summary + "\n").map_err(io("summary.json"))?;
    Ok(outcome)
}

fn report(o: &Outcome, json: bool) -> u8 {
    let passed = o.failures.is_empty();
    if json {
        println!("{}", serde_json::to_string(o).expect("an outcome serializes"));
    } else {
        println!("scenario   {} ({}, {})", o.scenario, o.protocol, o.variant);
        println!("cluster    {} processes on loopback, seed {}", o.nodes, o.seed);
        println!("nodes      crashes {} (kill -9)  restarts {} (from their own files)", o.crashes, o.restarts);
        let ms = faultline_sim::time::fmt_time;
        println!(
            "clients    {} ops: {} ok  latency p50 {} p99 {}",
            o.ops,
            o.ok,
            ms(o.latency_p50_ns),
            ms(o.latency_p99_ns)
        );
        let lin = match o.linearizable {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "not checked",
        };
        let inv = if o.violation.is_none() { "ok" } else { "violated" };
        let total = match o.conserved_total {
            Some(true) => "  conserved total: ok",
            Some(false) => "  conserved total: VIOLATED",
            None => "",
        };
        println!("checks     invariants: {inv}  linearizable: {lin}{total}");
        for f in &o.failures {
            println!("  - {f}");
        }
        println!("result     {}", if passed { "PASS" } else { "FAIL" });
        println!("run folder {}", o.run_folder);
    }
    if passed { EXIT_OK } else { EXIT_CHECK_FAILED }
}

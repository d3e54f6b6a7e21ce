//! The driver of a real cluster: the scenario's clients (the simulator's own client
//! logic, on the wall clock), its faults (the schedule and the random nemesis, as
//! the simulator resolves them), and the judging of what the nodes and the clients
//! recorded. It runs the nodes through [`Hosts`]: OS processes under `faultline
//! cluster`, madsim's simulated nodes under `--cfg madsim`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use faultline_sim::check::linearizability::{LinResult, check_history};
use faultline_sim::engine::{invariant_failure, linearizability_failure};
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
use faultline_sim::{Check, Failure};

use crate::{DATAGRAM_BYTES_MAX, UdpSocket, Wire, send, since};

/// The nodes of a real cluster, as the driver controls them.
pub trait Hosts {
    /// Every node's address, by index.
    fn addrs(&self) -> &[SocketAddr];
    /// Whether node `i` runs (started and not killed).
    fn is_up(&self, i: usize) -> bool;
    /// Whether node `i` is paused.
    fn is_paused(&self, i: usize) -> bool;
    /// Starts node `i` on its own files, in membership view `view` of `members`.
    fn start(&mut self, i: usize, members: &[NodeId], view: u64) -> std::io::Result<()>;
    /// Kills node `i`: nothing it did not sync survives.
    fn kill(&mut self, i: usize);
    /// Pauses node `i`; whether it was.
    fn pause(&mut self, i: usize) -> bool;
    /// Resumes node `i`; whether it was.
    fn resume(&mut self, i: usize) -> bool;
    /// A node that stopped on its own, which a node never should: why.
    fn died(&mut self) -> Option<String> {
        None
    }
    /// Whether the user asked to stop (Ctrl-C).
    fn interrupted(&self) -> bool {
        false
    }
    /// How far the run has got: told about every 100 ms of the run, and at its end.
    fn progress(&mut self, _: Progress) {}
}

/// How far a real run has got, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Nanoseconds since the run's start ...
    pub now: u64,
    /// ... of the scenario's duration.
    pub end: u64,
    /// Client operations invoked so far.
    pub ops: usize,
    /// Of those, completed ok.
    pub ok: usize,
    /// Nodes started again after a kill.
    pub restarts: usize,
}

enum Ev {
    Next(usize),
    Timeout { client: usize, seq: u64, attempt: u32 },
    Fault(usize),
    Nemesis(NemesisStep),
}

/// The clients' side of a real run, and the scenario's faults.
pub struct Driver<'a, H: Hosts> {
    scenario: &'a Scenario,
    /// The nodes.
    pub hosts: H,
    epoch_ns: u64,
    clients: Clients,
    /// The clients' history, on the wall clock from the epoch.
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
    /// When each incarnation of each node started: an observation's incarnation.
    starts: Vec<Vec<u64>>,
    /// The membership, changed by joins and leaves, and its view number.
    members: Vec<NodeId>,
    view: u64,
    /// When progress was last told to the hosts.
    shown: u64,
}

impl<'a, H: Hosts> Driver<'a, H> {
    /// A driver for `scenario` on `hosts`, whose clients' trace goes to `trace`.
    /// Without a `[workload]` it runs no clients: the nodes' observations are what
    /// is judged.
    pub fn new(scenario: &'a Scenario, hosts: H, seed: u64, epoch_ns: u64, trace: Trace) -> Driver<'a, H> {
        let n = scenario.nodes;
        let workload = scenario.workload.clone().unwrap_or_else(faultline_sim::scenario::WorkloadConfig::none);
        Driver {
            scenario,
            hosts,
            epoch_ns,
            clients: Clients::new(workload, seed),
            history: History::default(),
            trace,
            agenda: BTreeMap::new(),
            order: 0,
            cuts: Cuts::new(n),
            rng: SimRng::new(seed, Stream::Nemesis),
            told: 0,
            leads: vec![None; n],
            nemesis: scenario.nemesis.clone().map(Nemesis::new),
            starts: vec![Vec::new(); n],
            members: scenario.members.clone(),
            view: 0,
            shown: 0,
        }
    }

    /// Starts node `i` (the first time, or again after a crash).
    pub fn start(&mut self, i: usize) -> std::io::Result<()> {
        self.hosts.start(i, &self.members, self.view)?;
        self.starts[i].push(since(self.epoch_ns));
        Ok(())
    }

    /// The bank, for a bank workload.
    pub fn bank(&self) -> Option<faultline_sim::scenario::Bank> {
        self.clients.bank()
    }

    /// Finishes the clients' trace; what the run left to judge.
    pub fn finish(mut self) -> std::io::Result<(History, Vec<Vec<u64>>)> {
        self.trace.finish()?;
        Ok((self.history, self.starts))
    }

    /// The up node that leads with the highest term, as the nodes last said.
    pub fn leader(&self) -> Option<usize> {
        (0..self.scenario.nodes)
            .filter(|&i| self.hosts.is_up(i) && !self.hosts.is_paused(i))
            .filter_map(|i| self.leads[i].map(|t| (t, i)))
            .max()
            .map(|(_, i)| i)
    }

    /// What the nemesis and fault targets see: who is up, paused, and leads.
    fn view(&self) -> View {
        let n = self.scenario.nodes;
        View {
            up: (0..n).map(|i| self.hosts.is_up(i)).collect(),
            paused: (0..n).map(|i| self.hosts.is_paused(i)).collect(),
            leader: self.leader(),
        }
    }

    /// The nodes a fault's target names, as the simulator resolves them.
    fn resolve(&mut self, target: Target) -> Vec<usize> {
        self.view().resolve(target, |_| true, &mut self.rng)
    }

    /// Tells every node which of its links are cut.
    async fn tell_cuts(&mut self, socket: &UdpSocket) {
        let n = self.scenario.nodes;
        for i in 0..n {
            let out = (0..n).map(|j| self.cuts.is_cut(NodeId(i), NodeId(j))).collect();
            let into = (0..n).map(|j| self.cuts.is_cut(NodeId(j), NodeId(i))).collect();
            if let Ok(bytes) = wire::encode(&Wire::<()>::Cuts { out, into }) {
                let _ = send(socket, &bytes, self.hosts.addrs()[i]).await;
            }
            if self.view > 0 {
                let members = self.members.iter().map(|m| m.0).collect();
                if let Ok(bytes) = wire::encode(&Wire::<()>::Membership { members, view: self.view }) {
                    let _ = send(socket, &bytes, self.hosts.addrs()[i]).await;
                }
            }
        }
        self.told = since(self.epoch_ns);
    }

    fn trace_cuts(&mut self, now: u64, kind: &str) {
        let (groups, cut) = self.cuts.traced();
        self.trace.emit::<(), ()>(now, || Event::Partition { kind, groups, cut });
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.order += 1;
        self.agenda.insert((t, self.order), ev);
    }

    async fn step(&mut self, socket: &UdpSocket, step: Option<ClientStep>) {
        match step {
            None => {}
            Some(ClientStep::Wake { client, at }) => self.at(at, Ev::Next(client)),
            Some(ClientStep::Send { client, to, request, seq, attempt, timeout_at }) => {
                let lost = self.rng.chance(self.scenario.network.client_link.loss);
                if let (Some(&addr), Ok(bytes), false) =
                    (self.hosts.addrs().get(to.0), wire::encode(&Wire::<()>::Request(request)), lost)
                {
                    // A node that is down refuses it: the attempt times out, as in the simulator.
                    let _ = send(socket, &bytes, addr).await;
                }
                self.at(timeout_at, Ev::Timeout { client, seq, attempt });
            }
        }
    }

    /// Runs one step of the nemesis, as the engine does: it plans, the driver acts.
    fn nemesis_step(&mut self, step: NemesisStep, now: u64) -> std::io::Result<()> {
        let Some(mut nem) = self.nemesis.take() else { return Ok(()) };
        let acts = match step {
            _ if nem.stopped() => Vec::new(),
            NemesisStep::Start => {
                let view = self.view();
                if let Some(fault) = nem.start(&mut self.rng, &view) {
                    self.apply(fault, now)?;
                }
                let after = self.view().up;
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
                    if self.hosts.is_up(x) {
                        self.hosts.kill(x);
                        self.leads[x] = None;
                        self.trace.emit::<(), ()>(now, || Event::Crash { node: name(x), lost_writes: 0 });
                    }
                }
            }
            FaultAction::Restart(target) => {
                for x in self.resolve(target) {
                    if !self.hosts.is_up(x) {
                        self.start(x)?;
                        self.trace.emit::<(), ()>(now, || Event::Restart { node: name(x), durable_keys: 0 });
                    }
                }
            }
            FaultAction::Pause(target) => {
                for x in self.resolve(target) {
                    if self.hosts.is_up(x) && !self.hosts.is_paused(x) && self.hosts.pause(x) {
                        self.trace.emit::<(), ()>(now, || Event::Pause { node: name(x) });
                    }
                }
            }
            FaultAction::Resume(target) => {
                for x in self.resolve(target) {
                    if self.hosts.is_paused(x) && self.hosts.resume(x) {
                        self.trace.emit::<(), ()>(now, || Event::Resume { node: name(x), backlog: 0 });
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
                // "follower" and "any" pick among nodes not already cut off, as in the engine.
                let isolated: Vec<bool> = (0..n).map(|i| self.cuts.is_isolated(NodeId(i))).collect();
                let picked = self.view().resolve(target, |i| !isolated[i], &mut self.rng);
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
            FaultAction::Join(node) | FaultAction::Leave(node) => {
                let joins = matches!(action, FaultAction::Join(_));
                if joins != self.members.contains(&node) {
                    if joins {
                        self.members.push(node);
                        self.members.sort();
                    } else {
                        self.members.retain(|m| *m != node);
                    }
                    self.view += 1;
                    let members = self.members.iter().map(|&m| NodeIdName(m)).collect();
                    self.trace.emit::<(), ()>(now, || Event::Membership { epoch: self.view, members });
                }
            }
            FaultAction::Heal => {
                self.cuts.heal();
                self.trace.emit::<(), ()>(now, || Event::Heal { released: 0 });
            }
            _ => {} // a crash of a node already down, and so on: nothing to do
        }
        Ok(())
    }

    /// Runs the workload and the faults on the wall clock until the scenario's end,
    /// the clients on a socket bound to `bind`.
    pub async fn drive(&mut self, bind: SocketAddr) -> Result<(), String> {
        let socket = UdpSocket::bind(bind).await.map_err(|e| format!("a client socket on {bind}: {e}"))?;
        let epoch = self.epoch_ns;
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
        let mut buf = vec![0u8; DATAGRAM_BYTES_MAX + 1];
        loop {
            if self.hosts.interrupted() {
                return Err("interrupted".into());
            }
            if let Some(died) = self.hosts.died() {
                return Err(died);
            }
            let now = since(epoch);
            if now >= end {
                break;
            }
            if now.saturating_sub(self.shown) >= 100_000_000 {
                self.shown = now;
                self.tell_progress(now);
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
            let got = match madsim::time::timeout(wait, socket.recv_from(&mut buf)).await {
                Ok(Ok((len, _))) => wire::decode::<Wire<serde::de::IgnoredAny>>(&buf[..len]).ok(),
                _ => None,
            };
            if let Some(Wire::Leads { node, term }) = got {
                if node < n && self.hosts.is_up(node) {
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
        self.tell_progress(end);
        Ok(())
    }

    fn tell_progress(&mut self, now: u64) {
        let restarts = self.starts.iter().map(|s| s.len().saturating_sub(1)).sum();
        let (ops, ok) = (self.history.ops.len(), self.history.count(faultline_sim::history::EventType::Ok));
        self.hosts.progress(Progress { now, end: self.scenario.duration, ops, ok, restarts });
    }
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

/// What the judges found in a real run's traces and history.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The first invariant the nodes' observations broke.
    pub violation: Option<Failure>,
    /// The linearizability checker's verdict on the history (`None`: not checked).
    pub linearizability: Option<LinResult>,
    /// A bank's conserved total (`None`: not a bank).
    pub conserved_total: Option<bool>,
    /// Every check that failed, typed, in the words a student reads.
    pub failures: Vec<Failure>,
    /// Nodes killed.
    pub crashes: usize,
    /// Nodes started again after a kill.
    pub restarts: usize,
}

/// Merges the run folder `dir`'s traces into `trace.jsonl` and judges them: the
/// observations by the families' invariants with `judge` (the protocol's, which
/// knows each node's replication group; `starts` says which incarnation of a node
/// made each), the history by linearizability and, for a bank, the conserved total.
pub fn judge(
    dir: &Path,
    scenario: &Scenario,
    history: &History,
    starts: &[Vec<u64>],
    bank: Option<faultline_sim::scenario::Bank>,
    mut judge: Judge,
) -> std::io::Result<Verdict> {
    use std::io::Write;
    let n = scenario.nodes;
    let boots = |node: usize, t: u64| {
        let started = starts.get(node).map_or(0, |s| s.iter().filter(|&&s| s <= t).count());
        started.saturating_sub(1) as u64
    };
    let lines = merged(dir, n)?;
    let mut violation = None;
    let (mut crashes, mut restarts) = (0, 0);
    for (t, line) in &lines {
        match serde_json::from_str::<ReadEvent>(line) {
            Ok(Event::Observe { node, obs }) if violation.is_none() => {
                let node = node.0;
                if let Err(v) = judge.observe(node, boots(node.0, *t), *t, &obs) {
                    violation = Some(invariant_failure(*t, &v));
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
    let mut file = std::io::BufWriter::new(std::fs::File::create(dir.join("trace.jsonl"))?);
    for (_, line) in &lines {
        writeln!(file, "{line}")?;
    }
    file.flush()?;
    let linearizability = scenario.linearizable.then(|| check_history(history, &scenario.budget));
    let mut failures: Vec<Failure> = violation.iter().cloned().collect();
    failures.extend(linearizability.as_ref().and_then(|r| linearizability_failure(history, r)));
    // The workload's own check: a bank's conserved total (Jepsen's bank test), an
    // image store's lists.
    let own = scenario.workload.as_ref().and_then(|w| faultline_sim::engine::workload_check(w, history));
    let conserved = bank.map(|_| own.as_ref().is_none_or(|f| f.check != Check::ConservedTotal));
    failures.extend(own);
    Ok(Verdict { violation, linearizability, conserved_total: conserved, failures, crashes, restarts })
}

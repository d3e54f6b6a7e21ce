//! `faultline cluster` and `faultline node`: a scenario's protocol as real processes
//! on loopback sockets, judged by the simulator's own checkers.
//!
//! `cluster` starts one `faultline node` process per node (each told every peer's
//! address, so the same nodes also run across machines), drives the scenario's
//! workload with the simulator's client logic on a real clock and a real socket, and
//! carries out the scenario's faults for real: a crash is `kill -9` and a restart a
//! new process on the node's own files; a pause is SIGSTOP, a resume SIGCONT. Each
//! node holds what it sends (and the requests it receives) for the scenario's link
//! latency, so the real run has the network the scenario describes. At the
//! end it merges the nodes' traces with the clients', judges the history for
//! linearizability and the observations with the protocol family's invariants, and
//! writes a run folder that `faultline report` draws.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use faultline_net::NodeSpec;
use faultline_net::driver::{Driver, Hosts};
use faultline_sim::check::linearizability::LinResult;
use faultline_sim::protocol::NodeId;
use faultline_sim::scenario::{Expect, FaultAction, Scenario};
use faultline_sim::trace::Trace;

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
    pub members: Option<String>,
    pub view: u64,
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
    let members = match &args.members {
        None => scenario.members.clone(),
        Some(text) if text.is_empty() => Vec::new(),
        Some(text) => match text.split(',').map(|m| NodeId::parse(m.trim()).filter(|n| n.0 < peers.len())).collect() {
            Some(m) => m,
            None => {
                eprintln!("error: --members {text}: name nodes n1..n{}, comma-separated", peers.len());
                return EXIT_BAD_INPUT;
            }
        },
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
        faults: faultline_net::LinkFaults::of(&scenario),
        members,
        view: args.view,
    };
    match run(&scenario, spec) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: node {}: {e}", args.node);
            EXIT_CLUSTER
        }
    }
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
    if s.schedule.is_some() {
        return say(
            "a [schedule] fixes every delivery and timer, which a real network does not take orders for: run it with \
             `faultline run`"
                .into(),
        );
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
                | FaultAction::Join(_)
                | FaultAction::Leave(_)
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
    shows: Shows,
}

/// How a run's progress is shown on stderr: a bar on a terminal, a line each tenth
/// of the run otherwise (a CI log, a pipe), nothing with `--json`.
enum Shows {
    Bar(indicatif::ProgressBar),
    Lines { tenths: u64 },
    Nothing,
}

impl Shows {
    fn new(json: bool, duration: u64) -> Shows {
        use std::io::IsTerminal;
        if json {
            return Shows::Nothing;
        }
        if !std::io::stderr().is_terminal() {
            return Shows::Lines { tenths: 0 };
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(duration / 1_000_000),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:40} {msg}").expect("a template"));
        Shows::Bar(bar)
    }

    fn show(&mut self, p: faultline_net::driver::Progress) {
        let fmt = faultline_sim::time::fmt_time;
        let text =
            format!("{} of {}  {} ops, {} ok  {} restarts", fmt(p.now.min(p.end)), fmt(p.end), p.ops, p.ok, p.restarts);
        match self {
            Shows::Bar(bar) => {
                bar.set_position(p.now.min(p.end) / 1_000_000);
                bar.set_message(text);
                if p.now >= p.end {
                    bar.finish_and_clear();
                }
            }
            Shows::Lines { tenths } => {
                let tenth = (u128::from(p.now.min(p.end)) * 10 / u128::from(p.end.max(1))) as u64;
                if tenth > *tenths {
                    *tenths = tenth;
                    eprintln!("progress   {text}");
                }
            }
            Shows::Nothing => {}
        }
    }
}

impl Nodes {
    fn node_dir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("n{}", i + 1))
    }

    fn spawn(&mut self, i: usize, members: &[NodeId], view: u64) -> std::io::Result<()> {
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
            .args(["--members", &members.iter().map(NodeId::to_string).collect::<Vec<_>>().join(",")])
            .args(["--view", &view.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.children[i] = Some(child);
        self.paused[i] = false;
        Ok(())
    }

    fn stop(&mut self, i: usize) {
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
}

impl Hosts for Nodes {
    fn addrs(&self) -> &[SocketAddr] {
        &self.peers
    }
    fn is_up(&self, i: usize) -> bool {
        self.children[i].is_some()
    }
    fn is_paused(&self, i: usize) -> bool {
        self.paused[i]
    }
    fn start(&mut self, i: usize, members: &[NodeId], view: u64) -> std::io::Result<()> {
        self.spawn(i, members, view)
    }
    fn kill(&mut self, i: usize) {
        self.stop(i);
    }
    fn pause(&mut self, i: usize) -> bool {
        let done = self.signal(i, libc::SIGSTOP);
        self.paused[i] |= done;
        done
    }
    fn resume(&mut self, i: usize) -> bool {
        let done = self.signal(i, libc::SIGCONT);
        self.paused[i] &= !done;
        done
    }
    fn interrupted(&self) -> bool {
        INTERRUPTED.load(Ordering::SeqCst)
    }
    fn progress(&mut self, p: faultline_net::driver::Progress) {
        self.shows.show(p);
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
        if let Shows::Bar(bar) = &self.shows {
            bar.finish_and_clear();
        }
        for i in 0..self.children.len() {
            self.stop(i);
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

/// What a real run found.
#[derive(serde::Serialize)]
struct Outcome {
    scenario: String,
    protocol: String,
    variant: String,
    mode: Mode,
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
    /// Every check that failed, in the words a student reads ...
    failures: Vec<String>,
    /// ... and which check each was.
    checks: Vec<faultline_sim::Check>,
    /// What the scenario expects (`[check] expect`): a bug-zoo scenario expects a
    /// check to fail. The exit code says what happened (1: a check failed).
    #[serde(serialize_with = "as_text")]
    expect: Expect,
    /// The scenario's `[[check.assert]]`s, none of them checked: they read probes of
    /// the protocol's state, which a real cluster does not see.
    assertions_unchecked: usize,
    run_folder: String,
}

fn as_text<S: serde::Serializer>(e: &Expect, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

/// The `result` line: what happened, and, for a scenario that expects a check to
/// fail, whether this real run caught its bug. An undecided linearizability search
/// catches nothing, as in `faultline run`.
fn result_line(checks: &[faultline_sim::Check], expect: Expect) -> &'static str {
    let caught = checks.iter().any(faultline_sim::Check::catches);
    match (checks.is_empty(), caught, expect) {
        (true, _, Expect::Pass) => "PASS",
        (false, _, Expect::Pass) => "FAIL",
        (_, true, Expect::Fail) => "FAIL (as this bug-zoo scenario expects: its bug was caught for real)",
        (false, false, Expect::Fail) => {
            "FAIL (undecided: the linearizability search ran out of budget, which does not catch this bug-zoo \
             scenario's bug)"
        }
        (true, _, Expect::Fail) => {
            "PASS (this bug-zoo scenario expects a check to fail: this real run did not catch its bug; try another \
             --seed)"
        }
    }
}

/// How a run was carried out: `cluster` for real processes (a simulated run's
/// summary comes from `faultline run`).
#[derive(Clone, Copy, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Cluster,
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
    match run_cluster(&scenario, named, seed, &dir, json) {
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

fn run_cluster(scenario: &Scenario, named: Named<'_>, seed: u64, dir: &Path, json: bool) -> Result<Outcome, String> {
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| format!("{what}: {e}")
    };
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is a file, not a run folder: choose another --out", dir.display()));
    }
    if dir.exists() {
        // Only a run folder is replaced, never a folder the user keeps other things in.
        let ours = dir.join("clients.jsonl").exists()
            || std::fs::read_dir(dir).map_err(io(&format!("the run folder {}", dir.display())))?.next().is_none();
        if !ours {
            return Err(format!("{} exists and is not a cluster run folder: choose another --out", dir.display()));
        }
        std::fs::remove_dir_all(dir).map_err(io(&format!("clearing the run folder {}", dir.display())))?;
    }
    std::fs::create_dir_all(dir).map_err(io(&format!("the run folder {} (choose another --out)", dir.display())))?;
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
    let nodes = Nodes {
        exe: std::env::current_exe().map_err(io("this program's path"))?,
        args,
        peers,
        dir: dir.to_path_buf(),
        seed,
        epoch_ns,
        children: (0..n).map(|_| None).collect(),
        paused: vec![false; n],
        shows: Shows::new(json, scenario.duration),
    };
    let clients_file = std::fs::File::create(dir.join("clients.jsonl")).map_err(io("the clients' trace"))?;
    let trace = Trace::to_writer(Box::new(std::io::BufWriter::new(clients_file)));
    let mut driver = Driver::new(scenario, nodes, seed, epoch_ns, trace);
    for i in 0..n {
        driver.start(i).map_err(io("starting a node"))?;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(io("a runtime"))?;
    runtime.block_on(driver.drive(SocketAddr::from(([127, 0, 0, 1], 0))))?;
    let bank = driver.bank();
    // Finishing drops the nodes: every one is killed before its trace is read.
    let (history, starts) = driver.finish().map_err(io("the clients' trace"))?;
    let entry = faultline_protocols::lookup(&scenario.protocol)
        .ok_or_else(|| format!("protocol `{}` is not registered", scenario.protocol))?;
    let judge = (entry.judge)(n);
    let verdict =
        faultline_net::driver::judge(dir, scenario, &history, &starts, bank, judge).map_err(io("the nodes' traces"))?;
    std::fs::write(dir.join("history.json"), history.to_json()).map_err(io("history.json"))?;
    std::fs::write(dir.join("scenario.toml"), &scenario.source).map_err(io("scenario.toml"))?;
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
        mode: Mode::Cluster,
        nodes: n,
        seed,
        ops,
        ok,
        latency_p50_ns: pct(50).unwrap_or(0),
        latency_p99_ns: pct(99).unwrap_or(0),
        crashes: verdict.crashes,
        restarts: verdict.restarts,
        linearizable: match &verdict.linearizability {
            Some(LinResult::Linearizable) => Some(true),
            Some(LinResult::NotLinearizable { .. }) => Some(false),
            Some(LinResult::Unknown { .. }) | None => None,
        },
        conserved_total: verdict.conserved_total,
        violation: verdict.violation.map(|f| f.message),
        checks: verdict.failures.iter().map(|f| f.check.clone()).collect(),
        failures: verdict.failures.into_iter().map(|f| f.message).collect(),
        expect: scenario.expect,
        assertions_unchecked: scenario.asserts.len(),
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
            None if o.checks.contains(&faultline_sim::Check::LinearizabilityUnknown) => {
                "unknown (search budget ran out)"
            }
            None => "not checked",
        };
        let inv = if o.violation.is_none() { "ok" } else { "violated" };
        let total = match o.conserved_total {
            Some(true) => "  conserved total: ok",
            Some(false) => "  conserved total: VIOLATED",
            None => "",
        };
        println!("checks     invariants: {inv}  linearizable: {lin}{total}");
        if o.assertions_unchecked > 0 {
            println!(
                "           {} assertion(s) not checked: they read probes of the protocol's state, which a real \
                 cluster does not see",
                o.assertions_unchecked
            );
        }
        for f in &o.failures {
            println!("  - {f}");
        }
        println!("result     {}", result_line(&o.checks, o.expect));
        println!("run folder {}", o.run_folder);
    }
    if passed { EXIT_OK } else { EXIT_CHECK_FAILED }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bug-zoo scenario's result line says whether the real run caught its bug;
    /// the exit code stays what happened (1: a check failed).
    #[test]
    fn the_result_line_says_what_a_zoo_scenario_expects() {
        use faultline_sim::Check;
        let invariant = [Check::Invariant("validity".into())];
        let undecided = [Check::LinearizabilityUnknown];
        assert_eq!(result_line(&[], Expect::Pass), "PASS");
        assert_eq!(result_line(&invariant, Expect::Pass), "FAIL");
        assert_eq!(result_line(&undecided, Expect::Pass), "FAIL");
        assert!(result_line(&invariant, Expect::Fail).starts_with("FAIL (as this bug-zoo scenario expects"));
        assert!(result_line(&[], Expect::Fail).contains("did not catch its bug; try another --seed"));
        assert!(result_line(&undecided, Expect::Fail).starts_with("FAIL (undecided"));
    }
}

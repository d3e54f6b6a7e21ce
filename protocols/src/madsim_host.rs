//! The real-network host inside madsim's deterministic simulator (built only with
//! `--cfg madsim`): one simulated node per faultline node, each running the same
//! host `faultline cluster` runs as an OS process, killed, restarted and paused by
//! madsim, driven and judged by the same driver. Used by the cross-check
//! (`tests/madsim.rs`) and the benchmark (`examples/madsim_bench.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use faultline_net::driver::{Driver, Hosts, Verdict, judge};
use faultline_net::{LinkFaults, NodeSpec};
use faultline_sim::Scenario;
use faultline_sim::history::History;
use faultline_sim::trace::Trace;
use madsim::runtime::{Handle, NodeHandle};

/// The simulated nodes, as the driver controls them.
struct SimHosts {
    scenario: &'static Scenario,
    handle: Handle,
    addrs: Vec<SocketAddr>,
    nodes: Vec<Option<NodeHandle>>,
    up: Vec<bool>,
    paused: Vec<bool>,
    dir: PathBuf,
    seed: u64,
    epoch_ns: u64,
    /// The membership each node starts in: madsim restarts a node by running its
    /// first task again, which reads the view of the moment.
    views: Vec<SharedView>,
}

/// A node's membership and view number, shared with its restartable first task.
type SharedView = std::sync::Arc<std::sync::Mutex<(Vec<faultline_sim::NodeId>, u64)>>;

impl Hosts for SimHosts {
    fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }
    fn is_up(&self, i: usize) -> bool {
        self.up[i]
    }
    fn is_paused(&self, i: usize) -> bool {
        self.paused[i]
    }
    fn start(&mut self, i: usize, members: &[faultline_sim::NodeId], view: u64) -> std::io::Result<()> {
        if let Ok(mut v) = self.views[i].lock() {
            *v = (members.to_vec(), view);
        }
        match &self.nodes[i] {
            // Started before: madsim runs the node's first task again, on its own files.
            Some(node) => self.handle.restart(node.id()),
            None => {
                let spec = NodeSpec {
                    id: i,
                    peers: self.addrs.clone(),
                    dir: self.dir.join(format!("n{}", i + 1)),
                    seed: self.seed,
                    epoch_ns: self.epoch_ns,
                    faults: LinkFaults::of(self.scenario),
                    members: members.to_vec(),
                    view,
                };
                let scenario = self.scenario;
                let current = self.views[i].clone();
                let node = self
                    .handle
                    .create_node()
                    .name(format!("n{}", i + 1))
                    .ip(self.addrs[i].ip())
                    .init(move || {
                        let entry = crate::lookup(&scenario.protocol).expect("registered");
                        let run = entry.node.as_ref().expect("networked");
                        let mut spec = spec.clone();
                        if let Ok(v) = current.lock() {
                            (spec.members, spec.view) = v.clone();
                        }
                        run(scenario, spec)
                    })
                    .build();
                self.nodes[i] = Some(node);
            }
        }
        self.up[i] = true;
        Ok(())
    }
    fn kill(&mut self, i: usize) {
        if let Some(node) = &self.nodes[i] {
            self.handle.kill(node.id());
        }
        self.up[i] = false;
        self.paused[i] = false;
    }
    fn pause(&mut self, i: usize) -> bool {
        if let Some(node) = &self.nodes[i] {
            self.handle.pause(node.id());
        }
        self.paused[i] = true;
        true
    }
    fn resume(&mut self, i: usize) -> bool {
        if let Some(node) = &self.nodes[i] {
            self.handle.resume(node.id());
        }
        self.paused[i] = false;
        true
    }
}

/// A bundled scenario file, parsed, on `variant`; leaked, as a simulated node's
/// task must be `'static`.
pub fn scenario(name: &str, variant: &str) -> &'static Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut s = faultline_sim::scenario::parse(&path, &text, &crate::catalog()).unwrap_or_else(|e| panic!("{e}"));
    s.variant = variant.to_string();
    Box::leak(Box::new(s))
}

/// What a datagram takes on madsim's network: about what it takes on loopback.
const LOOPBACK_LATENCY: std::ops::Range<std::time::Duration> =
    std::time::Duration::from_micros(20)..std::time::Duration::from_micros(100);

/// What one run on the madsim host came to.
pub struct MadsimRun {
    /// What the judges said.
    pub verdict: Verdict,
    /// The clients' history.
    pub history: History,
    /// Messages madsim's network carried (nodes' and clients').
    pub messages: u64,
}

/// Runs `name` on the madsim host at `seed`.
pub fn on_madsim(name: &str, variant: &str, seed: u64) -> MadsimRun {
    let scenario = scenario(name, variant);
    let dir = std::env::temp_dir().join(format!(
        "faultline-madsim-{}-{}-{variant}-{seed}",
        std::process::id(),
        name.replace('/', "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a run folder");
    // madsim's network takes a loopback's time (its default, 1-10 ms, would come on
    // top of the scenario's); the host holds each message for the scenario's latency,
    // as it does on real sockets.
    let mut config = madsim::Config::default();
    config.net.send_latency = LOOPBACK_LATENCY;
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, config);
    let run_dir = dir.clone();
    let (history, starts, bank, messages) = runtime.block_on(async move {
        let handle = Handle::current();
        let n = scenario.nodes;
        let addrs = (0..n).map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), 7000)).collect();
        let epoch_ns = faultline_net::now_ns();
        let hosts = SimHosts {
            scenario,
            handle: handle.clone(),
            addrs,
            nodes: (0..n).map(|_| None).collect(),
            up: vec![false; n],
            paused: vec![false; n],
            dir: run_dir.clone(),
            seed,
            epoch_ns,
            views: (0..n).map(|_| Default::default()).collect(),
        };
        let trace = Trace::to_writer(Box::new(std::fs::File::create(run_dir.join("clients.jsonl")).expect("trace")));
        let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), 9000);
        let clients = handle.create_node().name("clients").ip(client.ip()).build();
        clients
            .spawn(async move {
                let mut driver = Driver::new(scenario, hosts, seed, epoch_ns, trace);
                for i in 0..n {
                    driver.start(i).expect("a node starts");
                }
                driver.drive(client).await.expect("the run");
                let bank = driver.bank();
                let (history, starts) = driver.finish().expect("the clients' trace");
                (history, starts, bank)
            })
            .await
            .map(|(history, starts, bank)| (history, starts, bank, madsim::net::NetSim::current().stat().msg_count))
            .expect("the clients' task")
    });
    let judge_of = crate::lookup(&scenario.protocol).expect("registered").judge;
    let verdict = judge(&dir, scenario, &history, &starts, bank, judge_of(scenario.nodes)).expect("judged");
    std::fs::remove_dir_all(&dir).expect("clean up");
    MadsimRun { verdict, history, messages }
}

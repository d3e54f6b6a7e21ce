//! The cross-check under madsim's deterministic simulator: the real-network host
//! (`faultline-net`, the code `faultline cluster` runs as OS processes) runs bundled
//! scenarios inside madsim, one simulated node per faultline node, with madsim's
//! network, clock and kill/restart/pause, and the verdicts agree in kind with our
//! own engine's: correct variants pass, zoo variants are caught.
//!
//! Built only with `--cfg madsim`, in a target directory of its own:
//!     RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim cargo test -p faultline-protocols --test madsim
#![cfg(madsim)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use faultline_net::driver::{Driver, Hosts, Verdict, judge};
use faultline_net::{LinkFaults, NodeSpec};
use faultline_sim::Scenario;
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
}

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
    fn start(&mut self, i: usize) -> std::io::Result<()> {
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
                    faults: LinkFaults::default(),
                };
                let scenario = self.scenario;
                let node = self
                    .handle
                    .create_node()
                    .name(format!("n{}", i + 1))
                    .ip(self.addrs[i].ip())
                    .init(move || {
                        let entry = faultline_protocols::lookup(&scenario.protocol).expect("registered");
                        let run = entry.node.as_ref().expect("networked");
                        run(scenario, spec.clone())
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

fn scenario(name: &str, variant: &str) -> &'static Scenario {
    let path = format!("{}/../scenarios/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut s =
        faultline_sim::scenario::parse(&path, &text, &faultline_protocols::catalog()).unwrap_or_else(|e| panic!("{e}"));
    s.variant = variant.to_string();
    Box::leak(Box::new(s))
}

/// Runs `name` on the madsim host at `seed`: what the same judges say, and the
/// clients' history.
fn on_madsim(name: &str, variant: &str, seed: u64) -> (Verdict, faultline_sim::history::History) {
    let scenario = scenario(name, variant);
    let dir = std::env::temp_dir().join(format!(
        "faultline-madsim-{}-{}-{variant}-{seed}",
        std::process::id(),
        name.replace('/', "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a run folder");
    let runtime = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    let run_dir = dir.clone();
    let (history, starts, bank) = runtime.block_on(async move {
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
        };
        let trace = Trace::to_writer(Box::new(std::fs::File::create(run_dir.join("clients.jsonl")).expect("trace")));
        let client = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 1)), 9000);
        let clients = handle.create_node().name("clients").ip(client.ip()).build();
        clients
            .spawn(async move {
                let mut driver = Driver::new(scenario, hosts, seed, epoch_ns, trace).expect("a workload");
                for i in 0..n {
                    driver.start(i).expect("a node starts");
                }
                driver.drive(client).await.expect("the run");
                let bank = driver.bank();
                let (history, starts) = driver.finish().expect("the clients' trace");
                (history, starts, bank)
            })
            .await
            .expect("the clients' task")
    });
    let verdict = judge(&dir, scenario, &history, &starts, bank).expect("judged");
    std::fs::remove_dir_all(&dir).expect("clean up");
    (verdict, history)
}

/// What our engine says of the same scenario and seed: did every check pass?
fn on_engine(name: &str, variant: &str, seed: u64) -> bool {
    let s = scenario(name, variant);
    faultline_protocols::run(s, seed, faultline_sim::Trace::off()).failures().is_empty()
}

/// Correct variants pass and zoo variants are caught, on madsim as on our engine.
#[test]
fn the_madsim_host_agrees_with_the_engine_in_kind() {
    let cases = [
        ("raft/basic-agree", "correct", true),
        ("cluster/raft-impatient-clients", "correct", true),
        ("cluster/raft-impatient-clients", "no-dedup", false),
        ("commit/twopc-participant-crash", "correct", true),
        ("commit/twopc-participant-crash", "majority-commit", false),
        ("cluster/paxos-acceptors-crash", "correct", true),
    ];
    for (name, variant, passes) in cases {
        assert_eq!(on_engine(name, variant, 1), passes, "the engine on {name} ({variant})");
        let (v, history) = on_madsim(name, variant, 1);
        assert_eq!(v.failures.is_empty(), passes, "madsim on {name} ({variant}): {:?}", v.failures);
        // Not a vacuous pass: the clients were answered.
        let ok = history.count(faultline_sim::history::EventType::Ok);
        assert!(ok >= 20, "madsim on {name} ({variant}): only {ok} operations completed");
        if name.contains("crash") || name.contains("impatient") {
            assert!(v.crashes > 0 && v.restarts > 0, "madsim on {name}: the nodes were killed and restarted");
        }
    }
}

/// madsim is deterministic, and so is the host inside it: one seed, one history.
#[test]
fn the_madsim_host_replays_a_seed_exactly() {
    let (_, a) = on_madsim("cluster/raft-impatient-clients", "correct", 7);
    let (_, b) = on_madsim("cluster/raft-impatient-clients", "correct", 7);
    assert_eq!(a.to_json(), b.to_json(), "the same seed gave two histories");
    let (_, c) = on_madsim("cluster/raft-impatient-clients", "correct", 8);
    assert_ne!(a.to_json(), c.to_json(), "another seed, another run");
}

//! `faultline cluster`: the protocol as real OS processes on loopback sockets, with
//! real crashes (kill -9, restart from the node's files), judged by the simulator's
//! own checkers. Every test binds only to 127.0.0.1, is bounded in time (a watchdog
//! kills a run that overstays), and checks that no node process outlives its run.

// The watchdog times real processes, so it reads the wall clock.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest a real run may take here: the scenarios last 4 to 8 seconds.
const WATCHDOG: Duration = Duration::from_secs(60);

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-cluster-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The node processes still running whose command line names `dir`.
fn nodes_of(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(" node ") && cmdline.contains(&needle) {
            found.push(cmdline);
        }
    }
    found
}

/// Runs `faultline cluster ARGS --out DIR --json`, killed if it overstays.
fn cluster(args: &[&str], dir: &Path) -> (Output, serde_json::Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("cluster")
        .args(args)
        .arg("--out")
        .arg(dir)
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        assert!(started.elapsed() < WATCHDOG, "`faultline cluster {args:?}` overstayed {WATCHDOG:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    assert!(nodes_of(dir).is_empty(), "node processes outlived the run: {:?}", nodes_of(dir));
    (out, json)
}

#[test]
fn basic_agreement_runs_on_real_sockets_and_is_judged_linearizable() {
    let dir = out_dir("basic");
    let (out, r) = cluster(&["raft/basic-agree"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r["mode"], "cluster");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("progress"), "--json prints no progress");
    assert_eq!((r["ops"].as_u64(), r["ok"].as_u64()), (Some(30), Some(30)), "{r}");
    assert_eq!(r["linearizable"], true, "{r}");
    // The run folder is a run folder: the merged trace holds the nodes' own
    // observations and the clients' operations, and `report` draws it.
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).expect("trace.jsonl");
    assert!(trace.lines().any(|l| l.contains(r#""ev":"observe""#)), "the nodes' observations are merged in");
    assert!(trace.lines().any(|l| l.contains(r#""ev":"complete""#)), "the clients' operations are merged in");
    let report = Command::new(env!("CARGO_BIN_EXE_faultline")).arg("report").arg(&dir).output().expect("report");
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(dir.join("viewer.html").exists());
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// The scenario's `[network]` latency is carried out for real, on every hop: with
/// 20 ms on every link, a Raft write (client to leader, leader to a follower and
/// back, leader to client) takes at least 80 ms of wall clock, though loopback
/// carries a datagram in microseconds.
#[test]
fn the_scenarios_latency_is_carried_out_on_every_hop() {
    let dir = out_dir("latency");
    std::fs::create_dir_all(&dir).expect("a folder");
    let file = dir.join("slow-links.toml");
    let text = r#"
name = "raft: 20 ms on every link"
protocol = "raft"
nodes = 3
duration = "3s"

[network]
latency = { dist = "constant", value = "20ms" }

[workload]
clients = 1
ops = 8
mix = { put = 50, append = 50 }
keys = 2
start = "1s"
"#;
    std::fs::write(&file, text).expect("the scenario");
    let run = dir.join("run");
    let (out, r) = cluster(&[file.to_str().expect("a path")], &run);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["ok"].as_u64(), r["linearizable"].as_bool()), (Some(8), Some(true)), "{r}");
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("history.json")).expect("history.json")).expect("json");
    let events = history["events"].as_array().expect("events");
    let mut invoked = std::collections::BTreeMap::new();
    let mut took = Vec::new();
    for e in events {
        let (op, time) = (e["op"].as_u64().expect("op"), e["time"].as_u64().expect("time"));
        match e["type"].as_str() {
            Some("invoke") => {
                invoked.insert(op, time);
            }
            Some("ok") => took.push(time - invoked[&op]),
            _ => {}
        }
    }
    assert_eq!(took.len(), 8, "{history}");
    assert!(took.iter().all(|&ns| ns >= 80_000_000), "every write took four 20 ms hops: {took:?} ns");
    assert!(nodes_of(&run).is_empty());
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn killed_nodes_restart_from_their_own_files_and_lose_nothing_acknowledged() {
    let dir = out_dir("crash");
    let (out, r) = cluster(&["cluster/raft-impatient-clients"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["crashes"].as_u64(), r["restarts"].as_u64()), (Some(3), Some(3)), "{r}");
    assert_eq!(r["linearizable"], true, "{r}");
    assert!(r["ok"].as_u64().unwrap_or(0) > 100, "the cluster served through the crashes: {r}");
    // Each node's disk is a file it fsynced, and survived its kill.
    for n in ["n1", "n2", "n3"] {
        assert!(dir.join(n).join("disk.json").exists(), "{n} kept its disk");
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// The bug zoo's no-dedup, run for real: impatient clients' retries are applied twice,
/// and the history says so. Stated bound: caught within 3 runs. It is caught on the
/// first run of each of seeds 1 to 5 since the nodes hold messages for the
/// scenario's 1-5 ms links: a write's four hops outlast the clients' 5 ms patience,
/// so most requests are re-sent. (Before, on loopback's microseconds, few were, and
/// a loaded CI machine once ran all three seeds without a duplicate.)
#[test]
fn a_zoo_variant_run_for_real_is_caught_for_real() {
    // The file expects a pass (it is the correct Raft's scenario); the variant fails it.
    caught_as_not_linearizable_within_3_runs(&["cluster/raft-impatient-clients", "--variant", "no-dedup"], "pass");
}

/// Runs `args` for real on seeds 1, 2 and 3 until one run fails (exit 1) with a
/// history that is not linearizable; fails the test if none does. Every run's
/// summary says what the scenario expects (`expect`).
fn caught_as_not_linearizable_within_3_runs(args: &[&str], expect: &str) {
    let mut verdicts = Vec::new();
    for seed in ["1", "2", "3"] {
        let dir = out_dir(&format!("{}-{seed}", args[0].replace('/', "-")));
        let (out, r) = cluster(&[args, &["--seed", seed]].concat(), &dir);
        std::fs::remove_dir_all(&dir).expect("clean up");
        assert_eq!(r["expect"], expect, "{r}");
        if out.status.code() == Some(1) && r["linearizable"] == false {
            return;
        }
        verdicts.push((out.status.code(), r["linearizable"].clone()));
    }
    panic!("{args:?} was not caught in 3 real runs: {verdicts:?}");
}

/// Multi-Paxos with two of five acceptors killed, and 2PC with a participant killed
/// before it votes: the same checkers (linearizability; atomic commitment and the
/// bank's conserved total) pass them on real sockets, and 2PC that commits on a
/// majority of votes is caught there too, on its first run.
#[test]
fn paxos_and_two_phase_commit_run_for_real_and_majority_commit_is_caught() {
    let dir = out_dir("paxos");
    let (out, r) = cluster(&["cluster/paxos-acceptors-crash"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["protocol"].as_str(), r["crashes"].as_u64()), (Some("paxos"), Some(2)), "{r}");
    assert_eq!(r["linearizable"], true, "{r}");
    std::fs::remove_dir_all(&dir).expect("clean up");

    let dir = out_dir("twopc");
    let (out, r) = cluster(&["commit/twopc-participant-crash"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["conserved_total"].as_bool(), r["restarts"].as_u64()), (Some(true), Some(1)), "{r}");
    assert!(r["violation"].is_null(), "{r}");
    std::fs::remove_dir_all(&dir).expect("clean up");

    let dir = out_dir("twopc-majority");
    let (out, r) = cluster(&["commit/twopc-participant-crash", "--variant", "majority-commit"], &dir);
    assert_eq!(out.status.code(), Some(1), "{r}");
    let failures = r["failures"].as_array().expect("failures");
    assert!(
        failures.iter().any(|f| f.as_str().is_some_and(|f| f.contains("validity") || f.contains("conserved-total"))),
        "{r}"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// Primary-backup for real: the primary killed and restarted from its files, the
/// history linearizable; the bug zoo's backup that answers reads from its own copy
/// is caught. Stated bound: within 3 runs (caught on the first run of seeds 1 and 2
/// when this was written). pb emits no observations, so a real run judges its
/// history alone (the simulator also reads a down primary's disk).
#[test]
fn primary_backup_runs_for_real_and_stale_reads_are_caught() {
    let dir = out_dir("pb");
    let (out, r) = cluster(&["pb/crash-restart"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["protocol"].as_str(), r["crashes"].as_u64(), r["restarts"].as_u64()), (Some("pb"), Some(1), Some(1)));
    assert_eq!(r["linearizable"], true, "{r}");
    assert!(r["ok"].as_u64().unwrap_or(0) > 100, "the primary served: {r}");
    std::fs::remove_dir_all(&dir).expect("clean up");

    caught_as_not_linearizable_within_3_runs(&["zoo/pb-stale-reads"], "fail");
}

/// The image store for real: nine servers in three Raft groups, shard leaders
/// killed and restarted. Each group is judged as its own replicated log (one leader
/// per term per group; judged as one, the three groups' leaders of term 1 looked
/// like a broken election), the history is linearizable, and the bug zoo's reads
/// from followers are caught. The scenario's probe assertions are not checked for
/// real, and the summary counts them. Stated bound: within 3 runs (caught on the
/// first run of seeds 1 and 2 when this was written).
#[test]
fn the_image_store_runs_for_real_group_by_group_and_follower_reads_are_caught() {
    let dir = out_dir("images");
    let (out, r) = cluster(&["images/leader-crash"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["protocol"].as_str(), r["nodes"].as_u64()), (Some("images"), Some(9)), "{r}");
    // The nemesis kills whichever leader the nodes last reported, once a second
    // until 5 s: how many it finds depends on real timing (3 to 5 here).
    let crashes = r["crashes"].as_u64().unwrap_or(0);
    assert!(crashes >= 1 && r["restarts"].as_u64() == Some(crashes), "every killed leader restarted: {r}");
    assert!(r["violation"].is_null() && r["linearizable"] == true, "{r}");
    assert!(r["assertions_unchecked"].as_u64().unwrap_or(0) > 0, "{r}");
    std::fs::remove_dir_all(&dir).expect("clean up");

    caught_as_not_linearizable_within_3_runs(&["zoo/images-follower-reads"], "fail");
}

/// The MIT twins' faults for real: MIT's TestRejoin cuts the leader off (a fault
/// aimed at "the leader" finds it from what the nodes report), and the
/// bug zoo's stale reads are caught on real sockets: a leader cut off by a real
/// partition answers reads from its own state. Stated bound: within 3 runs.
#[test]
fn partitions_and_leader_faults_run_for_real_and_stale_reads_are_caught() {
    let dir = out_dir("rejoin");
    let (out, r) = cluster(&["raft/rejoin"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(r["linearizable"], true, "{r}");
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).expect("trace.jsonl");
    assert!(trace.contains(r#""ev":"partition""#), "the partitions are in the trace");
    std::fs::remove_dir_all(&dir).expect("clean up");

    caught_as_not_linearizable_within_3_runs(&["zoo/raft-stale-reads"], "fail");
}

/// The sharded store for real: a node joins (the driver announces the new view, as
/// a configuration service would), keys migrate, and the owner of half of them is
/// killed mid-migration and restarted from its files; the history stays
/// linearizable. Placement by `hash mod n` is caught there as in the simulator: it
/// moves most keys where consistent hashing moves a few.
#[test]
fn the_sharded_store_migrates_keys_for_real_and_mod_n_is_caught() {
    let dir = out_dir("chash");
    let (out, r) = cluster(&["chash/crash-during-migration"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["protocol"].as_str(), r["crashes"].as_u64()), (Some("chash"), Some(1)), "{r}");
    assert_eq!(r["linearizable"], true, "{r}");
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).expect("trace.jsonl");
    assert!(trace.contains(r#""ev":"membership""#), "the view change is in the trace");
    std::fs::remove_dir_all(&dir).expect("clean up");

    let dir = out_dir("mod-n");
    let (out, r) = cluster(&["zoo/chash-mod-n"], &dir);
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert!(r["violation"].as_str().is_some_and(|v| v.contains("migration-cost")), "{r}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// The stream job for real: no clients, judged by what the store observes. The store
/// is killed just after a barrier and restarted from its files; every one of the 900
/// records reaches the output once. A sink that skips the pre-commit loses records
/// for real, and `no-loss` says so. Regression: a real kill -9 can land between a
/// store's report of a record and the sync that makes it shown for good (never in
/// the simulator, where a step's effects are atomic); it then shows the record
/// again, which the judge first took for a duplicate (CI, 2026-12-03).
#[test]
fn the_stream_job_runs_for_real_without_clients_and_skip_pre_commit_is_caught() {
    let dir = out_dir("stream");
    let (out, r) = cluster(&["stream/store-crash"], &dir);
    assert_eq!(out.status.code(), Some(0), "{r}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((r["protocol"].as_str(), r["crashes"].as_u64()), (Some("stream"), Some(1)), "{r}");
    // Every record, once: 900 positions of output. A store killed between showing a
    // record and syncing that shows it again at the same position (the judge takes
    // that as the same output), so positions are counted, not reports.
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).expect("trace.jsonl");
    let shown: std::collections::BTreeSet<(u64, u64)> = trace
        .lines()
        .filter(|l| l.contains(r#""what":"output""#))
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a trace line");
            (v["obs"]["partition"].as_u64().expect("partition"), v["obs"]["position"].as_u64().expect("position"))
        })
        .collect();
    assert_eq!(shown.len(), 900, "every record, once");
    std::fs::remove_dir_all(&dir).expect("clean up");

    let dir = out_dir("stream-skip");
    let (out, r) = cluster(&["stream/store-crash", "--variant", "skip-pre-commit"], &dir);
    assert_eq!(out.status.code(), Some(1), "{r}");
    assert!(r["violation"].as_str().is_some_and(|v| v.contains("no-loss")), "{r}");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn what_a_real_cluster_cannot_do_yet_is_refused_by_name() {
    let dir = out_dir("refused");
    // Clock faults are not carried out on a real cluster: every node reads one clock.
    let (out, _) = cluster(&["raft/nemesis"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nemesis.toml") && err.contains("clock faults are not carried out"), "{err}");
    // Nor a skewed clock (and paxos/gaps, which has one, drops one kind of message too).
    let (out, _) = cluster(&["paxos/gaps"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gaps.toml") && err.contains("not carried out on a real cluster"), "{err}");
    // A protocol whose messages do not leave the simulator says which ones do.
    let (out, _) = cluster(&["bench/pingpong"], &dir);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not run on a real network yet") && err.contains("pb, raft"), "{err}");
    assert!(!dir.exists(), "nothing was started or written");
}

/// `--out` never replaces what is not a run folder: a file, or a folder the user keeps
/// other things in, is refused by name before any node starts, and left as it was.
#[test]
fn an_out_that_is_not_a_run_folder_is_refused_and_kept() {
    let dir = out_dir("not-ours");
    std::fs::create_dir_all(&dir).expect("a folder");
    let file = dir.join("notes.txt");
    std::fs::write(&file, "mine").expect("a file");
    for out in [&file, &dir] {
        let (o, _) = cluster(&["raft/basic-agree"], out);
        assert_eq!(o.status.code(), Some(4), "{}", String::from_utf8_lossy(&o.stderr));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(&*out.to_string_lossy()) && err.contains("choose another --out"), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).expect("kept"), "mine");
    assert_eq!(std::fs::read_dir(&dir).expect("kept").count(), 1, "nothing was written beside it");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

#[test]
fn ctrl_c_stops_every_node_and_says_so() {
    let dir = out_dir("interrupt");
    let child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "raft/snapshot-all-crash", "--out"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts");
    let started = Instant::now();
    while nodes_of(&dir).len() < 3 {
        assert!(started.elapsed() < WATCHDOG, "the nodes never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0, "SIGINT sent");
    let out = child.wait_with_output().expect("it exits");
    assert_eq!(out.status.code(), Some(130), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert!(nodes_of(&dir).is_empty(), "nodes outlived Ctrl-C: {:?}", nodes_of(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's tour shows a real cluster run: its lines that do not vary from run to
/// run (which scenario, how many processes, the crashes, the verdicts) are what a
/// run prints today. The numbers that do vary (latencies) are not compared.
#[test]
fn the_readme_shows_what_a_real_cluster_run_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let shown: Vec<&str> = readme
        .lines()
        .skip_while(|l| *l != "$ faultline cluster raft/basic-agree")
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert!(shown.len() >= 5, "the README shows `faultline cluster raft/basic-agree` and its output");
    let dir = out_dir("readme");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["cluster", "raft/basic-agree", "--out"])
        .arg(&dir)
        .output()
        .expect("faultline runs");
    assert_eq!(out.status.code(), Some(0));
    // Without a terminal, progress is a line on stderr each tenth of the run, the
    // last at its end; `--json` prints none (the other tests' runs).
    let err = String::from_utf8_lossy(&out.stderr);
    let progress: Vec<&str> = err.lines().filter(|l| l.starts_with("progress   ")).collect();
    assert!((5..=10).contains(&progress.len()), "{err}");
    assert_eq!(progress.last().copied(), Some("progress   4s of 4s  30 ops, 30 ok  0 restarts"), "{err}");
    let printed = String::from_utf8_lossy(&out.stdout);
    for line in shown {
        let stable = ["scenario", "cluster", "nodes", "checks", "result"].iter().any(|k| line.starts_with(k))
            || line.contains("assertion(s) not checked");
        if stable {
            assert!(printed.lines().any(|l| l == line), "the README shows {line:?}; a run prints:\n{printed}");
        }
    }
    assert!(nodes_of(&dir).is_empty());
    std::fs::remove_dir_all(&dir).expect("clean up");
}

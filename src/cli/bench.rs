//! `faultline bench`: engine throughput against a bare event loop, sweep scaling, and
//! the peak memory of a long traced run. Prints a Markdown table for BENCHMARKS.md.
//! Speeds are ratios against a baseline measured in the same run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::BufWriter;
use std::process::Command;
use std::time::Instant;

use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::{Scenario, Trace};
use indicatif::ProgressBar;

use super::sweep::run_seeds;
use super::{EXIT_BAD_INPUT, EXIT_OK, load_scenario};

const ENGINE_SCENARIO: &str = "bench/pingpong";
const SWEEP_SCENARIO: &str = "pb/nemesis";
const RAFT_SCENARIO: &str = "bench/raft";
const PAXOS_SCENARIO: &str = "bench/paxos";
const STREAM_SCENARIO: &str = "stream/nemesis";
const IMAGES_SCENARIO: &str = "images/nemesis";

/// CPU time of the calling thread, in seconds.
fn thread_cpu_secs() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The ceiling: the same ping-pong on a bare BinaryHeap + ChaCha8Rng loop, with no
/// protocol, no effects and no network model. Returns delivered messages.
fn bare_loop(nodes: u32, latency_min: u64, latency_max: u64, until: u64) -> u64 {
    let mut rng = SimRng::new(1, Stream::Network);
    // (delivery time, sequence, from, to, is a ping)
    type Message = (u64, u64, u32, u32, bool);
    let mut heap: BinaryHeap<Reverse<Message>> = BinaryHeap::new();
    let mut seq = 0u64;
    for a in 0..nodes {
        for b in 0..nodes {
            if a != b {
                seq += 1;
                heap.push(Reverse((rng.between(latency_min, latency_max), seq, a, b, true)));
            }
        }
    }
    let mut delivered = 0u64;
    while let Some(Reverse((t, _, from, to, ping))) = heap.pop() {
        if t > until {
            break;
        }
        delivered += 1;
        seq += 1;
        heap.push(Reverse((t + rng.between(latency_min, latency_max), seq, to, from, !ping)));
    }
    delivered
}

struct Measured {
    events: u64,
    cpu_secs: f64,
}

fn best_of(reps: usize, mut f: impl FnMut() -> u64) -> Measured {
    let mut best = Measured { events: 0, cpu_secs: f64::INFINITY };
    for _ in 0..reps {
        let t0 = thread_cpu_secs();
        let events = f();
        let dt = thread_cpu_secs() - t0;
        if dt < best.cpu_secs {
            best = Measured { events, cpu_secs: dt };
        }
    }
    best
}

fn engine(scenario: &Scenario, trace: impl Fn() -> Trace) -> u64 {
    let r = faultline_protocols::run(scenario, 1, trace());
    r.stats.delivered
}

/// A bundled benchmark scenario, saying what is measured on it next (`None`, with
/// the error said, if it does not parse).
fn bundled(name: &str, what: &str) -> Option<Scenario> {
    eprintln!("measuring {what} seeds per CPU-second on {name} ...");
    let s = load_scenario(name).ok();
    if s.is_none() {
        eprintln!("error: the bundled benchmark scenario {name} does not parse");
    }
    s
}

/// `s` with every check off (invariants, linearizability, liveness, assertions): the
/// baseline a checked run is measured against.
fn unchecked(s: &Scenario) -> Scenario {
    let mut bare = s.clone();
    (bare.invariants, bare.linearizable, bare.liveness) = (false, false, None);
    bare.asserts.clear();
    bare
}

pub fn bench(quick: bool) -> u8 {
    let reps = if quick { 1 } else { 3 };
    let (Ok(pp), Ok(sweep_scn)) = (load_scenario(ENGINE_SCENARIO), load_scenario(SWEEP_SCENARIO)) else {
        eprintln!("error: the bundled benchmark scenarios do not parse");
        return EXIT_BAD_INPUT;
    };
    let (lat_min, lat_max) = match pp.network.links[1].latency {
        faultline_sim::scenario::Latency::Uniform { min, max } => (min, max),
        _ => unreachable!("bench/pingpong uses uniform latency"),
    };
    // First, in a fresh heap, as `faultline sweep` runs it.
    let Some(raft) = bundled(RAFT_SCENARIO, "Raft") else { return EXIT_BAD_INPUT };
    let raft_seeds: std::ops::Range<u64> = if quick { 1..21 } else { 1..201 };
    let n_raft = (raft_seeds.end - raft_seeds.start) as f64;
    let per_seed = |scn: &Scenario, trace: fn() -> Trace| {
        let m = best_of(reps, || {
            raft_seeds.clone().map(|seed| faultline_protocols::run(scn, seed, trace()).history.ops.len() as u64).sum()
        });
        (n_raft / m.cpu_secs, m.events as f64 / n_raft)
    };
    let (raft_bare, ops) = per_seed(&unchecked(&raft), Trace::off);
    let (raft_checked, _) = per_seed(&raft, Trace::off);
    let (raft_hashed, _) = per_seed(&raft, Trace::hash_only);
    let Some(paxos) = bundled(PAXOS_SCENARIO, "Multi-Paxos") else { return EXIT_BAD_INPUT };
    let (paxos_checked, paxos_ops) = per_seed(&paxos, Trace::off);
    let Some(stream) = bundled(STREAM_SCENARIO, "the stream job's") else { return EXIT_BAD_INPUT };
    let (stream_bare, _) = per_seed(&unchecked(&stream), Trace::off);
    let (stream_checked, _) = per_seed(&stream, Trace::off);
    let sample = faultline_protocols::run(&stream, 1, Trace::off());
    let records = faultline_protocols::stream::records_in(stream.nodes);
    let per_record = sample.stats.sent as f64 / records.max(1) as f64;
    let Some(images) = bundled(IMAGES_SCENARIO, "the image store's") else { return EXIT_BAD_INPUT };
    let (images_bare, images_ops) = per_seed(&unchecked(&images), Trace::off);
    let (images_checked, _) = per_seed(&images, Trace::off);

    eprintln!(
        "measuring the engine on {ENGINE_SCENARIO} ({} nodes, {} virtual) ...",
        pp.nodes,
        pp.duration / 1_000_000_000
    );
    let bare = best_of(reps, || bare_loop(pp.nodes as u32, lat_min, lat_max, pp.duration));
    let off = best_of(reps, || engine(&pp, Trace::off));
    let hashed = best_of(reps, || engine(&pp, Trace::hash_only));
    let tmp = std::env::temp_dir().join(format!("faultline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let trace_path = tmp.join("trace.jsonl");
    let to_file = best_of(reps, || {
        let f = std::fs::File::create(&trace_path).expect("trace file");
        engine(&pp, || Trace::to_writer(Box::new(BufWriter::with_capacity(1 << 16, f.try_clone().expect("clone")))))
    });
    let rate = |m: &Measured| m.events as f64 / m.cpu_secs;

    eprintln!("measuring sweep scaling on {SWEEP_SCENARIO} ...");
    let seeds = if quick { 1..41 } else { 1..201 };
    let n = seeds.end - seeds.start;
    let hidden = ProgressBar::hidden();
    let sweep_rate = |jobs: usize| {
        let mut best = 0f64;
        for _ in 0..reps {
            // A sweep's speed is wall-clock seeds per second: the one place we read it.
            #[allow(clippy::disallowed_methods)]
            let t0 = Instant::now();
            run_seeds(&sweep_scn, seeds.clone(), jobs, &hidden);
            best = best.max(n as f64 / t0.elapsed().as_secs_f64());
        }
        best
    };
    let s1 = sweep_rate(1);
    let s2 = sweep_rate(2);

    eprintln!("measuring peak memory of a traced run ...");
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["run", ENGINE_SCENARIO, "--peak-memory", "--out"])
        .arg(tmp.join("run"))
        .output()
        .expect("spawn faultline run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hwm = stderr
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .map_or("unknown".to_string(), |l| l.trim_start_matches("VmHWM:").trim().to_string());
    let trace_mb = std::fs::metadata(tmp.join("run/trace.jsonl")).map_or(0, |m| m.len()) / 1_000_000;
    let _ = std::fs::remove_dir_all(&tmp);

    println!("| measurement | value | ratio |");
    println!("|---|---:|---:|");
    println!("| bare BinaryHeap + ChaCha8Rng loop (ceiling) | {:.2} M msgs/CPU-s | 1.00 |", rate(&bare) / 1e6);
    for (name, m) in
        [("engine, trace off", &off), ("engine, trace hashed", &hashed), ("engine, trace to file", &to_file)]
    {
        println!(
            "| {name} | {:.2} M msgs/CPU-s | {:.2} of bare ({:.2}x slower) |",
            rate(m) / 1e6,
            rate(m) / rate(&bare),
            rate(&bare) / rate(m)
        );
    }
    println!("| sweep {SWEEP_SCENARIO}, --jobs 1 | {s1:.1} seeds/s | 1.00 |");
    println!("| sweep {SWEEP_SCENARIO}, --jobs 2 | {s2:.1} seeds/s | {:.2}x |", s2 / s1);
    println!(
        "| raft {RAFT_SCENARIO} ({ops:.0} ops/seed), no checks, trace off (baseline) | {raft_bare:.1} seeds/CPU-s | 1.00 |"
    );
    println!(
        "| raft {RAFT_SCENARIO}, invariants every event + linearizability, trace off (`sweep --no-digest`) | \
         {raft_checked:.1} seeds/CPU-s | {:.2} of baseline |",
        raft_checked / raft_bare
    );
    println!(
        "| raft {RAFT_SCENARIO}, the same, trace hashed (as `faultline sweep` runs, for its digest) | \
         {raft_hashed:.1} seeds/CPU-s | {:.2} of baseline, {:.2} of the same without the digest |",
        raft_hashed / raft_bare,
        raft_hashed / raft_checked
    );
    println!(
        "| multi-paxos {PAXOS_SCENARIO} ({paxos_ops:.0} ops/seed), invariants every event + linearizability, trace off | \
         {paxos_checked:.1} seeds/CPU-s | {:.2} of raft checked |",
        paxos_checked / raft_checked
    );
    println!(
        "| stream {STREAM_SCENARIO} ({records} records/seed, {per_record:.1} messages/record on seed 1), no checks, \
         trace off (baseline) | {stream_bare:.1} seeds/CPU-s | 1.00 |"
    );
    println!(
        "| stream {STREAM_SCENARIO}, exactly-once judged at every output, trace off | {stream_checked:.1} seeds/CPU-s \
         ({:.0} K records/CPU-s) | {:.2} of baseline |",
        stream_checked * records as f64 / 1e3,
        stream_checked / stream_bare
    );
    println!(
        "| images {IMAGES_SCENARIO} ({images_ops:.0} ops/seed, 3 shards of 3), no checks, trace off (baseline) | \
         {images_bare:.1} seeds/CPU-s | 1.00 |"
    );
    println!(
        "| images {IMAGES_SCENARIO}, every shard's log judged + linearizability + list-by-tag + orphans, trace off | \
         {images_checked:.1} seeds/CPU-s | {:.2} of baseline |",
        images_checked / images_bare
    );
    println!("| peak memory, traced run of {} events ({trace_mb} MB trace) | {hwm} | |", off.events);
    EXIT_OK
}

/// `faultline bench --hash`: lookups per CPU-second of each consistent-hashing
/// algorithm at n = 1,000 members, against the naive baseline measured in the same
/// run: finding a key's owner by a linear scan of every point of a 100-vnode ring.
pub fn hash_bench(quick: bool) -> u8 {
    use faultline_protocols::chash::{ALL, Algo, key_hash};
    let reps = if quick { 1 } else { 3 };
    let n = 1000u32;
    let members: Vec<u32> = (0..n).collect();
    let keys: Vec<u64> = (0..if quick { 50_000 } else { 200_000 }).map(key_hash).collect();
    let few = &keys[..if quick { 200 } else { 1_000 }];
    eprintln!("measuring lookups at n = {n} ...");
    let rate = |m: &Measured| m.events as f64 / m.cpu_secs;
    let ring = Algo::Ring { vnodes: 100 }.build(&members, keys.len());
    let scan = best_of(reps, || ring.assign_reference(few).len() as u64);
    println!("| algorithm (n = {n}) | lookups/CPU-s | vs linear scan |");
    println!("|---|---:|---:|");
    println!("| linear scan of a 100-vnode ring (naive baseline) | {:.0} | 1 |", rate(&scan));
    for algo in ALL {
        let placement = algo.build(&members, keys.len());
        let m = best_of(reps, || placement.assign(&keys).len() as u64);
        println!("| {} | {:.0} | {:.0}x |", algo.name(), rate(&m), rate(&m) / rate(&scan));
    }
    EXIT_OK
}

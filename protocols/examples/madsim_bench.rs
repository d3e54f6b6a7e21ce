//! Our engine against the madsim host, like for like: the same protocol, scenario
//! and seeds, run by the engine and by the real-network host inside madsim's
//! simulator. Prints seeds per second and client operations per CPU-second of each,
//! and their ratio. Build and run with --cfg madsim, in a target directory of its own:
//!     RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim \
//!         cargo run --release -p faultline-protocols --example madsim_bench -- raft/basic-agree 20

#[cfg(madsim)]
#[allow(clippy::disallowed_methods)] // a benchmark measures time
fn main() {
    use faultline_protocols::madsim_host::{on_madsim, scenario};
    use faultline_sim::history::EventType;
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map_or("raft/basic-agree", String::as_str);
    let seeds: u64 = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(20).clamp(1, 10_000);
    let s = scenario(name, "correct");

    let started = std::time::Instant::now();
    let (mut ops, mut delivered) = (0, 0);
    for seed in 1..=seeds {
        let r = faultline_protocols::run(s, seed, faultline_sim::Trace::off());
        ops += r.history.count(EventType::Ok);
        delivered += r.stats.delivered;
    }
    let engine = started.elapsed().as_secs_f64();

    let started = std::time::Instant::now();
    let (mut madsim_ops, mut madsim_messages) = (0, 0);
    for seed in 1..=seeds {
        let run = on_madsim(name, "correct", seed);
        madsim_ops += run.history.count(EventType::Ok);
        madsim_messages += run.messages;
    }
    let madsim = started.elapsed().as_secs_f64();

    println!("scenario {name}, seeds 1..={seeds}, one core");
    println!("| | seeds/s | client ops/s | messages delivered/s |");
    println!("|---|---:|---:|---:|");
    println!(
        "| engine | {:.1} | {:.0} | {:.0} |",
        seeds as f64 / engine,
        ops as f64 / engine,
        delivered as f64 / engine
    );
    println!(
        "| madsim host | {:.1} | {:.0} | {:.0} |",
        seeds as f64 / madsim,
        madsim_ops as f64 / madsim,
        madsim_messages as f64 / madsim
    );
    println!("engine / madsim host, seeds per second: {:.1}x", madsim / engine);
}

#[cfg(not(madsim))]
fn main() {
    eprintln!("build this benchmark with RUSTFLAGS=\"--cfg madsim\" (see its first lines)");
    std::process::exit(2);
}

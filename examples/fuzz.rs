//! Fuzz one reader of untrusted input for as long as you like:
//!
//!     cargo run --release --example fuzz -- scenario 1000000 7
//!
//! Targets: scenario, jepsen-etcd, porcupine-kv, faultline-history, run-folder.
//! A panic prints the input that caused it and exits 1; tests/fuzz.rs runs a bounded
//! smoke of every target in CI.

use faultline::fuzz::{Target, corpus, fuzz};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = Target::ALL.iter().map(|t| t.name()).collect();
    let Some(target) = args.first().and_then(|a| Target::from_name(a)) else {
        eprintln!("usage: fuzz TARGET [ITERATIONS] [SEED]; targets: {}", names.join(", "));
        return std::process::ExitCode::from(2);
    };
    let iterations = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/validation/porcupine");
    // The panics are caught and reported; their default message would only repeat it.
    std::panic::set_hook(Box::new(|_| {}));
    match fuzz(target, &corpus(target, &shared), iterations, seed) {
        Ok(accepted) => {
            println!(
                "fuzz       {}: {iterations} inputs ({accepted} accepted, the rest refused), no panic (seed {seed})",
                target.name()
            );
            std::process::ExitCode::SUCCESS
        }
        Err((input, why)) => {
            println!("fuzz       {}: PANIC: {why}\ninput:\n{input}", target.name());
            std::process::ExitCode::from(1)
        }
    }
}

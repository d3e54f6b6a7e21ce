//! A bounded fuzz smoke of every reader of untrusted input (see src/fuzz.rs): seeded
//! mutations of real scenarios, Jepsen and Porcupine histories, a history.json and a
//! trace. No input may panic a reader. Longer runs: `cargo run --release --example fuzz`.

use faultline::fuzz::{Target, corpus, fuzz};

/// Per target; each input is small, so the smoke takes seconds.
const SMOKE_ITERATIONS: u64 = 400;

#[test]
fn no_reader_panics_on_mutated_input() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/validation/porcupine");
    assert!(shared.is_dir(), "the validation data is missing: expected {}", shared.display());
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = Vec::new();
    for target in Target::ALL {
        let seeds = corpus(target, &shared);
        assert!(!seeds.is_empty(), "{}: no seed inputs", target.name());
        match fuzz(target, &seeds, SMOKE_ITERATIONS, 1) {
            // The mutations must reach past the first check, or the smoke tests little.
            Ok(accepted) => assert!(accepted > 0, "{}: every mutated input was refused", target.name()),
            Err((input, why)) => failures.push(format!("{}: {why}\n--- input ---\n{input}\n---", target.name())),
        }
    }
    let _ = std::panic::take_hook();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

//! Fuzzing on stable Rust: seeded mutations of real inputs fed to every reader of
//! untrusted text (the scenario parser, each history importer, the run-folder
//! readers). A reader may refuse an input, never panic; a scenario that parses also
//! runs (cut to a short duration), so the engine meets the odd values too.
//!
//! `cargo run --release --example fuzz -- TARGET [ITERATIONS] [SEED]` runs one target
//! for as long as wanted; `tests/fuzz.rs` runs a bounded smoke of every target in CI.
//! The mutator is deterministic: the same seed finds the same inputs.

use std::panic::{self, AssertUnwindSafe};

use faultline_sim::check::import::{parse_faultline, parse_jepsen_etcd, parse_porcupine_kv};
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::time::NANOS_PER_MILLI;

/// A reader of untrusted input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Scenario,
    JepsenEtcd,
    PorcupineKv,
    FaultlineHistory,
    /// A run folder's trace, drawn as the message timeline and the viewer.
    RunFolder,
}

impl Target {
    pub const ALL: [Target; 5] =
        [Target::Scenario, Target::JepsenEtcd, Target::PorcupineKv, Target::FaultlineHistory, Target::RunFolder];

    pub fn name(self) -> &'static str {
        match self {
            Target::Scenario => "scenario",
            Target::JepsenEtcd => "jepsen-etcd",
            Target::PorcupineKv => "porcupine-kv",
            Target::FaultlineHistory => "faultline-history",
            Target::RunFolder => "run-folder",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The longest a fuzzed scenario runs, so a smoke stays bounded.
const FUZZ_RUN_NS_MAX: u64 = 200 * NANOS_PER_MILLI;

/// Feeds `input` to `target`'s reader: `Ok(true)` if it accepted the input,
/// `Ok(false)` if it refused it, `Err` with the panic's message if it panicked.
pub fn feed(target: Target, input: &str) -> Result<bool, String> {
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| match target {
        Target::Scenario => match faultline_sim::scenario::parse("fuzz.toml", input, &faultline_protocols::catalog()) {
            Ok(mut s) => {
                s.duration = s.duration.min(FUZZ_RUN_NS_MAX);
                let _ = faultline_protocols::run(&s, 1, faultline_sim::Trace::off());
                true
            }
            Err(_) => false,
        },
        Target::JepsenEtcd => parse_jepsen_etcd("fuzz.log", input).is_ok(),
        Target::PorcupineKv => parse_porcupine_kv("fuzz.txt", input).is_ok(),
        Target::FaultlineHistory => parse_faultline("fuzz.json", input).is_ok(),
        Target::RunFolder => {
            let window = faultline_reports::Window::default();
            match faultline_reports::Trace::parse(input, &window) {
                Ok(trace) => {
                    let drawn = faultline_reports::message_timeline(&trace, 5, &window).is_ok();
                    let history = faultline_sim::history::History::default();
                    drawn & faultline_reports::viewer_html("fuzz", &trace, 5, &history, None, &[]).is_ok()
                }
                Err(_) => false,
            }
        }
    }));
    outcome.map_err(|p| crate::cli::panic_message(p.as_ref()))
}

/// Text that readers treat specially: numbers at the edges, units, brackets, keys.
const TOKENS: &[&str] = &[
    "0",
    "-1",
    "1e308",
    "nan",
    "inf",
    "18446744073709551615",
    "4294967296",
    "9223372036854775808",
    "\"\"",
    "\"1ns\"",
    "\"24h\"",
    "\"100%\"",
    "[",
    "]",
    "{",
    "}",
    "[[",
    "]]",
    ",",
    ":",
    "=",
    "\n",
    "\"",
    "\\",
    "\u{1b}",
    "\u{0}",
    "é",
    "n1",
    "n64",
    "n65",
    ":invoke",
    ":ok",
    ":info",
    ":fail",
    ":process",
    "leader",
    "\"ev\":\"send\"",
    "\"t\":",
];

/// One mutation of `seed_input`: a few edits of bytes, tokens and slices.
pub fn mutate(rng: &mut SimRng, seed_input: &str) -> String {
    let mut text: Vec<char> = seed_input.chars().collect();
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        let len = text.len() as u64;
        let at = if len == 0 { 0 } else { rng.below(len + 1) as usize };
        match rng.below(6) {
            0 if len > 0 => {
                // Delete a short run.
                let end = (at + 1 + rng.below(16) as usize).min(text.len());
                text.drain(at.min(text.len())..end);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len() as u64) as usize];
                text.splice(at..at, token.chars());
            }
            2 if len > 0 => {
                // Replace a number (a run of digits) with a boundary value.
                let token = TOKENS[rng.below(7) as usize];
                let start = at.min(text.len() - 1);
                let end = (start..text.len()).find(|&i| !text[i].is_ascii_digit()).unwrap_or(text.len());
                text.splice(start..end.max(start), token.chars());
            }
            3 if len > 0 => {
                // Duplicate a slice somewhere else.
                let from = rng.below(len) as usize;
                let end = (from + 1 + rng.below(64) as usize).min(text.len());
                let slice: Vec<char> = text[from..end].to_vec();
                let at = at.min(text.len());
                text.splice(at..at, slice);
            }
            4 if len > 0 => {
                // Flip one character to a random printable or control one.
                let i = (at).min(text.len() - 1);
                text[i] = char::from_u32(rng.below(0x80) as u32).unwrap_or('?');
            }
            _ => text.truncate(at.min(text.len())),
        }
    }
    text.into_iter().collect()
}

/// Runs `iterations` mutations of the `corpus` through `target`; returns how many
/// inputs the reader accepted, or the first input that panicked, with the message.
pub fn fuzz(target: Target, corpus: &[String], iterations: u64, seed: u64) -> Result<u64, (String, String)> {
    assert!(!corpus.is_empty(), "a fuzz target needs at least one seed input");
    let mut rng = SimRng::new(seed, Stream::Workload);
    let mut accepted = 0;
    for i in 0..iterations {
        let base = &corpus[(i % corpus.len() as u64) as usize];
        let input = mutate(&mut rng, base);
        match feed(target, &input) {
            Ok(ok) => accepted += ok as u64,
            Err(why) => return Err((input, why)),
        }
    }
    Ok(accepted)
}

/// Seed inputs for `target`: bundled scenarios, the shared validation histories, and
/// a history and trace of a real run. `shared` is the `../shared/validation/porcupine`
/// folder.
pub fn corpus(target: Target, shared: &std::path::Path) -> Vec<String> {
    let files = |dir: &str, take: usize| -> Vec<String> {
        let mut paths: Vec<_> = std::fs::read_dir(shared.join(dir))
            .unwrap_or_else(|e| panic!("the validation data is missing: {}: {e}", shared.join(dir).display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        paths.sort();
        // Small files mutate fastest; a few suffice.
        paths.sort_by_key(|p| std::fs::metadata(p).map_or(u64::MAX, |m| m.len()));
        paths.iter().take(take).map(|p| std::fs::read_to_string(p).expect("a validation file")).collect()
    };
    match target {
        Target::Scenario => crate::cli::BUNDLED.iter().map(|(_, text)| text.to_string()).collect(),
        Target::JepsenEtcd => files("jepsen", 4),
        Target::PorcupineKv => files("kv", 4),
        Target::FaultlineHistory | Target::RunFolder => {
            let s = crate::cli::load_scenario("pb/basic").expect("bundled");
            let buf = faultline_sim::trace::TraceBuffer::default();
            let r = faultline_protocols::run(&s, 1, faultline_sim::Trace::to_writer(Box::new(buf.clone())));
            if target == Target::FaultlineHistory {
                vec![r.history.to_json()]
            } else {
                // The first few hundred lines: enough structure, quick to draw.
                vec![buf.text().lines().take(400).collect::<Vec<_>>().join("\n")]
            }
        }
    }
}

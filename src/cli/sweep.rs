//! `faultline sweep`: many seeds of one scenario, in parallel. Each seed's run is
//! independent and single-threaded, so the per-seed results (and trace hashes) are the
//! same whatever `--jobs` is.

use std::io::IsTerminal;
use std::ops::Range;

use faultline_sim::scenario::{Expect, parse_seed_range};
use faultline_sim::trace::Fnv64;
use std::panic::{self, AssertUnwindSafe};

use faultline_sim::{Check, RunResult, Scenario, Trace};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNKNOWN};
use super::{panic_message, replay_command};
use faultline_sim::check::linearizability::Budget;

/// What one seed of a sweep came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedOutcome {
    pub seed: u64,
    /// 0 when the run panicked, or when the sweep hashes no traces.
    pub trace_hash: u64,
    pub events: u64,
    pub failures: Vec<String>,
    /// The checks that failed, in the order of `failures`.
    pub checks: Vec<Check>,
    pub as_expected: bool,
    pub panicked: bool,
    /// Nothing failed, but the linearizability search spent its budget.
    pub unknown: bool,
    /// Client operations invoked, and how many of them completed ok (0 and 0 when
    /// unknown: a panicked run, or a seed read back from a sweep's JSON).
    pub ops: (usize, usize),
}

impl SeedOutcome {
    /// A check failed outright (or the run panicked): not merely undecided.
    pub fn failed(&self) -> bool {
        !self.failures.is_empty() && !self.unknown
    }
}

/// `faultline sweep`'s options.
#[derive(Debug, Default)]
pub struct Options {
    pub seeds: Option<String>,
    pub jobs: Option<usize>,
    pub shard: Option<String>,
    pub no_digest: bool,
    pub budget: Option<Budget>,
    pub json: bool,
}

/// Runs a scenario with one seed: the signature of the registry's runners.
pub type Runner = fn(&Scenario, u64, Trace) -> RunResult;

/// Runs every seed on `jobs` threads; results come back in seed order.
pub fn run_seeds(scenario: &Scenario, seeds: Range<u64>, jobs: usize, progress: &ProgressBar) -> Vec<SeedOutcome> {
    run_seeds_with(faultline_protocols::run, scenario, seeds, jobs, progress)
}

/// [`run_seeds`] without hashing each trace: no digest, a little faster.
pub fn run_seeds_unhashed(
    scenario: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
    progress: &ProgressBar,
) -> Vec<SeedOutcome> {
    run_seeds_traced(faultline_protocols::run, Trace::off, scenario, seeds, jobs, progress)
}

/// [`run_seeds`] with any runner. A run that panics is a failed seed, not a failed
/// sweep: the panic's message is its failure, and the other seeds go on.
pub fn run_seeds_with(
    runner: Runner,
    scenario: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
    progress: &ProgressBar,
) -> Vec<SeedOutcome> {
    run_seeds_traced(runner, Trace::hash_only, scenario, seeds, jobs, progress)
}

fn run_seeds_traced(
    runner: Runner,
    trace: fn() -> Trace,
    scenario: &Scenario,
    seeds: Range<u64>,
    jobs: usize,
    progress: &ProgressBar,
) -> Vec<SeedOutcome> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(jobs.max(1)).build().expect("thread pool");
    pool.install(|| {
        seeds
            .into_par_iter()
            .map(|seed| {
                let outcome = run_one(runner, trace, scenario, seed);
                progress.inc(1);
                outcome
            })
            .collect()
    })
}

/// `--jobs`, checked: 1 to [`JOBS_MAX`] worker threads, one per core by default.
pub fn workers(jobs: Option<usize>) -> Result<usize, String> {
    match jobs {
        Some(j) if (1..=JOBS_MAX).contains(&j) => Ok(j),
        Some(j) => Err(format!("error: --jobs {j}: choose 1 to {JOBS_MAX} worker threads (default: one per core)")),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get()).min(JOBS_MAX)),
    }
}

/// Runs one seed; a panic is a failed seed, with the panic's message as its failure.
pub fn run_one(runner: Runner, trace: fn() -> Trace, scenario: &Scenario, seed: u64) -> SeedOutcome {
    match panic::catch_unwind(AssertUnwindSafe(|| runner(scenario, seed, trace()))) {
        Ok(r) => {
            let failed = r.failed_checks();
            SeedOutcome {
                seed,
                trace_hash: r.trace_hash.unwrap_or(0),
                events: r.stats.events,
                checks: failed.iter().map(|f| f.check.clone()).collect(),
                failures: failed.into_iter().map(|f| f.message).collect(),
                as_expected: r.as_expected(),
                panicked: false,
                unknown: r.is_unknown(),
                ops: (r.history.ops.len(), r.history.count(faultline_sim::history::EventType::Ok)),
            }
        }
        Err(payload) => SeedOutcome {
            seed,
            trace_hash: 0,
            events: 0,
            failures: vec![format!("the run panicked: {}", panic_message(payload.as_ref()))],
            checks: Vec::new(),
            as_expected: false,
            panicked: true,
            unknown: false,
            ops: (0, 0),
        },
    }
}

/// One hash over every seed's trace hash, in seed order: equal digests, equal sweeps.
pub fn digest(outcomes: &[SeedOutcome]) -> u64 {
    let mut h = Fnv64::default();
    for o in outcomes {
        h.update(&o.seed.to_le_bytes());
        h.update(&o.trace_hash.to_le_bytes());
    }
    h.finish()
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid --shard \"{text}\": write I/N with 1 <= I <= N, e.g. --shard 2/4");
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
    if n == 0 || i == 0 || i > n {
        return Err(bad());
    }
    Ok((i, n))
}

/// Shard i of n (1-based) of a range: contiguous, sizes differ by at most one.
fn shard_range(r: Range<u64>, i: u64, n: u64) -> Range<u64> {
    let len = (r.end - r.start) as u128;
    // In u128: `len * i` overflows u64 for ranges near u64::MAX.
    let at = |k: u64| r.start + (len * k as u128 / n as u128) as u64;
    at(i - 1)..at(i)
}

/// The most seeds one sweep (or one shard) runs: each keeps a result in memory until
/// the summary. Split a larger range with `--shard`.
pub const SEEDS_PER_SWEEP_MAX: u64 = 1_000_000;
/// How many progress lines a sweep prints on stderr when it is not a terminal.
const PROGRESS_LINES: u64 = 10;

/// The most worker threads `--jobs` may start.
pub const JOBS_MAX: usize = 256;

/// How many seeds failed each check (a seed that failed several counts under each),
/// most frequent first; panics are counted as "panic".
pub fn by_check(outcomes: &[SeedOutcome]) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for o in outcomes {
        if o.panicked {
            *counts.entry("panic".into()).or_default() += 1;
        }
        let mut seen: Vec<&Check> = o.checks.iter().collect();
        seen.dedup();
        for c in seen {
            *counts.entry(c.to_string()).or_default() += 1;
        }
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// `caught` of `seeds` as a percentage, e.g. "12.5%".
fn rate(caught: usize, seeds: usize) -> String {
    format!("{:.1}%", 100.0 * caught as f64 / seeds.max(1) as f64)
}

/// The scenario's `catch_at_least` holds (or it states none).
pub fn caught_enough(scenario: &Scenario, caught: usize, seeds: usize) -> bool {
    scenario.catch_at_least.is_none_or(|min| caught as u128 * 1_000_000 >= min.0 as u128 * seeds as u128)
}

/// What one seed, or a whole sweep, came to, as `--json` says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Unknown,
    Panic,
}

/// One seed's line of `--json`, written by `sweep` and read back by `merge`. The
/// fields are in alphabetical order, the order the output has always had.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedLine {
    pub as_expected: bool,
    pub checks: Vec<String>,
    pub events: u64,
    pub first_failure: Option<String>,
    pub seed: u64,
    /// 16 hex digits; None when the sweep hashed no traces.
    pub trace_hash: Option<String>,
    pub verdict: Verdict,
}

impl SeedOutcome {
    pub fn verdict(&self) -> Verdict {
        if self.panicked {
            Verdict::Panic
        } else if self.unknown {
            Verdict::Unknown
        } else if self.failures.is_empty() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }

    /// The seed as `--json` prints it.
    pub fn line(&self, hashed: bool) -> SeedLine {
        SeedLine {
            as_expected: self.as_expected,
            checks: self.checks.iter().map(ToString::to_string).collect(),
            events: self.events,
            first_failure: self.failures.first().cloned(),
            seed: self.seed,
            trace_hash: hashed.then(|| format!("{:016x}", self.trace_hash)),
            verdict: self.verdict(),
        }
    }
}

impl SeedLine {
    /// The seed again, as far as its line tells it: failures beyond the first are not
    /// in the line, and a seed that did not pass must name its first.
    pub fn outcome(self) -> Result<(SeedOutcome, bool), String> {
        let checks = self.checks.iter().map(|c| c.parse::<Check>()).collect::<Result<Vec<_>, _>>()?;
        let (trace_hash, hashed) = match &self.trace_hash {
            None => (0, false),
            Some(h) => {
                (u64::from_str_radix(h, 16).map_err(|_| "\"trace_hash\" is not 16 hex digits".to_string())?, true)
            }
        };
        let failures: Vec<String> = match (self.verdict, self.first_failure) {
            (Verdict::Pass, _) => Vec::new(),
            (_, Some(f)) => vec![f],
            (_, None) => return Err("a seed that did not pass names no \"first_failure\"".into()),
        };
        let outcome = SeedOutcome {
            seed: self.seed,
            trace_hash,
            events: self.events,
            failures,
            checks,
            as_expected: self.as_expected,
            panicked: self.verdict == Verdict::Panic,
            unknown: self.verdict == Verdict::Unknown,
            ops: (0, 0),
        };
        Ok((outcome, hashed))
    }
}

pub fn sweep(named: super::Named<'_>, options: Options) -> u8 {
    let Options { seeds, jobs, shard, no_digest, budget, json } = options;
    let mut scenario = match super::load(named) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    if let Some(b) = budget {
        scenario.budget = b;
    }
    let mut range = match (seeds, &scenario.seeds) {
        (Some(text), _) => match parse_seed_range(&text) {
            Ok(r) => r,
            Err(msg) => {
                eprintln!("error: {msg}");
                return EXIT_BAD_INPUT;
            }
        },
        (None, Some(r)) => r.clone(),
        (None, None) => 1..101,
    };
    if let Some(text) = shard {
        match parse_shard(&text) {
            Ok((i, n)) => range = shard_range(range, i, n),
            Err(msg) => {
                eprintln!("error: {msg}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    let total = range.end - range.start;
    if total > SEEDS_PER_SWEEP_MAX {
        let shards = total.div_ceil(SEEDS_PER_SWEEP_MAX);
        eprintln!(
            "error: {total} seeds is more than one sweep runs ({SEEDS_PER_SWEEP_MAX})\n  = help: split the range, e.g. \
             --shard 1/{shards} up to --shard {shards}/{shards}, or give a smaller --seeds"
        );
        return EXIT_BAD_INPUT;
    }
    let jobs = match workers(jobs) {
        Ok(j) => j,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    if !json {
        println!("sweep      {}  seeds {}..{} ({total})  jobs {jobs}", scenario.path, range.start, range.end);
    }
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} seeds ({percent}%)  elapsed {elapsed}  eta {eta}")
                .expect("template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let run = |seeds: Range<u64>| {
        if no_digest {
            run_seeds_unhashed(&scenario, seeds, jobs, &bar)
        } else {
            run_seeds(&scenario, seeds, jobs, &bar)
        }
    };
    let outcomes = if std::io::stderr().is_terminal() {
        run(range)
    } else {
        // No terminal for a bar (a CI log, a pipe): a progress line on stderr after
        // each tenth of the seeds. The tenths run one after another, so the results
        // are in seed order as ever.
        let mut all = Vec::with_capacity(total as usize);
        for part in 1..=PROGRESS_LINES {
            let seeds = shard_range(range.clone(), part, PROGRESS_LINES);
            if !seeds.is_empty() {
                all.extend(run(seeds));
                eprintln!("progress   {}/{total} seeds", all.len());
            }
        }
        all
    };
    bar.finish_and_clear();

    report(&scenario, &outcomes, json, no_digest)
}

/// What a sweep prints once its seeds have run (or `faultline merge`, once it has read
/// the shards' seeds), as text or as `--json`; returns the exit code.
pub fn report(scenario: &Scenario, outcomes: &[SeedOutcome], json: bool, no_digest: bool) -> u8 {
    let failing: Vec<&SeedOutcome> = outcomes.iter().filter(|o| o.failed()).collect();
    let unknown: Vec<&SeedOutcome> = outcomes.iter().filter(|o| o.unknown).collect();
    let events: u64 = outcomes.iter().map(|o| o.events).sum();
    if json {
        return sweep_json(scenario, outcomes, failing.len(), no_digest);
    }
    println!("events     {events}");
    if no_digest {
        println!("digest     none (--no-digest: traces not hashed)");
    } else {
        println!("digest     {:016x}  (of every seed's trace hash, in seed order)", digest(outcomes));
    }
    let code = match scenario.expect {
        Expect::Pass => {
            let passed = outcomes.len() - failing.len() - unknown.len();
            println!("passed     {passed}/{}", outcomes.len());
            if !unknown.is_empty() {
                println!(
                    "unknown    {}/{} seeds: the linearizability search spent its budget ({}); neither passed nor \
                     failed",
                    unknown.len(),
                    outcomes.len(),
                    scenario.budget
                );
            }
            if !failing.is_empty() {
                EXIT_CHECK_FAILED
            } else if !unknown.is_empty() {
                EXIT_UNKNOWN
            } else {
                EXIT_OK
            }
        }
        Expect::Fail => {
            let panicked = outcomes.iter().filter(|o| o.panicked).count();
            let caught = failing.len() - panicked;
            println!(
                "caught     {caught}/{} seeds ({}; this bug-zoo scenario expects checks to fail)",
                outcomes.len(),
                rate(caught, outcomes.len())
            );
            if !unknown.is_empty() {
                println!(
                    "unknown    {}/{} seeds: the linearizability search spent its budget ({}); not counted as caught",
                    unknown.len(),
                    outcomes.len(),
                    scenario.budget
                );
            }
            if panicked > 0 {
                println!("result     FAIL: {panicked} seeds panicked instead of failing a check");
                EXIT_CHECK_FAILED
            } else if failing.is_empty() {
                println!("result     FAIL: the bug was not caught on any seed in this range");
                EXIT_CHECK_FAILED
            } else if !caught_enough(scenario, caught, outcomes.len()) {
                let min = scenario.catch_at_least.unwrap_or_default();
                println!(
                    "result     FAIL: caught on {} of the seeds; the scenario requires at least {min} (catch_at_least)",
                    rate(caught, outcomes.len()),
                );
                EXIT_CHECK_FAILED
            } else {
                EXIT_OK
            }
        }
    };
    const LISTED_MAX: usize = 10;
    if !failing.is_empty() {
        println!("by check   (seeds on which each check failed)");
        for (check, n) in by_check(outcomes) {
            println!("  {n:>6}  {check}");
        }
        println!("failing seeds:");
        for o in failing.iter().take(LISTED_MAX) {
            println!("  seed {:<6} {}", o.seed, o.failures.first().map_or("", String::as_str));
            println!("             replay: {}", replay_command(scenario, o.seed));
        }
        if failing.len() > LISTED_MAX {
            let rest: Vec<String> = failing[LISTED_MAX..].iter().map(|o| o.seed.to_string()).collect();
            println!("  ... and {} more: {}", rest.len(), rest.join(" "));
        }
    }
    if !unknown.is_empty() {
        println!("unknown seeds (raise the budget with --budget or [check] budget):");
        for o in unknown.iter().take(LISTED_MAX) {
            println!("  seed {:<6} {}", o.seed, o.failures.first().map_or("", String::as_str));
        }
        if unknown.len() > LISTED_MAX {
            let rest: Vec<String> = unknown[LISTED_MAX..].iter().map(|o| o.seed.to_string()).collect();
            println!("  ... and {} more: {}", rest.len(), rest.join(" "));
        }
    }
    code
}

/// `--json`: a line per seed, then one summary line; the exit code as without it.
fn sweep_json(scenario: &Scenario, outcomes: &[SeedOutcome], failing: usize, no_digest: bool) -> u8 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for o in outcomes {
        // A closed pipe (`| head`) ends the listing; it is not an error of the sweep.
        let line = serde_json::to_string(&o.line(!no_digest)).expect("a seed line serialises");
        if writeln!(out, "{line}").is_err() {
            return EXIT_OK;
        }
    }
    let panicked = outcomes.iter().filter(|o| o.panicked).count();
    let unknown = outcomes.iter().filter(|o| o.unknown).count();
    let caught = failing - panicked;
    let result = match scenario.expect {
        Expect::Pass if failing > 0 => Verdict::Fail,
        Expect::Pass if unknown > 0 => Verdict::Unknown,
        Expect::Pass => Verdict::Pass,
        Expect::Fail if panicked == 0 && caught > 0 && caught_enough(scenario, caught, outcomes.len()) => Verdict::Pass,
        Expect::Fail => Verdict::Fail,
    };
    let by: serde_json::Map<String, serde_json::Value> =
        by_check(outcomes).into_iter().map(|(k, v)| (k, serde_json::Value::from(v))).collect();
    let summary = serde_json::json!({
        "summary": {
            "scenario": scenario.path,
            "protocol": scenario.protocol,
            "variant": scenario.variant,
            "budget": scenario.budget.to_arg(),
            "seeds": outcomes.len(),
            "failed": failing,
            "unknown": unknown,
            "panicked": panicked,
            "catch_at_least_ppm": scenario.catch_at_least.map(|p| p.0),
            "expect": scenario.expect.to_string(),
            "events": outcomes.iter().map(|o| o.events).sum::<u64>(),
            "digest": (!no_digest).then(|| format!("{:016x}", digest(outcomes))),
            "by_check": by,
            "result": result,
        }
    });
    let _ = writeln!(out, "{summary}");
    match result {
        Verdict::Pass => EXIT_OK,
        Verdict::Unknown => EXIT_UNKNOWN,
        Verdict::Fail | Verdict::Panic => EXIT_CHECK_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_the_range_exactly_once() {
        let parts: Vec<_> = (1..=3).map(|i| shard_range(10..20, i, 3)).collect();
        assert_eq!(parts, vec![10..13, 13..16, 16..20]);
        assert!(parse_shard("0/3").is_err() && parse_shard("4/3").is_err() && parse_shard("x").is_err());
        // Near u64::MAX, `len * i` once overflowed: shard 3/3 ran nothing, 2/3 was reversed.
        let top = u64::MAX - 9..u64::MAX;
        let parts: Vec<_> = (1..=3).map(|i| shard_range(top.clone(), i, 3)).collect();
        assert_eq!(parts, vec![top.start..top.start + 3, top.start + 3..top.start + 6, top.start + 6..top.end]);
        let all = 0..u64::MAX;
        let last = shard_range(all.clone(), 3, 3);
        assert!(last.start < last.end && last.end == u64::MAX);
    }
}

//! `faultline grade SUITE`: a suite of scenarios, each a part with its points, run on
//! a protocol (a student's, with `--protocol`) over public seeds and seeds derived
//! from the instructor's secret. A part earns its points when every seed comes out
//! as its scenario expects. Prints a table of parts, points and failing seeds (with
//! the replay command and a viewer for the first), or one JSON object; exits 0 on
//! full marks, 1 below.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use faultline_sim::diag::Diagnostic;
use faultline_sim::scenario::Expect;
use faultline_sim::trace::murmur64a;
use faultline_sim::{Scenario, Trace};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_spanned::Spanned;

use super::sweep::{SeedOutcome, run_one};
use super::{EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, Named, replay_command};

/// The suites that ship with faultline, by name.
pub const SUITES: &[(&str, &str)] = &[
    ("raft", include_str!("../../suites/raft.toml")),
    ("paxos", include_str!("../../suites/paxos.toml")),
    ("twopc", include_str!("../../suites/twopc.toml")),
    ("store", include_str!("../../suites/store.toml")),
];

/// The environment variable that holds the instructor's secret.
pub const SECRET_VAR: &str = "FAULTLINE_GRADE_SECRET";
/// The most parts a suite may have.
pub const PARTS_MAX: usize = 1_000;
/// The most seeds (public and hidden) one part may run.
pub const SEEDS_PER_PART_MAX: u64 = 10_000;
/// The most points one part may be worth.
pub const POINTS_MAX: u64 = 1_000_000;

/// A suite file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    name: String,
    /// The protocol the suite's scenarios are written for.
    protocol: String,
    /// Public seeds for every part that does not say, as A..B.
    #[serde(default)]
    seeds: Option<Spanned<String>>,
    /// Hidden seeds for every part that does not say.
    #[serde(default)]
    hidden: Option<Spanned<u64>>,
    #[serde(default)]
    part: Vec<RawPart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPart {
    #[serde(default)]
    lab: Option<String>,
    name: String,
    scenario: Spanned<String>,
    points: Spanned<u64>,
    #[serde(default)]
    seeds: Option<Spanned<String>>,
    #[serde(default)]
    hidden: Option<Spanned<u64>>,
    /// "pass" (the default) or "fail": what every seed must come out as. A part
    /// holds the graded implementation to passing whatever the scenario file
    /// expects of the variant it names (a bug-zoo trap expects its bug caught).
    #[serde(default)]
    expect: Option<Spanned<String>>,
}

/// One graded part, checked.
struct Part {
    lab: String,
    name: String,
    scenario: Scenario,
    points: u64,
    seeds: std::ops::Range<u64>,
    hidden: u64,
}

/// A suite, checked: every scenario found and parsed for the protocol graded.
struct Suite {
    name: String,
    path: String,
    parts: Vec<Part>,
}

/// `grade`'s options.
#[derive(Debug, Default)]
pub struct Options {
    pub protocol: Option<String>,
    pub variant: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub json: bool,
}

/// Reads a suite from a file or a bundled name, and parses each part's scenario for
/// `protocol` (and `variant`) in place of the suite's own.
fn load(arg: &str, protocol: Option<&str>, variant: Option<&str>) -> Result<Suite, String> {
    let (path, text) = if Path::new(arg).exists() {
        let text = super::input::read_text(Path::new(arg), "a grading suite", super::input::SCENARIO_BYTES_MAX)
            .map_err(|d| d.to_string())?;
        (arg.to_string(), text)
    } else {
        let name = arg.trim_start_matches("suites/").trim_end_matches(".toml");
        match SUITES.iter().find(|(n, _)| *n == name) {
            Some((n, t)) => (format!("suites/{n}.toml"), t.to_string()),
            None => {
                let names: Vec<&str> = SUITES.iter().map(|s| s.0).collect();
                return Err(Diagnostic::file(arg, format!("no suite file or bundled suite named `{arg}`"))
                    .with_help(format!("the bundled suites: {}", names.join(", ")))
                    .to_string());
            }
        }
    };
    let raw: RawSuite =
        toml::from_str(&text).map_err(|e| faultline_sim::scenario::toml_diagnostic(&path, &text, &e).to_string())?;
    let at = |span: std::ops::Range<usize>, msg: String| Diagnostic::at(&path, &text, span, msg);
    if raw.part.is_empty() {
        return Err(Diagnostic::file(&path, "the suite has no [[part]]").to_string());
    }
    if raw.part.len() > PARTS_MAX {
        return Err(Diagnostic::file(&path, format!("the suite has more than {PARTS_MAX} parts")).to_string());
    }
    let range = |s: &Spanned<String>| {
        faultline_sim::scenario::parse_seed_range(s.get_ref()).map_err(|m| at(s.span(), m).to_string())
    };
    let default_seeds = raw.seeds.as_ref().map(range).transpose()?.unwrap_or(1..4);
    let mut parts = Vec::new();
    for p in &raw.part {
        let seeds = p.seeds.as_ref().map(range).transpose()?.unwrap_or_else(|| default_seeds.clone());
        let hidden = p.hidden.as_ref().or(raw.hidden.as_ref());
        let hidden_n = hidden.map_or(0, |h| *h.get_ref());
        if (seeds.end - seeds.start).saturating_add(hidden_n) > SEEDS_PER_PART_MAX {
            let span = p.seeds.as_ref().map(Spanned::span).or(hidden.map(Spanned::span)).unwrap_or(0..0);
            return Err(
                at(span, format!("a part may run at most {SEEDS_PER_PART_MAX} seeds, public and hidden")).to_string()
            );
        }
        if *p.points.get_ref() > POINTS_MAX {
            return Err(at(p.points.span(), format!("a part is worth at most {POINTS_MAX} points")).to_string());
        }
        let expect = match p.expect.as_ref().map(|e| (e.get_ref().as_str(), e.span())) {
            None | Some(("pass", _)) => Expect::Pass,
            Some(("fail", _)) => Expect::Fail,
            Some((other, span)) => {
                return Err(at(span, format!("unknown expectation \"{other}\""))
                    .with_help("a part expects \"pass\" (the default) or \"fail\"")
                    .to_string());
            }
        };
        let named = Named {
            scenario: p.scenario.get_ref(),
            protocol: Some(protocol.unwrap_or(&raw.protocol)),
            // A suite grades the correct variant unless told otherwise, whatever a
            // part's scenario file names (a zoo trap names its bug).
            variant: Some(variant.unwrap_or("correct")),
            expect: Some(expect),
        };
        let scenario = super::load(named).map_err(|e| {
            format!(
                "{}\n  = note: in part \"{}\" of the suite",
                at(p.scenario.span(), "this part's scenario".into()),
                p.name
            ) + "\n"
                + &e
        })?;
        parts.push(Part {
            lab: p.lab.clone().unwrap_or_default(),
            name: p.name.clone(),
            scenario,
            points: *p.points.get_ref(),
            seeds,
            hidden: hidden_n,
        });
    }
    Ok(Suite { name: raw.name, path, parts })
}

/// Hidden seed `i` of a part: a pinned hash of the secret, the part's scenario and
/// `i`, past every public seed.
fn hidden_seed(secret: &str, scenario: &str, i: u64) -> u64 {
    let h = murmur64a(format!("{secret}\n{scenario}\n{i}").as_bytes(), 0x6772_6164_6573_6565);
    1_000_000 + h % 1_000_000_000_000
}

/// The instructor's secret, if any: `--secret-file`, else the environment.
fn secret(file: Option<&Path>) -> Result<Option<String>, String> {
    match file {
        Some(p) => {
            super::input::read_text(p, "a secret", 4096).map(|t| Some(t.trim().to_string())).map_err(|d| d.to_string())
        }
        None => Ok(std::env::var(SECRET_VAR).ok().filter(|s| !s.trim().is_empty())),
    }
}

/// How one part came out.
#[derive(Serialize)]
struct Graded {
    lab: String,
    name: String,
    scenario: String,
    points: u64,
    earned: u64,
    seeds: usize,
    passed: usize,
    failing: Vec<Failing>,
}

#[derive(Serialize)]
struct Failing {
    seed: u64,
    hidden: bool,
    failures: Vec<String>,
    replay: String,
    /// The viewer of this seed's run, for the first failing seed of a part.
    #[serde(skip_serializing_if = "Option::is_none")]
    viewer: Option<String>,
}

fn grade_part(part: &Part, secret: Option<&str>, out: &Path, progress: &ProgressBar) -> Graded {
    let hidden: Vec<u64> = match secret {
        Some(s) => (0..part.hidden).map(|i| hidden_seed(s, &part.scenario.path, i)).collect(),
        None => Vec::new(),
    };
    let seeds: Vec<(u64, bool)> =
        part.seeds.clone().map(|s| (s, false)).chain(hidden.iter().map(|&s| (s, true))).collect();
    let outcomes: Vec<(SeedOutcome, bool)> = seeds
        .par_iter()
        .map(|&(seed, hidden)| {
            let o = run_one(faultline_protocols::run, Trace::off, &part.scenario, seed);
            progress.inc(1);
            (o, hidden)
        })
        .collect();
    // A run in which clients asked and nothing completed passes every safety check
    // without proving anything: an implementation that does nothing earns nothing.
    let idle =
        |o: &SeedOutcome| part.scenario.expect == Expect::Pass && o.failures.is_empty() && o.ops.0 > 0 && o.ops.1 == 0;
    let mut failing: Vec<Failing> = outcomes
        .iter()
        .filter(|(o, _)| !o.as_expected || idle(o))
        .map(|(o, hidden)| Failing {
            seed: o.seed,
            hidden: *hidden,
            failures: if idle(o) {
                vec![format!(
                    "no client operation completed (of {} invoked): a run in which nothing happens proves nothing",
                    o.ops.0
                )]
            } else if o.failures.is_empty() {
                vec!["no check failed, but the scenario expects one to".into()]
            } else {
                o.failures.clone()
            },
            replay: replay_command(&part.scenario, o.seed),
            viewer: None,
        })
        .collect();
    if let Some(first) = failing.first_mut() {
        first.viewer = viewer(&part.scenario, first.seed, out);
    }
    let passed = outcomes.len() - failing.len();
    Graded {
        lab: part.lab.clone(),
        name: part.name.clone(),
        scenario: part.scenario.path.clone(),
        points: part.points,
        earned: if failing.is_empty() { part.points } else { 0 },
        seeds: outcomes.len(),
        passed,
        failing,
    }
}

/// Writes the run folder of a failing seed with its viewer; the viewer's path.
fn viewer(scenario: &Scenario, seed: u64, out: &Path) -> Option<String> {
    let dir = out.join(super::run::run_name(scenario, seed));
    super::run::run_to_dir(scenario, seed, &dir).ok()?;
    let kinds = super::report::Kinds::parse("html").ok()?;
    let verdict = super::report::Verdict::Recheck;
    super::report::render_kinds(&dir, &faultline_reports::Window::default(), kinds, verdict).ok()?;
    Some(dir.join("viewer.html").display().to_string())
}

pub fn grade(arg: &str, options: Options) -> u8 {
    let Options { protocol, variant, secret_file, out, jobs, json } = options;
    let suite = match load(arg, protocol.as_deref(), variant.as_deref()) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    let secret = match secret(secret_file.as_deref()) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    let jobs = match super::sweep::workers(jobs) {
        Ok(j) => j,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    let out = out.unwrap_or_else(|| PathBuf::from("runs/grade"));
    let total: u64 =
        suite.parts.iter().map(|p| (p.seeds.end - p.seeds.start) + if secret.is_some() { p.hidden } else { 0 }).sum();
    let progress = if std::io::stderr().is_terminal() && !json {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(ProgressStyle::with_template("grading {bar:40} {pos}/{len} seeds {eta}").expect("template"));
        bar
    } else {
        ProgressBar::hidden()
    };
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(jobs).build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: cannot start worker threads: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    let graded: Vec<Graded> =
        pool.install(|| suite.parts.iter().map(|p| grade_part(p, secret.as_deref(), &out, &progress)).collect());
    progress.finish_and_clear();
    let (earned, max) = graded.iter().fold((0, 0), |(e, m), g| (e + g.earned, m + g.points));
    let first = &suite.parts[0].scenario;
    if json {
        let result = serde_json::json!({
            "suite": suite.name,
            "file": suite.path,
            "protocol": first.protocol,
            "variant": first.variant,
            "hidden_seeds": secret.is_some(),
            "earned": earned,
            "points": max,
            "parts": graded,
        });
        println!("{result}");
    } else {
        print_table(&suite, first, &graded, secret.is_some(), earned, max);
    }
    if earned == max { EXIT_OK } else { EXIT_CHECK_FAILED }
}

fn print_table(suite: &Suite, first: &Scenario, graded: &[Graded], hidden: bool, earned: u64, max: u64) {
    println!("grade      {} ({})", suite.name, suite.path);
    println!("protocol   {} ({})", first.protocol, first.variant);
    let public = &suite.parts[0].seeds;
    println!(
        "seeds      {}..{} public{}",
        public.start,
        public.end,
        if hidden {
            " + hidden seeds from the secret".to_string()
        } else {
            format!(" only (no secret: set {SECRET_VAR} or --secret-file to grade the hidden seeds too)")
        }
    );
    println!();
    let width = graded.iter().map(|g| g.name.len()).max().unwrap_or(4).max(4);
    println!("{:<4}  {:<width$}  {:>7}  {:>7}", "lab", "part", "points", "seeds");
    for g in graded {
        println!(
            "{:<4}  {:<width$}  {:>7}  {:>7}  {}",
            g.lab,
            g.name,
            format!("{}/{}", g.earned, g.points),
            format!("{}/{}", g.passed, g.seeds),
            if g.failing.is_empty() { "pass" } else { "FAIL" }
        );
    }
    println!("{:<4}  {:<width$}  {:>7}", "", "total", format!("{earned}/{max}"));
    for g in graded.iter().filter(|g| !g.failing.is_empty()) {
        println!();
        println!("{} {}: {} of {} seeds failed", g.lab, g.name, g.failing.len(), g.seeds);
        for f in g.failing.iter().take(3) {
            println!("  seed {}{}: {}", f.seed, if f.hidden { " (hidden)" } else { "" }, f.failures[0]);
            println!("    replay: {}", f.replay);
            if let Some(v) = &f.viewer {
                println!("    viewer: {v}");
            }
        }
        if g.failing.len() > 3 {
            println!("  ... and {} more", g.failing.len() - 3);
        }
    }
}

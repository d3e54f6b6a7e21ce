//! `faultline shrink`: a failing seed in, the smallest scenario that fails the same
//! way out, as a file and a run folder with its viewer.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use faultline_sim::shrink::{self, Host, Progress};
use faultline_sim::{RunResult, Scenario, Trace};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::{EXIT_BAD_INPUT, EXIT_OK, Named};

/// Exit code: the shrinker failed at what should always work (a bug to report).
pub const EXIT_SHRINK_BROKE: u8 = 4;

/// The registered protocols, as the shrinker sees them.
pub struct Registered;

impl Host for Registered {
    fn run(&self, scenario: &Scenario, seed: u64, record: bool) -> RunResult {
        if record {
            faultline_protocols::run_recording(scenario, seed, Trace::off())
        } else {
            faultline_protocols::run(scenario, seed, Trace::off())
        }
    }
    fn parse(&self, path: &str, text: &str) -> Result<Scenario, String> {
        faultline_sim::scenario::parse(path, text, &faultline_protocols::catalog()).map_err(|d| d.to_string())
    }
    fn min_nodes(&self, scenario: &Scenario) -> usize {
        faultline_protocols::lookup(&scenario.protocol).map_or(1, |e| e.min_nodes)
    }
}

#[derive(Serialize)]
struct Report<'a> {
    scenario: &'a str,
    seed: u64,
    check: String,
    failure: &'a str,
    runs: u64,
    faults: [usize; 2],
    operations: [usize; 2],
    nodes: [usize; 2],
    clients: [usize; 2],
    duration_ns: [u64; 2],
    file: String,
    run_folder: String,
}

/// A run folder given in place of a scenario: its scenario.toml and run.json's seed.
fn from_run_folder(dir: &Path) -> Result<(String, u64), String> {
    let info = std::fs::read_to_string(dir.join("run.json"))
        .map_err(|e| format!("error: {}: not a run folder (no readable run.json: {e})", dir.display()))?;
    let v: serde_json::Value = serde_json::from_str(&info)
        .map_err(|e| format!("error: {}: run.json is not JSON: {e}", dir.join("run.json").display()))?;
    let seed =
        v["seed"].as_u64().ok_or_else(|| format!("error: {}: run.json has no seed", dir.join("run.json").display()))?;
    Ok((dir.join("scenario.toml").display().to_string(), seed))
}

pub fn shrink(named: Named<'_>, seed: Option<u64>, out: Option<PathBuf>, json: bool) -> u8 {
    let path = Path::new(named.scenario);
    let (file, folder_seed) = if path.is_dir() {
        match from_run_folder(path) {
            Ok((f, s)) => (f, Some(s)),
            Err(msg) => {
                eprintln!("{msg}");
                return EXIT_BAD_INPUT;
            }
        }
    } else {
        (named.scenario.to_string(), None)
    };
    let scenario = match super::load(Named { scenario: &file, ..named }) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    if scenario.schedule.is_some() {
        eprintln!(
            "error: {}: a [schedule] lists the steps of one run; shrink works on a seed's random draws",
            scenario.path
        );
        eprintln!("  = help: a schedule from `faultline explore` is already a shortest path; edit its steps by hand");
        return EXIT_BAD_INPUT;
    }
    let seed = seed.or(folder_seed).unwrap_or(scenario.seed);
    let name = super::run::run_name(&scenario, seed);
    let file_out = out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}-shrunk.toml")));
    let bar = if std::io::stderr().is_terminal() && !json {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("template"));
        b
    } else {
        ProgressBar::hidden()
    };
    if !json {
        println!("shrink     {} seed {seed}", scenario.path);
    }
    let mut last_stage = None;
    let mut on_progress = |p: &Progress| {
        bar.set_message(format!(
            "{} runs, shrinking {}: {} faults, {} operations left",
            p.runs, p.stage, p.faults, p.ops
        ));
        bar.tick();
        if bar.is_hidden() && !json && last_stage != Some(p.stage) {
            eprintln!(
                "progress   {} runs, shrinking {}: {} faults, {} operations left",
                p.runs, p.stage, p.faults, p.ops
            );
            last_stage = Some(p.stage);
        }
    };
    let shrunk = match shrink::shrink(&Registered, &scenario, seed, &mut on_progress) {
        Ok(s) => s,
        Err(e @ shrink::ShrinkError::Passes) => {
            bar.finish_and_clear();
            eprintln!("error: {}: seed {seed}: {e}", scenario.path);
            eprintln!("  = help: shrink a seed that fails: `faultline sweep {}` lists them", scenario.path);
            return EXIT_BAD_INPUT;
        }
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("error: {}: seed {seed}: {e}", scenario.path);
            if let shrink::ShrinkError::Written { toml, .. } = &e
                && std::fs::write(&file_out, toml).is_ok()
            {
                eprintln!("  = note: the file is at {}", file_out.display());
            }
            return EXIT_SHRINK_BROKE;
        }
    };
    bar.finish_and_clear();
    if let Some(parent) = file_out.parent()
        && let Err(e) = std::fs::create_dir_all(parent)
    {
        eprintln!("error: cannot create {}: {e}", parent.display());
        return EXIT_BAD_INPUT;
    }
    if let Err(e) = std::fs::write(&file_out, &shrunk.toml) {
        eprintln!("error: cannot write {}: {e}", file_out.display());
        eprintln!("  = help: pass --out FILE with a place you can write to");
        return EXIT_BAD_INPUT;
    }
    // The shrunk run, with its viewer: only what the failure needs.
    let mut written = shrunk.scenario.clone();
    written.path = file_out.display().to_string();
    let dir = PathBuf::from("runs").join(format!("{name}-shrunk"));
    let drawn = super::run::run_to_dir(&written, seed, &dir).map_err(|e| e.to_string()).and_then(|r| {
        let verdict = super::report::Verdict::Known(r.linearizability.as_ref());
        super::report::render_kinds(&dir, &faultline_reports::Window::default(), super::report::Kinds::ALL, verdict)
            .map_err(|e| format!("{e:?}"))
    });
    if let Err(e) = &drawn {
        eprintln!("warning: the shrunk run's folder {} is incomplete: {e}", dir.display());
    }
    let (f0, f1) = shrunk.faults;
    let (o0, o1) = shrunk.ops;
    if json {
        let report = Report {
            scenario: &scenario.path,
            seed,
            check: shrunk.check.to_string(),
            failure: &shrunk.failure.message,
            runs: shrunk.runs,
            faults: [f0, f1],
            operations: [o0, o1],
            nodes: [shrunk.nodes.0, shrunk.nodes.1],
            clients: [shrunk.clients.0, shrunk.clients.1],
            duration_ns: [shrunk.duration.0, shrunk.duration.1],
            file: file_out.display().to_string(),
            run_folder: dir.display().to_string(),
        };
        println!("{}", serde_json::to_string(&report).expect("report serialises"));
        return EXIT_OK;
    }
    let t = faultline_sim::time::fmt_time;
    println!("check      {} still fails: {}", shrunk.check, shrunk.failure.message);
    println!("faults     {f0} -> {f1}");
    println!("operations {o0} -> {o1}");
    println!("nodes      {} -> {}", shrunk.nodes.0, shrunk.nodes.1);
    println!("clients    {} -> {}", shrunk.clients.0, shrunk.clients.1);
    println!("duration   {} -> {}", t(shrunk.duration.0), t(shrunk.duration.1));
    println!("runs       {}", shrunk.runs);
    println!("wrote      {}", file_out.display());
    println!("run folder {}", dir.display());
    println!("replay     faultline run {} --seed {seed}", file_out.display());
    EXIT_OK
}

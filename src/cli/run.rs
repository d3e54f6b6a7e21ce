//! `faultline run`: one scenario, one seed, a run folder, a summary, an exit code.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use faultline_sim::{RunResult, Scenario, Trace};
use serde::Serialize;

use super::{EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNKNOWN};
use super::{panic_message, replay_command};
use faultline_sim::check::linearizability::Budget;

/// `runs/STEM-seedN`; for a file in a folder of `scenarios/` the folder leads, so
/// raft/nemesis and pb/nemesis do not share a run folder.
fn default_dir(scenario: &Scenario, seed: u64) -> PathBuf {
    PathBuf::from("runs").join(run_name(scenario, seed))
}

/// A run folder's name: `STEM-seedN`, or `FOLDER-STEM-seedN` for a scenario in a
/// folder of `scenarios/`.
pub fn run_name(scenario: &Scenario, seed: u64) -> String {
    let path = Path::new(&scenario.path);
    let name = |p: Option<&Path>| p.and_then(Path::file_name).map(|s| s.to_string_lossy().into_owned());
    let stem = path.file_stem().map_or("run".into(), |s| s.to_string_lossy().into_owned());
    let folder = name(path.parent());
    let name = match (folder, name(path.parent().and_then(Path::parent))) {
        (Some(folder), Some(top)) if top == "scenarios" => format!("{folder}-{stem}"),
        _ => stem,
    };
    format!("{name}-seed{seed}")
}

#[derive(Serialize)]
struct RunInfo<'a> {
    faultline: &'a str,
    scenario: &'a str,
    seed: u64,
    protocol: &'a str,
    variant: &'a str,
    replay: String,
}

/// Runs `scenario` with `seed`, streaming the trace to `dir/trace.jsonl` and writing
/// the history, summary and scenario beside it.
/// Reports a run folder may hold from an earlier run: a new run removes them, so a
/// reused folder never shows one run's pictures beside another's trace.
pub const REPORT_FILES: &[&str] = &["messages.svg", "operations.svg", "migration.svg", "output.svg", "viewer.html"];

pub fn run_to_dir(scenario: &Scenario, seed: u64, dir: &Path) -> io::Result<RunResult> {
    fs::create_dir_all(dir)?;
    for name in REPORT_FILES {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let trace = BufWriter::with_capacity(1 << 16, File::create(dir.join("trace.jsonl"))?);
    let result = faultline_protocols::run(scenario, seed, Trace::to_writer(Box::new(trace)));
    if let Some(e) = &result.trace_error {
        return Err(io::Error::other(format!("writing trace.jsonl failed: {e}")));
    }
    fs::write(dir.join("history.json"), result.history.to_json())?;
    let summary = faultline_reports::summarize(scenario, &result);
    fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary).expect("summary serialises"))?;
    fs::write(dir.join("scenario.toml"), &scenario.source)?;
    let info = RunInfo {
        faultline: env!("CARGO_PKG_VERSION"),
        scenario: &scenario.path,
        seed,
        protocol: &scenario.protocol,
        variant: &scenario.variant,
        replay: replay_command(scenario, seed),
    };
    fs::write(dir.join("run.json"), serde_json::to_string_pretty(&info).expect("run info serialises"))?;
    Ok(result)
}

pub fn run(
    named: super::Named<'_>,
    seed: Option<u64>,
    out: Option<PathBuf>,
    peak_memory: bool,
    budget: Option<Budget>,
    report: Option<String>,
    json: bool,
) -> u8 {
    let kinds = match report.as_deref().map(super::report::Kinds::parse) {
        None => None,
        Some(Ok(k)) => Some(k),
        Some(Err(msg)) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
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
    let seed = seed.unwrap_or(scenario.seed);
    let dir = out.unwrap_or_else(|| default_dir(&scenario, seed));
    let mut stdout = io::stdout().lock();
    if !json {
        faultline_reports::summary::write_header(
            &mut stdout,
            &scenario.name,
            &scenario.protocol,
            &scenario.variant,
            seed,
        )
        .and_then(|()| stdout.flush())
        .expect("write to stdout");
    }
    let result = match panic::catch_unwind(AssertUnwindSafe(|| run_to_dir(&scenario, seed, &dir))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("error: cannot write the run folder {}: {e}", dir.display());
            eprintln!("  = help: pass --out DIR with a folder you can write to");
            return EXIT_BAD_INPUT;
        }
        Err(payload) => {
            let why = panic_message(payload.as_ref());
            if json {
                let out = serde_json::json!({"result": super::sweep::Verdict::Panic, "panic": why, "seed": seed,
                    "run_folder": dir.display().to_string(), "replay": replay_command(&scenario, seed)});
                println!("{out}");
                return EXIT_CHECK_FAILED;
            }
            println!("result     FAIL: the run panicked: {why}");
            println!("run folder {} (the trace up to the panic)", dir.display());
            println!("replay     {}", replay_command(&scenario, seed));
            return EXIT_CHECK_FAILED;
        }
    };
    let summary = faultline_reports::summarize(&scenario, &result);
    if !json {
        summary.write_body(&mut stdout).expect("write to stdout");
        println!("run folder {}", dir.display());
    }
    // With --json: the reports drawn, or why none were.
    let mut drawn: Result<Vec<String>, String> = Ok(Vec::new());
    if let Some(kinds) = kinds {
        let verdict = super::report::Verdict::Known(result.linearizability.as_ref());
        match super::report::render_kinds(&dir, &faultline_reports::Window::default(), kinds, verdict) {
            Ok(files) => {
                let names: Vec<String> =
                    files.iter().filter_map(|f| f.file_name()).map(|n| n.to_string_lossy().into()).collect();
                if !json {
                    println!("report     {}", names.join(", "));
                }
                drawn = Ok(names);
            }
            // Too large to draw: the run stands, and so does its exit code.
            Err(super::report::ReportError::TooLarge(msg)) if json => drawn = Err(msg),
            Err(super::report::ReportError::TooLarge(msg)) => println!("report     {msg}"),
            Err(super::report::ReportError::Bad(msg)) => {
                eprintln!("{msg}");
                return EXIT_BAD_INPUT;
            }
        }
    }
    if json {
        let mut out = serde_json::to_value(&summary).expect("summary serialises");
        out["run_folder"] = dir.display().to_string().into();
        out["replay"] = replay_command(&scenario, seed).into();
        match drawn {
            Ok(names) => out["reports"] = names.into(),
            Err(why) => out["reports_declined"] = why.into(),
        }
        println!("{out}");
    } else if !result.failures().is_empty() {
        println!("replay     {}", replay_command(&scenario, seed));
    }
    if peak_memory {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: unknown");
        eprintln!("{hwm}");
    }
    if result.as_expected() {
        EXIT_OK
    } else if result.is_unknown() {
        EXIT_UNKNOWN
    } else {
        EXIT_CHECK_FAILED
    }
}

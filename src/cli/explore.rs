//! `faultline explore`: every interleaving of a small configuration, breadth-first.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use faultline_sim::Scenario;
use faultline_sim::explore::{Bounds, Counterexample, DEPTH_MAX, Report, STATES_MAX, Stop, schedule_toml};
use faultline_sim::scenario::Expect;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, Named};

/// Exit code: a counterexample found does not replay from its file (a bug to report).
pub const EXIT_EXPLORE_BROKE: u8 = 4;

/// A counterexample's scenario file and the run folder its replay drew.
struct Written {
    file: PathBuf,
    dir: PathBuf,
}

enum Unwritten {
    /// A file or folder could not be written (the message names it).
    Io(String),
    /// The file does not replay the counterexample.
    Broke(String),
}

/// Writes `cx` as a scenario file (`out`, or runs/NAME.toml), loads it back (which
/// takes its schedule's steps), and runs it into a run folder beside it (NAME/, with
/// its viewer): the replay must fail the check the search saw fail.
fn write_counterexample(scenario: &Scenario, cx: &Counterexample, out: Option<PathBuf>) -> Result<Written, Unwritten> {
    let seeded = super::run::run_name(scenario, scenario.seed);
    let mut name = seeded.strip_suffix(&format!("-seed{}", scenario.seed)).unwrap_or(&seeded).to_string();
    if !name.ends_with(&scenario.variant) {
        name = format!("{name}-{}", scenario.variant);
    }
    let file = out.unwrap_or_else(|| PathBuf::from("runs").join(format!("{name}.toml")));
    let dir = file.with_extension("");
    let io = |what: &Path, e: std::io::Error| Unwritten::Io(format!("error: cannot write {}: {e}", what.display()));
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    }
    std::fs::write(&file, schedule_toml(scenario, cx)).map_err(|e| io(&file, e))?;
    let path = file.display().to_string();
    let written = super::load(Named { scenario: &path, protocol: None, variant: None, expect: None })
        .map_err(Unwritten::Broke)?;
    let result = super::run::run_to_dir(&written, written.seed, &dir).map_err(|e| io(&dir, e))?;
    if !result.failed_checks().iter().any(|f| f.check == cx.failure.check) {
        return Err(Unwritten::Broke(format!(
            "{path}: the replay does not fail {} (it fails: {:?})",
            cx.failure.check,
            result.failures()
        )));
    }
    let verdict = super::report::Verdict::Known(result.linearizability.as_ref());
    if let Err(e) =
        super::report::render_kinds(&dir, &faultline_reports::Window::default(), super::report::Kinds::ALL, verdict)
    {
        eprintln!("warning: the counterexample's run folder {} is incomplete: {e:?}", dir.display());
    }
    Ok(Written { file, dir })
}

/// What the command line asks: the search's bounds as given (memory in MiB, the
/// clients filled in from the scenario when not given), and where the result goes.
pub struct Options {
    pub bounds: Bounds,
    pub memory_mib: u64,
    pub clients: Option<usize>,
    pub jobs: Option<usize>,
    pub out: Option<PathBuf>,
    pub json: bool,
}

fn check_range(what: &str, v: u64, lo: u64, hi: u64) -> Result<(), String> {
    if (lo..=hi).contains(&v) { Ok(()) } else { Err(format!("error: --{what} must be {lo} to {hi}, not {v}")) }
}

pub fn explore(named: Named<'_>, o: Options) -> u8 {
    let b = o.bounds;
    let checked = [
        check_range("depth", b.depth as u64, 1, DEPTH_MAX as u64),
        check_range("states", b.states, 1, STATES_MAX),
        check_range("crashes", u64::from(b.crashes), 0, 16),
        check_range("losses", u64::from(b.losses), 0, 16),
        check_range("duplicates", u64::from(b.duplicates), 0, 16),
        check_range("timers", u64::from(b.timers), 0, 64),
        check_range("memory", o.memory_mib, 64, 1 << 20),
        check_range("clients", o.clients.unwrap_or(1) as u64, 0, 8),
        check_range("ops", b.ops_per_client as u64, 0, 16),
    ];
    if let Some(Err(msg)) = checked.into_iter().find(Result::is_err) {
        eprintln!("{msg}");
        return EXIT_BAD_INPUT;
    }
    let threads = match super::sweep::workers(o.jobs) {
        Ok(j) => j,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    let scenario = match super::load(named) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}");
            return EXIT_BAD_INPUT;
        }
    };
    if scenario.nodes > 7 {
        eprintln!(
            "error: {}: explore searches small configurations (at most 7 nodes); this one has {}",
            scenario.path, scenario.nodes
        );
        eprintln!("  = help: write a copy with nodes = 3 to explore it");
        return EXIT_BAD_INPUT;
    }
    let bounds = Bounds {
        memory_bytes: o.memory_mib << 20,
        clients: match &scenario.workload {
            None => 0,
            // Its listed operations' clients; none for a workload of no operations (a
            // counterexample found without clients, written out); else one.
            Some(w) if !w.script.is_empty() => o.clients.unwrap_or(w.clients.min(8)),
            Some(w) => o.clients.unwrap_or(usize::from(w.ops > 0)),
        },
        threads,
        ..b
    };
    let entry = faultline_protocols::lookup(&scenario.protocol).expect("protocol checked at parse time");
    let bar = if std::io::stderr().is_terminal() && !o.json {
        let b = ProgressBar::with_draw_target(Some(b.depth as u64), ProgressDrawTarget::stderr());
        b.set_style(ProgressStyle::with_template("{bar:30} depth {pos}/{len}  {msg}").expect("template"));
        b
    } else {
        ProgressBar::hidden()
    };
    if !o.json {
        println!(
            "explore    {} ({} {}, {} nodes)  depth {}  states {}  timers {}  crashes {}  losses {}  duplicates {}  threads {}",
            scenario.path,
            scenario.protocol,
            scenario.variant,
            scenario.nodes,
            b.depth,
            b.states,
            b.timers,
            b.crashes,
            b.losses,
            b.duplicates,
            threads
        );
    }
    // Wall clock for the states-per-second figure only; the search never reads it.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut on_level = |r: &Report| {
        bar.set_position(r.depth as u64);
        bar.set_message(format!("{} unique states", r.unique));
    };
    let report = (entry.explore)(&scenario, bounds, &mut on_level);
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let per_sec = (report.unique as f64 / secs) as u64;
    let found = report.counterexample.is_some();
    let as_expected = match scenario.expect {
        Expect::Fail => found,
        Expect::Pass => !found,
    };
    let written = match &report.counterexample {
        None => None,
        Some(cx) => match write_counterexample(&scenario, cx, o.out) {
            Ok(w) => Some(w),
            Err(Unwritten::Io(msg)) => {
                eprintln!("{msg}");
                eprintln!("  = help: pass --out FILE with a place you can write to");
                return EXIT_BAD_INPUT;
            }
            Err(Unwritten::Broke(msg)) => {
                eprintln!("error: {msg}");
                eprintln!("  = note: the explorer found it, but its file does not replay it: please report this");
                return EXIT_EXPLORE_BROKE;
            }
        },
    };
    if o.json {
        let cx = report.counterexample.as_ref().map(|c| {
            serde_json::json!({
                "check": c.failure.check.to_string(),
                "message": c.failure.message,
                "steps": c.schedule,
                "file": written.as_ref().map(|w| w.file.display().to_string()),
                "run_folder": written.as_ref().map(|w| w.dir.display().to_string()),
            })
        });
        let out = serde_json::json!({
            "scenario": scenario.path,
            "protocol": scenario.protocol,
            "variant": scenario.variant,
            "explored": report.explored,
            "unique": report.unique,
            "transitions": report.transitions,
            "depth": report.depth,
            "threads": threads,
            "stop": format!("{:?}", report.stop).to_lowercase(),
            "seconds": secs,
            "unique_per_second": per_sec,
            "counterexample": cx,
        });
        println!("{out}");
    } else {
        println!(
            "states     {} explored, {} unique, {} transitions, {per_sec} unique/s, depth {} {}",
            report.explored,
            report.unique,
            report.transitions,
            report.depth,
            match report.stop {
                Stop::Complete => "(every state within the bounds)",
                Stop::Found => "(stopped at the first failure)",
                Stop::States => "(stopped at the state budget: raise --states)",
                Stop::Memory => "(stopped at the memory budget: raise --memory)",
            }
        );
        match &report.counterexample {
            None => println!("result     nothing fails within the bounds"),
            Some(cx) => {
                println!("result     {} fails after {} steps (a shortest path):", cx.failure.check, cx.steps.len());
                for (i, s) in cx.schedule.iter().enumerate() {
                    println!("  {:>3}. {s}", i + 1);
                }
                println!("  {}", cx.failure.message);
                if let Some(w) = &written {
                    println!("wrote      {}", w.file.display());
                    println!("run folder {}", w.dir.display());
                    println!("replay     faultline run {}", w.file.display());
                }
            }
        }
    }
    if as_expected { EXIT_OK } else { EXIT_CHECK_FAILED }
}

//! `faultline report RUN_DIR` and `faultline run --report`: the message and operation
//! timelines of a run, as SVG files in its folder, and the HTML viewer, drawn from what the run wrote
//! (`trace.jsonl`, `history.json`, `scenario.toml`).

use std::fs;
use std::path::{Path, PathBuf};

use faultline_reports::{Trace, TraceError, Window, message_timeline, operation_timeline, viewer_html};
use faultline_sim::check::import::parse_faultline;
use faultline_sim::check::{LinResult, check_history};
use faultline_sim::time::{Dur, fmt_time};

use super::{EXIT_BAD_INPUT, EXIT_OK, EXIT_TOO_LARGE};

/// Why no report was drawn.
#[derive(Debug)]
pub enum ReportError {
    /// The folder is not a run folder, or a file in it is malformed or unwritable.
    Bad(String),
    /// The run is too large to draw: nothing is wrong with it.
    TooLarge(String),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Bad(m) | ReportError::TooLarge(m) => f.write_str(m),
        }
    }
}

impl From<String> for ReportError {
    fn from(m: String) -> ReportError {
        ReportError::Bad(m)
    }
}

/// The message for a file of a run folder that cannot be read.
fn cannot_read(path: &Path, e: &dyn std::fmt::Display) -> String {
    format!(
        "error: cannot read {}: {e}\n  = help: give a run folder, as `faultline run` writes (runs/NAME-seedN)",
        path.display()
    )
}

fn read(dir: &Path, name: &str) -> Result<String, String> {
    let path = dir.join(name);
    fs::read_to_string(&path).map_err(|e| cannot_read(&path, &e))
}

/// The trace, streamed: what `window` draws of it, or why it cannot be drawn.
fn read_trace(dir: &Path, window: &Window) -> Result<Trace, ReportError> {
    let path = dir.join("trace.jsonl");
    let file = fs::File::open(&path).map_err(|e| cannot_read(&path, &e))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(ReportError::Bad(cannot_read(&path, &"it is a folder")));
    }
    Trace::read(std::io::BufReader::with_capacity(1 << 16, file), window).map_err(|e| match e {
        TraceError::Malformed(m) => ReportError::Bad(format!(
            "error: {}: {m}\n  = help: reports read the trace a run wrote; run the scenario again to write it anew",
            path.display()
        )),
        TraceError::TooLarge { overflow_at, .. } => ReportError::TooLarge(format!(
            "reports not drawn: {}: {e}\n  = help: the trace is fine, only too long to draw whole; draw a window of it, e.g. `faultline report {} \
             --from {} --to {}`, or fewer messages with --only KIND or --only nN",
            path.display(),
            dir.display(),
            fmt_time(window.from),
            fmt_time(
                window.from.saturating_add(overflow_at.saturating_sub(window.from) / 2).max(window.from + 1_000_000)
            ),
        )),
    })
}

/// Which reports to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kinds {
    pub svg: bool,
    pub html: bool,
}

impl Kinds {
    pub const ALL: Kinds = Kinds { svg: true, html: true };

    pub fn parse(text: &str) -> Result<Kinds, String> {
        match text {
            "all" => Ok(Kinds::ALL),
            "svg" => Ok(Kinds { svg: true, html: false }),
            "html" => Ok(Kinds { svg: false, html: true }),
            other => Err(format!(
                "error: unknown report \"{other}\"\n  = help: --report all (the default), --report svg or --report html"
            )),
        }
    }
}

/// The linearizability verdict to draw.
#[derive(Clone, Copy, Debug)]
pub enum Verdict<'a> {
    /// The run just computed it (`faultline run --report`): no need to search again.
    Known(Option<&'a LinResult>),
    /// Check `history.json` again (`faultline report` on a folder).
    Recheck,
}

/// Draws both timelines and the viewer of the run in `dir` into `dir`; returns the
/// files written.
pub fn render(dir: &Path, window: &Window) -> Result<Vec<PathBuf>, ReportError> {
    render_kinds(dir, window, Kinds::ALL, Verdict::Recheck)
}

/// [`render`], drawing only `kinds`.
pub fn render_kinds(
    dir: &Path,
    window: &Window,
    kinds: Kinds,
    verdict: Verdict<'_>,
) -> Result<Vec<PathBuf>, ReportError> {
    let trace = read_trace(dir, window)?;
    let scenario_src = read(dir, "scenario.toml")?;
    let scenario = faultline_sim::scenario::parse(
        &dir.join("scenario.toml").to_string_lossy(),
        &scenario_src,
        &faultline_protocols::catalog(),
    )
    .map_err(|d| d.to_string())?;
    let history_path = dir.join("history.json");
    let history =
        parse_faultline(&history_path.to_string_lossy(), &read(dir, "history.json")?).map_err(|d| d.to_string())?;
    let checked;
    let verdict = match verdict {
        Verdict::Known(v) => v,
        Verdict::Recheck => {
            checked = scenario.linearizable.then(|| check_history(&history, &scenario.budget));
            checked.as_ref()
        }
    };
    let mut files: Vec<(&str, String)> = Vec::new();
    if kinds.svg {
        files.push((
            "messages.svg",
            message_timeline(&trace, scenario.nodes, window).map_err(|e| format!("error: {e}"))?,
        ));
        files.push((
            "operations.svg",
            operation_timeline(&history, verdict, window).map_err(|e| format!("error: {e}"))?,
        ));
        if scenario.protocol == "chash" {
            files.push(("migration.svg", migration_svg(&scenario)?));
        }
        if faultline_reports::stream::has_output(&trace) {
            let title = format!("records in the output over time: {} ({})", scenario.name, scenario.variant);
            let chart = faultline_reports::stream::output_chart(&title, &trace, window);
            files.push(("output.svg", chart.map_err(|e| format!("error: {e}"))?));
        }
    }
    if kinds.html {
        // The failures as the run summary words them, for the viewer's header.
        let failures: Vec<String> = read(dir, "summary.json")
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| {
                v["failures"].as_array().map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
            })
            .unwrap_or_default();
        let title = format!("{} ({})", scenario.name, dir.display());
        let viewer = viewer_html(&title, &trace, scenario.nodes, &history, verdict, &failures)
            .map_err(|e| format!("error: {e}"))?;
        files.push(("viewer.html", viewer));
    }
    let mut written = Vec::new();
    for (name, svg) in files {
        let path = dir.join(name);
        fs::write(&path, svg).map_err(|e| format!("error: cannot write {}: {e}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// The views a scenario goes through: its `members`, then each `join` and `leave`.
pub fn views(scenario: &faultline_sim::Scenario) -> Vec<Vec<faultline_sim::NodeId>> {
    use faultline_sim::scenario::FaultAction;
    let mut views = vec![scenario.members.clone()];
    for f in &scenario.faults {
        let mut next = views.last().expect("the first view").clone();
        match f.action {
            FaultAction::Join(n) if !next.contains(&n) => next.push(n),
            FaultAction::Leave(n) if next.contains(&n) => next.retain(|m| *m != n),
            _ => continue,
        }
        next.sort();
        views.push(next);
    }
    views
}

/// `migration.svg` of a sharded-store scenario: keys per node in each view, and
/// what moves between them.
fn migration_svg(scenario: &faultline_sim::Scenario) -> Result<String, String> {
    use faultline_reports::hashing::{View, migration_chart};
    let keys = scenario.workload.as_ref().map_or(5, |w| w.keys);
    let plan = faultline_protocols::chash::store::migrations(&scenario.variant, keys, &views(scenario));
    let chart: Vec<View> = plan
        .iter()
        .map(|m| View {
            title: if m.view == 0 { "view 0 (start)".into() } else { format!("view {} ({})", m.view, m.change) },
            owned: (0..scenario.nodes).map(|n| m.members.iter().any(|x| x.0 == n).then(|| m.owned[n])).collect(),
            flows: m.flows.iter().map(|((a, b), c)| (a.0, b.0, *c)).collect(),
        })
        .collect();
    let title = format!(
        "{keys} keys over {} ({}): keys per node in each view, and what moved",
        scenario.name, scenario.variant
    );
    migration_chart(&title, &chart).map_err(|e| format!("error: {e}"))
}

/// Parses the `--from` / `--to` / `--only` options.
pub fn window(from: Option<&str>, to: Option<&str>, only: &[String]) -> Result<Window, String> {
    let time = |flag: &str, v: Option<&str>| -> Result<Option<u64>, String> {
        v.map(|s| Dur::parse(s).map(|d| d.0).map_err(|e| format!("error: {flag} {s}: {e}\n  = help: e.g. {flag} 1.5s")))
            .transpose()
    };
    let (from, to) = (time("--from", from)?, time("--to", to)?);
    if let (Some(a), Some(b)) = (from, to)
        && a >= b
    {
        return Err("error: --from must be before --to".into());
    }
    Ok(Window { from: from.unwrap_or(0), to, only: only.to_vec() })
}

pub fn report(dir: &Path, from: Option<&str>, to: Option<&str>, only: &[String]) -> u8 {
    let result = window(from, to, only).map_err(ReportError::Bad).and_then(|w| render(dir, &w));
    match result {
        Ok(files) => {
            for f in files {
                println!("wrote      {}", f.display());
            }
            EXIT_OK
        }
        Err(ReportError::TooLarge(msg)) => {
            eprintln!("{msg}");
            EXIT_TOO_LARGE
        }
        Err(ReportError::Bad(msg)) => {
            eprintln!("{msg}");
            EXIT_BAD_INPUT
        }
    }
}

//! Finds a scenario by path or bundled name and parses it against the registry, and
//! says how to replay one of its seeds.

use std::path::Path;

use faultline_sim::Scenario;
use faultline_sim::check::linearizability::Budget;
use faultline_sim::diag::{Diagnostic, closest};

include!(concat!(env!("OUT_DIR"), "/bundled.rs"));

/// Loads a scenario file, or a bundled scenario by name (`pb/basic`,
/// `scenarios/pb/basic.toml`). Errors are rendered and ready to print.
pub fn load_scenario(arg: &str) -> Result<Scenario, String> {
    load(Named { scenario: arg, protocol: None, variant: None, expect: None })
}

/// A scenario as the command line names it: a file or a bundled name, and the
/// protocol to run it on instead of the one it names (`--protocol`).
#[derive(Clone, Copy, Debug)]
pub struct Named<'a> {
    /// The file, or the bundled scenario's name.
    pub scenario: &'a str,
    /// `--protocol`: a registered protocol to run it on.
    pub protocol: Option<&'a str>,
    /// `--variant`: a variant of it to run instead of the file's.
    pub variant: Option<&'a str>,
    /// `--expect`: what the checks must come out as, instead of the file's `expect`.
    pub expect: Option<faultline_sim::scenario::Expect>,
}

/// Loads the scenario `named` names, on the protocol it asks for.
pub fn load(named: Named<'_>) -> Result<Scenario, String> {
    let arg = named.scenario;
    let path = Path::new(arg);
    let (display, text) = if path.exists() {
        match super::input::read_text(path, "a scenario", super::input::SCENARIO_BYTES_MAX) {
            Ok(t) => (arg.to_string(), t),
            Err(d) => return Err(d.to_string()),
        }
    } else {
        let name = arg.trim_start_matches("./").trim_start_matches("scenarios/").trim_end_matches(".toml");
        match BUNDLED.iter().find(|(n, _)| *n == name) {
            Some((n, t)) => (format!("scenarios/{n}.toml"), t.to_string()),
            None => {
                let names: Vec<&str> = BUNDLED.iter().map(|(n, _)| *n).collect();
                let hint = match closest(name, names.iter().copied()) {
                    Some(n) => format!("did you mean `{n}`?"),
                    None => "`faultline list` shows the bundled scenarios".to_string(),
                };
                let d = Diagnostic::file(arg, format!("no scenario file or bundled scenario named `{arg}`"))
                    .with_help(hint);
                return Err(d.to_string());
            }
        }
    };
    let instead =
        faultline_sim::scenario::Instead { protocol: named.protocol, variant: named.variant, expect: named.expect };
    let scenario = faultline_sim::scenario::parse_as(&display, &text, &faultline_protocols::catalog(), instead)
        .map_err(|d| d.to_string())?;
    // A schedule's steps are checked by taking them: a step that cannot be taken is
    // an error at its place in the file.
    if let (Some(schedule), Err(e)) = (&scenario.schedule, faultline_protocols::check_schedule(&scenario)) {
        let span = schedule.spans.get(e.step).cloned().unwrap_or(0..0);
        let d = Diagnostic::at(&display, &text, span, format!("schedule step {}: {}", e.step + 1, e.message))
            .with_help("steps are taken in order, each as `faultline explore` words it; a step that other steps must come before cannot come first");
        return Err(d.to_string());
    }
    Ok(scenario)
}

/// The text of a panic, for a summary line.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// The replay command for a scenario and seed; a checker budget other than the
/// default (from the file or from `--budget`) goes with it.
pub fn replay_command(scenario: &Scenario, seed: u64) -> String {
    let budget = if scenario.budget == Budget::default() {
        String::new()
    } else {
        format!(" --budget {}", scenario.budget.to_arg())
    };
    let mut protocol = match &scenario.file_protocol {
        Some(_) => format!(" --protocol {}", scenario.protocol),
        None => String::new(),
    };
    if scenario.file_variant.is_some() {
        protocol.push_str(&format!(" --variant {}", scenario.variant));
    }
    if scenario.file_expect.is_some() {
        protocol.push_str(&format!(" --expect {}", scenario.expect));
    }
    format!("{} run {} --seed {seed}{protocol}{budget}", super::program(), scenario.path)
}

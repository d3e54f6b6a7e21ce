//! `faultline check`: judges a history recorded by faultline or by another tool.

use faultline_sim::check::import::{Format, Imported, import};
use faultline_sim::check::linearizability::{Budget, LinResult, RegisterModel, check};
use faultline_sim::diag::{Diagnostic, closest};

use super::{EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNKNOWN};

const MODELS: &[&str] = &["kv", "cas-register", "register"];

fn bad(d: Diagnostic) -> u8 {
    eprintln!("{d}");
    EXIT_BAD_INPUT
}

fn choose<'a>(path: &str, what: &str, given: &str, options: &'a [&'a str]) -> Result<&'a str, Diagnostic> {
    options.iter().copied().find(|o| *o == given).ok_or_else(|| {
        let hint = closest(given, options.iter().copied()).map_or(String::new(), |c| format!("did you mean `{c}`? "));
        Diagnostic::file(path, format!("unknown {what} `{given}`"))
            .with_help(format!("{hint}{what}s: {}", options.join(", ")))
    })
}

pub fn run(path: &str, format: Option<String>, model: Option<String>, budget: Option<Budget>, json: bool) -> u8 {
    let budget = budget.unwrap_or_default();
    let src = match super::input::read_text(std::path::Path::new(path), "a history", super::input::HISTORY_BYTES_MAX) {
        Ok(s) => s,
        Err(d) => return bad(d),
    };
    if src.trim().is_empty() {
        println!("history    {path} (empty)");
        println!("verdict    linearizable (an empty history has nothing to order)");
        return EXIT_OK;
    }
    let format = match format {
        Some(f) => match choose(path, "format", &f, Format::NAMES) {
            Ok(name) => Format::from_name(name).expect("a listed format"),
            Err(d) => return bad(d),
        },
        None => match Format::detect(&src) {
            Some(f) => f,
            None => {
                return bad(Diagnostic::file(path, "cannot tell this file's format")
                    .with_help("pass --format faultline, jepsen-etcd or porcupine-kv"));
            }
        },
    };
    let imported = match import(path, &src, format) {
        Ok(i) => i,
        Err(d) => return bad(d),
    };
    // An image store's lists span images: judged against the rest of the history.
    let lists = match format {
        Format::Faultline => faultline_sim::check::import::parse_faultline(path, &src).ok().and_then(|h| {
            let count = h.ops.iter().filter(|o| matches!(o.op, faultline_sim::Op::List { .. }) && o.complete.is_some());
            let count = count.count();
            (count > 0).then(|| (count, faultline_sim::check::images::lists_agree(&h)))
        }),
        _ => None,
    };
    let default_model = match imported {
        Imported::Kv(_) => "kv",
        Imported::Register(_) => "cas-register",
    };
    let model = match model {
        Some(m) => match choose(path, "model", &m, MODELS) {
            Ok(m) => m,
            Err(d) => return bad(d),
        },
        None => default_model,
    };
    let ops = imported.len();
    // For the line-oriented formats an operation's call time is its line (0-based).
    let calls = imported.calls();
    let line_of = |id: usize| match (format, calls.get(&id)) {
        (Format::Faultline, _) | (_, None) => String::new(),
        (_, Some(call)) => format!(" (invoked on line {})", call + 1),
    };
    let result = match (imported, model) {
        (Imported::Register(o), "register") => check(&RegisterModel { cas: false }, o, &budget),
        (imported @ Imported::Kv(_), "kv") | (imported @ Imported::Register(_), "cas-register") => {
            imported.check(&budget)
        }
        _ => {
            return bad(Diagnostic::file(path, format!("the {model} model does not fit a {} history", format.name()))
                .with_help(format!("leave --model out to use `{default_model}`")));
        }
    };
    if json {
        let mut v = serde_json::to_value(&result).expect("verdict serialises");
        if let (Some((count, agree)), Some(map)) = (&lists, v.as_object_mut()) {
            let mut l = serde_json::json!({ "agree": agree.is_ok(), "count": count });
            if let Err(why) = agree {
                l["why"] = serde_json::Value::String(why.clone());
            }
            map.insert("lists".into(), l);
        }
        println!("{}", serde_json::to_string_pretty(&v).expect("verdict serialises"));
    } else {
        println!("history    {path} ({}, {ops} operations)", format.name());
        println!("model      {model}{}", if model == "kv" { " (checked key by key)" } else { "" });
        match &result {
            LinResult::Linearizable => println!("verdict    linearizable"),
            LinResult::NotLinearizable { key, why } => {
                println!("verdict    NOT linearizable");
                if !key.is_empty() {
                    println!("key        {key:?}");
                }
                println!("prefix     {} operations linearize", why.prefix.len());
                println!("state      {} after them", why.state);
                println!("stuck      operation {}{} cannot come next: {}", why.op, line_of(why.op), why.needs);
                if let Some(cause) = &why.cause {
                    println!("cause      {}", cause.describe(|id| format!("operation {id}{}", line_of(id))));
                }
            }
            LinResult::Unknown { undecided } => {
                println!("verdict    unknown: the search budget ({budget}) ran out");
                for u in undecided {
                    let key = if u.key.is_empty() { String::new() } else { format!("key {:?}: ", u.key) };
                    let e = &u.explored;
                    println!(
                        "undecided  {key}{} budget spent after {} steps, {} states, {:.1} MiB",
                        e.spent,
                        e.steps,
                        e.states,
                        e.memory_bytes as f64 / f64::from(1 << 20)
                    );
                }
                println!("hint       raise it with --budget (steps=N,memory=SIZE,time=DURATION)");
            }
        }
    }
    if let Some((count, agree)) = &lists
        && !json
    {
        match agree {
            Ok(()) => println!("lists      {count} lists agree with the history (list-by-tag)"),
            Err(why) => println!("lists      DISAGREE: {why}"),
        }
    }
    let lists_fail = lists.as_ref().is_some_and(|(_, a)| a.is_err());
    match result {
        LinResult::Linearizable if lists_fail => EXIT_CHECK_FAILED,
        LinResult::Linearizable => EXIT_OK,
        LinResult::NotLinearizable { .. } => EXIT_CHECK_FAILED,
        LinResult::Unknown { .. } => EXIT_UNKNOWN,
    }
}

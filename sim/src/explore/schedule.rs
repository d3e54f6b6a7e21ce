//! A `[schedule]`: a path through a small configuration written as steps, in the
//! words [`Step`] prints, which [`replay`] takes one by one, writing the trace and
//! history of an ordinary run; and [`schedule_toml`], a counterexample the search
//! found written as such a scenario file.

use super::*;

/// `cx` as a scenario file that replays it: `original`'s table with the search's
/// clients and operations listed, its path as the `[schedule]`, and what the seed
/// would draw (nemesis, faults, network, clocks) taken out.
pub fn schedule_toml(original: &Scenario, cx: &Counterexample) -> String {
    use crate::shrink::{expect_fail, listed_workload, ordered_toml, str};
    let mut doc: toml::Table = original.source.parse().unwrap_or_default();
    doc.insert("name".into(), str(&format!("{} ({}: a path explore found)", original.name, original.variant)));
    doc.insert("protocol".into(), str(&original.protocol));
    doc.insert("variant".into(), str(&original.variant));
    doc.insert("seed".into(), toml::Value::Integer(i64::try_from(original.seed).unwrap_or(i64::MAX)));
    // Long enough for every step (each moves the clocks STEP_NS), as summaries show it.
    let steps = cx.schedule.len() as u64 + 2;
    doc.insert("duration".into(), str(&crate::shrink::dur(steps.saturating_mul(STEP_NS))));
    for key in ["seeds", "nemesis", "faults", "network", "clocks"] {
        doc.remove(key);
    }
    listed_workload(&mut doc, cx.clients, &cx.operations);
    expect_fail(&mut doc, true);
    let mut schedule = toml::Table::new();
    schedule.insert("steps".into(), toml::Value::Array(cx.schedule.iter().map(|s| str(s)).collect()));
    doc.insert("schedule".into(), toml::Value::Table(schedule));
    let head = format!(
        "# Found by `faultline explore {}` ({} clients): a shortest path, {} steps, to\n\
         # {}.\n\
         # `faultline run` takes these steps in order (the seed draws nothing) and\n\
         # draws the run; edit them to try another order.\n",
        original.path,
        cx.clients,
        cx.schedule.len(),
        cx.failure.message.replace('\n', " "),
    );
    ordered_toml(original, head, doc)
}

/// Why a `[schedule]` could not be followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    /// The step, from 0.
    pub step: usize,
    /// What is wrong, and what could be taken instead.
    pub message: String,
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "step {}: {}", self.step + 1, self.message)
    }
}

/// Why step `text` cannot be taken, and what can.
fn cannot_take(text: &str, words: &str, matching: usize, possible: &[String]) -> String {
    if matching > 0 {
        return format!("\"{text}\": only {matching} of the steps possible here read \"{words}\"");
    }
    let mut listed: Vec<&String> = possible.iter().collect();
    listed.sort();
    listed.dedup();
    let shown: Vec<String> = listed.iter().take(12).map(|d| format!("\"{d}\"")).collect();
    let more = if listed.len() > 12 { format!(" and {} more", listed.len() - 12) } else { String::new() };
    if shown.is_empty() {
        format!("\"{text}\" cannot be taken here: nothing can happen any more")
    } else {
        format!("\"{text}\" cannot be taken here; the steps that can: {}{more}", shown.join(", "))
    }
}

/// Splits a step's words from its ` (#k)` suffix (1 without one).
fn nth(text: &str) -> (&str, usize) {
    if let Some(head) = text.strip_suffix(')')
        && let Some((words, k)) = head.rsplit_once(" (#")
        && let Ok(k) = k.parse::<usize>()
        && k >= 1
    {
        return (words.trim_end(), k);
    }
    (text, 1)
}

/// Runs `scenario`'s `[schedule]`: exactly its steps, in order, each one a step the
/// explorer could take at that point (with no fault budget), writing `trace` and the
/// clients' history as a run of the engine does. The run stops at the first broken
/// invariant, like the engine's; its history is then checked as the scenario asks
/// (linearizability, a bank's conserved total). A step that cannot be taken is an
/// error naming it and what could be taken instead.
pub fn replay<P: Protocol>(
    scenario: &Scenario,
    config: P::Config,
    seed: u64,
    trace: Trace,
) -> Result<RunResult, ScheduleError> {
    let steps = scenario.schedule.as_ref().map_or(&[][..], |s| &s.steps[..]);
    let clients = scenario.workload.as_ref().map_or(0, |w| if w.script.is_empty() { 0 } else { w.clients });
    let bounds = Bounds {
        depth: usize::MAX,
        states: u64::MAX,
        crashes: u32::MAX,
        losses: u32::MAX,
        duplicates: u32::MAX,
        timers: u32::MAX,
        memory_bytes: u64::MAX,
        ops_per_client: 0,
        clients,
        threads: 1,
    };
    let explorer = Explorer::<P>::new(scenario, config, bounds);
    *explorer.log.borrow_mut() =
        Some(Log { trace, history: History::default(), ops: vec![None; clients], stats: Stats::default() });
    let mut broken = None;
    let mut w = None;
    match explorer.initial(scenario) {
        Err(b) => broken = Some(b),
        Ok(mut world) => {
            for (k, text) in steps.iter().enumerate() {
                let (words, n) = nth(text);
                let same = explorer.read_alike(&world, words);
                let Some(&a) = same.get(n - 1) else {
                    let possible: Vec<String> = explorer
                        .actions(&world)
                        .into_iter()
                        .map(|a| explorer.describe(&world, a).to_string())
                        .collect();
                    return Err(ScheduleError { step: k, message: cannot_take(text, words, same.len(), &possible) });
                };
                if let Err(b) = explorer.apply(&mut world, a) {
                    broken = Some(b);
                    break;
                }
            }
            w = Some(world);
        }
    }
    let Log { mut trace, mut history, ops, mut stats } = explorer.log.borrow_mut().take().expect("the replay's log");
    let now = w.as_ref().map_or(STEP_NS, World::now);
    if let Some((t, v)) = &broken {
        stats.events += 1;
        trace.emit::<P::Msg, P::Timer>(*t, || TraceEvent::Violation { invariant: &v.invariant, detail: &v.detail });
    }
    for op_id in ops.into_iter().flatten() {
        let op = history.ops[op_id].op.clone();
        history.complete(op_id, now, Completion::gave_up(&op, GaveUp::RunEnded));
    }
    stats.events += 1;
    let events = stats.events;
    trace.emit::<(), ()>(now, || TraceEvent::End { events });
    let mut result = RunResult::empty(seed, scenario.expect);
    match trace.finish() {
        Ok((h, l)) if trace.is_on() => (result.trace_hash, result.trace_lines) = (Some(h), l),
        Ok(_) => {}
        Err(e) => result.trace_error = Some(e.to_string()),
    }
    result.end_time = now;
    result.last_event = now;
    // As the engine judges a run's history, broken invariant or not.
    let (linearizability, total) = crate::engine::history_checks(scenario, &history);
    result.linearizability = linearizability;
    result.assertion_failures.extend(total);
    if scenario.invariants
        && let Some(w) = &w
    {
        let mut m = w.judge.measures(now);
        m.extend(P::measures(&Cluster::shared(&w.states, &DiskView(&w.nodes), 0, now)));
        result.measures = m;
    }
    result.violation = broken;
    result.history = history;
    result.stats = stats;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reads_back_with_its_number() {
        assert_eq!(nth("Append n1 -> n2 arrives (#2)"), ("Append n1 -> n2 arrives", 2));
        assert_eq!(nth("Append n1 -> n2 arrives"), ("Append n1 -> n2 arrives", 1));
        assert_eq!(nth("c1 asks n1: put k (#x)"), ("c1 asks n1: put k (#x)", 1));
        assert_eq!(nth("n1 crashes (#0)"), ("n1 crashes (#0)", 1));
    }
}

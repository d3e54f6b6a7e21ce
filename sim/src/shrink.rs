//! From a failing seed to the smallest scenario that still fails the same way.
//!
//! A failing seed of a random scenario is thousands of events, dozens of faults and
//! hundreds of operations; the bug usually needs a handful. [`shrink`] first writes
//! the seed's random choices out: the faults the run carried out (the nemesis'
//! draws, targets resolved to nodes, as [`crate::RunResult::applied`]) become a
//! `[[faults]]` schedule, and the operations the clients invoked become
//! `[[workload.operations]]`. That explicit scenario replays the seed event for
//! event. Then it removes what the failure does not need (delta debugging, Zeller's
//! ddmin): faults, operations, network noise and clock skew, time, clients and
//! nodes, keeping at every step the same failed [`Check`] (the same invariant, say).
//! [`Shrunk::toml`] is the result as a scenario file that fails on its own.
//!
//! The shrinker sees the protocol only through a [`Host`]: it runs scenarios and
//! parses files, so a student's protocol shrinks like a bundled one.

use std::collections::BTreeSet;

use crate::engine::RunResult;
use crate::protocol::NodeId;
use crate::scenario::{Fault, FaultAction, Scenario, Scripted, Target};
use crate::{Check, Failure};

/// What the shrinker needs of the protocol's side: running a scenario, and reading
/// a file back.
pub trait Host {
    /// Runs `scenario` at `seed`; with `record`, [`RunResult::applied`] lists the
    /// faults the run carried out.
    fn run(&self, scenario: &Scenario, seed: u64, record: bool) -> RunResult;
    /// Parses a scenario file's text.
    fn parse(&self, path: &str, text: &str) -> Result<Scenario, String>;
    /// The fewest nodes `scenario`'s protocol runs on ([`crate::Protocol::MIN_NODES`]):
    /// the node stage shrinks no further, so the result still parses.
    fn min_nodes(&self, _scenario: &Scenario) -> usize {
        1
    }
}

/// One step of progress, for a progress bar.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Runs so far.
    pub runs: u64,
    /// What is being shrunk now.
    pub stage: Stage,
    /// Faults left.
    pub faults: usize,
    /// Operations left.
    pub ops: usize,
}

/// What the shrinker is removing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Replaying the seed with its faults and operations written out.
    Explicit,
    /// Loss, duplication, reordering and clock skew.
    Noise,
    /// Faults.
    Faults,
    /// Operations.
    Ops,
    /// Time after the failure.
    Time,
    /// Clients without operations.
    Clients,
    /// Nodes.
    Nodes,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Explicit => "writing the seed out",
            Stage::Noise => "network noise and clocks",
            Stage::Faults => "faults",
            Stage::Ops => "operations",
            Stage::Time => "time",
            Stage::Clients => "clients",
            Stage::Nodes => "nodes",
        })
    }
}

/// Why a seed could not be shrunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShrinkError {
    /// The seed passes every check: there is nothing to keep.
    Passes,
    /// With its faults and operations written out, the seed no longer fails the same
    /// way (it should replay event for event; this is a bug to report).
    NotReplayed {
        /// The check the seed failed.
        check: Check,
    },
    /// The shrunk scenario, written as a file, did not parse or did not fail.
    Written {
        /// What went wrong.
        why: String,
        /// The file's text.
        toml: String,
    },
}

impl std::fmt::Display for ShrinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShrinkError::Passes => f.write_str("this seed passes every check: there is no failure to shrink"),
            ShrinkError::NotReplayed { check } => write!(
                f,
                "with its faults and operations written out, the seed no longer fails {check}; please report it"
            ),
            ShrinkError::Written { why, .. } => {
                write!(f, "the shrunk scenario, written out, {why}; please report it")
            }
        }
    }
}

impl std::error::Error for ShrinkError {}

/// The parts of a scenario the shrinker removes from.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    faults: Vec<Fault>,
    ops: Vec<Scripted>,
    nodes: usize,
    clients: usize,
    duration: u64,
    /// Loss, duplication and reordering off.
    quiet: bool,
    /// Every clock at the true time.
    true_clocks: bool,
    /// Only the failing check is judged: assertions and liveness are dropped.
    only_target: bool,
}

/// What [`shrink`] found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The check that fails, before and after.
    pub check: Check,
    /// How it fails in the shrunk scenario.
    pub failure: Failure,
    /// Runs the shrinker made.
    pub runs: u64,
    /// Faults before (carried out by the seed) and after.
    pub faults: (usize, usize),
    /// Operations before (invoked in the seed) and after.
    pub ops: (usize, usize),
    /// Nodes before and after.
    pub nodes: (usize, usize),
    /// Clients before and after.
    pub clients: (usize, usize),
    /// Duration before and after, in nanoseconds.
    pub duration: (u64, u64),
    /// The shrunk scenario, as it runs.
    pub scenario: Scenario,
    /// The shrunk scenario as a file: it fails on its own, with one seed.
    pub toml: String,
    /// The seed it fails with.
    pub seed: u64,
}

/// The failure the shrinker keeps: the first failed check of the seed.
fn target(r: &RunResult) -> Option<Failure> {
    r.failed_checks().into_iter().next()
}

/// Whether two checks are the same failure: an assertion's label names the file's
/// line, which moves when the file is written out, so assertions compare by the rest.
pub fn same_check(a: &Check, b: &Check) -> bool {
    match (a, b) {
        (Check::Assertion(x), Check::Assertion(y)) => {
            let rest = |s: &str| s.split_once(": ").map_or(s.to_string(), |(_, r)| r.to_string());
            rest(x) == rest(y)
        }
        _ => a == b,
    }
}

struct Shrinker<'a> {
    host: &'a dyn Host,
    base: Scenario,
    seed: u64,
    check: Check,
    runs: u64,
    progress: &'a mut dyn FnMut(&Progress),
    stage: Stage,
    /// The last failure seen for the current best plan.
    failure: Option<Failure>,
    /// When the current best plan's run ended.
    end: u64,
}

impl Shrinker<'_> {
    fn scenario(&self, plan: &Plan) -> Scenario {
        let mut s = self.base.clone();
        s.nemesis = None;
        s.faults = plan.faults.clone();
        s.faults.sort_by_key(|f| f.at);
        s.duration = plan.duration;
        s.seeds = None;
        s.seed = self.seed;
        if plan.nodes < s.nodes {
            let n = plan.nodes;
            let old = s.nodes;
            s.network.links = (0..n * n).map(|i| s.network.links[(i / n) * old + i % n]).collect();
            s.clocks.truncate(n);
            s.members.retain(|m| m.0 < n);
            s.nodes = n;
        }
        if plan.quiet {
            for l in s.network.links.iter_mut().chain(std::iter::once(&mut s.network.client_link)) {
                l.loss = crate::time::Ppm(0);
                l.duplicate = crate::time::Ppm(0);
                l.reorder = crate::time::Ppm(0);
            }
        }
        if plan.true_clocks {
            s.clocks = vec![(0, 0); s.nodes];
        }
        if plan.only_target {
            s.asserts.clear();
            s.liveness = None;
        }
        if let Some(w) = &mut s.workload {
            w.script = plan.ops.clone();
            w.ops = plan.ops.len() as u64;
            w.clients = plan.clients.max(1);
            w.stop = u64::MAX;
        }
        s
    }

    /// Whether `plan` still fails the same check; keeps its failure if so.
    fn fails(&mut self, plan: &Plan) -> bool {
        let s = self.scenario(plan);
        let r = self.host.run(&s, self.seed, false);
        self.runs += 1;
        let found = r.failed_checks().into_iter().find(|f| same_check(&f.check, &self.check));
        let ok = found.is_some();
        if ok {
            self.failure = found;
            self.end = r.violation.as_ref().map_or(r.end_time, |v| v.0);
        }
        (self.progress)(&Progress {
            runs: self.runs,
            stage: self.stage,
            faults: plan.faults.len(),
            ops: plan.ops.len(),
        });
        ok
    }

    /// Delta debugging over one list of the plan: the smallest sublist (one removal
    /// from it no longer fails) that keeps the failure.
    fn ddmin<T: Clone>(&mut self, plan: &mut Plan, get: fn(&mut Plan) -> &mut Vec<T>) {
        let mut chunks = 2usize;
        loop {
            let len = get(plan).len();
            if len == 0 {
                return;
            }
            let chunks_now = chunks.min(len);
            let size = len.div_ceil(chunks_now);
            let mut removed_one = false;
            let mut start = 0;
            while start < get(plan).len() {
                let mut candidate = plan.clone();
                let list = get(&mut candidate);
                let end = (start + size).min(list.len());
                list.drain(start..end);
                if self.fails(&candidate) {
                    *plan = candidate;
                    removed_one = true;
                } else {
                    start = end;
                }
            }
            if removed_one {
                chunks = (chunks_now - 1).max(2);
            } else if size == 1 {
                return;
            } else {
                chunks = (chunks_now * 2).min(get(plan).len());
            }
        }
    }

    fn try_set(&mut self, plan: &mut Plan, change: impl FnOnce(&mut Plan)) -> bool {
        let mut candidate = plan.clone();
        change(&mut candidate);
        if candidate != *plan && self.fails(&candidate) {
            *plan = candidate;
            true
        } else {
            false
        }
    }

    fn noise(&mut self, plan: &mut Plan) {
        self.stage = Stage::Noise;
        self.try_set(plan, |p| p.quiet = true);
        self.try_set(plan, |p| p.true_clocks = true);
        let clock = |f: &Fault| matches!(f.action, FaultAction::Clock { .. });
        self.try_set(plan, |p| p.faults.retain(|f| !clock(f)));
    }

    /// Ends the run soon after its failure: at the failure itself for an invariant
    /// (the run stops there), else the latest time that still fails, by halving.
    /// Then rounds every time to the millisecond, if that still fails: a file people read.
    fn time(&mut self, plan: &mut Plan) {
        self.stage = Stage::Time;
        self.end_early(plan);
        let ms = crate::time::NANOS_PER_MILLI;
        let round = |t: u64| t.saturating_add(ms / 2) / ms * ms;
        self.try_set(plan, |p| {
            for f in &mut p.faults {
                f.at = round(f.at);
            }
            for o in &mut p.ops {
                o.at = round(o.at);
            }
            p.duration = p.duration.div_ceil(ms).saturating_mul(ms);
        });
        self.try_set(plan, |p| p.duration = p.duration.div_ceil(ms).saturating_mul(ms));
    }

    fn end_early(&mut self, plan: &mut Plan) {
        let last_input = plan.faults.iter().map(|f| f.at).chain(plan.ops.iter().map(|o| o.at)).max().unwrap_or(0);
        let floor = last_input.max(self.end.min(plan.duration)).saturating_add(1);
        let mut lo = floor.min(plan.duration);
        let mut hi = plan.duration;
        // Try the floor first (an invariant's failure time), then halve toward it.
        if self.try_set(plan, |p| p.duration = lo) {
            return;
        }
        for _ in 0..20 {
            if hi <= lo + crate::time::NANOS_PER_MILLI {
                break;
            }
            let mid = lo + (hi - lo) / 2;
            if self.try_set(plan, |p| p.duration = mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    }

    /// Renumbers the clients that still have operations as c1, c2, ...
    fn clients(&mut self, plan: &mut Plan) {
        self.stage = Stage::Clients;
        let used: BTreeSet<usize> = plan.ops.iter().map(|o| o.client).collect();
        let map: Vec<usize> = used.iter().copied().collect();
        self.try_set(plan, |p| {
            for o in &mut p.ops {
                o.client = map.iter().position(|&c| c == o.client).expect("a used client");
            }
            // A scenario without clients (a protocol that serves none) keeps none.
            p.clients = map.len().max(1).min(p.clients);
        });
    }

    /// Fewer nodes: the smallest cluster (counting from 1) that still fails, with the
    /// faults that name a node it lacks removed.
    fn nodes(&mut self, plan: &mut Plan) {
        self.stage = Stage::Nodes;
        for n in self.host.min_nodes(&self.base).max(1)..plan.nodes {
            if self.try_set(plan, |p| restrict(p, n)) {
                return;
            }
        }
    }
}

/// `plan` on nodes n1..n`n` only.
fn restrict(plan: &mut Plan, n: usize) {
    plan.nodes = n;
    let keep = |id: &NodeId| id.0 < n;
    plan.faults.retain_mut(|f| match &mut f.action {
        FaultAction::Partition(groups) => {
            for g in groups.iter_mut() {
                g.retain(keep);
            }
            groups.retain(|g| !g.is_empty());
            groups.len() > 1
        }
        FaultAction::Cut { from, to } => {
            from.retain(keep);
            to.retain(keep);
            !from.is_empty() && !to.is_empty()
        }
        FaultAction::Drop { to, .. } => {
            to.retain(keep);
            !to.is_empty()
        }
        FaultAction::Isolate(Target::Node(x))
        | FaultAction::Crash(Target::Node(x))
        | FaultAction::Restart(Target::Node(x))
        | FaultAction::Pause(Target::Node(x))
        | FaultAction::Resume(Target::Node(x))
        | FaultAction::Join(x)
        | FaultAction::Leave(x)
        | FaultAction::Clock { node: x, .. } => keep(x),
        _ => true,
    });
}

/// Shrinks seed `seed` of `scenario`: see the module's documentation. `progress`
/// hears of every run.
pub fn shrink(
    host: &dyn Host,
    scenario: &Scenario,
    seed: u64,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Shrunk, ShrinkError> {
    let first = host.run(scenario, seed, true);
    let failure = target(&first).ok_or(ShrinkError::Passes)?;
    let check = failure.check.clone();
    let ops: Vec<Scripted> =
        first.history.ops.iter().map(|o| Scripted { client: o.client, at: o.invoke, op: o.op.clone() }).collect();
    let clients = scenario.workload.as_ref().map_or(0, |w| w.clients);
    let plan0 = Plan {
        faults: first.applied.clone(),
        ops,
        nodes: scenario.nodes,
        clients,
        duration: scenario.duration,
        quiet: false,
        true_clocks: false,
        only_target: false,
    };
    let mut sh = Shrinker {
        host,
        base: scenario.clone(),
        seed,
        check: check.clone(),
        runs: 1,
        progress,
        stage: Stage::Explicit,
        failure: None,
        end: first.violation.as_ref().map_or(first.end_time, |v| v.0),
    };
    let mut plan = plan0.clone();
    if !sh.fails(&plan) {
        return Err(ShrinkError::NotReplayed { check });
    }
    if !matches!(check, Check::Assertion(_) | Check::Liveness) {
        sh.try_set(&mut plan, |p| p.only_target = true);
    }
    // Each pass can make the next one's removals possible: repeat until none helps.
    for _ in 0..4 {
        let before = plan.clone();
        sh.noise(&mut plan);
        sh.stage = Stage::Faults;
        sh.ddmin(&mut plan, |p| &mut p.faults);
        sh.stage = Stage::Ops;
        sh.ddmin(&mut plan, |p| &mut p.ops);
        sh.time(&mut plan);
        sh.clients(&mut plan);
        sh.nodes(&mut plan);
        if plan == before {
            break;
        }
    }
    let toml = write_toml(scenario, &plan, &plan0, seed, &check);
    // The file must fail on its own, read back as a user would run it.
    let written = |why: String| ShrinkError::Written { why, toml: toml.clone() };
    let reread =
        host.parse(&format!("{}.shrunk", scenario.path), &toml).map_err(|e| written(format!("does not parse: {e}")))?;
    let r = host.run(&reread, seed, false);
    let failure = r
        .failed_checks()
        .into_iter()
        .find(|f| same_check(&f.check, &check))
        .ok_or_else(|| written(format!("does not fail {check}")))?;
    Ok(Shrunk {
        check,
        failure,
        runs: sh.runs + 1,
        faults: (plan0.faults.len(), plan.faults.len()),
        ops: (plan0.ops.len(), plan.ops.len()),
        nodes: (plan0.nodes, plan.nodes),
        clients: (plan0.clients, plan.clients),
        duration: (plan0.duration, plan.duration),
        scenario: reread,
        toml,
        seed,
    })
}

// ---------------------------------------------------------------------------------
// Writing the shrunk scenario as a file: the original file's table, edited.

/// A duration as a scenario file writes it, exactly.
pub fn dur(ns: u64) -> String {
    use crate::time::{NANOS_PER_MICRO, NANOS_PER_MILLI, NANOS_PER_SEC};
    if ns.is_multiple_of(NANOS_PER_SEC) {
        format!("{}s", ns / NANOS_PER_SEC)
    } else if ns.is_multiple_of(NANOS_PER_MILLI) {
        format!("{}ms", ns / NANOS_PER_MILLI)
    } else if ns.is_multiple_of(NANOS_PER_MICRO) {
        format!("{}us", ns / NANOS_PER_MICRO)
    } else {
        format!("{ns}ns")
    }
}

fn node(n: NodeId) -> toml::Value {
    toml::Value::String(format!("n{}", n.0 + 1))
}

fn nodes(list: &[NodeId]) -> toml::Value {
    toml::Value::Array(list.iter().map(|&n| node(n)).collect())
}

pub(crate) fn str(s: &str) -> toml::Value {
    toml::Value::String(s.to_string())
}

/// One `[[faults]]` entry.
pub fn fault_table(f: &Fault) -> toml::Table {
    let mut t = toml::Table::new();
    t.insert("at".into(), str(&dur(f.at)));
    let target = |t: &Target| match t {
        Target::Node(n) => node(*n),
        other => str(&other.to_string()),
    };
    let (key, value) = match &f.action {
        FaultAction::Partition(groups) => ("partition", toml::Value::Array(groups.iter().map(|g| nodes(g)).collect())),
        FaultAction::Split(kind) => ("split", str(crate::scenario::Named::name(*kind))),
        FaultAction::Isolate(x) => ("isolate", target(x)),
        FaultAction::Cut { from, to } => {
            let mut c = toml::Table::new();
            c.insert("from".into(), nodes(from));
            c.insert("to".into(), nodes(to));
            ("cut", toml::Value::Table(c))
        }
        FaultAction::Heal => ("heal", str("all")),
        FaultAction::Crash(x) => ("crash", target(x)),
        FaultAction::Restart(x) => ("restart", target(x)),
        FaultAction::Pause(x) => ("pause", target(x)),
        FaultAction::Resume(x) => ("resume", target(x)),
        FaultAction::Clock { node: n, skew_ns, drift_ppm } => {
            let mut c = toml::Table::new();
            c.insert("node".into(), node(*n));
            if let Some(s) = skew_ns {
                let sign = if *s < 0 { "-" } else { "+" };
                c.insert("skew".into(), str(&format!("{sign}{}", dur(s.unsigned_abs()))));
            }
            if let Some(d) = drift_ppm {
                let sign = if *d < 0 { "-" } else { "+" };
                c.insert("drift".into(), str(&format!("{sign}{}ppm", d.unsigned_abs())));
            }
            ("clock", toml::Value::Table(c))
        }
        FaultAction::Join(n) => ("join", node(*n)),
        FaultAction::Leave(n) => ("leave", node(*n)),
        FaultAction::Drop { kind, to, ns } => {
            let mut c = toml::Table::new();
            c.insert("kind".into(), str(kind));
            c.insert("to".into(), nodes(to));
            c.insert("for".into(), str(&dur(*ns)));
            ("drop", toml::Value::Table(c))
        }
    };
    t.insert(key.into(), value);
    t
}

/// The file's `[workload]` (if it has one) with `clients` clients invoking `ops`
/// exactly, as `[[workload.operations]]`: the random mix, its rate and count gone.
pub(crate) fn listed_workload(doc: &mut toml::Table, clients: usize, ops: &[Scripted]) {
    let Some(toml::Value::Table(w)) = doc.get_mut("workload") else { return };
    // `keys` stays: a protocol may size itself by it (the sharded store does).
    for k in ["ops", "mix", "rate", "stop", "operations"] {
        w.remove(k);
    }
    w.insert("clients".into(), toml::Value::Integer(clients.max(1) as i64));
    if ops.is_empty() {
        // None is invoked: an empty list would mean the random mix.
        w.insert("ops".into(), toml::Value::Integer(0));
    } else {
        w.insert(
            "operations".into(),
            toml::Value::Array(ops.iter().map(|o| toml::Value::Table(op_table(o))).collect()),
        );
    }
}

/// One `[[workload.operations]]` entry.
pub fn op_table(o: &Scripted) -> toml::Table {
    use crate::protocol::Op;
    let mut t = toml::Table::new();
    t.insert("client".into(), str(&format!("c{}", o.client + 1)));
    t.insert("at".into(), str(&dur(o.at)));
    t.insert("op".into(), str(o.op.kind().name()));
    match &o.op {
        Op::Get { key } => {
            t.insert("key".into(), str(key));
        }
        Op::Put { key, value } | Op::Append { key, value } => {
            t.insert("key".into(), str(key));
            t.insert("value".into(), str(value));
        }
        Op::Cas { key, from, to } => {
            t.insert("key".into(), str(key));
            t.insert("from".into(), str(from));
            t.insert("to".into(), str(to));
        }
        Op::Transfer { from, to, amount } => {
            t.insert("from".into(), str(from));
            t.insert("to".into(), str(to));
            t.insert("amount".into(), toml::Value::Integer(i64::try_from(*amount).unwrap_or(i64::MAX)));
        }
        Op::Read { .. } => {}
        Op::Upload { name, size, content, tags } => {
            t.insert("name".into(), str(name));
            t.insert("size".into(), toml::Value::Integer(i64::try_from(*size).unwrap_or(i64::MAX)));
            t.insert("value".into(), str(content));
            t.insert("tags".into(), toml::Value::Array(tags.iter().map(|x| str(x)).collect()));
        }
        Op::Fetch { name } | Op::Delete { name } => {
            t.insert("name".into(), str(name));
        }
        Op::Tag { name, tag } => {
            t.insert("name".into(), str(name));
            t.insert("tag".into(), str(tag));
        }
        Op::List { tag } => {
            t.insert("tag".into(), str(tag));
        }
    }
    t
}

fn names_removed_node(v: &toml::Value, n: usize) -> bool {
    match v {
        toml::Value::String(s) => s.strip_prefix('n').and_then(|d| d.parse::<usize>().ok()).is_some_and(|i| i > n),
        toml::Value::Array(a) => a.iter().any(|x| names_removed_node(x, n)),
        _ => false,
    }
}

fn write_toml(original: &Scenario, plan: &Plan, plan0: &Plan, seed: u64, check: &Check) -> String {
    let mut doc: toml::Table = original.source.parse().unwrap_or_default();
    doc.insert("name".into(), str(&format!("{} (shrunk from seed {seed})", original.name)));
    doc.insert("protocol".into(), str(&original.protocol));
    doc.insert("variant".into(), str(&original.variant));
    doc.insert("nodes".into(), toml::Value::Integer(plan.nodes as i64));
    doc.insert("duration".into(), str(&dur(plan.duration)));
    doc.insert("seed".into(), toml::Value::Integer(i64::try_from(seed).unwrap_or(i64::MAX)));
    doc.remove("seeds");
    doc.remove("nemesis");
    if let Some(toml::Value::Array(m)) = doc.get_mut("members") {
        m.retain(|x| !names_removed_node(x, plan.nodes));
    }
    if plan.true_clocks {
        doc.remove("clocks");
    } else if let Some(toml::Value::Array(c)) = doc.get_mut("clocks") {
        c.retain(|x| !x.get("node").is_some_and(|v| names_removed_node(v, plan.nodes)));
    }
    if let Some(toml::Value::Table(net)) = doc.get_mut("network") {
        if plan.quiet {
            for k in ["loss", "duplicate", "reorder"] {
                net.remove(k);
            }
        }
        if let Some(toml::Value::Array(links)) = net.get_mut("links") {
            links.retain(|l| {
                !["from", "to"].iter().any(|k| l.get(k).is_some_and(|v| names_removed_node(v, plan.nodes)))
            });
            if plan.quiet {
                for l in links.iter_mut() {
                    if let toml::Value::Table(l) = l {
                        for k in ["loss", "duplicate", "reorder"] {
                            l.remove(k);
                        }
                    }
                }
            }
        }
    }
    let mut faults = plan.faults.clone();
    faults.sort_by_key(|f| f.at);
    if faults.is_empty() {
        doc.remove("faults");
    } else {
        doc.insert(
            "faults".into(),
            toml::Value::Array(faults.iter().map(|f| toml::Value::Table(fault_table(f))).collect()),
        );
    }
    listed_workload(&mut doc, plan.clients, &plan.ops);
    expect_fail(&mut doc, plan.only_target);
    let mut removed = Vec::new();
    let count = |what: &str, a: usize, b: usize| (a > b).then(|| format!("{} of {a} {what}", a - b));
    removed.extend(count("faults", plan0.faults.len(), plan.faults.len()));
    removed.extend(count("operations", plan0.ops.len(), plan.ops.len()));
    removed.extend(count("clients", plan0.clients, plan.clients));
    removed.extend(count("nodes", plan0.nodes, plan.nodes));
    if plan.duration < plan0.duration {
        removed.push(format!("the run after {} (of {})", dur(plan.duration), dur(plan0.duration)));
    }
    if plan.quiet {
        removed.push("loss, duplication and reordering".into());
    }
    if plan.true_clocks {
        removed.push("clock skew and drift".into());
    }
    if plan.only_target {
        removed.push("every other check".into());
    }
    let head = format!(
        "# Shrunk by `faultline shrink` from {} seed {seed}, which fails {check}.\n\
         # The random nemesis and workload are written out as [[faults]] and\n\
         # [[workload.operations]]; then removed, keeping that failure: {}.\n",
        original.path,
        if removed.is_empty() { "nothing".to_string() } else { removed.join(", ") }
    );
    ordered_toml(original, head, doc)
}

/// The `[check]` table of a file that fails on its own, one seed: `expect = "fail"`,
/// no sweep's counts; with `only_target`, no assertions or liveness bound either.
pub(crate) fn expect_fail(doc: &mut toml::Table, only_target: bool) {
    if let Some(toml::Value::Table(c)) = doc.get_mut("check") {
        c.remove("caught");
        c.remove("catch_at_least");
        c.insert("expect".into(), str("fail"));
        if only_target {
            c.remove("asserts");
            c.remove("assert");
            c.remove("liveness");
        }
    } else {
        let mut c = toml::Table::new();
        c.insert("expect".into(), str("fail"));
        doc.insert("check".into(), toml::Value::Table(c));
    }
}

/// A scenario file from its table, in the order files are written in (what it is,
/// then how it runs), not the table's alphabetical one; `head` (comment lines) first,
/// after the original's `#:schema` line if it had one.
pub(crate) fn ordered_toml(original: &Scenario, mut head: String, mut doc: toml::Table) -> String {
    if original.source.starts_with("#:schema") {
        let line = original.source.lines().next().unwrap_or_default();
        head = format!("{line}\n{head}");
    }
    let order = [
        "name",
        "description",
        "protocol",
        "variant",
        "nodes",
        "duration",
        "seed",
        "members",
        "network",
        "clocks",
        "faults",
        "workload",
        "check",
        "schedule",
    ];
    let mut body = String::new();
    let mut emit = |key: &str, value: toml::Value| {
        let mut one = toml::Table::new();
        one.insert(key.to_string(), value);
        if !body.is_empty() && matches!(one[key], toml::Value::Table(_) | toml::Value::Array(_)) {
            body.push('\n');
        }
        // A schedule's steps one a line; everything else as compact as it was.
        let text = if key == "schedule" { toml::to_string_pretty(&one) } else { toml::to_string(&one) };
        body.push_str(&text.unwrap_or_default());
    };
    for key in order {
        if let Some(v) = doc.remove(key) {
            emit(key, v);
        }
    }
    for (key, v) in std::mem::take(&mut doc) {
        emit(&key, v);
    }
    format!("{head}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a file that already listed its operations, shrunk to none of them,
    /// was written with `ops = 0` beside the old `[[workload.operations]]`, which the
    /// parser takes over `ops`: the file kept the operations the report said were gone.
    #[test]
    fn a_workload_listed_as_nothing_keeps_no_old_list() {
        let mut doc: toml::Table = "[workload]\nclients = 2\nkeys = 3\nmix = { get = 1 }\n\n\
            [[workload.operations]]\nclient = \"c2\"\nat = \"0s\"\nop = \"get\"\nkey = \"k1\"\n"
            .parse()
            .expect("TOML");
        listed_workload(&mut doc, 1, &[]);
        let w = doc["workload"].as_table().expect("a workload");
        assert!(!w.contains_key("operations") && !w.contains_key("mix"), "{w:?}");
        assert_eq!(
            (w["ops"].as_integer(), w["clients"].as_integer(), w["keys"].as_integer()),
            (Some(0), Some(1), Some(3))
        );
        let op = Scripted { client: 0, at: 5, op: crate::protocol::Op::Get { key: "k2".into() } };
        listed_workload(&mut doc, 1, std::slice::from_ref(&op));
        let w = doc["workload"].as_table().expect("a workload");
        assert!(!w.contains_key("ops"), "{w:?}");
        assert_eq!(w["operations"].as_array().map(Vec::len), Some(1));
    }

    /// Regression: a `drop` fault was written with `duration = ...` where the parser
    /// reads `for = ...`, so shrinking any scenario with one wrote a file that did
    /// not parse (zoo/stream-commit-on-barrier found it). Every kind of fault, written
    /// as a shrunk file writes it, parses back to itself.
    #[test]
    fn every_kind_of_fault_is_written_as_the_parser_reads_it() {
        use crate::scenario::{Catalog, FaultAction as A, Known, SplitKind, Target};
        let (n1, n2, n3) = (NodeId(0), NodeId(1), NodeId(2));
        let actions = vec![
            A::Partition(vec![vec![n1], vec![n2, n3]]),
            A::Split(SplitKind::Bridge),
            A::Isolate(Target::Leader),
            A::Cut { from: vec![n1], to: vec![n2, n3] },
            A::Heal,
            A::Crash(Target::Node(n2)),
            A::Restart(Target::Crashed),
            A::Pause(Target::Any),
            A::Resume(Target::Paused),
            A::Clock { node: n3, skew_ns: Some(-40_000_000), drift_ppm: Some(5000) },
            A::Join(n3),
            A::Leave(n3),
            A::Drop { kind: "Ack".into(), to: vec![n1], ns: 600_000_000 },
        ];
        let catalog = Catalog {
            protocols: vec![Known {
                name: "p",
                variants: vec!["correct"],
                probes: vec![],
                messages: vec!["Ack"],
                ops: vec![],
                leader: true,
                min_nodes: 1,
            }],
        };
        for (i, action) in actions.into_iter().enumerate() {
            let fault = Fault { at: (i as u64 + 1) * 1_000_000, action };
            let mut doc: toml::Table =
                "name = \"t\"\nprotocol = \"p\"\nnodes = 3\nduration = \"1s\"\nmembers = [\"n1\", \"n2\"]\n"
                    .parse()
                    .expect("TOML");
            doc.insert("faults".into(), toml::Value::Array(vec![toml::Value::Table(fault_table(&fault))]));
            let text = toml::to_string(&doc).expect("written");
            let parsed = crate::scenario::parse("shrunk.toml", &text, &catalog)
                .unwrap_or_else(|e| panic!("{:?} was written as\n{text}\nwhich does not parse: {e}", fault.action));
            assert_eq!(parsed.faults, vec![fault], "{text}");
        }
    }
}

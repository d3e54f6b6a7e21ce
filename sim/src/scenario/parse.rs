//! The second pass: the raw file checked, section by section, into the engine's
//! types. Every error points at the offending text and says how to fix it.
//!
//! [`parse`] reads the file and hands each section to its own method of [`Checker`]:
//! the cluster and protocol first (everything after needs the node count and
//! whether there is a leader), then network, clocks, faults, nemesis, workload,
//! checks and members.

use std::collections::BTreeSet;
use std::ops::Range;

use serde_spanned::Spanned;

use super::*;
use super::{IMAGE_SIZE_MAX, IMAGE_TAGS_MAX};
use crate::check::linearizability::Budget;
use crate::diag::{Diagnostic, closest};
use crate::protocol::{NodeId, Op, OpKind};
use crate::time::{Dur, NANOS_PER_MILLI, Ppm};

/// Parses and checks a scenario file. `path` is used only in messages.
pub fn parse(path: &str, src: &str, catalog: &Catalog<'_>) -> Result<Scenario, Diagnostic> {
    parse_as(path, src, catalog, Instead::default())
}

/// What to run a scenario file on instead of what it names (`--protocol`,
/// `--variant`): a bundled scenario on a student's implementation, or on a bug-zoo
/// variant.
#[derive(Clone, Copy, Debug, Default)]
pub struct Instead<'a> {
    /// A protocol in place of the file's `protocol`.
    pub protocol: Option<&'a str>,
    /// A variant in place of the file's `variant`.
    pub variant: Option<&'a str>,
    /// An expectation in place of the file's `[check] expect` (`--expect`): a zoo
    /// file, written to catch one broken variant, held to passing on a correct one.
    pub expect: Option<Expect>,
}

/// Like [`parse`], but with [`Instead`]'s protocol and variant in place of those
/// the file names. Everything else is checked against them, and an error about
/// them points at the file's `protocol` (or `variant`) line.
pub fn parse_as(path: &str, src: &str, catalog: &Catalog<'_>, instead: Instead<'_>) -> Result<Scenario, Diagnostic> {
    let mut raw: RawScenario = toml::from_str(src).map_err(|e| toml_diagnostic(path, src, &e))?;
    // The run's own copy of the file says what it ran: the values put in place.
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    let mut file_protocol = None;
    if let Some(name) = instead.protocol.filter(|p| p != raw.protocol.get_ref()) {
        let span = raw.protocol.span();
        edits.push((span.clone(), format!("{name:?}")));
        file_protocol = Some(std::mem::replace(&mut raw.protocol, Spanned::new(span, name.to_string())).into_inner());
    }
    let mut file_variant = None;
    if let Some(name) = instead.variant {
        let (span, was) = match &raw.variant {
            Some(v) => (v.span(), v.get_ref().clone()),
            None => (raw.protocol.span(), "correct".to_string()),
        };
        if was != name {
            match &raw.variant {
                Some(_) => edits.push((span.clone(), format!("{name:?}"))),
                None => edits.push((span.end..span.end, format!("\nvariant = {name:?}"))),
            }
            raw.variant = Some(Spanned::new(span, name.to_string()));
            file_variant = Some(was);
        }
    }
    let mut file_expect = None;
    if let Some(want) = instead.expect {
        let word = match want {
            Expect::Pass => "pass",
            Expect::Fail => "fail",
        };
        let was = raw.check.expect.as_ref().map_or("pass", |e| e.get_ref().as_str());
        if was != word {
            file_expect = Some(if was == "fail" { Expect::Fail } else { Expect::Pass });
            let span = match &raw.check.expect {
                Some(e) => {
                    edits.push((e.span(), format!("{word:?}")));
                    e.span()
                }
                None => {
                    // No expect line: one goes at the top of [check], or in a new one.
                    let end = src.len();
                    match src.find("\n[check]\n") {
                        Some(at) => edits.push((at + 9..at + 9, format!("expect = {word:?}\n"))),
                        None => edits.push((end..end, format!("\n[check]\nexpect = {word:?}\n"))),
                    }
                    raw.protocol.span()
                }
            };
            raw.check.expect = Some(Spanned::new(span, word.to_string()));
        }
    }
    let mut source = src.to_string();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0.start));
    for (span, text) in edits {
        if source.is_char_boundary(span.start) && span.end <= source.len() && source.is_char_boundary(span.end) {
            source.replace_range(span, &text);
        }
    }
    let mut c = Checker { path, src, nodes: 0, leaderless: None, messages: ("", &[]) };
    let (nodes, duration) = c.cluster(&raw)?;
    let known = c.protocol(&raw.protocol, catalog)?;
    if nodes < known.min_nodes {
        return Err(c
            .err(
                raw.nodes.span(),
                format!("protocol \"{}\" runs on at least {} nodes, not {nodes}", known.name, known.min_nodes),
            )
            .with_help(format!(
                "set `nodes = {}` or more (`faultline list` says what each node does)",
                known.min_nodes
            )));
    }
    let c = c;
    let variant = match &raw.variant {
        None => "correct".to_string(),
        Some(v) => c.choice(v, &format!("{} variant", known.name), &known.variants)?.to_string(),
    };
    let seeds = match &raw.seeds {
        None => None,
        Some(s) => Some(parse_seed_range(s.get_ref()).map_err(|m| c.err(s.span(), m))?),
    };
    let network = c.network(&raw.network)?;
    let clocks = c.clocks(&raw.clocks)?;
    let faults = c.faults(&raw.faults, &raw.duration)?;
    let nemesis = raw.nemesis.as_ref().map(|n| c.nemesis(n, duration)).transpose()?;
    let workload = raw.workload.as_ref().map(|w| c.workload(w)).transpose()?;
    if let (Some(w), Some(raw_w)) = (&workload, &raw.workload) {
        c.workload_fits(known, w.kind(), raw_w, &raw.protocol)?;
        c.ops_served(known, w, raw_w, &raw.protocol)?;
    }
    let checks = c.checks(&raw.check, known, workload.as_ref().map(WorkloadConfig::kind), duration, seeds.as_ref())?;
    let members = c.members(&raw)?;
    let schedule = raw.schedule.as_ref().map(|s| c.schedule(s, &raw)).transpose()?;
    Ok(Scenario {
        schedule,
        members,
        path: path.to_string(),
        source,
        name: raw.name,
        description: raw.description,
        protocol: known.name.to_string(),
        file_expect,
        file_protocol,
        file_variant,
        variant,
        nodes,
        duration,
        seed: raw.seed.unwrap_or(1),
        seeds,
        network,
        clocks,
        faults,
        nemesis,
        linearizable: checks.linearizable,
        invariants: checks.invariants,
        workload,
        expect: checks.expect,
        catch_at_least: checks.catch_at_least,
        caught: checks.caught,
        budget: checks.budget,
        liveness: checks.liveness,
        asserts: checks.asserts,
    })
}

/// The `[check]` section, checked.
struct Checks {
    linearizable: bool,
    invariants: bool,
    expect: Expect,
    catch_at_least: Option<Ppm>,
    caught: Option<u64>,
    budget: Budget,
    liveness: Option<u64>,
    asserts: Vec<Assertion>,
}

struct Checker<'a> {
    path: &'a str,
    src: &'a str,
    nodes: usize,
    /// The protocol's name when it has no leader to aim at.
    leaderless: Option<&'a str>,
    /// The protocol's name and message kinds, for `drop` faults.
    messages: (&'a str, &'a [&'a str]),
}

impl Checker<'_> {
    fn err(&self, span: Range<usize>, msg: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.path, self.src, span, msg)
    }

    fn node(&self, name: &Spanned<String>) -> Result<NodeId, Diagnostic> {
        let s = name.get_ref().trim();
        let idx = s.strip_prefix('n').and_then(|d| d.parse::<usize>().ok());
        match idx {
            Some(i) if (1..=self.nodes).contains(&i) && s == format!("n{i}") => Ok(NodeId(i - 1)),
            _ => Err(self
                .err(name.span(), format!("node `{s}` is not in the cluster"))
                .with_help(format!("this scenario has {} nodes, named n1 to n{}", self.nodes, self.nodes))),
        }
    }

    /// A node name, or one of `selectors` ("leader", "crashed", ...).
    fn target(&self, name: &Spanned<String>, selectors: &[&str]) -> Result<Target, Diagnostic> {
        let s = name.get_ref().trim();
        let t = match s {
            "leader" => Target::Leader,
            "follower" => Target::Follower,
            "any" => Target::Any,
            "crashed" => Target::Crashed,
            "paused" => Target::Paused,
            _ => {
                return self.node(name).map(Target::Node).map_err(|mut d| {
                    let sel = selectors.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
                    let nodes = format!(
                        "this scenario has {n} nodes, named n1 to n{n}; or aim at a role: {sel}",
                        n = self.nodes
                    );
                    d.help = Some(match closest(s, selectors.iter().copied()) {
                        Some(c) => format!("did you mean \"{c}\"? {nodes}"),
                        None => nodes,
                    });
                    d
                });
            }
        };
        if !selectors.contains(&s) {
            let sel = selectors.iter().map(|x| format!("\"{x}\"")).collect::<Vec<_>>().join(", ");
            return Err(self
                .err(name.span(), format!("\"{s}\" cannot be used here"))
                .with_help(format!("name a node (n1, n2, ...) or one of {sel}")));
        }
        if t == Target::Leader
            && let Some(proto) = self.leaderless
        {
            return Err(self
                .err(name.span(), format!("protocol \"{proto}\" has no leader, so \"leader\" would hit no node"))
                .with_help(format!("name a node (n1 to n{}), or \"any\" for a node picked at random", self.nodes)));
        }
        Ok(t)
    }

    fn assertion(&self, a: &RawAssert, probes: &[&str], duration: u64) -> Result<Assertion, Diagnostic> {
        let span = a.probe.span();
        let name = a.probe.get_ref().as_str();
        let all: Vec<&str> = ENGINE_PROBES.iter().map(|p| p.0).chain(probes.iter().copied()).collect();
        if !all.contains(&name) {
            let list = all.join(", ");
            return Err(self.err(span.clone(), format!("unknown probe \"{name}\"")).with_help(
                match closest(name, all.iter().copied()) {
                    Some(c) => format!("did you mean \"{c}\"? probes here: {list}"),
                    None => format!("probes here: {list} (see `faultline list`)"),
                },
            ));
        }
        let timing_help = "give `at`, or `from` and `to` (holds throughout), or `from` and `by` (holds at some point)";
        let when = match (a.at, a.from, a.to, a.by) {
            (Some(at), None, None, None) if !a.growth => When::At(at.0),
            (None, Some(f), Some(t), None) if f.0 <= t.0 => {
                if a.growth {
                    When::Growth { from: f.0, to: t.0 }
                } else {
                    When::Always { from: f.0, to: t.0 }
                }
            }
            (None, Some(f), None, Some(b)) if f.0 <= b.0 && !a.growth => When::Eventually { from: f.0, by: b.0 },
            _ if a.growth => {
                return Err(self
                    .err(span, "`growth = true` needs `from` and `to` (from before to), and nothing else")
                    .with_help("e.g. from = \"1s\", to = \"2s\", growth = true, equals = 0"));
            }
            _ => {
                return Err(self
                    .err(span, "this assertion's timing is unclear (or `from` is after `to`/`by`)")
                    .with_help(timing_help));
            }
        };
        let last = match when {
            When::At(t) => t,
            When::Always { to, .. } | When::Growth { to, .. } => to,
            When::Eventually { by, .. } => by,
        };
        if last > duration {
            return Err(self
                .err(span, "this assertion looks past the end of the run")
                .with_help("make the run longer, or move the assertion's times before `duration`"));
        }
        let (mut at_least, mut at_most) = (a.at_least, a.at_most);
        if let Some(e) = a.equals {
            at_least = Some(at_least.map_or(e, |x| x.max(e)));
            at_most = Some(at_most.map_or(e, |x| x.min(e)));
        }
        if at_least.is_none() && at_most.is_none() {
            return Err(self
                .err(span, "this assertion compares with nothing")
                .with_help("add `equals`, `at_least` or `at_most`"));
        }
        let cmp = match (at_least, at_most) {
            (Some(lo), Some(hi)) if lo == hi => format!("= {lo}"),
            (Some(lo), Some(hi)) => format!("in {lo}..={hi}"),
            (Some(lo), None) => format!(">= {lo}"),
            (None, Some(hi)) => format!("<= {hi}"),
            (None, None) => unreachable!("checked above"),
        };
        let t = |ns: u64| crate::time::fmt_time(ns);
        let what = match when {
            When::At(at) => format!("`{name}` {cmp} at {}", t(at)),
            When::Always { from, to } => format!("`{name}` {cmp} from {} to {}", t(from), t(to)),
            When::Eventually { from, by } => format!("`{name}` {cmp} at some point from {} by {}", t(from), t(by)),
            When::Growth { from, to } => format!("growth of `{name}` from {} to {} {cmp}", t(from), t(to)),
        };
        let line = self.src[..span.start].matches('\n').count() + 1;
        Ok(Assertion { probe: name.to_string(), when, at_least, at_most, label: format!("line {line}: {what}") })
    }

    fn nodes_list(&self, names: &[Spanned<String>]) -> Result<Vec<NodeId>, Diagnostic> {
        names.iter().map(|n| self.node(n)).collect()
    }

    fn latency(&self, raw: &RawLatency) -> Result<Latency, Diagnostic> {
        let dist = raw.dist.get_ref().as_str();
        let need = |field: &str, v: Option<Dur>| {
            v.map(|d| d.0).ok_or_else(|| {
                self.err(raw.dist.span(), format!("latency dist \"{dist}\" needs `{field}`"))
                    .with_help(example_latency(dist))
            })
        };
        let lat = match self.named::<LatencyDist>(&raw.dist)? {
            LatencyDist::Constant => Latency::Constant(need("value", raw.value)?),
            LatencyDist::Uniform => Latency::Uniform { min: need("min", raw.min)?, max: need("max", raw.max)? },
            LatencyDist::Exponential => {
                Latency::Exponential { min: raw.min.map_or(0, |d| d.0), mean: need("mean", raw.mean)? }
            }
            LatencyDist::LongTail => Latency::LongTail {
                min: need("min", raw.min)?,
                max: need("max", raw.max)?,
                tail: raw.tail.unwrap_or(Ppm(10_000)),
                tail_max: need("tail_max", raw.tail_max)?,
            },
        };
        if let Latency::Uniform { min, max } | Latency::LongTail { min, max, .. } = lat
            && min > max
        {
            return Err(self
                .err(raw.dist.span(), "latency `min` is larger than `max`")
                .with_help(example_latency(dist)));
        }
        Ok(lat)
    }

    /// `v` if it lies in `lo..=hi`, else a located error that states the range.
    fn in_range<T: Copy + PartialOrd + std::fmt::Display>(
        &self,
        v: &Spanned<T>,
        what: &str,
        lo: T,
        hi: T,
    ) -> Result<T, Diagnostic> {
        let x = *v.get_ref();
        // Written so that NaN fails too.
        if x >= lo && x <= hi {
            Ok(x)
        } else {
            Err(self.err(v.span(), format!("{what} must be from {lo} to {hi}, not {x}")))
        }
    }

    /// One of `options`, or a located error that lists them and the closest.
    fn choice<'c>(&self, v: &Spanned<String>, what: &str, options: &[&'c str]) -> Result<&'c str, Diagnostic> {
        let s = v.get_ref().as_str();
        options.iter().copied().find(|o| *o == s).ok_or_else(|| self.unknown(v, what, options))
    }

    /// The value of a [`Named`] enum that `v` names.
    fn named<T: Named>(&self, v: &Spanned<String>) -> Result<T, Diagnostic> {
        T::from_name(v.get_ref()).ok_or_else(|| self.unknown(v, T::WHAT, &T::names().collect::<Vec<_>>()))
    }

    /// "unknown {what}", with the options listed and the closest one suggested.
    fn unknown(&self, v: &Spanned<String>, what: &str, options: &[&str]) -> Diagnostic {
        let s = v.get_ref().as_str();
        let list = options.iter().map(|o| format!("\"{o}\"")).collect::<Vec<_>>().join(", ");
        let help = match closest(s, options.iter().copied()) {
            Some(c) => format!("did you mean \"{c}\"? {what} is one of {list}"),
            None => format!("{what} is one of {list}"),
        };
        self.err(v.span(), format!("unknown {what} \"{s}\"")).with_help(help)
    }
}

impl<'a> Checker<'a> {
    /// `nodes` and `duration`; sets the node count every later section checks names against.
    fn cluster(&mut self, raw: &RawScenario) -> Result<(usize, u64), Diagnostic> {
        let nodes = *raw.nodes.get_ref() as usize;
        if nodes == 0 || nodes > NODES_MAX {
            return Err(self.err(raw.nodes.span(), format!("a cluster has 1 to {NODES_MAX} nodes, not {nodes}")));
        }
        self.nodes = nodes;
        let duration = raw.duration.get_ref().0;
        if duration == 0 {
            return Err(self
                .err(raw.duration.span(), "the duration must be more than zero")
                .with_help("e.g. duration = \"10s\""));
        }
        Ok((nodes, duration))
    }

    /// The protocol, against the registry; notes whether it has a leader to aim at.
    fn protocol(&mut self, name: &Spanned<String>, catalog: &'a Catalog<'a>) -> Result<&'a Known<'a>, Diagnostic> {
        let proto_name = name.get_ref().as_str();
        let Some(known) = catalog.protocols.iter().find(|k| k.name == proto_name) else {
            let names: Vec<&str> = catalog.protocols.iter().map(|k| k.name).collect();
            let help = match closest(proto_name, names.iter().copied()) {
                Some(n) => format!("did you mean \"{n}\"? known protocols: {}", names.join(", ")),
                None => format!("known protocols: {} (see `faultline list`)", names.join(", ")),
            };
            return Err(self.err(name.span(), format!("unknown protocol \"{proto_name}\"")).with_help(help));
        };
        if !known.leader {
            self.leaderless = Some(known.name);
        }
        self.messages = (known.name, &known.messages);
        Ok(known)
    }
}

impl Checker<'_> {
    /// `[network]`: the default link, per-link overrides, and what a cut does.
    fn network(&self, raw: &RawNetwork) -> Result<NetworkConfig, Diagnostic> {
        let nodes = self.nodes;
        let default_latency = match &raw.latency {
            Some(l) => self.latency(l)?,
            None => Latency::Uniform { min: NANOS_PER_MILLI, max: 5 * NANOS_PER_MILLI },
        };
        let base = LinkConfig {
            latency: default_latency,
            loss: raw.loss.unwrap_or_default(),
            duplicate: raw.duplicate.unwrap_or_default(),
            reorder: raw.reorder.unwrap_or_default(),
        };
        let mut links = vec![base; nodes * nodes];
        for l in &raw.links {
            let (from, to) = (self.node(&l.from)?, self.node(&l.to)?);
            let link = &mut links[from.0 * nodes + to.0];
            if let Some(lat) = &l.latency {
                link.latency = self.latency(lat)?;
            }
            link.loss = l.loss.unwrap_or(link.loss);
            link.duplicate = l.duplicate.unwrap_or(link.duplicate);
            link.reorder = l.reorder.unwrap_or(link.reorder);
        }
        let on_cut = match &raw.on_cut {
            None => CutMode::Drop,
            Some(v) => self.named(v)?,
        };
        Ok(NetworkConfig { links, client_link: base, on_cut })
    }

    /// `[[clocks]]`: each node's starting (skew ns, drift ppm).
    fn clocks(&self, raw: &[RawClock]) -> Result<Vec<(i64, i64)>, Diagnostic> {
        let mut clocks = vec![(0i64, 0i64); self.nodes];
        for clk in raw {
            let n = self.node(&clk.node)?;
            clocks[n.0] = (clk.skew.map_or(0, |s| s.0), clk.drift.map_or(0, |d| d.0));
        }
        Ok(clocks)
    }

    /// `[[faults]]`, sorted by time (faults at the same time keep file order).
    fn faults(&self, raw: &[RawFault], duration: &Spanned<Dur>) -> Result<Vec<Fault>, Diagnostic> {
        let mut faults = Vec::with_capacity(raw.len());
        for f in raw {
            let at = f.at.get_ref().0;
            if at > duration.get_ref().0 {
                return Err(self
                    .err(
                        f.at.span(),
                        format!("this fault is at {}, after the run ends at {}", f.at.get_ref(), duration.get_ref()),
                    )
                    .with_help("schedule it before `duration`, or make the run longer"));
            }
            faults.push(Fault { at, action: self.fault_action(f)? });
        }
        faults.sort_by_key(|f| f.at);
        Ok(faults)
    }

    /// The one action of a `[[faults]]` entry.
    fn fault_action(&self, f: &RawFault) -> Result<FaultAction, Diagnostic> {
        let mut actions = Vec::new();
        if let Some(groups) = &f.partition {
            actions.push(FaultAction::Partition(self.partition(groups)?));
        }
        if let Some(n) = &f.isolate {
            actions.push(FaultAction::Isolate(self.target(n, &["leader", "follower", "any"])?));
        }
        if let Some(s) = &f.split {
            actions.push(FaultAction::Split(self.named(s)?));
        }
        if let Some(cut) = &f.cut {
            actions.push(FaultAction::Cut { from: self.nodes_list(&cut.from)?, to: self.nodes_list(&cut.to)? });
        }
        if let Some(h) = &f.heal {
            self.choice(h, "heal target", &["all"])?;
            actions.push(FaultAction::Heal);
        }
        let picks: &[&str] = &["leader", "follower", "any"];
        for (field, make, selectors) in [
            (&f.crash, FaultAction::Crash as fn(Target) -> FaultAction, picks),
            (&f.restart, FaultAction::Restart, &["crashed"]),
            (&f.pause, FaultAction::Pause, picks),
            (&f.resume, FaultAction::Resume, &["paused"]),
        ] {
            if let Some(n) = field {
                actions.push(make(self.target(n, selectors)?));
            }
        }
        if let Some(clk) = &f.clock {
            actions.push(FaultAction::Clock {
                node: self.node(&clk.node)?,
                skew_ns: clk.skew.map(|s| s.0),
                drift_ppm: clk.drift.map(|d| d.0),
            });
        }
        if let Some(n) = &f.join {
            actions.push(FaultAction::Join(self.node(n)?));
        }
        if let Some(n) = &f.leave {
            actions.push(FaultAction::Leave(self.node(n)?));
        }
        if let Some(d) = &f.drop {
            let (protocol, kinds) = self.messages;
            let kind = self.choice(&d.kind, &format!("{protocol} message kind"), kinds)?;
            actions.push(FaultAction::Drop { kind: kind.to_string(), to: self.nodes_list(&d.to)?, ns: d.duration.0 });
        }
        let help = "give each [[faults]] entry `at` and one of: partition, isolate, split, cut, heal, crash, restart, pause, resume, clock, join, leave, drop";
        match (actions.pop(), actions.is_empty()) {
            (Some(action), true) => Ok(action),
            (None, _) => Err(self.err(f.at.span(), "this fault has a time but no action").with_help(help)),
            (Some(_), false) => Err(self
                .err(f.at.span(), "this fault has more than one action")
                .with_help("split it into one [[faults]] entry per action (they may share the same `at`)")),
        }
    }

    /// A partition's groups; the nodes no group names form one more.
    fn partition(&self, groups: &[Vec<Spanned<String>>]) -> Result<Vec<Vec<NodeId>>, Diagnostic> {
        let mut seen = BTreeSet::new();
        let mut resolved = Vec::new();
        for g in groups {
            let mut group = Vec::new();
            for name in g {
                let n = self.node(name)?;
                if !seen.insert(n) {
                    return Err(self
                        .err(name.span(), format!("node `{}` is in two groups", name.get_ref()))
                        .with_help("each node belongs to one side of a partition"));
                }
                group.push(n);
            }
            resolved.push(group);
        }
        let rest: Vec<NodeId> = (0..self.nodes).map(NodeId).filter(|n| !seen.contains(n)).collect();
        if !rest.is_empty() {
            resolved.push(rest);
        }
        Ok(resolved)
    }

    /// `[nemesis]`.
    /// A `[schedule]` replaces the nemesis, the faults and the network's randomness:
    /// a file may not ask for both.
    fn schedule(&self, s: &Spanned<RawSchedule>, raw: &RawScenario) -> Result<Schedule, Diagnostic> {
        let steps = &s.get_ref().steps;
        let remove = |what: &str| {
            self.err(s.span(), format!("a [schedule] says every step of the run, so {what} would never happen"))
                .with_help(format!("remove {what}, or the [schedule] to run the seed's random draws"))
        };
        if raw.nemesis.is_some() {
            return Err(remove("the [nemesis]"));
        }
        if !raw.faults.is_empty() {
            return Err(remove("the [[faults]]"));
        }
        if steps.is_empty() {
            return Err(self
                .err(s.span(), "the [schedule] lists no steps")
                .with_help("list steps as `faultline explore` writes them, or remove [schedule]"));
        }
        if steps.len() > SCHEDULE_STEPS_MAX {
            return Err(self.err(
                steps[SCHEDULE_STEPS_MAX].span(),
                format!("a [schedule] may list at most {SCHEDULE_STEPS_MAX} steps; this one lists {}", steps.len()),
            ));
        }
        Ok(Schedule {
            steps: steps.iter().map(|x| x.get_ref().trim().to_string()).collect(),
            spans: steps.iter().map(Spanned::span).collect(),
        })
    }

    fn nemesis(&self, n: &RawNemesis, duration: u64) -> Result<NemesisConfig, Diagnostic> {
        let mut kinds = Vec::new();
        for k in &n.kinds {
            let kind: NemesisKind = self.named(k)?;
            if let Some(proto) = self.leaderless {
                let instead = match kind {
                    NemesisKind::CrashLeader => Some(NemesisKind::Crash),
                    NemesisKind::IsolateLeader => Some(NemesisKind::Partition),
                    _ => None,
                };
                if let Some(instead) = instead {
                    return Err(self
                        .err(
                            k.span(),
                            format!("protocol \"{proto}\" has no leader, so \"{kind}\" would inject nothing"),
                        )
                        .with_help(format!("use \"{instead}\", which picks a node at random")));
                }
            }
            kinds.push(kind);
        }
        let stop = n.stop.as_ref().map_or(duration / 10 * 8, |s| s.get_ref().0);
        if let Some(s) = &n.stop
            && s.get_ref().0 > duration
        {
            return Err(self
                .err(s.span(), "the nemesis stops after the run ends")
                .with_help("set `stop` before `duration`"));
        }
        let interval = match (&n.interval, &n.rate) {
            (Some(i), Some(_)) => {
                return Err(self
                    .err(i.span(), "the nemesis has both `interval` and `rate`")
                    .with_help("they say the same thing: keep one (rate = 2.0 is interval = \"500ms\")"));
            }
            (Some(i), None) => {
                let ns = i.get_ref().0;
                if ns < NEMESIS_INTERVAL_NS_MIN {
                    return Err(self.err(i.span(), "the nemesis `interval` must be at least 1ms").with_help(
                        "faults closer than that pile up faster than anything can react; e.g. interval = \"100ms\"",
                    ));
                }
                ns
            }
            (None, Some(r)) => {
                let rate = *r.get_ref();
                if !(rate > 0.0 && rate <= 1e9 / NEMESIS_INTERVAL_NS_MIN as f64) {
                    return Err(self
                        .err(r.span(), "the nemesis `rate` must be more than 0 and at most 1000 faults per second")
                        .with_help("e.g. rate = 2.0"));
                }
                ((1e9 / rate) as u64).max(1)
            }
            (None, None) => NANOS_PER_MILLI * 1000,
        };
        Ok(NemesisConfig {
            kinds,
            interval,
            fault_duration: n.fault_duration.map_or(NANOS_PER_MILLI * 500, |d| d.0.max(1)),
            stop,
            max_skew: n.max_skew.map_or(500 * NANOS_PER_MILLI, |d| d.0),
            overlap: n.overlap,
        })
    }

    /// `[workload]`: clients, keys, timing, and the mix of its kind.
    fn workload(&self, w: &RawWorkload) -> Result<WorkloadConfig, Diagnostic> {
        let clients = w.clients.as_ref().map_or(3, |c| *c.get_ref() as usize);
        if let Some(cl) = &w.clients
            && (clients == 0 || clients > CLIENTS_MAX)
        {
            return Err(self.err(cl.span(), format!("clients must be 1 to {CLIENTS_MAX}, not {clients}")));
        }
        let keys = w.keys.as_ref().map_or(5, |k| *k.get_ref() as usize);
        if let Some(k) = &w.keys
            && keys == 0
        {
            return Err(self.err(k.span(), "a workload needs at least one key"));
        }
        if let Some(k) = &w.keys {
            self.in_range(k, "`keys`", 1, KEYS_MAX as u32)?;
        }
        let ops = match &w.ops {
            Some(o) => self.in_range(o, "`ops`", 0, OPS_MAX)?,
            None => 100,
        };
        let retries = match &w.retries {
            Some(r) => self.in_range(r, "`retries`", 0, RETRIES_MAX as u32)?,
            None => 2,
        };
        let timeout = match &w.timeout {
            Some(t) => self
                .in_range(&Spanned::new(t.span(), t.get_ref().0), "`timeout` (ns)", TIMEOUT_NS_MIN, u64::MAX)
                .map_err(|d| d.with_help("a client waits at least 1us for a reply, e.g. timeout = \"200ms\""))?,
            None => 500 * NANOS_PER_MILLI,
        };
        let zipf_exponent = match &w.zipf_exponent {
            Some(z) => {
                if z.get_ref().partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                    return Err(self
                        .err(z.span(), "`zipf_exponent` must be more than 0")
                        .with_help("e.g. zipf_exponent = 1.0"));
                }
                self.in_range(z, "`zipf_exponent`", f64::MIN_POSITIVE, ZIPF_EXPONENT_MAX)?
            }
            None => 1.0,
        };
        let kind = match &w.kind {
            None => WorkloadKind::Kv,
            Some(k) => self.named(k)?,
        };
        let mix = self.mix(w, kind)?;
        let bank = match kind {
            WorkloadKind::Bank => Some(self.bank(w)?),
            WorkloadKind::Kv | WorkloadKind::Images => {
                for (field, span) in [
                    ("accounts", w.accounts.as_ref().map(|a| a.span())),
                    ("balance", w.balance.as_ref().map(|a| a.span())),
                    ("amount", w.amount.as_ref().map(|a| a.span())),
                ] {
                    if let Some(span) = span {
                        return Err(self
                            .err(span, format!("`{field}` belongs to a bank workload"))
                            .with_help("add kind = \"bank\" to [workload], or remove it"));
                    }
                }
                None
            }
        };
        let distribution = match &w.distribution {
            None => KeyDist::Uniform,
            Some(d) => self.named(d)?,
        };
        let think = match &w.rate {
            Some(r) if *r.get_ref() > 0.0 && r.get_ref().is_finite() => {
                (1e9 / self.in_range(r, "workload `rate` (operations per second per client)", 1e-6, CLIENT_RATE_MAX)?)
                    as u64
            }
            Some(r) => {
                return Err(self
                    .err(r.span(), "workload `rate` must be a positive number of operations per second")
                    .with_help("e.g. rate = 100, or leave it out for back-to-back operations"));
            }
            None => 0,
        };
        let script = self.script(w, clients, kind, bank.as_ref())?;
        let ops = if script.is_empty() { ops } else { script.len() as u64 };
        Ok(WorkloadConfig {
            script,
            clients,
            ops,
            kind,
            mix,
            bank,
            keys,
            distribution,
            zipf_exponent,
            think,
            timeout,
            retries,
            start: w.start.map_or(0, |d| d.0),
            stop: w.stop.map_or(u64::MAX, |d| d.0),
        })
    }

    /// `[[workload.operations]]`: each a client, a time and an operation of the
    /// workload's kind, with the fields its kind needs.
    fn script(
        &self,
        w: &RawWorkload,
        clients: usize,
        kind: WorkloadKind,
        bank: Option<&Bank>,
    ) -> Result<Vec<Scripted>, Diagnostic> {
        if w.operations.len() as u64 > OPS_MAX {
            let span = w.operations[0].op.span();
            return Err(self.err(span, format!("at most {OPS_MAX} operations may be listed")));
        }
        let mut out = Vec::with_capacity(w.operations.len());
        for o in &w.operations {
            let name = o.client.get_ref().trim();
            let client = match name.strip_prefix('c').and_then(|d| d.parse::<usize>().ok()) {
                Some(i) if (1..=clients).contains(&i) && name == format!("c{i}") => i - 1,
                _ => {
                    return Err(self
                        .err(o.client.span(), format!("client `{name}` is not in the workload"))
                        .with_help(format!("this workload has {clients} clients, named c1 to c{clients}")));
                }
            };
            let span = o.op.span();
            let need = |field: &str, v: &Option<String>| -> Result<String, Diagnostic> {
                v.clone().ok_or_else(|| {
                    self.err(span.clone(), format!("a `{}` operation needs `{field}`", o.op.get_ref()))
                        .with_help(format!("e.g. {field} = \"k1\""))
                })
            };
            let op_name = o.op.get_ref().as_str();
            let theirs = WorkloadKind::ALL.into_iter().find(|k| k.ops().iter().any(|op| op.name() == op_name));
            if let Some(theirs) = theirs.filter(|&t| t != kind) {
                let ours: Vec<&str> = kind.ops().iter().map(|k| k.name()).collect();
                return Err(self
                    .err(span, format!("`{op_name}` is an operation of kind = \"{theirs}\", not of this workload's kind = \"{kind}\""))
                    .with_help(format!("use {}, or set kind = \"{}\" in [workload]", ours.join(", "), theirs)));
            }
            let name = |field: &str| -> Result<String, Diagnostic> {
                let v = need(field, &o.name)?;
                if v.is_empty() || v.len() > 256 || v.contains(',') {
                    return Err(self
                        .err(span.clone(), format!("image name {v:?} must be 1 to 256 characters, without commas"))
                        .with_help("e.g. name = \"i1\""));
                }
                Ok(v)
            };
            let tag_word = |t: &str| -> Result<String, Diagnostic> {
                if t.is_empty() || t.len() > 64 || t.contains(',') || t.contains(' ') {
                    return Err(self
                        .err(span.clone(), format!("tag {t:?} must be 1 to 64 characters, without commas or spaces"))
                        .with_help("e.g. tag = \"cat\""));
                }
                Ok(t.to_string())
            };
            let op = match op_name {
                "upload" => {
                    let size = o.size.ok_or_else(|| {
                        self.err(span.clone(), "an `upload` operation needs `size`").with_help("e.g. size = 4096")
                    })?;
                    if size == 0 || size > IMAGE_SIZE_MAX {
                        return Err(self.err(span, format!("`size` must be 1 to {IMAGE_SIZE_MAX} bytes, not {size}")));
                    }
                    let tags = o.tags.clone().unwrap_or_default();
                    if tags.len() > IMAGE_TAGS_MAX {
                        return Err(self.err(span, format!("an upload carries at most {IMAGE_TAGS_MAX} tags")));
                    }
                    let tags = tags.iter().map(|t| tag_word(t)).collect::<Result<Vec<_>, _>>()?;
                    let content = o.value.clone().unwrap_or_else(|| format!("{}.{}", client + 1, out.len() + 1));
                    Op::Upload { name: name("name")?, size, content, tags }
                }
                "fetch" => Op::Fetch { name: name("name")? },
                "delete" => Op::Delete { name: name("name")? },
                "tag" => Op::Tag { name: name("name")?, tag: tag_word(&need("tag", &o.tag)?)? },
                "list" => Op::List { tag: tag_word(&need("tag", &o.tag)?)? },
                "get" => Op::Get { key: need("key", &o.key)? },
                "put" => Op::Put { key: need("key", &o.key)?, value: need("value", &o.value)? },
                "append" => Op::Append { key: need("key", &o.key)?, value: need("value", &o.value)? },
                "cas" => Op::Cas { key: need("key", &o.key)?, from: need("from", &o.from)?, to: need("to", &o.to)? },
                "read" => {
                    let bank = bank.expect("a bank workload");
                    Op::Read { keys: (0..bank.accounts).map(Bank::account).collect() }
                }
                "transfer" => {
                    let bank = bank.expect("a bank workload");
                    let accounts: Vec<String> = (0..bank.accounts).map(Bank::account).collect();
                    let account = |field: &str, v: &Option<String>| -> Result<String, Diagnostic> {
                        let a = need(field, v)?;
                        if accounts.contains(&a) {
                            Ok(a)
                        } else {
                            Err(self.err(span.clone(), format!("`{field}` names no account: \"{a}\"")).with_help(
                                format!(
                                    "this bank has {} accounts, {} to {}",
                                    bank.accounts,
                                    accounts[0],
                                    accounts[accounts.len() - 1]
                                ),
                            ))
                        }
                    };
                    let amount = o.amount.ok_or_else(|| {
                        self.err(span.clone(), "a `transfer` operation needs `amount`").with_help("e.g. amount = 5")
                    })?;
                    if amount == 0 || amount > BALANCE_MAX {
                        return Err(self.err(span, format!("`amount` must be 1 to {BALANCE_MAX}, not {amount}")));
                    }
                    Op::Transfer { from: account("from", &o.from)?, to: account("to", &o.to)?, amount }
                }
                other => {
                    return Err(self
                        .err(span, format!("unknown operation `{other}`"))
                        .with_help(
                            "one of get, put, append, cas (kv), transfer, read (bank), upload, fetch, tag, delete, list (images)",
                        ));
                }
            };
            out.push(Scripted { client, at: o.at.get_ref().0, op });
        }
        Ok(out)
    }

    /// The mix's weights, in [`OpKind::ALL`]'s order: only its kind's own.
    fn mix(&self, w: &RawWorkload, kind: WorkloadKind) -> Result<[u64; 11], Diagnostic> {
        let none = RawMix {
            get: 0,
            put: 0,
            append: 0,
            cas: 0,
            transfer: 0,
            read: 0,
            upload: 0,
            fetch: 0,
            tag: 0,
            delete: 0,
            list: 0,
        };
        let default_mix = match kind {
            WorkloadKind::Bank => RawMix { transfer: 80, read: 20, ..none },
            WorkloadKind::Kv => RawMix { get: 50, put: 30, append: 20, ..none },
            WorkloadKind::Images => RawMix { upload: 30, fetch: 40, tag: 15, delete: 5, list: 10, ..none },
        };
        let mix = w.mix.as_ref().map_or(default_mix, |m| *m.get_ref());
        let weights = [
            mix.get,
            mix.put,
            mix.append,
            mix.cas,
            mix.transfer,
            mix.read,
            mix.upload,
            mix.fetch,
            mix.tag,
            mix.delete,
            mix.list,
        ]
        .map(u64::from);
        if let Some(m) = &w.mix {
            let (ours, example, what) = match kind {
                WorkloadKind::Bank => ("transfer and read", "mix = { transfer = 80, read = 20 }", "a bank"),
                WorkloadKind::Kv => {
                    ("get, put, append and cas", "mix = { get = 50, put = 30, append = 20 }", "a key-value")
                }
                WorkloadKind::Images => (
                    "upload, fetch, tag, delete and list",
                    "mix = { upload = 30, fetch = 40, tag = 15, delete = 5, list = 10 } (an image's get is `fetch`)",
                    "an image",
                ),
            };
            let theirs = OpKind::ALL.iter().zip(&weights).filter(|(k, _)| !kind.ops().contains(k)).map(|(_, w)| w);
            if theirs.into_iter().any(|&x| x > 0) {
                return Err(self
                    .err(m.span(), format!("{what} workload's mix weighs only {ours}"))
                    .with_help(format!("e.g. {example}; set `kind` to choose the workload")));
            }
            if weights.iter().sum::<u64>() == 0 {
                return Err(self
                    .err(m.span(), "the workload mix gives every operation weight 0")
                    .with_help(format!("e.g. {example}")));
            }
        }
        Ok(weights)
    }

    /// A bank workload's accounts, balance and largest transfer.
    fn bank(&self, w: &RawWorkload) -> Result<Bank, Diagnostic> {
        let accounts = w.accounts.as_ref().map_or(8, |a| *a.get_ref() as usize);
        if let Some(a) = &w.accounts
            && accounts < 2
        {
            return Err(self.err(a.span(), "a bank needs at least 2 accounts to transfer between"));
        }
        if let Some(a) = &w.accounts {
            self.in_range(a, "`accounts`", 2, ACCOUNTS_MAX as u32)?;
        }
        if let Some(b) = &w.balance {
            self.in_range(b, "`balance`", 0, BALANCE_MAX)?;
        }
        let balance = w.balance.as_ref().map_or(100, |b| *b.get_ref());
        let amount = w.amount.as_ref().map_or(50, |a| *a.get_ref());
        if let Some(a) = &w.amount
            && amount == 0
        {
            return Err(self.err(a.span(), "a transfer `amount` must be at least 1"));
        }
        if let Some(a) = &w.amount {
            self.in_range(a, "`amount`", 1, BALANCE_MAX)?;
        }
        Ok(Bank { accounts, balance, amount })
    }

    /// The workload speaks the protocol's language.
    fn workload_fits(
        &self,
        known: &Known<'_>,
        kind: WorkloadKind,
        w: &RawWorkload,
        protocol: &Spanned<String>,
    ) -> Result<(), Diagnostic> {
        if known.serves(kind) {
            return Ok(());
        }
        let name = known.name;
        let Some(served) = WorkloadKind::served_by(&known.ops).next() else {
            return Ok(()); // serves nothing: `ops_served` says so
        };
        let this = match kind {
            WorkloadKind::Kv => "key-value (kind = \"kv\", the default)",
            WorkloadKind::Bank => "a bank",
            WorkloadKind::Images => "an image store (kind = \"images\")",
        };
        let (msg, help) = match served {
            WorkloadKind::Kv => (
                format!("{name} stores keys (a kv workload), but this [workload] is {this}"),
                "remove kind: this protocol stores keys (mix = { get, put, append, cas })",
            ),
            WorkloadKind::Bank => (
                format!("{name} runs bank transactions, but this [workload] is {this}"),
                "add kind = \"bank\" to [workload] (accounts, balance, amount and mix = { transfer, read } set it up)",
            ),
            WorkloadKind::Images => (
                format!("{name} stores images, but this [workload] is {this}"),
                "set kind = \"images\" in [workload] (mix = { upload, fetch, tag, delete, list })",
            ),
        };
        let span = w.kind.as_ref().map_or(protocol.span(), |k| k.span());
        Err(self.err(span, msg).with_help(help))
    }

    /// The mix weighs only operations the protocol serves ([`crate::Protocol::OPS`]).
    fn ops_served(
        &self,
        known: &Known<'_>,
        w: &WorkloadConfig,
        raw: &RawWorkload,
        protocol: &Spanned<String>,
    ) -> Result<(), Diagnostic> {
        let span = raw.mix.as_ref().map(|m| m.span()).or(raw.kind.as_ref().map(|k| k.span()));
        let span = span.unwrap_or(protocol.span());
        let name = known.name;
        if known.ops.is_empty() {
            return Err(self
                .err(span, format!("{name} serves no client operations, so this [workload] would only be refused"))
                .with_help("remove [workload]; check this protocol with its invariants and [[check.assert]]"));
        }
        for (s, o) in w.script.iter().zip(&raw.operations) {
            let kind = s.op.kind();
            if !known.ops.contains(&kind) {
                let served: Vec<&str> = known.ops.iter().map(|k| k.name()).collect();
                return Err(self
                    .err(o.op.span(), format!("{name} does not serve `{kind}`"))
                    .with_help(format!("{name} serves {}", served.join(", "))));
            }
        }
        let unserved: Vec<OpKind> = OpKind::ALL
            .into_iter()
            .zip(w.mix)
            .filter(|(k, weight)| w.script.is_empty() && *weight > 0 && !known.ops.contains(k))
            .map(|(k, _)| k)
            .collect();
        if let Some(first) = unserved.first() {
            let served: Vec<&str> = known.ops.iter().map(|k| k.name()).collect();
            let example: Vec<String> = known.ops.iter().map(|k| format!("{k} = 1")).collect();
            return Err(self
                .err(span, format!("{name} does not serve `{first}`, which this workload's mix weighs"))
                .with_help(format!(
                    "{name} serves {}; weigh only those, e.g. mix = {{ {} }}",
                    served.join(", "),
                    example.join(", ")
                )));
        }
        Ok(())
    }

    /// `[check]`: what is judged, and what the scenario expects of it.
    fn checks(
        &self,
        raw: &RawCheck,
        known: &Known<'_>,
        workload: Option<WorkloadKind>,
        duration: u64,
        seeds: Option<&Range<u64>>,
    ) -> Result<Checks, Diagnostic> {
        let expect = match &raw.expect {
            None => Expect::Pass,
            Some(e) => self.named(e)?,
        };
        // Only a scenario that expects to fail is judged by its catch rate; with
        // expect = "pass" (a zoo file flipped to watch the bug) the line is ignored.
        let catch_at_least = match expect {
            Expect::Fail => raw.catch_at_least.as_ref().map(|r| *r.get_ref()),
            Expect::Pass => None,
        };
        let caught = match (expect, &raw.caught) {
            (Expect::Pass, _) | (_, None) => None,
            (Expect::Fail, Some(n)) => {
                let Some(seeds) = seeds else {
                    return Err(self
                        .err(n.span(), "`caught` counts seeds of the scenario's `seeds`, and it has none")
                        .with_help("add seeds = \"1..101\" (say) at the top, the range the count was measured on"));
                };
                Some(self.in_range(n, "`caught` (seeds of `seeds`)", 0, seeds.end - seeds.start)?)
            }
        };
        let budget = match &raw.budget {
            None => Budget::default(),
            Some(b) => Budget::parse(b.get_ref()).map_err(|why| {
                self.err(b.span(), format!("check `budget`: {why}")).with_help(
                    "e.g. budget = \"steps=50e6,memory=64MiB,time=10s\" (any of the three; the rest keep their defaults)",
                )
            })?,
        };
        let is_bank = workload == Some(WorkloadKind::Bank);
        if let Some(l) = &raw.linearizable
            && *l.get_ref()
            && is_bank
        {
            return Err(self
                .err(l.span(), "a bank workload's history is not a key-value history to check for linearizability")
                .with_help(
                    "remove `linearizable`: bank runs are judged by the conserved total and the protocol's invariants",
                ));
        }
        let asserts =
            raw.asserts.iter().map(|a| self.assertion(a, &known.probes, duration)).collect::<Result<_, _>>()?;
        Ok(Checks {
            linearizable: raw
                .linearizable
                .as_ref()
                .map_or(workload != Some(WorkloadKind::Bank) && workload.is_some(), |l| *l.get_ref()),
            invariants: raw.invariants.unwrap_or(true),
            expect,
            catch_at_least,
            caught,
            budget,
            liveness: raw.liveness.map(|d| d.0.max(1)),
            asserts,
        })
    }

    /// `members`: the nodes that are members at the start (default: all).
    fn members(&self, raw: &RawScenario) -> Result<Vec<NodeId>, Diagnostic> {
        let Some(list) = &raw.members else { return Ok((0..self.nodes).map(NodeId).collect()) };
        let mut m = self.nodes_list(list)?;
        m.sort();
        m.dedup();
        if m.is_empty() {
            return Err(self
                .err(raw.nodes.span(), "`members` is empty: the cluster starts with no member")
                .with_help("list the nodes that are members at the start, e.g. members = [\"n1\", \"n2\", \"n3\"]"));
        }
        Ok(m)
    }
}

fn example_latency(dist: &str) -> String {
    match dist {
        "constant" => "e.g. latency = { dist = \"constant\", value = \"5ms\" }".into(),
        "exponential" => "e.g. latency = { dist = \"exponential\", min = \"1ms\", mean = \"5ms\" }".into(),
        "long-tail" => {
            "e.g. latency = { dist = \"long-tail\", min = \"1ms\", max = \"5ms\", tail = \"1%\", tail_max = \"500ms\" }"
                .into()
        }
        _ => "e.g. latency = { dist = \"uniform\", min = \"1ms\", max = \"10ms\" }".into(),
    }
}

/// Turns a serde/toml error into a diagnostic with a hint.
/// A TOML error as a located diagnostic: the file, line and column, and for an
/// unknown field the valid ones (with the closest named). Scenario files and
/// grading suites both read through it.
pub fn toml_diagnostic(path: &str, src: &str, e: &toml::de::Error) -> Diagnostic {
    let msg = e.message().trim().to_string();
    let span = e.span().unwrap_or(0..0);
    let mut d = Diagnostic::at(path, src, span, msg.lines().next().unwrap_or("invalid TOML").to_string());
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (field, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let listed = expected.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", ");
        d.message = format!("unknown field `{field}`");
        d.help = Some(match closest(field, expected.iter().copied()) {
            Some(c) => format!("did you mean `{c}`? valid fields here: {listed}"),
            None => format!("valid fields here: {listed}"),
        });
    } else if msg.starts_with("invalid type") && msg.contains("expected struct Raw") {
        // Say "a table" rather than the Rust type's name, and show the table form.
        let first = msg.lines().next().unwrap_or("");
        let (found, rest) = first.split_once(", expected struct Raw").unwrap_or((first, ""));
        let what = rest.split_whitespace().next().unwrap_or("");
        d.message = format!("{found}, expected a table");
        d.help = Some(match what {
            "Latency" => "a latency is a table: latency = { dist = \"constant\", value = \"5ms\" } (or dist = \"uniform\", min, max)".into(),
            "Fault" => "each [[faults]] entry is a table with `at` and one action, e.g. at = \"1s\" and crash = \"n2\"".into(),
            "Mix" => "a mix is a table of weights, e.g. mix = { get = 50, put = 30, append = 20 }".into(),
            "Clock" => "a clock is a table, e.g. clock = { node = \"n2\", skew = \"+200ms\" }".into(),
            _ => "write it as a table, { key = value, ... } or a [section]; see `faultline schema` or scenarios/ for examples".into(),
        });
    } else if msg.starts_with("invalid length") && msg.contains("expected struct Raw") {
        // A table written as an array: serde offers the struct as a sequence.
        d.message = "expected a table here, found a list".into();
        d.help = Some(if msg.contains("RawFault") {
            "each fault is a table with `at` and one action: a [[faults]] section with at = \"1s\" and, say, crash = \"n2\"".into()
        } else {
            "write it as a table, { key = value, ... } or a [section]; see `faultline schema` or scenarios/ for examples"
                .into()
        });
    } else if msg.starts_with("invalid type") {
        d.help = Some("check the value's type: durations and rates are strings (\"10s\", \"1%\"), counts are bare numbers (nodes = 5)".into());
    } else if msg.contains("recursion limit") {
        d.help = Some("the file nests arrays or tables far deeper than a scenario ever does; a scenario nests at most three levels".into());
    } else if msg.starts_with("missing field") {
        d.help = Some("every scenario needs at least: name, protocol, nodes, duration; see `faultline schema` or scenarios/ for examples".into());
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register that serves get and put only, as a student's ABD might.
    fn catalog() -> Catalog<'static> {
        Catalog {
            protocols: vec![Known {
                name: "abd",
                variants: vec!["correct"],
                probes: vec![],
                messages: vec!["Query", "Store"],
                ops: vec![OpKind::Get, OpKind::Put],
                leader: false,
                min_nodes: 1,
            }],
        }
    }

    #[test]
    fn a_file_runs_on_another_protocol_and_variant_and_its_copy_says_so() {
        let mut two = catalog();
        two.protocols.push(Known {
            name: "mine",
            variants: vec!["correct", "broken"],
            probes: vec![],
            messages: vec![],
            ops: vec![OpKind::Get, OpKind::Put],
            leader: false,
            min_nodes: 1,
        });
        let src = "name = \"t\"\nprotocol = \"abd\"\nnodes = 3\nduration = \"1s\"\n";
        let instead = Instead { protocol: Some("mine"), variant: Some("broken"), ..Instead::default() };
        let s = parse_as("t.toml", src, &two, instead).expect("parses as mine");
        assert_eq!((s.protocol.as_str(), s.variant.as_str()), ("mine", "broken"));
        assert_eq!((s.file_protocol.as_deref(), s.file_variant.as_deref()), (Some("abd"), Some("correct")));
        assert!(s.source.contains("protocol = \"mine\"\nvariant = \"broken\"\n"), "{}", s.source);
        let again = parse("copy.toml", &s.source, &two).expect("the copy parses on its own");
        assert_eq!((again.protocol, again.variant, again.file_protocol), ("mine".into(), "broken".into(), None));
        let err = parse_as(
            "t.toml",
            src,
            &two,
            Instead { protocol: Some("mine"), variant: Some("nope"), ..Instead::default() },
        )
        .expect_err("mine has no such variant");
        assert_eq!(err.line, 2, "{err}");
        assert!(parse("t.toml", src, &two).is_ok_and(|s| s.source == src), "nothing put in place, nothing changed");
    }

    #[test]
    fn a_file_is_held_to_another_expectation_and_its_copy_says_so() {
        let base = "name = \"t\"\nprotocol = \"abd\"\nnodes = 3\nduration = \"1s\"\nseeds = \"1..11\"\n";
        let pass = Instead { expect: Some(Expect::Pass), ..Instead::default() };
        let fail = Instead { expect: Some(Expect::Fail), ..Instead::default() };
        // A zoo-like file: it expects to fail, on 5 of its seeds.
        let zoo = format!("{base}[check]\nexpect = \"fail\"\ncaught = 5\n");
        let s = parse_as("t.toml", &zoo, &catalog(), pass).expect("held to passing");
        assert_eq!((s.expect, s.file_expect, s.caught), (Expect::Pass, Some(Expect::Fail), None));
        let again = parse("copy.toml", &s.source, &catalog()).expect("the copy parses on its own");
        assert_eq!(again.expect, Expect::Pass, "{}", s.source);
        let same = parse_as("t.toml", &zoo, &catalog(), fail).expect("what it says already");
        assert_eq!((same.file_expect, same.source == zoo), (None, true));
        // No expect line: one is put at the top of [check], or in a new [check].
        for src in [format!("{base}[check]\nliveness = \"1s\"\n"), base.to_string()] {
            let s = parse_as("t.toml", &src, &catalog(), fail).expect("held to failing");
            assert_eq!((s.expect, s.file_expect), (Expect::Fail, Some(Expect::Pass)));
            let again = parse("copy.toml", &s.source, &catalog()).expect("the copy parses on its own");
            assert_eq!(again.expect, Expect::Fail, "{}", s.source);
        }
    }

    const HEAD: &str = "name = \"t\"\nprotocol = \"abd\"\nnodes = 3\nduration = \"1s\"\n[workload]\n";

    #[test]
    fn a_mix_weighs_only_the_operations_the_protocol_serves() {
        let ok = format!("{HEAD}mix = {{ get = 1, put = 1 }}\n");
        assert!(parse("t.toml", &ok, &catalog()).is_ok());
        let bad = format!("{HEAD}mix = {{ get = 1, put = 1, cas = 2 }}\n");
        let err = parse("t.toml", &bad, &catalog()).expect_err("cas is not served");
        assert_eq!(err.message, "abd does not serve `cas`, which this workload's mix weighs");
        assert_eq!(
            (err.line, err.help.as_deref()),
            (6, Some("abd serves get, put; weigh only those, e.g. mix = { get = 1, put = 1 }"))
        );
        // The default mix weighs append: a located error, not a stream of refusals.
        let default = parse("t.toml", &format!("{HEAD}clients = 2\n"), &catalog()).expect_err("append");
        assert!(default.message.contains("`append`"), "{}", default.message);
    }

    #[test]
    fn a_drop_fault_names_a_message_kind_of_the_protocol() {
        let src = "name = \"t\"\nprotocol = \"abd\"\nnodes = 3\nduration = \"1s\"\n[[faults]]\nat = \"1ms\"\ndrop = { kind = \"Stor\", to = [\"n1\"], for = \"1ms\" }\n";
        let err = parse("t.toml", src, &catalog()).expect_err("no such kind");
        assert_eq!(err.message, "unknown abd message kind \"Stor\"");
        let fixed = src.replace("Stor\"", "Store\"");
        let s = parse("t.toml", &fixed, &catalog()).expect("Store is a kind");
        assert!(matches!(&s.faults[0].action, FaultAction::Drop { kind, .. } if kind == "Store"));
    }
}

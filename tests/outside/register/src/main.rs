//! A protocol written outside the faultline workspace, as a student would write one:
//! a crate that depends on faultline-sim by path, implements the protocol trait, and
//! runs a bundled scenario on it. `tests/outside.rs` copies this crate out of the
//! repository, builds it, and runs it.
//!
//! The protocol is a register held by n1: every other node redirects clients to n1,
//! which applies each operation once and remembers its answer per client, so a
//! retried request gets the first answer again. The `no-dedup` variant forgets
//! that table, and a retried append is applied twice.
//!
//! Usage: register SCENARIO SEEDS; prints "caught K of N", exits 0 if every seed
//! came out as the scenario expects.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::scenario::{Catalog, Known, parse};
use faultline_sim::{ClientId, Ctx, NodeId, Op, Outcome, Protocol, Reply, Request, Sim, TimerId, Trace};

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
enum Msg {
    /// The register's nodes never talk to each other.
    Unused,
}
faultline_sim::message_kinds!(Msg { Unused });

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Register {
    me: NodeId,
    dedup: bool,
    store: BTreeMap<String, String>,
    /// Per client: the last operation applied and its answer.
    sessions: BTreeMap<ClientId, (u64, Outcome)>,
}

impl Protocol for Register {
    type Msg = Msg;
    type Timer = ();
    type Stored = ();
    /// Whether to keep the session table ("correct") or not ("no-dedup").
    type Config = bool;
    const OPS: &'static [faultline_sim::OpKind] = faultline_sim::OpKind::KV;

    fn start(ctx: &mut Ctx<'_, Self>, dedup: &bool, _: &Durable<()>) -> Self {
        Register { me: ctx.id(), dedup: *dedup, store: BTreeMap::new(), sessions: BTreeMap::new() }
    }

    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Msg) {}

    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: ()) {}

    fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, r: Request) {
        let answer = |outcome| Reply { client: r.client, seq: r.seq, outcome };
        if self.me != NodeId(0) {
            ctx.reply(answer(Outcome::Redirect(Some(NodeId(0)))));
            return;
        }
        if let Some((seq, outcome)) = self.sessions.get(&r.client)
            && *seq == r.seq
            && self.dedup
        {
            ctx.reply(answer(outcome.clone()));
            return;
        }
        let outcome = match r.op {
            Op::Get { key } => Outcome::Value(self.store.get(&key).cloned().unwrap_or_default()),
            Op::Put { key, value } => {
                self.store.insert(key, value);
                Outcome::Done
            }
            Op::Append { key, value } => {
                self.store.entry(key).or_default().push_str(&value);
                Outcome::Done
            }
            Op::Cas { key, from, to } => {
                let now = self.store.entry(key).or_default();
                let swap = *now == from;
                if swap {
                    *now = to;
                }
                Outcome::Swapped(swap)
            }
            Op::Transfer { .. } | Op::Read { .. } => Outcome::Rejected("a register holds keys".into()),
        };
        self.sessions.insert(r.client, (r.seq, outcome.clone()));
        ctx.reply(answer(outcome));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(seeds)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: register SCENARIO SEEDS");
        std::process::exit(2);
    };
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("error: cannot read {path}: {e}");
        std::process::exit(2)
    });
    // Registered under the bundled scenario's protocol name, so that its file runs
    // unchanged on this implementation.
    let catalog = Catalog { protocols: vec![Known::of::<Register>("pb", vec!["correct", "no-dedup"])] };
    let scenario = parse(path, &src, &catalog).unwrap_or_else(|d| {
        eprintln!("{d}");
        std::process::exit(2)
    });
    let dedup = scenario.variant == "correct";
    let mut caught = 0;
    let mut as_expected = true;
    for seed in 1..=seeds {
        let result = Sim::<Register>::new(&scenario, dedup, seed, Trace::off()).run();
        if !result.failed_checks().is_empty() {
            caught += 1;
        }
        as_expected &= result.as_expected();
    }
    println!("caught {caught} of {seeds}");
    std::process::exit(if as_expected { 0 } else { 1 });
}

//! A protocol written outside the faultline workspace, as a student would write one:
//! a crate that depends on faultline-sim (the protocol trait) and faultline (the
//! command line) by path, implements the trait, and registers the protocol beside
//! the bundled ones. `tests/outside.rs` copies this crate out of the repository,
//! builds it, and runs bundled scenarios on it.
//!
//! The protocol is a register held by n1: every other node redirects clients to n1,
//! which applies each operation once and remembers its answer per client, so a
//! retried request gets the first answer again. The `no-dedup` variant forgets
//! that table, and a retried append is applied twice.
//!
//! Usage: the whole `faultline` command line. `register run pb/basic --protocol
//! register` runs a bundled scenario on this register, `register sweep ...` sweeps
//! it, `register list` shows it beside the bundled protocols.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::{ClientId, Ctx, NodeId, Op, Outcome, Protocol, Reply, Request, TimerId};

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
            // A bank's transactions, an image store's operations, and whatever kinds
            // come later: not a register's (OPS says so, so scenarios never send them).
            _ => Outcome::Rejected("a register holds keys".into()),
        };
        self.sessions.insert(r.client, (r.seq, outcome.clone()));
        ctx.reply(answer(outcome));
    }
}

/// Its variants, as `faultline list` shows them: "correct" first.
const VARIANTS: &[(&str, &str)] = &[
    ("correct", "answers a retried request from its session table"),
    ("no-dedup", "forgets the session table: a retried append is applied twice"),
];

fn main() -> std::process::ExitCode {
    let register = faultline::Entry::of::<Register>(
        "register",
        "a register held by n1, written outside the repository",
        VARIANTS,
        |scenario| scenario.variant == "correct",
    );
    faultline::cli::main_with(vec![register])
}

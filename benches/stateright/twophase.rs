//! Gray and Lamport's TwoPhase specification ("Consensus on Transaction Commit"), the
//! model stateright's `examples/2pc.rs` checks, written as a faultline protocol and
//! searched by `faultline explore`'s explorer: the comparable configuration for
//! stateright's 2PC (the bundled twopc is a full implementation, with ledgers, disks
//! and clients). n1 is the transaction manager, n2.. the resource managers. A
//! resource manager's choice to prepare or to abort on its own is a timer, as is the
//! manager's choice to commit (once every one has prepared) or to abort.
//!
//! Usage: twophase RMS STATES [THREADS]. Prints one line: unique states, seconds, unique/s.

use faultline_sim::disk::Durable;
use faultline_sim::explore::{Bounds, Explorer, Stop};
use faultline_sim::observe::Violation;
use faultline_sim::protocol::Cluster;
use faultline_sim::scenario::{Catalog, Known};
use faultline_sim::time::Dur;
use faultline_sim::{Ctx, NodeId, Protocol, Request, TimerId};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
enum Msg {
    Prepared,
    Commit,
    Abort,
}

faultline_sim::message_kinds!(Msg { Prepared, Commit, Abort });

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
enum Timer {
    /// A resource manager prepares.
    Prepare,
    /// A resource manager aborts on its own.
    ChooseToAbort,
    /// The manager commits.
    Commit,
    /// The manager aborts.
    Abort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Rm {
    Working,
    Prepared,
    Committed,
    Aborted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Tm {
    Init,
    Committed,
    Aborted,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum TwoPhase {
    Manager { state: Tm, prepared: Vec<bool>, abort: Option<TimerId> },
    Resource { state: Rm, other: Option<TimerId> },
}

impl Protocol for TwoPhase {
    type Msg = Msg;
    type Timer = Timer;
    type Stored = ();
    type Config = ();
    const OPS: &'static [faultline_sim::protocol::OpKind] = &[];

    fn start(ctx: &mut Ctx<'_, Self>, _: &(), _: &Durable<()>) -> Self {
        if ctx.id() == NodeId(0) {
            let abort = Some(ctx.set_timer(Dur::from_millis(1), Timer::Abort));
            TwoPhase::Manager { state: Tm::Init, prepared: vec![false; ctx.cluster_size() - 1], abort }
        } else {
            ctx.set_timer(Dur::from_millis(1), Timer::Prepare);
            ctx.set_timer(Dur::from_millis(1), Timer::ChooseToAbort);
            TwoPhase::Resource { state: Rm::Working, other: None }
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        match (self, msg) {
            (TwoPhase::Manager { state: Tm::Init, prepared, .. }, Msg::Prepared) => {
                let was_all = prepared.iter().all(|p| *p);
                prepared[from.0 - 1] = true;
                if !was_all && prepared.iter().all(|p| *p) {
                    ctx.set_timer(Dur::from_millis(1), Timer::Commit);
                }
            }
            (TwoPhase::Resource { state, .. }, Msg::Commit) => *state = Rm::Committed,
            (TwoPhase::Resource { state, .. }, Msg::Abort) => *state = Rm::Aborted,
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, id: TimerId, timer: Timer) {
        match self {
            TwoPhase::Manager { state, abort, .. } if *state == Tm::Init => {
                let (to, msg) = match timer {
                    Timer::Commit => (Tm::Committed, Msg::Commit),
                    _ => (Tm::Aborted, Msg::Abort),
                };
                if timer == Timer::Commit
                    && let Some(a) = abort.take()
                {
                    ctx.cancel_timer(a);
                }
                *state = to;
                for rm in ctx.peers().collect::<Vec<_>>() {
                    ctx.send(rm, msg.clone());
                }
            }
            TwoPhase::Resource { state, other } if *state == Rm::Working => {
                // The two timers were set one after the other: the other one's id is
                // this one's neighbour.
                let other_id = TimerId(if timer == Timer::Prepare { id.0 + 1 } else { id.0 - 1 });
                ctx.cancel_timer(other_id);
                *other = None;
                if timer == Timer::Prepare {
                    *state = Rm::Prepared;
                    ctx.send(NodeId(0), Msg::Prepared);
                } else {
                    *state = Rm::Aborted;
                }
            }
            _ => {}
        }
    }

    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}

    /// TwoPhase's TCConsistent: no resource manager committed while another aborted.
    fn check_cluster(cluster: &Cluster<'_, Self>) -> Result<(), Violation> {
        let Some(TwoPhase::Manager { prepared, .. }) = cluster.node(NodeId(0)) else { return Ok(()) };
        let (mut committed, mut aborted) = (false, false);
        for rm in 1..=prepared.len() {
            match cluster.node(NodeId(rm)) {
                Some(TwoPhase::Resource { state: Rm::Committed, .. }) => committed = true,
                Some(TwoPhase::Resource { state: Rm::Aborted, .. }) => aborted = true,
                _ => {}
            }
        }
        if committed && aborted {
            return Err(Violation { invariant: "consistent".into(), detail: "one committed, one aborted".into() });
        }
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let number = |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let rms = number(1, 10).clamp(1, 30);
    let states = number(2, 2_000_000).clamp(1, 100_000_000);
    let threads = number(3, 1).clamp(1, 64) as usize;
    let text = format!("name = \"twophase\"\nprotocol = \"twophase\"\nnodes = {}\nduration = \"1s\"\n", rms + 1);
    let catalog = Catalog { protocols: vec![Known::of::<TwoPhase>("twophase", vec!["correct"])] };
    let scenario = faultline_sim::scenario::parse("twophase.toml", &text, &catalog).expect("the scenario parses");
    let bounds = Bounds {
        depth: 1_000,
        states,
        crashes: 0,
        timers: u32::MAX,
        clients: 0,
        memory_bytes: 8 << 30,
        threads,
        ..Bounds::default()
    };
    #[allow(clippy::disallowed_methods)]
    let started = std::time::Instant::now();
    let report = Explorer::<TwoPhase>::new(&scenario, (), bounds).run_threaded(&scenario, &mut |_| {});
    let secs = started.elapsed().as_secs_f64();
    assert!(report.counterexample.is_none(), "TwoPhase is consistent: {:?}", report.counterexample);
    let stop = match report.stop {
        Stop::Complete => "complete",
        Stop::States => "state budget",
        Stop::Memory => "memory budget",
        Stop::Found => "found",
    };
    println!(
        "{:>12} unique/s  {:>12} transitions/s  ({} unique in {secs:.2}s, {stop}, depth {})",
        grouped(report.unique as f64 / secs),
        grouped(report.transitions as f64 / secs),
        grouped(report.unique as f64),
        report.depth
    );
}

/// `1234567.8` as `1,234,568`, as the benchmark script prints its other lines.
fn grouped(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

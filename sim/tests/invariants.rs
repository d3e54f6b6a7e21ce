//! Invariants are checked after every event: a node's own after its step, then the
//! cluster's. The first violation is named, timed, traced, and ends the run.

use faultline_sim::disk::Durable;
use faultline_sim::scenario::{Catalog, Known, parse};
use faultline_sim::time::Dur;
use faultline_sim::trace::TraceBuffer;
use faultline_sim::{Cluster, Ctx, NodeId, Protocol, Request, Sim, TimerId, Trace, Violation};

/// Counts its ticks; node n2 ticks twice as fast. Locally, no node may reach
/// `LOCAL_MAX`; across the cluster, no two nodes may differ by more than `SPREAD_MAX`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Counter {
    me: NodeId,
    count: u64,
    limits: (u64, u64),
}

impl Protocol for Counter {
    type Msg = ();
    type Timer = ();
    /// The count, written after every tick and synced after even ones only.
    type Stored = u64;
    /// (LOCAL_MAX, SPREAD_MAX)
    type Config = (u64, u64);

    fn start(ctx: &mut Ctx<'_, Self>, limits: &(u64, u64), _: &Durable<u64>) -> Self {
        let every = if ctx.id() == NodeId(1) { 50 } else { 100 };
        ctx.set_timer(Dur::from_millis(every), ());
        Counter { me: ctx.id(), count: 0, limits: *limits }
    }
    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: TimerId, _: ()) {
        self.count += 1;
        ctx.write("count", self.count);
        if self.count.is_multiple_of(2) {
            ctx.sync();
        }
        let every = if self.me == NodeId(1) { 50 } else { 100 };
        ctx.set_timer(Dur::from_millis(every), ());
    }
    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}

    fn check_invariants(&self) -> Result<(), Violation> {
        if self.count >= self.limits.0 {
            return Err(Violation {
                invariant: "count-below-max".into(),
                detail: format!("{} counted {}", self.me, self.count),
            });
        }
        Ok(())
    }

    fn check_cluster(cluster: &Cluster<'_, Self>) -> Result<(), Violation> {
        let nodes = cluster.nodes();
        // A property of a down node's disk: "what n1 counted survives its crash"
        // (a stand-in for "an acknowledged write is on a majority of disks").
        if nodes.iter().flatten().any(|n| n.limits.0 == DURABLE_THREE) && nodes[0].is_none() {
            let kept = cluster.synced(NodeId(0), "count").copied();
            if kept < Some(3) {
                return Err(Violation {
                    invariant: "count-survives".into(),
                    detail: format!("n1 is down and its disk holds {kept:?}"),
                });
            }
        }
        let counts: Vec<u64> = nodes.iter().flatten().map(|n| n.count).collect();
        let (lo, hi) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        let spread_max = nodes.iter().flatten().next().map_or(u64::MAX, |n| n.limits.1);
        if hi - lo > spread_max {
            return Err(Violation { invariant: "counts-close".into(), detail: format!("spread {}", hi - lo) });
        }
        Ok(())
    }
}

/// A `LOCAL_MAX` that also turns on the down-disk check in `check_cluster`.
const DURABLE_THREE: u64 = 999;

fn run(limits: (u64, u64), invariants: bool) -> (faultline_sim::RunResult, String) {
    run_with(limits, invariants, "")
}

fn run_with(limits: (u64, u64), invariants: bool, faults: &str) -> (faultline_sim::RunResult, String) {
    let src = format!(
        "name = \"c\"\nprotocol = \"counter\"\nnodes = 3\nduration = \"2s\"\n{faults}[check]\ninvariants = {invariants}\n"
    );
    let catalog = Catalog {
        protocols: vec![Known {
            name: "counter",
            variants: vec!["correct"],
            probes: vec![],
            messages: vec![],
            ops: vec![],
            leader: false,
            min_nodes: 1,
        }],
    };
    let s = parse("c.toml", &src, &catalog).expect("parses");
    let buf = TraceBuffer::default();
    let r = Sim::<Counter>::new(&s, limits, 1, Trace::to_writer(Box::new(buf.clone()))).run();
    let text = buf.text();
    (r, text)
}

#[test]
fn a_local_invariant_is_caught_at_the_step_that_breaks_it() {
    let (r, trace) = run((4, 100), true);
    let (t, v) = r.violation.clone().expect("a violation");
    assert_eq!(v.invariant, "count-below-max");
    assert_eq!(t, 200_000_000, "n2 reaches 4 ticks at 200ms");
    assert!(r.failures()[0].contains("invariant `count-below-max` violated at 200ms"), "{:?}", r.failures());
    assert!(trace.contains("\"ev\":\"violation\",\"invariant\":\"count-below-max\""));
    assert_eq!(r.end_time, t, "the run stops at the first violation");
}

#[test]
fn a_cluster_invariant_is_checked_after_every_event() {
    let (r, _) = run((1_000, 3), true);
    let (t, v) = r.violation.expect("a violation");
    assert_eq!(v.invariant, "counts-close");
    // At 350ms n2 ticks for the 7th time while n1 and n3 have ticked 3 times.
    assert_eq!(t, 350_000_000);
}

#[test]
fn invariants_off_means_not_checked() {
    let (r, _) = run((4, 3), false);
    assert!(r.violation.is_none() && r.failures().is_empty());
    assert_eq!(r.end_time, 2_000_000_000);
}

#[test]
fn a_check_reads_a_down_nodes_disk() {
    // n1 counts 3 at 300ms, but synced only its count of 2: a crash at 350ms keeps 2.
    let crash = |at| format!("[[faults]]\nat = \"{at}\"\ncrash = \"n1\"\n");
    let (r, trace) = run_with((DURABLE_THREE, 1_000), true, &crash("350ms"));
    let (t, v) = r.violation.expect("a violation");
    assert_eq!((v.invariant.as_str(), v.detail.as_str()), ("count-survives", "n1 is down and its disk holds Some(2)"));
    assert_eq!(t, 350_000_000, "checked at the crash itself");
    assert!(trace.contains("\"ev\":\"crash\",\"node\":\"n1\",\"lost_writes\":1"), "the unsynced count is lost");
    // At 450ms n1 has counted (and synced) 4: its disk keeps it.
    let (r, _) = run_with((DURABLE_THREE, 1_000), true, &crash("450ms"));
    assert!(r.violation.is_none(), "{:?}", r.violation);
}

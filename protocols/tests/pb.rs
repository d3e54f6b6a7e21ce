//! The primary-backup register on its own: client semantics (info for unanswered
//! writes, dedup of retries), recovery, and each zoo variant caught by name.

use faultline_sim::history::{Completion, EventType, GaveUp};
use faultline_sim::scenario::parse;
use faultline_sim::{RunResult, Trace};

fn run(body: &str, seed: u64) -> RunResult {
    let src = format!("name = \"t\"\nprotocol = \"pb\"\n{body}");
    let s = parse("t.toml", &src, &faultline_protocols::catalog()).unwrap_or_else(|d| panic!("{d}"));
    faultline_protocols::run(&s, seed, Trace::hash_only())
}

#[test]
fn writes_to_a_dead_primary_are_info_and_reads_fail() {
    let r = run(
        "nodes = 3\nduration = \"2s\"\n[[faults]]\nat = \"0s\"\ncrash = \"n1\"\n[workload]\nclients = 3\nops = 30\ntimeout = \"50ms\"\nretries = 1\n",
        1,
    );
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let ops = &r.history.ops;
    assert!(!ops.is_empty());
    for op in ops {
        let (_, c) = op.complete.as_ref().expect("every operation settles");
        match c {
            Completion::Info { gave_up, .. } => {
                assert!(!op.op.is_read() && *gave_up == Some(GaveUp::TimedOut), "{op:?}")
            }
            Completion::Fail { .. } => assert!(op.op.is_read(), "{op:?}"),
            Completion::Ok { .. } => panic!("nobody could have answered {op:?}"),
        }
    }
    assert!(r.history.count(EventType::Info) > 0);
    let json: serde_json::Value = serde_json::from_str(&r.history.to_json()).expect("history JSON");
    let events = json["events"].as_array().expect("events");
    assert_eq!(events.len(), 2 * ops.len());
    assert!(events.iter().any(|e| e["type"] == "info"));
    assert_eq!(json["format"], "faultline-history");
}

#[test]
fn duplicated_and_retried_appends_apply_once() {
    // Every message is delivered twice and clients time out and retry often; with
    // append-only writes, any double application breaks linearizability.
    let body = "nodes = 3\nduration = \"5s\"\n[network]\nduplicate = \"100%\"\nlatency = { dist = \"uniform\", min = \"1ms\", max = \"40ms\" }\n[workload]\nclients = 4\nops = 300\nmix = { get = 40, append = 60 }\nkeys = 2\ntimeout = \"30ms\"\nretries = 5\n";
    for seed in 1..6 {
        let r = run(body, seed);
        assert!(r.failures().is_empty(), "seed {seed}: {:?}", r.failures());
        assert!(r.stats.duplicated > 0);
    }
}

#[test]
fn a_restarted_primary_recovers_acknowledged_writes() {
    let body = "nodes = 3\nduration = \"4s\"\n[[faults]]\nat = \"1s\"\ncrash = \"n1\"\n[[faults]]\nat = \"1.2s\"\nrestart = \"n1\"\n[workload]\nclients = 3\nops = 300\nkeys = 2\nrate = 80\ntimeout = \"50ms\"\n";
    for seed in 1..11 {
        let r = run(body, seed);
        assert!(r.failures().is_empty(), "seed {seed}: {:?}", r.failures());
        assert_eq!(r.stats.lost_writes, 0, "every write was synced");
    }
    // The broken variant loses them, and both checks see it.
    let broken = body
        .replace("nodes = 3", "variant = \"unsynced-log\"\nnodes = 3")
        .replace("[workload]", "[check]\ninvariants = false\n[workload]");
    let caught = (1..11).filter(|&seed| {
        let r = run(&broken, seed);
        assert!(r.stats.lost_writes > 0);
        r.failed_checks().iter().any(|f| f.check == faultline_sim::Check::Linearizability)
    });
    assert!(caught.count() >= 8, "with invariants off, linearizability alone catches lost writes");
}

/// Stepped by hand, without the engine: the effects come out in the order the
/// protocol asked for them, and "sync before you answer" is visible in that order.
#[test]
fn the_primary_syncs_a_write_before_it_replies() {
    use faultline_protocols::pb::{Pb, Variant};
    use faultline_sim::disk::Durable;
    use faultline_sim::protocol::Effect;
    use faultline_sim::rng::{SimRng, Stream};
    use faultline_sim::{Ctx, NodeId, Op, Protocol, Request};

    let kinds = |variant: Variant| -> Vec<&'static str> {
        let mut rng = SimRng::new(1, Stream::Node(0));
        let mut effects: Vec<Effect<Pb>> = Vec::new();
        let mut timers = 0;
        let mut pb = {
            let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut effects, &mut timers);
            Pb::start(&mut ctx, &variant, &Durable::new())
        };
        effects.clear();
        let mut ctx = Ctx::manual(NodeId(0), 3, 0, &mut rng, &mut effects, &mut timers);
        let put = Op::Put { key: "k1".into(), value: "v".into() };
        pb.on_request(&mut ctx, Request::new(0, 1, put));
        effects
            .iter()
            .map(|e| match e {
                Effect::Write { .. } => "write",
                Effect::Sync => "sync",
                Effect::Reply(_) => "reply",
                Effect::Send { .. } => "send",
                _ => "other",
            })
            .collect()
    };
    assert_eq!(kinds(Variant::Correct), ["write", "sync", "reply", "send", "send"]);
    assert_eq!(kinds(Variant::UnsyncedLog), ["write", "reply", "send", "send"]);
}

//! Every fault kind, shown by its effect in the trace. A small probe protocol sends,
//! ticks, writes and syncs; each test runs a scenario and reads the JSON Lines trace.

use faultline_sim::disk::Durable;
use faultline_sim::scenario::{Catalog, Known, parse};
use faultline_sim::time::Dur;
use faultline_sim::trace::TraceBuffer;
use faultline_sim::{Ctx, NodeId, Protocol, Request, RunResult, Sim, TimerId, Trace};
use serde::Serialize;
use serde_json::Value;

/// Node 1 pings every peer on each tick; every node writes one synced and one
/// unsynced key at start, and notes what it recovered and what its clock reads.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Probe {
    ticks: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
enum Msg {
    Ping(u64),
}
faultline_sim::message_kinds!(Msg { Ping });

const TICK_MS: u64 = 100;

impl Protocol for Probe {
    type Msg = Msg;
    type Timer = &'static str;
    type Stored = String;
    type Config = ();

    fn start(ctx: &mut Ctx<'_, Self>, _: &(), durable: &Durable<String>) -> Self {
        let keys: Vec<&str> = durable.keys().map(String::as_str).collect();
        ctx.note(format!("recovered [{}] clock {}", keys.join(","), ctx.now()));
        ctx.write("synced", "1".to_string());
        ctx.sync();
        ctx.write("unsynced", "2".to_string());
        ctx.set_timer(Dur::from_millis(TICK_MS), "tick");
        Probe { ticks: 0 }
    }

    fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Msg) {}

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: TimerId, _: &'static str) {
        self.ticks += 1;
        ctx.note(format!("tick {} local {}", self.ticks, ctx.now()));
        if ctx.id() == NodeId(0) {
            for p in ctx.peers().collect::<Vec<_>>() {
                ctx.send(p, Msg::Ping(self.ticks));
            }
        }
        ctx.set_timer(Dur::from_millis(TICK_MS), "tick");
    }

    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
}

/// A scenario for one of this file's test protocols, named `name` in a catalog of one.
fn scenario_for(name: &'static str, leader: bool, src: &str) -> faultline_sim::Scenario {
    let catalog = Catalog {
        protocols: vec![Known {
            name,
            variants: vec!["correct"],
            probes: vec![],
            messages: vec!["Ping"],
            ops: faultline_sim::protocol::OpKind::KV.to_vec(),
            leader,
            min_nodes: 1,
        }],
    };
    parse(&format!("{name}.toml"), src, &catalog).unwrap_or_else(|d| panic!("{d}"))
}

fn run(toml_body: &str, seed: u64) -> (RunResult, Vec<Value>) {
    let src = format!("name = \"probe\"\nprotocol = \"probe\"\n{toml_body}");
    let scenario = scenario_for("probe", true, &src);
    let buf = TraceBuffer::default();
    let result = Sim::<Probe>::new(&scenario, (), seed, Trace::to_writer(Box::new(buf.clone()))).run();
    let events = buf.text().lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    (result, events)
}

fn of<'a>(events: &'a [Value], ev: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["ev"] == ev).collect()
}

fn t(e: &Value) -> u64 {
    e["t"].as_u64().expect("t")
}

fn ms(x: u64) -> u64 {
    x * 1_000_000
}

/// Pings from n1 to `to`: (send time, deliver time or None), leaving out the last
/// 100ms of the run, whose messages may still be in flight when it ends.
fn pings_to(events: &[Value], to: &str) -> Vec<(u64, Option<u64>)> {
    let end = t(of(events, "end")[0]);
    of(events, "send")
        .into_iter()
        .filter(|s| s["from"] == "n1" && s["to"] == to && t(s) + ms(100) < end)
        .map(|s| {
            let id = &s["id"];
            let d = events.iter().find(|e| e["ev"] == "deliver" && &e["id"] == id).map(t);
            (t(s), d)
        })
        .collect()
}

const BASE: &str = "nodes = 3\nduration = \"1s\"\n";

#[test]
fn constant_latency_delivers_exactly_that_late() {
    let (_, ev) = run(&format!("{BASE}[network]\nlatency = {{ dist = \"constant\", value = \"7ms\" }}\n"), 1);
    let pings = pings_to(&ev, "n2");
    assert!(pings.len() >= 8, "{pings:?}");
    for (sent, got) in pings {
        assert_eq!(got, Some(sent + ms(7)));
    }
}

#[test]
fn uniform_latency_stays_in_its_range_and_varies() {
    let (_, ev) =
        run(&format!("{BASE}[network]\nlatency = {{ dist = \"uniform\", min = \"2ms\", max = \"30ms\" }}\n"), 2);
    let mut lat: Vec<u64> =
        pings_to(&ev, "n2").into_iter().chain(pings_to(&ev, "n3")).map(|(s, d)| d.expect("delivered") - s).collect();
    assert!(lat.iter().all(|&l| (ms(2)..=ms(30)).contains(&l)), "{lat:?}");
    lat.sort();
    lat.dedup();
    assert!(lat.len() > 5, "latencies should vary: {lat:?}");
}

#[test]
fn per_link_latency_overrides_the_default() {
    let body = format!(
        "{BASE}[network]\nlatency = {{ dist = \"constant\", value = \"1ms\" }}\n[[network.links]]\nfrom = \"n1\"\nto = \"n3\"\nlatency = {{ dist = \"constant\", value = \"40ms\" }}\n"
    );
    let (_, ev) = run(&body, 1);
    assert!(pings_to(&ev, "n2").iter().all(|&(s, d)| d == Some(s + ms(1))));
    assert!(pings_to(&ev, "n3").iter().all(|&(s, d)| d == Some(s + ms(40))));
}

#[test]
fn exponential_and_long_tail_latencies() {
    let exp = "nodes = 3\nduration = \"20s\"\n[network]\nlatency = { dist = \"exponential\", min = \"1ms\", mean = \"4ms\" }\n";
    let (_, ev) = run(exp, 3);
    let lat: Vec<u64> = pings_to(&ev, "n2").into_iter().filter_map(|(s, d)| d.map(|d| d - s)).collect();
    assert!(lat.iter().all(|&l| l >= ms(1)));
    let mean = lat.iter().sum::<u64>() / lat.len() as u64;
    assert!((ms(4)..ms(6)).contains(&mean), "mean {mean} should be near min + mean = 5ms");

    let body = "nodes = 3\nduration = \"20s\"\n[network]\nlatency = { dist = \"long-tail\", min = \"1ms\", max = \"2ms\", tail = \"10%\", tail_max = \"300ms\" }\n";
    let (_, ev) = run(body, 3);
    let lat: Vec<u64> = pings_to(&ev, "n2").into_iter().filter_map(|(s, d)| d.map(|d| d - s)).collect();
    let slow = lat.iter().filter(|&&l| l > ms(2)).count();
    assert!(slow > 0 && slow < lat.len() / 4, "about 10% slow, got {slow} of {}", lat.len());
}

#[test]
fn loss_drops_messages_with_the_reason() {
    let (r, ev) = run(&format!("{BASE}[network]\nloss = \"100%\"\n"), 1);
    assert!(of(&ev, "deliver").is_empty());
    let drops = of(&ev, "drop");
    assert!(!drops.is_empty() && drops.iter().all(|d| d["reason"] == "loss"));
    assert_eq!(r.stats.dropped_loss, r.stats.sent);
    // And a partial rate loses some, not all.
    let (r, _) = run("nodes = 3\nduration = \"10s\"\n[network]\nloss = \"20%\"\n", 1);
    let frac = r.stats.dropped_loss as f64 / r.stats.sent as f64;
    assert!((0.12..0.28).contains(&frac), "{frac}");
}

#[test]
fn duplication_delivers_the_same_message_twice() {
    let (r, ev) = run(&format!("{BASE}[network]\nduplicate = \"100%\"\n"), 1);
    let dups = of(&ev, "duplicate");
    assert!(!dups.is_empty());
    for d in dups.into_iter().filter(|d| t(d) < ms(900)) {
        let n = of(&ev, "deliver").iter().filter(|e| e["id"] == d["id"]).count();
        assert_eq!(n, 2, "message {} delivered {n} times", d["id"]);
    }
    assert!(r.stats.delivered > r.stats.sent * 3 / 2);
}

#[test]
fn links_are_fifo_unless_reordering_is_on() {
    let order = |body: &str| {
        let (_, ev) = run(body, 5);
        let sent: Vec<u64> =
            of(&ev, "send").iter().filter(|s| s["to"] == "n2").map(|s| s["id"].as_u64().unwrap()).collect();
        let got: Vec<u64> =
            of(&ev, "deliver").iter().filter(|s| s["to"] == "n2").map(|s| s["id"].as_u64().unwrap()).collect();
        (sent, got, of(&ev, "reorder").len())
    };
    // Latency jitter far above the tick interval: FIFO must still hold.
    let fifo =
        "nodes = 3\nduration = \"3s\"\n[network]\nlatency = { dist = \"uniform\", min = \"1ms\", max = \"400ms\" }\n";
    let (sent, got, n) = order(fifo);
    assert_eq!(n, 0);
    assert_eq!(got, sent[..got.len()].to_vec(), "FIFO link");
    let (sent, got, n) = order(&format!("{fifo}reorder = \"50%\"\n"));
    assert!(n > 0);
    assert_ne!(got, sent[..got.len()].to_vec(), "reordered link");
}

#[test]
fn a_partition_delivers_nothing_across_until_heal() {
    let body = format!(
        "{BASE}[network]\nlatency = {{ dist = \"constant\", value = \"1ms\" }}\n[[faults]]\nat = \"250ms\"\npartition = [[\"n1\"], [\"n2\", \"n3\"]]\n[[faults]]\nat = \"650ms\"\nheal = \"all\"\n"
    );
    let (_, ev) = run(&body, 1);
    let p = of(&ev, "partition");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["groups"], serde_json::json!([["n1"], ["n2", "n3"]]));
    for (sent, got) in pings_to(&ev, "n2") {
        if (ms(250)..ms(650)).contains(&sent) {
            assert_eq!(got, None, "sent at {sent} during the partition");
        } else {
            assert!(got.is_some(), "sent at {sent} outside the partition");
        }
    }
    assert!(of(&ev, "drop").iter().all(|d| d["reason"] == "partition"));
    assert_eq!(of(&ev, "heal").len(), 1);
}

#[test]
fn held_messages_arrive_after_heal() {
    let body = format!(
        "{BASE}[network]\nlatency = {{ dist = \"constant\", value = \"1ms\" }}\non_cut = \"hold\"\n[[faults]]\nat = \"250ms\"\nisolate = \"n2\"\n[[faults]]\nat = \"650ms\"\nheal = \"all\"\n"
    );
    let (r, ev) = run(&body, 1);
    assert!(r.stats.held >= 4 && r.stats.dropped() == 0);
    let heal = t(of(&ev, "heal")[0]);
    assert_eq!(of(&ev, "heal")[0]["released"].as_u64(), Some(r.stats.held));
    for (sent, got) in pings_to(&ev, "n2") {
        let got = got.expect("every ping arrives");
        if (ms(250)..ms(650)).contains(&sent) {
            assert!(got > heal, "held until heal");
        }
    }
}

#[test]
fn a_one_way_cut_blocks_one_direction_only() {
    let body = format!("{BASE}[[faults]]\nat = \"0ms\"\ncut = {{ from = [\"n1\"], to = [\"n2\"] }}\n");
    let (_, ev) = run(&body, 1);
    assert!(pings_to(&ev, "n2").iter().all(|&(_, d)| d.is_none()));
    assert!(pings_to(&ev, "n3").iter().all(|&(_, d)| d.is_some()));
    let cut = &of(&ev, "partition")[0]["cut"];
    assert_eq!(cut, &serde_json::json!([["n1", "n2"]]));
}

#[test]
fn named_splits_cut_the_expected_links() {
    let cuts = |split: &str| {
        let body = format!("nodes = 5\nduration = \"1s\"\n[[faults]]\nat = \"10ms\"\nsplit = \"{split}\"\n");
        let (_, ev) = run(&body, 4);
        let p = of(&ev, "partition")[0].clone();
        (p["cut"].as_array().unwrap().len(), p["groups"].as_array().unwrap().len())
    };
    assert_eq!(cuts("halves"), (12, 2), "2 x 3 nodes, cut both ways");
    assert_eq!(cuts("bridge"), (8, 1), "2 x 2 nodes cut both ways; the bridge joins them");
    assert_eq!(cuts("majority-ring"), (10, 1), "each node loses 2 of 4 peers");
    let body = "nodes = 5\nduration = \"1s\"\n[[faults]]\nat = \"10ms\"\nisolate = \"n4\"\n";
    let (_, ev) = run(body, 1);
    assert_eq!(of(&ev, "partition")[0]["groups"], serde_json::json!([["n1", "n2", "n3", "n5"], ["n4"]]));
}

#[test]
fn a_crash_loses_unsynced_writes_and_keeps_synced_ones() {
    let body =
        format!("{BASE}[[faults]]\nat = \"300ms\"\ncrash = \"n2\"\n[[faults]]\nat = \"500ms\"\nrestart = \"n2\"\n");
    let (r, ev) = run(&body, 1);
    let crash = of(&ev, "crash");
    assert_eq!(crash.len(), 1);
    assert_eq!(crash[0]["lost_writes"], 1, "the unsynced write");
    assert_eq!(of(&ev, "restart")[0]["durable_keys"], 1);
    let notes: Vec<&str> =
        of(&ev, "note").iter().filter(|n| n["node"] == "n2").map(|n| n["text"].as_str().unwrap()).collect();
    assert!(notes.iter().any(|n| n.starts_with("recovered [synced]")), "{notes:?}");
    assert_eq!(r.stats.crashes, 1);
    // Down, n2 receives nothing and its timers stop.
    assert!(pings_to(&ev, "n2").iter().filter(|&&(s, _)| (ms(300)..ms(495)).contains(&s)).all(|&(_, d)| d.is_none()));
    let ticks = notes.iter().filter(|n| n.starts_with("tick")).count();
    assert!(ticks < 9, "n2 ticks {ticks} times, not during its downtime");
    assert!(of(&ev, "drop").iter().any(|d| d["reason"] == "node down"));
}

#[test]
fn a_paused_node_handles_nothing_until_resumed() {
    let body = format!(
        "{BASE}[network]\nlatency = {{ dist = \"constant\", value = \"1ms\" }}\n[[faults]]\nat = \"250ms\"\npause = \"n2\"\n[[faults]]\nat = \"650ms\"\nresume = \"n2\"\n"
    );
    let (_, ev) = run(&body, 1);
    let resume = of(&ev, "resume")[0];
    assert!(resume["backlog"].as_u64().unwrap() >= 4, "pings and its own timer wait");
    for (sent, got) in pings_to(&ev, "n2") {
        let got = got.expect("nothing is lost");
        if (ms(250)..ms(649)).contains(&sent) {
            assert_eq!(got, ms(650), "delivered at resume");
        }
    }
    let n2_ticks: Vec<u64> = of(&ev, "timer").iter().filter(|e| e["node"] == "n2").map(|e| t(e)).collect();
    assert!(!n2_ticks.iter().any(|&x| x > ms(250) && x < ms(650)));
}

#[test]
fn clock_skew_shifts_readings_and_drift_moves_timers() {
    // n2 starts 50ms ahead; n3 runs 25% fast, so its 100ms timers fire every 80ms.
    let body = format!(
        "{BASE}[[clocks]]\nnode = \"n2\"\nskew = \"+50ms\"\n[[clocks]]\nnode = \"n3\"\ndrift = \"+25%\"\n[[faults]]\nat = \"500ms\"\nclock = {{ node = \"n2\", skew = \"-200ms\" }}\n"
    );
    let (_, ev) = run(&body, 1);
    let notes = |node: &str| -> Vec<String> {
        of(&ev, "note").iter().filter(|n| n["node"] == node).map(|n| n["text"].as_str().unwrap().to_string()).collect()
    };
    assert!(notes("n2")[0].ends_with(&format!("clock {}", ms(50))));
    let fired =
        |node: &str| -> Vec<u64> { of(&ev, "timer").iter().filter(|e| e["node"] == node).map(|e| t(e)).collect() };
    assert_eq!(fired("n1")[..3], [ms(100), ms(200), ms(300)]);
    assert_eq!(fired("n3")[..3], [ms(80), ms(160), ms(240)], "a fast clock fires timers early");
    // The step at 500ms sets n2's clock back: its reading after the step is 150ms behind before it.
    let c = of(&ev, "clock");
    assert_eq!(c[0]["skew_ns"].as_i64(), Some(-150_000_000));
    let n2_notes = notes("n2");
    let tick_after = n2_notes.iter().find(|n| n.starts_with("tick 5 ")).expect("tick 5");
    assert!(tick_after.ends_with(&format!("local {}", ms(500) - ms(150))), "{tick_after}");
}

#[test]
fn a_slow_clock_fires_timers_late() {
    let (_, ev) = run(&format!("{BASE}[[clocks]]\nnode = \"n1\"\ndrift = \"-50%\"\n"), 1);
    let fired: Vec<u64> = of(&ev, "timer").iter().filter(|e| e["node"] == "n1").map(|e| t(e)).collect();
    assert_eq!(fired[..2], [ms(200), ms(400)]);
}

#[test]
fn the_nemesis_injects_the_kinds_it_is_given_and_heals_at_stop() {
    let body = "nodes = 5\nduration = \"20s\"\n[nemesis]\nkinds = [\"partition\", \"crash\", \"pause\", \"clock\"]\ninterval = \"300ms\"\nfault_duration = \"200ms\"\nstop = \"15s\"\n";
    let (r, ev) = run(body, 11);
    for kind in ["partition", "crash", "restart", "pause", "resume", "clock", "heal"] {
        assert!(!of(&ev, kind).is_empty(), "no {kind} event");
    }
    let last_fault = ev
        .iter()
        .filter(|e| ["partition", "crash", "pause", "clock"].contains(&e["ev"].as_str().unwrap()))
        .map(t)
        .max()
        .unwrap();
    assert!(last_fault < ms(15_000));
    assert_eq!(r.stats.crashes, r.stats.restarts, "every crash restarted by stop");
    // Only the kinds asked for.
    let (_, ev) = run("nodes = 5\nduration = \"10s\"\n[nemesis]\nkinds = [\"pause\"]\ninterval = \"300ms\"\n", 11);
    assert!(of(&ev, "crash").is_empty() && of(&ev, "partition").is_empty() && !of(&ev, "pause").is_empty());
}

#[test]
fn the_same_seed_gives_the_same_trace_and_another_seed_does_not() {
    let body = "nodes = 5\nduration = \"5s\"\n[network]\nloss = \"5%\"\nduplicate = \"5%\"\nreorder = \"5%\"\n[nemesis]\nkinds = [\"partition\", \"crash\", \"pause\", \"clock\"]\ninterval = \"300ms\"\n";
    let (a, ea) = run(body, 42);
    let (b, eb) = run(body, 42);
    let (c, _) = run(body, 43);
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(ea, eb);
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// Each node sends itself a numbered message on every tick.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Loopback {
    next: u64,
    got: Vec<u64>,
}

impl Protocol for Loopback {
    type Msg = Msg;
    type Timer = &'static str;
    type Stored = String;
    type Config = ();

    fn start(ctx: &mut Ctx<'_, Self>, _: &(), _: &Durable<String>) -> Self {
        ctx.set_timer(Dur::from_millis(10), "tick");
        Loopback { next: 0, got: Vec::new() }
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, Msg::Ping(n): Msg) {
        assert_eq!(from, ctx.id(), "only self-sends here");
        self.got.push(n);
        ctx.note(format!("got {n}"));
    }

    fn on_timer(&mut self, ctx: &mut Ctx<'_, Self>, _: TimerId, _: &'static str) {
        for _ in 0..3 {
            self.next += 1;
            ctx.send(ctx.id(), Msg::Ping(self.next));
        }
        ctx.set_timer(Dur::from_millis(10), "tick");
    }

    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
}

/// Regression: self-sends once crossed the network, so a node's message to itself
/// could be lost, duplicated or reordered. Loopback is reliable: each arrives once,
/// in order, at the instant it was sent, whatever the network, cuts and drops say.
#[test]
fn a_node_hears_itself_once_in_order_at_once_over_any_network() {
    let src = "name = \"loopback\"\nprotocol = \"loopback\"\nnodes = 2\nduration = \"1s\"\n[network]\nloss = \"100%\"\nduplicate = \"100%\"\nreorder = \"100%\"\n[[faults]]\nat = \"300ms\"\nisolate = \"n1\"\n[[faults]]\nat = \"300ms\"\ndrop = { kind = \"Ping\", to = [\"n1\", \"n2\"], for = \"500ms\" }\n";
    let scenario = scenario_for("loopback", false, src);
    let buf = TraceBuffer::default();
    let r = Sim::<Loopback>::new(&scenario, (), 1, Trace::to_writer(Box::new(buf.clone()))).run();
    let ev: Vec<Value> = buf.text().lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!((r.stats.dropped(), r.stats.duplicated, r.stats.reordered), (0, 0, 0));
    assert_eq!(r.stats.delivered, r.stats.sent);
    for node in ["n1", "n2"] {
        let got: Vec<String> =
            of(&ev, "note").iter().filter(|e| e["node"] == node).map(|e| e["text"].as_str().unwrap().into()).collect();
        let want: Vec<String> = (1..=got.len() as u64).map(|i| format!("got {i}")).collect();
        assert!(got.len() >= 3 * 90, "{node} heard {} of its messages", got.len());
        assert_eq!(got, want, "{node}: each once, in order");
    }
    for s in of(&ev, "send") {
        let d = ev.iter().find(|e| e["ev"] == "deliver" && e["id"] == s["id"]).expect("delivered");
        assert_eq!(t(d), t(s), "loopback takes no time");
    }
}

/// Every message is answered by two: the waiting messages double each round trip.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Storm;

impl Protocol for Storm {
    type Msg = Msg;
    type Timer = &'static str;
    type Stored = String;
    type Config = ();

    fn start(ctx: &mut Ctx<'_, Self>, _: &(), _: &Durable<String>) -> Self {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), Msg::Ping(0));
        }
        Storm
    }

    fn on_message(&mut self, ctx: &mut Ctx<'_, Self>, from: NodeId, Msg::Ping(n): Msg) {
        ctx.send(from, Msg::Ping(n + 1));
        ctx.send(from, Msg::Ping(n + 1));
    }

    fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: &'static str) {}
    fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
}

/// A storm stops at the run's memory ceiling (waiting events), typed and worded,
/// long before it could take the machine's memory.
#[test]
fn a_message_storm_stops_at_the_memory_ceiling() {
    let src = "name = \"storm\"\nprotocol = \"storm\"\nnodes = 2\nduration = \"10s\"\n[network]\nlatency = { dist = \"constant\", value = \"1ms\" }\n";
    let scenario = scenario_for("storm", false, src);
    let r = Sim::<Storm>::new(&scenario, (), 1, Trace::off()).run();
    assert!(r.memory_limit_hit && !r.event_limit_hit, "{:?}", r.failures());
    assert!(r.end_time < 100_000_000, "it stopped within the first 100ms, at {}", r.end_time);
    let failed = r.failed_checks();
    assert_eq!(failed[0].check, faultline_sim::Check::MemoryLimit);
    assert!(failed[0].message.contains("memory ceiling (2000000 waiting events"), "{}", failed[0].message);
}

//! The image store's workload (`kind = "images"`): upload, fetch, tag, delete and
//! list by tag, judged for linearizability per image and by `list-by-tag`. Run on
//! one replicated state machine (a Raft or Multi-Paxos group holding every image),
//! it passes the random nemesis; a leader that answers reads without confirming it
//! still leads is caught, by a stale fetch and by a stale list.

mod common;
use common::bundled;
use faultline_sim::scenario::WorkloadKind;
use faultline_sim::{Check, Op};

#[test]
fn the_image_store_on_one_raft_group_passes_500_seeds_of_the_nemesis() {
    let s = bundled("images/one-group");
    let w = s.workload.as_ref().expect("a workload");
    assert_eq!(w.kind(), WorkloadKind::Images);
    assert!(s.linearizable, "an images workload is judged for linearizability by default");
    common::passes_every_seed(&s, 1..501);
    // Every kind of operation is issued, and answered.
    let r = faultline_protocols::run(&s, 3, faultline_sim::Trace::off());
    let h = &r.history;
    for kind in faultline_sim::OpKind::IMAGES {
        let answered = h.ops.iter().filter(|o| o.op.kind() == *kind && o.complete.is_some()).count();
        assert!(answered >= 5, "{kind}: {answered} answered");
    }
    let tagged_lists = h
        .ops
        .iter()
        .filter(|o| matches!(o.op, Op::List { .. }))
        .filter_map(|o| o.complete.as_ref())
        .filter(|(_, c)| matches!(c, faultline_sim::history::Completion::Ok { value: Some(v), .. } if !v.is_empty()))
        .count();
    assert!(tagged_lists >= 3, "lists that found images: {tagged_lists}");
}

#[test]
fn multi_paxos_serves_the_image_workload_too() {
    let mut s = bundled("images/one-group");
    s.protocol = "paxos".into();
    common::passes_every_seed(&s, 1..101);
}

#[test]
fn reads_answered_without_confirming_leadership_are_caught_by_a_fetch_and_by_a_list() {
    let mut s = bundled("images/one-group");
    s.variant = "stale-reads".into();
    let out = faultline::cli::sweep::run_seeds(&s, 1..401, 2, &indicatif::ProgressBar::hidden());
    let by = |check: &Check| out.iter().filter(|o| o.checks.first() == Some(check)).count();
    let stale_fetch = by(&Check::Linearizability);
    let stale_list = by(&Check::Invariant("list-by-tag".into()));
    assert!(stale_fetch >= 10, "stale fetches caught on {stale_fetch} of 400 seeds");
    assert!(stale_list >= 3, "stale lists caught on {stale_list} of 400 seeds");
}

#[test]
fn scripted_image_operations_are_written_as_the_parser_reads_them() {
    let text = r#"
name = "scripted images"
protocol = "raft"
nodes = 3
duration = "2s"

[workload]
kind = "images"
clients = 2

[[workload.operations]]
client = "c1"
at = "10ms"
op = "upload"
name = "cat.png"
size = 4096
tags = ["cat", "red"]

[[workload.operations]]
client = "c2"
at = "20ms"
op = "tag"
name = "cat.png"
tag = "blue"

[[workload.operations]]
client = "c1"
at = "30ms"
op = "list"
tag = "blue"

[[workload.operations]]
client = "c2"
at = "40ms"
op = "delete"
name = "cat.png"

[[workload.operations]]
client = "c1"
at = "50ms"
op = "fetch"
name = "cat.png"
"#;
    let catalog = faultline_protocols::catalog();
    let s = faultline_sim::scenario::parse("scripted.toml", text, &catalog).expect("parses");
    let script = &s.workload.as_ref().expect("a workload").script;
    assert_eq!(script.len(), 5);
    let Op::Upload { content, .. } = &script[0].op else { panic!("{:?}", script[0].op) };
    assert_eq!(content, "1.1", "an upload's content defaults to its client and number");
    let mut written = String::from(&text[..text.find("[[workload").expect("operations")]);
    for o in script {
        let table = faultline_sim::shrink::op_table(o);
        written.push_str(&format!("[[workload.operations]]\n{}\n", toml::to_string(&table).expect("toml")));
    }
    let again = faultline_sim::scenario::parse("again.toml", &written, &catalog).expect("reads back");
    assert_eq!(&again.workload.as_ref().expect("a workload").script, script);
    // And the run does what the script says: the fetch after the delete finds nothing.
    let r = faultline_protocols::run(&s, 1, faultline_sim::Trace::off());
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let done: Vec<String> = r.history.ops.iter().map(|o| format!("{:?}", o.complete.as_ref().map(|c| &c.1))).collect();
    assert!(done[2].contains("cat.png"), "the list of blue names cat.png: {done:?}");
    assert!(done[4].contains("value: Some(\"\")"), "the fetch after the delete finds nothing: {done:?}");
}

#[test]
fn every_sharded_image_store_scenario_passes_fifty_seeds() {
    let names = common::bundled_in("images/", |n| {
        !["images/nemesis", "images/one-group", "images/rebalance-nemesis"].contains(&n)
    });
    assert!(names.len() >= 3, "{names:?}");
    for name in names {
        let s = bundled(name);
        assert_eq!(s.protocol, "images", "{name}");
        common::passes_every_seed(&s, 1..51);
    }
}

#[test]
fn the_sharded_store_passes_1000_seeds_of_the_nemesis_with_nothing_orphaned() {
    let s = bundled("images/nemesis");
    assert!(s.asserts.iter().any(|a| a.probe == "orphans"), "atomicity is asserted");
    common::passes_every_seed(&s, 1..1001);
}

/// Shards join, leave and rejoin under the nemesis: every acknowledged image
/// survives the hand-offs, every server ends in the last ring, nothing is left on
/// a shard the ring no longer places it on, and a change moves a minority of what
/// was held (the `hash mod n` zoo moves most of it).
#[test]
fn the_store_rebalances_under_the_nemesis_for_300_seeds() {
    let s = bundled("images/rebalance-nemesis");
    for probe in ["epoch", "misplaced", "orphans", "corrupt", "moved-percent"] {
        assert!(s.asserts.iter().any(|a| a.probe == probe), "{probe} is asserted");
    }
    assert!(s.faults.len() >= 9, "a shard joins, one leaves and comes back: three servers each");
    common::passes_every_seed(&s, 1..301);
}

/// The point of the sharded store: an upload is one transaction across shards. In
/// a run of images/happy some upload's chunks land on both of the other shards, and
/// every server of a shard applied the same log (the judge holds each group's log
/// apart, so three leaders at once are not two leaders of one term).
#[test]
fn an_upload_spans_the_shards_and_each_shard_is_its_own_raft_group() {
    use faultline_protocols::images::Layout;
    let s = bundled("images/happy");
    let layout = Layout::of(s.nodes);
    assert_eq!(layout.groups, 3);
    let buf = faultline_sim::trace::TraceBuffer::default();
    let r = faultline_protocols::run(&s, 1, faultline_sim::Trace::to_writer(Box::new(buf.clone())));
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    let spanning = r.history.ops.iter().filter(|o| {
        let Op::Upload { name, size, content, .. } = &o.op else { return false };
        let chunks = size.div_ceil(faultline_protocols::images::CHUNK_BYTES);
        let shards: std::collections::BTreeSet<usize> =
            (0..chunks).map(|k| layout.shard_of(&format!("{name}@{content}#{k}"))).collect();
        shards.len() == 3 && matches!(o.complete, Some((_, faultline_sim::history::Completion::Ok { .. })))
    });
    assert!(spanning.count() >= 1, "an upload committed on all three shards");
    // Three leaders at once, one per shard, each reported by its own servers.
    let text = buf.text();
    let leaders: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| l.contains(r#""what":"term""#) && l.contains(r#""leader":true"#))
        .filter_map(|l| l.split(r#""node":""#).nth(1)?.split('"').next())
        .collect();
    let shards: std::collections::BTreeSet<usize> =
        leaders.iter().filter_map(|n| faultline_sim::NodeId::parse(n)).map(|n| layout.group_of(n)).collect();
    assert_eq!(shards.len(), 3, "every shard elected a leader: {leaders:?}");
}

/// `faultline check` judges an image store's history.json as `run` does: per image
/// for linearizability, and its lists by list-by-tag (exit 1 when one disagrees).
#[test]
fn faultline_check_judges_the_lists_of_an_image_history() {
    let dir = std::env::temp_dir().join(format!("faultline-images-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let s = bundled("images/happy");
    faultline::cli::run::run_to_dir(&s, 1, &dir).expect("run");
    let exe = env!("CARGO_BIN_EXE_faultline");
    let history = dir.join("history.json");
    let check = |file: &std::path::Path| {
        let o = std::process::Command::new(exe).arg("check").arg(file).arg("--json").output().expect("check");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
        (o.status.code(), v)
    };
    let (code, v) = check(&history);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["verdict"], "linearizable");
    assert_eq!(v["lists"]["agree"], true, "{v}");
    assert!(v["lists"]["count"].as_u64().is_some_and(|n| n >= 3), "{v}");
    // A list that names an image nothing tagged so: the history disagrees.
    let text = std::fs::read_to_string(&history).expect("history");
    let mut h: serde_json::Value = serde_json::from_str(&text).expect("history JSON");
    let events = h["events"].as_array_mut().expect("events");
    let list_op = events.iter().find(|e| e["f"] == "list").and_then(|e| e["op"].as_u64()).expect("a list");
    let answer =
        events.iter_mut().find(|e| e["op"].as_u64() == Some(list_op) && e["type"] == "ok").expect("the list's answer");
    answer["value"] = serde_json::Value::String("nosuchimage".into());
    let bad = dir.join("bad-history.json");
    std::fs::write(&bad, serde_json::to_string(&h).expect("JSON")).expect("write");
    let (code, v) = check(&bad);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["lists"]["agree"], false);
    assert!(v["lists"]["why"].as_str().is_some_and(|w| w.contains("nosuchimage")), "{v}");
}

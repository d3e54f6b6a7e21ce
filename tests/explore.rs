//! `faultline explore`: breadth-first search over every interleaving of a small
//! configuration finds the zoo's protocol bugs with a shortest path, and nothing in
//! the correct protocols within the same kind of bounds (every state to the depth
//! bound seen: the search is complete, not cut short by a budget).

mod common;

use std::process::Command;

use faultline_sim::explore::{Bounds, Counterexample, Report, Stop, schedule_toml};
use faultline_sim::{Check, Scenario, Trace};

fn scenario(name: &str, variant: &str) -> Scenario {
    let mut s = common::bundled(name);
    s.variant = variant.to_string();
    s
}

fn explore(name: &str, variant: &str, bounds: Bounds) -> Report {
    let s = scenario(name, variant);
    let entry = faultline_protocols::lookup(&s.protocol).expect("a bundled protocol");
    (entry.explore)(&s, bounds, &mut |_| {})
}

fn parse(path: &str, text: &str) -> Scenario {
    faultline_sim::scenario::parse(path, text, &faultline_protocols::catalog())
        .unwrap_or_else(|d| panic!("{path} does not parse: {d}\n{text}"))
}

/// `cx`, written as a scenario file, parses, its steps can all be taken, and its run
/// fails the same check, the same way twice (the trace's digest).
fn replays(s: &Scenario, cx: &Counterexample) {
    let text = schedule_toml(s, cx);
    let written = parse("counterexample.toml", &text);
    assert_eq!(written.schedule.as_ref().map(|x| x.steps.len()), Some(cx.steps.len()), "{text}");
    faultline_protocols::check_schedule(&written).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let run = |t| faultline_protocols::run(&written, written.seed, t);
    let (a, b) = (run(Trace::hash_only()), run(Trace::hash_only()));
    assert!(a.failed_checks().iter().any(|f| f.check == cx.failure.check), "{:?}\n{text}", a.failures());
    assert!(a.as_expected(), "{text}");
    assert_eq!(a.trace_hash, b.trace_hash, "a schedule replays the same trace");
    assert!(a.trace_lines > cx.steps.len() as u64);
}

fn bounds(depth: usize, clients: usize) -> Bounds {
    Bounds { depth, timers: 2, crashes: 1, clients, ..Bounds::default() }
}

/// `variant` fails `check` within `depth` steps, on a path of at most `depth` steps.
fn finds(name: &str, variant: &str, depth: usize, clients: usize, check: &str) {
    let r = explore(name, variant, bounds(depth, clients));
    let cx = r
        .counterexample
        .unwrap_or_else(|| panic!("{name} {variant}: nothing found ({:?}, {} states)", r.stop, r.unique));
    assert_eq!(r.stop, Stop::Found);
    assert_eq!(cx.failure.check, Check::Invariant(check.into()), "{name} {variant}: {}", cx.failure.message);
    assert!(!cx.steps.is_empty() && cx.steps.len() <= depth, "{name} {variant}: {} steps", cx.steps.len());
    replays(&scenario(name, variant), &cx);
}

/// The correct variant passes every state within `depth` steps, and the search saw them all.
fn passes(name: &str, depth: usize, clients: usize) {
    let r = explore(name, "correct", bounds(depth, clients));
    assert!(r.counterexample.is_none(), "{name}: {:?}", r.counterexample);
    assert_eq!(r.stop, Stop::Complete, "{name}: the search was cut short");
    assert_eq!(r.depth, depth);
    assert!(r.unique > 1_000, "{name}: only {} states: the search explored next to nothing", r.unique);
}

#[test]
fn raft_vote_bugs_are_found_and_the_reference_passes() {
    finds("explore/raft", "forget-vote", 8, 1, "one-vote-per-term");
    finds("explore/raft", "vote-without-log-check", 8, 0, "leader-completeness");
    passes("explore/raft", 6, 1);
}

#[test]
fn paxos_without_prepare_is_found_and_the_reference_passes() {
    finds("explore/paxos", "no-prepare", 8, 2, "agreement");
    passes("explore/paxos", 8, 2);
}

#[test]
fn twopc_bugs_are_found_and_the_reference_passes() {
    finds("explore/twopc", "majority-commit", 9, 2, "validity");
    finds("explore/twopc", "decision-before-log", 9, 2, "atomicity");
    passes("explore/twopc", 9, 2);
}

#[test]
fn a_shortest_path_is_shortest() {
    // Breadth-first: no path to the same failure is shorter, so a smaller depth bound
    // finds nothing.
    let r = explore("explore/raft", "forget-vote", bounds(8, 1));
    let steps = r.counterexample.expect("found").steps.len();
    let shorter = explore("explore/raft", "forget-vote", bounds(steps - 1, 1));
    assert!(shorter.counterexample.is_none());
    assert_eq!(shorter.stop, Stop::Complete);
}

fn in_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-explore-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

fn faultline(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).current_dir(dir).output().expect("faultline runs")
}

#[test]
fn the_command_prints_the_path_writes_it_and_checks_its_numbers() {
    let dir = in_dir("cli");
    let out = faultline(&dir, &["explore", "explore/paxos", "--variant", "no-prepare", "--json"]);
    // The file expects a pass; the zoo variant fails it: exit 1, with the path.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(j["stop"], "found");
    assert!(j["unique"].as_u64() > Some(100) && j["unique_per_second"].as_u64() > Some(0), "{j}");
    let cx = &j["counterexample"];
    assert!(cx["steps"].as_array().is_some_and(|s| s.iter().any(|s| s.as_str().unwrap().contains("Accept"))));
    // The counterexample is a scenario file and a run folder with its viewer...
    assert_eq!(cx["file"], "runs/explore-paxos-no-prepare.toml");
    assert_eq!(cx["run_folder"], "runs/explore-paxos-no-prepare");
    for f in ["trace.jsonl", "history.json", "messages.svg", "viewer.html"] {
        assert!(dir.join("runs/explore-paxos-no-prepare").join(f).is_file(), "{f}");
    }
    // ...that `faultline run` replays: the bug is caught, as the file expects.
    let run = faultline(&dir, &["run", "runs/explore-paxos-no-prepare.toml", "--json"]);
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stdout));
    let r: serde_json::Value = serde_json::from_slice(&run.stdout).expect("one JSON object");
    assert!(r.to_string().contains("agreement"), "{r}");

    let bad = faultline(&dir, &["explore", "explore/paxos", "--depth", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--depth must be 1 to 1000"));
    let bad = faultline(&dir, &["explore", "explore/paxos", "--jobs", "0"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--jobs 0: choose 1 to"));
    // The threads are in the JSON, as asked.
    let two = faultline(&dir, &["explore", "explore/paxos", "--depth", "4", "--jobs", "2", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&two.stdout).expect("one JSON object");
    assert_eq!((j["threads"].as_u64(), j["stop"].as_str()), (Some(2), Some("complete")), "{j}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Explores `variant` of explore/raft with `args` in `dir`: the counterexample's text.
fn counterexample_file(dir: &std::path::Path, variant: &str, args: &[&str]) -> String {
    let mut all = vec!["explore", "explore/raft", "--variant", variant, "--out", "cx.toml"];
    all.extend_from_slice(args);
    let out = faultline(dir, &all);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(dir.join("cx.toml")).expect("the counterexample's file")
}

#[test]
fn a_schedule_that_cannot_be_followed_is_an_error_at_its_step() {
    let dir = in_dir("schedule");
    let text = counterexample_file(&dir, "vote-without-log-check", &["--clients", "0"]);
    let first = "\"n1 timer Election fires\",";
    assert!(text.contains(first), "{text}");
    // A step nobody could take: the error names its line and column, and what can happen.
    std::fs::write(dir.join("typo.toml"), text.replacen("Election fires", "Electon fires", 1)).unwrap();
    let out = faultline(&dir, &["run", "typo.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = text.lines().position(|l| l.contains("Election fires")).unwrap() + 1;
    assert!(err.contains(&format!("typo.toml:{line}:5")), "{err}");
    assert!(err.contains("schedule step 1") && err.contains("\"n1 timer Election fires\""), "{err}");
    // A reply before its request: the second step cannot come first.
    let swapped = text.replacen(first, "", 1).replacen(
        "\"Vote n2 -> n1 arrives\",",
        &format!("{first}\"Vote n2 -> n1 arrives\","),
        1,
    );
    std::fs::write(dir.join("order.toml"), swapped).unwrap();
    let out = faultline(&dir, &["run", "order.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("schedule step 1: \"RequestVote n1 -> n2 arrives\" cannot be taken here")
    );
    // A schedule says what happens: a nemesis beside it is refused at parse time.
    std::fs::write(dir.join("nemesis.toml"), format!("{text}\n[nemesis]\nkinds = [\"crash\"]\ninterval = \"1s\"\n"))
        .unwrap();
    let out = faultline(&dir, &["run", "nemesis.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("remove the [nemesis]"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_steps_break_nothing_in_the_reference() {
    // The counterexample's schedule, on the correct Raft: where a step reads the same
    // it is taken, and the vote the bug granted is refused: no check fails.
    let s = scenario("explore/raft", "vote-without-log-check");
    let r = explore("explore/raft", "vote-without-log-check", bounds(8, 0));
    let cx = r.counterexample.expect("found");
    let text = schedule_toml(&s, &cx).replace("variant = \"vote-without-log-check\"", "variant = \"correct\"");
    let written = parse("reference.toml", &text);
    let run = faultline_protocols::run(&written, written.seed, Trace::off());
    assert!(run.failures().is_empty(), "every step taken, nothing broken: {:?}", run.failures());
    assert!(run.trace_lines == 0 && run.stats.events > 8);
}

#[test]
fn exploring_a_counterexample_file_finds_its_own_path_again() {
    // The bundled file was written by explore (no clients: `ops = 0`); searched again
    // with its own configuration, the shortest path is the one it lists.
    let s = common::bundled("explore/raft-vote-without-log-check");
    let listed = s.schedule.as_ref().expect("a schedule").steps.clone();
    let dir = in_dir("again");
    let out = faultline(&dir, &["explore", "explore/raft-vote-without-log-check", "--out", "again.toml", "--json"]);
    assert_eq!(out.status.code(), Some(0), "it expects the failure: {}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let found: Vec<String> = j["counterexample"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s.as_str().expect("a step").to_string())
        .collect();
    assert_eq!(found, listed);
    let again = std::fs::read_to_string(dir.join("again.toml")).expect("written");
    assert!(again.contains("[schedule]") && again.contains("ops = 0"), "{again}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The search's counts and its path do not depend on how many threads search: a
/// complete search counts the same states and transitions, level by level, and a
/// found failure is the same shortest path (the threaded search finds it again on
/// one thread). A fingerprint that took two states for one would show here: which
/// of them a thread keeps is a race, and their transitions differ.
#[test]
fn any_number_of_threads_counts_the_same_and_finds_the_same_path() {
    let searches = [
        ("explore/twopc", "correct", 8, 2),
        ("explore/paxos", "correct", 7, 2),
        ("explore/raft", "correct", 6, 1),
        ("explore/raft", "forget-vote", 8, 1),
        ("explore/twopc", "decision-before-log", 9, 2),
    ];
    for (name, variant, depth, clients) in searches {
        // The report, and the levels as the progress callback heard them.
        let search = |threads| {
            let s = scenario(name, variant);
            let entry = faultline_protocols::lookup(&s.protocol).expect("a bundled protocol");
            let mut levels = Vec::new();
            let r = (entry.explore)(&s, Bounds { threads, ..bounds(depth, clients) }, &mut |r| {
                levels.push((r.depth, r.explored, r.unique, r.transitions))
            });
            let path = r.counterexample.as_ref().map(|c| c.schedule.clone());
            ((r.explored, r.unique, r.transitions, r.depth, r.stop, path), levels)
        };
        let one = search(1);
        assert!(one.0.1 > 1_000, "{name} {variant}: a search of {} states shows little", one.0.1);
        for threads in [2, 3] {
            let many = search(threads);
            assert_eq!(many.0, one.0, "{name} {variant} on {threads} threads");
            if one.0.5.is_none() {
                // Found, the threads' own levels end where the failure showed; else
                // every level is the same.
                assert_eq!(many.1, one.1, "{name} {variant} on {threads} threads, level by level");
            }
        }
    }
}

/// A regression found by comparing thread counts: a timer whose payload is an enum's
/// first unit variant hashed to 0, so an armed one vanished from the node's multiset
/// of timers, and a state with it armed was taken for the same state without it.
#[test]
fn an_armed_timer_of_any_payload_tells_two_states_apart() {
    use faultline_sim::scenario::{Catalog, Known};
    use faultline_sim::time::Dur;
    use faultline_sim::{Ctx, NodeId, Protocol, Request, TimerId};

    #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
    #[allow(dead_code)] // never sent
    enum Msg {
        Never,
    }
    faultline_sim::message_kinds!(Msg { Never });
    #[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
    enum Tick {
        First,
    }
    /// One node arms one timer, whose firing changes nothing else.
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    struct Idle;
    impl Protocol for Idle {
        type Msg = Msg;
        type Timer = Tick;
        type Stored = ();
        type Config = ();
        const OPS: &'static [faultline_sim::protocol::OpKind] = &[];
        fn start(ctx: &mut Ctx<'_, Self>, _: &(), _: &faultline_sim::disk::Durable<()>) -> Self {
            ctx.set_timer(Dur::from_millis(1), Tick::First);
            Idle
        }
        fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: Msg) {}
        fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: Tick) {}
        fn on_request(&mut self, _: &mut Ctx<'_, Self>, _: Request) {}
    }
    let catalog = Catalog { protocols: vec![Known::of::<Idle>("idle", vec!["correct"])] };
    let text = "name = \"idle\"\nprotocol = \"idle\"\nnodes = 1\nduration = \"1s\"\n";
    let s = faultline_sim::scenario::parse("idle.toml", text, &catalog).expect("parses");
    let b = Bounds { depth: 5, crashes: 0, clients: 0, ..Bounds::default() };
    let r = faultline_sim::explore::Explorer::<Idle>::new(&s, (), b).run(&s, &mut |_| {});
    // The start (timer armed) and after it fires (none): two states, one transition.
    assert_eq!((r.unique, r.transitions, r.stop), (2, 1, Stop::Complete));
}

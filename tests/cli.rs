//! The CLI end to end, as a student meets it: exit codes, the replay command, the
//! bundled scenarios, the zoo, and the help text.

use std::io::Write;
use std::process::{Command, Output};

fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run faultline")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn temp(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("faultline-cli-{}-{name}", std::process::id()));
    dir.to_string_lossy().into_owned()
}

#[test]
fn a_bundled_scenario_runs_and_passes() {
    let out_dir = temp("basic");
    let o = faultline(&["run", "pb/basic", "--out", &out_dir]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o);
    for want in ["seed       1", "linearizable: yes", "result     PASS", "trace hash "] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    for file in ["trace.jsonl", "history.json", "summary.json", "scenario.toml", "run.json"] {
        assert!(std::path::Path::new(&out_dir).join(file).is_file(), "{file} not written");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{out_dir}/summary.json")).expect("summary")).expect("json");
    assert_eq!(summary["result"], "pass");
    assert_eq!(summary["ops"]["invoked"], 200);
}

#[test]
fn a_broken_variant_fails_with_exit_1_and_prints_the_replay_command() {
    // The zoo scenario with its expectation flipped: now the failure is unexpected.
    let src = std::fs::read_to_string("scenarios/zoo/pb-stale-reads.toml")
        .expect("zoo scenario")
        .replace("expect = \"fail\"", "expect = \"pass\"");
    let path = temp("stale.toml");
    std::fs::write(&path, src).expect("write scenario");
    let o = faultline(&["run", &path, "--seed", "3", "--out", &temp("stale-run")]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("history is not linearizable"), "{text}");
    assert!(text.contains(&format!("replay     faultline run {path} --seed 3")), "{text}");
    // The replay command replays: same trace hash.
    let hash = |t: &str| t.lines().find(|l| l.starts_with("trace hash")).map(str::to_string);
    let again = faultline(&["run", &path, "--seed", "3", "--out", &temp("stale-run-2")]);
    assert_eq!(hash(&text), hash(&stdout(&again)));
}

#[test]
fn a_zoo_scenario_that_catches_its_bug_exits_0() {
    let o = faultline(&["run", "zoo/pb-unsynced-log", "--out", &temp("zoo")]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(text.contains("invariant `backup-log-prefix` violated"), "{text}");
    assert!(text.contains("replay     faultline run scenarios/zoo/pb-unsynced-log.toml --seed 1"), "{text}");
}

#[test]
fn sweep_lists_failing_seeds_and_exit_codes_follow_expect() {
    let o = faultline(&["sweep", "zoo/pb-stale-reads", "--seeds", "1..6", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    assert!(text.contains("caught     5/5 seeds"), "{text}");
    assert!(text.contains("replay: faultline run scenarios/zoo/pb-stale-reads.toml --seed 1"), "{text}");
    let o = faultline(&["sweep", "pb/basic", "--seeds", "1..11", "--jobs", "2"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("passed     10/10"));
    let o = faultline(&["sweep", "pb/basic", "--seeds", "9..3"]);
    assert_eq!(o.status.code(), Some(2));
    let o = faultline(&["sweep", "pb/basic", "--seeds", "1..5", "--shard", "5/4"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn list_shows_protocols_variants_and_scenarios() {
    let o = faultline(&["list"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for want in ["pb ", "stale-reads", "unsynced-log", "pb/basic", "zoo/pb-stale-reads", "[expect fail]"] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn schema_is_json_schema_of_the_scenario_format() {
    let o = faultline(&["schema"]);
    assert_eq!(o.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).expect("valid JSON");
    let props = schema["properties"].as_object().expect("properties");
    for field in
        ["name", "protocol", "variant", "nodes", "duration", "network", "faults", "nemesis", "workload", "check"]
    {
        assert!(props.contains_key(field), "schema lacks {field}");
    }
    // The committed copy that scenario files point editors at is current.
    let committed = std::fs::read_to_string("scenarios/scenario.schema.json").expect("scenarios/scenario.schema.json");
    assert_eq!(
        committed.trim_end(),
        stdout(&o).trim_end(),
        "regenerate with: faultline schema > scenarios/scenario.schema.json"
    );
}

#[test]
fn help_documents_exit_codes_and_usage_errors_exit_2() {
    let o = faultline(&["--help"]);
    let text = stdout(&o);
    assert!(text.contains("Exit codes:") && text.contains("2  bad input or usage"), "{text}");
    assert!(stdout(&faultline(&["run", "--help"])).contains("Exit codes:"));
    assert_eq!(faultline(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(faultline(&["run"]).status.code(), Some(2));
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("list")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn faultline");
    let mut first = [0u8; 16];
    child.stdout.take().expect("stdout").read_exact(&mut first).expect("some output");
    // The read end is dropped here, as `faultline list | head -c 16` would.
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_sweep_without_digest_finds_the_same_failures() {
    let args = ["sweep", "zoo/raft-no-dedup", "--seeds", "1..6", "--jobs", "2"];
    let hashed = faultline(&args);
    let unhashed = faultline(&[&args[..], &["--no-digest"]].concat());
    assert_eq!(hashed.status.code(), Some(0));
    assert_eq!(unhashed.status.code(), Some(0));
    let (a, b) = (stdout(&hashed), stdout(&unhashed));
    assert!(b.contains("digest     none (--no-digest"), "{b}");
    let rest = |t: &str| t.lines().filter(|l| !l.starts_with("digest")).map(String::from).collect::<Vec<_>>();
    assert_eq!(rest(&a), rest(&b), "the same seeds fail the same way");
}

#[test]
fn list_probes_explains_every_probe_a_scenario_can_assert_on() {
    let o = faultline(&["list", "--probes"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for (name, _) in faultline_sim::scenario::ENGINE_PROBES
        .iter()
        .chain(<faultline_protocols::raft::Raft as faultline_sim::Protocol>::PROBES)
    {
        assert!(text.lines().any(|l| l.trim_start().starts_with(&format!("{name} "))), "{name} missing:\n{text}");
    }
}

#[test]
fn hash_compares_algorithms_and_draws_charts() {
    let dir = temp("hash-charts");
    let o = faultline(&["hash", "--nodes", "10,20", "--keys", "5000", "--change", "remove:2", "--chart", &dir]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = stdout(&o);
    assert!(out.contains("change: remove 2"), "{out}");
    for algo in ["mod-n", "ring/100", "jump", "rendezvous", "maglev", "bounded/1.25"] {
        assert_eq!(out.lines().filter(|l| l.starts_with(&format!("{algo} "))).count(), 2, "{algo} at both sizes");
    }
    for f in ["moved.svg", "load.svg"] {
        let svg = std::fs::read_to_string(format!("{dir}/{f}")).expect(f);
        assert!(svg.starts_with("<svg") && svg.contains("n = 20"), "{f} is a chart with a series per size");
    }
}

#[test]
fn hash_rejects_bad_options_with_exit_2_and_says_what_to_write() {
    for (args, says) in [
        (&["hash", "--algos", "ring,chord"][..], "unknown algorithm `chord`: choose from mod-n"),
        (&["hash", "--algos", "maglev/1000"][..], "must be a prime"),
        (&["hash", "--algos", "bounded/0.9"][..], "must be more than 1"),
        (&["hash", "--nodes", "10,1"][..], "`1` is not a cluster size"),
        (&["hash", "--nodes", "3", "--change", "remove:3"][..], "every cluster must keep a member"),
        (&["hash", "--change", "grow"][..], "unknown change `grow`: add[:K], remove[:K] or crash[:K]"),
        (&["hash", "--keys", "0"][..], "choose 1 to 50,000,000 keys"),
    ] {
        let o = faultline(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

/// Issue: numbers and paths that nothing bounded crashed, hung or ate memory. Each is
/// now a clear usage error with exit 2, said before any work starts.
#[test]
fn unbounded_numbers_and_odd_files_are_refused_before_any_work() {
    for (args, says) in [
        (vec!["sweep", "pb/basic", "--seeds", "0..18446744073709551615"], "--shard 1/"),
        (vec!["sweep", "pb/basic", "--seeds", "1..100000000000"], "more than one sweep runs"),
        (vec!["sweep", "pb/basic", "-j", "1000000"], "choose 1 to 256 worker threads"),
        (vec!["sweep", "pb/basic", "-j", "0"], "choose 1 to 256 worker threads"),
        (vec!["hash", "--algos", "bounded/nan"], "more than 1 and at most 100"),
        (vec!["hash", "--algos", "ring/1e12"], "whole number from 1 to 10000"),
        (vec!["hash", "--algos", "ring/4294967295"], "whole number from 1 to 10000"),
        (vec!["hash", "--algos", "maglev/1000000007"], "whole number from 3 to 1000003"),
        (vec!["hash", "--nodes", "10", "--algos", "maglev/7"], "larger than the cluster"),
        (vec!["hash", "--change", "add:1000000000"], "up to 100000"),
        (vec!["hash", "--change", "add:4294967296"], "up to 100000"),
        (vec!["check", "/dev/zero"], "too large for a history file"),
        (vec!["run", "scenarios"], "is a folder"),
    ] {
        let o = faultline(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    }
}

#[test]
fn sweep_json_gives_one_object_per_seed_and_a_summary_by_check() {
    let o = faultline(&["sweep", "zoo/pb-stale-reads", "--seeds", "1..6", "--json", "-j", "2"]);
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> =
        stdout(&o).lines().map(|l| serde_json::from_str(l).expect("every line is JSON")).collect();
    assert_eq!(lines.len(), 6, "five seeds and a summary");
    for (i, seed) in lines[..5].iter().enumerate() {
        assert_eq!(seed["seed"], i as u64 + 1);
        assert_eq!(seed["verdict"], "fail");
        assert_eq!(seed["checks"][0], "linearizability");
        assert!(seed["trace_hash"].as_str().is_some_and(|h| h.len() == 16) && seed["events"].as_u64() > Some(0));
    }
    let summary = &lines[5]["summary"];
    assert_eq!((summary["seeds"].as_u64(), summary["failed"].as_u64()), (Some(5), Some(5)));
    assert_eq!(summary["by_check"]["linearizability"], 5);
    assert_eq!(summary["result"], "pass", "the zoo scenario expects failures");
    // The text form counts failures by check too.
    let o = faultline(&["sweep", "zoo/pb-stale-reads", "--seeds", "1..6", "--no-digest"]);
    assert!(
        stdout(&o).contains("by check   (seeds on which each check failed)\n       5  linearizability"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_zoo_scenario_can_require_a_catch_rate_and_fails_below_it() {
    let src = std::fs::read_to_string("scenarios/zoo/chash-no-wait.toml").expect("zoo file");
    assert!(src.contains("catch_at_least = \"10%\""));
    let dir = temp("catch-rate");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let strict = format!("{dir}/strict.toml");
    std::fs::write(&strict, src.replace("catch_at_least = \"10%\"", "catch_at_least = \"100%\"")).expect("write");
    let o = faultline(&["sweep", &strict, "--seeds", "1..11", "--no-digest"]);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("caught     9/10 seeds (90.0%") && text.contains("requires at least 100%"), "{text}");
    let o = faultline(&["sweep", "zoo/chash-no-wait", "--seeds", "1..11", "--no-digest"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn hostile_text_in_a_scenario_reaches_neither_the_terminal_nor_the_viewer_raw() {
    let src = std::fs::read_to_string("scenarios/pb/basic.toml").expect("pb/basic");
    let name = src.lines().find(|l| l.starts_with("name = ")).expect("a name line");
    let hostile = src.replace(name, "name = \"<!--<script>\\u001b]0;pwned\\u0007\\u001b[2J\"");
    let dir = temp("hostile");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = format!("{dir}/hostile.toml");
    std::fs::write(&path, hostile).expect("write");
    let out = format!("{dir}/run");
    let o = faultline(&["run", &path, "--out", &out, "--report", "html"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
    assert!(text.contains("\\u{1b}]0;pwned"), "{text}");
    let html = std::fs::read_to_string(format!("{out}/viewer.html")).expect("viewer");
    let data = html.split("<script").find(|part| part.contains("pwned")).expect("the data is embedded");
    assert!(!data.contains("<!--") && !data.contains("<script>"), "the name reaches the page raw");
}

#[test]
fn a_reused_run_folder_loses_the_last_run_s_reports() {
    let out = temp("reused");
    let o = faultline(&["run", "pb/basic", "--out", &out, "--report"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(std::path::Path::new(&out).join("viewer.html").is_file());
    let o = faultline(&["run", "pb/crash-restart", "--out", &out]);
    assert_eq!(o.status.code(), Some(0));
    for stale in ["viewer.html", "messages.svg", "operations.svg"] {
        assert!(!std::path::Path::new(&out).join(stale).exists(), "{stale} of the earlier run is still there");
    }
}

/// A run too large to draw (as one cut off at the event limit is) is read as a
/// stream: drawn whole is declined with a reason and a window to draw instead, never
/// as bad input; that window is drawn.
#[test]
fn a_report_of_a_huge_run_is_declined_or_drawn_in_a_window() {
    let out = temp("huge-trace");
    let o = faultline(&["run", "pb/basic", "--out", &out]);
    assert_eq!(o.status.code(), Some(0));
    // 100 seconds of 1 MiB messages, one a second, after the run's own trace.
    let mut trace = std::fs::OpenOptions::new().append(true).open(format!("{out}/trace.jsonl")).expect("trace");
    let body = "x".repeat(1 << 20);
    for i in 0..100u64 {
        let t = 1_000_000_000 * (i + 10);
        writeln!(
            trace,
            r#"{{"t":{t},"ev":"send","from":"n1","to":"n2","id":{},"msg":{{"Big":"{body}"}}}}"#,
            1_000_000 + i
        )
        .expect("append");
        writeln!(trace, r#"{{"t":{},"ev":"deliver","from":"n1","to":"n2","id":{}}}"#, t + 1000, 1_000_000 + i)
            .expect("append");
    }
    drop(trace);
    let o = faultline(&["report", &out]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains("reports not drawn") && err.contains("the trace is fine"), "{err}");
    assert!(err.contains("--from") && err.contains("--to"), "the help gives a window: {err}");
    let o = faultline(&["report", &out, "--from", "50s", "--to", "60s"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let svg = std::fs::read_to_string(format!("{out}/messages.svg")).expect("messages.svg");
    assert_eq!(svg.lines().filter(|l| l.trim() == "Big").count(), 11, "the eleven messages of the window, labelled");
    // A trace that is not one: a line that never ends is bad input, named by line.
    let trace = std::fs::OpenOptions::new().write(true).open(format!("{out}/trace.jsonl")).expect("trace");
    trace.set_len(0).expect("empty it");
    trace.set_len(300 << 20).expect("a sparse file of zeros");
    let o = faultline(&["report", &out]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("trace.jsonl: line 1 is longer than"), "{err}");
}

/// Without a terminal (CI logs, pipes), a sweep still shows progress: a line on
/// stderr after each tenth of its seeds, and the results do not change.
#[test]
fn a_sweep_shows_progress_on_stderr_without_a_terminal() {
    let o = faultline(&["sweep", "pb/basic", "--seeds", "1..21", "-j", "2"]);
    assert_eq!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("progress   ")).collect();
    assert_eq!(lines.len(), 10, "{err}");
    assert_eq!(lines.last(), Some(&"progress   20/20 seeds"));
    let once = faultline(&["sweep", "pb/basic", "--seeds", "1..21", "-j", "1"]);
    let digest = |o: &Output| stdout(o).lines().find(|l| l.starts_with("digest")).map(str::to_string);
    assert_eq!(digest(&o), digest(&once), "the same digest in tenths and with one job");
}

/// Shards of a sweep, run as separate processes (as a batch system runs them) and
/// merged, give the unsharded sweep's result: the same digest, the same counts and
/// failing seeds, the same exit code; a seed in two shards, a shard of another
/// sweep, or a cut-off shard is refused, naming the file.
#[test]
fn merged_shards_are_the_unsharded_sweep() {
    let dir = temp("merge");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let scenario = "zoo/pb-stale-reads";
    let whole = faultline(&["sweep", scenario, "--seeds", "1..31", "--json"]);
    let mut files = Vec::new();
    for i in 1..=3 {
        let shard = format!("{i}/3");
        let o = faultline(&["sweep", scenario, "--seeds", "1..31", "--shard", &shard, "--json"]);
        let file = format!("{dir}/shard{i}.json");
        std::fs::write(&file, &o.stdout).expect("write shard");
        files.push(file);
    }
    files.reverse(); // any order
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    let mut json_args = args.clone();
    json_args.push("--json");
    let merged = faultline(&json_args);
    assert_eq!(merged.status.code(), whole.status.code());
    assert_eq!(stdout(&merged), stdout(&whole), "the same seeds and summary, line for line");
    assert!(stdout(&whole).contains("\"digest\":\""), "{}", stdout(&whole));
    // As text: the same report after the first line (which says what was merged).
    let text = faultline(&args);
    let plain = faultline(&["sweep", scenario, "--seeds", "1..31"]);
    let tail = |o: &Output| stdout(o).lines().skip(1).map(str::to_string).collect::<Vec<_>>();
    assert_eq!(tail(&text), tail(&plain));
    assert!(stdout(&text).starts_with("merge      scenarios/zoo/pb-stale-reads.toml  3 shards  seeds 1..31 (30)"));

    let refused = |args: &[&str], what: &str| {
        let o = faultline(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains(what), "{what:?} not in {err}");
    };
    refused(&["merge", &files[0], &files[0]], "is in more than one shard");
    let other = format!("{dir}/other.json");
    std::fs::write(&other, faultline(&["sweep", "pb/basic", "--seeds", "100..102", "--json"]).stdout).expect("write");
    refused(&["merge", &files[0], &other], "merge shards of one sweep");
    let cut = format!("{dir}/cut.json");
    let full = std::fs::read_to_string(&files[0]).expect("shard");
    std::fs::write(&cut, &full[..full.len() / 2]).expect("write");
    refused(&["merge", &cut], "cut.json:");
}

/// `run --json` prints one object: the run's summary.json, with the run folder, the
/// replay command and the reports drawn; the exit code is the same as without it.
#[test]
fn run_json_is_the_summary_with_where_the_run_went() {
    let out = temp("run-json");
    let o = faultline(&["run", "zoo/pb-stale-reads", "--seed", "1", "--out", &out, "--json", "--report", "svg"]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("one JSON object");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{out}/summary.json")).expect("summary.json"))
            .expect("summary.json parses");
    for key in ["result", "expect", "failures", "trace_hash", "stats", "seed"] {
        assert_eq!(v[key], file[key], "{key}");
    }
    assert_eq!(v["result"], "pass", "the zoo scenario failed as it expects");
    assert_eq!(v["run_folder"], out.as_str());
    assert_eq!(v["replay"], "faultline run scenarios/zoo/pb-stale-reads.toml --seed 1");
    assert_eq!(v["reports"], serde_json::json!(["messages.svg", "operations.svg"]));
    let text = faultline(&["run", "zoo/pb-stale-reads", "--seed", "1", "--out", &out]);
    assert_eq!(text.status.code(), o.status.code());
}

/// The book's JSON chapter names every field the commands print, and no field that
/// they do not: a run, a sweep's seed and summary lines, and each `check` verdict.
#[test]
fn the_json_chapter_names_every_field() {
    let chapter = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/json.md")).expect("json.md");
    let named = |key: &str| chapter.contains(&format!("`{key}`"));
    let mut keys: Vec<String> = Vec::new();
    let mut collect = |v: &serde_json::Value| {
        if let Some(m) = v.as_object() {
            keys.extend(m.keys().cloned());
        }
    };
    let out = temp("json-chapter");
    let run = faultline(&["run", "zoo/pb-stale-reads", "--out", &out, "--json", "--report"]);
    let run: serde_json::Value = serde_json::from_str(&stdout(&run)).expect("run --json");
    collect(&run);
    for sub in ["stats", "ops", "latency"] {
        collect(&run[sub]);
    }
    let sweep = faultline(&["sweep", "zoo/pb-stale-reads", "--seeds", "1..3", "--json"]);
    for line in stdout(&sweep).lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        collect(v.get("summary").unwrap_or(&v));
    }
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/validation/porcupine");
    for (file, budget) in [("kv/c01-bad.txt", None), ("jepsen/etcd_002.log", Some("steps=100"))] {
        let path = format!("{data}/{file}");
        let mut args = vec!["check", path.as_str(), "--json"];
        if let Some(b) = budget {
            args.extend(["--budget", b]);
        }
        let v: serde_json::Value = serde_json::from_str(&stdout(&faultline(&args))).expect("check --json");
        collect(&v);
        collect(&v["cause"]);
        v["undecided"].as_array().into_iter().flatten().for_each(&mut collect);
    }
    keys.sort();
    keys.dedup();
    let missing: Vec<&String> = keys.iter().filter(|k| !named(k)).collect();
    assert!(missing.is_empty(), "book/src/json.md does not name {missing:?}");
    assert!(keys.len() > 50, "{keys:?}");
}

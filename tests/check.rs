//! `faultline check` end to end: exit codes 0 / 1 / 2 / 3 on real data, explanations,
//! and malformed files named by file and line.

use std::process::{Command, Output};

fn shared(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/validation/porcupine").join(rel);
    assert!(p.is_file(), "the validation data is missing: expected {}", p.display());
    p.display().to_string()
}

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline")).arg("check").args(args).output().expect("run faultline")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn temp(name: &str, content: &str) -> String {
    let p = std::env::temp_dir().join(format!("faultline-check-{}-{name}", std::process::id()));
    std::fs::write(&p, content).expect("write");
    p.display().to_string()
}

#[test]
fn verdicts_and_exit_codes_on_real_histories() {
    let o = check(&[&shared("jepsen/etcd_002.log")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("verdict    linearizable") && text(&o).contains("(jepsen-etcd, "));

    let o = check(&[&shared("jepsen/etcd_000.log")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("NOT linearizable") && t.contains("stuck      operation") && t.contains("but the register held"),
        "{t}"
    );

    let o = check(&[&shared("kv/c50-bad.txt")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("key        \""));

    let o = check(&[&shared("kv/c10-ok.txt"), "--json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["verdict"], "linearizable");
}

#[test]
fn an_empty_history_is_linearizable() {
    let o = check(&[&shared("jepsen/etcd_095.log")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("(empty)"));
}

#[test]
fn a_spent_budget_is_unknown_exit_3() {
    let o = check(&[&shared("jepsen/etcd_002.log"), "--budget", "1000"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("verdict    unknown") && text(&o).contains("--budget"));
}

#[test]
fn our_own_history_files_are_checked_too() {
    let dir = std::env::temp_dir().join(format!("faultline-check-run-{}", std::process::id()));
    let scenario = faultline::cli::load_scenario("zoo/pb-stale-reads").expect("bundled");
    let r = faultline::cli::run::run_to_dir(&scenario, 3, &dir).expect("run");
    assert!(!r.failures().is_empty());
    let o = check(&[&dir.join("history.json").display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("(faultline, 200 operations)"));
}

#[test]
fn malformed_histories_exit_2_with_file_and_line() {
    let edn = temp(
        "bad.txt",
        "{:process 0, :type :invoke, :f :get, :key \"1\", :value nil}\n{:process 0, :type :ok, :f :get, :key 1}\n",
    );
    let o = check(&[&edn]);
    assert_eq!(o.status.code(), Some(2));
    let t = text(&o);
    assert!(t.contains(&format!("{edn}:2:1")) && t.contains(":key is not a string"), "{t}");

    let log = temp("bad.log", "INFO  jepsen.util - 1\t:invoke\t:cas\t[1]\n");
    let o = check(&[&log, "--format", "jepsen-etcd"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains(&format!("{log}:1:1")) && text(&o).contains("cas takes [from to]"), "{}", text(&o));

    let json = temp(
        "bad.json",
        "{\"format\": \"faultline-history\", \"version\": 1, \"events\": [\n  {\"time\": \"soon\"}\n]}\n",
    );
    let o = check(&[&json]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains(&format!("{json}:2:")), "{}", text(&o));

    let o = check(&[&shared("kv/c01-ok.txt"), "--format", "jepsen-etc"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("did you mean `jepsen-etcd`?"), "{}", text(&o));

    let o = check(&[&shared("kv/c01-ok.txt"), "--model", "cas-register"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("does not fit"), "{}", text(&o));

    let o = check(&["/nonexistent/history.json"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn help_documents_the_check_exit_codes() {
    let o = check(&["--help"]);
    let t = text(&o);
    assert!(t.contains("3  unknown") && t.contains("1  not linearizable"), "{t}");
}

#[test]
fn full_jepsen_logs_and_edn_with_fail_and_info_are_understood() {
    // Other loggers' lines and the nemesis's events are skipped.
    let log = temp(
        "full.log",
        "INFO  jepsen.core - starting\nINFO  jepsen.util - :nemesis\t:info\t:start\tnil\nINFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:write\t1\nINFO  jepsen.util - 1\t:invoke\t:read\tnil\nINFO  jepsen.util - 1\t:ok\t:read\t1\n",
    );
    let o = check(&[&log]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("(jepsen-etcd, 2 operations)"));
    // :info may have happened; :fail did not. Reading the failed put's value is a violation.
    let edn = temp(
        "failinfo.txt",
        "{:process 0, :type :invoke, :f :put, :key \"a\", :value 5}\n{:process 0, :type :info, :f :put, :key \"a\", :value 5}\n{:process 1, :type :invoke, :f :put, :key \"a\", :value 6}\n{:process 1, :type :fail, :f :put, :key \"a\", :value 6}\n{:process 2, :type :invoke, :f :get, :key \"a\", :value nil}\n{:process 2, :type :ok, :f :get, :key \"a\", :value \"5\"}\n",
    );
    assert_eq!(check(&[&edn]).status.code(), Some(0));
    let bad = temp(
        "failread.txt",
        "{:process 1, :type :invoke, :f :put, :key \"a\", :value 6}\n{:process 1, :type :fail, :f :put, :key \"a\", :value 6}\n{:process 2, :type :invoke, :f :get, :key \"a\", :value nil}\n{:process 2, :type :ok, :f :get, :key \"a\", :value \"6\"}\n",
    );
    let o = check(&[&bad]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("get returned \"6\", but the value was \"\""), "{}", text(&o));
}

fn history(events: &str) -> String {
    format!("{{\n  \"format\": \"faultline-history\",\n  \"version\": 1,\n  \"events\": [\n{events}\n  ]\n}}\n")
}

/// Impossible histories are bad input, pointed at the event's line, not verdicts.
#[test]
fn impossible_histories_are_refused_at_the_event_that_makes_them_so() {
    let invoke = |op: u32, process: u32, time: u32| {
        format!(
            "    {{\n      \"time\": {time},\n      \"process\": {process},\n      \"type\": \"invoke\",\n      \"op\": {op},\n      \"f\": \"put\",\n      \"key\": \"k\",\n      \"value\": \"x\"\n    }}"
        )
    };
    let ok = |op: u32, process: u32, time: u32| {
        format!(
            "    {{\n      \"time\": {time},\n      \"process\": {process},\n      \"type\": \"ok\",\n      \"op\": {op}\n    }}"
        )
    };
    // Completes before it was invoked: event 1 starts on line 14.
    let early = temp("early.json", &history(&[invoke(0, 0, 100), ok(0, 0, 50)].join(",\n")));
    let o = check(&[&early]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("before it was invoked at 100 ns") && t.contains("early.json:14:5"), "{t}");
    // One process with two operations open at once.
    let two = temp("two-open.json", &history(&[invoke(0, 0, 10), invoke(1, 0, 20)].join(",\n")));
    let o = check(&[&two]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("while its op 0 is still open") && t.contains("two-open.json:14:5"), "{t}");
    // The same operations, one after the other, are fine.
    let fine =
        temp("fine.json", &history(&[invoke(0, 0, 10), ok(0, 0, 15), invoke(1, 0, 20), ok(1, 0, 25)].join(",\n")));
    assert_eq!(check(&[&fine]).status.code(), Some(0));
}

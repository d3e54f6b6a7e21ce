//! Malformed scenarios: each file in tests/bad-scenarios/ must be rejected with a
//! file:line:column message that says what was expected and how to fix it. The
//! messages are pinned by insta snapshots; the CLI must exit 2 on every one of them.

use std::path::Path;
use std::process::Command;

const CASES: &[&str] = &[
    "unknown-field",
    "unknown-table",
    "wrong-type",
    "bad-duration",
    "bad-rate",
    "unknown-protocol",
    "unknown-variant",
    "unknown-node",
    "node-in-two-groups",
    "fault-after-end",
    "two-actions",
    "missing-field",
    "bad-latency-dist",
    "toml-syntax",
    "nemesis-interval-and-rate",
    "zero-mix",
    "swapped-letters",
    "unknown-probe",
    "assert-unclear-timing",
    "assert-no-comparison",
    "assert-after-end",
    "restart-leader",
    "bad-target",
    "bank-mix-kv",
    "bank-field-in-kv",
    "bank-linearizable",
    "workload-mismatch",
    "unknown-workload-kind",
    "unknown-member",
    "leaderless-crash-leader",
    "leaderless-isolate-leader",
    "too-few-nodes",
    "huge-keys",
    "tiny-nemesis-interval",
    "duration-too-long",
    "retries-too-many",
    "latency-as-string",
    "empty-fault-list",
    "unknown-drop-kind",
    "workload-without-clients",
    "caught-without-seeds",
    "images-mix-kv",
    "images-op-in-kv",
    "images-huge-upload",
    "images-on-bank",
];

#[test]
fn every_bad_scenario_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir("tests/bad-scenarios")
        .expect("tests/bad-scenarios exists")
        .map(|e| e.expect("entry").path().file_stem().expect("stem").to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn bad_scenarios_give_located_messages() {
    for case in CASES {
        let path = format!("tests/bad-scenarios/{case}.toml");
        assert!(Path::new(&path).is_file(), "missing fixture {path}");
        let err = match faultline::cli::load_scenario(&path) {
            Ok(_) => panic!("{path} parsed, but it is malformed"),
            Err(e) => e,
        };
        assert!(err.contains(&format!("--> {path}:")), "{case}: no file:line:column in\n{err}");
        insta::assert_snapshot!(*case, err);
    }
}

#[test]
fn the_cli_exits_2_on_bad_scenarios_and_names_the_file() {
    for case in ["unknown-field", "unknown-protocol", "fault-after-end"] {
        let path = format!("tests/bad-scenarios/{case}.toml");
        for cmd in ["run", "sweep"] {
            let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args([cmd, &path]).output().expect("run faultline");
            assert_eq!(out.status.code(), Some(2), "{cmd} {path}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(&path), "{stderr}");
        }
    }
}

#[test]
fn a_missing_file_is_bad_input_with_a_suggestion() {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(["run", "pb/basics"]).output().expect("run faultline");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `pb/basic`?"), "{stderr}");
}

//! `docs/results.schema.json` describes what `run`, `sweep`, `merge`, `check` and `cluster` print
//! with `--json`. Real output of each, passing and failing, is held to it here, by a
//! small validator of the keywords the schema uses; every object in the schema
//! forbids fields it does not name, so a field added to the output without its
//! description fails this test.

use std::process::Command;

use serde_json::Value;

fn faultline(args: &[&str]) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run faultline");
    // 0 pass, 1 a failed check, 3 unknown: each prints its JSON; 2 (bad input) does not.
    assert!(matches!(o.status.code(), Some(0 | 1 | 3)), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/results.schema.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the results schema")).expect("the schema is JSON")
}

fn type_is(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "integer" => v.is_u64() || v.is_i64(),
        "number" => v.is_number(),
        other => panic!("the validator does not know type {other}"),
    }
}

/// Checks `v` against `s` (with `root` for `$ref`s); the error names the path.
fn check(root: &Value, s: &Value, v: &Value, at: &str) -> Result<(), String> {
    const KNOWN: &[&str] = &[
        "$schema",
        "$id",
        "title",
        "description",
        "$defs",
        "$ref",
        "oneOf",
        "type",
        "enum",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
    ];
    let obj = s.as_object().ok_or(format!("{at}: the schema is not an object"))?;
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        panic!("the validator does not know the keyword {k} (at {at})");
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.strip_prefix("#/$defs/").expect("local refs only");
        check(root, &root["$defs"][name], v, at)?;
    }
    if let Some(options) = s.get("oneOf").and_then(Value::as_array) {
        let fits: Vec<_> = options.iter().filter(|o| check(root, o, v, at).is_ok()).collect();
        if fits.len() != 1 {
            let why: Vec<String> = options.iter().filter_map(|o| check(root, o, v, at).err()).collect();
            return Err(format!("{at}: fits {} of the oneOf options, not one ({})", fits.len(), why.join("; ")));
        }
    }
    match s.get("type") {
        Some(Value::String(t)) if !type_is(t, v) => return Err(format!("{at}: {v} is not {t}")),
        Some(Value::Array(ts)) if !ts.iter().any(|t| type_is(t.as_str().unwrap_or(""), v)) => {
            return Err(format!("{at}: {v} is none of {ts:?}"));
        }
        _ => {}
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array)
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {e:?}"));
    }
    let num = |k: &str| s.get(k).and_then(Value::as_u64);
    if let Some(t) = v.as_str() {
        let n = t.chars().count() as u64;
        if num("minLength").is_some_and(|m| n < m) || num("maxLength").is_some_and(|m| n > m) {
            return Err(format!("{at}: {t:?} has the wrong length"));
        }
    }
    if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
        && x < min
    {
        return Err(format!("{at}: {x} is below {min}"));
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as u64;
        if num("minItems").is_some_and(|m| n < m) || num("maxItems").is_some_and(|m| n > m) {
            return Err(format!("{at}: {n} items"));
        }
        if let Some(each) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                check(root, each, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    if let Some(fields) = v.as_object() {
        let props = s.get("properties").and_then(Value::as_object);
        for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
            let r = r.as_str().expect("a required name");
            if !fields.contains_key(r) {
                return Err(format!("{at}: lacks the required field {r}"));
            }
        }
        for (k, x) in fields {
            let here = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(p), _) => check(root, p, x, &here)?,
                (None, Some(Value::Bool(false))) => {
                    return Err(format!("{here}: a field the schema does not describe"));
                }
                (None, Some(extra @ Value::Object(_))) => check(root, extra, x, &here)?,
                (None, _) => {}
            }
        }
    }
    Ok(())
}

/// Holds each line of `out` (one JSON value per line, or one pretty value) to the
/// schema's `def`.
fn holds(out: &str, def: &str) {
    let root = schema();
    let values: Vec<Value> = if out.trim_start().starts_with("{\n") {
        vec![serde_json::from_str(out).expect("JSON")]
    } else {
        out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
    };
    assert!(!values.is_empty(), "no output");
    for v in values {
        let def =
            if def == "sweep" { if v.get("summary").is_some() { "sweep_summary" } else { "sweep_seed" } } else { def };
        check(&root, &root["$defs"][def], &v, def).unwrap_or_else(|e| panic!("{e}\nin {v}"));
        check(&root, &root, &v, "(any)").unwrap_or_else(|e| panic!("{e}\nin {v}"));
    }
}

fn temp(name: &str) -> String {
    std::env::temp_dir().join(format!("faultline-schema-{}-{name}", std::process::id())).to_string_lossy().into_owned()
}

#[test]
fn runs_fit_the_schema() {
    holds(&faultline(&["run", "pb/basic", "--json", "--out", &temp("pb")]), "run");
    // A bank run (conserved total, measures), a failed invariant (stopped_by), a
    // non-linearizable run with its reports drawn.
    holds(&faultline(&["run", "commit/twopc-coordinator-crash", "--json", "--out", &temp("twopc")]), "run");
    holds(&faultline(&["run", "zoo/raft-commit-old-term", "--json", "--out", &temp("fig8")]), "run");
    holds(&faultline(&["run", "zoo/raft-stale-reads", "--json", "--report", "--out", &temp("stale")]), "run");
    // A scenario without clients (no ops, latency or messages per op).
    holds(&faultline(&["run", "paxos/synod", "--json", "--out", &temp("synod")]), "run");
}

#[test]
fn sweeps_and_merges_fit_the_schema() {
    holds(&faultline(&["sweep", "zoo/pb-stale-reads", "--seeds", "1..5", "--json"]), "sweep");
    holds(&faultline(&["sweep", "pb/basic", "--seeds", "1..3", "--json", "--no-digest"]), "sweep");
    let dir = temp("merge");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut files = Vec::new();
    for i in 1..=2 {
        let shard =
            faultline(&["sweep", "zoo/pb-stale-reads", "--seeds", "1..5", "--shard", &format!("{i}/2"), "--json"]);
        let file = format!("{dir}/s{i}.json");
        std::fs::write(&file, shard).expect("write a shard");
        files.push(file);
    }
    holds(&faultline(&["merge", &files[0], &files[1], "--json"]), "sweep");
}

#[test]
fn checks_fit_the_schema() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/validation/porcupine");
    assert!(std::path::Path::new(data).is_dir(), "{data} is missing: the shared validation data must be there");
    let file = |f: &str| format!("{data}/{f}");
    holds(&faultline(&["check", &file("jepsen/etcd_002.log"), "--json"]), "check");
    holds(&faultline(&["check", &file("jepsen/etcd_000.log"), "--json"]), "check");
    holds(&faultline(&["check", &file("jepsen/etcd_002.log"), "--budget", "steps=1000", "--json"]), "check");
    let bad = std::fs::read_dir(format!("{data}/kv"))
        .expect("porcupine's kv histories")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-bad.txt"))
        .expect("a bad kv history");
    let out = faultline(&["check", &bad.to_string_lossy(), "--json"]);
    holds(&out, "check");
    // An image store's history: its lists judged too.
    let dir = temp("images");
    faultline(&["run", "images/happy", "--out", &dir]);
    let out = faultline(&["check", &format!("{dir}/history.json"), "--json"]);
    assert!(out.contains("\"lists\""), "{out}");
    holds(&out, "check");
}

/// Real clusters (real processes, about 4 s each): a passing Raft run, and a
/// bug-zoo one whose checks fail (a failed check's kind, what it expects).
#[test]
fn clusters_fit_the_schema() {
    let out = faultline(&["cluster", "raft/basic-agree", "--json", "--out", &temp("cluster")]);
    holds(&out, "cluster");
    let out = faultline(&[
        "cluster",
        "commit/twopc-participant-crash",
        "--variant",
        "majority-commit",
        "--json",
        "--out",
        &temp("cluster-zoo"),
    ]);
    assert!(out.contains(r#""kind":"invariant""#), "{out}");
    holds(&out, "cluster");
    for dir in [temp("cluster"), temp("cluster-zoo")] {
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}

#[test]
fn faultline_prints_the_schema() {
    let printed: Value = serde_json::from_str(&faultline(&["schema", "--results"])).expect("JSON");
    assert_eq!(printed, schema());
}

#[test]
fn the_validator_refuses_what_the_schema_forbids() {
    let root = schema();
    let run = &root["$defs"]["sweep_seed"];
    let good: Value = serde_json::json!({"seed": 1, "verdict": "pass", "as_expected": true, "checks": [],
        "first_failure": null, "trace_hash": "0123456789abcdef", "events": 5});
    check(&root, run, &good, "seed").expect("a good line");
    for (field, bad) in [
        ("verdict", serde_json::json!("maybe")),
        ("trace_hash", serde_json::json!("0123")),
        ("seed", serde_json::json!(-1)),
        ("surprise", serde_json::json!(1)),
    ] {
        let mut v = good.clone();
        v[field] = bad;
        assert!(check(&root, run, &v, "seed").is_err(), "{field} = {} is refused", v[field]);
    }
    let mut v = good.clone();
    v.as_object_mut().expect("object").remove("events");
    assert!(check(&root, run, &v, "seed").is_err(), "a missing field is refused");
}

//! The checker against data no one here wrote: Porcupine's test data (102 Jepsen etcd
//! logs and 6 key-value files), read in place from ../shared/validation/porcupine/,
//! with the verdicts its MANIFEST.md records. Missing data fails the test loudly.

use std::path::PathBuf;

use faultline_sim::check::import::{Format, import};
use faultline_sim::check::linearizability::{
    KvModel, LinResult, RegisterModel, SEARCH_STEPS_MAX, check_kv, check_partitions,
};

fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/validation/porcupine");
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "the validation data is missing: expected {} (the shared/ folder beside the repository)",
        dir.display()
    );
    dir
}

/// (file, expected linearizable) from the MANIFEST's table; the empty etcd_095 is skipped.
fn manifest() -> Vec<(String, bool)> {
    let text = std::fs::read_to_string(data_dir().join("MANIFEST.md")).expect("MANIFEST.md");
    let mut rows = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let file = cells[1].trim_matches('`').to_string();
        let verdict = cells[9];
        if verdict.starts_with("**linearizable**") {
            rows.push((file, true));
        } else if verdict.starts_with("NOT linearizable") {
            rows.push((file, false));
        } else {
            assert!(verdict.contains("empty"), "unexpected verdict cell {verdict:?} for {file}");
        }
    }
    rows
}

pub fn check_file(path: &std::path::Path) -> LinResult {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display().to_string();
    let format = if name.ends_with(".log") { Format::JepsenEtcd } else { Format::PorcupineKv };
    match import(&name, &src, format).unwrap_or_else(|d| panic!("{d}")) {
        Imported::Kv(ops) => check_kv(ops, SEARCH_STEPS_MAX),
        Imported::Register(ops) => {
            check_partitions(&RegisterModel { cas: true }, &[(String::new(), ops)], SEARCH_STEPS_MAX)
        }
    }
}

use faultline_sim::check::import::Imported;

#[test]
fn all_108_verdicts_match_the_manifest() {
    let rows = manifest();
    assert_eq!(rows.len(), 108, "102 etcd logs and 6 kv files");
    let mut wrong = Vec::new();
    for (file, linearizable) in &rows {
        let got = check_file(&data_dir().join(file));
        let ok = match got {
            LinResult::Linearizable => *linearizable,
            LinResult::NotLinearizable { .. } => !*linearizable,
            LinResult::Unknown { .. } => false,
        };
        if !ok {
            wrong.push(format!("{file}: expected linearizable={linearizable}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of 108 verdicts wrong:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn c50_bad_is_caught_without_waiting_on_its_hard_keys() {
    let got = check_file(&data_dir().join("kv/c50-bad.txt"));
    let LinResult::NotLinearizable { key, why } = got else { panic!("expected not linearizable, got {got:?}") };
    assert!(["1", "2", "3", "4", "6", "8"].contains(&key.as_str()), "key {key} is one of the failing partitions");
    assert!(!why.needs.is_empty());
    let _ = KvModel;
}

//! The checker against data no one here wrote: Porcupine's test data (102 Jepsen etcd
//! logs and 6 key-value files), read in place from ../shared/validation/porcupine/,
//! with the verdicts its MANIFEST.md records. Missing data fails the test loudly.

use std::path::PathBuf;

use faultline_sim::check::import::{Format, import};
use faultline_sim::check::linearizability::{
    KvModel, KvOutput, LinOp, LinResult, Model, SEARCH_STEPS_MAX, Search, check_kv, search,
};
use faultline_sim::protocol::Op;
use faultline_sim::rng::{SimRng, Stream};

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

fn check_file(path: &std::path::Path) -> LinResult {
    let src = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.display().to_string();
    let format = Format::detect(&src).unwrap_or_else(|| panic!("{name}: unknown format"));
    import(&name, &src, format).unwrap_or_else(|d| panic!("{d}")).check(SEARCH_STEPS_MAX)
}

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
}

// ---------------------------------------------------------------------------------
// The search against a brute-force oracle on random small histories.

/// Tries every order of the operations that respects real time, with every choice of
/// which indeterminate operations take effect at all.
fn oracle(ops: &[LinOp<Op, KvOutput>]) -> bool {
    fn go(ops: &[LinOp<Op, KvOutput>], done: &mut Vec<bool>, state: &std::rc::Rc<str>) -> bool {
        // Finished when every definite operation is placed; info ones may never happen.
        if ops.iter().zip(done.iter()).all(|(o, &d)| d || o.ret == u64::MAX) {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            // i may go next only if no other pending op returned before i was called.
            let blocked = (0..ops.len()).any(|j| j != i && !done[j] && ops[j].ret < ops[i].call);
            if blocked {
                continue;
            }
            if let Some(next) = KvModel.step(state, &ops[i].input, &ops[i].output) {
                done[i] = true;
                if go(ops, done, &next) {
                    return true;
                }
                done[i] = false;
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], &std::rc::Rc::from(""))
}

fn random_history(rng: &mut SimRng) -> Vec<LinOp<Op, KvOutput>> {
    let n = 1 + rng.below(8) as usize;
    let values = ["a", "b", "c"];
    let mut ops = Vec::new();
    for id in 0..n {
        let call = rng.below(20);
        let info = rng.below(5) == 0;
        let ret = if info { u64::MAX } else { call + 1 + rng.below(10) };
        let key = "k".to_string();
        let v = values[rng.below(3) as usize].to_string();
        let (input, output) = match rng.below(4) {
            0 => {
                let seen = ["", "a", "b", "c", "ab", "ba"][rng.below(6) as usize].to_string();
                (Op::Get { key }, if info { KvOutput::Unknown } else { KvOutput::Value(seen) })
            }
            1 => (Op::Put { key, value: v }, if info { KvOutput::Unknown } else { KvOutput::Done }),
            2 => (Op::Append { key, value: v }, if info { KvOutput::Unknown } else { KvOutput::Done }),
            _ => {
                let from = ["", "a", "b"][rng.below(3) as usize].to_string();
                let out = if info { KvOutput::Unknown } else { KvOutput::Swapped(rng.below(2) == 0) };
                (Op::Cas { key, from, to: v }, out)
            }
        };
        if info && input.is_read() {
            continue; // the importers drop reads that never returned
        }
        ops.push(LinOp { id, call, ret, input, output });
    }
    ops
}

#[test]
fn the_search_agrees_with_a_brute_force_oracle() {
    let mut rng = SimRng::new(2026, Stream::Workload);
    let (mut yes, mut no) = (0, 0);
    for case in 0..20_000 {
        let ops = random_history(&mut rng);
        let want = oracle(&ops);
        let got = search(&KvModel, &ops, 1_000_000);
        assert_ne!(got, Search::Unknown);
        assert_eq!(got == Search::Ok, want, "case {case}: search says {got:?}, the oracle says {want}: {ops:#?}");
        // The per-key entry point, with its pruning of unobserved writes, agrees too.
        let whole = check_kv(ops.clone(), 1_000_000);
        assert_eq!(whole == LinResult::Linearizable, want, "case {case}: check_kv says {whole:?}: {ops:#?}");
        if want { yes += 1 } else { no += 1 }
    }
    assert!(yes > 2_000 && no > 2_000, "both verdicts are exercised: {yes} yes, {no} no");
}

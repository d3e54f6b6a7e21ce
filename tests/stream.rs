//! The exactly-once stream job end to end: the correct job delivers every record
//! once through crashes of its tasks, its store and its coordinator, and under the
//! random nemesis; each bug-zoo sink is caught by the invariant its bug breaks.

mod common;
use common::bundled;
use faultline_sim::Check;
use faultline_sim::scenario::NemesisKind;
use faultline_sim::trace::TraceBuffer;

/// Every record of the three partitions, in the summary's words.
const ALL_OUTPUT: &str = "900 (p1 300, p2 300, p3 300)";

fn output_of(r: &faultline_sim::RunResult) -> Option<&str> {
    r.measures.iter().find(|(k, _)| k == "records output").map(|(_, v)| v.as_str())
}

#[test]
fn every_stream_scenario_passes_fifty_seeds_with_every_record_output_once() {
    let names = common::bundled_in("stream/", |n| !n.ends_with("/nemesis"));
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let s = bundled(name);
        common::passes_every_seed(&s, 1..51);
        let r = faultline_protocols::run(&s, 7, faultline_sim::Trace::off());
        assert_eq!(output_of(&r), Some(ALL_OUTPUT), "{name} seed 7");
    }
}

#[test]
fn correct_stream_passes_1000_seeds_of_crashes_loss_and_partitions() {
    let s = bundled("stream/nemesis");
    let kinds = &s.nemesis.as_ref().expect("a nemesis").kinds;
    for k in [NemesisKind::Partition, NemesisKind::Crash, NemesisKind::CrashLeader, NemesisKind::Pause] {
        assert!(kinds.contains(&k), "{k:?} is among the faults");
    }
    assert!(s.network.links.iter().all(|l| l.loss.0 > 0 && l.duplicate.0 > 0), "messages are lost and duplicated");
    common::passes_every_seed(&s, 1..1001);
}

/// The point of stream/missed-completion: the checkpoint the task restores lists
/// several pre-committed transactions, and committing them on recovery is what
/// keeps their records.
#[test]
fn a_task_that_missed_its_completions_commits_its_pending_transactions_on_recovery() {
    let s = bundled("stream/missed-completion");
    let buf = TraceBuffer::default();
    let r = faultline_protocols::run(&s, s.seed, faultline_sim::Trace::to_writer(Box::new(buf.clone())));
    assert!(r.failures().is_empty(), "{:?}", r.failures());
    assert_eq!(output_of(&r), Some(ALL_OUTPUT));
    let text = buf.text();
    let restored = text.lines().find(|l| l.contains("restored from checkpoint")).expect("n3 restored a checkpoint");
    let listed: u32 = restored
        .split(", ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of transactions to commit in {restored}"));
    assert!(listed >= 2, "the restored checkpoint lists the transactions left pending: {restored}");
}

#[test]
fn each_zoo_sink_is_caught_by_the_invariant_its_bug_breaks() {
    for (name, invariant) in [
        ("zoo/stream-commit-on-barrier", "exactly-once"),
        ("zoo/stream-skip-pre-commit", "no-loss"),
        ("zoo/stream-forget-pending", "no-loss"),
    ] {
        let s = bundled(name);
        let out = faultline::cli::sweep::run_seeds(&s, 1..21, 2, &indicatif::ProgressBar::hidden());
        for o in out {
            assert_eq!(o.checks.first(), Some(&Check::Invariant(invariant.into())), "{name} seed {}", o.seed);
        }
    }
}

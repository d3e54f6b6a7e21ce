//! The cross-check under madsim's deterministic simulator: the real-network host
//! (`faultline-net`, the code `faultline cluster` runs as OS processes) runs bundled
//! scenarios inside madsim, one simulated node per faultline node, with madsim's
//! network, clock and kill/restart/pause, and the verdicts agree in kind with our
//! own engine's: correct variants pass, zoo variants are caught.
//!
//! Built only with `--cfg madsim`, in a target directory of its own:
//!     RUSTFLAGS="--cfg madsim" CARGO_TARGET_DIR=target/madsim cargo test -p faultline-protocols --test madsim
#![cfg(madsim)]

use faultline_protocols::madsim_host::{on_madsim, scenario};

/// What our engine says of the same scenario and seed: did every check pass?
fn on_engine(name: &str, variant: &str, seed: u64) -> bool {
    let s = scenario(name, variant);
    faultline_protocols::run(s, seed, faultline_sim::Trace::off()).failures().is_empty()
}

/// Correct variants pass and zoo variants are caught, on madsim as on our engine.
#[test]
fn the_madsim_host_agrees_with_the_engine_in_kind() {
    let cases = [
        ("raft/basic-agree", "correct", true),
        ("cluster/raft-impatient-clients", "correct", true),
        ("cluster/raft-impatient-clients", "no-dedup", false),
        ("commit/twopc-participant-crash", "correct", true),
        ("commit/twopc-participant-crash", "majority-commit", false),
        ("commit/threepc-participant-crash", "correct", true),
        ("cluster/paxos-acceptors-crash", "correct", true),
        ("chash/crash-during-migration", "correct", true),
        ("zoo/chash-mod-n", "mod-n", false),
        ("images/leader-crash", "correct", true),
        ("zoo/images-follower-reads", "follower-reads", false),
    ];
    for (name, variant, passes) in cases {
        assert_eq!(on_engine(name, variant, 1), passes, "the engine on {name} ({variant})");
        let run = on_madsim(name, variant, 1);
        let (v, history) = (run.verdict, run.history);
        assert_eq!(v.failures.is_empty(), passes, "madsim on {name} ({variant}): {:?}", v.failures);
        // Not a vacuous pass: the clients were answered.
        let ok = history.count(faultline_sim::history::EventType::Ok);
        assert!(ok >= 20, "madsim on {name} ({variant}): only {ok} operations completed");
        if name.contains("crash") || name.contains("impatient") {
            assert!(v.crashes > 0 && v.restarts > 0, "madsim on {name}: the nodes were killed and restarted");
        }
    }
}

/// A protocol without clients on madsim: the stream job's store is killed after a
/// barrier and the output stays exactly-once; a sink that skips its pre-commit is
/// caught by `no-loss`, as on the engine.
#[test]
fn the_stream_job_on_madsim_is_judged_by_its_observations() {
    for (variant, passes) in [("correct", true), ("skip-pre-commit", false)] {
        assert_eq!(on_engine("stream/store-crash", variant, 1), passes, "the engine ({variant})");
        let v = on_madsim("stream/store-crash", variant, 1).verdict;
        assert_eq!(v.failures.is_empty(), passes, "madsim ({variant}): {:?}", v.failures);
        assert!(v.crashes > 0 && v.restarts > 0, "madsim ({variant}): the store was killed and restarted");
        if !passes {
            let no_loss = faultline_sim::Check::Invariant("no-loss".into());
            assert!(v.failures.iter().any(|f| f.check == no_loss), "madsim ({variant}): {:?}", v.failures);
        }
    }
}

/// madsim is deterministic, and so is the host inside it: one seed, one history.
#[test]
fn the_madsim_host_replays_a_seed_exactly() {
    let a = on_madsim("cluster/raft-impatient-clients", "correct", 7).history;
    let b = on_madsim("cluster/raft-impatient-clients", "correct", 7).history;
    assert_eq!(a.to_json(), b.to_json(), "the same seed gave two histories");
    let c = on_madsim("cluster/raft-impatient-clients", "correct", 8).history;
    assert_ne!(a.to_json(), c.to_json(), "another seed, another run");
}

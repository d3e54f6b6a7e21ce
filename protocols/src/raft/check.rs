//! The probes scenario files assert on, and a node's own invariant
//! (`applied-after-commit`). Raft's safety properties (Figure 3 of the paper) are the
//! replicated-log family's, judged from what each node reports
//! ([`faultline_sim::families::log`]): its term and leadership, its votes, where its
//! log ends, its commits as leader and what it applies.

use faultline_sim::Violation;

use super::{Raft, Role};

pub const PROBES: &[(&str, &str)] = &[
    ("leader", "1 if a node leads in the highest term the majority group knows, else 0"),
    ("leaders", "how many nodes in the majority group believe they lead (stale leaders too)"),
    ("term", "the highest current term in the majority group"),
    ("terms-agree", "1 if every node in the majority group has the same current term"),
    ("commit", "the highest commit index in the majority group"),
    ("commands", "the most client commands any node in the majority group has executed (retries deduplicated)"),
    ("agree", "1 if every node in the majority group has applied the same log prefix"),
    ("log", "the longest log (entries held, not compacted) in the majority group"),
    ("installs", "snapshots installed from a leader, summed over the majority group"),
];

pub fn probe(nodes: &[Option<&Raft>], name: &str) -> i64 {
    let live = || nodes.iter().flatten();
    let max = |f: fn(&Raft) -> u64| live().map(|r| f(r)).max().unwrap_or(0) as i64;
    match name {
        "leader" => {
            let top = live().map(|r| r.term).max().unwrap_or(0);
            live().any(|r| r.role == Role::Leader && r.term == top) as i64
        }
        "leaders" => live().filter(|r| r.role == Role::Leader).count() as i64,
        "term" => max(|r| r.term),
        "terms-agree" => live().all(|r| Some(r.term) == live().next().map(|f| f.term)) as i64,
        "commit" => max(|r| r.commit),
        "commands" => max(|r| r.store.executed),
        "agree" => {
            let first = live().next().map(|f| (f.applied, f.applied_chain));
            live().all(|r| Some((r.applied, r.applied_chain)) == first) as i64
        }
        "log" => max(|r| r.log.len() as u64),
        "installs" => live().map(|r| r.installs).sum::<u64>() as i64,
        _ => 0,
    }
}

pub fn local(r: &Raft) -> Result<(), Violation> {
    if r.applied > r.commit {
        return Err(Violation {
            invariant: "applied-after-commit".into(),
            detail: format!("n{} applied index {} but has committed only {}", r.me.0 + 1, r.applied, r.commit),
        });
    }
    Ok(())
}

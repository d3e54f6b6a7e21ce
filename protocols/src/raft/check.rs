//! The probes scenario files assert on, and a node's own invariant
//! (`applied-after-commit`). Raft's safety properties (Figure 3 of the paper) are the
//! replicated-log family's, judged from what each node reports
//! ([`faultline_sim::families::log`]): its term and leadership, its votes, where its
//! log ends, its commits as leader and what it applies.

use faultline_sim::Violation;

use super::{Machine, Raft, Role};

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

/// What the Raft probes read of one server. Any Raft can give it (the lab
/// skeleton's does), so that the same scenario files assert on any implementation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct View {
    /// The current term.
    pub term: u64,
    /// Whether it leads (in `term`).
    pub leads: bool,
    /// Its commit index.
    pub commit: u64,
    /// Client commands its state machine executed.
    pub commands: u64,
    /// The index it applied up to, and the digest of its log up to there.
    pub applied: (u64, u64),
    /// Entries its log holds (not compacted into a snapshot).
    pub log: u64,
    /// Snapshots it installed from a leader.
    pub installs: u64,
}

/// Measures probe `name` (one of [`PROBES`]) over the servers that are up and in
/// the majority group.
pub fn measure(views: &[View], name: &str) -> i64 {
    let max = |f: fn(&View) -> u64| views.iter().map(f).max().unwrap_or(0) as i64;
    match name {
        "leader" => {
            let top = views.iter().map(|v| v.term).max().unwrap_or(0);
            views.iter().any(|v| v.leads && v.term == top) as i64
        }
        "leaders" => views.iter().filter(|v| v.leads).count() as i64,
        "term" => max(|v| v.term),
        "terms-agree" => views.iter().all(|v| v.term == views[0].term) as i64,
        "commit" => max(|v| v.commit),
        "commands" => max(|v| v.commands),
        "agree" => views.iter().all(|v| v.applied == views[0].applied) as i64,
        "log" => max(|v| v.log),
        "installs" => views.iter().map(|v| v.installs).sum::<u64>() as i64,
        _ => 0,
    }
}

pub fn probe<M: Machine>(nodes: &[Option<&Raft<M>>], name: &str) -> i64 {
    let views: Vec<View> = nodes
        .iter()
        .flatten()
        .map(|r| View {
            term: r.term,
            leads: r.role == Role::Leader,
            commit: r.commit,
            commands: r.store.executed(),
            applied: (r.applied, r.applied_chain),
            log: r.log.len() as u64,
            installs: r.installs,
        })
        .collect();
    measure(&views, name)
}

pub fn local<M: Machine>(r: &Raft<M>) -> Result<(), Violation> {
    if r.applied > r.commit {
        return Err(Violation {
            invariant: "applied-after-commit".into(),
            detail: format!("n{} applied index {} but has committed only {}", r.me.0 + 1, r.applied, r.commit),
        });
    }
    Ok(())
}

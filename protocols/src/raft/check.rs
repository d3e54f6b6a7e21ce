//! Raft's safety properties (Figure 3 of the paper), checked after every event, and
//! the probes scenario files assert on.
//!
//! - `election-safety`: at most one leader per term, ever (a run-long fact).
//! - `one-vote-per-term`: a node grants at most one candidate its vote in a term, even
//!   across restarts (what election safety rests on).
//! - `log-matching`: two logs holding an entry with the same index and term are
//!   identical up to it. Checked per pair of live nodes at the highest index where
//!   their terms agree, by comparing chains (fingerprints of the prefix).
//! - `current-term-commit`: a leader moves its commit index, by counting replicas,
//!   only onto an entry of its own term; earlier entries commit with it (§5.4.2,
//!   Figure 8). What leader completeness rests on, as one vote per term is what
//!   election safety rests on: breaking it is the Figure 8 bug even on a run in which
//!   no later leader happens to lack the entry.
//! - `leader-completeness`: a leader of a term later than the one in which the highest
//!   known commit happened holds that entry (and so, by its chain, everything before).
//! - `state-machine-safety`: no two nodes apply different entries at one index, ever:
//!   each node's applied index is claimed with the chain of what it applied.

use faultline_sim::check::facts::Facts;
use faultline_sim::scenario::NODES_MAX;
use faultline_sim::{NodeId, Violation};

use super::{Cmd, Raft, Role};

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

/// What a node applied at its applied index, as numbers: node, index, the entry's
/// term, and its client and sequence number (0 for a no-op, all ones for a snapshot).
fn witness(r: &Raft) -> [u64; 4] {
    let (term, who) = match r.log.get(r.applied) {
        Some(e) => (
            e.term,
            match &e.cmd {
                Cmd::Client(req) => (req.client as u64 + 1) << 32 | req.seq,
                Cmd::Noop => 0,
            },
        ),
        None => (r.log.snap_term, u64::MAX),
    };
    [r.me.0 as u64 + 1, r.applied, term, who]
}

fn show_applied([node, index, term, who]: [u64; 4]) -> String {
    let what = match who {
        0 => format!("a no-op of term {term}"),
        u64::MAX => format!("a snapshot ending in term {term}"),
        w => format!("operation #{} of c{} (term {term})", w & 0xffff_ffff, w >> 32),
    };
    format!("at index {index} n{node} applied {what}")
}

/// What a node's checks depend on: its vote, role and state machine, then its log. A
/// node that looks the same as at the last check needs no new claims.
fn summary(r: &Raft) -> [u64; SUMMARY] {
    let last = r.log.last_index();
    [
        r.applied,
        r.term,
        r.voted_for.map_or(0, |v| v.0 as u64 + 1) | (r.role as u64) << 32,
        r.applied_chain,
        last,
        r.log.chain_at(last).unwrap_or(0),
        r.log.snap_index,
        r.commit,
    ]
}

const SUMMARY: usize = 8;

/// Field by field, most likely to differ first (a memcmp call costs more here).
fn same(a: &[u64], b: &[u64; SUMMARY]) -> bool {
    a[0] == b[0]
        && a[4] == b[4]
        && a[7] == b[7]
        && a[1] == b[1]
        && a[2] == b[2]
        && a[3] == b[3]
        && a[5] == b[5]
        && a[6] == b[6]
}

/// Checks after a step of node `stepped`: only its state changed, so only its claims
/// can be new, and only the log pairs it is part of can have stopped matching.
pub fn cluster(nodes: &[Option<Raft>], stepped: usize, facts: &mut Facts) -> Result<(), Violation> {
    let scratch = facts.scratch();
    if scratch.len() < nodes.len() * SUMMARY + 3 {
        scratch.resize(nodes.len() * SUMMARY, u64::MAX);
        scratch.extend([0, 0, 0]);
    }
    let Some(r) = &nodes[stepped] else { return Ok(()) };
    let slot = &mut scratch[stepped * SUMMARY..(stepped + 1) * SUMMARY];
    let now = summary(r);
    if same(slot, &now) {
        return Ok(());
    }
    // Claim only what moved: each claim is a map lookup, and this runs every event.
    let votes_moved = slot[1] != now[1] || slot[2] != now[2];
    let applied_moved = slot[0] != now[0] || slot[3] != now[3];
    let log_moved = slot[4] != now[4] || slot[5] != now[5] || slot[6] != now[6];
    // A leader's commit index moved up (from a value seen in the same term).
    let leader_committed = r.role == Role::Leader && slot[7] != u64::MAX && now[7] > slot[7] && slot[1] == now[1];
    slot.copy_from_slice(&now);
    if leader_committed {
        let term = r.log.term_at(r.commit);
        if term != Some(r.term) {
            return Err(Violation {
                invariant: "current-term-commit".into(),
                detail: format!(
                    "{} leads term {} and committed index {} by counting replicas, but that entry is of term {} \
                     (Raft §5.4.2: only an entry of the leader's own term commits by counting)",
                    r.me,
                    r.term,
                    r.commit,
                    term.map_or("(compacted)".into(), |t| t.to_string())
                ),
            });
        }
    }
    if votes_moved {
        if r.role == Role::Leader {
            facts.claim_print("election-safety", "term", r.term, r.me.0 as u64, || {
                format!("{} leads term {}", r.me, r.term)
            })?;
        }
        if let Some(v) = r.voted_for {
            // At most one vote per node per term (the rule Election Safety rests on).
            let key = r.term * NODES_MAX as u64 + r.me.0 as u64;
            facts.claim_print("one-vote-per-term", "vote", key, v.0 as u64, || {
                format!("in term {} {} voted for {v}", r.term, r.me)
            })?;
        }
    }
    let mut top_moved = false;
    if applied_moved {
        facts.claim_witness("state-machine-safety", "index", r.applied, r.applied_chain, witness(r), show_applied)?;
        // The highest index any node applied, the term of the node that did so first
        // (the leader that committed it), and the chain there.
        let top = &mut facts.scratch()[nodes.len() * SUMMARY..];
        if r.applied > top[0] {
            top.copy_from_slice(&[r.applied, r.term, r.applied_chain]);
            top_moved = true;
        }
    }
    // A new commit is checked against every leader; a changed leader against the commit.
    if top_moved {
        for l in nodes.iter().flatten() {
            leader_completeness(l, facts, nodes.len())?;
        }
    } else if votes_moved || log_moved {
        leader_completeness(r, facts, nodes.len())?;
    }
    if log_moved {
        for other in nodes.iter().enumerate().filter(|(i, _)| *i != stepped).filter_map(|(_, n)| n.as_ref()) {
            log_matching(r, other)?;
        }
    }
    Ok(())
}

fn leader_completeness(r: &Raft, facts: &mut Facts, n: usize) -> Result<(), Violation> {
    let [top, top_term, chain] = facts.scratch()[n * SUMMARY..] else { return Ok(()) };
    if top == 0 || r.role != Role::Leader || r.term <= top_term {
        return Ok(());
    }
    let lacks = if top > r.log.last_index() {
        Some(format!("its log ends at index {}", r.log.last_index()))
    } else if top >= r.log.snap_index && r.log.chain_at(top) != Some(chain) {
        Some(format!("it holds {} there instead", r.log.get(top).map_or("a snapshot".into(), |e| e.describe())))
    } else {
        None
    };
    match lacks {
        Some(why) => Err(Violation {
            invariant: "leader-completeness".into(),
            detail: format!(
                "{} leads term {} but lacks the entry committed at index {top} in term {top_term}: {why}",
                r.me, r.term
            ),
        }),
        None => Ok(()),
    }
}

/// Log Matching for one pair: at the highest index where both logs hold an entry of
/// the same term, their chains (and so their whole prefixes) must agree.
fn log_matching(a: &Raft, b: &Raft) -> Result<(), Violation> {
    let floor = a.log.snap_index.max(b.log.snap_index);
    let mut k = a.log.last_index().min(b.log.last_index());
    while k >= floor {
        let (ta, tb) = (a.log.term_at(k), b.log.term_at(k));
        if ta.is_some() && ta == tb {
            if a.log.chain_at(k) != b.log.chain_at(k) {
                return Err(mismatch(a.me, b.me, k, ta.unwrap_or(0)));
            }
            break;
        }
        if k == 0 {
            break;
        }
        k -= 1;
    }
    Ok(())
}

fn mismatch(a: NodeId, b: NodeId, index: u64, term: u64) -> Violation {
    Violation {
        invariant: "log-matching".into(),
        detail: format!(
            "{a} and {b} both hold an entry of term {term} at index {index}, but their logs up to it differ"
        ),
    }
}

#[cfg(test)]
mod tests {
    use faultline_sim::disk::Durable;
    use faultline_sim::rng::{SimRng, Stream};
    use faultline_sim::{Ctx, NodeId, Protocol};

    use super::*;
    use crate::raft::{Cmd, Entry, Variant};

    fn node(i: usize, terms: &[u64]) -> Raft {
        let (mut rng, mut effects, mut next) = (SimRng::new(1, Stream::Node(i)), Vec::new(), 0);
        let mut ctx = Ctx::manual(NodeId(i), 3, 0, &mut rng, &mut effects, &mut next);
        let mut r = Raft::start(&mut ctx, &Variant::Correct, &Durable::new());
        for &t in terms {
            r.log.push(Entry::new(t, Cmd::Noop));
        }
        r.term = terms.last().copied().unwrap_or(0);
        r
    }

    fn lead(mut r: Raft, term: u64) -> Raft {
        (r.role, r.term) = (Role::Leader, term);
        r
    }

    fn apply_to(mut r: Raft, index: u64) -> Raft {
        (r.commit, r.applied, r.applied_chain) = (index, index, r.log.chain_at(index).unwrap());
        r
    }

    /// Checks as the engine would after a step of each node in turn.
    fn cluster(nodes: &[Option<Raft>], facts: &mut Facts) -> Result<(), Violation> {
        (0..nodes.len()).try_for_each(|i| super::cluster(nodes, i, facts))
    }

    #[test]
    fn figure_8_overwrite_breaks_leader_completeness() {
        let mut facts = Facts::default();
        // n1 leads term 4 and (wrongly) commits its term-2 entry at index 2.
        let n1 = apply_to(lead(node(0, &[1, 2]), 4), 2);
        let n2 = node(1, &[1, 2]);
        let n3 = node(2, &[1, 3]);
        assert!(cluster(&[Some(n1), Some(n2.clone()), Some(n3.clone())], &mut facts).is_ok());
        // n1 crashes; n3, whose index 2 is of term 3, wins term 5.
        let v = cluster(&[None, Some(n2), Some(lead(n3, 5))], &mut facts).unwrap_err();
        assert_eq!(v.invariant, "leader-completeness", "{v:?}");
        assert!(
            v.detail.contains("n3 leads term 5 but lacks the entry committed at index 2 in term 4"),
            "{}",
            v.detail
        );
    }

    #[test]
    fn two_leaders_in_a_term_and_diverging_applies_are_caught() {
        let mut facts = Facts::default();
        let a = lead(node(0, &[1]), 2);
        assert!(cluster(&[Some(a.clone()), Some(node(1, &[1])), None], &mut facts).is_ok());
        let v = cluster(&[None, Some(lead(node(1, &[1]), 2)), None], &mut facts).unwrap_err();
        assert_eq!(
            (v.invariant.as_str(), v.detail.as_str()),
            ("election-safety", "n1 leads term 2; but now n2 leads term 2")
        );

        let mut facts = Facts::default();
        let x = apply_to(node(0, &[1, 1]), 2);
        let y = apply_to(node(1, &[1, 2]), 2);
        let v = cluster(&[Some(x), Some(y), None], &mut facts).unwrap_err();
        assert_eq!(v.invariant, "state-machine-safety");
    }

    #[test]
    fn logs_that_agree_on_a_term_at_an_index_must_agree_below_it() {
        let mut facts = Facts::default();
        // Same term 2 at index 3, but different terms at index 2: impossible in Raft.
        let a = node(0, &[1, 1, 2]);
        let b = node(1, &[1, 2, 2]);
        let v = cluster(&[Some(a), Some(b), None], &mut facts).unwrap_err();
        assert_eq!(v.invariant, "log-matching");
        assert!(v.detail.contains("index 3"), "{}", v.detail);
    }
}

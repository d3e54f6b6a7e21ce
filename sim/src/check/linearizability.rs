//! Linearizability checking: the Wing & Gong search as improved by Lowe (the
//! just-in-time linearization Porcupine uses), with memoisation of
//! (linearized set, state) and P-compositionality: a key-value history is split per
//! key and each key is checked on its own.
//!
//! An operation that failed definitely took no effect and is left out. An `info`
//! (indeterminate) operation may take effect at any time after its invocation, or
//! never: it returns "at infinity" and its output is unknown, so it is always legal.

use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

use serde::Serialize;

use crate::history::{Completion, History};
use crate::protocol::Op;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Input;
    type Output;
    fn init(&self) -> Self::State;
    /// The state after applying `input` with result `output`, or None if illegal.
    fn step(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;
}

/// One operation as the search sees it.
pub struct LinOp<I, O> {
    pub id: usize,
    pub call: u64,
    /// `u64::MAX` for an operation that never returned (info).
    pub ret: u64,
    pub input: I,
    pub output: O,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Search {
    Ok,
    /// Not linearizable: the longest linearizable prefix found (operation ids).
    Illegal {
        prefix: Vec<usize>,
    },
    /// The step budget ran out first.
    Unknown,
}

/// Checks one partition of a history. `budget` bounds the search steps.
pub fn search<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: u64) -> Search {
    let n = ops.len();
    if n == 0 {
        return Search::Ok;
    }
    // Entries 1..=2n; 0 is the head sentinel. Entry 2i+1 calls op i, 2i+2 returns it.
    let mut order: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        order.push((op.call, false, i));
        order.push((op.ret, true, i));
    }
    // Calls before returns at the same time: such operations overlap.
    order.sort_by_key(|&(t, is_ret, i)| (t, is_ret, i));
    let len = order.len() + 1;
    let mut next = vec![usize::MAX; len];
    let mut prev = vec![usize::MAX; len];
    let mut entry_op = vec![usize::MAX; len];
    let mut is_ret = vec![false; len];
    let mut ret_entry = vec![0usize; n];
    for (pos, &(_, r, i)) in order.iter().enumerate() {
        let e = pos + 1;
        entry_op[e] = i;
        is_ret[e] = r;
        if r {
            ret_entry[i] = e;
        }
        prev[e] = e - 1;
        next[e - 1] = e;
    }
    next[len - 1] = usize::MAX;

    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize, r: usize| {
        next[prev[e]] = next[e];
        if next[e] != usize::MAX {
            prev[next[e]] = prev[e];
        }
        next[prev[r]] = next[r];
        if next[r] != usize::MAX {
            prev[next[r]] = prev[r];
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, e: usize, r: usize| {
        if next[r] != usize::MAX {
            prev[next[r]] = r;
        }
        next[prev[r]] = r;
        if next[e] != usize::MAX {
            prev[next[e]] = e;
        }
        next[prev[e]] = e;
    };

    let words = n.div_ceil(64);
    let mut bits = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut state = model.init();
    let mut calls: Vec<(usize, M::State)> = Vec::new();
    let mut best: Vec<usize> = Vec::new();
    let mut steps = 0u64;
    let mut entry = next[0];
    while next[0] != usize::MAX {
        steps += 1;
        if steps > budget {
            return Search::Unknown;
        }
        if entry == usize::MAX {
            unreachable!("the list always ends in a return entry");
        }
        if !is_ret[entry] {
            let i = entry_op[entry];
            if let Some(new_state) = model.step(&state, &ops[i].input, &ops[i].output) {
                bits[i / 64] |= 1 << (i % 64);
                if cache.insert((bits.clone(), new_state.clone())) {
                    calls.push((entry, std::mem::replace(&mut state, new_state)));
                    if calls.len() > best.len() {
                        best = calls.iter().map(|&(e, _)| ops[entry_op[e]].id).collect();
                    }
                    lift(&mut next, &mut prev, entry, ret_entry[i]);
                    entry = next[0];
                    continue;
                }
                bits[i / 64] &= !(1 << (i % 64));
            }
            entry = next[entry];
        } else {
            let Some((e, s)) = calls.pop() else {
                return Search::Illegal { prefix: best };
            };
            let i = entry_op[e];
            state = s;
            bits[i / 64] &= !(1 << (i % 64));
            unlift(&mut next, &mut prev, e, ret_entry[i]);
            entry = next[e];
        }
    }
    Search::Ok
}

/// One key's register with get / put / append / cas. Keys start as "".
pub struct KvModel;

#[derive(Clone, Debug)]
pub enum KvOutput {
    Value(String),
    Swapped(bool),
    Done,
    Unknown,
}

impl Model for KvModel {
    type State = String;
    type Input = Op;
    type Output = KvOutput;
    fn init(&self) -> String {
        String::new()
    }
    fn step(&self, state: &String, input: &Op, output: &KvOutput) -> Option<String> {
        match (input, output) {
            (Op::Get { .. }, KvOutput::Value(v)) => (v == state).then(|| state.clone()),
            (Op::Get { .. }, _) => Some(state.clone()),
            (Op::Put { value, .. }, _) => Some(value.clone()),
            (Op::Append { value, .. }, _) => Some(format!("{state}{value}")),
            (Op::Cas { from, to, .. }, KvOutput::Swapped(true)) => (state == from).then(|| to.clone()),
            (Op::Cas { from, .. }, KvOutput::Swapped(false)) => (state != from).then(|| state.clone()),
            (Op::Cas { from, to, .. }, _) => Some(if state == from { to.clone() } else { state.clone() }),
        }
    }
}

/// The verdict on a key-value history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum LinResult {
    Linearizable,
    NotLinearizable { key: String, prefix: Vec<usize> },
    Unknown { keys: Vec<String> },
}

/// The default search budget per key, in steps.
pub const SEARCH_STEPS_MAX: u64 = 20_000_000;

/// Checks a key-value history per key.
pub fn check_history(history: &History, budget: u64) -> LinResult {
    let mut per_key: BTreeMap<&str, Vec<LinOp<Op, KvOutput>>> = BTreeMap::new();
    for op in &history.ops {
        let (ret, output) = match &op.complete {
            Some((_, Completion::Fail { .. })) => continue,
            Some((t, Completion::Ok { value, swapped })) => (
                *t,
                match (value, swapped) {
                    (Some(v), _) => KvOutput::Value(v.clone()),
                    (_, Some(s)) => KvOutput::Swapped(*s),
                    _ => KvOutput::Done,
                },
            ),
            Some((_, Completion::Info { .. })) | None => {
                if op.op.is_read() {
                    continue; // a read that never returned constrains nothing
                }
                (u64::MAX, KvOutput::Unknown)
            }
        };
        per_key.entry(op.op.key()).or_default().push(LinOp {
            id: op.id,
            call: op.invoke,
            ret,
            input: op.op.clone(),
            output,
        });
    }
    let mut unknown = Vec::new();
    for (key, ops) in per_key {
        // An indeterminate write may also never take effect. One whose value no read
        // and no cas ever saw can only matter through a cas that compared and failed,
        // or a cas whose outcome is unknown: without those on this key, leaving it out
        // changes no verdict, so it is left out. With them, the pruned history is only
        // a fast path to "yes"; the full search decides otherwise.
        let unobserved = unobserved_info_writes(&ops);
        let mut ops = ops;
        if unobserved.iter().any(|&u| u) {
            let kept: Vec<LinOp<Op, KvOutput>> = ops
                .iter()
                .zip(&unobserved)
                .filter(|&(_, &u)| !u)
                .map(|(o, _)| LinOp {
                    id: o.id,
                    call: o.call,
                    ret: o.ret,
                    input: o.input.clone(),
                    output: o.output.clone(),
                })
                .collect();
            let blind_cas = ops.iter().any(|o| {
                matches!((&o.input, &o.output), (Op::Cas { .. }, KvOutput::Swapped(false) | KvOutput::Unknown))
            });
            if !blind_cas {
                ops = kept;
            } else if search(&KvModel, &kept, budget) == Search::Ok {
                continue;
            }
        }
        match search(&KvModel, &ops, budget) {
            Search::Ok => {}
            Search::Illegal { prefix } => {
                return LinResult::NotLinearizable { key: key.to_string(), prefix };
            }
            Search::Unknown => unknown.push(key.to_string()),
        }
    }
    if unknown.is_empty() { LinResult::Linearizable } else { LinResult::Unknown { keys: unknown } }
}

/// Marks the indeterminate writes whose value no read and no cas ever saw: leaving
/// them out is one of the outcomes the history allows ("it never took effect").
fn unobserved_info_writes(ops: &[LinOp<Op, KvOutput>]) -> Vec<bool> {
    let seen: Vec<&str> = ops
        .iter()
        .filter_map(|o| match (&o.input, &o.output) {
            (Op::Get { .. }, KvOutput::Value(v)) => Some(v.as_str()),
            (Op::Cas { from, .. }, _) => Some(from.as_str()),
            _ => None,
        })
        .collect();
    ops.iter()
        .map(|o| {
            let written = match (&o.input, &o.output) {
                (_, KvOutput::Unknown) if o.ret == u64::MAX => match &o.input {
                    Op::Put { value, .. } | Op::Append { value, .. } => value.as_str(),
                    Op::Cas { to, .. } => to.as_str(),
                    Op::Get { .. } => return false,
                },
                _ => return false,
            };
            !written.is_empty() && !seen.iter().any(|s| s.contains(written))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: usize, call: u64, ret: u64, input: Op, output: KvOutput) -> LinOp<Op, KvOutput> {
        LinOp { id, call, ret, input, output }
    }
    fn put(v: &str) -> Op {
        Op::Put { key: "k".into(), value: v.into() }
    }
    fn get() -> Op {
        Op::Get { key: "k".into() }
    }

    #[test]
    fn sequential_read_of_write_is_linearizable() {
        let ops = [op(0, 0, 10, put("a"), KvOutput::Done), op(1, 20, 30, get(), KvOutput::Value("a".into()))];
        assert_eq!(search(&KvModel, &ops, 1000), Search::Ok);
    }

    #[test]
    fn stale_read_after_write_is_not() {
        let ops = [op(0, 0, 10, put("a"), KvOutput::Done), op(1, 20, 30, get(), KvOutput::Value("".into()))];
        assert!(matches!(search(&KvModel, &ops, 1000), Search::Illegal { .. }));
    }

    #[test]
    fn concurrent_read_may_see_either() {
        let old = [op(0, 0, 30, put("a"), KvOutput::Done), op(1, 10, 20, get(), KvOutput::Value("".into()))];
        assert_eq!(search(&KvModel, &old, 1000), Search::Ok);
    }

    #[test]
    fn info_write_may_take_effect_late_or_never() {
        let late = [
            op(0, 0, u64::MAX, put("a"), KvOutput::Unknown),
            op(1, 10, 20, get(), KvOutput::Value("".into())),
            op(2, 30, 40, get(), KvOutput::Value("a".into())),
        ];
        assert_eq!(search(&KvModel, &late, 1000), Search::Ok);
        // ... but once seen, it cannot be unseen.
        let flicker = [
            op(0, 0, u64::MAX, put("a"), KvOutput::Unknown),
            op(1, 10, 20, get(), KvOutput::Value("a".into())),
            op(2, 30, 40, get(), KvOutput::Value("".into())),
        ];
        assert!(matches!(search(&KvModel, &flicker, 1000), Search::Illegal { .. }));
    }

    fn history(ops: &[(u64, Option<u64>, Op, Option<&str>)]) -> History {
        let mut h = History::default();
        for (i, (call, ret, op, out)) in ops.iter().enumerate() {
            let id = h.invoke(*call, i, op.clone());
            let done = match (ret, out) {
                (Some(t), Some(v)) => Some((*t, Completion::Ok { value: Some(v.to_string()), swapped: None })),
                (Some(t), None) => Some((*t, Completion::Ok { value: None, swapped: None })),
                (None, _) => None,
            };
            if let Some((t, c)) = done {
                h.complete(id, t, c);
            }
        }
        h
    }

    #[test]
    fn unobserved_indeterminate_writes_do_not_blow_up_the_search() {
        // Thirty writes that never returned and whose values nobody read, around a
        // sequence of definite writes and reads: a budget of 1,000 steps is plenty.
        let mut ops: Vec<(u64, Option<u64>, Op, Option<&str>)> =
            (0..30).map(|i| (i, None, Op::Append { key: "k".into(), value: format!("lost{i};") }, None)).collect();
        ops.push((100, Some(110), put("a"), None));
        ops.push((120, Some(130), get(), Some("a")));
        assert_eq!(check_history(&history(&ops), 1_000), LinResult::Linearizable);
        // One of them observed: that one stays in the search, and it must fit.
        ops.push((140, Some(150), get(), Some("alost7;")));
        assert_eq!(check_history(&history(&ops), 100_000), LinResult::Linearizable);
        ops.push((160, Some(170), get(), Some("a")));
        assert!(matches!(check_history(&history(&ops), 100_000), LinResult::NotLinearizable { .. }));
    }

    #[test]
    fn a_failed_cas_can_observe_an_unread_indeterminate_write() {
        // put("x") never returned and nobody read "x", but the cas that expected ""
        // failed: the put must have taken effect first. Pruning it would be wrong.
        let mut h = History::default();
        h.invoke(0, 0, put("x"));
        let cas = h.invoke(10, 1, Op::Cas { key: "k".into(), from: "".into(), to: "z".into() });
        h.complete(cas, 20, Completion::Ok { value: None, swapped: Some(false) });
        assert_eq!(check_history(&h, 1_000), LinResult::Linearizable);
    }

    #[test]
    fn budget_returns_unknown() {
        let ops: Vec<_> = (0..12).map(|i| op(i, 0, 100, put(&i.to_string()), KvOutput::Done)).collect();
        let mut with_read = ops;
        with_read.push(op(12, 200, 300, get(), KvOutput::Value("none".into())));
        assert_eq!(search(&KvModel, &with_read, 50), Search::Unknown);
    }
}

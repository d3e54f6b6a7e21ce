//! Linearizability checking: the Wing & Gong search as improved by Lowe (the
//! just-in-time linearization Porcupine uses), with memoisation of
//! (linearized set, state), and P-compositionality: a key-value history is split per
//! key and each key is checked on its own.
//!
//! An operation that failed definitely took no effect and is left out. An `info`
//! (indeterminate) operation may take effect at any time after its invocation, or
//! never: it returns "at infinity" and its output is unknown, so it is always legal.
//!
//! Partitions are searched interleaved, not one after another: every unfinished part
//! gets a step budget, the budget doubles each round, and the first part found not
//! linearizable ends the check. A part that cannot be decided quickly does not hold up
//! a verdict another part reaches early, and a total budget returns `unknown` rather
//! than running away. Everything is single-threaded and deterministic.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::Serialize;

pub use super::models::{KvModel, KvOutput, Model, RegisterModel, RegisterOp, RegisterOutput};
use crate::history::{Completion, History};
use crate::protocol::Op;

/// One operation as the search sees it.
#[derive(Clone, Debug)]
pub struct LinOp<I, O> {
    /// The operation's id in its history.
    pub id: usize,
    pub call: u64,
    /// `u64::MAX` for an operation that never returned (info).
    pub ret: u64,
    pub input: I,
    pub output: O,
}

/// Why a history (or one of its parts) is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// The longest linearizable prefix the search found: operation ids in order.
    pub prefix: Vec<usize>,
    /// The state after that prefix.
    pub state: String,
    /// The operation that cannot be placed: it returned before anything left could
    /// follow it, and it is impossible in `state`.
    pub op: usize,
    /// What it would need, e.g. "get returned \"x\", but the value was \"y\"".
    pub needs: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Search {
    Ok,
    Illegal(Explanation),
    /// The step budget ran out first.
    Unknown,
}

/// A pinned word-at-a-time hasher for the search's memo set (it decides nothing, but
/// std's default hasher is both slower and unpinned).
#[derive(Default)]
pub struct MemoHasher(u64);

impl Hasher for MemoHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        let h = self.0;
        (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (h >> 32)
    }
}

type Memo<B, S> = HashSet<(B, S), BuildHasherDefault<MemoHasher>>;

/// The set of linearized operations, as the memo stores it: a `u128` when a
/// partition has at most 128 operations (no allocation per step), else words.
trait Bits: Clone + Eq + std::hash::Hash {
    fn with_len(n: usize) -> Self;
    fn set(&mut self, i: usize);
    fn clear(&mut self, i: usize);
}

impl Bits for u128 {
    fn with_len(_: usize) -> Self {
        0
    }
    fn set(&mut self, i: usize) {
        *self |= 1 << i;
    }
    fn clear(&mut self, i: usize) {
        *self &= !(1 << i);
    }
}

impl Bits for Vec<u64> {
    fn with_len(n: usize) -> Self {
        vec![0; n.div_ceil(64)]
    }
    fn set(&mut self, i: usize) {
        self[i / 64] |= 1 << (i % 64);
    }
    fn clear(&mut self, i: usize) {
        self[i / 64] &= !(1 << (i % 64));
    }
}

/// Searches one partition. `budget` bounds the steps.
pub fn search<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: u64) -> Search {
    match ops.len() {
        0 => Search::Ok,
        1..=128 => search_with::<M, u128>(model, ops, budget),
        _ => search_with::<M, Vec<u64>>(model, ops, budget),
    }
}

fn search_with<M: Model, B: Bits>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: u64) -> Search {
    let n = ops.len();
    // Entries 1..=2n; 0 is the head sentinel.
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

    let mut bits = B::with_len(n);
    let mut memo: Memo<B, M::State> = HashSet::with_capacity_and_hasher(4 * n, Default::default());
    let mut state = model.init();
    let mut calls: Vec<(usize, M::State)> = Vec::new();
    let mut best: Vec<usize> = Vec::new(); // op indices
    let mut steps = 0u64;
    let mut entry = next[0];
    while next[0] != usize::MAX {
        steps += 1;
        if steps > budget {
            return Search::Unknown;
        }
        if !is_ret[entry] {
            let i = entry_op[entry];
            if let Some(new_state) = model.step(&state, &ops[i].input, &ops[i].output) {
                bits.set(i);
                if memo.insert((bits.clone(), new_state.clone())) {
                    calls.push((entry, std::mem::replace(&mut state, new_state)));
                    lift(&mut next, &mut prev, entry, ret_entry[i]);
                    entry = next[0];
                    continue;
                }
                bits.clear(i);
            }
            entry = next[entry];
        } else {
            // The longest prefix is kept when the search first backs out of it (the
            // stack cannot change between reaching it and that): copying it on every
            // step that grew the stack made a long linearizable history quadratic.
            if calls.len() > best.len() {
                best = calls.iter().map(|&(e, _)| entry_op[e]).collect();
            }
            let Some((e, s)) = calls.pop() else {
                return Search::Illegal(explain(model, ops, &best));
            };
            let i = entry_op[e];
            state = s;
            bits.clear(i);
            unlift(&mut next, &mut prev, e, ret_entry[i]);
            entry = next[e];
        }
    }
    Search::Ok
}

/// Replays the longest prefix and names the operation that cannot come next: of the
/// operations left, the one that returned first (everything else left was invoked
/// before it returned, or must follow it).
fn explain<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], best: &[usize]) -> Explanation {
    let mut state = model.init();
    let mut done = vec![false; ops.len()];
    for &i in best {
        state = model.step(&state, &ops[i].input, &ops[i].output).expect("the prefix replays");
        done[i] = true;
    }
    let left = (0..ops.len()).filter(|&i| !done[i]);
    // Prefer an operation that is impossible right now; among those, the earliest return.
    let stuck = left
        .clone()
        .filter(|&i| model.step(&state, &ops[i].input, &ops[i].output).is_none())
        .min_by_key(|&i| (ops[i].ret, ops[i].call))
        .or_else(|| left.min_by_key(|&i| (ops[i].ret, ops[i].call)))
        .expect("a failed search leaves operations");
    let needs = if model.step(&state, &ops[stuck].input, &ops[stuck].output).is_none() {
        model.explain(&state, &ops[stuck].input, &ops[stuck].output)
    } else {
        format!(
            "it fits here, but whatever follows it does not: with {:?} after it, no order of the rest works",
            ops[stuck].input
        )
    };
    Explanation {
        prefix: best.iter().map(|&i| ops[i].id).collect(),
        state: model.show(&state),
        op: ops[stuck].id,
        needs,
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum LinResult {
    Linearizable,
    /// `key` names the partition (the key of a key-value history; "" for one register).
    NotLinearizable {
        key: String,
        #[serde(flatten)]
        why: Explanation,
    },
    /// The budget ran out on these partitions before any was found not linearizable.
    Unknown {
        keys: Vec<String>,
    },
}

/// The default total search budget, in steps.
pub const SEARCH_STEPS_MAX: u64 = 50_000_000;
/// The first round's budget per partition; it doubles each round.
const ROUND_STEPS_FIRST: u64 = 4_096;

/// A named part of a history: a key, and its operations.
pub type Part<M> = (String, Vec<LinOp<<M as Model>::Input, <M as Model>::Output>>);

/// Checks named partitions interleaved, with doubling budgets, until one is found not
/// linearizable, all are linearizable, or `budget` steps are spent.
pub fn check_partitions<M: Model>(model: &M, parts: &[Part<M>], budget: u64) -> LinResult {
    let mut open: Vec<usize> = (0..parts.len()).collect();
    let mut round = ROUND_STEPS_FIRST;
    let mut spent = 0u64;
    while !open.is_empty() {
        let mut still = Vec::new();
        let alone = open.len() == 1;
        for &p in &open {
            // A part left alone has nothing to wait for: it gets the rest of the budget
            // at once instead of restarting with doubling allowances.
            let rest = budget.saturating_sub(spent);
            let allowance = if alone { rest } else { round.min(rest) };
            if allowance == 0 {
                still.push(p);
                continue;
            }
            match search(model, &parts[p].1, allowance) {
                Search::Ok => {}
                Search::Illegal(why) => return LinResult::NotLinearizable { key: parts[p].0.clone(), why },
                Search::Unknown => still.push(p),
            }
            spent += allowance;
        }
        if spent >= budget && !still.is_empty() {
            return LinResult::Unknown { keys: still.iter().map(|&p| parts[p].0.clone()).collect() };
        }
        open = still;
        round = round.saturating_mul(2);
    }
    LinResult::Linearizable
}

/// Checks operations against any model, split into parts by [`Model::partition`].
pub fn check<M: Model>(model: &M, ops: Vec<LinOp<M::Input, M::Output>>, budget: u64) -> LinResult {
    check_partitions(model, &partition(model, ops), budget)
}

fn partition<M: Model>(model: &M, ops: Vec<LinOp<M::Input, M::Output>>) -> Vec<Part<M>> {
    type Ops<M> = Vec<LinOp<<M as Model>::Input, <M as Model>::Output>>;
    let mut parts: BTreeMap<String, Ops<M>> = BTreeMap::new();
    for op in ops {
        parts.entry(model.partition(&op.input).unwrap_or_default()).or_default().push(op);
    }
    parts.into_iter().collect()
}

/// A key-value history's operations, per key, ready for the search: failed
/// operations left out (no effect), reads that never returned left out (they
/// constrain nothing), writes that never returned kept with an unknown output.
pub fn kv_ops(history: &History) -> Vec<LinOp<Op, KvOutput>> {
    let mut out = Vec::new();
    for op in history.ops.iter().filter(|o| !o.op.is_txn()) {
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
                    continue;
                }
                (u64::MAX, KvOutput::Unknown)
            }
        };
        out.push(LinOp { id: op.id, call: op.invoke, ret, input: op.op.clone(), output });
    }
    out
}

/// Checks a key-value history per key.
pub fn check_history(history: &History, budget: u64) -> LinResult {
    check_kv(kv_ops(history), budget)
}

/// Checks key-value operations per key (P-compositionality).
pub fn check_kv(ops: Vec<LinOp<Op, KvOutput>>, budget: u64) -> LinResult {
    let per_key = partition(&KvModel, ops);
    // An indeterminate write may also never take effect. One whose value no read and
    // no cas ever saw can only matter through a cas that compared and failed, or a cas
    // whose outcome is unknown: without those on its key, leaving it out changes no
    // verdict, so it is left out. With them, the pruned part is only a fast path to
    // "yes", tried first; the full part decides otherwise.
    let mut parts = Vec::new();
    let mut fast = Vec::new();
    for (key, ops) in per_key {
        let unobserved = unobserved_info_writes(&ops);
        if !unobserved.iter().any(|&u| u) {
            parts.push((key, ops));
            continue;
        }
        let kept: Vec<LinOp<Op, KvOutput>> =
            ops.iter().zip(&unobserved).filter(|&(_, &u)| !u).map(|(o, _)| o.clone()).collect();
        let blind_cas = ops
            .iter()
            .any(|o| matches!((&o.input, &o.output), (Op::Cas { .. }, KvOutput::Swapped(false) | KvOutput::Unknown)));
        if blind_cas {
            fast.push((key.clone(), kept));
            parts.push((key, ops));
        } else {
            parts.push((key, kept));
        }
    }
    let fast_ok: Vec<String> = fast
        .iter()
        .filter(|(_, ops)| search(&KvModel, ops, budget / 10) == Search::Ok)
        .map(|(k, _)| k.clone())
        .collect();
    parts.retain(|(k, _)| !fast_ok.contains(k));
    check_partitions(&KvModel, &parts, budget)
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
                    Op::Get { .. } | Op::Transfer { .. } | Op::Read { .. } => return false,
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

//! Linearizability checking: the Wing & Gong search as improved by Lowe (the
//! just-in-time linearization Porcupine uses), with memoisation of
//! (linearized set, state), and P-compositionality: a key-value history is split per
//! key and each key is checked on its own.
//!
//! An operation that failed definitely took no effect and is left out. An `info`
//! (indeterminate) operation may take effect at any time after its invocation, or
//! never: it returns "at infinity" and its output is unknown, so it is always legal.
//!
//! The memo holds each (linearized set, state) once, in an arena found by a hash kept
//! up to date as the search moves, and is counted to the byte. A model may add a
//! look-ahead that prunes states no completion can linearize; the key-value model's
//! uses what reads pin (see `PinnedReads` in `models.rs`), which decides append
//! histories with many indeterminate appends.
//!
//! Every search has a [`Budget`]: steps and memo memory, counted exactly (so the
//! verdict is the same on every machine), and optionally wall-clock time. Reaching one
//! returns `unknown` with what was explored, never an abort. Partitions are searched
//! in parallel (rayon); the verdict does not depend on the cores.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use serde::Serialize;

pub use super::models::{
    Cause, KvModel, KvOutput, KvState, LinOp, Lookahead, Model, RegisterModel, RegisterOp, RegisterOutput,
};
use crate::history::{Completion, History};
use crate::op::Op;

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
    /// For a read that returned a stale or impossible value, where that value came
    /// from and what had replaced it before the read began (see [`Model::cause`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
}

/// What a search may spend before its verdict is "unknown". Steps and memory are
/// counted exactly, so a verdict reached within them is the same on every machine;
/// the wall-clock limit is a safety net for people, off unless asked for, and a
/// verdict it cuts short can differ between machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// Search steps, per partition (a key of a key-value history).
    pub steps: u64,
    /// Bytes of memoised states, per partition. At most one partition is searched per
    /// core at a time, so a check's peak is about this times the cores in use.
    pub memory: u64,
    /// Milliseconds of wall-clock time for the whole check.
    pub time_ms: Option<u64>,
}

/// The default steps per partition.
pub const SEARCH_STEPS_MAX: u64 = 50_000_000;
/// The default memo memory per partition.
pub const SEARCH_MEMORY_MAX: u64 = 64 << 20;
/// What `--budget` accepts.
pub const BUDGET_STEPS_RANGE: std::ops::RangeInclusive<u64> = 1..=1_000_000_000_000;
/// The range a memory budget may take, in bytes.
pub const BUDGET_MEMORY_RANGE: std::ops::RangeInclusive<u64> = (64 << 10)..=(64 << 30);
/// The range a time budget may take, in milliseconds.
pub const BUDGET_TIME_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=86_400_000;

impl Default for Budget {
    fn default() -> Budget {
        Budget { steps: SEARCH_STEPS_MAX, memory: SEARCH_MEMORY_MAX, time_ms: None }
    }
}

impl Budget {
    /// The default budget with `steps` steps.
    pub fn steps(steps: u64) -> Budget {
        Budget { steps, ..Budget::default() }
    }

    /// Reads `--budget`: a number of steps (`100000`, `2e6`), or comma-separated
    /// `steps=N`, `memory=SIZE` (`64MiB`, `1GiB`, `500kB`) and `time=DURATION`
    /// (`500ms`, `10s`, `2m`). What is not named keeps its default.
    pub fn parse(text: &str) -> Result<Budget, String> {
        let mut b = Budget::default();
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty budget: give steps (`1000000`) or `steps=N,memory=64MiB,time=10s`".into());
        }
        if !text.contains('=') {
            b.steps = parse_count(text, "steps", BUDGET_STEPS_RANGE)?;
            return Ok(b);
        }
        for part in text.split(',') {
            let Some((name, value)) = part.split_once('=') else {
                return Err(format!("`{part}` is not `name=value` (names: steps, memory, time)"));
            };
            match name.trim() {
                "steps" => b.steps = parse_count(value.trim(), "steps", BUDGET_STEPS_RANGE)?,
                "memory" => b.memory = parse_size(value.trim())?,
                "time" => b.time_ms = Some(parse_ms(value.trim())?),
                other => return Err(format!("unknown budget `{other}` (names: steps, memory, time)")),
            }
        }
        Ok(b)
    }

    /// When the wall-clock budget, counted from now, runs out (None: no time budget).
    fn deadline(&self) -> Option<std::time::Instant> {
        #[allow(clippy::disallowed_methods)] // the opt-in wall-clock budget, documented as such
        self.time_ms.map(|ms| std::time::Instant::now() + std::time::Duration::from_millis(ms))
    }

    /// The `--budget` text that [`Budget::parse`] reads back as this budget.
    pub fn to_arg(&self) -> String {
        let mut s = format!("steps={},memory={}B", self.steps, self.memory);
        if let Some(ms) = self.time_ms {
            s.push_str(&format!(",time={ms}ms"));
        }
        s
    }
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} steps and {} MiB per key", self.steps, self.memory >> 20)?;
        if let Some(ms) = self.time_ms {
            write!(f, ", {ms} ms in all")?;
        }
        Ok(())
    }
}

fn parse_count(text: &str, what: &str, range: std::ops::RangeInclusive<u64>) -> Result<u64, String> {
    let n: f64 = text.replace('_', "").parse().map_err(|_| format!("{what}: `{text}` is not a number"))?;
    if !n.is_finite() || n.fract() != 0.0 || n < *range.start() as f64 || n > *range.end() as f64 {
        return Err(format!("{what} must be a whole number from {} to {}, not `{text}`", range.start(), range.end()));
    }
    Ok(n as u64)
}

fn parse_size(text: &str) -> Result<u64, String> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "kB" | "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        other => return Err(format!("memory: unknown unit `{other}` (use B, KiB, MiB or GiB)")),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("memory: `{text}` is not a size like `64MiB`"))?;
    let bytes = n * scale as f64;
    let r = BUDGET_MEMORY_RANGE;
    if !bytes.is_finite() || bytes < *r.start() as f64 || bytes > *r.end() as f64 {
        return Err(format!("memory must be from 64KiB to 64GiB, not `{text}`"));
    }
    Ok(bytes as u64)
}

fn parse_ms(text: &str) -> Result<u64, String> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" => 1.0,
        "s" | "" => 1e3,
        "m" | "min" => 60e3,
        "h" => 3600e3,
        other => return Err(format!("time: unknown unit `{other}` (use ms, s, m or h)")),
    };
    let n: f64 = num.trim().parse().map_err(|_| format!("time: `{text}` is not a duration like `10s`"))?;
    let ms = (n * scale).round();
    let r = BUDGET_TIME_MS_RANGE;
    if !ms.is_finite() || ms < *r.start() as f64 || ms > *r.end() as f64 {
        return Err(format!("time must be from 1ms to 24h, not `{text}`"));
    }
    Ok(ms as u64)
}

/// Which budget a search reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Spent {
    /// The step budget.
    Steps,
    /// The memory budget.
    Memory,
    /// The wall-clock budget.
    Time,
}

impl std::fmt::Display for Spent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Spent::Steps => "step",
            Spent::Memory => "memory",
            Spent::Time => "time",
        })
    }
}

/// How far an unfinished search got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Explored {
    /// Which budget ran out.
    pub spent: Spent,
    /// Steps taken.
    pub steps: u64,
    /// Distinct (linearized set, state) pairs memoised.
    pub states: u64,
    /// Bytes of memoised states held.
    pub memory_bytes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
/// How one key's search ended.
pub enum Search {
    /// The key's history is linearizable.
    Ok,
    /// It is not, and why.
    Illegal(Explanation),
    /// A budget ran out first.
    Unknown(Explored),
    /// Another partition was found not linearizable first; this one stopped.
    Cancelled,
}

/// A pinned word-at-a-time hasher for states (it decides nothing: the memo compares
/// entries in full; std's default hasher is slower and unpinned).
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

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The memo: every (linearized set, state) the search has entered. Each entry's hash
/// and set live side by side in one arena of words (one row, so a probe that finds
/// its fingerprint reads one place) and are found by open addressing on a hash kept
/// up to date as operations are placed and taken back (Zobrist: one random word per
/// operation, xored in and out), so entering a state allocates nothing but the
/// arena's growth, and what the memo holds is counted to the byte.
struct Memo<S> {
    /// Words in a row: the hash, then the set.
    row: usize,
    rows: Vec<u64>,
    states: Vec<S>,
    /// 0 is empty; otherwise the entry's hash's high half (a fingerprint: a probe
    /// that passes a different entry does not read its row) above its index plus one.
    slots: Vec<u64>,
    /// Heap bytes the stored states own (the model's count).
    state_heap: u64,
}

impl<S: Eq> Memo<S> {
    /// A memo for a search over `n` operations: its table starts at four slots per
    /// operation (a history without overlaps enters one state per operation), within
    /// 64 and 1,024, and doubles as it fills.
    fn new(words: usize, n: usize) -> Memo<S> {
        let slots = n.saturating_mul(4).next_power_of_two().clamp(64, 1 << 10);
        Memo { row: words + 1, rows: Vec::new(), states: Vec::new(), slots: vec![0; slots], state_heap: 0 }
    }

    fn len(&self) -> u64 {
        self.states.len() as u64
    }

    fn bytes(&self) -> u64 {
        (self.rows.capacity() * 8 + self.states.capacity() * std::mem::size_of::<S>() + self.slots.len() * 8) as u64
            + self.state_heap
    }

    /// Enters (set, state) unless it is there already, or unless holding it would take
    /// the memo over `limit` bytes (`heap` is what the state owns on the heap).
    fn insert(
        &mut self,
        hash: u64,
        set: &[u64],
        state: &S,
        heap: usize,
        limit: u64,
        clone: impl FnOnce() -> S,
    ) -> Entered {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                break;
            }
            if slot >> 32 == hash >> 32 {
                let e = (slot & 0xffff_ffff) as usize - 1;
                let row = &self.rows[e * self.row..(e + 1) * self.row];
                if row[0] == hash && row[1..] == *set && self.states[e] == *state {
                    return Entered::Seen;
                }
            }
            i = (i + 1) & mask;
        }
        // What the memo will hold after this entry, its growth included, counted
        // before anything is allocated: the budget is never overrun, not even by one
        // doubling of a vector.
        let n = self.states.len();
        let grows_slots = (n + 1) * 2 > self.slots.len();
        let after = |v_len: usize, cap: usize, add: usize, size: usize| {
            if v_len + add > cap { grown(cap, v_len + add) * size } else { cap * size }
        };
        let projected = (after(self.rows.len(), self.rows.capacity(), self.row, 8)
            + after(n, self.states.capacity(), 1, std::mem::size_of::<S>())
            + self.slots.len() * if grows_slots { 16 } else { 8 }) as u64
            + self.state_heap
            + heap as u64;
        if projected > limit {
            return Entered::Full;
        }
        reserve(&mut self.rows, self.row);
        reserve(&mut self.states, 1);
        self.rows.push(hash);
        self.rows.extend_from_slice(set);
        self.states.push(clone());
        self.state_heap += heap as u64;
        if grows_slots {
            self.grow();
        } else {
            self.slots[i] = slot_of(hash, n);
        }
        Entered::New
    }

    /// Doubles the table and places every entry (the newest one included) again.
    fn grow(&mut self) {
        let mut slots = vec![0u64; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (e, row) in self.rows.chunks_exact(self.row).enumerate() {
            let h = row[0];
            let mut i = h as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = slot_of(h, e);
        }
        self.slots = slots;
    }
}

/// The table slot of entry `e`: its hash's high half above its index plus one.
fn slot_of(hash: u64, e: usize) -> u64 {
    let index = u32::try_from(e + 1).expect("the memory budget bounds the memo");
    (hash >> 32) << 32 | u64::from(index)
}

/// What [`Memo::insert`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entered {
    New,
    Seen,
    /// Not entered: it would take the memo over its memory budget.
    Full,
}

/// The capacity a vector of capacity `cap` grows to when it must hold `need`.
fn grown(cap: usize, need: usize) -> usize {
    (cap * 2).max(need).max(64)
}

/// Grows `v` for `add` more items exactly as [`grown`] counts it.
fn reserve<T>(v: &mut Vec<T>, add: usize) {
    if v.len() + add > v.capacity() {
        let cap = grown(v.capacity(), v.len() + add);
        v.reserve_exact(cap - v.len());
    }
}

/// When to stop early: a wall-clock deadline, and (with parallel partitions) a
/// partition before this one already found not linearizable.
pub(crate) struct Stop<'a> {
    deadline: Option<std::time::Instant>,
    first_bad: Option<(&'a AtomicUsize, usize)>,
}

impl Stop<'_> {
    const NONE: Stop<'static> = Stop { deadline: None, first_bad: None };

    fn now_past(&self) -> Option<Search> {
        if let Some((first, me)) = self.first_bad
            && first.load(Ordering::Relaxed) < me
        {
            return Some(Search::Cancelled);
        }
        #[allow(clippy::disallowed_methods)] // the opt-in wall-clock budget, documented as such
        if self.deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Some(Search::Unknown(Explored { spent: Spent::Time, steps: 0, states: 0, memory_bytes: 0 }));
        }
        None
    }
}

/// Searches one partition within `budget` (its wall-clock limit counts from now).
pub fn search<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: &Budget) -> Search {
    let deadline = budget.deadline();
    search_until(model, ops, budget, &Stop { deadline, ..Stop::NONE })
}

/// How often (in steps) the search looks at the clock and at other partitions.
const POLL_STEPS: u64 = 1 << 12;

fn search_until<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: &Budget, stop: &Stop) -> Search {
    if let Some(verdict) = in_sequence(model, ops, budget) {
        return verdict;
    }
    let ahead = model.lookahead(ops);
    let has_lookahead = ahead.is_some();
    let (verdict, steps) = search_with(model, ops, budget, stop, ahead);
    let Search::Illegal(why) = verdict else { return verdict };
    // The lookahead refutes without walking into doomed states, so its longest
    // prefix stops short of where a reader would look. The plain search, given a
    // few times the steps the lookahead needed (counted, so the same everywhere),
    // usually finds the prefix that runs up to the read at fault; if it cannot,
    // the lookahead's explanation stands.
    if !has_lookahead {
        return Search::Illegal(why);
    }
    let steps = steps.saturating_mul(EXPLAIN_STEPS_FACTOR).max(EXPLAIN_STEPS_MIN).min(budget.steps);
    match search_with(model, ops, &Budget { steps, ..*budget }, stop, None).0 {
        Search::Illegal(plain) => Search::Illegal(plain),
        _ => Search::Illegal(why),
    }
}

/// A history in which no two operations overlap (one client, or a quiet key) has one
/// order only: replay it, with no search. `None` when operations overlap, or when
/// the step budget is smaller than the history. An operation that never returned
/// overlaps all that follow it, so only the last may be one; it fits, or never
/// took effect.
fn in_sequence<M: Model>(model: &M, ops: &[LinOp<M::Input, M::Output>], budget: &Budget) -> Option<Search> {
    if ops.len() as u64 > budget.steps {
        return None;
    }
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (ops[i].call, i));
    if order.windows(2).any(|w| ops[w[0]].ret >= ops[w[1]].call) {
        return None;
    }
    let mut state = model.init();
    for (k, &i) in order.iter().enumerate() {
        match model.step(&state, &ops[i].input, &ops[i].output) {
            Some(next) => state = next,
            None if ops[i].ret == u64::MAX => break,
            None => return Some(Search::Illegal(explain(model, ops, &order[..k]))),
        }
    }
    Some(Search::Ok)
}

/// How many times the lookahead's steps the plain search may take to explain a
/// refutation, and the least it may take.
const EXPLAIN_STEPS_FACTOR: u64 = 8;
const EXPLAIN_STEPS_MIN: u64 = 20_000;

/// The search, with or without a lookahead; also says how many steps it took.
fn search_with<M: Model>(
    model: &M,
    ops: &[LinOp<M::Input, M::Output>],
    budget: &Budget,
    stop: &Stop,
    mut ahead: Option<Box<dyn Lookahead<M::State>>>,
) -> (Search, u64) {
    let n = ops.len();
    if n == 0 {
        return (Search::Ok, 0);
    }
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

    let words = n.div_ceil(64);
    let zobrist: Vec<u64> = (0..n as u64).map(splitmix).collect();
    let state_hash = |s: &M::State| {
        let mut h = MemoHasher::default();
        s.hash(&mut h);
        h.finish()
    };
    let mut set = vec![0u64; words];
    let mut set_hash = 0u64;
    let mut memo: Memo<M::State> = Memo::new(words, n);
    let mut state = model.init();
    // The stack: the entry placed, the state before it, and whether it was forced (a
    // read-only operation placed first, see `Model::read_only`: if that fails, so
    // does every other order from the state before it).
    let mut calls: Vec<(usize, M::State, bool)> = Vec::new();
    let mut best: Vec<usize> = Vec::new(); // op indices
    let read_only: Vec<bool> = ops.iter().map(|o| model.read_only(&o.input, &o.output)).collect();
    let twin = earlier_twins(ops);
    let mut steps = 0u64;
    let mut entry = next[0];
    // At a new level: look for a read-only operation to force first.
    let mut fresh = true;
    let mut forced = false;
    // Back out of the top of the stack (its level has nothing more to try).
    let mut back = false;
    while next[0] != usize::MAX {
        steps += 1;
        if steps > budget.steps {
            let e =
                Explored { spent: Spent::Steps, steps: budget.steps, states: memo.len(), memory_bytes: memo.bytes() };
            return (Search::Unknown(e), steps);
        }
        if steps.is_multiple_of(POLL_STEPS)
            && let Some(out) = stop.now_past()
        {
            let out = match out {
                Search::Unknown(e) => {
                    Search::Unknown(Explored { steps, states: memo.len(), memory_bytes: memo.bytes(), ..e })
                }
                other => other,
            };
            return (out, steps);
        }
        // An operation that never returned waits for its earlier twin: placing either
        // one first leads to the same states.
        let waits = |i: usize, set: &[u64]| twin[i].is_some_and(|t| set[t / 64] & (1 << (t % 64)) == 0);
        if fresh {
            fresh = false;
            forced = false;
            let mut c = next[0];
            while c != usize::MAX && !is_ret[c] {
                let i = entry_op[c];
                if read_only[i] && !waits(i, &set) && model.step(&state, &ops[i].input, &ops[i].output).is_some() {
                    (entry, forced) = (c, true);
                    break;
                }
                c = next[c];
            }
        }
        if !back && !is_ret[entry] {
            let i = entry_op[entry];
            if !waits(i, &set)
                && let Some(new_state) = model.step(&state, &ops[i].input, &ops[i].output)
            {
                set[i / 64] |= 1 << (i % 64);
                set_hash ^= zobrist[i];
                if let Some(a) = ahead.as_mut() {
                    a.place(i);
                }
                let alive = ahead.as_ref().is_none_or(|a| !a.doomed(&new_state));
                let h = set_hash ^ state_hash(&new_state).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let entered = if alive {
                    memo.insert(h, &set, &new_state, model.state_bytes(&new_state), budget.memory, || new_state.clone())
                } else {
                    Entered::Seen
                };
                if entered == Entered::Full {
                    let e = Explored { spent: Spent::Memory, steps, states: memo.len(), memory_bytes: memo.bytes() };
                    return (Search::Unknown(e), steps);
                }
                if entered == Entered::New {
                    calls.push((entry, std::mem::replace(&mut state, new_state), forced));
                    lift(&mut next, &mut prev, entry, ret_entry[i]);
                    entry = next[0];
                    fresh = true;
                    continue;
                }
                if let Some(a) = ahead.as_mut() {
                    a.unplace(i);
                }
                set[i / 64] &= !(1 << (i % 64));
                set_hash ^= zobrist[i];
                // A forced operation that leads nowhere new: nor does anything else here.
                back = forced;
            }
            entry = next[entry];
        } else {
            // The longest prefix is kept when the search first backs out of it (the
            // stack cannot change between reaching it and that): copying it on every
            // step that grew the stack made a long linearizable history quadratic.
            if calls.len() > best.len() {
                best = calls.iter().map(|&(e, _, _)| entry_op[e]).collect();
            }
            let Some((e, s, was_forced)) = calls.pop() else {
                return (Search::Illegal(explain(model, ops, &best)), steps);
            };
            let i = entry_op[e];
            state = s;
            set[i / 64] &= !(1 << (i % 64));
            set_hash ^= zobrist[i];
            if let Some(a) = ahead.as_mut() {
                a.unplace(i);
            }
            unlift(&mut next, &mut prev, e, ret_entry[i]);
            entry = next[e];
            (back, forced) = (was_forced, false);
        }
    }
    (Search::Ok, steps)
}

/// For each operation that never returned, the latest one invoked before it with the
/// same input and output that never returned either (its twin), if any. Twins are
/// interchangeable in any linearization (neither bounds what follows it, and the
/// earlier one may go wherever the later one can), so the search places a group of
/// twins only in the order they were invoked, and a subset only as a prefix of it.
fn earlier_twins<I: Eq + Hash, O: Eq + Hash>(ops: &[LinOp<I, O>]) -> Vec<Option<usize>> {
    let mut twin = vec![None; ops.len()];
    let mut open: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret == u64::MAX).collect();
    open.sort_by_key(|&i| (ops[i].call, i));
    // Looked up only, never iterated; hashed with the pinned hasher all the same.
    let mut last: HashMap<(&I, &O), usize, BuildHasherDefault<MemoHasher>> =
        HashMap::with_capacity_and_hasher(open.len(), BuildHasherDefault::default());
    for i in open {
        twin[i] = last.insert((&ops[i].input, &ops[i].output), i);
    }
    twin
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
        cause: model.cause(ops, stuck),
    }
}

/// The verdict on a history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum LinResult {
    /// Every key's history is linearizable.
    Linearizable,
    /// `key` names the partition (the key of a key-value history; "" for one register).
    NotLinearizable {
        /// The key whose history is not linearizable.
        key: String,
        #[serde(flatten)]
        /// Why: the longest linearizable prefix and the operation that cannot follow it.
        why: Explanation,
    },
    /// A budget ran out on these partitions, and no partition was found not
    /// linearizable.
    Unknown {
        /// The keys whose search spent its budget.
        undecided: Vec<Undecided>,
    },
}

/// A partition whose search ran out of budget, and how far it got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Undecided {
    /// The key.
    pub key: String,
    #[serde(flatten)]
    /// How far its search got.
    pub explored: Explored,
}

impl LinResult {
    /// The undecided partitions' keys, for an `Unknown`.
    pub fn undecided_keys(&self) -> Vec<&str> {
        match self {
            LinResult::Unknown { undecided } => undecided.iter().map(|u| u.key.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A named part of a history: a key, and its operations.
pub type Part<M> = (String, Vec<LinOp<<M as Model>::Input, <M as Model>::Output>>);

/// Below this many operations in all, partitions are checked one after another.
const PARALLEL_OPS_MIN: usize = 1000;

/// Checks named partitions, in parallel on every core (rayon). The verdict does not
/// depend on the cores or on timing: a partition found not linearizable stops only
/// the partitions after it in order, so the one reported is always the first in order
/// that fails; each partition's step and memory budgets are its own.
pub fn check_partitions<M>(model: &M, parts: &[Part<M>], budget: &Budget) -> LinResult
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
    let deadline = budget.deadline();
    let first_bad = AtomicUsize::new(usize::MAX);
    let one = |(p, (_, ops)): (usize, &Part<M>)| {
        if first_bad.load(Ordering::Relaxed) < p {
            return Search::Cancelled;
        }
        let out = search_until(model, ops, budget, &Stop { deadline, first_bad: Some((&first_bad, p)) });
        if matches!(out, Search::Illegal(_)) {
            first_bad.fetch_min(p, Ordering::Relaxed);
        }
        out
    };
    // Waking the other cores costs more than a small history takes to check.
    let small = parts.iter().map(|(_, ops)| ops.len()).sum::<usize>() < PARALLEL_OPS_MIN;
    let outcomes: Vec<Search> = if small {
        parts.iter().enumerate().map(one).collect()
    } else {
        parts.par_iter().enumerate().map(one).collect()
    };
    let mut undecided = Vec::new();
    for ((key, _), out) in parts.iter().zip(outcomes) {
        match out {
            Search::Illegal(why) => return LinResult::NotLinearizable { key: key.clone(), why },
            Search::Unknown(explored) => undecided.push(Undecided { key: key.clone(), explored }),
            Search::Ok | Search::Cancelled => {}
        }
    }
    if undecided.is_empty() { LinResult::Linearizable } else { LinResult::Unknown { undecided } }
}

/// Checks operations against any model, split into parts by [`Model::partition`].
pub fn check<M>(model: &M, ops: Vec<LinOp<M::Input, M::Output>>, budget: &Budget) -> LinResult
where
    M: Model + Sync,
    M::Input: Sync,
    M::Output: Sync,
{
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
    // A bank's transactions and an image store's lists span keys: judged elsewhere.
    for op in history.ops.iter().filter(|o| !o.op.is_txn() && !matches!(o.op, Op::List { .. })) {
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
pub fn check_history(history: &History, budget: &Budget) -> LinResult {
    check_kv(kv_ops(history), budget)
}

/// Checks key-value operations per key (P-compositionality).
pub fn check_kv(ops: Vec<LinOp<Op, KvOutput>>, budget: &Budget) -> LinResult {
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
    let quick = Budget { steps: (budget.steps / 10).max(1), memory: (budget.memory / 10).max(1), time_ms: None };
    let fast_ok = fast
        .par_iter()
        .filter(|(_, ops)| search(&KvModel, ops, &quick) == Search::Ok)
        .map(|(k, _)| k.clone())
        .collect::<std::collections::BTreeSet<String>>();
    parts.retain(|(k, _)| !fast_ok.contains(k));
    check_partitions(&KvModel, &parts, budget)
}

/// The most bytes [`unobserved_info_writes`] compares (indeterminate writes times the
/// distinct values seen): above it, it marks nothing, which is always sound, and the
/// search decides unaided.
const UNOBSERVED_BYTES_MAX: u64 = 1 << 28;

/// Marks the indeterminate writes whose value no read and no cas ever saw: leaving
/// them out is one of the outcomes the history allows ("it never took effect").
fn unobserved_info_writes(ops: &[LinOp<Op, KvOutput>]) -> Vec<bool> {
    fn written(o: &LinOp<Op, KvOutput>) -> Option<&str> {
        match (&o.input, &o.output) {
            (Op::Put { value, .. } | Op::Append { value, .. }, KvOutput::Unknown) if o.ret == u64::MAX => {
                Some(value.as_str())
            }
            (Op::Cas { to, .. }, KvOutput::Unknown) if o.ret == u64::MAX => Some(to.as_str()),
            _ => None,
        }
    }
    let mut seen: Vec<&str> = ops
        .iter()
        .filter_map(|o| match (&o.input, &o.output) {
            (Op::Get { .. }, KvOutput::Value(v)) => Some(v.as_str()),
            (Op::Cas { from, .. }, _) => Some(from.as_str()),
            _ => None,
        })
        .collect();
    seen.sort_unstable();
    seen.dedup();
    let seen_bytes: u64 = seen.iter().map(|s| s.len() as u64 + 1).sum();
    let writes = ops.iter().filter(|o| written(o).is_some()).count() as u64;
    if writes.saturating_mul(seen_bytes) > UNOBSERVED_BYTES_MAX {
        return vec![false; ops.len()];
    }
    ops.iter().map(|o| written(o).is_some_and(|w| !w.is_empty() && !seen.iter().any(|s| s.contains(w)))).collect()
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
        assert_eq!(search(&KvModel, &ops, &Budget::steps(1000)), Search::Ok);
    }

    #[test]
    fn stale_read_after_write_is_not() {
        let ops = [op(0, 0, 10, put("a"), KvOutput::Done), op(1, 20, 30, get(), KvOutput::Value("".into()))];
        assert!(matches!(search(&KvModel, &ops, &Budget::steps(1000)), Search::Illegal { .. }));
    }

    #[test]
    fn concurrent_read_may_see_either() {
        let old = [op(0, 0, 30, put("a"), KvOutput::Done), op(1, 10, 20, get(), KvOutput::Value("".into()))];
        assert_eq!(search(&KvModel, &old, &Budget::steps(1000)), Search::Ok);
    }

    #[test]
    fn info_write_may_take_effect_late_or_never() {
        let late = [
            op(0, 0, u64::MAX, put("a"), KvOutput::Unknown),
            op(1, 10, 20, get(), KvOutput::Value("".into())),
            op(2, 30, 40, get(), KvOutput::Value("a".into())),
        ];
        assert_eq!(search(&KvModel, &late, &Budget::steps(1000)), Search::Ok);
        // ... but once seen, it cannot be unseen.
        let flicker = [
            op(0, 0, u64::MAX, put("a"), KvOutput::Unknown),
            op(1, 10, 20, get(), KvOutput::Value("a".into())),
            op(2, 30, 40, get(), KvOutput::Value("".into())),
        ];
        assert!(matches!(search(&KvModel, &flicker, &Budget::steps(1000)), Search::Illegal { .. }));
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
        assert_eq!(check_history(&history(&ops), &Budget::steps(1_000)), LinResult::Linearizable);
        // One of them observed: that one stays in the search, and it must fit.
        ops.push((140, Some(150), get(), Some("alost7;")));
        assert_eq!(check_history(&history(&ops), &Budget::steps(100_000)), LinResult::Linearizable);
        ops.push((160, Some(170), get(), Some("a")));
        assert!(matches!(check_history(&history(&ops), &Budget::steps(100_000)), LinResult::NotLinearizable { .. }));
    }

    #[test]
    fn marking_unobserved_writes_is_bounded_in_work() {
        let info = |i: usize| op(i, i as u64, u64::MAX, put(&format!("w{i}")), KvOutput::Unknown);
        let mut ops: Vec<_> = (0..100).map(info).collect();
        ops.push(op(100, 200, 210, get(), KvOutput::Value("w7".into())));
        let marked = unobserved_info_writes(&ops);
        assert_eq!(marked.iter().filter(|&&m| m).count(), 99, "all but w7");
        // 20,000 writes against a 20,000-byte read: over the bound, nothing is marked
        // (the search then decides unaided), rather than 400 million comparisons.
        let mut ops: Vec<_> = (0..20_000).map(info).collect();
        ops.push(op(20_000, 30_000, 30_001, get(), KvOutput::Value("x".repeat(20_000))));
        assert!(unobserved_info_writes(&ops).iter().all(|&m| !m));
    }

    #[test]
    fn a_failed_cas_can_observe_an_unread_indeterminate_write() {
        // put("x") never returned and nobody read "x", but the cas that expected ""
        // failed: the put must have taken effect first. Pruning it would be wrong.
        let mut h = History::default();
        h.invoke(0, 0, put("x"));
        let cas = h.invoke(10, 1, Op::Cas { key: "k".into(), from: "".into(), to: "z".into() });
        h.complete(cas, 20, Completion::Ok { value: None, swapped: Some(false) });
        assert_eq!(check_history(&h, &Budget::steps(1_000)), LinResult::Linearizable);
    }

    #[test]
    fn budget_returns_unknown() {
        let ops: Vec<_> = (0..12).map(|i| op(i, 0, 100, put(&i.to_string()), KvOutput::Done)).collect();
        // Two reads after every put finished, of different values: impossible, but the
        // search must try the puts' orders to see it (no read value is out of reach).
        let mut with_read = ops;
        with_read.push(op(12, 200, 300, get(), KvOutput::Value("0".into())));
        with_read.push(op(13, 400, 500, get(), KvOutput::Value("1".into())));
        assert!(matches!(
            search(&KvModel, &with_read, &Budget::steps(50)),
            Search::Unknown(Explored { spent: Spent::Steps, .. })
        ));
        assert!(matches!(search(&KvModel, &with_read, &Budget::default()), Search::Illegal(_)));
        // A memory budget too small for the memo is spent as memory, not steps.
        let tiny = Budget { memory: *BUDGET_MEMORY_RANGE.start(), ..Budget::default() };
        let many: Vec<_> = (0..24)
            .map(|i| op(i, 0, 100, put(&i.to_string()), KvOutput::Done))
            .chain([
                op(24, 200, 300, get(), KvOutput::Value("0".into())),
                op(25, 400, 500, get(), KvOutput::Value("1".into())),
            ])
            .collect();
        assert!(matches!(search(&KvModel, &many, &tiny), Search::Unknown(Explored { spent: Spent::Memory, .. })));
    }

    #[test]
    fn a_stale_read_names_the_write_it_read_and_the_writes_that_replaced_it() {
        let ops = vec![
            op(0, 0, 10, put("a"), KvOutput::Done),
            op(1, 20, 30, put("b"), KvOutput::Done),
            // Overlaps the read: it may come after it, so it is no cause.
            op(2, 35, 60, put("c"), KvOutput::Done),
            op(3, 40, 50, get(), KvOutput::Value("a".into())),
        ];
        let Search::Illegal(why) = search(&KvModel, &ops, &Budget::default()) else { panic!("a stale read") };
        let cause = why.cause.expect("a read has a cause");
        assert_eq!((cause.source, cause.overwritten_by.clone()), (Some(0), vec![1]));
        assert_eq!(
            cause.describe(|id| format!("op {id}")),
            "\"a\" was written by op 0 and overwritten, before the read began, by op 1"
        );
        // A value nobody wrote.
        let alien = vec![op(0, 0, 10, put("a"), KvOutput::Done), op(1, 20, 30, get(), KvOutput::Value("z".into()))];
        let Search::Illegal(why) = search(&KvModel, &alien, &Budget::default()) else { panic!("an alien read") };
        assert_eq!(
            why.cause.map(|c| c.describe(|id| id.to_string())).as_deref(),
            Some("no write in the history could have produced \"z\"")
        );
    }

    #[test]
    fn budgets_parse_with_units_and_ranges() {
        assert_eq!(Budget::parse("2e6"), Ok(Budget::steps(2_000_000)));
        let b = Budget::parse("steps=1000, memory=1GiB, time=1.5s").unwrap();
        assert_eq!(b, Budget { steps: 1000, memory: 1 << 30, time_ms: Some(1500) });
        assert_eq!(Budget::parse(&b.to_arg()), Ok(b));
        for bad in
            ["", "0", "-5", "1.5", "nan", "inf", "memory=1kB", "memory=1TB", "time=0ms", "time=2d", "depth=3", "steps"]
        {
            assert!(Budget::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}

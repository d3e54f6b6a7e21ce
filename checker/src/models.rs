//! Sequential specifications the linearizability search checks against. A model is
//! small: an initial state and a step function; equality and hashing of states come
//! from derives. New models are a few lines each.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::rc::Rc;

use serde::Serialize;

use crate::op::{Image, Op};

/// One operation as the search sees it.
#[derive(Clone, Debug)]
pub struct LinOp<I, O> {
    /// The operation's id in its history.
    pub id: usize,
    /// When it was called (on any clock: only the order of calls and returns matters).
    pub call: u64,
    /// `u64::MAX` for an operation that never returned (info).
    pub ret: u64,
    /// What was asked.
    pub input: I,
    /// What came back.
    pub output: O,
}

impl Cause {
    /// The cause in a sentence, each operation named by `name` (its id in, e.g.
    /// "operation 41 (put by c2, 1.20s to 1.25s)" out).
    pub fn describe(&self, name: impl Fn(usize) -> String) -> String {
        let mut s = match (self.source, self.initial) {
            (Some(w), _) => format!("{:?} was written by {}", self.value, name(w)),
            (None, true) => format!("{:?} is the initial value", self.value),
            (None, false) => return format!("no write in the history could have produced {:?}", self.value),
        };
        if !self.overwritten_by.is_empty() {
            let list: Vec<String> = self.overwritten_by.iter().take(3).map(|&w| name(w)).collect();
            let more = self.overwritten_by.len().saturating_sub(3);
            s.push_str(&format!(" and overwritten, before the read began, by {}", list.join(", ")));
            if more > 0 {
                s.push_str(&format!(" and {more} more"));
            }
        }
        s
    }
}

/// The cause of a stale or impossible read, by operation ids, judged from the
/// history's real time alone (no search order enters it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// The value the read returned.
    pub value: String,
    /// The write whose value the read returned: the latest one invoked before the
    /// read returned. None when no write could have produced the value (nor the
    /// initial value).
    pub source: Option<usize>,
    /// Whether the value is the initial one (nothing wrote it).
    pub initial: bool,
    /// Writes that changed the value, began after `source` had completed and
    /// themselves completed before the read began: by real time alone, the read
    /// must see them (or something later).
    pub overwritten_by: Vec<usize>,
}

/// A sequential specification.
pub trait Model {
    /// The state an operation is applied to.
    type State: Clone + Eq + Hash + Debug;
    /// Equal inputs with equal outputs have the same effect: the search places
    /// identical operations that never returned in the order they were invoked.
    type Input: Clone + Debug + Eq + Hash;
    /// What an operation returns.
    type Output: Clone + Debug + Eq + Hash;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after applying `input` with result `output`, or None if that result
    /// is impossible in `state`.
    fn step(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> Option<Self::State>;
    /// P-compositionality, optional: the part of the history an operation belongs to.
    /// Parts are checked independently; `None` (the default) keeps one whole history.
    fn partition(&self, _input: &Self::Input) -> Option<String> {
        None
    }
    /// A state as a student reads it.
    fn show(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }
    /// Why `input` with `output` cannot happen in `state`, for a student.
    fn explain(&self, state: &Self::State, input: &Self::Input, output: &Self::Output) -> String {
        format!("{input:?} returning {output:?} is impossible in state {state:?}")
    }
    /// For an operation that cannot be placed (`stuck`, an index into `ops`): what
    /// in the history's real time explains it, when the model can tell (a read's
    /// stale value). The default tells nothing.
    fn cause(&self, _ops: &[LinOp<Self::Input, Self::Output>], _stuck: usize) -> Option<Cause> {
        None
    }
    /// Heap bytes a state owns beyond its own size, for the search's memory budget.
    fn state_bytes(&self, _state: &Self::State) -> usize {
        0
    }
    /// Whether the operation, with this output, leaves every state it can be applied
    /// in unchanged (a read; a cas that did not swap). The search places such an
    /// operation as soon as it can, without trying the orders that put it later: any
    /// linearization that places it later stays one with it moved to the front. A
    /// model may always say `false`.
    fn read_only(&self, _input: &Self::Input, _output: &Self::Output) -> bool {
        false
    }
    /// Optional look-ahead for one partition's operations: a cheap, sound test that a
    /// state can no longer lead to a linearization (see [`Lookahead`]).
    fn lookahead(&self, _ops: &[LinOp<Self::Input, Self::Output>]) -> Option<Box<dyn Lookahead<Self::State>>> {
        None
    }
}

/// What the search tells a look-ahead, and asks it. `place` and `unplace` follow the
/// search's stack exactly (an operation is placed when it is linearized, and unplaced
/// when the search backs out of it); `doomed` may only say `true` when no order of the
/// unplaced operations can be linearized from `state`. Saying `false` is always safe.
pub trait Lookahead<S> {
    /// The search placed operation `op` (it is linearized next).
    fn place(&mut self, op: usize);
    /// The search took operation `op` back out.
    fn unplace(&mut self, op: usize);
    /// Whether no order of the remaining operations can work from `state`.
    fn doomed(&self, state: &S) -> bool;
}

/// What a key-value operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum KvOutput {
    /// A read's value.
    Value(String),
    /// A `cas`: swapped or not.
    Swapped(bool),
    /// A write took effect.
    Done,
    /// Indeterminate: the operation never returned.
    Unknown,
}

impl std::fmt::Display for KvOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvOutput::Value(v) => write!(f, "{v:?}"),
            KvOutput::Swapped(true) => f.write_str("swapped"),
            KvOutput::Swapped(false) => f.write_str("not swapped"),
            KvOutput::Done => f.write_str("done"),
            KvOutput::Unknown => f.write_str("no answer"),
        }
    }
}

impl std::fmt::Display for RegisterOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterOp::Read => f.write_str("read"),
            RegisterOp::Write(v) => write!(f, "write {v}"),
            RegisterOp::Cas(a, b) => write!(f, "cas from {a} to {b}"),
        }
    }
}

impl std::fmt::Display for RegisterOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegisterOutput::Read(v) => f.write_str(&v.map_or("nil".to_string(), |x| x.to_string())),
            RegisterOutput::Written => f.write_str("ok"),
            RegisterOutput::Cas(true) => f.write_str("swapped"),
            RegisterOutput::Cas(false) => f.write_str("not swapped"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The value of one key, with a hash of its bytes kept up to date as it grows, so the
/// search hashes a state in constant time however long an append-only value becomes.
/// Equality still compares the bytes (after the hash and the length).
#[derive(Clone, Debug)]
pub struct KvState {
    /// The value, shared between states that hold the same text.
    pub text: Rc<str>,
    hash: u64,
}

/// A polynomial hash, extendable by appending: `h(s + t) = h(s) * P^|t| + h(t)`.
fn extend_hash(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = h.wrapping_mul(0x100_0000_01b3).wrapping_add(u64::from(b) + 1);
    }
    h
}

impl KvState {
    /// A state holding `text`.
    pub fn new(text: &str) -> KvState {
        KvState { text: Rc::from(text), hash: extend_hash(0, text.as_bytes()) }
    }
    fn append(&self, suffix: &str) -> KvState {
        let mut s = String::with_capacity(self.text.len() + suffix.len());
        s.push_str(&self.text);
        s.push_str(suffix);
        KvState { text: Rc::from(s), hash: extend_hash(self.hash, suffix.as_bytes()) }
    }
    fn is(&self, value: &str) -> bool {
        *self.text == *value
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &KvState) -> bool {
        self.hash == other.hash && (Rc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}
impl Eq for KvState {}

impl std::hash::Hash for KvState {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash);
    }
}

/// One key of a key-value store with get / put / append / cas. Keys start as "".
/// (P-compositionality: a key-value history is checked key by key with this model.)
pub struct KvModel;

impl Model for KvModel {
    /// Shared, so the search's many copies of a state cost a count, not an allocation.
    type State = KvState;
    type Input = Op;
    type Output = KvOutput;
    fn init(&self) -> KvState {
        KvState::new("")
    }
    fn partition(&self, input: &Op) -> Option<String> {
        Some(input.key().to_string())
    }
    fn step(&self, state: &KvState, input: &Op, output: &KvOutput) -> Option<KvState> {
        match (input, output) {
            (Op::Get { .. }, KvOutput::Value(v)) => state.is(v).then(|| state.clone()),
            (Op::Get { .. }, _) => Some(state.clone()),
            (Op::Put { value, .. }, _) => Some(KvState::new(value)),
            (Op::Append { value, .. }, _) => Some(state.append(value)),
            (Op::Cas { from, to, .. }, KvOutput::Swapped(true)) => state.is(from).then(|| KvState::new(to)),
            (Op::Cas { from, .. }, KvOutput::Swapped(false)) => (!state.is(from)).then(|| state.clone()),
            (Op::Cas { from, to, .. }, _) => Some(if state.is(from) { KvState::new(to) } else { state.clone() }),
            // An image's key holds its record's text ("" for none).
            (Op::Upload { size, content, tags, .. }, _) => {
                Some(KvState::new(&Image::uploaded(*size, content, tags).to_string()))
            }
            (Op::Fetch { .. }, KvOutput::Value(v)) => state.is(v).then(|| state.clone()),
            (Op::Fetch { .. }, _) => Some(state.clone()),
            (Op::Delete { .. }, _) => Some(KvState::new("")),
            (Op::Tag { tag, .. }, output) => {
                let tagged = Image::parse(&state.text).map(|mut image| {
                    image.tags.insert(tag.clone());
                    KvState::new(&image.to_string())
                });
                match (output, tagged) {
                    (KvOutput::Swapped(false), None) => Some(state.clone()),
                    (KvOutput::Swapped(false), Some(_)) => None,
                    (KvOutput::Swapped(true), tagged) => tagged,
                    (_, tagged) => Some(tagged.unwrap_or_else(|| state.clone())),
                }
            }
            // Bank transactions and image lists span keys; `kv_ops` leaves them out
            // of a key's history.
            (Op::Transfer { .. } | Op::Read { .. } | Op::List { .. }, _) => None,
        }
    }
    fn read_only(&self, input: &Op, output: &KvOutput) -> bool {
        matches!(
            (input, output),
            (Op::Get { .. } | Op::Fetch { .. }, _) | (Op::Cas { .. } | Op::Tag { .. }, KvOutput::Swapped(false))
        )
    }
    fn show(&self, state: &KvState) -> String {
        format!("{:?}", &*state.text)
    }
    fn explain(&self, state: &KvState, input: &Op, output: &KvOutput) -> String {
        let state = &*state.text;
        match (input, output) {
            (Op::Get { .. }, KvOutput::Value(v)) => format!("get returned {v:?}, but the value was {state:?}"),
            (Op::Fetch { name }, KvOutput::Value(v)) => {
                let v = if v.is_empty() { "no image".to_string() } else { format!("{v:?}") };
                let state = if state.is_empty() { "there was none".to_string() } else { format!("it was {state:?}") };
                format!("fetch {name} returned {v}, but {state}")
            }
            (Op::Tag { name, .. }, KvOutput::Swapped(false)) => {
                format!("tag found no image {name}, but it was {state:?}")
            }
            (Op::Tag { name, .. }, KvOutput::Swapped(true)) => format!("tag found image {name}, but there was none"),
            (Op::Cas { from, .. }, KvOutput::Swapped(true)) => {
                format!("cas swapped from {from:?}, but the value was {state:?}")
            }
            (Op::Cas { from, .. }, KvOutput::Swapped(false)) => {
                format!("cas found a value other than {from:?}, but the value was {from:?}")
            }
            _ => format!("{input} cannot return {output} with value {state:?}"),
        }
    }
    fn state_bytes(&self, state: &KvState) -> usize {
        // An Rc<str>'s allocation: two counts and the bytes (shared copies counted
        // each time: the budget errs on the safe side).
        16 + state.text.len()
    }
    fn lookahead(&self, ops: &[LinOp<Op, KvOutput>]) -> Option<Box<dyn Lookahead<KvState>>> {
        PinnedReads::new(ops).map(|p| Box::new(p) as Box<dyn Lookahead<KvState>>)
    }
    fn cause(&self, ops: &[LinOp<Op, KvOutput>], stuck: usize) -> Option<Cause> {
        let read = &ops[stuck];
        let (Op::Get { .. } | Op::Fetch { .. }, KvOutput::Value(v)) = (&read.input, &read.output) else { return None };
        // What a write leaves, if it can be told without the order: a put's or a
        // swap's value. An append's result depends on what came before it; it can
        // have produced `v` when `v` ends with it.
        let writes = |w: &LinOp<Op, KvOutput>| match (&w.input, &w.output) {
            (Op::Put { .. } | Op::Append { .. } | Op::Upload { .. } | Op::Delete { .. }, _) => true,
            (Op::Cas { .. } | Op::Tag { .. }, KvOutput::Swapped(false)) => false,
            (Op::Cas { .. } | Op::Tag { .. }, _) => true,
            _ => false,
        };
        // An image's record: what an upload stores, with tags added later.
        let record = |size: u64, content: &str| Image::uploaded(size, content, &[]);
        let read_image = Image::parse(v);
        let could_produce = |w: &LinOp<Op, KvOutput>| match &w.input {
            Op::Put { value, .. } => value == v,
            Op::Cas { to, .. } => to == v,
            Op::Append { value, .. } => !value.is_empty() && v.ends_with(value.as_str()),
            Op::Upload { size, content, tags, .. } => read_image.as_ref().is_some_and(|r| {
                let u = record(*size, content);
                (r.size, r.checksum) == (u.size, u.checksum) && tags.iter().all(|t| r.tags.contains(t))
            }),
            Op::Delete { .. } => v.is_empty(),
            Op::Tag { tag, .. } => read_image.as_ref().is_some_and(|r| r.tags.contains(tag)),
            _ => false,
        };
        let source = (0..ops.len())
            .filter(|&i| i != stuck && writes(&ops[i]) && could_produce(&ops[i]) && ops[i].call < read.ret)
            .max_by_key(|&i| (ops[i].call, i));
        let initial = source.is_none() && v.is_empty();
        if source.is_none() && !initial {
            return Some(Cause { value: v.clone(), source: None, initial, overwritten_by: Vec::new() });
        }
        let after = source.map_or(0, |i| ops[i].ret);
        let leaves_other = |w: &LinOp<Op, KvOutput>| match &w.input {
            Op::Put { value, .. } => value != v,
            Op::Cas { to, .. } => to != v,
            Op::Append { value, .. } => !value.is_empty(),
            Op::Upload { .. } => !could_produce(w),
            Op::Delete { .. } => !v.is_empty(),
            _ => false,
        };
        let overwritten_by = (0..ops.len())
            .filter(|&i| {
                let w = &ops[i];
                let began_after = source.is_none_or(|_| w.call > after);
                Some(i) != source && writes(w) && leaves_other(w) && began_after && w.ret < read.call
            })
            .map(|i| ops[i].id)
            .collect();
        Some(Cause { value: v.clone(), source: source.map(|i| ops[i].id), initial, overwritten_by })
    }
}

/// The look-ahead for a key: every read still to be placed pins a value the key must
/// hold at some later point. From a state `s`, the only values a key can reach are `s`
/// followed by appends, or a value some unplaced put or cas writes, followed by
/// appends. So a state is doomed when an unplaced read's value extends neither `s` nor
/// the value of any unplaced write. This is what makes append histories cheap (Elle's
/// observation: a read of an append-only value reveals the order of the appends in
/// it): an append is placed only where the reads still ahead agree with it, so dozens
/// of indeterminate appends no longer multiply into every order of every subset.
///
/// The reads that no unplaced write could rescue are kept as a set of ranks in their
/// values' sorted order: a string is a prefix of every value in a set exactly when it
/// is a prefix of the set's least and greatest values, so each test is two
/// comparisons.
struct PinnedReads {
    /// The distinct read values, sorted.
    values: Vec<Rc<str>>,
    /// Per operation: the rank of its read value, for a read.
    read_rank: Vec<Option<u32>>,
    /// Per operation: the reads (by operation) whose value its write is a prefix of.
    rescues: Vec<Vec<u32>>,
    /// Per operation (reads only): unplaced writes that could rescue it.
    rescuers: Vec<u32>,
    placed: Vec<bool>,
    /// Unplaced, unrescued reads per rank, and the ranks with any.
    live_count: Vec<u32>,
    live: BTreeSet<u32>,
}

impl PinnedReads {
    fn new(ops: &[LinOp<Op, KvOutput>]) -> Option<PinnedReads> {
        let mut values: Vec<&str> = ops
            .iter()
            .filter_map(|o| match (&o.input, &o.output) {
                (Op::Get { .. }, KvOutput::Value(v)) => Some(v.as_str()),
                _ => None,
            })
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        values.dedup();
        let rank = |v: &str| values.binary_search(&v).expect("a collected value") as u32;
        let read_rank: Vec<Option<u32>> = ops
            .iter()
            .map(|o| match (&o.input, &o.output) {
                (Op::Get { .. }, KvOutput::Value(v)) => Some(rank(v)),
                _ => None,
            })
            .collect();
        let reads: Vec<usize> = (0..ops.len()).filter(|&i| read_rank[i].is_some()).collect();
        let mut rescues = vec![Vec::new(); ops.len()];
        let mut rescuers = vec![0u32; ops.len()];
        for (w, o) in ops.iter().enumerate() {
            let written = match (&o.input, &o.output) {
                (Op::Put { value, .. }, _) => value,
                (Op::Cas { to, .. }, KvOutput::Swapped(true) | KvOutput::Unknown) => to,
                _ => continue,
            };
            for &r in &reads {
                let KvOutput::Value(v) = &ops[r].output else { unreachable!("reads have values") };
                if v.starts_with(written.as_str()) {
                    rescues[w].push(r as u32);
                    rescuers[r] += 1;
                }
            }
        }
        let mut live_count = vec![0u32; values.len()];
        for &r in &reads {
            if rescuers[r] == 0 {
                live_count[read_rank[r].expect("a read") as usize] += 1;
            }
        }
        let live = (0..values.len() as u32).filter(|&k| live_count[k as usize] > 0).collect();
        Some(PinnedReads {
            values: values.into_iter().map(Rc::from).collect(),
            read_rank,
            rescues,
            rescuers,
            placed: vec![false; ops.len()],
            live_count,
            live,
        })
    }

    fn add(&mut self, read: usize) {
        let k = self.read_rank[read].expect("a read");
        self.live_count[k as usize] += 1;
        if self.live_count[k as usize] == 1 {
            self.live.insert(k);
        }
    }

    fn remove(&mut self, read: usize) {
        let k = self.read_rank[read].expect("a read");
        self.live_count[k as usize] -= 1;
        if self.live_count[k as usize] == 0 {
            self.live.remove(&k);
        }
    }
}

impl Lookahead<KvState> for PinnedReads {
    fn place(&mut self, op: usize) {
        self.placed[op] = true;
        if self.read_rank[op].is_some() && self.rescuers[op] == 0 {
            self.remove(op);
        }
        for j in 0..self.rescues[op].len() {
            let r = self.rescues[op][j] as usize;
            self.rescuers[r] -= 1;
            if self.rescuers[r] == 0 && !self.placed[r] {
                self.add(r);
            }
        }
    }
    fn unplace(&mut self, op: usize) {
        self.placed[op] = false;
        for j in 0..self.rescues[op].len() {
            let r = self.rescues[op][j] as usize;
            self.rescuers[r] += 1;
            if self.rescuers[r] == 1 && !self.placed[r] {
                self.remove(r);
            }
        }
        if self.read_rank[op].is_some() && self.rescuers[op] == 0 {
            self.add(op);
        }
    }
    fn doomed(&self, state: &KvState) -> bool {
        let (Some(&lo), Some(&hi)) = (self.live.first(), self.live.last()) else { return false };
        let s = &*state.text;
        !(self.values[lo as usize].starts_with(s) && self.values[hi as usize].starts_with(s))
    }
}

/// A register operation, as the Jepsen etcd test and Porcupine's etcd model use them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum RegisterOp {
    /// Read the register.
    Read,
    /// Write a value.
    Write(i64),
    /// Compare-and-set: from the first value to the second.
    Cas(i64, i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
/// What a register operation returned.
pub enum RegisterOutput {
    /// A read's value; None is "absent" (nil).
    Read(Option<i64>),
    /// A write took effect.
    Written,
    /// A cas compared equal and swapped (true), or compared unequal (false).
    Cas(bool),
    /// Indeterminate: may have taken effect or not; any read value.
    Unknown,
}

/// A register that starts absent (nil), with read / write / compare-and-swap: the etcd
/// model. With `cas = false` it is a plain read/write register and rejects cas.
pub struct RegisterModel {
    /// Whether a `cas` is swapped (true) or found another value (false).
    pub cas: bool,
}

impl Model for RegisterModel {
    type State = Option<i64>;
    type Input = RegisterOp;
    type Output = RegisterOutput;
    fn init(&self) -> Option<i64> {
        None
    }
    fn step(&self, state: &Option<i64>, input: &RegisterOp, output: &RegisterOutput) -> Option<Option<i64>> {
        match (input, output) {
            (RegisterOp::Read, RegisterOutput::Read(v)) => (v == state).then_some(*state),
            (RegisterOp::Read, _) => Some(*state),
            (RegisterOp::Write(v), _) => Some(Some(*v)),
            (RegisterOp::Cas(..), _) if !self.cas => None,
            (RegisterOp::Cas(a, b), RegisterOutput::Cas(true)) => (*state == Some(*a)).then_some(Some(*b)),
            (RegisterOp::Cas(a, _), RegisterOutput::Cas(false)) => (*state != Some(*a)).then_some(*state),
            (RegisterOp::Cas(a, b), _) => Some(if *state == Some(*a) { Some(*b) } else { *state }),
        }
    }
    fn read_only(&self, input: &RegisterOp, output: &RegisterOutput) -> bool {
        matches!((input, output), (RegisterOp::Read, _) | (RegisterOp::Cas(..), RegisterOutput::Cas(false)))
    }
    fn show(&self, state: &Option<i64>) -> String {
        state.map_or("nil".to_string(), |v| v.to_string())
    }
    fn explain(&self, state: &Option<i64>, input: &RegisterOp, output: &RegisterOutput) -> String {
        let show = |v: &Option<i64>| v.map_or("nil".to_string(), |x| x.to_string());
        match (input, output) {
            (RegisterOp::Read, RegisterOutput::Read(v)) => {
                format!("read returned {}, but the register held {}", show(v), show(state))
            }
            (RegisterOp::Cas(a, _), RegisterOutput::Cas(true)) => {
                format!("cas swapped from {a}, but the register held {}", show(state))
            }
            (RegisterOp::Cas(a, _), RegisterOutput::Cas(false)) => {
                format!("cas failed to find {a}, but the register held {a}")
            }
            (RegisterOp::Cas(..), _) => "a plain register has no cas (use --model cas-register)".to_string(),
            _ => format!("{input} cannot return {output} with {}", show(state)),
        }
    }
}

//! Sequential specifications the linearizability search checks against. A model is
//! small: an initial state and a step function; equality and hashing of states come
//! from derives. New models are a few lines each.

use std::fmt::Debug;
use std::hash::Hash;
use std::rc::Rc;

use serde::Serialize;

use crate::protocol::Op;

/// A sequential specification.
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Input: Clone + Debug;
    type Output: Clone + Debug;
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
}

/// What a key-value operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum KvOutput {
    Value(String),
    Swapped(bool),
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

/// One key of a key-value store with get / put / append / cas. Keys start as "".
/// (P-compositionality: a key-value history is checked key by key with this model.)
pub struct KvModel;

impl Model for KvModel {
    /// Shared, so the search's many copies of a state cost a count, not an allocation.
    type State = Rc<str>;
    type Input = Op;
    type Output = KvOutput;
    fn init(&self) -> Rc<str> {
        Rc::from("")
    }
    fn partition(&self, input: &Op) -> Option<String> {
        Some(input.key().to_string())
    }
    fn step(&self, state: &Rc<str>, input: &Op, output: &KvOutput) -> Option<Rc<str>> {
        match (input, output) {
            (Op::Get { .. }, KvOutput::Value(v)) => (**v == **state).then(|| state.clone()),
            (Op::Get { .. }, _) => Some(state.clone()),
            (Op::Put { value, .. }, _) => Some(Rc::from(value.as_str())),
            (Op::Append { value, .. }, _) => {
                let mut s = String::with_capacity(state.len() + value.len());
                s.push_str(state);
                s.push_str(value);
                Some(Rc::from(s))
            }
            (Op::Cas { from, to, .. }, KvOutput::Swapped(true)) => (**state == **from).then(|| Rc::from(to.as_str())),
            (Op::Cas { from, .. }, KvOutput::Swapped(false)) => (**state != **from).then(|| state.clone()),
            (Op::Cas { from, to, .. }, _) => {
                Some(if **state == **from { Rc::from(to.as_str()) } else { state.clone() })
            }
            // Bank transactions span keys; `kv_ops` leaves them out of a key's history.
            (Op::Transfer { .. } | Op::Read { .. }, _) => None,
        }
    }
    fn explain(&self, state: &Rc<str>, input: &Op, output: &KvOutput) -> String {
        match (input, output) {
            (Op::Get { .. }, KvOutput::Value(v)) => format!("get returned {v:?}, but the value was {state:?}"),
            (Op::Cas { from, .. }, KvOutput::Swapped(true)) => {
                format!("cas swapped from {from:?}, but the value was {state:?}")
            }
            (Op::Cas { from, .. }, KvOutput::Swapped(false)) => {
                format!("cas found a value other than {from:?}, but the value was {from:?}")
            }
            _ => format!("{input} cannot return {output} with value {state:?}"),
        }
    }
}

/// A register operation, as the Jepsen etcd test and Porcupine's etcd model use them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum RegisterOp {
    Read,
    Write(i64),
    Cas(i64, i64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
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

//! faultline-checker: judges client histories, with or without the engine that
//! produced them, the way Porcupine and Knossos do.
//!
//! A [`History`](history::History) is a list of operations ([`op::Op`]) with their
//! invocation and completion times. [`check_history`] decides whether a key-value
//! history is linearizable (per key, with a search budget: "unknown" is a verdict of
//! its own, never a guess), [`bank::conserved_total`] whether a bank's reads
//! always add up, and [`import`] reads Jepsen etcd logs, Porcupine key-value files
//! and faultline's own `history.json`. [`judge::Judge`] holds what nodes report
//! ([`observe::Observation`]s) to the invariants of their protocol family.
//!
//! ```
//! use faultline_checker::history::{Completion, History};
//! use faultline_checker::linearizability::{Budget, LinResult};
//! use faultline_checker::op::Op;
//!
//! let mut h = History::default();
//! let put = h.invoke(0, 0, Op::Put { key: "k".into(), value: "1".into() });
//! let get = h.invoke(5, 1, Op::Get { key: "k".into() });
//! h.complete(put, 10, Completion::Ok { value: None, swapped: None });
//! // A read that overlaps the write may see either value; "2" was never written.
//! h.complete(get, 12, Completion::Ok { value: Some("2".into()), swapped: None });
//! let verdict = faultline_checker::check_history(&h, &Budget::default());
//! assert!(matches!(verdict, LinResult::NotLinearizable { .. }));
//! ```

#![warn(missing_docs)]

pub mod bank;
pub mod diag;
pub mod families;
pub mod fnv;
pub mod history;
pub mod images;
pub mod import;
pub mod judge;
pub mod linearizability;
pub mod models;
pub mod observe;
pub mod op;
pub mod time;

pub use linearizability::{LinResult, check_history};

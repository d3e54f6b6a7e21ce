//! faultline-sim: the deterministic discrete-event engine at the heart of faultline.
//!
//! A run is a [`Scenario`], a [`Protocol`] and a `u64` seed. The engine delivers
//! messages, fires timers and injects faults in (virtual time, sequence) order,
//! simulated clients record a [`History`](history::History), every event goes to the
//! [`Trace`], and the checkers judge the result.

#![warn(missing_docs)]

pub mod check;
pub use faultline_checker::{diag, families, history, judge, observe, time};
mod checks;
pub mod clock;
pub mod disk;
pub mod engine;
pub mod fmath;
mod nemesis;
pub mod network;
pub mod protocol;
pub mod queue;
pub mod rng;
pub mod scenario;
pub mod trace;
mod workload;

pub use engine::{Check, Failure, RunResult, Sim, Stats};
pub use protocol::{
    ClientId, Cluster, Ctx, Message, NodeId, Observation, Op, OpKind, Outcome, Protocol, Reply, Request, TimerId,
    Violation,
};
pub use scenario::Scenario;
pub use trace::Trace;

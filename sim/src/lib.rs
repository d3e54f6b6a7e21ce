//! faultline-sim: the deterministic discrete-event engine at the heart of faultline.
//!
//! A run is a [`Scenario`], a [`Protocol`] and a `u64` seed. The engine delivers
//! messages, fires timers and injects faults in (virtual time, sequence) order,
//! simulated clients record a [`History`](history::History), every event goes to the
//! [`Trace`], and the checkers judge the result.
//!
//! A whole protocol, run and judged: `n1` serves a register of keys from memory
//! and the other nodes send clients to it. It reports its leadership
//! ([`Observation::Term`]), so the replicated-log family holds it to
//! `election-safety` and the liveness check knows when a leader is in place. Its
//! client history is checked for linearizability; a crash of `n1` loses the map
//! and the check says so.
//!
//! ```
//! use std::collections::BTreeMap;
//! use faultline_sim::disk::Durable;
//! use faultline_sim::scenario::{Catalog, Known, parse};
//! use faultline_sim::{Ctx, NodeId, Observation, Op, OpKind, Outcome, Protocol, Reply, Request, Sim, TimerId, Trace};
//!
//! #[derive(Clone, Debug, PartialEq, Eq, Hash)]
//! struct Primary { me: NodeId, map: BTreeMap<String, String> }
//!
//! impl Protocol for Primary {
//!     type Msg = ();
//!     type Timer = ();
//!     type Stored = ();
//!     type Config = ();
//!     const OPS: &'static [OpKind] = &[OpKind::Get, OpKind::Put];
//!     const HAS_LEADER: bool = true;
//!
//!     fn start(ctx: &mut Ctx<'_, Self>, _: &(), _: &Durable<()>) -> Self {
//!         let me = ctx.id();
//!         ctx.observe(Observation::Term { term: 1, leader: me == NodeId(0) });
//!         Primary { me, map: BTreeMap::new() }
//!     }
//!     fn leads(&self) -> Option<u64> {
//!         (self.me == NodeId(0)).then_some(1)
//!     }
//!     fn on_message(&mut self, _: &mut Ctx<'_, Self>, _: NodeId, _: ()) {}
//!     fn on_timer(&mut self, _: &mut Ctx<'_, Self>, _: TimerId, _: ()) {}
//!     fn on_request(&mut self, ctx: &mut Ctx<'_, Self>, req: Request) {
//!         let outcome = match req.op {
//!             _ if self.me != NodeId(0) => Outcome::Redirect(Some(NodeId(0))),
//!             Op::Get { key } => Outcome::Value(self.map.get(&key).cloned().unwrap_or_default()),
//!             Op::Put { key, value } => {
//!                 self.map.insert(key, value);
//!                 Outcome::Done
//!             }
//!             _ => Outcome::Rejected("only get and put".into()),
//!         };
//!         ctx.reply(Reply { client: req.client, seq: req.seq, outcome });
//!     }
//! }
//!
//! let catalog = Catalog { protocols: vec![Known::of::<Primary>("primary", vec!["correct"])] };
//! let scenario = |faults: &str| {
//!     let src = format!(
//!         "name = \"p\"\nprotocol = \"primary\"\nnodes = 3\nduration = \"2s\"\n{faults}\
//!          [workload]\nclients = 2\nops = 100\nkeys = 2\nrate = 50\nmix = {{ get = 1, put = 1 }}\n"
//!     );
//!     parse("p.toml", &src, &catalog).expect("parses")
//! };
//! let calm = Sim::<Primary>::new(&scenario(""), (), 7, Trace::off()).run();
//! assert!(calm.as_expected(), "{:?}", calm.failures());
//!
//! // n1 crashes at 0.5s and comes back empty: a read returns a value that was lost.
//! let crash = "[[faults]]\nat = \"500ms\"\ncrash = \"n1\"\n[[faults]]\nat = \"600ms\"\nrestart = \"n1\"\n";
//! let crashed = Sim::<Primary>::new(&scenario(crash), (), 7, Trace::off()).run();
//! assert!(!crashed.as_expected());
//! assert!(crashed.failures().iter().any(|f| f.contains("not linearizable")), "{:?}", crashed.failures());
//! ```

#![warn(missing_docs)]

pub mod check;
pub use faultline_checker::{diag, families, history, judge, observe, time};
mod checks;
pub mod clock;
pub mod digest;
pub mod disk;
pub mod engine;
pub mod explore;
pub mod fmath;
pub mod nemesis;
pub mod network;
pub mod protocol;
pub mod queue;
pub mod rng;
pub mod scenario;
pub mod shrink;
pub mod trace;
pub mod wire;
pub mod workload;

pub use engine::{Check, Failure, RunResult, Sim, Stats};
pub use protocol::{
    ClientId, Cluster, Ctx, Image, Message, NodeId, Observation, Op, OpKind, Outcome, Protocol, Reply, Request,
    TimerId, Violation,
};
pub use scenario::Scenario;
pub use trace::Trace;

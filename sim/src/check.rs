//! Checkers that judge a whole run: linearizability of a key-value history, the
//! conserved total of a bank history. They live in their own crate,
//! `faultline-checker`, usable without the engine; they are re-exported here.
//! A protocol's invariants are checked by the engine after every event: the
//! families' invariants on what nodes report through [`crate::Ctx::observe`], by the
//! [`Judge`](crate::judge::Judge), and a protocol's own through
//! [`crate::protocol::Protocol::check_cluster`].

pub use faultline_checker::{LinResult, bank, check_history, images, import, linearizability, models};

//! Checkers that judge a whole run: linearizability of a key-value history, the
//! conserved total of a bank history.
//! Cluster-wide protocol invariants are checked by the engine after every event
//! through [`crate::protocol::Protocol::check_cluster`].

pub mod bank;
pub mod facts;
pub mod import;
pub mod linearizability;
pub mod models;

pub use linearizability::{LinResult, check_history};

//! Checkers that judge a whole run: linearizability of the client history.
//! Cluster-wide protocol invariants are checked by the engine after every event
//! through [`crate::protocol::Protocol::check_cluster`].

pub mod facts;
pub mod import;
pub mod linearizability;
pub mod models;

pub use linearizability::{LinResult, check_history};

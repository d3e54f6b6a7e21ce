//! The `faultline` command line as a library, so the end-to-end tests can call the
//! same code the binary runs.

pub mod cli;
pub mod fuzz;

/// A protocol to register beside the bundled ones: see [`cli::main_with`].
pub use faultline_protocols::Entry;

/// The key-value state machine with client sessions that the bundled replicated
/// protocols apply commands to, for a lab's protocol to apply its own.
pub use faultline_protocols::kv;

/// The bank that the bundled commit protocols keep (accounts, locks, votes, the
/// coordinator's transactions), for a lab's commit protocol to keep its own.
pub use faultline_protocols::commit;

/// The probes Raft scenario files assert on (`leader`, `term`, `commands`, ...),
/// measured over any Raft's [`View`](raft_probes::View) of its servers.
pub use faultline_protocols::raft::check as raft_probes;

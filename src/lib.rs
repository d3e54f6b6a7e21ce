//! The `faultline` command line as a library, so the end-to-end tests can call the
//! same code the binary runs.

pub mod cli;
pub mod fuzz;

/// A protocol to register beside the bundled ones: see [`cli::main_with`].
pub use faultline_protocols::Entry;

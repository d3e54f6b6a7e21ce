//! The `faultline` command line: a thin layer over the library crates.

use std::process::ExitCode;

/// mimalloc instead of the system allocator: a checked Raft run allocates for every
/// message, log entry, disk write and history record, and glibc's malloc and free
/// were a fifth of its instructions (BENCHMARKS.md, "A digest that costs little").
/// Nothing in a run depends on where memory lands, so traces are unchanged.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    faultline::cli::main_with(Vec::new())
}

//! The `faultline` command line: a thin layer over the library crates.

use std::process::ExitCode;

fn main() -> ExitCode {
    faultline::cli::main_with(Vec::new())
}

//! The `faultline` command line: a thin layer over the library crates.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    faultline::cli::main(faultline::cli::Cli::parse())
}

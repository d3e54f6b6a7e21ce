//! The `faultline` command line: a thin layer over the library crates.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // `faultline list | head` should stop quietly when the reader goes away, as other
    // Unix tools do, instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    faultline::cli::main(faultline::cli::Cli::parse())
}

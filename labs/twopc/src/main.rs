//! Your two-phase commit, with the whole faultline command line: `cargo run -- grade
//! twopc --protocol mytwopc` grades it, `cargo run -- run commit/twopc-happy
//! --protocol mytwopc` runs one scenario on it (see README.md).

mod twopc;

fn main() -> std::process::ExitCode {
    let mine = faultline::Entry::of::<twopc::TwoPc>(
        "mytwopc",
        "my two-phase commit (the 2PC lab)",
        &[("correct", "my implementation")],
        faultline::commit::Layout::of,
    );
    faultline::cli::main_with(vec![mine])
}

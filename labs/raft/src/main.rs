//! Your Raft, with the whole faultline command line: `cargo run -- grade raft
//! --protocol myraft` grades it, `cargo run -- run raft/initial-election --protocol
//! myraft` runs one scenario on it (see README.md).

mod raft;

fn main() -> std::process::ExitCode {
    let mine = faultline::Entry::of::<raft::Raft>(
        "myraft",
        "my Raft (the Raft lab)",
        &[("correct", "my implementation")],
        |_scenario| (),
    );
    faultline::cli::main_with(vec![mine])
}

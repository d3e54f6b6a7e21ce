//! Your Multi-Paxos, with the whole faultline command line: `cargo run -- grade
//! paxos --protocol mypaxos` grades it, `cargo run -- run paxos/duelling --protocol
//! mypaxos` runs one scenario on it (see README.md).

mod paxos;

fn main() -> std::process::ExitCode {
    let mine = faultline::Entry::of::<paxos::Paxos>(
        "mypaxos",
        "my Multi-Paxos (the Paxos lab)",
        &[("correct", "my implementation")],
        |_scenario| (),
    );
    faultline::cli::main_with(vec![mine])
}

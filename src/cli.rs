//! Command-line parsing and dispatch. Each subcommand lives in its own module.

pub mod bench;
mod check;
pub mod cluster;
pub mod explore;
pub mod grade;
pub mod hash;
pub mod input;
pub mod lab;
mod list;
mod load;
pub mod merge;
pub mod report;
pub mod run;
pub mod shrink;
pub mod sweep;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use faultline_sim::check::linearizability::Budget;
use faultline_sim::explore::Bounds;
use faultline_sim::scenario::Expect;

pub use load::{BUNDLED, Named, load, load_scenario, panic_message, replay_command};

/// Exit code: every check came out as the scenario expects.
pub const EXIT_OK: u8 = 0;
/// Exit code: a check came out other than expected.
pub const EXIT_CHECK_FAILED: u8 = 1;
/// Exit code: bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code (`check`): the search budget ran out before a verdict.
pub const EXIT_UNKNOWN: u8 = 3;
/// Exit code (`report`): the run is too large to draw; nothing is wrong with it.
pub const EXIT_TOO_LARGE: u8 = 3;

const REPORT_EXIT_CODES: &str = "\
Exit codes:
  0  the reports were drawn
  2  bad input or usage: not a run folder, a bad window, a file that cannot be written
  3  the run is too large to draw (the window holds over 64 MiB of messages); the run itself
     is fine: draw a shorter window with --from/--to";

const CLUSTER_EXIT_CODES: &str = "\
Exit codes:
  0  every check passed on the real run
  1  a check failed (the run folder holds the trace and history); for a bug-zoo scenario,
     which expects one to, the result line says its bug was caught
  2  bad input, or a scenario the real cluster cannot carry out yet (the message says what)
  4  the cluster could not run: a port, a process or a file (the message names it)
  130  interrupted (Ctrl-C): every node was stopped";

const MERGE_HELP: &str = "\
Example: four shards, on four machines or four processes, then one result:
  faultline sweep raft/nemesis --seeds 0..10000 --shard 1/4 --json > shard1.json   (and 2/4, 3/4, 4/4)
  faultline merge shard*.json
The shards must be of one scenario with one budget, each seed in one shard; the
scenario must be readable where they are merged (the same checkout).

Exit codes: as `faultline sweep` (0 as expected, 1 a check failed, 3 unknown seeds
only); 2 bad input (the message names the file and line).";

const GRADE_HELP: &str = "\
Example: grade your Raft on the MIT Lab 3 suite, with the instructor's hidden seeds:
  FAULTLINE_GRADE_SECRET=... cargo run -- grade raft --protocol myraft

Exit codes:
  0  full marks
  1  below full marks (each failing part lists its seeds, replay commands and a viewer)
  2  bad input or usage (the message names the file and line)";

const SHRINK_HELP: &str = "\
Example: the zoo's Raft without the log check, seed 2, shrunk:
  faultline shrink zoo/raft-vote-without-log-check --seed 2
  faultline run runs/zoo-raft-vote-without-log-check-seed2-shrunk.toml

Exit codes:
  0  shrunk: the file written fails the same check on its own
  2  bad input or usage, or a seed that fails nothing (there is nothing to shrink)
  4  the shrinker broke (the seed did not replay written out): please report it";

const EXPLORE_HELP: &str = "\
Example: Raft that votes without the log check, three nodes:
  faultline explore explore/raft --variant vote-without-log-check --clients 0
States are told apart by a fingerprint of every node's state, disk and armed timers,
the messages in flight and the clients. Any armed timer may fire at any step.
A counterexample is written as a scenario file whose [schedule] lists its steps, and
replayed into a run folder with its viewer:
  faultline run runs/explore-raft-vote-without-log-check.toml

Exit codes:
  0  as the scenario expects (expect = \"pass\": nothing failed; \"fail\": a failure was found)
  1  otherwise (the counterexample's steps are printed, its file and run folder written)
  2  bad input or usage (the message names the file and line)
  4  a counterexample did not replay from the file written (a bug: please report it)";

const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  linearizable
  1  not linearizable (the operation that cannot be placed is named)
  2  bad input or usage (the message names the file and line)
  3  unknown: the search budget ran out first (raise it with --budget)";

const EXIT_CODES: &str = "\
Exit codes:
  0  every check came out as expected (passed, or failed where the scenario says expect = \"fail\")
  1  a check came out other than expected (the replay command is printed)
  2  bad input or usage (the message names the file, line and column)
  3  unknown: nothing failed, but the linearizability search spent its budget (raise it with --budget)";

/// `--budget`, as clap reads it: a bad value is a usage error that says what to write.
fn parse_budget(text: &str) -> Result<Budget, String> {
    Budget::parse(text)
}

#[derive(Parser, Debug)]
#[command(
    name = "faultline",
    version,
    about = "A deterministic distributed-systems simulator and teaching lab",
    long_about = "faultline runs protocol implementations (Raft, Paxos, 2PC, 3PC, consistent hashing, ...) \
in a seeded discrete-event simulation under partitions, message faults, crashes and clock skew, \
then checks the run: linearizability of the client history and each protocol's invariants. \
The same scenario and seed always give the same trace, byte for byte.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// `--protocol` and `--variant`: a scenario run on another protocol or variant than
/// the one its file names.
#[derive(Args, Debug)]
pub struct OnProtocol {
    /// Run it on this protocol instead of the one the file names: your own, registered
    /// beside the bundled ones (`faultline list` shows them all)
    #[arg(long, value_name = "NAME")]
    protocol: Option<String>,
    /// Run this variant of the protocol instead of the file's (a bug-zoo variant, say)
    #[arg(long, value_name = "VARIANT")]
    variant: Option<String>,
}

impl OnProtocol {
    /// `scenario` as these flags (and `expect`) name it.
    fn named<'a>(&'a self, scenario: &'a str, expect: Option<Expect>) -> Named<'a> {
        Named { scenario, protocol: self.protocol.as_deref(), variant: self.variant.as_deref(), expect }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run a scenario with one seed, check it, and write a run folder
    #[command(after_help = EXIT_CODES)]
    Run {
        /// A scenario file, or the name of a bundled scenario (see `faultline list`)
        scenario: Option<String>,
        /// The seed; defaults to the scenario's `seed`, else 1
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        on: OnProtocol,
        /// Hold the checks to this instead of the file's `expect`: a zoo file run on a
        /// correct variant must pass (`faultline grade` replays say so)
        #[arg(long, value_enum)]
        expect: Option<ExpectArg>,
        /// Where to write the run folder [default: runs/SCENARIO-seedN]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the process's peak memory (VmHWM) when done
        #[arg(long, hide = true)]
        peak_memory: bool,
        /// The linearizability checker's budget, instead of the scenario's `[check] budget`
        #[arg(long, value_name = "BUDGET", value_parser = parse_budget)]
        budget: Option<Budget>,
        /// Also draw reports into the run folder: "all" (the default), "svg" (messages.svg,
        /// operations.svg) or "html" (viewer.html)
        #[arg(long, value_name = "all|svg|html", num_args = 0..=1, default_missing_value = "all")]
        report: Option<String>,
        /// Print the result as one JSON object (the summary.json of the run, with the run
        /// folder, the replay command and the reports drawn) instead of text
        #[arg(long)]
        json: bool,
    },
    /// Grade a protocol on a suite of scenarios: each part's points for every seed (public,
    /// and hidden ones from the instructor's secret) coming out as its scenario expects
    #[command(after_help = GRADE_HELP)]
    Grade {
        /// A suite file, or the name of a bundled suite (raft, paxos, twopc, store)
        suite: String,
        /// The protocol to grade, in place of the one the suite's scenarios name (yours)
        #[arg(long, value_name = "NAME")]
        protocol: Option<String>,
        /// Grade this variant of it (a bug-zoo variant, say) instead of "correct"
        #[arg(long, value_name = "VARIANT")]
        variant: Option<String>,
        /// A file holding the secret the hidden seeds are derived from [default: the
        /// FAULTLINE_GRADE_SECRET environment variable; without either, public seeds only]
        #[arg(long, value_name = "FILE")]
        secret_file: Option<PathBuf>,
        /// Where to write the run folders (with viewers) of failing seeds [default: runs/grade]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads [default: number of cores]
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Print the grade as one JSON object, for autograders
        #[arg(long)]
        json: bool,
    },
    /// Start a lab: write a crate in which you implement a protocol (Raft, Paxos, 2PC)
    /// that faultline runs, checks and grades; with no arguments, list the labs
    Lab {
        /// The lab: raft, paxos or twopc
        lab: Option<String>,
        /// The directory to write the crate to (new, or empty)
        dir: Option<PathBuf>,
        /// The faultline checkout the crate depends on [default: the one this binary was built from]
        #[arg(long, value_name = "DIR")]
        faultline: Option<PathBuf>,
    },
    /// Run a scenario's protocol for real: one OS process per node on loopback sockets,
    /// real crashes (kill -9, restart from the node's files) and pauses (SIGSTOP), each
    /// message held for the scenario's link latency, the scenario's workload from real
    /// clients, judged by the same checkers
    #[command(after_help = CLUSTER_EXIT_CODES)]
    Cluster {
        /// A scenario file, or the name of a bundled scenario
        scenario: String,
        /// The seed of the workload's choices and the nodes' random streams [default: the scenario's]
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        on: OnProtocol,
        /// Where to write the run folder [default: runs/cluster-SCENARIO-seedN]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Shrink a failing seed to the smallest scenario that fails the same way: its random
    /// faults and operations written out, then everything the failure does not need
    /// removed; writes the scenario file and its run folder (with the viewer)
    #[command(after_help = SHRINK_HELP)]
    Shrink {
        /// A scenario file, a bundled scenario's name, or a run folder (its seed is the default)
        scenario: String,
        /// The failing seed [default: the run folder's, else the scenario's `seed`]
        #[arg(long)]
        seed: Option<u64>,
        #[command(flatten)]
        on: OnProtocol,
        /// Where to write the shrunk scenario [default: runs/SCENARIO-seedN-shrunk.toml]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Search a small configuration exhaustively: every order of deliveries, losses,
    /// duplicates, timer firings, crashes and restarts within the bounds, breadth-first,
    /// so a failure found comes with a shortest path to it
    #[command(after_help = EXPLORE_HELP)]
    Explore {
        /// A scenario file or a bundled scenario's name (its nodes, protocol and variant)
        scenario: String,
        #[command(flatten)]
        on: OnProtocol,
        /// The most steps on a path (1 to 1000)
        #[arg(long, default_value_t = 12)]
        depth: usize,
        /// The most unique states kept (1 to 100,000,000); the search stops there
        #[arg(long, default_value_t = 2_000_000)]
        states: u64,
        /// The most crashes on a path (0 to 16); a crashed node may restart any time
        #[arg(long, default_value_t = 1)]
        crashes: u32,
        /// The most lost messages on a path (0 to 16)
        #[arg(long, default_value_t = 0)]
        losses: u32,
        /// The most duplicated messages on a path (0 to 16)
        #[arg(long, default_value_t = 0)]
        duplicates: u32,
        /// The most timer firings on a path (0 to 64)
        #[arg(long, default_value_t = 4)]
        timers: u32,
        /// The most memory the search may hold, in MiB (64 to 1048576)
        #[arg(long, value_name = "MIB", default_value_t = 4096)]
        memory: u64,
        /// Clients (0 to 8), each invoking --ops operations one after another [default: the
        /// clients of the scenario's [[workload.operations]], with those operations; none
        /// with `ops = 0`; else 1]
        #[arg(long)]
        clients: Option<usize>,
        /// Operations per client (0 to 16): the scenario's listed ones, else writes to k1
        #[arg(long, default_value_t = 1)]
        ops: usize,
        /// Write a counterexample as a scenario file here [default: runs/NAME.toml,
        /// its run folder runs/NAME/]
        #[arg(long)]
        out: Option<PathBuf>,
        /// Threads searching [default: number of cores]; a complete search and a path
        /// found are the same on any number
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Print the result as one JSON object
        #[arg(long)]
        json: bool,
    },
    /// Run one node of a real cluster until it is killed (`faultline cluster` starts
    /// these; start them yourself to spread a cluster over machines)
    Node {
        /// The scenario whose protocol, variant and configuration the node runs
        scenario: String,
        /// This node: n1, n2, ...
        #[arg(long)]
        node: String,
        /// Every node's address, in node order: 127.0.0.1:7001,127.0.0.1:7002,...
        #[arg(long)]
        peers: String,
        /// The node's own folder: its disk (disk.json) and its trace
        #[arg(long)]
        dir: PathBuf,
        /// Seeds the node's random stream
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The cluster's time zero, in nanoseconds since the Unix epoch [default: now]
        #[arg(long)]
        epoch_ns: Option<u64>,
        /// The membership the node starts in, n1,n2,... [default: the scenario's]
        #[arg(long)]
        members: Option<String>,
        /// The membership view's number
        #[arg(long, default_value_t = 0)]
        view: u64,
        /// Run this protocol instead of the one the file names
        #[arg(long, value_name = "NAME")]
        protocol: Option<String>,
        /// Run this variant instead of the file's
        #[arg(long, value_name = "VARIANT")]
        variant: Option<String>,
    },
    /// Draw the timelines of a run folder again, for a time window or some nodes
    #[command(after_help = REPORT_EXIT_CODES)]
    Report {
        /// A run folder, as `faultline run` writes (runs/NAME-seedN)
        run_dir: PathBuf,
        /// Start of the window, e.g. 1.5s [default: 0]
        #[arg(long)]
        from: Option<String>,
        /// End of the window [default: the end of the run]
        #[arg(long)]
        to: Option<String>,
        /// Only messages of these kinds or to/from these nodes, e.g. --only Append --only n2
        #[arg(long)]
        only: Vec<String>,
    },
    /// Run a scenario over a range of seeds in parallel and list the failing ones
    #[command(after_help = EXIT_CODES)]
    Sweep {
        /// A scenario file, or the name of a bundled scenario
        scenario: String,
        /// Seeds as A..B (B excluded) or A..=B [default: the scenario's `seeds`, else 1..101]
        #[arg(long)]
        seeds: Option<String>,
        #[command(flatten)]
        on: OnProtocol,
        /// Hold the checks to this instead of the file's `expect`: a zoo file run on a
        /// correct variant must pass (`faultline grade` replays say so)
        #[arg(long, value_enum)]
        expect: Option<ExpectArg>,
        /// Worker threads [default: number of cores]
        #[arg(long, short)]
        jobs: Option<usize>,
        /// Run only shard I of N (e.g. 2/4) of the seed range, for batch systems
        #[arg(long)]
        shard: Option<String>,
        /// Do not hash each seed's trace: a little faster (about 15% on Raft), but no digest to compare
        #[arg(long)]
        no_digest: bool,
        /// The linearizability checker's budget for each seed, instead of the scenario's
        /// `[check] budget`; a seed that spends it is counted as unknown, apart from failures
        #[arg(long, value_name = "BUDGET", value_parser = parse_budget)]
        budget: Option<Budget>,
        /// Print one JSON object per seed (seed, verdict, failing checks, trace hash, events), then a summary object
        #[arg(long)]
        json: bool,
    },
    /// Combine the `--json` output of sweep shards into one sweep result (its digest is
    /// the unsharded sweep's when the shards cover the range)
    #[command(after_help = MERGE_HELP)]
    Merge {
        /// Files written by `faultline sweep ... --shard I/N --json > FILE`, in any order
        #[arg(required = true)]
        files: Vec<String>,
        /// Print the merged result as `sweep --json` does: a line per seed, then the summary
        #[arg(long)]
        json: bool,
    },
    /// Check a recorded history for linearizability (ours, Jepsen etcd, Porcupine kv)
    #[command(after_help = CHECK_EXIT_CODES)]
    Check {
        /// A history file: a faultline history.json, a Jepsen etcd log, or a Porcupine EDN file
        file: String,
        /// The file's format [default: detected from its first line]
        #[arg(long, value_name = "faultline|jepsen-etcd|porcupine-kv")]
        format: Option<String>,
        /// The sequential model [default: kv for key-value histories, cas-register for etcd]
        #[arg(long, value_name = "kv|cas-register|register")]
        model: Option<String>,
        /// The search budget before the verdict is unknown: steps per key (`2e6`), or
        /// `steps=N,memory=SIZE,time=DURATION` [default: steps=50000000,memory=64MiB]
        #[arg(long, value_name = "BUDGET", value_parser = parse_budget)]
        budget: Option<Budget>,
        /// Print the verdict as JSON
        #[arg(long)]
        json: bool,
    },
    /// Show protocols, their bug-zoo variants and probes, and the bundled scenarios
    List {
        /// Describe every probe a scenario's [[check.assert]] can use
        #[arg(long)]
        probes: bool,
    },
    /// Print the JSON Schema of scenario files, for editor completion; with
    /// --results, that of what run, sweep, merge and check print with --json
    Schema {
        /// The schema of --json results instead (docs/results.schema.json)
        #[arg(long)]
        results: bool,
    },
    /// Compare consistent-hashing algorithms: keys moved by a membership change
    /// against the optimum, keys moved between members that stayed, load balance,
    /// lookup cost and memory
    #[command(after_help = "Algorithms: mod-n, ring[/VNODES] (default 100), jump, rendezvous, \
maglev[/M] (a prime table size, default 65537), bounded[/C] (a ring with bounded loads, default c = 1.25).\n\
Changes: add[:K], remove[:K], crash[:K] (for placement a crash is a removal).\n\
Exit codes: 0 measured; 2 bad options (the message says what to write).")]
    Hash {
        /// Algorithms, comma-separated, or "all"
        #[arg(long, value_name = "LIST", default_value = "all")]
        algos: String,
        /// Cluster sizes, comma-separated
        #[arg(long, value_name = "LIST", default_value = "10,100,1000")]
        nodes: String,
        /// How many keys
        #[arg(long, default_value_t = 100_000)]
        keys: u64,
        /// The membership change to measure
        #[arg(long, default_value = "add")]
        change: String,
        /// Also write moved.svg and load.svg into this folder
        #[arg(long, value_name = "DIR")]
        chart: Option<PathBuf>,
    },
    /// Measure engine throughput, sweep scaling and memory; prints a Markdown table
    Bench {
        /// Fewer repetitions: a quick look, not numbers to record
        #[arg(long)]
        quick: bool,
        /// Measure consistent-hashing lookups instead (n = 1000, against a linear scan)
        #[arg(long)]
        hash: bool,
    },
}

static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// `--expect`'s values.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExpectArg {
    /// Every check passes.
    Pass,
    /// Some check fails.
    Fail,
}

impl From<ExpectArg> for Expect {
    fn from(e: ExpectArg) -> Expect {
        match e {
            ExpectArg::Pass => Expect::Pass,
            ExpectArg::Fail => Expect::Fail,
        }
    }
}

/// The command's name, as replay lines print it: `faultline`, or the name of a
/// student's binary that runs [`main_with`].
pub fn program() -> &'static str {
    PROGRAM.get().map_or("faultline", String::as_str)
}

/// The whole `faultline` command line, with `protocols` registered beside the
/// bundled ones: what a student's `main` calls to run, sweep, report and view their
/// own implementation.
///
/// ```no_run
/// # use faultline_protocols::Entry;
/// # #[derive(Clone, Debug, PartialEq, Eq, Hash)] struct MyRaft;
/// # impl faultline_sim::Protocol for MyRaft {
/// #     type Msg = (); type Timer = (); type Stored = (); type Config = bool;
/// #     fn start(_: &mut faultline_sim::Ctx<'_, Self>, _: &bool, _: &faultline_sim::disk::Durable<()>) -> Self { MyRaft }
/// #     fn on_message(&mut self, _: &mut faultline_sim::Ctx<'_, Self>, _: faultline_sim::NodeId, _: ()) {}
/// #     fn on_timer(&mut self, _: &mut faultline_sim::Ctx<'_, Self>, _: faultline_sim::TimerId, _: ()) {}
/// #     fn on_request(&mut self, _: &mut faultline_sim::Ctx<'_, Self>, _: faultline_sim::Request) {}
/// # }
/// fn main() -> std::process::ExitCode {
///     const VARIANTS: &[(&str, &str)] = &[("correct", "my Raft"), ("no-persist", "forgets its vote")];
///     faultline::cli::main_with(vec![Entry::of::<MyRaft>("myraft", "my Raft", VARIANTS, |s| s.variant == "correct")])
/// }
/// ```
///
/// Then `cargo run -- run raft/basic-agree --protocol myraft` runs a bundled scenario
/// on it, and every other command works as it does for `faultline`.
pub fn main_with(protocols: Vec<faultline_protocols::Entry>) -> ExitCode {
    // `faultline list | head` should stop quietly when the reader goes away, as other
    // Unix tools do, instead of panicking on the failed write.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let name = std::env::args_os()
        .next()
        .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()));
    if let Some(name) = name {
        let _ = PROGRAM.set(name);
    }
    if let Err(e) = faultline_protocols::register(protocols) {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_BAD_INPUT);
    }
    main(Cli::parse())
}

pub fn main(cli: Cli) -> ExitCode {
    let code = match cli.command {
        Command::Run { scenario, seed, on, expect, out, peak_memory, budget, report, json } => {
            // `run --report pb/basic`: the optional value took the scenario. A value
            // that is no report kind is the scenario, and the reports are all of them.
            let (scenario, report) = match (scenario, report) {
                (Some(s), r) => (s, r),
                (None, Some(r)) if !["all", "svg", "html"].contains(&r.as_str()) => (r, Some("all".into())),
                (None, _) => {
                    eprintln!("error: name a scenario: faultline run SCENARIO (see `faultline list`)");
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            };
            run::run(on.named(&scenario, expect.map(Expect::from)), seed, out, peak_memory, budget, report, json)
        }
        Command::Cluster { scenario, seed, on, out, json } => {
            cluster::cluster(on.named(&scenario, None), seed, out, json)
        }
        Command::Explore {
            scenario,
            on,
            depth,
            states,
            crashes,
            losses,
            duplicates,
            timers,
            memory,
            clients,
            ops,
            out,
            jobs,
            json,
        } => {
            let b = Bounds::default();
            explore::explore(
                on.named(&scenario, None),
                explore::Options {
                    bounds: Bounds { depth, states, crashes, losses, duplicates, timers, ops_per_client: ops, ..b },
                    memory_mib: memory,
                    clients,
                    jobs,
                    out,
                    json,
                },
            )
        }
        Command::Shrink { scenario, seed, on, out, json } => shrink::shrink(on.named(&scenario, None), seed, out, json),
        Command::Node { scenario, node, peers, dir, seed, epoch_ns, members, view, protocol, variant } => {
            cluster::node(cluster::NodeArgs {
                scenario,
                protocol,
                variant,
                node,
                peers,
                dir,
                seed,
                epoch_ns,
                members,
                view,
            })
        }
        Command::Report { run_dir, from, to, only } => report::report(&run_dir, from.as_deref(), to.as_deref(), &only),
        Command::Sweep { scenario, seeds, on, expect, jobs, shard, no_digest, budget, json } => sweep::sweep(
            on.named(&scenario, expect.map(Expect::from)),
            sweep::Options { seeds, jobs, shard, no_digest, budget, json },
        ),
        Command::Merge { files, json } => merge::merge(&files, json),
        Command::Grade { suite, protocol, variant, secret_file, out, jobs, json } => {
            grade::grade(&suite, grade::Options { protocol, variant, secret_file, out, jobs, json })
        }
        Command::Lab { lab, dir, faultline } => lab::lab(lab.as_deref(), dir.as_deref(), faultline.as_deref()),
        Command::Check { file, format, model, budget, json } => check::run(&file, format, model, budget, json),
        Command::List { probes: false } => list::list(),
        Command::List { probes: true } => list::probes(),
        Command::Schema { results: false } => {
            println!("{}", faultline_sim::scenario::json_schema());
            EXIT_OK
        }
        Command::Schema { results: true } => {
            print!("{}", include_str!("../docs/results.schema.json"));
            EXIT_OK
        }
        Command::Hash { algos, nodes, keys, change, chart } => {
            hash::hash(Some(&algos), Some(&nodes), Some(keys), Some(&change), chart.as_deref())
        }
        Command::Bench { quick, hash: false } => bench::bench(quick),
        Command::Bench { quick, hash: true } => bench::hash_bench(quick),
    };
    ExitCode::from(code)
}

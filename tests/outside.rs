//! faultline is a library a protocol author depends on from outside this
//! repository: `tests/outside/register` is such a crate (a student's register, with
//! a correct and a broken variant), whose `main` is the whole faultline command line
//! with the register registered beside the bundled protocols. This test copies it
//! to a fresh directory, gives it a manifest with path dependencies on `sim/` and
//! the repository's own crate, builds it with cargo, and runs its command line: a
//! bundled scenario (`pb/basic`, unchanged) run and swept on the register passes
//! every seed, and the variant without a session table is caught, with a replay
//! line that names the register.

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(binary: &Path, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(binary).args(args).current_dir(dir).output().expect("the register binary runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn a_protocol_written_outside_the_workspace_runs_a_bundled_scenario() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("faultline-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).expect("a temporary crate directory");
    std::fs::copy(repo.join("tests/outside/register/src/main.rs"), dir.join("src/main.rs")).expect("copy main.rs");
    // The versions the workspace pinned, so that the build needs nothing new.
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    let manifest = format!(
        "[package]\nname = \"register\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[dependencies]\n\
         faultline-sim = {{ path = {:?} }}\nfaultline = {{ path = {:?} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n",
        repo.join("sim").display().to_string(),
        repo.display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).expect("write Cargo.toml");

    let target = repo.join("target/outside");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let build = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("cargo runs");
    assert!(build.status.success(), "the outside crate builds:\n{}", String::from_utf8_lossy(&build.stderr));
    let binary = target.join("debug/register");

    let (code, text) = run(&binary, &dir, &["list"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("  register   a register held by n1") && text.contains("    no-dedup "), "{text}");
    assert!(text.contains("  raft "), "the bundled protocols are still there:\n{text}");

    let (code, text) = run(&binary, &dir, &["run", "pb/basic", "--protocol", "register", "--seed", "3"]);
    assert_eq!(code, Some(0), "the correct register passes pb/basic:\n{text}");
    assert!(text.contains("(register, correct)"), "the summary names the protocol it ran:\n{text}");
    assert!(dir.join("runs/pb-basic-seed3/trace.jsonl").exists(), "a run folder, as faultline writes it");

    let (code, text) = run(&binary, &dir, &["sweep", "pb/basic", "--protocol", "register", "--seeds", "1..21"]);
    assert_eq!(code, Some(0), "every seed passes:\n{text}");

    let basic = repo.join("scenarios/pb/basic.toml");
    let broken =
        std::fs::read_to_string(&basic).expect("pb/basic").replace("variant = \"correct\"", "variant = \"no-dedup\"");
    assert!(broken.contains("no-dedup"), "pb/basic names its variant");
    std::fs::write(dir.join("no-dedup.toml"), broken).expect("write the broken scenario");
    let args = ["sweep", "no-dedup.toml", "--protocol", "register", "--seeds", "1..21", "--jobs", "1"];
    let (code, text) = run(&binary, &dir, &args);
    assert_eq!(code, Some(1), "a register that applies retries twice is caught:\n{text}");
    assert!(text.contains("replay: register run no-dedup.toml --seed"), "{text}");
    assert!(text.contains("--protocol register"), "{text}");

    // explore searches it through the same registration: complete, nothing fails.
    let args = ["explore", "pb/basic", "--protocol", "register", "--depth", "6", "--clients", "2", "--json"];
    let (code, text) = run(&binary, &dir, &args);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"stop\":\"complete\"") && text.contains("\"counterexample\":null"), "{text}");
    // A schedule written by hand runs on it: each step taken, the history checked.
    let schedule = r#"name = "a register, step by step"
protocol = "register"
nodes = 3
duration = "1m"

[workload]
clients = 1

[[workload.operations]]
client = "c1"
at = "0s"
op = "put"
key = "k1"
value = "x"

[[workload.operations]]
client = "c1"
at = "0s"
op = "get"
key = "k1"

[check]
linearizable = true

[schedule]
steps = ["c1 asks n1: put k1 = \"x\"", "c1 hears Done", "c1 asks n1: get k1", "c1 hears Value(\"x\")"]
"#;
    std::fs::write(dir.join("steps.toml"), schedule).expect("write the schedule");
    let (code, text) = run(&binary, &dir, &["run", "steps.toml"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("2 ops: 2 ok") && text.contains("linearizable: yes"), "{text}");
    std::fs::write(dir.join("early.toml"), schedule.replace("\"c1 hears Done\", ", "")).expect("write");
    let (code, text) = run(&binary, &dir, &["run", "early.toml"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("early.toml:26:") && text.contains("schedule step 2: \"c1 asks n1: get k1\" cannot"),
        "{text}"
    );

    let (code, text) = run(&binary, &dir, &["run", "pb/basic", "--protocol", "nosuch"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("unknown protocol \"nosuch\""), "{text}");

    std::fs::remove_dir_all(&dir).expect("remove the temporary crate");
}

//! faultline-sim is a library a protocol author depends on from outside this
//! repository: `tests/outside/register` is such a crate (a student's register, with
//! a correct and a broken variant). This test copies it to a fresh directory, gives
//! it a manifest with a path dependency on `sim/`, builds it with cargo, and runs a
//! bundled scenario (`pb/basic`, unchanged) on it: the correct variant passes every
//! seed, and the variant without a session table is caught.

use std::path::{Path, PathBuf};
use std::process::Command;

const SEEDS: &str = "20";

fn run(binary: &Path, scenario: &Path) -> (Option<i32>, String) {
    let out = Command::new(binary).arg(scenario).arg(SEEDS).output().expect("the register binary runs");
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
         faultline-sim = {{ path = {:?} }}\nserde = {{ version = \"1\", features = [\"derive\"] }}\n\n[workspace]\n",
        repo.join("sim").display().to_string()
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

    let basic = repo.join("scenarios/pb/basic.toml");
    let (code, text) = run(&binary, &basic);
    assert_eq!((code, text.trim()), (Some(0), "caught 0 of 20"), "the correct register passes pb/basic");

    let broken =
        std::fs::read_to_string(&basic).expect("pb/basic").replace("variant = \"correct\"", "variant = \"no-dedup\"");
    assert!(broken.contains("no-dedup"), "pb/basic names its variant");
    let broken_path = dir.join("no-dedup.toml");
    std::fs::write(&broken_path, broken).expect("write the broken scenario");
    let (code, text) = run(&binary, &broken_path);
    assert_eq!(code, Some(1), "a register that applies retries twice is caught: {text}");
    let caught: u32 =
        text.trim().strip_prefix("caught ").and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(caught > 0, "{text}");

    std::fs::remove_dir_all(&dir).expect("remove the temporary crate");
}

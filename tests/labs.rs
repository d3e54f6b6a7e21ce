//! The lab kit: `faultline lab NAME DIR` writes a lab's crate outside the
//! repository, with path dependencies on this checkout; `cargo run -- grade ...` in
//! it builds the untouched skeleton and grades it. A skeleton's handlers do
//! nothing, so it must score zero on every part of its suite, and the grader must
//! come through that (exit code 1, a failure named for every part, no panic).

use std::path::{Path, PathBuf};
use std::process::Command;

fn faultline(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).output().expect("faultline runs");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

/// The suite's grade of the bundled reference, for its list of parts.
fn reference(suite: &str) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["grade", suite, "--json", "--out"])
        .arg(std::env::temp_dir().join(format!("faultline-labs-ref-{suite}-{}", std::process::id())))
        .env_remove("FAULTLINE_GRADE_SECRET")
        .output()
        .expect("faultline runs");
    serde_json::from_slice(&out.stdout).expect("grade --json prints JSON")
}

fn grade_skeleton(lab: &str, suite: &str, protocol: &str) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("faultline-lab-{lab}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, text) = faultline(&["lab", lab, dir.to_str().expect("a UTF-8 temporary path")]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("cargo run -- grade {suite} --protocol {protocol}")), "{text}");
    for file in ["Cargo.toml", "Cargo.lock", "README.md", "src/main.rs"] {
        assert!(dir.join(file).is_file(), "the lab has {file}");
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("its manifest");
    assert!(manifest.contains(&format!("path = {:?}", repo.join("sim").display().to_string())), "{manifest}");

    // One cargo run, as the lab's README says, built where the outside test builds.
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--offline", "--quiet", "--", "grade", suite, "--protocol", protocol, "--json", "--out"])
        .arg(dir.join("runs"))
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", repo.join("target/outside"))
        .env_remove("FAULTLINE_GRADE_SECRET")
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{lab}: the skeleton builds and grades below full marks:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    assert_eq!(g["protocol"], protocol, "{g}");
    assert_eq!(g["earned"], 0, "{lab}: a skeleton that does nothing earns nothing: {g}");
    let parts = g["parts"].as_array().expect("parts");
    let expected = reference(suite);
    assert_eq!(parts.len(), expected["parts"].as_array().expect("parts").len(), "every part was graded");
    for p in parts {
        let failing = p["failing"].as_array().expect("failing seeds");
        assert!(!failing.is_empty(), "{lab}: part {} names the seeds it failed on", p["name"]);
        for f in failing {
            let why = f["failures"][0].as_str().unwrap_or("");
            assert!(!why.is_empty() && !why.contains("panicked"), "{lab}, {}: {why}", p["name"]);
        }
    }
    std::fs::remove_dir_all(&dir).expect("remove the lab");
}

#[test]
fn the_raft_skeleton_builds_outside_the_repository_and_scores_zero() {
    grade_skeleton("raft", "raft", "myraft");
}

#[test]
fn the_paxos_skeleton_builds_outside_the_repository_and_scores_zero() {
    grade_skeleton("paxos", "paxos", "mypaxos");
}

#[test]
fn the_twopc_skeleton_builds_outside_the_repository_and_scores_zero() {
    grade_skeleton("twopc", "twopc", "mytwopc");
}

#[test]
fn a_lab_is_never_written_over_anything() {
    let (code, text) = faultline(&["lab"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("raft") && text.contains("paxos") && text.contains("twopc"), "{text}");

    let (code, text) = faultline(&["lab", "nosuch", "x"]);
    assert_eq!((code, text.contains("the labs: raft, paxos, twopc")), (Some(2), true), "{text}");

    let dir = std::env::temp_dir().join(format!("faultline-lab-full-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory");
    std::fs::write(dir.join("mine.rs"), "fn main() {}").expect("a file of the student's");
    let (code, text) = faultline(&["lab", "raft", dir.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not empty; nothing was written"), "{text}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "nothing was added");

    let (code, text) = faultline(&["lab", "raft", dir.join("new").to_str().unwrap(), "--faultline", "/nonexistent"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("not a faultline checkout"), "{text}");
    assert!(!Path::new(&dir.join("new")).exists(), "nothing was written");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// The book's "Doing the labs" chapter, run as a reader would: each `$ ` line of
/// its console blocks (`faultline ...`, `cd DIR`, `cargo ...`) runs in turn in a
/// fresh directory, and every line shown after it (but `...`) must be a line the
/// command prints.
#[test]
fn the_labs_chapter_runs_as_written() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let page = std::fs::read_to_string(repo.join("book/src/labs.md")).expect("the labs chapter");
    let mut steps: Vec<(String, Vec<String>)> = Vec::new();
    let mut fence: Option<usize> = None;
    for line in page.lines() {
        let indent = line.len() - line.trim_start().len();
        match fence {
            None if line.trim_start().starts_with("```console") => fence = Some(indent),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => fence = None,
            Some(at) => {
                let text = line.get(at..).unwrap_or("").to_string();
                match text.strip_prefix("$ ") {
                    Some(cmd) => steps.push((cmd.to_string(), Vec::new())),
                    None if text == "..." => {}
                    None => steps.last_mut().expect("output follows a command").1.push(text),
                }
            }
        }
    }
    assert!(steps.len() >= 5, "the chapter runs commands: {steps:?}");
    let mut cwd = std::env::temp_dir().join(format!("faultline-labs-book-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).expect("a directory to work in");
    let root = cwd.clone();
    for (cmd, shown) in &steps {
        let words: Vec<&str> = cmd.split_whitespace().collect();
        let mut command = match words[0] {
            "cd" => {
                cwd = cwd.join(words[1]);
                continue;
            }
            "faultline" => Command::new(env!("CARGO_BIN_EXE_faultline")),
            "cargo" => {
                let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
                c.env("CARGO_TARGET_DIR", repo.join("target/outside")).env("CARGO_NET_OFFLINE", "true");
                c
            }
            other => panic!("the chapter runs `{other}`, which this test does not know"),
        };
        let out = command.args(&words[1..]).current_dir(&cwd).env_remove("FAULTLINE_GRADE_SECRET").output();
        let out = out.unwrap_or_else(|e| panic!("`{cmd}`: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        for line in shown {
            assert!(text.lines().any(|l| l == line), "`{cmd}` no longer prints {line:?}; it prints:\n{text}");
        }
    }
    std::fs::remove_dir_all(&root).expect("clean up");
}

//! The batch-system examples in `docs/batch/` run as written: each file's own shell
//! commands are taken out of it and run here, one process per shard (as the CI
//! matrix or the Kubernetes Indexed Job would), then merged with the file's own merge
//! command. Only the seed range is cut (the examples sweep 10,000 and 1,000,000 seeds)
//! and paths point into a temporary folder. The merged result must be the unsharded
//! sweep's: the same digest, the same counts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The seeds the examples' sweeps are cut to.
const SEEDS: &str = "0..12";

fn repo() -> &'static str {
    env!("CARGO_MANIFEST_DIR")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-batch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn read(example: &str) -> String {
    let path = Path::new(repo()).join("docs/batch").join(example);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `script` with `sh -c` in the repository, `faultline` on the PATH.
fn shell(script: &str, bin: &Path, env: &[(&str, String)]) -> Output {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).current_dir(repo()).env("PATH", path);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run sh")
}

/// A folder holding `faultline`, a link to the binary under test.
fn bin_dir(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_faultline"), bin.join("faultline")).expect("link faultline");
    bin
}

fn digest(json: &str) -> String {
    let summary = json.lines().last().expect("a summary line");
    let v: serde_json::Value = serde_json::from_str(summary).unwrap_or_else(|e| panic!("{summary}: {e}"));
    v["summary"]["digest"].as_str().unwrap_or_else(|| panic!("no digest in {summary}")).to_string()
}

/// The unsharded sweep the examples split, over the cut seed range.
fn whole(scenario: &str, bin: &Path) -> String {
    let o = shell(&format!("faultline sweep {scenario} --seeds {SEEDS} --json"), bin, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_kubernetes_indexed_job_runs_as_written() {
    let text = read("k8s-indexed-job.yaml");
    let completions: usize = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("completions:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("completions: N");
    // The container's script: the folded block after `- >-`, up to `volumeMounts`.
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "- >-").expect("the args block") + 1;
    let script: Vec<&str> =
        lines[start..].iter().map(|l| l.trim()).take_while(|l| !l.starts_with("volumeMounts:")).collect();
    let script = script.join(" ");
    assert!(script.contains("--seeds 0..1000000"), "{script}");
    let merge = text
        .lines()
        .find_map(|l| l.trim_start_matches('#').trim().strip_prefix("faultline merge "))
        .expect("the merge command in the header");

    let dir = temp("k8s");
    let bin = bin_dir(&dir);
    let results = dir.join("results");
    std::fs::create_dir_all(&results).expect("results");
    let script = script.replace("0..1000000", SEEDS).replace("/results", &results.to_string_lossy());
    for index in 0..completions {
        let o = shell(&script, &bin, &[("JOB_COMPLETION_INDEX", index.to_string())]);
        assert_eq!(o.status.code(), Some(0), "pod {index}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let merge = format!("faultline merge {} --json", merge.replace("/results", &results.to_string_lossy()));
    let merged = shell(&merge, &bin, &[]);
    assert_eq!(merged.status.code(), Some(0), "{}", String::from_utf8_lossy(&merged.stderr));
    let merged = String::from_utf8_lossy(&merged.stdout).into_owned();
    let unsharded = whole("raft/nemesis", &bin);
    assert_eq!(digest(&merged), digest(&unsharded), "the merged shards are the unsharded sweep");
    assert_eq!(merged, unsharded, "seed for seed");
}

#[test]
fn the_ci_matrix_runs_as_written() {
    let text = read("github-actions.yml");
    let shards: Vec<String> = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("shard: [")?.strip_suffix(']'))
        .expect("the matrix")
        .split(',')
        .map(|s| s.trim().to_string())
        .collect();
    let runs: Vec<&str> =
        text.lines().filter_map(|l| l.trim().strip_prefix("- run: target/release/faultline ")).collect();
    let sweep = runs.iter().find(|r| r.starts_with("sweep ")).expect("the shard's sweep");
    let merge = runs.iter().find(|r| r.starts_with("merge ")).expect("the merge");
    assert!(sweep.contains("--seeds 0..10000"), "{sweep}");

    let dir = temp("ci");
    let bin = bin_dir(&dir);
    let out = |s: &str| s.replace("shard-", &format!("{}/shard-", dir.display()));
    for shard in &shards {
        let script =
            format!("faultline {}", out(sweep).replace("0..10000", SEEDS).replace("${{ matrix.shard }}", shard));
        let o = shell(&script, &bin, &[]);
        assert_eq!(o.status.code(), Some(0), "shard {shard}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let merged = shell(&format!("faultline {} --json", out(merge)), &bin, &[]);
    assert_eq!(merged.status.code(), Some(0), "{}", String::from_utf8_lossy(&merged.stderr));
    let merged = String::from_utf8_lossy(&merged.stdout).into_owned();
    assert_eq!(digest(&merged), digest(&whole("raft/nemesis", &bin)), "the merged shards are the unsharded sweep");
}

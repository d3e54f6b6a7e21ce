//! Timelines: `faultline run --report` and `faultline report` draw what the run wrote,
//! byte-stable, with the failing operation marked; bad input gets exit code 2.

use std::path::{Path, PathBuf};
use std::process::Command;

use faultline::cli::run::run_to_dir;
use faultline_reports::Window;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run(name: &str, dir: &Path) {
    let s = faultline::cli::load_scenario(name).expect("bundled scenario");
    run_to_dir(&s, s.seed, dir).expect("run");
}

fn window(from_ms: u64, to_ms: u64) -> Window {
    Window { from: from_ms * 1_000_000, to: Some(to_ms * 1_000_000), only: Vec::new() }
}

fn render(dir: &Path, w: &Window) -> (String, String) {
    faultline::cli::report::render(dir, w).expect("render");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).expect(f);
    (read("messages.svg"), read("operations.svg"))
}

#[test]
fn an_election_as_a_message_timeline() {
    let dir = temp("election");
    run("raft/initial-election", &dir);
    let (messages, _) = render(&dir, &window(0, 400));
    // Three lifelines, named.
    for n in ["n1", "n2", "n3"] {
        assert!(messages.contains(&format!(">\n{n}\n</text>")), "lifeline {n}");
    }
    assert!(messages.contains("\nRequestVote\n") && messages.contains("\nAppend\n"), "messages are labelled");
    assert!(messages.contains("leader, term 1"), "the role change is annotated");
    insta::assert_snapshot!("initial-election-messages", messages);
    // The same run drawn again is the same bytes.
    assert_eq!(render(&dir, &window(0, 400)).0, messages);
}

#[test]
fn a_stale_read_is_outlined_on_the_operation_timeline() {
    let dir = temp("stale");
    run("zoo/raft-stale-reads", &dir);
    let (messages, operations) = render(&dir, &window(1500, 1600));
    assert!(operations.contains("NOT linearizable on key k1"), "the verdict is the title");
    assert!(operations.contains("operation 60: get k1 -&gt; 2.8"), "the stuck operation is named");
    // The cause: put "2.8" (operation 33, at 0.91s) is left of this window; the five
    // puts that replaced it before the read began are outlined where they fall in it.
    assert!(!operations.contains("wrote the value read"), "the source is outside 1.5s to 1.6s");
    let summary = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    assert!(summary.contains("\\\"2.8\\\" was written by operation 33"), "the cause is in the summary: {summary}");
    let (_, wide) = render(&dir, &window(900, 1600));
    assert!(wide.contains("wrote the value read") && wide.contains("overwrote it"), "the cause is marked");
    assert!(messages.contains("partition n1 n2 | n3"), "the partition is shaded and named");
    insta::assert_snapshot!("stale-reads-operations", operations);
    insta::assert_snapshot!("stale-reads-messages", messages);
}

#[test]
fn only_filters_messages_by_kind_or_node() {
    let dir = temp("only");
    run("raft/initial-election", &dir);
    let mut w = window(0, 400);
    w.only = vec!["Vote".into()];
    let (messages, _) = render(&dir, &w);
    assert!(messages.contains("\nVote\n") && !messages.contains("RequestVote"), "only Vote messages drawn");
}

#[test]
fn the_cli_draws_reports_and_rejects_bad_input_with_exit_2() {
    let exe = env!("CARGO_BIN_EXE_faultline");
    let dir = temp("cli");
    let o = Command::new(exe)
        .args(["run", "zoo/raft-stale-reads", "--report", "all", "--out"])
        .arg(&dir)
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("report     messages.svg, operations.svg, viewer.html"));
    for f in ["messages.svg", "operations.svg", "viewer.html", "summary.json"] {
        assert!(dir.join(f).is_file(), "{f} written");
    }

    let svg_only = temp("cli-svg");
    let o =
        Command::new(exe).args(["run", "raft/initial-election", "--report", "svg", "--out"]).arg(&svg_only).output();
    assert_eq!(o.expect("run").status.code(), Some(0));
    assert!(svg_only.join("messages.svg").is_file() && !svg_only.join("viewer.html").exists());

    let o = Command::new(exe).args(["run", "raft/initial-election", "--report", "pdf"]).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--report all (the default), --report svg or --report html"));

    let o = Command::new(exe).args(["report"]).arg(&dir).args(["--from", "2s", "--to", "1s"]).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--from must be before --to"));

    let missing = temp("nothing-here");
    let o = Command::new(exe).arg("report").arg(&missing).output().expect("run");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("trace.jsonl") && err.contains("help: give a run folder"), "{err}");
}

/// The pictures in the README and the book are drawn from real runs, and this fails
/// if one is stale. Regenerate them with `FAULTLINE_UPDATE_README=1 cargo test --test report`.
#[test]
fn the_readme_and_book_pictures_are_current() {
    // (scenario, window in ms, picture, the page that shows it)
    let figures = [
        ("zoo/raft-commit-old-term", (800, 1200), "docs/figure-8-messages.svg", "README.md"),
        (
            "commit/twopc-coordinator-crash",
            (950, 3100),
            "book/src/figures/twopc-coordinator-crash.svg",
            "book/src/commit.md",
        ),
        (
            "commit/threepc-coordinator-crash",
            (950, 3100),
            "book/src/figures/threepc-coordinator-crash.svg",
            "book/src/commit.md",
        ),
        ("commit/threepc-partition", (960, 1450), "book/src/figures/threepc-partition.svg", "book/src/commit.md"),
        ("paxos/synod", (15, 75), "book/src/figures/synod-messages.svg", "book/src/paxos.md"),
        (
            "explore/raft-vote-without-log-check",
            (0, 100_000),
            "book/src/figures/explore-raft-vote-without-log-check.svg",
            "book/src/shrinking.md",
        ),
    ];
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (name, (from, to), picture, page) in figures {
        let dir = temp(&name.replace('/', "-"));
        run(name, &dir);
        let (messages, _) = render(&dir, &window(from, to));
        check_picture(root, picture, &messages, page);
    }
    // The image store's transactions, drawn with only their own messages.
    // And a new shard's arrival, drawn with only the rebalancing's messages.
    let txn = ["Prepare", "Voted", "Decision", "Done"];
    let moves = ["Epochs", "Know", "Handoff", "Took"];
    for (name, (from, to), picture, only) in [
        ("images/happy", (690, 860), "book/src/figures/images-upload.svg", txn),
        ("zoo/images-majority-commit", (2530, 2580), "book/src/figures/images-majority-commit.svg", txn),
        ("images/grow", (1995, 2080), "book/src/figures/images-grow.svg", moves),
    ] {
        let dir = temp(&name.replace('/', "-"));
        run(name, &dir);
        let mut w = window(from, to);
        w.only = only.map(String::from).to_vec();
        let (messages, _) = render(&dir, &w);
        check_picture(root, picture, &messages, "book/src/images.md");
    }
    // The stream job's output charts, as `faultline run stream/... --report` draws them.
    for name in ["stream/task-crash", "zoo/stream-commit-on-barrier", "zoo/stream-forget-pending"] {
        let dir = temp(&name.replace('/', "-"));
        run(name, &dir);
        render(&dir, &Window::default());
        let drawn = std::fs::read_to_string(dir.join("output.svg")).expect("output.svg");
        let picture = format!("book/src/figures/{}-output.svg", name.trim_start_matches("zoo/").replace('/', "-"));
        check_picture(root, &picture, &drawn, "book/src/stream.md");
    }
    // The store's migration chart, as `faultline run chash/grow --report` draws it.
    let dir = temp("chash-grow");
    run("chash/grow", &dir);
    render(&dir, &window(0, 6000));
    let drawn = std::fs::read_to_string(dir.join("migration.svg")).expect("migration.svg");
    check_picture(root, "book/src/figures/chash-grow-migration.svg", &drawn, "book/src/hashing.md");
    // The consistent-hashing chapter's charts, from `faultline hash --keys 1000000`.
    let o = faultline::cli::hash::options(None, None, Some(1_000_000), None).expect("options");
    let dir = temp("hash-charts");
    faultline::cli::hash::charts(&o, &faultline::cli::hash::rows(&o), &dir).expect("charts");
    for (svg, picture) in
        [("moved.svg", "book/src/figures/hash-moved.svg"), ("load.svg", "book/src/figures/hash-load.svg")]
    {
        let drawn = std::fs::read_to_string(dir.join(svg)).expect("drawn");
        check_picture(root, picture, &drawn, "book/src/hashing.md");
    }
}

/// `picture` on disk is `drawn` (written first with FAULTLINE_UPDATE_README), and `page`
/// shows it.
fn check_picture(root: &Path, picture: &str, drawn: &str, page: &str) {
    let committed = root.join(picture);
    if std::env::var_os("FAULTLINE_UPDATE_README").is_some() {
        std::fs::create_dir_all(committed.parent().expect("a folder")).expect("mkdir");
        std::fs::write(&committed, drawn).expect("write the picture");
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_else(|_| panic!("{picture} is committed"));
    assert!(
        on_disk == drawn,
        "{picture} is stale: regenerate it with FAULTLINE_UPDATE_README=1 cargo test --test report"
    );
    let text = std::fs::read_to_string(root.join(page)).expect("the page");
    let link = picture.strip_prefix("book/src/").unwrap_or(picture);
    assert!(text.contains(&format!("({link})")), "{page} shows {picture}");
}

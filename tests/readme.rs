//! The README's tour shows real output: every ```console block that runs `faultline`
//! is run here and must print exactly what the README says. After a change that moves
//! the output on purpose, regenerate with:
//!
//!     FAULTLINE_UPDATE_README=1 cargo test --test readme

mod common;

use std::process::Command;

/// One `$ faultline ...` line of a console block and the lines after it.
struct Example {
    args: Vec<String>,
    /// Line range in the README of the expected output.
    lines: std::ops::Range<usize>,
}

fn examples(lines: &[&str]) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_console = false;
    let mut current: Option<Example> = None;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("```console") {
            in_console = true;
        } else if in_console && line.starts_with("```") {
            in_console = false;
            out.extend(current.take());
        } else if !in_console {
        } else if let Some(cmd) = line.strip_prefix("$ faultline ") {
            out.extend(current.take());
            current = Some(Example { args: cmd.split_whitespace().map(String::from).collect(), lines: i + 1..i + 1 });
        } else if let Some(ex) = &mut current {
            ex.lines.end = i + 1;
        }
    }
    out
}

fn run(args: &[String]) -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).current_dir(root).output().expect("run");
    // A sweep's progress lines (stderr when it is not a terminal) are a bar on a
    // terminal, where the README's reader runs it: they are left out.
    let stderr: String = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| !l.starts_with("progress   "))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{}{stderr}", String::from_utf8_lossy(&out.stdout))
}

#[test]
fn readme_examples_print_what_the_readme_says() {
    let path = format!("{}/README.md", env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let lines: Vec<&str> = readme.lines().collect();
    let examples = examples(&lines);
    assert!(examples.len() >= 5, "found {} examples", examples.len());
    if std::env::var_os("FAULTLINE_UPDATE_README").is_some() {
        let mut new: Vec<String> = Vec::new();
        let mut at = 0;
        for ex in &examples {
            new.extend(lines[at..ex.lines.start].iter().map(|l| l.to_string()));
            new.extend(run(&ex.args).lines().map(String::from));
            at = ex.lines.end;
        }
        new.extend(lines[at..].iter().map(|l| l.to_string()));
        std::fs::write(&path, new.join("\n") + "\n").expect("write README.md");
        return;
    }
    for ex in examples {
        let expected: String = lines[ex.lines.clone()].iter().map(|l| format!("{l}\n")).collect();
        common::assert_same_lines(
            &run(&ex.args),
            &expected,
            &format!(
                "README example `faultline {}` is stale; regenerate with FAULTLINE_UPDATE_README=1 cargo test --test readme",
                ex.args.join(" ")
            ),
        );
    }
}

/// The book quotes lines of real runs (`$ faultline run ...` or `$ faultline hash ...`
/// in a fenced block, then
/// some of its lines, `...` for the ones left out): each quoted line must be a line
/// the command prints today.
#[test]
fn book_excerpts_are_lines_of_real_output() {
    let dir = format!("{}/book/src", env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("book/src") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a page");
        let mut quotes: Vec<(Vec<String>, Vec<&str>)> = Vec::new();
        let mut in_block = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_block = !in_block;
                continue;
            }
            if !in_block {
                continue;
            }
            if let Some(cmd) =
                line.strip_prefix("$ faultline ").filter(|c| c.starts_with("run ") || c.starts_with("hash"))
            {
                quotes.push((cmd.split_whitespace().map(String::from).collect(), Vec::new()));
            } else if line.starts_with('$') {
                quotes.push((Vec::new(), Vec::new()));
            } else if let Some((_, lines)) = quotes.last_mut()
                && line != "..."
            {
                lines.push(line);
            }
        }
        for (args, lines) in quotes.iter().filter(|(a, l)| !a.is_empty() && !l.is_empty()) {
            let out = run(args);
            for line in lines {
                assert!(
                    out.lines().any(|l| l == *line),
                    "{}: `faultline {}` no longer prints {line:?}; it prints:\n{out}",
                    path.display(),
                    args.join(" ")
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 6, "the book quotes real output ({checked} lines checked)");
}

#[test]
fn a_stale_example_fails_with_a_diff_not_two_walls_of_text() {
    let long: String = (0..200).map(|i| format!("line {i}\n")).collect();
    let changed = long.replace("line 100\n", "line one hundred\n");
    let failure = std::panic::catch_unwind(|| common::assert_same_lines(&changed, &long, "stale"))
        .expect_err("different text fails");
    let message = failure.downcast_ref::<String>().expect("a message");
    assert!(message.contains("- line 100\n+ line one hundred\n"), "{message}");
    assert!(
        message.contains("  line 99\n") && message.contains("  ...\n"),
        "context, and the rest left out: {message}"
    );
    assert!(message.len() < 300, "a diff, not the whole text: {message}");
    common::assert_same_lines(&long, &long, "the same text passes");
}

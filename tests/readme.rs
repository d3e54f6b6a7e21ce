//! The README's tour shows real output: every ```console block that runs `faultline`
//! is run here and must print exactly what the README says.

use std::process::Command;

struct Example {
    args: Vec<String>,
    expected: String,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut in_console = false;
    let mut current: Option<Example> = None;
    for line in readme.lines() {
        if line.starts_with("```console") {
            in_console = true;
            continue;
        }
        if in_console && line.starts_with("```") {
            in_console = false;
            out.extend(current.take());
            continue;
        }
        if !in_console {
            continue;
        }
        if let Some(cmd) = line.strip_prefix("$ faultline ") {
            out.extend(current.take());
            current =
                Some(Example { args: cmd.split_whitespace().map(String::from).collect(), expected: String::new() });
        } else if let Some(ex) = &mut current {
            ex.expected.push_str(line);
            ex.expected.push('\n');
        }
    }
    out
}

#[test]
fn readme_examples_print_what_the_readme_says() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).expect("README.md");
    let examples = examples(&readme);
    assert!(examples.len() >= 5, "found {} examples", examples.len());
    for ex in examples {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline")).args(&ex.args).current_dir(root).output().expect("run");
        let got = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(got, ex.expected, "README example `faultline {}` is stale", ex.args.join(" "));
    }
}

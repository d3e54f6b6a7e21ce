//! `faultline grade`: the reference Raft scores full marks on the bundled suite, and
//! a bug-zoo variant graded through the same path loses points (exit code 1).

use std::process::Command;

fn grade(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["grade", "raft", "--json", "--out"])
        .arg(std::env::temp_dir().join(format!("faultline-grade-{}", std::process::id())))
        .args(args)
        .env_remove("FAULTLINE_GRADE_SECRET")
        .output()
        .expect("faultline runs");
    let text = String::from_utf8_lossy(&out.stdout);
    (out.status.code(), serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

#[test]
fn the_reference_scores_full_marks_and_a_zoo_variant_does_not() {
    let (code, g) = grade(&[]);
    assert_eq!(code, Some(0), "{g}");
    assert_eq!(g["earned"], g["points"]);
    assert_eq!(g["parts"].as_array().map(Vec::len), Some(23));

    let (code, g) = grade(&["--variant", "forget-vote"]);
    assert_eq!(code, Some(1), "{g}");
    let lost: Vec<&str> =
        g["parts"].as_array().unwrap().iter().filter(|p| p["earned"] == 0).filter_map(|p| p["name"].as_str()).collect();
    assert!(!lost.is_empty() && lost.len() < 23, "it loses some parts, not all: {lost:?}");
    let failing = &g["parts"].as_array().unwrap().iter().find(|p| p["earned"] == 0).unwrap()["failing"][0];
    assert!(failing["replay"].as_str().unwrap().contains("--variant forget-vote"), "{failing}");
    assert!(failing["viewer"].as_str().unwrap().ends_with("viewer.html"), "{failing}");
}

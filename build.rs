//! Embeds every scenario under scenarios/ in the binary, so `faultline run pb/basic`
//! works from any directory.

use std::fs;
use std::path::Path;

fn collect(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, root, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            let rel = p.strip_prefix(root).expect("under root").with_extension("");
            let name = rel.to_string_lossy().replace('\\', "/");
            out.push((name, p.canonicalize().expect("path").to_string_lossy().into_owned()));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    println!("cargo:rerun-if-changed=scenarios");
    let mut found = Vec::new();
    collect(&root, &root, &mut found);
    let mut code = String::from("/// Bundled scenarios: (name, file text).\npub const BUNDLED: &[(&str, &str)] = &[\n");
    for (name, path) in &found {
        code.push_str(&format!("    ({name:?}, include_str!({path:?})),\n"));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("bundled.rs");
    fs::write(out, code).expect("write bundled.rs");
}

//! `faultline lab NAME DIR`: starts a lab. It writes the lab's crate (from `labs/`)
//! to `DIR`, with path dependencies on a faultline checkout and the versions this
//! repository pinned (its `Cargo.lock`), so that `cargo run -- grade ...` in `DIR`
//! builds the student's protocol with the whole command line and grades it.

use std::path::{Path, PathBuf};

use super::{EXIT_BAD_INPUT, EXIT_OK};

/// A lab: a crate to copy out, and the suite that grades it.
pub struct Lab {
    /// Its name on the command line.
    pub name: &'static str,
    /// What the student builds.
    pub summary: &'static str,
    /// The bundled suite that grades it.
    pub suite: &'static str,
    /// The protocol name its `main` registers (and its binary's name).
    pub protocol: &'static str,
    /// The part to start with.
    pub first: &'static str,
    /// `Cargo.toml` as it sits in `labs/`, with paths relative to the repository.
    pub manifest: &'static str,
    /// Every other file, by its path in the crate.
    pub files: &'static [(&'static str, &'static str)],
}

/// The labs that ship with faultline.
pub const LABS: &[Lab] = &[
    Lab {
        name: "raft",
        summary: "Raft, as MIT 6.5840's Lab 3: election, log, persistence, snapshots",
        suite: "raft",
        protocol: "myraft",
        first: "3A (leader election)",
        manifest: include_str!("../../labs/raft/Cargo.toml"),
        files: &[
            ("README.md", include_str!("../../labs/raft/README.md")),
            ("src/main.rs", include_str!("../../labs/raft/src/main.rs")),
            ("src/raft.rs", include_str!("../../labs/raft/src/raft.rs")),
        ],
    },
    Lab {
        name: "paxos",
        summary: "Multi-Paxos: a replicated key-value store with a stable leader",
        suite: "paxos",
        protocol: "mypaxos",
        first: "1 (one leader, by ballots)",
        manifest: include_str!("../../labs/paxos/Cargo.toml"),
        files: &[
            ("README.md", include_str!("../../labs/paxos/README.md")),
            ("src/main.rs", include_str!("../../labs/paxos/src/main.rs")),
            ("src/paxos.rs", include_str!("../../labs/paxos/src/paxos.rs")),
        ],
    },
    Lab {
        name: "twopc",
        summary: "two-phase commit of bank transfers: a coordinator and its participants",
        suite: "twopc",
        protocol: "mytwopc",
        first: "1 (the happy path)",
        manifest: include_str!("../../labs/twopc/Cargo.toml"),
        files: &[
            ("README.md", include_str!("../../labs/twopc/README.md")),
            ("src/main.rs", include_str!("../../labs/twopc/src/main.rs")),
            ("src/twopc.rs", include_str!("../../labs/twopc/src/twopc.rs")),
        ],
    },
];

/// The versions the workspace pinned: the lab builds with them, offline.
const LOCK: &str = include_str!("../../Cargo.lock");

/// The lab's manifest for a crate outside the repository: its paths made absolute
/// (to `checkout`), and a `[workspace]` of its own.
fn manifest(lab: &Lab, checkout: &Path) -> String {
    let path = |p: &Path| format!("{:?}", p.display().to_string());
    let text = lab
        .manifest
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("path = \"../../sim\"", &format!("path = {}", path(&checkout.join("sim"))))
        .replace("path = \"../..\"", &format!("path = {}", path(checkout)));
    format!(
        "# The {} lab, started with `faultline lab {}`. It depends on the faultline\n\
         # checkout at {}; move that, and change the two paths below.\n{}\n\n\
         # Its own workspace: it lives outside faultline's.\n[workspace]\n",
        lab.name,
        lab.name,
        checkout.display(),
        text.trim_start()
    )
}

fn list() -> u8 {
    println!("labs (start one with `faultline lab NAME DIR`, then `cd DIR` and follow its README.md):");
    for lab in LABS {
        println!("  {:<6} {}", lab.name, lab.summary);
        println!("         graded by `cargo run -- grade {} --protocol {}`", lab.suite, lab.protocol);
    }
    EXIT_OK
}

/// Lists the labs, or writes lab `name` to `dir`.
pub fn lab(name: Option<&str>, dir: Option<&Path>, checkout: Option<&Path>) -> u8 {
    let Some(name) = name else { return list() };
    let Some(lab) = LABS.iter().find(|l| l.name == name) else {
        let names: Vec<&str> = LABS.iter().map(|l| l.name).collect();
        eprintln!("error: no lab named `{name}`\n  = help: the labs: {}", names.join(", "));
        return EXIT_BAD_INPUT;
    };
    let Some(dir) = dir else {
        eprintln!("error: say where to start it: faultline lab {name} DIR (a new or empty directory)");
        return EXIT_BAD_INPUT;
    };
    match start(lab, dir, checkout) {
        Ok(checkout) => {
            println!("started the {} lab in {}: {}", lab.name, dir.display(), lab.summary);
            println!("it builds against the faultline checkout at {}", checkout.display());
            println!();
            println!("next:");
            println!("  cd {}", dir.display());
            println!("  cargo run -- grade {} --protocol {}", lab.suite, lab.protocol);
            println!("every part fails at first: the handlers do nothing yet. README.md walks you");
            println!("through the parts in order, starting with {}.", lab.first);
            EXIT_OK
        }
        Err(msg) => {
            eprintln!("{msg}");
            EXIT_BAD_INPUT
        }
    }
}

/// Writes the crate; the checkout it depends on.
fn start(lab: &Lab, dir: &Path, checkout: Option<&Path>) -> Result<PathBuf, String> {
    let checkout = match checkout {
        Some(c) => c.to_path_buf(),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")),
    };
    let checkout = std::fs::canonicalize(&checkout).unwrap_or(checkout);
    if !checkout.join("sim/Cargo.toml").is_file() || !checkout.join("Cargo.toml").is_file() {
        return Err(format!(
            "error: {}: not a faultline checkout (no Cargo.toml and sim/Cargo.toml there)\n  \
             = help: point --faultline at the directory you cloned faultline into",
            checkout.display()
        ));
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(format!(
                    "error: {}: the directory is not empty; nothing was written\n  \
                     = help: give a new directory, or an empty one",
                    dir.display()
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("error: {}: {e}", dir.display())),
    }
    let write = |rel: &str, text: &str| -> Result<(), String> {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("error: {}: {e}", parent.display()))?;
        }
        std::fs::write(&path, text).map_err(|e| format!("error: {}: {e}", path.display()))
    };
    write("Cargo.toml", &manifest(lab, &checkout))?;
    write("Cargo.lock", LOCK)?;
    write(".gitignore", "/target\n/runs\n")?;
    for (rel, text) in lab.files {
        write(rel, text)?;
    }
    Ok(checkout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_points_at_the_checkout_and_stands_alone() {
        let m = manifest(&LABS[0], Path::new("/home/me/faultline"));
        assert!(m.contains("faultline = { path = \"/home/me/faultline\" }"), "{m}");
        assert!(m.contains("faultline-sim = { path = \"/home/me/faultline/sim\" }"), "{m}");
        assert!(m.trim_end().ends_with("[workspace]"), "{m}");
        assert!(!m.contains("../.."), "{m}");
    }
}

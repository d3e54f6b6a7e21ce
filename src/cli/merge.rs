//! `faultline merge`: the `--json` output of sweep shards (run on other processes or
//! machines with `faultline sweep --shard I/N --json`) combined into one sweep result.
//! Seeds are put back in seed order, so the digest of shards that cover a range is the
//! digest of the unsharded sweep of that range.

use std::path::Path;

use faultline_sim::check::linearizability::Budget;
use faultline_sim::scenario::Expect;
use serde_json::Value;

use super::EXIT_BAD_INPUT;
use super::input::read_text;
use super::sweep::{SEEDS_PER_SWEEP_MAX, SeedLine, SeedOutcome, report};

/// The most bytes one shard's JSON may hold: a million seeds at about 200 bytes each.
const SHARD_BYTES_MAX: u64 = 256 << 20;
/// The most seeds a merge holds in memory.
pub const MERGED_SEEDS_MAX: usize = 10_000_000;

/// What the shards agree on.
struct Header {
    scenario: String,
    /// The protocol and variant it ran (`--protocol`, `--variant`); older shards do not say.
    protocol: Option<String>,
    variant: Option<String>,
    /// What its checks were held to (`--expect`, or the file's).
    expect: Option<Expect>,
    budget: String,
}

/// Reads one shard: its seeds, and what its summary says about the sweep.
fn read_shard(path: &str, seeds: &mut Vec<SeedOutcome>, hashed: &mut bool) -> Result<Header, String> {
    let text = read_text(Path::new(path), "a sweep's JSON", SHARD_BYTES_MAX).map_err(|d| d.to_string())?;
    let mut header = None;
    for (n, line) in text.lines().enumerate() {
        let at = format!("{path}:{}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if header.is_some() {
            return Err(format!("{at}: a line after the summary; a shard's summary is its last line"));
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{at}: not JSON: {e}"))?;
        if let Some(summary) = v.get("summary") {
            let text_of = |k: &str| {
                summary.get(k).and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                    format!("{at}: the summary has no \"{k}\" (was it written by `faultline sweep --json`?)")
                })
            };
            let field = |k: &str| summary.get(k).and_then(Value::as_str).map(str::to_string);
            let (protocol, variant) = (field("protocol"), field("variant"));
            let expect = match field("expect").as_deref() {
                Some("pass") => Some(Expect::Pass),
                Some("fail") => Some(Expect::Fail),
                _ => None,
            };
            let (scenario, budget) = (text_of("scenario")?, text_of("budget")?);
            header = Some(Header { scenario, protocol, variant, expect, budget });
            continue;
        }
        let line: SeedLine = serde_json::from_value(v).map_err(|e| format!("{at}: not a sweep's seed line: {e}"))?;
        let (seed, seed_hashed) = line.outcome().map_err(|e| format!("{at}: {e}"))?;
        *hashed &= seed_hashed;
        if seeds.len() >= MERGED_SEEDS_MAX {
            return Err(format!("{at}: more than {MERGED_SEEDS_MAX} seeds in all; merge fewer shards at a time"));
        }
        seeds.push(seed);
    }
    header.ok_or_else(|| {
        format!("{path}: no summary line at the end: the shard did not finish, or this is not `sweep --json` output")
    })
}

/// The seed ranges `seeds` (sorted) covers, as "0..100" or "0..50, 60..100".
fn ranges(seeds: &[SeedOutcome]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < seeds.len() {
        let start = seeds[i].seed;
        let mut end = start;
        while i + 1 < seeds.len() && seeds[i + 1].seed == end + 1 {
            i += 1;
            end += 1;
        }
        out.push(format!("{start}..{}", end as u128 + 1));
        i += 1;
    }
    if out.is_empty() { "none".into() } else { out.join(", ") }
}

pub fn merge(files: &[String], json: bool) -> u8 {
    // Messages from the file reader come worded in full ("error: ...", a location).
    let bad = |msg: String| {
        if msg.starts_with("error") {
            eprintln!("{msg}")
        } else {
            eprintln!("error: {msg}")
        }
        EXIT_BAD_INPUT
    };
    let mut seeds: Vec<SeedOutcome> = Vec::new();
    let mut hashed = true;
    let mut header: Option<(String, Header)> = None;
    for path in files {
        let h = match read_shard(path, &mut seeds, &mut hashed) {
            Ok(h) => h,
            Err(msg) => return bad(msg),
        };
        if let Some((first, seen)) = &header {
            let key = |h: &Header| (h.scenario.clone(), h.protocol.clone(), h.variant.clone(), h.budget.clone());
            if key(seen) != key(&h) {
                return bad(format!(
                    "{path} is a sweep of {} (budget {}), but {first} is of {} (budget {}): merge shards of one sweep",
                    h.scenario, h.budget, seen.scenario, seen.budget
                ));
            }
        } else {
            header = Some((path.clone(), h));
        }
    }
    let Some((_, header)) = header else { return bad("give the shards' JSON files to merge".into()) };
    seeds.sort_by_key(|o| o.seed);
    if let Some(w) = seeds.windows(2).find(|w| w[0].seed == w[1].seed) {
        return bad(format!("seed {} is in more than one shard: merge each shard once", w[0].seed));
    }
    let mut scenario = match super::load(super::Named {
        scenario: &header.scenario,
        protocol: header.protocol.as_deref(),
        variant: header.variant.as_deref(),
        expect: header.expect,
    }) {
        Ok(s) => s,
        Err(msg) => {
            eprintln!("{msg}\n  = help: merge where the shards' scenario can be read (the same checkout)");
            return EXIT_BAD_INPUT;
        }
    };
    match Budget::parse(&header.budget) {
        Ok(b) => scenario.budget = b,
        Err(e) => return bad(format!("the shards' budget \"{}\": {e}", header.budget)),
    }
    if !json {
        println!("merge      {}  {} shards  seeds {} ({})", scenario.path, files.len(), ranges(&seeds), seeds.len());
        if seeds.len() as u64 > SEEDS_PER_SWEEP_MAX {
            println!("note       more seeds than one sweep runs: the digest is of them all, in seed order");
        }
    }
    report(&scenario, &seeds, json, !hashed)
}

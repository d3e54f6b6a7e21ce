//! `faultline list`: protocols, variants, probes and bundled scenarios.

use super::{BUNDLED, EXIT_OK};

/// `faultline list --probes`: what each probe measures, for `[[check.assert]]`.
pub fn probes() -> u8 {
    println!("probes of every protocol (measured by the engine):");
    for (name, what) in faultline_sim::scenario::ENGINE_PROBES {
        println!("  {name:<14} {what}");
    }
    for e in faultline_protocols::registry().iter().filter(|e| !e.probes.is_empty()) {
        println!();
        println!("{} probes (over the up nodes in a majority group; none if there is no majority):", e.name);
        for (name, what) in e.probes {
            println!("  {name:<14} {what}");
        }
    }
    EXIT_OK
}

pub fn list() -> u8 {
    println!("protocols (variant \"correct\" first, then the bug zoo; a variant marked \"not a bug\" is an option):");
    for e in faultline_protocols::registry() {
        println!("  {:<10} {}", e.name, e.summary);
        for (v, what) in e.variants {
            println!("    {v:<22} {what}");
        }
        if !e.probes.is_empty() {
            let names: Vec<&str> = e.probes.iter().map(|p| p.0).collect();
            println!("    probes: {}", names.join(", "));
        }
        println!("    messages: {} (the kinds a drop fault names)", e.messages.join(", "));
        if e.ops.is_empty() {
            println!("    workload: none (it serves no client operations)");
        } else {
            use faultline_sim::scenario::WorkloadKind;
            let kinds: Vec<WorkloadKind> = WorkloadKind::served_by(e.ops).collect();
            if kinds == [WorkloadKind::Bank] {
                println!("    workload: bank (kind = \"bank\" in [workload]: transfers and reads of every account)");
            } else if kinds != [WorkloadKind::Kv] {
                let words: Vec<String> = kinds.iter().map(|k| k.to_string()).collect();
                println!("    workloads: {} (`kind` in [workload]; kv is the default)", words.join(", "));
            }
        }
    }
    let engine: Vec<&str> = faultline_sim::scenario::ENGINE_PROBES.iter().map(|p| p.0).collect();
    println!("  probes of every protocol: {} (see `faultline list --probes`)", engine.join(", "));
    println!();
    println!("bundled scenarios (run one with `faultline run NAME`):");
    let catalog = faultline_protocols::catalog();
    let width = BUNDLED.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, text) in BUNDLED {
        let title = faultline_sim::scenario::parse(name, text, &catalog)
            .map(|s| {
                let expect = match s.expect {
                    faultline_sim::scenario::Expect::Fail => "  [expect fail]",
                    faultline_sim::scenario::Expect::Pass => "",
                };
                format!("{}{expect}", s.name)
            })
            .unwrap_or_else(|_| "(does not parse)".into());
        println!("  {name:<width$} {title}");
    }
    EXIT_OK
}

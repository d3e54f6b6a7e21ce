//! `faultline list`: protocols, variants and bundled scenarios.

use super::{BUNDLED, EXIT_OK};

pub fn list() -> u8 {
    println!("protocols (variant \"correct\" first, then the bug zoo):");
    for e in faultline_protocols::REGISTRY {
        println!("  {:<10} {}", e.name, e.summary);
        for (v, what) in e.variants {
            println!("    {v:<16} {what}");
        }
    }
    println!();
    println!("bundled scenarios (run one with `faultline run NAME`):");
    let catalog = faultline_protocols::catalog();
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
        println!("  {name:<24} {title}");
    }
    EXIT_OK
}

//! Protocols written outside the repository join the registry beside the bundled
//! ones, once, before it is used, under names of their own.

use faultline_protocols::{Entry, catalog, lookup, register, registry};
use faultline_sim::Trace;

const VARIANTS: &[(&str, &str)] = &[("correct", "pings, as the bundled one does")];

fn mine(name: &'static str) -> Entry {
    Entry::of::<faultline_protocols::pingpong::PingPong>(name, "a second ping-pong", VARIANTS, |_| ())
}

#[test]
fn a_registered_protocol_runs_beside_the_bundled_ones() {
    let taken = register(vec![mine("pb")]).expect_err("a bundled name is taken");
    assert!(taken.contains("\"pb\" is already registered"), "{taken}");
    let backwards = [("no-dedup", "broken"), ("correct", "fine")];
    let leaked: &'static [(&str, &str)] = Box::leak(Box::new(backwards));
    let e = Entry::of::<faultline_protocols::pingpong::PingPong>("odd", "x", leaked, |_| ());
    assert!(register(vec![e]).expect_err("correct comes first").contains("first variant must be \"correct\""));

    register(vec![mine("pong2")]).expect("a new name");
    assert!(register(vec![mine("pong2")]).is_err(), "and only once");
    assert_eq!(registry().last().map(|e| e.name), Some("pong2"), "after the bundled ones");
    assert!(lookup("raft").is_some(), "the bundled ones stay");

    let src = "name = \"p\"\nprotocol = \"pong2\"\nnodes = 3\nduration = \"100ms\"\n";
    let scenario = faultline_sim::scenario::parse("p.toml", src, &catalog()).expect("the catalog knows it");
    let result = faultline_protocols::run(&scenario, 1, Trace::off());
    assert!(result.as_expected() && result.stats.sent > 0, "{:?}", result.failures());

    let late = register(vec![mine("pong3")]).expect_err("the registry is in use");
    assert!(late.contains("before the registry is first used"), "{late}");
}

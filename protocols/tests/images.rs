//! The image store's list gathering, stepped by hand: a node answers a list with
//! the shards' answers to that very request, never a late answer to an earlier one
//! (the 10,000-seed sweep of images/nemesis found one: a node that restarted reused
//! its list numbers, took an answer meant for its previous life's list of another
//! tag, and named an image that never had the tag).

use faultline_protocols::images::{Images, Msg, Variant};
use faultline_sim::disk::Durable;
use faultline_sim::protocol::Effect;
use faultline_sim::rng::{SimRng, Stream};
use faultline_sim::{Ctx, NodeId, Op, Outcome, Protocol, Request};

fn step(
    node: &mut Images,
    rng: &mut SimRng,
    timers: &mut u64,
    f: impl FnOnce(&mut Images, &mut Ctx<'_, Images>),
) -> Vec<Effect<Images>> {
    let mut effects = Vec::new();
    let mut ctx = Ctx::manual(NodeId(0), 9, 0, rng, &mut effects, timers);
    f(node, &mut ctx);
    effects
}

#[test]
fn a_list_is_answered_from_answers_to_that_request_only() {
    let mut rng = SimRng::new(1, Stream::Node(0));
    let mut timers = 0;
    let mut effects = Vec::new();
    let mut node = {
        let mut ctx = Ctx::manual(NodeId(0), 9, 0, &mut rng, &mut effects, &mut timers);
        Images::start(&mut ctx, &Variant::Correct, &Durable::new())
    };
    let asked = step(&mut node, &mut rng, &mut timers, |n, c| {
        n.on_request(c, Request::new(0, 7, Op::List { tag: "cat".into() }))
    });
    let parts = asked.iter().filter(|e| matches!(e, Effect::Send { msg: Msg::ListPart { seq: 7, .. }, .. })).count();
    assert_eq!(parts, 3, "every shard is asked");
    let answer = |seq: u64, tag: &str, group: usize, names: &[&str]| Msg::ListAnswer {
        client: 0,
        seq,
        tag: tag.into(),
        group,
        epoch: 0,
        names: names.iter().map(|n| n.to_string()).collect(),
    };
    let mut replies = Vec::new();
    for (from, msg) in [
        // Late answers to an earlier list, and to another tag: not taken.
        (NodeId(3), answer(6, "cat", 1, &["i12"])),
        (NodeId(3), answer(7, "dog", 1, &["i12"])),
        // An answer gathered in another ring's epoch: not taken either.
        (
            NodeId(3),
            Msg::ListAnswer { client: 0, seq: 7, tag: "cat".into(), group: 1, epoch: 1, names: vec!["i12".into()] },
        ),
        (NodeId(0), answer(7, "cat", 0, &["i1"])),
        (NodeId(3), answer(7, "cat", 1, &[])),
        (NodeId(6), answer(7, "cat", 2, &["i3"])),
    ] {
        let out = step(&mut node, &mut rng, &mut timers, |n, c| n.on_message(c, from, msg));
        replies.extend(out.into_iter().filter_map(|e| match e {
            Effect::Reply(r) => Some(r),
            _ => None,
        }));
    }
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!((replies[0].client, replies[0].seq), (0, 7));
    assert_eq!(replies[0].outcome, Outcome::Value("i1,i3".into()));
}

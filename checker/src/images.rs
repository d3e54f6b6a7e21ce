//! The image store's lists, judged against the rest of its history. A `list` reads
//! every image, so it is not one key's operation and the per-key linearizability
//! search leaves it out; this check holds each answered list to what the history
//! says for certain, from real time alone:
//!
//! - **sound**: every image a list names was given its tag (by an upload carrying
//!   the tag, or a `tag` that did not find the image missing) by an operation that
//!   did not fail and began before the list returned;
//! - **complete**: an image the list leaves out was not certainly tagged throughout
//!   it: there is no upload or tag that gave it the tag and returned before the list
//!   began, with no delete or upload of that image (which could remove the tag)
//!   that might have taken effect between that operation's start and the list's end.
//!
//! A linearizable store passes both (the list takes effect at one moment inside its
//! interval); a list served from a stale or partial view fails one.

use std::collections::BTreeMap;

use crate::history::{Completion, History, Operation};
use crate::op::Op;
use crate::time::fmt_time;

/// Whether `o` gave image `name` tag `tag`, and for certain (it returned ok, having
/// found the image) or possibly (it did not fail).
fn tags(o: &Operation, name: &str, tag: &str) -> Option<bool> {
    let gives = match &o.op {
        Op::Upload { name: n, tags, .. } => n == name && tags.iter().any(|t| t == tag),
        Op::Tag { name: n, tag: t } => n == name && t == tag,
        _ => false,
    };
    match (&o.complete, gives) {
        (_, false) | (Some((_, Completion::Fail { .. })), _) => None,
        (Some((_, Completion::Ok { swapped: Some(false), .. })), _) => None,
        (Some((_, Completion::Ok { .. })), _) => Some(true),
        _ => Some(false),
    }
}

/// Whether `o` may have removed tag `tag` from image `name`: a delete of it, or an
/// upload of it without the tag, that did not fail.
fn may_untag(o: &Operation, name: &str, tag: &str) -> bool {
    let removes = match &o.op {
        Op::Delete { name: n } => n == name,
        Op::Upload { name: n, tags, .. } => n == name && !tags.iter().any(|t| t == tag),
        _ => false,
    };
    removes && !matches!(o.complete, Some((_, Completion::Fail { .. })))
}

/// The invariant's name, as failures and sweeps name it.
pub const INVARIANT: &str = "list-by-tag";

/// When `o` returned, or never (it did not).
fn returned(o: &Operation) -> u64 {
    o.complete.as_ref().map_or(u64::MAX, |(t, c)| if matches!(c, Completion::Ok { .. }) { *t } else { u64::MAX })
}

/// Checks every answered list; the first that is unsound or incomplete is the error,
/// in a sentence naming the list and the operation that contradicts it.
pub fn lists_agree(history: &History) -> Result<(), String> {
    let mut by_name: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for o in &history.ops {
        match &o.op {
            Op::Upload { name, .. } | Op::Tag { name, .. } | Op::Delete { name } => {
                by_name.entry(name.as_str()).or_default().push(o)
            }
            _ => {}
        }
    }
    for list in &history.ops {
        let (Op::List { tag }, Some((end, Completion::Ok { value: Some(answer), .. }))) = (&list.op, &list.complete)
        else {
            continue;
        };
        let named: Vec<&str> = answer.split(',').filter(|n| !n.is_empty()).collect();
        let what = format!("invariant `{INVARIANT}` violated: the list of {tag:?} by c{}", list.client + 1);
        for name in &named {
            let ops = by_name.get(name).map_or(&[][..], |v| v.as_slice());
            if !ops.iter().any(|o| o.invoke < *end && tags(o, name, tag).is_some()) {
                return Err(format!(
                    "{what} at {} (op {}) named {name}, but nothing gave {name} that tag before it returned",
                    fmt_time(*end),
                    list.id
                ));
            }
        }
        for (name, ops) in &by_name {
            if named.contains(name) {
                continue;
            }
            let certain = ops.iter().find(|o| {
                tags(o, name, tag) == Some(true)
                    && returned(o) < list.invoke
                    && !ops.iter().any(|x| may_untag(x, name, tag) && x.invoke < *end && returned(x) > o.invoke)
            });
            if let Some(o) = certain {
                return Err(format!(
                    "{what} from {} to {} (op {}) left out {name}, which {} had tagged before the list began, \
                     with nothing deleting or replacing it since",
                    fmt_time(list.invoke),
                    fmt_time(*end),
                    list.id,
                    history.describe(o.id)
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(h: &mut History, at: u64, op: Op, value: Option<&str>, swapped: Option<bool>) -> usize {
        let id = h.invoke(at, 0, op);
        h.complete(id, at + 10, Completion::Ok { value: value.map(String::from), swapped });
        id
    }

    fn upload(name: &str, tags: &[&str]) -> Op {
        Op::Upload {
            name: name.into(),
            size: 10,
            content: "1.1".into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn list(tag: &str) -> Op {
        Op::List { tag: tag.into() }
    }

    #[test]
    fn a_list_that_agrees_passes() {
        let mut h = History::default();
        ok(&mut h, 0, upload("i1", &["cat"]), None, None);
        ok(&mut h, 100, Op::Tag { name: "i2".into(), tag: "cat".into() }, None, Some(false));
        ok(&mut h, 200, list("cat"), Some("i1"), None);
        ok(&mut h, 300, Op::Delete { name: "i1".into() }, None, None);
        ok(&mut h, 400, list("cat"), Some(""), None);
        assert_eq!(lists_agree(&h), Ok(()));
    }

    #[test]
    fn a_list_that_misses_a_tagged_image_is_incomplete() {
        let mut h = History::default();
        ok(&mut h, 0, upload("i1", &["cat"]), None, None);
        ok(&mut h, 200, list("cat"), Some(""), None);
        let err = lists_agree(&h).unwrap_err();
        assert!(err.contains("left out i1"), "{err}");
    }

    #[test]
    fn a_delete_that_may_overlap_excuses_a_missing_image() {
        let mut h = History::default();
        ok(&mut h, 0, upload("i1", &["cat"]), None, None);
        let d = h.invoke(150, 1, Op::Delete { name: "i1".into() });
        h.complete(d, 400, Completion::Info { error: "timed out".into(), gave_up: None });
        ok(&mut h, 200, list("cat"), Some(""), None);
        assert_eq!(lists_agree(&h), Ok(()));
    }

    #[test]
    fn a_list_naming_an_image_never_tagged_is_unsound() {
        let mut h = History::default();
        ok(&mut h, 0, upload("i1", &["dog"]), None, None);
        ok(&mut h, 100, Op::Tag { name: "i1".into(), tag: "cat".into() }, None, Some(false));
        ok(&mut h, 200, list("cat"), Some("i1"), None);
        let err = lists_agree(&h).unwrap_err();
        assert!(err.contains("named i1"), "{err}");
    }
}

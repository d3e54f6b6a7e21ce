//! The self-contained HTML viewer: one `.html` file with the run embedded as JSON and
//! plain JavaScript drawing SVG (no server, no network, no CDN). It shows the message
//! and operation timelines on one time axis with a shared cursor, zooms and pans,
//! filters by node and message kind, shows a message's body or a note on hover, and
//! jumps to the first violation. It draws only what is in view.

use faultline_sim::check::LinResult;
use faultline_sim::history::{Completion, History};
use serde_json::{Value, json};

use crate::timeline::op_text;
use crate::trace::Trace;

const TEMPLATE: &str = include_str!("viewer.html");

/// The timelines' label, with the error of an operation that got no answer.
fn op_label(op: &faultline_sim::Op, completion: Option<&Completion>) -> String {
    match completion.and_then(Completion::error) {
        Some(error) => format!("{} ({error})", op_text(op, completion)),
        None => op_text(op, completion),
    }
}

/// The viewer for one run, as a complete HTML document.
pub fn viewer_html(
    title: &str,
    p: &Trace,
    nodes: usize,
    history: &History,
    verdict: Option<&LinResult>,
    failures: &[String],
) -> Result<String, String> {
    // Kinds by first appearance, found through a map: a trace may hold many kinds.
    let mut kinds: Vec<String> = Vec::new();
    let mut kind_ids: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    let mut kind_index = |k: &str| match kind_ids.get(k) {
        Some(&i) => i,
        None => {
            kind_ids.insert(k.to_string(), kinds.len());
            kinds.push(k.to_string());
            kinds.len() - 1
        }
    };
    let (mut messages, mut bodies) = (Vec::new(), Vec::new());
    for m in &p.messages {
        let kind = kind_index(&m.kind);
        let mut push = |end: i64, dup: bool, lost: Option<&str>| {
            messages.push(json!({"from": m.from, "to": m.to, "sent": m.sent, "end": end, "kind": kind,
                "dup": dup, "lost": lost}));
            bodies.push(m.body.clone());
        };
        for (k, &at) in m.delivered.iter().enumerate() {
            push(at as i64, k > 0, None);
        }
        if let Some((at, reason)) = &m.dropped {
            push(*at as i64, false, Some(reason));
        }
        if m.delivered.is_empty() && m.dropped.is_none() {
            push(-1, false, None); // still in flight when the run ended
        }
    }
    let open = |t: Option<u64>| t.map_or(-1, |t| t as i64);
    let partitions: Vec<Value> =
        p.partitions.iter().map(|(a, b, g)| json!({"from": a, "to": open(*b), "groups": g})).collect();
    let outages: Vec<Value> =
        p.outages.iter().map(|(n, a, b, c)| json!({"node": n, "from": a, "to": open(*b), "crash": c})).collect();
    let marks = |list: &[(usize, u64, String)]| -> Vec<Value> {
        list.iter().map(|(n, t, text)| json!({"node": n, "t": t, "text": text})).collect()
    };
    let (notes, observations) = (marks(&p.notes), marks(&p.observations));
    // One lane per client that appears, in client order (not one per client number).
    let lanes: Vec<usize> =
        history.ops.iter().map(|o| o.client).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let ops: Vec<Value> = history
        .ops
        .iter()
        .map(|o| {
            let (end, outcome) = match &o.complete {
                Some((t, Completion::Ok { .. })) => (*t as i64, "ok"),
                Some((t, Completion::Fail { .. })) => (*t as i64, "fail"),
                Some((t, Completion::Info { .. })) => (*t as i64, "info"),
                None => (-1, "info"),
            };
            json!({"id": o.id, "client": o.client, "lane": lanes.binary_search(&o.client).unwrap_or(0),
                "invoke": o.invoke, "end": end, "outcome": outcome,
                "label": op_label(&o.op, o.complete.as_ref().map(|c| &c.1))})
        })
        .collect();
    let stuck = match verdict {
        Some(LinResult::NotLinearizable { why, .. }) => {
            let at = history.ops.get(why.op).map_or(0, |o| o.invoke);
            let cause = why.cause.as_ref();
            json!({"op": why.op, "at": at, "prefix": why.prefix,
                "source": cause.and_then(|c| c.source),
                "overwritten_by": cause.map_or(&[][..], |c| &c.overwritten_by[..])})
        }
        _ => Value::Null,
    };
    let data = json!({
        "title": title,
        "end": p.end,
        "nodes": nodes,
        "lanes": lanes,
        "kinds": kinds,
        "messages": messages,
        "bodies": bodies,
        "partitions": partitions,
        "outages": outages,
        "notes": notes,
        "observations": observations,
        "ops": ops,
        "violation": p.violation.as_ref().map(|(t, text)| json!({"t": t, "text": text})),
        "stuck": stuck,
        "failures": failures,
    });
    // Inside a <script> element, "</" could end it early and "<!--" start a comment
    // that swallows it: no "<" reaches the page raw (JSON reads "\u003c" back as "<").
    // U+2028 and U+2029 end a line in older script parsers.
    let embedded =
        data.to_string().replace('<', "\\u003c").replace('\u{2028}', "\\u2028").replace('\u{2029}', "\\u2029");
    Ok(TEMPLATE.replace("/*DATA*/", &embedded))
}

//! Timelines as SVG, drawn with plotters from what a run wrote: the message timeline
//! (a sequence diagram over the trace) and the operation timeline (one lane per
//! client over the history). Time runs left to right in both, so they line up.
//! The output depends only on the input: the same run gives the same bytes.

use faultline_sim::check::LinResult;
use faultline_sim::history::{Completion, History};
use faultline_sim::time::fmt_time;
use plotters::prelude::*;

use crate::trace::{Message, Trace, Window};

const WIDTH: u32 = 1400;
const LEFT: i32 = 70;
const RIGHT: i32 = 30;
const TOP: i32 = 50;
const LANE: i32 = 70;
/// Pixels between two message labels on the same pair of lifelines.
const LABEL_GAP: i32 = 70;
/// Pixels within which a note is lifted above the one before it.
const NOTE_GAP: i32 = 120;

struct Scale {
    from: u64,
    to: u64,
}

impl Scale {
    fn x(&self, t: u64) -> i32 {
        let span = (self.to - self.from).max(1) as f64;
        let f = (t.clamp(self.from, self.to) - self.from) as f64 / span;
        LEFT + (f * f64::from(WIDTH as i32 - LEFT - RIGHT)).round() as i32
    }
    fn contains(&self, t: u64) -> bool {
        (self.from..=self.to).contains(&t)
    }
}

pub(crate) fn text_style(size: u32, color: RGBColor) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&color)
}

pub(crate) fn draw_err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the SVG failed: {e:?}")
}

/// The message timeline of a run: one lifeline per node, an arrow per delivered
/// message labelled with its kind, a cross where one was dropped (with the reason),
/// duplicates in purple, partitions shaded with their groups named, crashes (red)
/// and pauses (grey) on the lifelines, and protocol notes ("leader, term 3").
pub fn message_timeline(p: &Trace, nodes: usize, window: &Window) -> Result<String, String> {
    let scale = Scale { from: window.from, to: window.to.unwrap_or(p.end).max(window.from + 1) };
    let shown = |m: &Message| window.shows(&m.kind, m.from, m.to);
    let lane_y = |n: usize| TOP + 30 + n as i32 * LANE;
    let height = (TOP + 60 + nodes as i32 * LANE) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let title = format!("messages, {} to {}", fmt_time(scale.from), fmt_time(scale.to));
        root.draw(&Text::new(title, (LEFT, 12), text_style(14, BLACK))).map_err(draw_err)?;
        // Partitions behind everything.
        for (from, to, groups) in &p.partitions {
            let (a, b) = (*from, to.unwrap_or(scale.to));
            if b < scale.from || a > scale.to {
                continue;
            }
            let shade = RGBColor(255, 236, 200);
            root.draw(&Rectangle::new([(scale.x(a), TOP), (scale.x(b), height as i32 - 20)], shade.filled()))
                .map_err(draw_err)?;
            root.draw(&Text::new(format!("partition {groups}"), (scale.x(a) + 3, TOP + 2), text_style(10, BLACK)))
                .map_err(draw_err)?;
        }
        for n in 0..nodes {
            let y = lane_y(n);
            root.draw(&PathElement::new(vec![(LEFT, y), (WIDTH as i32 - RIGHT, y)], BLACK.stroke_width(1)))
                .map_err(draw_err)?;
            root.draw(&Text::new(format!("n{}", n + 1), (10, y - 7), text_style(14, BLACK))).map_err(draw_err)?;
        }
        for &(n, from, to, crash) in &p.outages {
            let (a, b) = (from, to.unwrap_or(scale.to));
            if n >= nodes || b < scale.from || a > scale.to {
                continue;
            }
            let color = if crash { RED } else { RGBColor(140, 140, 140) };
            let y = lane_y(n);
            root.draw(&Rectangle::new([(scale.x(a), y - 4), (scale.x(b), y + 4)], color.filled())).map_err(draw_err)?;
            let what = if crash { "crash" } else { "pause" };
            root.draw(&Text::new(what, (scale.x(a), y + 8), text_style(10, color))).map_err(draw_err)?;
        }
        let blue = RGBColor(40, 90, 200);
        let purple = RGBColor(150, 60, 180);
        // Labels only where there is room: the last label's x per pair of lanes.
        let mut last_label: std::collections::BTreeMap<(usize, usize), i32> = Default::default();
        let mut room = |from: usize, to: usize, x: i32| {
            let last = last_label.entry((from.min(to), from.max(to))).or_insert(i32::MIN / 2);
            let ok = x - *last >= LABEL_GAP;
            if ok {
                *last = x;
            }
            ok
        };
        for m in p.messages.iter().filter(|m| shown(m) && m.from < nodes && m.to < nodes) {
            let (y0, y1) = (lane_y(m.from), lane_y(m.to));
            for (k, &at) in m.delivered.iter().enumerate() {
                if at < scale.from || m.sent > scale.to {
                    continue;
                }
                let color = if k == 0 { blue } else { purple };
                let (x0, x1) = (scale.x(m.sent), scale.x(at));
                root.draw(&PathElement::new(vec![(x0, y0), (x1, y1)], color.stroke_width(1))).map_err(draw_err)?;
                let dir = if y1 > y0 { -1 } else { 1 };
                root.draw(&PathElement::new(vec![(x1 - 5, y1 + 5 * dir), (x1, y1), (x1 + 3, y1 + 6 * dir)], color))
                    .map_err(draw_err)?;
                if room(m.from, m.to, (x0 + x1) / 2) {
                    let label = if k == 0 { m.kind.clone() } else { format!("{} (dup)", m.kind) };
                    root.draw(&Text::new(label, ((x0 + x1) / 2 + 2, (y0 + y1) / 2 - 4), text_style(9, color)))
                        .map_err(draw_err)?;
                }
            }
            if let Some((at, reason)) = &m.dropped
                && (scale.contains(*at) || scale.contains(m.sent))
            {
                let (x0, x1) = (scale.x(m.sent), scale.x(*at).max(scale.x(m.sent) + 8));
                let ym = (y0 + y1) / 2;
                root.draw(&PathElement::new(vec![(x0, y0), (x1, ym)], RED.stroke_width(1))).map_err(draw_err)?;
                for (dx, dy) in [(4, 4), (4, -4)] {
                    root.draw(&PathElement::new(vec![(x1 - dx, ym - dy), (x1 + dx, ym + dy)], RED.stroke_width(2)))
                        .map_err(draw_err)?;
                }
                if room(m.from, m.to, x1) {
                    root.draw(&Text::new(format!("{} lost: {reason}", m.kind), (x1 + 6, ym - 4), text_style(9, RED)))
                        .map_err(draw_err)?;
                }
            }
        }
        let green = RGBColor(0, 120, 60);
        // Notes close together on one lifeline step up, so they do not overprint.
        let mut last_note: Vec<(i32, i32)> = vec![(i32::MIN / 2, 0); nodes];
        for (n, at, text) in p.notes.iter().filter(|(n, at, _)| *n < nodes && scale.contains(*at)) {
            let (y, x) = (lane_y(*n), scale.x(*at));
            let (last_x, level) = last_note[*n];
            let level = if x - last_x < NOTE_GAP { (level + 1) % 3 } else { 0 };
            last_note[*n] = (x, level);
            root.draw(&Circle::new((x, y), 3, green.filled())).map_err(draw_err)?;
            root.draw(&Text::new(text.clone(), (x + 4, y - 18 - 11 * level), text_style(10, green)))
                .map_err(draw_err)?;
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// "get k1 -> 2.8", "put k1=1.3", "cas k2 a->b -> true": an operation and what it
/// returned, as the timelines label it.
pub(crate) fn op_text(op: &faultline_sim::Op, completion: Option<&Completion>) -> String {
    let value = match completion {
        Some(Completion::Ok { value: Some(v), .. }) => format!(" -> {v}"),
        Some(Completion::Ok { swapped: Some(s), .. }) => format!(" -> {s}"),
        _ => String::new(),
    };
    match op {
        faultline_sim::Op::Get { key } => format!("get {key}{value}"),
        faultline_sim::Op::Put { key, value: v } => format!("put {key}={v}"),
        faultline_sim::Op::Append { key, value: v } => format!("append {key}+{v}"),
        faultline_sim::Op::Cas { key, from, to } => format!("cas {key} {from}->{to}{value}"),
        faultline_sim::Op::Transfer { from, to, amount } => format!("transfer {amount} {from}->{to}"),
        faultline_sim::Op::Read { .. } => format!("read{value}"),
        faultline_sim::Op::Upload { name, size, .. } => format!("upload {name} ({size} B)"),
        faultline_sim::Op::Fetch { name } => format!("fetch {name}{value}"),
        faultline_sim::Op::Tag { name, tag } => format!("tag {name}+{tag}{value}"),
        faultline_sim::Op::Delete { name } => format!("delete {name}"),
        faultline_sim::Op::List { tag } => format!("list {tag}{value}"),
    }
}

/// The operation timeline: one lane per client, a bar per operation from invoke to
/// completion, green for ok, red for fail, orange for info (unknown). When the
/// history is not linearizable, the operation that cannot be placed is outlined in
/// red and the longest linearizable prefix is numbered in its order.
pub fn operation_timeline(history: &History, verdict: Option<&LinResult>, window: &Window) -> Result<String, String> {
    let end = history
        .ops
        .iter()
        .filter_map(|o| o.complete.as_ref().map(|c| c.0))
        .chain(history.ops.iter().map(|o| o.invoke))
        .max()
        .unwrap_or(0);
    let scale = Scale { from: window.from, to: window.to.unwrap_or(end).max(window.from + 1) };
    // One lane per client that appears, in client order (not one per client number).
    let lanes: Vec<usize> =
        history.ops.iter().map(|o| o.client).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let lane_of = |client: usize| lanes.binary_search(&client).unwrap_or(0) as i32;
    let lane = 34;
    let height = (TOP + 30 + lanes.len() as i32 * lane) as u32;
    let (stuck, prefix): (Option<usize>, Vec<usize>) = match verdict {
        Some(LinResult::NotLinearizable { why, .. }) => (Some(why.op), why.prefix.clone()),
        _ => (None, Vec::new()),
    };
    // A stale read's cause: the write it read, and the writes that had replaced it.
    let cause = match verdict {
        Some(LinResult::NotLinearizable { why, .. }) => why.cause.as_ref(),
        _ => None,
    };
    let source = cause.and_then(|c| c.source);
    let overwrote = |id: usize| cause.is_some_and(|c| c.overwritten_by.contains(&id));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(draw_err)?;
        let title = match (&stuck, verdict) {
            (Some(op), Some(LinResult::NotLinearizable { key, .. })) => {
                let cause =
                    if source.is_some() { "; blue: the write it read; purple: writes that replaced it" } else { "" };
                format!(
                    "operations: NOT linearizable on key {key}: operation {op} (outlined) cannot follow the numbered prefix{cause}"
                )
            }
            _ => format!("operations, {} to {}", fmt_time(scale.from), fmt_time(scale.to)),
        };
        root.draw(&Text::new(title, (LEFT, 12), text_style(14, BLACK))).map_err(draw_err)?;
        for (i, c) in lanes.iter().enumerate() {
            root.draw(&Text::new(format!("c{}", c + 1), (10, TOP + 20 + i as i32 * lane), text_style(13, BLACK)))
                .map_err(draw_err)?;
        }
        for o in &history.ops {
            let done = o.complete.as_ref().map_or(scale.to, |c| c.0);
            if done < scale.from || o.invoke > scale.to {
                continue;
            }
            let color = match o.complete.as_ref().map(|c| &c.1) {
                Some(Completion::Ok { .. }) => RGBColor(60, 160, 90),
                Some(Completion::Fail { .. }) => RGBColor(210, 60, 60),
                Some(Completion::Info { .. }) | None => RGBColor(240, 160, 40),
            };
            let y = TOP + 14 + lane_of(o.client) * lane;
            let (x0, x1) = (scale.x(o.invoke), scale.x(done).max(scale.x(o.invoke) + 2));
            root.draw(&Rectangle::new([(x0, y), (x1, y + 16)], color.filled())).map_err(draw_err)?;
            if stuck == Some(o.id) {
                root.draw(&Rectangle::new([(x0 - 2, y - 2), (x1 + 2, y + 18)], RED.stroke_width(3)))
                    .map_err(draw_err)?;
            } else if source == Some(o.id) {
                root.draw(&Rectangle::new([(x0 - 2, y - 2), (x1 + 2, y + 18)], BLUE.stroke_width(2)))
                    .map_err(draw_err)?;
                root.draw(&Text::new("wrote the value read", (x1 + 4, y + 22), text_style(9, BLUE)))
                    .map_err(draw_err)?;
            } else if overwrote(o.id) {
                root.draw(&Rectangle::new([(x0 - 2, y - 2), (x1 + 2, y + 18)], MAGENTA.stroke_width(2)))
                    .map_err(draw_err)?;
                root.draw(&Text::new("overwrote it", (x1 + 4, y + 22), text_style(9, MAGENTA))).map_err(draw_err)?;
            }
            if let Some(pos) = prefix.iter().position(|&p| p == o.id) {
                root.draw(&Text::new(format!("{}", pos + 1), (x0, y - 10), text_style(9, BLUE))).map_err(draw_err)?;
            }
            let label = op_text(&o.op, o.complete.as_ref().map(|c| &c.1));
            // As much of the label as fits the bar (about 5 px a character); the
            // operation that cannot be placed is named in full beside its bar.
            let fits = ((x1 - x0 - 4) / 5).max(0) as usize;
            if stuck == Some(o.id) {
                let text = format!("operation {}: {label}", o.id);
                root.draw(&Text::new(text, (x1 + 6, y + 4), text_style(10, RED))).map_err(draw_err)?;
            } else if fits >= 3 {
                let label: String = label.chars().take(fits).collect();
                root.draw(&Text::new(label, (x0 + 2, y + 4), text_style(9, BLACK))).map_err(draw_err)?;
            }
        }
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

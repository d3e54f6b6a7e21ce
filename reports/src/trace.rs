//! A run's `trace.jsonl` as the reports read it: streamed a line at a time, keeping
//! only what the window can draw, so that a report of any run (one cut off at the
//! event limit writes gigabytes) takes bounded memory, or declines with the reason.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};

use faultline_sim::time::fmt_time;
use faultline_sim::trace::{Addr, Event, ReadEvent};
use serde::Deserialize;
use serde_json::Value;

/// The most a report keeps of a trace: the bytes of the trace lines it keeps, plus
/// [`ITEM_BYTES`] for each message, note or interval. A bundled scenario's whole run
/// keeps a few MiB.
pub const KEEP_BYTES_MAX: usize = 64 << 20;
/// The longest line a trace may hold: one event, however large its message.
pub const LINE_BYTES_MAX: usize = 16 << 20;
/// What one kept item costs beside its text: its parsed form and its place in the
/// structures below (measured: a kept ping-pong message takes about 600 bytes).
pub const ITEM_BYTES: usize = 512;

/// Why a trace could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceError {
    /// Not a trace, or unreadable: the line and what is wrong with it.
    Malformed(String),
    /// What the window holds is more than [`KEEP_BYTES_MAX`]: the trace is fine.
    /// `overflow_at` is the virtual time at which it overflowed.
    TooLarge { keep_max: usize, overflow_at: u64 },
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::Malformed(m) => f.write_str(m),
            TraceError::TooLarge { keep_max, overflow_at } => write!(
                f,
                "the window holds more than the {} MiB of messages a report draws (it overflowed at {})",
                keep_max >> 20,
                fmt_time(*overflow_at)
            ),
        }
    }
}

pub(crate) struct Message {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) sent: u64,
    pub(crate) kind: String,
    /// The message as traced, for the viewer's hover.
    pub(crate) body: Value,
    /// Each delivery (more than one if duplicated), or the drop and its reason.
    pub(crate) delivered: Vec<u64>,
    pub(crate) dropped: Option<(u64, String)>,
}

/// Which part of a run to draw.
#[derive(Clone, Debug, Default)]
pub struct Window {
    /// Virtual time in nanoseconds.
    pub from: u64,
    /// Where drawing ends (the run's end if `None`).
    pub to: Option<u64>,
    /// Node names ("n2") or message kinds ("Append"): a message is drawn if its kind
    /// or either end is listed. Empty: everything.
    pub only: Vec<String>,
}

impl Window {
    /// Whether a message of `kind` from node index `from` to `to` is drawn.
    pub fn shows(&self, kind: &str, from: usize, to: usize) -> bool {
        self.only.is_empty()
            || self.only.iter().any(|o| o == kind || *o == format!("n{}", from + 1) || *o == format!("n{}", to + 1))
    }
}

/// What the timelines and the viewer draw of a trace, within one [`Window`].
#[derive(Default)]
pub struct Trace {
    /// The last event's time (of those read: reading stops once nothing later can be drawn).
    pub(crate) end: u64,
    /// In the order they were sent.
    pub(crate) messages: Vec<Message>,
    /// (from, to, label) of each partition interval.
    pub(crate) partitions: Vec<(u64, Option<u64>, String)>,
    /// (node, from, to, is a crash) for crashes and pauses.
    pub(crate) outages: Vec<(usize, u64, Option<u64>, bool)>,
    pub(crate) notes: Vec<(usize, u64, String)>,
    /// (node, time, what) of each observation a node reported.
    pub(crate) observations: Vec<(usize, u64, String)>,
    /// (time, partition, position, record) of each record a stream job's store made
    /// visible ([`faultline_sim::Observation::Output`]), for the output chart.
    pub(crate) outputs: Vec<(u64, u64, u64, u64)>,
    /// The invariant violation that ended the run, if one did.
    pub(crate) violation: Option<(u64, String)>,
}

/// One line of a trace: the time, then the event, read through the same typed
/// [`Event`] the engine wrote it from.
#[derive(Deserialize)]
struct Line {
    t: u64,
    #[serde(flatten)]
    ev: ReadEvent,
}

/// The kind of a traced message: its variant name, or "request"/"reply".
fn kind(msg: &Value) -> String {
    match msg {
        Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
        Value::String(s) => s.clone(),
        _ => "?".into(),
    }
}

/// A kept message while the trace is read: how many copies are still to arrive.
struct Open {
    message: Message,
    /// One, plus one per duplicate.
    copies: u32,
    /// Deliveries and drops so far.
    ended: u32,
    cost: usize,
}

impl Open {
    fn settled(&self) -> bool {
        self.ended >= self.copies
    }
    fn last_event(&self) -> u64 {
        let dropped = self.message.dropped.as_ref().map_or(0, |d| d.0);
        self.message.delivered.iter().copied().fold(dropped.max(self.message.sent), u64::max)
    }
}

/// The state of one read.
struct Reader<'w> {
    window: &'w Window,
    keep_max: usize,
    kept: usize,
    trace: Trace,
    /// Kept messages by send order, and their trace ids.
    messages: BTreeMap<u64, Open>,
    by_id: HashMap<u64, u64>,
    sends: u64,
    /// Kept messages with copies still to arrive.
    unsettled: usize,
}

impl Reader<'_> {
    fn keep(&mut self, cost: usize, t: u64) -> Result<(), TraceError> {
        self.kept = self.kept.saturating_add(cost);
        if self.kept > self.keep_max {
            return Err(TraceError::TooLarge { keep_max: self.keep_max, overflow_at: t });
        }
        Ok(())
    }

    fn before_window(&self, t: u64) -> bool {
        t < self.window.from
    }

    fn after_window(&self, t: u64) -> bool {
        self.window.to.is_some_and(|to| t > to)
    }

    /// After a delivery, drop or duplicate of message `seq`: forget it if it is done
    /// and nothing of it falls in the window.
    fn settle(&mut self, seq: u64, id: u64, was_settled: bool) {
        let Some(open) = self.messages.get(&seq) else { return };
        let settled = open.settled();
        match (was_settled, settled) {
            (false, true) => self.unsettled -= 1,
            (true, false) => self.unsettled += 1,
            _ => {}
        }
        if settled && self.before_window(open.last_event()) {
            let cost = open.cost;
            self.messages.remove(&seq);
            self.by_id.remove(&id);
            self.kept -= cost;
        }
    }

    fn event(&mut self, ev: ReadEvent, t: u64, line_len: usize) -> Result<(), TraceError> {
        self.trace.end = self.trace.end.max(t);
        match ev {
            Event::Send { from: Addr::Node(from), to: Addr::Node(to), id, msg } => {
                let (from, to) = (from.0, to.0);
                let kind = kind(&msg);
                if self.after_window(t) || !self.window.shows(&kind, from, to) {
                    return Ok(());
                }
                let cost = line_len.saturating_add(ITEM_BYTES);
                self.keep(cost, t)?;
                let seq = self.sends;
                self.sends += 1;
                let message = Message { from, to, sent: t, kind, body: msg, delivered: Vec::new(), dropped: None };
                if let Some(old) = self.by_id.insert(id, seq).and_then(|old| self.messages.remove(&old)) {
                    // An id sent twice: the later send stands.
                    self.kept -= old.cost;
                    self.unsettled -= usize::from(!old.settled());
                }
                self.messages.insert(seq, Open { message, copies: 1, ended: 0, cost });
                self.unsettled += 1;
            }
            Event::Deliver { id, .. } => self.fate(id, |open| {
                open.message.delivered.push(t);
                open.ended += 1;
            }),
            Event::Drop { id, reason, .. } => self.fate(id, |open| {
                open.message.dropped = Some((t, reason));
                open.ended += 1;
            }),
            Event::Duplicate { id, .. } => self.fate(id, |open| open.copies = open.copies.saturating_add(1)),
            Event::Partition { groups, .. } => {
                self.close_partition(t);
                let groups: Vec<String> =
                    groups.iter().map(|g| g.iter().map(|n| n.0.to_string()).collect::<Vec<_>>().join(" ")).collect();
                let label = groups.join(" | ");
                if !self.after_window(t) {
                    self.keep(label.len().saturating_add(ITEM_BYTES), t)?;
                    self.trace.partitions.push((t, None, label));
                }
            }
            Event::Heal { .. } => self.close_partition(t),
            Event::Crash { node, .. } | Event::Pause { node } if !self.after_window(t) => {
                let crash = matches!(ev, Event::Crash { .. });
                self.keep(ITEM_BYTES, t)?;
                self.trace.outages.push((node.0.0, t, None, crash));
            }
            Event::Restart { node, .. } | Event::Resume { node, .. } => {
                let n = node.0.0;
                if let Some(i) = self.trace.outages.iter().rposition(|o| o.0 == n && o.2.is_none()) {
                    self.trace.outages[i].2 = Some(t);
                    if self.before_window(t) {
                        self.trace.outages.remove(i);
                        self.kept -= ITEM_BYTES;
                    }
                }
            }
            Event::Violation { invariant, detail } => {
                self.trace.violation = Some((t, format!("invariant `{invariant}` violated: {detail}")));
            }
            Event::Note { node, text } if !self.before_window(t) && !self.after_window(t) => {
                self.keep(text.len().saturating_add(ITEM_BYTES), t)?;
                self.trace.notes.push((node.0.0, t, text));
            }
            Event::Observe { node, obs } if !self.before_window(t) && !self.after_window(t) => {
                let text = obs.to_string();
                self.keep(text.len().saturating_add(ITEM_BYTES), t)?;
                if let faultline_sim::Observation::Output { partition, position, seq, .. } = obs {
                    self.trace.outputs.push((t, partition, position, seq));
                }
                self.trace.observations.push((node.0.0, t, text));
            }
            _ => {}
        }
        Ok(())
    }

    /// A delivery, drop or duplicate of the message traced as `id`, if it is kept.
    fn fate(&mut self, id: u64, f: impl FnOnce(&mut Open)) {
        let Some(&seq) = self.by_id.get(&id) else { return };
        let Some(open) = self.messages.get_mut(&seq) else { return };
        let was_settled = open.settled();
        f(open);
        self.settle(seq, id, was_settled);
    }

    fn close_partition(&mut self, t: u64) {
        if let Some(last) = self.trace.partitions.last_mut().filter(|l| l.1.is_none()) {
            last.1 = Some(t);
            if self.before_window(t) {
                let (_, _, label) = self.trace.partitions.pop().expect("the last partition");
                self.kept -= label.len() + ITEM_BYTES;
            }
        }
    }
}

impl Trace {
    /// Reads a trace, keeping what `window` can draw, in at most [`KEEP_BYTES_MAX`].
    pub fn read(reader: impl BufRead, window: &Window) -> Result<Trace, TraceError> {
        Trace::read_within(reader, window, KEEP_BYTES_MAX)
    }

    /// [`Trace::read`] of text in memory.
    pub fn parse(text: &str, window: &Window) -> Result<Trace, TraceError> {
        Trace::read(text.as_bytes(), window)
    }

    /// [`Trace::read`], keeping at most `keep_max` bytes.
    pub fn read_within(mut reader: impl BufRead, window: &Window, keep_max: usize) -> Result<Trace, TraceError> {
        let mut r = Reader {
            window,
            keep_max,
            kept: 0,
            trace: Trace::default(),
            messages: BTreeMap::new(),
            by_id: HashMap::new(),
            sends: 0,
            unsettled: 0,
        };
        let mut line = Vec::new();
        for number in 1.. {
            line.clear();
            let read = reader
                .by_ref()
                .take(LINE_BYTES_MAX as u64 + 1)
                .read_until(b'\n', &mut line)
                .map_err(|e| TraceError::Malformed(format!("line {number}: cannot read it: {e}")))?;
            if read == 0 {
                break;
            }
            if line.len() > LINE_BYTES_MAX {
                return Err(TraceError::Malformed(format!(
                    "line {number} is longer than {} MiB: a trace holds one event per line",
                    LINE_BYTES_MAX >> 20
                )));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Line { t, ev } = serde_json::from_slice(&line)
                .map_err(|e| TraceError::Malformed(format!("line {number}: not a trace event: {e}")))?;
            let len = line.len();
            r.event(ev, t, len)?;
            // Past the window with every kept message accounted for: nothing later is drawn.
            if r.after_window(t) && r.unsettled == 0 {
                break;
            }
        }
        let mut trace = r.trace;
        trace.messages = r.messages.into_values().map(|o| o.message).collect();
        Ok(trace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(t: u64, id: u64, body: &str) -> String {
        format!(r#"{{"t":{t},"ev":"send","from":"n1","to":"n2","id":{id},"msg":{{"Ping":"{body}"}}}}"#)
    }
    fn deliver(t: u64, id: u64) -> String {
        format!(r#"{{"t":{t},"ev":"deliver","from":"n1","to":"n2","id":{id}}}"#)
    }

    /// 1,000 messages of about 1 KiB, each delivered 5 ns after it is sent.
    fn long_trace() -> String {
        let body = "x".repeat(1000);
        let mut lines = Vec::new();
        for i in 0..1000u64 {
            lines.push(send(i * 10, i, &body));
            lines.push(deliver(i * 10 + 5, i));
        }
        lines.join("\n")
    }

    #[test]
    fn a_trace_larger_than_the_budget_is_declined_with_where_it_overflowed() {
        let whole = Window::default();
        let t = long_trace();
        assert_eq!(Trace::read_within(t.as_bytes(), &whole, 4 << 20).expect("fits").messages.len(), 1000);
        // Each message keeps its send line (about 1 KiB) and ITEM_BYTES: 100 fit in
        // 100 of the longest, and the 101st, sent at 1000 ns, overflows.
        let each = send(9990, 999, &"x".repeat(1000)).len() + 1 + ITEM_BYTES;
        match Trace::read_within(t.as_bytes(), &whole, 100 * each + 10) {
            Err(TraceError::TooLarge { overflow_at, .. }) => assert_eq!(overflow_at, 1000),
            other => panic!("expected TooLarge, got {:?}", other.map(|t| t.messages.len())),
        }
    }

    #[test]
    fn a_window_late_in_a_long_trace_keeps_only_what_it_draws() {
        let window = Window { from: 9000, to: Some(9100), only: Vec::new() };
        let p = Trace::read_within(long_trace().as_bytes(), &window, 100 << 10).expect("the window fits");
        let sent: Vec<u64> = p.messages.iter().map(|m| m.sent).collect();
        assert_eq!(sent, (900..=910).map(|i| i * 10).collect::<Vec<_>>());
        // Reading stopped once every kept message had arrived.
        assert_eq!(p.end, 9105);
    }

    #[test]
    fn a_message_sent_before_the_window_and_delivered_in_it_is_kept() {
        let text = [send(1, 7, "a"), send(2, 8, "b"), deliver(3, 8), deliver(50, 7)].join("\n");
        let window = Window { from: 10, to: None, only: Vec::new() };
        let p = Trace::parse(&text, &window).expect("a trace");
        assert_eq!(p.messages.len(), 1);
        assert_eq!((p.messages[0].sent, p.messages[0].delivered.clone()), (1, vec![50]));
    }

    #[test]
    fn a_duplicate_keeps_its_message_until_the_second_copy_arrives() {
        let dup = r#"{"t":1,"ev":"duplicate","from":"n1","to":"n2","id":7}"#.to_string();
        let text = [send(1, 7, "a"), dup, deliver(2, 7), deliver(40, 7)].join("\n");
        let window = Window { from: 10, to: None, only: Vec::new() };
        let p = Trace::parse(&text, &window).expect("a trace");
        assert_eq!(p.messages.len(), 1);
        assert_eq!(p.messages[0].delivered, vec![2, 40]);
    }

    #[test]
    fn a_line_without_an_end_is_refused_not_read_whole() {
        let endless = std::io::repeat(b'x');
        let err = Trace::read(std::io::BufReader::new(endless), &Window::default()).err().expect("refused");
        assert!(err.to_string().contains("line 1 is longer than"), "{err}");
    }
}

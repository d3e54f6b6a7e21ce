//! The trace: every event of a run as one JSON object a line, streamed to a writer,
//! and a digest of those events ([`crate::digest::Digest`]). Two runs of one scenario
//! and seed give the same bytes, so the same digest. The digest is computed from the
//! typed events in a compact pinned encoding, so a run that only hashes its trace (a
//! sweep) never formats a line: JSON is made only when a trace file is written.

use std::io::{self, Write};

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize};

use crate::protocol::{ClientId, NodeId, Observation, Reply, Request};
use crate::time::Time;

pub use faultline_checker::fnv::Fnv64;

/// MurmurHash64A's multiplier (the trace digest's too, [`crate::digest`]).
pub(crate) const MURMUR_M: u64 = 0xc6a4_a793_5bd1_e995;
const MURMUR_R: u32 = 47;

/// MurmurHash64A's finaliser: every bit of `h` moves every bit of the result.
#[inline]
pub(crate) fn murmur_finish(mut h: u64) -> u64 {
    h ^= h >> MURMUR_R;
    h = h.wrapping_mul(MURMUR_M);
    h ^ (h >> MURMUR_R)
}

/// MurmurHash64A (Austin Appleby's public-domain algorithm) of one byte string, words
/// read little-endian so every machine agrees.
pub fn murmur64a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(MURMUR_M);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        k = k.wrapping_mul(MURMUR_M);
        k ^= k >> MURMUR_R;
        k = k.wrapping_mul(MURMUR_M);
        h ^= k;
        h = h.wrapping_mul(MURMUR_M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        // The tail's bytes, little-endian; a byte loop, not a memcpy call: most
        // strings hashed are a few bytes long.
        let last = tail.iter().rev().fold(0u64, |k, &b| k << 8 | u64::from(b));
        h ^= last;
        h = h.wrapping_mul(MURMUR_M);
    }
    murmur_finish(h)
}

/// Who sends or receives: a node or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A node.
    Node(NodeId),
    /// A client.
    Client(ClientId),
}

/// A name for people (`n1`, `c12`), a number for the digest (nodes from 0, clients
/// from 2^32: a compact encoding is not human-readable).
impl Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, s.is_human_readable()) {
            (Addr::Node(n), true) => with_name(b'n', n.0 as u64 + 1, |name| s.serialize_str(name)),
            (Addr::Client(c), true) => with_name(b'c', *c as u64 + 1, |name| s.serialize_str(name)),
            (Addr::Node(n), false) => s.serialize_u64(n.0 as u64),
            (Addr::Client(c), false) => s.serialize_u64(1 << 32 | *c as u64),
        }
    }
}

impl Serialize for NodeIdName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Addr::Node(self.0).serialize(s)
    }
}

/// How many names of each kind are made once and kept: every node, and the
/// clients of all but the largest workloads.
const NAMES_KEPT: usize = 1024;

/// `n7`, `c12`: names are in every trace line, so the common ones are made once.
fn with_name<R>(prefix: u8, n: u64, f: impl FnOnce(&str) -> R) -> R {
    static KEPT: std::sync::OnceLock<[Vec<String>; 2]> = std::sync::OnceLock::new();
    let kept = KEPT.get_or_init(|| {
        let make = |p: char| (0..NAMES_KEPT).map(|i| format!("{p}{i}")).collect();
        [make('n'), make('c')]
    });
    match kept[usize::from(prefix == b'c')].get(n as usize) {
        Some(name) if n > 0 => f(name),
        _ => {
            let mut buf = [0u8; 24];
            f(name(&mut buf, prefix, n))
        }
    }
}

fn name(buf: &mut [u8; 24], prefix: u8, n: u64) -> &str {
    let mut digits = [0u8; 20];
    let len = decimal(&mut digits, n);
    buf[0] = prefix;
    buf[1..=len].copy_from_slice(&digits[20 - len..]);
    std::str::from_utf8(&buf[..=len]).expect("ASCII")
}

fn decimal(out: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return out.len() - i;
        }
    }
}

/// A node id that serialises as its name, `"n1"` (as its number for the digest, as [`Addr`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeIdName(pub NodeId);

/// `"n3"` -> ('n', 2): a letter and a number from 1, as [`name`] writes them.
fn parse_name(text: &str) -> Option<(char, usize)> {
    let mut chars = text.chars();
    let letter = chars.next()?;
    let rest = chars.as_str();
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
        return None;
    }
    Some((letter, rest.parse::<usize>().ok()?.checked_sub(1)?))
}

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(d)?;
        match parse_name(&text) {
            Some(('n', i)) => Ok(Addr::Node(NodeId(i))),
            Some(('c', i)) => Ok(Addr::Client(i)),
            _ => Err(serde::de::Error::custom(format!(
                "`{text}` is neither a node (n1, n2, ...) nor a client (c1, ...)"
            ))),
        }
    }
}

impl<'de> Deserialize<'de> for NodeIdName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Addr::deserialize(d)? {
            Addr::Node(n) => Ok(NodeIdName(n)),
            Addr::Client(c) => Err(serde::de::Error::custom(format!("c{} is a client, not a node", c + 1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_format_like_display() {
        let addrs = (Addr::Node(NodeId(0)), Addr::Client(11), NodeIdName(NodeId(99)), Addr::Client(NAMES_KEPT + 5));
        let json = serde_json::to_string(&addrs).unwrap();
        assert_eq!(json, format!(r#"["n1","c12","n100","c{}"]"#, NAMES_KEPT + 6));
        let mut d = [0u8; 20];
        for n in [0u64, 7, 10, 1_234_567, u64::MAX] {
            let len = decimal(&mut d, n);
            assert_eq!(std::str::from_utf8(&d[20 - len..]).unwrap(), n.to_string());
        }
    }

    /// Every event, written as the engine writes it, reads back through the same enum
    /// and writes again to the same bytes: the reader and the writer cannot drift.
    #[test]
    fn every_event_reads_back_as_written() {
        use crate::protocol::{Op, Outcome};
        let n = |i| NodeIdName(NodeId(i));
        let (a, b) = (Addr::Node(NodeId(0)), Addr::Client(2));
        let request = Request::new(2, 7, Op::Put { key: "k1".into(), value: "x".into() }).retried(NodeId(1), 2);
        let reply = Reply { client: 2, seq: 7, outcome: Outcome::Swapped(true) };
        let msg = ("Ping".to_string(), 3u64);
        let timer = "election";
        let observed = Observation::Decided {
            txn: 1 << 32 | 3,
            commit: true,
            participants: vec![NodeId(1), NodeId(2)],
            reads: vec![("a1".into(), 0)],
            writes: vec![],
        };
        let events: Vec<Written<'_, (String, u64), &str>> = vec![
            Event::Send { from: a, to: Addr::Node(NodeId(1)), id: 1, msg: Body::Peer(&msg) },
            Event::Send { from: b, to: a, id: 2, msg: Body::Request { request: &request } },
            Event::Send { from: a, to: b, id: 3, msg: Body::Reply { reply: &reply } },
            Event::Deliver { from: a, to: b, id: 3 },
            Event::Drop { from: a, to: b, id: 3, reason: "partition" },
            Event::Duplicate { from: a, to: b, id: 3 },
            Event::Reorder { from: a, to: b, id: 3 },
            Event::Hold { from: a, to: b, id: 3 },
            Event::Timer { node: n(2), id: 9, timer: &timer },
            Event::Crash { node: n(1), lost_writes: 2 },
            Event::Restart { node: n(1), durable_keys: 4 },
            Event::Pause { node: n(0) },
            Event::Resume { node: n(0), backlog: 3 },
            Event::Partition { kind: "groups", groups: vec![vec![n(0)], vec![n(1), n(2)]], cut: vec![(n(0), n(1))] },
            Event::Heal { released: 5 },
            Event::Clock { node: n(2), skew_ns: -5, drift_ppm: 100 },
            Event::Sync { node: n(2), writes: 1 },
            Event::Invoke { client: b, op: 4, request: &request },
            Event::Complete { client: b, op: 4, outcome: "ok", detail: "swapped=true" },
            Event::Note { node: n(0), text: "became leader of term 3" },
            Event::Observe { node: n(1), obs: &observed },
            Event::Violation { invariant: "agreement", detail: "two values" },
            Event::Membership { epoch: 2, members: vec![n(0), n(2)] },
            Event::End { events: 99 },
        ];
        // A new variant must be added above: this match names every one.
        let mut seen = std::collections::BTreeSet::new();
        for e in &events {
            seen.insert(match e {
                Event::Send { .. } => "send",
                Event::Deliver { .. } => "deliver",
                Event::Drop { .. } => "drop",
                Event::Duplicate { .. } => "duplicate",
                Event::Reorder { .. } => "reorder",
                Event::Hold { .. } => "hold",
                Event::Timer { .. } => "timer",
                Event::Crash { .. } => "crash",
                Event::Restart { .. } => "restart",
                Event::Pause { .. } => "pause",
                Event::Resume { .. } => "resume",
                Event::Partition { .. } => "partition",
                Event::Heal { .. } => "heal",
                Event::Clock { .. } => "clock",
                Event::Sync { .. } => "sync",
                Event::Invoke { .. } => "invoke",
                Event::Complete { .. } => "complete",
                Event::Note { .. } => "note",
                Event::Observe { .. } => "observe",
                Event::Violation { .. } => "violation",
                Event::Membership { .. } => "membership",
                Event::End { .. } => "end",
            });
        }
        assert_eq!(seen.len(), 22, "every variant is sampled");
        for e in &events {
            let written = serde_json::to_string(e).expect("writes");
            let read: ReadEvent = serde_json::from_str(&written).unwrap_or_else(|err| panic!("{written}: {err}"));
            let again = serde_json::to_value(&read).expect("writes again");
            assert_eq!(again, serde_json::from_str::<serde_json::Value>(&written).expect("JSON"), "{written}");
        }
        for bad in [
            r#"{"ev":"crash","node":"c1","lost_writes":0}"#,
            r#"{"ev":"deliver","from":"n0","to":"n1","id":1}"#,
            r#"{"ev":"deliver","from":"x1","to":"n1","id":1}"#,
            r#"{"ev":"explode","node":"n1"}"#,
        ] {
            assert!(serde_json::from_str::<ReadEvent>(bad).is_err(), "{bad} reads as an event");
        }
        // The digest: the same whether the lines are written or only hashed, and
        // pinned (a change here changes every trace digest: say so in the notes).
        let digest = |mut trace: Trace| {
            for (t, e) in events.iter().enumerate() {
                trace.write_event(t as u64 * 1_000, e);
            }
            trace.finish().expect("no write error")
        };
        let buffer = TraceBuffer::default();
        let written = digest(Trace::to_writer(Box::new(buffer.clone())));
        assert_eq!(written, digest(Trace::hash_only()));
        assert_eq!(buffer.text().lines().count(), events.len());
        assert_eq!(written, (PINNED, events.len() as u64), "{:#018x}", written.0);
    }

    const PINNED: u64 = 0x42ae_58f1_10e0_f886;

    /// Pinned values: if these change, every recorded trace hash changes with them.
    #[test]
    fn the_hashes_are_pinned() {
        // Values from an independent implementation of MurmurHash64A.
        assert_eq!(murmur64a(b"", 0), 0);
        assert_eq!(murmur64a(b"faultline", 0x6661_756c_746c_696e), 0xe75f_8f6d_4e54_a264);
        assert_eq!(murmur64a(b"0123456789abcdef", 0), 0x93a9_2d1a_91a2_4bc7);
        assert_eq!(Fnv64::default().finish(), 0xcbf2_9ce4_8422_2325);
    }
}

/// A message body as the trace shows it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Body<'a, M> {
    /// A message between nodes: the protocol's own.
    Peer(&'a M),
    /// A client's request.
    Request {
        /// The request.
        request: &'a Request,
    },
    /// A node's reply to a client.
    Reply {
        /// The reply.
        reply: &'a Reply,
    },
}

/// One trace event, as the engine writes it ([`Written`]) and as a reader reads it
/// back ([`ReadEvent`]): one enum, so the two cannot drift apart. `t` (virtual time, ns)
/// is written before it. `B` is a message body, `T` a timer, `S` a string, `R` a
/// client request and `O` an observation: references when written (so an event
/// costs nothing to build and drop when the trace is off), owned when read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event<B, T, S, R, O> {
    /// A message was put on the wire.
    Send {
        /// Who sent it.
        from: Addr,
        /// Who it was for.
        to: Addr,
        /// The message's id, unique in the run.
        id: u64,
        /// What it carries.
        msg: B,
    },
    /// A message arrived and its handler ran.
    Deliver {
        /// Who sent it.
        from: Addr,
        /// Who it was for.
        to: Addr,
        /// The message's id, unique in the run.
        id: u64,
    },
    /// A message was lost (`reason`: loss, partition, node down, dropped by a fault).
    Drop {
        /// Who sent it.
        from: Addr,
        /// Who it was for.
        to: Addr,
        /// The message's id, unique in the run.
        id: u64,
        /// Why it was lost.
        reason: S,
    },
    /// The link delivers this message twice.
    Duplicate {
        /// Who sent it.
        from: Addr,
        /// Who it was for.
        to: Addr,
        /// The message's id, unique in the run.
        id: u64,
    },
    /// This message skips its link's FIFO order.
    Reorder {
        /// Who sent it.
        from: Addr,
        /// Who it was for.
        to: Addr,
        /// The message's id, unique in the run.
        id: u64,
    },
    /// A cut link holds this message until the cut heals.
    Hold {
        /// Who sent it.
        from: Addr,
        /// Who it was for.
        to: Addr,
        /// The message's id, unique in the run.
        id: u64,
    },
    /// A timer fired.
    Timer {
        /// The node whose timer it is.
        node: NodeIdName,
        /// The timer's id.
        id: u64,
        /// What the timer carries.
        timer: T,
    },
    /// A node crashed.
    Crash {
        /// The node.
        node: NodeIdName,
        /// Writes it had not synced, now lost.
        lost_writes: usize,
    },
    /// A node restarted from its disk.
    Restart {
        /// The node.
        node: NodeIdName,
        /// Keys its disk held.
        durable_keys: usize,
    },
    /// A node paused (a GC pause, SIGSTOP).
    Pause {
        /// The node.
        node: NodeIdName,
    },
    /// A paused node resumed.
    Resume {
        /// The node.
        node: NodeIdName,
        /// Messages that waited for it, delivered now.
        backlog: usize,
    },
    /// The links were cut.
    Partition {
        /// How: `groups`, `isolate`, `one-way`, or a split's name.
        kind: S,
        /// The groups that can reach each other.
        groups: Vec<Vec<NodeIdName>>,
        /// Every cut link, `(from, to)`.
        cut: Vec<(NodeIdName, NodeIdName)>,
    },
    /// Every cut healed.
    Heal {
        /// Held messages released to be delivered.
        released: usize,
    },
    /// A node's clock changed (a clock fault, or its healing).
    Clock {
        /// The node.
        node: NodeIdName,
        /// Its wall clock minus real time, in ns.
        skew_ns: i64,
        /// How fast it runs against real time, parts per million.
        drift_ppm: i64,
    },
    /// A node synced its disk.
    Sync {
        /// The node.
        node: NodeIdName,
        /// Writes made durable.
        writes: usize,
    },
    /// A client invoked an operation.
    Invoke {
        /// The client.
        client: Addr,
        /// The operation's id in the history.
        op: usize,
        /// What it asked for.
        request: R,
    },
    /// A client's operation ended.
    Complete {
        /// The client.
        client: Addr,
        /// The operation's id in the history.
        op: usize,
        /// `ok`, `fail` or `info`.
        outcome: S,
        /// The value read, the error, or why the client gave up.
        detail: S,
    },
    /// A protocol's free-form line.
    Note {
        /// The node that wrote it.
        node: NodeIdName,
        /// The line.
        text: S,
    },
    /// A node reported what it did ([`crate::Ctx::observe`]).
    Observe {
        /// The node that reported it.
        node: NodeIdName,
        /// What it reported.
        obs: O,
    },
    /// An invariant failed: the run stops here.
    Violation {
        /// The invariant's name.
        invariant: S,
        /// The value read, the error, or why the client gave up.
        detail: S,
    },
    /// The membership changed: the new view, numbered from 0.
    Membership {
        /// The view's number, from 0.
        epoch: u64,
        /// The members, in node order.
        members: Vec<NodeIdName>,
    },
    /// The run ended.
    End {
        /// Events the run took.
        events: u64,
    },
}

/// An event as the engine writes it: borrowed, with the protocol's own message and
/// timer types.
pub type Written<'a, M, T> = Event<Body<'a, M>, &'a T, &'a str, &'a Request, &'a Observation>;

/// An event as read back from a trace line: owned, with message bodies and timers
/// as JSON (a reader does not know the protocol's types).
pub type ReadEvent = Event<serde_json::Value, serde_json::Value, String, Request, Observation>;

/// Where the trace goes. `Off` skips serialisation altogether (benchmarks).
pub struct Trace {
    on: bool,
    out: Option<Box<dyn Write + Send>>,
    digest: crate::digest::Digest,
    lines: u64,
    line: Vec<u8>,
    body: Vec<u8>,
    error: Option<io::Error>,
}

/// An in-memory trace sink that can be read back while (or after) a run writes to
/// it: `Trace::to_writer(Box::new(buf.clone()))`, then `buf.text()`.
#[derive(Clone, Debug, Default)]
pub struct TraceBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl TraceBuffer {
    /// Everything written so far, as text (a trace is UTF-8 JSON lines).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("trace buffer lock")).into_owned()
    }
}

impl Write for TraceBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("trace buffer lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Trace {
    /// No trace and no hash: the fastest way to run.
    pub fn off() -> Trace {
        Trace {
            on: false,
            out: None,
            digest: crate::digest::Digest::default(),
            lines: 0,
            line: Vec::new(),
            body: Vec::new(),
            error: None,
        }
    }
    /// Serialise and hash every event, keep nothing.
    pub fn hash_only() -> Trace {
        Trace { on: true, ..Trace::off() }
    }
    /// Serialise, hash and stream every event to `out`.
    pub fn to_writer(out: Box<dyn Write + Send>) -> Trace {
        Trace { on: true, out: Some(out), ..Trace::off() }
    }

    #[inline]
    /// Whether events are written or hashed at all (`false`: a benchmark run).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Records the event `ev` builds. Cheap when the trace is off: the check is
    /// inlined at every call site, the event is not even built, and the
    /// serialisation is out of line. (Building it first and checking after cost
    /// ping-pong 1.7% of its instructions: a `Deliver` was put together on the stack
    /// for every message.)
    #[inline]
    pub fn emit<'e, M: Serialize + 'e, T: Serialize + 'e>(&mut self, t: Time, ev: impl FnOnce() -> Written<'e, M, T>) {
        if self.on {
            self.write_event(t, &ev());
        }
    }

    #[inline(never)]
    fn write_event<M: Serialize, T: Serialize>(&mut self, t: Time, ev: &Written<'_, M, T>) {
        self.digest.line(t, ev).expect("trace events serialise");
        self.lines += 1;
        if let Some(out) = &mut self.out
            && self.error.is_none()
        {
            self.body.clear();
            serde_json::to_writer(&mut self.body, ev).expect("trace events serialise");
            self.line.clear();
            self.line.extend_from_slice(b"{\"t\":");
            let mut digits = [0u8; 20];
            let len = decimal(&mut digits, t);
            self.line.extend_from_slice(&digits[20 - len..]);
            self.line.push(b',');
            self.line.extend_from_slice(&self.body[1..]);
            self.line.push(b'\n');
            if let Err(e) = out.write_all(&self.line) {
                self.error = Some(e);
            }
        }
    }

    /// Flushes the writer; returns the hash, the line count, and any write error.
    pub fn finish(&mut self) -> io::Result<(u64, u64)> {
        if let Some(out) = &mut self.out
            && self.error.is_none()
            && let Err(e) = out.flush()
        {
            self.error = Some(e);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok((self.digest.finish(), self.lines)),
        }
    }
}

//! The trace: every event of a run as one JSON object a line, streamed to a writer,
//! and a hash of exactly those bytes. Two runs of one scenario and seed give the same
//! bytes, so the same hash.

use std::io::{self, Write};

use serde::Serialize;

use crate::protocol::{ClientId, NodeId, Reply, Request};
use crate::time::Time;

/// FNV-1a, 64 bit: a pinned hash, the same on every machine and Rust release.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv64 {
    pub fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    pub fn finish(self) -> u64 {
        self.0
    }
}

/// Who sends or receives: a node or a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    Node(NodeId),
    Client(ClientId),
}

impl Serialize for Addr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Addr::Node(n) => s.collect_str(n),
            Addr::Client(c) => s.collect_str(&format_args!("c{}", c + 1)),
        }
    }
}

impl Serialize for NodeIdName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A node id that serialises as its name, `"n1"`.
#[derive(Clone, Copy, Debug)]
pub struct NodeIdName(pub NodeId);

/// A message body as the trace shows it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Body<'a, M> {
    Peer(&'a M),
    Request { request: &'a Request },
    Reply { reply: &'a Reply },
}

/// One trace event. `t` (virtual time, ns) is written before it.
#[derive(Serialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event<'a, M, T> {
    Send { from: Addr, to: Addr, id: u64, msg: Body<'a, M> },
    Deliver { from: Addr, to: Addr, id: u64 },
    Drop { from: Addr, to: Addr, id: u64, reason: &'static str },
    Duplicate { from: Addr, to: Addr, id: u64 },
    Reorder { from: Addr, to: Addr, id: u64 },
    Hold { from: Addr, to: Addr, id: u64 },
    Timer { node: NodeIdName, id: u64, timer: &'a T },
    Crash { node: NodeIdName, lost_writes: usize },
    Restart { node: NodeIdName, durable_keys: usize },
    Pause { node: NodeIdName },
    Resume { node: NodeIdName, backlog: usize },
    Partition { kind: &'a str, groups: Vec<Vec<NodeIdName>>, cut: Vec<(NodeIdName, NodeIdName)> },
    Heal { released: usize },
    Clock { node: NodeIdName, skew_ns: i64, drift_ppm: i64 },
    Sync { node: NodeIdName, writes: usize },
    Invoke { client: Addr, op: usize, request: &'a Request },
    Complete { client: Addr, op: usize, outcome: &'a str, detail: &'a str },
    Note { node: NodeIdName, text: &'a str },
    Violation { invariant: &'a str, detail: &'a str },
    End { events: u64 },
}

/// Where the trace goes. `Off` skips serialisation altogether (benchmarks).
pub struct Trace {
    on: bool,
    out: Option<Box<dyn Write + Send>>,
    hash: Fnv64,
    lines: u64,
    line: Vec<u8>,
    body: Vec<u8>,
    error: Option<io::Error>,
}

impl Trace {
    /// No trace and no hash: the fastest way to run.
    pub fn off() -> Trace {
        Trace {
            on: false,
            out: None,
            hash: Fnv64::default(),
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
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Records one event. Cheap when the trace is off: the check is inlined at every
    /// call site and the serialisation is not.
    #[inline]
    pub fn emit<M: Serialize, T: Serialize>(&mut self, t: Time, ev: &Event<'_, M, T>) {
        if self.on {
            self.write_event(t, ev);
        }
    }

    #[inline(never)]
    fn write_event<M: Serialize, T: Serialize>(&mut self, t: Time, ev: &Event<'_, M, T>) {
        self.body.clear();
        serde_json::to_writer(&mut self.body, ev).expect("trace events serialise");
        self.line.clear();
        self.line.extend_from_slice(b"{\"t\":");
        self.line.extend_from_slice(t.to_string().as_bytes());
        self.line.push(b',');
        self.line.extend_from_slice(&self.body[1..]);
        self.line.push(b'\n');
        self.hash.update(&self.line);
        self.lines += 1;
        if let Some(out) = &mut self.out
            && self.error.is_none()
            && let Err(e) = out.write_all(&self.line)
        {
            self.error = Some(e);
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
            None => Ok((self.hash.finish(), self.lines)),
        }
    }
}

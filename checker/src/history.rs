//! Client histories: invoke / ok / fail / info events at virtual times. A timed-out
//! write is `info` (indeterminate: it may or may not have taken effect), never
//! assumed failed.

use serde::{Deserialize, Serialize};

use crate::op::{ClientId, Op};
use crate::time::Time;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// What a history event records: an invocation, or how an operation ended.
pub enum EventType {
    /// A client invoked an operation.
    Invoke,
    /// It took effect, with this result.
    Ok,
    /// It definitely took no effect.
    Fail,
    /// Unknown: it may or may not have taken effect (Jepsen's `info`).
    Info,
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum Completion {
    /// Took effect. `value` is what a get read; `swapped` what a cas did.
    Ok {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// A read's value (`None` for a write).
        value: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// A `cas`'s result: swapped or not.
        swapped: Option<bool>,
    },
    /// Definitely took no effect: a node said no, or a read that the client gave up on.
    Fail {
        /// Why: the system's answer, or why the client stopped waiting.
        error: String,
        /// Set when no node answered and the client stopped waiting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gave_up: Option<GaveUp>,
    },
    /// Unknown: it may take effect at any time after its invocation, or never.
    Info {
        /// Why the client does not know.
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        /// Whether the client gave up waiting, and how (`None`: the system said so).
        gave_up: Option<GaveUp>,
    },
}

/// Why a client stopped waiting for an answer that never came.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GaveUp {
    /// Its last attempt timed out and it had no retries left.
    TimedOut,
    /// The run ended first.
    RunEnded,
}

impl std::fmt::Display for GaveUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GaveUp::TimedOut => "timed out",
            GaveUp::RunEnded => "run ended",
        })
    }
}

impl Completion {
    /// A node said no (an aborted transaction, a rejected request).
    pub fn rejected(error: impl Into<String>) -> Completion {
        Completion::Fail { error: error.into(), gave_up: None }
    }

    /// The client gave up on `op`: a read took no effect, so it failed; a write
    /// may yet take effect, so its outcome is unknown.
    pub fn gave_up(op: &Op, why: GaveUp) -> Completion {
        let error = why.to_string();
        if op.is_read() {
            Completion::Fail { error, gave_up: Some(why) }
        } else {
            Completion::Info { error, gave_up: Some(why) }
        }
    }

    /// A node answered: ok, or a definite failure such as an aborted transaction (not
    /// a client that gave up waiting).
    pub fn answered(&self) -> bool {
        match self {
            Completion::Ok { .. } => true,
            Completion::Fail { gave_up, .. } => gave_up.is_none(),
            Completion::Info { .. } => false,
        }
    }

    /// The error a failed or unknown completion carries.
    pub fn error(&self) -> Option<&str> {
        match self {
            Completion::Ok { .. } => None,
            Completion::Fail { error, .. } | Completion::Info { error, .. } => Some(error),
        }
    }

    /// The kind of completion: ok, fail or info.
    pub fn event_type(&self) -> EventType {
        match self {
            Completion::Ok { .. } => EventType::Ok,
            Completion::Fail { .. } => EventType::Fail,
            Completion::Info { .. } => EventType::Info,
        }
    }
}

/// One operation: its invocation and, once known, its completion.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Operation {
    /// The operation's id: its index in [`History::ops`].
    pub id: usize,
    /// The client that invoked it.
    pub client: ClientId,
    /// What it asked for.
    pub op: Op,
    /// When it was invoked.
    pub invoke: Time,
    /// When and how it ended; `None` if it never did.
    pub complete: Option<(Time, Completion)>,
}

/// A history event as exported: one line of `history.json`'s `events`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEvent {
    /// When it happened.
    pub time: Time,
    /// The client (Jepsen's `process`).
    pub process: ClientId,
    /// The operation's id.
    pub op: usize,
    #[serde(flatten)]
    /// An invocation or a completion.
    pub what: HistoryWhat,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
/// What one history event says.
pub enum HistoryWhat {
    /// An invocation.
    Invoke {
        #[serde(rename = "type")]
        /// Always [`EventType::Invoke`].
        kind: EventType,
        #[serde(flatten)]
        /// What was asked for.
        op: Op,
    },
    /// How the operation ended.
    Complete(Completion),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
/// Every client operation of a run, in invocation order.
pub struct History {
    /// The operations; an operation's id is its index here.
    pub ops: Vec<Operation>,
    /// Operation ids in the order their events happened: `(op, is_completion)`.
    order: Vec<(usize, bool)>,
}

impl History {
    /// An operation for a student: "operation 41 (put k1 = \"2.8\" by c2, 1.2s to 1.25s)".
    pub fn describe(&self, id: usize) -> String {
        let Some(o) = self.ops.get(id) else { return format!("operation {id}") };
        let end = match &o.complete {
            Some((t, _)) => format!(" to {}", crate::time::fmt_time(*t)),
            None => ", never returned".to_string(),
        };
        format!("operation {id} ({} by c{}, {}{end})", o.op, o.client + 1, crate::time::fmt_time(o.invoke))
    }

    /// Records that `client` invoked `op` at `time`; returns the operation's id.
    pub fn invoke(&mut self, time: Time, client: ClientId, op: Op) -> usize {
        let id = self.ops.len();
        self.ops.push(Operation { id, client, op, invoke: time, complete: None });
        self.order.push((id, false));
        id
    }

    /// Records how operation `id` ended, at `time`.
    pub fn complete(&mut self, id: usize, time: Time, completion: Completion) {
        let op = &mut self.ops[id];
        assert!(op.complete.is_none(), "operation {id} completed twice");
        op.complete = Some((time, completion));
        self.order.push((id, true));
    }

    /// The events in the order they happened.
    pub fn events(&self) -> Vec<HistoryEvent> {
        self.order
            .iter()
            .map(|&(id, done)| {
                let op = &self.ops[id];
                match (&op.complete, done) {
                    (Some((t, c)), true) => {
                        HistoryEvent { time: *t, process: op.client, op: id, what: HistoryWhat::Complete(c.clone()) }
                    }
                    _ => HistoryEvent {
                        time: op.invoke,
                        process: op.client,
                        op: id,
                        what: HistoryWhat::Invoke { kind: EventType::Invoke, op: op.op.clone() },
                    },
                }
            })
            .collect()
    }

    /// How many operations ended as `kind` (ok, fail or info; never `Invoke`).
    pub fn count(&self, kind: EventType) -> usize {
        self.ops.iter().filter(|o| o.complete.as_ref().map(|(_, c)| c.event_type()) == Some(kind)).count()
    }

    /// `history.json`: `{"format": "faultline-history", "version": 1, "events": [...]}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct File<'a> {
            format: &'a str,
            version: u32,
            events: Vec<HistoryEvent>,
        }
        let file = File { format: "faultline-history", version: 1, events: self.events() };
        serde_json::to_string_pretty(&file).expect("history serialises")
    }
}

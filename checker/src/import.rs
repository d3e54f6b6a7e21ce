//! Reading histories that other tools recorded, and our own: the Jepsen etcd logs
//! (Jepsen 0.0.x, as in Porcupine's test data), Porcupine's key-value EDN files, and
//! faultline's `history.json`. Formats: `../shared/validation/porcupine/MANIFEST.md`.
//! A malformed file is a [`Diagnostic`] naming the file, line and what was expected.
//!
//! Times are line numbers for the line-oriented formats: their line order is the
//! real-time order of events.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::linearizability::{
    Budget, KvOutput, LinOp, LinResult, RegisterModel, RegisterOp, RegisterOutput, check, check_kv, kv_ops,
};
use crate::diag::Diagnostic;
use crate::history::{Completion, History};
use crate::op::Op;

/// The history formats `faultline check` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// faultline's own `history.json`.
    Faultline,
    /// A Jepsen etcd log (a single register).
    JepsenEtcd,
    /// A Porcupine key-value history (MIT 6.824 style).
    PorcupineKv,
}

impl Format {
    /// Every format's name, as `--format` takes it.
    pub const NAMES: &'static [&'static str] = &["faultline", "jepsen-etcd", "porcupine-kv"];

    /// The format named `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "faultline" => Some(Format::Faultline),
            "jepsen-etcd" => Some(Format::JepsenEtcd),
            "porcupine-kv" => Some(Format::PorcupineKv),
            _ => None,
        }
    }

    /// The format's name, as `--format` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Faultline => "faultline",
            Format::JepsenEtcd => "jepsen-etcd",
            Format::PorcupineKv => "porcupine-kv",
        }
    }

    /// Guesses the format from the first non-blank line.
    pub fn detect(src: &str) -> Option<Format> {
        let first = src.lines().find(|l| !l.trim().is_empty())?.trim_start();
        if first.starts_with('{') && first.contains(":process") {
            Some(Format::PorcupineKv)
        } else if first.starts_with('{') || first.starts_with('[') {
            Some(Format::Faultline)
        } else if src.contains("jepsen.util - ") {
            Some(Format::JepsenEtcd)
        } else {
            None
        }
    }
}

/// A history read from a file, in the shape its model checks.
pub enum Imported {
    /// Key-value operations.
    Kv(Vec<LinOp<Op, KvOutput>>),
    /// Single-register operations.
    Register(Vec<LinOp<RegisterOp, RegisterOutput>>),
}

impl Imported {
    /// How many operations were imported.
    pub fn len(&self) -> usize {
        match self {
            Imported::Kv(o) => o.len(),
            Imported::Register(o) => o.len(),
        }
    }
    /// Whether no operation was imported.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Checks with the model that fits the history: key-value per key, or the etcd
    /// cas-register.
    pub fn check(self, budget: &Budget) -> LinResult {
        match self {
            Imported::Kv(ops) => check_kv(ops, budget),
            Imported::Register(ops) => check(&RegisterModel { cas: true }, ops, budget),
        }
    }

    /// For each operation id, the time it was invoked (the line, for line formats).
    pub fn calls(&self) -> BTreeMap<usize, u64> {
        match self {
            Imported::Kv(o) => o.iter().map(|o| (o.id, o.call)).collect(),
            Imported::Register(o) => o.iter().map(|o| (o.id, o.call)).collect(),
        }
    }
}

/// Reads `src` (the contents of `path`) as `format`; a [`Diagnostic`] names the line
/// and column of the first thing it cannot read.
pub fn import(path: &str, src: &str, format: Format) -> Result<Imported, Diagnostic> {
    match format {
        Format::Faultline => {
            let history = parse_faultline(path, src)?;
            if history.ops.iter().any(|o| o.op.is_txn()) {
                return Err(Diagnostic::file(
                    path,
                    "this is a bank history (transfers, and reads of every account), not a key-value one",
                )
                .with_help(
                    "linearizability is checked on key-value histories; a bank run was judged when it ran \
                     (the conserved total and the commit protocol's invariants: see its summary.json)",
                ));
            }
            Ok(Imported::Kv(kv_ops(&history)))
        }
        Format::JepsenEtcd => parse_jepsen_etcd(path, src).map(Imported::Register),
        Format::PorcupineKv => parse_porcupine_kv(path, src).map(Imported::Kv),
    }
}

/// The byte span of line `n` (0-based) of `src`.
fn line_span(src: &str, n: usize) -> std::ops::Range<usize> {
    let mut start = 0;
    for (i, line) in src.split_inclusive('\n').enumerate() {
        if i == n {
            return start..start + line.trim_end().len();
        }
        start += line.len();
    }
    src.len()..src.len()
}

fn at_line(path: &str, src: &str, n: usize, message: impl Into<String>, expected: &str) -> Diagnostic {
    Diagnostic::at(path, src, line_span(src, n), message).with_help(format!("expected {expected}"))
}

/// Jepsen 0.0.x etcd logs: `INFO  jepsen.util - <process> <type> <f> <value>`.
pub fn parse_jepsen_etcd(path: &str, src: &str) -> Result<Vec<LinOp<RegisterOp, RegisterOutput>>, Diagnostic> {
    const EXPECTED: &str = "a line like `INFO  jepsen.util - 3 :invoke :cas [1 2]` (process, :invoke|:ok|:fail|:info, :read|:write|:cas, value)";
    let mut ops: Vec<LinOp<RegisterOp, RegisterOutput>> = Vec::new();
    let mut keep: Vec<bool> = Vec::new();
    let mut pending: BTreeMap<u64, usize> = BTreeMap::new();
    for (n, line) in src.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| at_line(path, src, n, what.to_string(), EXPECTED);
        let Some((_, rest)) = line.split_once("jepsen.util - ") else {
            // Other loggers' lines in a full Jepsen log say nothing about the history.
            if ["INFO", "WARN", "DEBUG", "ERROR", "TRACE"].iter().any(|l| line.trim_start().starts_with(l)) {
                continue;
            }
            return Err(bad("not a jepsen.util log line"));
        };
        let mut tok = rest.split_whitespace();
        let first = tok.next().ok_or_else(|| bad("the process is missing"))?;
        if first == ":nemesis" {
            continue; // the fault injector's own events
        }
        let process: u64 = first.parse().map_err(|_| bad("the process is not a number"))?;
        let kind = tok.next().ok_or_else(|| bad("the event type is missing"))?;
        let f = tok.next().ok_or_else(|| bad("the function is missing"))?;
        let value: Vec<&str> = tok.collect();
        let value = value.join(" ");
        let int = |s: &str| s.trim().parse::<i64>().map_err(|_| bad(&format!("`{s}` is not an integer")));
        let time = n as u64;
        match kind {
            ":invoke" => {
                let input = match f {
                    ":read" => RegisterOp::Read,
                    ":write" => RegisterOp::Write(int(&value)?),
                    ":cas" => {
                        let inner = value.trim().strip_prefix('[').and_then(|v| v.strip_suffix(']'));
                        let pair: Vec<&str> = inner.map(|v| v.split_whitespace().collect()).unwrap_or_default();
                        if pair.len() != 2 {
                            return Err(bad(&format!("cas takes [from to], not `{value}`")));
                        }
                        RegisterOp::Cas(int(pair[0])?, int(pair[1])?)
                    }
                    other => return Err(bad(&format!("unknown function `{other}`"))),
                };
                if pending.contains_key(&process) {
                    return Err(bad(&format!("process {process} invokes again before its last operation completed")));
                }
                pending.insert(process, ops.len());
                ops.push(LinOp { id: ops.len(), call: time, ret: u64::MAX, input, output: RegisterOutput::Unknown });
                keep.push(true);
            }
            ":ok" | ":fail" | ":info" => {
                let i = pending
                    .remove(&process)
                    .ok_or_else(|| bad(&format!("process {process} completes an operation it never invoked")))?;
                let op = &mut ops[i];
                match (kind, &op.input) {
                    (":ok", RegisterOp::Read) => {
                        op.output = RegisterOutput::Read(if value.trim() == "nil" { None } else { Some(int(&value)?) });
                        op.ret = time;
                    }
                    (":ok", RegisterOp::Write(_)) => {
                        op.output = RegisterOutput::Written;
                        op.ret = time;
                    }
                    (":ok", RegisterOp::Cas(..)) => {
                        op.output = RegisterOutput::Cas(true);
                        op.ret = time;
                    }
                    // etcd's failed cas compared and found another value: a definite answer.
                    (":fail", RegisterOp::Cas(..)) => {
                        op.output = RegisterOutput::Cas(false);
                        op.ret = time;
                    }
                    // A timed-out read says nothing; a failed write took no effect.
                    (":fail", _) => keep[i] = false,
                    // Indeterminate: returns "at infinity"; a read constrains nothing.
                    (_, RegisterOp::Read) => keep[i] = false,
                    _ => {}
                }
            }
            other => return Err(bad(&format!("unknown event type `{other}`"))),
        }
    }
    for (_, i) in pending {
        if ops[i].input == RegisterOp::Read {
            keep[i] = false;
        }
    }
    Ok(ops.into_iter().zip(keep).filter(|(_, k)| *k).map(|(o, _)| o).collect())
}

/// One EDN value of the simple kind these files use.
#[derive(Debug, PartialEq)]
enum Edn {
    Keyword(String),
    Str(String),
    Int(i64),
    Nil,
}

/// Parses `{:k v, :k v}` with keyword, string, integer and nil values.
fn parse_edn_map(line: &str) -> Result<BTreeMap<String, Edn>, String> {
    let s = line.trim();
    let body = s.strip_prefix('{').and_then(|b| b.strip_suffix('}')).ok_or("a map in { }")?;
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let mut out = BTreeMap::new();
    let skip = |i: &mut usize| {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
    };
    let atom = |i: &mut usize| -> String {
        let start = *i;
        while *i < chars.len() && !chars[*i].is_whitespace() && chars[*i] != ',' {
            *i += 1;
        }
        chars[start..*i].iter().collect()
    };
    loop {
        skip(&mut i);
        if i >= chars.len() {
            return Ok(out);
        }
        let key = atom(&mut i);
        let key = key.strip_prefix(':').ok_or_else(|| format!("a :keyword key, not `{key}`"))?.to_string();
        skip(&mut i);
        if i >= chars.len() {
            return Err(format!("a value after :{key}"));
        }
        let value = if chars[i] == '"' {
            i += 1;
            let mut v = String::new();
            loop {
                match chars.get(i) {
                    None => return Err("a closing quote".into()),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') => {
                        v.push(*chars.get(i + 1).ok_or("a character after \\")?);
                        i += 2;
                    }
                    Some(&c) => {
                        v.push(c);
                        i += 1;
                    }
                }
            }
            Edn::Str(v)
        } else {
            let a = atom(&mut i);
            if a == "nil" {
                Edn::Nil
            } else if let Some(k) = a.strip_prefix(':') {
                Edn::Keyword(k.to_string())
            } else {
                Edn::Int(a.parse().map_err(|_| format!("a string, keyword, integer or nil, not `{a}`"))?)
            }
        };
        out.insert(key, value);
    }
}

/// Porcupine's key-value files: one EDN map a line,
/// `{:process P, :type :invoke|:ok, :f :get|:put|:append, :key "K", :value nil|"V"}`.
pub fn parse_porcupine_kv(path: &str, src: &str) -> Result<Vec<LinOp<Op, KvOutput>>, Diagnostic> {
    const EXPECTED: &str = "a line like {:process 0, :type :invoke, :f :append, :key \"0\", :value \"x 0 0 y\"}";
    let mut ops: Vec<LinOp<Op, KvOutput>> = Vec::new();
    let mut pending: BTreeMap<i64, usize> = BTreeMap::new();
    let mut failed: Vec<bool> = Vec::new();
    for (n, line) in src.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| at_line(path, src, n, what, EXPECTED);
        let map = parse_edn_map(line).map_err(|e| bad(format!("malformed EDN map: expected {e}")))?;
        let get = |k: &str| map.get(k).ok_or_else(|| bad(format!("the map has no :{k}")));
        let Edn::Int(process) = get("process")? else { return Err(bad(":process is not an integer".into())) };
        let Edn::Keyword(kind) = get("type")? else { return Err(bad(":type is not a keyword".into())) };
        let Edn::Keyword(f) = get("f")? else { return Err(bad(":f is not a keyword".into())) };
        let key = match get("key")? {
            Edn::Str(k) => k.clone(),
            _ => return Err(bad(":key is not a string".into())),
        };
        let value = match map.get("value") {
            None | Some(Edn::Nil) => None,
            Some(Edn::Str(v)) => Some(v.clone()),
            Some(Edn::Int(v)) => Some(v.to_string()),
            Some(other) => return Err(bad(format!(":value is not a string, integer or nil: {other:?}"))),
        };
        let time = n as u64;
        match kind.as_str() {
            "invoke" => {
                let v = || value.clone().ok_or_else(|| bad(format!(":{f} needs a string :value")));
                let input = match f.as_str() {
                    "get" => Op::Get { key },
                    "put" => Op::Put { key, value: v()? },
                    "append" => Op::Append { key, value: v()? },
                    other => return Err(bad(format!("unknown :f :{other}; expected :get, :put or :append"))),
                };
                if pending.insert(*process, ops.len()).is_some() {
                    return Err(bad(format!("process {process} invokes again before its last operation completed")));
                }
                ops.push(LinOp { id: ops.len(), call: time, ret: u64::MAX, input, output: KvOutput::Unknown });
                failed.push(false);
            }
            "ok" | "fail" | "info" => {
                let i = pending
                    .remove(process)
                    .ok_or_else(|| bad(format!("process {process} completes an operation it never invoked")))?;
                match kind.as_str() {
                    "ok" => {
                        ops[i].ret = time;
                        ops[i].output = match ops[i].input {
                            Op::Get { .. } => KvOutput::Value(value.unwrap_or_default()),
                            _ => KvOutput::Done,
                        };
                    }
                    // A definite failure took no effect.
                    "fail" => failed[i] = true,
                    // Indeterminate: stays open, returning "at infinity".
                    _ => {}
                }
            }
            other => return Err(bad(format!("unknown :type :{other}; expected :invoke, :ok, :fail or :info"))),
        }
    }
    // A get that never returned constrains nothing; a failed operation took no effect.
    Ok(ops
        .into_iter()
        .enumerate()
        .filter(|(i, o)| {
            let dropped_read = o.ret == u64::MAX && o.input.is_read();
            !failed[*i] && !dropped_read
        })
        .map(|(_, o)| o)
        .collect())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDe {
    format: String,
    version: u32,
    events: Vec<EventDe>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventDe {
    time: u64,
    process: usize,
    op: usize,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    f: Option<String>,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    swapped: Option<bool>,
    #[serde(default)]
    error: Option<String>,
    /// faultline's own histories say when a client gave up rather than heard "no".
    #[serde(default)]
    gave_up: Option<crate::history::GaveUp>,
    #[serde(default)]
    amount: Option<u64>,
    #[serde(default)]
    keys: Option<Vec<String>>,
    /// Image store operations: the image, its size, content and tags, a tag.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tags: Option<Vec<String>>,
    #[serde(default)]
    tag: Option<String>,
}

/// Byte offsets of the objects in the file's `"events"` array, in order (strings
/// skipped), so a message about event n points at its line.
fn event_starts(src: &str) -> Vec<usize> {
    let Some(key) = src.find("\"events\"") else { return Vec::new() };
    let Some(open) = src[key..].find('[').map(|i| key + i) else { return Vec::new() };
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut out = Vec::new();
    for (i, b) in src.bytes().enumerate().skip(open + 1) {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                if depth == 0 && b == b'{' {
                    out.push(i);
                }
                depth += 1;
            }
            b'}' | b']' if depth == 0 => break,
            b'}' | b']' => depth -= 1,
            _ => {}
        }
    }
    out
}

/// faultline's own `history.json`.
pub fn parse_faultline(path: &str, src: &str) -> Result<History, Diagnostic> {
    let file: FileDe = serde_json::from_str(src).map_err(|e| {
        let line = e.line().saturating_sub(1);
        at_line(path, src, line, format!("not a faultline history: {e}"), "a history.json as `faultline run` writes it")
    })?;
    let whole =
        |msg: String| Diagnostic::file(path, msg).with_help("expected a history.json as `faultline run` writes it");
    if file.format != "faultline-history" || file.version != 1 {
        return Err(whole(format!(
            "format \"{}\" version {} is not faultline-history version 1",
            file.format, file.version
        )));
    }
    let mut history = History::default();
    let mut ids: BTreeMap<usize, usize> = BTreeMap::new();
    // Per process, the op it has open: a client runs one operation at a time.
    let mut open: BTreeMap<usize, usize> = BTreeMap::new();
    let starts = event_starts(src);
    for (n, e) in file.events.into_iter().enumerate() {
        let bad = |m: &str| {
            let msg = format!("event {n} (op {}): {m}", e.op);
            match starts.get(n) {
                Some(&at) => Diagnostic::at(path, src, at..at + 1, msg),
                None => Diagnostic::file(path, msg),
            }
            .with_help("expected a history.json as `faultline run` writes it")
        };
        if e.kind == "invoke" {
            let need = |v: &Option<String>, what: &str| v.clone().ok_or_else(|| bad(&format!("needs `{what}`")));
            let key = || e.key.clone().ok_or_else(|| bad("an invoke needs a key"));
            let op = match e.f.as_deref() {
                Some("get") => Op::Get { key: key()? },
                Some("put") => Op::Put { key: key()?, value: need(&e.value, "value")? },
                Some("append") => Op::Append { key: key()?, value: need(&e.value, "value")? },
                Some("cas") => Op::Cas { key: key()?, from: need(&e.from, "from")?, to: need(&e.to, "to")? },
                Some("transfer") => Op::Transfer {
                    from: need(&e.from, "from")?,
                    to: need(&e.to, "to")?,
                    amount: e.amount.ok_or_else(|| bad("needs `amount`"))?,
                },
                Some("read") => Op::Read { keys: e.keys.clone().ok_or_else(|| bad("needs `keys`"))? },
                Some("upload") => Op::Upload {
                    name: need(&e.name, "name")?,
                    size: e.size.ok_or_else(|| bad("needs `size`"))?,
                    content: need(&e.content, "content")?,
                    tags: e.tags.clone().unwrap_or_default(),
                },
                Some("fetch") => Op::Fetch { name: need(&e.name, "name")? },
                Some("tag") => Op::Tag { name: need(&e.name, "name")?, tag: need(&e.tag, "tag")? },
                Some("delete") => Op::Delete { name: need(&e.name, "name")? },
                Some("list") => Op::List { tag: need(&e.tag, "tag")? },
                _ => {
                    return Err(bad(
                        "`f` must be get, put, append, cas, transfer, read, upload, fetch, tag, delete or list",
                    ));
                }
            };
            if let Some(other) = open.get(&e.process) {
                return Err(bad(&format!(
                    "process {} invokes it while its op {other} is still open: a process runs one operation at a time",
                    e.process
                )));
            }
            if ids.contains_key(&e.op) {
                return Err(bad("this op is invoked twice"));
            }
            ids.insert(e.op, history.invoke(e.time, e.process, op));
            open.insert(e.process, e.op);
        } else {
            let id = *ids.get(&e.op).ok_or_else(|| bad("completes an op never invoked"))?;
            if history.ops[id].complete.is_some() {
                return Err(bad("this op completes twice"));
            }
            if e.time < history.ops[id].invoke {
                return Err(bad(&format!(
                    "it completes at {} ns, before it was invoked at {} ns",
                    e.time, history.ops[id].invoke
                )));
            }
            open.remove(&history.ops[id].client);
            let completion = match e.kind.as_str() {
                "ok" => Completion::Ok { value: e.value.clone(), swapped: e.swapped },
                "fail" => Completion::Fail { error: e.error.clone().unwrap_or_default(), gave_up: e.gave_up },
                "info" => Completion::Info { error: e.error.clone().unwrap_or_default(), gave_up: e.gave_up },
                other => return Err(bad(&format!("unknown type `{other}`; expected invoke, ok, fail or info"))),
            };
            history.complete(id, e.time, completion);
        }
    }
    Ok(history)
}

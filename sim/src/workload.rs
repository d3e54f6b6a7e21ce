//! Simulated clients running a key-value workload. Each client has one operation
//! outstanding at a time; it sends the request to its home node (as a Jepsen client is
//! bound to one node), follows redirects, re-sends
//! the same request (same `(client, seq)`) on a timeout (also after following `2n`
//! redirects in one attempt), and gives up after its
//! retries: a write that gave up is `info` (it may still take effect), a read `fail`.

//!
//! The clients are a sans-IO component: the engine hands them the time, the history
//! and the trace, and they answer with at most one [`ClientStep`] (send a request,
//! or wake a client later) for the engine to carry out. They never see the engine.

use std::collections::{BTreeMap, VecDeque};

use crate::history::{Completion, GaveUp, History};
use crate::protocol::{ClientId, NodeId, Op, Outcome, Reply, Request};
use crate::rng::{SimRng, Stream};
use crate::scenario::{Bank, KeyDist, Scripted, WorkloadConfig};
use crate::time::Time;
use crate::trace::{Addr, Event as TraceEvent, Trace};

/// The tags an images workload draws from.
pub const IMAGE_TAGS: &[&str] = &["cat", "dog", "beach", "night", "red", "blue"];

/// What a client asks its host (the engine, or `faultline cluster`) to do.
#[derive(Debug)]
pub enum ClientStep {
    /// Send `request` to `to`, and call [`Clients::timeout`] with `seq` and `attempt`
    /// at `timeout_at` unless a reply settles it first.
    Send {
        /// The client sending.
        client: ClientId,
        /// The node it goes to.
        to: NodeId,
        /// The request.
        request: Request,
        /// The operation's number.
        seq: u64,
        /// Which attempt this is.
        attempt: u32,
        /// When this attempt times out.
        timeout_at: Time,
    },
    /// Call [`Clients::next`] for `client` at `at`.
    Wake {
        /// The client.
        client: ClientId,
        /// When.
        at: Time,
    },
}

/// The trace's events about clients carry no message or timer: any types serialise
/// them to the same bytes.
fn emit<'e>(trace: &mut Trace, now: Time, ev: impl FnOnce() -> crate::trace::Written<'e, (), ()>) {
    trace.emit::<(), ()>(now, ev);
}

struct Pending {
    seq: u64,
    op_id: usize,
    request: Request,
    /// Sends so far: a timeout counts only for the latest send.
    attempt: u32,
    /// Where the first send went (the client's home node).
    first: NodeId,
    retries: u32,
    redirects: u32,
}

struct ClientState {
    /// The node this client talks to first for every operation (client i -> node i mod n).
    home: usize,
    /// The node the current operation goes to: home, then wherever redirects and
    /// timeouts send it.
    target: usize,
    counter: u64,
    pending: Option<Pending>,
    /// The last value this client saw per key: what its cas expects.
    seen: BTreeMap<String, String>,
    /// With an explicit workload: this client's operations still to invoke, in order.
    script: VecDeque<Scripted>,
}

/// The workload's clients: which operation each invokes next, where it sends it, and
/// what it records in the history when an answer (or none) comes back.
pub struct Clients {
    cfg: WorkloadConfig,
    rng: SimRng,
    clients: Vec<ClientState>,
    issued: u64,
    key_weights: Vec<u64>,
}

impl Clients {
    /// The clients of workload `cfg`, drawing from the workload stream of `seed`.
    pub fn new(cfg: WorkloadConfig, seed: u64) -> Clients {
        let key_weights = match cfg.distribution {
            KeyDist::Uniform => vec![1; cfg.keys],
            // Zipf: weight of the k-th key is 1/k^s, as integers so draws are exact, with
            // the pinned `fmath::pow` (not libm's powf) so they are the same everywhere.
            KeyDist::Zipf => (1..=cfg.keys)
                .map(|k| ((1e12 / crate::fmath::pow(k as f64, cfg.zipf_exponent)) as u64).max(1))
                .collect(),
        };
        Clients { rng: SimRng::new(seed, Stream::Workload), clients: Vec::new(), issued: 0, key_weights, cfg }
    }

    /// The bank, for a bank workload.
    pub fn bank(&self) -> Option<Bank> {
        self.cfg.bank
    }

    fn next_op(&mut self, client: usize) -> Op {
        let kind = self.rng.weighted(&self.cfg.mix);
        self.clients[client].counter += 1;
        if let Some(bank) = self.cfg.bank {
            return self.bank_op(&bank, kind);
        }
        if self.cfg.kind == crate::scenario::WorkloadKind::Images {
            return self.image_op(client, kind);
        }
        let key = format!("k{}", self.rng.weighted(&self.key_weights) + 1);
        let c = &mut self.clients[client];
        let tag = format!("{}.{}", client + 1, c.counter);
        match kind {
            0 => Op::Get { key },
            1 => Op::Put { key, value: tag },
            2 => Op::Append { key, value: format!("{tag};") },
            _ => {
                let from = c.seen.get(&key).cloned().unwrap_or_default();
                Op::Cas { key, from, to: tag }
            }
        }
    }

    /// An image operation of kind `OpKind::ALL[kind]` on one of the images `i1..iK`
    /// (picked as keys are): an upload of 1 KiB to 8 MiB with up to two of
    /// [`IMAGE_TAGS`], a fetch, a tag, a delete, or a list of one tag.
    fn image_op(&mut self, client: usize, kind: usize) -> Op {
        use crate::protocol::OpKind;
        let name = format!("i{}", self.rng.weighted(&self.key_weights) + 1);
        let tag = |rng: &mut SimRng| IMAGE_TAGS[rng.below(IMAGE_TAGS.len() as u64) as usize].to_string();
        match OpKind::ALL[kind] {
            OpKind::Upload => {
                let mut tags: Vec<String> = Vec::new();
                for _ in 0..self.rng.below(3) {
                    let t = tag(&mut self.rng);
                    if !tags.contains(&t) {
                        tags.push(t);
                    }
                }
                let size = (1024 << self.rng.below(14)) + self.rng.below(1024);
                let content = format!("{}.{}", client + 1, self.clients[client].counter);
                Op::Upload { name, size, content, tags }
            }
            OpKind::Tag => Op::Tag { name, tag: tag(&mut self.rng) },
            OpKind::Delete => Op::Delete { name },
            OpKind::List => Op::List { tag: tag(&mut self.rng) },
            _ => Op::Fetch { name },
        }
    }

    /// A read of every account (mix entry 5), or a transfer between two accounts.
    fn bank_op(&mut self, bank: &Bank, kind: usize) -> Op {
        if kind == 5 {
            return Op::Read { keys: (0..bank.accounts).map(Bank::account).collect() };
        }
        let from = self.rng.below(bank.accounts as u64) as usize;
        let to = (from + 1 + self.rng.below(bank.accounts as u64 - 1) as usize) % bank.accounts;
        let amount = 1 + self.rng.below(bank.amount);
        Op::Transfer { from: Bank::account(from), to: Bank::account(to), amount }
    }
}

impl Clients {
    /// How many clients, and when they start: the engine wakes each at the start.
    pub fn boot(&mut self, nodes: usize) -> impl Iterator<Item = ClientStep> + use<> {
        for i in 0..self.cfg.clients {
            let mut script: Vec<Scripted> = self.cfg.script.iter().filter(|s| s.client == i).cloned().collect();
            script.sort_by_key(|s| s.at); // stable: equal times keep the file's order
            self.clients.push(ClientState {
                home: i % nodes,
                target: i % nodes,
                counter: 0,
                pending: None,
                seen: BTreeMap::new(),
                script: script.into(),
            });
        }
        let at = self.cfg.start;
        (0..self.cfg.clients).map(move |client| ClientStep::Wake { client, at })
    }

    /// A client is free: it invokes its next operation, if the workload has one left.
    pub fn next(
        &mut self,
        client: ClientId,
        now: Time,
        end: Time,
        history: &mut History,
        trace: &mut Trace,
    ) -> Option<ClientStep> {
        if self.issued >= self.cfg.ops || now >= end || now >= self.cfg.stop {
            return None;
        }
        let op = if self.cfg.script.is_empty() {
            self.next_op(client)
        } else {
            let c = &mut self.clients[client];
            match c.script.front() {
                None => return None,
                Some(s) if s.at > now => return Some(ClientStep::Wake { client, at: s.at }),
                Some(_) => {}
            }
            c.counter += 1;
            c.script.pop_front().expect("a scripted operation").op
        };
        self.issued += 1;
        let seq = self.clients[client].counter;
        let request = Request::new(client, seq, op.clone());
        let op_id = history.invoke(now, client, op);
        emit(trace, now, || TraceEvent::Invoke { client: Addr::Client(client), op: op_id, request: &request });
        let home = self.clients[client].home;
        self.clients[client].target = home;
        let first = NodeId(home);
        self.clients[client].pending =
            Some(Pending { seq, op_id, request, attempt: 0, first, retries: 0, redirects: 0 });
        Some(self.send(client, now))
    }

    fn send(&mut self, client: ClientId, now: Time) -> ClientStep {
        let timeout = self.cfg.timeout;
        let c = &mut self.clients[client];
        let p = c.pending.as_mut().expect("a pending operation");
        // The first send goes out as invoked; a later one says which attempt it is
        // and where the first went, so the protocol can tell a retry from a new op.
        let request = if p.attempt == 0 { p.request.clone() } else { p.request.retried(p.first, p.attempt) };
        p.attempt += 1;
        ClientStep::Send {
            client,
            to: NodeId(c.target),
            request,
            seq: p.seq,
            attempt: p.attempt,
            timeout_at: now + timeout,
        }
    }

    /// A node answered `client`.
    pub fn reply(
        &mut self,
        client: ClientId,
        reply: Reply,
        now: Time,
        nodes: usize,
        history: &mut History,
        trace: &mut Trace,
    ) -> Option<ClientStep> {
        let c = &mut self.clients[client];
        let p = c.pending.as_mut()?;
        if p.seq != reply.seq {
            return None; // a late reply to an operation already settled
        }
        let hint = match reply.outcome {
            Outcome::Redirect(hint) => hint,
            outcome => {
                let completion = completion_of(outcome).expect("not a redirect");
                match (&completion, &p.request.op) {
                    (Completion::Ok { value: Some(v), .. }, op) => {
                        c.seen.insert(op.key().to_string(), v.clone());
                    }
                    (Completion::Ok { value: None, swapped: None }, Op::Put { key, value }) => {
                        c.seen.insert(key.clone(), value.clone());
                    }
                    (Completion::Ok { swapped: Some(true), .. }, Op::Cas { key, to, .. }) => {
                        c.seen.insert(key.clone(), to.clone());
                    }
                    _ => {}
                }
                return Some(self.complete(client, completion, now, history, trace));
            }
        };
        if p.redirects < 2 * nodes as u32 {
            p.redirects += 1;
            c.target = hint.map_or((c.target + 1) % nodes, |h| h.0 % nodes);
            return Some(self.send(client, now));
        }
        // Redirected around a loop (nodes with stale ideas of who leads): stop
        // following and let this attempt's timeout retry, a natural back-off.
        None
    }

    /// `client`'s attempt `attempt` of operation `seq` timed out: retry, or give up.
    #[allow(clippy::too_many_arguments)]
    pub fn timeout(
        &mut self,
        client: ClientId,
        seq: u64,
        attempt: u32,
        now: Time,
        nodes: usize,
        history: &mut History,
        trace: &mut Trace,
    ) -> Option<ClientStep> {
        let retries_max = self.cfg.retries;
        let c = &mut self.clients[client];
        let p = c.pending.as_mut()?;
        if p.seq != seq || p.attempt != attempt {
            return None;
        }
        if p.retries < retries_max {
            p.retries += 1;
            p.redirects = 0;
            c.target = (c.target + 1) % nodes;
            Some(self.send(client, now))
        } else {
            let completion = Completion::gave_up(&p.request.op, GaveUp::TimedOut);
            Some(self.complete(client, completion, now, history, trace))
        }
    }

    fn complete(
        &mut self,
        client: ClientId,
        completion: Completion,
        now: Time,
        history: &mut History,
        trace: &mut Trace,
    ) -> ClientStep {
        let p = self.clients[client].pending.take().expect("a pending operation");
        let think = self.cfg.think;
        let gap = if !self.cfg.script.is_empty() {
            // The next listed operation's own time: what a random run that drew this
            // gap scheduled, so a run written out as a list replays event for event.
            self.clients[client].script.front().map_or(0, |s| s.at.saturating_sub(now))
        } else if think == 0 {
            0
        } else {
            self.rng.exponential(think)
        };
        emit_complete(trace, now, client, p.op_id, &completion);
        history.complete(p.op_id, now, completion);
        ClientStep::Wake { client, at: now + gap }
    }

    /// At the end of the run, operations still outstanding are indeterminate.
    pub fn finish(&mut self, now: Time, history: &mut History) {
        for c in &mut self.clients {
            if let Some(p) = c.pending.take() {
                history.complete(p.op_id, now, Completion::gave_up(&p.request.op, GaveUp::RunEnded));
            }
        }
    }
}

/// What a node's answer ends an operation with; `None` for a redirect, which ends
/// nothing.
pub(crate) fn completion_of(outcome: Outcome) -> Option<Completion> {
    Some(match outcome {
        Outcome::Value(v) => Completion::Ok { value: Some(v), swapped: None },
        Outcome::Done => Completion::Ok { value: None, swapped: None },
        Outcome::Swapped(ok) => Completion::Ok { value: None, swapped: Some(ok) },
        Outcome::Rejected(why) => Completion::rejected(why),
        Outcome::Redirect(_) => return None,
    })
}

/// The trace's `complete` event for operation `op_id` of `client`.
pub(crate) fn emit_complete(trace: &mut Trace, now: Time, client: ClientId, op_id: usize, completion: &Completion) {
    if !trace.is_on() {
        return;
    }
    let (outcome, detail) = match completion {
        Completion::Ok { value: Some(v), .. } => ("ok", v.clone()),
        Completion::Ok { swapped: Some(s), .. } => ("ok", format!("swapped={s}")),
        Completion::Ok { .. } => ("ok", String::new()),
        Completion::Fail { error, .. } => ("fail", error.clone()),
        Completion::Info { error, .. } => ("info", error.clone()),
    };
    emit(trace, now, || TraceEvent::Complete { client: Addr::Client(client), op: op_id, outcome, detail: &detail });
}

//! Simulated clients running a key-value workload. Each client has one operation
//! outstanding at a time; it sends the request to its home node (as a Jepsen client is
//! bound to one node), follows redirects, re-sends
//! the same request (same `(client, seq)`) on a timeout (also after following `2n`
//! redirects in one attempt), and gives up after its
//! retries: a write that gave up is `info` (it may still take effect), a read `fail`.

use std::collections::BTreeMap;

use crate::engine::{Ev, Payload, Sim};
use crate::history::{Completion, GaveUp};
use crate::protocol::{NodeId, Op, Outcome, Protocol, Reply, Request};
use crate::rng::{SimRng, Stream};
use crate::scenario::{Bank, KeyDist, WorkloadConfig};
use crate::trace::{Addr, Event as TraceEvent};

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
}

pub(crate) struct Clients {
    cfg: WorkloadConfig,
    rng: SimRng,
    clients: Vec<ClientState>,
    issued: u64,
    key_weights: Vec<u64>,
}

impl Clients {
    pub(crate) fn new(cfg: WorkloadConfig, seed: u64) -> Clients {
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

    pub(crate) fn bank(&self) -> Option<Bank> {
        self.cfg.bank
    }

    fn next_op(&mut self, client: usize) -> Op {
        let kind = self.rng.weighted(&self.cfg.mix);
        self.clients[client].counter += 1;
        if let Some(bank) = self.cfg.bank {
            return self.bank_op(&bank, kind);
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

impl<P: Protocol> Sim<P> {
    pub(crate) fn boot_clients(&mut self) {
        let n = self.node_count();
        let Some(cl) = &mut self.clients else { return };
        let start = cl.cfg.start;
        for i in 0..cl.cfg.clients {
            cl.clients.push(ClientState {
                home: i % n,
                target: i % n,
                counter: 0,
                pending: None,
                seen: BTreeMap::new(),
            });
        }
        for i in 0..cl.cfg.clients {
            self.schedule(start, Ev::ClientNext { client: i });
        }
    }

    pub(crate) fn client_next(&mut self, client: usize) {
        let now = self.now;
        let end = self.end();
        let Some(cl) = &mut self.clients else { return };
        if cl.issued >= cl.cfg.ops || now >= end || now >= cl.cfg.stop {
            return;
        }
        cl.issued += 1;
        let op = cl.next_op(client);
        let seq = cl.clients[client].counter;
        let request = Request::new(client, seq, op.clone());
        let op_id = self.history.invoke(now, client, op);
        self.trace.emit::<P::Msg, P::Timer>(
            now,
            &TraceEvent::Invoke { client: Addr::Client(client), op: op_id, request: &request },
        );
        let cl = self.clients.as_mut().expect("clients");
        let home = cl.clients[client].home;
        cl.clients[client].target = home;
        let first = NodeId(home);
        cl.clients[client].pending = Some(Pending { seq, op_id, request, attempt: 0, first, retries: 0, redirects: 0 });
        self.client_send(client);
    }

    fn client_send(&mut self, client: usize) {
        let now = self.now;
        let cl = self.clients.as_mut().expect("clients");
        let timeout = cl.cfg.timeout;
        let c = &mut cl.clients[client];
        let p = c.pending.as_mut().expect("a pending operation");
        // The first send goes out as invoked; a later one says which attempt it is
        // and where the first went, so the protocol can tell a retry from a new op.
        let request = if p.attempt == 0 { p.request.clone() } else { p.request.retried(p.first, p.attempt) };
        p.attempt += 1;
        let (seq, attempt, target) = (p.seq, p.attempt, c.target);
        self.stats.client_requests += 1;
        self.send(Addr::Client(client), Addr::Node(NodeId(target)), Payload::Request(Box::new(request)));
        self.schedule(now + timeout, Ev::ClientTimeout { client, seq, attempt });
    }

    pub(crate) fn client_reply(&mut self, client: usize, reply: Reply) {
        let n = self.node_count();
        let cl = self.clients.as_mut().expect("clients");
        let c = &mut cl.clients[client];
        let Some(p) = &mut c.pending else { return };
        if p.seq != reply.seq {
            return; // a late reply to an operation already settled
        }
        let completion = match reply.outcome {
            Outcome::Value(v) => {
                c.seen.insert(p.request.op.key().to_string(), v.clone());
                Completion::Ok { value: Some(v), swapped: None }
            }
            Outcome::Done => {
                if let Op::Put { key, value } = &p.request.op {
                    c.seen.insert(key.clone(), value.clone());
                }
                Completion::Ok { value: None, swapped: None }
            }
            Outcome::Swapped(ok) => {
                if let (true, Op::Cas { key, to, .. }) = (ok, &p.request.op) {
                    c.seen.insert(key.clone(), to.clone());
                }
                Completion::Ok { value: None, swapped: Some(ok) }
            }
            Outcome::Redirect(hint) => {
                if p.redirects < 2 * n as u32 {
                    p.redirects += 1;
                    c.target = hint.map_or((c.target + 1) % n, |h| h.0 % n);
                    self.client_send(client);
                }
                // Redirected around a loop (nodes with stale ideas of who leads): stop
                // following and let this attempt's timeout retry, a natural back-off.
                return;
            }
            Outcome::Rejected(why) => Completion::rejected(why),
        };
        self.client_complete(client, completion);
    }

    pub(crate) fn client_timeout(&mut self, client: usize, seq: u64, attempt: u32) {
        let n = self.node_count();
        let cl = self.clients.as_mut().expect("clients");
        let retries_max = cl.cfg.retries;
        let c = &mut cl.clients[client];
        let Some(p) = &mut c.pending else { return };
        if p.seq != seq || p.attempt != attempt {
            return;
        }
        if p.retries < retries_max {
            p.retries += 1;
            p.redirects = 0;
            c.target = (c.target + 1) % n;
            self.client_send(client);
        } else {
            let completion = Completion::gave_up(&p.request.op, GaveUp::TimedOut);
            self.client_complete(client, completion);
        }
    }

    fn client_complete(&mut self, client: usize, completion: Completion) {
        let now = self.now;
        let cl = self.clients.as_mut().expect("clients");
        let p = cl.clients[client].pending.take().expect("a pending operation");
        let think = cl.cfg.think;
        let gap = if think == 0 { 0 } else { cl.rng.exponential(think) };
        if self.trace.is_on() {
            let (outcome, detail) = match &completion {
                Completion::Ok { value: Some(v), .. } => ("ok", v.clone()),
                Completion::Ok { swapped: Some(s), .. } => ("ok", format!("swapped={s}")),
                Completion::Ok { .. } => ("ok", String::new()),
                Completion::Fail { error, .. } => ("fail", error.clone()),
                Completion::Info { error, .. } => ("info", error.clone()),
            };
            self.trace.emit::<P::Msg, P::Timer>(
                now,
                &TraceEvent::Complete { client: Addr::Client(client), op: p.op_id, outcome, detail: &detail },
            );
        }
        self.history.complete(p.op_id, now, completion);
        self.schedule(now + gap, Ev::ClientNext { client });
    }

    /// At the end of the run, operations still outstanding are indeterminate.
    pub(crate) fn finish_clients(&mut self) {
        let now = self.now;
        let Some(cl) = &mut self.clients else { return };
        for c in &mut cl.clients {
            if let Some(p) = c.pending.take() {
                self.history.complete(p.op_id, now, Completion::gave_up(&p.request.op, GaveUp::RunEnded));
            }
        }
    }
}

//! What two-phase and three-phase commit share: the bank's layout over the
//! participants, the participant's ledger (balances, locks, its part in each
//! transaction, all durable), and what both report: the atomic-commitment
//! observations ([`Observation::Voted`], [`Observation::Decided`]) that the
//! family's checker judges ([`faultline_sim::families::commit`]), and the bank's
//! measures.
//!
//! ## The layout
//! `n1` coordinates every transaction; `n2..nN` are the participants. Account `a{i}`
//! lives on participant `n{2 + (i-1) mod (N-1)}`, so a transfer usually spans two
//! participants and a read of every account spans all of them.
//!
//! ## The participant
//! A participant votes on its piece of a transaction: yes if none of the piece's
//! accounts is locked by another transaction and no account would go below zero;
//! then it locks them (no waiting: a conflict is a no vote, so there are no
//! deadlocks). A yes vote is synced to disk with the piece before it is sent: after a
//! crash the participant is still bound by it. A no vote aborts its piece at once,
//! which any participant may do before it has voted yes. On the decision it applies
//! (or drops) the piece, syncs, releases its locks and acknowledges.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::scenario::{Bank, Scenario};
use faultline_sim::{ClientId, Ctx, NodeId, Observation, Op, Protocol};
use serde::{Deserialize, Serialize};

/// A transaction, named by the client request that started it.
pub use faultline_sim::observe::{TxnId, show_txn};

/// The coordinator.
pub const COORDINATOR: NodeId = NodeId(0);

/// `(client, seq)` as one number; `t3.12` is client c3's 12th operation.
pub fn txn_id(client: ClientId, seq: u64) -> TxnId {
    ((client as u64 + 1) << 32) | (seq & 0xffff_ffff)
}

/// Where the accounts live, and what they start with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub nodes: usize,
    pub bank: Bank,
}

impl Layout {
    /// The scenario's bank (or the default one if its workload is not a bank).
    pub fn of(scenario: &Scenario) -> Layout {
        let bank =
            scenario.workload.as_ref().and_then(|w| w.bank).unwrap_or(Bank { accounts: 8, balance: 100, amount: 50 });
        Layout { nodes: scenario.nodes, bank }
    }

    /// The participant holding `account`, if it names one of the bank's.
    pub fn home(&self, account: &str) -> Option<NodeId> {
        let i: usize = account.strip_prefix('a')?.parse().ok()?;
        (i >= 1 && i <= self.bank.accounts && self.nodes >= 2).then(|| NodeId(1 + (i - 1) % (self.nodes - 1)))
    }

    /// The accounts `node` holds, in order.
    pub fn accounts_of(&self, node: NodeId) -> impl Iterator<Item = String> + '_ {
        (0..self.bank.accounts).map(Bank::account).filter(move |a| self.home(a) == Some(node))
    }

    /// Splits a bank transaction into one piece per participant, in node order.
    pub fn pieces(&self, op: &Op) -> Result<BTreeMap<NodeId, Piece>, String> {
        let changes: Vec<(String, i64)> = match op {
            Op::Transfer { from, to, amount } => {
                let amount = i64::try_from(*amount).map_err(|_| format!("amount {amount} is too large"))?;
                vec![(from.clone(), -amount), (to.clone(), amount)]
            }
            Op::Read { keys } => keys.iter().map(|k| (k.clone(), 0)).collect(),
            _ => {
                return Err(format!(
                    "{} is a key-value operation; commit protocols run bank transactions (kind = \"bank\" in [workload])",
                    op.name()
                ));
            }
        };
        let mut pieces: BTreeMap<NodeId, Piece> = BTreeMap::new();
        for (account, delta) in changes {
            let node = self
                .home(&account)
                .ok_or_else(|| format!("there is no account {account}: the bank has a1..a{}", self.bank.accounts))?;
            pieces.entry(node).or_default().changes.push((account, delta));
        }
        Ok(pieces)
    }
}

/// One participant's piece of a transaction: `(account, change)`; a change of 0 reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Piece {
    pub changes: Vec<(String, i64)>,
}

/// Where a participant stands on a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Voted yes; does not know the outcome (2PC: blocked until it learns it).
    Uncertain,
    /// 3PC: knows everyone voted yes; the outcome will be commit unless the
    /// termination protocol finds otherwise.
    PreCommitted,
    Committed,
    Aborted,
}

impl Status {
    pub fn decided(self) -> bool {
        matches!(self, Status::Committed | Status::Aborted)
    }
}

/// What a node keeps on disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Record {
    /// A participant's account: its balance and the transaction that wrote it last.
    Account(i64, TxnId),
    /// A participant's part in a transaction.
    Part { status: Status, piece: Piece, participants: Vec<NodeId> },
    /// The coordinator's: a transaction it began, with its decision once made and
    /// the client's answer.
    Coord { participants: Vec<NodeId>, decision: Option<bool>, answer: Option<String> },
}

/// A participant's part in one transaction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Part {
    pub status: Status,
    pub piece: Piece,
    pub participants: Vec<NodeId>,
    /// `(account, balance, version)` when it voted yes: what a read returns.
    pub seen: Vec<(String, i64, TxnId)>,
    /// Restarted while undecided: it asks for the outcome and takes no part in 3PC's
    /// termination (its state may be older than what it did before the crash).
    pub recovering: bool,
}

/// A participant's bank: balances, locks and its parts in transactions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ledger {
    /// `account -> (balance, version)`; the version is the transaction that wrote it.
    pub accounts: BTreeMap<String, (i64, TxnId)>,
    pub locks: BTreeMap<String, TxnId>,
    pub parts: BTreeMap<TxnId, Part>,
}

/// The answer to a vote request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Vote {
    pub yes: bool,
    /// Yes: `(account, balance)` read. No: why.
    pub values: Vec<(String, i64)>,
    pub why: String,
}

fn part_key(txn: TxnId) -> String {
    format!("t/{txn:016x}")
}

impl Ledger {
    /// A participant's ledger from its disk, or with the opening balances.
    pub fn start(layout: &Layout, me: NodeId, durable: &Durable<Record>) -> Ledger {
        let mut l = Ledger::default();
        for a in layout.accounts_of(me) {
            l.accounts.insert(a, (layout.bank.balance as i64, 0));
        }
        for (key, record) in durable {
            match record {
                Record::Account(v, w) => {
                    l.accounts.insert(key["a/".len()..].to_string(), (*v, *w));
                }
                Record::Part { status, piece, participants } => {
                    let txn = u64::from_str_radix(&key["t/".len()..], 16).expect("a part key is t/ and hex");
                    let recovering = !status.decided();
                    if recovering {
                        for (a, _) in &piece.changes {
                            l.locks.insert(a.clone(), txn);
                        }
                    }
                    let seen = piece
                        .changes
                        .iter()
                        .map(|(a, _)| {
                            let (v, w) = l.accounts.get(a).copied().unwrap_or_default();
                            (a.clone(), v, w)
                        })
                        .collect();
                    let part = Part {
                        status: *status,
                        piece: piece.clone(),
                        participants: participants.clone(),
                        seen,
                        recovering,
                    };
                    l.parts.insert(txn, part);
                }
                Record::Coord { .. } => {}
            }
        }
        l
    }

    /// Transactions this participant voted yes on and has no outcome for.
    pub fn undecided(&self) -> impl Iterator<Item = (&TxnId, &Part)> {
        self.parts.iter().filter(|(_, p)| !p.status.decided())
    }

    /// Votes on `piece` of `txn` (again, if asked again: the same answer). A yes
    /// vote locks the accounts and is synced before the caller sends it.
    pub fn vote<P: Protocol<Stored = Record>>(
        &mut self,
        ctx: &mut Ctx<'_, P>,
        txn: TxnId,
        piece: &Piece,
        participants: &[NodeId],
    ) -> Vote {
        if let Some(p) = self.parts.get(&txn) {
            let yes = p.status != Status::Aborted;
            let values = p.seen.iter().map(|(a, v, _)| (a.clone(), *v)).collect();
            return Vote { yes, values, why: if yes { String::new() } else { "aborted here before".into() } };
        }
        let mut why = String::new();
        for (a, delta) in &piece.changes {
            match (self.locks.get(a), self.accounts.get(a)) {
                (Some(&other), _) => why = format!("{a} is locked by {}", show_txn(other)),
                (None, Some(&(balance, _))) if balance + delta < 0 => {
                    why = format!("{a} holds {balance}, cannot pay {}", -delta)
                }
                (None, None) => why = format!("{a} is not held here"),
                _ => continue,
            }
            break;
        }
        let yes = why.is_empty();
        let status = if yes { Status::Uncertain } else { Status::Aborted };
        let seen: Vec<(String, i64, TxnId)> =
            piece.changes.iter().filter_map(|(a, _)| self.accounts.get(a).map(|&(v, w)| (a.clone(), v, w))).collect();
        if yes {
            for (a, _) in &piece.changes {
                self.locks.insert(a.clone(), txn);
            }
        }
        // Synced either way: a participant that forgot its no vote in a crash could
        // vote yes when the prepare is re-sent.
        ctx.write(part_key(txn), Record::Part { status, piece: piece.clone(), participants: participants.to_vec() });
        ctx.sync();
        ctx.observe(Observation::Voted { txn, yes });
        if !yes {
            ctx.observe(Observation::Decided {
                txn,
                commit: false,
                participants: participants.to_vec(),
                reads: Vec::new(),
                writes: Vec::new(),
            });
        }
        let values = seen.iter().map(|(a, v, _)| (a.clone(), *v)).collect();
        let part = Part { status, piece: piece.clone(), participants: participants.to_vec(), seen, recovering: false };
        self.parts.insert(txn, part);
        Vote { yes, values, why }
    }

    /// Aborts `txn` here without having voted on it (never asked, or asked after
    /// the fact): it will vote no if asked later.
    pub fn refuse<P: Protocol<Stored = Record>>(&mut self, ctx: &mut Ctx<'_, P>, txn: TxnId) {
        if self.parts.contains_key(&txn) {
            return;
        }
        let part = Part {
            status: Status::Aborted,
            piece: Piece::default(),
            participants: Vec::new(),
            seen: Vec::new(),
            recovering: false,
        };
        // Synced: a peer may abort on our word, so we may never vote yes after a crash.
        ctx.write(
            part_key(txn),
            Record::Part { status: Status::Aborted, piece: Piece::default(), participants: Vec::new() },
        );
        ctx.sync();
        self.parts.insert(txn, part);
        ctx.observe(Observation::Decided {
            txn,
            commit: false,
            participants: Vec::new(),
            reads: Vec::new(),
            writes: Vec::new(),
        });
    }

    /// 3PC: moves an uncertain part to pre-committed, synced.
    pub fn precommit<P: Protocol<Stored = Record>>(&mut self, ctx: &mut Ctx<'_, P>, txn: TxnId) {
        let Some(p) = self.parts.get_mut(&txn) else { return };
        if p.status != Status::Uncertain {
            return;
        }
        p.status = Status::PreCommitted;
        let record = Record::Part { status: p.status, piece: p.piece.clone(), participants: p.participants.clone() };
        ctx.write(part_key(txn), record);
        ctx.sync();
    }

    /// Carries out the outcome of `txn`: applies the piece on commit, then releases
    /// its locks; synced. Returns false if it was already decided here (the same way:
    /// a repeat; the other way: obeyed anyway, and the checks will say so).
    pub fn decide<P: Protocol<Stored = Record>>(&mut self, ctx: &mut Ctx<'_, P>, txn: TxnId, commit: bool) -> bool {
        let status = if commit { Status::Committed } else { Status::Aborted };
        let Some(p) = self.parts.get_mut(&txn) else {
            if commit {
                // Told to commit a piece it never saw: there is nothing it can apply.
                let part = Part {
                    status,
                    piece: Piece::default(),
                    participants: Vec::new(),
                    seen: Vec::new(),
                    recovering: false,
                };
                self.parts.insert(txn, part);
                ctx.write(part_key(txn), Record::Part { status, piece: Piece::default(), participants: Vec::new() });
                ctx.sync();
                ctx.observe(Observation::Decided {
                    txn,
                    commit,
                    participants: Vec::new(),
                    reads: Vec::new(),
                    writes: Vec::new(),
                });
            } else {
                self.refuse(ctx, txn);
            }
            return true;
        };
        if p.status == status {
            return false;
        }
        p.status = status;
        p.recovering = false;
        let (mut reads, mut writes) = (Vec::new(), Vec::new());
        for (a, delta) in &p.piece.changes {
            if self.locks.get(a) == Some(&txn) {
                self.locks.remove(a);
            }
            if !commit {
                continue;
            }
            if let Some((_, _, w)) = p.seen.iter().find(|(s, _, _)| s == a) {
                reads.push((a.clone(), *w));
            }
            if *delta != 0 {
                let entry = self.accounts.entry(a.clone()).or_insert((0, 0));
                writes.push((a.clone(), entry.1));
                *entry = (entry.0 + delta, txn);
                ctx.write(format!("a/{a}"), Record::Account(entry.0, txn));
            }
        }
        let record = Record::Part { status, piece: p.piece.clone(), participants: p.participants.clone() };
        ctx.write(part_key(txn), record);
        ctx.sync();
        ctx.observe(Observation::Decided { txn, commit, participants: p.participants.clone(), reads, writes });
        true
    }

    /// The participant's status on `txn`, if it has one.
    pub fn status(&self, txn: TxnId) -> Option<Status> {
        self.parts.get(&txn).map(|p| p.status)
    }
}

/// The coordinator's side of one transaction, as both protocols keep it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Txn {
    pub client: ClientId,
    pub seq: u64,
    pub pieces: BTreeMap<NodeId, Piece>,
    /// The accounts a read asked for, in its order.
    pub read: Option<Vec<String>>,
    pub votes: BTreeMap<NodeId, bool>,
    pub values: BTreeMap<String, i64>,
    /// Why it aborts, from the first no vote.
    pub why: String,
    pub decision: Option<bool>,
    /// The answer the client was given with the decision (kept for its retries).
    pub given: Option<String>,
    /// Participants that acknowledged the current phase's message.
    pub acked: Vec<NodeId>,
    /// Restarted before it decided: it learns the outcome from the participants.
    pub recovering: bool,
}

impl Txn {
    /// A transaction the coordinator found on its disk after a restart.
    pub fn recovered(id: TxnId, participants: &[NodeId], decision: Option<bool>, given: Option<String>) -> Txn {
        Txn {
            client: ((id >> 32) - 1) as usize,
            seq: id & 0xffff_ffff,
            pieces: participants.iter().map(|&p| (p, Piece::default())).collect(),
            read: None,
            votes: BTreeMap::new(),
            values: BTreeMap::new(),
            why: "the coordinator restarted before it decided".into(),
            decision,
            given,
            acked: Vec::new(),
            recovering: true,
        }
    }

    /// A new transaction from a client's request.
    pub fn new(req: &faultline_sim::Request, pieces: BTreeMap<NodeId, Piece>) -> Txn {
        Txn {
            client: req.client,
            seq: req.seq,
            pieces,
            read: match &req.op {
                Op::Read { keys } => Some(keys.clone()),
                _ => None,
            },
            votes: BTreeMap::new(),
            values: BTreeMap::new(),
            why: String::new(),
            decision: None,
            given: None,
            acked: Vec::new(),
            recovering: false,
        }
    }

    pub fn participants(&self) -> Vec<NodeId> {
        self.pieces.keys().copied().collect()
    }

    pub fn all_voted_yes(&self) -> bool {
        self.votes.len() == self.pieces.len() && self.votes.values().all(|&y| y)
    }

    /// What the client is told once the decision is known.
    pub fn answer(&self, commit: bool) -> String {
        match (&self.read, commit) {
            (_, false) => format!("aborted: {}", if self.why.is_empty() { "no decision to commit" } else { &self.why }),
            (Some(keys), true) => faultline_sim::check::bank::show_balances(
                keys.iter().map(|k| (k.as_str(), self.values.get(k).copied().unwrap_or_default())),
            ),
            (None, true) => String::new(),
        }
    }
}

/// The client's outcome from a stored answer: a read's balances, done, or aborted.
pub fn outcome(answer: &str, commit: bool) -> faultline_sim::Outcome {
    use faultline_sim::Outcome;
    match (commit, answer.is_empty()) {
        (false, _) => Outcome::Rejected(answer.to_string()),
        (true, true) => Outcome::Done,
        (true, false) => Outcome::Value(answer.to_string()),
    }
}

/// The coordinator's side of a client request, as both protocols handle it: a
/// non-coordinator redirects; a retry gets the answer once there is one; a new
/// transaction is split into pieces, its start logged (synced), and `prepare(txn,
/// piece, participants)` sent to each participant. Returns the new transaction.
pub fn begin<P: Protocol<Stored = Record>>(
    ctx: &mut Ctx<'_, P>,
    layout: &Layout,
    txns: &mut BTreeMap<TxnId, Txn>,
    req: &faultline_sim::Request,
    prepare: impl Fn(TxnId, Piece, Vec<NodeId>) -> P::Msg,
) -> Option<TxnId> {
    use faultline_sim::{Outcome, Reply};
    let reply = |ctx: &mut Ctx<'_, P>, outcome: Outcome| ctx.reply(Reply { client: req.client, seq: req.seq, outcome });
    if ctx.id() != COORDINATOR {
        reply(ctx, Outcome::Redirect(Some(COORDINATOR)));
        return None;
    }
    let id = txn_id(req.client, req.seq);
    if let Some(txn) = txns.get(&id) {
        if let (Some(commit), Some(given)) = (txn.decision, &txn.given) {
            reply(ctx, outcome(given, commit));
        }
        return None; // still deciding: the answer goes out with the decision
    }
    let pieces = match layout.pieces(&req.op) {
        Ok(p) => p,
        Err(why) => {
            reply(ctx, Outcome::Rejected(why));
            return None;
        }
    };
    let participants: Vec<NodeId> = pieces.keys().copied().collect();
    ctx.write(coord_key(id), Record::Coord { participants: participants.clone(), decision: None, answer: None });
    ctx.sync();
    for (&p, piece) in &pieces {
        ctx.send(p, prepare(id, piece.clone(), participants.clone()));
    }
    txns.insert(id, Txn::new(req, pieces));
    Some(id)
}

/// What a node can tell another that asks about `txn`: `Ok(commit)` if it knows the
/// outcome, `Err(status)` if it is undecided itself, `None` if it has nothing to
/// say (a coordinator still deciding). A coordinator that never began `txn` says
/// abort (presumed abort); a participant that never voted on it refuses to now, and
/// says abort: nobody can commit without its vote.
pub fn answer_ask<P: Protocol<Stored = Record>>(
    ctx: &mut Ctx<'_, P>,
    ledger: &mut Ledger,
    txns: &BTreeMap<TxnId, Txn>,
    txn: TxnId,
) -> Option<Result<bool, Status>> {
    if ctx.id() == COORDINATOR {
        return match txns.get(&txn) {
            Some(t) => t.decision.map(Ok),
            None => Some(Ok(false)),
        };
    }
    match ledger.status(txn) {
        Some(Status::Committed) => Some(Ok(true)),
        Some(Status::Aborted) => Some(Ok(false)),
        Some(status) => Some(Err(status)),
        None => {
            ledger.refuse(ctx, txn);
            Some(Ok(false))
        }
    }
}

/// The coordinator decides `id`: records the decision and the client's answer
/// (`given`, or the one [`Txn::answer`] words) in `txns` and in its log, syncs
/// unless `lazy` (the caller then syncs later), sends `decision(id, commit)` to every
/// participant, answers the client (unless the coordinator restarted since it
/// began), and reports the decision. Returns false if `id` was already decided.
pub fn decide<P: Protocol<Stored = Record>>(
    ctx: &mut Ctx<'_, P>,
    txns: &mut BTreeMap<TxnId, Txn>,
    id: TxnId,
    commit: bool,
    given: Option<String>,
    lazy: bool,
    decision: impl Fn(TxnId, bool) -> P::Msg,
) -> bool {
    let Some(txn) = txns.get_mut(&id) else { return false };
    if txn.decision.is_some() {
        return false;
    }
    txn.decision = Some(commit);
    txn.acked.clear();
    let answer = given.unwrap_or_else(|| txn.answer(commit));
    txn.given = Some(answer.clone());
    let participants = txn.participants();
    let record =
        Record::Coord { participants: participants.clone(), decision: Some(commit), answer: Some(answer.clone()) };
    ctx.write(coord_key(id), record);
    if !lazy {
        ctx.sync();
    }
    for &p in &participants {
        ctx.send(p, decision(id, commit));
    }
    ctx.note(format!("{} {}", if commit { "commit" } else { "abort" }, show_txn(id)));
    if !txn.recovering {
        let outcome = outcome(&answer, commit);
        ctx.reply(faultline_sim::Reply { client: txn.client, seq: txn.seq, outcome });
    }
    ctx.observe(Observation::Decided { txn: id, commit, participants, reads: Vec::new(), writes: Vec::new() });
    true
}

pub fn coord_key(txn: TxnId) -> String {
    format!("c/{txn:016x}")
}

/// A restarted coordinator takes its transactions back from its disk into `txns`;
/// returns those it had decided (to send the decision again) and those it had not.
pub fn recover_coordinator(durable: &Durable<Record>, txns: &mut BTreeMap<TxnId, Txn>) -> (Vec<TxnId>, Vec<TxnId>) {
    let (mut decided, mut undecided) = (Vec::new(), Vec::new());
    for (key, record) in durable {
        let Record::Coord { participants, decision, answer } = record else { continue };
        let id = u64::from_str_radix(&key["c/".len()..], 16).expect("a coordinator key is c/ and hex");
        if decision.is_some() {
            decided.push(id)
        } else {
            undecided.push(id)
        }
        txns.insert(id, Txn::recovered(id, participants, *decision, answer.clone()));
    }
    (decided, undecided)
}

/// The probes both commit protocols offer.
pub const PROBES: &[(&str, &str)] = &[
    ("undecided", "participant parts that voted yes and do not know the outcome yet (blocked, in 2PC)"),
    ("locked", "accounts locked by transactions in progress"),
    ("commits", "transactions the coordinator decided to commit (kept across its restarts)"),
    ("aborts", "transactions the coordinator decided to abort (kept across its restarts)"),
];

/// Measures probe `name` over the nodes given, as `(ledger, coordinator's transactions)`.
pub fn probe<'a>(nodes: impl Iterator<Item = (&'a Ledger, &'a BTreeMap<TxnId, Txn>)>, name: &str) -> i64 {
    let count = |n: usize| n as i64;
    nodes
        .map(|(ledger, txns)| match name {
            "undecided" => count(ledger.undecided().count()),
            "locked" => count(ledger.locks.len()),
            "commits" => count(txns.values().filter(|t| t.decision == Some(true)).count()),
            "aborts" => count(txns.values().filter(|t| t.decision == Some(false)).count()),
            _ => 0,
        })
        .sum()
}

/// What each participant holds at the end of a run (`ledgers`: participants, `None`
/// if down), as a summary measure, with the total the bank started with.
pub fn money<'a>(ledgers: impl Iterator<Item = (NodeId, Option<&'a Ledger>)>, total: Option<u64>) -> (String, String) {
    let mut held = Vec::new();
    let (mut sum, mut undecided) = (0, 0);
    for (node, ledger) in ledgers {
        match ledger {
            Some(l) => {
                let money: i64 = l.accounts.values().map(|(v, _)| v).sum();
                sum += money;
                undecided += l.undecided().count();
                held.push(format!("{node} {money}"));
            }
            None => held.push(format!("{node} down")),
        }
    }
    let of = total.map_or(String::new(), |t| format!(", of {t}"));
    let moving =
        if undecided > 0 { format!(" ({undecided} undecided piece(s) may still move some)") } else { String::new() };
    ("money at the end".into(), format!("{}: {sum} in all{of}{moving}", held.join(", ")))
}

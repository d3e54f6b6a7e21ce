//! The external store: a transactional log per partition that shows a partition's
//! transactions in order, each once it is committed and everything before it is
//! resolved, and reports each record it shows.

use std::collections::BTreeMap;

use faultline_sim::disk::Durable;
use faultline_sim::{Ctx, NodeId, Observation};

use super::{Msg, Rec, Record, Status, Stream, TxnKey};

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
struct Partition {
    fence: u64,
    /// Transactions after `through`, by key.
    txns: BTreeMap<TxnKey, (Status, Vec<Rec>)>,
    through: TxnKey,
    records: u64,
    /// The latest transaction its sink asked to commit: the sink commits in order,
    /// so one before it that the store never heard of is not coming (it was lost).
    released: TxnKey,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    partitions: BTreeMap<u64, Partition>,
}

fn txn_key(p: u64, txn: TxnKey) -> String {
    format!("t/{p}/{:016x}/{:016x}", txn.attempt, txn.n)
}

impl Store {
    /// Records the output shows, over every partition.
    pub(super) fn records_output(&self) -> u64 {
        self.partitions.values().map(|p| p.records).sum()
    }

    /// Pre-committed transactions waiting for their commit.
    pub(super) fn precommitted(&self) -> usize {
        let txns = self.partitions.values().flat_map(|p| p.txns.values());
        txns.filter(|(status, _)| *status == Status::PreCommitted).count()
    }

    pub(super) fn start(durable: &Durable<Record>) -> Store {
        let mut partitions: BTreeMap<u64, Partition> = BTreeMap::new();
        for (key, record) in durable {
            let mut parts = key.split('/');
            let (kind, p) = (parts.next(), parts.next().and_then(|p| p.parse::<u64>().ok()));
            let Some(p) = p else { continue };
            let part = partitions.entry(p).or_default();
            match (kind, record) {
                (Some("f"), Record::Fence(a)) => part.fence = *a,
                (Some("o"), Record::Cursor { through, records, released }) => {
                    (part.through, part.records, part.released) = (*through, *records, *released)
                }
                (Some("t"), Record::Txn { status, recs }) => {
                    let mut hex = parts.map(|h| u64::from_str_radix(h, 16).unwrap_or(0));
                    let txn = TxnKey { attempt: hex.next().unwrap_or(0), n: hex.next().unwrap_or(0) };
                    part.txns.insert(txn, (*status, recs.clone()));
                }
                _ => {}
            }
        }
        Store { partitions }
    }

    /// Shows every transaction of partition `p` that is resolved and has nothing
    /// unresolved before it, and syncs how far the output got.
    fn advance(&mut self, ctx: &mut Ctx<'_, Stream>, p: u64) {
        let Some(part) = self.partitions.get_mut(&p) else { return };
        let mut moved = false;
        while let Some(entry) = part.txns.first_entry() {
            let (status, _) = entry.get();
            let txn = *entry.key();
            // The next transaction in the log's order: the next of the same attempt,
            // or the first of a later one once every earlier attempt is fenced out (a
            // transaction the store has not heard of yet may not be passed over,
            // unless its attempt is fenced out or its sink committed a later one).
            let next = if txn.attempt < part.fence || txn <= part.released {
                true
            } else if txn.attempt == part.through.attempt {
                txn.n == part.through.n + 1
            } else {
                txn.n == 1 && part.fence >= txn.attempt
            };
            if !next || !matches!(status, Status::Committed | Status::Aborted) {
                break;
            }
            let (status, recs) = entry.remove();
            if status == Status::Committed {
                for (r, position) in recs.iter().zip(part.records..) {
                    let (seq, key, count) = (r.seq, r.key, r.count);
                    ctx.observe(Observation::Output { partition: p, position, seq, key, count });
                }
                part.records += recs.len() as u64;
            }
            ctx.delete(txn_key(p, txn));
            part.through = txn;
            moved = true;
        }
        if moved {
            Store::write_cursor(ctx, p, part);
            ctx.sync();
        }
    }

    /// Writes how far partition `p`'s output got (the caller syncs).
    fn write_cursor(ctx: &mut Ctx<'_, Stream>, p: u64, part: &Partition) {
        let (through, records, released) = (part.through, part.records, part.released);
        ctx.write(format!("o/{p}"), Record::Cursor { through, records, released });
    }

    pub(super) fn on_message(&mut self, ctx: &mut Ctx<'_, Stream>, from: NodeId, msg: Msg) {
        let p = from.0 as u64;
        let part = self.partitions.entry(p).or_default();
        match msg {
            Msg::Write { txn, index, recs } => {
                if txn.attempt < part.fence || txn <= part.through {
                    return;
                }
                let (status, held) = part.txns.entry(txn).or_insert((Status::Open, Vec::new()));
                if *status != Status::Open {
                    return;
                }
                let len = held.len() as u64;
                if index > len {
                    ctx.send(from, Msg::Have { txn, len });
                    return;
                }
                held.extend(recs.into_iter().skip((len - index) as usize));
            }
            Msg::PreCommit { txn, len } => {
                if txn.attempt < part.fence {
                    return;
                }
                if txn <= part.through {
                    ctx.send(from, Msg::PreCommitted { txn });
                    return;
                }
                let (status, held) = part.txns.entry(txn).or_insert((Status::Open, Vec::new()));
                match status {
                    Status::Open if held.len() as u64 == len => {
                        *status = Status::PreCommitted;
                        ctx.write(txn_key(p, txn), Record::Txn { status: Status::PreCommitted, recs: held.clone() });
                        ctx.sync();
                        ctx.send(from, Msg::PreCommitted { txn });
                    }
                    Status::Open => ctx.send(from, Msg::Have { txn, len: held.len() as u64 }),
                    Status::PreCommitted | Status::Committed => ctx.send(from, Msg::PreCommitted { txn }),
                    Status::Aborted => {}
                }
            }
            Msg::Commit { txn } => {
                if txn.attempt < part.fence {
                    return;
                }
                if let Some((status, held)) = part.txns.get_mut(&txn)
                    && matches!(status, Status::Open | Status::PreCommitted)
                {
                    *status = Status::Committed;
                    ctx.write(txn_key(p, txn), Record::Txn { status: Status::Committed, recs: held.clone() });
                }
                if txn > part.released {
                    part.released = txn;
                    Store::write_cursor(ctx, p, part);
                }
                // One sync for the commit and the cursor, before the answer.
                ctx.sync();
                ctx.send(from, Msg::Committed { txn });
                self.advance(ctx, p);
            }
            Msg::Recover { attempt, commit } => {
                if attempt < part.fence {
                    return;
                }
                for (txn, (status, held)) in part.txns.iter_mut() {
                    let new = match status {
                        Status::Committed | Status::Aborted => continue,
                        _ if commit.contains(txn) => Status::Committed,
                        _ if txn.attempt < attempt => Status::Aborted,
                        _ => continue,
                    };
                    *status = new;
                    ctx.write(txn_key(p, *txn), Record::Txn { status: new, recs: held.clone() });
                }
                part.fence = attempt;
                ctx.write(format!("f/{p}"), Record::Fence(attempt));
                ctx.sync();
                ctx.send(from, Msg::Recovered { attempt });
                self.advance(ctx, p);
            }
            _ => {}
        }
    }
}

//! The bank workload's check, as in Jepsen's bank test: money only moves between
//! accounts, so every read of all accounts that succeeded must see the same total.
//! A transaction that committed at one account and not at the other shows up here
//! as money made or lost.

use crate::history::{Completion, History};
use crate::time::fmt_time;

/// The bank workload: accounts a1..aN, each starting with `balance`; the total of
/// all accounts never changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bank {
    /// How many accounts (`a1..aN`).
    pub accounts: usize,
    /// What each account holds at the start.
    pub balance: u64,
    /// The largest amount one transfer moves.
    pub amount: u64,
}

impl Bank {
    /// Account `i` (from 0) is named `a{i+1}`.
    pub fn account(i: usize) -> String {
        format!("a{}", i + 1)
    }
    /// What every account together holds, always.
    pub fn total(&self) -> u64 {
        self.accounts as u64 * self.balance
    }
}

/// Parses a read's answer, `"a1=100 a2=95"`, into `(account, balance)` pairs.
pub fn parse_balances(text: &str) -> Result<Vec<(&str, i64)>, String> {
    text.split_whitespace()
        .map(|pair| {
            let (account, value) = pair.split_once('=').ok_or_else(|| format!("`{pair}` is not account=balance"))?;
            let value = value.parse::<i64>().map_err(|_| format!("`{value}` is not a balance in `{pair}`"))?;
            Ok((account, value))
        })
        .collect()
}

/// Words balances as a read answers them: `"a1=100 a2=95"`.
pub fn show_balances<'a>(balances: impl IntoIterator<Item = (&'a str, i64)>) -> String {
    balances.into_iter().map(|(a, v)| format!("{a}={v}")).collect::<Vec<_>>().join(" ")
}

/// Every successful read of all accounts saw every account, and `bank.total()` in
/// all. The first read that did not is the failure, named with its client and time.
pub fn conserved_total(history: &History, bank: &Bank) -> Result<(), String> {
    for op in &history.ops {
        let (crate::op::Op::Read { keys }, Some((t, Completion::Ok { value: Some(v), .. }))) = (&op.op, &op.complete)
        else {
            continue;
        };
        let who = format!(
            "invariant `conserved-total` violated: the read by c{} at {} (op {})",
            op.client + 1,
            fmt_time(*t),
            op.id
        );
        let balances = parse_balances(v).map_err(|e| format!("{who} answered {v:?}: {e}"))?;
        if let Some(missing) = keys.iter().find(|k| !balances.iter().any(|(a, _)| a == k)) {
            return Err(format!("{who} did not say what {missing} holds: {v}"));
        }
        let total: i64 = balances.iter().map(|(_, b)| b).sum();
        if total != bank.total() as i64 {
            return Err(format!("{who} saw {total} in all, but the accounts always hold {}: {v}", bank.total()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::Op;

    fn read(h: &mut History, answer: &str) {
        let id = h.invoke(1, 0, Op::Read { keys: vec!["a1".into(), "a2".into()] });
        h.complete(id, 2, Completion::Ok { value: Some(answer.into()), swapped: None });
    }

    #[test]
    fn a_read_that_sees_money_made_or_lost_fails() {
        let bank = Bank { accounts: 2, balance: 100, amount: 10 };
        let mut h = History::default();
        read(&mut h, "a1=90 a2=110");
        assert_eq!(conserved_total(&h, &bank), Ok(()));
        read(&mut h, "a1=90 a2=100");
        let e = conserved_total(&h, &bank).unwrap_err();
        assert!(e.contains("saw 190 in all, but the accounts always hold 200"), "{e}");
        assert!(e.contains("op 1"), "{e}");
    }

    #[test]
    fn a_read_that_leaves_out_an_account_or_garbles_one_fails() {
        let bank = Bank { accounts: 2, balance: 100, amount: 10 };
        let mut h = History::default();
        read(&mut h, "a1=200");
        assert!(conserved_total(&h, &bank).unwrap_err().contains("did not say what a2 holds"));
        let mut h = History::default();
        read(&mut h, "a1=x a2=1");
        assert!(conserved_total(&h, &bank).unwrap_err().contains("`x` is not a balance"));
    }
}

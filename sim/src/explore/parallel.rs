//! The search on several threads. Each thread owns its states outright: a state and
//! the node records it shares with its relatives live on one thread only, so sharing
//! costs a plain reference count and no two cores write one cache line. The levels
//! are searched in step (breadth-first, as on one thread), and the fingerprints seen
//! are one set in shards behind locks. A thread keeps the new states it finds; after
//! each level, a thread with more than its share hands the surplus to one with less,
//! as [`Owned`] copies that share nothing (a copy costs memory the shared records
//! save, so states move only to even the load).
//!
//! What it reports: a complete search counts exactly what the one-thread search
//! counts (every level is searched whole, and the states of a level do not depend on
//! the order they were found in). A found failure is searched again on one thread,
//! to the depth it was found at, so the path reported is the one the one-thread
//! search reports, always. A search stopped by its state or memory budget stops
//! part-way through a level, where the threads happened to be: its counts of states
//! explored and transitions may differ from run to run.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex, PoisonError};

use super::{
    Bounds, Client, Explorer, Flight, FpSet, Node, Packet, Report, Stop, Tally, World, prefetch_slot, resident_bytes,
};
use crate::judge::Judge;
use crate::protocol::Protocol;
use crate::scenario::Scenario;

/// The most threads a search may be asked to use.
pub const THREADS_MAX: usize = 64;

/// A state with nothing shared: what one thread hands another.
struct Owned<P: Protocol> {
    states: Vec<Option<P>>,
    nodes: Vec<Node<P>>,
    net: Vec<(u64, Packet<P>)>,
    net_fp: u64,
    clients: Vec<Client>,
    judge: Judge,
    tally: Tally,
}

impl<P: Protocol> World<P> {
    fn detach(&self) -> Owned<P> {
        Owned {
            states: self.states.iter().map(|s| s.as_deref().cloned()).collect(),
            nodes: self.nodes.iter().map(|n| Node::clone(n)).collect(),
            net: self.net.iter().map(|f| (f.fp, f.packet.clone())).collect(),
            net_fp: self.net_fp,
            clients: Vec::clone(&self.clients),
            judge: Judge::clone(&self.judge),
            tally: self.tally,
        }
    }
}

impl<P: Protocol> Owned<P> {
    /// A state of this thread's own, copied from one another thread made. The copy
    /// is made here, and the original goes back to be dropped where it was made:
    /// memory freed by a thread other than the one that took it costs a lock on
    /// that thread's allocator (glibc), contended by every allocation it makes.
    fn adopt(&self) -> World<P> {
        World {
            states: self.states.iter().map(|s| s.clone().map(Rc::new)).collect(),
            nodes: self.nodes.iter().map(|n| Rc::new(n.clone())).collect(),
            net: self.net.iter().map(|(fp, packet)| Rc::new(Flight { fp: *fp, packet: packet.clone() })).collect(),
            net_fp: self.net_fp,
            clients: Rc::new(self.clients.clone()),
            judge: Rc::new(self.judge.clone()),
            tally: self.tally,
        }
    }
}

/// States one thread hands another.
type Batch<P> = Vec<Owned<P>>;

/// A thread's mailbox: batches handed to it, each with the thread that made it.
type Mailbox<P> = Mutex<Vec<(usize, Batch<P>)>>;

/// The fingerprints seen, in shards by their top bits, each behind its own lock.
struct Seen {
    shards: Vec<Shard>,
}

/// One shard, and where its slots are, readable without the lock: to prefetch a
/// fingerprint's slot before the lock is taken (see [`prefetch_slot`]).
struct Shard {
    set: Mutex<FpSet>,
    base: AtomicPtr<u64>,
    mask: AtomicUsize,
}

impl Seen {
    const SHARD_BITS: u32 = 6;

    fn with_capacity(n: usize) -> Seen {
        let shards = 1usize << Self::SHARD_BITS;
        let shard = |_| {
            let mut set = FpSet::with_capacity(n / shards);
            let (base, mask) = (AtomicPtr::new(set.slots.as_mut_ptr()), AtomicUsize::new(set.slots.len() - 1));
            Shard { set: Mutex::new(set), base, mask }
        };
        Seen { shards: (0..shards).map(shard).collect() }
    }

    fn shard(&self, fp: u64) -> &Shard {
        &self.shards[(fp.max(1) >> (64 - Self::SHARD_BITS)) as usize]
    }

    /// Brings `fp`'s slot into cache, for an [`Seen::insert`] a little later.
    fn prefetch(&self, fp: u64) {
        let shard = self.shard(fp);
        prefetch_slot(shard.base.load(Ordering::Relaxed), shard.mask.load(Ordering::Relaxed), fp);
    }

    /// Adds `fp`; false if it was there.
    fn insert(&self, fp: u64) -> bool {
        let shard = self.shard(fp);
        let mut set = shard.set.lock().unwrap_or_else(PoisonError::into_inner);
        let new = set.insert(fp);
        if shard.base.load(Ordering::Relaxed) != set.slots.as_mut_ptr() {
            // It grew.
            shard.base.store(set.slots.as_mut_ptr(), Ordering::Relaxed);
            shard.mask.store(set.slots.len() - 1, Ordering::Relaxed);
        }
        new
    }
}

/// Where the threaded search stands: going on, or why it stops (kept in an
/// [`AtomicU8`] as its number).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Halt {
    Going,
    Found,
    States,
    Memory,
    Panicked,
}

impl Halt {
    fn of(n: u8) -> Halt {
        [Halt::Going, Halt::Found, Halt::States, Halt::Memory, Halt::Panicked][usize::from(n)]
    }
}

/// What the threads share.
struct Shared<P: Protocol> {
    seen: Seen,
    unique: AtomicU64,
    explored: AtomicU64,
    transitions: AtomicU64,
    /// Why the search stops, once a thread knows ([`Halt::Going`] until then).
    stop: AtomicU8,
    /// Whether the threads search the next level.
    go_on: AtomicBool,
    /// Each thread's states for the next level, when a level ends.
    sizes: Vec<AtomicUsize>,
    /// How many states thread `t` hands thread `u` (at `t * threads + u`).
    plan: Vec<AtomicUsize>,
    /// Each thread's states handed over by others: batches, by finder.
    mail: Vec<Mailbox<P>>,
    /// Batches adopted, back at the thread that made them, to be dropped there.
    returned: Vec<Mutex<Vec<Batch<P>>>>,
    /// Every thread and the coordinator meet here three times a level.
    barrier: Barrier,
    /// What a protocol's handler panicked with, raised again once every thread has
    /// stopped (a thread that stopped early would leave the others at the barrier).
    panic: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

impl<P: Protocol> Shared<P> {
    fn halt(&self, why: Halt) {
        let _ = self.stop.compare_exchange(Halt::Going as u8, why as u8, Ordering::SeqCst, Ordering::SeqCst);
    }

    fn halted(&self) -> Halt {
        Halt::of(self.stop.load(Ordering::SeqCst))
    }
}

impl<P> Explorer<P>
where
    P: Protocol + Send,
    P::Msg: Send,
    P::Timer: Send,
    P::Stored: Send,
    P::Config: Send + Sync,
{
    /// [`Explorer::run`] on `bounds.threads` threads (one thread: `run` itself). See
    /// the module's notes for what it reports.
    pub fn run_threaded(&self, scenario: &Scenario, progress: &mut dyn FnMut(&Report)) -> Report {
        let threads = self.bounds.threads.clamp(1, THREADS_MAX);
        if threads == 1 {
            return self.run(scenario, progress);
        }
        let b = self.bounds;
        let shared = Shared::<P> {
            seen: Seen::with_capacity(b.states.min(1 << 23) as usize),
            unique: AtomicU64::new(1),
            explored: AtomicU64::new(0),
            transitions: AtomicU64::new(0),
            stop: AtomicU8::new(Halt::Going as u8),
            go_on: AtomicBool::new(true),
            sizes: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            plan: (0..threads * threads).map(|_| AtomicUsize::new(0)).collect(),
            mail: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
            returned: (0..threads).map(|_| Mutex::new(Vec::new())).collect(),
            barrier: Barrier::new(threads + 1),
            panic: Mutex::new(None),
        };
        let mut report = Report::start();
        let stop = std::thread::scope(|s| {
            for t in 0..threads {
                let shared = &shared;
                // An explorer of its own (an explorer is one thread's: it keeps a
                // step's effects buffer in a cell), of the same scenario.
                let config = self.config.clone();
                s.spawn(move || Explorer::<P>::new(scenario, config, b).search(t, threads, scenario, shared));
            }
            let mut last = 1;
            for depth in 0..b.depth {
                shared.barrier.wait();
                report.explored = shared.explored.load(Ordering::SeqCst);
                report.transitions = shared.transitions.load(Ordering::SeqCst);
                report.unique = shared.unique.load(Ordering::SeqCst);
                let why = shared.halted();
                let grew = report.unique > last;
                last = report.unique;
                if why == Halt::Going {
                    report.depth = depth + 1;
                    progress(&report);
                }
                let go_on = why == Halt::Going && grew && depth + 1 < b.depth;
                shared.go_on.store(go_on, Ordering::SeqCst);
                let sizes: Vec<usize> = shared.sizes.iter().map(|s| s.load(Ordering::SeqCst)).collect();
                for (slot, n) in shared.plan.iter().zip(balance(&sizes)) {
                    slot.store(n, Ordering::SeqCst);
                }
                shared.barrier.wait();
                if !go_on {
                    if why != Halt::Going {
                        report.depth = depth;
                    }
                    return why;
                }
                shared.barrier.wait();
            }
            Halt::Going
        });
        match stop {
            Halt::Found => {
                // The path: the one the one-thread search finds, searched again to
                // the depth the failure showed at.
                let again = Bounds { depth: report.depth + 1, ..b };
                Explorer::<P>::new(scenario, self.config.clone(), again).run(scenario, &mut |_| {})
            }
            Halt::Panicked => {
                let payload = shared.panic.into_inner().unwrap_or_else(PoisonError::into_inner);
                std::panic::resume_unwind(payload.unwrap_or_else(|| Box::new("a search thread panicked")))
            }
            Halt::States => Report { unique: report.unique.min(b.states), stop: Stop::States, ..report },
            Halt::Memory => Report { stop: Stop::Memory, ..report },
            Halt::Going => report,
        }
    }

    /// Thread `t`'s part: its states of each level, expanded, until the coordinator
    /// says stop.
    fn search(&self, t: usize, threads: usize, scenario: &Scenario, shared: &Shared<P>) {
        let b = self.bounds;
        let mut frontier: Vec<World<P>> = Vec::new();
        if t == 0 {
            match self.guarded(shared, || self.initial(scenario)) {
                Some(Ok(w)) => {
                    shared.seen.insert(w.fingerprint());
                    frontier.push(w);
                }
                Some(Err(_)) => shared.halt(Halt::Found),
                None => {}
            }
        }
        for _ in 0..b.depth {
            let mut next = Vec::new();
            let (explored, transitions) =
                self.guarded(shared, || self.level(std::mem::take(&mut frontier), &mut next, shared)).unwrap_or((0, 0));
            shared.explored.fetch_add(explored, Ordering::SeqCst);
            shared.transitions.fetch_add(transitions, Ordering::SeqCst);
            shared.sizes[t].store(next.len(), Ordering::SeqCst);
            // What another thread adopted last level goes where it was made.
            drop(std::mem::take(&mut *shared.returned[t].lock().unwrap_or_else(PoisonError::into_inner)));
            // First meeting: the level is done everywhere; the coordinator counts it
            // and plans who hands whom states. Second: the plan is made.
            shared.barrier.wait();
            shared.barrier.wait();
            if !shared.go_on.load(Ordering::SeqCst) {
                return;
            }
            for u in 0..threads {
                let k = shared.plan[t * threads + u].load(Ordering::SeqCst).min(next.len());
                if k > 0 {
                    let batch: Batch<P> = next.drain(next.len() - k..).map(|w| w.detach()).collect();
                    shared.mail[u].lock().unwrap_or_else(PoisonError::into_inner).push((t, batch));
                }
            }
            // Third: every surplus is posted.
            shared.barrier.wait();
            let mail = std::mem::take(&mut *shared.mail[t].lock().unwrap_or_else(PoisonError::into_inner));
            for (finder, states) in mail {
                next.extend(states.iter().map(Owned::adopt));
                shared.returned[finder].lock().unwrap_or_else(PoisonError::into_inner).push(states);
            }
            frontier = next;
        }
    }

    /// Expands `frontier` (this thread's states of one level) into `next`. Returns
    /// the states explored and the transitions tried.
    fn level(&self, frontier: Vec<World<P>>, next: &mut Vec<World<P>>, shared: &Shared<P>) -> (u64, u64) {
        let b = self.bounds;
        let (mut explored, mut transitions) = (0, 0);
        // As on one thread, a new state waits while the next is made, its slot
        // prefetched (see `Explorer::run`).
        let admit = |waiting: Option<(World<P>, u64)>, next: &mut Vec<World<P>>| {
            let Some((child, fp)) = waiting else { return Halt::Going };
            if !shared.seen.insert(fp) {
                return Halt::Going;
            }
            let unique = shared.unique.fetch_add(1, Ordering::Relaxed) + 1;
            if unique >= b.states {
                return Halt::States;
            }
            if unique.is_multiple_of(4096) && resident_bytes() > b.memory_bytes {
                return Halt::Memory;
            }
            next.push(child);
            Halt::Going
        };
        let mut waiting = None;
        'level: for w in frontier {
            if shared.halted() != Halt::Going {
                break;
            }
            explored += 1;
            for a in self.actions(&w) {
                transitions += 1;
                let mut child = w.clone();
                if self.apply(&mut child, a).is_err() {
                    shared.halt(Halt::Found);
                    break 'level;
                }
                let fp = child.fingerprint();
                shared.seen.prefetch(fp);
                let why = admit(waiting.replace((child, fp)), next);
                if why != Halt::Going {
                    shared.halt(why);
                    break 'level;
                }
            }
        }
        if shared.halted() == Halt::Going {
            let why = admit(waiting.take(), next);
            if why != Halt::Going {
                shared.halt(why);
            }
        }
        (explored, transitions)
    }

    /// Runs `f`; if a protocol's handler panics in it, keeps the panic for the
    /// coordinator to raise and stops the search (None).
    fn guarded<T>(&self, shared: &Shared<P>, f: impl FnOnce() -> T) -> Option<T> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .map_err(|payload| {
                shared.panic.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(payload);
                shared.halt(Halt::Panicked);
            })
            .ok()
    }
}

/// Who hands whom how many states so that every thread has its share of the next
/// level (`sizes` are each thread's), as a `threads x threads` table by row. Nothing
/// moves while the threads are within an eighth of their share of one another: a
/// state handed over is a copy.
fn balance(sizes: &[usize]) -> Vec<usize> {
    let threads = sizes.len();
    let mut plan = vec![0; threads * threads];
    let total: usize = sizes.iter().sum();
    let share = |t: usize| total / threads + usize::from(t < total % threads);
    let (lo, hi) = (sizes.iter().min().copied().unwrap_or(0), sizes.iter().max().copied().unwrap_or(0));
    if hi - lo <= total / threads / 8 + 16 {
        return plan;
    }
    let mut surplus: Vec<(usize, usize)> =
        (0..threads).filter(|&t| sizes[t] > share(t)).map(|t| (t, sizes[t] - share(t))).collect();
    let mut deficit: Vec<(usize, usize)> =
        (0..threads).filter(|&t| sizes[t] < share(t)).map(|t| (t, share(t) - sizes[t])).collect();
    let (mut i, mut j) = (0, 0);
    while i < surplus.len() && j < deficit.len() {
        let k = surplus[i].1.min(deficit[j].1);
        plan[surplus[i].0 * threads + deficit[j].0] += k;
        surplus[i].1 -= k;
        deficit[j].1 -= k;
        if surplus[i].1 == 0 {
            i += 1;
        }
        if deficit[j].1 == 0 {
            j += 1;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::balance;

    #[test]
    fn the_plan_evens_the_threads_and_leaves_near_even_ones_alone() {
        // One thread holds everything: it hands each other its share.
        assert_eq!(balance(&[900, 0, 0]), vec![0, 300, 300, 0, 0, 0, 0, 0, 0]);
        // Uneven both ways: the surplus goes to the short thread only.
        assert_eq!(balance(&[700, 100, 400]), vec![0, 300, 0, 0, 0, 0, 0, 0, 0]);
        // Within an eighth of the share: nothing moves.
        assert_eq!(balance(&[1000, 960]), vec![0; 4]);
        assert_eq!(balance(&[0, 0]), vec![0; 4]);
        // Every plan leaves each thread with its share.
        let sizes = [5000, 17, 2300, 9999];
        let plan = balance(&sizes);
        let total: usize = sizes.iter().sum();
        for (t, &size) in sizes.iter().enumerate() {
            let gets: usize = (0..4).map(|u| plan[u * 4 + t]).sum();
            let gives: usize = plan[t * 4..t * 4 + 4].iter().sum();
            let after = size + gets - gives;
            assert!(after.abs_diff(total / 4) <= 1, "thread {t}: {after} of {total}");
        }
    }
}

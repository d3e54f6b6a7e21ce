//! The random nemesis: every `interval` on average it starts one fault of a kind the
//! scenario allows, lets it last `fault_duration` on average, then heals it. At `stop`
//! it heals whatever it started, so the end of a run is quiet for liveness checks.
//! It draws only from the fault stream.
//!
//! A sans-IO planner, like the clients: it sees the cluster through a [`View`] and
//! answers with [`Act`]s (a fault to inject, a clock to resync, a step to schedule)
//! that the engine carries out in order. It imports nothing from the engine.

use crate::protocol::NodeId;
use crate::rng::SimRng;
use crate::scenario::{FaultAction, NemesisConfig, NemesisKind, SplitKind, Target};
use crate::time::Time;

/// A step of the nemesis, scheduled as an event.
#[derive(Clone, Copy, Debug)]
pub enum NemesisStep {
    /// Start a fault.
    Start,
    /// Heal the fault with this id.
    Heal(u32),
    /// Heal everything and start nothing more.
    Stop,
}

/// What the nemesis asks of the engine, carried out in order.
#[derive(Clone, Debug)]
pub enum Act {
    /// Inject (or heal) a fault.
    Fault(FaultAction),
    /// Put a node's clock back to the scenario's own skew and drift.
    Resync(NodeId),
    /// Run this step at this time.
    Schedule(Time, NemesisStep),
}

/// What the nemesis sees of the cluster when it picks a fault.
pub struct View {
    /// Per node: up (not crashed).
    pub up: Vec<bool>,
    /// Per node: paused.
    pub paused: Vec<bool>,
    /// The node that leads with the highest term, if one does.
    pub leader: Option<usize>,
}

impl View {
    /// The nodes a fault's `target` names, as the engine and a real cluster's driver
    /// resolve it alike. "follower" and "any" pick one up node (not the leader, for
    /// "follower") among those `eligible`, drawing from `rng`.
    pub fn resolve(&self, target: Target, eligible: impl Fn(usize) -> bool, rng: &mut SimRng) -> Vec<usize> {
        let n = self.up.len();
        match target {
            Target::Node(node) => vec![node.0],
            Target::Leader => self.leader.into_iter().collect(),
            Target::Follower | Target::Any => {
                let leader = if target == Target::Follower { self.leader } else { None };
                let pool: Vec<usize> = (0..n).filter(|&i| self.up[i] && Some(i) != leader && eligible(i)).collect();
                if pool.is_empty() {
                    return Vec::new();
                }
                vec![pool[rng.below(pool.len() as u64) as usize]]
            }
            Target::Crashed => (0..n).filter(|&i| !self.up[i]).collect(),
            Target::Paused => (0..n).filter(|&i| self.up[i] && self.paused[i]).collect(),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Active {
    Partition,
    Crash(NodeId),
    Pause(NodeId),
    Clock(NodeId),
}

/// The random nemesis: see the module's documentation.
pub struct Nemesis {
    cfg: NemesisConfig,
    /// Faults started and not yet healed, by id: at most one unless `overlap`.
    active: Vec<(u32, Active)>,
    /// The fault [`Nemesis::start`] picked, until [`Nemesis::started`] records it.
    starting: Option<Active>,
    next_id: u32,
    stopped: bool,
}

impl Nemesis {
    /// A nemesis for `cfg`.
    pub fn new(cfg: NemesisConfig) -> Nemesis {
        Nemesis { cfg, active: Vec::new(), starting: None, next_id: 0, stopped: false }
    }

    /// At the start of the run: when to start the first fault, and when to stop.
    pub fn boot(&self, rng: &mut SimRng) -> Vec<Act> {
        if self.cfg.kinds.is_empty() {
            return Vec::new();
        }
        let mut acts = Vec::new();
        let first = rng.exponential(self.cfg.interval);
        if first < self.cfg.stop {
            acts.push(Act::Schedule(first, NemesisStep::Start));
        }
        acts.push(Act::Schedule(self.cfg.stop, NemesisStep::Stop));
        acts
    }

    /// Whether it has stopped (every later step does nothing).
    /// Whether it has stopped.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The first half of a start: picks a fault and returns it to inject now (none
    /// if the node it drew cannot take it). The engine injects it, then calls
    /// [`Nemesis::started`] with who is up after it.
    pub fn start(&mut self, rng: &mut SimRng, view: &View) -> Option<FaultAction> {
        let n = view.up.len();
        let kinds = &self.cfg.kinds;
        let kind = kinds[rng.below(kinds.len() as u64) as usize];
        let (active, action) = match kind {
            NemesisKind::Partition => {
                let action = match rng.below(4) {
                    0 => FaultAction::Split(SplitKind::Halves),
                    1 => FaultAction::Split(SplitKind::MajorityRing),
                    2 => FaultAction::Split(SplitKind::Bridge),
                    _ => FaultAction::Isolate(Target::Node(NodeId(rng.below(n as u64) as usize))),
                };
                (Some(Active::Partition), Some(action))
            }
            NemesisKind::Crash => {
                let node = NodeId(rng.below(n as u64) as usize);
                match view.up[node.0] {
                    true => (Some(Active::Crash(node)), Some(FaultAction::Crash(Target::Node(node)))),
                    false => (None, None),
                }
            }
            NemesisKind::Pause => {
                let node = NodeId(rng.below(n as u64) as usize);
                match view.up[node.0] && !view.paused[node.0] {
                    true => (Some(Active::Pause(node)), Some(FaultAction::Pause(Target::Node(node)))),
                    false => (None, None),
                }
            }
            NemesisKind::CrashLeader => match view.leader {
                Some(l) => (Some(Active::Crash(NodeId(l))), Some(FaultAction::Crash(Target::Node(NodeId(l))))),
                None => (None, None),
            },
            NemesisKind::IsolateLeader => match view.leader {
                Some(l) => (Some(Active::Partition), Some(FaultAction::Isolate(Target::Node(NodeId(l))))),
                None => (None, None),
            },
            NemesisKind::Clock => {
                let node = NodeId(rng.below(n as u64) as usize);
                let max = self.cfg.max_skew as i64;
                let by = rng.between(0, 2 * max as u64) as i64 - max;
                (Some(Active::Clock(node)), Some(FaultAction::Clock { node, skew_ns: Some(by), drift_ppm: None }))
            }
        };
        self.starting = active;
        action
    }

    /// The second half of a start, at `now`: records the fault, schedules its heal
    /// and, with overlapping faults, restarts crashed nodes until a majority is up
    /// (as the MIT lab's Figure 8 test does) and schedules the next start. `up`:
    /// which nodes are up now, after the fault.
    pub fn started(&mut self, now: Time, rng: &mut SimRng, mut up: Vec<bool>) -> Vec<Act> {
        let id = self.next_id;
        self.next_id += 1;
        if let Some(a) = self.starting.take() {
            self.active.push((id, a));
        }
        let mut acts = Vec::new();
        let heal_at = (now + rng.exponential(self.cfg.fault_duration).max(1)).min(self.cfg.stop);
        acts.push(Act::Schedule(heal_at, NemesisStep::Heal(id)));
        if self.cfg.overlap {
            let n = up.len();
            loop {
                let down: Vec<usize> = (0..n).filter(|&i| !up[i]).collect();
                if n - down.len() > n / 2 || down.is_empty() {
                    break;
                }
                let node = down[rng.below(down.len() as u64) as usize];
                self.active.retain(|(_, a)| !matches!(a, Active::Crash(c) if c.0 == node));
                acts.push(Act::Fault(FaultAction::Restart(Target::Node(NodeId(node)))));
                up[node] = true;
            }
            acts.extend(self.next_start(now, rng));
        }
        acts
    }

    /// Heals fault `id` at `now`; without overlap, schedules the next start.
    pub fn heal(&mut self, id: u32, now: Time, rng: &mut SimRng) -> Vec<Act> {
        let mut acts: Vec<Act> = match self.active.iter().position(|a| a.0 == id) {
            Some(i) => heal_one(self.active.remove(i).1),
            None => Vec::new(),
        };
        if !self.cfg.overlap {
            acts.extend(self.next_start(now, rng));
        }
        acts
    }

    /// Heals everything it started, and stops.
    pub fn stop(&mut self) -> Vec<Act> {
        self.stopped = true;
        self.active.drain(..).flat_map(|(_, a)| heal_one(a)).collect()
    }

    fn next_start(&self, now: Time, rng: &mut SimRng) -> Option<Act> {
        let next = now + rng.exponential(self.cfg.interval).max(1);
        (next < self.cfg.stop).then_some(Act::Schedule(next, NemesisStep::Start))
    }
}

fn heal_one(active: Active) -> Vec<Act> {
    vec![match active {
        Active::Partition => Act::Fault(FaultAction::Heal),
        Active::Crash(node) => Act::Fault(FaultAction::Restart(Target::Node(node))),
        Active::Pause(node) => Act::Fault(FaultAction::Resume(Target::Node(node))),
        Active::Clock(node) => Act::Resync(node),
    }]
}

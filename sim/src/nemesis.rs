//! The random nemesis: every `interval` on average it starts one fault of a kind the
//! scenario allows, lets it last `fault_duration` on average, then heals it. At `stop`
//! it heals whatever it started, so the end of a run is quiet for liveness checks.
//! It draws only from the nemesis stream.

use crate::engine::{Ev, Sim};
use crate::protocol::{NodeId, Protocol};
use crate::scenario::{FaultAction, NemesisConfig, NemesisKind, SplitKind, Target};

#[derive(Clone, Copy, Debug)]
pub(crate) enum NemesisStep {
    Start,
    /// Heal the fault with this id.
    Heal(u32),
    Stop,
}

#[derive(Clone, Copy, Debug)]
enum Active {
    Partition,
    Crash(NodeId),
    Pause(NodeId),
    Clock(NodeId),
}

pub(crate) struct Nemesis {
    cfg: NemesisConfig,
    /// Faults started and not yet healed, by id: at most one unless `overlap`.
    active: Vec<(u32, Active)>,
    next_id: u32,
    stopped: bool,
}

impl Nemesis {
    pub(crate) fn new(cfg: NemesisConfig) -> Nemesis {
        Nemesis { cfg, active: Vec::new(), next_id: 0, stopped: false }
    }
}

impl<P: Protocol> Sim<P> {
    pub(crate) fn boot_nemesis(&mut self) {
        let Some(nem) = &self.nemesis else { return };
        if nem.cfg.kinds.is_empty() {
            return;
        }
        let (interval, stop) = (nem.cfg.interval, nem.cfg.stop);
        let first = self.nemesis_rng.exponential(interval);
        if first < stop {
            self.schedule(first, Ev::Nemesis(NemesisStep::Start));
        }
        self.schedule(stop, Ev::Nemesis(NemesisStep::Stop));
    }

    pub(crate) fn nemesis_step(&mut self, step: NemesisStep) {
        let Some(nem) = &self.nemesis else { return };
        if nem.stopped {
            return;
        }
        let cfg = nem.cfg.clone();
        match step {
            NemesisStep::Start => {
                let n = self.node_count();
                let kind = cfg.kinds[self.nemesis_rng.below(cfg.kinds.len() as u64) as usize];
                let active = match kind {
                    NemesisKind::Partition => {
                        let pick = self.nemesis_rng.below(4);
                        let action = match pick {
                            0 => FaultAction::Split(SplitKind::Halves),
                            1 => FaultAction::Split(SplitKind::MajorityRing),
                            2 => FaultAction::Split(SplitKind::Bridge),
                            _ => FaultAction::Isolate(Target::Node(NodeId(self.nemesis_rng.below(n as u64) as usize))),
                        };
                        self.apply_fault(&action);
                        Some(Active::Partition)
                    }
                    NemesisKind::Crash => {
                        let node = NodeId(self.nemesis_rng.below(n as u64) as usize);
                        self.is_up(node.0).then(|| {
                            self.apply_fault(&FaultAction::Crash(Target::Node(node)));
                            Active::Crash(node)
                        })
                    }
                    NemesisKind::Pause => {
                        let node = NodeId(self.nemesis_rng.below(n as u64) as usize);
                        (self.is_up(node.0) && !self.slots[node.0].paused).then(|| {
                            self.apply_fault(&FaultAction::Pause(Target::Node(node)));
                            Active::Pause(node)
                        })
                    }
                    NemesisKind::CrashLeader => self.leader().map(|l| {
                        self.apply_fault(&FaultAction::Crash(Target::Node(NodeId(l))));
                        Active::Crash(NodeId(l))
                    }),
                    NemesisKind::IsolateLeader => self.leader().map(|l| {
                        self.apply_fault(&FaultAction::Isolate(Target::Node(NodeId(l))));
                        Active::Partition
                    }),
                    NemesisKind::Clock => {
                        let node = NodeId(self.nemesis_rng.below(n as u64) as usize);
                        let max = cfg.max_skew as i64;
                        let by = self.nemesis_rng.between(0, 2 * max as u64) as i64 - max;
                        self.apply_fault(&FaultAction::Clock { node, skew_ns: Some(by), drift_ppm: None });
                        Some(Active::Clock(node))
                    }
                };
                let nem = self.nemesis.as_mut().expect("nemesis");
                let id = nem.next_id;
                nem.next_id += 1;
                if let Some(a) = active {
                    nem.active.push((id, a));
                }
                let heal_at = (self.now + self.nemesis_rng.exponential(cfg.fault_duration).max(1)).min(cfg.stop);
                self.schedule(heal_at, Ev::Nemesis(NemesisStep::Heal(id)));
                if cfg.overlap {
                    self.keep_majority_up();
                    self.schedule_next_fault(&cfg);
                }
            }
            NemesisStep::Heal(id) => {
                self.nemesis_heal(Some(id));
                if !cfg.overlap {
                    self.schedule_next_fault(&cfg);
                }
            }
            NemesisStep::Stop => {
                self.nemesis_heal(None);
                self.nemesis.as_mut().expect("nemesis").stopped = true;
            }
        }
    }

    /// With overlapping crashes: while fewer than a majority are up, restart a random
    /// crashed node (the MIT lab's Figure 8 test does the same).
    fn keep_majority_up(&mut self) {
        let n = self.node_count();
        loop {
            let down: Vec<usize> = (0..n).filter(|&i| !self.is_up(i)).collect();
            if n - down.len() > n / 2 || down.is_empty() {
                return;
            }
            let node = down[self.nemesis_rng.below(down.len() as u64) as usize];
            let nem = self.nemesis.as_mut().expect("nemesis");
            nem.active.retain(|(_, a)| !matches!(a, Active::Crash(c) if c.0 == node));
            self.apply_fault(&FaultAction::Restart(Target::Node(NodeId(node))));
        }
    }

    fn schedule_next_fault(&mut self, cfg: &NemesisConfig) {
        let next = self.now + self.nemesis_rng.exponential(cfg.interval).max(1);
        if next < cfg.stop {
            self.schedule(next, Ev::Nemesis(NemesisStep::Start));
        }
    }

    /// Heals fault `id`, or every active fault.
    fn nemesis_heal(&mut self, id: Option<u32>) {
        let Some(nem) = self.nemesis.as_mut() else { return };
        let healed: Vec<Active> = match id {
            Some(id) => nem.active.iter().position(|a| a.0 == id).map(|i| nem.active.remove(i).1).into_iter().collect(),
            None => nem.active.drain(..).map(|a| a.1).collect(),
        };
        for active in healed {
            self.heal_one(active);
        }
    }

    fn heal_one(&mut self, active: Active) {
        match active {
            Active::Partition => self.apply_fault(&FaultAction::Heal),
            Active::Crash(node) => self.apply_fault(&FaultAction::Restart(Target::Node(node))),
            Active::Pause(node) => self.apply_fault(&FaultAction::Resume(Target::Node(node))),
            Active::Clock(node) => {
                // Back to the scenario's own skew and drift for this node: a step
                // back, as an NTP correction would make, shown in the trace.
                let (skew, drift) = self.scenario.clocks[node.0];
                let now = self.now;
                self.slots[node.0].clock.resync(now, skew, drift);
                self.trace_clock(node.0);
            }
        }
    }
}

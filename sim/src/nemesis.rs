//! The random nemesis: every `interval` on average it starts one fault of a kind the
//! scenario allows, lets it last `fault_duration` on average, then heals it. At `stop`
//! it heals whatever it started, so the end of a run is quiet for liveness checks.
//! It draws only from the nemesis stream.

use crate::engine::{Ev, Sim};
use crate::protocol::{NodeId, Protocol};
use crate::scenario::{FaultAction, NemesisConfig, NemesisKind, SplitKind};

#[derive(Clone, Copy, Debug)]
pub(crate) enum NemesisStep {
    Start,
    Heal,
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
    active: Option<Active>,
    stopped: bool,
}

impl Nemesis {
    pub(crate) fn new(cfg: NemesisConfig) -> Nemesis {
        Nemesis { cfg, active: None, stopped: false }
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
                            _ => FaultAction::Isolate(NodeId(self.nemesis_rng.below(n as u64) as usize)),
                        };
                        self.apply_fault(&action);
                        Some(Active::Partition)
                    }
                    NemesisKind::Crash => {
                        let node = NodeId(self.nemesis_rng.below(n as u64) as usize);
                        self.is_up(node.0).then(|| {
                            self.apply_fault(&FaultAction::Crash(node));
                            Active::Crash(node)
                        })
                    }
                    NemesisKind::Pause => {
                        let node = NodeId(self.nemesis_rng.below(n as u64) as usize);
                        (self.is_up(node.0) && !self.slots[node.0].paused).then(|| {
                            self.apply_fault(&FaultAction::Pause(node));
                            Active::Pause(node)
                        })
                    }
                    NemesisKind::Clock => {
                        let node = NodeId(self.nemesis_rng.below(n as u64) as usize);
                        let max = cfg.max_skew as i64;
                        let by = self.nemesis_rng.between(0, 2 * max as u64) as i64 - max;
                        self.apply_fault(&FaultAction::Clock { node, skew_ns: Some(by), drift_ppm: None });
                        Some(Active::Clock(node))
                    }
                };
                self.nemesis.as_mut().expect("nemesis").active = active;
                let heal_at = (self.now + self.nemesis_rng.exponential(cfg.fault_duration).max(1)).min(cfg.stop);
                self.schedule(heal_at, Ev::Nemesis(NemesisStep::Heal));
            }
            NemesisStep::Heal => {
                self.nemesis_heal();
                let next = self.now + self.nemesis_rng.exponential(cfg.interval).max(1);
                if next < cfg.stop {
                    self.schedule(next, Ev::Nemesis(NemesisStep::Start));
                }
            }
            NemesisStep::Stop => {
                self.nemesis_heal();
                self.nemesis.as_mut().expect("nemesis").stopped = true;
            }
        }
    }

    fn nemesis_heal(&mut self) {
        let Some(active) = self.nemesis.as_mut().and_then(|n| n.active.take()) else {
            return;
        };
        match active {
            Active::Partition => self.apply_fault(&FaultAction::Heal),
            Active::Crash(node) => self.apply_fault(&FaultAction::Restart(node)),
            Active::Pause(node) => self.apply_fault(&FaultAction::Resume(node)),
            Active::Clock(node) => {
                let drift = self.scenario.clocks[node.0].1;
                let now = self.now;
                self.slots[node.0].clock.resync(now, drift);
                self.trace_clock(node.0);
            }
        }
    }
}

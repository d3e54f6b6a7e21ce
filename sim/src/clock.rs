//! Node clocks: a skew (offset) and a drift (rate error, in parts per million). Each
//! node's timers fire by its own clock, so a fast clock fires them early in real time
//! and a slow one late.
//!
//! A node has two readings, as a real machine does. The wall clock ([`Clock::local`])
//! is skewed, drifts, and can be stepped (a clock fault, an NTP correction). The
//! monotonic clock ([`Clock::monotonic`], CLOCK_MONOTONIC) runs at the same drifting
//! rate but never steps: it is what timeouts are measured on, and it is the clock
//! timers fire by, so a duration measured on it agrees with a timer of that length.

use crate::time::Time;

const PPM: i128 = 1_000_000;
/// The slowest a clock may run, so that a timer always fires: 0.1% of real speed.
const RATE_PPM_MIN: i128 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// One node's clock: a wall clock that is skewed, drifts and can be stepped, and a
/// monotonic clock that drifts with it but never steps.
pub struct Clock {
    base_real: Time,
    base_local: i64,
    /// The monotonic reading at `base_real`.
    base_mono: u64,
    drift_ppm: i64,
}

impl Clock {
    /// A clock that starts `skew_ns` ahead of real time (behind, if negative) and runs
    /// `drift_ppm` parts per million fast (slow, if negative).
    pub fn new(skew_ns: i64, drift_ppm: i64) -> Clock {
        Clock { base_real: 0, base_local: skew_ns, base_mono: 0, drift_ppm }
    }

    fn rate(&self) -> i128 {
        (PPM + self.drift_ppm as i128).max(RATE_PPM_MIN)
    }

    #[inline]
    fn local_signed(&self, real: Time) -> i64 {
        if self.drift_ppm == 0 {
            return self.base_local + real.saturating_sub(self.base_real) as i64;
        }
        let dt = real.saturating_sub(self.base_real) as i128;
        (self.base_local as i128 + dt * self.rate() / PPM) as i64
    }

    /// The node's monotonic clock at real time `real`: nanoseconds its oscillator has
    /// counted since the run began, at the drifting rate, never stepped.
    #[inline]
    pub fn monotonic(&self, real: Time) -> Time {
        let dt = real.saturating_sub(self.base_real);
        if self.drift_ppm == 0 {
            return self.base_mono.saturating_add(dt);
        }
        let advanced = (dt as i128 * self.rate() / PPM).min(u64::MAX as i128) as u64;
        self.base_mono.saturating_add(advanced)
    }

    /// The node's clock reading at real time `real` (never below zero).
    #[inline]
    pub fn local(&self, real: Time) -> Time {
        self.local_signed(real).max(0) as Time
    }

    /// Local minus real, in nanoseconds.
    pub fn offset(&self, real: Time) -> i64 {
        self.local_signed(real) - real as i64
    }

    /// How fast the clock runs against real time, in parts per million.
    pub fn drift_ppm(&self) -> i64 {
        self.drift_ppm
    }

    fn rebase(&mut self, real: Time) {
        self.base_local = self.local_signed(real);
        self.base_mono = self.monotonic(real);
        self.base_real = real;
    }

    /// Steps the clock by `by` nanoseconds (positive: jumps ahead).
    pub fn step(&mut self, real: Time, by: i64) {
        self.rebase(real);
        self.base_local += by;
    }

    /// From real time `real` on, runs `ppm` parts per million fast (slow, if negative).
    pub fn set_drift(&mut self, real: Time, ppm: i64) {
        self.rebase(real);
        self.drift_ppm = ppm;
    }

    /// Steps the wall clock to real time plus `skew_ns`, running at `drift_ppm`: how a
    /// healed clock fault returns to the scenario's own skew and drift. The
    /// monotonic clock does not step.
    pub fn resync(&mut self, real: Time, skew_ns: i64, drift_ppm: i64) {
        self.rebase(real);
        self.base_local = (real as i64).saturating_add(skew_ns);
        self.drift_ppm = drift_ppm;
    }

    /// How much real time passes while this clock advances by `local` nanoseconds.
    #[inline]
    pub fn real_delay(&self, local: u64) -> u64 {
        if self.drift_ppm == 0 {
            return local;
        }
        let r = self.rate();
        ((local as i128 * PPM + r - 1) / r) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_clock_fires_timers_early() {
        let fast = Clock::new(0, 100_000); // +10%
        assert_eq!(fast.real_delay(110), 100);
        let slow = Clock::new(0, -500_000); // half speed
        assert_eq!(slow.real_delay(100), 200);
    }

    #[test]
    fn steps_move_the_wall_clock_but_not_the_monotonic_one() {
        let mut c = Clock::new(-50, 0);
        assert_eq!(c.monotonic(1_000), 1_000);
        c.step(1_000, -600);
        assert_eq!(c.local(2_000), 1_350);
        assert_eq!(c.monotonic(2_000), 2_000, "a step back does not move the monotonic clock");
        c.set_drift(2_000, 100_000); // +10%
        assert_eq!(c.monotonic(3_000), 3_100, "it runs at the drifting rate");
        c.resync(3_000, -50, 0);
        assert_eq!((c.local(3_000), c.monotonic(3_000)), (2_950, 3_100));
    }

    #[test]
    fn skew_offsets_the_reading_and_steps_move_it() {
        let mut c = Clock::new(-50, 0);
        assert_eq!(c.local(1_000), 950);
        c.step(1_000, 100);
        assert_eq!(c.local(1_000), 1_050);
        assert_eq!(c.offset(2_000), 50);
    }
}

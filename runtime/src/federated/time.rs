//! Simulated time: the clock that deadlines, speeds and asynchronous engines read.
//!
//! Like tokio's timer wheel (`tokio/src/runtime/time/wheel`), simulated time is an
//! integer count of ticks (microseconds) that is told where it is and only moves
//! forward; nothing here reads [`Instant`](std::time::Instant). Every decision of a
//! run (whether a client misses its deadline, how many local steps it does, which
//! clients finish first) is made on this clock, so it is the same on every machine;
//! real time goes only into reports ([`RoundReport::wall_time`](super::RoundReport)).

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// A span of simulated time, in whole microseconds.
///
/// Arithmetic saturates at [`SimDuration::MAX`] instead of overflowing, so a huge
/// injected delay or step count cannot wrap around to a short duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(u64);

impl SimDuration {
    /// No time.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest span, about 584,000 years.
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        SimDuration(micros)
    }

    /// `millis` milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        SimDuration(millis.saturating_mul(1_000))
    }

    /// `secs` seconds (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        SimDuration(secs.saturating_mul(1_000_000))
    }

    /// `secs` seconds rounded to the nearest microsecond, or `None` when `secs` is
    /// negative, NaN or infinite. Values beyond [`MAX`](Self::MAX) saturate.
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        // `as` saturates for values beyond u64::MAX.
        Some(SimDuration((secs * 1e6).round() as u64))
    }

    /// The span in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The span in seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// `self * n`, saturating.
    pub const fn saturating_mul(self, n: u64) -> Self {
        SimDuration(self.0.saturating_mul(n))
    }

    /// `self + other`, saturating.
    pub const fn saturating_add(self, other: SimDuration) -> Self {
        SimDuration(self.0.saturating_add(other.0))
    }

    /// `self - other`, or zero when `other` is longer.
    pub const fn saturating_sub(self, other: SimDuration) -> Self {
        SimDuration(self.0.saturating_sub(other.0))
    }

    /// How many whole `step`s fit in `self` (`u64::MAX` for a zero step).
    pub const fn fits(self, step: SimDuration) -> u64 {
        match self.0.checked_div(step.0) {
            Some(n) => n,
            None => u64::MAX,
        }
    }
}

impl From<Duration> for SimDuration {
    /// Whole microseconds of `d`, saturating (a nanosecond remainder is dropped).
    fn from(d: Duration) -> Self {
        SimDuration(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }
}

impl From<SimDuration> for Duration {
    fn from(d: SimDuration) -> Self {
        Duration::from_micros(d.0)
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    /// Saturating.
    fn add(self, other: SimDuration) -> SimDuration {
        self.saturating_add(other)
    }
}

impl AddAssign for SimDuration {
    fn add_assign(&mut self, other: SimDuration) {
        *self = *self + other;
    }
}

impl fmt::Display for SimDuration {
    /// Seconds with microsecond precision: `1.500000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// A point on the simulated clock: microseconds since the run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(u64);

impl SimTime {
    /// The start of a run.
    pub const ZERO: SimTime = SimTime(0);

    /// The time `micros` microseconds after the start.
    pub const fn from_micros(micros: u64) -> Self {
        SimTime(micros)
    }

    /// Microseconds since the start.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Seconds since the start.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// The time since the start, as a span.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    /// Saturating.
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}

impl fmt::Display for SimTime {
    /// Seconds since the start: `t=1.500000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", self.since_start())
    }
}

/// A simulated clock: it is told the time and only moves forward (tokio's wheel
/// asserts the same of its `elapsed`). An engine advances it to each event it handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimClock {
    now: SimTime,
}

impl SimClock {
    /// A clock at `now` (a resumed run's time).
    pub const fn at(now: SimTime) -> Self {
        SimClock { now }
    }

    /// The current time.
    pub const fn now(&self) -> SimTime {
        self.now
    }

    /// Moves the clock to `time`.
    ///
    /// # Panics
    /// If `time` is before [`now`](Self::now): an engine that goes back in time has
    /// a bug, and carrying on would make its runs depend on the order of events.
    pub fn advance_to(&mut self, time: SimTime) {
        assert!(
            time >= self.now,
            "the simulated clock only moves forward: asked for {time} at {}",
            self.now
        );
        self.now = time;
    }

    /// Moves the clock `by` forward and returns the new time.
    pub fn advance(&mut self, by: SimDuration) -> SimTime {
        self.now += by;
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_convert_round_and_saturate() {
        let d = SimDuration::from_secs_f64(1.5).unwrap();
        assert_eq!(d.as_micros(), 1_500_000);
        assert_eq!(d, SimDuration::from_millis(1500));
        assert_eq!(Duration::from(d), Duration::from_millis(1500));
        assert_eq!(
            SimDuration::from(Duration::from_nanos(2_999)).as_micros(),
            2
        );
        assert_eq!(
            SimDuration::from_secs_f64(0.0000004).unwrap(),
            SimDuration::ZERO
        );
        assert_eq!(
            SimDuration::from_secs_f64(0.0000006).unwrap().as_micros(),
            1
        );
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(SimDuration::from_secs_f64(bad), None);
        }
        assert_eq!(
            SimDuration::MAX + SimDuration::from_secs(1),
            SimDuration::MAX
        );
        assert_eq!(
            SimDuration::from_secs(u64::MAX).as_micros(),
            u64::MAX,
            "saturates"
        );
        assert_eq!(
            SimDuration::from_millis(3).saturating_sub(SimDuration::from_secs(1)),
            SimDuration::ZERO
        );
        assert_eq!(
            SimDuration::from_millis(10).fits(SimDuration::from_millis(3)),
            3
        );
        assert_eq!(
            SimDuration::from_millis(10).fits(SimDuration::ZERO),
            u64::MAX
        );
        assert_eq!(SimDuration::from_millis(1500).to_string(), "1.500000s");
    }

    #[test]
    fn the_clock_only_moves_forward() {
        let mut clock = SimClock::default();
        assert_eq!(clock.now(), SimTime::ZERO);
        let t = clock.advance(SimDuration::from_secs(2));
        assert_eq!(t.as_micros(), 2_000_000);
        clock.advance_to(SimTime::from_micros(2_000_000));
        clock.advance_to(SimTime::from_micros(3_000_000));
        assert_eq!(
            clock.now().saturating_since(SimTime::from_micros(500_000)),
            SimDuration::from_micros(2_500_000)
        );
        let back = std::panic::catch_unwind(move || clock.advance_to(SimTime::ZERO));
        assert!(back.is_err());
    }
}

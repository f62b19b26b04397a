//! The monotonic clock the staleness fence runs on, and the consent view's freshness
//! stamp. Wall-clock time (`Utc::now`, `SystemTime`) can step back — NTP, a VM resumed,
//! an operator — and a stamp taken on it then reads as younger than it is: a stale view
//! looks fresh for as long as the step. So readings here are microseconds since this
//! process's first reading on [`Instant`] (CLOCK_MONOTONIC on Linux), which never goes
//! back, and the stamp is one `AtomicU64` the table reader writes and every worker
//! instance reads. It owns no policy: the fence decides what a given age means.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A reading of the monotonic clock: microseconds since the process's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mono(u64);

/// The origin, fixed by the first reading.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Mono {
    /// Now.
    pub fn now() -> Mono {
        Mono::at(Instant::now())
    }

    /// The reading at `instant` (an instant before the origin reads as the origin).
    pub fn at(instant: Instant) -> Mono {
        let since = instant.saturating_duration_since(origin());
        Mono(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn since(self, earlier: Mono) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// When a view was last known to be caught up, on the monotonic clock. It only moves
/// forward.
#[derive(Debug)]
pub struct FreshStamp(AtomicU64);

impl FreshStamp {
    /// A stamp reading `at`.
    pub fn new(at: Mono) -> FreshStamp {
        FreshStamp(AtomicU64::new(at.0))
    }

    /// The view was caught up at `at` (a reading older than the stamp changes nothing).
    pub fn set(&self, at: Mono) {
        self.0.fetch_max(at.0, Ordering::SeqCst);
    }

    /// The stamp.
    pub fn get(&self) -> Mono {
        Mono(self.0.load(Ordering::SeqCst))
    }

    /// The view's age at `now`. A stamp later than `now` (written between the caller's
    /// clock reading and this load) is age zero: the view was caught up after `now`.
    pub fn age_at(&self, now: Mono) -> Duration {
        now.since(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_ages_by_the_monotonic_clock_alone() {
        // Every input is an `Instant`: no wall-clock reading enters the age, so a wall
        // clock stepped back (which made the old wall-clock-ms stamp read 10 s younger
        // after a 10 s step) cannot make a stale view look fresh.
        let t0 = origin();
        let stamp = FreshStamp::new(Mono::at(t0));
        let bound = Duration::from_millis(1000);
        let at = |ms| Mono::at(t0 + Duration::from_millis(ms));
        assert_eq!(stamp.age_at(at(0)), Duration::ZERO);
        assert_eq!(stamp.age_at(at(1500)), Duration::from_millis(1500));
        assert!(stamp.age_at(at(1000)) <= bound && stamp.age_at(at(1001)) > bound);
        // Stamped again later: fresh again, from then.
        stamp.set(at(1200));
        assert_eq!(stamp.age_at(at(1500)), Duration::from_millis(300));
    }

    #[test]
    fn a_stamp_never_moves_back_and_a_reading_before_it_is_age_zero() {
        let t0 = origin();
        let stamp = FreshStamp::new(Mono::at(t0 + Duration::from_secs(2)));
        stamp.set(Mono::at(t0));
        assert_eq!(stamp.get(), Mono::at(t0 + Duration::from_secs(2)));
        assert_eq!(stamp.age_at(Mono::at(t0)), Duration::ZERO);
    }

    #[test]
    fn readings_follow_instants_and_never_go_back() {
        let a = Mono::now();
        let b = Mono::now();
        assert!(b >= a);
        let t = Instant::now(); // after the origin, which `Mono::now` fixed
        assert_eq!(
            Mono::at(t + Duration::from_millis(7)).since(Mono::at(t)),
            Duration::from_millis(7)
        );
        // Before the origin: the origin, not an underflow.
        let early = Instant::now().checked_sub(Duration::from_secs(3600));
        if let Some(early) = early {
            assert_eq!(Mono::at(early), Mono::at(origin()));
        }
    }
}

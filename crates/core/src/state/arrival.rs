//! How a table record arrived, as far as the ordering rules need it: when it was written
//! to Kafka, whether it is one of the worker's own erasure tombstones, and the worker's
//! clock at the time. It owns the clock-skew rule: an `updated_at` further ahead of the
//! record's write time (or of the worker's clock, whichever is earlier) than the allowed
//! skew is not trusted and is treated as that time. The edge fills it in; nothing here
//! reads a clock.

use chrono::{DateTime, Utc};

/// Allowed skew unless the edge sets another: five minutes.
pub const DEFAULT_MAX_CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// Header the worker puts on the tombstones it writes for an erasure: the request's
/// `requested_at` in epoch milliseconds. Such a tombstone removes only what the erasure
/// covers, so a re-consent given after the request survives it.
pub const ERASURE_TOMBSTONE_HEADER: &str = "consent-enricher.erasure.requested_at_ms";

/// The arrival of one table record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The record's Kafka timestamp (the broker's append time on topics `topics create`
    /// made); `None` when unknown (files).
    pub written_at: Option<DateTime<Utc>>,
    /// For a tombstone the worker wrote for an erasure: that erasure's `requested_at`.
    pub erasure_at: Option<DateTime<Utc>>,
    /// The worker's clock when the record is applied.
    pub now: DateTime<Utc>,
}

impl Arrival {
    /// A record with no Kafka metadata (a file line, a test), applied at `now`.
    pub fn at(now: DateTime<Utc>) -> Arrival {
        Arrival {
            written_at: None,
            erasure_at: None,
            now,
        }
    }

    /// The time the record can be vouched for: its write time, unless the worker's clock
    /// is earlier (a producer-set timestamp can be skewed too).
    pub fn vouched_ms(&self) -> i64 {
        let now = self.now.timestamp_millis();
        self.written_at
            .map_or(now, |w| w.timestamp_millis().min(now))
    }

    /// `updated_at` as trusted: itself, or the vouched time when it lies more than
    /// `skew_ms` beyond it; `true` in the second case (counted by the caller).
    pub fn trusted_ms(&self, updated_at: DateTime<Utc>, skew_ms: i64) -> (i64, bool) {
        let at = updated_at.timestamp_millis();
        let vouched = self.vouched_ms();
        if at > vouched.saturating_add(skew_ms) {
            (vouched, true)
        } else {
            (at, false)
        }
    }
}

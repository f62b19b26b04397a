//! The staleness fence of one instance: no event is processed while the consent view is
//! older than `delivery.max_consent_staleness_ms`, so the raw partitions are paused
//! until it is fresh again (fail closed). The age is measured on the monotonic clock
//! (`kafka::clock`: a wall-clock step back must not make a stale view look fresh), once
//! per turn of the loop to pause and resume, and again right before each event is
//! processed ([`open_at`]), since a poll can wait on the consumer long enough for a
//! fresh view to go stale. It owns the pause state and the records that arrive anyway;
//! it must not process, commit or drop a record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::CALL_TIMEOUT;
use crate::kafka::EdgeError;
use crate::kafka::clock::{FreshStamp, Mono};
use crate::log;
use crate::telemetry::Metrics;

#[derive(Debug, Default)]
pub(super) struct Fence {
    /// The instance's slot, for the readiness it reports.
    slot: usize,
    /// Since when the raw partitions are paused.
    since: Option<Instant>,
    /// `since.is_some()`, for the rebalance callback, which runs inside `poll` and
    /// cannot borrow the fence.
    held: Arc<AtomicBool>,
}

impl Fence {
    pub(super) fn new(slot: usize) -> Fence {
        Fence {
            slot,
            ..Fence::default()
        }
    }

    /// The flag the consumer's rebalance callback passes to `on_assign`.
    pub(super) fn held(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.held)
    }

    /// Pauses every assigned partition while the consent view is older than `bound`,
    /// resumes when it is fresh. Returns true when processing may go on.
    pub(super) fn check<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        fresh: &FreshStamp,
        bound: Duration,
        metrics: &Metrics,
    ) -> bool {
        let age = fresh.age_at(Mono::now());
        let stale = age > bound;
        match (stale, self.since) {
            (true, None) => {
                self.pause(consumer, age, bound);
                metrics.fence_shut(self.slot, true);
                false
            }
            (true, Some(_)) => false,
            (false, Some(since)) => {
                self.resume(consumer, since, metrics);
                metrics.fence_shut(self.slot, false);
                true
            }
            (false, None) => true,
        }
    }

    fn pause<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        age: Duration,
        bound: Duration,
    ) {
        self.held.store(true, Ordering::SeqCst);
        if let Ok(a) = consumer.assignment() {
            let _ = consumer.pause(&a);
        }
        self.since = Some(Instant::now());
        log::warn(&format!(
            "consent view is {} ms old (bound {} ms): raw partitions paused",
            age.as_millis(),
            bound.as_millis()
        ));
    }

    fn resume<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        since: Instant,
        metrics: &Metrics,
    ) {
        self.held.store(false, Ordering::SeqCst);
        if let Ok(a) = consumer.assignment() {
            let _ = consumer.resume(&a);
        }
        let d = since.elapsed();
        metrics.paused(d);
        self.since = None;
        log::info(&format!(
            "consent view fresh again: resumed after {} ms",
            d.as_millis()
        ));
    }
}

/// The fence's test at `now`: true while the consent view is at most `bound` old. The
/// loop asks it again right before each event is processed; when it says no, the event
/// is moved back to ([`seek_back`]) and the next turn's [`Fence::check`] pauses.
pub(super) fn open_at(fresh: &FreshStamp, bound: Duration, now: Mono) -> bool {
    fresh.age_at(now) <= bound
}

/// While fenced: polls only to serve the group and rebalances. A record that still
/// arrives (its partition was not paused yet) is not processed and not dropped: it is
/// put back.
pub(super) fn hold<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Result<(), EdgeError> {
    let Some(Ok(msg)) = consumer.poll(Duration::from_millis(50)) else {
        return Ok(());
    };
    put_back(consumer, msg)
}

/// Moves `msg`'s partition back to it and pauses that partition (the fence is held, so
/// its resume covers it): the record is the next one processed from there once the
/// fence opens.
fn put_back<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    msg: BorrowedMessage<'_>,
) -> Result<(), EdgeError> {
    let (topic, partition) = seek_back(consumer, msg)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, partition);
    if let Err(e) = consumer.pause(&tpl) {
        log::warn(&format!("fence: partition {partition} not paused ({e})"));
    }
    Ok(())
}

/// Moves `msg`'s partition back to it, so it is fetched again: not processed now, not
/// dropped. It pauses nothing — the next [`Fence::check`] does, for every partition, or
/// finds the view fresh again and lets the record through — so no partition can stay
/// paused with the fence open. Returns the record's topic and partition.
pub(super) fn seek_back<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    msg: BorrowedMessage<'_>,
) -> Result<(String, i32), EdgeError> {
    let (topic, partition) = (msg.topic().to_string(), msg.partition());
    let offset = Offset::Offset(msg.offset());
    drop(msg);
    consumer
        .seek(&topic, partition, offset, CALL_TIMEOUT)
        .map_err(|source| EdgeError::Fatal {
            context: "moving back to a record the fence did not admit",
            source,
        })?;
    Ok((topic, partition))
}

/// Sets newly assigned partitions to what the fence says now: librdkafka keeps a
/// partition's pause flag across revoke and re-assign, and a partition new to this
/// consumer starts unpaused, so without this a re-assigned partition could stay paused
/// for good.
pub(super) fn on_assign<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    assigned: &TopicPartitionList,
    held: &AtomicBool,
) {
    let set = if held.load(Ordering::SeqCst) {
        consumer.pause(assigned)
    } else {
        consumer.resume(assigned)
    };
    if let Err(e) = set {
        log::warn(&format!("assignment: pause state not set ({e})"));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_fence_opens_and_shuts_on_the_monotonic_age_of_the_view() {
        let _ = Mono::now(); // fixes the clock's origin before t0
        let t0 = Instant::now();
        let at = |ms| Mono::at(t0 + Duration::from_millis(ms));
        let fresh = FreshStamp::new(at(0));
        let bound = Duration::from_millis(1000);
        assert!(open_at(&fresh, bound, at(999)));
        assert!(open_at(&fresh, bound, at(1000)));
        assert!(!open_at(&fresh, bound, at(1001)), "stale: fail closed");
        // The table reader catches up again: open from its stamp on.
        fresh.set(at(1500));
        assert!(open_at(&fresh, bound, at(2400)));
        // A clock reading taken before a stamp written meanwhile: fresh, not negative.
        assert!(open_at(&fresh, bound, at(1400)));
    }
}

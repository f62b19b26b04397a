//! The staleness fence of one instance: no event is processed while the consent view is
//! older than `delivery.max_consent_staleness_ms`, so the raw partitions are paused
//! until it is fresh again (fail closed). It owns the pause state and the records that
//! arrive anyway; it must not process, commit or drop a record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::CALL_TIMEOUT;
use crate::kafka::EdgeError;
use crate::log;
use crate::telemetry::Metrics;

#[derive(Debug, Default)]
pub(super) struct Fence {
    /// Since when the raw partitions are paused.
    since: Option<Instant>,
    /// `since.is_some()`, for the rebalance callback, which runs inside `poll` and
    /// cannot borrow the fence.
    held: Arc<AtomicBool>,
}

impl Fence {
    /// The flag the consumer's rebalance callback passes to `on_assign`.
    pub(super) fn held(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.held)
    }

    /// Pauses every assigned partition while the consent view is older than
    /// `bound_ms`, resumes when it is fresh. Returns true when processing may go on.
    pub(super) fn check<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        fresh_at_ms: &AtomicI64,
        bound_ms: u64,
        metrics: &Metrics,
    ) -> bool {
        let bound = bound_ms as i64;
        let age = chrono::Utc::now().timestamp_millis() - fresh_at_ms.load(Ordering::SeqCst);
        let stale = age > bound;
        match (stale, self.since) {
            (true, None) => {
                self.pause(consumer, age, bound);
                false
            }
            (true, Some(_)) => false,
            (false, Some(since)) => {
                self.resume(consumer, since, metrics);
                true
            }
            (false, None) => true,
        }
    }

    fn pause<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, age: i64, bound: i64) {
        self.held.store(true, Ordering::SeqCst);
        if let Ok(a) = consumer.assignment() {
            let _ = consumer.pause(&a);
        }
        self.since = Some(Instant::now());
        log::warn(&format!(
            "consent view is {age} ms old (bound {bound} ms): raw partitions paused"
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

/// While fenced: polls only to serve the group and rebalances. A record that still
/// arrives (its partition was not paused yet) is not processed and not dropped: its
/// partition is moved back to it and paused.
pub(super) fn hold<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> Result<(), EdgeError> {
    let Some(Ok(msg)) = consumer.poll(Duration::from_millis(50)) else {
        return Ok(());
    };
    let (topic, partition) = (msg.topic().to_string(), msg.partition());
    let offset = Offset::Offset(msg.offset());
    drop(msg);
    consumer
        .seek(&topic, partition, offset, CALL_TIMEOUT)
        .map_err(|source| EdgeError::Fatal {
            context: "moving back to a record that arrived while fenced",
            source,
        })?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(&topic, partition);
    if let Err(e) = consumer.pause(&tpl) {
        log::warn(&format!("fence: partition {partition} not paused ({e})"));
    }
    Ok(())
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

//! At-least-once delivery: an idempotent producer; an input's offset is stored only
//! after every output of it is acknowledged, contiguously per partition, and stored
//! offsets are auto-committed; revoked partitions are drained and committed before they
//! go. It owns the ack tracker and offset storing; it must not use transactions, and
//! must not store an offset past an input with an output still in flight. What it sent
//! it cannot take back: a personal record decided before a withdrawal was applied stays
//! out, so this mode's withdrawal bound is on processing time (the fence) only.

use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::DeliveryResult;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::acks::Tracker;
use super::context::{Context, OutProducer};
use super::produce::Tag;
use super::{DRAIN_TIMEOUT, Instance, Mode, POLL, REPORT_EVERY, lock};
use crate::config::Config;
use crate::kafka::{EdgeError, settle};
use crate::log;
use crate::pipeline::Outputs;
use crate::telemetry::Metrics;

/// How often acknowledged inputs' offsets are handed to the consumer for auto commit.
const STORE_EVERY: Duration = Duration::from_millis(100);

/// The mode's state: what is acknowledged, shared by the loop, the delivery reports and
/// the revocation callback.
pub(super) struct Acknowledged {
    tracker: Mutex<Tracker>,
    /// The raw topic, whose offsets are stored.
    raw: String,
}

impl Mode for Acknowledged {
    fn new(config: &Config) -> Self {
        Acknowledged {
            tracker: Mutex::new(Tracker::default()),
            raw: config.topics.raw.clone(),
        }
    }

    fn producer_config(_: &mut ClientConfig, _: &Config, _: usize) {}

    fn consumer_config(cc: &mut ClientConfig) {
        cc.set("enable.auto.commit", "true");
    }

    fn prepare(_: &OutProducer<Self>, _: &Metrics) -> Result<(), EdgeError> {
        Ok(())
    }

    fn delivered(&self, metrics: &Metrics, tag: Tag, result: &DeliveryResult<'_>) {
        let Tag {
            partition,
            offset,
            consumed_at,
            kind,
        } = tag;
        if let Err((e, msg)) = result {
            let mut t = lock(&self.tracker);
            if t.failed.is_none() {
                t.failed = Some(format!(
                    "output to {} for input partition {partition} offset {offset}: {e}",
                    msg.topic()
                ));
            }
            return;
        }
        metrics.records_out(kind, 1);
        if lock(&self.tracker).done(partition, offset) {
            metrics.delivered(consumed_at.elapsed());
        }
    }

    fn revoking(
        &self,
        consumer: &BaseConsumer<Context<Self>>,
        producer: &OutProducer<Self>,
        revoked: &[i32],
    ) {
        if !settle(producer, DRAIN_TIMEOUT) {
            log::warn("revocation: outputs not drained in time; their inputs will be reprocessed");
        }
        let ready = lock(&self.tracker).committable(Some(revoked));
        store(consumer, &self.raw, &ready);
        commit(consumer, "revocation");
        lock(&self.tracker).forget(revoked);
    }

    fn run(inst: &mut Instance<'_, Self>) -> Result<(), EdgeError> {
        inst.run_acknowledged()
    }
}

impl Instance<'_, Acknowledged> {
    fn run_acknowledged(&mut self) -> Result<(), EdgeError> {
        let mut last_store = Instant::now();
        let mut last_report = Instant::now();
        let stop = self.shared.stop;
        while !stop.load(Ordering::SeqCst) {
            if !self.fence() {
                self.hold()?;
                continue;
            }
            let polled = self.consumer.poll(POLL);
            // One clock read per turn serves the consume time and both timers.
            let now = Instant::now();
            match polled {
                None => {}
                // The poll may have waited long enough for the view to go stale.
                Some(Ok(msg)) if !self.view_fresh() => self.not_admitted(msg)?,
                Some(Ok(msg)) => {
                    let out = self.process(&msg, None);
                    self.report.add(&out);
                    let n = output_count(&out);
                    lock(&self.mode.tracker).begin(msg.partition(), msg.offset(), n);
                    self.send_outputs(&msg, &out, now)?;
                }
                Some(Err(e)) => self.consume_error(&e)?,
            }
            if let Some(f) = lock(&self.mode.tracker).failed.clone() {
                return Err(EdgeError::DeliveryFailed(f));
            }
            if now.duration_since(last_store) >= STORE_EVERY {
                last_store = now;
                self.store_acknowledged();
            }
            if now.duration_since(last_report) >= REPORT_EVERY {
                last_report = now;
                log::info(&format!(
                    "progress: {}",
                    self.report.render(&self.shared.output_names)
                ));
            }
        }
        self.finish()
    }

    fn store_acknowledged(&self) {
        let ready = lock(&self.mode.tracker).committable(None);
        store(&self.consumer, &self.mode.raw, &ready);
    }

    /// Waits for what is in flight, then commits what was acknowledged.
    fn finish(&self) -> Result<(), EdgeError> {
        let drained = settle(&self.producer, DRAIN_TIMEOUT);
        self.store_acknowledged();
        commit(&self.consumer, "shutdown");
        if !drained {
            return Err(EdgeError::DeliveryFailed(format!(
                "outputs not acknowledged within {} s at shutdown",
                DRAIN_TIMEOUT.as_secs()
            )));
        }
        if let Some(f) = lock(&self.mode.tracker).failed.take() {
            return Err(EdgeError::DeliveryFailed(f));
        }
        Ok(())
    }
}

fn output_count(out: &Outputs) -> u32 {
    match out {
        Outputs::Event { personal, .. } => {
            let records = personal.iter().filter(|p| p.record.is_some()).count();
            1 + u32::try_from(records).unwrap_or(u32::MAX)
        }
        Outputs::DeadLetter(_) => 1,
    }
}

/// Commits stored offsets synchronously; "nothing stored" is not a failure.
fn commit<C: ConsumerContext>(consumer: &BaseConsumer<C>, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => log::warn(&format!("{when}: commit failed ({e})")),
    }
}

fn store<C: ConsumerContext>(consumer: &BaseConsumer<C>, topic: &str, offsets: &[(i32, i64)]) {
    if offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        if tpl
            .add_partition_offset(topic, *p, Offset::Offset(*o))
            .is_err()
        {
            return;
        }
    }
    if let Err(e) = consumer.store_offsets(&tpl) {
        // After a revocation the partition is no longer ours; its new owner resumes
        // from the last commit, so a refused store only means reprocessing.
        log::warn(&format!("offsets not stored: {e}"));
    }
}

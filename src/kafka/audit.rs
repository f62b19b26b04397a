//! The erasure follow-through: for each erasure request, once this process's table
//! reader has applied it, writes tombstones for the user to `users.consent` and
//! `users.profile` (so that compaction removes their data from Kafka too), waits for them
//! to be acknowledged, and only then publishes the `erasure.completed` audit record. It
//! runs through its own consumer group `<group_id>.audit`, whose committed offsets make a
//! restart not repeat every audit record ever written; it never blocks the table thread
//! it runs on (deliveries are checked, not waited for), so an outage of `privacy.audit`
//! alone cannot hold the consent fence shut. It applies nothing: the table reader does.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::message::{DeliveryResult, Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{EdgeError, Role, client_config, set_default, settle};
use crate::config::Config;
use crate::log;
use crate::model::ErasureRequest;
use crate::pipeline::Core;
use crate::state::{ERASURE_TOMBSTONE_HEADER, ErasureOutcome};
use crate::telemetry::{Metrics, OutTopic};

/// How long to wait before trying a request again whose records were not delivered.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Counts failed deliveries, so "all acknowledged" means acknowledged, not just "no
/// longer in flight".
#[derive(Default)]
struct Deliveries {
    failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed.fetch_add(1, Ordering::Relaxed);
            log::warn(&format!("audit publisher: a record was not delivered: {e}"));
        }
    }
}

/// Where the request being followed through stands.
enum Step {
    /// Waiting for the table reader to apply it.
    Applying,
    /// Tombstones sent; waiting for their acknowledgement (failures counted before).
    Tombstones { failed_before: u64 },
    /// Audit record sent; waiting for its acknowledgement.
    Audit { failed_before: u64 },
    /// A delivery failed: try the whole request again from the tombstones after this.
    RetryAt(Instant),
}

/// Whom an erasure record erases, as of when, and the request to audit if it has one.
struct Target {
    user: String,
    at_ms: i64,
    /// `None` for a record that could not be read but whose key names a user: the
    /// table reader erased the key as of the record's write time (fail closed), and so
    /// do the tombstones; there is no request id to audit.
    request: Option<ErasureRequest>,
}

impl Target {
    /// Read for the tombstones and the audit record only: applying the record was the
    /// table reader's (`State::apply_erasure_record`). A null value, or neither a
    /// readable request nor a key, is nothing to follow through.
    fn of(msg: &OwnedMessage) -> Option<Target> {
        let payload = msg.payload()?;
        if let Ok(req) = serde_json::from_slice::<ErasureRequest>(payload) {
            return Some(Target {
                user: req.user_id.as_str().to_owned(),
                at_ms: req.requested_at.timestamp_millis(),
                request: Some(req),
            });
        }
        let user = std::str::from_utf8(msg.key()?).ok()?.to_owned();
        let at_ms = msg
            .timestamp()
            .to_millis()
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        Some(Target {
            user,
            at_ms,
            request: None,
        })
    }
}

/// The erasure follow-through (see the module header).
pub struct AuditPublisher {
    metrics: Arc<Metrics>,
    consumer: BaseConsumer<DefaultConsumerContext>,
    producer: ThreadedProducer<Deliveries>,
    core: Arc<Core>,
    audit_topic: String,
    /// `<group_id>.audit`, its principal and the erasure topic, for error messages.
    group: String,
    principal: String,
    erasure_topic: String,
    /// `users.consent` and `users.profile` when `erasure.tombstone_tables` is on.
    tombstone_topics: Vec<String>,
    /// The request being followed through, and its step.
    held: Option<(OwnedMessage, Step)>,
}

impl AuditPublisher {
    /// Joins `<group_id>.audit` on `users.erasure` and opens an idempotent producer.
    pub fn new(
        config: &Config,
        core: Arc<Core>,
        metrics: Arc<Metrics>,
    ) -> Result<AuditPublisher, EdgeError> {
        let fatal = |source| EdgeError::Fatal {
            context: "creating the audit publisher",
            source,
        };
        let mut cc = client_config(&config.kafka, Role::Consumer);
        let group = format!("{}.audit", config.kafka.group_id);
        cc.set("group.id", &group);
        cc.set("enable.auto.offset.store", "false");
        set_default(&mut cc, "auto.offset.reset", "earliest");
        let consumer: BaseConsumer = cc.create().map_err(fatal)?;
        consumer
            .subscribe(&[&config.topics.erasure])
            .map_err(fatal)?;
        let mut pc = client_config(&config.kafka, Role::Producer);
        set_default(&mut pc, "enable.idempotence", "true");
        let producer = pc
            .create_with_context(Deliveries::default())
            .map_err(fatal)?;
        let t = &config.topics;
        let tombstone_topics = if config.erasure.tombstone_tables {
            vec![t.consent.clone(), t.profile.clone()]
        } else {
            Vec::new()
        };
        Ok(AuditPublisher {
            metrics,
            consumer,
            producer,
            core,
            audit_topic: t.audit.clone(),
            group,
            principal: super::acls::principal(&config.kafka),
            erasure_topic: t.erasure.clone(),
            tombstone_topics,
            held: None,
        })
    }

    /// Moves the request in hand one step on, or takes the next one. `applied`: per
    /// `users.erasure` partition, the offset after the last record this process's table
    /// reader applied. Never waits longer than one short consumer poll.
    /// A denied group or topic is returned: no retry fixes it, and audit records would
    /// silently stop.
    pub fn poll_once(&mut self, applied: &HashMap<i32, i64>) -> Result<(), EdgeError> {
        let (msg, step) = match self.held.take() {
            Some(held) => held,
            // Not zero: a poll serves one queued event (log line, statistics, rebalance),
            // so with librdkafka debug logging on a zero timeout would starve the messages.
            None => match self.consumer.poll(Duration::from_millis(20)) {
                Some(Ok(m)) => (m.detach(), Step::Applying),
                Some(Err(e)) => {
                    let denied = super::acls::consumer_denied(
                        &e,
                        &self.principal,
                        &self.group,
                        &self.erasure_topic,
                    );
                    return denied.map_or(Ok(()), Err);
                }
                None => return Ok(()),
            },
        };
        let next = self.advance(&msg, step, applied);
        match next {
            Some(step) => self.held = Some((msg, step)),
            None => self.store_offset(&msg),
        }
        Ok(())
    }

    /// One step of the follow-through; `None` when the request is done with.
    fn advance(
        &mut self,
        msg: &OwnedMessage,
        step: Step,
        applied: &HashMap<i32, i64>,
    ) -> Option<Step> {
        let target = Target::of(msg)?;
        match step {
            Step::Applying => {
                let done = applied
                    .get(&msg.partition())
                    .is_some_and(|next| *next > msg.offset());
                if !done {
                    return Some(Step::Applying);
                }
                Some(self.send_tombstones(&target))
            }
            Step::RetryAt(at) if Instant::now() < at => Some(Step::RetryAt(at)),
            Step::RetryAt(_) => Some(self.send_tombstones(&target)),
            Step::Tombstones { failed_before } => match self.settled(failed_before) {
                None => Some(Step::Tombstones { failed_before }),
                Some(false) => Some(Step::RetryAt(Instant::now() + RETRY_AFTER)),
                // A key-only erasure has no request to audit: done.
                Some(true) => target.request.as_ref().map(|req| self.send_audit(req)),
            },
            Step::Audit { failed_before } => match self.settled(failed_before) {
                None => Some(Step::Audit { failed_before }),
                Some(false) => Some(Step::RetryAt(Instant::now() + RETRY_AFTER)),
                Some(true) => {
                    self.metrics.records_out(OutTopic::Audit, 1);
                    None
                }
            },
        }
    }

    /// `None` while records are in flight; then whether none failed since `before`.
    fn settled(&self, before: u64) -> Option<bool> {
        if self.producer.in_flight_count() > 0 {
            return None;
        }
        Some(self.producer.context().failed.load(Ordering::Relaxed) == before)
    }

    fn failed(&self) -> u64 {
        self.producer.context().failed.load(Ordering::Relaxed)
    }

    /// Tombstones for the user on both tables, marked with the erasure's time so that
    /// they remove only what the erasure covers (a later re-consent survives them).
    fn send_tombstones(&mut self, target: &Target) -> Step {
        let failed_before = self.failed();
        let at = target.at_ms.to_string();
        for topic in &self.tombstone_topics {
            let headers = OwnedHeaders::new().insert(Header {
                key: ERASURE_TOMBSTONE_HEADER,
                value: Some(at.as_bytes()),
            });
            let rec = BaseRecord::<str, [u8]>::to(topic)
                .key(target.user.as_str())
                .headers(headers);
            if let Err((e, _)) = self.producer.send(rec) {
                log::warn(&format!(
                    "erasure tombstone for {topic} not sent ({e}); retrying the request"
                ));
                return Step::RetryAt(Instant::now() + RETRY_AFTER);
            }
        }
        Step::Tombstones { failed_before }
    }

    fn send_audit(&mut self, req: &ErasureRequest) -> Step {
        let failed_before = self.failed();
        let audit = self
            .core
            .audit(&ErasureOutcome::of(req), chrono::Utc::now());
        let key = audit.key.as_deref().unwrap_or_default();
        let rec = BaseRecord::to(&self.audit_topic)
            .key(key)
            .payload(&audit.value);
        if let Err((e, _)) = self.producer.send(rec) {
            log::warn(&format!(
                "audit record not sent ({e}); retrying the request"
            ));
            return Step::RetryAt(Instant::now() + RETRY_AFTER);
        }
        Step::Audit { failed_before }
    }

    fn store_offset(&self, msg: &OwnedMessage) {
        let mut tpl = TopicPartitionList::new();
        let stored = tpl
            .add_partition_offset(
                msg.topic(),
                msg.partition(),
                Offset::Offset(msg.offset() + 1),
            )
            .and_then(|()| self.consumer.store_offsets(&tpl));
        if let Err(e) = stored {
            log::warn(&format!("audit offset not stored: {e}"));
        }
    }

    /// Flushes what is in flight and commits the stored offsets (at shutdown).
    pub fn close(self) {
        settle(&self.producer, Duration::from_secs(10));
        let _ = self.consumer.commit_consumer_state(CommitMode::Sync);
    }
}

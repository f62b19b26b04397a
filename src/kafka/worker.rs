//! The worker loop: consumes `usage.raw` as a consumer group, runs the pure core on each
//! record and produces its outputs, at least once. An input's offset is stored only after
//! every output of that input is acknowledged, contiguously per partition; revoked
//! partitions are drained (producer flushed, offsets committed) before they go; SIGINT /
//! SIGTERM stop fetching, drain and commit. It owns delivery bookkeeping and shutdown;
//! it never looks inside records (the core does) and never logs their contents.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::{EdgeError, LogContext, Role, client_config, set_default};
use crate::config::Config;
use crate::log;
use crate::pipeline::{Core, Outputs, Produced, RawRecord, Source};
use crate::state::State;

const POLL: Duration = Duration::from_millis(100);
const STORE_EVERY: Duration = Duration::from_millis(100);
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// How long shutdown and revocation wait for in-flight outputs.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Trace-context headers carried from an input to each of its outputs.
const TRACE_HEADERS: [&str; 2] = ["traceparent", "tracestate"];

/// Counts of one run; `raw = anonymous + dead_letters` holds at every quiet point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Raw records consumed and processed.
    pub raw: u64,
    /// Anonymous records produced.
    pub anonymous: u64,
    /// Personal records produced.
    pub personal: u64,
    /// Dead letters produced.
    pub dead_letters: u64,
    /// Dead letters per reason.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Personal-record decisions per reason.
    pub decisions: BTreeMap<&'static str, u64>,
}

impl Report {
    fn add(&mut self, out: &Outputs) {
        self.raw += 1;
        match out {
            Outputs::Event {
                personal, decision, ..
            } => {
                self.anonymous += 1;
                self.personal += u64::from(personal.is_some());
                *self.decisions.entry(decision.code()).or_default() += 1;
            }
            Outputs::DeadLetter(d) => {
                self.dead_letters += 1;
                *self.by_reason.entry(d.reason.code()).or_default() += 1;
            }
        }
    }

    /// One log line of counts.
    pub fn render(&self) -> String {
        format!(
            "raw={} anonymous={} personal={} dead_letters={} reasons={:?} decisions={:?}",
            self.raw,
            self.anonymous,
            self.personal,
            self.dead_letters,
            self.by_reason,
            self.decisions
        )
    }
}

/// Per-partition delivery bookkeeping.
#[derive(Debug, Default)]
struct Part {
    /// Input offset -> outputs not yet acknowledged.
    pending: BTreeMap<i64, u32>,
    /// One past the highest input offset processed.
    next: i64,
    /// Last offset handed to the consumer for storing.
    stored: i64,
}

#[derive(Debug, Default)]
struct Tracker {
    parts: HashMap<i32, Part>,
    failed: Option<String>,
}

impl Tracker {
    fn begin(&mut self, partition: i32, offset: i64, outputs: u32) {
        let part = self.parts.entry(partition).or_default();
        part.next = part.next.max(offset + 1);
        if outputs > 0 {
            part.pending.insert(offset, outputs);
        }
    }

    fn done(&mut self, partition: i32, offset: i64) {
        let Some(part) = self.parts.get_mut(&partition) else {
            return;
        };
        if let Some(n) = part.pending.get_mut(&offset) {
            *n -= 1;
            if *n == 0 {
                part.pending.remove(&offset);
            }
        }
    }

    /// Offsets that may be stored now: the lowest unacknowledged input, or one past the
    /// last processed when nothing is in flight.
    fn committable(&mut self, only: Option<&[i32]>) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (p, part) in &mut self.parts {
            if only.is_some_and(|o| !o.contains(p)) {
                continue;
            }
            let c = part.pending.keys().next().copied().unwrap_or(part.next);
            if c > part.stored {
                part.stored = c;
                out.push((*p, c));
            }
        }
        out
    }
}

fn lock(t: &Mutex<Tracker>) -> MutexGuard<'_, Tracker> {
    // The tracker holds plain counters; a panic elsewhere cannot leave it inconsistent
    // in a way worse than losing the worker, which the poisoned flag would do anyway.
    t.lock().unwrap_or_else(|p| p.into_inner())
}

/// Producer context: acknowledges outputs in the tracker.
struct DeliveryContext {
    tracker: Arc<Mutex<Tracker>>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        LogContext.log(level, fac, msg);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<(i32, i64)>;
    fn delivery(&self, result: &DeliveryResult<'_>, tag: Self::DeliveryOpaque) {
        let (partition, offset) = *tag;
        let mut t = lock(&self.tracker);
        match result {
            Ok(_) => t.done(partition, offset),
            Err((e, msg)) => {
                if t.failed.is_none() {
                    t.failed = Some(format!(
                        "output to {} for input partition {partition} offset {offset}: {e}",
                        msg.topic()
                    ));
                }
            }
        }
    }
}

type OutProducer = BaseProducer<DeliveryContext>;

/// Consumer context: drains revoked partitions before they go.
struct RebalanceContext {
    tracker: Arc<Mutex<Tracker>>,
    producer: Arc<OutProducer>,
    topic: String,
}

impl ClientContext for RebalanceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        LogContext.log(level, fac, msg);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        if let Err(e) = self.producer.flush(DRAIN_TIMEOUT) {
            log::warn(&format!(
                "revocation: outputs not drained ({e}); their inputs will be reprocessed"
            ));
        }
        let ready = lock(&self.tracker).committable(Some(&revoked));
        store(consumer, &self.topic, &ready);
        commit(consumer, "revocation");
        let mut t = lock(&self.tracker);
        for p in &revoked {
            t.parts.remove(p);
        }
        log::info(&format!("partitions revoked: {revoked:?}"));
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            log::info(&format!("partitions assigned: {parts:?}"));
        }
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

/// Output topic names, resolved once.
struct Topics {
    anonymous: String,
    personal: String,
    dead_letter: String,
}

/// Runs the worker until `stop` is set or a fatal error. `on_ready` is called once the
/// tables are loaded and the group subscription is made.
pub fn run(
    config: &Config,
    core: Arc<Core>,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    on_ready: impl FnOnce(),
) -> Result<Report, EdgeError> {
    let tables = super::tables::load(config, Arc::clone(&state), Arc::clone(&core))?;
    let tracker = Arc::new(Mutex::new(Tracker::default()));
    let fatal = |context| move |source| EdgeError::Fatal { context, source };

    let mut pc = client_config(&config.kafka, Role::Producer);
    set_default(&mut pc, "enable.idempotence", "true");
    set_default(&mut pc, "linger.ms", "5");
    let producer: Arc<OutProducer> = Arc::new(
        pc.create_with_context(DeliveryContext {
            tracker: Arc::clone(&tracker),
        })
        .map_err(fatal("creating the producer"))?,
    );

    let mut cc = client_config(&config.kafka, Role::Consumer);
    cc.set("group.id", &config.kafka.group_id);
    cc.set("enable.auto.offset.store", "false");
    set_default(&mut cc, "enable.auto.commit", "true");
    set_default(&mut cc, "auto.offset.reset", "earliest");
    set_default(&mut cc, "isolation.level", "read_committed");
    let consumer: BaseConsumer<RebalanceContext> = cc
        .create_with_context(RebalanceContext {
            tracker: Arc::clone(&tracker),
            producer: Arc::clone(&producer),
            topic: config.topics.raw.clone(),
        })
        .map_err(fatal("creating the consumer"))?;
    let t = &config.topics;
    super::check_topics(
        &consumer,
        &config.kafka.bootstrap_servers,
        &[&t.raw, &t.anonymous, &t.personal, &t.dead_letter, &t.audit],
    )?;
    consumer
        .subscribe(&[&t.raw])
        .map_err(fatal("subscribing to the raw topic"))?;
    on_ready();
    log::info(&format!(
        "ready: consuming {} as group {}",
        t.raw, config.kafka.group_id
    ));

    let topics = Topics {
        anonymous: t.anonymous.clone(),
        personal: t.personal.clone(),
        dead_letter: t.dead_letter.clone(),
    };
    let mut report = Report::default();
    let result = run_loop(
        &consumer,
        &producer,
        &core,
        &state,
        &tracker,
        &topics,
        &stop,
        &mut report,
    );
    let drained = producer.flush(DRAIN_TIMEOUT);
    let ready = lock(&tracker).committable(None);
    store(&consumer, &t.raw, &ready);
    commit(&consumer, "shutdown");
    consumer.unsubscribe();
    tables.stop();
    log::info(&format!("stopped: {}", report.render()));
    result?;
    drained.map_err(fatal("draining outputs at shutdown"))?;
    if let Some(f) = lock(&tracker).failed.take() {
        return Err(EdgeError::DeliveryFailed(f));
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn run_loop(
    consumer: &BaseConsumer<RebalanceContext>,
    producer: &OutProducer,
    core: &Core,
    state: &State,
    tracker: &Mutex<Tracker>,
    topics: &Topics,
    stop: &AtomicBool,
    report: &mut Report,
) -> Result<(), EdgeError> {
    let mut last_store = Instant::now();
    let mut last_report = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(POLL) {
            None => {}
            Some(Ok(msg)) => {
                let out = process(core, state, &msg);
                report.add(&out);
                send_outputs(producer, tracker, topics, &msg, &out, stop)?;
            }
            Some(Err(e)) => log::warn(&format!("consumer: {e}")),
        }
        producer.poll(Duration::ZERO);
        if let Some(f) = lock(tracker).failed.clone() {
            return Err(EdgeError::DeliveryFailed(f));
        }
        if last_store.elapsed() >= STORE_EVERY {
            last_store = Instant::now();
            let ready = lock(tracker).committable(None);
            store(consumer, &consumer.context().topic, &ready);
        }
        if last_report.elapsed() >= REPORT_EVERY {
            last_report = Instant::now();
            log::info(&format!("progress: {}", report.render()));
        }
    }
    Ok(())
}

fn process(core: &Core, state: &State, msg: &BorrowedMessage<'_>) -> Outputs {
    let raw = RawRecord {
        key: msg.key(),
        value: msg.payload(),
        source: Source {
            topic: msg.topic(),
            partition: msg.partition(),
            offset: msg.offset(),
        },
    };
    core.process(&raw, state, chrono::Utc::now())
}

fn trace_headers<'m>(msg: &'m BorrowedMessage<'_>) -> Vec<(&'m str, &'m [u8])> {
    let Some(h) = msg.headers() else {
        return Vec::new();
    };
    h.iter()
        .filter(|h| TRACE_HEADERS.contains(&h.key))
        .filter_map(|h| Some((h.key, h.value?)))
        .collect()
}

fn send_outputs(
    producer: &OutProducer,
    tracker: &Mutex<Tracker>,
    topics: &Topics,
    msg: &BorrowedMessage<'_>,
    out: &Outputs,
    stop: &AtomicBool,
) -> Result<(), EdgeError> {
    let (partition, offset) = (msg.partition(), msg.offset());
    let trace = trace_headers(msg);
    let with_trace = |mut h: OwnedHeaders| {
        for (k, v) in &trace {
            h = h.insert(Header {
                key: k,
                value: Some(*v),
            });
        }
        h
    };
    match out {
        Outputs::Event {
            anonymous,
            personal,
            ..
        } => {
            lock(tracker).begin(partition, offset, 1 + u32::from(personal.is_some()));
            send_json(
                producer,
                &topics.anonymous,
                anonymous,
                with_trace(OwnedHeaders::new()),
                (partition, offset),
                stop,
            )?;
            if let Some(p) = personal {
                send_json(
                    producer,
                    &topics.personal,
                    p,
                    with_trace(OwnedHeaders::new()),
                    (partition, offset),
                    stop,
                )?;
            }
        }
        Outputs::DeadLetter(d) => {
            lock(tracker).begin(partition, offset, 1);
            let mut h = OwnedHeaders::new_with_capacity(d.headers.len() + trace.len());
            for (k, v) in &d.headers {
                h = h.insert(Header {
                    key: k,
                    value: Some(v.as_bytes()),
                });
            }
            let mut rec =
                BaseRecord::with_opaque_to(&topics.dead_letter, Box::new((partition, offset)))
                    .payload(d.value.as_slice())
                    .headers(with_trace(h));
            if let Some(k) = d.key.as_deref() {
                rec = rec.key(k);
            }
            send(producer, rec, stop)?;
        }
    }
    Ok(())
}

fn send_json(
    producer: &OutProducer,
    topic: &str,
    p: &Produced,
    headers: OwnedHeaders,
    tag: (i32, i64),
    stop: &AtomicBool,
) -> Result<(), EdgeError> {
    let mut rec = BaseRecord::with_opaque_to(topic, Box::new(tag))
        .payload(p.value.as_slice())
        .headers(headers);
    if let Some(k) = p.key.as_deref() {
        rec = rec.key(k.as_bytes());
    }
    send(producer, rec, stop)
}

/// Enqueues a record, waiting while librdkafka's queue is full. Other errors (message
/// too large, unknown topic) cannot be retried: the worker stops without storing the
/// input's offset, so a restart reprocesses it once the cause is fixed.
fn send<'a>(
    producer: &OutProducer,
    mut rec: BaseRecord<'a, [u8], [u8], Box<(i32, i64)>>,
    stop: &AtomicBool,
) -> Result<(), EdgeError> {
    let started = Instant::now();
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                producer.poll(Duration::from_millis(10));
                if stop.load(Ordering::SeqCst) && started.elapsed() > DRAIN_TIMEOUT {
                    return Err(EdgeError::DeliveryFailed(
                        "producer queue stayed full at shutdown".into(),
                    ));
                }
            }
            Err((e, _)) => {
                return Err(EdgeError::Fatal {
                    context: "producing an output",
                    source: e,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_advance_only_past_acknowledged_inputs() {
        let mut t = Tracker::default();
        t.begin(0, 10, 2);
        t.begin(0, 11, 1);
        t.begin(0, 12, 1);
        assert_eq!(t.committable(None), vec![]);
        t.done(0, 11);
        t.done(0, 12);
        assert_eq!(
            t.committable(None),
            vec![],
            "10 still has an output in flight"
        );
        t.done(0, 10);
        assert_eq!(t.committable(None), vec![]);
        t.done(0, 10);
        assert_eq!(t.committable(None), vec![(0, 13)]);
        assert_eq!(t.committable(None), vec![], "nothing new to store");
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = Tracker::default();
        t.begin(0, 5, 1);
        t.begin(1, 7, 1);
        t.done(1, 7);
        assert_eq!(t.committable(None), vec![(1, 8)]);
        assert_eq!(t.committable(Some(&[0])), vec![]);
    }
}

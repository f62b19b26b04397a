//! The worker loop: consumes `usage.raw` as a consumer group, runs the pure core on each
//! record and produces its outputs, in one of two delivery modes.
//!
//! * exactly-once (default): consume → process → produce → `send_offsets_to_transaction`
//!   → commit, in batches bounded by count and time, one transactional producer per
//!   consumer (KIP-447 fencing through the group metadata). Any transaction error aborts
//!   and rewinds to the committed offsets; a fenced or fatal producer stops the worker.
//!   Revocation aborts the open transaction before partitions go.
//! * at-least-once: idempotent producer; an input's offset is stored only after every
//!   output of it is acknowledged, contiguously per partition; revoked partitions are
//!   drained and committed before they go.
//!
//! In both, no event is processed while the consent view is older than
//! `delivery.max_consent_staleness_ms` (partitions paused, fail closed), and SIGINT /
//! SIGTERM stop fetching, finish the open batch, commit and leave the group. It owns
//! delivery bookkeeping and shutdown; it never looks inside records (the core does) and
//! never logs their contents.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::{EdgeError, LogContext, Role, client_config, set_default, settle, with_statistics};
use crate::config::{Config, DeliveryMode};
use crate::log;
use crate::pipeline::{Core, Counts, Outputs, RawRecord, Source};
use crate::state::State;
use crate::telemetry::{AttrValue, InTopic, Metrics, OutTopic};

mod acks;
mod fence;
mod produce;
mod retry;
use acks::Tracker;
use fence::Fence;
use produce::Tag;
use retry::{abortable_send, is_fatal, retrying, txn_fatal};

const POLL: Duration = Duration::from_millis(100);
const STORE_EVERY: Duration = Duration::from_millis(100);
const REPORT_EVERY: Duration = Duration::from_secs(10);
/// How long shutdown and revocation wait for in-flight outputs.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of one blocking client call: a transactional one (init, send offsets, commit,
/// abort), a seek, a read of the committed offsets.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts of one run (in exactly-once mode: of committed transactions only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// What the core produced.
    pub counts: Counts,
    /// Transactions aborted (exactly-once).
    pub aborts: u64,
}

impl Report {
    fn add(&mut self, out: &Outputs) {
        self.counts.add(out);
    }

    fn merge(&mut self, o: &Report) {
        self.counts.merge(&o.counts);
        self.aborts += o.aborts;
    }

    /// One log line of counts.
    pub fn render(&self) -> String {
        format!("{} aborts={}", self.counts.render(), self.aborts)
    }
}

/// The open transaction as the rebalance callback sees it (exactly-once).
#[derive(Debug, Default)]
struct TxnState {
    open: bool,
    /// Set when a revocation aborted the open transaction: the loop drops its batch
    /// and rewinds to the committed offsets.
    aborted: bool,
    /// Set when the callback could not abort: the producer is unusable, the loop stops.
    failed: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are plain bookkeeping; a panic elsewhere already stops the
    // worker, so a poisoned lock's data is still the best information there is.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Producer context: acknowledges outputs. In at-least-once mode it also counts them
/// (in exactly-once mode an acknowledged output may still be aborted, so the commit
/// counts instead).
struct DeliveryContext {
    mode: DeliveryMode,
    tracker: Arc<Mutex<Tracker>>,
    metrics: Arc<Metrics>,
}

impl ClientContext for DeliveryContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        LogContext.log(level, fac, msg);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }
    fn stats_raw(&self, statistics: &[u8]) {
        self.metrics.kafka_stats("producer", statistics);
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Tag>;
    fn delivery(&self, result: &DeliveryResult<'_>, tag: Self::DeliveryOpaque) {
        let Tag {
            partition,
            offset,
            consumed_at,
            kind,
        } = *tag;
        match result {
            Ok(_) => {
                if self.mode == DeliveryMode::ExactlyOnce {
                    return;
                }
                self.metrics.records_out(kind, 1);
                if lock(&self.tracker).done(partition, offset) {
                    self.metrics.delivered(consumed_at.elapsed());
                }
            }
            Err((e, msg)) => {
                let mut t = lock(&self.tracker);
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

/// A producer with its own polling thread: delivery reports are served even while the
/// consumer thread sits in a rebalance callback, which aborting a transaction there needs.
type OutProducer = ThreadedProducer<DeliveryContext>;

/// Consumer context: makes revocation safe in either mode.
struct RebalanceContext {
    metrics: Arc<Metrics>,
    mode: DeliveryMode,
    tracker: Arc<Mutex<Tracker>>,
    txn: Arc<Mutex<TxnState>>,
    producer: Arc<OutProducer>,
    topic: String,
    /// The staleness fence holds the raw partitions paused.
    fence_held: Arc<AtomicBool>,
}

impl ClientContext for RebalanceContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        LogContext.log(level, fac, msg);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }
    fn stats_raw(&self, statistics: &[u8]) {
        self.metrics.kafka_stats("consumer", statistics);
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        match self.mode {
            DeliveryMode::ExactlyOnce => {
                let mut txn = lock(&self.txn);
                if txn.open {
                    // Aborting is always safe: the outputs vanish for read_committed
                    // readers and the inputs' committed offsets did not move, so the
                    // next owner processes them exactly once.
                    if let Err(e) = retrying("aborting at revocation", || {
                        self.producer.abort_transaction(CALL_TIMEOUT)
                    }) {
                        log::error(&format!("revocation: abort failed ({e})"));
                        txn.failed = Some(format!("aborting at revocation: {e}"));
                    }
                    txn.open = false;
                    txn.aborted = true;
                }
            }
            DeliveryMode::AtLeastOnce => {
                if !settle(&self.producer, DRAIN_TIMEOUT) {
                    log::warn(
                        "revocation: outputs not drained in time; their inputs will be reprocessed",
                    );
                }
                let ready = lock(&self.tracker).committable(Some(&revoked));
                store(consumer, &self.topic, &ready);
                commit(consumer, "revocation");
                lock(&self.tracker).forget(&revoked);
            }
        }
        log::info(&format!("partitions revoked: {revoked:?}"));
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            fence::on_assign(consumer, tpl, &self.fence_held);
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

/// What every instance shares.
struct Shared<'a> {
    config: &'a Config,
    core: &'a Core,
    state: &'a State,
    stop: &'a AtomicBool,
    metrics: &'a Arc<Metrics>,
    /// When the table reader last saw itself caught up with the consent topic.
    fresh_at_ms: &'a AtomicI64,
    /// Instances subscribed so far.
    subscribed: &'a AtomicUsize,
}

/// Runs the worker until `stop` is set or a fatal error: loads the tables, then runs
/// `delivery.instances` consumers sharing them. `on_ready` is called once every
/// instance has subscribed.
pub fn run(
    config: &Config,
    core: Arc<Core>,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
    on_ready: impl FnOnce(),
) -> Result<Report, EdgeError> {
    let tables = super::tables::load(
        config,
        Arc::clone(&state),
        Arc::clone(&core),
        Arc::clone(&metrics),
    )?;
    let subscribed = AtomicUsize::new(0);
    let shared = Shared {
        config,
        core: &core,
        state: &state,
        stop: &stop,
        metrics: &metrics,
        fresh_at_ms: &tables.consent_fresh_at_ms,
        subscribed: &subscribed,
    };
    let n = config.delivery.instances;
    let results: Vec<Result<Report, EdgeError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|slot| {
                let shared = &shared;
                std::thread::Builder::new()
                    .name(format!("worker-{slot}"))
                    .spawn_scoped(s, move || run_instance(shared, slot))
            })
            .collect();
        let mut on_ready = Some(on_ready);
        while on_ready.is_some() {
            let finished = handles
                .iter()
                .any(|h| h.as_ref().map_or(true, |h| h.is_finished()));
            if subscribed.load(Ordering::SeqCst) == n {
                metrics.ready.store(true, Ordering::SeqCst);
                if let Some(f) = on_ready.take() {
                    f();
                }
                log::info(&format!(
                    "ready: {n} instance(s) consuming {} as group {} ({:?})",
                    config.topics.raw, config.kafka.group_id, config.delivery.mode
                ));
            } else if finished {
                stop.store(true, Ordering::SeqCst);
                break;
            } else {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    Err(EdgeError::DeliveryFailed("a worker thread panicked".into()))
                }),
                Err(e) => Err(EdgeError::DeliveryFailed(format!(
                    "cannot start a worker thread: {e}"
                ))),
            })
            .collect()
    });
    metrics.ready.store(false, Ordering::SeqCst);
    tables.stop();
    let mut total = Report::default();
    let mut first_err = None;
    for (slot, r) in results.into_iter().enumerate() {
        match r {
            Ok(rep) => total.merge(&rep),
            Err(e) => {
                // Each instance's own cause, not only the first one returned.
                log::error(&format!("instance {slot} stopped: {e}"));
                first_err.get_or_insert(e);
            }
        }
    }
    log::info(&format!("stopped: {}", total.render()));
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into())
}

/// One consumer with its own producer.
struct Instance<'a> {
    shared: &'a Shared<'a>,
    consumer: BaseConsumer<RebalanceContext>,
    producer: Arc<OutProducer>,
    tracker: Arc<Mutex<Tracker>>,
    txn: Arc<Mutex<TxnState>>,
    report: Report,
    fence: Fence,
}

fn run_instance(shared: &Shared<'_>, slot: usize) -> Result<Report, EdgeError> {
    let stop = shared.stop;
    let result = Instance::new(shared, slot).and_then(|mut inst| {
        shared.subscribed.fetch_add(1, Ordering::SeqCst);
        let r = match shared.config.delivery.mode {
            DeliveryMode::ExactlyOnce => inst.run_exactly_once(),
            DeliveryMode::AtLeastOnce => inst.run_at_least_once(),
        };
        inst.close();
        r.map(|()| inst.report)
    });
    if result.is_err() {
        // One instance failing stops the process: the orchestrator restarts it whole,
        // which is simpler to reason about than a partially working worker.
        stop.store(true, Ordering::SeqCst);
    }
    result
}

impl<'a> Instance<'a> {
    fn new(shared: &'a Shared<'a>, slot: usize) -> Result<Instance<'a>, EdgeError> {
        let config = shared.config;
        let t = &config.topics;
        let mode = config.delivery.mode;
        let fatal = |context| move |source| EdgeError::Fatal { context, source };
        let tracker = Arc::new(Mutex::new(Tracker::default()));
        let txn = Arc::new(Mutex::new(TxnState::default()));
        let fence = Fence::default();

        let mut pc = client_config(&config.kafka, Role::Producer);
        with_statistics(&mut pc);
        set_default(&mut pc, "enable.idempotence", "true");
        set_default(&mut pc, "linger.ms", "5");
        if mode == DeliveryMode::ExactlyOnce {
            let id = if config.delivery.instance_id.is_empty() {
                host_name()
            } else {
                config.delivery.instance_id.clone()
            };
            pc.set(
                "transactional.id",
                format!("{}.{id}.{slot}", config.kafka.group_id),
            );
            set_default(&mut pc, "transaction.timeout.ms", "60000");
        }
        let producer: Arc<OutProducer> = Arc::new(
            pc.create_with_context(DeliveryContext {
                mode,
                tracker: Arc::clone(&tracker),
                metrics: Arc::clone(shared.metrics),
            })
            .map_err(fatal("creating the producer"))?,
        );

        let mut cc = client_config(&config.kafka, Role::Consumer);
        cc.set("group.id", &config.kafka.group_id);
        cc.set("enable.auto.offset.store", "false");
        with_statistics(&mut cc);
        match mode {
            DeliveryMode::ExactlyOnce => cc.set("enable.auto.commit", "false"),
            DeliveryMode::AtLeastOnce => cc.set("enable.auto.commit", "true"),
        };
        set_default(&mut cc, "auto.offset.reset", "earliest");
        set_default(&mut cc, "isolation.level", "read_committed");
        let consumer: BaseConsumer<RebalanceContext> = cc
            .create_with_context(RebalanceContext {
                metrics: Arc::clone(shared.metrics),
                mode,
                tracker: Arc::clone(&tracker),
                txn: Arc::clone(&txn),
                producer: Arc::clone(&producer),
                topic: t.raw.clone(),
                fence_held: fence.held(),
            })
            .map_err(fatal("creating the consumer"))?;
        super::check_topics(
            &consumer,
            &config.kafka,
            &[&t.raw, &t.anonymous, &t.personal, &t.dead_letter, &t.audit],
        )?;
        if mode == DeliveryMode::ExactlyOnce {
            producer
                .init_transactions(CALL_TIMEOUT)
                .map_err(|e| txn_fatal(shared.metrics, "initialising transactions", e))?;
        }
        consumer
            .subscribe(&[&t.raw])
            .map_err(fatal("subscribing to the raw topic"))?;
        Ok(Instance {
            shared,
            consumer,
            producer,
            tracker,
            txn,
            report: Report::default(),
            fence,
        })
    }

    fn close(&self) {
        self.consumer.unsubscribe();
    }

    /// True when processing may go on (see `fence`).
    fn fence(&mut self) -> bool {
        let delivery = &self.shared.config.delivery;
        self.fence.check(
            &self.consumer,
            self.shared.fresh_at_ms,
            delivery.max_consent_staleness_ms,
            self.shared.metrics,
        )
    }

    fn hold(&self) -> Result<(), EdgeError> {
        fence::hold(&self.consumer)
    }

    fn process(&self, msg: &BorrowedMessage<'_>) -> Outputs {
        let raw = RawRecord {
            key: msg.key(),
            value: msg.payload(),
            source: Source {
                topic: msg.topic(),
                partition: msg.partition(),
                offset: msg.offset(),
            },
        };
        let metrics = self.shared.metrics;
        metrics.record_in(InTopic::Raw);
        // Span times and headers are read only when tracing is on: the hot loop does
        // not pay for what is not exported.
        let start = metrics.tracer.is_enabled().then(std::time::SystemTime::now);
        let out = self
            .shared
            .core
            .process(&raw, self.shared.state, chrono::Utc::now());
        metrics.outputs(&out);
        if let Some(start) = start {
            record_process_span(metrics, msg, &out, start);
        }
        out
    }

    fn run_at_least_once(&mut self) -> Result<(), EdgeError> {
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
                Some(Ok(msg)) => {
                    let consumed_at = now;
                    let out = self.process(&msg);
                    self.report.add(&out);
                    let n = output_count(&out);
                    lock(&self.tracker).begin(msg.partition(), msg.offset(), n);
                    self.send_outputs(&msg, &out, consumed_at)?;
                }
                Some(Err(e)) => log::warn(&format!("consumer: {e}")),
            }
            if let Some(f) = lock(&self.tracker).failed.clone() {
                return Err(EdgeError::DeliveryFailed(f));
            }
            if now.duration_since(last_store) >= STORE_EVERY {
                last_store = now;
                let ready = lock(&self.tracker).committable(None);
                store(&self.consumer, &self.shared.config.topics.raw, &ready);
            }
            if now.duration_since(last_report) >= REPORT_EVERY {
                last_report = now;
                log::info(&format!("progress: {}", self.report.render()));
            }
        }
        let drained = settle(&self.producer, DRAIN_TIMEOUT);
        let ready = lock(&self.tracker).committable(None);
        store(&self.consumer, &self.shared.config.topics.raw, &ready);
        commit(&self.consumer, "shutdown");
        if !drained {
            return Err(EdgeError::DeliveryFailed(format!(
                "outputs not acknowledged within {} s at shutdown",
                DRAIN_TIMEOUT.as_secs()
            )));
        }
        if let Some(f) = lock(&self.tracker).failed.take() {
            return Err(EdgeError::DeliveryFailed(f));
        }
        Ok(())
    }

    fn run_exactly_once(&mut self) -> Result<(), EdgeError> {
        let max_records = self.shared.config.delivery.batch_max_records;
        let max_age = Duration::from_millis(self.shared.config.delivery.batch_max_ms);
        let mut batch = Batch::default();
        let mut last_report = Instant::now();
        let stop = self.shared.stop;
        while !stop.load(Ordering::SeqCst) {
            if self.take_rebalance_abort()? {
                self.rewind(&mut batch)?;
            }
            if !self.fence() {
                // A batch must not wait for the fence: commit what was processed before
                // the view went stale, then wait.
                if batch.open {
                    self.commit(&mut batch)?;
                }
                self.hold()?;
                continue;
            }
            let wait = match batch.started {
                Some(s) => max_age.saturating_sub(s.elapsed()).min(POLL),
                None => POLL,
            };
            let mut rewind = false;
            let mut failed_send = None;
            match self.consumer.poll(wait) {
                None => {}
                Some(Ok(msg)) => {
                    if self.take_rebalance_abort()? {
                        // The message came after a revocation aborted our batch; it is
                        // from the new assignment, but positions must be rewound first
                        // so the next batch starts at the committed offsets.
                        rewind = true;
                    } else {
                        if !batch.open {
                            self.producer.begin_transaction().map_err(|e| {
                                txn_fatal(self.shared.metrics, "beginning a transaction", e)
                            })?;
                            lock(&self.txn).open = true;
                            batch.open = true;
                            batch.started = Some(Instant::now());
                        }
                        let consumed_at = Instant::now();
                        let out = self.process(&msg);
                        batch.add(msg.partition(), msg.offset(), consumed_at, &out);
                        if let Err(e) = self.send_outputs(&msg, &out, consumed_at) {
                            failed_send = Some(abortable_send(e)?);
                        }
                    }
                }
                Some(Err(e)) => log::warn(&format!("consumer: {e}")),
            }
            if let Some(e) = failed_send {
                self.abort(&mut batch, e)?;
                continue;
            }
            if rewind {
                self.rewind(&mut batch)?;
                continue;
            }
            let due = batch
                .started
                .is_some_and(|s| batch.inputs >= max_records || s.elapsed() >= max_age);
            if batch.open && due {
                self.commit(&mut batch)?;
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                log::info(&format!("progress: {}", self.report.render()));
            }
        }
        if self.take_rebalance_abort()? {
            batch.clear();
        }
        if batch.open {
            self.commit(&mut batch)?;
        }
        Ok(())
    }

    fn take_rebalance_abort(&self) -> Result<bool, EdgeError> {
        let mut txn = lock(&self.txn);
        if let Some(f) = txn.failed.take() {
            return Err(EdgeError::DeliveryFailed(f));
        }
        Ok(std::mem::take(&mut txn.aborted))
    }

    /// Sends the batch's offsets and commits. On an abortable error: abort and rewind.
    fn commit(&mut self, batch: &mut Batch) -> Result<(), EdgeError> {
        let started = Instant::now();
        let result = self.try_commit(batch);
        match result {
            Ok(()) => {
                lock(&self.txn).open = false;
                let m = self.shared.metrics;
                m.txn(true, started.elapsed());
                for at in &batch.consumed_at {
                    m.delivered(at.elapsed());
                }
                m.records_out(OutTopic::Anonymous, batch.report.counts.anonymous);
                m.records_out(OutTopic::Personal, batch.report.counts.personal);
                m.records_out(OutTopic::DeadLetter, batch.report.counts.dead_letters);
                self.report.merge(&batch.report);
                batch.clear();
                Ok(())
            }
            Err(e) => self.abort(batch, e),
        }
    }

    fn try_commit(&self, batch: &Batch) -> Result<(), KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &batch.next {
            tpl.add_partition_offset(&self.shared.config.topics.raw, *p, Offset::Offset(*next))?;
        }
        let gm = self
            .consumer
            .group_metadata()
            // Not in a group (any more): abortable, the rewind sorts it out.
            .ok_or(KafkaError::MetadataFetch(RDKafkaErrorCode::State))?;
        // commit_transaction starts with rust-rdkafka's flush, which costs at least
        // 100 ms whenever anything is in flight (see `settle`): half the exactly-once
        // run time, before this wait.
        settle(&self.producer, CALL_TIMEOUT);
        retrying("sending offsets", || {
            self.producer
                .send_offsets_to_transaction(&tpl, &gm, CALL_TIMEOUT)
        })?;
        retrying("committing", || {
            self.producer.commit_transaction(CALL_TIMEOUT)
        })
    }

    fn abort(&mut self, batch: &mut Batch, e: KafkaError) -> Result<(), EdgeError> {
        if is_fatal(&e) {
            return Err(txn_fatal(
                self.shared.metrics,
                "committing a transaction",
                e,
            ));
        }
        log::warn(&format!(
            "transaction of {} inputs aborted ({e}); rewinding to the committed offsets",
            batch.inputs
        ));
        if lock(&self.txn).open {
            retrying("aborting", || self.producer.abort_transaction(CALL_TIMEOUT))
                .map_err(|e| txn_fatal(self.shared.metrics, "aborting a transaction", e))?;
        }
        lock(&self.txn).open = false;
        self.shared.metrics.txn(false, Duration::ZERO);
        self.report.aborts += 1;
        self.rewind(batch)
    }

    /// Drops the batch and moves every assigned partition back to its committed offset,
    /// so inputs of an aborted transaction are processed again, once.
    fn rewind(&mut self, batch: &mut Batch) -> Result<(), EdgeError> {
        batch.clear();
        let assignment = match self.consumer.assignment() {
            Ok(a) => a,
            Err(e) => {
                log::warn(&format!("rewind: no assignment ({e})"));
                return Ok(());
            }
        };
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = self
            .consumer
            .committed_offsets(assignment, CALL_TIMEOUT)
            .map_err(|source| EdgeError::Fatal {
                context: "reading committed offsets to rewind",
                source,
            })?;
        for e in committed.elements() {
            let to = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            if let Err(err) = self
                .consumer
                .seek(e.topic(), e.partition(), to, CALL_TIMEOUT)
            {
                return Err(EdgeError::Fatal {
                    context: "rewinding to the committed offsets",
                    source: err,
                });
            }
        }
        Ok(())
    }

    fn send_outputs(
        &self,
        msg: &BorrowedMessage<'_>,
        out: &Outputs,
        consumed_at: Instant,
    ) -> Result<(), EdgeError> {
        let topics = &self.shared.config.topics;
        produce::send_outputs(
            &self.producer,
            topics,
            msg,
            out,
            consumed_at,
            self.shared.stop,
        )
    }
}

/// The `consent-enricher process` span of one raw record (sampled by the tracer).
fn record_process_span(
    metrics: &Metrics,
    msg: &BorrowedMessage<'_>,
    out: &Outputs,
    start: std::time::SystemTime,
) {
    let outcome = match out {
        Outputs::Event { decision, .. } => (
            "consent_enricher.decision",
            AttrValue::Code(decision.code()),
        ),
        Outputs::DeadLetter(d) => ("dlq.reason", AttrValue::Code(d.reason.code())),
    };
    let header = |name: &str| {
        msg.headers()
            .and_then(|h| h.iter().find(|h| h.key == name))
            .and_then(|h| h.value)
    };
    metrics.tracer.record_span(
        header("traceparent"),
        header("tracestate"),
        "consent-enricher process",
        start,
        std::time::SystemTime::now(),
        &[
            (
                "messaging.kafka.partition",
                AttrValue::Int(i64::from(msg.partition())),
            ),
            ("messaging.kafka.offset", AttrValue::Int(msg.offset())),
            outcome,
        ],
    );
}

fn output_count(out: &Outputs) -> u32 {
    match out {
        Outputs::Event { personal, .. } => 1 + u32::from(personal.is_some()),
        Outputs::DeadLetter(_) => 1,
    }
}

/// The open transaction's inputs (exactly-once).
#[derive(Debug, Default)]
struct Batch {
    open: bool,
    started: Option<Instant>,
    inputs: usize,
    /// Partition -> one past the last input processed.
    next: BTreeMap<i32, i64>,
    consumed_at: Vec<Instant>,
    report: Report,
}

impl Batch {
    fn add(&mut self, partition: i32, offset: i64, at: Instant, out: &Outputs) {
        self.inputs += 1;
        self.next.insert(partition, offset + 1);
        self.consumed_at.push(at);
        self.report.add(out);
    }

    fn clear(&mut self) {
        *self = Batch::default();
    }
}

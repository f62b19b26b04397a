//! Exactly-once delivery: consume → process → produce → `send_offsets_to_transaction` →
//! commit, in batches bounded by count and time, one transactional producer per
//! consumer (KIP-447 fencing through the group metadata). Any transaction error aborts
//! and rewinds to the committed offsets; a fenced or fatal producer stops the worker;
//! revocation aborts the open transaction before partitions go. It owns the open
//! transaction and its batch; it must not store or auto-commit consumer offsets (only
//! the transaction moves them) nor count an output before its transaction commits.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::context::{Context, OutProducer};
use super::produce::Tag;
use super::retry::{abortable_send, is_fatal, retrying, txn_fatal};
use super::{CALL_TIMEOUT, Instance, Mode, POLL, REPORT_EVERY, Report, lock};
use crate::config::Config;
use crate::kafka::{EdgeError, set_default, settle};
use crate::log;
use crate::pipeline::Outputs;
use crate::telemetry::{Metrics, OutTopic};

/// The mode's state: the open transaction as the loop and the rebalance callback both
/// see it.
#[derive(Debug, Default)]
pub(super) struct Transactions {
    txn: Mutex<TxnState>,
}

#[derive(Debug, Default)]
struct TxnState {
    open: bool,
    /// Set when a revocation aborted the open transaction: the loop drops its batch
    /// and rewinds to the committed offsets.
    aborted: bool,
    /// Set when the callback could not abort: the producer is unusable, the loop stops.
    failed: Option<String>,
}

impl Mode for Transactions {
    fn new(_: &Config) -> Self {
        Transactions::default()
    }

    fn producer_config(pc: &mut ClientConfig, config: &Config, slot: usize) {
        let id = if config.delivery.instance_id.is_empty() {
            host_name()
        } else {
            config.delivery.instance_id.clone()
        };
        pc.set(
            "transactional.id",
            format!("{}.{id}.{slot}", config.kafka.group_id),
        );
        set_default(pc, "transaction.timeout.ms", "60000");
    }

    fn consumer_config(cc: &mut ClientConfig) {
        cc.set("enable.auto.commit", "false");
    }

    fn prepare(producer: &OutProducer<Self>, metrics: &Metrics) -> Result<(), EdgeError> {
        producer
            .init_transactions(CALL_TIMEOUT)
            .map_err(|e| txn_fatal(metrics, "initialising transactions", e))
    }

    fn delivered(&self, _: &Metrics, _: Tag, _: &DeliveryResult<'_>) {
        // An acknowledged output may still be aborted, so the commit counts outputs;
        // a failed one fails the commit, which aborts and rewinds.
    }

    fn revoking(&self, _: &BaseConsumer<Context<Self>>, producer: &OutProducer<Self>, _: &[i32]) {
        let mut txn = lock(&self.txn);
        if !txn.open {
            return;
        }
        // Aborting is always safe: the outputs vanish for read_committed readers and
        // the inputs' committed offsets did not move, so the next owner processes them
        // exactly once.
        if let Err(e) = retrying("aborting at revocation", || {
            producer.abort_transaction(CALL_TIMEOUT)
        }) {
            log::error(&format!("revocation: abort failed ({e})"));
            txn.failed = Some(format!("aborting at revocation: {e}"));
        }
        txn.open = false;
        txn.aborted = true;
    }

    fn run(inst: &mut Instance<'_, Self>) -> Result<(), EdgeError> {
        inst.run_transactions()
    }
}

/// The open transaction's inputs.
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

    fn due(&self, max_records: usize, max_age: Duration) -> bool {
        self.started
            .is_some_and(|s| self.inputs >= max_records || s.elapsed() >= max_age)
    }
}

/// What a turn of the loop leaves to do.
enum Turn {
    Next,
    /// A send found the transaction abortable.
    Abort(KafkaError),
    /// A revocation aborted the batch while a record was being fetched.
    Rewind,
}

impl Instance<'_, Transactions> {
    fn run_transactions(&mut self) -> Result<(), EdgeError> {
        let delivery = &self.shared.config.delivery;
        let max_records = delivery.batch_max_records;
        let max_age = Duration::from_millis(delivery.batch_max_ms);
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
            match self.turn(&mut batch, wait)? {
                Turn::Next => {}
                Turn::Abort(e) => {
                    self.abort(&mut batch, e)?;
                    continue;
                }
                Turn::Rewind => {
                    self.rewind(&mut batch)?;
                    continue;
                }
            }
            if batch.open && batch.due(max_records, max_age) {
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

    /// Polls once and adds what arrived to the batch, opening its transaction first.
    fn turn(&self, batch: &mut Batch, wait: Duration) -> Result<Turn, EdgeError> {
        let msg = match self.consumer.poll(wait) {
            None => return Ok(Turn::Next),
            Some(Err(e)) => {
                log::warn(&format!("consumer: {e}"));
                return Ok(Turn::Next);
            }
            Some(Ok(msg)) => msg,
        };
        if self.take_rebalance_abort()? {
            // The message came after a revocation aborted our batch; it is from the new
            // assignment, but positions must be rewound first so the next batch starts
            // at the committed offsets.
            return Ok(Turn::Rewind);
        }
        if !self.view_fresh() {
            // The poll may have waited long enough for the view to go stale.
            self.not_admitted(msg)?;
            return Ok(Turn::Next);
        }
        if !batch.open {
            self.begin(batch)?;
        }
        let consumed_at = Instant::now();
        let out = self.process(&msg);
        batch.add(msg.partition(), msg.offset(), consumed_at, &out);
        match self.send_outputs(&msg, &out, consumed_at) {
            Ok(()) => Ok(Turn::Next),
            Err(e) => abortable_send(e).map(Turn::Abort),
        }
    }

    fn begin(&self, batch: &mut Batch) -> Result<(), EdgeError> {
        self.producer
            .begin_transaction()
            .map_err(|e| txn_fatal(self.shared.metrics, "beginning a transaction", e))?;
        lock(&self.mode.txn).open = true;
        batch.open = true;
        batch.started = Some(Instant::now());
        Ok(())
    }

    fn take_rebalance_abort(&self) -> Result<bool, EdgeError> {
        let mut txn = lock(&self.mode.txn);
        if let Some(f) = txn.failed.take() {
            return Err(EdgeError::DeliveryFailed(f));
        }
        Ok(std::mem::take(&mut txn.aborted))
    }

    /// Sends the batch's offsets and commits. On an abortable error: abort and rewind.
    fn commit(&mut self, batch: &mut Batch) -> Result<(), EdgeError> {
        let started = Instant::now();
        if let Err(e) = self.try_commit(batch) {
            return self.abort(batch, e);
        }
        lock(&self.mode.txn).open = false;
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

    fn try_commit(&self, batch: &Batch) -> Result<(), KafkaError> {
        let raw = &self.shared.config.topics.raw;
        let mut tpl = TopicPartitionList::new();
        for (p, next) in &batch.next {
            tpl.add_partition_offset(raw, *p, Offset::Offset(*next))?;
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
        if lock(&self.mode.txn).open {
            retrying("aborting", || self.producer.abort_transaction(CALL_TIMEOUT))
                .map_err(|e| txn_fatal(self.shared.metrics, "aborting a transaction", e))?;
        }
        lock(&self.mode.txn).open = false;
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
            self.consumer
                .seek(e.topic(), e.partition(), to, CALL_TIMEOUT)
                .map_err(|source| EdgeError::Fatal {
                    context: "rewinding to the committed offsets",
                    source,
                })?;
        }
        Ok(())
    }
}

/// The middle part of this instance's `transactional.id` when `delivery.instance_id`
/// is not set.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into())
}

//! Exactly-once delivery: consume → process → produce → `send_offsets_to_transaction` →
//! commit, in batches bounded by count and time, one transactional producer per
//! consumer (KIP-447 fencing through the group metadata). Any transaction error aborts
//! and rewinds to the committed offsets; a fenced or fatal producer stops the worker;
//! revocation aborts the open transaction before partitions go.
//!
//! The withdrawal bound holds at commit: the batch remembers each user it gave a
//! personal record and the change-log epoch read before that decision, and right before
//! `commit_transaction` it asks the state whether any of them had their consent narrowed
//! or was erased since; if so — or if the consent view is stale by then — the
//! transaction is aborted and the batch replayed from the committed offsets, re-decided
//! under the current consent. Replays for changed users are bounded (see [`Replays`]):
//! a user whose consent flaps cannot keep a partition from committing.
//!
//! Aborts for Kafka errors are bounded too (`streak`): counted, retried with a growing
//! wait, an input whose output the broker keeps refusing dead-lettered, and the worker
//! stopped after `delivery.max_consecutive_aborts` in a row.
//!
//! It owns the open transaction, its batch and the replay bound; it must not store or
//! auto-commit consumer offsets (only the transaction moves them) nor count an output
//! before its transaction commits.

use std::collections::{BTreeMap, HashSet};
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
use super::streak::{Refusal, Streak, Verdict, is_authorization};
use super::{CALL_TIMEOUT, Instance, Mode, POLL, REPORT_EVERY, Report, lock};
use crate::config::Config;
use crate::kafka::{EdgeError, set_default, settle};
use crate::log;
use crate::pipeline::Outputs;
use crate::state::{ChangeKey, ChangeWatch, Changed};
use crate::telemetry::{Metrics, OutTopic, Replay};

/// Replays for changed users in a row after which those users get no personal record
/// until a batch commits.
const WITHHOLD_CHANGED_AFTER: u32 = 3;
/// Replays for changed users in a row after which no personal record is produced until
/// a batch commits: such an attempt has nothing a consent change can invalidate, so it
/// commits unless Kafka fails it.
const WITHHOLD_ALL_AFTER: u32 = 6;

/// The mode's state: the open transaction as the loop and the rebalance callback both
/// see it.
#[derive(Debug, Default)]
pub(super) struct Transactions {
    txn: Mutex<TxnState>,
    /// Aborts in a row; only the loop's thread uses it.
    streak: Mutex<Streak>,
}

#[derive(Debug, Default)]
struct TxnState {
    open: bool,
    /// Set when a revocation aborted the open transaction: the loop drops its batch
    /// and rewinds to the committed offsets.
    aborted: bool,
    /// Set when the callback could not abort: the producer is unusable, the loop stops
    /// with this error (INVALID_TXN_STATE, which Kafka 4 sometimes answers here, makes
    /// `run_instance` start the slot afresh instead of ending the process).
    failed: Option<rdkafka::error::KafkaError>,
    /// The first output delivery the broker refused in this transaction.
    refused: Option<Refusal>,
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

    fn delivered(&self, _: &Metrics, tag: Tag, result: &DeliveryResult<'_>) {
        // An acknowledged output may still be aborted, so the commit counts outputs;
        // a failed one fails the commit, which aborts and rewinds. The first refusal is
        // kept for the abort bound: which topic, which input, the broker's code.
        let Err((e, msg)) = result else {
            return;
        };
        let code = e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        if matches!(
            code,
            RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight
        ) {
            // Purged by an abort: a consequence, not the cause.
            return;
        }
        let mut txn = lock(&self.txn);
        if txn.refused.is_none() {
            txn.refused = Some(Refusal {
                topic: msg.topic().to_string(),
                input: (tag.partition, tag.offset),
                code,
            });
        }
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
            txn.failed = Some(e);
        }
        txn.open = false;
        txn.aborted = true;
    }

    fn run(inst: &mut Instance<'_, Self>) -> Result<(), EdgeError> {
        inst.run_transactions()
    }
}

/// Calls of `CALL_TIMEOUT` each a rewind makes before a broker outage counts as fatal.
const REWIND_ATTEMPTS: u32 = 6;

/// How long a commit waits for a stale consent view to become fresh before replaying.
const STALE_GRACE: Duration = Duration::from_millis(500);

/// The open transaction's inputs.
#[derive(Debug, Default)]
struct Batch {
    open: bool,
    started: Option<Instant>,
    inputs: usize,
    /// Partition -> one past the last input processed.
    next: BTreeMap<i32, i64>,
    /// Partition -> the first input processed: where a rewind goes in a partition with
    /// no committed offset yet.
    first: BTreeMap<i32, i64>,
    consumed_at: Vec<Instant>,
    report: Report,
    /// The users given a personal record here, with the epoch of their first decision.
    watch: ChangeWatch,
    /// Outlives the batch: what the replays since the last commit left.
    replays: Replays,
}

impl Batch {
    fn add(&mut self, partition: i32, offset: i64, at: Instant, out: &Outputs) {
        self.inputs += 1;
        self.first.entry(partition).or_insert(offset);
        self.next.insert(partition, offset + 1);
        self.consumed_at.push(at);
        self.report.add(out);
    }

    /// Drops the batch's inputs and outputs; the replay bound's memory stays until a
    /// commit ends the run of replays.
    fn clear(&mut self) {
        let replays = std::mem::take(&mut self.replays);
        *self = Batch {
            replays,
            ..Batch::default()
        };
    }

    fn due(&self, max_records: usize, max_age: Duration) -> bool {
        self.started
            .is_some_and(|s| self.inputs >= max_records || s.elapsed() >= max_age)
    }

    /// Records the user of the personal records in `out`, decided at `epoch`, or
    /// withholds the records if the replay bound says so: returns how many it withheld.
    fn watch_or_withhold(
        &mut self,
        out: &mut Outputs,
        epoch: u64,
        key: impl Fn(&str) -> ChangeKey,
    ) -> usize {
        let Outputs::Event {
            personal, user_id, ..
        } = out
        else {
            return 0;
        };
        let made = personal.iter().filter(|p| p.record.is_some()).count();
        if made == 0 {
            return 0;
        }
        // The core names the user of every event with personal records; records
        // without one cannot be watched, so they cannot be committed safely (fail closed).
        let user = user_id.as_deref().map(key);
        if let Some(user) = user.filter(|u| !self.replays.withholds(*u)) {
            self.watch.note(user, epoch);
            return 0;
        }
        for p in personal.iter_mut() {
            p.record = None;
        }
        made
    }
}

/// The replay bound. A replay re-decides the batch under the current consent, so one
/// withdrawal costs one replay; but a user whose consent keeps changing faster than a
/// batch commits could abort every attempt, and the partition would never commit. So,
/// counting the replays for changed users since the last commit: once there were
/// [`WITHHOLD_CHANGED_AFTER`], the users whose changes caused them get no personal
/// record (their events still get their anonymous record) until a batch commits; once
/// there were [`WITHHOLD_ALL_AFTER`], nobody does, and that attempt commits unless Kafka
/// fails it. Withholding only ever removes personal records (fail closed); a commit ends
/// it. Replays for a stale view do not count: the fence stops processing until the view
/// is fresh, so they cannot repeat faster than the view goes stale.
#[derive(Debug, Default)]
struct Replays {
    /// Replays for changed users since the last commit.
    in_a_row: u32,
    /// The users whose changes caused them.
    changed: HashSet<ChangeKey>,
}

impl Replays {
    fn replayed(&mut self, changed: impl IntoIterator<Item = ChangeKey>) {
        self.in_a_row += 1;
        self.changed.extend(changed);
    }

    fn withholds(&self, user: ChangeKey) -> bool {
        self.in_a_row >= WITHHOLD_ALL_AFTER
            || (self.in_a_row >= WITHHOLD_CHANGED_AFTER && self.changed.contains(&user))
    }

    fn committed(&mut self) {
        *self = Replays::default();
    }
}

/// Why a commit did not happen.
enum Refused {
    /// Kafka refused it: abort and rewind.
    Kafka(KafkaError),
    /// The consent check refused it: abort and replay.
    Consent(Replay, Vec<ChangeKey>),
}

impl From<KafkaError> for Refused {
    fn from(e: KafkaError) -> Self {
        Refused::Kafka(e)
    }
}

/// What a turn of the loop leaves to do.
enum Turn {
    Next,
    /// A send found the transaction abortable.
    Abort(KafkaError),
    /// A revocation aborted the batch while this record (partition, offset) was being
    /// fetched; it is read again after the rewind.
    Rewind(i32, i64),
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
                // A batch must not wait for the fence: its open transaction would hold
                // back every read_committed reader of the outputs, and could outlive
                // `transaction.timeout.ms` (the broker would then fence the producer).
                // Without personal records it depends on no consent: commit it. With
                // them it may not commit under a stale view (the bound holds at
                // commit): replay it — at most one batch of work — once the view is
                // fresh.
                if batch.open {
                    if batch.watch.is_empty() {
                        self.commit(&mut batch)?;
                    } else {
                        self.replay(&mut batch, Replay::Stale, Vec::new())?;
                    }
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
                Turn::Rewind(partition, offset) => {
                    batch.first.entry(partition).or_insert(offset);
                    self.rewind(&mut batch)?;
                    continue;
                }
            }
            if batch.open && batch.due(max_records, max_age) {
                self.commit(&mut batch)?;
            }
            if last_report.elapsed() >= REPORT_EVERY {
                last_report = Instant::now();
                log::info(&format!(
                    "progress: {}",
                    self.report.render(&self.shared.output_names)
                ));
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
                self.consume_error(&e)?;
                return Ok(Turn::Next);
            }
            Some(Ok(msg)) => msg,
        };
        if self.take_rebalance_abort()? {
            // The message came after a revocation aborted our batch; it is from the new
            // assignment, but positions must be rewound first so the next batch starts
            // at the committed offsets.
            return Ok(Turn::Rewind(msg.partition(), msg.offset()));
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
        // Read before the decision: a change applied after this reading may not have
        // been seen by it, and is what the commit checks for.
        let state = self.shared.state;
        let epoch = state.epoch();
        let rejected = lock(&self.mode.streak).rejected(msg.partition(), msg.offset());
        let mut out = self.process(&msg, rejected);
        for _ in 0..batch.watch_or_withhold(&mut out, epoch, |u| state.change_key(u)) {
            self.shared.metrics.withheld();
        }
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
        {
            let mut txn = lock(&self.mode.txn);
            txn.open = true;
            txn.refused = None;
        }
        batch.open = true;
        batch.started = Some(Instant::now());
        Ok(())
    }

    fn take_rebalance_abort(&self) -> Result<bool, EdgeError> {
        let mut txn = lock(&self.mode.txn);
        if let Some(source) = txn.failed.take() {
            return Err(EdgeError::Fatal {
                context: "aborting at revocation",
                source,
            });
        }
        Ok(std::mem::take(&mut txn.aborted))
    }

    /// Sends the batch's offsets and commits. On an abortable error: abort and rewind;
    /// refused by the consent check: abort and replay.
    fn commit(&mut self, batch: &mut Batch) -> Result<(), EdgeError> {
        let started = Instant::now();
        match self.try_commit(batch) {
            Ok(()) => {}
            Err(Refused::Kafka(e)) => return self.abort(batch, e),
            Err(Refused::Consent(why, changed)) => return self.replay(batch, why, changed),
        }
        lock(&self.mode.txn).open = false;
        let next: Vec<(i32, i64)> = batch.next.iter().map(|(p, o)| (*p, *o)).collect();
        lock(&self.mode.streak).committed(&next);
        let m = self.shared.metrics;
        m.abort_streak(self.slot, 0);
        m.txn(true, started.elapsed());
        for at in &batch.consumed_at {
            m.delivered(at.elapsed());
        }
        m.records_out(OutTopic::Anonymous, batch.report.counts.anonymous);
        m.records_out(OutTopic::Personal, batch.report.counts.personal);
        m.records_out(OutTopic::DeadLetter, batch.report.counts.dead_letters);
        self.report.merge(&batch.report);
        batch.clear();
        batch.replays.committed();
        Ok(())
    }

    fn try_commit(&self, batch: &Batch) -> Result<(), Refused> {
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
        // The consent check right before the offsets go: a refusal then aborts a
        // transaction holding outputs only, the abort path every abortable error takes
        // (aborting after the offsets were added met INVALID_TXN_STATE at a following
        // revocation under load). A fresh view proves every consent written up to its
        // stamp is applied, so the change log read after it has every withdrawal older
        // than the staleness bound; the offsets and commit follow within milliseconds.
        self.consent_check(&batch.watch)?;
        retrying("sending offsets", || {
            self.producer
                .send_offsets_to_transaction(&tpl, &gm, CALL_TIMEOUT)
        })?;
        retrying("committing", || {
            self.producer.commit_transaction(CALL_TIMEOUT)
        })?;
        Ok(())
    }

    /// Whether the batch's personal records may become visible: none, or the view is
    /// fresh and none of their users changed since their decision.
    fn consent_check(&self, watch: &ChangeWatch) -> Result<(), Refused> {
        if watch.is_empty() {
            return Ok(());
        }
        if !self.view_fresh() && !self.fresh_within(STALE_GRACE) {
            return Err(Refused::Consent(Replay::Stale, Vec::new()));
        }
        match self.shared.state.changed_since(watch) {
            Changed::Nothing => Ok(()),
            Changed::Users(users) => Err(Refused::Consent(Replay::Changed, users)),
            Changed::Unknown => Err(Refused::Consent(Replay::Changed, watch.keys().collect())),
        }
    }

    /// Waits up to `grace` for the consent view to be fresh again. A view just past the
    /// bound is most often the table thread a turn late on a loaded machine; replaying a
    /// whole batch for that costs far more than this wait, which stays well inside the
    /// transaction timeout.
    fn fresh_within(&self, grace: Duration) -> bool {
        let until = Instant::now() + grace;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
            if self.view_fresh() {
                return true;
            }
        }
        false
    }

    fn abort(&mut self, batch: &mut Batch, e: KafkaError) -> Result<(), EdgeError> {
        if is_fatal(&e) {
            return Err(txn_fatal(
                self.shared.metrics,
                "committing a transaction",
                e,
            ));
        }
        let inputs = batch.inputs;
        if let Err(failed) = self.abort_and_rewind(batch) {
            // The broker may refuse the abort itself after denying the transaction a
            // topic (Kafka 4 answers INVALID_TXN_STATE after a failed AddPartitionsToTxn):
            // the denial is the cause worth naming, and the broker says which topic.
            let refused = lock(&self.mode.txn).refused.take();
            let denied = refused.as_ref().is_some_and(|r| is_authorization(r.code))
                || e.rdkafka_error_code().is_some_and(is_authorization);
            if !denied {
                return Err(failed);
            }
            return Err(self.missing_permission().unwrap_or_else(|| {
                EdgeError::AuthorizationFailed(format!(
                    "the transaction's topics ({e}; aborting it then failed: {failed})"
                ))
            }));
        }
        // Taken after the abort: a refused delivery's report can come after the send or
        // commit that failed because of it, and aborting serves every pending report.
        let refused = lock(&self.mode.txn).refused.take();
        let max = self.shared.config.delivery.max_consecutive_aborts;
        let mut streak = lock(&self.mode.streak);
        let verdict = streak.aborted(&e, refused, max);
        let n = streak.aborts();
        drop(streak);
        self.shared.metrics.abort_streak(self.slot, n);
        match verdict {
            Verdict::Stop(stop) => {
                log::with(
                    log::Level::Error,
                    &format!(
                        "transaction of {inputs} inputs aborted ({e}); {n} in a row, the bound: stopping"
                    ),
                    &abort_fields(inputs, n),
                );
                Err(stop)
            }
            Verdict::Retry(wait) => {
                log::with(
                    log::Level::Warn,
                    &format!(
                        "transaction of {inputs} inputs aborted ({e}); {n} in a row: rewound to the committed offsets, retrying in {} ms",
                        wait.as_millis()
                    ),
                    &abort_fields(inputs, n),
                );
                self.back_off(wait);
                Ok(())
            }
        }
    }

    /// Waits `wait` before the retry, in short steps so a stop is not held up. The
    /// consumer is not polled meanwhile; librdkafka's own thread keeps the membership.
    fn back_off(&self, wait: Duration) {
        let until = Instant::now() + wait;
        while Instant::now() < until && !self.shared.stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
    }

    /// The consent check refused the commit: abort, rewind, and let the inputs be
    /// decided again under the consent as it is now. `changed` (users whose change
    /// caused it) feeds the replay bound.
    fn replay(
        &mut self,
        batch: &mut Batch,
        why: Replay,
        changed: Vec<ChangeKey>,
    ) -> Result<(), EdgeError> {
        let cause = match why {
            Replay::Changed => format!(
                "the consent of {} of its {} users with personal records changed after the decision",
                changed.len(),
                batch.watch.len()
            ),
            Replay::Stale => "the consent view was stale at commit".to_string(),
        };
        if why == Replay::Changed {
            batch.replays.replayed(changed);
        }
        log::with(
            log::Level::Info,
            &format!(
                "transaction of {} inputs aborted before commit ({cause}); replaying from the committed offsets ({} in a row)",
                batch.inputs, batch.replays.in_a_row
            ),
            &[
                ("inputs", log::Field::Int(batch.inputs as i64)),
                ("replay", log::Field::Code(why.label())),
                (
                    "in_a_row",
                    log::Field::Int(i64::from(batch.replays.in_a_row)),
                ),
            ],
        );
        self.shared.metrics.consent_replay(why);
        self.abort_and_rewind(batch)
    }

    fn abort_and_rewind(&mut self, batch: &mut Batch) -> Result<(), EdgeError> {
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
        let first = std::mem::take(&mut batch.first);
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
        // The inputs must not be skipped, so the rewind waits out a broker that is down
        // (a restart, a coordinator moving: the replay paths can abort right then)
        // rather than giving up after one call's timeout.
        let mut attempt = 1;
        let committed = loop {
            match self
                .consumer
                .committed_offsets(assignment.clone(), CALL_TIMEOUT)
            {
                Ok(c) => break c,
                Err(e) if attempt < REWIND_ATTEMPTS && !is_fatal(&e) => {
                    log::warn(&format!(
                        "rewind: committed offsets not read ({e}); asking again ({attempt}/{REWIND_ATTEMPTS})"
                    ));
                    attempt += 1;
                }
                Err(source) => {
                    return Err(EdgeError::Fatal {
                        context: "reading committed offsets to rewind",
                        source,
                    });
                }
            }
        };
        for e in committed.elements() {
            let Some(to) = rewind_target(e.offset(), first.get(&e.partition()).copied()) else {
                continue;
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

/// Where a rewind moves a partition: its committed offset; without one (nothing ever
/// committed there) the first input the aborted batch read from it, so the partition
/// replays what it read and no more — it started where `auto.offset.reset` put it, and
/// going to the beginning would process records that setting chose to skip. `None`:
/// the batch read nothing there, so its position is still where it started.
fn rewind_target(committed: Offset, first_in_batch: Option<i64>) -> Option<Offset> {
    match committed {
        Offset::Offset(o) => Some(Offset::Offset(o)),
        _ => first_in_batch.map(Offset::Offset),
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

/// The structured fields of an aborted transaction's log line.
fn abort_fields(inputs: usize, in_a_row: u32) -> [(&'static str, log::Field); 2] {
    [
        (
            "inputs",
            log::Field::Int(i64::try_from(inputs).unwrap_or(i64::MAX)),
        ),
        ("in_a_row", log::Field::Int(i64::from(in_a_row))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewind_never_goes_before_what_the_partition_started_at() {
        // Committed: there.
        assert_eq!(
            rewind_target(Offset::Offset(40), Some(45)),
            Some(Offset::Offset(40))
        );
        // Never committed: the batch's first input, not the beginning.
        assert_eq!(
            rewind_target(Offset::Invalid, Some(1_000)),
            Some(Offset::Offset(1_000))
        );
        // Never committed and nothing read: left where it is.
        assert_eq!(rewind_target(Offset::Invalid, None), None);
    }
    use crate::pipeline::{PersonalOutcome, Produced};
    use crate::policy::Decision;
    use crate::state::State;

    fn event(user: Option<&str>) -> Outputs {
        let made = || PersonalOutcome {
            decision: Decision::Personal,
            record: Some(Produced {
                key: user.map(str::to_owned),
                value: b"{}".to_vec(),
            }),
        };
        Outputs::Event {
            anonymous: Produced {
                key: None,
                value: b"{}".to_vec(),
            },
            // Three outputs, two with a record: those are watched, or withheld, together.
            personal: vec![
                made(),
                PersonalOutcome {
                    decision: Decision::PurposeNotGranted,
                    record: None,
                },
                made(),
            ],
            user_id: user.map(str::to_owned),
            misses: Vec::new(),
        }
    }

    fn has_personal(out: &Outputs) -> bool {
        let Outputs::Event { personal, .. } = out else {
            return false;
        };
        let made = personal.iter().filter(|p| p.record.is_some()).count();
        assert!(made == 0 || made == 2, "both records or neither: {made}");
        made > 0
    }

    #[test]
    fn replays_withhold_the_changed_users_then_everyone_until_a_commit() {
        let state = State::default();
        let (flapper, other) = (state.change_key("flapper"), state.change_key("other"));
        let mut r = Replays::default();
        for _ in 1..WITHHOLD_CHANGED_AFTER {
            r.replayed([flapper]);
            assert!(
                !r.withholds(flapper),
                "a few replays re-decide, nothing more"
            );
        }
        r.replayed([flapper]);
        assert!(r.withholds(flapper));
        assert!(
            !r.withholds(other),
            "only the users whose changes caused them"
        );
        while r.in_a_row < WITHHOLD_ALL_AFTER {
            r.replayed([]);
        }
        assert!(
            r.withholds(other),
            "then nobody, so the next attempt commits"
        );
        r.committed();
        assert!(!r.withholds(flapper) && !r.withholds(other));
    }

    #[test]
    fn a_batch_watches_personal_records_and_withholds_what_the_bound_says() {
        let state = State::default();
        let key = |u: &str| state.change_key(u);
        let mut batch = Batch::default();
        let mut out = event(Some("u1"));
        assert_eq!(0, batch.watch_or_withhold(&mut out, 7, key));
        assert!(has_personal(&out));
        assert_eq!(batch.watch.keys().collect::<Vec<_>>(), [key("u1")]);
        // Cleared with the batch; the replay bound's memory is not.
        for _ in 0..WITHHOLD_CHANGED_AFTER {
            batch.replays.replayed([key("u1")]);
        }
        batch.clear();
        assert!(batch.watch.is_empty());
        let mut out = event(Some("u1"));
        assert_eq!(2, batch.watch_or_withhold(&mut out, 8, key));
        assert!(!has_personal(&out), "withheld: the anonymous record stays");
        assert!(batch.watch.is_empty());
        let mut out = event(Some("u2"));
        assert_eq!(0, batch.watch_or_withhold(&mut out, 8, key));
        assert!(has_personal(&out));
        // A personal record without a user to watch is not sent (fail closed).
        let mut out = event(None);
        assert_eq!(2, batch.watch_or_withhold(&mut out, 8, key));
        assert!(!has_personal(&out));
    }
}

//! The user tables as global tables: reads `users.consent`, `users.profile` and
//! `users.erasure` from the beginning of every partition into `State` before the worker
//! may process an event, then keeps applying changes live, and drives the erasure
//! follow-through (`audit`) on the same thread. It owns table loading and freshness
//! tracking; it never processes raw events and never logs record contents.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::audit::AuditPublisher;
use super::clock::{FreshStamp, Mono};
use super::{EdgeError, LogContext, Role, client_config, set_default};
use crate::config::Config;
use crate::log;
use crate::model::table_record_reason;
use crate::pipeline::Core;
use crate::state::{Arrival, ERASURE_TOMBSTONE_HEADER, State};
use crate::telemetry::{InTopic, Metrics, OutTopic};

const POLL: Duration = Duration::from_millis(100);
/// How long one turn of the live loop applies table records before serving erasures
/// and the freshness check.
const LIVE_DRAIN: Duration = Duration::from_millis(50);
/// How often start-up loading compares positions with the end offsets while records flow.
const CATCH_UP_CHECK_EVERY: Duration = Duration::from_millis(50);
/// How often start-up loading logs how far it got.
const LOAD_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Which table a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Consent,
    Profile,
    Erasure,
}

/// The running table reader.
pub struct Tables {
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// When, on the monotonic clock (a wall-clock step must not make a stale view look
    /// fresh), the reader last saw itself caught up with the consent topic's end offsets.
    pub consent_fresh: Arc<FreshStamp>,
}

impl Tables {
    /// Stops the reader thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Tables {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

struct Reader {
    consumer: BaseConsumer<LogContext>,
    topics: HashMap<String, Table>,
    state: Arc<State>,
    metrics: Arc<Metrics>,
    applied: [u64; 3],
    bad: u64,
    /// Per `users.erasure` partition, the offset after the last record applied: the audit
    /// publisher waits for it, so an audit record never precedes the erasure here.
    erasure_applied: HashMap<i32, i64>,
    /// Unreadable table records go to the dead-letter topic (after being applied fail
    /// closed), so none is dropped silently.
    dead_letters: ThreadedProducer<DeadLetterDeliveries>,
    dead_letter_topic: String,
}

/// Counts a table dead letter when it is acknowledged, logs one that was not (never its
/// content).
struct DeadLetterDeliveries {
    metrics: Arc<Metrics>,
}

impl rdkafka::ClientContext for DeadLetterDeliveries {}

impl rdkafka::producer::ProducerContext for DeadLetterDeliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.metrics.records_out(OutTopic::DeadLetter, 1),
            Err((e, m)) => log::error(&format!(
                "dead letter of an unreadable table record ({}/{}) not delivered: {e}",
                m.topic(),
                m.partition()
            )),
        }
    }
}

/// Loads every table to its end offsets (blocking, logging progress), then keeps them
/// current in a thread. `None` when `stop` was set while loading (SIGTERM during a long
/// load ends the process cleanly, without waiting for the load to finish).
pub fn load(
    config: &Config,
    state: Arc<State>,
    core: Arc<Core>,
    metrics: Arc<Metrics>,
    stop: &AtomicBool,
) -> Result<Option<Tables>, EdgeError> {
    let started = Instant::now();
    let t = &config.topics;
    let mut cc = client_config(&config.kafka, Role::Consumer);
    set_default(
        &mut cc,
        "group.id",
        &format!("{}.tables", config.kafka.group_id),
    );
    cc.set("enable.auto.commit", "false");
    set_default(&mut cc, "isolation.level", "read_committed");
    set_default(&mut cc, "auto.offset.reset", "earliest");
    let consumer: BaseConsumer<LogContext> =
        cc.create_with_context(LogContext)
            .map_err(|source| EdgeError::Fatal {
                context: "creating the table consumer",
                source,
            })?;
    // The probe reads end offsets as upstream wrote them (the high watermark), not the
    // last stable offset a read_committed client is given: a consent partition held back
    // by an open upstream transaction is not caught up, so the fence holds (fail closed)
    // until that transaction ends instead of declaring a partial view fresh. Not a
    // default: the guarantee depends on it.
    let mut pc = cc.clone();
    pc.set("isolation.level", "read_uncommitted");
    let probe: BaseConsumer<LogContext> =
        pc.create_with_context(LogContext)
            .map_err(|source| EdgeError::Fatal {
                context: "creating the end-offset probe",
                source,
            })?;
    super::check_topics(
        &consumer,
        &config.kafka,
        &[&t.consent, &t.profile, &t.erasure],
    )?;
    let topics: HashMap<String, Table> = [
        (t.consent.clone(), Table::Consent),
        (t.profile.clone(), Table::Profile),
        (t.erasure.clone(), Table::Erasure),
    ]
    .into();
    let ends = end_offsets(&consumer, &topics, super::startup_timeout(&config.kafka))?;
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in ends.keys() {
        tpl.add_partition_offset(topic, *partition, Offset::Beginning)
            .map_err(|source| EdgeError::Fatal {
                context: "assigning table partitions",
                source,
            })?;
    }
    consumer.assign(&tpl).map_err(|source| EdgeError::Fatal {
        context: "assigning table partitions",
        source,
    })?;
    let mut pc = client_config(&config.kafka, Role::Producer);
    set_default(&mut pc, "enable.idempotence", "true");
    let dead_letters = pc
        .create_with_context(DeadLetterDeliveries {
            metrics: Arc::clone(&metrics),
        })
        .map_err(|source| EdgeError::Fatal {
            context: "creating the table dead-letter producer",
            source,
        })?;
    let mut reader = Reader {
        consumer,
        topics,
        state,
        metrics,
        applied: [0; 3],
        erasure_applied: HashMap::new(),
        bad: 0,
        dead_letters,
        dead_letter_topic: t.dead_letter.clone(),
    };
    // Asking every partition's position after each record made loading cost a lock
    // round per record (about 12k records/s here): ask when the queue runs dry or every
    // 50 ms.
    let mut asked = Instant::now();
    let mut reported = Instant::now();
    let to_read: i64 = ends.values().map(|(lo, hi)| hi - lo).sum();
    loop {
        let got = reader.poll_once(POLL);
        if got && asked.elapsed() < CATCH_UP_CHECK_EVERY {
            continue;
        }
        asked = Instant::now();
        if reader.caught_up(&ends) {
            break;
        }
        if stop.load(Ordering::SeqCst) {
            log::info("stop requested while loading the tables: stopping");
            return Ok(None);
        }
        if reported.elapsed() >= LOAD_PROGRESS_EVERY {
            reported = Instant::now();
            log::info(&format!(
                "loading tables: {} records applied in {} s (at most {to_read} to read)",
                reader.applied.iter().sum::<u64>(),
                started.elapsed().as_secs()
            ));
        }
    }
    let s = reader.state.sizes();
    log::info(&format!(
        "tables loaded in {} ms: {} consent, {} profile, {} erasure records applied ({} unreadable); {} users with consent, {} profiles, {} erased",
        started.elapsed().as_millis(),
        reader.applied[0],
        reader.applied[1],
        reader.applied[2],
        reader.bad,
        s.consents,
        s.profiles,
        s.erased
    ));
    let fresh = Arc::new(FreshStamp::new(Mono::now()));
    let stop = Arc::new(AtomicBool::new(false));
    let audit = AuditPublisher::new(config, core, Arc::clone(&reader.metrics))?;
    let handle = {
        let (fresh, stop) = (Arc::clone(&fresh), Arc::clone(&stop));
        let consent_topic = t.consent.clone();
        std::thread::Builder::new()
            .name("tables".into())
            .spawn(move || live(probe, reader, audit, &consent_topic, &fresh, &stop))
            .map_err(|e| EdgeError::DeliveryFailed(format!("cannot start the table thread: {e}")))?
    };
    Ok(Some(Tables {
        handle: Some(handle),
        stop,
        consent_fresh: fresh,
    }))
}

type Ends = HashMap<(String, i32), (i64, i64)>;

/// Every table partition's watermarks. A partition of a topic created moments ago may
/// have no leader yet (`NotLeaderForPartition`, `LeaderNotAvailable`): such answers are
/// asked again until `timeout`, and only then reported.
fn end_offsets(
    consumer: &BaseConsumer<LogContext>,
    topics: &HashMap<String, Table>,
    timeout: Duration,
) -> Result<Ends, EdgeError> {
    let deadline = Instant::now() + timeout;
    let mut ends = HashMap::new();
    for topic in topics.keys() {
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(|source| EdgeError::Fatal {
                context: "reading table metadata",
                source,
            })?;
        for m in md.topics() {
            for p in m.partitions() {
                let marks = loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match consumer.fetch_watermarks(topic, p.id(), left) {
                        Err(e) if Instant::now() < deadline => {
                            log::warn(&format!(
                                "table end offsets of {topic}/{}: {e}; asking again",
                                p.id()
                            ));
                            std::thread::sleep(Duration::from_millis(200));
                        }
                        r => break r,
                    }
                };
                let (lo, hi) = marks.map_err(|source| EdgeError::Fatal {
                    context: "reading table end offsets",
                    source,
                })?;
                ends.insert((topic.clone(), p.id()), (lo, hi));
            }
        }
    }
    Ok(ends)
}

impl Reader {
    /// Applies what the table consumer has ready, for up to `LIVE_DRAIN`: one record
    /// per turn of the live loop (which also waits on the audit consumer) applied about
    /// ten records a second, so a burst of consent changes held the staleness fence
    /// shut for minutes.
    fn drain(&mut self) {
        let until = Instant::now() + LIVE_DRAIN;
        let mut wait = Duration::from_millis(10);
        while self.poll_once(wait) && Instant::now() < until {
            wait = Duration::ZERO;
        }
    }

    /// Applies at most one record; returns whether the consumer handed one over.
    fn poll_once(&mut self, wait: Duration) -> bool {
        let Some(polled) = self.consumer.poll(wait) else {
            return false;
        };
        let outcome = match polled {
            Ok(msg) => {
                let future_before = self.state.future_dated();
                let outcome = apply(&self.topics, &self.state, &msg);
                if self.state.future_dated() > future_before {
                    // Where, never what: the value is personal data.
                    log::warn(&format!(
                        "a table record at {}/{}@{} has an updated_at more than \
                         limits.max_clock_skew_ms ahead of its write time; treated as that time",
                        msg.topic(),
                        msg.partition(),
                        msg.offset()
                    ));
                }
                if let Some((Table::Erasure, _)) = outcome {
                    self.erasure_applied
                        .insert(msg.partition(), msg.offset() + 1);
                }
                if let Some((table, false)) = outcome {
                    self.dead_letter(&msg, table);
                }
                outcome
            }
            Err(e) => {
                log::warn(&format!("table consumer: {e}"));
                None
            }
        };
        if let Some((table, ok)) = outcome {
            self.applied[table as usize] += 1;
            self.bad += u64::from(!ok);
            self.metrics.record_in(match table {
                Table::Consent => InTopic::Consent,
                Table::Profile => InTopic::Profile,
                Table::Erasure => InTopic::Erasure,
            });
        }
        true
    }

    /// Assigns, from their beginning, table partitions that exist now but are not
    /// assigned (added to a topic while the worker runs); returns how many. A metadata
    /// error counts as one, so the fence stays shut rather than trusting a partial view.
    fn assign_new_partitions(&mut self, probe: &BaseConsumer<LogContext>) -> usize {
        let Ok(assigned) = self.consumer.assignment() else {
            return 1;
        };
        let mut new = TopicPartitionList::new();
        let mut failed = 0;
        for topic in self.topics.keys() {
            let md = match probe.fetch_metadata(Some(topic), Duration::from_secs(1)) {
                Ok(md) => md,
                Err(_) => {
                    failed += 1;
                    continue;
                }
            };
            for p in md.topics().iter().flat_map(|t| t.partitions()) {
                if assigned.find_partition(topic, p.id()).is_none() {
                    log::info(&format!(
                        "table partition {topic}/{} appeared; reading it from the beginning",
                        p.id()
                    ));
                    let _ = new.add_partition_offset(topic, p.id(), Offset::Beginning);
                }
            }
        }
        let added = new.count();
        if added > 0
            && let Err(e) = self.consumer.incremental_assign(&new)
        {
            log::warn(&format!("assigning new table partitions failed: {e}"));
        }
        added + failed
    }

    /// Sends an unreadable table record to the dead-letter topic, unchanged, with the
    /// same `dlq.*` headers a raw record gets (its own topic as the source).
    fn dead_letter(&self, msg: &BorrowedMessage<'_>, table: Table) {
        let reason = table_record_reason(msg.payload());
        self.metrics.table_dead_letter(reason);
        let detail = format!("unreadable {table:?} record, applied fail closed");
        let (partition, offset) = (msg.partition().to_string(), msg.offset().to_string());
        let headers = [
            ("dlq.reason", reason.code()),
            ("dlq.detail", detail.as_str()),
            ("dlq.source.topic", msg.topic()),
            ("dlq.source.partition", partition.as_str()),
            ("dlq.source.offset", offset.as_str()),
        ]
        .into_iter()
        .fold(OwnedHeaders::new(), |h, (key, v)| {
            h.insert(Header {
                key,
                value: Some(v.as_bytes()),
            })
        });
        let mut rec = BaseRecord::<[u8], [u8]>::to(&self.dead_letter_topic).headers(headers);
        if let Some(k) = msg.key() {
            rec = rec.key(k);
        }
        if let Some(v) = msg.payload() {
            rec = rec.payload(v);
        }
        if let Err((e, _)) = self.dead_letters.send(rec) {
            log::error(&format!(
                "dead letter of an unreadable {table:?} record not sent: {e}"
            ));
        }
    }

    /// True when every partition's position has reached the end offset taken at start
    /// (or the partition is empty). Positions skip transaction markers, which raw
    /// message offsets would not.
    fn caught_up(&self, ends: &Ends) -> bool {
        let Ok(pos) = self.consumer.position() else {
            return false;
        };
        ends.iter().all(|((topic, partition), (lo, hi))| {
            if lo == hi {
                return true;
            }
            match pos.find_partition(topic, *partition).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o >= *hi,
                _ => false,
            }
        })
    }
}

/// Applies one table record; returns its table and whether it could be read.
fn apply(
    topics: &HashMap<String, Table>,
    state: &State,
    msg: &BorrowedMessage<'_>,
) -> Option<(Table, bool)> {
    let table = topics.get(msg.topic()).copied()?;
    let key = msg.key().and_then(|k| std::str::from_utf8(k).ok());
    let ok = match table {
        Table::Consent => state.apply_consent_record(key, msg.payload(), &arrival(msg)),
        Table::Profile => state.apply_profile_record(key, msg.payload(), &arrival(msg)),
        Table::Erasure => state
            .apply_erasure_record(key, msg.payload(), &arrival(msg))
            .readable(),
    };
    if !ok {
        log::with(
            log::Level::Warn,
            &format!(
                "unreadable {table:?} record at {}/{}@{} (its key's consent is removed, an erasure's key is erased: fail closed)",
                msg.topic(),
                msg.partition(),
                msg.offset()
            ),
            &[
                ("topic", log::Field::Name(msg.topic().to_string())),
                ("partition", log::Field::Int(i64::from(msg.partition()))),
                ("offset", log::Field::Int(msg.offset())),
            ],
        );
    }
    Some((table, ok))
}

/// What the ordering rules need of a table record's arrival: its Kafka timestamp, and
/// whether it is a tombstone this worker wrote for an erasure (its header says which).
fn arrival(msg: &BorrowedMessage<'_>) -> Arrival {
    let written_at = msg
        .timestamp()
        .to_millis()
        .and_then(chrono::DateTime::from_timestamp_millis);
    let erasure_at = msg
        .payload()
        .is_none()
        .then(|| {
            super::headers::raw(msg)
                .find(|(name, _)| *name == ERASURE_TOMBSTONE_HEADER.as_bytes())
                .and_then(|(_, v)| v)
        })
        .flatten()
        .and_then(|v| std::str::from_utf8(v).ok()?.parse::<i64>().ok())
        .and_then(chrono::DateTime::from_timestamp_millis);
    Arrival {
        written_at,
        erasure_at,
        now: chrono::Utc::now(),
    }
}

fn live(
    probe: BaseConsumer<LogContext>,
    mut reader: Reader,
    mut audit: AuditPublisher,
    consent_topic: &str,
    fresh: &FreshStamp,
    stop: &AtomicBool,
) {
    // Readiness says whether this thread runs; the guard clears it however it ends.
    let _running = Running::start(Arc::clone(&reader.metrics));
    let mut last_check = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        reader.drain();
        if let Err(e) = audit.poll_once(&reader.erasure_applied) {
            // Ends this thread: readiness turns 503 (the table reader stops with it),
            // so the denial is seen, never a silent gap in the audit trail.
            crate::log::error(&format!("{e}; the table reader and audit publisher stop"));
            break;
        }
        if last_check.elapsed() >= Duration::from_millis(200) {
            last_check = Instant::now();
            // The time taken *before* asking for the end offsets: being caught up with
            // them proves every consent written before this instant is applied.
            let asked_at = Mono::now();
            // A partition added to a table since the last check is read from its
            // beginning, and the fence is not fresh until it has been.
            let added = reader.assign_new_partitions(&probe);
            if added == 0 && consent_caught_up(&reader.consumer, &probe, consent_topic) {
                fresh.set(asked_at);
            }
            reader.metrics.state_sizes(reader.state.sizes());
        }
    }
    audit.close();
}

/// Marks the table reader running in the metrics until dropped.
struct Running(Arc<Metrics>);

impl Running {
    fn start(metrics: Arc<Metrics>) -> Running {
        metrics.tables_running.store(true, Ordering::SeqCst);
        Running(metrics)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.tables_running.store(false, Ordering::SeqCst);
    }
}

/// Compares the consumer's position with the consent topic's high watermarks, asked
/// through `probe`: a read_uncommitted client that does not fetch, because on the reader's own connection the
/// request would queue behind a fetch long-poll (up to `fetch.wait.max.ms`).
fn consent_caught_up(
    consumer: &BaseConsumer<LogContext>,
    probe: &BaseConsumer<LogContext>,
    topic: &str,
) -> bool {
    let Ok(pos) = consumer.position() else {
        return false;
    };
    pos.elements_for_topic(topic).iter().all(|e| {
        let Ok((lo, hi)) = probe.fetch_watermarks(topic, e.partition(), Duration::from_secs(1))
        else {
            return false;
        };
        lo == hi || matches!(e.offset(), Offset::Offset(o) if o >= hi)
    })
}

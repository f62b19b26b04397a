//! The user tables as global tables: reads `users.consent`, `users.profile` and
//! `users.erasure` from the beginning of every partition into `State` before the worker
//! may process an event, then keeps applying changes live. It also publishes one audit
//! record per erasure request through its own consumer group. It owns table loading and
//! freshness tracking; it never processes raw events and never logs record contents.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::clock::{FreshStamp, Mono};
use super::{EdgeError, LogContext, Role, client_config, set_default, settle};
use crate::config::Config;
use crate::log;
use crate::model::ErasureRequest;
use crate::pipeline::Core;
use crate::state::{ErasureOutcome, State};
use crate::telemetry::{InTopic, Metrics, OutTopic};

const POLL: Duration = Duration::from_millis(100);
/// How long one turn of the live loop applies table records before serving erasures
/// and the freshness check.
const LIVE_DRAIN: Duration = Duration::from_millis(50);
/// How often start-up loading compares positions with the end offsets while records flow.
const CATCH_UP_CHECK_EVERY: Duration = Duration::from_millis(50);

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
}

/// Loads every table to its end offsets (blocking), then keeps them current in a thread.
pub fn load(
    config: &Config,
    state: Arc<State>,
    core: Arc<Core>,
    metrics: Arc<Metrics>,
) -> Result<Tables, EdgeError> {
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
    let mut reader = Reader {
        consumer,
        topics,
        state,
        metrics,
        applied: [0; 3],
        erasure_applied: HashMap::new(),
        bad: 0,
    };
    // Asking every partition's position after each record made loading cost a lock
    // round per record (about 12k records/s here): ask when the queue runs dry or every
    // 50 ms.
    let mut asked = Instant::now();
    loop {
        let got = reader.poll_once(POLL);
        if got && asked.elapsed() < CATCH_UP_CHECK_EVERY {
            continue;
        }
        asked = Instant::now();
        if reader.caught_up(&ends) {
            break;
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
    Ok(Tables {
        handle: Some(handle),
        stop,
        consent_fresh: fresh,
    })
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
                let outcome = apply(&self.topics, &self.state, &msg);
                if let Some((Table::Erasure, _)) = outcome {
                    self.erasure_applied
                        .insert(msg.partition(), msg.offset() + 1);
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
        Table::Consent => state.apply_consent_record(key, msg.payload()),
        Table::Profile => state.apply_profile_record(key, msg.payload()),
        Table::Erasure => state
            .apply_erasure_record(key, msg.payload(), chrono::Utc::now())
            .readable(),
    };
    if !ok {
        log::warn(&format!(
            "unreadable {table:?} record at {}/{}@{} (its key's consent is removed, an erasure's key is erased: fail closed)",
            msg.topic(),
            msg.partition(),
            msg.offset()
        ));
    }
    Some((table, ok))
}

fn live(
    probe: BaseConsumer<LogContext>,
    mut reader: Reader,
    mut audit: AuditPublisher,
    consent_topic: &str,
    fresh: &FreshStamp,
    stop: &AtomicBool,
) {
    let mut last_check = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        reader.drain();
        audit.poll_once(&reader.erasure_applied);
        if last_check.elapsed() >= Duration::from_millis(200) {
            last_check = Instant::now();
            // The time taken *before* asking for the end offsets: being caught up with
            // them proves every consent written before this instant is applied.
            let asked_at = Mono::now();
            if consent_caught_up(&reader.consumer, &probe, consent_topic) {
                fresh.set(asked_at);
            }
            reader.metrics.state_sizes(reader.state.sizes());
        }
    }
    audit.close();
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

/// Publishes one `erasure.completed` audit record per erasure request, at least once,
/// through the consumer group `<group_id>.audit`: its committed offsets are what makes
/// a restart not repeat every audit record ever written.
struct AuditPublisher {
    metrics: Arc<Metrics>,
    consumer: BaseConsumer<DefaultConsumerContext>,
    producer: ThreadedProducer<DefaultProducerContext>,
    core: Arc<Core>,
    topic: String,
    /// A request waiting for the table reader, or for its audit record to be delivered.
    held: Option<OwnedMessage>,
}

impl AuditPublisher {
    fn new(
        config: &Config,
        core: Arc<Core>,
        metrics: Arc<Metrics>,
    ) -> Result<AuditPublisher, EdgeError> {
        let fatal = |source| EdgeError::Fatal {
            context: "creating the audit publisher",
            source,
        };
        let mut cc = client_config(&config.kafka, Role::Consumer);
        cc.set("group.id", format!("{}.audit", config.kafka.group_id));
        cc.set("enable.auto.offset.store", "false");
        set_default(&mut cc, "auto.offset.reset", "earliest");
        let consumer: BaseConsumer = cc.create().map_err(fatal)?;
        consumer
            .subscribe(&[&config.topics.erasure])
            .map_err(fatal)?;
        let mut pc = client_config(&config.kafka, Role::Producer);
        set_default(&mut pc, "enable.idempotence", "true");
        let producer: ThreadedProducer<DefaultProducerContext> = pc.create().map_err(fatal)?;
        Ok(AuditPublisher {
            metrics,
            consumer,
            producer,
            core,
            topic: config.topics.audit.clone(),
            held: None,
        })
    }

    /// Audits at most one erasure request. A request is audited only once this
    /// process's table reader has applied it (`applied`: next offset per partition), so
    /// the record never says "completed" ahead of the erasure; until then it is held.
    fn poll_once(&mut self, applied: &HashMap<i32, i64>) {
        let msg = match self.held.take() {
            Some(m) => m,
            // Not zero: a poll serves one queued event (log line, statistics, rebalance),
            // so with librdkafka debug logging on a zero timeout would starve the messages.
            None => match self.consumer.poll(Duration::from_millis(20)) {
                Some(Ok(m)) => m.detach(),
                _ => return,
            },
        };
        if applied
            .get(&msg.partition())
            .is_none_or(|next| *next <= msg.offset())
        {
            self.held = Some(msg);
            return;
        }
        // The request's id and time, read for the audit record only: applying it was the
        // table reader's (`State::apply_erasure_record`, fail closed on unreadable ones).
        let outcome = msg
            .payload()
            .and_then(|p| serde_json::from_slice::<ErasureRequest>(p).ok())
            .map(|req| ErasureOutcome::of(&req));
        if let Some(outcome) = outcome {
            let audit = self.core.audit(&outcome, chrono::Utc::now());
            let key = audit.key.as_deref().unwrap_or_default();
            let rec = BaseRecord::to(&self.topic).key(key).payload(&audit.value);
            // Erasures are rare: waiting for each audit record keeps the offset honest.
            let sent = self.producer.send(rec).map_err(|(e, _)| e).and_then(|()| {
                settle(&self.producer, Duration::from_secs(30))
                    .then_some(())
                    .ok_or(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
            });
            if let Err(e) = sent {
                // Keep this request so it is tried again, rather than letting a later
                // request's offset cover it.
                log::warn(&format!(
                    "audit record not delivered ({e}); retrying the request"
                ));
                self.held = Some(msg);
                return;
            }
            self.metrics.records_out(OutTopic::Audit, 1);
        }
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

    fn close(self) {
        settle(&self.producer, Duration::from_secs(10));
        let _ = self.consumer.commit_consumer_state(CommitMode::Sync);
    }
}

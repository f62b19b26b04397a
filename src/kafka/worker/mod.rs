//! The worker: consumes `usage.raw` as a consumer group, runs the pure core on each
//! record and produces its outputs, in one of two delivery modes (`exactly_once`, the
//! default, and `at_least_once`). In both, no event is processed while the consent view
//! is older than `delivery.max_consent_staleness_ms` (`fence`, checked each turn and
//! again right before each event), and SIGINT / SIGTERM stop fetching, finish the open
//! batch, commit and leave the group.
//!
//! This root owns the thread orchestration: loading the tables, `delivery.instances`
//! instances (one consumer with its own producer each) sharing them, readiness, the
//! merged `Report`, and the steps both modes share (build the clients, process one
//! record, send its outputs). Processing one record includes the edge's size check: an
//! output this instance's producer would refuse becomes the core's `output_too_large`
//! dead letter before either mode counts or sends it, so one record never stops the
//! worker. It picks the delivery mode once, by type; it must not
//! keep either mode's bookkeeping, never looks inside records (the core does) and never
//! logs their contents.

mod acks;
mod at_least_once;
mod context;
mod exactly_once;
mod fence;
mod produce;
mod retry;
mod streak;
mod unreadable;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::DeliveryResult;

use super::acls::{Need, check_permissions};
use super::clock::FreshStamp;
use super::{
    EdgeError, Role, check_output_limits, client_config, set_default, size_property,
    with_size_limits, with_statistics,
};
use crate::config::{Config, DeliveryMode};
use crate::log;
use crate::pipeline::{Core, Counts, Outputs, RawRecord, Source};
use crate::state::State;
use crate::telemetry::trace_context::HEADER_MAX as TRACE_HEADER_MAX;
use crate::telemetry::{AttrValue, InTopic, Metrics};
use at_least_once::Acknowledged;
use context::{Context, OutProducer};
use exactly_once::Transactions;
use fence::Fence;
use produce::Tag;
use unreadable::Unreadable;

const POLL: Duration = Duration::from_millis(100);
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
    /// Fresh starts of a consumer slot (fenced producer or consumer, see `RESTARTS`).
    pub restarts: u64,
}

impl Report {
    fn add(&mut self, out: &Outputs) {
        self.counts.add(out);
    }

    fn merge(&mut self, o: &Report) {
        self.counts.merge(&o.counts);
        self.aborts += o.aborts;
        self.restarts += o.restarts;
    }

    /// One log line of counts, personal outputs named by `names`.
    pub fn render(&self, names: &[&str]) -> String {
        format!(
            "{} aborts={} restarts={}",
            self.counts.render(names),
            self.aborts,
            self.restarts
        )
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded values are plain bookkeeping; a panic elsewhere already stops the
    // worker, so a poisoned lock's data is still the best information there is.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A delivery mode. The implementing type is the mode's state for one instance, shared
/// by its consume loop and librdkafka's callbacks (delivery reports on the producer's
/// polling thread, rebalances inside the consumer's `poll`), so a mode carries only its
/// own bookkeeping and nothing after `run_instance` asks which mode is running.
trait Mode: Sized + Send + Sync + 'static {
    /// A new instance's state.
    fn new(config: &Config) -> Self;
    /// Producer properties on top of the common ones.
    fn producer_config(pc: &mut ClientConfig, config: &Config, slot: usize);
    /// Consumer properties on top of the common ones.
    fn consumer_config(cc: &mut ClientConfig);
    /// The last step before subscribing.
    fn prepare(producer: &OutProducer<Self>, metrics: &Metrics) -> Result<(), EdgeError>;
    /// An output's delivery report.
    fn delivered(&self, metrics: &Metrics, tag: Tag, result: &DeliveryResult<'_>);
    /// Partitions about to be revoked: when this returns, they go.
    fn revoking(
        &self,
        consumer: &BaseConsumer<Context<Self>>,
        producer: &OutProducer<Self>,
        revoked: &[i32],
    );
    /// Consumes until `stop` is set or a fatal error.
    fn run(inst: &mut Instance<'_, Self>) -> Result<(), EdgeError>;
}

/// What every instance shares.
struct Shared<'a> {
    config: &'a Config,
    core: &'a Core,
    state: &'a State,
    stop: &'a AtomicBool,
    metrics: &'a Arc<Metrics>,
    /// When the table reader last saw itself caught up with the consent topic, on the
    /// monotonic clock.
    fresh: &'a FreshStamp,
    /// Instances subscribed so far.
    subscribed: &'a AtomicUsize,
    /// Each personal output's topic and trace rule, in the core's order.
    personal_routes: Vec<produce::PersonalRoute>,
    /// The core's personal output names, for the report.
    output_names: Vec<&'a str>,
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
    if config.kafka.allow_plaintext && config.sends_plaintext_off_host() {
        crate::log::warn(
            "kafka.allow_plaintext: data to the brokers is not encrypted (security.protocol does not use TLS)",
        );
    }
    metrics.name_outputs(&core.output_names());
    for warning in crate::config::third_party_disclosures(&config.personal_outputs()) {
        crate::log::warn(&warning);
    }
    super::connect(&config.kafka)?;
    // Once per process, not per consumer: every instance and the table reader share
    // one principal.
    check_needs(config)?;
    let Some(tables) = super::tables::load(
        config,
        Arc::clone(&state),
        Arc::clone(&core),
        Arc::clone(&metrics),
        &stop,
    )?
    else {
        return Ok(Report::default());
    };
    let subscribed = AtomicUsize::new(0);
    let shared = Shared {
        config,
        core: &core,
        state: &state,
        stop: &stop,
        metrics: &metrics,
        fresh: &tables.consent_fresh,
        subscribed: &subscribed,
        personal_routes: produce::PersonalRoute::all(config),
        output_names: core.output_names(),
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
            .map(|h| {
                let failed = |why: String| {
                    log::error(&why);
                    Err(EdgeError::DeliveryFailed(why))
                };
                match h {
                    Ok(h) => h
                        .join()
                        .unwrap_or_else(|_| failed("a worker thread panicked".into())),
                    Err(e) => failed(format!("cannot start a worker thread: {e}")),
                }
            })
            .collect()
    });
    metrics.ready.store(false, Ordering::SeqCst);
    tables.stop();
    let mut total = Report::default();
    let mut first_err = None;
    for r in results {
        match r {
            Ok(rep) => total.merge(&rep),
            // Each instance logged its own cause when it stopped.
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    log::info(&format!("stopped: {}", total.render(&core.output_names())));
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// Fresh starts of one consumer slot after its producer became unusable the ways Kafka 4
/// and librdkafka leave it without any other process being involved; beyond this the
/// error ends the process.
const RESTARTS: u32 = 3;

/// The instance's producer is unusable but nothing is lost: the transaction was never
/// committed, and a new producer with the same transactional.id fences and aborts it.
/// Two ways, both seen under load in CI: INVALID_TXN_STATE on an abort after a
/// rebalance, and a fencing after a broker stall (requests timed out, librdkafka bumped
/// the epoch, the coordinator answered PRODUCER_FENCED, and the static consumer was
/// fenced by its own rejoin). A real second process with the same transactional id is
/// fenced back by the fresh start and, after [`RESTARTS`], one of the two exits (7).
/// A consumer fenced by its static name comes here as `Fenced` too (`consumer_fatal`).
fn slot_restartable(e: &EdgeError) -> bool {
    match e {
        EdgeError::Fenced(_) => true,
        EdgeError::Fatal {
            source: rdkafka::error::KafkaError::Transaction(re),
            ..
        } => re.code() == rdkafka::error::RDKafkaErrorCode::InvalidTransactionalState,
        _ => false,
    }
}

fn run_instance(shared: &Shared<'_>, slot: usize) -> Result<Report, EdgeError> {
    let mut restarts = 0;
    // What every life committed, so a restart does not forget the earlier ones.
    let mut total = Report::default();
    let result = loop {
        let first = restarts == 0;
        let (life, r) = match shared.config.delivery.mode {
            DeliveryMode::ExactlyOnce => run_as::<Transactions>(shared, slot, first),
            DeliveryMode::AtLeastOnce => run_as::<Acknowledged>(shared, slot, first),
        };
        total.merge(&life);
        match r {
            Err(e)
                if restarts < RESTARTS
                    && slot_restartable(&e)
                    && !shared.stop.load(Ordering::SeqCst) =>
            {
                restarts += 1;
                total.restarts += 1;
                // The fresh producer is not fenced (it fences a stale one); it says so
                // again if another process takes the id back.
                shared.metrics.fenced.store(false, Ordering::SeqCst);
                log::warn(&format!(
                    "instance {slot}: {e}; starting it afresh from the committed offsets ({restarts}/{RESTARTS})"
                ));
            }
            r => break r.map(|()| total),
        }
    };
    if let Err(e) = &result {
        // Said now, not after the other instances and the table reader have stopped:
        // a shutdown that hangs must not hide its cause.
        log::error(&format!("instance {slot} stopped: {e}"));
        // One instance failing stops the process: the orchestrator restarts it whole,
        // which is simpler to reason about than a partially working worker.
        shared.stop.store(true, Ordering::SeqCst);
    }
    result
}

/// One life of an instance: what it committed, and how it ended; `first`: counted as
/// subscribed (readiness) only once.
fn run_as<M: Mode>(
    shared: &Shared<'_>,
    slot: usize,
    first: bool,
) -> (Report, Result<(), EdgeError>) {
    let mut inst = match Instance::<M>::new(shared, slot) {
        Ok(inst) => inst,
        Err(e) => return (Report::default(), Err(e)),
    };
    if first {
        shared.subscribed.fetch_add(1, Ordering::SeqCst);
    }
    let r = M::run(&mut inst);
    inst.close();
    (std::mem::take(&mut inst.report), r)
}

/// What the worker's principal must be allowed on which topic: its inputs, the tables
/// included, and its outputs.
fn needs(config: &Config) -> Vec<(String, Need)> {
    let t = &config.topics;
    let mut needs: Vec<(String, Need)> = [&t.raw, &t.consent, &t.profile, &t.erasure]
        .map(|i| (i.clone(), Need::Read))
        .into();
    needs.extend([&t.anonymous, &t.dead_letter, &t.audit].map(|o| (o.clone(), Need::Write)));
    needs.extend(
        config
            .personal_topics()
            .into_iter()
            .map(|t| (t, Need::Write)),
    );
    if config.erasure.tombstone_tables {
        needs.extend([&t.consent, &t.profile].map(|o| (o.clone(), Need::Write)));
    }
    needs
}

/// [`needs`] as the permission check takes them.
fn check_needs(config: &Config) -> Result<(), EdgeError> {
    let needs = needs(config);
    let needs: Vec<(&str, Need)> = needs.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    check_permissions(&config.kafka, &needs)
}

/// One consumer with its own producer.
impl<M: Mode> Instance<'_, M> {
    /// After the broker denied something mid-run: which of this instance's permissions
    /// is missing now, as the error to stop with (`None` if all are there, or the
    /// cluster cannot say).
    fn missing_permission(&self) -> Option<EdgeError> {
        let config = self.shared.config;
        check_needs(config).err()
    }
}

struct Instance<'a, M: Mode> {
    shared: &'a Shared<'a>,
    /// This instance's index in the process (`delivery.instances`).
    slot: usize,
    consumer: BaseConsumer<Context<M>>,
    /// Shared with the consumer's context: a revocation drains or aborts through it,
    /// also while the consumer closes on drop.
    producer: Arc<OutProducer<M>>,
    mode: Arc<M>,
    report: Report,
    fence: Fence,
    /// The producer's `message.max.bytes`, as librdkafka checks each record against it.
    producer_max: usize,
    unreadable: Unreadable,
}

/// librdkafka's default `message.max.bytes`.
const MESSAGE_MAX_DEFAULT: usize = 1_000_000;
/// Per-record framing librdkafka counts in its size check (length, attributes,
/// timestamp and offset deltas, key/value lengths, header count: at most 36 bytes).
const RECORD_FRAMING: usize = 64;
/// Per-header framing (name and value lengths).
const HEADER_FRAMING: usize = 16;

impl<'a, M: Mode> Instance<'a, M> {
    fn new(shared: &'a Shared<'a>, slot: usize) -> Result<Self, EdgeError> {
        let config = shared.config;
        let t = &config.topics;
        let fatal = |context| move |source| EdgeError::Fatal { context, source };
        let mode = Arc::new(M::new(config));
        let fence = Fence::new(slot);

        let mut pc = client_config(&config.kafka, Role::Producer);
        with_statistics(&mut pc);
        with_size_limits(&mut pc, &config.limits, Role::Producer);
        let producer_max = size_property(&pc, "message.max.bytes", MESSAGE_MAX_DEFAULT);
        set_default(&mut pc, "enable.idempotence", "true");
        set_default(&mut pc, "linger.ms", "5");
        M::producer_config(&mut pc, config, slot);
        let producer: Arc<OutProducer<M>> = Arc::new(
            pc.create_with_context(Context::producer(
                Arc::clone(shared.metrics),
                Arc::clone(&mode),
            ))
            .map_err(fatal("creating the producer"))?,
        );

        let mut cc = client_config(&config.kafka, Role::Consumer);
        cc.set("group.id", &config.kafka.group_id);
        cc.set("enable.auto.offset.store", "false");
        let d = &config.delivery;
        if d.static_membership && !d.instance_id.is_empty() {
            // A restarted process with the same name takes its partitions straight back
            // (KIP-345); the killed member's session need not expire first.
            cc.set("group.instance.id", format!("{}.{slot}", d.instance_id));
        }
        with_statistics(&mut cc);
        with_size_limits(&mut cc, &config.limits, Role::Consumer);
        M::consumer_config(&mut cc);
        set_default(&mut cc, "auto.offset.reset", "earliest");
        set_default(&mut cc, "isolation.level", "read_committed");
        let consumer: BaseConsumer<Context<M>> = cc
            .create_with_context(Context::consumer(
                Arc::clone(shared.metrics),
                Arc::clone(&mode),
                Arc::clone(&producer),
                fence.held(),
            ))
            .map_err(fatal("creating the consumer"))?;
        let mut outputs: Vec<&str> = vec![&t.anonymous, &t.dead_letter];
        outputs.extend(shared.personal_routes.iter().map(|r| r.topic.as_str()));
        let mut used = vec![t.raw.as_str(), &t.audit];
        used.extend(&outputs);
        super::check_topics(&consumer, &config.kafka, &used)?;
        check_output_limits(&config.kafka, &outputs, producer_max)?;
        M::prepare(&producer, shared.metrics)?;
        consumer
            .subscribe(&[&t.raw])
            .map_err(fatal("subscribing to the raw topic"))?;
        Ok(Instance {
            shared,
            slot,
            consumer,
            producer,
            mode,
            report: Report::default(),
            fence,
            producer_max,
            unreadable: Unreadable::default(),
        })
    }

    fn close(&self) {
        self.consumer.unsubscribe();
    }

    fn staleness_bound(&self) -> Duration {
        Duration::from_millis(self.shared.config.delivery.max_consent_staleness_ms)
    }

    /// True when processing may go on (see `fence`).
    fn fence(&mut self) -> bool {
        let bound = self.staleness_bound();
        self.fence.check(
            &self.consumer,
            self.shared.fresh,
            bound,
            self.shared.metrics,
        )
    }

    /// True while the consent view is fresh now: asked right before each event is
    /// processed (the poll that returned it may have waited long enough for the view to
    /// go stale) and by the exactly-once commit.
    fn view_fresh(&self) -> bool {
        fence::open_at(
            self.shared.fresh,
            self.staleness_bound(),
            super::clock::Mono::now(),
        )
    }

    fn hold(&self) -> Result<(), EdgeError> {
        fence::hold(&self.consumer)
    }

    /// An error from the consumer's poll: the end of the worker (exit 5) when the broker
    /// denies the group or the raw topic, which no retry fixes; else counted, and logged
    /// once per stalled partition when it is a batch that cannot be decoded
    /// (`unreadable`), a warning otherwise.
    fn consume_error(&self, e: &rdkafka::error::KafkaError) -> Result<(), EdgeError> {
        if let rdkafka::error::KafkaError::MessageConsumptionFatal(_) = e {
            // Not ready until the slot has started afresh, as for a fenced producer.
            self.shared.metrics.fenced.store(true, Ordering::SeqCst);
            return Err(self.consumer_fatal());
        }
        let config = self.shared.config;
        let principal = super::acls::principal(&config.kafka);
        if let Some(denied) =
            super::acls::consumer_denied(e, &principal, &config.kafka.group_id, &config.topics.raw)
        {
            return Err(denied);
        }
        self.unreadable.consume_error(
            &self.consumer,
            &self.shared.config.topics.raw,
            e,
            self.shared.metrics,
        );
        Ok(())
    }

    /// librdkafka's only fatal consumer error is a static member fenced by a newer
    /// member with its `group.instance.id`: after that the consumer keeps its assignment
    /// but never fetches again, so its partitions would stall behind a live process. It
    /// is seen both when another process really took the name and when this consumer's
    /// own rejoin after a broker stall outran a heartbeat of its earlier membership (CI
    /// saw the latter); a fresh consumer with the same name, from the committed offsets,
    /// tells the two apart: the bounded restarts end in exit 7 only for a real twin.
    fn consumer_fatal(&self) -> EdgeError {
        let detail = match self.consumer.client().fatal_error() {
            Some((code, reason)) => format!("{code:?}: {reason}"),
            None => "fatal consumer error".to_string(),
        };
        EdgeError::Fenced(format!("consumer of instance {}: {detail}", self.slot))
    }

    /// `msg` came while the view was stale: moved back to, not processed; the next
    /// turn's fence check pauses.
    fn not_admitted(&self, msg: BorrowedMessage<'_>) -> Result<(), EdgeError> {
        fence::seek_back(&self.consumer, msg).map(|_| ())
    }

    /// Runs the core on `msg`, or — when `rejected` holds why the broker kept refusing
    /// this input's outputs (exactly-once's abort bound) — makes its `output_rejected`
    /// dead letter instead.
    fn process(&self, msg: &BorrowedMessage<'_>, rejected: Option<String>) -> Outputs {
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
        let core = self.shared.core;
        let out = match rejected {
            Some(detail) => core.output_rejected(&raw, detail),
            None => {
                let out = core.process(&raw, self.shared.state, chrono::Utc::now());
                self.fit(msg, &raw, out)
            }
        };
        metrics.outputs(&out);
        if let Some(start) = start {
            record_process_span(metrics, msg, &out, start);
        }
        out
    }

    /// `out`, or the core's `output_too_large` dead letter when the producer would refuse
    /// one of its records as the edge will send it (the core measured key and value
    /// against `limits.max_output_bytes`; the producer's limit may be set lower, and the
    /// personal record gains the trace headers here). Refusing it later would stop the
    /// worker at this offset, at every restart.
    fn fit(&self, msg: &BorrowedMessage<'_>, raw: &RawRecord<'_>, out: Outputs) -> Outputs {
        let Outputs::Event {
            anonymous,
            personal,
            ..
        } = &out
        else {
            // The core bounds dead letters to `max_output_bytes`, below the producer's
            // limit unless an operator lowered it; then the send fails and says so.
            return out;
        };
        let max = self.producer_max;
        let mut oversized = None;
        if anonymous.len() + RECORD_FRAMING > max {
            oversized = Some(("anonymous", anonymous.len()));
        } else {
            let names = &self.shared.output_names;
            for (p, name) in personal.iter().zip(names) {
                let Some(p) = &p.record else { continue };
                // Headers are looked at only when they could matter: most records are far
                // below the limit.
                let worst = p.len() + RECORD_FRAMING + 2 * (HEADER_FRAMING + TRACE_HEADER_MAX);
                if worst <= max {
                    continue;
                }
                let headers = produce::trace_context(msg).map_or(0, |t| {
                    t.traceparent().len() + t.tracestate().map_or(0, str::len) + 2 * HEADER_FRAMING
                });
                let size = p.len() + headers;
                if size + RECORD_FRAMING > max {
                    oversized = Some((*name, size));
                    break;
                }
            }
        }
        match oversized {
            None => out,
            Some((name, size)) => self.shared.core.output_too_large(
                raw,
                format!("{name} record of {size} bytes, producer limit {max}"),
            ),
        }
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
            &self.shared.personal_routes,
            msg,
            out,
            consumed_at,
            self.shared.stop,
        )
    }
}

/// The `consent-enricher process` span of one raw record (sampled by the tracer). It
/// continues the input's trace only through the validated context, never its raw headers.
fn record_process_span(
    metrics: &Metrics,
    msg: &BorrowedMessage<'_>,
    out: &Outputs,
    start: std::time::SystemTime,
) {
    let outcome = match out {
        // The first output's decision: the span's attributes are a fixed vocabulary,
        // and output names are the operator's.
        Outputs::Event { personal, .. } => (
            "consent_enricher.decision",
            AttrValue::Code(personal.first().map_or("none", |p| p.decision.code())),
        ),
        Outputs::DeadLetter(d) => ("dlq.reason", AttrValue::Code(d.reason.code())),
    };
    metrics.tracer.record_span(
        produce::trace_context(msg).as_ref(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_slot_starts_afresh_other_errors_end_the_process() {
        assert!(slot_restartable(&EdgeError::Fenced("x".into())));
        for e in [
            EdgeError::AuthorizationFailed("x".into()),
            EdgeError::DeliveryFailed("x".into()),
            EdgeError::AbortsExhausted("x".into()),
        ] {
            assert!(!slot_restartable(&e), "{e}");
        }
    }
}

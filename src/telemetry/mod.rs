//! Telemetry: the worker's metrics (counters, gauges, histograms with bounded labels —
//! never a user id or any record content), their export (Prometheus text on the HTTP port
//! in [`http`], OTLP/HTTP JSON in [`otlp`]), sampled per-record spans ([`trace`]), the
//! validated W3C trace context they continue ([`trace_context`]) and the health
//! endpoints. This file owns the metric set and the calls the Kafka edge makes; it
//! does no Kafka I/O and knows nothing of the policy beyond the stable codes it counts.
//! Every label value comes from a fixed vocabulary (topic roles, reason and decision
//! codes, partition and broker numbers, client roles).

pub mod counters;
pub mod http;
pub mod otlp;
pub mod prometheus;
mod stats;
pub mod trace;
pub mod trace_context;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::MAX_OUTPUTS;
use crate::config::TelemetryConfig;
use crate::enrich::Miss;
use crate::model::DlqReason;
use crate::pipeline::Outputs;
use crate::policy::Decision;
use crate::state::Sizes;

pub use counters::{Counters, index};
pub use stats::ClientStats;
pub use trace::{AttrValue, Tracer};
pub use trace_context::TraceContext;

/// Telemetry errors (binding the HTTP port, a malformed OTLP endpoint).
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The HTTP server could not bind.
    #[error("cannot bind the telemetry HTTP server to {addr}: {source}")]
    Bind {
        /// `bind:port` as configured.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// Another I/O failure while starting a telemetry thread.
    #[error("telemetry: {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The OTLP endpoint or protocol is not one the exporter can use.
    #[error("invalid OTLP endpoint {endpoint:?}: {why}")]
    Endpoint {
        /// The endpoint as configured.
        endpoint: String,
        /// Why.
        why: &'static str,
    },
    /// The SDK refused to build an OTLP exporter (its message names the setting).
    #[error("cannot build the OTLP {signal} exporter: {why}")]
    Build {
        /// `traces` or `metrics`.
        signal: &'static str,
        /// Why.
        why: String,
    },
}

/// The telemetry runtime: one small tokio runtime, on one worker thread of its own, for
/// the HTTP server and the gRPC exporter's channel; started on first use and kept for
/// the life of the process (the Kafka threads never run on it).
pub fn runtime() -> Result<&'static tokio::runtime::Handle, TelemetryError> {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt.handle());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("telemetry")
        .enable_all()
        .build()
        .map_err(|source| TelemetryError::Io {
            context: "starting the telemetry runtime",
            source,
        })?;
    // Two threads racing here build two runtimes; the loser's is dropped unused.
    Ok(RT.get_or_init(|| rt).handle())
}

/// Input topics, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InTopic {
    /// `usage.raw`.
    Raw,
    /// `users.consent`.
    Consent,
    /// `users.profile`.
    Profile,
    /// `users.erasure`.
    Erasure,
}

impl InTopic {
    /// Every input topic.
    pub const ALL: [InTopic; 4] = [
        InTopic::Raw,
        InTopic::Consent,
        InTopic::Profile,
        InTopic::Erasure,
    ];

    /// Label value (the topic's role, never its configured name).
    pub fn label(self) -> &'static str {
        match self {
            InTopic::Raw => "raw",
            InTopic::Consent => "consent",
            InTopic::Profile => "profile",
            InTopic::Erasure => "erasure",
        }
    }
}

/// Output topics, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OutTopic {
    /// `usage.anonymous`.
    Anonymous,
    /// `usage.personal`.
    Personal,
    /// `usage.dead-letter`.
    DeadLetter,
    /// `privacy.audit`.
    Audit,
}

impl OutTopic {
    /// Every output topic.
    pub const ALL: [OutTopic; 4] = [
        OutTopic::Anonymous,
        OutTopic::Personal,
        OutTopic::DeadLetter,
        OutTopic::Audit,
    ];

    /// Label value (the topic's role, never its configured name).
    pub fn label(self) -> &'static str {
        match self {
            OutTopic::Anonymous => "anonymous",
            OutTopic::Personal => "personal",
            OutTopic::DeadLetter => "dead_letter",
            OutTopic::Audit => "audit",
        }
    }
}

/// Why an exactly-once transaction holding personal records was aborted and replayed
/// right before its commit, as metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Replay {
    /// A user given a personal record in it had their consent narrowed, or was erased,
    /// after that record was decided.
    Changed,
    /// The consent view was older than `delivery.max_consent_staleness_ms` at commit.
    Stale,
}

impl Replay {
    /// Every reason.
    pub const ALL: [Replay; 2] = [Replay::Changed, Replay::Stale];

    /// Label value.
    pub fn label(self) -> &'static str {
        match self {
            Replay::Changed => "changed",
            Replay::Stale => "stale",
        }
    }
}

/// Every enrichment miss, for zero-valued series.
pub const MISSES: [Miss; 5] = [
    Miss::InvalidCoordinates,
    Miss::NoDatabase,
    Miss::NotPublic,
    Miss::NotFound,
    Miss::NoZone,
];

/// A fixed-bucket histogram of seconds.
#[derive(Debug)]
pub struct Histogram {
    /// Upper bounds in seconds.
    pub bounds: &'static [f64],
    /// Counts per bucket (non-cumulative here, cumulative when rendered), plus +Inf last.
    pub buckets: Vec<AtomicU64>,
    /// Sum of observations in microseconds.
    pub sum_us: AtomicU64,
    /// Observations.
    pub count: AtomicU64,
    /// The SDK's histogram of the same observations, once OTLP metrics are exported.
    sdk: std::sync::OnceLock<opentelemetry::metrics::Histogram<f64>>,
}

/// Latency buckets (seconds) from 1 ms to 10 s.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Histogram {
    /// An empty histogram over `bounds`.
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
            sdk: std::sync::OnceLock::new(),
        }
    }

    /// Records every later observation in `h` too (the OTLP export's histogram).
    pub fn feed(&self, h: opentelemetry::metrics::Histogram<f64>) {
        let _ = self.sdk.set(h);
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let idx = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(b) = self.buckets.get(idx) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Some(h) = self.sdk.get() {
            h.record(secs, &[]);
        }
    }

    /// A consistent-enough copy: per-bucket counts (non-cumulative, +Inf last), sum in
    /// seconds, count (the sum of the buckets, so the two always agree).
    pub fn snapshot(&self) -> (Vec<u64>, f64, u64) {
        let buckets: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count = buckets.iter().sum();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, sum, count)
    }
}

/// How long `/health/ready` stays 503 after the last batch that could not be decoded.
pub const UNREADABLE_HOLD: Duration = Duration::from_secs(30);

/// From this many transactions aborted in a row `/health/ready` says 503: one abort (a
/// broker restarting, a coordinator moving) is routine, a third one is not.
pub const ABORTS_NOT_READY: u32 = 3;
/// How long an instance's staleness fence may stay shut before `/health/ready` says 503:
/// a burst of consent changes shuts it for well under this.
pub const FENCE_NOT_READY_AFTER: Duration = Duration::from_secs(5);

/// Every metric of one process. Shared by all worker instances behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    /// Records consumed per input topic (by [`InTopic::ALL`]).
    pub records_in: Counters<{ InTopic::ALL.len() }>,
    /// Records produced (acknowledged) per output topic (by [`OutTopic::ALL`]).
    pub records_out: Counters<{ OutTopic::ALL.len() }>,
    /// Dead letters per reason (by [`DlqReason::ALL`]).
    pub dead_letters: Counters<{ DlqReason::ALL.len() }>,
    /// Personal-record decisions per personal output (by index) and decision (by
    /// [`Decision::ALL`]).
    pub decisions: [Counters<{ Decision::ALL.len() }>; MAX_OUTPUTS],
    /// The personal outputs' names, by index (the `output` label).
    pub output_names: Mutex<Vec<String>>,
    /// Enrichment misses per reason (by [`MISSES`]).
    pub enrich_misses: Counters<{ MISSES.len() }>,
    /// Consume → every output acknowledged.
    pub latency: Histogram,
    /// Transaction commit durations.
    pub txn_duration: Histogram,
    /// Committed transactions.
    pub txn_commits: AtomicU64,
    /// Aborted transactions.
    pub txn_aborts: AtomicU64,
    /// Transactions aborted in a row (Kafka errors, not consent replays), per instance
    /// slot; an entry goes when its instance commits.
    pub abort_streaks: Mutex<BTreeMap<usize, u32>>,
    /// Consumer lag per raw partition.
    pub lag: Mutex<BTreeMap<i32, i64>>,
    /// Time spent paused by the consent-staleness fence, microseconds.
    pub paused_us: AtomicU64,
    /// Transactions aborted and replayed before commit, per reason (by [`Replay::ALL`]).
    pub consent_replays: Counters<{ Replay::ALL.len() }>,
    /// Personal records withheld by the replay bound.
    pub personal_withheld: AtomicU64,
    /// Current table sizes.
    pub state: Mutex<Sizes>,
    /// Tables loaded and partitions assigned.
    pub ready: AtomicBool,
    /// A producer was fenced (another instance took over).
    pub fenced: AtomicBool,
    /// Since when each instance's staleness fence has been shut, per instance slot.
    pub fence_shut: Mutex<BTreeMap<usize, Instant>>,
    /// The table reader's thread is running (it keeps the consent view fresh).
    pub tables_running: AtomicBool,
    /// Consume errors about raw-topic batches that cannot be decoded (each stalls its
    /// partition, see `kafka::worker::unreadable`).
    pub unreadable: AtomicU64,
    /// When the last of those came, in milliseconds since `started` plus one (0 = never).
    pub unreadable_at_ms: AtomicU64,
    /// librdkafka statistics per client handle (keyed by the handle's own name).
    pub kafka: Mutex<BTreeMap<String, ClientStats>>,
    /// OTLP export attempts per (signal, outcome).
    pub otlp_exports: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Sampled per-record spans; disabled until [`otlp::start`] enables it.
    pub tracer: Tracer,
    /// When this process's metrics started.
    pub started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            records_in: Counters::default(),
            records_out: Counters::default(),
            dead_letters: Counters::default(),
            decisions: std::array::from_fn(|_| Counters::default()),
            output_names: Mutex::new(vec!["personal".to_string()]),
            enrich_misses: Counters::default(),
            latency: Histogram::new(LATENCY_BOUNDS),
            txn_duration: Histogram::new(LATENCY_BOUNDS),
            txn_commits: AtomicU64::new(0),
            txn_aborts: AtomicU64::new(0),
            abort_streaks: Mutex::default(),
            lag: Mutex::default(),
            paused_us: AtomicU64::new(0),
            consent_replays: Counters::default(),
            personal_withheld: AtomicU64::new(0),
            state: Mutex::default(),
            ready: AtomicBool::new(false),
            fenced: AtomicBool::new(false),
            fence_shut: Mutex::default(),
            tables_running: AtomicBool::new(false),
            unreadable: AtomicU64::new(0),
            unreadable_at_ms: AtomicU64::new(0),
            kafka: Mutex::default(),
            otlp_exports: Mutex::default(),
            tracer: Tracer::default(),
            started: Instant::now(),
        }
    }
}

/// Locks a metrics map; a poisoned lock still holds usable numbers.
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn bump<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, k: K, n: u64) {
    *locked(m).entry(k).or_default() += n;
}

impl Metrics {
    /// The histogram documented by `doc`, if it is one.
    pub fn histogram(&self, doc: &prometheus::MetricDoc) -> Option<&Histogram> {
        // By name: the docs are `const`s, so two references to one need not share an
        // address.
        if doc.name == prometheus::LATENCY.name {
            Some(&self.latency)
        } else if doc.name == prometheus::TXN_DURATION.name {
            Some(&self.txn_duration)
        } else {
            None
        }
    }

    /// One record consumed from `topic`.
    pub fn record_in(&self, topic: InTopic) {
        self.records_in.add(index(&InTopic::ALL, &topic), 1);
    }

    /// What the core decided for one raw record (counted when processed).
    pub fn outputs(&self, out: &Outputs) {
        match out {
            Outputs::Event {
                personal, misses, ..
            } => {
                for (per_output, p) in self.decisions.iter().zip(personal) {
                    per_output.add(index(&Decision::ALL, &p.decision), 1);
                }
                for m in misses {
                    self.enrich_misses.add(index(&MISSES, m), 1);
                }
            }
            Outputs::DeadLetter(d) => self.dead_letters.add(index(&DlqReason::ALL, &d.reason), 1),
        }
    }

    /// Names the personal outputs (the `output` label of `decisions_total`), in the
    /// core's order.
    pub fn name_outputs(&self, names: &[&str]) {
        *locked(&self.output_names) = names.iter().map(|n| n.to_string()).collect();
    }

    /// An unreadable table record sent to the dead-letter topic.
    pub fn table_dead_letter(&self, reason: DlqReason) {
        self.dead_letters.add(index(&DlqReason::ALL, &reason), 1);
    }

    /// `n` records acknowledged on `topic`.
    pub fn records_out(&self, topic: OutTopic, n: u64) {
        self.records_out.add(index(&OutTopic::ALL, &topic), n);
    }

    /// Consume → acknowledged latency of one input.
    pub fn delivered(&self, latency: Duration) {
        self.latency.observe(latency);
    }

    /// One transaction ended.
    pub fn txn(&self, committed: bool, took: Duration) {
        if committed {
            self.txn_commits.fetch_add(1, Ordering::Relaxed);
            self.txn_duration.observe(took);
        } else {
            self.txn_aborts.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Instance `slot`'s transactions aborted in a row (0 after a commit).
    pub fn abort_streak(&self, slot: usize, n: u32) {
        let mut m = locked(&self.abort_streaks);
        if n == 0 {
            m.remove(&slot);
        } else {
            m.insert(slot, n);
        }
    }

    /// The longest run of aborts in a row of any instance now.
    pub fn longest_abort_streak(&self) -> u32 {
        locked(&self.abort_streaks)
            .values()
            .copied()
            .max()
            .unwrap_or(0)
    }

    /// Lag of one raw partition.
    pub fn lag(&self, partition: i32, lag: i64) {
        locked(&self.lag).insert(partition, lag);
    }

    /// Time spent paused by the staleness fence.
    pub fn paused(&self, d: Duration) {
        self.paused_us.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// One transaction aborted and replayed before commit, for `why`.
    pub fn consent_replay(&self, why: Replay) {
        self.consent_replays.add(index(&Replay::ALL, &why), 1);
    }

    /// Transactions replayed for `why` so far.
    pub fn replays(&self, why: Replay) -> u64 {
        self.consent_replays.get(index(&Replay::ALL, &why))
    }

    /// How often personal output `output` (by index) got decision `d` so far.
    pub fn decided(&self, output: usize, d: Decision) -> u64 {
        self.decisions
            .get(output)
            .map_or(0, |c| c.get(index(&Decision::ALL, &d)))
    }

    /// One personal record withheld by the replay bound.
    pub fn withheld(&self) {
        self.personal_withheld.fetch_add(1, Ordering::Relaxed);
    }

    /// Current table sizes.
    pub fn state_sizes(&self, s: Sizes) {
        *locked(&self.state) = s;
    }

    /// librdkafka statistics, as `ClientContext::stats_raw` hands them over (set
    /// `statistics.interval.ms` on the client). `client` is the handle's role, a fixed
    /// word (`consumer`, `producer`, `tables`, …) used as the label. Queue sizes and
    /// per-broker round-trip times are kept; with client role `consumer`, the per-partition
    /// `consumer_lag` of every assigned partition also feeds [`Metrics::lag`]. Statistics
    /// that do not parse are ignored (they are diagnostics, not data).
    pub fn kafka_stats(&self, client: &'static str, raw_json: &[u8]) {
        let Some((name, stats, lags)) = stats::parse(client, raw_json) else {
            return;
        };
        if client == "consumer" {
            let mut lag = locked(&self.lag);
            for (p, l) in lags {
                lag.insert(p, l);
            }
        }
        locked(&self.kafka).insert(name, stats);
    }

    /// Seconds since the metrics were created (the process start, in practice).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// One OTLP export attempt of `signal` (`metrics` or `traces`).
    pub fn otlp_export(&self, signal: &'static str, ok: bool) {
        bump(
            &self.otlp_exports,
            (signal, if ok { "ok" } else { "error" }),
            1,
        );
    }

    /// A raw-topic batch could not be decoded.
    pub fn unreadable(&self) {
        self.unreadable.fetch_add(1, Ordering::Relaxed);
        let now = u64::try_from(self.uptime().as_millis()).unwrap_or(u64::MAX);
        self.unreadable_at_ms
            .store(now.saturating_add(1), Ordering::SeqCst);
    }

    /// True while unreadable batches keep coming: librdkafka fetches a stalled partition
    /// again after `fetch.error.backoff.ms` (500 ms), so each retry renews this, and it
    /// ends [`UNREADABLE_HOLD`] after the last one.
    pub fn unreadable_now(&self) -> bool {
        let at = self.unreadable_at_ms.load(Ordering::SeqCst);
        let now = u64::try_from(self.uptime().as_millis()).unwrap_or(u64::MAX);
        at != 0 && now.saturating_add(1).saturating_sub(at) < UNREADABLE_HOLD.as_millis() as u64
    }

    /// The last known lag of each raw partition.
    pub fn lags(&self) -> BTreeMap<i32, i64> {
        locked(&self.lag).clone()
    }

    /// Instance `slot`'s staleness fence shut (`true`) or opened again.
    pub fn fence_shut(&self, slot: usize, shut: bool) {
        let mut m = locked(&self.fence_shut);
        if shut {
            m.entry(slot).or_insert_with(Instant::now);
        } else {
            m.remove(&slot);
        }
    }

    /// Ready for traffic: tables loaded and their reader running, every instance
    /// subscribed, not fenced, no staleness fence shut for longer than
    /// [`FENCE_NOT_READY_AFTER`], no instance at [`ABORTS_NOT_READY`] aborts in a row,
    /// and no raw partition stalled behind a batch that cannot be decoded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
            && self.tables_running.load(Ordering::SeqCst)
            && !self.fenced.load(Ordering::SeqCst)
            && self.longest_abort_streak() < ABORTS_NOT_READY
            && !locked(&self.fence_shut)
                .values()
                .any(|since| since.elapsed() > FENCE_NOT_READY_AFTER)
            && !self.unreadable_now()
    }
}

/// The running exporters of one process.
#[derive(Debug)]
pub struct Telemetry {
    /// The HTTP server, unless `telemetry.http_port` is 0.
    pub http: Option<http::HttpServer>,
    /// The OTLP exporter, when an endpoint is configured.
    pub otlp: Option<otlp::Exporter>,
}

impl Telemetry {
    /// Starts what `config` asks for: the HTTP server on `http_bind:http_port` (none when
    /// the port is 0) and the OTLP exporter when `otlp_endpoint` or the environment's
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` names one (which also enables sampled spans).
    pub fn start(
        config: &TelemetryConfig,
        metrics: &Arc<Metrics>,
    ) -> Result<Telemetry, TelemetryError> {
        let rt = runtime()?;
        let http = if config.http_port == 0 {
            None
        } else {
            Some(http::serve(
                rt,
                &config.http_bind,
                config.http_port,
                Arc::clone(metrics),
            )?)
        };
        let otlp = otlp::start(config, metrics, rt, |k| std::env::var(k).ok())?;
        Ok(Telemetry { http, otlp })
    }

    /// Flushes the last metrics and spans to the collector and stops the HTTP server.
    pub fn shutdown(self) {
        if let Some(o) = self.otlp {
            o.shutdown();
        }
        if let Some(h) = self.http {
            h.shutdown();
        }
    }
}

#[cfg(test)]
mod readiness_tests {
    use super::*;

    fn ready() -> Metrics {
        let m = Metrics::default();
        m.ready.store(true, Ordering::SeqCst);
        m.tables_running.store(true, Ordering::SeqCst);
        m
    }

    #[test]
    fn ready_needs_the_table_reader_running() {
        let m = ready();
        assert!(m.is_ready());
        m.tables_running.store(false, Ordering::SeqCst);
        assert!(!m.is_ready());
    }

    #[test]
    fn a_third_abort_in_a_row_makes_it_not_ready_until_a_commit() {
        let m = ready();
        m.abort_streak(0, ABORTS_NOT_READY - 1);
        assert!(m.is_ready(), "one or two aborts are routine");
        m.abort_streak(1, ABORTS_NOT_READY);
        assert!(!m.is_ready());
        m.abort_streak(0, 0);
        assert!(!m.is_ready(), "another instance is still stuck");
        m.abort_streak(1, 0);
        assert!(m.is_ready());
    }

    #[test]
    fn a_fence_shut_for_long_makes_it_not_ready() {
        let m = ready();
        m.fence_shut(0, true);
        assert!(m.is_ready(), "a fence shut briefly is routine");
        // As if it had been shut since before the allowance.
        locked(&m.fence_shut).insert(0, Instant::now() - FENCE_NOT_READY_AFTER * 2);
        assert!(!m.is_ready());
        m.fence_shut(0, false);
        assert!(m.is_ready());
    }
}

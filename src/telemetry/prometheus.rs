//! The metric catalogue (name, type, labels, meaning of every metric — the README's
//! metrics table is generated from it) and the snapshot both exporters read: Prometheus
//! text exposition (format 0.0.4) here, OTLP in `otlp`. It owns names and rendering; it
//! never reads anything but [`Metrics`], so no label value can come from a record.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::{InTopic, MISSES, Metrics, OutTopic, Replay, locked};
use crate::model::DlqReason;
use crate::policy::Decision;

/// Metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Monotonic; the name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

impl Kind {
    /// Prometheus `# TYPE` word.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric's documentation.
#[derive(Debug)]
pub struct MetricDoc {
    /// Prometheus name (`consent_enricher_` prefix; counters end in `_total`).
    pub name: &'static str,
    /// Type.
    pub kind: Kind,
    /// Label names, each from a fixed vocabulary.
    pub labels: &'static [&'static str],
    /// Meaning.
    pub help: &'static str,
}

impl MetricDoc {
    /// The name without the Prometheus `_total` suffix (OTLP names its sums so).
    pub fn base_name(&self) -> &'static str {
        self.name.strip_suffix("_total").unwrap_or(self.name)
    }
}

macro_rules! metric {
    ($id:ident, $name:literal, $kind:ident, [$($l:literal),*], $help:literal) => {
        #[doc = $help]
        pub const $id: MetricDoc = MetricDoc {
            name: concat!("consent_enricher_", $name),
            kind: Kind::$kind,
            labels: &[$($l),*],
            help: $help,
        };
    };
}

metric!(
    RECORDS_IN,
    "records_in_total",
    Counter,
    ["topic"],
    "Records consumed, per input topic role (raw, consent, profile, erasure)."
);
metric!(
    RECORDS_OUT,
    "records_out_total",
    Counter,
    ["topic"],
    "Records produced and acknowledged, per output topic role (anonymous, personal, dead_letter, audit)."
);
metric!(
    DEAD_LETTERS,
    "dead_letters_total",
    Counter,
    ["reason"],
    "Invalid raw records dead-lettered, per `dlq.reason` code."
);
metric!(
    DECISIONS,
    "decisions_total",
    Counter,
    ["output", "decision"],
    "Valid raw events per personal output (its configured name) and decision: personal, no_user_id, no_consent, purpose_not_granted, erased."
);
metric!(
    ENRICH_MISSES,
    "enrichment_misses_total",
    Counter,
    ["reason"],
    "Enrichment fields left empty, per reason (no_database, not_public, not_found, no_zone, invalid_coordinates)."
);
metric!(
    LATENCY,
    "processing_latency_seconds",
    Histogram,
    [],
    "Raw record consumed to every output acknowledged."
);
metric!(
    TXNS,
    "transactions_total",
    Counter,
    ["outcome"],
    "Kafka transactions ended, per outcome (commit, abort)."
);
metric!(
    TXN_DURATION,
    "transaction_duration_seconds",
    Histogram,
    [],
    "Duration of committed transactions."
);
metric!(
    LAG,
    "consumer_lag",
    Gauge,
    ["partition"],
    "Records between the committed offset and the end of each raw partition this process consumes."
);
metric!(
    PAUSED,
    "fence_paused_seconds_total",
    Counter,
    [],
    "Time event processing waited because the consent view was older than `delivery.max_consent_staleness_ms`."
);
metric!(
    REPLAYS,
    "consent_replays_total",
    Counter,
    ["reason"],
    "Exactly-once transactions holding personal records aborted and replayed right before commit: a user in them had consent narrowed or was erased after the decision (changed), or the consent view was older than the bound (stale)."
);
metric!(
    WITHHELD,
    "personal_withheld_total",
    Counter,
    [],
    "Personal records not produced because their user's consent changes kept aborting the transaction (the replay bound); their events still get their anonymous record."
);
metric!(
    STATE,
    "state_entries",
    Gauge,
    ["table"],
    "Entries in the in-memory tables (consents, profiles, erased)."
);
metric!(
    FUTURE_DATED,
    "table_future_dated_total",
    Counter,
    [],
    "Consent and profile records whose updated_at lay more than limits.max_clock_skew_ms ahead of their write time; treated as that time (the value is never logged)."
);
metric!(
    READY,
    "ready",
    Gauge,
    [],
    "1 when /health/ready answers 200: tables loaded and their reader running, partitions assigned, no producer fenced, no staleness fence shut for over 5 s, fewer than 3 transactions aborted in a row, no undecodable raw batch in the last 30 s."
);
metric!(
    ABORT_STREAK,
    "txn_abort_streak",
    Gauge,
    [],
    "Transactions aborted in a row for Kafka errors (the longest run of any instance; 0 after a commit). At delivery.max_consecutive_aborts the worker exits."
);
metric!(
    FENCED,
    "fenced",
    Gauge,
    [],
    "1 when a producer or a static consumer was fenced (another instance with its transactional or instance id, or its own stale membership)."
);
metric!(
    UNREADABLE,
    "consumer_unreadable_total",
    Counter,
    [],
    "Consume errors for raw-topic batches that cannot be decoded (compression codec not built in, corrupt batch); the partition makes no progress and /health/ready answers 503 while they keep coming."
);
metric!(
    UPTIME,
    "uptime_seconds",
    Gauge,
    [],
    "Seconds since the process started."
);
metric!(
    BUILD,
    "build_info",
    Gauge,
    ["version"],
    "Always 1; the label carries the version."
);
metric!(
    KAFKA_MSGS,
    "kafka_queue_messages",
    Gauge,
    ["client"],
    "librdkafka `msg_cnt`: messages waiting in the client's producer queues, per client role."
);
metric!(
    KAFKA_BYTES,
    "kafka_queue_bytes",
    Gauge,
    ["client"],
    "librdkafka `msg_size`: bytes waiting in the client's producer queues, per client role."
);
metric!(
    KAFKA_REPLYQ,
    "kafka_reply_queue",
    Gauge,
    ["client"],
    "librdkafka `replyq`: operations waiting to be served by poll, per client role."
);
metric!(
    KAFKA_RTT,
    "kafka_broker_rtt_seconds",
    Gauge,
    ["client", "broker"],
    "librdkafka broker `rtt.avg`: average request round-trip time, per client role and broker node id."
);
metric!(
    SPANS,
    "spans_total",
    Counter,
    ["outcome"],
    "Per-record spans: sampled, not_sampled (the SDK's batch processor drops spans beyond its queue of 8192)."
);
metric!(
    OTLP,
    "otlp_exports_total",
    Counter,
    ["signal", "outcome"],
    "OTLP export requests, per signal (metrics, traces) and outcome (ok, error)."
);

/// Every metric, in rendering order.
pub const CATALOGUE: &[&MetricDoc] = &[
    &RECORDS_IN,
    &RECORDS_OUT,
    &DEAD_LETTERS,
    &DECISIONS,
    &ENRICH_MISSES,
    &LATENCY,
    &TXNS,
    &TXN_DURATION,
    &ABORT_STREAK,
    &LAG,
    &PAUSED,
    &REPLAYS,
    &WITHHELD,
    &STATE,
    &FUTURE_DATED,
    &READY,
    &FENCED,
    &UNREADABLE,
    &UPTIME,
    &BUILD,
    &KAFKA_MSGS,
    &KAFKA_BYTES,
    &KAFKA_REPLYQ,
    &KAFKA_RTT,
    &SPANS,
    &OTLP,
];

/// Label pairs of one sample.
pub type Labels = Vec<(&'static str, String)>;

/// One sample of a family.
#[derive(Debug, Clone, PartialEq)]
pub enum Sample {
    /// A counter or gauge value.
    Value {
        /// Labels.
        labels: Labels,
        /// Value.
        value: f64,
    },
    /// A histogram.
    Histogram {
        /// Labels.
        labels: Labels,
        /// Upper bounds (seconds), +Inf implied.
        bounds: &'static [f64],
        /// Non-cumulative counts per bucket, +Inf last.
        buckets: Vec<u64>,
        /// Sum of observations.
        sum: f64,
        /// Observations.
        count: u64,
    },
}

/// One metric and its current samples.
#[derive(Debug, Clone)]
pub struct Family {
    /// What it is.
    pub doc: &'static MetricDoc,
    /// Samples (fixed vocabularies are rendered in full, zeros included).
    pub samples: Vec<Sample>,
}

fn value(labels: Labels, v: f64) -> Sample {
    Sample::Value { labels, value: v }
}

fn l1(name: &'static str, v: impl ToString) -> Labels {
    vec![(name, v.to_string())]
}

/// Reads every metric once.
pub fn snapshot(m: &Metrics) -> Vec<Family> {
    let mut out = Vec::with_capacity(CATALOGUE.len());
    let mut fam = |doc: &'static MetricDoc, samples: Vec<Sample>| {
        out.push(Family { doc, samples });
    };
    // Every value of a vocabulary is rendered, zeros included, in the vocabulary's order.
    let per = |label: &'static str,
               codes: &mut dyn Iterator<Item = &'static str>,
               get: &dyn Fn(usize) -> u64| {
        codes
            .enumerate()
            .map(|(i, c)| value(l1(label, c), get(i) as f64))
            .collect::<Vec<_>>()
    };
    fam(
        &RECORDS_IN,
        per("topic", &mut InTopic::ALL.iter().map(|t| t.label()), &|i| {
            m.records_in.get(i)
        }),
    );
    fam(
        &RECORDS_OUT,
        per(
            "topic",
            &mut OutTopic::ALL.iter().map(|t| t.label()),
            &|i| m.records_out.get(i),
        ),
    );
    fam(
        &DEAD_LETTERS,
        per(
            "reason",
            &mut DlqReason::ALL.iter().map(|r| r.code()),
            &|i| m.dead_letters.get(i),
        ),
    );
    {
        let names = locked(&m.output_names).clone();
        let s = names
            .iter()
            .zip(&m.decisions)
            .flat_map(|(name, counts)| {
                Decision::ALL.iter().enumerate().map(move |(i, d)| {
                    let labels = vec![("output", name.clone()), ("decision", d.code().to_string())];
                    value(labels, counts.get(i) as f64)
                })
            })
            .collect();
        fam(&DECISIONS, s);
    }
    fam(
        &ENRICH_MISSES,
        per("reason", &mut MISSES.iter().map(|d| d.code()), &|i| {
            m.enrich_misses.get(i)
        }),
    );
    let hist = |h: &super::Histogram| {
        let (buckets, sum, count) = h.snapshot();
        vec![Sample::Histogram {
            labels: Vec::new(),
            bounds: h.bounds,
            buckets,
            sum,
            count,
        }]
    };
    fam(&LATENCY, hist(&m.latency));
    fam(
        &TXNS,
        vec![
            value(
                l1("outcome", "commit"),
                m.txn_commits.load(Ordering::Relaxed) as f64,
            ),
            value(
                l1("outcome", "abort"),
                m.txn_aborts.load(Ordering::Relaxed) as f64,
            ),
        ],
    );
    fam(&TXN_DURATION, hist(&m.txn_duration));
    fam(
        &ABORT_STREAK,
        vec![value(Vec::new(), f64::from(m.longest_abort_streak()))],
    );
    fam(
        &LAG,
        locked(&m.lag)
            .iter()
            .map(|(p, l)| value(l1("partition", p), *l as f64))
            .collect(),
    );
    fam(
        &PAUSED,
        vec![value(
            Vec::new(),
            m.paused_us.load(Ordering::Relaxed) as f64 / 1e6,
        )],
    );
    {
        let s = Replay::ALL
            .iter()
            .enumerate()
            .map(|(i, r)| value(l1("reason", r.label()), m.consent_replays.get(i) as f64))
            .collect();
        fam(&REPLAYS, s);
    }
    fam(
        &WITHHELD,
        vec![value(
            Vec::new(),
            m.personal_withheld.load(Ordering::Relaxed) as f64,
        )],
    );
    {
        let s = *locked(&m.state);
        fam(
            &STATE,
            vec![
                value(l1("table", "consents"), s.consents as f64),
                value(l1("table", "profiles"), s.profiles as f64),
                value(l1("table", "erased"), s.erased as f64),
            ],
        );
        fam(
            &FUTURE_DATED,
            vec![value(Vec::new(), s.future_dated as f64)],
        );
    }
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    fam(&READY, vec![value(Vec::new(), flag(m.is_ready()))]);
    fam(
        &FENCED,
        vec![value(Vec::new(), flag(m.fenced.load(Ordering::SeqCst)))],
    );
    fam(
        &UNREADABLE,
        vec![value(
            Vec::new(),
            m.unreadable.load(Ordering::Relaxed) as f64,
        )],
    );
    fam(&UPTIME, vec![value(Vec::new(), m.uptime().as_secs_f64())]);
    fam(
        &BUILD,
        vec![value(l1("version", env!("CARGO_PKG_VERSION")), 1.0)],
    );
    {
        // Several handles of one role (delivery.instances > 1) add up; RTT takes the
        // worst handle's average per broker.
        let kafka = locked(&m.kafka);
        let mut per_client: std::collections::BTreeMap<&'static str, (i64, i64, i64)> =
            Default::default();
        let mut rtt: std::collections::BTreeMap<(&'static str, i32), f64> = Default::default();
        for s in kafka.values() {
            let e = per_client.entry(s.client).or_default();
            e.0 += s.msg_cnt;
            e.1 += s.msg_size;
            e.2 += s.replyq;
            for (b, r) in &s.rtt {
                let v = rtt.entry((s.client, *b)).or_default();
                *v = v.max(*r);
            }
        }
        let per = |f: fn(&(i64, i64, i64)) -> i64| {
            per_client
                .iter()
                .map(|(c, v)| value(l1("client", c), f(v) as f64))
                .collect::<Vec<_>>()
        };
        fam(&KAFKA_MSGS, per(|v| v.0));
        fam(&KAFKA_BYTES, per(|v| v.1));
        fam(&KAFKA_REPLYQ, per(|v| v.2));
        fam(
            &KAFKA_RTT,
            rtt.iter()
                .map(|((c, b), r)| {
                    value(
                        vec![("client", (*c).to_string()), ("broker", b.to_string())],
                        *r,
                    )
                })
                .collect(),
        );
    }
    {
        let (sampled, not_sampled) = m.tracer.counts();
        fam(
            &SPANS,
            vec![
                value(l1("outcome", "sampled"), sampled as f64),
                value(l1("outcome", "not_sampled"), not_sampled as f64),
            ],
        );
    }
    {
        let map = locked(&m.otlp_exports);
        let mut s = Vec::new();
        for signal in ["metrics", "traces"] {
            for outcome in ["ok", "error"] {
                let n = map.get(&(signal, outcome)).copied().unwrap_or(0);
                s.push(value(
                    vec![("signal", signal.into()), ("outcome", outcome.into())],
                    n as f64,
                ));
            }
        }
        fam(&OTLP, s);
    }
    out
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels_text(labels: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{}\"", escape(&v)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn num(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// Prometheus text exposition (format 0.0.4) of every metric.
pub fn render(m: &Metrics) -> String {
    let mut out = String::with_capacity(8192);
    for f in snapshot(m) {
        let d = f.doc;
        let _ = writeln!(out, "# HELP {} {}", d.name, d.help.replace('`', ""));
        let _ = writeln!(out, "# TYPE {} {}", d.name, d.kind.word());
        for s in &f.samples {
            match s {
                Sample::Value { labels, value } => {
                    let _ = writeln!(
                        out,
                        "{}{} {}",
                        d.name,
                        labels_text(labels, None),
                        num(*value)
                    );
                }
                Sample::Histogram {
                    labels,
                    bounds,
                    buckets,
                    sum,
                    count,
                } => {
                    let mut cum = 0u64;
                    for (i, n) in buckets.iter().enumerate() {
                        cum += n;
                        let le = bounds.get(i).map_or("+Inf".to_string(), |b| num(*b));
                        let _ = writeln!(
                            out,
                            "{}_bucket{} {cum}",
                            d.name,
                            labels_text(labels, Some(("le", le)))
                        );
                    }
                    let l = labels_text(labels, None);
                    let _ = writeln!(out, "{}_sum{l} {}", d.name, num(*sum));
                    let _ = writeln!(out, "{}_count{l} {count}", d.name);
                }
            }
        }
    }
    out
}

/// The README's metrics table, generated from [`CATALOGUE`].
pub fn markdown_table() -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for d in CATALOGUE {
        let labels = if d.labels.is_empty() {
            "—".to_string()
        } else {
            d.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {labels} | {} |",
            d.name,
            d.kind.word(),
            d.help
        );
    }
    out
}

#[cfg(test)]
mod tests;

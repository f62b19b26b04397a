//! Telemetry and operations: the worker *binary* against the real broker — health
//! endpoints and Prometheus metrics read with a real HTTP client and the exposition parsed,
//! OTLP spans and metrics received by a real OpenTelemetry Collector ([`crate::collector`]), and the leak corpus run at the
//! most verbose log level with no planted value in the logs. The deployment files and the
//! README's tables are checked in `deploy`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use consent_enricher::config::Config;
use consent_enricher::telemetry::prometheus::{self, CATALOGUE};
use consent_enricher::telemetry::{AttrValue, Metrics, TraceContext, otlp};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::BaseRecord;
use serde_json::{Value, json};

use crate::broker::{self, Reader, wait_for};
use crate::collector::{Collector, Tls};
use crate::scrape::{http_get, scrape, value};
use crate::support;

pub(crate) const T: Duration = Duration::from_secs(120);
const BIN: &str = env!("CARGO_BIN_EXE_consent-enricher");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// ---------------------------------------------------------------- HTTP and exposition

/// Spans and every metric reach a real collector over `protocol`, with the resource the
/// environment names and the parent's trace continued.
/// With `tls`, the collector serves TLS with a certificate of a test CA, and the exporter
/// trusts that CA only (`OTEL_EXPORTER_OTLP_CERTIFICATE`).
fn exports_to_a_real_collector(protocol: &str, tls: bool) {
    let name = format!("sdk-{}-{tls}", protocol.replace('/', "-"));
    let ca = tls.then(|| Tls::make(&name));
    let collector = match &ca {
        Some(t) => Collector::start_tls(&name, t),
        None => Collector::start(&name),
    };
    let metrics = Arc::new(Metrics::default());
    let mut cfg = support::config().telemetry;
    let scheme = if tls { "https" } else { "http" };
    cfg.otlp_endpoint = match protocol {
        "grpc" => format!("{scheme}://{}", collector.grpc),
        _ => format!("{scheme}://{}", collector.http),
    };
    cfg.trace_sample_ratio = 1.0;
    let proto = protocol.to_string();
    let ca_file = ca.map(|t| t.ca.display().to_string());
    let env = move |k: &str| match k {
        "OTEL_SERVICE_NAME" => Some("enricher-test".to_string()),
        "OTEL_RESOURCE_ATTRIBUTES" => Some("deployment.environment=it".to_string()),
        "OTEL_EXPORTER_OTLP_PROTOCOL" => Some(proto.clone()),
        "OTEL_EXPORTER_OTLP_CERTIFICATE" => ca_file.clone(),
        _ => None,
    };
    let rt = consent_enricher::telemetry::runtime().unwrap();
    let exporter = otlp::start(&cfg, &metrics, rt, env)
        .unwrap()
        .expect("an endpoint is configured");
    let now = SystemTime::now();
    let attrs = [
        ("messaging.kafka.partition", AttrValue::Int(2)),
        ("consent_enricher.decision", AttrValue::Code("no_consent")),
    ];
    let parent = TraceContext::from_headers([
        (&b"traceparent"[..], Some(TRACEPARENT.as_bytes())),
        (b"tracestate", Some(b"vendor=1")),
    ]);
    metrics.tracer.record_span(
        parent.as_ref(),
        "consent-enricher process",
        now,
        now,
        &attrs,
    );
    metrics
        .tracer
        .record_span(None, "consent-enricher process", now, now, &[]);
    metrics.record_in(consent_enricher::telemetry::InTopic::Raw);
    metrics.delivered(Duration::from_millis(3));
    metrics.txn_duration.observe(Duration::from_millis(7));
    // Every family /metrics has a sample for: all but those librdkafka's statistics
    // feed, which need a client.
    let sampled: Vec<_> = prometheus::snapshot(&metrics)
        .into_iter()
        .filter(|f| !f.samples.is_empty())
        .map(|f| f.doc.base_name())
        .collect();
    let from_statistics = [
        &prometheus::LAG,
        &prometheus::KAFKA_MSGS,
        &prometheus::KAFKA_BYTES,
        &prometheus::KAFKA_REPLYQ,
        &prometheus::KAFKA_RTT,
    ];
    for d in CATALOGUE {
        let fed = sampled.contains(&d.base_name());
        let needs_client = from_statistics.iter().any(|s| s.name == d.name);
        assert!(fed || needs_client, "{} has no sample", d.name);
    }
    exporter.shutdown(); // flushes spans and metrics once more
    wait_for("both spans and the metrics at the collector", T, || {
        collector.spans().len() >= 2 && !collector.metric_names().0.is_empty()
    });
    let spans = collector.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (_, parent, span) = spans
        .iter()
        .find(|(t, ..)| t == TRACE_ID)
        .expect("the parent's trace is continued");
    assert_eq!(parent.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(span["traceState"], "vendor=1");
    assert_eq!(span["kind"], 5, "SPAN_KIND_CONSUMER");
    assert_eq!(
        span["attributes"][0],
        json!({"key": "messaging.kafka.partition", "value": {"intValue": "2"}})
    );
    assert!(
        spans
            .iter()
            .any(|(t, p, _)| t != TRACE_ID && p.is_none() && t.len() == 32),
        "a new root trace"
    );
    let (names, services) = collector.metric_names();
    for name in sampled {
        assert!(
            names.contains(name),
            "{name} exported over {protocol}: {names:?}"
        );
    }
    assert_eq!(services, BTreeSet::from(["enricher-test".to_string()]));
    // Values, not only names: the one raw record and the one latency observation.
    let raw_in = collector.points("consent_enricher_records_in");
    assert!(
        raw_in.iter().any(|p| p["attributes"]
            == json!([{"key": "topic", "value": {"stringValue": "raw"}}])
            && p["asDouble"] == 1.0),
        "{raw_in:?}"
    );
    let latency = collector.points("consent_enricher_processing_latency_seconds");
    assert!(latency.iter().any(|p| p["count"] == "1"), "{latency:?}");
    let text = collector.received_text();
    assert!(
        text.contains("deployment.environment"),
        "resource attributes"
    );
    let snapshot = prometheus::render(&metrics);
    assert!(
        snapshot
            .contains("consent_enricher_otlp_exports_total{signal=\"traces\",outcome=\"ok\"} 1"),
        "{snapshot}"
    );
}

#[test]
fn the_sdk_exports_spans_and_every_metric_to_a_real_collector_over_http_protobuf() {
    exports_to_a_real_collector("http/protobuf", false);
}

#[test]
fn the_sdk_exports_spans_and_every_metric_to_a_real_collector_over_grpc() {
    exports_to_a_real_collector("grpc", false);
}

#[test]
fn the_sdk_exports_over_tls_trusting_a_custom_ca_over_http_protobuf() {
    exports_to_a_real_collector("http/protobuf", true);
}

#[test]
fn the_sdk_exports_over_tls_trusting_a_custom_ca_over_grpc() {
    exports_to_a_real_collector("grpc", true);
}

/// Without the CA the collector's certificate is not trusted: the exports fail, are
/// counted as errors, and nothing arrives.
#[test]
fn a_collector_certificate_not_trusted_fails_the_export_and_is_counted() {
    let tls = Tls::make("untrusted");
    let collector = Collector::start_tls("untrusted", &tls);
    let metrics = Arc::new(Metrics::default());
    let mut cfg = support::config().telemetry;
    cfg.otlp_endpoint = format!("https://{}", collector.http);
    cfg.trace_sample_ratio = 1.0;
    let rt = consent_enricher::telemetry::runtime().unwrap();
    let exporter = otlp::start(&cfg, &metrics, rt, |_: &str| None)
        .unwrap()
        .expect("an endpoint is configured");
    let now = SystemTime::now();
    metrics
        .tracer
        .record_span(None, "consent-enricher process", now, now, &[]);
    exporter.shutdown();
    let snapshot = prometheus::render(&metrics);
    for signal in ["traces", "metrics"] {
        assert!(
            snapshot.contains(&format!(
                "consent_enricher_otlp_exports_total{{signal=\"{signal}\",outcome=\"error\"}} 1"
            )),
            "{snapshot}"
        );
    }
    assert!(collector.received().is_empty());
}

// ---------------------------------------------------------------- the worker binary

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The worker binary running `run --config <tmp>`, stderr captured to a file.
pub(crate) struct BinWorker {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl BinWorker {
    pub(crate) fn start(name: &str, mut config: Config, env: &[(&str, String)]) -> BinWorker {
        let dir =
            std::env::temp_dir().join(format!("consent-enricher-it-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        config.telemetry.http_port = port;
        config.telemetry.http_bind = "127.0.0.1".into();
        let key = std::mem::take(&mut config.pseudonym.key);
        let path = dir.join("config.toml");
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let stderr = std::fs::File::create(dir.join("stderr.log")).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--config"])
            .arg(&path)
            .env("CONSENT_ENRICHER__PSEUDONYM__KEY", key.expose())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("starting the worker binary");
        let mut w = BinWorker {
            child,
            dir,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        wait_for("/health/ready = 200", T, || {
            if let Ok(Some(status)) = w.child.try_wait() {
                panic!("worker exited early ({status}):\n{}", w.stderr());
            }
            http_get(w.addr, "/health/ready").is_ok_and(|(s, _)| s == 200)
        });
        w
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    /// SIGTERM, then the exit status and everything it logged.
    pub(crate) fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let mut status = None;
        wait_for("worker exit after SIGTERM", T, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let log = self.stderr();
        let _ = std::fs::remove_dir_all(&self.dir);
        (status.unwrap(), log)
    }
}

impl Drop for BinWorker {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            eprintln!("worker stderr:\n{}", self.stderr());
        }
    }
}

/// A record to produce: key, value (`None` = tombstone), headers.
pub(crate) type Rec<'a> = (Option<&'a str>, Option<&'a [u8]>, &'a [(&'a str, &'a str)]);

/// Produces (key, value, headers) records and waits for them.
pub(crate) fn produce_with_headers(config: &Config, topic: &str, records: &[Rec<'_>]) {
    let p = broker::checked_producer(config);
    for (k, v, headers) in records {
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(k) = k {
            r = r.key(k.as_bytes());
        }
        if let Some(v) = v {
            r = r.payload(v);
        }
        if !headers.is_empty() {
            let mut h = OwnedHeaders::new();
            for (hk, hv) in headers.iter() {
                h = h.insert(Header {
                    key: hk,
                    value: Some(hv.as_bytes()),
                });
            }
            r = r.headers(h);
        }
        p.send(r).map_err(|(e, _)| e).expect("send");
        p.poll(Duration::ZERO);
    }
    if let Err(e) = broker::flush_delivered(&p, Duration::from_secs(30)) {
        panic!("records to {topic} not delivered: {e}");
    }
}

pub(crate) fn event(id: &str, user: Option<&str>) -> Vec<u8> {
    let mut v =
        json!({"event_id": id, "event_type": "click", "occurred_at": "2026-11-29T10:00:00Z"});
    if let Some(u) = user {
        v["user_id"] = Value::from(u);
    }
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn worker_binary_serves_health_and_metrics_that_move_and_exports_spans() {
    let _broker = broker::shared();
    let config = broker::config("telemetry-http");
    let collector = Collector::start("worker-binary");
    let mut run_config = config.clone();
    // gRPC here, http/protobuf in the SDK test above: the binary's default is HTTP.
    run_config.telemetry.otlp_endpoint = format!("http://{}", collector.grpc);
    run_config.telemetry.trace_sample_ratio = 1.0;
    let w = BinWorker::start(
        "http",
        run_config,
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "300".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_SERVICE_NAME", "enricher-it".into()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
        ],
    );
    let (status, body) = http_get(w.addr, "/health/live").unwrap();
    assert_eq!((status, body.as_str()), (200, "live\n"));
    let (status, _) = http_get(w.addr, "/nope").unwrap();
    assert_eq!(status, 404);
    let before = scrape(w.addr);
    assert_eq!(value(&before, "consent_enricher_ready", &[]), 1.0);
    assert_eq!(
        value(
            &before,
            "consent_enricher_records_in_total",
            &[("topic", "raw")]
        ),
        0.0
    );

    let t = config.topics.clone();
    let consent = json!({"user_id": "u1", "updated_at": "2026-11-01T00:00:00Z", "policy_version": "v1", "purposes": {"analytics": true}});
    produce_with_headers(
        &config,
        &t.consent,
        &[(
            Some("u1"),
            Some(&serde_json::to_vec(&consent).unwrap()),
            &[],
        )],
    );
    wait_for(
        "the consent in the table (seen through /metrics)",
        T,
        || {
            value(
                &scrape(w.addr),
                "consent_enricher_state_entries",
                &[("table", "consents")],
            ) >= 1.0
        },
    );
    let (e1, e2, e3) = (
        event("e1", Some("u1")),
        event("e2", None),
        event("e3", Some("u2")),
    );
    let tp: &[(&str, &str)] = &[("traceparent", TRACEPARENT), ("tracestate", "vendor=1")];
    produce_with_headers(
        &config,
        &t.raw,
        &[
            (Some("u1"), Some(&e1), tp),
            (None, Some(&e2), &[]),
            (Some("u2"), Some(&e3), &[]),
            (None, Some(b"{not json"), &[]),
            (None, Some(b"\xff\xfe"), &[]),
        ],
    );
    let mut reader = Reader::new(&config);
    reader.read_until("all outputs", T, |r| {
        r.count(&t.anonymous) == 3 && r.count(&t.dead_letter) == 2 && r.count(&t.personal) == 1
    });
    let traced = reader
        .records
        .iter()
        .find(|r| r.topic == t.personal)
        .unwrap();
    assert_eq!(
        traced.headers.get("traceparent").map(String::as_str),
        Some(TRACEPARENT),
        "trace context carried to outputs"
    );

    let mut m = Vec::new();
    wait_for("counters to move", T, || {
        m = scrape(w.addr);
        value(
            &m,
            "consent_enricher_records_out_total",
            &[("topic", "anonymous")],
        ) >= 3.0
            && value(
                &m,
                "consent_enricher_records_out_total",
                &[("topic", "dead_letter")],
            ) >= 2.0
    });
    let v = |name: &str, labels: &[(&str, &str)]| value(&m, name, labels);
    assert_eq!(
        v("consent_enricher_records_in_total", &[("topic", "raw")]),
        5.0
    );
    assert!(v("consent_enricher_records_in_total", &[("topic", "consent")]) >= 1.0);
    assert_eq!(
        v(
            "consent_enricher_records_out_total",
            &[("topic", "anonymous")]
        ),
        3.0
    );
    assert_eq!(
        v(
            "consent_enricher_records_out_total",
            &[("topic", "personal")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_records_out_total",
            &[("topic", "dead_letter")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "consent_enricher_dead_letters_total",
            &[("reason", "invalid_json")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_dead_letters_total",
            &[("reason", "invalid_utf8")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_dead_letters_total",
            &[("reason", "schema_violation")]
        ),
        0.0
    );
    assert_eq!(
        v(
            "consent_enricher_decisions_total",
            &[("output", "personal"), ("decision", "personal")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_decisions_total",
            &[("output", "personal"), ("decision", "no_user_id")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_decisions_total",
            &[("output", "personal"), ("decision", "no_consent")]
        ),
        1.0
    );
    assert!(v("consent_enricher_uptime_seconds", &[]) > 0.0);
    let count = v("consent_enricher_processing_latency_seconds_count", &[]);
    assert!(
        count >= 3.0,
        "latency observed per delivered input: {count}"
    );
    let buckets: Vec<f64> = m
        .iter()
        .filter(|s| s.name == "consent_enricher_processing_latency_seconds_bucket")
        .map(|s| s.value)
        .collect();
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "cumulative buckets"
    );
    assert_eq!(buckets.last().copied(), Some(count), "+Inf bucket = count");
    // Label values come from fixed vocabularies only.
    for s in &m {
        for (k, val) in &s.labels {
            let ok = match k.as_str() {
                "partition" | "broker" | "le" => val.parse::<f64>().is_ok() || val == "+Inf",
                "version" => val == env!("CARGO_PKG_VERSION"),
                _ => val
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            };
            assert!(ok, "label {k}={val:?} on {}", s.name);
        }
    }

    // Well within the SDK's defaults (60 s for metrics, 5 s for spans): the intervals
    // set in the environment are the ones used.
    wait_for(
        "the raw record's span and the metrics at the collector",
        Duration::from_secs(20),
        || {
            let (names, _) = collector.metric_names();
            collector
                .spans()
                .iter()
                .any(|(t, p, _)| t == TRACE_ID && p.as_deref() == Some("00f067aa0ba902b7"))
                && names.contains("consent_enricher_records_in")
        },
    );
    let (_, services) = collector.metric_names();
    assert!(
        services.contains("enricher-it"),
        "OTEL_SERVICE_NAME honoured: {services:?}"
    );
    // No user or event id reached the collector as any value (attributes, names).
    let received = collector.received_text();
    for id in ["u1", "u2", "e1", "e2", "e3"] {
        assert!(
            !received.contains(&format!("\"{id}\"")),
            "{id} exported to the collector"
        );
    }

    let (status, log) = w.stop();
    assert!(
        status.success(),
        "graceful exit on SIGTERM: {status}\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

/// Every request head an OTLP/HTTP endpoint receives (a listener that answers 200 to
/// each), to see what the SDK puts on the wire besides the body.
fn request_heads() -> (SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match conn.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match conn.read(&mut chunk) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end + 4 + len);
                    seen.lock().unwrap().push(head);
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if conn.write_all(ok).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, heads)
}

#[test]
fn the_sdk_sends_the_environments_headers_and_compression_and_never_logs_them() {
    let _broker = broker::shared();
    let config = broker::config("telemetry-headers");
    let (addr, heads) = request_heads();
    let w = BinWorker::start(
        "headers",
        config,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20sekret-token,x-tenant=acme".into(),
            ),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".into()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200".into()),
            // Every line the worker and librdkafka can write, searched for the secret.
            ("CONSENT_ENRICHER__TELEMETRY__LOG_LEVEL", "trace".into()),
        ],
    );
    wait_for("a metrics export with the headers", T, || {
        heads.lock().unwrap().iter().any(|h| {
            h.starts_with("post /v1/metrics ")
                && h.contains("authorization: bearer sekret-token")
                && h.contains("x-tenant: acme")
                && h.contains("content-encoding: gzip")
                && h.contains("content-type: application/x-protobuf")
        })
    });
    let (status, log) = w.stop();
    assert!(status.success(), "{status}: {log}");
    assert!(
        !log.contains("sekret"),
        "the exporter's headers reached the log:\n{log}"
    );
    // At shutdown the queued spans (none sampled at the default ratio) and the metrics
    // are flushed: the last metrics export still carries the headers.
    let all = heads.lock().unwrap();
    assert!(
        all.iter()
            .filter(|h| h.starts_with("post /v1/metrics "))
            .all(|h| h.contains("authorization: bearer sekret-token")),
        "{all:?}"
    );
}

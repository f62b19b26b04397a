//! Telemetry and operations: the worker *binary* against the real broker — health
//! endpoints and Prometheus metrics read with a real HTTP client and the exposition parsed,
//! OTLP spans and metrics received by an in-test collector, and the leak corpus run at the
//! most verbose log level with no planted value in the logs — plus the consistency of the
//! deployment files (docker-compose, Kubernetes, Grafana) with the CLI, the configuration
//! and the metric names, and the README's metrics table.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use consent_enricher::config::{Config, KEYS};
use consent_enricher::kafka::{Role, client_config};
use consent_enricher::telemetry::prometheus::{CATALOGUE, Kind};
use consent_enricher::telemetry::{AttrValue, Metrics, otlp};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::{Value, json};
use yaml_rust2::{Yaml, YamlLoader};

use crate::broker::{self, Reader, wait_for};
use crate::support;

const T: Duration = Duration::from_secs(120);
const BIN: &str = env!("CARGO_BIN_EXE_consent-enricher");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// ---------------------------------------------------------------- HTTP and exposition

/// A minimal HTTP/1.1 GET: status and body.
fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no header end"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status"))?;
    let length: Option<usize> = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse().unwrap())
    });
    if let Some(n) = length {
        assert_eq!(body.len(), n, "Content-Length matches the body");
    }
    Ok((status, body.to_string()))
}

/// One parsed sample.
#[derive(Debug, Clone)]
struct PromSample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus text exposition 0.0.4 strictly: HELP/TYPE comments, samples with
/// quoted, escaped label values; every sample must belong to a family with a TYPE.
fn parse_exposition(text: &str) -> Result<(BTreeMap<String, String>, Vec<PromSample>), String> {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    for (no, line) in text.lines().enumerate() {
        let err = |what: &str| format!("line {}: {what}: {line:?}", no + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !valid_name(name)
                        || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
                    {
                        return Err(err("bad TYPE"));
                    }
                    if types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(err("duplicate TYPE"));
                    }
                }
                (Some("HELP"), Some(name), _) if valid_name(name) => {}
                _ => return Err(err("bad comment")),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| err("no value"))?;
        let name = &line[..name_end];
        if !valid_name(name) {
            return Err(err("bad metric name"));
        }
        let mut rest = &line[name_end..];
        let mut labels = BTreeMap::new();
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let end = loop {
                let Some((i, c)) = chars.next() else {
                    return Err(err("unterminated labels"));
                };
                if c == '}' {
                    break i;
                }
                if c == ',' {
                    continue;
                }
                let start = i;
                let mut eq = None;
                for (j, c) in chars.by_ref() {
                    if c == '=' {
                        eq = Some(j);
                        break;
                    }
                }
                let eq = eq.ok_or_else(|| err("label without ="))?;
                let lname = &r[start..eq];
                if !valid_name(lname) {
                    return Err(err("bad label name"));
                }
                if chars.next().map(|(_, c)| c) != Some('"') {
                    return Err(err("unquoted label value"));
                }
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => value.push('\n'),
                            Some((_, c @ ('\\' | '"'))) => value.push(c),
                            _ => return Err(err("bad escape")),
                        },
                        Some((_, '"')) => break,
                        Some((_, c)) => value.push(c),
                        None => return Err(err("unterminated label value")),
                    }
                }
                labels.insert(lname.to_string(), value);
                if let Some((_, c)) = chars.peek()
                    && *c != ','
                    && *c != '}'
                {
                    return Err(err("junk after label"));
                }
            };
            rest = &r[end + 1..];
        }
        let mut fields = rest.split_whitespace();
        let value = match fields.next().ok_or_else(|| err("no value"))? {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v.parse::<f64>().map_err(|_| err("bad value"))?,
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp"))?;
        }
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|b| types.get(*b).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        if !types.contains_key(family) {
            return Err(err("sample without a TYPE"));
        }
        samples.push(PromSample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok((types, samples))
}

/// The value of `name` with exactly `labels` (0 when absent).
fn value(samples: &[PromSample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == want)
        .map_or(0.0, |s| s.value)
}

fn scrape(addr: SocketAddr) -> Vec<PromSample> {
    let (status, body) = http_get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200);
    let (types, samples) = parse_exposition(&body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    for d in CATALOGUE {
        assert_eq!(
            types.get(d.name).map(String::as_str),
            Some(d.kind.word()),
            "{} is exposed with its type",
            d.name
        );
    }
    samples
}

// ---------------------------------------------------------------- in-test OTLP collector

/// Records every POST it receives: (path, parsed JSON body).
#[derive(Clone)]
struct Collector {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&got);
        // Detached: it lives as long as the test binary, answering each request once.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut s) = conn else { continue };
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                let (head_end, length) = loop {
                    let Ok(n) = s.read(&mut chunk) else {
                        break (0, 0);
                    };
                    if n == 0 {
                        break (0, 0);
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        break (i + 4, len);
                    }
                };
                if head_end == 0 {
                    continue;
                }
                while buf.len() < head_end + length {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let path = head.split(' ').nth(1).unwrap_or_default().to_string();
                let body: Value = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
                sink.lock().unwrap().push((path, body));
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
            }
        });
        Collector { addr, got }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Trace ids of every span received, with their parent span ids.
    fn spans(&self) -> Vec<(String, Option<String>, Value)> {
        let got = self.got.lock().unwrap();
        let mut out = Vec::new();
        for (path, body) in got.iter().filter(|(p, _)| p == "/v1/traces") {
            let _ = path;
            for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for s in ss["spans"].as_array().into_iter().flatten() {
                        out.push((
                            s["traceId"].as_str().unwrap_or_default().to_string(),
                            s["parentSpanId"].as_str().map(String::from),
                            s.clone(),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Names of every metric received, and the service.name of their resource.
    fn metric_names(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let got = self.got.lock().unwrap();
        let (mut names, mut services) = (BTreeSet::new(), BTreeSet::new());
        for (_, body) in got.iter().filter(|(p, _)| p == "/v1/metrics") {
            for rm in body["resourceMetrics"].as_array().into_iter().flatten() {
                for a in rm["resource"]["attributes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                {
                    if a["key"] == "service.name" {
                        services.insert(
                            a["value"]["stringValue"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        );
                    }
                }
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        names.insert(m["name"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        (names, services)
    }
}

#[test]
fn otlp_exporter_sends_continued_spans_and_every_metric_to_a_collector() {
    let collector = Collector::start();
    let metrics = Arc::new(Metrics::default());
    let mut cfg = support::config().telemetry;
    cfg.otlp_endpoint = collector.endpoint();
    cfg.trace_sample_ratio = 1.0;
    let env = |k: &str| (k == "OTEL_SERVICE_NAME").then(|| "enricher-test".to_string());
    let exporter = otlp::start(&cfg, &metrics, env)
        .unwrap()
        .expect("an endpoint is configured");
    let now = SystemTime::now();
    let attrs = [
        ("messaging.kafka.partition", AttrValue::Int(2)),
        ("consent_enricher.decision", AttrValue::Code("no_consent")),
    ];
    metrics.tracer.record_span(
        Some(TRACEPARENT.as_bytes()),
        Some(b"vendor=1"),
        "consent-enricher process",
        now,
        now,
        &attrs,
    );
    metrics
        .tracer
        .record_span(None, None, "consent-enricher process", now, now, &[]);
    metrics.record_in(consent_enricher::telemetry::InTopic::Raw);
    exporter.shutdown(); // flushes spans and metrics once more
    let spans = collector.spans();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (_, parent, span) = spans
        .iter()
        .find(|(t, ..)| t == TRACE_ID)
        .expect("the parent's trace is continued");
    assert_eq!(parent.as_deref(), Some("00f067aa0ba902b7"));
    assert_eq!(span["traceState"], "vendor=1");
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
    for d in CATALOGUE {
        assert!(
            names.contains(d.base_name()),
            "{} exported over OTLP: {names:?}",
            d.base_name()
        );
    }
    assert_eq!(services, BTreeSet::from(["enricher-test".to_string()]));
    let snapshot = consent_enricher::telemetry::prometheus::render(&metrics);
    assert!(
        snapshot
            .contains("consent_enricher_otlp_exports_total{signal=\"traces\",outcome=\"ok\"} 1"),
        "{snapshot}"
    );
}

// ---------------------------------------------------------------- the worker binary

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The worker binary running `run --config <tmp>`, stderr captured to a file.
struct BinWorker {
    child: Child,
    dir: PathBuf,
    addr: SocketAddr,
}

impl BinWorker {
    fn start(name: &str, mut config: Config, env: &[(&str, String)]) -> BinWorker {
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
            .env("CONSENT_ENRICHER__PSEUDONYM__KEY", key)
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
    fn stop(mut self) -> (ExitStatus, String) {
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
type Rec<'a> = (Option<&'a str>, Option<&'a [u8]>, &'a [(&'a str, &'a str)]);

/// Produces (key, value, headers) records and waits for them.
fn produce_with_headers(config: &Config, topic: &str, records: &[Rec<'_>]) {
    let p: BaseProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .expect("producer");
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
    p.flush(Duration::from_secs(30)).expect("flush");
}

fn event(id: &str, user: Option<&str>) -> Vec<u8> {
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
    let collector = Collector::start();
    let mut run_config = config.clone();
    run_config.telemetry.otlp_endpoint = collector.endpoint();
    run_config.telemetry.trace_sample_ratio = 1.0;
    let w = BinWorker::start(
        "http",
        run_config,
        &[
            ("OTEL_METRIC_EXPORT_INTERVAL", "300".into()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
            ("OTEL_SERVICE_NAME", "enricher-it".into()),
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
            &[("decision", "personal")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_decisions_total",
            &[("decision", "no_user_id")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "consent_enricher_decisions_total",
            &[("decision", "no_consent")]
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

    wait_for(
        "the raw record's span and the metrics at the collector",
        T,
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

    let (status, log) = w.stop();
    assert!(
        status.success(),
        "graceful exit on SIGTERM: {status}\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
}

// ---------------------------------------------------------------- the log-leak test

/// Planted personal values; none may appear in the logs, in any form.
struct Leak {
    user: &'static str,
    anonymous: &'static str,
    device: &'static str,
    session: &'static str,
    event: &'static str,
    email: &'static str,
    phone: &'static str,
    card: &'static str,
    ipv4: &'static str,
    ipv6: &'static str,
    name: &'static str,
    address: &'static str,
    bank_card: &'static str,
    government_id: &'static str,
}

const LEAK: Leak = Leak {
    user: "usr-leak-5f1c9a",
    anonymous: "anon-leak-77e2b0",
    device: "dev-leak-3c44d1",
    session: "sess-leak-9b0e6f",
    event: "evt-leak-0a7d2c",
    email: "jane.leakington@example.org",
    phone: "+1 415 555 0199",
    card: "4111 1111 1111 1111",
    ipv4: "203.0.113.77",
    ipv6: "2001:db8::7a1f",
    name: "Janet Leakington",
    address: "42 Wallaby Way, Sydney",
    bank_card: "5500 0000 0000 0004",
    government_id: "078-05-1120",
};

impl Leak {
    fn needles(&self) -> Vec<String> {
        let mut v: Vec<String> = [
            self.user,
            self.anonymous,
            self.device,
            self.session,
            self.event,
            self.email,
            self.phone,
            self.card,
            self.ipv4,
            self.ipv6,
            self.name,
            self.address,
            self.bank_card,
            self.government_id,
            "Leakington",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for s in [self.phone, self.card, self.bank_card, self.government_id] {
            v.push(s.chars().filter(char::is_ascii_digit).collect());
        }
        v
    }

    /// One free-text string carrying every planted value.
    fn text(&self) -> String {
        format!(
            "contact {} / {} card {} from {} and {} ({}, {}, {}, {}, {})",
            self.email,
            self.phone,
            self.card,
            self.ipv4,
            self.ipv6,
            self.user,
            self.device,
            self.session,
            self.name,
            self.anonymous
        )
    }

    fn event(&self, id: &str) -> Value {
        let t = self.text();
        json!({
            "event_id": id, "event_type": "purchase", "occurred_at": "2026-11-29T10:00:00Z",
            "user_id": self.user, "anonymous_id": self.anonymous, "device_id": self.device,
            "session_id": self.session, "ip": self.ipv4,
            "user_agent": format!("Mozilla/5.0 ({t})"), "language": "en-US",
            "url": format!("https://shop.example/u/{}/{}?email={}&utm_source={}#{}", self.user, self.email, self.email, self.phone, self.ipv6),
            "referrer": format!("https://{}/?q={}", self.ipv4, self.email),
            "location": {"lat": 51.5, "lon": -0.12, "accuracy_m": 10},
            "app": {"name": t, "version": self.phone, "platform": self.email},
            "properties": {"note": t, self.email: self.card, "nested": {"deep": [self.ipv6, self.government_id, self.bank_card]}},
        })
    }
}

#[test]
fn logs_at_trace_level_contain_no_planted_personal_value() {
    let _broker = broker::shared();
    let config = broker::config("telemetry-leak");
    let t = config.topics.clone();
    let l = &LEAK;
    // State first (read at start-up), with every profile value planted.
    let consent = json!({"user_id": l.user, "updated_at": "2026-11-01T00:00:00Z", "policy_version": "v1",
        "purposes": {"analytics": true, "marketing": true}});
    let profile = json!({"user_id": l.user, "updated_at": "2026-11-01T00:00:00Z", "name": l.name, "email": l.email,
        "phone": l.phone, "mailing_address": l.address, "preferences": {"note": l.text()},
        "bank_card": l.bank_card, "government_id": l.government_id});
    let bad_profile = format!(
        "{{\"user_id\": \"{}\", \"email\": \"{}\", \"name\": ",
        l.user, l.email
    );
    produce_with_headers(
        &config,
        &t.consent,
        &[(
            Some(l.user),
            Some(&serde_json::to_vec(&consent).unwrap()),
            &[],
        )],
    );
    produce_with_headers(
        &config,
        &t.profile,
        &[
            (
                Some(l.user),
                Some(&serde_json::to_vec(&profile).unwrap()),
                &[],
            ),
            (Some(l.email), Some(bad_profile.as_bytes()), &[]),
        ],
    );
    let mut run_config = config.clone();
    run_config.telemetry.log_level = "trace".into();
    run_config.kafka.client.insert("debug".into(), "all".into());
    // librdkafka's debug contexts on too: they must not print record contents either.
    let w = BinWorker::start("leak", run_config, &[]);

    let good = serde_json::to_vec(&l.event(l.event)).unwrap();
    let mut schema_bad = l.event("evt-leak-bad");
    schema_bad["occurred_at"] = Value::from(l.email);
    schema_bad["event_type"] = Value::from(l.phone);
    let schema_bad = serde_json::to_vec(&schema_bad).unwrap();
    let not_json = format!(
        "{{\"user_id\": \"{}\", \"ip\": \"{}\", \"email\": {}",
        l.user, l.ipv4, l.email
    )
    .into_bytes();
    let mut not_utf8 = format!("{} {} ", l.email, l.card).into_bytes();
    not_utf8.extend_from_slice(b"\xff\xfe");
    let too_deep = format!(
        "{}{}{}",
        "[".repeat(100),
        serde_json::to_string(l.email).unwrap(),
        "]".repeat(100)
    )
    .into_bytes();
    let dup = format!(
        "{{\"event_id\":\"e-dup\",\"event_type\":\"click\",\"occurred_at\":\"2026-11-29T10:00:00Z\",\"user_id\":\"{}\",\"user_id\":\"{}\"}}",
        l.user, l.email
    )
    .into_bytes();
    let headers: &[(&str, &str)] = &[
        ("traceparent", l.email),
        ("tracestate", l.ipv4),
        ("x-user", l.user),
    ];
    let inputs: Vec<&[u8]> = vec![&good, &schema_bad, &not_json, &not_utf8, &too_deep, &dup];
    let records: Vec<Rec<'_>> = inputs
        .iter()
        .map(|v| (Some(l.user), Some(*v), headers))
        .collect();
    produce_with_headers(&config, &t.raw, &records);
    let erasure = json!({"user_id": l.user, "request_id": "req-leak-1", "requested_at": "2026-11-30T00:00:00Z"});
    let mut reader = Reader::new(&config);
    reader.read_until("outputs of every input", T, |r| {
        r.count(&t.anonymous) + r.count(&t.dead_letter) == inputs.len()
    });
    produce_with_headers(
        &config,
        &t.erasure,
        &[(
            Some(l.user),
            Some(&serde_json::to_vec(&erasure).unwrap()),
            &[],
        )],
    );
    reader.read_until("the audit record", T, |r| r.count(&t.audit) == 1);
    assert_eq!(
        reader.count(&t.personal),
        1,
        "the consented event was personal"
    );

    let (status, log) = w.stop();
    assert!(status.success(), "{status}\n{log}");
    assert!(
        log.lines().count() >= 3,
        "the worker logged something:\n{log}"
    );
    println!(
        "leak: {} log lines ({} from librdkafka debug), {} bytes, no planted value",
        log.lines().count(),
        log.lines().filter(|l| l.contains("librdkafka")).count(),
        log.len()
    );
    for needle in LEAK.needles() {
        assert!(
            !log.contains(&needle),
            "planted value {needle:?} found in the logs:\n{log}"
        );
    }
    // JSON-escaped forms too (an escaped e-mail or address would still be personal data).
    for needle in [l.email, l.address, l.name] {
        let escaped = serde_json::to_string(needle).unwrap();
        assert!(!log.contains(escaped.trim_matches('"')), "{needle}");
    }
}

// ---------------------------------------------------------------- deployment files

fn read(rel: &str) -> String {
    std::fs::read_to_string(support::root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_docs(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().map(s).collect())
        .unwrap_or_default()
}

/// A compose service with YAML merge keys (`<<: *anchor`) applied.
fn merged(y: &Yaml) -> yaml_rust2::yaml::Hash {
    let mut out = yaml_rust2::yaml::Hash::new();
    let Some(h) = y.as_hash() else { return out };
    if let Some(base) = h.get(&Yaml::String("<<".into())).and_then(Yaml::as_hash) {
        out.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (k, v) in h {
        if k.as_str() != Some("<<") {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_string())
}

/// `${VAR:-default}` → default (compose interpolation with nothing set).
fn interpolate(v: &str) -> String {
    let mut out = v.to_string();
    while let Some(i) = out.find("${") {
        let end = out[i..].find('}').map(|e| i + e).expect("closed ${");
        let inner = &out[i + 2..end];
        let default = inner
            .split_once(":-")
            .map(|(_, d)| d.to_string())
            .unwrap_or_default();
        out.replace_range(i..=end, &default);
    }
    out
}

/// Every `CONSENT_ENRICHER__*` name maps to a configuration key (librdkafka properties
/// under kafka.client/consumer/producer are free-form).
fn check_env_names(names: &[String]) {
    let keys: BTreeSet<&str> = KEYS.iter().map(|k| k.key).collect();
    for n in names {
        let Some(rest) = n.strip_prefix("CONSENT_ENRICHER__") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let dotted = path.join(".");
        let passthrough = path.len() == 3
            && ["kafka.client", "kafka.consumer", "kafka.producer"]
                .contains(&path[..2].join(".").as_str());
        assert!(
            keys.contains(dotted.as_str()) || passthrough,
            "{n} names no configuration key"
        );
    }
}

/// The command line is a real subcommand with real flags of the binary.
fn check_command(args: &[String]) {
    let words: Vec<&str> = args
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    assert!(!words.is_empty(), "no subcommand in {args:?}");
    let out = Command::new(BIN)
        .args(&words)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{}` is not a command: {}",
        words.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "`{}` has no {flag}:\n{help}",
            words.join(" ")
        );
    }
}

/// The config file a command reads (`--config PATH`).
fn config_arg(args: &[String]) -> Option<&str> {
    args.iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn load_config(toml_text: &str, env: &[(String, String)]) -> Config {
    let dir =
        std::env::temp_dir().join(format!("consent-enricher-it-{}-deploy", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.toml", env.len()));
    std::fs::write(&path, toml_text).unwrap();
    let c = Config::load(Some(&path), env.iter().cloned()).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    c
}

#[test]
fn docker_compose_matches_the_cli_config_and_ports() {
    let docs = yaml_docs("docker-compose.yml");
    let services = docs[0]["services"].as_hash().expect("services");
    let get = |name: &str| {
        merged(
            services
                .get(&key(name))
                .unwrap_or_else(|| panic!("service {name}")),
        )
    };
    let kafka = get("kafka");
    assert!(s(&kafka[&key("image")]).starts_with("apache/kafka:"));
    assert!(
        s(&kafka[&key("environment")]["KAFKA_PROCESS_ROLES"]).contains("controller"),
        "KRaft"
    );
    assert!(kafka.contains_key(&key("healthcheck")));
    let collector = get("otel-collector");
    assert!(s(&collector[&key("image")]).starts_with("otel/opentelemetry-collector"));
    let otel_cfg = &yaml_docs("deploy/compose/otel-collector.yaml")[0];
    let http_ep = s(&otel_cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"]);
    assert!(http_ep.ends_with(":4318"));
    for signal in ["metrics", "traces"] {
        assert_eq!(
            strings(&otel_cfg["service"]["pipelines"][signal]["exporters"]),
            ["debug"],
            "{signal} printed"
        );
    }
    assert!(strings(&collector[&key("ports")]).contains(&"4318:4318".to_string()));

    let default_port = Config::default().telemetry.http_port;
    assert_eq!(default_port, 9464);
    for name in ["topics", "worker", "gen"] {
        let svc = get(name);
        assert!(
            svc.contains_key(&key("build")),
            "{name} builds the Dockerfile"
        );
        let args = strings(&svc[&key("command")]);
        check_command(&args);
        let env: Vec<(String, String)> = svc[&key("environment")]
            .as_hash()
            .unwrap()
            .iter()
            .map(|(k, v)| (s(k), interpolate(&s(v))))
            .collect();
        check_env_names(&env.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
        assert!(
            env.iter().any(
                |(k, v)| k == "CONSENT_ENRICHER__KAFKA__BOOTSTRAP_SERVERS" && v == "kafka:9092"
            )
        );
        // The mounted config file exists and, with this environment, is valid.
        let cfg_path = config_arg(&args).expect("--config");
        let volumes = strings(&svc[&key("volumes")]);
        let mount = volumes
            .iter()
            .find(|v| v.split(':').nth(1) == Some(cfg_path))
            .expect("config mounted");
        let host = mount.split(':').next().unwrap().trim_start_matches("./");
        let c = load_config(&read(host), &env);
        if name == "worker" {
            c.require_key().expect("worker gets a pseudonym key");
            assert_eq!(c.telemetry.http_port, default_port);
            assert!(
                strings(&svc[&key("ports")]).contains(&format!("{0}:{0}", c.telemetry.http_port))
            );
            let probe = strings(&svc[&key("healthcheck")]["test"]).join(" ");
            assert!(
                probe.contains(consent_enricher::telemetry::http::READY_PATH)
                    && probe.contains(&format!("/{}", c.telemetry.http_port)),
                "{probe}"
            );
            let otlp = env
                .iter()
                .find(|(k, _)| k == "OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|(_, v)| v.clone())
                .unwrap();
            assert_eq!(
                otlp, "http://otel-collector:4318",
                "the worker exports to the collector service"
            );
            assert!(env.iter().any(|(k, _)| k == "OTEL_SERVICE_NAME"));
        }
    }
}

#[test]
fn kubernetes_manifests_parse_and_match_the_worker() {
    let dir = support::root().join("deploy/kubernetes");
    let mut by_kind: BTreeMap<String, Vec<Yaml>> = BTreeMap::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name == "kustomization.yaml" {
            continue;
        }
        files.push(name.clone());
        for d in yaml_docs(&format!("deploy/kubernetes/{name}")) {
            assert!(
                !d["apiVersion"].is_badvalue() && !d["metadata"]["name"].is_badvalue(),
                "{name}: apiVersion and name"
            );
            by_kind.entry(s(&d["kind"])).or_default().push(d);
        }
    }
    let kustomize = &yaml_docs("deploy/kubernetes/kustomization.yaml")[0];
    let mut listed = strings(&kustomize["resources"]);
    listed.sort();
    files.sort();
    assert_eq!(listed, files, "kustomization lists every manifest");
    let one = |k: &str| {
        by_kind
            .get(k)
            .and_then(|v| v.first())
            .unwrap_or_else(|| panic!("a {k}"))
            .clone()
    };
    let (deploy, cm, secret, pdb, so) = (
        one("Deployment"),
        one("ConfigMap"),
        one("Secret"),
        one("PodDisruptionBudget"),
        one("ScaledObject"),
    );

    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let port = c["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|p| s(&p["name"]) == "http")
        .expect("http port");
    let container_port = port["containerPort"].as_i64().unwrap();
    let resolve_port = |p: &Yaml| match p {
        Yaml::String(n) => {
            assert_eq!(n, "http");
            container_port
        }
        other => other.as_i64().unwrap(),
    };
    use consent_enricher::telemetry::http::{LIVE_PATH, READY_PATH};
    assert_eq!(s(&c["livenessProbe"]["httpGet"]["path"]), LIVE_PATH);
    assert_eq!(s(&c["readinessProbe"]["httpGet"]["path"]), READY_PATH);
    assert_eq!(
        resolve_port(&c["livenessProbe"]["httpGet"]["port"]),
        container_port
    );
    assert_eq!(
        resolve_port(&c["readinessProbe"]["httpGet"]["port"]),
        container_port
    );
    let annotations = &deploy["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        s(&annotations["prometheus.io/port"]),
        container_port.to_string()
    );
    assert_eq!(s(&annotations["prometheus.io/path"]), "/metrics");
    let args = strings(&c["args"]);
    check_command(&args);
    assert!(pod["securityContext"]["runAsNonRoot"].as_bool().unwrap());
    assert!(
        pod["terminationGracePeriodSeconds"].as_i64().unwrap() as u64
            > consent_enricher::kafka::worker::DRAIN_TIMEOUT.as_secs(),
        "room to drain on SIGTERM"
    );

    // Environment: names map to keys; secrets referenced exist.
    let secret_keys: BTreeSet<String> = secret["stringData"]
        .as_hash()
        .unwrap()
        .keys()
        .map(s)
        .collect();
    let mut env = Vec::new();
    for e in c["env"].as_vec().unwrap() {
        let name = s(&e["name"]);
        let value = match &e["valueFrom"]["secretKeyRef"] {
            Yaml::BadValue => s(&e["value"]),
            r => {
                assert_eq!(s(&r["name"]), s(&secret["metadata"]["name"]));
                let k = s(&r["key"]);
                assert!(secret_keys.contains(&k), "secret key {k}");
                if k == "pseudonym-key" {
                    "k".repeat(32)
                } else {
                    format!("placeholder-{k}")
                }
            }
        };
        env.push((name, value));
    }
    check_env_names(&env.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());

    // The ConfigMap's config is mounted where --config points and is valid with that env.
    let cfg_path = config_arg(&args).expect("--config");
    let mount = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| cfg_path.starts_with(&s(&m["mountPath"])))
        .expect("config mount");
    let volume = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|v| s(&v["name"]) == s(&mount["name"]))
        .unwrap();
    assert_eq!(s(&volume["configMap"]["name"]), s(&cm["metadata"]["name"]));
    let file = Path::new(cfg_path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let config = load_config(&s(&cm["data"][file.as_str()]), &env);
    config.require_key().unwrap();
    assert_eq!(
        i64::from(config.telemetry.http_port),
        container_port,
        "probes hit the configured port"
    );
    assert_eq!(
        config.kafka.client.get("sasl.password").map(String::as_str),
        Some("placeholder-kafka-password")
    );

    // PDB and autoscaler target this Deployment; replicas never exceed the partitions.
    let labels = &deploy["spec"]["selector"]["matchLabels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&deploy["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(
        s(&so["spec"]["scaleTargetRef"]["name"]),
        s(&deploy["metadata"]["name"])
    );
    let max = so["spec"]["maxReplicaCount"].as_i64().unwrap();
    let consumers = max * config.delivery.instances as i64;
    assert!(
        consumers <= i64::from(config.topics.partitions),
        "maxReplicaCount {max} × instances exceeds {} partitions",
        config.topics.partitions
    );
    let trigger = &so["spec"]["triggers"][0];
    assert_eq!(s(&trigger["type"]), "kafka");
    assert_eq!(
        s(&trigger["metadata"]["consumerGroup"]),
        config.kafka.group_id
    );
    assert_eq!(s(&trigger["metadata"]["topic"]), config.topics.raw);
    assert_eq!(
        s(&trigger["metadata"]["bootstrapServers"]),
        config.kafka.bootstrap_servers
    );
    let auth = one("TriggerAuthentication");
    assert_eq!(
        s(&trigger["authenticationRef"]["name"]),
        s(&auth["metadata"]["name"])
    );
    for r in auth["spec"]["secretTargetRef"].as_vec().unwrap() {
        assert!(secret_keys.contains(&s(&r["key"])));
    }
}

#[test]
fn grafana_dashboard_queries_only_exposed_metrics_and_covers_all() {
    let dash: Value = serde_json::from_str(&read("deploy/grafana/consent-enricher.json")).unwrap();
    let kinds: BTreeMap<&str, Kind> = CATALOGUE.iter().map(|d| (d.name, d.kind)).collect();
    let mut used = BTreeSet::new();
    let panels = dash["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("consent_enricher_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|sfx| {
                        name.strip_suffix(sfx)
                            .filter(|b| kinds.get(b) == Some(&Kind::Histogram))
                    })
                    .unwrap_or(name);
                assert!(
                    kinds.contains_key(family),
                    "dashboard queries {name}, which is not exposed ({expr})"
                );
                if name != family {
                    assert_ne!(kinds[family], Kind::Counter);
                }
                used.insert(family.to_string());
                rest = &tail[end..];
            }
        }
    }
    let all: BTreeSet<String> = kinds.keys().map(|k| k.to_string()).collect();
    assert_eq!(used, all, "every metric has a panel");
}

#[test]
fn readme_metrics_table_matches_the_code() {
    let readme = read("README.md");
    let start = readme
        .find("<!-- metrics-table:start -->\n")
        .expect("start marker")
        + "<!-- metrics-table:start -->\n".len();
    let end = readme
        .find("<!-- metrics-table:end -->")
        .expect("end marker");
    assert_eq!(
        &readme[start..end],
        consent_enricher::telemetry::prometheus::markdown_table()
    );
}

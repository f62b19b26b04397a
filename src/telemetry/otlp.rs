//! OTLP export: a small hand-written OTLP/HTTP JSON exporter over `std::net` (plain
//! `http://` only — put a collector sidecar in front for TLS). A thread posts the metric
//! snapshot to `<endpoint>/v1/metrics` every `OTEL_METRIC_EXPORT_INTERVAL` ms (default
//! 60000) and the queued spans to `<endpoint>/v1/traces` every `OTEL_BSP_SCHEDULE_DELAY`
//! ms (default 5000), and once more at shutdown. It owns the endpoint and resource
//! resolution (`telemetry.otlp_endpoint`, else `OTEL_EXPORTER_OTLP_ENDPOINT`; the
//! per-signal `OTEL_EXPORTER_OTLP_{TRACES,METRICS}_ENDPOINT`; `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`) and the encoding; it exports only what [`Metrics`] and the
//! tracer hold, so no record content can reach the collector. Failures are counted in
//! `consent_enricher_otlp_exports_total` and logged without the payload; they never stop
//! the worker.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::prometheus::{self, Kind, Sample};
use super::trace::{AttrValue, Span, hex};
use super::{Metrics, TelemetryError};
use crate::config::TelemetryConfig;
use crate::log;

/// Connect, write and read timeout of one export request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Spans per request.
const SPAN_BATCH: usize = 512;
const DEFAULT_METRIC_INTERVAL_MS: u64 = 60_000;
const DEFAULT_SPAN_DELAY_MS: u64 = 5_000;

/// An `http://host:port/path` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address (brackets kept for IPv6).
    pub host: String,
    /// Port (default 4318).
    pub port: u16,
    /// Path, starting with `/`.
    pub path: String,
}

impl Endpoint {
    /// Parses a plain-HTTP URL; `https://` and other schemes are refused.
    pub fn parse(url: &str) -> Result<Endpoint, TelemetryError> {
        let err = |why| TelemetryError::Endpoint {
            endpoint: url.to_string(),
            why,
        };
        let rest = url
            .trim()
            .strip_prefix("http://")
            .ok_or_else(|| err("only plain http:// endpoints are supported (OTLP/HTTP JSON)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(err("missing host (or user info, which is not supported)"));
        }
        let (host, port) = match authority.rfind(':') {
            Some(i) if !authority[i..].contains(']') => {
                let port = authority[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| err("bad port"))?;
                (&authority[..i], port)
            }
            _ => (authority, 4318),
        };
        if host.is_empty() {
            return Err(err("missing host"));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }

    fn with_path(&self, suffix: &str) -> Endpoint {
        Endpoint {
            path: format!("{}{suffix}", self.path),
            ..self.clone()
        }
    }
}

/// Where and what to export.
#[derive(Debug, Clone, PartialEq)]
pub struct Targets {
    /// `…/v1/metrics`.
    pub metrics: Endpoint,
    /// `…/v1/traces`.
    pub traces: Endpoint,
    /// Resource attributes (`service.name` first).
    pub resource: Vec<(String, String)>,
    /// Metric export interval.
    pub metric_interval: Duration,
    /// Span export delay.
    pub span_delay: Duration,
}

/// Resolves the export targets from the configuration and the `OTEL_*` environment
/// (`env` looks a variable up). `Ok(None)`: no endpoint anywhere, no export.
pub fn resolve(
    config: &TelemetryConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Targets>, TelemetryError> {
    let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let base = if config.otlp_endpoint.trim().is_empty() {
        get("OTEL_EXPORTER_OTLP_ENDPOINT")
    } else {
        Some(config.otlp_endpoint.clone())
    };
    let traces_env = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let metrics_env = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    if base.is_none() && traces_env.is_none() && metrics_env.is_none() {
        return Ok(None);
    }
    if let Some(p) = get("OTEL_EXPORTER_OTLP_PROTOCOL")
        && p.trim() == "grpc"
    {
        return Err(TelemetryError::Endpoint {
            endpoint: base.unwrap_or_default(),
            why: "OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported; use http/json (port 4318)",
        });
    }
    let base = base.map(|b| Endpoint::parse(&b)).transpose()?;
    let pick = |signal: Option<String>, suffix: &str| -> Result<Endpoint, TelemetryError> {
        match (signal, &base) {
            (Some(s), _) => Endpoint::parse(&s),
            (None, Some(b)) => Ok(b.with_path(suffix)),
            (None, None) => Err(TelemetryError::Endpoint {
                endpoint: String::new(),
                why: "set OTEL_EXPORTER_OTLP_ENDPOINT or both per-signal endpoints",
            }),
        }
    };
    let metrics = pick(metrics_env, "/v1/metrics")?;
    let traces = pick(traces_env, "/v1/traces")?;
    let mut attrs: Vec<(String, String)> = get("OTEL_RESOURCE_ATTRIBUTES")
        .map(|s| {
            s.split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    let k = crate::url::percent_decode(k.trim()).into_owned();
                    (!k.is_empty()).then(|| (k, crate::url::percent_decode(v.trim()).into_owned()))
                })
                .collect()
        })
        .unwrap_or_default();
    let service = get("OTEL_SERVICE_NAME")
        .or_else(|| {
            attrs
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        })
        .unwrap_or_else(|| "consent-enricher".to_string());
    attrs.retain(|(k, _)| k != "service.name");
    let mut resource = vec![("service.name".to_string(), service)];
    if !attrs.iter().any(|(k, _)| k == "service.version") {
        resource.push(("service.version".into(), env!("CARGO_PKG_VERSION").into()));
    }
    resource.extend(attrs);
    resource.push(("telemetry.sdk.language".into(), "rust".into()));
    resource.push(("telemetry.sdk.name".into(), "consent-enricher".into()));
    let ms = |k: &str, d: u64| {
        Duration::from_millis(
            get(k)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|v| *v > 0)
                .unwrap_or(d),
        )
    };
    Ok(Some(Targets {
        metrics,
        traces,
        resource,
        metric_interval: ms("OTEL_METRIC_EXPORT_INTERVAL", DEFAULT_METRIC_INTERVAL_MS),
        span_delay: ms("OTEL_BSP_SCHEDULE_DELAY", DEFAULT_SPAN_DELAY_MS),
    }))
}

/// The running exporter thread.
#[derive(Debug)]
pub struct Exporter {
    stop: mpsc::Sender<()>,
    handle: JoinHandle<()>,
    targets: Targets,
}

impl Exporter {
    /// Where it exports.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Exports the queued spans and the metrics a last time, then stops.
    pub fn shutdown(self) {
        let _ = self.stop.send(());
        if self.handle.join().is_err() {
            log::warn("otlp: exporter thread panicked");
        }
    }
}

/// Starts exporting when an endpoint is configured (see [`resolve`]), and enables the
/// metrics' tracer at `telemetry.trace_sample_ratio`. `Ok(None)`: nothing configured.
pub fn start(
    config: &TelemetryConfig,
    metrics: &Arc<Metrics>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Exporter>, TelemetryError> {
    let Some(targets) = resolve(config, env)? else {
        return Ok(None);
    };
    metrics.tracer.enable(config.trace_sample_ratio);
    let (stop, rx) = mpsc::channel::<()>();
    let m = Arc::clone(metrics);
    let t = targets.clone();
    let handle = std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || export_loop(&m, &t, &rx))
        .map_err(|source| TelemetryError::Io {
            context: "starting the OTLP exporter thread",
            source,
        })?;
    log::info(&format!(
        "otlp: exporting to http://{}:{} (metrics every {} ms, sampled spans at ratio {})",
        targets.metrics.host,
        targets.metrics.port,
        targets.metric_interval.as_millis(),
        config.trace_sample_ratio
    ));
    Ok(Some(Exporter {
        stop,
        handle,
        targets,
    }))
}

fn export_loop(m: &Metrics, t: &Targets, stop: &mpsc::Receiver<()>) {
    let mut next_metrics = Instant::now() + t.metric_interval;
    let mut next_spans = Instant::now() + t.span_delay;
    loop {
        let wake = next_metrics.min(next_spans);
        let stopping = match stop.recv_timeout(wake.saturating_duration_since(Instant::now())) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
            Err(RecvTimeoutError::Timeout) => false,
        };
        let now = Instant::now();
        if stopping || now >= next_spans {
            export_spans(m, t);
            next_spans = now + t.span_delay;
        }
        if stopping || now >= next_metrics {
            export_metrics(m, t);
            next_metrics = now + t.metric_interval;
        }
        if stopping {
            return;
        }
    }
}

fn export_spans(m: &Metrics, t: &Targets) {
    let spans = m.tracer.drain();
    for chunk in spans.chunks(SPAN_BATCH) {
        let body = encode_spans(&t.resource, chunk).to_string();
        send(m, "traces", &t.traces, body.as_bytes());
    }
}

fn export_metrics(m: &Metrics, t: &Targets) {
    let body = encode_metrics(&t.resource, m, SystemTime::now()).to_string();
    send(m, "metrics", &t.metrics, body.as_bytes());
}

fn send(m: &Metrics, signal: &'static str, ep: &Endpoint, body: &[u8]) {
    match post(ep, body) {
        Ok(status) if (200..300).contains(&status) => m.otlp_export(signal, true),
        Ok(status) => {
            m.otlp_export(signal, false);
            log::warn(&format!("otlp: {signal} export answered HTTP {status}"));
        }
        Err(e) => {
            m.otlp_export(signal, false);
            log::warn(&format!("otlp: {signal} export failed: {e}"));
        }
    }
}

/// POSTs `body` as JSON and returns the response status.
pub fn post(ep: &Endpoint, body: &[u8]) -> std::io::Result<u16> {
    let host = ep.host.trim_start_matches('[').trim_end_matches(']');
    let addr = (host, ep.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)?;
    s.set_read_timeout(Some(REQUEST_TIMEOUT))?;
    s.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    let path = if ep.path.is_empty() { "/" } else { &ep.path };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        ep.host,
        ep.port,
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    s.flush()?;
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        let n = s.read(&mut buf[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let line = String::from_utf8_lossy(&buf[..got]);
    line.strip_prefix("HTTP/1.")
        .and_then(|r| r.get(2..5))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response"))
}

fn ns(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn kv(k: &str, v: Value) -> Value {
    json!({"key": k, "value": v})
}

fn resource_json(resource: &[(String, String)]) -> Value {
    json!({"attributes": resource.iter().map(|(k, v)| kv(k, json!({"stringValue": v}))).collect::<Vec<_>>()})
}

fn scope() -> Value {
    json!({"name": "consent-enricher", "version": env!("CARGO_PKG_VERSION")})
}

/// `ExportTraceServiceRequest` (OTLP/JSON: hex ids, 64-bit integers as strings).
pub fn encode_spans(resource: &[(String, String)], spans: &[Span]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let attrs: Vec<Value> = s
                .attrs
                .iter()
                .map(|(k, v)| {
                    kv(
                        k,
                        match v {
                            AttrValue::Int(i) => json!({"intValue": i.to_string()}),
                            AttrValue::Code(c) => json!({"stringValue": c}),
                            AttrValue::Bool(b) => json!({"boolValue": b}),
                        },
                    )
                })
                .collect();
            let mut span = json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "name": s.name,
                "kind": 5,
                "startTimeUnixNano": s.start_ns.to_string(),
                "endTimeUnixNano": s.end_ns.to_string(),
                "attributes": attrs,
            });
            if let Some(p) = s.parent_span_id {
                span["parentSpanId"] = json!(hex(&p));
            }
            if let Some(ts) = &s.trace_state {
                span["traceState"] = json!(ts);
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": resource_json(resource),
        "scopeSpans": [{"scope": scope(), "spans": spans}],
    }]})
}

/// `ExportMetricsServiceRequest` of the current snapshot: counters as cumulative
/// monotonic sums (named without `_total`), gauges, histograms with explicit bounds.
pub fn encode_metrics(resource: &[(String, String)], m: &Metrics, now: SystemTime) -> Value {
    let start = ns(now.checked_sub(m.uptime()).unwrap_or(UNIX_EPOCH));
    let now = ns(now);
    let metrics: Vec<Value> = prometheus::snapshot(m)
        .into_iter()
        .map(|f| {
            let points: Vec<Value> = f
                .samples
                .iter()
                .map(|s| match s {
                    Sample::Value { labels, value } => json!({
                        "attributes": labels.iter().map(|(k, v)| kv(k, json!({"stringValue": v}))).collect::<Vec<_>>(),
                        "startTimeUnixNano": start,
                        "timeUnixNano": now,
                        "asDouble": value,
                    }),
                    Sample::Histogram { labels, bounds, buckets, sum, count } => json!({
                        "attributes": labels.iter().map(|(k, v)| kv(k, json!({"stringValue": v}))).collect::<Vec<_>>(),
                        "startTimeUnixNano": start,
                        "timeUnixNano": now,
                        "count": count.to_string(),
                        "sum": sum,
                        "bucketCounts": buckets.iter().map(u64::to_string).collect::<Vec<_>>(),
                        "explicitBounds": bounds,
                    }),
                })
                .collect();
            let d = f.doc;
            let unit = if d.name.contains("_seconds") { "s" } else { "1" };
            let mut metric = json!({"name": d.base_name(), "description": d.help, "unit": unit});
            match d.kind {
                Kind::Counter => {
                    metric["sum"] = json!({"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": points});
                }
                Kind::Gauge => metric["gauge"] = json!({"dataPoints": points}),
                Kind::Histogram => {
                    metric["histogram"] = json!({"aggregationTemporality": 2, "dataPoints": points});
                }
            }
            metric
        })
        .collect();
    json!({"resourceMetrics": [{
        "resource": resource_json(resource),
        "scopeMetrics": [{"scope": scope(), "metrics": metrics}],
    }]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("http://otel-collector:4318").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("otel-collector", 4318, "")
        );
        let e = Endpoint::parse("http://[::1]:9/base/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.path.as_str()),
            ("[::1]", 9, "/base")
        );
        assert_eq!(Endpoint::parse("http://c").unwrap().port, 4318);
        for bad in [
            "https://c:4318",
            "c:4318",
            "http://",
            "http://u:p@c",
            "http://c:x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_wins_over_env_and_resource_comes_from_env() {
        let mut c = TelemetryConfig::default();
        assert_eq!(resolve(&c, env(&[])).unwrap(), None);
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,service.name=x,team=a%2Cb",
            ),
            ("OTEL_SERVICE_NAME", "enricher-eu"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
        ]);
        let t = resolve(&c, &e).unwrap().unwrap();
        assert_eq!(t.metrics.host, "env");
        assert_eq!(t.traces.path, "/v1/traces");
        assert_eq!(t.metric_interval, Duration::from_millis(1500));
        assert_eq!(t.resource[0], ("service.name".into(), "enricher-eu".into()));
        assert!(t.resource.contains(&("team".into(), "a,b".into())));
        assert!(
            t.resource
                .contains(&("deployment.environment".into(), "prod".into()))
        );
        c.otlp_endpoint = "http://cfg:1234/otlp".into();
        let t = resolve(&c, &e).unwrap().unwrap();
        assert_eq!(
            (t.metrics.host.as_str(), t.metrics.path.as_str()),
            ("cfg", "/otlp/v1/metrics")
        );
        assert!(resolve(&c, env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])).is_err());
    }
}

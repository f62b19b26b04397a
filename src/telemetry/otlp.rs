//! OTLP export through the OpenTelemetry SDK (`opentelemetry_sdk` + `opentelemetry-otlp`):
//! metrics by a periodic reader and sampled spans by the batch span processor, each on
//! the SDK's own thread, over http/protobuf (default) or gRPC, with TLS (a custom CA from
//! `OTEL_EXPORTER_OTLP_CERTIFICATE`), and the SDK's own handling of
//! `OTEL_EXPORTER_OTLP_{,TRACES_,METRICS_}{HEADERS,COMPRESSION,TIMEOUT}`,
//! `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_BSP_*`, `OTEL_SERVICE_NAME` and
//! `OTEL_RESOURCE_ATTRIBUTES`. This file owns choosing the endpoints and protocol
//! ([`resolve`]: `telemetry.otlp_endpoint`, else the standard variables) and building the
//! pipelines; what is exported comes only from [`Metrics`] (observed through
//! `prometheus::snapshot`, the same numbers `/metrics` shows) and the tracer's typed
//! attributes, so no record content can reach the collector. Export outcomes are counted
//! in `consent_enricher_otlp_exports_total` and failures logged without the payload; they
//! never stop the worker.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider, SpanData, SpanExporter,
};

use super::prometheus::{self, Kind, Sample};
use super::{Metrics, TelemetryError};
use crate::config::TelemetryConfig;
use crate::log;

/// Spans kept for the exporter; more are dropped until it drains.
pub const QUEUE_MAX: usize = 8192;
/// Instrumentation scope of every metric and span.
pub const SCOPE: &str = "consent-enricher";

/// The wire protocol, from `OTEL_EXPORTER_OTLP_{TRACES_,METRICS_}PROTOCOL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf` (the default; port 4318, `/v1/<signal>` paths).
    HttpProtobuf,
    /// `grpc` (port 4317).
    Grpc,
}

/// Where and how one signal is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Full URL: `…/v1/traces` or `…/v1/metrics` for HTTP, the base for gRPC.
    pub endpoint: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// A PEM file of CA certificates to trust instead of the system's.
    pub ca_file: Option<String>,
    /// How long one export may take (`OTEL_EXPORTER_OTLP_{TRACES_,METRICS_}TIMEOUT`, ms;
    /// 10 s by default): given to the SDK and to the HTTP client, whose own timeout
    /// would otherwise cut every request at its default.
    pub timeout: Duration,
}

/// The specification's default export timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Both signals' targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// Metrics.
    pub metrics: Target,
    /// Traces.
    pub traces: Target,
}

/// Resolves the targets from the configuration and the `OTEL_*` environment (`env` looks
/// a variable up). `Ok(None)`: no endpoint anywhere, no export.
pub fn resolve(
    config: &TelemetryConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Targets>, TelemetryError> {
    let get = |k: &str| {
        env(k)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let base = if config.otlp_endpoint.trim().is_empty() {
        get("OTEL_EXPORTER_OTLP_ENDPOINT")
    } else {
        Some(config.otlp_endpoint.trim().to_string())
    };
    let traces_env = get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    let metrics_env = get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
    if base.is_none() && traces_env.is_none() && metrics_env.is_none() {
        return Ok(None);
    }
    let target = |signal: &str, own: Option<String>| -> Result<Target, TelemetryError> {
        let upper = signal.to_ascii_uppercase();
        let protocol = match get(&format!("OTEL_EXPORTER_OTLP_{upper}_PROTOCOL"))
            .or_else(|| get("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("http/protobuf") => Protocol::HttpProtobuf,
            Some("grpc") => Protocol::Grpc,
            Some(_) => {
                return Err(TelemetryError::Endpoint {
                    endpoint: String::new(),
                    why: "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or grpc (http/json is not built in)",
                });
            }
        };
        // A per-signal endpoint is used as given; the base gets the signal's path on HTTP
        // (the OTLP specification's rule).
        let endpoint = match (own, &base, protocol) {
            (Some(own), _, _) => own,
            (None, Some(b), Protocol::HttpProtobuf) => {
                format!("{}/v1/{signal}", b.trim_end_matches('/'))
            }
            (None, Some(b), Protocol::Grpc) => b.clone(),
            (None, None, _) => {
                return Err(TelemetryError::Endpoint {
                    endpoint: String::new(),
                    why: "set OTEL_EXPORTER_OTLP_ENDPOINT or both per-signal endpoints",
                });
            }
        };
        check_url(&endpoint)?;
        let ca_file = get(&format!("OTEL_EXPORTER_OTLP_{upper}_CERTIFICATE"))
            .or_else(|| get("OTEL_EXPORTER_OTLP_CERTIFICATE"));
        let timeout = match get(&format!("OTEL_EXPORTER_OTLP_{upper}_TIMEOUT"))
            .or_else(|| get("OTEL_EXPORTER_OTLP_TIMEOUT"))
        {
            None => DEFAULT_TIMEOUT,
            Some(ms) => match ms.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(TelemetryError::Endpoint {
                        endpoint: String::new(),
                        why: "OTEL_EXPORTER_OTLP_TIMEOUT must be a positive number of milliseconds",
                    });
                }
            },
        };
        Ok(Target {
            endpoint,
            protocol,
            ca_file,
            timeout,
        })
    };
    Ok(Some(Targets {
        metrics: target("metrics", metrics_env)?,
        traces: target("traces", traces_env)?,
    }))
}

/// An endpoint must be `http://` or `https://` with a host and no credentials (which
/// would end up in logs; use `OTEL_EXPORTER_OTLP_HEADERS`).
fn check_url(url: &str) -> Result<(), TelemetryError> {
    // The error names the endpoint without its path, query or credentials: it is logged.
    let bad = |why| TelemetryError::Endpoint {
        endpoint: redacted(url),
        why,
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("the endpoint must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(bad("the endpoint has no host"));
    }
    if authority.contains('@') {
        return Err(bad(
            "credentials in the URL are refused; use OTEL_EXPORTER_OTLP_HEADERS",
        ));
    }
    Ok(())
}

/// [`origin`] with any `user:password@` replaced by `***@`.
fn redacted(url: &str) -> String {
    let o = origin(url);
    let scheme = o.find("://").map_or(0, |i| i + 3);
    match o[scheme..].rfind('@') {
        Some(at) => format!("{}***{}", &o[..scheme], &o[scheme + at..]),
        None => o.to_string(),
    }
}

/// Where a URL points, without its path (for the start-up log line).
fn origin(url: &str) -> &str {
    let scheme = url.find("://").map_or(0, |i| i + 3);
    url[scheme..]
        .find(['/', '?', '#'])
        .map_or(url, |i| &url[..scheme + i])
}

/// The running SDK pipelines.
#[derive(Debug)]
pub struct Exporter {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    targets: Targets,
}

impl Exporter {
    /// Where it exports.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Exports the queued spans and the metrics a last time, then stops (as dropping it
    /// does).
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Exporter {
    /// The metrics' tracer holds the tracer provider (and the exporters hold the
    /// metrics), so the SDK would never stop by itself: an early return that drops the
    /// exporter flushes and stops it too.
    fn drop(&mut self) {
        if let Err(e) = self.tracer.shutdown() {
            log::warn(&format!("otlp: stopping the span exporter: {e}"));
        }
        if let Err(e) = self.meter.shutdown() {
            log::warn(&format!("otlp: stopping the metric exporter: {e}"));
        }
    }
}

/// Starts exporting when an endpoint is configured (see [`resolve`]), and enables the
/// metrics' tracer at `telemetry.trace_sample_ratio`. `Ok(None)`: nothing configured.
/// gRPC channels live on `rt`.
pub fn start(
    config: &TelemetryConfig,
    metrics: &Arc<Metrics>,
    rt: &tokio::runtime::Handle,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Exporter>, TelemetryError> {
    let Some(targets) = resolve(config, &env)? else {
        return Ok(None);
    };
    // rustls is built without a default provider (ring is named here, not aws-lc); a
    // second call in the same process finds it installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resource = resource(&env);
    let spans = Counted {
        inner: span_exporter(&targets.traces, rt)?,
        signal: "traces",
        origin: redacted(&targets.traces.endpoint),
        metrics: Arc::clone(metrics),
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(QUEUE_MAX)
        .build();
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        // The ratio decides on the trace id alone, continued or not (not ParentBased):
        // every service sampling this way keeps the same traces.
        .with_sampler(Sampler::TraceIdRatioBased(config.trace_sample_ratio))
        .with_span_processor(
            BatchSpanProcessor::builder(spans)
                .with_batch_config(batch)
                .build(),
        )
        .build();
    let reader = PeriodicReader::builder(Counted {
        inner: metric_exporter(&targets.metrics, rt)?,
        signal: "metrics",
        origin: redacted(&targets.metrics.endpoint),
        metrics: Arc::clone(metrics),
    })
    .build();
    let meter = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(reader)
        .build();
    register_instruments(&meter.meter(SCOPE), metrics);
    metrics
        .tracer
        .enable(opentelemetry::trace::TracerProvider::tracer(&tracer, SCOPE));
    log::info(&format!(
        "otlp: exporting metrics to {} ({:?}) and sampled spans to {} ({:?}) at ratio {}",
        origin(&targets.metrics.endpoint),
        targets.metrics.protocol,
        origin(&targets.traces.endpoint),
        targets.traces.protocol,
        config.trace_sample_ratio
    ));
    Ok(Some(Exporter {
        tracer,
        meter,
        targets,
    }))
}

/// The resource, as the specification reads it from `env`: `OTEL_RESOURCE_ATTRIBUTES`
/// (comma-separated, percent-encoded `key=value`), `service.name` from
/// `OTEL_SERVICE_NAME`, else that list, else `consent-enricher`; `service.version` this
/// build's unless listed; and the SDK's `telemetry.sdk.*`. Read from `env` rather than by
/// the SDK's detectors, so that what is exported is what [`resolve`] was shown.
fn resource(env: &impl Fn(&str) -> Option<String>) -> Resource {
    let mut attrs: Vec<(String, String)> = env("OTEL_RESOURCE_ATTRIBUTES")
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
    let listed = |key: &str, attrs: &[(String, String)]| {
        attrs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let service = env("OTEL_SERVICE_NAME")
        .filter(|v| !v.trim().is_empty())
        .or_else(|| listed("service.name", &attrs))
        .unwrap_or_else(|| "consent-enricher".to_string());
    if listed("service.version", &attrs).is_none() {
        attrs.push(("service.version".into(), env!("CARGO_PKG_VERSION").into()));
    }
    attrs.retain(|(k, _)| k != "service.name");
    Resource::builder_empty()
        .with_detector(Box::new(
            opentelemetry_sdk::resource::TelemetryResourceDetector,
        ))
        .with_attributes(attrs.into_iter().map(|(k, v)| KeyValue::new(k, v)))
        .with_service_name(service)
        .build()
}

fn build_error(
    signal: &'static str,
) -> impl Fn(opentelemetry_otlp::ExporterBuildError) -> TelemetryError {
    move |e| TelemetryError::Build {
        signal,
        why: e.to_string(),
    }
}

fn read_ca(t: &Target) -> Result<Option<Vec<u8>>, TelemetryError> {
    t.ca_file
        .as_ref()
        .map(|path| {
            std::fs::read(path).map_err(|source| TelemetryError::Io {
                context: "reading OTEL_EXPORTER_OTLP_CERTIFICATE",
                source,
            })
        })
        .transpose()
}

/// reqwest's blocking client (its own thread), trusting `ca` when given.
fn http_client(
    t: &Target,
    signal: &'static str,
) -> Result<reqwest::blocking::Client, TelemetryError> {
    let mut b = reqwest::blocking::Client::builder().timeout(t.timeout);
    if let Some(pem) = read_ca(t)? {
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| TelemetryError::Build {
                signal,
                why: format!("OTEL_EXPORTER_OTLP_CERTIFICATE: {e}"),
            })?;
        b = b.tls_certs_only(certs);
    }
    b.build().map_err(|e| TelemetryError::Build {
        signal,
        why: e.to_string(),
    })
}

fn tls(
    t: &Target,
) -> Result<Option<opentelemetry_otlp::tonic_types::transport::ClientTlsConfig>, TelemetryError> {
    use opentelemetry_otlp::tonic_types::transport::{Certificate, ClientTlsConfig};
    if !t.endpoint.starts_with("https://") {
        return Ok(None);
    }
    let c = ClientTlsConfig::new();
    Ok(Some(match read_ca(t)? {
        Some(pem) => c.ca_certificate(Certificate::from_pem(pem)),
        None => c.with_native_roots(),
    }))
}

/// An OTLP/HTTP builder set for protobuf bodies, our client and the target's endpoint.
fn over_http<B>(b: B, t: &Target, signal: &'static str) -> Result<B, TelemetryError>
where
    B: WithExportConfig + WithHttpConfig,
{
    Ok(b.with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_http_client(http_client(t, signal)?)
        .with_endpoint(&t.endpoint)
        .with_timeout(t.timeout))
}

/// A gRPC builder set for the target's endpoint and, for `https://`, its TLS.
fn over_grpc<B>(b: B, t: &Target) -> Result<B, TelemetryError>
where
    B: WithExportConfig + WithTonicConfig,
{
    let b = b.with_endpoint(&t.endpoint).with_timeout(t.timeout);
    Ok(match tls(t)? {
        Some(tls) => b.with_tls_config(tls),
        None => b,
    })
}

fn span_exporter(
    t: &Target,
    rt: &tokio::runtime::Handle,
) -> Result<opentelemetry_otlp::SpanExporter, TelemetryError> {
    let b = opentelemetry_otlp::SpanExporter::builder();
    let built = match t.protocol {
        Protocol::HttpProtobuf => over_http(b.with_http(), t, "traces")?.build(),
        Protocol::Grpc => {
            // tonic's channel spawns onto the runtime it is built in.
            let _in_runtime = rt.enter();
            over_grpc(b.with_tonic(), t)?.build()
        }
    };
    built.map_err(build_error("traces"))
}

fn metric_exporter(
    t: &Target,
    rt: &tokio::runtime::Handle,
) -> Result<opentelemetry_otlp::MetricExporter, TelemetryError> {
    let b = opentelemetry_otlp::MetricExporter::builder();
    let built = match t.protocol {
        Protocol::HttpProtobuf => over_http(b.with_http(), t, "metrics")?.build(),
        Protocol::Grpc => {
            let _in_runtime = rt.enter();
            over_grpc(b.with_tonic(), t)?.build()
        }
    };
    built.map_err(build_error("metrics"))
}

/// An exporter that counts its outcomes in `otlp_exports_total` and logs failures.
#[derive(Debug)]
struct Counted<E> {
    inner: E,
    signal: &'static str,
    /// Where it exports ([`redacted`]), for the log line.
    origin: String,
    metrics: Arc<Metrics>,
}

impl<E> Counted<E> {
    fn outcome(&self, r: OTelSdkResult) -> OTelSdkResult {
        self.metrics.otlp_export(self.signal, r.is_ok());
        if let Err(e) = &r {
            // The SDK's error says "network error" or the HTTP status, never the payload.
            log::warn(&format!(
                "otlp: {} export to {} failed: {e}",
                self.signal, self.origin
            ));
        }
        r
    }
}

impl<E: SpanExporter> SpanExporter for Counted<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let r = self.inner.export(batch).await;
        self.outcome(r)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Counted<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let r = self.inner.export(metrics).await;
        self.outcome(r)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

/// One observable instrument per counter and gauge of the catalogue, reading the same
/// snapshot `/metrics` renders; the histograms are the SDK's own, fed as they are
/// observed ([`super::Histogram::observe`]).
fn register_instruments(meter: &Meter, metrics: &Arc<Metrics>) {
    for &doc in prometheus::CATALOGUE {
        let unit = if doc.name.contains("_seconds") {
            "s"
        } else {
            "1"
        };
        let m = Arc::clone(metrics);
        let values = move || {
            prometheus::snapshot(&m)
                .into_iter()
                // By name: the docs are `const`s, so two references to one need not share an
                // address.
                .filter(|f| f.doc.name == doc.name)
                .flat_map(|f| f.samples)
                .filter_map(|s| match s {
                    Sample::Value { labels, value } => Some((
                        labels
                            .into_iter()
                            .map(|(k, v)| KeyValue::new(k, v))
                            .collect::<Vec<_>>(),
                        value,
                    )),
                    Sample::Histogram { .. } => None,
                })
                .collect::<Vec<_>>()
        };
        match doc.kind {
            Kind::Counter => {
                let _ = meter
                    .f64_observable_counter(doc.base_name())
                    .with_description(doc.help)
                    .with_unit(unit)
                    .with_callback(move |o| {
                        for (attrs, v) in values() {
                            o.observe(v, &attrs);
                        }
                    })
                    .build();
            }
            Kind::Gauge => {
                let _ = meter
                    .f64_observable_gauge(doc.base_name())
                    .with_description(doc.help)
                    .with_unit(unit)
                    .with_callback(move |o| {
                        for (attrs, v) in values() {
                            o.observe(v, &attrs);
                        }
                    })
                    .build();
            }
            Kind::Histogram => {
                let Some(ours) = metrics.histogram(doc) else {
                    continue;
                };
                let h = meter
                    .f64_histogram(doc.base_name())
                    .with_description(doc.help)
                    .with_unit(unit)
                    .with_boundaries(ours.bounds.to_vec())
                    .build();
                ours.feed(h);
            }
        }
    }
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
    fn endpoints_come_from_the_config_then_the_environment() {
        let mut c = TelemetryConfig::default();
        assert_eq!(resolve(&c, env(&[])).unwrap(), None);
        let e = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://env:4318/")]);
        let t = resolve(&c, &e).unwrap().unwrap();
        assert_eq!(t.metrics.endpoint, "http://env:4318/v1/metrics");
        assert_eq!(t.traces.endpoint, "http://env:4318/v1/traces");
        assert_eq!(t.traces.protocol, Protocol::HttpProtobuf);
        c.otlp_endpoint = "https://cfg:1234/otlp".into();
        let t = resolve(&c, &e).unwrap().unwrap();
        assert_eq!(t.metrics.endpoint, "https://cfg:1234/otlp/v1/metrics");
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://traces:4317"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
        ]);
        let t = resolve(&c, &e).unwrap().unwrap();
        assert_eq!(
            (t.traces.endpoint.as_str(), t.traces.protocol),
            ("http://traces:4317", Protocol::Grpc)
        );
        assert_eq!(t.metrics.protocol, Protocol::HttpProtobuf);
        assert_eq!(t.metrics.ca_file.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn bad_endpoints_and_protocols_are_refused() {
        let mut c = TelemetryConfig::default();
        for bad in ["c:4318", "http://", "http://u:p@c", "ftp://c"] {
            c.otlp_endpoint = bad.into();
            assert!(resolve(&c, env(&[])).is_err(), "{bad}");
        }
        c.otlp_endpoint = "http://c:4318".into();
        let json = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]);
        assert!(resolve(&c, json).is_err());
        assert_eq!(origin("https://c:4318/v1/traces?x"), "https://c:4318");
        // The refusal names neither the password nor a token in the query.
        c.otlp_endpoint = "http://user:s3cret@c:4318/v1?token=t0ken".into();
        let e = resolve(&c, env(&[])).unwrap_err().to_string();
        assert!(e.contains("http://***@c:4318"), "{e}");
        assert!(
            !e.contains("s3cret") && !e.contains("t0ken") && !e.contains("user"),
            "{e}"
        );
        c.otlp_endpoint = "http://c:4318".into();
        for bad in ["0", "soon", "-5"] {
            let pairs = [("OTEL_EXPORTER_OTLP_TIMEOUT", bad)];
            assert!(resolve(&c, env(&pairs)).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_export_timeout_comes_from_the_environment_per_signal() {
        let c = TelemetryConfig {
            otlp_endpoint: "http://c:4318".into(),
            ..TelemetryConfig::default()
        };
        let t = resolve(&c, env(&[])).unwrap().unwrap();
        assert_eq!(t.traces.timeout, Duration::from_secs(10));
        let e = env(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "30000"),
        ]);
        let t = resolve(&c, e).unwrap().unwrap();
        assert_eq!(t.traces.timeout, Duration::from_millis(2500));
        assert_eq!(t.metrics.timeout, Duration::from_secs(30));
    }

    #[test]
    fn the_resource_comes_from_the_environment() {
        let get = |r: &Resource, k: &'static str| {
            r.get(&opentelemetry::Key::from_static_str(k))
                .map(|v| v.to_string())
        };
        let r = resource(&env(&[]));
        assert_eq!(get(&r, "service.name").as_deref(), Some("consent-enricher"));
        assert_eq!(
            get(&r, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(get(&r, "telemetry.sdk.language").as_deref(), Some("rust"));
        let e = env(&[
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "deployment.environment=prod,service.name=x,team=a%2Cb",
            ),
            ("OTEL_SERVICE_NAME", "enricher-eu"),
        ]);
        let r = resource(&e);
        assert_eq!(get(&r, "service.name").as_deref(), Some("enricher-eu"));
        assert_eq!(get(&r, "team").as_deref(), Some("a,b"));
        assert_eq!(get(&r, "deployment.environment").as_deref(), Some("prod"));
        let r = resource(&env(&[("OTEL_RESOURCE_ATTRIBUTES", "service.name=x")]));
        assert_eq!(get(&r, "service.name").as_deref(), Some("x"));
    }
}

#[cfg(test)]
mod instrument_tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default, Clone)]
    struct Names(Arc<Mutex<Vec<String>>>);

    impl PushMetricExporter for Names {
        async fn export(&self, m: &ResourceMetrics) -> OTelSdkResult {
            let mut seen = self.0.lock().unwrap();
            for s in m.scope_metrics() {
                for metric in s.metrics() {
                    seen.push(metric.name().to_string());
                }
            }
            Ok(())
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
        fn temporality(&self) -> Temporality {
            Temporality::Cumulative
        }
    }

    #[test]
    fn every_catalogue_instrument_is_exported() {
        // The SDK leaves out a histogram nothing was recorded in, so both get one.
        let names = Names::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(names.clone()).build())
            .build();
        let metrics = Arc::new(Metrics::default());
        register_instruments(&provider.meter(SCOPE), &metrics);
        metrics.latency.observe(Duration::from_millis(10));
        metrics.txn_duration.observe(Duration::from_millis(20));
        provider.force_flush().unwrap();
        let seen = names.0.lock().unwrap().clone();
        // What has a sample on /metrics is exported (per-partition lag has none yet).
        let sampled: Vec<_> = prometheus::snapshot(&metrics)
            .into_iter()
            .filter(|f| !f.samples.is_empty())
            .map(|f| f.doc.base_name())
            .collect();
        assert!(sampled.len() > 15, "{sampled:?}");
        for name in sampled {
            assert!(
                seen.iter().any(|n| n == name),
                "{name} not exported: {seen:?}"
            );
        }
    }
}

//! Per-record spans: continues a validated W3C trace context ([`TraceContext`], parsed by
//! `trace_context` from a raw record's headers) through the OpenTelemetry SDK's tracer,
//! whose TraceIdRatioBased sampler decides from the trace id (so every service that
//! samples that way keeps the same traces) and whose batch processor queues the spans for
//! export (`otlp`). It owns turning a record's outcome into a span; it never exports,
//! never reads header bytes itself (only a validated context), and its attributes are
//! typed so that only numbers and compile-time codes can be recorded — never an
//! identifier, a profile value or record contents.

use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer as _,
};
use opentelemetry::{Context, KeyValue};

use super::trace_context::TraceContext;

/// A span attribute value: numbers, flags and compile-time codes only.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrValue {
    /// A number (partition, offset, count).
    Int(i64),
    /// A fixed code (decision, dead-letter reason, topic role).
    Code(&'static str),
    /// A flag.
    Bool(bool),
}

impl AttrValue {
    fn key_value(self, key: &'static str) -> KeyValue {
        match self {
            AttrValue::Int(v) => KeyValue::new(key, v),
            AttrValue::Code(v) => KeyValue::new(key, v),
            AttrValue::Bool(v) => KeyValue::new(key, v),
        }
    }
}

/// The tracer of one process (inside [`super::Metrics`]). Disabled by default: nothing is
/// recorded until [`Tracer::enable`] hands it the SDK's tracer.
#[derive(Debug, Default)]
pub struct Tracer {
    sdk: OnceLock<opentelemetry_sdk::trace::Tracer>,
    sampled: AtomicU64,
    not_sampled: AtomicU64,
}

impl Tracer {
    /// Starts recording through `sdk` (whose provider samples). A second call keeps the
    /// first tracer: one process exports to one place.
    pub fn enable(&self, sdk: opentelemetry_sdk::trace::Tracer) {
        let _ = self.sdk.set(sdk);
    }

    /// Whether spans are being recorded at all.
    pub fn is_enabled(&self) -> bool {
        self.sdk.get().is_some()
    }

    /// Records one span for a raw record (the Kafka edge calls it per record with the
    /// context validated from its headers). A parent is continued — same trace id, its
    /// span as parent, its validated `tracestate` — and the sampler decides from the
    /// trace id; without one a new trace starts. `attrs` are numbers and codes only
    /// (partition, offset, decision code, reason code). Cheap when disabled.
    pub fn record_span(
        &self,
        parent: Option<&TraceContext>,
        name: &'static str,
        start: SystemTime,
        end: SystemTime,
        attrs: &[(&'static str, AttrValue)],
    ) {
        let Some(tracer) = self.sdk.get() else {
            return;
        };
        let cx = parent.map_or_else(Context::new, |p| {
            let state = p
                .tracestate()
                .and_then(|s| TraceState::from_str(s).ok())
                .unwrap_or_default();
            Context::new().with_remote_span_context(SpanContext::new(
                TraceId::from_bytes(p.trace_id),
                SpanId::from_bytes(p.parent_id),
                TraceFlags::new(p.flags),
                true,
                state,
            ))
        });
        let builder = tracer
            .span_builder(name)
            .with_kind(SpanKind::Consumer)
            .with_start_time(start)
            .with_attributes(attrs.iter().map(|(k, v)| v.key_value(k)));
        let mut span = tracer.build_with_context(builder, &cx);
        let counter = if span.span_context().is_sampled() {
            &self.sampled
        } else {
            &self.not_sampled
        };
        counter.fetch_add(1, Ordering::Relaxed);
        span.end_with_timestamp(end.max(start));
    }

    /// (sampled, not sampled) so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.sampled.load(Ordering::Relaxed),
            self.not_sampled.load(Ordering::Relaxed),
        )
    }
}

/// Lower-case hex of `bytes` (OTLP/JSON writes ids so).
pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[usize::from(b >> 4)] as char);
        s.push(D[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
    use std::sync::{Arc, Mutex};

    /// Keeps what it is given.
    #[derive(Debug, Clone, Default)]
    struct Kept(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Kept {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    fn context(tracestate: Option<&str>) -> TraceContext {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = [(&b"traceparent"[..], Some(&tp[..]))]
            .into_iter()
            .chain(tracestate.map(|s| (&b"tracestate"[..], Some(s.as_bytes()))));
        TraceContext::from_headers(headers).unwrap()
    }

    fn provider(ratio: f64, kept: &Kept) -> SdkTracerProvider {
        SdkTracerProvider::builder()
            .with_sampler(Sampler::TraceIdRatioBased(ratio))
            .with_simple_exporter(kept.clone())
            .build()
    }

    #[test]
    fn spans_continue_the_parent_and_respect_the_switch() {
        let t = Tracer::default();
        let kept = Kept::default();
        let now = SystemTime::now();
        let tp = context(None);
        t.record_span(Some(&tp), "process", now, now, &[]);
        assert_eq!(t.counts(), (0, 0), "disabled by default");
        t.enable(provider(1.0, &kept).tracer("t"));
        t.record_span(
            Some(&context(Some("vendor=abc"))),
            "process",
            now,
            now,
            &[("messaging.kafka.partition", AttrValue::Int(3))],
        );
        t.record_span(None, "process", now, now, &[]);
        let spans = kept.0.lock().unwrap().clone();
        assert_eq!(spans.len(), 2);
        let (a, b) = (&spans[0], &spans[1]);
        assert_eq!(
            hex(&a.span_context.trace_id().to_bytes()),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(hex(&a.parent_span_id.to_bytes()), "00f067aa0ba902b7");
        assert_eq!(a.span_context.trace_state().header(), "vendor=abc");
        assert_eq!(a.span_kind, SpanKind::Consumer);
        assert_eq!(
            a.attributes,
            vec![KeyValue::new("messaging.kafka.partition", 3_i64)]
        );
        assert_ne!(b.span_context.trace_id(), a.span_context.trace_id());
        assert_eq!(b.parent_span_id, SpanId::INVALID);
        assert_eq!(t.counts(), (2, 0));
    }

    #[test]
    fn the_ratio_decides_from_the_trace_id_even_for_a_sampled_parent() {
        let kept = Kept::default();
        let t = Tracer::default();
        // The low 8 bytes of the trace id, 0xa3ce929d0e0e4736, shifted right once, are
        // 0.64 of 2^63: dropped at 0.6, kept at 0.7.
        t.enable(provider(0.6, &kept).tracer("t"));
        let now = SystemTime::now();
        t.record_span(Some(&context(None)), "process", now, now, &[]);
        assert_eq!(
            t.counts(),
            (0, 1),
            "the parent's sampled flag does not force it"
        );
        let t = Tracer::default();
        t.enable(provider(0.7, &kept).tracer("t"));
        t.record_span(Some(&context(None)), "process", now, now, &[]);
        assert_eq!(t.counts(), (1, 0));
    }
}

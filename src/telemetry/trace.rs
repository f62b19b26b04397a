//! Per-record spans: continues a validated W3C trace context ([`TraceContext`], parsed by
//! `trace_context` from a raw record's headers), samples by `telemetry.trace_sample_ratio`
//! (deterministically from the trace id, like OpenTelemetry's TraceIdRatioBased sampler,
//! so every service that samples that way keeps the same traces) and queues finished
//! spans for the OTLP exporter. It owns sampling and the bounded queue; it never exports
//! (that is `otlp`), never reads header bytes itself (only a validated context), and its
//! attributes are typed so that only numbers and compile-time codes can be recorded —
//! never an identifier, a profile value or record contents.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::locked;
use super::trace_context::TraceContext;

/// Spans kept for the exporter; more are dropped (and counted) until it drains.
pub const QUEUE_MAX: usize = 8192;

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

/// A finished, sampled span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Trace id (the parent's, or new).
    pub trace_id: [u8; 16],
    /// This span's id.
    pub span_id: [u8; 8],
    /// The upstream span, when the record carried a valid `traceparent`.
    pub parent_span_id: Option<[u8; 8]>,
    /// The upstream `tracestate`, when valid.
    pub trace_state: Option<String>,
    /// Span name (a constant).
    pub name: &'static str,
    /// Start, nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// End, nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// Attributes.
    pub attrs: Vec<(&'static str, AttrValue)>,
}

/// The tracer of one process (inside [`super::Metrics`]). Disabled by default: spans are
/// neither sampled nor queued until [`Tracer::enable`].
#[derive(Debug)]
pub struct Tracer {
    enabled: AtomicBool,
    ratio_bits: AtomicU64,
    queue: Mutex<Vec<Span>>,
    sampled: AtomicU64,
    not_sampled: AtomicU64,
    dropped: AtomicU64,
    ids: RandomState,
    counter: AtomicU64,
}

impl Default for Tracer {
    fn default() -> Self {
        Tracer {
            enabled: AtomicBool::new(false),
            ratio_bits: AtomicU64::new(0f64.to_bits()),
            queue: Mutex::new(Vec::new()),
            sampled: AtomicU64::new(0),
            not_sampled: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            ids: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }
}

/// OpenTelemetry's TraceIdRatioBased rule: the trace id's last 8 bytes (big-endian,
/// shifted right once) below `ratio × 2⁶³`.
pub fn should_sample(trace_id: &[u8; 16], ratio: f64) -> bool {
    if ratio >= 1.0 {
        return true;
    }
    if ratio <= 0.0 || ratio.is_nan() {
        return false;
    }
    let mut low = [0u8; 8];
    low.copy_from_slice(&trace_id[8..]);
    let x = u64::from_be_bytes(low) >> 1;
    let bound = (ratio * (1u64 << 63) as f64) as u64;
    x < bound
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Tracer {
    /// Starts sampling at `ratio` (0.0–1.0) and queueing spans for export.
    pub fn enable(&self, ratio: f64) {
        self.ratio_bits
            .store(ratio.clamp(0.0, 1.0).to_bits(), Ordering::SeqCst);
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// Whether spans are being recorded at all.
    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    fn random_u64(&self) -> u64 {
        loop {
            let mut h = self.ids.build_hasher();
            h.write_u64(self.counter.fetch_add(1, Ordering::Relaxed));
            h.write_u64(unix_ns(SystemTime::now()));
            let v = h.finish();
            if v != 0 {
                return v;
            }
        }
    }

    /// Records one span for a raw record (the Kafka edge calls it per record with the
    /// context validated from its headers). A parent is continued — same trace id, its
    /// span as parent, its validated `tracestate` — and the sampling decision is taken
    /// from the trace id; without one a new trace starts. `attrs` are numbers and codes
    /// only (partition, offset, decision code, reason code). Cheap when disabled or not
    /// sampled.
    pub fn record_span(
        &self,
        parent: Option<&TraceContext>,
        name: &'static str,
        start: SystemTime,
        end: SystemTime,
        attrs: &[(&'static str, AttrValue)],
    ) {
        if !self.is_enabled() {
            return;
        }
        let ratio = f64::from_bits(self.ratio_bits.load(Ordering::Relaxed));
        let trace_id = match parent {
            Some(p) => p.trace_id,
            None => {
                let mut t = [0u8; 16];
                t[..8].copy_from_slice(&self.random_u64().to_be_bytes());
                t[8..].copy_from_slice(&self.random_u64().to_be_bytes());
                t
            }
        };
        if !should_sample(&trace_id, ratio) {
            self.not_sampled.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let span = Span {
            trace_id,
            span_id: self.random_u64().to_be_bytes(),
            parent_span_id: parent.map(|p| p.parent_id),
            trace_state: parent.and_then(TraceContext::tracestate).map(str::to_owned),
            name,
            start_ns: unix_ns(start),
            end_ns: unix_ns(end).max(unix_ns(start)),
            attrs: attrs.to_vec(),
        };
        let mut q = locked(&self.queue);
        if q.len() >= QUEUE_MAX {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push(span);
        self.sampled.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes every queued span.
    pub fn drain(&self) -> Vec<Span> {
        std::mem::take(&mut *locked(&self.queue))
    }

    /// (sampled, not sampled, dropped) so far.
    pub fn counts(&self) -> (u64, u64, u64) {
        (
            self.sampled.load(Ordering::Relaxed),
            self.not_sampled.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
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

    fn context(tracestate: Option<&str>) -> TraceContext {
        let tp = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let headers = [(&b"traceparent"[..], Some(&tp[..]))]
            .into_iter()
            .chain(tracestate.map(|s| (&b"tracestate"[..], Some(s.as_bytes()))));
        TraceContext::from_headers(headers).unwrap()
    }

    #[test]
    fn sampling_is_deterministic_from_the_trace_id() {
        let mut lo = [0u8; 16];
        lo[15] = 2;
        let mut hi = [0u8; 16];
        hi[8] = 0xff;
        assert!(should_sample(&lo, 0.01));
        assert!(!should_sample(&hi, 0.01));
        assert!(should_sample(&hi, 1.0));
        assert!(!should_sample(&lo, 0.0));
    }

    #[test]
    fn spans_continue_the_parent_and_respect_the_switch() {
        let t = Tracer::default();
        let now = SystemTime::now();
        let tp = context(None);
        t.record_span(Some(&tp), "process", now, now, &[]);
        assert!(t.drain().is_empty(), "disabled by default");
        t.enable(1.0);
        t.record_span(
            Some(&context(Some("vendor=abc"))),
            "process",
            now,
            now,
            &[("messaging.kafka.partition", AttrValue::Int(3))],
        );
        t.record_span(None, "process", now, now, &[]);
        let spans = t.drain();
        assert_eq!(spans.len(), 2);
        assert_eq!(hex(&spans[0].trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            spans[0].parent_span_id.map(|p| hex(&p)).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_eq!(spans[0].trace_state.as_deref(), Some("vendor=abc"));
        assert_ne!(spans[1].trace_id, spans[0].trace_id);
        assert_eq!(
            (spans[1].parent_span_id, spans[1].trace_state.as_deref()),
            (None, None)
        );
        assert_ne!(spans[0].span_id, spans[1].span_id);
        t.enable(0.0);
        t.record_span(Some(&tp), "process", now, now, &[]);
        assert_eq!(t.counts(), (2, 1, 0));
    }
}

//! Per-record spans: continues the W3C trace context (`traceparent`, `tracestate`) found
//! on a raw record, samples by `telemetry.trace_sample_ratio` (deterministically from the
//! trace id, like OpenTelemetry's TraceIdRatioBased sampler, so every service that samples
//! that way keeps the same traces) and queues finished spans for the OTLP exporter. It
//! owns sampling and the bounded queue; it never exports (that is `otlp`) and its
//! attributes are typed so that only numbers and compile-time codes can be recorded —
//! never an identifier, a profile value or record contents.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::locked;

/// Spans kept for the exporter; more are dropped (and counted) until it drains.
pub const QUEUE_MAX: usize = 8192;
/// Longest `tracestate` carried (the W3C limit for what a vendor must propagate).
pub const TRACESTATE_MAX: usize = 512;

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

/// A parsed `traceparent`: trace id, parent span id, flags.
pub type TraceParent = ([u8; 16], [u8; 8], u8);

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

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn hex_into(src: &[u8], dst: &mut [u8]) -> Option<()> {
    if src.len() != dst.len() * 2 {
        return None;
    }
    for (i, pair) in src.chunks_exact(2).enumerate() {
        dst[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
    }
    Some(())
}

/// Parses a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`; later versions are read
/// by their version-00 prefix). Invalid or all-zero ids give `None`.
pub fn parse_traceparent(v: &[u8]) -> Option<TraceParent> {
    let v = v.trim_ascii();
    if v.len() < 55 || (v.len() > 55 && (v[..2] == *b"00" || v[55] != b'-')) {
        return None;
    }
    if v[2] != b'-' || v[35] != b'-' || v[52] != b'-' || v[..2] == *b"ff" {
        return None;
    }
    let mut version = [0u8; 1];
    hex_into(&v[..2], &mut version)?;
    let mut trace = [0u8; 16];
    let mut parent = [0u8; 8];
    let mut flags = [0u8; 1];
    hex_into(&v[3..35], &mut trace)?;
    hex_into(&v[36..52], &mut parent)?;
    hex_into(&v[53..55], &mut flags)?;
    if trace == [0; 16] || parent == [0; 8] {
        return None;
    }
    Some((trace, parent, flags[0]))
}

/// A `tracestate` worth carrying: printable ASCII, at most [`TRACESTATE_MAX`] bytes.
fn valid_tracestate(v: &[u8]) -> Option<String> {
    let v = v.trim_ascii();
    if v.is_empty() || v.len() > TRACESTATE_MAX || !v.iter().all(|c| (0x20..0x7f).contains(c)) {
        return None;
    }
    String::from_utf8(v.to_vec()).ok()
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

    /// Records one span for a raw record (the lead calls it per record with the record's
    /// `traceparent` / `tracestate` header values). A valid parent is continued — same
    /// trace id, its span as parent — and the sampling decision is taken from the trace
    /// id; without one a new trace starts. `attrs` are numbers and codes only (partition,
    /// offset, decision code, reason code). Cheap when disabled or not sampled.
    pub fn record_span(
        &self,
        traceparent: Option<&[u8]>,
        tracestate: Option<&[u8]>,
        name: &'static str,
        start: SystemTime,
        end: SystemTime,
        attrs: &[(&'static str, AttrValue)],
    ) {
        if !self.is_enabled() {
            return;
        }
        let ratio = f64::from_bits(self.ratio_bits.load(Ordering::Relaxed));
        let parent = traceparent.and_then(parse_traceparent);
        let trace_id = match parent {
            Some((t, _, _)) => t,
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
            parent_span_id: parent.map(|(_, p, _)| p),
            trace_state: parent.and(tracestate).and_then(valid_tracestate),
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

    const TP: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_parsing() {
        let (t, p, f) = parse_traceparent(TP).unwrap();
        assert_eq!(hex(&t), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p), "00f067aa0ba902b7");
        assert_eq!(f, 1);
        for bad in [
            &b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            b"garbage",
            b"",
        ] {
            assert!(
                parse_traceparent(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(
            parse_traceparent(b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future")
                .is_some()
        );
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
        t.record_span(Some(TP), None, "process", now, now, &[]);
        assert!(t.drain().is_empty(), "disabled by default");
        t.enable(1.0);
        t.record_span(
            Some(TP),
            Some(b"vendor=abc"),
            "process",
            now,
            now,
            &[("messaging.kafka.partition", AttrValue::Int(3))],
        );
        t.record_span(Some(b"junk"), Some(b"vendor=abc"), "process", now, now, &[]);
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
        t.record_span(Some(TP), None, "process", now, now, &[]);
        assert_eq!(t.counts(), (2, 1, 0));
    }
}

//! The input documents of the wire contract (raw event, consent record, profile, erasure
//! request), parsed once at the edge into typed values, and the dead-letter reasons a raw
//! record can earn. It owns parsing and validation only: it does not decide what is
//! copied where (`policy`), and error details it produces never quote input values, since
//! they end up in dead-letter headers and logs.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::Deserialize;

/// Nesting limit of a raw event. serde_json itself stops at 128; ours is lower so a
/// deep `properties` tree cannot make the anonymous record expensive to build.
pub const MAX_DEPTH: usize = 32;
/// Longest identifier (event, user, anonymous, device, session id) accepted.
pub const MAX_ID_LEN: usize = 256;

/// Why a raw record went to the dead-letter topic. The codes are stable: downstream
/// alerting and the `dlq.reason` header rely on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DlqReason {
    /// The bytes are not UTF-8.
    InvalidUtf8,
    /// UTF-8 but not JSON (or an empty/null value).
    InvalidJson,
    /// JSON that breaks `schemas/raw-event.schema.json`.
    SchemaViolation,
    /// Larger than `limits.max_event_bytes`.
    TooLarge,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// Valid, but one of its output records would be larger than the producer may send
    /// (`limits.max_output_bytes`): a dead letter instead of its outputs, so the input
    /// cannot stop the partition.
    OutputTooLarge,
    /// Valid, but the broker refused one of its outputs for a reason of that record's own
    /// (a topic's `max.message.bytes` lowered below the start-up check, a broker-side
    /// record policy) in two attempts in a row: a dead letter instead, so the input
    /// cannot stop the partition.
    OutputRejected,
}

impl DlqReason {
    /// Every reason, for metrics and summaries.
    pub const ALL: [DlqReason; 7] = [
        DlqReason::InvalidUtf8,
        DlqReason::InvalidJson,
        DlqReason::SchemaViolation,
        DlqReason::TooLarge,
        DlqReason::TooDeep,
        DlqReason::OutputTooLarge,
        DlqReason::OutputRejected,
    ];

    /// The stable code written to `dlq.reason`.
    pub fn code(self) -> &'static str {
        match self {
            DlqReason::InvalidUtf8 => "invalid_utf8",
            DlqReason::InvalidJson => "invalid_json",
            DlqReason::SchemaViolation => "schema_violation",
            DlqReason::TooLarge => "too_large",
            DlqReason::TooDeep => "too_deep",
            DlqReason::OutputTooLarge => "output_too_large",
            DlqReason::OutputRejected => "output_rejected",
        }
    }
}

impl fmt::Display for DlqReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A rejected raw record: the reason and a detail safe to publish (no input values).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {detail}")]
pub struct Rejection {
    /// Stable reason code.
    pub reason: DlqReason,
    /// Human-readable detail: a JSON pointer and what was wrong, never the value.
    pub detail: String,
}

impl Rejection {
    fn new(reason: DlqReason, detail: impl Into<String>) -> Self {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
    fn schema(pointer: &str, what: &str) -> Self {
        Rejection::new(DlqReason::SchemaViolation, format!("{pointer}: {what}"))
    }
}

/// Device-reported location as sent; range checks happen in the enrichment step so an
/// impossible coordinate is ignored (and counted), not a dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
pub struct DeviceLocation {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// Reported accuracy radius in metres.
    #[serde(default)]
    pub accuracy_m: Option<f64>,
}

impl DeviceLocation {
    /// True when the coordinates are finite and on the globe.
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && self.accuracy_m.is_none_or(|a| a.is_finite() && a >= 0.0)
    }
}

/// The app that sent the event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct App<'a> {
    /// App name.
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    /// App version.
    #[serde(borrow, default)]
    pub version: Option<Cow<'a, str>>,
    /// Platform (web, ios, android, …).
    #[serde(borrow, default)]
    pub platform: Option<Cow<'a, str>>,
}

/// The raw event as it arrives on `usage.raw`, borrowed from the input bytes where no
/// JSON escapes force a copy. Unknown top-level fields are accepted and ignored: the
/// anonymous record is built by allow-list, so a new upstream field is dropped by default.
#[derive(Debug, Deserialize)]
struct RawEventWire<'a> {
    #[serde(borrow)]
    event_id: Cow<'a, str>,
    #[serde(borrow)]
    event_type: Cow<'a, str>,
    #[serde(borrow)]
    occurred_at: Cow<'a, str>,
    #[serde(borrow, default)]
    user_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    anonymous_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    device_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    session_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    ip: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    language: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    referrer: Option<Cow<'a, str>>,
    #[serde(default)]
    location: Option<DeviceLocation>,
    #[serde(borrow, default)]
    app: Option<App<'a>>,
    #[serde(borrow, default)]
    properties: Option<Properties<'a>>,
}

/// A validated raw event.
#[derive(Debug, Clone)]
pub struct RawEvent<'a> {
    /// Producer-assigned event id (1–256 characters, no control characters).
    pub event_id: Cow<'a, str>,
    /// Event type, `[a-z0-9_.]{1,64}`.
    pub event_type: Cow<'a, str>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// Identified user, if any.
    pub user_id: Option<Cow<'a, str>>,
    /// Anonymous (cookie) id.
    pub anonymous_id: Option<Cow<'a, str>>,
    /// Device id.
    pub device_id: Option<Cow<'a, str>>,
    /// Session id.
    pub session_id: Option<Cow<'a, str>>,
    /// Client IP address, parsed.
    pub ip: Option<IpAddr>,
    /// Raw user agent.
    pub user_agent: Option<Cow<'a, str>>,
    /// BCP 47 language tag as sent.
    pub language: Option<Cow<'a, str>>,
    /// Page or screen URL.
    pub url: Option<Cow<'a, str>>,
    /// Referrer URL.
    pub referrer: Option<Cow<'a, str>>,
    /// Device-reported location.
    pub location: Option<DeviceLocation>,
    /// Sending app.
    pub app: Option<App<'a>>,
    /// Free-form properties.
    pub properties: Option<Properties<'a>>,
}

impl<'a> RawEvent<'a> {
    /// Parses and validates one raw record value. `max_bytes` is the size limit.
    pub fn parse(bytes: &'a [u8], max_bytes: usize) -> Result<RawEvent<'a>, Rejection> {
        if bytes.len() > max_bytes {
            return Err(Rejection::new(
                DlqReason::TooLarge,
                format!("{} bytes, limit {max_bytes}", bytes.len()),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Rejection::new(
                DlqReason::InvalidUtf8,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })?;
        if let Some(at) = exceeds_depth(bytes, MAX_DEPTH) {
            return Err(Rejection::new(
                DlqReason::TooDeep,
                format!("nesting deeper than {MAX_DEPTH} at byte {at}"),
            ));
        }
        let wire: RawEventWire<'a> = match serde_json::from_str(text) {
            Ok(w) => w,
            Err(e) => return Err(classify_error(text, e)),
        };
        validate(wire)
    }
}

/// Finds the byte offset where nesting first exceeds `max`, scanning once and skipping
/// string contents. serde_json skips unknown fields without a depth limit, so without
/// this a 10 000-deep unknown field would pass while the same under `properties` fails.
fn exceeds_depth(bytes: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

fn validate(w: RawEventWire<'_>) -> Result<RawEvent<'_>, Rejection> {
    check_id("/event_id", &w.event_id)?;
    for (ptr, v) in [
        ("/user_id", &w.user_id),
        ("/anonymous_id", &w.anonymous_id),
        ("/device_id", &w.device_id),
        ("/session_id", &w.session_id),
    ] {
        if let Some(v) = v {
            check_id(ptr, v)?;
        }
    }
    let et = w.event_type.as_bytes();
    if et.is_empty()
        || et.len() > 64
        || !et
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'))
    {
        return Err(Rejection::schema(
            "/event_type",
            "must match [a-z0-9_.]{1,64}",
        ));
    }
    let occurred_at = parse_date_time(&w.occurred_at)
        .ok_or_else(|| Rejection::schema("/occurred_at", "not an RFC 3339 date-time"))?;
    let ip = match &w.ip {
        None => None,
        Some(s) => Some(
            s.parse::<IpAddr>()
                .map_err(|_| Rejection::schema("/ip", "not an IPv4 or IPv6 address"))?,
        ),
    };
    Ok(RawEvent {
        event_id: w.event_id,
        event_type: w.event_type,
        occurred_at,
        user_id: w.user_id,
        anonymous_id: w.anonymous_id,
        device_id: w.device_id,
        session_id: w.session_id,
        ip,
        user_agent: w.user_agent,
        language: w.language,
        url: w.url,
        referrer: w.referrer,
        location: w.location,
        app: w.app,
        properties: w.properties,
    })
}

/// Reads a `date-time` exactly as `schemas/raw-event.schema.json` means it (RFC 3339
/// section 5.6, as the jsonschema validator of the tests and the fuzz target reads it):
/// `T` or `t` between date and time, never the space RFC 3339 allows "for readability",
/// and a leap second (`:60`) only where it is 23:59 in UTC. chrono's parser alone also
/// takes the space, a leap second at any minute and a U+2212 minus in the offset, so
/// the core accepted events the schema refuses (found by fuzzing, FUZZING.md); the shape
/// is checked here and chrono reads the value (calendar, fraction, offset).
fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    let number = |at: usize| -> Option<u32> {
        let (hi, lo) = (*b.get(at)?, *b.get(at + 1)?);
        (hi.is_ascii_digit() && lo.is_ascii_digit())
            .then(|| u32::from(hi - b'0') * 10 + u32::from(lo - b'0'))
    };
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':';
    if !shape {
        return None;
    }
    let (hour, minute, second) = (number(11)?, number(14)?, number(17)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    if b[at] == b'.' {
        let digits = b[at + 1..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        if digits == 0 {
            return None;
        }
        at += 1 + digits;
    }
    // Minutes east of UTC.
    let offset = match &b[at..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(at + 1)?, number(at + 4)?);
            if h > 23 || m > 59 {
                return None;
            }
            let east = i64::from(h * 60 + m);
            if *sign == b'-' { -east } else { east }
        }
        _ => return None,
    };
    if second == 60 {
        let utc_minute = (i64::from(hour * 60 + minute) - offset).rem_euclid(24 * 60);
        if utc_minute != 23 * 60 + 59 {
            return None;
        }
    }
    let utc = DateTime::parse_from_rfc3339(s).ok()?.with_timezone(&Utc);
    // Every output writes the instant with a four-digit year, in UTC and in the event's
    // local time (`time.local_time`): `0000-01-01T00:00:00+01:00` is year -1 in UTC and
    // `9999-12-31T23:00:00Z` year 10000 east of it, which no output schema allows. A
    // year's margin on either side covers every zone's offset.
    (1..=9998).contains(&utc.year()).then_some(utc)
}

fn check_id(pointer: &str, v: &str) -> Result<(), Rejection> {
    // The schema counts characters, not bytes: a 200-character non-ASCII id is valid.
    if v.is_empty() || v.chars().count() > MAX_ID_LEN || v.chars().any(char::is_control) {
        return Err(Rejection::schema(
            pointer,
            "must be 1-256 characters without control characters",
        ));
    }
    Ok(())
}

/// Maps a serde_json error to a reason and a detail that names where, not what: the
/// error text serde produces can quote the offending value, so only our own vocabulary
/// (field names, expected types) is kept.
fn classify_error(text: &str, e: serde_json::Error) -> Rejection {
    let msg = e.to_string();
    if msg.contains("recursion limit exceeded") {
        return Rejection::new(
            DlqReason::TooDeep,
            format!(
                "nesting deeper than {MAX_DEPTH} at line {} column {}",
                e.line(),
                e.column()
            ),
        );
    }
    match e.classify() {
        serde_json::error::Category::Data => {
            let pointer = error_pointer(text);
            Rejection::schema(&pointer, &safe_data_message(&msg))
        }
        _ => {
            let what = if text.trim().is_empty() {
                "empty input".to_string()
            } else {
                format!("syntax error at line {} column {}", e.line(), e.column())
            };
            Rejection::new(DlqReason::InvalidJson, what)
        }
    }
}

/// Re-parses a rejected document with path tracking to find the JSON pointer of the
/// error. Only bad records pay for this.
fn error_pointer(text: &str) -> String {
    let mut de = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, RawEventWire<'_>>(&mut de) {
        Ok(_) => String::new(),
        Err(e) => {
            let mut ptr = String::new();
            for seg in e.path().iter() {
                use serde_path_to_error::Segment;
                match seg {
                    Segment::Seq { index } => ptr.push_str(&format!("/{index}")),
                    Segment::Map { key } | Segment::Enum { variant: key } => {
                        ptr.push('/');
                        ptr.push_str(&escape_pointer(&safe_key(key)));
                    }
                    Segment::Unknown => ptr.push_str("/?"),
                }
            }
            ptr
        }
    }
}

/// Property keys are input data and may themselves be personal; long or unusual keys
/// are elided from the pointer.
fn safe_key(key: &str) -> String {
    let plain = key.len() <= 32
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    let scrubbed = crate::scrub::scrub(key, crate::scrub::Level::All, &crate::scrub::Known::NONE);
    if plain && scrubbed == key {
        key.to_string()
    } else {
        "?".to_string()
    }
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn safe_data_message(msg: &str) -> String {
    let msg = msg.split(" at line ").next().unwrap_or(msg);
    if msg.starts_with("missing field") || msg.starts_with("duplicate field") {
        return msg.to_string();
    }
    if msg.contains("duplicate key") {
        return "duplicate key".to_string();
    }
    if let Some(exp) = msg.split("expected ").nth(1) {
        let kind = msg.split(':').next().unwrap_or("invalid value");
        return format!("{kind}, expected {exp}");
    }
    msg.split(':').next().unwrap_or("invalid value").to_string()
}

/// The dead-letter reason of a table record (consent, profile, erasure) that could not
/// be read: not UTF-8, not JSON, or JSON that breaks its schema.
pub fn table_record_reason(value: Option<&[u8]>) -> DlqReason {
    let Some(v) = value else {
        return DlqReason::InvalidJson;
    };
    let Ok(text) = std::str::from_utf8(v) else {
        return DlqReason::InvalidUtf8;
    };
    if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
        return DlqReason::InvalidJson;
    }
    DlqReason::SchemaViolation
}

/// Formats a timestamp the way every output does: UTC, milliseconds, `Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

mod props;
mod records;

pub use props::{PropMap, PropValue, Properties};
pub use records::{ConsentRecord, ErasureRequest, ProfileRecord, Purpose, RequestId, UserId};

#[cfg(test)]
mod tests;

//! The input documents of the wire contract (raw event, consent record, profile, erasure
//! request), parsed once at the edge into typed values, and the dead-letter reasons a raw
//! record can earn. It owns parsing and validation only: it does not decide what is
//! copied where (`policy`), and error details it produces never quote input values, since
//! they end up in dead-letter headers and logs.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

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
}

impl DlqReason {
    /// Every reason, for metrics and summaries.
    pub const ALL: [DlqReason; 5] = [
        DlqReason::InvalidUtf8,
        DlqReason::InvalidJson,
        DlqReason::SchemaViolation,
        DlqReason::TooLarge,
        DlqReason::TooDeep,
    ];

    /// The stable code written to `dlq.reason`.
    pub fn code(self) -> &'static str {
        match self {
            DlqReason::InvalidUtf8 => "invalid_utf8",
            DlqReason::InvalidJson => "invalid_json",
            DlqReason::SchemaViolation => "schema_violation",
            DlqReason::TooLarge => "too_large",
            DlqReason::TooDeep => "too_deep",
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

/// Free-form `properties`, parsed strictly: duplicate keys are refused (two parsers that
/// disagree on which duplicate wins are a classic way to smuggle data past a filter) and
/// depth is bounded. Borrowed from the input: a string without JSON escapes is a slice
/// of the raw bytes, so parsing allocates per container, not per key and value (owned
/// strings were a third of the core's time).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties<'a>(pub PropMap<'a>);

/// A JSON value inside `properties`.
#[derive(Debug, Clone, PartialEq)]
pub enum PropValue<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A finite number.
    Number(Number),
    /// A string, borrowed unless it had escapes.
    String(Cow<'a, str>),
    /// An array.
    Array(Vec<PropValue<'a>>),
    /// An object.
    Object(PropMap<'a>),
}

/// A JSON object inside `properties`: entries sorted by key (byte order, as
/// `serde_json::Map` sorts), no key twice.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PropMap<'a>(Vec<(Cow<'a, str>, PropValue<'a>)>);

impl<'a> PropMap<'a> {
    /// Builds a map from entries in any order; `None` if a key occurs twice.
    pub fn from_entries(mut entries: Vec<(Cow<'a, str>, PropValue<'a>)>) -> Option<Self> {
        entries.sort_by(|x, y| x.0.cmp(&y.0));
        if entries.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        Some(PropMap(entries))
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PropValue<'a>)> {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// The value at `key`.
    pub fn get(&self, key: &str) -> Option<&PropValue<'a>> {
        let i = self.0.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(&self.0[i].1)
    }

    /// Removes and returns the value at `key`.
    pub fn take(&mut self, key: &str) -> Option<PropValue<'a>> {
        let i = self.0.binary_search_by(|(k, _)| (**k).cmp(key)).ok()?;
        Some(self.0.remove(i).1)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// An owned copy as a `serde_json` object.
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.iter()
                .map(|(k, v)| (k.to_string(), v.to_value()))
                .collect(),
        )
    }
}

impl PropValue<'_> {
    /// An owned copy as a `serde_json` value.
    pub fn to_value(&self) -> Value {
        match self {
            PropValue::Null => Value::Null,
            PropValue::Bool(b) => Value::Bool(*b),
            PropValue::Number(n) => Value::Number(n.clone()),
            PropValue::String(s) => Value::String(s.to_string()),
            PropValue::Array(a) => Value::Array(a.iter().map(PropValue::to_value).collect()),
            PropValue::Object(m) => m.to_value(),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Properties<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match PropSeed(std::marker::PhantomData).deserialize(d)? {
            PropValue::Object(m) => Ok(Properties(m)),
            _ => Err(de::Error::custom("expected an object")),
        }
    }
}

/// Depth is already bounded by [`exceeds_depth`] before parsing starts.
struct PropSeed<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for PropSeed<'a> {
    type Value = PropValue<'a>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PropValue<'a>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for PropSeed<'a> {
    type Value = PropValue<'a>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(PropValue::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(PropValue::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(PropValue::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Number::from_f64(v)
            .map(PropValue::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(PropValue::String(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(PropValue::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(PropValue::String(Cow::Owned(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(PropValue::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(PropValue::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(PropSeed(std::marker::PhantomData))? {
            out.push(v);
        }
        Ok(PropValue::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(k) = map.next_key_seed(KeySeed(std::marker::PhantomData))? {
            let v = map.next_value_seed(PropSeed(std::marker::PhantomData))?;
            out.push((k, v));
        }
        PropMap::from_entries(out)
            .map(PropValue::Object)
            .ok_or_else(|| de::Error::custom("duplicate key"))
    }
}

/// An object key, borrowed unless it had escapes (serde's own `Cow<str>` always copies).
struct KeySeed<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Cow<'a, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'a, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for KeySeed<'a> {
    type Value = Cow<'a, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
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
    let occurred_at = DateTime::parse_from_rfc3339(&w.occurred_at)
        .map_err(|_| Rejection::schema("/occurred_at", "not an RFC 3339 date-time"))?
        .with_timezone(&Utc);
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

fn check_id(pointer: &str, v: &str) -> Result<(), Rejection> {
    if v.is_empty() || v.len() > MAX_ID_LEN || v.chars().any(char::is_control) {
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
    let scrubbed = crate::scrub::scrub(key, crate::scrub::Level::All, &[]);
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

/// Formats a timestamp the way every output does: UTC, milliseconds, `Z`.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Purposes a consent record can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// Product analytics.
    Analytics,
    /// Personalised experience.
    Personalization,
    /// Marketing communication.
    Marketing,
    /// Sharing with third parties.
    ThirdPartySharing,
}

impl Purpose {
    /// Every purpose, in bit order.
    pub const ALL: [Purpose; 4] = [
        Purpose::Analytics,
        Purpose::Personalization,
        Purpose::Marketing,
        Purpose::ThirdPartySharing,
    ];
    /// The bit this purpose occupies in [`crate::state::Purposes`].
    pub fn bit(self) -> u8 {
        match self {
            Purpose::Analytics => 1,
            Purpose::Personalization => 2,
            Purpose::Marketing => 4,
            Purpose::ThirdPartySharing => 8,
        }
    }
    /// The field name in consent records.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Analytics => "analytics",
            Purpose::Personalization => "personalization",
            Purpose::Marketing => "marketing",
            Purpose::ThirdPartySharing => "third_party_sharing",
        }
    }
}

/// A consent record from `users.consent`. Closed at the top level; unknown purposes are
/// ignored (not granted), so a purpose added upstream never grants anything here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    /// The user.
    pub user_id: String,
    /// When the user made this choice.
    pub updated_at: DateTime<Utc>,
    /// Version of the policy the user agreed to.
    pub policy_version: String,
    /// Purpose -> granted. Missing means not granted.
    #[serde(default)]
    pub purposes: BTreeMap<String, bool>,
}

/// A profile from `users.profile`, borrowed from the record's bytes like
/// [`Properties`] (the start-up load parses every profile, and an owned map cost a
/// `String` per key and value). Only the fields the policy may copy are kept by
/// `state`; `bank_card` and `government_id` are read solely so they can be redacted
/// elsewhere. Open: every field but `user_id` and `updated_at` lands in `fields`,
/// and a key given twice is refused, as in `properties`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileRecord<'a> {
    /// The user.
    pub user_id: Cow<'a, str>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Every other field, by name.
    pub fields: PropMap<'a>,
}

impl<'a> ProfileRecord<'a> {
    /// Parses one `users.profile` value.
    pub fn parse(bytes: &'a [u8]) -> Result<ProfileRecord<'a>, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ProfileRecord<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Properties(mut fields) = Properties::deserialize(d)?;
        let user_id = match fields.take("user_id") {
            Some(PropValue::String(s)) => s,
            Some(_) => return Err(de::Error::custom("user_id: expected a string")),
            None => return Err(de::Error::missing_field("user_id")),
        };
        let updated_at = match fields.take("updated_at") {
            Some(PropValue::String(s)) => s
                .parse::<DateTime<Utc>>()
                .map_err(|e| de::Error::custom(format_args!("updated_at: {e}")))?,
            Some(_) => return Err(de::Error::custom("updated_at: expected a string")),
            None => return Err(de::Error::missing_field("updated_at")),
        };
        Ok(ProfileRecord {
            user_id,
            updated_at,
            fields,
        })
    }
}

/// An erasure request from `users.erasure`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The user to erase.
    pub user_id: String,
    /// Id of the request, echoed in the audit record.
    pub request_id: String,
    /// When the user asked.
    pub requested_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(bytes: &[u8]) -> DlqReason {
        RawEvent::parse(bytes, 1 << 20).unwrap_err().reason
    }

    #[test]
    fn minimal_event_parses_and_borrows() {
        let raw = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00+01:00","extra":1}"#;
        let ev = RawEvent::parse(raw, 1 << 20).unwrap();
        assert!(matches!(ev.event_id, Cow::Borrowed("e1")));
        assert_eq!(format_time(&ev.occurred_at), "2026-11-29T09:00:00.000Z");
    }

    #[test]
    fn rejections_have_stable_codes() {
        assert_eq!(reason(b"\xff"), DlqReason::InvalidUtf8);
        assert_eq!(reason(b"{"), DlqReason::InvalidJson);
        assert_eq!(reason(b""), DlqReason::InvalidJson);
        assert_eq!(reason(b"[1]"), DlqReason::SchemaViolation);
        assert_eq!(
            RawEvent::parse(b"{}", 1).unwrap_err().reason,
            DlqReason::TooLarge
        );
        let deep = format!(
            r#"{{"event_id":"e","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{}1{}}}"#,
            "{\"a\":".repeat(40),
            "}".repeat(40)
        );
        assert_eq!(reason(deep.as_bytes()), DlqReason::TooDeep);
    }

    #[test]
    fn schema_violation_details_name_the_pointer_not_the_value() {
        let raw = br#"{"event_id":"e","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","location":{"lat":"alice@example.com","lon":1}}"#;
        let r = RawEvent::parse(raw, 1 << 20).unwrap_err();
        assert_eq!(r.reason, DlqReason::SchemaViolation);
        assert!(r.detail.starts_with("/location/lat"), "{}", r.detail);
        assert!(!r.detail.contains("alice"), "{}", r.detail);
    }

    #[test]
    fn duplicate_keys_are_refused_everywhere() {
        let top = br#"{"event_id":"a","event_id":"b","event_type":"x","occurred_at":"2026-11-29T10:00:00Z"}"#;
        assert_eq!(reason(top), DlqReason::SchemaViolation);
        let nested = br#"{"event_id":"a","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"k":1,"k":2}}"#;
        let r = RawEvent::parse(nested, 1 << 20).unwrap_err();
        assert_eq!(r.reason, DlqReason::SchemaViolation);
        assert_eq!(r.detail, "/properties: duplicate key");
        let deeper = br#"{"event_id":"a","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"o":[{"k":1,"j":0,"k":2}]}}"#;
        let r = RawEvent::parse(deeper, 1 << 20).unwrap_err();
        assert_eq!(r.detail, "/properties/o/0: duplicate key");
    }

    #[test]
    fn profile_records_borrow_their_fields_and_refuse_what_is_not_a_profile() {
        let ok = br#"{"phone":"+1 555","user_id":"u\u0031","updated_at":"2026-11-29T10:00:00+01:00","name":"Ada"}"#;
        let p = ProfileRecord::parse(ok).unwrap();
        assert_eq!(p.user_id, "u1");
        let utc: DateTime<Utc> = "2026-11-29T09:00:00Z".parse().unwrap();
        assert_eq!(p.updated_at, utc);
        let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["name", "phone"],
            "user_id and updated_at are not fields"
        );
        assert!(matches!(
            p.fields.get("name"),
            Some(PropValue::String(Cow::Borrowed("Ada")))
        ));
        for bad in [
            &br#"{"updated_at":"2026-11-29T10:00:00Z"}"#[..],
            br#"{"user_id":7,"updated_at":"2026-11-29T10:00:00Z"}"#,
            br#"{"user_id":"u1","updated_at":"yesterday"}"#,
            br#"{"user_id":"u1"}"#,
            br#"{"user_id":"u1","updated_at":"2026-11-29T10:00:00Z","name":"a","name":"b"}"#,
            br#"["u1"]"#,
        ] {
            assert!(
                ProfileRecord::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn properties_borrow_unescaped_strings_and_keep_key_order() {
        let raw = br#"{"event_id":"e","event_type":"x","occurred_at":"2026-11-29T10:00:00Z","properties":{"b":"plain","a":"esc\"aped","c\u00e9":{"z":[1,-2,2.5,null,true],"y":"\u00e9"},"B":{}}}"#;
        let ev = RawEvent::parse(raw, 1 << 20).unwrap();
        let p = &ev.properties.as_ref().unwrap().0;
        let keys: Vec<&str> = p.iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            ["B", "a", "b", "c\u{e9}"],
            "byte order, as serde_json::Map"
        );
        assert!(matches!(
            p.get("b"),
            Some(PropValue::String(Cow::Borrowed("plain")))
        ));
        assert!(matches!(p.get("a"), Some(PropValue::String(Cow::Owned(_)))));
        let whole: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(p.to_value(), whole["properties"]);
        assert_eq!(p.len(), 4);
        assert!(p.get("missing").is_none());
    }
}

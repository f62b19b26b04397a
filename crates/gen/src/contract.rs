//! Independent readers of the wire contract — which raw events the worker must accept,
//! duplicate JSON keys, RFC 3339 times, Luhn check digits — for the tests to judge the
//! generator's bytes with.
//!
//! It owns no generator knowledge: it reads bytes the way the worker's contract does, so a
//! generator bug cannot hide behind a matching bug here. It must not import the generator's
//! model; the one exception, `BAD_TIMES`, is there to be rejected.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::events::BAD_TIMES;

/// What the worker must accept, checked independently of the generator's own model:
/// `Err(reason)` for every input the contract rejects.
pub(crate) fn classify(bytes: &[u8]) -> Result<Map<String, Value>, &'static str> {
    let text = std::str::from_utf8(bytes).map_err(|_| "invalid_utf8")?;
    let v: Value = serde_json::from_str(text).map_err(|_| "invalid_json")?;
    let Value::Object(o) = v else {
        return Err("not_object");
    };
    match o.get("event_id") {
        None => return Err("missing_event_id"),
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(_) => return Err("wrong_type"),
    }
    match o.get("event_type") {
        Some(Value::String(s)) => {
            let ok = (1..=64).contains(&s.len())
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.'
                });
            if !ok {
                return Err("bad_event_type");
            }
        }
        _ => return Err("wrong_type"),
    }
    match o.get("occurred_at") {
        Some(Value::String(s)) => {
            if !is_rfc3339(s) {
                return Err("bad_occurred_at");
            }
        }
        _ => return Err("wrong_type"),
    }
    for f in [
        "user_id",
        "anonymous_id",
        "device_id",
        "session_id",
        "ip",
        "user_agent",
        "language",
        "url",
        "referrer",
    ] {
        if o.get(f).is_some_and(|v| !v.is_string()) {
            return Err("wrong_type");
        }
    }
    for f in ["location", "app", "properties"] {
        if o.get(f).is_some_and(|v| !v.is_object()) {
            return Err("wrong_type");
        }
    }
    Ok(o)
}

/// Hand-written JSON can repeat a key, which `Value` would silently collapse.
pub(crate) fn has_duplicate_keys(bytes: &[u8]) -> bool {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Check;
    impl<'de> Deserialize<'de> for Check {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(CheckVisitor)
        }
    }
    struct CheckVisitor;
    impl<'de> Visitor<'de> for CheckVisitor {
        type Value = Check;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Check, A::Error> {
            let mut seen = HashSet::new();
            while let Some(k) = map.next_key::<String>()? {
                if !seen.insert(k.clone()) {
                    return Err(serde::de::Error::custom(format!("duplicate key {k}")));
                }
                map.next_value::<Check>()?;
            }
            Ok(Check)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Check, A::Error> {
            while seq.next_element::<Check>()?.is_some() {}
            Ok(Check)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Check, E> {
            Ok(Check)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Check, E> {
            Ok(Check)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Check, E> {
            Ok(Check)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Check, E> {
            Ok(Check)
        }
        fn visit_str<E>(self, _: &str) -> Result<Check, E> {
            Ok(Check)
        }
        fn visit_unit<E>(self) -> Result<Check, E> {
            Ok(Check)
        }
    }
    serde_json::from_slice::<Check>(bytes).is_err()
}

pub(crate) fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return false;
    };
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let dim = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d == 0
        || d > dim[mo as usize - 1]
        || h > 23
        || mi > 59
        || sec > 59
    {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    rest == "Z"
        || (rest.len() == 6
            && (rest.starts_with('+') || rest.starts_with('-'))
            && rest.as_bytes()[3] == b':'
            && num(s.len() - 5..s.len() - 3).is_some_and(|h| h < 24)
            && num(s.len() - 2..s.len()).is_some_and(|m| m < 60))
}

#[test]
fn rfc3339_checker_itself() {
    assert!(has_duplicate_keys(br#"{"a":{"b":1,"b":2}}"#));
    assert!(!has_duplicate_keys(br#"{"a":{"b":1},"b":[{"a":1}]}"#));
    assert!(is_rfc3339("2026-11-01T00:00:00.000Z"));
    assert!(is_rfc3339("2026-11-01T05:30:00.123+05:30"));
    assert!(is_rfc3339("2024-02-29T00:00:00Z"));
    for bad in BAD_TIMES {
        assert!(!is_rfc3339(bad), "{bad}");
    }
}

pub(crate) fn luhn_ok(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(k, c)| {
            let d = u32::from(c - b'0');
            if k % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

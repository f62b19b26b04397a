//! Serializing property trees scrubbed: the JSON bytes of a `PropMap` with every string
//! (keys included) scrubbed and card numbers sent as numbers replaced, written straight
//! from the borrowed input tree without building a scrubbed copy. It owns only that
//! serialization; which keys reach which record is `policy`'s decision, and what a string
//! loses is `scrub`'s. Both `policy` (event properties) and `state` (a profile's
//! copyable fields, once, at load) use it, which is why it is neither of them.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{PropMap, PropValue};
use crate::scrub::{self, Known, Level};

/// A JSON object to output scrubbed, serialized straight from the input map without
/// building a scrubbed copy: the bytes are exactly those of the map that `scrub_value`
/// (and, at the top level, the allow-list filter) would build. Keys that scrubbing
/// changes can reorder or merge entries, so an object with such a key is rebuilt the
/// old way (rare: keys are field names).
#[derive(Debug)]
pub(crate) struct ScrubbedOut<'a> {
    pub(crate) map: &'a PropMap<'a>,
    /// Top-level keys to keep; `None` = all.
    pub(crate) allow: Option<&'a [String]>,
    pub(crate) level: Level,
    pub(crate) known: Known<'a>,
}

impl Serialize for ScrubbedOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ScrubbedMap {
            map: self.map,
            allow: self.allow,
            level: self.level,
            known: &self.known,
        }
        .serialize(s)
    }
}

/// The JSON object of `map`'s entries whose key is in `allow`, scrubbed at `level` with
/// each of `known` removed: the bytes `scrub_value` of those entries would serialize to.
/// `state` stores a profile's copyable fields this way, once, at load, when every
/// personal output carries the same fields.
pub fn scrubbed_object_json(
    map: &PropMap<'_>,
    allow: &[String],
    level: Level,
    known: &Known<'_>,
) -> Result<Box<serde_json::value::RawValue>, serde_json::Error> {
    // Written by our own serializer, so the text is not parsed again to check it.
    serde_json::value::to_raw_value(&ScrubbedMap {
        map,
        allow: Some(allow),
        level,
        known,
    })
}

/// The JSON of each of `map`'s entries whose key is in `allow`, scrubbed at `level`
/// with each of `known` removed, in `map`'s order, each with its key's position in
/// `allow`: the values `scrub_value` would return. `state` stores a profile's copyable
/// fields this way, once, at load, when personal outputs carry different fields, so that
/// each copies its own without parsing anything again.
pub fn scrubbed_fields_json(
    map: &PropMap<'_>,
    allow: &[String],
    level: Level,
    known: &Known<'_>,
) -> Result<Vec<(usize, Box<serde_json::value::RawValue>)>, serde_json::Error> {
    let mut out = Vec::new();
    for (k, v) in map.iter() {
        let Some(at) = allow.iter().position(|a| a == k) else {
            continue;
        };
        // Written by our own serializer, so the text is not parsed again to check it.
        let json = serde_json::value::to_raw_value(&ScrubbedValue { v, level, known })?;
        out.push((at, json));
    }
    Ok(out)
}

/// [`ScrubbedOut`] with the known values borrowed (nested objects reuse the parent's).
struct ScrubbedMap<'a, 'k> {
    map: &'a PropMap<'a>,
    allow: Option<&'a [String]>,
    level: Level,
    known: &'k Known<'k>,
}

impl Serialize for ScrubbedMap<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let entries = || {
            self.map
                .iter()
                .filter(|(k, _)| self.allow.is_none_or(|a| a.iter().any(|x| x == k)))
        };
        let (level, known) = (self.level, self.known);
        if entries().all(|(k, _)| matches!(scrub::scrub(k, level, known), Cow::Borrowed(_))) {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(None)?;
            for (k, v) in entries() {
                m.serialize_entry(k, &ScrubbedValue { v, level, known })?;
            }
            return m.end();
        }
        let rebuilt: Map<String, Value> = entries()
            .map(|(k, v)| {
                (
                    scrub::scrub(k, level, known).into_owned(),
                    scrub_value(&v.to_value(), level, known),
                )
            })
            .collect();
        rebuilt.serialize(s)
    }
}

/// A JSON value serialized as `scrub_value` would return it.
struct ScrubbedValue<'a, 'k> {
    v: &'a PropValue<'a>,
    level: Level,
    known: &'k Known<'k>,
}

impl Serialize for ScrubbedValue<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (level, known) = (self.level, self.known);
        match self.v {
            PropValue::String(t) => s.serialize_str(&scrub::scrub(t, level, known)),
            PropValue::Number(n) => match scrub::scrub_number(n, known) {
                Some(placeholder) => s.serialize_str(placeholder),
                None => n.serialize(s),
            },
            PropValue::Bool(b) => s.serialize_bool(*b),
            PropValue::Null => s.serialize_unit(),
            PropValue::Array(a) => {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(&ScrubbedValue { v, level, known })?;
                }
                seq.end()
            }
            PropValue::Object(m) => ScrubbedMap {
                map: m,
                allow: None,
                level,
                known,
            }
            .serialize(s),
        }
    }
}

/// Scrubs every string (keys included) of a JSON value; card numbers and known values
/// sent as JSON numbers become their placeholder.
pub fn scrub_value(v: &Value, level: Level, known: &Known<'_>) -> Value {
    match v {
        Value::String(s) => Value::String(scrub::scrub(s, level, known).into_owned()),
        Value::Number(n) => match scrub::scrub_number(n, known) {
            Some(p) => Value::String(p.into()),
            None => Value::Number(n.clone()),
        },
        Value::Array(a) => Value::Array(a.iter().map(|x| scrub_value(x, level, known)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    (
                        scrub::scrub(k, level, known).into_owned(),
                        scrub_value(x, level, known),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

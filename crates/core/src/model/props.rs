//! The borrowed property tree of a raw event's `properties` (and of a profile's fields):
//! parsed strictly — duplicate keys refused, depth bounded by the caller — with strings
//! borrowed from the input bytes wherever no escape forces a copy. It owns the tree and
//! its parsing; what of it reaches an output is `policy`'s and `scrubbed_json`'s business.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Number, Value};

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

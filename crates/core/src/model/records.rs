//! The table documents of the wire contract: consent records, profiles and erasure
//! requests, and the purposes a consent can grant. It owns their parsing (closed
//! contracts: unknown top-level fields are refused); how they are ordered and applied is
//! `state`'s business.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de;
use serde::{Deserialize, Deserializer};

use super::{PropMap, PropValue, Properties};

/// A user id as a table record names it. It is personal data: it has no `Display`, and its
/// `Debug` does not show it, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// The id, for lookups and for keys of records written back to Kafka.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserId(..)")
    }
}

/// The id of an erasure request, echoed as the key of its audit record. Not personal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    pub user_id: UserId,
    /// When the user made this choice.
    pub updated_at: DateTime<Utc>,
    /// Version of the policy the user agreed to.
    pub policy_version: String,
    /// Purpose -> granted. Missing means not granted. A purpose given twice makes the
    /// record unreadable (fail closed), as duplicate keys do in raw events: parsers
    /// that disagree on which duplicate wins would disagree on the consent.
    #[serde(default, deserialize_with = "purposes_without_duplicates")]
    pub purposes: BTreeMap<String, bool>,
}

fn purposes_without_duplicates<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, bool>, D::Error> {
    struct Purposes;
    impl<'de> de::Visitor<'de> for Purposes {
        type Value = BTreeMap<String, bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of purpose -> bool")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, bool>()? {
                if out.insert(k, v).is_some() {
                    return Err(de::Error::custom("purposes: duplicate key"));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(Purposes)
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
    pub user_id: UserId,
    /// Id of the request, echoed in the audit record.
    pub request_id: RequestId,
    /// When the user asked.
    pub requested_at: DateTime<Utc>,
}

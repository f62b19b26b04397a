//! The core's own configuration: what the policy copies and where ([`PolicyConfig`]), and
//! what [`crate::pipeline::Core`] is built from ([`CoreSettings`]). The worker's
//! configuration file embeds `PolicyConfig` as its `[policy]` table and converts the rest
//! (limits, the pseudonym key) into `CoreSettings`; loading, environment overrides and
//! validation of the file are the worker's. Nothing here reads anything.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::model::Purpose;

/// Granularity of the location kept in the anonymous record.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LocationPrecision {
    /// Country, region and city.
    #[default]
    City,
    /// Country and region.
    Region,
    /// Country only.
    Country,
    /// No location at all.
    None,
}

/// What the anonymous record says about the network (autonomous system) of the address.
/// An AS number names its holder in every public registry, so `asn` and `organization`
/// disclose the same; the difference is that a name is readable in the topic itself.
/// Either way only systems of at least `network_min_ipv4_addresses` are shown.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NetworkPrecision {
    /// No `network` in the anonymous record.
    None,
    /// The AS number only.
    #[default]
    Asn,
    /// The AS number and the organisation's name.
    Organization,
}

/// Whether the anonymous record links the events of one visit.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AnonymousVisits {
    /// No `visit` field: every anonymous record stands alone.
    #[default]
    Off,
    /// `visit`: a keyed hash of the session id (else the anonymous id) and the event's
    /// UTC day, equal for one session's events on one day and for nothing else.
    Daily,
}

/// Policy knobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// The consent purpose that allows a personal record.
    pub personal_purpose: Purpose,
    /// Query parameters kept in the anonymous URL; all others are dropped.
    pub query_allow_list: Vec<String>,
    /// Property keys kept in the anonymous record (top level); `["*"]` keeps all keys,
    /// values scrubbed either way.
    pub properties_allow_list: Vec<String>,
    /// Profile fields copied into the personal record. `bank_card` and
    /// `government_id` are refused here.
    pub profile_fields: Vec<String>,
    /// Location granularity in the anonymous record.
    pub location_precision: LocationPrecision,
    /// What the anonymous record says of the address's network (when a network database
    /// is loaded): `none`, `asn` or `organization`.
    pub network_precision: NetworkPrecision,
    /// The smallest network the anonymous record names: an autonomous system holding
    /// fewer IPv4 addresses than this (a small employer's or a person's own) gets
    /// `network: null`. The default, a /16, keeps the ~3,700 largest systems, which hold
    /// 92 % of the routed IPv4 space.
    pub network_min_ipv4_addresses: u64,
    /// Whether the anonymous record links one visit's events (`visit`): `off` or `daily`.
    pub anonymous_visits: AnonymousVisits,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            personal_purpose: Purpose::Analytics,
            query_allow_list: [
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_term",
                "utm_content",
            ]
            .map(String::from)
            .to_vec(),
            properties_allow_list: vec!["*".to_string()],
            profile_fields: ["name", "email", "phone", "mailing_address", "preferences"]
                .map(String::from)
                .to_vec(),
            location_precision: LocationPrecision::City,
            network_precision: NetworkPrecision::Asn,
            network_min_ipv4_addresses: 65_536,
            anonymous_visits: AnonymousVisits::Off,
        }
    }
}

/// What a personal output may carry from the event, beside its user id, event id and
/// times, the consent it was made under, and its profile fields.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum ContextField {
    /// `anonymous_id`, `device_id` and `session_id`.
    Identifiers,
    /// The raw IP address (`context.ip`).
    Ip,
    /// `context.user_agent`.
    UserAgent,
    /// `context.language`.
    Language,
    /// `context.url` (cards scrubbed, query kept).
    Url,
    /// `context.referrer`.
    Referrer,
    /// `context.app`.
    App,
    /// `context.properties`, limited by the output's `properties_allow_list`.
    Properties,
    /// The location looked up from the IP address (`geo`).
    Geo,
    /// The device's own reported position (`device_location`).
    DeviceLocation,
    /// Local time and zone (`time`).
    Time,
    /// The address's autonomous system and its organisation (`network`).
    Network,
}

impl ContextField {
    /// Every field, in record order: what the single default output carries.
    pub const ALL: [ContextField; 12] = [
        ContextField::Identifiers,
        ContextField::Ip,
        ContextField::UserAgent,
        ContextField::Language,
        ContextField::Url,
        ContextField::Referrer,
        ContextField::App,
        ContextField::Properties,
        ContextField::Geo,
        ContextField::DeviceLocation,
        ContextField::Time,
        ContextField::Network,
    ];
    /// What a third-party output discloses only when its configuration names it: a raw
    /// address, a device's position and the coordinates looked up from the address are
    /// more than a partner's service needs; so is the network, also read from the address.
    pub const NAMED_FOR_THIRD_PARTIES: [ContextField; 4] = [
        ContextField::Ip,
        ContextField::DeviceLocation,
        ContextField::Geo,
        ContextField::Network,
    ];
    /// The configuration name.
    pub fn name(self) -> &'static str {
        match self {
            ContextField::Identifiers => "identifiers",
            ContextField::Ip => "ip",
            ContextField::UserAgent => "user_agent",
            ContextField::Language => "language",
            ContextField::Url => "url",
            ContextField::Referrer => "referrer",
            ContextField::App => "app",
            ContextField::Properties => "properties",
            ContextField::Geo => "geo",
            ContextField::DeviceLocation => "device_location",
            ContextField::Time => "time",
            ContextField::Network => "network",
        }
    }
}

/// The Kafka key of a personal output's records.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum OutputKey {
    /// The user id: one user's records stay in order on one partition.
    #[default]
    UserId,
    /// No key: records spread over partitions, and the key discloses nothing.
    None,
}

/// One personal output: a destination, the purposes its use needs, and exactly what it
/// may carry. A record is written to it only for an identified user whose consent
/// grants every one of `purposes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PersonalOutput {
    /// Label in metrics, logs and `process` summaries: `[a-z][a-z0-9_]*`, at most 32
    /// bytes, unique. Required.
    pub name: String,
    /// The topic its records go to (the edge's; the core only labels them). Required.
    pub topic: String,
    /// Consent purposes the output needs, all of them. Required, not empty.
    pub purposes: Vec<Purpose>,
    /// Profile fields it may carry; `bank_card` and `government_id` are refused.
    #[serde(default)]
    pub profile_fields: Vec<String>,
    /// Event context it may carry. Absent: every field, except `ip`,
    /// `device_location`, `geo` and `network` when `purposes` holds
    /// `third_party_sharing` (a partner gets those only when they are named here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Vec<ContextField>>,
    /// Top-level property keys kept when `context` allows `properties`; `["*"]` keeps
    /// every key. Values are scrubbed of cards either way.
    #[serde(default = "all_keys")]
    pub properties_allow_list: Vec<String>,
    /// The records' Kafka key.
    #[serde(default)]
    pub key: OutputKey,
    /// The shape of the single output of old, which its consumers validate against:
    /// `profile` present (`null` or `{}`) even with no profile fields, and the consent's
    /// four purposes, where a listed output shows only those it needs (a partner need
    /// not learn whether the user allowed marketing). Not configurable; set by
    /// [`PersonalOutput::single`] only.
    #[serde(skip)]
    pub single_shape: bool,
}

fn all_keys() -> Vec<String> {
    vec!["*".to_string()]
}

impl PersonalOutput {
    /// The single output of a configuration that lists none: today's `usage.personal`,
    /// gated on `policy.personal_purpose`, with `policy.profile_fields` and every
    /// context field.
    pub fn single(policy: &PolicyConfig, topic: &str) -> PersonalOutput {
        PersonalOutput {
            name: "personal".into(),
            topic: topic.into(),
            purposes: vec![policy.personal_purpose],
            profile_fields: policy.profile_fields.clone(),
            context: Some(ContextField::ALL.to_vec()),
            properties_allow_list: all_keys(),
            key: OutputKey::UserId,
            single_shape: true,
        }
    }

    /// The context it carries once the default is applied.
    pub fn context_fields(&self) -> Vec<ContextField> {
        if let Some(c) = &self.context {
            return c.clone();
        }
        let third_party = self.purposes.contains(&Purpose::ThirdPartySharing);
        ContextField::ALL
            .into_iter()
            .filter(|f| !(third_party && ContextField::NAMED_FOR_THIRD_PARTIES.contains(f)))
            .collect()
    }
}

/// Everything [`crate::pipeline::Core`] is built from, already validated by the edge.
#[derive(Clone)]
pub struct CoreSettings {
    /// The policy.
    pub policy: PolicyConfig,
    /// The personal outputs, in order (at least one; their index is their
    /// [`crate::pipeline::Outputs`] position). `policy.personal_purpose` and
    /// `policy.profile_fields` are not read: the edge resolved them into these.
    pub personal_outputs: Vec<PersonalOutput>,
    /// Raw events larger than this many bytes are dead-lettered as `too_large`.
    pub max_event_bytes: usize,
    /// The most bytes one output record (key, value and the core's headers) may take: an
    /// input with an output above it becomes one `output_too_large` dead letter, and dead
    /// letters are cut to fit. The edge sets its producer's limit from it, with headroom
    /// for the headers it adds and the record framing.
    pub max_output_bytes: usize,
    /// HMAC-SHA256 key for the anonymous `event_id`, wiped from memory when the settings
    /// are dropped (the keyed HMAC state the policy derives from it lives on).
    pub pseudonym_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for CoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreSettings")
            .field("policy", &self.policy)
            .field("personal_outputs", &self.personal_outputs)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("pseudonym_key", &"[masked]")
            .finish()
    }
}

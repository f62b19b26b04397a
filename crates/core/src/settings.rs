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
        }
    }
}

/// Everything [`crate::pipeline::Core`] is built from, already validated by the edge.
#[derive(Clone)]
pub struct CoreSettings {
    /// The policy.
    pub policy: PolicyConfig,
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
            .field("max_event_bytes", &self.max_event_bytes)
            .field("max_output_bytes", &self.max_output_bytes)
            .field("pseudonym_key", &"[masked]")
            .finish()
    }
}

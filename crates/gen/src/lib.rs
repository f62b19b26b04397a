//! Load generator: a deterministic synthetic population (consent records, profiles, erasure
//! requests) and the raw usage events it produces, rendered as Kafka records in the v1 wire
//! contract of DESIGN.md, plus the ground truth (`summary`) that end-to-end checks compare
//! the worker's output with.
//!
//! It owns the population model, the JSON encoding of the four input topics and the
//! bad-input mix. It must not do I/O — no files, sockets, clocks or environment: it only
//! yields [`GenRecord`]s and the CLI / Kafka edges write them (its reference data is
//! compiled in). The same [`GenConfig`] must give bit-identical bytes on every platform, so
//! it carries its own PRNG (SplitMix64, no `rand`), prints every number from integers, and
//! never calls a floating-point function whose result could differ between libm
//! implementations (only `+ * <` on `f64`). Events are generated one at a time from
//! `(seed, index)`, never held in memory, so any count streams.
//!
//! # Layout
//!
//! * `lib.rs` — the public API: configuration, record types, the generator functions.
//! * `rng` — SplitMix64 and the stream tags that keep every kind of draw independent.
//! * `population` — the sanitised config (`Model`), consent categories, user ids, and the
//!   stable traits of a person (locale, name, device, browser).
//! * `records` — the state topics: consent, profile and erasure records.
//! * `events` — the raw event envelope: who sends it, its identifiers, the bad-input mix.
//! * `ip`, `url` — an event's client address and page URL; `ip` also lists the blocks
//!   addresses come from ([`client_networks`]), for a geolocation database that covers them.
//! * `properties` — the per-type `properties` object and the SDK trailer.
//! * `json` — byte-level writers: JSON strings and numbers, form-encoding, radix ids.
//! * `time` — millisecond units and the RFC 3339 writer.
//! * `tables` — the reference data of `data/` (locales, agents, catalogue, phrases),
//!   parsed once into `Tables`.
//! * `tsv` — the data files' line format and exact field readers.
//! * `contract` (tests only) — independent readers of the wire contract.
//! * `tests` — whole-output properties, judged by `contract`.

mod events;
mod ip;
mod json;
mod population;
mod properties;
mod records;
mod rng;
mod tables;
mod time;
mod tsv;
mod url;

#[cfg(test)]
mod contract;
#[cfg(test)]
mod tests;

use std::ops::Range;

pub use ip::{ClientNetwork, client_networks};

use events::{Actor, make_event, plan_event};
use population::{Category, Model, category_of};
use records::{consent_records, erasure_record, profile_record};

/// 2026-11-01T00:00:00Z: a fixed default so that runs without a configured start are
/// reproducible (the generator never reads the clock).
pub const DEFAULT_START_MS: i64 = 1_793_491_200_000;

/// What to generate. Shares are fractions in `[0, 1]`; out-of-range values are clamped and
/// NaN counts as 0. The four consent shares are cumulative in the order granted, denied,
/// withdrawn, erased; if they add up to more than 1 the later ones are cut short.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GenConfig {
    pub seed: u64,
    pub users: u64,
    pub events: u64,
    /// Events carrying a `user_id` (the rest only an anonymous id). With `users == 0` every
    /// event is anonymous.
    pub identified_share: f64,
    /// Users whose analytics consent is granted and stays granted.
    pub consent_granted: f64,
    /// Users with a consent record that does not grant analytics.
    pub consent_denied: f64,
    /// Users who granted and later withdrew: a grant followed by either a record with
    /// `analytics: false` and a later `updated_at`, or a tombstone (both kinds occur).
    pub consent_withdrawn: f64,
    /// Users who granted and later asked for erasure (`requested_at` after the grant).
    pub erased: f64,
    pub ip_share: f64,
    pub device_location_share: f64,
    /// Raw events that are bad inputs (truncated JSON, invalid UTF-8, missing `event_id`,
    /// wrong types, bad `event_type`, bad `occurred_at`, not an object).
    pub malformed: f64,
    /// Events start here and advance ~250 ms per event; every consent, profile and erasure
    /// record is dated at least a day before it. Clamped to years 1972..=8000.
    pub start_time_ms: i64,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            users: 1000,
            events: 10_000,
            identified_share: 0.6,
            consent_granted: 0.5,
            consent_denied: 0.2,
            consent_withdrawn: 0.1,
            erased: 0.05,
            ip_share: 0.3,
            device_location_share: 0.1,
            malformed: 0.01,
            start_time_ms: DEFAULT_START_MS,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GenTopic {
    Consent,
    Profile,
    Erasure,
    Raw,
}

impl GenTopic {
    /// The default topic name from DESIGN.md (topics are configurable; this is only the default).
    pub fn default_name(self) -> &'static str {
        match self {
            GenTopic::Consent => "users.consent",
            GenTopic::Profile => "users.profile",
            GenTopic::Erasure => "users.erasure",
            GenTopic::Raw => "usage.raw",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenRecord {
    pub topic: GenTopic,
    pub key: Option<String>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Ground truth for a config. `identified` and `expected_personal` count only valid events:
/// a malformed event is dead-lettered whatever user it names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GenSummary {
    pub users: u64,
    pub events: u64,
    pub malformed: u64,
    /// Valid events carrying a `user_id`.
    pub identified: u64,
    /// Valid events with a `user_id` whose user's final state (every consent and erasure
    /// record applied before any event) grants `analytics` and is not erased.
    pub expected_personal: u64,
}

/// Every consent record (for withdrawn users the grant, then the withdrawal record or
/// tombstone), then profiles for ~80% of users, then erasure requests. All dated before
/// `start_time_ms`, so applying them in any order before the events gives the final state.
pub fn state_records(cfg: &GenConfig) -> impl Iterator<Item = GenRecord> + use<> {
    let m = Model::new(cfg);
    let consent = (0..m.users).flat_map(move |u| consent_records(&m, u).into_iter().flatten());
    let profiles = (0..m.users).filter_map(move |u| profile_record(&m, u));
    let erasures = (0..m.users).filter_map(move |u| erasure_record(&m, u));
    consent.chain(profiles).chain(erasures)
}

/// `cfg.events` raw events, generated lazily one by one.
pub fn events(cfg: &GenConfig) -> impl Iterator<Item = GenRecord> + use<> {
    events_range(cfg, 0..cfg.events)
}

/// The events with these indices — exactly the records `events(cfg)` yields at those
/// positions, because each event depends only on `(seed, index)`. Lets producers shard
/// generation across threads. The range is cut to `0..cfg.events`.
pub fn events_range(cfg: &GenConfig, range: Range<u64>) -> impl Iterator<Item = GenRecord> + use<> {
    let m = Model::new(cfg);
    let end = range.end.min(m.events);
    (range.start.min(end)..end).map(move |i| make_event(&m, i))
}

/// The ground truth, from the same per-event draws as `events` but without rendering them.
pub fn summary(cfg: &GenConfig) -> GenSummary {
    let m = Model::new(cfg);
    let mut s = GenSummary {
        users: m.users,
        events: m.events,
        ..GenSummary::default()
    };
    for i in 0..m.events {
        let (plan, _) = plan_event(&m, i);
        if plan.malformed {
            s.malformed += 1;
        } else if let Actor::User(u) = plan.actor {
            s.identified += 1;
            if category_of(&m, u) == Category::Granted {
                s.expected_personal += 1;
            }
        }
    }
    s
}

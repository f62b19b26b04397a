//! The privacy policy applied to one parsed event: builds the anonymous record by
//! allow-list, decides whether a personal record is allowed (user id present, purpose
//! granted, not erased) and builds it, never copying `bank_card` or `government_id`.
//! It owns *what* leaves and in which shape; it does no parsing of bytes (`model`), no
//! enrichment lookups (`enrich`) and no I/O.

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::enrich::{AgentInfo, AsNetwork, Enrichment, GeoInfo, Network, TimeInfo};
use crate::model::{App, DeviceLocation, Purpose, RawEvent, format_time};
use crate::scrub::{self, Known, Level};
use crate::scrubbed_json::ScrubbedOut;
use crate::settings::{
    AnonymousVisits, ContextField, LocationPrecision, NetworkPrecision, OutputKey, PersonalOutput,
    PolicyConfig,
};
use crate::state::{Consent, Profile, ProfileFields, State};
use crate::url;

/// Longest app name/version/platform copied; longer values are dropped, not truncated,
/// since a cut string can still carry an identifier's prefix.
const MAX_APP_FIELD: usize = 128;

/// Why an event did or did not get a personal record. Metrics label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Decision {
    /// A personal record was produced.
    Personal,
    /// The event has no `user_id`.
    NoUserId,
    /// No consent record (or a tombstone) for the user.
    NoConsent,
    /// A consent exists but does not grant the configured purpose.
    PurposeNotGranted,
    /// The user was erased and has not consented since.
    Erased,
}

impl Decision {
    /// Every decision, for metrics and summaries.
    pub const ALL: [Decision; 5] = [
        Decision::Personal,
        Decision::NoUserId,
        Decision::NoConsent,
        Decision::PurposeNotGranted,
        Decision::Erased,
    ];
    /// Stable label.
    pub fn code(self) -> &'static str {
        match self {
            Decision::Personal => "personal",
            Decision::NoUserId => "no_user_id",
            Decision::NoConsent => "no_consent",
            Decision::PurposeNotGranted => "purpose_not_granted",
            Decision::Erased => "erased",
        }
    }
}

/// Keyed HMAC-SHA256 for event-id pseudonyms. The keyed state is computed once and
/// cloned per event, which skips re-hashing the key.
#[derive(Clone)]
pub struct Pseudonymizer(Hmac<Sha256>);

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(***)")
    }
}

impl Pseudonymizer {
    /// A pseudonymizer under `key`.
    pub fn new(key: &[u8]) -> Pseudonymizer {
        // HMAC accepts keys of any length, so this cannot fail.
        #[allow(clippy::expect_used)]
        Pseudonymizer(Hmac::new_from_slice(key).expect("HMAC takes any key length"))
    }

    /// Lower-case hex HMAC-SHA256 of `id`.
    pub fn pseudonym(&self, id: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(id.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A pseudonymizer under a key derived from this one for `purpose`. The derivation
    /// message starts with a NUL byte, which no event id can hold (the parse refuses
    /// control characters in ids), so the derived key is never the pseudonym of an event
    /// id that a producer could send and read back from the anonymous record.
    pub fn derive(&self, purpose: &str) -> Pseudonymizer {
        let mut mac = self.0.clone();
        mac.update(b"\0derive\0");
        mac.update(purpose.as_bytes());
        Pseudonymizer::new(&mac.finalize().into_bytes())
    }

    /// The visit pseudonym of identifier `id` of `kind` on UTC day `day` (days since
    /// 1970-01-01): 128 bits of HMAC-SHA256 over the day's eight bytes and the two
    /// strings, each length-prefixed so the message parses one way only. The day inside
    /// the message makes it a different keyed function each day. Use it on a
    /// [`Pseudonymizer::derive`]d key, not the event-id one.
    pub fn visit(&self, day: i64, kind: VisitSource, id: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(&day.to_be_bytes());
        for field in [kind.tag(), id] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        hex(&mac.finalize().into_bytes()[..16])
    }
}

/// Which identifier a visit pseudonym is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitSource {
    /// The event's `session_id`.
    Session,
    /// Its `anonymous_id`, when it has no session id.
    Anonymous,
}

impl VisitSource {
    fn tag(self) -> &'static str {
        match self {
            VisitSource::Session => "session",
            VisitSource::Anonymous => "anonymous",
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// The anonymous record (`schemas/anonymous-event.schema.json`).
#[derive(Debug, Serialize)]
pub struct Anonymous<'a> {
    event_id: String,
    /// Absent unless `policy.anonymous_visits` is on; `null` for an event with neither a
    /// session id nor an anonymous id.
    #[serde(skip_serializing_if = "Option::is_none")]
    visit: Option<Option<String>>,
    event_type: Cow<'a, str>,
    occurred_at: String,
    processed_at: &'a str,
    url: Option<String>,
    referrer_host: Option<String>,
    language: Option<String>,
    agent: Option<AgentInfo>,
    app: Option<AppOut<'a>>,
    geo: Option<GeoAnon<'a>>,
    /// Absent without a network database or with `network_precision = "none"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Option<Option<NetworkAnon<'a>>>,
    time: Option<&'a TimeInfo>,
    properties: Option<ScrubbedOut<'a>>,
}

#[derive(Debug, Serialize)]
struct NetworkAnon<'a> {
    asn: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct AppOut<'a> {
    name: Option<Cow<'a, str>>,
    version: Option<Cow<'a, str>>,
    platform: Option<Cow<'a, str>>,
}

#[derive(Debug, Serialize)]
struct GeoAnon<'a> {
    country_code: Option<&'a str>,
    region: Option<&'a str>,
    city: Option<&'a str>,
}

/// One personal output's record (`schemas/personal-event.schema.json`). A field the
/// output may not carry is absent (`None`); one it may carry that the event lacks is
/// `null` (`Some(None)`), as in the single output of old.
#[derive(Debug, Serialize)]
pub struct Personal<'a> {
    event_id: &'a str,
    event_type: Cow<'a, str>,
    occurred_at: String,
    processed_at: &'a str,
    user_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    anonymous_id: Allowed<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_id: Allowed<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Allowed<Cow<'a, str>>,
    consent: ConsentOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Allowed<ProfileOut<'a>>,
    context: Context<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    geo: Allowed<&'a GeoInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_location: Allowed<&'a DeviceLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Allowed<&'a TimeInfo>,
    /// Absent without a network database, as well as when the output may not carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    network: Allowed<&'a AsNetwork>,
}

/// A field of a personal record: `None` when the output may not carry it (absent),
/// `Some(None)` when it may but the event has none (`null`).
type Allowed<T> = Option<Option<T>>;

/// The profile fields one output may carry, copied from what the state stored.
#[derive(Debug)]
struct ProfileOut<'a> {
    profile: &'a Profile,
    names: &'a [String],
    allow: &'a [String],
}

impl Serialize for ProfileOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let each = match &self.profile.fields {
            ProfileFields::Whole(whole) if self.names.iter().all(|n| self.allow.contains(n)) => {
                return whole.serialize(s);
            }
            ProfileFields::Whole(_) => {
                // Kept whole, but this output may carry fewer fields: a state built with
                // `State::new` for outputs that `State::for_outputs` would have split.
                // Nothing is copied rather than more than allowed (fail closed).
                return s.serialize_map(Some(0))?.end();
            }
            ProfileFields::Each(each) => each,
        };
        let mut m = s.serialize_map(None)?;
        for (at, json) in each.iter() {
            let Some(name) = self.names.get(usize::from(*at)) else {
                continue;
            };
            if self.allow.contains(name) {
                m.serialize_entry(name, &**json)?;
            }
        }
        m.end()
    }
}

#[derive(Debug, Serialize)]
struct ConsentOut {
    policy_version: std::sync::Arc<str>,
    purposes: PurposesOut,
}

/// The consent's purposes an output shows: all four for the single output of old, only
/// its own for a listed one (absent otherwise).
#[derive(Debug, Serialize)]
struct PurposesOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    analytics: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    personalization: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    marketing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    third_party_sharing: Option<bool>,
}

#[derive(Debug, Serialize)]
struct Context<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Allowed<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Allowed<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Allowed<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Allowed<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referrer: Allowed<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    app: Allowed<AppOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    properties: Allowed<ScrubbedOut<'a>>,
}

/// One personal output, ready to apply.
#[derive(Debug, Clone)]
struct OutputPolicy {
    purposes: Vec<Purpose>,
    profile_fields: Vec<String>,
    single_shape: bool,
    /// Bit `f as u16` set for each [`ContextField`] `f` it carries.
    context: u16,
    /// Top-level property keys kept; `None` = all.
    properties: Option<Vec<String>>,
    key: OutputKey,
}

impl OutputPolicy {
    fn new(o: &PersonalOutput) -> OutputPolicy {
        let all = o.properties_allow_list.iter().any(|k| k == "*");
        OutputPolicy {
            purposes: o.purposes.clone(),
            profile_fields: o.profile_fields.clone(),
            single_shape: o.single_shape,
            context: o
                .context_fields()
                .into_iter()
                .fold(0, |bits, f| bits | 1 << f as u16),
            properties: (!all).then(|| o.properties_allow_list.clone()),
            key: o.key,
        }
    }

    /// `Some(make())` when the output carries `f`, else `None` (the field is absent).
    fn carry<T>(&self, f: ContextField, make: impl FnOnce() -> Option<T>) -> Allowed<T> {
        (self.context & 1 << f as u16 != 0).then(make)
    }
}

/// The policy, ready to apply.
#[derive(Debug, Clone)]
pub struct Policy {
    config: PolicyConfig,
    all_properties: bool,
    pseudonyms: Pseudonymizer,
    /// Under a key derived from the pseudonym key: a visit can never equal an event id's
    /// pseudonym.
    visits: Pseudonymizer,
    outputs: Vec<OutputPolicy>,
}

/// What the user's state says about personal records, with what they need.
pub struct Verdict {
    /// Why no output may have one (no user id, no consent, erased); `None` when the
    /// user has a consent, and each output's purposes decide.
    refused: Option<Decision>,
    consent: Option<Consent>,
    profile: Option<std::sync::Arc<Profile>>,
}

impl Policy {
    /// The policy from its configuration and the pseudonym key.
    /// The policy from its configuration, the personal outputs in order, and the
    /// pseudonym key.
    pub fn new(config: PolicyConfig, outputs: &[PersonalOutput], key: &[u8]) -> Policy {
        Policy {
            all_properties: config.properties_allow_list.iter().any(|k| k == "*"),
            config,
            pseudonyms: Pseudonymizer::new(key),
            visits: Pseudonymizer::new(key).derive("consent-enricher visit key v1"),
            outputs: outputs.iter().map(OutputPolicy::new).collect(),
        }
    }

    /// How many personal outputs there are.
    pub fn outputs(&self) -> usize {
        self.outputs.len()
    }

    /// Reads what the user's state says about `ev`'s personal records, and fetches
    /// what the records need.
    pub fn decide(&self, ev: &RawEvent<'_>, state: &State) -> Verdict {
        let Some(user) = ev.user_id.as_deref() else {
            return Verdict {
                refused: Some(Decision::NoUserId),
                consent: None,
                profile: None,
            };
        };
        let profile = state.profile(user);
        let consent = state.consent(user);
        let refused = match consent {
            Some(_) => None,
            None if state.is_erased(user) => Some(Decision::Erased),
            None => Some(Decision::NoConsent),
        };
        Verdict {
            refused,
            consent,
            profile,
        }
    }

    /// Whether output `output` may have a record: the user has a consent granting
    /// every purpose it needs. An output that does not exist has none.
    pub fn decision(&self, verdict: &Verdict, output: usize) -> Decision {
        if let Some(d) = verdict.refused {
            return d;
        }
        let (Some(c), Some(o)) = (verdict.consent, self.outputs.get(output)) else {
            return Decision::PurposeNotGranted;
        };
        // An output needing no purpose would take every consented user: none is given
        // one (the edge refuses such an output; this keeps the core's promise anyway).
        if !o.purposes.is_empty() && o.purposes.iter().all(|p| c.purposes.grants(*p)) {
            Decision::Personal
        } else {
            Decision::PurposeNotGranted
        }
    }

    /// Whether output `output`'s records are keyed by user id.
    pub fn keyed_by_user(&self, output: usize) -> bool {
        self.outputs
            .get(output)
            .is_some_and(|o| o.key == OutputKey::UserId)
    }

    /// Builds the anonymous record.
    pub fn anonymous<'a>(
        &'a self,
        ev: &'a RawEvent<'a>,
        verdict: &'a Verdict,
        enrichment: &'a Enrichment,
        processed_at: &'a str,
    ) -> Anonymous<'a> {
        let known = known_values(ev, verdict.profile.as_deref());
        let geo = enrichment.geo.as_ref().and_then(|g| self.coarse_geo(g));
        let url = ev
            .url
            .as_deref()
            .and_then(|u| url::anonymize(u, &self.config.query_allow_list, &known));
        let referrer_host = ev
            .referrer
            .as_deref()
            .and_then(|r| url::referrer_host(r, &known));
        let app = ev.app.as_ref().map(|a| app_out(a, Level::All, &known));
        Anonymous {
            event_id: self.pseudonyms.pseudonym(&ev.event_id),
            visit: self.visit(ev),
            event_type: event_type_out(&ev.event_type, Level::All, &known),
            occurred_at: format_time(&ev.occurred_at),
            processed_at,
            url,
            referrer_host,
            language: ev.language.as_deref().and_then(primary_language),
            agent: enrichment.agent.clone(),
            app,
            geo,
            network: self.coarse_network(&enrichment.network),
            time: enrichment.time.as_ref(),
            properties: ev.properties.as_ref().map(|p| ScrubbedOut {
                map: &p.0,
                allow: (!self.all_properties).then_some(&self.config.properties_allow_list[..]),
                level: Level::All,
                known,
            }),
        }
    }

    /// The visit pseudonym, when visits are on: from the session id, else the anonymous
    /// id, never from the user id (so erasing a user leaves nothing derived from it).
    fn visit(&self, ev: &RawEvent<'_>) -> Option<Option<String>> {
        if self.config.anonymous_visits == AnonymousVisits::Off {
            return None;
        }
        // Both are 1-256 characters when present (the parse refuses empty ids).
        let source = (ev.session_id.as_deref().map(|s| (VisitSource::Session, s)))
            .or_else(|| (ev.anonymous_id.as_deref()).map(|a| (VisitSource::Anonymous, a)));
        let day = ev.occurred_at.timestamp().div_euclid(86_400);
        Some(source.map(|(kind, id)| self.visits.visit(day, kind, id)))
    }

    fn coarse_network<'a>(&self, n: &'a Network) -> Option<Option<NetworkAnon<'a>>> {
        let known = match n {
            Network::NoDatabase => return None,
            _ if self.config.network_precision == NetworkPrecision::None => return None,
            Network::Unknown => return Some(None),
            Network::Known(known) => known,
        };
        if known.ipv4_addresses < self.config.network_min_ipv4_addresses {
            return Some(None);
        }
        let organization = match self.config.network_precision {
            NetworkPrecision::Organization => known.organization.as_deref(),
            NetworkPrecision::Asn | NetworkPrecision::None => None,
        };
        Some(Some(NetworkAnon {
            asn: known.asn,
            organization,
        }))
    }

    fn coarse_geo<'a>(&self, g: &'a GeoInfo) -> Option<GeoAnon<'a>> {
        let g = &*g.location;
        let (region, city) = match self.config.location_precision {
            LocationPrecision::None => return None,
            LocationPrecision::Country => (None, None),
            LocationPrecision::Region => (g.region.as_deref(), None),
            LocationPrecision::City => (g.region.as_deref(), g.city.as_deref()),
        };
        Some(GeoAnon {
            country_code: g.country_code.as_deref(),
            region,
            city,
        })
    }

    /// Builds output `output`'s record, with only what it may carry; `None` unless
    /// [`Policy::decision`] allows one.
    pub fn personal<'a>(
        &'a self,
        ev: &'a RawEvent<'a>,
        verdict: &'a Verdict,
        output: usize,
        state: &'a State,
        enrichment: &'a Enrichment,
        processed_at: &'a str,
    ) -> Option<Personal<'a>> {
        if self.decision(verdict, output) != Decision::Personal {
            return None;
        }
        let o = self.outputs.get(output)?;
        let consent = verdict.consent?;
        let user_id = ev.user_id.as_deref()?;
        let never = Known::of([verdict.profile.as_deref().map(|p| &p.redact_always), None]);
        let cards = |s: &'a str| scrub::scrub(s, Level::CardsOnly, &never);
        let url_cards = |s: &'a str| url::scrub_cards(s, &never);
        let shown = |p: Purpose| {
            (o.single_shape || o.purposes.contains(&p)).then(|| consent.purposes.grants(p))
        };
        // Identifiers are copied, but a card or the user's government id written into
        // one is not (fuzzing found a card in `anonymous_id`; FUZZING.md).
        let id = |v: &'a Option<Cow<'a, str>>| {
            o.carry(ContextField::Identifiers, || v.as_deref().map(cards))
        };
        let profile = (o.single_shape || !o.profile_fields.is_empty()).then(|| {
            // Scrubbed of cards and the user's own card/id values when it was loaded.
            verdict.profile.as_deref().map(|profile| ProfileOut {
                profile,
                names: state.profile_fields(),
                allow: &o.profile_fields,
            })
        });
        Some(Personal {
            event_id: &ev.event_id,
            event_type: event_type_out(&ev.event_type, Level::CardsOnly, &never),
            occurred_at: format_time(&ev.occurred_at),
            processed_at,
            user_id,
            anonymous_id: id(&ev.anonymous_id),
            device_id: id(&ev.device_id),
            session_id: id(&ev.session_id),
            consent: ConsentOut {
                policy_version: state.policy_version(consent.policy_version),
                purposes: PurposesOut {
                    analytics: shown(Purpose::Analytics),
                    personalization: shown(Purpose::Personalization),
                    marketing: shown(Purpose::Marketing),
                    third_party_sharing: shown(Purpose::ThirdPartySharing),
                },
            },
            profile,
            context: Context {
                ip: o.carry(ContextField::Ip, || ev.ip.map(|ip| ip.to_string())),
                user_agent: o.carry(ContextField::UserAgent, || {
                    ev.user_agent.as_deref().map(cards)
                }),
                language: o.carry(ContextField::Language, || ev.language.as_deref().map(cards)),
                url: o.carry(ContextField::Url, || ev.url.as_deref().map(url_cards)),
                referrer: o.carry(ContextField::Referrer, || {
                    ev.referrer.as_deref().map(url_cards)
                }),
                app: o.carry(ContextField::App, || {
                    ev.app
                        .as_ref()
                        .map(|a| app_out(a, Level::CardsOnly, &never))
                }),
                properties: o.carry(ContextField::Properties, || {
                    ev.properties.as_ref().map(|p| ScrubbedOut {
                        map: &p.0,
                        allow: o.properties.as_deref(),
                        level: Level::CardsOnly,
                        known: never.clone(),
                    })
                }),
            },
            geo: o.carry(ContextField::Geo, || enrichment.geo.as_ref()),
            device_location: o.carry(ContextField::DeviceLocation, || {
                enrichment.device_location.as_ref()
            }),
            time: o.carry(ContextField::Time, || enrichment.time.as_ref()),
            network: match &enrichment.network {
                Network::NoDatabase => None,
                n => o.carry(ContextField::Network, || n.known()),
            },
        })
    }
}

/// Values that identify this event's user: removed from every anonymous string. The
/// event's own identifiers are needles made per event; the profile's were made once,
/// when it was loaded.
fn known_values<'a>(ev: &'a RawEvent<'a>, profile: Option<&'a Profile>) -> Known<'a> {
    let ids = [
        Some(&ev.event_id),
        ev.user_id.as_ref(),
        ev.anonymous_id.as_ref(),
        ev.device_id.as_ref(),
        ev.session_id.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|id| id.as_ref());
    match profile {
        Some(p) => Known::with_ids(ids, [Some(&p.redact_anonymous), Some(&p.redact_always)]),
        None => Known::with_ids(ids, [None, None]),
    }
}

/// Event types are names of a closed vocabulary (`[a-z0-9_.]{1,64}`, which the output
/// keeps): a part that holds an identifier becomes `redacted`, and in the anonymous
/// record so does any run of six or more digits, which no event name has and phone
/// numbers glued into one (`call_4155550123`) do.
fn event_type_out<'a>(et: &'a str, level: Level, known: &Known) -> Cow<'a, str> {
    let mut spans: Vec<std::ops::Range<usize>> = scrub::find(et, level, known, Default::default())
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    if level == Level::All {
        let b = et.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            if i - start >= 6 {
                spans.push(start..i);
            }
            i = i.max(start + 1);
        }
        spans.sort_by_key(|r| r.start);
    }
    if spans.is_empty() {
        return Cow::Borrowed(et);
    }
    let mut out = String::new();
    let mut copied = 0;
    for r in spans {
        if r.start < copied {
            copied = copied.max(r.end);
            continue;
        }
        out.push_str(&et[copied..r.start]);
        out.push_str("redacted");
        copied = r.end;
    }
    out.push_str(&et[copied..]);
    if out.len() > 64 {
        return Cow::Borrowed("redacted");
    }
    Cow::Owned(out)
}

fn app_out<'a>(app: &'a App<'a>, level: Level, known: &Known) -> AppOut<'a> {
    let f = |v: &'a Option<Cow<'a, str>>| -> Option<Cow<'a, str>> {
        let v = v.as_deref()?;
        if v.len() > MAX_APP_FIELD {
            return None;
        }
        Some(scrub::scrub(v, level, known))
    };
    AppOut {
        name: f(&app.name),
        version: f(&app.version),
        platform: f(&app.platform),
    }
}

/// The primary language subtag (`pt` of `pt-BR`), lower case; `None` unless it is two
/// or three ASCII letters.
pub fn primary_language(tag: &str) -> Option<String> {
    let primary = tag.split(['-', '_']).next()?;
    let ok = (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
    ok.then(|| primary.to_ascii_lowercase())
}

#[cfg(test)]
#[path = "policy/network_visit_tests.rs"]
mod network_visit_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scrubbed_json::scrub_value;

    #[test]
    fn languages() {
        for (tag, want) in [
            ("pt-BR", Some("pt")),
            ("EN_us", Some("en")),
            ("fil", Some("fil")),
            ("x", None),
            ("alice@example.com", None),
            ("", None),
        ] {
            assert_eq!(primary_language(tag).as_deref(), want, "{tag}");
        }
    }

    #[test]
    fn pseudonyms_are_stable_keyed_hex() {
        let a = Pseudonymizer::new(b"0123456789abcdef");
        let b = Pseudonymizer::new(b"fedcba9876543210");
        assert_eq!(a.pseudonym("e1"), a.pseudonym("e1"));
        assert_ne!(a.pseudonym("e1"), b.pseudonym("e1"));
        assert_eq!(a.pseudonym("e1").len(), 64);
        // RFC 4231 test case 2.
        let rfc = Pseudonymizer::new(b"Jefe");
        assert_eq!(
            rfc.pseudonym("what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// Found by fuzzing (FUZZING.md): a card number in `anonymous_id`, `device_id` or
    /// `session_id` reached the personal record unchanged.
    #[test]
    fn cards_in_identifier_fields_never_reach_the_personal_record() {
        let state = State::new(&[]);
        let grant: crate::model::ConsentRecord = serde_json::from_str(
            r#"{"user_id":"u1","updated_at":"2026-11-01T00:00:00Z","policy_version":"v1","purposes":{"analytics":true}}"#,
        )
        .unwrap();
        state.apply_consent("u1", Some(&grant));
        let single = PersonalOutput::single(&PolicyConfig::default(), "usage.personal");
        let policy = Policy::new(PolicyConfig::default(), &[single], b"k");
        let raw = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1","anonymous_id":"a paid with 4539 1488 0343 6467","device_id":"4539148803436467","session_id":"s-1"}"#;
        let ev = RawEvent::parse(raw, 1 << 20).unwrap();
        let verdict = policy.decide(&ev, &state);
        let enrichment = Enrichment::default();
        let p = policy
            .personal(
                &ev,
                &verdict,
                0,
                &state,
                &enrichment,
                "2026-11-29T12:00:00.000Z",
            )
            .unwrap();
        let doc = serde_json::to_value(&p).unwrap();
        assert_eq!(doc["anonymous_id"], "a paid with [card]");
        assert_eq!(doc["device_id"], "[card]");
        assert_eq!(doc["session_id"], "s-1");
    }

    /// The profile an output of `fields` gets from `state` for user u1.
    fn profile_of(state: &State, fields: &[&str]) -> serde_json::Value {
        let output = PersonalOutput {
            profile_fields: fields.iter().map(|f| f.to_string()).collect(),
            ..PersonalOutput::single(&PolicyConfig::default(), "t")
        };
        let policy = Policy::new(PolicyConfig::default(), &[output], b"k");
        let raw = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1"}"#;
        let ev = RawEvent::parse(raw, 1 << 20).unwrap();
        let verdict = policy.decide(&ev, state);
        let enrichment = Enrichment::default();
        let p = policy
            .personal(&ev, &verdict, 0, state, &enrichment, "t0")
            .unwrap();
        serde_json::to_value(&p).unwrap()["profile"].clone()
    }

    #[test]
    fn an_output_never_gets_profile_fields_beyond_its_own() {
        let grant: crate::model::ConsentRecord = serde_json::from_str(
            r#"{"user_id":"u1","updated_at":"2026-11-01T00:00:00Z","policy_version":"v1","purposes":{"analytics":true}}"#,
        )
        .unwrap();
        let profile = crate::model::ProfileRecord::parse(
            br#"{"user_id":"u1","updated_at":"2026-11-01T00:00:00Z","name":"Ada","email":"ada@example.com"}"#,
        )
        .unwrap();
        let fields = ["name".to_string(), "email".to_string()];
        let narrow = PersonalOutput {
            profile_fields: vec!["email".into()],
            ..PersonalOutput::single(&PolicyConfig::default(), "t")
        };
        let split = State::for_outputs(&[
            PersonalOutput::single(&PolicyConfig::default(), "u"),
            narrow,
        ]);
        let whole = State::new(&fields);
        for s in [&split, &whole] {
            s.apply_consent("u1", Some(&grant));
            s.apply_profile("u1", Some(&profile));
        }
        let both = serde_json::json!({"email": "ada@example.com", "name": "Ada"});
        assert_eq!(profile_of(&whole, &["name", "email"]), both);
        assert_eq!(profile_of(&split, &["name", "email"]), both);
        assert_eq!(
            profile_of(&split, &["email"]),
            serde_json::json!({"email": "ada@example.com"})
        );
        // A state that kept the fields whole cannot cut them for a narrower output: it
        // copies none rather than more than allowed.
        assert_eq!(profile_of(&whole, &["email"]), serde_json::json!({}));
    }

    #[test]
    fn card_numbers_as_numbers_are_scrubbed_everywhere() {
        let v = serde_json::json!({"a": [4111111111111111u64, {"b": 42}]});
        let out = scrub_value(&v, Level::CardsOnly, &Known::NONE);
        assert_eq!(out, serde_json::json!({"a": ["[card]", {"b": 42}]}));
    }
}

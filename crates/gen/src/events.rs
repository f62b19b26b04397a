//! The raw event envelope: who sends event `i` (a user, a visitor, a crawler), when, with
//! which identifiers, and whether and how it is a bad input.
//!
//! It owns the per-event stream and its draw order — `plan_event` first, so `summary` can
//! stop there — and the malformation mix. It must not hold events: each is built from
//! `(seed, index)` alone and returned. The URL, IP and `properties` are written by `url`,
//! `ip` and `properties` from the choices made here.

use crate::ip::write_ip;
use crate::json::{lit, push_base36, push_fixed, push_i64, push_str, push_u64, push_uuid};
use crate::population::{Model, Person, user_id};
use crate::properties::{free_text, write_properties};
use crate::rng::{Rng, TAG_EVENT, TAG_EVENT_ID, TAG_USER, TAG_VISITOR, mix64};
use crate::tables::{Download, Platform, Product, Tables, UserAgent};
use crate::time::{MINUTE_MS, SECOND_MS, push_time};
use crate::url::write_url_rest;
use crate::{GenRecord, GenTopic};

/// Average spacing of events: 1M events cover ~3 days.
const EVENT_SPACING_MS: i64 = 250;
pub(crate) const SESSION_MS: i64 = 30 * MINUTE_MS;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Actor {
    User(u64),
    Visitor(u64),
}

pub(crate) struct EventPlan {
    pub(crate) malformed: bool,
    pub(crate) actor: Actor,
}

/// The draws `summary` needs, made first so it can skip rendering. The returned stream
/// continues where the plan left off.
pub(crate) fn plan_event(m: &Model, i: u64) -> (EventPlan, Rng) {
    let mut r = Rng::stream(m.seed, TAG_EVENT, i);
    let malformed = r.chance(m.malformed);
    let identified = r.chance(m.identified) && m.users > 0;
    let x = r.f64();
    // Cubing a uniform draw skews activity: ~46% of identified events come from the
    // most active 10% of users (P(x³ < 0.1) = 0.1^⅓), a long tail barely shows up.
    let actor = if identified {
        Actor::User(((x * x * x * m.users as f64) as u64).min(m.users - 1))
    } else {
        Actor::Visitor(((x * x * m.visitors as f64) as u64).min(m.visitors - 1))
    };
    (EventPlan { malformed, actor }, r)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    PageView,
    Click,
    Search,
    Login,
    Download,
    Purchase,
    SurveyResponse,
}

const EVENT_TYPES: [(EventType, &str, u32); 7] = [
    (EventType::PageView, "page_view", 40),
    (EventType::Click, "click", 22),
    (EventType::Search, "search", 13),
    (EventType::Login, "login", 8),
    (EventType::Download, "download", 7),
    (EventType::Purchase, "purchase", 6),
    (EventType::SurveyResponse, "survey_response", 4),
];
const EVENT_TYPE_WEIGHTS: [u32; 7] = [40, 22, 13, 8, 7, 6, 4];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Malformation {
    Truncated,
    InvalidUtf8,
    MissingEventId,
    WrongType(WrongType),
    BadEventType,
    BadOccurredAt,
    NotObject,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WrongType {
    EventIdNumber,
    EventTypeNumber,
    /// Epoch millis instead of a string: the classic producer bug.
    OccurredAtEpoch,
    UserIdNumber,
    /// Double-encoded JSON: an object serialised into a string.
    PropertiesString,
}

fn pick_malformation(r: &mut Rng) -> Malformation {
    match r.below(7) {
        0 => Malformation::Truncated,
        1 => Malformation::InvalidUtf8,
        2 => Malformation::MissingEventId,
        3 => Malformation::WrongType(r.pick(&[
            WrongType::EventIdNumber,
            WrongType::EventTypeNumber,
            WrongType::OccurredAtEpoch,
            WrongType::UserIdNumber,
            WrongType::PropertiesString,
        ])),
        4 => Malformation::BadEventType,
        5 => Malformation::BadOccurredAt,
        _ => Malformation::NotObject,
    }
}

/// The page a page view or click happens on.
#[derive(Clone, Copy)]
pub(crate) enum Page {
    Home,
    Category(&'static str),
    Product(&'static Product),
    Deals,
    Help(&'static str),
    Cart,
}

impl Page {
    fn pick(r: &mut Rng, t: &'static Tables) -> Page {
        match r.weighted(&[15, 25, 40, 8, 5, 7]) {
            0 => Page::Home,
            1 => Page::Category(r.pick_str(&t.categories)),
            2 => Page::Product(r.pick_ref(&t.products)),
            3 => Page::Deals,
            4 => Page::Help(r.pick_str(&t.help_topics)),
            _ => Page::Cart,
        }
    }

    pub(crate) fn template(self) -> &'static str {
        match self {
            Page::Home => "home",
            Page::Category(_) => "plp",
            Page::Product(_) => "pdp",
            Page::Deals => "campaign",
            Page::Help(_) => "help",
            Page::Cart => "cart",
        }
    }

    pub(crate) fn write_path(self, out: &mut Vec<u8>) {
        match self {
            Page::Home => out.push(b'/'),
            Page::Category(c) => {
                lit(out, b"/c/");
                lit(out, c.as_bytes());
            }
            Page::Product(p) => {
                lit(out, b"/p/");
                lit(out, p.slug.as_bytes());
            }
            Page::Deals => lit(out, b"/deals"),
            Page::Help(t) => {
                lit(out, b"/help/");
                lit(out, t.as_bytes());
            }
            Page::Cart => lit(out, b"/cart"),
        }
    }

    pub(crate) fn title(self) -> String {
        match self {
            Page::Home => "Shop Example – Online Store".to_string(),
            Page::Category(c) => format!("{c} | Shop Example"),
            Page::Product(p) => format!("{} | Shop Example", p.name),
            Page::Deals => "Deals of the week – up to 50 % off".to_string(),
            Page::Help(t) => format!("Help: {t}"),
            Page::Cart => "Your cart".to_string(),
        }
    }

    pub(crate) fn section(self) -> &'static str {
        match self {
            Page::Category(c) => c,
            Page::Product(p) => p.category.as_str(),
            Page::Help(_) => "help",
            _ => "storefront",
        }
    }
}

/// Per-event choices shared by the URL and the properties.
pub(crate) struct Detail {
    pub(crate) t: i64,
    /// The sender's agent: the person's, or a crawler's.
    pub(crate) ua: &'static UserAgent,
    pub(crate) page: Page,
    /// Index into the catalogue of the product the event is about.
    pub(crate) product: usize,
    pub(crate) download: &'static Download,
    pub(crate) order: u64,
    pub(crate) query: String,
}

pub(crate) fn make_event(m: &Model, i: u64) -> GenRecord {
    let tables = m.tables;
    let (plan, mut r) = plan_event(m, i);
    let mut t =
        m.start_ms + (i.min(1 << 40) as i64) * EVENT_SPACING_MS + r.below_i64(5 * SECOND_MS);
    if r.chance(0.01) {
        // Late arrivals: a few events reach the topic minutes after their time.
        t = (t - r.below_i64(10 * MINUTE_MS)).max(m.start_ms);
    }
    let bot = matches!(plan.actor, Actor::Visitor(_)) && r.chance(0.03);
    let (etype, etype_name, _) = if bot {
        EVENT_TYPES[0]
    } else {
        EVENT_TYPES[r.weighted(&EVENT_TYPE_WEIGHTS)]
    };
    let p = match plan.actor {
        Actor::User(u) => Person::new(m, TAG_USER, u),
        Actor::Visitor(v) => Person::new(m, TAG_VISITOR, v),
    };
    let uid = match plan.actor {
        Actor::User(u) => Some(user_id(m, u)),
        Actor::Visitor(_) => None,
    };
    // Bots carry no cookies; a few SDK builds send anonymous events without an id.
    let anon = (!bot && (uid.is_none() || r.chance(0.97))).then(|| p.anonymous_id());
    let key = match (&uid, &anon) {
        (Some(u), _) => Some(u.clone()),
        (None, Some(a)) if r.chance(0.9) => Some(a.clone()),
        _ => None,
    };
    let fault = plan.malformed.then(|| pick_malformation(&mut r));
    let ua = if bot {
        r.pick_ref(&tables.bot_agents)
    } else {
        p.ua
    };

    let query = if etype == EventType::Search {
        free_text(&mut r, &p, &tables.search_queries, 0.08, 0.04, 0.0)
    } else {
        String::new()
    };
    let d = Detail {
        page: Page::pick(&mut r, tables),
        t,
        ua,
        product: r.below(tables.products.len() as u64) as usize,
        download: r.pick_ref(&tables.downloads),
        order: r.next_u64(),
        query,
    };

    let mut out = Vec::with_capacity(1536);
    out.push(b'{');
    match fault {
        Some(Malformation::MissingEventId) => {}
        Some(Malformation::WrongType(WrongType::EventIdNumber)) => {
            lit(&mut out, b"\"event_id\":");
            push_u64(&mut out, i + 1);
            out.push(b',');
        }
        _ => {
            lit(&mut out, b"\"event_id\":\"");
            let v = mix64(i ^ mix64(m.seed ^ TAG_EVENT_ID));
            let mut id = String::with_capacity(36);
            let (hi, lo) = unique_uuid(v, r.next_u64());
            push_uuid(&mut id, hi, lo, false);
            lit(&mut out, id.as_bytes());
            lit(&mut out, b"\",");
        }
    }
    lit(&mut out, b"\"event_type\":");
    match fault {
        Some(Malformation::BadEventType) => push_str(&mut out, r.pick(BAD_EVENT_TYPES)),
        Some(Malformation::WrongType(WrongType::EventTypeNumber)) => push_u64(&mut out, r.below(8)),
        _ => push_str(&mut out, etype_name),
    }
    lit(&mut out, b",\"occurred_at\":");
    let travel = r.chance(0.08);
    let city = if travel {
        let elsewhere = r.pick_ref(&tables.locales);
        r.pick_ref(&elsewhere.cities)
    } else {
        p.city
    };
    match fault {
        Some(Malformation::BadOccurredAt) => push_str(&mut out, r.pick(BAD_TIMES)),
        Some(Malformation::WrongType(WrongType::OccurredAtEpoch)) => push_i64(&mut out, t),
        _ => {
            // Most producers send UTC; some SDKs send device-local time with its offset.
            let offset = r.chance(0.12).then_some(city.offset_min);
            push_time(&mut out, t, offset);
        }
    }
    if let Some(u) = &uid {
        lit(&mut out, b",\"user_id\":");
        if fault == Some(Malformation::WrongType(WrongType::UserIdNumber)) {
            push_u64(&mut out, r.below(1_000_000));
        } else {
            push_str(&mut out, u);
        }
    } else if fault == Some(Malformation::WrongType(WrongType::UserIdNumber)) {
        lit(&mut out, b",\"user_id\":");
        push_u64(&mut out, r.below(1_000_000));
    }
    if let Some(a) = &anon {
        lit(&mut out, b",\"anonymous_id\":");
        push_str(&mut out, a);
    }
    if !bot && r.chance(0.9) {
        lit(&mut out, b",\"device_id\":");
        push_str(&mut out, &p.device_id());
    }
    if !bot && r.chance(0.97) {
        lit(&mut out, b",\"session_id\":\"s_");
        let mut s = String::with_capacity(16);
        push_base36(&mut s, mix64(p.key ^ (t / SESSION_MS) as u64), 13);
        lit(&mut out, s.as_bytes());
        out.push(b'"');
    }
    if r.chance(m.ip) {
        lit(&mut out, b",\"ip\":\"");
        write_ip(&mut out, &mut r, tables, &p, bot, t);
        out.push(b'"');
    }
    if ua.platform == Platform::Web || r.chance(0.8) {
        lit(&mut out, b",\"user_agent\":");
        push_str(&mut out, &ua.ua);
    }
    if !bot && r.chance(0.95) {
        lit(&mut out, b",\"language\":");
        push_str(&mut out, p.language);
    }
    lit(&mut out, b",\"url\":\"https://shop.example.com");
    write_url_rest(&mut out, &mut r, tables, etype, &d, &p);
    if !bot && r.chance(0.4) {
        lit(&mut out, b",\"referrer\":");
        push_str(&mut out, r.pick_str(&tables.referrers));
    }
    if !bot && r.chance(m.device_location) {
        // Device-reported: the city centre jittered by up to ~3 km, accuracy mostly GPS-like.
        lit(&mut out, b",\"location\":{\"lat\":");
        push_fixed(
            &mut out,
            i64::from(city.lat) + r.below_i64(60_001) - 30_000,
            6,
        );
        lit(&mut out, b",\"lon\":");
        push_fixed(
            &mut out,
            i64::from(city.lon) + r.below_i64(60_001) - 30_000,
            6,
        );
        lit(&mut out, b",\"accuracy_m\":");
        let tenths = if r.chance(0.8) {
            30 + r.below_i64(3000)
        } else {
            3000 + r.below_i64(50_000)
        };
        push_fixed(&mut out, tenths, 1);
        out.push(b'}');
    }
    // Crawlers run no SDK, so they send no app block.
    if !bot && (ua.platform != Platform::Web || r.chance(0.7)) {
        let (name, platform) = match ua.platform {
            Platform::Web => ("shop-web", "web"),
            Platform::Ios => ("shop-ios", "ios"),
            Platform::Android => ("shop-android", "android"),
        };
        lit(&mut out, b",\"app\":{\"name\":");
        push_str(&mut out, name);
        lit(&mut out, b",\"version\":");
        push_str(&mut out, p.app_version);
        lit(&mut out, b",\"platform\":");
        push_str(&mut out, platform);
        out.push(b'}');
    }
    lit(&mut out, b",\"properties\":");
    if fault == Some(Malformation::WrongType(WrongType::PropertiesString)) {
        let mut inner = Vec::with_capacity(600);
        write_properties(&mut inner, &mut r, tables, etype, &d, &p, uid.is_some());
        push_str(&mut out, &String::from_utf8_lossy(&inner));
    } else {
        write_properties(&mut out, &mut r, tables, etype, &d, &p, uid.is_some());
    }
    out.push(b'}');

    match fault {
        Some(Malformation::Truncated) => {
            // A strict prefix of an object is never valid JSON.
            let cut = 1 + r.below(out.len() as u64 - 1) as usize;
            out.truncate(cut);
        }
        Some(Malformation::InvalidUtf8) => {
            // Inside the URL string, where a legacy producer's Latin-1 or a broken
            // re-encoding would land; each sequence is invalid UTF-8 on its own.
            let bad: &[u8] = r.pick(&[&[0xFF][..], &[0xC3, 0x28], &[0xE9], &[0xED, 0xA0, 0x80]]);
            let pos = find(&out, b"\"url\":\"https://").map_or(2, |p| p + 15);
            out.splice(pos..pos, bad.iter().copied());
        }
        Some(Malformation::NotObject) => match r.below(5) {
            0 => {
                // A batch sent as one record.
                out.insert(0, b'[');
                out.push(b']');
            }
            1 => out = b"\"page_view\"".to_vec(),
            2 => out = b"42".to_vec(),
            3 => out = b"null".to_vec(),
            _ => out = b"true".to_vec(),
        },
        _ => {}
    }
    GenRecord {
        topic: GenTopic::Raw,
        key,
        value: Some(out),
    }
}

// The bad inputs stay in code rather than data/: they are cases of the malformation mix,
// not reference data, and one of each is the empty string, which a data line cannot hold.
const BAD_EVENT_TYPES: &[&str] = &[
    "Page View",
    "",
    "purchase!",
    "CLICK",
    "clíck",
    "page-view",
    "an_event_type_that_is_far_too_long_to_be_accepted_by_the_contract_x",
];

pub(crate) const BAD_TIMES: &[&str] = &[
    "yesterday",
    "",
    "2026-13-01T00:00:00Z",
    "2026-02-30T12:00:00Z",
    "2026-11-01T10:00:00",
    "2026-11-01T25:61:00Z",
    "01/11/2026 10:00",
    "1793491200000",
];

/// 128 bits laid out as a version-4 UUID that still encodes all 64 bits of `v` (48 + 12 +
/// 4), so distinct `v` give distinct ids; `noise` fills the rest.
fn unique_uuid(v: u64, noise: u64) -> (u64, u64) {
    let hi = ((v >> 16) << 16) | 0x4000 | ((v >> 4) & 0xFFF);
    let lo = (0b10 << 62) | ((v & 0xF) << 58) | (noise & ((1 << 58) - 1));
    (hi, lo)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenConfig;

    #[test]
    fn user_activity_is_skewed() {
        let cfg = GenConfig {
            malformed: 0.0,
            ..GenConfig::default()
        };
        let m = Model::new(&cfg);
        let mut per_user = vec![0u32; cfg.users as usize];
        for i in 0..cfg.events {
            if let (
                EventPlan {
                    actor: Actor::User(u),
                    ..
                },
                _,
            ) = plan_event(&m, i)
            {
                per_user[u as usize] += 1;
            }
        }
        per_user.sort_unstable_by(|a, b| b.cmp(a));
        let top: u32 = per_user[..100].iter().sum();
        let all: u32 = per_user.iter().sum();
        assert!(
            f64::from(top) / f64::from(all) > 0.35,
            "top 10% share {}",
            f64::from(top) / f64::from(all)
        );
    }

    #[test]
    fn event_ids_keep_every_bit() {
        // Distinct `v` → distinct ids even with identical noise.
        let a = unique_uuid(1, 7);
        let b = unique_uuid(1 << 3, 7);
        assert_ne!(a, b);
    }

    #[test]
    fn event_type_weights_match_their_table() {
        for (_, name, w) in EVENT_TYPES {
            assert!(w > 0 && !name.is_empty());
        }
        assert_eq!(EVENT_TYPES.map(|e| e.2), EVENT_TYPE_WEIGHTS);
    }
}

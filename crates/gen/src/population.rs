//! The population: the config sanitised once (`Model`), each user's consent category and
//! id, and the stable traits of a person — locale, city, name, browser, device — that keep
//! a user's events and profile consistent.
//!
//! It owns the per-person streams: a person is regenerated from `(seed, tag, index)`
//! whenever it is needed, never stored, so the draw order in `Person::new` is part of the
//! output. It must not render records or events; `records` and `events` do that from what
//! it returns.

use crate::GenConfig;
use crate::json::{push_base36, push_base62, push_dec, push_hex, push_uuid};
use crate::rng::{Rng, TAG_PERSON_DETAIL, TAG_USER, TAG_USER_ID, mix64};
use crate::tables::{City, Locale, Name, Platform, Tables, UserAgent, V4Range};
use crate::time::DAY_MS;

/// State records go back up to ~1.5 years, so the start must leave room after 1970.
const MIN_START_MS: i64 = 2 * 365 * DAY_MS;
/// Leaves room for a huge event count before year 9999 (RFC 3339's limit).
const MAX_START_MS: i64 = 189_000_000_000_000;

/// The config, sanitised once, with the reference tables every draw picks from.
#[derive(Clone, Copy)]
pub(crate) struct Model {
    pub(crate) seed: u64,
    pub(crate) users: u64,
    pub(crate) events: u64,
    /// Anonymous visitors are a separate, larger pool than users, as on a real site.
    pub(crate) visitors: u64,
    pub(crate) identified: f64,
    /// Cumulative consent shares: granted, +denied, +withdrawn, +erased.
    pub(crate) consent_cum: [f64; 4],
    pub(crate) ip: f64,
    pub(crate) device_location: f64,
    pub(crate) malformed: f64,
    pub(crate) start_ms: i64,
    pub(crate) tables: &'static Tables,
}

fn share(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

impl Model {
    pub(crate) fn new(cfg: &GenConfig) -> Self {
        let mut acc = 0.0;
        let mut consent_cum = [0.0; 4];
        let shares = [
            cfg.consent_granted,
            cfg.consent_denied,
            cfg.consent_withdrawn,
            cfg.erased,
        ];
        for (slot, s) in consent_cum.iter_mut().zip(shares) {
            acc = (acc + share(s)).min(1.0);
            *slot = acc;
        }
        Self {
            seed: cfg.seed,
            users: cfg.users,
            events: cfg.events,
            visitors: cfg.users.saturating_mul(2).max(100),
            identified: share(cfg.identified_share),
            consent_cum,
            ip: share(cfg.ip_share),
            device_location: share(cfg.device_location_share),
            malformed: share(cfg.malformed),
            start_ms: cfg.start_time_ms.clamp(MIN_START_MS, MAX_START_MS),
            tables: Tables::get(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    Granted,
    Denied,
    Withdrawn,
    Erased,
    NoConsent,
}

fn category_from(m: &Model, x: f64) -> Category {
    let c = m.consent_cum;
    if x < c[0] {
        Category::Granted
    } else if x < c[1] {
        Category::Denied
    } else if x < c[2] {
        Category::Withdrawn
    } else if x < c[3] {
        Category::Erased
    } else {
        Category::NoConsent
    }
}

/// Must stay the first draw of the user's stream (`Person::new` makes the same draw).
pub(crate) fn category_of(m: &Model, u: u64) -> Category {
    category_from(m, Rng::stream(m.seed, TAG_USER, u).f64())
}

/// `u_` + 13 base36 digits of a bijection of the index: unique per seed, unguessable order.
pub(crate) fn user_id(m: &Model, u: u64) -> String {
    let mut s = String::with_capacity(15);
    s.push_str("u_");
    push_base36(&mut s, mix64(u ^ mix64(m.seed ^ TAG_USER_ID)), 13);
    s
}

const WEB_VERSIONS: [&str; 3] = ["2026.10.2", "2026.10.3", "2026.11.0"];
const IOS_VERSIONS: [&str; 3] = ["5.14.0", "5.13.2", "5.12.1"];
const ANDROID_VERSIONS: [&str; 3] = ["5.14.0", "5.13.2", "5.11.4"];

/// Everything stable about a user or anonymous visitor, so that their events and profile
/// agree (same country, device, browser, language, e-mail).
pub(crate) struct Person {
    /// Stable per person; sessions and dynamic IPs are derived from it.
    pub(crate) key: u64,
    pub(crate) has_profile: bool,
    pub(crate) locale: &'static Locale,
    pub(crate) city: &'static City,
    first: &'static Name,
    last: &'static Name,
    email_suffix: u64,
    email_domain: &'static str,
    pub(crate) language: &'static str,
    pub(crate) ua: &'static UserAgent,
    pub(crate) app_version: &'static str,
    anon: (u64, u64),
    device: (u64, u64),
    pub(crate) v4: V4Range,
}

impl Person {
    pub(crate) fn new(m: &Model, tag: u64, idx: u64) -> Self {
        let t = m.tables;
        let mut r = Rng::stream(m.seed, tag, idx);
        // The first draw is the consent category (`category_of`); consent records read it
        // from there, but it is still consumed here so the two streams stay aligned.
        r.next_u64();
        let has_profile = r.chance(0.8);
        let locale = &t.locales[r.weighted(&t.locale_weights)];
        let ua = &t.user_agents[r.weighted(&t.user_agent_weights)];
        let versions = match ua.platform {
            Platform::Web => &WEB_VERSIONS,
            Platform::Ios => &IOS_VERSIONS,
            Platform::Android => &ANDROID_VERSIONS,
        };
        // Field order is draw order.
        Person {
            key: r.next_u64(),
            has_profile,
            locale,
            city: r.pick_ref(&locale.cities),
            first: r.pick_ref(&locale.first),
            last: r.pick_ref(&locale.last),
            email_suffix: r.below(120),
            email_domain: r.pick_str(&t.mail_domains),
            language: r.pick_str(&locale.languages),
            ua,
            app_version: r.pick(versions),
            anon: (r.next_u64(), r.next_u64()),
            device: (r.next_u64(), r.next_u64()),
            v4: r.pick(&locale.v4),
        }
    }

    /// `first.last42@example.com`; the domains are RFC 2606 reserved ones so that no real
    /// mailbox can ever be named by generated data.
    pub(crate) fn email(&self) -> String {
        let mut s = String::with_capacity(40);
        s.push_str(&self.first.slug);
        s.push('.');
        s.push_str(&self.last.slug);
        if self.email_suffix < 100 {
            push_dec(&mut s, self.email_suffix);
        }
        s.push('@');
        s.push_str(self.email_domain);
        s
    }

    fn detail_rng(&self) -> Rng {
        Rng::stream(self.key, TAG_PERSON_DETAIL, 0)
    }

    pub(crate) fn phone(&self) -> String {
        fill_pattern(&mut self.detail_rng(), &self.locale.phone)
    }

    pub(crate) fn display_name(&self) -> String {
        let mut s = String::with_capacity(32);
        s.push_str(&self.first.display);
        s.push(' ');
        s.push_str(&self.last.display);
        s
    }

    pub(crate) fn anonymous_id(&self) -> String {
        let mut s = String::with_capacity(36);
        push_uuid(&mut s, self.anon.0, self.anon.1, false);
        s
    }

    /// Web: a first-party cookie id; iOS: an IDFV (upper-case UUID); Android: ANDROID_ID.
    pub(crate) fn device_id(&self) -> String {
        let mut s = String::with_capacity(40);
        match self.ua.platform {
            Platform::Web => {
                s.push_str("d_");
                push_base62(&mut s, self.device.0, 11);
                push_base62(&mut s, self.device.1, 11);
            }
            Platform::Ios => push_uuid(&mut s, self.device.0, self.device.1, true),
            Platform::Android => push_hex(&mut s, self.device.0, 16),
        }
        s
    }
}

/// `#` → digit, `@` → capital letter, anything else literally: how the data files spell
/// postal codes, phone numbers and government ids.
pub(crate) fn fill_pattern(r: &mut Rng, pattern: &str) -> String {
    pattern
        .chars()
        .map(|c| match c {
            '#' => (b'0' + r.below(10) as u8) as char,
            '@' => (b'A' + r.below(26) as u8) as char,
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_unique_and_well_formed() {
        let m = Model::new(&GenConfig::default());
        let ids: std::collections::HashSet<_> = (0..50_000).map(|u| user_id(&m, u)).collect();
        assert_eq!(ids.len(), 50_000);
        assert!(ids.iter().all(|id| id.len() == 15 && id.starts_with("u_")));
    }
}

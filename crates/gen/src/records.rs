//! The state topics: consent records (grants, denials, withdrawals and their tombstones),
//! profiles and erasure requests, one user at a time.
//!
//! It owns their JSON and their dates, which all fall before the config's start so the
//! state is complete before any event. It must not decide a user's category or traits —
//! `population` does — and every record of a user must agree with them.

use crate::json::{lit, push_bool, push_dec, push_str, push_uuid};
use crate::population::{Category, Model, Person, category_of, fill_pattern, user_id};
use crate::rng::{Rng, TAG_CONSENT, TAG_ERASURE, TAG_PROFILE, TAG_USER};
use crate::time::{DAY_MS, HOUR_MS, push_time};
use crate::{GenRecord, GenTopic};

/// When the user granted, and when they later withdrew or asked for erasure: the grant is
/// 2–182 days before the start, the later action between it and a day before the start.
fn consent_times(m: &Model, u: u64) -> (i64, i64) {
    let mut r = Rng::stream(m.seed, TAG_CONSENT, u);
    let grant = m.start_ms - 2 * DAY_MS - r.below_i64(180 * DAY_MS);
    let later = grant + HOUR_MS + r.below_i64(m.start_ms - DAY_MS - grant - HOUR_MS);
    (grant, later)
}

pub(crate) fn consent_records(m: &Model, u: u64) -> [Option<GenRecord>; 2] {
    let category = category_of(m, u);
    if category == Category::NoConsent {
        return [None, None];
    }
    let (grant_at, later_at) = consent_times(m, u);
    // A separate stream from the times, so tweaking one never shifts the other.
    let mut r = Rng::stream(m.seed, TAG_CONSENT, u ^ (1 << 63));
    let uid = user_id(m, u);
    let record = |at: i64, purposes: [Option<bool>; 4]| GenRecord {
        topic: GenTopic::Consent,
        key: Some(uid.clone()),
        value: Some(consent_json(&uid, at, purposes)),
    };
    let granted = [
        Some(true),
        Some(r.chance(0.7)),
        Some(r.chance(0.4)),
        Some(r.chance(0.15)),
    ];
    match category {
        Category::Denied => {
            // Denials often come from older SDKs that omit purposes; missing = not granted.
            let third_party = if r.chance(0.2) { None } else { Some(false) };
            let purposes = [
                Some(false),
                Some(r.chance(0.2)),
                Some(r.chance(0.1)),
                third_party,
            ];
            [Some(record(grant_at, purposes)), None]
        }
        Category::Withdrawn => {
            let withdrawal = if r.chance(0.5) {
                GenRecord {
                    topic: GenTopic::Consent,
                    key: Some(uid.clone()),
                    value: None,
                }
            } else {
                record(later_at, [Some(false); 4])
            };
            [Some(record(grant_at, granted)), Some(withdrawal)]
        }
        _ => [Some(record(grant_at, granted)), None],
    }
}

const PURPOSES: [&str; 4] = [
    "analytics",
    "personalization",
    "marketing",
    "third_party_sharing",
];

fn consent_json(uid: &str, at: i64, purposes: [Option<bool>; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(200);
    lit(&mut out, b"{\"user_id\":");
    push_str(&mut out, uid);
    lit(&mut out, b",\"updated_at\":");
    push_time(&mut out, at, None);
    lit(&mut out, b",\"policy_version\":\"2026-01\",\"purposes\":{");
    let mut first = true;
    for (name, granted) in PURPOSES.iter().zip(purposes) {
        if let Some(g) = granted {
            if !first {
                out.push(b',');
            }
            first = false;
            push_str(&mut out, name);
            out.push(b':');
            push_bool(&mut out, g);
        }
    }
    lit(&mut out, b"}}");
    out
}

pub(crate) fn profile_record(m: &Model, u: u64) -> Option<GenRecord> {
    let p = Person::new(m, TAG_USER, u);
    if !p.has_profile {
        return None;
    }
    let mut r = Rng::stream(m.seed, TAG_PROFILE, u);
    let uid = user_id(m, u);
    let loc = p.locale;
    let mut out = Vec::with_capacity(900);
    lit(&mut out, b"{\"user_id\":");
    push_str(&mut out, &uid);
    lit(&mut out, b",\"updated_at\":");
    push_time(
        &mut out,
        m.start_ms - DAY_MS - r.below_i64(365 * DAY_MS),
        None,
    );
    lit(&mut out, b",\"name\":");
    push_str(&mut out, &p.display_name());
    lit(&mut out, b",\"email\":");
    push_str(&mut out, &p.email());
    lit(&mut out, b",\"phone\":");
    push_str(&mut out, &p.phone());

    lit(&mut out, b",\"mailing_address\":{\"street\":");
    let street = r.pick_ref(&loc.streets);
    let number = r.between(1, 240);
    let mut line = String::with_capacity(48);
    if loc.number_first {
        push_dec(&mut line, number);
        line.push(' ');
        line.push_str(street);
    } else {
        line.push_str(street);
        line.push(' ');
        push_dec(&mut line, number);
    }
    push_str(&mut out, &line);
    if r.chance(0.2) {
        lit(&mut out, b",\"line2\":");
        let mut apt = String::from("Apt ");
        push_dec(&mut apt, r.between(1, 48));
        push_str(&mut out, &apt);
    }
    lit(&mut out, b",\"city\":");
    push_str(&mut out, &p.city.name);
    lit(&mut out, b",\"region\":");
    push_str(&mut out, &p.city.region);
    lit(&mut out, b",\"postal_code\":");
    push_str(&mut out, &fill_pattern(&mut r, &loc.postal));
    lit(&mut out, b",\"country\":");
    push_str(&mut out, &loc.country);

    lit(&mut out, b"},\"preferences\":{\"language\":");
    push_str(&mut out, p.language);
    lit(&mut out, b",\"currency\":");
    push_str(&mut out, &loc.currency);
    lit(&mut out, b",\"theme\":");
    push_str(&mut out, r.pick(&["light", "dark", "system"]));
    lit(&mut out, b",\"newsletter\":");
    push_bool(&mut out, r.chance(0.35));
    lit(&mut out, b",\"notifications\":{\"email\":");
    push_bool(&mut out, r.chance(0.6));
    lit(&mut out, b",\"sms\":");
    push_bool(&mut out, r.chance(0.15));
    lit(&mut out, b",\"push\":");
    push_bool(&mut out, r.chance(0.5));
    lit(&mut out, b"},\"favorite_categories\":[");
    let n = r.between(0, 3);
    for k in 0..n {
        if k > 0 {
            out.push(b',');
        }
        push_str(&mut out, r.pick_str(&m.tables.categories));
    }
    out.push(b']');
    if r.chance(0.3) {
        lit(&mut out, b"},\"bank_card\":");
        push_str(&mut out, &card_number(&mut r));
        lit(&mut out, b",\"government_id\":");
        push_str(&mut out, &fill_pattern(&mut r, &loc.gov_id));
    } else {
        out.push(b'}');
    }
    out.push(b'}');
    Some(GenRecord {
        topic: GenTopic::Profile,
        key: Some(uid),
        value: Some(out),
    })
}

pub(crate) fn erasure_record(m: &Model, u: u64) -> Option<GenRecord> {
    if category_of(m, u) != Category::Erased {
        return None;
    }
    let (_, requested_at) = consent_times(m, u);
    let mut r = Rng::stream(m.seed, TAG_ERASURE, u);
    let uid = user_id(m, u);
    let mut request_id = String::with_capacity(36);
    push_uuid(&mut request_id, r.next_u64(), r.next_u64(), false);
    let mut out = Vec::with_capacity(120);
    lit(&mut out, b"{\"user_id\":");
    push_str(&mut out, &uid);
    lit(&mut out, b",\"request_id\":");
    push_str(&mut out, &request_id);
    lit(&mut out, b",\"requested_at\":");
    push_time(&mut out, requested_at, None);
    out.push(b'}');
    Some(GenRecord {
        topic: GenTopic::Erasure,
        key: Some(uid),
        value: Some(out),
    })
}

/// 16 digits behind a well-known test BIN (never a real issuer's range), Luhn-valid so the
/// worker's card detector has to catch it.
pub(crate) fn card_number(r: &mut Rng) -> String {
    const BINS: [&[u8; 6]; 5] = [b"411111", b"424242", b"555555", b"400005", b"222300"];
    let mut d = [0u8; 16];
    let bin: &[u8; 6] = r.pick(&BINS);
    d[..6].copy_from_slice(bin);
    for x in &mut d[6..15] {
        *x = b'0' + r.below(10) as u8;
    }
    // Luhn: double every second digit counting from the check digit's left neighbour.
    let mut sum = 0u32;
    for (k, &c) in d[..15].iter().enumerate() {
        let mut x = u32::from(c - b'0');
        if (15 - k) % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    d[15] = b'0' + ((10 - sum % 10) % 10) as u8;
    d.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::luhn_ok;

    #[test]
    fn card_numbers_pass_luhn() {
        let mut r = Rng::stream(1, 2, 3);
        for _ in 0..1000 {
            assert!(luhn_ok(&card_number(&mut r)));
        }
        assert!(luhn_ok("4111111111111111") && !luhn_ok("4111111111111112"));
    }
}

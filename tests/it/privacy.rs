//! Property tests of the privacy guarantees: identifiers, e-mails, phone numbers, card
//! numbers and IP addresses planted in every string field of random raw events — each in
//! a random written form (other case, full-width, invisible characters inside,
//! percent-encoded, Unicode separators) — never reach the anonymous record, and
//! `bank_card` / `government_id` reach no output at all. The anonymous record has every
//! field it can have, the network's name (only ever the database's) and the visit too.
//! Leaks are judged by the corpus oracle (`consent_enricher_testkit::corpus::leaks`),
//! which reads the outputs independently of the scrubber's own folding.

use std::sync::Arc;

use consent_enricher::config::{AnonymousVisits, NetworkPrecision};
use consent_enricher::enrich::{NetworkFile, Networks};
use consent_enricher::pipeline::{Core, Outputs};
use consent_enricher::state::State;
use consent_enricher_testkit::corpus::{self, Canon, oracle_skeleton};
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::support::{self, Schemas};

#[derive(Debug, Clone)]
struct Planted {
    user_id: String,
    anonymous_id: String,
    device_id: String,
    session_id: String,
    event_id: String,
    email: String,
    phone: String,
    /// The phone's digits without the country code.
    national: String,
    card: String,
    ipv4: String,
    ipv6: String,
    name: String,
    bank_card: String,
    government_id: String,
    /// The written form of each of [`Planted::all`]'s values (see [`form`]).
    forms: Vec<u8>,
}

impl Planted {
    /// What must not reach the anonymous record.
    fn anonymous_canons(&self) -> Vec<Canon> {
        let skel = |s: &str| Canon::Skeleton(oracle_skeleton(s));
        let mut out: Vec<Canon> = [
            &self.user_id,
            &self.anonymous_id,
            &self.device_id,
            &self.session_id,
            &self.event_id,
            &self.email,
            &self.national,
            &self.card,
            &self.name,
        ]
        .into_iter()
        .map(|v| skel(v))
        .collect();
        out.push(Canon::Folded(self.ipv4.clone()));
        out.push(Canon::Folded(self.ipv6.clone()));
        out.extend(self.never());
        out
    }
    /// What must reach no record at all.
    fn never(&self) -> Vec<Canon> {
        vec![
            Canon::Skeleton(digits(&self.bank_card)),
            Canon::Skeleton(oracle_skeleton(&self.government_id)),
            Canon::Skeleton(digits(&self.card)),
        ]
    }
    fn all(&self) -> Vec<&str> {
        vec![
            &self.user_id,
            &self.anonymous_id,
            &self.device_id,
            &self.session_id,
            &self.event_id,
            &self.email,
            &self.phone,
            &self.card,
            &self.ipv4,
            &self.ipv6,
            &self.name,
            &self.bank_card,
            &self.government_id,
        ]
    }
    /// The planted values as written into the event.
    fn shown(&self) -> Vec<String> {
        self.all()
            .iter()
            .zip(&self.forms)
            .map(|(v, f)| corpus::written_form(v, *f))
            .collect()
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn luhn_complete(prefix: &[u8]) -> String {
    // Appends the check digit that makes prefix Luhn-valid.
    for check in 0..10u8 {
        let mut d = prefix.to_vec();
        d.push(check);
        if consent_enricher::scrub::luhn_valid(&d) {
            return d.iter().map(|x| char::from(b'0' + x)).collect();
        }
    }
    unreachable!()
}

fn format_card(d: &str, style: u8) -> String {
    let groups: Vec<&str> = d
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    match style % 3 {
        0 => d.to_string(),
        1 => groups.join(" "),
        _ => groups.join("-"),
    }
}

fn ident(prefix: &'static str) -> impl Strategy<Value = String> {
    "[a-z0-9]{8,14}".prop_map(move |s| format!("{prefix}{s}"))
}

fn planted() -> impl Strategy<Value = Planted> {
    (
        (
            ident("u_"),
            "[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
            ident("dev-"),
            ident("s-"),
            ident("evt-"),
        ),
        (
            "[a-z]{3,10}(\\.[a-z]{2,6})?",
            "[a-z]{3,8}",
            "(com|org|net|de|co\\.uk)",
        ),
        (0u8..4, 100u16..999, 100u16..999, 1000u16..9999),
        // Visa's length: 16 digits with the check digit (brand ranges are part of what
        // makes a number a card).
        (proptest::collection::vec(0u8..10, 14), 0u8..3),
        (
            1u8..223,
            any::<u8>(),
            any::<u8>(),
            1u8..255,
            any::<[u16; 8]>(),
        ),
        (
            "[A-Z][a-z]{3,8} [A-Z][a-z]{3,10}",
            proptest::collection::vec(0u8..10, 15),
            "[A-Z]{2}[0-9]{6}[A-D]",
        ),
        proptest::collection::vec(any::<u8>(), 13),
    )
        .prop_map(|(ids, mail, phone, card, ip, profile, forms)| {
            let (user_id, anonymous_id, device_id, session_id, event_id) = ids;
            let email = format!("{}@{}.{}", mail.0, mail.1, mail.2);
            let (style, a, b, c) = phone;
            let phone = match style {
                0 => format!("+1 ({a}) {b}-{c}"),
                1 => format!("+44 {a} {b} {c}"),
                2 => format!("{a}-{b}-{c}"),
                _ => format!("+49{a}{b}{c}"),
            };
            let national = format!("{a}{b}{c}");
            let mut prefix = vec![4u8];
            prefix.extend(card.0);
            let card_number = format_card(&luhn_complete(&prefix), card.1);
            let (a, b, c, d, v6) = ip;
            let ipv4 = format!("{a}.{b}.{c}.{d}");
            let ipv6 = std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                v6[2] | 1,
                v6[3],
                v6[4],
                v6[5],
                v6[6],
                v6[7] | 1,
            )
            .to_string();
            let mut bank = vec![5u8, 1];
            bank.extend(&profile.1[..13]);
            Planted {
                user_id,
                anonymous_id,
                device_id,
                session_id,
                event_id,
                email,
                phone,
                national,
                card: card_number,
                ipv4,
                ipv6,
                name: profile.0,
                bank_card: format_card(&luhn_complete(&bank), 1),
                government_id: profile.2,
                forms,
            }
        })
}

/// Builds a text that carries `values`, joined by separators as free text would.
fn text(values: &[&str], sep: &str) -> String {
    values.iter().map(|v| format!("x{sep}{v}{sep}")).collect()
}

fn raw_event(p: &Planted, pick: &[usize], seps: &[&'static str]) -> Value {
    let shown = p.shown();
    let all: Vec<&str> = shown.iter().map(String::as_str).collect();
    let [
        user_id,
        anonymous_id,
        device_id,
        session_id,
        _,
        email,
        phone,
        card,
        ipv4,
        ipv6,
        ..,
    ] = &all[..]
    else {
        unreachable!("thirteen planted values")
    };
    let some = |i: usize| -> String {
        let vals: Vec<&str> = pick
            .iter()
            .skip(i)
            .step_by(3)
            .map(|j| all[j % all.len()])
            .collect();
        text(&vals, seps[i % seps.len()])
    };
    let enc = |s: &str| {
        s.replace('%', "%25")
            .replace(' ', "%20")
            .replace('@', "%40")
            .replace('#', "%23")
            .replace('&', "%26")
            .replace('?', "%3F")
            .replace('/', "%2F")
    };
    let every = all.join(" ; ");
    // The event's own fields stay canonical (they are the join keys and the source of
    // the IP lookup); every copy planted elsewhere is in its random form.
    json!({
        "event_id": p.event_id,
        "event_type": format!("signup_{}", p.user_id),
        "occurred_at": "2026-11-29T10:00:00.000Z",
        "user_id": p.user_id,
        "anonymous_id": p.anonymous_id,
        "device_id": p.device_id,
        "session_id": p.session_id,
        "ip": p.ipv4,
        "user_agent": format!("Mozilla/5.0 ({}) Chrome/120.0 {}", every, some(0)),
        "language": email,
        "url": format!(
            "https://{}@shop.example.com/a/{}/b/{}/{}?utm_source={}&utm_term={}&q={}#{}",
            enc(email), enc(user_id), enc(email), enc(&some(1)), enc(&every), enc(phone), enc(card), enc(ipv6)
        ),
        "referrer": format!("https://{device_id}.example.com/{}?q={}", enc(email), enc(&every)),
        "app": {"name": some(2), "version": card, "platform": ipv6},
        "properties": {
            "free": every,
            "mix": some(1),
            email.to_string(): phone,
            "nested": {"deeper": [some(0), {"x": every, "card": card, user_id.to_string(): 1, "s": session_id}], "ip": ipv4, "a": anonymous_id},
            "numbers": [digits(&p.card).parse::<u64>().unwrap_or(0)],
        },
        "location": {"lat": 48.85, "lon": 2.35, "accuracy_m": 10},
    })
}

fn state_for(p: &Planted) -> State {
    let config = support::config();
    let state = State::for_outputs(&config.personal_outputs());
    let consent: consent_enricher::model::ConsentRecord = serde_json::from_value(json!({
        "user_id": p.user_id, "updated_at": "2026-11-01T00:00:00Z", "policy_version": "v1",
        "purposes": {"analytics": true}
    }))
    .unwrap();
    state.apply_consent(&p.user_id, Some(&consent));
    let profile = serde_json::to_vec(&json!({
        "user_id": p.user_id, "updated_at": "2026-11-01T00:00:00Z", "name": p.name, "email": p.email,
        "phone": p.phone, "bank_card": p.bank_card, "government_id": p.government_id,
        "preferences": {"note": format!("card {} id {}", p.bank_card, p.government_id)}
    }))
    .unwrap();
    let profile = consent_enricher::model::ProfileRecord::parse(&profile).unwrap();
    state.apply_profile(&p.user_id, Some(&profile));
    state
}

/// Every address in one autonomous system of a fixed name: every planted public address
/// gets a `network`, whose name can only have come from here.
const EVERYWHERE: &str = "0.0.0.0,255.255.255.255,64501,Everywhere Networks
::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,64501,Everywhere Networks
";

/// The test core with that network database, the organisation's name in the anonymous
/// record and daily visits: every field the anonymous record can have is in play.
fn core_with_network_and_visits() -> Core {
    let mut config = support::config();
    config.policy.network_precision = NetworkPrecision::Organization;
    config.policy.anonymous_visits = AnonymousVisits::Daily;
    let file = NetworkFile::parse("everywhere.csv", EVERYWHERE.as_bytes()).unwrap();
    let enricher = consent_enricher::enrichment::without_geoip()
        .unwrap()
        .with_networks(Networks::new(vec![file]));
    consent_enricher::enrichment::core(&config, Arc::new(enricher)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn planted_identifiers_never_reach_the_anonymous_record(
        p in planted(),
        pick in proptest::collection::vec(0usize..13, 6..20),
        seps in proptest::sample::subsequence(vec![" ", ", ", "\n", "(", "/", "=", "\""], 1..4),
    ) {
        let core = core_with_network_and_visits();
        let state = state_for(&p);
        let raw = serde_json::to_vec(&raw_event(&p, &pick, &seps)).unwrap();
        let Outputs::Event { anonymous, personal, .. } = support::run(&core, &state, &raw) else {
            panic!("planted event was rejected");
        };
        let anon: Value = serde_json::from_slice(&anonymous.value).unwrap();
        let canons = p.anonymous_canons();
        let leaked = corpus::leaks(&anon, &canons);
        prop_assert!(leaked.is_empty(), "{leaked:?} leaked into {anon}");
        let personal = personal[0].record.as_ref().expect("consented user gets a personal record");
        let personal_doc: Value = serde_json::from_slice(&personal.value).unwrap();
        // The network's name comes from the database, whatever the event says.
        let everywhere = json!({"asn": 64501, "organization": "Everywhere Networks"});
        prop_assert!(anon["network"] == everywhere || anon["network"].is_null(), "{anon}");
        prop_assert!(personal_doc["network"] == everywhere || personal_doc["network"].is_null());
        let visit = anon["visit"].as_str().unwrap_or_default();
        prop_assert!(visit.len() == 32 && visit.bytes().all(|b| b.is_ascii_hexdigit()), "{anon}");
        let never = p.never();
        let leaked = corpus::leaks(&personal_doc, &never);
        prop_assert!(leaked.is_empty(), "{leaked:?} leaked into the personal record {personal_doc}");
        Schemas::get().check("anonymous-event.schema.json", &serde_json::from_slice(&anonymous.value).unwrap());
        Schemas::get().check("personal-event.schema.json", &serde_json::from_slice(&personal.value).unwrap());
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_always_yield_one_output(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let core = support::core();
        let state = State::new(&[]);
        match support::run(&core, &state, &bytes) {
            Outputs::DeadLetter(d) => prop_assert_eq!(d.value, bytes),
            Outputs::Event { anonymous, .. } => {
                let v: Value = serde_json::from_slice(&anonymous.value).unwrap();
                Schemas::get().check("anonymous-event.schema.json", &v);
            }
        }
    }
}

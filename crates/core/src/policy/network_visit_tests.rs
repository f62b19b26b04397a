//! Unit tests of the anonymous record's `network` and `visit`, and the personal record's
//! `network`: what each precision and mode lets out, over the `testdata` fixture files.

use serde_json::{Value, json};

use super::*;
use crate::enrich::{NetworkFile, Networks};

const V4: &[u8] = include_bytes!("../../../../testdata/network-asn.csv");

fn networks() -> Networks {
    Networks::new(vec![NetworkFile::parse("network-asn.csv", V4).unwrap()])
}

fn network_of(ip: &str) -> Network {
    match networks().lookup(ip.parse().unwrap()) {
        Ok(n) => Network::Known(n),
        Err(_) => Network::Unknown,
    }
}

fn policy(config: PolicyConfig) -> Policy {
    let single = PersonalOutput::single(&config, "usage.personal");
    Policy::new(config, &[single], b"unit-test-key-0123456789")
}

fn event(fields: Value) -> Vec<u8> {
    let mut doc = json!({"event_id": "e1", "event_type": "click",
        "occurred_at": "2026-11-29T10:00:00Z", "user_id": "u1"});
    for (k, v) in fields.as_object().unwrap() {
        doc[k] = v.clone();
    }
    serde_json::to_vec(&doc).unwrap()
}

/// The anonymous record of `raw` under `p`, with `network` as the enrichment's.
fn anonymous(p: &Policy, raw: &[u8], network: Network) -> Value {
    let ev = RawEvent::parse(raw, 1 << 20).unwrap();
    let state = State::new(&[]);
    let verdict = p.decide(&ev, &state);
    let enrichment = Enrichment {
        network,
        ..Enrichment::default()
    };
    serde_json::to_value(p.anonymous(&ev, &verdict, &enrichment, "now")).unwrap()
}

fn visit_of(p: &Policy, fields: Value) -> Value {
    anonymous(p, &event(fields), Network::NoDatabase)["visit"].clone()
}

fn daily() -> Policy {
    policy(PolicyConfig {
        anonymous_visits: AnonymousVisits::Daily,
        ..PolicyConfig::default()
    })
}

#[test]
fn without_visits_or_a_network_database_the_record_keeps_its_old_keys() {
    let doc = anonymous(
        &policy(PolicyConfig::default()),
        &event(json!({"session_id": "s1", "ip": "73.1.2.3"})),
        Network::NoDatabase,
    );
    assert!(
        doc.get("visit").is_none() && doc.get("network").is_none(),
        "{doc}"
    );
}

#[test]
fn a_visit_links_one_sessions_events_on_one_day_only() {
    let p = daily();
    let at = |day: &str, session: &str| {
        visit_of(
            &p,
            json!({"session_id": session, "occurred_at": format!("{day}T10:00:00Z")}),
        )
    };
    let morning = at("2026-11-29", "s1");
    assert_eq!(morning.as_str().map(str::len), Some(32), "{morning}");
    assert_eq!(
        visit_of(
            &p,
            json!({"session_id": "s1", "occurred_at": "2026-11-29T23:59:59Z"})
        ),
        morning,
        "same UTC day"
    );
    assert_ne!(at("2026-11-30", "s1"), morning, "the next day");
    assert_ne!(at("2026-11-29", "s2"), morning, "another session");
    // A zone offset counts in UTC: 2026-11-30T01:00+02:00 is the 29th.
    assert_eq!(
        visit_of(
            &p,
            json!({"session_id": "s1", "occurred_at": "2026-11-30T01:00:00+02:00"})
        ),
        morning
    );
}

#[test]
fn a_visit_comes_from_the_session_else_the_anonymous_id_never_the_user() {
    let p = daily();
    let by_session = visit_of(&p, json!({"session_id": "x"}));
    assert_eq!(
        visit_of(
            &p,
            json!({"session_id": "x", "user_id": "u2", "anonymous_id": "a9"})
        ),
        by_session,
        "neither the user id nor the anonymous id changes a session's visit"
    );
    let by_anonymous = visit_of(&p, json!({"anonymous_id": "x"}));
    assert!(by_anonymous.is_string());
    assert_ne!(
        by_anonymous, by_session,
        "the same text as another kind of id"
    );
    assert_eq!(
        visit_of(&p, json!({})),
        Value::Null,
        "the user id alone makes none"
    );
    assert_eq!(visit_of(&p, json!({"device_id": "d1"})), Value::Null);
}

#[test]
fn a_visit_is_not_the_event_id_pseudonym_and_its_key_cannot_be_read_back() {
    let p = daily();
    let raw = event(json!({"session_id": "e1"}));
    let doc = anonymous(&p, &raw, Network::NoDatabase);
    let visit = doc["visit"].as_str().unwrap();
    let event_id = doc["event_id"].as_str().unwrap();
    assert!(!event_id.contains(visit), "{visit} in {event_id}");
    // A producer sending the derivation label as its event id reads back its pseudonym;
    // that must not be the visit key (review of #20: it was).
    let label = "consent-enricher visit key v1";
    let doc = anonymous(&p, &event(json!({"event_id": label})), Network::NoDatabase);
    let leaked = doc["event_id"].as_str().unwrap();
    let as_key = Pseudonymizer::new(
        &(0..32)
            .map(|i| u8::from_str_radix(&leaked[2 * i..2 * i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
    );
    let day = chrono::DateTime::parse_from_rfc3339("2026-11-29T10:00:00Z")
        .unwrap()
        .timestamp()
        / 86_400;
    assert_ne!(as_key.visit(day, VisitSource::Session, "e1"), visit);
    let rekeyed = Policy::new(
        PolicyConfig {
            anonymous_visits: AnonymousVisits::Daily,
            ..PolicyConfig::default()
        },
        &[],
        b"another-key-0123456789abcdef",
    );
    assert_ne!(visit_of(&rekeyed, json!({"session_id": "e1"})), visit);
}

/// A known answer: the visit's format is a contract (a change splits every visit in
/// two at the release), so a change must be deliberate.
#[test]
fn the_visit_of_a_known_session_and_day_is_fixed() {
    assert_eq!(
        visit_of(&daily(), json!({"session_id": "s-100"})),
        "973c328b3c56d942e26c162b83300409"
    );
}

#[test]
fn the_anonymous_network_follows_its_precision_and_skips_small_systems() {
    let with = |precision| {
        policy(PolicyConfig {
            network_precision: precision,
            ..PolicyConfig::default()
        })
    };
    let comcast = || network_of("73.1.2.3");
    let raw = event(json!({"ip": "73.1.2.3"}));
    let doc = anonymous(&with(NetworkPrecision::Asn), &raw, comcast());
    assert_eq!(doc["network"], json!({"asn": 7922}));
    let doc = anonymous(&with(NetworkPrecision::Organization), &raw, comcast());
    assert_eq!(
        doc["network"],
        json!({"asn": 7922, "organization": "Comcast Cable Communications, LLC"})
    );
    let doc = anonymous(&with(NetworkPrecision::None), &raw, comcast());
    assert!(doc.get("network").is_none(), "{doc}");
    // A /24 of its own: a household's or a small employer's network.
    let small = network_of("203.0.114.7");
    assert_eq!(small.known().map(|n| n.ipv4_addresses), Some(256));
    let doc = anonymous(&with(NetworkPrecision::Organization), &raw, small);
    assert_eq!(doc["network"], Value::Null);
    let doc = anonymous(&with(NetworkPrecision::Asn), &raw, Network::Unknown);
    assert_eq!(doc["network"], Value::Null);
    let lowered = policy(PolicyConfig {
        network_precision: NetworkPrecision::Organization,
        network_min_ipv4_addresses: 256,
        ..PolicyConfig::default()
    });
    let doc = anonymous(&lowered, &raw, network_of("203.0.114.7"));
    assert_eq!(doc["network"]["organization"], "Smith Family Router");
}

/// The personal record of output `o` for a consented u1.
fn personal(o: PersonalOutput, network: Network) -> Value {
    let state = State::new(&[]);
    let grant: crate::model::ConsentRecord = serde_json::from_value(json!({"user_id": "u1",
        "updated_at": "2026-11-01T00:00:00Z", "policy_version": "v1",
        "purposes": {"analytics": true, "third_party_sharing": true}}))
    .unwrap();
    state.apply_consent("u1", Some(&grant));
    let p = Policy::new(PolicyConfig::default(), &[o], b"k");
    let raw = event(json!({"ip": "203.0.114.7"}));
    let ev = RawEvent::parse(&raw, 1 << 20).unwrap();
    let verdict = p.decide(&ev, &state);
    let enrichment = Enrichment {
        network,
        ..Enrichment::default()
    };
    let rec = p
        .personal(&ev, &verdict, 0, &state, &enrichment, "now")
        .unwrap();
    serde_json::to_value(rec).unwrap()
}

#[test]
fn the_personal_record_names_any_network_but_a_partner_only_when_configured() {
    let single = PersonalOutput::single(&PolicyConfig::default(), "usage.personal");
    let doc = personal(single.clone(), network_of("203.0.114.7"));
    assert_eq!(
        doc["network"],
        json!({"asn": 64498, "organization": "Smith Family Router"}),
        "small systems too: the user consented"
    );
    assert_eq!(
        personal(single.clone(), Network::Unknown)["network"],
        Value::Null
    );
    assert!(
        personal(single, Network::NoDatabase)
            .get("network")
            .is_none()
    );
    let partner = PersonalOutput {
        name: "partner".into(),
        purposes: vec![Purpose::ThirdPartySharing],
        context: None,
        single_shape: false,
        ..PersonalOutput::single(&PolicyConfig::default(), "usage.partner")
    };
    assert!(!partner.context_fields().contains(&ContextField::Network));
    let doc = personal(partner.clone(), network_of("203.0.114.7"));
    assert!(doc.get("network").is_none(), "{doc}");
    let named = PersonalOutput {
        context: Some(vec![ContextField::Network]),
        ..partner
    };
    assert_eq!(
        personal(named, network_of("203.0.114.7"))["network"]["asn"],
        64498
    );
}

//! Personal outputs per purpose (`[[outputs.personal]]`, `examples/outputs.toml`): each
//! output gets records only for users whose consent grants all its purposes, and each
//! record is exactly the projection of the full record its configuration allows —
//! checked on the examples through `process`, on planted identifiers by property test,
//! and through a real broker, where all outputs of an input commit together.

use std::collections::BTreeMap;
use std::time::Duration;

use consent_enricher::config::{Config, ContextField, OutputKey, PersonalOutput};
use consent_enricher::model::Purpose;
use consent_enricher::pipeline::{Core, Outputs};
use consent_enricher::policy::Decision;
use consent_enricher::state::{Arrival, State};
use consent_enricher_gen::GenConfig;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::broker::{self, Reader, TestWorker};
use crate::support::{self, Schemas};

const T: Duration = Duration::from_secs(60);

/// `examples/outputs.toml` with the test key.
fn example_config() -> Config {
    let path = support::root().join("examples/outputs.toml");
    let mut c = Config::load(Some(&path), []).expect("examples/outputs.toml loads");
    c.pseudonym.key = support::KEY.into();
    c
}

fn core_of(c: &Config) -> Core {
    consent_enricher::enrichment::core_without_geoip(c).expect("core")
}

fn consent(user: &str, at: &str, purposes: Value) -> consent_enricher::model::ConsentRecord {
    serde_json::from_value(
        json!({"user_id": user, "updated_at": at, "policy_version": "v1",
        "purposes": purposes}),
    )
    .unwrap()
}

/// Which outputs got a record for `ev`, by name.
fn served(core: &Core, state: &State, ev: &[u8]) -> Vec<String> {
    let out = support::run(core, state, ev);
    core.output_names()
        .iter()
        .enumerate()
        .filter(|(i, _)| out.personal_record(*i).is_some())
        .map(|(_, n)| n.to_string())
        .collect()
}

#[test]
fn the_readme_shows_the_example_configuration_that_is_tested() {
    let file = std::fs::read_to_string(support::root().join("examples/outputs.toml")).unwrap();
    let shown = support::readme_section("outputs-example");
    assert_eq!(shown, format!("```toml\n{file}```\n"));
}

#[test]
fn each_purpose_reaches_only_its_output_and_erasure_stops_all() {
    let c = example_config();
    let core = core_of(&c);
    let state = State::for_outputs(&c.personal_outputs());
    let ev = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1"}"#;
    assert!(served(&core, &state, ev).is_empty(), "no consent yet");
    state.apply_consent(
        "u1",
        Some(&consent(
            "u1",
            "2026-11-01T00:00:00Z",
            json!({"marketing": true}),
        )),
    );
    assert_eq!(
        served(&core, &state, ev),
        ["marketing"],
        "marketing but not analytics consent: the marketing output only"
    );
    let all = json!({"analytics": true, "marketing": true, "third_party_sharing": true});
    state.apply_consent("u1", Some(&consent("u1", "2026-11-02T00:00:00Z", all)));
    assert_eq!(
        served(&core, &state, ev),
        ["product_analytics", "marketing", "partner"]
    );
    let no_partner = json!({"analytics": true, "marketing": true, "third_party_sharing": false});
    state.apply_consent(
        "u1",
        Some(&consent("u1", "2026-11-03T00:00:00Z", no_partner)),
    );
    assert_eq!(
        served(&core, &state, ev),
        ["product_analytics", "marketing"],
        "withdrawing one purpose stops only its output"
    );
    let erase = br#"{"user_id":"u1","request_id":"r1","requested_at":"2026-11-04T00:00:00Z"}"#;
    state.apply_erasure_record(Some("u1"), Some(erase), &Arrival::at(support::now()));
    let out = support::run(&core, &state, ev);
    for i in 0..3 {
        assert_eq!(out.decision(i), Some(Decision::Erased));
        assert!(
            out.personal_record(i).is_none(),
            "erasure stops every output"
        );
    }
}

#[test]
fn the_examples_reconcile_per_output_and_every_record_validates() {
    let c = example_config();
    let (lines, summary) = support::process_examples(&c);
    let per_topic = |t: &str| lines.iter().filter(|l| l["topic"] == t).count() as u64;
    let counts = &summary.counts;
    let outputs = c.personal_outputs();
    assert_eq!(counts.outputs.len(), outputs.len());
    for (o, n) in outputs.iter().zip(&counts.outputs) {
        assert_eq!(per_topic(&o.topic), n.records, "{}", o.name);
        assert_eq!(
            n.decisions.values().sum::<u64>(),
            counts.anonymous,
            "{}: every valid event has one decision",
            o.name
        );
        assert_eq!(n.decisions.get("personal").copied().unwrap_or(0), n.records);
    }
    // Ground truth of examples/: analytics for alice (4 events) and erin (3); marketing
    // for bob (3) and erin (3, re-consented with marketing); nobody shares with partners.
    let records: Vec<u64> = counts.outputs.iter().map(|o| o.records).collect();
    assert_eq!(records, [7, 6, 0]);
    let users = |t: &str| -> Vec<&str> {
        let mut u: Vec<&str> = lines
            .iter()
            .filter(|l| l["topic"] == t)
            .map(|l| l["value"]["user_id"].as_str().unwrap())
            .collect();
        u.sort_unstable();
        u.dedup();
        u
    };
    assert_eq!(users("usage.personal.marketing"), ["u_bob", "u_erin"]);
    let schemas = Schemas::get();
    for line in &lines {
        let Some(o) = outputs.iter().find(|o| line["topic"] == o.topic.as_str()) else {
            continue;
        };
        schemas.check("personal-event.schema.json", &line["value"]);
        check_shape(o, &line["value"]);
        match o.key {
            OutputKey::UserId => assert_eq!(line["key"], line["value"]["user_id"]),
            OutputKey::None => assert!(line["key"].is_null()),
        }
    }
}

/// Top-level keys every personal record has, whatever its output.
const ALWAYS: [&str; 6] = [
    "event_id",
    "event_type",
    "occurred_at",
    "processed_at",
    "user_id",
    "consent",
];

/// The keys `field` puts into a record: top level, or inside `context`.
fn keys_of(field: ContextField) -> (&'static [&'static str], &'static [&'static str]) {
    match field {
        ContextField::Identifiers => (&["anonymous_id", "device_id", "session_id"], &[]),
        ContextField::Ip => (&[], &["ip"]),
        ContextField::UserAgent => (&[], &["user_agent"]),
        ContextField::Language => (&[], &["language"]),
        ContextField::Url => (&[], &["url"]),
        ContextField::Referrer => (&[], &["referrer"]),
        ContextField::App => (&[], &["app"]),
        ContextField::Properties => (&[], &["properties"]),
        ContextField::Geo => (&["geo"], &[]),
        ContextField::DeviceLocation => (&["device_location"], &[]),
        ContextField::Time => (&["time"], &[]),
        // Without a network database (these cores load none) no record has `network`;
        // tests/it/network.rs checks the field with one.
        ContextField::Network => (&[], &[]),
    }
}

fn sorted_keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// `doc` has exactly the keys output `o` may carry (every one of them, `null` when the
/// event has none), its profile only `o`'s fields, its properties only `o`'s keys.
fn check_shape(o: &PersonalOutput, doc: &Value) {
    let fields = o.context_fields();
    let mut top: Vec<&str> = ALWAYS.to_vec();
    top.push("context");
    let mut context: Vec<&str> = Vec::new();
    for f in &fields {
        let (t, c) = keys_of(*f);
        top.extend(t);
        context.extend(c);
    }
    if o.single_shape || !o.profile_fields.is_empty() {
        top.push("profile");
    }
    top.sort_unstable();
    context.sort_unstable();
    assert_eq!(sorted_keys(doc), top, "{}: top-level keys", o.name);
    assert_eq!(
        sorted_keys(&doc["context"]),
        context,
        "{}: context keys",
        o.name
    );
    let mut purposes: Vec<&str> = match o.single_shape {
        true => Purpose::ALL.iter().map(|p| p.name()).collect(),
        false => o.purposes.iter().map(|p| p.name()).collect(),
    };
    purposes.sort_unstable();
    assert_eq!(
        sorted_keys(&doc["consent"]["purposes"]),
        purposes,
        "{}: a listed output shows only the purposes it needs",
        o.name
    );
    if let Some(p) = doc["profile"].as_object() {
        assert!(
            p.keys().all(|k| o.profile_fields.contains(k)),
            "{}: profile {p:?}",
            o.name
        );
    }
    let all = o.properties_allow_list.iter().any(|k| k == "*");
    if let Some(p) = doc["context"]["properties"].as_object() {
        assert!(
            all || p.keys().all(|k| o.properties_allow_list.contains(k)),
            "{}: properties {p:?}",
            o.name
        );
    }
}

/// Everything in `part` is what `whole` holds at the same place: an output's record
/// is a projection of the full record, never a value of its own.
fn is_projection(part: &Value, whole: &Value, at: &str) {
    match (part, whole) {
        (Value::Object(p), Value::Object(w)) => {
            for (k, v) in p {
                let there = w
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} is not in the full record"));
                is_projection(v, there, &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(part, whole, "{at}"),
    }
}

/// A consent granting everything, a profile with every field, and an event with every
/// field holding the user's identifiers.
fn planted_state(c: &Config, user: &str, card: &str, gov: &str) -> State {
    let state = State::for_outputs(&c.personal_outputs());
    let all = json!({"analytics": true, "personalization": true, "marketing": true,
        "third_party_sharing": true});
    state.apply_consent(user, Some(&consent(user, "2026-11-01T00:00:00Z", all)));
    let profile = serde_json::to_vec(
        &json!({"user_id": user, "updated_at": "2026-11-01T00:00:00Z",
        "name": "Ada Lovelace", "email": format!("{user}@example.com"), "phone": "+44 20 7946 0958",
        "preferences": {"note": format!("card {card}")}, "bank_card": card, "government_id": gov,
        "mailing_address": {"street": "12 Analytical St"}}),
    )
    .unwrap();
    let profile = consent_enricher::model::ProfileRecord::parse(&profile).unwrap();
    state.apply_profile(user, Some(&profile));
    state
}

/// The full record (the single default output, which carries everything) of `ev`.
fn full_record(state: &State, ev: &[u8]) -> Value {
    let out = support::run(&support::core(), state, ev);
    serde_json::from_slice(&out.personal_record(0).expect("consented").value).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn each_output_carries_exactly_its_allowed_projection(
        id in "[a-z0-9]{6,12}",
        ip in (1u8..223, any::<u8>(), any::<u8>(), 1u8..255),
        props in proptest::collection::btree_map("[a-z_]{1,10}", "[ -~]{0,20}", 0..6),
        gov in "[A-Z]{2}[0-9]{6}[A-D]",
    ) {
        let c = example_config();
        let card = "4539 1488 0343 6467";
        let user = format!("u_{id}");
        let ip = format!("{}.{}.{}.{}", ip.0, ip.1, ip.2, ip.3);
        let mut properties: serde_json::Map<String, Value> =
            props.into_iter().map(|(k, v)| (k, Value::from(v))).collect();
        properties.insert("page_title".into(), Value::from(format!("for {user}")));
        properties.insert("secret".into(), Value::from(format!("{gov} {card}")));
        let ev = serde_json::to_vec(&json!({
            "event_id": format!("e_{id}"), "event_type": "page_view",
            "occurred_at": "2026-11-29T10:00:00Z", "user_id": user,
            "anonymous_id": format!("a_{id}"), "device_id": format!("d_{id}"),
            "session_id": format!("s_{id}"), "ip": ip, "user_agent": format!("UA {user}"),
            "language": "en-GB", "url": format!("https://shop.example.com/{user}?q={gov}"),
            "referrer": format!("https://ref.example.com/{id}"),
            "app": {"name": "shop", "version": "1.2", "platform": "ios"},
            "properties": properties,
            "location": {"lat": 51.5, "lon": -0.12, "accuracy_m": 10},
        }))
        .unwrap();
        let state = planted_state(&c, &user, card, &gov);
        let full = full_record(&state, &ev);
        let core = core_of(&c);
        let out = support::run(&core, &state, &ev);
        let Outputs::Event { personal, .. } = &out else {
            panic!("a valid event");
        };
        prop_assert_eq!(personal.len(), 3);
        let never = [card.replace(' ', ""), gov.clone()];
        for (o, p) in c.personal_outputs().iter().zip(personal) {
            let record = p.record.as_ref().expect("every purpose granted");
            let doc: Value = serde_json::from_slice(&record.value).unwrap();
            Schemas::get().check("personal-event.schema.json", &doc);
            check_shape(o, &doc);
            is_projection(&doc, &full, &o.name);
            let text = doc.to_string();
            for n in &never {
                prop_assert!(!text.replace(' ', "").contains(n.as_str()), "{} leaked into {}", n, o.name);
            }
            if o.purposes.contains(&Purpose::ThirdPartySharing) {
                prop_assert!(!text.contains(&ip), "the raw IP reached partner");
                prop_assert!(!text.contains("51.5"), "the device position reached partner");
                prop_assert!(!text.contains(&format!("a_{id}")), "identifiers reached partner");
            }
        }
    }
}

#[test]
fn the_default_output_keeps_every_field_of_the_single_output_of_old() {
    let ev = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1"}"#;
    for fields in [support::config().policy.profile_fields, Vec::new()] {
        let mut c = support::config();
        c.policy.profile_fields = fields;
        let single = &c.personal_outputs()[0];
        let state = planted_state(&c, "u1", "4539 1488 0343 6467", "QQ123456C");
        let out = support::run(&core_of(&c), &state, ev);
        let doc: Value = serde_json::from_slice(&out.personal_record(0).unwrap().value).unwrap();
        check_shape(single, &doc);
        assert_eq!(
            sorted_keys(&doc).len(),
            14,
            "every key, null when the event has none"
        );
        assert_eq!(sorted_keys(&doc["context"]).len(), 7);
        assert!(
            doc["profile"].is_object(),
            "present even with no profile fields: {doc}"
        );
    }
}

#[test]
fn a_third_party_output_without_a_context_list_leaves_out_ip_and_device_location() {
    let mut c = support::config();
    c.outputs.personal = vec![PersonalOutput {
        name: "partner".into(),
        topic: "partner.events".into(),
        purposes: vec![Purpose::ThirdPartySharing],
        profile_fields: Vec::new(),
        context: None,
        properties_allow_list: vec!["*".into()],
        key: OutputKey::UserId,
        single_shape: false,
    }];
    c.validate().unwrap();
    let ev = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1","ip":"81.2.69.160","user_agent":"UA","location":{"lat":51.5,"lon":-0.12,"accuracy_m":10}}"#;
    let state = planted_state(&c, "u1", "4539 1488 0343 6467", "QQ123456C");
    let out = support::run(&core_of(&c), &state, ev);
    let doc: Value = serde_json::from_slice(&out.personal_record(0).unwrap().value).unwrap();
    check_shape(&c.personal_outputs()[0], &doc);
    assert!(doc.get("device_location").is_none() && doc["context"].get("ip").is_none());
    assert_eq!(
        doc["context"]["user_agent"], "UA",
        "the rest of the context stays"
    );
    assert!(
        doc.get("profile").is_none(),
        "no profile fields: no profile key"
    );
    c.outputs.personal[0].context = Some(vec![ContextField::Ip]);
    let out = support::run(&core_of(&c), &state, ev);
    let doc: Value = serde_json::from_slice(&out.personal_record(0).unwrap().value).unwrap();
    assert_eq!(
        doc["context"],
        json!({"ip": "81.2.69.160"}),
        "named: disclosed"
    );
}

#[test]
fn all_outputs_of_an_input_commit_together_through_a_broker() {
    let _broker = broker::shared();
    let mut kafka = support::config().kafka;
    kafka.bootstrap_servers = broker::bootstrap().to_string();
    let outputs = example_config().outputs.personal;
    let config = broker::config_with_outputs(kafka, "outputs", 3, outputs);
    let cfg = GenConfig {
        users: 200,
        events: 1500,
        seed: 17,
        ..GenConfig::default()
    };
    consent_enricher::kafka::load::produce_generated(&config, &cfg).unwrap();
    let worker = TestWorker::start(&config);
    let t = config.topics.clone();
    let mut reader = Reader::new(&config);
    reader.read_until("every input", Duration::from_secs(120), |r| {
        r.count(&t.anonymous) + r.count(&t.dead_letter) >= cfg.events as usize
    });
    let state = std::sync::Arc::clone(&worker.state);
    let report = worker.stop();
    reader.drain(Duration::from_secs(1));
    let outputs = config.personal_outputs();
    let counts = &report.counts;
    // Event id -> its user and the outputs it reached.
    let mut by_event: BTreeMap<String, (String, Vec<&str>)> = BTreeMap::new();
    for (o, n) in outputs.iter().zip(&counts.outputs) {
        let got = reader.count(&o.topic) as u64;
        println!(
            "output {}: {got} records, decisions {:?}",
            o.name, n.decisions
        );
        assert_eq!(got, n.records, "{}: read back = committed count", o.name);
        assert_eq!(n.decisions.values().sum::<u64>(), counts.anonymous);
        for r in reader.records.iter().filter(|r| r.topic == o.topic) {
            let doc: Value = serde_json::from_slice(&r.value).unwrap();
            Schemas::get().check("personal-event.schema.json", &doc);
            check_shape(o, &doc);
            let user = doc["user_id"].as_str().unwrap().to_string();
            let entry = by_event.entry(doc["event_id"].as_str().unwrap().to_string());
            entry.or_insert((user, Vec::new())).1.push(&o.name);
        }
    }
    assert!(
        counts.outputs.iter().all(|o| o.records > 0),
        "every output got records: {:?}",
        counts.outputs
    );
    assert_eq!(counts.raw, cfg.events);
    // The tables were read to their end before the first event and did not change: each
    // event reached exactly the outputs whose purposes its user granted, once each.
    for (event, (user, got)) in &by_event {
        let consent = state
            .consent(user)
            .expect("a user with personal records consented");
        let want: Vec<&str> = outputs
            .iter()
            .filter(|o| o.purposes.iter().all(|p| consent.purposes.grants(*p)))
            .map(|o| o.name.as_str())
            .collect();
        assert_eq!(got, &want, "event {event} of {user}");
    }
    assert!(by_event.values().any(|(_, o)| o.len() == 3));
}

#[test]
fn a_withdrawn_purpose_stops_its_output_live_and_erasure_stops_all() {
    let _broker = broker::shared();
    let mut kafka = support::config().kafka;
    kafka.bootstrap_servers = broker::bootstrap().to_string();
    let config =
        broker::config_with_outputs(kafka, "outputs-live", 1, example_config().outputs.personal);
    let worker = TestWorker::start(&config);
    let t = config.topics.clone();
    let topics = config.personal_topics();
    let mut reader = Reader::new(&config);
    let per_output = |r: &Reader| -> Vec<usize> { topics.iter().map(|t| r.count(t)).collect() };
    let ev = |id: &str| {
        serde_json::to_vec(&json!({"event_id": id, "event_type": "click",
            "occurred_at": "2026-11-29T10:00:00Z", "user_id": "u1", "ip": "81.2.69.160"}))
        .unwrap()
    };
    let grant = |at: &str, purposes: Value| {
        serde_json::to_vec(&json!({"user_id": "u1", "updated_at": at,
            "policy_version": "v1", "purposes": purposes}))
        .unwrap()
    };
    let all = json!({"analytics": true, "marketing": true, "third_party_sharing": true});
    broker::produce(
        &config,
        &t.consent,
        &[(Some("u1"), Some(&grant("2026-11-01T00:00:00Z", all)))],
    );
    broker::wait_for("grant applied", T, || worker.state.consent("u1").is_some());
    let e1 = ev("e1");
    let headers = [(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )];
    crate::telemetry::produce_with_headers(&config, &t.raw, &[(Some("u1"), Some(&e1), &headers)]);
    reader.read_until("e1 in every output", T, |r| per_output(r) == [1, 1, 1]);
    for (topic, carries) in topics.iter().zip([true, true, false]) {
        let r = reader.records.iter().find(|r| &r.topic == topic).unwrap();
        assert_eq!(
            r.headers.contains_key("traceparent"),
            carries,
            "{topic}: the trace continues on our own outputs, never on the partner's"
        );
    }

    let no_marketing = json!({"analytics": true, "marketing": false, "third_party_sharing": true});
    broker::produce(
        &config,
        &t.consent,
        &[(
            Some("u1"),
            Some(&grant("2026-11-02T00:00:00Z", no_marketing)),
        )],
    );
    broker::wait_for("withdrawal applied", T, || {
        worker
            .state
            .consent("u1")
            .is_some_and(|c| !c.purposes.grants(Purpose::Marketing))
    });
    broker::produce(&config, &t.raw, &[(Some("u1"), Some(&ev("e2")))]);
    reader.read_until("e2 in analytics and partner", T, |r| {
        per_output(r) == [2, 1, 2]
    });

    let erasure = br#"{"user_id":"u1","request_id":"r1","requested_at":"2026-11-03T00:00:00Z"}"#;
    broker::produce(&config, &t.erasure, &[(Some("u1"), Some(erasure))]);
    broker::wait_for("erasure applied", T, || worker.state.is_erased("u1"));
    broker::produce(&config, &t.raw, &[(Some("u1"), Some(&ev("e3")))]);
    reader.read_until("e3 anonymous", T, |r| r.count(&t.anonymous) == 3);
    worker.stop();
    reader.drain(Duration::from_secs(1));
    assert_eq!(
        per_output(&reader),
        [2, 1, 2],
        "erasure stopped every output"
    );
}

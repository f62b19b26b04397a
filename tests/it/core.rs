//! The pure core against the contract: the examples through `process`, reconciliation,
//! schema conformance of every output and input, consent rules end to end.

use consent_enricher::pipeline::Outputs;
use consent_enricher::policy::Decision;
use consent_enricher::state::State;
use serde_json::Value;

use crate::support::{self, Schemas};

#[test]
fn examples_reconcile_and_match_the_expected_decisions() {
    let (lines, summary) = support::process_examples(&support::config());
    let count = |t: &str| lines.iter().filter(|l| l["topic"] == t).count() as u64;
    let raw = summary.counts.raw;
    assert_eq!(raw, 29);
    assert_eq!(
        raw,
        count("usage.anonymous") + count("usage.dead-letter"),
        "raw = anonymous + dead-letter"
    );
    // Ground truth of examples/: alice (4 events, consented) and erin (3, re-consented
    // after her erasure) are the only identified, consenting, non-erased users.
    assert_eq!(count("usage.personal"), 7);
    assert_eq!(count("usage.dead-letter"), 7);
    assert_eq!(count("privacy.audit"), 2);
    let personal_users: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l["topic"] == "usage.personal")
        .map(|l| l["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        personal_users.into_iter().collect::<Vec<_>>(),
        ["u_alice", "u_erin"]
    );
    assert_eq!(
        summary.counts.outputs[0].decisions["erased"], 2,
        "dave's events"
    );
    assert_eq!(
        summary.counts.outputs[0].decisions["purpose_not_granted"], 4,
        "bob x3 and frank"
    );
    assert_eq!(
        summary.counts.outputs[0].decisions["no_consent"], 3,
        "carol (tombstone) x2 and gina"
    );
}

#[test]
fn every_output_line_validates_against_the_schemas() {
    let (lines, _) = support::process_examples(&support::config());
    let schemas = Schemas::get();
    for line in &lines {
        schemas.check("process-output.schema.json", line);
        let schema = match line["topic"].as_str().unwrap() {
            "usage.anonymous" => "anonymous-event.schema.json",
            "usage.personal" => "personal-event.schema.json",
            "privacy.audit" => "audit.schema.json",
            "usage.dead-letter" => continue,
            other => panic!("unexpected topic {other}"),
        };
        schemas.check(schema, &line["value"]);
    }
}

#[test]
fn example_inputs_validate_against_the_input_schemas() {
    let dir = support::root().join("examples");
    let schemas = Schemas::get();
    for (file, schema) in [
        ("consents.jsonl", "consent.schema.json"),
        ("profiles.jsonl", "profile.schema.json"),
        ("erasures.jsonl", "erasure.schema.json"),
    ] {
        for line in support::read_lines(&dir.join(file)) {
            let v: Value = serde_json::from_str(&line).unwrap();
            if v.get("value").is_some() {
                continue; // a tombstone envelope
            }
            schemas.check(schema, &v);
        }
    }
    // Valid example events validate; the bad ones are exactly the dead letters.
    let core = support::core();
    let state = State::new(&[]);
    for line in support::read_lines(&dir.join("events.jsonl")) {
        let parsed: Option<Value> = serde_json::from_str(&line).ok();
        let valid = parsed.as_ref().is_some_and(|v| {
            jsonschema::options()
                .should_validate_formats(true)
                .build(
                    &serde_json::from_str::<Value>(
                        &std::fs::read_to_string(
                            support::root().join("schemas/raw-event.schema.json"),
                        )
                        .unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap()
                .is_valid(v)
        });
        let out = support::run(&core, &state, line.as_bytes());
        assert_eq!(
            valid,
            matches!(out, Outputs::Event { .. }),
            "schema and core disagree on {line}"
        );
    }
}

#[test]
fn consent_withdrawal_and_erasure_apply_to_the_next_event() {
    let core = support::core();
    let state = State::for_outputs(&support::config().personal_outputs());
    let ev = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1"}"#;
    let decision = |state: &State| {
        let out = support::run(&core, state, ev);
        let Some(decision) = out.decision(0) else {
            panic!("{out:?}");
        };
        let made = out.personal_record(0).is_some();
        assert_eq!(made, decision == Decision::Personal);
        decision
    };
    assert_eq!(decision(&state), Decision::NoConsent);
    let grant: consent_enricher::model::ConsentRecord = serde_json::from_str(
        r#"{"user_id":"u1","updated_at":"2026-11-01T00:00:00Z","policy_version":"v1","purposes":{"analytics":true}}"#,
    )
    .unwrap();
    state.apply_consent("u1", Some(&grant));
    assert_eq!(decision(&state), Decision::Personal);
    let marketing_only: consent_enricher::model::ConsentRecord = serde_json::from_str(
        r#"{"user_id":"u1","updated_at":"2026-11-02T00:00:00Z","policy_version":"v1","purposes":{"marketing":true}}"#,
    )
    .unwrap();
    state.apply_consent("u1", Some(&marketing_only));
    assert_eq!(decision(&state), Decision::PurposeNotGranted);
    state.apply_consent("u1", Some(&grant));
    let erase = br#"{"user_id":"u1","request_id":"r9","requested_at":"2026-11-03T00:00:00Z"}"#;
    let applied = state.apply_erasure_record(
        Some("u1"),
        Some(erase),
        &consent_enricher::state::Arrival::at(support::now()),
    );
    let consent_enricher::state::ErasureApplied::Request(outcome) = applied else {
        panic!("a readable request: {applied:?}");
    };
    let audit = core.audit(&outcome, support::now());
    assert_eq!(audit.key.as_deref(), Some("r9"));
    Schemas::get().check(
        "audit.schema.json",
        &serde_json::from_slice(&audit.value).unwrap(),
    );
    assert_eq!(decision(&state), Decision::Erased);
    state.apply_consent("u1", None);
    assert_eq!(decision(&state), Decision::Erased);
}

#[test]
fn configured_purpose_decides() {
    let mut config = support::config();
    config.policy.personal_purpose = consent_enricher::model::Purpose::Marketing;
    let core = consent_enricher::enrichment::core_without_geoip(&config).unwrap();
    let state = State::new(&[]);
    let rec: consent_enricher::model::ConsentRecord = serde_json::from_str(
        r#"{"user_id":"u1","updated_at":"2026-11-01T00:00:00Z","policy_version":"v1","purposes":{"analytics":true}}"#,
    )
    .unwrap();
    state.apply_consent("u1", Some(&rec));
    let ev = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"u1"}"#;
    assert_eq!(
        support::run(&core, &state, ev).decision(0),
        Some(Decision::PurposeNotGranted)
    );
}

#[test]
fn anonymous_record_is_built_by_allow_list() {
    let core = support::core();
    let state = State::new(&[]);
    let ev = br#"{"event_id":"e1","event_type":"click","occurred_at":"2026-11-29T10:00:00+02:00","brand_new_field":"x","ip":"203.0.113.5","user_agent":"UA","device_id":"dev-1234"}"#;
    let Outputs::Event { anonymous, .. } = support::run(&core, &state, ev) else {
        panic!()
    };
    let v: Value = serde_json::from_slice(&anonymous.value).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "agent",
            "app",
            "event_id",
            "event_type",
            "geo",
            "language",
            "occurred_at",
            "processed_at",
            "properties",
            "referrer_host",
            "time",
            "url"
        ]
    );
    assert_eq!(v["occurred_at"], "2026-11-29T08:00:00.000Z");
    let text = String::from_utf8(anonymous.value).unwrap();
    for leaked in ["brand_new_field", "203.0.113.5", "dev-1234", "\"e1\""] {
        assert!(!text.contains(leaked), "{leaked} in {text}");
    }
}

#[test]
fn dead_letters_keep_bytes_key_and_carry_all_headers() {
    let core = support::core();
    let state = State::new(&[]);
    let bytes = b"{\"event_id\": 1}";
    let Outputs::DeadLetter(d) = support::run(&core, &state, bytes) else {
        panic!()
    };
    assert_eq!(d.value, bytes);
    assert_eq!(d.key.as_deref(), Some(&b"k"[..]));
    let names: Vec<&str> = d.headers.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        names,
        [
            "dlq.reason",
            "dlq.detail",
            "dlq.source.topic",
            "dlq.source.partition",
            "dlq.source.offset"
        ]
    );
    assert_eq!(d.headers[0].1, "schema_violation");
    assert_eq!(d.headers[1].1, "/event_id: invalid type, expected a string");
    assert_eq!(d.headers[3].1, "3");
    assert_eq!(d.headers[4].1, "42");
}

#[test]
fn readme_config_table_matches_the_code() {
    assert_eq!(
        support::readme_section("config-table"),
        consent_enricher::config::markdown_table()
    );
}

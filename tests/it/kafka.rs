//! The worker against a real Apache Kafka broker: generated data end to end, live
//! consent changes, restart from committed offsets, start-up ordering, bad inputs.

use std::collections::HashMap;
use std::time::Duration;

use consent_enricher::policy::Pseudonymizer;
use consent_enricher_gen::GenConfig;
use serde_json::Value;

use crate::broker::{self, Reader, TestWorker, produce};
use crate::support::{self, Schemas};

const T: Duration = Duration::from_secs(120);

fn event(id: &str, user: Option<&str>) -> Vec<u8> {
    let mut v = serde_json::json!({"event_id": id, "event_type": "click", "occurred_at": "2026-11-29T10:00:00Z",
        "ip": "81.2.69.160", "properties": {"note": "call +1 (415) 555-0100"}});
    if let Some(u) = user {
        v["user_id"] = Value::from(u);
    }
    serde_json::to_vec(&v).unwrap()
}

fn consent(user: &str, at: &str, analytics: bool) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({"user_id": user, "updated_at": at, "policy_version": "v1",
        "purposes": {"analytics": analytics}}),
    )
    .unwrap()
}

#[test]
fn generated_data_end_to_end_reconciles_and_validates() {
    let _broker = broker::shared();
    let config = broker::config("e2e");
    let cfg = GenConfig {
        users: 300,
        events: 3000,
        seed: 7,
        ..GenConfig::default()
    };
    let expected = consent_enricher_gen::summary(&cfg);
    let state_n = consent_enricher_gen::state_records(&cfg).count() as u64;
    consent_enricher::kafka::load::produce(
        &config,
        consent_enricher_gen::state_records(&cfg),
        state_n,
        "state",
    )
    .unwrap();
    consent_enricher::kafka::load::produce(
        &config,
        consent_enricher_gen::events(&cfg),
        cfg.events,
        "events",
    )
    .unwrap();
    let worker = TestWorker::start(&config);
    let t = config.topics.clone();
    let mut reader = Reader::new(&config);
    let want_personal = expected.expected_personal as usize;
    reader.read_until("all outputs", T, |r| {
        r.count(&t.anonymous) + r.count(&t.dead_letter) >= cfg.events as usize
            && r.count(&t.personal) >= want_personal
    });
    let report = worker.stop();
    reader.drain(Duration::from_secs(1));
    let (anon, personal, dlq) = (
        reader.count(&t.anonymous),
        reader.count(&t.personal),
        reader.count(&t.dead_letter),
    );
    println!(
        "e2e: raw={} anonymous={anon} personal={personal} dead_letters={dlq} audit={} (expected personal {want_personal}, malformed {})",
        cfg.events,
        reader.count(&t.audit),
        expected.malformed
    );
    assert_eq!(report.counts.raw, cfg.events);
    assert_eq!(
        anon + dlq,
        cfg.events as usize,
        "raw = anonymous + dead-letter"
    );
    assert_eq!(dlq as u64, expected.malformed);
    assert_eq!(
        personal, want_personal,
        "personal = consented identified non-erased"
    );
    let schemas = Schemas::get();
    for r in &reader.records {
        if r.topic == t.dead_letter {
            for h in [
                "dlq.reason",
                "dlq.detail",
                "dlq.source.topic",
                "dlq.source.partition",
                "dlq.source.offset",
            ] {
                assert!(r.headers.contains_key(h), "dead letter without {h}");
            }
            assert_eq!(r.headers["dlq.source.topic"], t.raw);
            continue;
        }
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        let schema = if r.topic == t.anonymous {
            assert_eq!(r.key, None);
            "anonymous-event.schema.json"
        } else if r.topic == t.personal {
            assert_eq!(r.key.as_deref(), v["user_id"].as_str());
            "personal-event.schema.json"
        } else {
            "audit.schema.json"
        };
        schemas.check(schema, &v);
    }
}

#[test]
fn consent_grant_withdrawal_and_erasure_apply_live() {
    let _broker = broker::shared();
    let config = broker::config("live");
    let worker = TestWorker::start(&config);
    let t = config.topics.clone();
    let mut reader = Reader::new(&config);
    produce(
        &config,
        &t.raw,
        &[(Some("u1"), Some(&event("e1", Some("u1"))))],
    );
    reader.read_until("first anonymous", T, |r| r.count(&t.anonymous) == 1);
    assert_eq!(reader.count(&t.personal), 0, "no consent yet");

    produce(
        &config,
        &t.consent,
        &[(
            Some("u1"),
            Some(&consent("u1", "2026-11-01T00:00:00Z", true)),
        )],
    );
    broker::wait_for("consent applied", T, || {
        worker.state.consent("u1").is_some()
    });
    produce(
        &config,
        &t.raw,
        &[(Some("u1"), Some(&event("e2", Some("u1"))))],
    );
    reader.read_until("personal after grant", T, |r| r.count(&t.personal) == 1);

    produce(&config, &t.consent, &[(Some("u1"), None)]);
    broker::wait_for("withdrawal applied", T, || {
        worker.state.consent("u1").is_none()
    });
    produce(
        &config,
        &t.raw,
        &[(Some("u1"), Some(&event("e3", Some("u1"))))],
    );
    reader.read_until("third anonymous", T, |r| r.count(&t.anonymous) == 3);

    produce(
        &config,
        &t.consent,
        &[(
            Some("u1"),
            Some(&consent("u1", "2026-11-02T00:00:00Z", true)),
        )],
    );
    broker::wait_for("re-grant applied", T, || {
        worker.state.consent("u1").is_some()
    });
    let erasure = br#"{"user_id":"u1","request_id":"req-1","requested_at":"2026-11-03T00:00:00Z"}"#;
    produce(&config, &t.erasure, &[(Some("u1"), Some(erasure))]);
    broker::wait_for("erasure applied", T, || {
        worker.state.is_erased("u1") && worker.state.consent("u1").is_none()
    });
    produce(
        &config,
        &t.raw,
        &[(Some("u1"), Some(&event("e4", Some("u1"))))],
    );
    reader.read_until("fourth anonymous and the audit record", T, |r| {
        r.count(&t.anonymous) == 4 && r.count(&t.audit) == 1
    });
    worker.stop();
    reader.drain(Duration::from_secs(1));
    assert_eq!(reader.count(&t.personal), 1, "only e2 was personal");
    assert_eq!(
        reader.count(&t.audit),
        1,
        "one audit record per erasure request"
    );
    let audit = reader.records.iter().find(|r| r.topic == t.audit).unwrap();
    assert_eq!(audit.key.as_deref(), Some("req-1"));
    Schemas::get().check(
        "audit.schema.json",
        &serde_json::from_slice(&audit.value).unwrap(),
    );
}

/// A burst of consent changes (a re-consent campaign) is applied live, not at the
/// pace of the loop's other duties: the live loop once applied one table record per turn
/// (about ten a second), which would take this burst over eight minutes, well past `T`.
#[test]
fn a_burst_of_consent_changes_is_applied_live() {
    let _broker = broker::shared();
    let config = broker::config("burst");
    let w = TestWorker::start(&config);
    let users: Vec<String> = (0..5_000).map(|i| format!("burst-{i}")).collect();
    let values: Vec<Vec<u8>> = users
        .iter()
        .map(|u| consent(u, "2026-11-01T00:00:00Z", true))
        .collect();
    let records: Vec<(Option<&str>, Option<&[u8]>)> = users
        .iter()
        .zip(&values)
        .map(|(u, v)| (Some(u.as_str()), Some(v.as_slice())))
        .collect();
    produce(&config, &config.topics.consent, &records);
    broker::wait_for("every consent applied", T, || {
        w.state.sizes().consents == users.len()
    });
    w.stop();
}

#[test]
fn restart_resumes_from_committed_offsets_without_loss() {
    let _broker = broker::shared();
    let config = broker::config("restart");
    let t = config.topics.clone();
    let batch = |from: usize, n: usize| -> Vec<Vec<u8>> {
        (from..from + n)
            .map(|i| event(&format!("r{i}"), None))
            .collect()
    };
    let first = batch(0, 500);
    produce(
        &config,
        &t.raw,
        &first
            .iter()
            .map(|v| (None, Some(v.as_slice())))
            .collect::<Vec<_>>(),
    );
    let w = TestWorker::start(&config);
    let mut reader = Reader::new(&config);
    reader.read_until("first batch", T, |r| r.count(&t.anonymous) >= 500);
    let r1 = w.stop();
    let second = batch(500, 500);
    produce(
        &config,
        &t.raw,
        &second
            .iter()
            .map(|v| (None, Some(v.as_slice())))
            .collect::<Vec<_>>(),
    );
    let w = TestWorker::start(&config);
    reader.read_until("second batch", T, |r| r.count(&t.anonymous) >= 1000);
    let r2 = w.stop();
    reader.drain(Duration::from_secs(1));
    let pseudo = Pseudonymizer::new(support::KEY.as_bytes());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in reader.records.iter().filter(|r| r.topic == t.anonymous) {
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        *seen
            .entry(v["event_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let lost = (0..1000)
        .filter(|i| !seen.contains_key(&pseudo.pseudonym(&format!("r{i}"))))
        .count();
    let duplicated: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "restart: inputs=1000 outputs={} lost={lost} duplicated={duplicated} (first run processed {}, second {})",
        reader.count(&t.anonymous),
        r1.counts.raw,
        r2.counts.raw
    );
    assert_eq!(lost, 0);
    assert_eq!(
        r1.counts.raw + r2.counts.raw,
        1000 + duplicated as u64,
        "the second run resumed from the committed offsets"
    );
}

#[test]
fn tables_load_before_the_first_event_is_processed() {
    let _broker = broker::shared();
    let config = broker::config("startup");
    let t = config.topics.clone();
    let users: Vec<String> = (0..50).map(|i| format!("early-{i}")).collect();
    let consents: Vec<Vec<u8>> = users
        .iter()
        .map(|u| consent(u, "2026-11-01T00:00:00Z", true))
        .collect();
    produce(
        &config,
        &t.consent,
        &users
            .iter()
            .zip(&consents)
            .map(|(u, c)| (Some(u.as_str()), Some(c.as_slice())))
            .collect::<Vec<_>>(),
    );
    let events: Vec<Vec<u8>> = users
        .iter()
        .map(|u| event(&format!("ev-{u}"), Some(u)))
        .collect();
    produce(
        &config,
        &t.raw,
        &users
            .iter()
            .zip(&events)
            .map(|(u, e)| (Some(u.as_str()), Some(e.as_slice())))
            .collect::<Vec<_>>(),
    );
    let w = TestWorker::start(&config);
    let mut reader = Reader::new(&config);
    reader.read_until("every event", T, |r| {
        r.count(&t.anonymous) == 50 && r.count(&t.personal) == 50
    });
    w.stop();
    reader.drain(Duration::from_millis(500));
    assert_eq!(
        reader.count(&t.personal),
        50,
        "a consented user's early events are personal"
    );
}

#[test]
fn bad_inputs_are_dead_lettered_and_the_worker_goes_on() {
    let _broker = broker::shared();
    let config = broker::config("bad");
    let t = config.topics.clone();
    let w = TestWorker::start(&config);
    let mut reader = Reader::new(&config);
    let bad: [&[u8]; 4] = [b"{not json", b"\xff\xfe", br#"{"event_id":1}"#, b"[]"];
    let good = event("after-bad", None);
    let mut records: Vec<(Option<&str>, Option<&[u8]>)> =
        bad.iter().map(|b| (Some("k-bad"), Some(*b))).collect();
    records.push((None, None));
    records.push((None, Some(&good)));
    produce(&config, &t.raw, &records);
    reader.read_until("dead letters and the good event", T, |r| {
        r.count(&t.dead_letter) == 5 && r.count(&t.anonymous) == 1
    });
    let report = w.stop();
    assert_eq!(report.counts.dead_letters, 5);
    // Order holds within a partition: the keyed bad inputs share one; the keyless null
    // value lands wherever the partitioner puts it.
    let dl: Vec<_> = reader
        .records
        .iter()
        .filter(|r| r.topic == t.dead_letter && r.key.as_deref() == Some("k-bad"))
        .collect();
    let reasons: Vec<&str> = dl
        .iter()
        .map(|d| d.headers["dlq.reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "invalid_json",
            "invalid_utf8",
            "schema_violation",
            "schema_violation"
        ]
    );
    let keyless: Vec<&str> = reader
        .records
        .iter()
        .filter(|r| r.topic == t.dead_letter && r.key.is_none())
        .map(|d| d.headers["dlq.reason"].as_str())
        .collect();
    assert_eq!(keyless, ["invalid_json"], "the null value");
    assert_eq!(dl[0].value, b"{not json");
    assert_eq!(dl[0].key.as_deref(), Some("k-bad"));
}

//! Privacy that survives operations, against the real broker: erasure that lasts across
//! a restart, a re-published grant and the loss of the erasure records (removed with
//! DeleteRecords, as retention would); a consent dated a day ahead that an erasure still
//! beats; a newer withdrawal in one partition that an older grant written later to
//! another partition does not undo; an erasure request with an unknown field that still
//! erases its key; and a real re-consent that keeps working through all of it. Each
//! scenario is one user, so one topic set and two worker lifetimes cover them all.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use consent_enricher::config::Config;
use consent_enricher::kafka::admin::TopicOutcome;
use consent_enricher::kafka::{Role, admin, block_on, client_config};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::broker::{self, Reader, TestWorker, produce};

const T: Duration = Duration::from_secs(120);

/// The users, one per scenario.
const NORMAL: &str = "u-normal";
const FUTURE: &str = "u-future";
const SPLIT: &str = "u-split";
const ODD: &str = "u-odd-request";
const RECONSENT: &str = "u-reconsent";
const USERS: [&str; 5] = [NORMAL, FUTURE, SPLIT, ODD, RECONSENT];

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn consent(user: &str, at: DateTime<Utc>, analytics: bool) -> Vec<u8> {
    format!(
        r#"{{"user_id":"{user}","updated_at":"{}","policy_version":"v1","purposes":{{"analytics":{analytics}}}}}"#,
        time(at)
    )
    .into_bytes()
}

fn profile(user: &str, at: DateTime<Utc>) -> Vec<u8> {
    format!(
        r#"{{"user_id":"{user}","updated_at":"{}","name":"Name of {user}","email":"{user}@example.com"}}"#,
        time(at)
    )
    .into_bytes()
}

fn erasure(user: &str, at: DateTime<Utc>) -> Vec<u8> {
    format!(
        r#"{{"user_id":"{user}","request_id":"req-{user}","requested_at":"{}"}}"#,
        time(at)
    )
    .into_bytes()
}

fn event(id: &str, user: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{id}","event_type":"click","occurred_at":"2026-11-29T10:00:00Z","user_id":"{user}"}}"#
    )
    .into_bytes()
}

/// Produces one event per user for `phase` and returns, once all their anonymous twins
/// are visible, which users got a personal record in that phase.
fn personal_users(config: &Config, reader: &mut Reader, phase: &str) -> BTreeMap<String, usize> {
    let t = &config.topics;
    let before = reader.count(&t.anonymous);
    let events: Vec<(String, Vec<u8>)> = USERS
        .iter()
        .map(|u| (u.to_string(), event(&format!("{phase}-{u}"), u)))
        .collect();
    let records: Vec<(Option<&str>, Option<&[u8]>)> = events
        .iter()
        .map(|(u, e)| (Some(u.as_str()), Some(e.as_slice())))
        .collect();
    produce(config, &t.raw, &records);
    reader.read_until(&format!("{phase}: every anonymous twin"), T, |r| {
        r.count(&t.anonymous) == before + USERS.len()
    });
    // Personal records of the same batch commit with their twins; read what is left.
    reader.drain(Duration::from_millis(500));
    let mut out = BTreeMap::new();
    for r in reader.records.iter().filter(|r| r.topic == t.personal) {
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        let id = v["event_id"].as_str().unwrap_or_default();
        if id.starts_with(&format!("{phase}-")) {
            *out.entry(v["user_id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    out
}

fn produce_to(config: &Config, topic: &str, partition: i32, key: &str, value: &[u8]) {
    let p: BaseProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    p.send(
        BaseRecord::<str, [u8]>::to(topic)
            .partition(partition)
            .key(key)
            .payload(value),
    )
    .map_err(|(e, _)| e)
    .unwrap();
    p.flush(T).unwrap();
}

/// Tombstones on `topic` for `user` that carry the worker's erasure marker.
fn marked_tombstones(config: &Config, topic: &str, user: &str) -> usize {
    let c: BaseConsumer = client_config(&config.kafka, Role::Consumer)
        .set(
            "group.id",
            format!("{}.tomb-{topic}-{user}", config.kafka.group_id),
        )
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..config.topics.partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut found = 0;
    let mut idle = 0;
    while idle < 10 {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                idle = 0;
                use rdkafka::message::{Headers, Message};
                let marked = m.headers().is_some_and(|h| {
                    h.iter()
                        .any(|h| h.key == consent_enricher::state::ERASURE_TOMBSTONE_HEADER)
                });
                if m.payload().is_none() && m.key() == Some(user.as_bytes()) && marked {
                    found += 1;
                }
            }
            _ => idle += 1,
        }
    }
    found
}

/// Removes every record of the erasure topic, as time retention would have on a topic
/// made without `topics create` (DeleteRecords refuses a compacted topic, so it is made
/// a delete-policy topic first, as such an operator's topic would be).
fn lose_the_erasure_records(config: &Config) {
    let admin: AdminClient<DefaultClientContext> = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    let topic = config.topics.erasure.as_str();
    let alter = [AlterConfig::new(ResourceSpecifier::Topic(topic)).set("cleanup.policy", "delete")];
    for r in block_on(admin.alter_configs(&alter, &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..config.topics.partitions {
        tpl.add_partition_offset(topic, p, Offset::End).unwrap();
    }
    // The partition leader applies the new policy once the config change reaches it (CI
    // met PolicyViolation right after the alter): until then DeleteRecords is refused.
    broker::wait_for("DeleteRecords under the delete policy", T, || {
        let deleted = block_on(admin.delete_records(&tpl, &AdminOptions::new())).unwrap();
        deleted.elements().iter().all(|e| match e.error() {
            Ok(()) => true,
            Err(rdkafka::error::KafkaError::OffsetFetch(
                rdkafka::types::RDKafkaErrorCode::PolicyViolation,
            )) => false,
            Err(other) => panic!("delete records: {other:?}"),
        })
    });
    // Proof that nothing is left to read: the low watermark is the high one.
    let probe: BaseConsumer = client_config(&config.kafka, Role::Consumer)
        .create()
        .unwrap();
    for p in 0..config.topics.partitions {
        let (lo, hi) = probe.fetch_watermarks(topic, p, T).unwrap();
        assert_eq!(lo, hi, "partition {p} of {topic} still holds records");
    }
}

#[test]
fn erasure_survives_restarts_retention_republication_skew_and_partition_order() {
    let _broker = broker::shared();
    let config = broker::config_with_partitions("erasure-lasts", 2);
    let t = config.topics.clone();

    // topics create made the erasure topic a non-expiring compacted table.
    let outcomes = admin::create_topics(&config).unwrap();
    for (name, outcome) in &outcomes {
        assert_eq!(outcome, &TopicOutcome::Exists, "{name}");
    }

    let t0 = Utc::now() - chrono::Duration::hours(1);
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    for u in [NORMAL, ODD, RECONSENT] {
        produce(
            &config,
            &t.consent,
            &[(Some(u), Some(&consent(u, t0, true)))],
        );
        produce(&config, &t.profile, &[(Some(u), Some(&profile(u, t0)))]);
    }
    // A skewed upstream clock: consent and profile dated a day ahead.
    produce(
        &config,
        &t.consent,
        &[(Some(FUTURE), Some(&consent(FUTURE, tomorrow, true)))],
    );
    produce(
        &config,
        &t.profile,
        &[(Some(FUTURE), Some(&profile(FUTURE, tomorrow)))],
    );
    // A newer withdrawal in partition 0, then an older grant written later to partition 1.
    produce_to(&config, &t.consent, 0, SPLIT, &consent(SPLIT, t0, false));
    produce_to(
        &config,
        &t.consent,
        1,
        SPLIT,
        &consent(SPLIT, t0 - chrono::Duration::minutes(10), true),
    );

    let mut reader = Reader::new(&config);
    let worker = TestWorker::start(&config);
    let before = personal_users(&config, &mut reader, "before");
    println!("erasure_lasts before erasure: personal={before:?}");
    assert_eq!(
        before.keys().cloned().collect::<Vec<_>>(),
        [FUTURE, NORMAL, ODD, RECONSENT].map(String::from).to_vec(),
        "everyone consented but the split user, whose newer withdrawal wins"
    );

    let now = Utc::now();
    for u in [NORMAL, FUTURE, RECONSENT] {
        produce(&config, &t.erasure, &[(Some(u), Some(&erasure(u, now)))]);
    }
    let odd = format!(
        r#"{{"user_id":"{ODD}","request_id":"req-odd","requested_at":"{}","reason":"unknown field"}}"#,
        time(now)
    );
    produce(&config, &t.erasure, &[(Some(ODD), Some(odd.as_bytes()))]);
    reader.read_until("three audit records", T, |r| r.count(&t.audit) == 3);
    for u in [NORMAL, FUTURE, ODD, RECONSENT] {
        assert_eq!(
            marked_tombstones(&config, &t.consent, u),
            1,
            "consent tombstone for {u}"
        );
        assert_eq!(
            marked_tombstones(&config, &t.profile, u),
            1,
            "profile tombstone for {u}"
        );
    }

    // A real re-consent after the erasure; and the erased user's unchanged grant
    // re-published (a CDC re-sync).
    produce(
        &config,
        &t.consent,
        &[(Some(RECONSENT), Some(&consent(RECONSENT, Utc::now(), true)))],
    );
    produce(
        &config,
        &t.consent,
        &[(Some(NORMAL), Some(&consent(NORMAL, t0, true)))],
    );
    broker::wait_for("re-consent applied", T, || {
        worker.state.consent(RECONSENT).is_some()
    });
    let after = personal_users(&config, &mut reader, "after");
    println!("erasure_lasts after erasure: personal={after:?}");
    worker.stop();

    let worker = TestWorker::start(&config);
    let restarted = personal_users(&config, &mut reader, "restarted");
    println!("erasure_lasts after restart: personal={restarted:?}");
    worker.stop();

    lose_the_erasure_records(&config);
    let worker = TestWorker::start(&config);
    let lost = personal_users(&config, &mut reader, "lost");
    println!(
        "erasure_lasts after the erasure records were deleted and a restart: personal={lost:?}"
    );
    let future_dated = worker.state.future_dated();
    worker.stop();

    let only_reconsent = BTreeMap::from([(RECONSENT.to_string(), 1)]);
    assert_eq!(after, only_reconsent, "after the erasures");
    assert_eq!(restarted, only_reconsent, "after a restart");
    assert_eq!(lost, only_reconsent, "without the erasure records");
    assert!(
        future_dated >= 2,
        "the day-ahead consent and profile were counted"
    );
}

#[test]
fn a_consent_partition_added_while_running_is_read_and_its_withdrawal_honoured() {
    let _broker = broker::shared();
    let config = broker::config_with_partitions("added-partition", 1);
    let t = config.topics.clone();
    let user = "u-added";
    let t0 = Utc::now() - chrono::Duration::hours(1);
    produce(
        &config,
        &t.consent,
        &[(Some(user), Some(&consent(user, t0, true)))],
    );
    let mut reader = Reader::new(&config);
    let worker = TestWorker::start(&config);
    let ev = |id: &str| event(id, user);
    produce(&config, &t.raw, &[(Some(user), Some(&ev("added-1")))]);
    reader.read_until("the first personal record", T, |r| {
        r.count(&t.personal) == 1
    });

    // A second consent partition appears, and the withdrawal is written there.
    let admin: AdminClient<DefaultClientContext> = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    let grow = rdkafka::admin::NewPartitions::new(&t.consent, 2);
    for r in block_on(admin.create_partitions([&grow], &AdminOptions::new())).unwrap() {
        r.unwrap();
    }
    let withdrawal = consent(user, Utc::now(), false);
    // The broker applies the new partition to its metadata a moment after the controller
    // answers, so a fresh producer may still see one partition and fail the record in its
    // delivery report: only an acknowledged record ends the wait.
    broker::wait_for("the new partition accepting records", T, || {
        let p = broker::checked_producer(&config);
        let sent = p
            .send(
                BaseRecord::<str, [u8]>::to(&t.consent)
                    .partition(1)
                    .key(user)
                    .payload(withdrawal.as_slice()),
            )
            .is_ok();
        sent && broker::flush_delivered(&p, Duration::from_secs(5)).is_ok()
    });
    broker::wait_for("the withdrawal in the new partition applied", T, || {
        worker.assert_running();
        worker.state.consent(user).is_some_and(|c| {
            !c.purposes
                .grants(consent_enricher::model::Purpose::Analytics)
        })
    });
    produce(&config, &t.raw, &[(Some(user), Some(&ev("added-2")))]);
    reader.read_until("the second anonymous record", T, |r| {
        r.count(&t.anonymous) == 2
    });
    worker.stop();
    let worker = TestWorker::start(&config);
    produce(&config, &t.raw, &[(Some(user), Some(&ev("added-3")))]);
    reader.read_until("the third anonymous record", T, |r| {
        r.count(&t.anonymous) == 3
    });
    reader.drain(Duration::from_millis(500));
    worker.stop();
    println!(
        "added_partition: anonymous={} personal={} (personal only before the withdrawal)",
        reader.count(&t.anonymous),
        reader.count(&t.personal)
    );
    assert_eq!(reader.count(&t.personal), 1);
}

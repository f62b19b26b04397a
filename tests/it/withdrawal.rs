//! The withdrawal bound at commit, against the real broker (exactly-once): a personal
//! record decided before a withdrawal is applied must not become visible to a
//! read_committed consumer after it — the worker aborts and replays such a batch — and a
//! user whose consent keeps flapping cannot keep the partitions from committing (the
//! replay bound). Each test prints one line of figures.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use consent_enricher::config::Config;
use consent_enricher::kafka::{Role, client_config};
use consent_enricher::telemetry::{Metrics, Replay};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value;

use crate::broker::{self, Reader, TestWorker, produce, wait_for};

const T: Duration = Duration::from_secs(180);

fn event(id: &str, user: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"event_id": id, "event_type": "click",
        "occurred_at": "2026-11-29T10:00:00Z", "user_id": user}))
    .unwrap()
}

fn consent(user: &str, at: &str, analytics: bool) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({"user_id": user, "updated_at": at, "policy_version": "v1",
        "purposes": {"analytics": analytics}}),
    )
    .unwrap()
}

fn replays(m: &Metrics, why: Replay) -> u64 {
    m.replays(why)
}

fn personal_decided(m: &Metrics) -> u64 {
    m.decided(0, consent_enricher::policy::Decision::Personal)
}

/// A read_uncommitted reader of the personal topic: it also sees the records of
/// transactions that were aborted, i.e. what the worker decided before it replayed.
fn uncommitted_personal(config: &Config) -> BaseConsumer {
    let c: BaseConsumer = client_config(&config.kafka, Role::Consumer)
        .set("group.id", format!("{}.uncommitted", config.kafka.group_id))
        .set("isolation.level", "read_uncommitted")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..config.topics.partitions {
        tpl.add_partition_offset(&config.topics.personal, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    c
}

/// The `user_id` of every personal record in `values`, counted.
fn by_user<'a>(values: impl Iterator<Item = &'a [u8]>) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for v in values {
        let v: Value = serde_json::from_slice(v).unwrap();
        *n.entry(v["user_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    n
}

/// Distinct anonymous records and duplicates among them.
fn anonymous_tally(reader: &Reader, topic: &str) -> (usize, usize) {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in reader.records.iter().filter(|r| r.topic == topic) {
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        *seen
            .entry(v["event_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let dup = seen.values().map(|n| n - 1).sum();
    (seen.len(), dup)
}

/// A backlog of a consented user's events is appended, then their withdrawal; the
/// worker takes the backlog into one long transaction (large `batch_max_records` and
/// `batch_max_ms`) and the withdrawal is applied while it is open. Before this change
/// that transaction committed with every personal record decided before the apply,
/// all of them visible after it. Now the commit is refused, the batch replayed under
/// the withdrawal: a read_committed consumer sees none of the leaver's personal
/// records, every one of the other user's, and each event's anonymous record once.
#[test]
fn personal_records_decided_before_a_withdrawal_are_not_committed_after_it() {
    let _broker = broker::shared();
    let mut config = broker::config("withdrawal-backlog");
    config.delivery.batch_max_records = 1_000_000;
    config.delivery.batch_max_ms = 6_000;
    let t = config.topics.clone();
    let (leaver, stayer) = ("leaver", "stayer");
    produce(
        &config,
        &t.consent,
        &[
            (
                Some(leaver),
                Some(&consent(leaver, "2026-11-01T00:00:00Z", true)),
            ),
            (
                Some(stayer),
                Some(&consent(stayer, "2026-11-01T00:00:00Z", true)),
            ),
        ],
    );
    let w = TestWorker::start(&config);
    wait_for("grants applied", T, || {
        w.state.consent(leaver).is_some() && w.state.consent(stayer).is_some()
    });
    let mut committed = Reader::new(&config);
    let uncommitted = uncommitted_personal(&config);

    // The backlog: appended (flushed) before the withdrawal is produced.
    let n = 4_000;
    let events: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let user = if i % 2 == 0 { leaver } else { stayer };
            (user.to_string(), event(&format!("wb-{i}"), user))
        })
        .collect();
    let records: Vec<(Option<&str>, Option<&[u8]>)> = events
        .iter()
        .map(|(u, v)| (Some(u.as_str()), Some(v.as_slice())))
        .collect();
    produce(&config, &t.raw, &records);
    let appended = Instant::now();

    // Wait until the open transaction holds a personal record of the leaver (visible to
    // read_uncommitted only): the situation the bound is about.
    let mut aborted: Vec<Vec<u8>> = Vec::new();
    let leaver_seen = |aborted: &[Vec<u8>]| {
        by_user(aborted.iter().map(Vec::as_slice))
            .get(leaver)
            .copied()
            .unwrap_or(0)
    };
    let deadline = Instant::now() + T;
    let mut leaver_in_txn = false;
    while !leaver_in_txn {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for a personal record of the leaver, uncommitted"
        );
        w.assert_running();
        if let Some(Ok(m)) = uncommitted.poll(Duration::from_millis(50)) {
            let v = m.payload().unwrap_or_default().to_vec();
            leaver_in_txn = by_user(std::iter::once(v.as_slice())).contains_key(leaver);
            aborted.push(v);
        }
    }
    let seen_after = appended.elapsed();
    let withdrawal_sent = Instant::now();
    produce(&config, &t.consent, &[(Some(leaver), None)]);
    wait_for("the withdrawal applied", T, || {
        w.state.consent(leaver).is_none()
    });
    let applied_after = withdrawal_sent.elapsed();
    let commits_at_apply = w.metrics.txn_commits.load(Ordering::SeqCst);
    let decided_at_apply = personal_decided(&w.metrics);
    assert_eq!(
        commits_at_apply,
        0,
        "the backlog's transaction was still open when the withdrawal was applied (first uncommitted personal record {} ms after the backlog, withdrawal applied {} ms after it was sent)",
        seen_after.as_millis(),
        applied_after.as_millis()
    );

    committed.read_until("every anonymous record", T, |r| r.count(&t.anonymous) >= n);
    committed.drain(Duration::from_secs(2));
    let replayed = replays(&w.metrics, Replay::Changed);
    let withheld = w.metrics.personal_withheld.load(Ordering::SeqCst);
    w.stop();
    // Everything the aborted attempt wrote, for the figures.
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_secs(1) {
        if let Some(Ok(m)) = uncommitted.poll(Duration::from_millis(100)) {
            aborted.push(m.payload().unwrap_or_default().to_vec());
            last = Instant::now();
        }
    }

    let visible = by_user(
        committed
            .records
            .iter()
            .filter(|r| r.topic == t.personal)
            .map(|r| r.value.as_slice()),
    );
    let visible_leaver = visible.get(leaver).copied().unwrap_or(0);
    let visible_stayer = visible.get(stayer).copied().unwrap_or(0);
    let (anonymous, duplicated) = anonymous_tally(&committed, &t.anonymous);
    println!(
        "withdrawal_backlog: events={n} (leaver {}, stayer {}) personal_decided_before_apply={decided_at_apply} leaver_personal_seen_read_uncommitted={} commits_before_apply={commits_at_apply} applied_after_ms={} replays={replayed} withheld={withheld} committed: anonymous={anonymous} duplicated={duplicated} personal_leaver={visible_leaver} personal_stayer={visible_stayer}",
        n / 2,
        n / 2,
        leaver_seen(&aborted),
        applied_after.as_millis(),
    );
    assert_eq!(
        visible_leaver, 0,
        "a personal record decided before the withdrawal was committed after it"
    );
    assert!(replayed >= 1, "the batch was replayed");
    assert_eq!(
        visible_stayer,
        n / 2,
        "the replay re-decides: the other user keeps every personal record"
    );
    assert_eq!(
        (anonymous, duplicated),
        (n, 0),
        "each event's anonymous record once"
    );
}

/// A user whose consent flips every few milliseconds, in events interleaved with
/// another user's: every transaction holding one of their personal records would be
/// replayed for ever without the replay bound. The partitions keep committing: every
/// event's anonymous record arrives once while the flapping goes on.
#[test]
fn a_user_whose_consent_flaps_cannot_stall_the_partitions() {
    let _broker = broker::shared();
    let mut config = broker::config("withdrawal-flap");
    config.delivery.batch_max_ms = 400;
    let t = config.topics.clone();
    let (flapper, steady) = ("flapper", "steady");
    produce(
        &config,
        &t.consent,
        &[
            (
                Some(flapper),
                Some(&consent(flapper, "2026-11-01T00:00:00Z", true)),
            ),
            (
                Some(steady),
                Some(&consent(steady, "2026-11-01T00:00:00Z", true)),
            ),
        ],
    );
    let w = TestWorker::start(&config);
    wait_for("grants applied", T, || w.state.consent(steady).is_some());

    let flapping = Arc::new(AtomicBool::new(true));
    let flaps = {
        let (config, flapping) = (config.clone(), Arc::clone(&flapping));
        std::thread::spawn(move || {
            let p: BaseProducer = client_config(&config.kafka, Role::Producer)
                .create()
                .unwrap();
            let base: chrono::DateTime<chrono::Utc> = "2026-11-02T00:00:00Z".parse().unwrap();
            let mut i = 0i64;
            while flapping.load(Ordering::SeqCst) {
                // Later updated_at each time, so ordering rules take every flip.
                let at = (base + chrono::Duration::seconds(i)).to_rfc3339();
                let v = consent("flapper", &at, i % 2 == 1);
                p.send(
                    BaseRecord::to(&config.topics.consent)
                        .key("flapper")
                        .payload(&v),
                )
                .map_err(|(e, _)| e)
                .unwrap();
                p.flush(Duration::from_secs(10)).unwrap();
                i += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            i
        })
    };
    let producer: BaseProducer = client_config(&config.kafka, Role::Producer)
        .create()
        .unwrap();
    let n = 3_000;
    let started = Instant::now();
    for i in 0..n {
        let user = if i % 2 == 0 { flapper } else { steady };
        let v = event(&format!("wf-{i}"), user);
        producer
            .send(BaseRecord::to(&t.raw).key(user).payload(&v))
            .map_err(|(e, _)| e)
            .unwrap();
        producer.poll(Duration::ZERO);
        if i % 100 == 99 {
            // About 3 s of events, so the flapping spans many batches.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let mut reader = Reader::new(&config);
    reader.read_until("every anonymous record while the consent flaps", T, |r| {
        w.assert_running();
        r.count(&t.anonymous) >= n
    });
    let took = started.elapsed();
    flapping.store(false, Ordering::SeqCst);
    let flips = flaps.join().unwrap();
    reader.drain(Duration::from_secs(1));
    let replayed = replays(&w.metrics, Replay::Changed);
    let withheld = w.metrics.personal_withheld.load(Ordering::SeqCst);
    let commits = w.metrics.txn_commits.load(Ordering::SeqCst);
    w.stop();
    let (anonymous, duplicated) = anonymous_tally(&reader, &t.anonymous);
    let personal = by_user(
        reader
            .records
            .iter()
            .filter(|r| r.topic == t.personal)
            .map(|r| r.value.as_slice()),
    );
    println!(
        "withdrawal_flapping: events={n} consent_flips={flips} took_ms={} commits={commits} replays={replayed} withheld={withheld} committed: anonymous={anonymous} duplicated={duplicated} personal_flapper={} personal_steady={}",
        took.as_millis(),
        personal.get(flapper).copied().unwrap_or(0),
        personal.get(steady).copied().unwrap_or(0),
    );
    assert_eq!(
        (anonymous, duplicated),
        (n, 0),
        "each event's anonymous record once"
    );
    assert!(commits > 0);
}

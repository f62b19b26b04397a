//! Every compression codec Kafka producers use (gzip, snappy, lz4, zstd) reaches the
//! worker readable: batches produced with each `compression.type`, each followed by
//! ordinary uncompressed events, give exactly one anonymous record or one dead letter per
//! input (read_committed) and the worker keeps running. A codec librdkafka was built
//! without would stall its partition instead (see `kafka::worker::unreadable`).

use std::collections::HashMap;
use std::time::Duration;

use consent_enricher::kafka::{Role, client_config};
use consent_enricher::policy::Pseudonymizer;
use rdkafka::producer::{BaseProducer, BaseRecord};
use serde_json::Value;

use crate::broker::{self, Reader, TestWorker};
use crate::support;

const T: Duration = Duration::from_secs(120);
const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];
/// Valid events per compressed batch, and after it uncompressed.
const PER_BATCH: usize = 50;
const AFTER: usize = 5;

fn event(id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({"event_id": id, "event_type": "click",
        "occurred_at": "2026-11-29T10:00:00Z", "url": "https://example.com/a?utm_source=x",
        "properties": {"note": "compressible text, compressible text, compressible text"}}))
    .unwrap()
}

/// Sends `records` (key, value) through a producer with `compression.type = codec`,
/// lingering so that they travel as one compressed batch per partition.
fn produce_with(
    config: &consent_enricher::config::Config,
    codec: &str,
    records: &[(String, Vec<u8>)],
) {
    let p: BaseProducer<broker::Delivered> = client_config(&config.kafka, Role::Producer)
        .set("compression.type", codec)
        .set("linger.ms", "50")
        .create_with_context(broker::Delivered::default())
        .unwrap_or_else(|e| panic!("producer with compression.type={codec}: {e}"));
    for (k, v) in records {
        p.send(
            BaseRecord::to(&config.topics.raw)
                .key(k.as_bytes())
                .payload(v),
        )
        .map_err(|(e, _)| e)
        .expect("send");
        p.poll(Duration::ZERO);
    }
    if let Err(e) = broker::flush_delivered(&p, Duration::from_secs(30)) {
        panic!("records with compression.type={codec} not delivered: {e}");
    }
}

#[test]
fn every_compression_codec_is_read() {
    let _broker = broker::shared();
    let config = broker::config("codecs");
    let t = config.topics.clone();
    let worker = TestWorker::start(&config);
    let mut reader = Reader::new(&config);
    let mut ids = Vec::new();
    let mut bad = 0;
    for codec in CODECS {
        let mut batch: Vec<(String, Vec<u8>)> = (0..PER_BATCH)
            .map(|i| {
                let id = format!("{codec}-{i}");
                ids.push(id.clone());
                (format!("k-{i}"), event(&id))
            })
            .collect();
        // One invalid input inside the compressed batch: a dead letter, not a stall.
        batch.push((format!("bad-{codec}"), b"{not json".to_vec()));
        bad += 1;
        produce_with(&config, codec, &batch);
        let after: Vec<(String, Vec<u8>)> = (0..AFTER)
            .map(|i| {
                let id = format!("{codec}-after-{i}");
                ids.push(id.clone());
                (format!("k-{i}"), event(&id))
            })
            .collect();
        produce_with(&config, "none", &after);
    }
    let total = ids.len() + bad;
    reader.read_until("an output for every input", T, |r| {
        worker.assert_running();
        r.count(&t.anonymous) + r.count(&t.dead_letter) >= total
    });
    reader.drain(Duration::from_secs(2));
    worker.assert_running();
    let report = worker.stop();

    let pseudo = Pseudonymizer::new(support::KEY.as_bytes());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in reader.records.iter().filter(|r| r.topic == t.anonymous) {
        let v: Value = serde_json::from_slice(&r.value).unwrap();
        *seen
            .entry(v["event_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let mut per_codec = Vec::new();
    for codec in CODECS {
        let mine: Vec<&String> = ids
            .iter()
            .filter(|id| id.starts_with(&format!("{codec}-")))
            .collect();
        let once = mine
            .iter()
            .filter(|id| seen.get(&pseudo.pseudonym(id)) == Some(&1))
            .count();
        let dead: Vec<&str> = reader
            .records
            .iter()
            .filter(|r| {
                r.topic == t.dead_letter && r.key.as_deref() == Some(&format!("bad-{codec}"))
            })
            .map(|r| r.headers["dlq.reason"].as_str())
            .collect();
        per_codec.push(format!("{codec}={once}/{}+dlq{}", mine.len(), dead.len()));
        assert_eq!(once, mine.len(), "{codec}: every event exactly once");
        assert_eq!(
            dead,
            ["invalid_json"],
            "{codec}: the bad input one dead letter"
        );
    }
    println!(
        "codecs: inputs={total} anonymous={} dead_letters={} personal={} worker_raw={} ({})",
        reader.count(&t.anonymous),
        reader.count(&t.dead_letter),
        reader.count(&t.personal),
        report.counts.raw,
        per_codec.join(" ")
    );
    assert_eq!(reader.count(&t.anonymous), ids.len(), "no duplicates");
    assert_eq!(reader.count(&t.dead_letter), bad);
    assert_eq!(report.counts.raw, total as u64);
}

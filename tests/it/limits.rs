//! Record sizes against a real broker: inputs near and above the limits (a ~1 MB valid
//! event, a 1.5 MB event on a raw topic opened to 2 MiB, a 1.2 MB invalid input) each
//! give exactly one anonymous record or one bounded dead letter, the worker never stops,
//! and the ordinary events behind them are processed; an output topic that would refuse
//! what the worker may produce stops start-up with `topic_misconfigured`.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use consent_enricher::config::Config;
use consent_enricher::kafka::{EdgeError, Role, block_on, client_config, worker};
use consent_enricher::pipeline::DLQ_VALUE_PREFIX_BYTES;
use consent_enricher::state::State;
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord};

use crate::broker::{self, Reader, TestWorker};

const ORDINARY_PER_GAP: usize = 5;

fn ordinary(id: &str) -> Vec<u8> {
    format!(r#"{{"event_id":"{id}","event_type":"click","occurred_at":"2026-11-29T09:00:00Z"}}"#)
        .into_bytes()
}

/// A valid event of exactly `size` bytes (its `properties.note` pads it).
fn big_event(id: &str, size: usize) -> Vec<u8> {
    let head = format!(
        r#"{{"event_id":"{id}","event_type":"click","occurred_at":"2026-11-29T09:00:00Z","properties":{{"note":""#
    );
    let tail = r#""}}"#;
    let pad = size - head.len() - tail.len();
    let note = "lorem ipsum ".repeat(pad / 12 + 1);
    let mut v = head.into_bytes();
    v.extend_from_slice(&note.as_bytes()[..pad]);
    v.extend_from_slice(tail.as_bytes());
    assert_eq!(v.len(), size);
    v
}

fn set_topic_config(config: &Config, topic: &str, key: &str, value: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(&config.kafka, Role::Producer)
        .create()
        .expect("admin");
    let alter = AlterConfig::new(ResourceSpecifier::Topic(topic)).set(key, value);
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
    let res = block_on(admin.alter_configs(&[alter], &opts)).expect("alter configs");
    for r in res {
        r.expect("topic config altered");
    }
}

/// Produces keyed records with a producer allowed 3 MB records (the harness's producer
/// has librdkafka's 1,000,000-byte default).
fn produce_large(config: &Config, records: &[(String, Vec<u8>)]) {
    let p: BaseProducer<broker::Delivered> = client_config(&config.kafka, Role::Producer)
        .set("message.max.bytes", "3000000")
        .create_with_context(broker::Delivered::default())
        .expect("producer");
    for (k, v) in records {
        let r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&config.topics.raw)
            .key(k.as_bytes())
            .payload(v.as_slice());
        p.send(r).map_err(|(e, _)| e).expect("send");
        p.poll(Duration::ZERO);
    }
    if let Err(e) = broker::flush_delivered(&p, Duration::from_secs(60)) {
        panic!("large records not delivered: {e}");
    }
}

#[test]
fn inputs_at_and_above_the_size_limits_never_stop_the_worker() {
    let _broker = broker::shared();
    let config = broker::config_with_partitions("limits", 1);
    set_topic_config(&config, &config.topics.raw, "max.message.bytes", "2097152");
    let max_output = config.limits.max_output_bytes;

    let near_limit = big_event("big-valid", 1_000_000);
    let above_limit = big_event("big-too-large", 1_500_000);
    let mut invalid = vec![b'x'; 1_200_000];
    invalid[0] = b'{';
    let bigs: [(&str, &[u8]); 3] = [
        ("near-limit", &near_limit),
        ("above-limit", &above_limit),
        ("invalid", &invalid),
    ];
    let mut records = Vec::new();
    for (name, value) in bigs {
        records.push((name.to_string(), value.to_vec()));
        for i in 0..ORDINARY_PER_GAP {
            let id = format!("{name}-after-{i}");
            records.push((id.clone(), ordinary(&id)));
        }
    }
    let inputs = records.len();

    let w = TestWorker::start(&config);
    produce_large(&config, &records);
    let mut reader = Reader::new(&config);
    let t = config.topics.clone();
    reader.read_until("one output per input", Duration::from_secs(120), |r| {
        w.assert_running();
        r.count(&t.anonymous) + r.count(&t.dead_letter) >= inputs
    });
    reader.drain(Duration::from_secs(2));
    w.assert_running();

    let dead: Vec<_> = reader
        .records
        .iter()
        .filter(|o| o.topic == t.dead_letter)
        .collect();
    let anonymous = reader.count(&t.anonymous);
    assert_eq!(
        anonymous + dead.len(),
        inputs,
        "exactly one output per input"
    );
    let keys: Vec<_> = dead.iter().filter_map(|d| d.key.as_deref()).collect();
    for d in &dead {
        assert!(
            d.value.len() <= DLQ_VALUE_PREFIX_BYTES,
            "a bounded dead letter"
        );
        let digest = &d.headers["dlq.value.sha256"];
        assert!(
            digest.len() == 64
                && digest
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        assert_eq!(d.headers["dlq.value.truncated"], "true");
        let len = d.value.len()
            + d.key.as_ref().map_or(0, String::len)
            + d.headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        assert!(len <= max_output, "dead letter of {len} bytes");
    }
    for (name, value) in [("above-limit", &above_limit), ("invalid", &invalid)] {
        let d = dead
            .iter()
            .find(|d| d.key.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} dead-lettered"));
        assert_eq!(d.headers["dlq.reason"], "too_large");
        assert_eq!(d.headers["dlq.value.size"], value.len().to_string());
        assert_eq!(d.value, value[..DLQ_VALUE_PREFIX_BYTES]);
    }
    // The ~1 MB valid event: its anonymous record fits the default limit or it is one
    // output_too_large dead letter; either way exactly one record.
    let near = dead.iter().find(|d| d.key.as_deref() == Some("near-limit"));
    let near_outcome = match near {
        Some(d) => {
            assert_eq!(d.headers["dlq.reason"], "output_too_large");
            assert_eq!(d.headers["dlq.value.size"], near_limit.len().to_string());
            "output_too_large"
        }
        None => "anonymous",
    };
    assert_eq!(
        anonymous,
        3 * ORDINARY_PER_GAP + usize::from(near.is_none()),
        "every ordinary event processed"
    );
    assert!(
        !keys.iter().any(|k| k.contains("-after-")),
        "no ordinary event dead-lettered"
    );

    let report = w.stop();
    assert_eq!(report.counts.raw, inputs as u64);
    println!(
        "limits: inputs={inputs} anonymous={anonymous} dead_letters={} near_limit(1000000 B)={near_outcome} above_limit(1500000 B)=too_large invalid(1200000 B)=too_large worker_stopped_on_its_own=false",
        dead.len()
    );
}

#[test]
fn an_output_topic_that_would_refuse_outputs_stops_start_up() {
    let _broker = broker::shared();
    let config = broker::config_with_partitions("limits-topic", 1);
    set_topic_config(
        &config,
        &config.topics.anonymous,
        "max.message.bytes",
        "500000",
    );
    let core = Arc::new(consent_enricher::enrichment::core_without_geoip(&config).expect("core"));
    let state = Arc::new(State::for_outputs(&config.personal_outputs()));
    let metrics = Arc::new(consent_enricher::telemetry::Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let err = worker::run(&config, core, state, stop, metrics, || {})
        .expect_err("start-up refuses the topic");
    assert!(
        matches!(&err, EdgeError::TopicMisconfigured(m) if m.contains(&config.topics.anonymous) && m.contains("max.message.bytes=500000")),
        "{err}"
    );
    assert_eq!(err.exit_code(), 4);
    println!("limits: start-up refused: {err}");
}

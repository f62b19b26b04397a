//! Unit tests of `prometheus`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use std::time::Duration;

use super::*;
use crate::state::Sizes;

#[test]
fn catalogue_names_are_prefixed_unique_and_typed() {
    let mut names: Vec<&str> = CATALOGUE.iter().map(|d| d.name).collect();
    for d in CATALOGUE {
        assert!(d.name.starts_with("consent_enricher_"), "{}", d.name);
        assert_eq!(
            d.kind == Kind::Counter,
            d.name.ends_with("_total"),
            "{}",
            d.name
        );
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), CATALOGUE.len());
    let snap = snapshot(&Metrics::default());
    assert_eq!(
        snap.len(),
        CATALOGUE.len(),
        "every catalogued metric is rendered"
    );
    for f in snap {
        for s in &f.samples {
            let (Sample::Value { labels, .. } | Sample::Histogram { labels, .. }) = s;
            let names: Vec<&str> = labels.iter().map(|(k, _)| *k).collect();
            assert_eq!(names, f.doc.labels, "{}", f.doc.name);
        }
    }
}

#[test]
fn renders_counters_gauges_and_cumulative_histograms() {
    let m = Metrics::default();
    m.record_in(InTopic::Raw);
    m.records_out(OutTopic::DeadLetter, 2);
    m.delivered(Duration::from_millis(3));
    m.delivered(Duration::from_millis(30));
    m.txn(true, Duration::from_millis(2));
    m.txn(false, Duration::from_millis(2));
    m.lag(2, 17);
    m.state_sizes(Sizes {
        consents: 4,
        profiles: 5,
        erased: 1,
        future_dated: 2,
    });
    let text = render(&m);
    for line in [
        "consent_enricher_table_future_dated_total 2",
        "consent_enricher_records_in_total{topic=\"raw\"} 1",
        "consent_enricher_records_out_total{topic=\"dead_letter\"} 2",
        "consent_enricher_records_out_total{topic=\"personal\"} 0",
        "consent_enricher_dead_letters_total{reason=\"too_deep\"} 0",
        "consent_enricher_processing_latency_seconds_bucket{le=\"0.0025\"} 0",
        "consent_enricher_processing_latency_seconds_bucket{le=\"0.005\"} 1",
        "consent_enricher_processing_latency_seconds_bucket{le=\"0.05\"} 2",
        "consent_enricher_processing_latency_seconds_bucket{le=\"+Inf\"} 2",
        "consent_enricher_processing_latency_seconds_sum 0.033",
        "consent_enricher_processing_latency_seconds_count 2",
        "consent_enricher_transactions_total{outcome=\"abort\"} 1",
        "consent_enricher_consumer_lag{partition=\"2\"} 17",
        "consent_enricher_state_entries{table=\"profiles\"} 5",
        "consent_enricher_ready 0",
        "# TYPE consent_enricher_records_in_total counter",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
    m.ready.store(true, Ordering::SeqCst);
    m.tables_running.store(true, Ordering::SeqCst);
    assert!(render(&m).lines().any(|l| l == "consent_enricher_ready 1"));
    m.abort_streak(1, 4);
    let text = render(&m);
    assert!(
        text.lines()
            .any(|l| l == "consent_enricher_txn_abort_streak 4")
    );
    assert!(text.lines().any(|l| l == "consent_enricher_ready 0"));
}

#[test]
fn kafka_statistics_are_summed_per_client_role() {
    let m = Metrics::default();
    let doc = |name: &str, n: i64| {
        format!(
            r#"{{"name":"{name}","type":"producer","replyq":0,"msg_cnt":{n},"msg_size":{},"brokers":{{"b/1":{{"nodeid":1,"rtt":{{"avg":{},"cnt":1}}}}}}}}"#,
            n * 10,
            n * 1000
        )
    };
    m.kafka_stats("producer", doc("rdkafka#producer-1", 2).as_bytes());
    m.kafka_stats("producer", doc("rdkafka#producer-2", 3).as_bytes());
    m.kafka_stats("producer", doc("rdkafka#producer-2", 4).as_bytes());
    let text = render(&m);
    assert!(
        text.contains("consent_enricher_kafka_queue_messages{client=\"producer\"} 6\n"),
        "{text}"
    );
    assert!(text.contains("consent_enricher_kafka_queue_bytes{client=\"producer\"} 60\n"));
    assert!(text.contains(
        "consent_enricher_kafka_broker_rtt_seconds{client=\"producer\",broker=\"1\"} 0.004\n"
    ));
}

#[test]
fn decisions_are_counted_per_personal_output() {
    use crate::pipeline::{Outputs, PersonalOutcome, Produced};
    use crate::policy::Decision;
    let m = Metrics::default();
    m.name_outputs(&["product_analytics", "partner"]);
    let outcome = |decision| PersonalOutcome {
        decision,
        record: None,
    };
    let out = Outputs::Event {
        anonymous: Produced {
            key: None,
            value: b"{}".to_vec(),
        },
        personal: vec![
            outcome(Decision::Personal),
            outcome(Decision::PurposeNotGranted),
        ],
        user_id: None,
        misses: Vec::new(),
    };
    m.outputs(&out);
    m.outputs(&out);
    let text = render(&m);
    for line in [
        "consent_enricher_decisions_total{output=\"product_analytics\",decision=\"personal\"} 2",
        "consent_enricher_decisions_total{output=\"partner\",decision=\"purpose_not_granted\"} 2",
        "consent_enricher_decisions_total{output=\"partner\",decision=\"personal\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}\n{text}");
    }
}

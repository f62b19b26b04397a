//! `consent-enricher demo`: the zero-setup first run. Starts librdkafka's in-process
//! cluster, creates the topics, loads generated data, runs the real worker loop over it,
//! then prints what reached each topic: counts, an anonymous record next to its personal
//! twin, one record of each personal output of `examples/outputs.toml`, and dead-letter
//! reasons. Needs nothing but cargo; it is not a test of Kafka (the
//! integration tests use a real broker).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use serde_json::Value;

use consent_enricher::config::Config;
use consent_enricher::kafka::{load, worker};
use consent_enricher::policy::Pseudonymizer;
use consent_enricher::state::State;
use consent_enricher_gen::GenConfig;

const DEMO_KEY: &str = "demo-pseudonym-key-public-0123456789abcdef";

/// Runs the demo.
pub fn run(users: u64, events: u64) -> Result<()> {
    let mock = MockCluster::new(1).context("starting the in-process Kafka cluster")?;
    let mut config = demo_config()?;
    config.kafka.bootstrap_servers = mock.bootstrap_servers();
    config.kafka.group_id = "demo".into();
    config.pseudonym.key = DEMO_KEY.into();
    config.topics.partitions = 3;
    // Small batches keep the demo's output flowing in visible steps.
    config.delivery.batch_max_records = 200;
    for spec in consent_enricher::kafka::admin::contract_topics(&config) {
        let name = spec.name;
        mock.create_topic(&name, config.topics.partitions, 1)
            .with_context(|| format!("creating {name}"))?;
    }
    let cfg = GenConfig {
        users,
        events,
        ..GenConfig::default()
    };
    let expected = consent_enricher_gen::summary(&cfg);
    load::produce_generated(&config, &cfg)?;

    let core = Arc::new(crate::cli::build_core(&config)?.0);
    let state = Arc::new(
        State::for_outputs(&config.personal_outputs())
            .with_max_clock_skew_ms(config.max_clock_skew_ms()),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (config, stop) = (config.clone(), Arc::clone(&stop));
        let metrics = Arc::new(consent_enricher::telemetry::Metrics::default());
        std::thread::spawn(move || worker::run(&config, core, state, stop, metrics, || {}))
    };
    let seen = read_outputs(&config, events, &worker)?;
    stop.store(true, Ordering::SeqCst);
    let report = worker
        .join()
        .map_err(|_| anyhow::anyhow!("the worker thread panicked"))??;
    print_summary(&config, &seen, &report, &expected);
    Ok(())
}

/// The personal outputs the demo shows: those of `examples/outputs.toml`, the file the
/// README shows and the tests check, so what a new user sees is what is documented.
const DEMO_OUTPUTS: &str = include_str!("../examples/outputs.toml");

fn demo_config() -> Result<Config> {
    let config: Config =
        toml::from_str(DEMO_OUTPUTS).context("reading the demo's personal outputs")?;
    config.validate().context("the demo's personal outputs")?;
    Ok(config)
}

#[derive(Default)]
struct Seen {
    counts: BTreeMap<String, u64>,
    anonymous: Vec<Value>,
    /// Up to 50 records per personal output topic.
    personal: BTreeMap<String, Vec<Value>>,
    reasons: BTreeMap<String, u64>,
}

/// Reads the output topics until every raw event is accounted for (anonymous + dead
/// letter), or 60 s pass.
fn read_outputs(
    config: &Config,
    events: u64,
    worker: &std::thread::JoinHandle<Result<worker::Report, consent_enricher::kafka::EdgeError>>,
) -> Result<Seen> {
    let t = &config.topics;
    let consumer: BaseConsumer = consent_enricher::kafka::client_config(
        &config.kafka,
        consent_enricher::kafka::Role::Consumer,
    )
    .set("group.id", "demo-reader")
    .set("auto.offset.reset", "earliest")
    .set("isolation.level", "read_committed")
    .create()?;
    let personal: Vec<String> = config
        .personal_outputs()
        .into_iter()
        .map(|o| o.topic)
        .collect();
    let mut topics: Vec<&str> = vec![&t.anonymous, &t.dead_letter, &t.audit];
    topics.extend(personal.iter().map(String::as_str));
    consumer.subscribe(&topics)?;
    let mut seen = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut idle_since = Instant::now();
    while Instant::now() < deadline && !worker.is_finished() {
        let done = seen.counts.get(&t.anonymous).copied().unwrap_or(0)
            + seen.counts.get(&t.dead_letter).copied().unwrap_or(0);
        // Personal and audit records may trail the last anonymous one: read until quiet.
        if done >= events && idle_since.elapsed() > Duration::from_secs(1) {
            break;
        }
        let Some(msg) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        idle_since = Instant::now();
        let msg = msg?;
        *seen.counts.entry(msg.topic().to_string()).or_default() += 1;
        let value = || {
            msg.payload()
                .and_then(|p| serde_json::from_slice::<Value>(p).ok())
        };
        if msg.topic() == t.anonymous {
            seen.anonymous.extend(value());
        } else if personal.iter().any(|p| p == msg.topic()) {
            let kept = seen.personal.entry(msg.topic().to_string()).or_default();
            if kept.len() < 50 {
                kept.extend(value());
            }
        } else if msg.topic() == t.dead_letter {
            let reason = msg
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "dlq.reason"))
                .and_then(|h| h.value)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            *seen.reasons.entry(reason).or_default() += 1;
        }
    }
    Ok(seen)
}

fn print_summary(
    config: &Config,
    seen: &Seen,
    report: &worker::Report,
    expected: &consent_enricher_gen::GenSummary,
) {
    println!("\n=== consent-enricher demo (in-process Kafka cluster) ===\n");
    println!("raw events processed by the worker: {}", report.counts.raw);
    for (topic, n) in &seen.counts {
        println!("  {topic:<20} {n}");
    }
    println!(
        "expected from the generator: {} anonymous, {} with analytics consent, {} dead letters",
        expected.events - expected.malformed,
        expected.expected_personal,
        expected.malformed
    );
    let outputs = config.personal_outputs();
    println!("\npersonal outputs (examples/outputs.toml), decisions per output:");
    for (o, n) in outputs.iter().zip(&report.counts.outputs) {
        let purposes: Vec<&str> = o.purposes.iter().map(|p| p.name()).collect();
        println!(
            "  {:<18} needs {:<22} {:>5} records  {:?}",
            o.name,
            purposes.join("+"),
            n.records,
            n.decisions
        );
    }
    println!("\ndead-letter reasons:");
    for (r, n) in &seen.reasons {
        println!("  {r:<20} {n}");
    }
    let pseudo = Pseudonymizer::new(DEMO_KEY.as_bytes());
    let first = outputs.first().and_then(|o| seen.personal.get(&o.topic));
    let twin = first.into_iter().flatten().find_map(|p| {
        let id = p["event_id"].as_str()?;
        let hashed = pseudo.pseudonym(id);
        let anon = seen
            .anonymous
            .iter()
            .find(|a| a["event_id"] == hashed.as_str())?;
        Some((p, anon))
    });
    if let (Some((p, a)), Some(o)) = (twin, outputs.first()) {
        println!("\n--- a personal record of {} ({}) ---", o.name, o.topic);
        println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
        println!(
            "\n--- its anonymous twin ({}): same event, identifiers stripped ---",
            config.topics.anonymous
        );
        println!("{}", serde_json::to_string_pretty(a).unwrap_or_default());
    }
    for o in outputs.iter().skip(1) {
        let Some(p) = seen.personal.get(&o.topic).and_then(|v| v.first()) else {
            println!(
                "\n--- {} ({}): no record (no user granted its purposes) ---",
                o.name, o.topic
            );
            continue;
        };
        println!(
            "\n--- a personal record of {} ({}): only what that use needs ---",
            o.name, o.topic
        );
        println!("{}", serde_json::to_string_pretty(p).unwrap_or_default());
    }
    if let Some(a) = seen.anonymous.iter().find(|a| {
        let p = a["properties"].to_string();
        ["[email]", "[phone]", "[card]", "[id]", "[ip]"]
            .iter()
            .any(|m| p.contains(m))
    }) {
        println!("\n--- an anonymous record whose free text was scrubbed ---");
        println!("{}", serde_json::to_string_pretty(a).unwrap_or_default());
    }
}

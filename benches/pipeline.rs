//! Core benchmark (`cargo bench --bench pipeline`): the pure `Core::process` against the
//! `serde_json::Value` round-trip floor, and each stage alone, over one fixed corpus from
//! `consent_enricher_gen` (seed 7, ≈1 KB events: 60% identified of whom half consented,
//! 30% with an IP, 10% with a device location, 1% malformed), a `State` with 100k users
//! loaded from its `state_records`, and the DB-IP-layout fixture database written by
//! `mmdb_writer`; `process_with_network` adds ip-location-db's IP-to-ASN files (the real
//! ones in `data/network` when `scripts/fetch-geoip asn` ran, else `testdata`'s fixture)
//! and `process_with_visits` the daily visit pseudonym.
//!
//! It owns only measurement: it must not assert on timings (the machine is shared), and
//! it touches nothing outside a temporary folder for the fixture `.mmdb` files. After the
//! criterion groups it prints a summary (events/s per core, the process/floor ratio)
//! from criterion's own median estimates in `target/criterion`.

// A benchmark that cannot set up its fixture has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use consent_enricher::config::Config;
use consent_enricher::enrich::{self, Enricher, agent, local_time};
use consent_enricher::model::{ConsentRecord, ErasureRequest, ProfileRecord, RawEvent};
use consent_enricher::pipeline::{Core, RawRecord, Source};
use consent_enricher::policy::{Policy, Pseudonymizer, VisitSource};
use consent_enricher::state::State;
use consent_enricher_gen::{GenConfig, GenTopic};
use consent_enricher_testkit::mmdb_writer::{self, Layout};
use criterion::{Criterion, Throughput};

/// The binary's allocator (src/main.rs), so that `process` and the floor are timed as the
/// worker runs them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Events in the corpus; each criterion iteration runs the whole corpus once.
const CORPUS: u64 = 2_000;
/// Users whose consents and profiles are loaded.
const USERS: u64 = 100_000;
const KEY: &str = "bench-pseudonym-key-0123456789abcdef";

fn gen_config() -> GenConfig {
    GenConfig {
        seed: 7,
        users: USERS,
        events: CORPUS,
        identified_share: 0.6,
        // Half of the identified users consented; the rest deny (no withdrawals or
        // erasures, so "half consented" holds for the final state too).
        consent_granted: 0.5,
        consent_denied: 0.5,
        consent_withdrawn: 0.0,
        erased: 0.0,
        ip_share: 0.3,
        device_location_share: 0.1,
        malformed: 0.01,
        ..GenConfig::default()
    }
}

struct Fixture {
    core: Core,
    /// With the network files (`network_precision = "organization"`).
    network_core: Core,
    /// With `anonymous_visits = "daily"`.
    visits_core: Core,
    network_enricher: Arc<Enricher>,
    network_files: String,
    /// The core and tables of `examples/outputs.toml` (three personal outputs).
    outputs_core: Core,
    outputs_state: State,
    policy: Policy,
    enricher: Arc<Enricher>,
    state: State,
    corpus: Vec<Vec<u8>>,
    max_bytes: usize,
    now: DateTime<Utc>,
    _dir: TempDir,
}

/// A folder removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Applies the generator's table records for `cfg` to `state`.
fn load_state(state: &State, cfg: &GenConfig) {
    for rec in consent_enricher_gen::state_records(cfg) {
        let key = rec.key.expect("state records are keyed");
        match (rec.topic, rec.value) {
            (GenTopic::Consent, v) => {
                let r: Option<ConsentRecord> =
                    v.map(|v| serde_json::from_slice(&v).expect("consent"));
                state.apply_consent(&key, r.as_ref());
            }
            (GenTopic::Profile, v) => {
                let r = v
                    .as_deref()
                    .map(|v| ProfileRecord::parse(v).expect("profile"));
                state.apply_profile(&key, r.as_ref());
            }
            (GenTopic::Erasure, Some(v)) => {
                let r: ErasureRequest = serde_json::from_slice(&v).expect("erasure");
                state.apply_erasure(&r);
            }
            _ => {}
        }
    }
}

fn fixture() -> Fixture {
    let dir = std::env::temp_dir().join(format!("consent-enricher-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let dir = TempDir(dir);
    let paths = mmdb_writer::write_fixture(Layout::DbIpCityLite, &dir.0).expect("fixture mmdb");
    let enricher = Arc::new(
        consent_enricher::enrichment::open(&paths, &[])
            .expect("fixture opens")
            .0,
    );
    // The real IP-to-ASN files when `scripts/fetch-geoip asn` ran, else the fixture.
    let real: Vec<PathBuf> = ["asn-ipv4.csv", "asn-ipv6.csv"]
        .iter()
        .map(|f| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/data/network")).join(f))
        .filter(|p| p.exists())
        .collect();
    let networks = if real.is_empty() {
        let testdata = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"));
        vec![
            testdata.join("network-asn.csv"),
            testdata.join("network-asn-ipv6.csv"),
        ]
    } else {
        real
    };
    let network_enricher = Arc::new(
        consent_enricher::enrichment::open(&paths, &networks)
            .expect("network files open")
            .0,
    );
    let mut config = Config::default();
    config.pseudonym.key = KEY.into();
    let core = consent_enricher::enrichment::core(&config, Arc::clone(&enricher)).expect("core");
    let mut network_config = config.clone();
    network_config.policy.network_precision =
        consent_enricher::config::NetworkPrecision::Organization;
    let network_core =
        consent_enricher::enrichment::core(&network_config, Arc::clone(&network_enricher))
            .expect("core");
    let mut visits_config = config.clone();
    visits_config.policy.anonymous_visits = consent_enricher::config::AnonymousVisits::Daily;
    let visits_core =
        consent_enricher::enrichment::core(&visits_config, Arc::clone(&enricher)).expect("core");
    let policy = Policy::new(
        config.policy.clone(),
        &config.personal_outputs(),
        KEY.as_bytes(),
    );
    let state = State::for_outputs(&config.personal_outputs());
    let cfg = gen_config();
    load_state(&state, &cfg);
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/outputs.toml");
    let mut outputs_config =
        Config::load(Some(std::path::Path::new(examples)), []).expect("examples/outputs.toml");
    outputs_config.pseudonym.key = KEY.into();
    let outputs_core =
        consent_enricher::enrichment::core(&outputs_config, Arc::clone(&enricher)).expect("core");
    let outputs_state = State::for_outputs(&outputs_config.personal_outputs());
    load_state(&outputs_state, &cfg);
    let corpus: Vec<Vec<u8>> = consent_enricher_gen::events(&cfg)
        .map(|r| r.value.unwrap_or_default())
        .collect();
    Fixture {
        core,
        network_core,
        visits_core,
        network_files: network_enricher.networks().describe(),
        network_enricher,
        outputs_core,
        outputs_state,
        policy,
        enricher,
        state,
        corpus,
        max_bytes: config.limits.max_event_bytes,
        now: DateTime::from_timestamp_millis(consent_enricher_gen::DEFAULT_START_MS).expect("time"),
        _dir: dir,
    }
}

fn record(value: &[u8]) -> RawRecord<'_> {
    RawRecord {
        key: None,
        value: Some(value),
        source: Source {
            topic: "usage.raw",
            partition: 0,
            offset: 0,
        },
    }
}

fn benches(c: &mut Criterion, f: &Fixture) {
    let n = f.corpus.len() as u64;
    let events: Vec<RawEvent<'_>> = f
        .corpus
        .iter()
        .filter_map(|v| RawEvent::parse(v, f.max_bytes).ok())
        .collect();
    let valid = events.len() as u64;
    let enrichments: Vec<enrich::Enrichment> = events
        .iter()
        .map(|e| enrich::enrich(e, &f.enricher))
        .collect();
    let ips: Vec<_> = events.iter().filter_map(|e| e.ip).collect();
    let coords: Vec<_> = events
        .iter()
        .filter_map(|e| {
            e.location
                .filter(|l| l.is_valid())
                .map(|l| (l, e.occurred_at))
        })
        .collect();
    let agents: Vec<&str> = events
        .iter()
        .filter_map(|e| e.user_agent.as_deref())
        .collect();
    let processed_at = "2026-11-01T00:00:00.000Z";
    let verdicts: Vec<_> = events
        .iter()
        .map(|e| f.policy.decide(e, &f.state))
        .collect();
    let built: Vec<_> = events
        .iter()
        .zip(&verdicts)
        .zip(&enrichments)
        .map(|((e, v), en)| {
            (
                f.policy.anonymous(e, v, en, processed_at),
                f.policy.personal(e, v, 0, &f.state, en, processed_at),
            )
        })
        .collect();
    let hits = ips
        .iter()
        .filter(|ip| f.enricher.geoip().lookup(**ip).is_ok())
        .count();
    let personal = built.iter().filter(|b| b.1.is_some()).count();
    let network_hits = ips
        .iter()
        .filter(|ip| f.network_enricher.networks().lookup(**ip).is_ok())
        .count();
    eprintln!(
        "{} ({network_hits} of the corpus' addresses found)",
        f.network_files
    );
    eprintln!(
        "corpus: {n} events, {} bytes avg, {valid} valid, {personal} personal; {} with IP \
         ({hits} found in the fixture database), {} with device location, {} with user agent",
        f.corpus.iter().map(Vec::len).sum::<usize>() as u64 / n,
        ips.len(),
        coords.len(),
        agents.len()
    );

    let mut g = c.benchmark_group("pipeline");
    g.sample_size(30)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));

    g.throughput(Throughput::Elements(n));
    g.bench_function("floor_value_roundtrip", |b| {
        b.iter(|| {
            for v in &f.corpus {
                if let Ok(val) = serde_json::from_slice::<serde_json::Value>(v) {
                    black_box(serde_json::to_vec(&val).ok());
                }
            }
        })
    });
    g.bench_function("process", |b| {
        b.iter(|| {
            for v in &f.corpus {
                black_box(f.core.process(&record(v), &f.state, f.now));
            }
        })
    });
    g.bench_function("process_with_network", |b| {
        b.iter(|| {
            for v in &f.corpus {
                black_box(f.network_core.process(&record(v), &f.state, f.now));
            }
        })
    });
    g.bench_function("process_with_visits", |b| {
        b.iter(|| {
            for v in &f.corpus {
                black_box(f.visits_core.process(&record(v), &f.state, f.now));
            }
        })
    });
    g.bench_function("process_example_outputs", |b| {
        b.iter(|| {
            for v in &f.corpus {
                black_box(f.outputs_core.process(&record(v), &f.outputs_state, f.now));
            }
        })
    });
    g.bench_function("stage_parse_validate", |b| {
        b.iter(|| {
            for v in &f.corpus {
                black_box(RawEvent::parse(v, f.max_bytes).ok());
            }
        })
    });

    g.throughput(Throughput::Elements(valid));
    g.bench_function("stage_policy_build", |b| {
        b.iter(|| {
            for (e, en) in events.iter().zip(&enrichments) {
                let v = f.policy.decide(e, &f.state);
                black_box(f.policy.anonymous(e, &v, en, processed_at));
                black_box(f.policy.personal(e, &v, 0, &f.state, en, processed_at));
            }
        })
    });
    g.bench_function("stage_enrich_all", |b| {
        b.iter(|| {
            for e in &events {
                black_box(enrich::enrich(e, &f.enricher));
            }
        })
    });
    g.bench_function("stage_serialize", |b| {
        b.iter(|| {
            for (a, p) in &built {
                black_box(serde_json::to_vec(a).ok());
                if let Some(p) = p {
                    black_box(serde_json::to_vec(p).ok());
                }
            }
        })
    });

    g.throughput(Throughput::Elements(ips.len() as u64));
    g.bench_function("stage_geoip_lookup", |b| {
        b.iter(|| {
            for ip in &ips {
                black_box(f.enricher.geoip().lookup(*ip).ok());
            }
        })
    });
    g.bench_function("stage_network_lookup", |b| {
        b.iter(|| {
            for ip in &ips {
                black_box(f.network_enricher.networks().lookup(*ip).ok());
            }
        })
    });
    let sessions: Vec<(i64, &str)> = events
        .iter()
        .filter_map(|e| {
            let day = e.occurred_at.timestamp().div_euclid(86_400);
            e.session_id.as_deref().map(|s| (day, s))
        })
        .collect();
    let visits = Pseudonymizer::new(KEY.as_bytes()).derive("consent-enricher visit key v1");
    g.throughput(Throughput::Elements(sessions.len() as u64));
    g.bench_function("stage_visit_pseudonym", |b| {
        b.iter(|| {
            for (day, s) in &sessions {
                black_box(visits.visit(*day, VisitSource::Session, s));
            }
        })
    });
    g.throughput(Throughput::Elements(coords.len() as u64));
    g.bench_function("stage_timezone", |b| {
        b.iter(|| {
            for (l, at) in &coords {
                if let Some(z) = f.enricher.zones().zone_at(l.lat, l.lon) {
                    black_box(local_time(z, *at));
                }
            }
        })
    });
    g.throughput(Throughput::Elements(agents.len() as u64));
    g.bench_function("stage_agent_parse", |b| {
        b.iter(|| {
            for ua in &agents {
                black_box(agent::parse(ua));
            }
        })
    });
    g.finish();
    telemetry(c, f);

    paired_ratio(f);
    summary(&[
        ("floor_value_roundtrip", n, n),
        ("process", n, n),
        ("process_with_network", n, n),
        ("process_with_visits", n, n),
        ("stage_parse_validate", n, n),
        ("stage_policy_build", valid, n),
        ("stage_enrich_all", valid, n),
        ("stage_serialize", valid, n),
        ("stage_geoip_lookup", ips.len() as u64, n),
        ("stage_network_lookup", ips.len() as u64, n),
        ("stage_visit_pseudonym", sessions.len() as u64, n),
        ("stage_timezone", coords.len() as u64, n),
        ("stage_agent_parse", agents.len() as u64, n),
    ]);
}

/// What the worker's telemetry costs per record on the hot path, tracer off (the
/// default without an OTLP endpoint): counting the input, the core's decisions and misses,
/// the outputs acknowledged, and the latency observation — over the corpus's own outputs.
fn telemetry(c: &mut Criterion, f: &Fixture) {
    use consent_enricher::telemetry::{AttrValue, InTopic, Metrics, OutTopic};
    let outs: Vec<_> = f
        .corpus
        .iter()
        .map(|v| f.core.process(&record(v), &f.state, f.now))
        .collect();
    let metrics = Metrics::default();
    let per_record = |metrics: &Metrics| {
        for out in &outs {
            metrics.record_in(InTopic::Raw);
            metrics.outputs(black_box(out));
            metrics.records_out(OutTopic::Anonymous, 1);
            metrics.delivered(Duration::from_micros(700));
        }
    };
    let mut g = c.benchmark_group("telemetry");
    g.throughput(Throughput::Elements(outs.len() as u64));
    g.bench_function("per_record", |b| b.iter(|| per_record(&metrics)));
    // The same with OTLP metrics on: each latency observation is also recorded in the
    // SDK's histogram. The endpoint is never reached within the bench (the reader exports
    // every 60 s; a failure there is counted, not retried).
    let with_otlp = std::sync::Arc::new(Metrics::default());
    let cfg = consent_enricher::config::TelemetryConfig {
        otlp_endpoint: "http://127.0.0.1:9".into(),
        ..Default::default()
    };
    let rt = consent_enricher::telemetry::runtime().expect("the telemetry runtime");
    let exporter = consent_enricher::telemetry::otlp::start(&cfg, &with_otlp, rt, |_| None)
        .expect("an OTLP exporter");
    g.bench_function("per_record_otlp_on", |b| b.iter(|| per_record(&with_otlp)));
    drop(exporter);
    // One span per record as the worker records them with OTLP on, at the default ratio
    // (1 %): the sampler's decision, and for the sampled few the SDK's span, ended into a
    // provider without an exporter.
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(0.01))
        .build();
    metrics
        .tracer
        .enable(opentelemetry::trace::TracerProvider::tracer(
            &provider, "bench",
        ));
    let attrs = [
        ("messaging.kafka.partition", AttrValue::Int(3)),
        ("messaging.kafka.offset", AttrValue::Int(123_456)),
        ("consent_enricher.decision", AttrValue::Code("no_consent")),
    ];
    g.throughput(Throughput::Elements(1));
    g.bench_function("span_at_1_percent", |b| {
        b.iter(|| {
            let now = std::time::SystemTime::now();
            metrics.tracer.record_span(
                None,
                "consent-enricher process",
                now,
                now,
                black_box(&attrs),
            );
        })
    });
    g.finish();
}

/// process / floor measured back to back, round after round, so that a noisy neighbour
/// slows both sides of each ratio alike; prints the median of the per-round ratios.
fn paired_ratio(f: &Fixture) {
    const ROUNDS: usize = 41;
    let mut ratios = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let t = std::time::Instant::now();
        for v in &f.corpus {
            if let Ok(val) = serde_json::from_slice::<serde_json::Value>(v) {
                black_box(serde_json::to_vec(&val).ok());
            }
        }
        let floor = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        for v in &f.corpus {
            black_box(f.core.process(&record(v), &f.state, f.now));
        }
        ratios.push(t.elapsed().as_secs_f64() / floor);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "\npaired process / floor over {ROUNDS} back-to-back rounds: median {:.2} (min {:.2}, max {:.2})",
        ratios[ROUNDS / 2],
        ratios[0],
        ratios[ROUNDS - 1]
    );
}

/// criterion's median of one benchmark (nanoseconds per iteration), from its own files.
fn median_ns(name: &str) -> Option<f64> {
    let base = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR").map(|t| PathBuf::from(t).join("criterion"))
        })
        .unwrap_or_else(|| PathBuf::from("target/criterion"));
    let text = std::fs::read_to_string(base.join("pipeline").join(name).join("new/estimates.json"))
        .ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["median"]["point_estimate"].as_f64()
}

/// Prints per-item and per-event medians, events/s per core and process / floor.
fn summary(rows: &[(&str, u64, u64)]) {
    println!("\nsummary (criterion medians; one thread = one core)");
    println!(
        "{:<24} {:>8} {:>12} {:>14} {:>14}",
        "benchmark", "items", "ns/item", "ns/event", "events/s"
    );
    let mut per_event = std::collections::HashMap::new();
    for (name, items, events) in rows {
        let Some(ns) = median_ns(name) else {
            println!("{name:<24} (no estimate: filtered out?)");
            continue;
        };
        let per_item = ns / (*items).max(1) as f64;
        let per_ev = ns / *events as f64;
        per_event.insert(*name, per_ev);
        println!(
            "{name:<24} {items:>8} {per_item:>12.0} {per_ev:>14.0} {:>14.0}",
            1e9 / per_ev
        );
    }
    if let (Some(p), Some(fl)) = (
        per_event.get("process"),
        per_event.get("floor_value_roundtrip"),
    ) {
        println!(
            "process / floor = {:.2}  (must <= 2.0: {}; goal <= 1.0: {})",
            p / fl,
            if p / fl <= 2.0 { "met" } else { "MISSED" },
            if p / fl <= 1.0 { "met" } else { "missed" }
        );
    }
}

fn main() {
    let f = fixture();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &f);
    c.final_summary();
}

//! `consent-enricher demo`: the zero-setup first run. Starts librdkafka's in-process
//! cluster, creates the topics, loads generated data, runs the real worker loop over it,
//! then prints what reached each topic: counts, an anonymous record next to its personal
//! twin, one record of each personal output of `examples/outputs.toml`, and dead-letter
//! reasons. Needs nothing but cargo: without a fetched geoip database it builds a small one
//! for the generator's addresses, so IP location and time zone show too. It is not a test
//! of Kafka (the integration tests use a real broker).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use serde_json::Value;

use consent_enricher::config::{AnonymousVisits, Config, NetworkPrecision};
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

    let geo = DemoGeo::choose(&mut config)?;
    let _network = demo_network(&mut config)?;
    // The demo shows what analytics can opt into: the network's name and visits.
    config.policy.network_precision = NetworkPrecision::Organization;
    config.policy.anonymous_visits = AnonymousVisits::Daily;
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
    println!("\n{}", geo.describe(&seen.anonymous));
    println!("{}", describe_network_and_visits(&config, &seen.anonymous));
    Ok(())
}

/// Where the demo's IP locations come from.
enum DemoGeo {
    /// The configured or fetched databases (`cli::geoip_paths`).
    Real(Vec<PathBuf>),
    /// [`demo_geoip_database`]'s, in a directory removed when the demo ends (the core
    /// read the file into memory at start); held only for that.
    Built { _dir: RemoveOnDrop },
}

/// A directory of our own, removed with its contents when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the temp dir harms nothing.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl DemoGeo {
    /// The real databases when there are any, so a user who ran `scripts/fetch-geoip`
    /// sees real locations; else a demo database, pointed at by `enrich.geoip`. Without
    /// one, `geo` would be null on every record and `time` on all but the few with a
    /// device location: half of what the worker adds would not show.
    fn choose(config: &mut Config) -> Result<DemoGeo> {
        let real = crate::cli::geoip_paths(config);
        if !real.is_empty() {
            return Ok(DemoGeo::Real(real));
        }
        let dir = RemoveOnDrop(
            std::env::temp_dir().join(format!("consent-enricher-demo-{}", std::process::id())),
        );
        std::fs::create_dir_all(&dir.0).with_context(|| format!("creating {}", dir.0.display()))?;
        config.enrich.geoip = vec![demo_geoip_database(&dir.0)?];
        Ok(DemoGeo::Built { _dir: dir })
    }

    /// The line that says where `geo` came from, and how many records it located.
    fn describe(&self, anonymous: &[Value]) -> String {
        let located = anonymous.iter().filter(|a| a["geo"].is_object()).count();
        let share = format!("{located} of {} anonymous records located", anonymous.len());
        match self {
            DemoGeo::Real(paths) => {
                let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                format!("geo: from {} ({share})", paths.join(", "))
            }
            DemoGeo::Built { .. } => format!(
                "geo: from a demo database built at start from the generator's tables \
                 (crates/gen/data: each address block placed in a city of its country, not \
                 real locations; {share}); for real data run scripts/fetch-geoip"
            ),
        }
    }
}

/// Writes a MaxMind City-layout database covering every address the generator gives a
/// person (`consent_enricher_gen::client_networks`; crawlers stay unlocated) into `dir`.
/// City-level records with coordinates, so the core derives the time zone from them too.
fn demo_geoip_database(dir: &Path) -> Result<PathBuf> {
    use consent_enricher_mmdb_writer::{Value as Mm, Writer};
    let built = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // One IPv6 tree holding both families, as GeoLite2-City ships.
    let mut w = Writer::new(6, 28, "consent-enricher-demo-City", built)
        .with_description("consent-enricher demo: made-up locations for generated addresses");
    let degrees = |micro: i32| Mm::Double(f64::from(micro) / 1e6);
    for n in consent_enricher_gen::client_networks() {
        let names = |en: &str| Mm::map([("names", Mm::map([("en", Mm::str(en))]))]);
        let record = Mm::map([
            ("country", Mm::map([("iso_code", Mm::str(n.country))])),
            ("subdivisions", Mm::Array(vec![names(n.region)])),
            ("city", names(n.city)),
            (
                "location",
                Mm::map([
                    ("latitude", degrees(n.lat_micro)),
                    ("longitude", degrees(n.lon_micro)),
                ]),
            ),
        ]);
        w.insert(n.addr, n.prefix_len, &record);
    }
    let path = dir.join("demo-city.mmdb");
    w.write(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The demo's network data: the configured or fetched files (`cli::network_paths`), else
/// [`demo_network_file`]'s, in a directory removed when the demo ends.
fn demo_network(config: &mut Config) -> Result<Option<RemoveOnDrop>> {
    if !crate::cli::network_paths(config).is_empty() {
        return Ok(None);
    }
    let dir = RemoveOnDrop(
        std::env::temp_dir().join(format!("consent-enricher-demo-asn-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).with_context(|| format!("creating {}", dir.0.display()))?;
    config.enrich.network = vec![demo_network_file(&dir.0)?];
    Ok(Some(dir))
}

/// Writes an IP-to-ASN file in ip-location-db's CSV layout covering every block the
/// generator gives a person, one made-up ISP per country, numbered from the private-use
/// AS range (64512 on), so nothing in it passes for a real network.
fn demo_network_file(dir: &Path) -> Result<PathBuf> {
    use std::fmt::Write as _;
    let mut csv = String::from(
        "ip_range_start,ip_range_end,autonomous_system_number,autonomous_system_organization\n",
    );
    let mut countries: Vec<&str> = Vec::new();
    for n in consent_enricher_gen::client_networks() {
        let at = match countries.iter().position(|c| *c == n.country) {
            Some(at) => at,
            None => {
                countries.push(n.country);
                countries.len() - 1
            }
        };
        let (start, end) = match n.addr {
            std::net::IpAddr::V4(a) => {
                let host = u32::MAX.checked_shr(u32::from(n.prefix_len)).unwrap_or(0);
                let b = std::net::Ipv4Addr::from(u32::from(a) | host);
                (a.to_string(), b.to_string())
            }
            std::net::IpAddr::V6(a) => {
                let host = u128::MAX.checked_shr(u32::from(n.prefix_len)).unwrap_or(0);
                let b = std::net::Ipv6Addr::from(u128::from(a) | host);
                (a.to_string(), b.to_string())
            }
        };
        let _ = writeln!(csv, "{start},{end},{},Demo ISP {}", 64512 + at, n.country);
    }
    let path = dir.join("demo-asn.csv");
    std::fs::write(&path, csv).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The lines that say what `network` and `visit` showed.
fn describe_network_and_visits(config: &Config, anonymous: &[Value]) -> String {
    let named = anonymous
        .iter()
        .filter(|a| a["network"].is_object())
        .count();
    let source = match config.enrich.network.first() {
        Some(p) if p.ends_with("demo-asn.csv") => {
            "a demo file of made-up ISPs (AS 64512 on) built \
             from the generator's address blocks; for real data run scripts/fetch-geoip asn"
                .to_string()
        }
        _ => {
            let paths = crate::cli::network_paths(config);
            let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            paths.join(", ")
        }
    };
    let mut visits: BTreeMap<&str, u64> = BTreeMap::new();
    for a in anonymous {
        if let Some(v) = a["visit"].as_str() {
            *visits.entry(v).or_default() += 1;
        }
    }
    let linked: u64 = visits.values().sum();
    format!(
        "network: from {source} ({named} of {} anonymous records name theirs, \
         policy.network_precision = \"organization\")\n\
         visit: {linked} anonymous records in {} visits (policy.anonymous_visits = \"daily\": \
         one session's events on one UTC day share a visit; nothing links visits)",
        anonymous.len(),
        visits.len()
    )
}

/// `records` with those showing the enrichment (IP location and time zone) first, each
/// group in arrival order: the printed samples should show what the worker adds.
fn enriched_first<'a>(records: impl IntoIterator<Item = &'a Value>) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = records.into_iter().collect();
    v.sort_by_key(|r| !(r["geo"].is_object() && r["time"].is_object()));
    v
}

/// The record to print of `records`: the first showing the enrichment, else the first.
fn sample<'a>(records: impl IntoIterator<Item = &'a Value>) -> Option<&'a Value> {
    enriched_first(records).first().copied()
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
    let personal = config.personal_topics();
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
    let first = (outputs.first().and_then(|o| seen.personal.get(&o.topic))).map(enriched_first);
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
        let Some(p) = seen.personal.get(&o.topic).and_then(sample) else {
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
    if let Some(a) = sample(seen.anonymous.iter().filter(|a| {
        let p = a["properties"].to_string();
        ["[email]", "[phone]", "[card]", "[id]", "[ip]"]
            .iter()
            .any(|m| p.contains(m))
    })) {
        println!("\n--- an anonymous record whose free text was scrubbed ---");
        println!("{}", serde_json::to_string_pretty(a).unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use consent_enricher::enrich::enrich;
    use consent_enricher::model::RawEvent;

    /// The demo database gives a person's generated address a city and, from its
    /// coordinates, a time zone: what the demo's printed records rely on.
    #[test]
    fn the_demo_database_locates_generated_addresses_with_a_zone() {
        let dir = RemoveOnDrop(
            std::env::temp_dir().join(format!("demo-geoip-test-{}", std::process::id())),
        );
        std::fs::create_dir_all(&dir.0).unwrap();
        let path = demo_geoip_database(&dir.0).unwrap();
        let network = demo_network_file(&dir.0).unwrap();
        let (enricher, _) = consent_enricher::enrichment::open(&[path], &[network]).unwrap();
        let cfg = GenConfig {
            users: 100,
            events: 1_000,
            ip_share: 1.0,
            // Without a device location the zone can only come from the IP location.
            device_location_share: 0.0,
            malformed: 0.0,
            ..GenConfig::default()
        };
        let (mut with_ip, mut located, mut zoned) = (0, 0, 0);
        for rec in consent_enricher_gen::events(&cfg) {
            let bytes = rec.value.unwrap();
            let ev = RawEvent::parse(&bytes, 1 << 20).unwrap();
            if ev.ip.is_none() {
                continue;
            }
            let e = enrich(&ev, &enricher);
            with_ip += 1;
            if let Some(g) = &e.geo {
                assert!(g.location.city.is_some(), "{:?}", g.location);
                located += 1;
            }
            zoned += u32::from(e.time.is_some());
        }
        // Crawlers (about 3% of visitor events) are left unlocated.
        assert!(with_ip > 900, "{with_ip} events with an IP");
        assert!(
            located * 100 >= with_ip * 95,
            "{located} of {with_ip} located"
        );
        assert_eq!(zoned, located, "every located event has a zone");
    }
}

//! Kafka-side helper of `scripts/bench-e2e` (a `harness = false` bench target, so it is
//! built with the bench profile and never ships in the binary). Subcommands:
//!
//! * `passthrough` — the floor the worker is compared with: a minimal at-least-once
//!   consume → produce of the same key and bytes to one topic, with the worker's
//!   delivery settings (idempotent producer, `linger.ms=5`, read_committed, offsets
//!   stored only once the copy is acknowledged, contiguously per partition, auto-commit);
//!   runs until SIGINT/SIGTERM.
//! * `append-time` — sets `message.timestamp.type=LogAppendTime` on bench topics (only
//!   on topics without other overrides: the legacy AlterConfigs call replaces them all);
//!   `create` — creates one such topic.
//! * `drained` — waits until a consumer group's committed offsets reach the end of a topic.
//! * `scan` — reads topics in full (read_committed) and prints records, bytes and the
//!   first/last append time, as `KEY=value` lines for the script.
//! * `latency` — a paced producer of fresh `gen` events at a fixed rate, matched to the
//!   outputs by event id (raw for passthrough, the HMAC pseudonym for the worker's
//!   anonymous records); prints p50/p99 of output append time − input append time.
//! * `first-after` — waits for the first committed record on a topic whose append time
//!   is after `--after-ms` (read_committed, from the end offsets at its start) and prints
//!   that time: the kill → first new committed output figure of `scripts/bench-recovery`.
//! * `delete` — deletes the bench topics.
//!
//! It owns only measurement plumbing: no policy, no assertions on timings, and it never
//! prints record contents. Errors panic (it is a bench tool).

// A benchmark that cannot set up its fixture has nothing to measure: it stops there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consent_enricher::kafka::block_on;
use consent_enricher::policy::Pseudonymizer;
use consent_enricher_gen::GenConfig;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, DefaultConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

const T: Duration = Duration::from_secs(30);

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        let flag = format!("--{name}");
        self.0
            .iter()
            .position(|a| *a == flag)
            .and_then(|i| self.0.get(i + 1))
            .map(String::as_str)
    }
    fn req(&self, name: &str) -> &str {
        self.get(name).unwrap_or_else(|| panic!("missing --{name}"))
    }
    fn num(&self, name: &str, default: f64) -> f64 {
        self.get(name)
            .map_or(default, |v| v.parse().expect("a number"))
    }
    fn list(&self, name: &str) -> Vec<String> {
        self.req(name)
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

fn client(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    c
}

fn main() {
    let argv: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(cmd) = argv.first().cloned() else {
        eprintln!(
            "usage: e2e passthrough|append-time|create|drained|scan|latency|delete --brokers B ..."
        );
        std::process::exit(2);
    };
    let a = Args(argv);
    let brokers = a.get("brokers").unwrap_or("127.0.0.1:9092").to_owned();
    match cmd.as_str() {
        "passthrough" => passthrough(&brokers, a.req("group"), a.req("from"), a.req("to")),
        "append-time" => append_time(&brokers, &a.list("topics")),
        "create" => create(&brokers, a.req("topic"), a.num("partitions", 6.0) as i32),
        "drained" => drained(
            &brokers,
            a.req("group"),
            a.req("topic"),
            a.num("timeout", 1800.0),
        ),
        "scan" => scan(&brokers, &a.list("topics")),
        "latency" => latency(&a, &brokers),
        "first-after" => first_after(
            &brokers,
            a.req("topic"),
            a.num("after-ms", 0.0) as i64,
            a.num("timeout", 300.0),
        ),
        "delete" => delete(&brokers, &a.list("topics")),
        other => panic!("unknown subcommand {other}"),
    }
}

// ---------------------------------------------------------------------------------------
// Admin
// ---------------------------------------------------------------------------------------

fn admin(brokers: &str) -> AdminClient<DefaultClientContext> {
    client(brokers).create().expect("admin client")
}

fn append_time(brokers: &str, topics: &[String]) {
    let admin = admin(brokers);
    let configs: Vec<AlterConfig<'_>> = topics
        .iter()
        .map(|t| {
            AlterConfig::new(ResourceSpecifier::Topic(t))
                .set("message.timestamp.type", "LogAppendTime")
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(T));
    for r in block_on(admin.alter_configs(&configs, &opts)).expect("alter configs") {
        r.expect("topic config altered");
    }
}

fn create(brokers: &str, topic: &str, partitions: i32) {
    let admin = admin(brokers);
    let t = NewTopic::new(topic, partitions, TopicReplication::Fixed(1))
        .set("message.timestamp.type", "LogAppendTime");
    let opts = AdminOptions::new().operation_timeout(Some(T));
    for r in block_on(admin.create_topics(&[t], &opts)).expect("create topic") {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((t, e)) => panic!("creating {t}: {e}"),
        }
    }
}

fn delete(brokers: &str, topics: &[String]) {
    let admin = admin(brokers);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let opts = AdminOptions::new().operation_timeout(Some(T));
    for r in block_on(admin.delete_topics(&names, &opts)).expect("delete topics") {
        if let Err((t, e)) = r
            && e != RDKafkaErrorCode::UnknownTopicOrPartition
        {
            eprintln!("e2e: deleting {t}: {e}");
        }
    }
}

fn partitions(c: &BaseConsumer, topic: &str) -> Vec<i32> {
    let md = c.fetch_metadata(Some(topic), T).expect("metadata");
    md.topics()
        .first()
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default()
}

fn consumer(brokers: &str, group: &str) -> BaseConsumer {
    client(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer")
}

// ---------------------------------------------------------------------------------------
// drained: committed offsets of a group at the end of the topic
// ---------------------------------------------------------------------------------------

fn drained(brokers: &str, group: &str, topic: &str, timeout_s: f64) {
    let c = consumer(brokers, group);
    let parts = partitions(&c, topic);
    let started = Instant::now();
    loop {
        let mut tpl = TopicPartitionList::new();
        for p in &parts {
            tpl.add_partition(topic, *p);
        }
        let mut lag = 0i64;
        match c.committed_offsets(tpl, T) {
            Ok(committed) => {
                for p in &parts {
                    // A leader change or broker hiccup is retried on the next round.
                    let Ok((_, hi)) = c.fetch_watermarks(topic, *p, T) else {
                        lag = -1;
                        break;
                    };
                    let at = match committed.find_partition(topic, *p).map(|e| e.offset()) {
                        Some(Offset::Offset(o)) => o,
                        _ => 0,
                    };
                    lag += (hi - at).max(0);
                }
            }
            Err(_) => lag = -1,
        }
        if lag == 0 {
            println!("DRAINED_AFTER_S={:.1}", started.elapsed().as_secs_f64());
            return;
        }
        if started.elapsed().as_secs_f64() > timeout_s {
            eprintln!("e2e: group {group} still lags {lag} on {topic}");
            std::process::exit(1);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

// ---------------------------------------------------------------------------------------
// scan: count records and bytes, first/last append time
// ---------------------------------------------------------------------------------------

fn scan(brokers: &str, topics: &[String]) {
    let c: BaseConsumer = client(brokers)
        .set("group.id", format!("bench-scan-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("fetch.max.bytes", "104857600")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut open = 0usize;
    for t in topics {
        for p in partitions(&c, t) {
            let (lo, hi) = c.fetch_watermarks(t, p, T).expect("watermarks");
            if hi > lo {
                tpl.add_partition_offset(t, p, Offset::Beginning)
                    .expect("tpl");
                open += 1;
            }
        }
    }
    let (mut records, mut bytes) = (0u64, 0u64);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    if open > 0 {
        c.assign(&tpl).expect("assign");
    }
    let mut idle = Instant::now();
    while open > 0 {
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                records += 1;
                bytes += (m.payload_len() + m.key().map_or(0, <[u8]>::len)) as u64;
                if let Some(ts) = m.timestamp().to_millis() {
                    first = first.min(ts);
                    last = last.max(ts);
                }
                idle = Instant::now();
            }
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => eprintln!("e2e: scan: {e}"),
            None => {
                if idle.elapsed() > T {
                    panic!("scan: no progress for 30 s with {open} partitions open");
                }
            }
        }
    }
    println!("RECORDS={records}");
    println!("BYTES={bytes}");
    println!("FIRST_MS={}", if records > 0 { first } else { 0 });
    println!("LAST_MS={}", if records > 0 { last } else { 0 });
}

// ---------------------------------------------------------------------------------------
// first-after: the first committed record appended after a moment
// ---------------------------------------------------------------------------------------

fn first_after(brokers: &str, topic: &str, after_ms: i64, timeout_s: f64) {
    let c: BaseConsumer = client(brokers)
        .set("group.id", format!("bench-first-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    // From the high watermarks now: records of a transaction still open at the kill are
    // aborted by the restarted producer, so whatever read_committed shows past them with
    // a later append time was committed by the new process.
    let mut tpl = TopicPartitionList::new();
    for p in partitions(&c, topic) {
        let (_, hi) = c.fetch_watermarks(topic, p, T).expect("watermarks");
        tpl.add_partition_offset(topic, p, Offset::Offset(hi))
            .expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    let started = Instant::now();
    loop {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100))
            && let Some(ts) = m.timestamp().to_millis()
            && ts > after_ms
        {
            println!("FIRST_AFTER_MS={ts}");
            return;
        }
        if started.elapsed().as_secs_f64() > timeout_s {
            eprintln!("e2e: no record on {topic} appended after {after_ms} within {timeout_s} s");
            std::process::exit(1);
        }
    }
}

// ---------------------------------------------------------------------------------------
// passthrough
// ---------------------------------------------------------------------------------------

/// Per input partition: offsets sent but not acknowledged, and the highest sent.
#[derive(Default)]
struct Pending(HashMap<i32, (BTreeSet<i64>, i64)>);

struct PtContext(Arc<Mutex<Pending>>);

impl ClientContext for PtContext {}

impl ProducerContext for PtContext {
    type DeliveryOpaque = Box<(i32, i64)>;
    fn delivery(&self, r: &DeliveryResult<'_>, src: Self::DeliveryOpaque) {
        if let Err((e, _)) = r {
            // At-least-once: an unacknowledged copy keeps its input's offset unstored;
            // the idempotent producer retries by itself, so this is fatal for a bench.
            panic!("passthrough: delivery failed: {e}");
        }
        let mut p = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = p.0.get_mut(&src.0) {
            e.0.remove(&src.1);
        }
    }
}

fn passthrough(brokers: &str, group: &str, from: &str, to: &str) {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).expect("signal handler");
    }
    let pending = Arc::new(Mutex::new(Pending::default()));
    let producer: BaseProducer<PtContext> = client(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create_with_context(PtContext(Arc::clone(&pending)))
        .expect("producer");
    let consumer: BaseConsumer<DefaultConsumerContext> = client(brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .create()
        .expect("consumer");
    consumer.subscribe(&[from]).expect("subscribe");
    let mut last_store = Instant::now();
    let store = |consumer: &BaseConsumer<DefaultConsumerContext>| {
        let p = pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut tpl = TopicPartitionList::new();
        for (part, (set, max)) in &p.0 {
            let next = set.first().copied().unwrap_or(max + 1);
            tpl.add_partition_offset(from, *part, Offset::Offset(next))
                .expect("tpl");
        }
        drop(p);
        if tpl.count() > 0 {
            // A partition revoked in between is refused; its copies are re-made later.
            let _ = consumer.store_offsets(&tpl);
        }
    };
    while !stop.load(Ordering::Relaxed) {
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            let m = r.expect("consume");
            {
                let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                let e = p.0.entry(m.partition()).or_insert((BTreeSet::new(), -1));
                e.0.insert(m.offset());
                e.1 = e.1.max(m.offset());
            }
            let mut rec = BaseRecord::with_opaque_to(to, Box::new((m.partition(), m.offset())));
            if let Some(k) = m.key() {
                rec = rec.key(k);
            }
            if let Some(v) = m.payload() {
                rec = rec.payload(v);
            }
            loop {
                match producer.send(rec) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        rec = back;
                        producer.poll(Duration::from_millis(5));
                    }
                    Err((e, _)) => panic!("passthrough: produce: {e}"),
                }
            }
        }
        producer.poll(Duration::ZERO);
        if last_store.elapsed() >= Duration::from_millis(100) {
            store(&consumer);
            last_store = Instant::now();
        }
    }
    producer.flush(T).expect("flush");
    store(&consumer);
    let _ = consumer.commit_consumer_state(rdkafka::consumer::CommitMode::Sync);
}

// ---------------------------------------------------------------------------------------
// latency
// ---------------------------------------------------------------------------------------

struct LatContext(Arc<Mutex<Vec<i64>>>, Arc<AtomicBool>);

impl ClientContext for LatContext {}

impl ProducerContext for LatContext {
    type DeliveryOpaque = Box<usize>;
    fn delivery(&self, r: &DeliveryResult<'_>, idx: Self::DeliveryOpaque) {
        let now = chrono::Utc::now().timestamp_millis();
        let ts = match r {
            Ok(m) => match m.timestamp() {
                Timestamp::LogAppendTime(t) => t,
                _ => {
                    self.1.store(true, Ordering::Relaxed);
                    now
                }
            },
            Err((e, _)) => panic!("latency: delivery failed: {e}"),
        };
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = v.get_mut(*idx) {
            *slot = ts;
        }
    }
}

/// The text of `"event_id":"…"` (the generator and the anonymous record both write it
/// as a plain string).
fn event_id(v: &[u8]) -> Option<&str> {
    const PAT: &[u8] = b"\"event_id\":\"";
    let at = v.windows(PAT.len()).position(|w| w == PAT)? + PAT.len();
    let len = v[at..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&v[at..at + len]).ok()
}

fn latency(a: &Args, brokers: &str) {
    let raw = a.req("raw");
    let out = a.req("out");
    let rate = a.num("rate", 1000.0);
    let secs = a.num("seconds", 20.0);
    let pseudonyms = a.get("key").map(|k| Pseudonymizer::new(k.as_bytes()));
    let n = (rate * secs) as u64;
    let cfg = GenConfig {
        seed: a.num("seed", 99.0) as u64,
        users: a.num("users", 100_000.0) as u64,
        events: n,
        malformed: 0.0,
        ..GenConfig::default()
    };

    // Output side first, positioned at the end, so only this run's records count.
    let oc = consumer(brokers, &format!("bench-lat-{}", std::process::id()));
    let mut tpl = TopicPartitionList::new();
    for p in partitions(&oc, out) {
        let (_, hi) = oc.fetch_watermarks(out, p, T).expect("watermarks");
        tpl.add_partition_offset(out, p, Offset::Offset(hi))
            .expect("tpl");
    }
    oc.assign(&tpl).expect("assign");

    let appended = Arc::new(Mutex::new(vec![i64::MIN; n as usize]));
    let local_clock = Arc::new(AtomicBool::new(false));
    let producer: BaseProducer<LatContext> = client(brokers)
        .set("enable.idempotence", "true")
        .set("linger.ms", "1")
        .create_with_context(LatContext(Arc::clone(&appended), Arc::clone(&local_clock)))
        .expect("producer");

    // Output consumption on its own thread, so pacing stays steady.
    let done = Arc::new(AtomicBool::new(false));
    let consumer_thread = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut seen: Vec<(String, i64)> = Vec::new();
            let mut quiet_since: Option<Instant> = None;
            loop {
                match oc.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        if let (Some(id), Some(ts)) =
                            (m.payload().and_then(event_id), m.timestamp().to_millis())
                        {
                            seen.push((id.to_owned(), ts));
                        }
                        quiet_since = None;
                    }
                    // Broker restarts (the broker is shared) are retried by librdkafka.
                    Some(Err(e)) => eprintln!("e2e: latency consumer: {e}"),
                    None => {
                        if done.load(Ordering::Relaxed) {
                            let q = *quiet_since.get_or_insert_with(Instant::now);
                            if q.elapsed() > Duration::from_secs(5) {
                                return seen;
                            }
                        }
                    }
                }
            }
        })
    };

    let mut ids: HashMap<String, usize> = HashMap::with_capacity(n as usize);
    let started = Instant::now();
    for (i, rec) in consent_enricher_gen::events(&cfg).enumerate() {
        let due = Duration::from_secs_f64(i as f64 / rate);
        while started.elapsed() < due {
            producer.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_micros(200));
        }
        let value = rec.value.expect("value");
        if let Some(id) = event_id(&value) {
            let key = match &pseudonyms {
                Some(p) => p.pseudonym(id),
                None => id.to_owned(),
            };
            ids.insert(key, i);
        }
        let mut r: BaseRecord<'_, [u8], [u8], Box<usize>> =
            BaseRecord::with_opaque_to(raw, Box::new(i)).payload(&value);
        if let Some(k) = rec.key.as_deref() {
            r = r.key(k.as_bytes());
        }
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => panic!("latency: produce: {e}"),
            }
        }
        producer.poll(Duration::ZERO);
    }
    let offered = n as f64 / started.elapsed().as_secs_f64();
    producer.flush(T).expect("flush");
    // Wait for the outputs to go quiet (5 s without a record after production ended).
    done.store(true, Ordering::Relaxed);
    let seen = consumer_thread.join().expect("consumer thread");
    let appended = appended.lock().unwrap_or_else(|e| e.into_inner());
    let mut lat: Vec<i64> = seen
        .iter()
        .filter_map(|(id, out_ts)| {
            let i = *ids.get(id)?;
            let in_ts = appended[i];
            (in_ts != i64::MIN).then_some(out_ts - in_ts)
        })
        .collect();
    lat.sort_unstable();
    let pct = |q: f64| {
        if lat.is_empty() {
            return -1;
        }
        lat[((lat.len() as f64 - 1.0) * q).round() as usize]
    };
    println!("OFFERED_EPS={offered:.0}");
    println!("SENT={n}");
    println!("MATCHED={}", lat.len());
    println!("P50_MS={}", pct(0.50));
    println!("P99_MS={}", pct(0.99));
    println!("MAX_MS={}", pct(1.0));
    println!(
        "INPUT_CLOCK={}",
        if local_clock.load(Ordering::Relaxed) {
            "local-ack"
        } else {
            "log-append"
        }
    );
}

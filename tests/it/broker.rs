//! The real-broker harness: one Apache Kafka broker for the whole test binary (the one at
//! `KAFKA_BOOTSTRAP_SERVERS`, else started once through `scripts/kafka-up`), unique topic
//! and group names per test, a worker running in a thread, and a read_committed reader of
//! the output topics that waits on conditions instead of sleeping.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use consent_enricher::config::{Config, KafkaConfig};
use consent_enricher::kafka::worker::{self, Report};
use consent_enricher::kafka::{EdgeError, Role, admin, client_config};
use consent_enricher::state::State;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::support;

/// The bootstrap address of the test broker.
pub fn bootstrap() -> &'static str {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        if let Ok(a) = std::env::var("KAFKA_BOOTSTRAP_SERVERS") {
            return a;
        }
        start_broker("kafka-up")
    })
}

/// Runs `scripts/<script>` (idempotent: a running broker is reused) and returns the
/// bootstrap address it prints on its last line.
pub fn start_broker(script: &str) -> String {
    let out = Command::new(support::root().join("scripts").join(script))
        .output()
        .unwrap_or_else(|e| panic!("running scripts/{script}: {e}"));
    assert!(
        out.status.success(),
        "scripts/{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .expect("the script prints the address")
        .trim()
        .to_string()
}

/// A configuration whose topics and group are unique to one test, with the topics made
/// (three partitions each).
pub fn config(test: &str) -> Config {
    config_with_partitions(test, 3)
}

/// As [`config`], with `partitions` partitions per topic.
pub fn config_with_partitions(test: &str, partitions: i32) -> Config {
    let mut kafka = support::config().kafka;
    kafka.bootstrap_servers = bootstrap().to_string();
    config_on(kafka, test, partitions)
}

/// A configuration with unique names on the cluster `kafka` reaches, its topics made
/// (as `kafka`'s principal).
pub fn config_on(kafka: KafkaConfig, test: &str, partitions: i32) -> Config {
    config_with_outputs(kafka, test, partitions, Vec::new())
}

/// As [`config_on`], with `[[outputs.personal]]` = `outputs`, each topic made unique.
pub fn config_with_outputs(
    kafka: KafkaConfig,
    test: &str,
    partitions: i32,
    outputs: Vec<consent_enricher::config::PersonalOutput>,
) -> Config {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let id = format!(
        "it-{}-{}-{n}-{test}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let mut c = support::config();
    c.kafka = kafka;
    c.kafka.group_id = format!("{id}.group");
    let t = &mut c.topics;
    t.partitions = partitions;
    for (name, field) in [
        ("raw", &mut t.raw),
        ("consent", &mut t.consent),
        ("profile", &mut t.profile),
        ("erasure", &mut t.erasure),
        ("personal", &mut t.personal),
        ("anonymous", &mut t.anonymous),
        ("dead-letter", &mut t.dead_letter),
        ("audit", &mut t.audit),
    ] {
        *field = format!("{id}.{name}");
    }
    c.outputs.personal = outputs;
    for o in &mut c.outputs.personal {
        o.topic = format!("{id}.{}", o.topic);
    }
    if !c.outputs.personal.is_empty() {
        // The list replaces the single output's key (validation refuses both).
        c.topics.personal = consent_enricher::config::TopicsConfig::default().personal;
    }
    c.validate().expect("a valid test configuration");
    admin::create_topics(&c).expect("creating test topics");
    // Creation returns before every broker's metadata cache has the topics.
    let probe: BaseConsumer = client_config(&c.kafka, Role::Consumer)
        .create()
        .expect("probe");
    let names: Vec<String> = admin::contract_topics(&c)
        .into_iter()
        .map(|s| s.name)
        .collect();
    wait_for("topics in metadata", Duration::from_secs(30), || {
        probe
            .fetch_metadata(None, Duration::from_secs(5))
            .is_ok_and(|md| {
                names.iter().all(|n| {
                    md.topics()
                        .iter()
                        .any(|t| t.name() == n && t.error().is_none() && !t.partitions().is_empty())
                })
            })
    });
    c
}

/// A worker running in a thread, with the state it reads and the metrics it keeps.
pub struct TestWorker {
    pub state: Arc<State>,
    pub metrics: Arc<consent_enricher::telemetry::Metrics>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Report, EdgeError>>>,
}

impl TestWorker {
    /// Starts a worker and waits until it is ready (tables loaded, subscribed).
    pub fn start(config: &Config) -> TestWorker {
        let state = Arc::new(State::for_outputs(&config.personal_outputs()));
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(consent_enricher::telemetry::Metrics::default());
        let handle = {
            let (config, state, stop, ready, metrics) = (
                config.clone(),
                Arc::clone(&state),
                Arc::clone(&stop),
                Arc::clone(&ready),
                Arc::clone(&metrics),
            );
            std::thread::spawn(move || {
                let core = Arc::new(
                    consent_enricher::enrichment::core_without_geoip(&config).expect("core"),
                );
                worker::run(&config, core, state, stop, metrics, || {
                    ready.store(true, Ordering::SeqCst)
                })
            })
        };
        let mut w = TestWorker {
            state,
            metrics,
            stop,
            handle: Some(handle),
        };
        wait_for("worker ready", Duration::from_secs(60), || {
            let finished = w.handle.as_ref().is_some_and(JoinHandle::is_finished);
            assert!(
                !finished,
                "worker exited early: {:?}",
                w.handle.take().map(|h| h.join())
            );
            ready.load(Ordering::SeqCst)
        });
        w
    }

    /// Panics if the worker thread has ended on its own (its error is in the log), so a
    /// test waiting for outputs fails at once instead of at its timeout.
    pub fn assert_running(&self) {
        let finished = self.handle.as_ref().is_some_and(JoinHandle::is_finished);
        assert!(
            !finished,
            "the worker stopped on its own; see its log above"
        );
    }

    /// True once the worker thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_some_and(JoinHandle::is_finished)
    }

    /// Waits up to `timeout` for the worker to end on its own and returns its result.
    pub fn exited(mut self, timeout: Duration) -> Result<Report, EdgeError> {
        wait_for("the worker to stop on its own", timeout, || {
            self.handle.as_ref().is_some_and(JoinHandle::is_finished)
        });
        let h = self.handle.take().expect("running");
        h.join().expect("worker thread")
    }

    /// Stops the worker (as SIGTERM would) and returns its report.
    pub fn stop(mut self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let h = self.handle.take().expect("running");
        h.join().expect("worker thread").expect("worker result")
    }
}

impl Drop for TestWorker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Polls `cond` until it holds or `timeout` passes (then panics naming `what`).
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Counts the records the broker refused, which `flush` alone does not report: a record
/// to a partition the producer's metadata does not know yet is failed in its delivery
/// report, and `flush` still returns Ok once the queue is empty.
#[derive(Default)]
pub struct Delivered {
    failed: Mutex<Vec<String>>,
}

impl rdkafka::ClientContext for Delivered {}

impl rdkafka::producer::ProducerContext for Delivered {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            self.failed
                .lock()
                .expect("delivery list")
                .push(e.to_string());
        }
    }
}

/// A producer whose `flush_delivered` says whether every record was acknowledged.
pub fn checked_producer(config: &Config) -> BaseProducer<Delivered> {
    client_config(&config.kafka, Role::Producer)
        .create_with_context(Delivered::default())
        .expect("producer")
}

/// Flushes `p`; Err names the delivery failures since the last call.
pub fn flush_delivered(p: &BaseProducer<Delivered>, timeout: Duration) -> Result<(), String> {
    p.flush(timeout).map_err(|e| format!("flush: {e}"))?;
    let failed = std::mem::take(&mut *p.context().failed.lock().expect("delivery list"));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Produces records (key, value; `None` value = tombstone) to `topic` and waits until
/// the broker has acknowledged every one.
pub fn produce(config: &Config, topic: &str, records: &[(Option<&str>, Option<&[u8]>)]) {
    let p = checked_producer(config);
    for (k, v) in records {
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(k) = k {
            r = r.key(k.as_bytes());
        }
        if let Some(v) = v {
            r = r.payload(v);
        }
        p.send(r).map_err(|(e, _)| e).expect("send");
        p.poll(Duration::ZERO);
    }
    if let Err(e) = flush_delivered(&p, Duration::from_secs(30)) {
        panic!("records to {topic} not delivered: {e}");
    }
}

/// One record read back from an output topic.
#[derive(Debug, Clone)]
pub struct Out {
    pub topic: String,
    pub key: Option<String>,
    pub value: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

/// A read_committed reader of every output topic of a config, from the beginning.
pub struct Reader {
    consumer: BaseConsumer,
    pub records: Vec<Out>,
    /// Records per topic, kept as they arrive: conditions are checked after every
    /// record, and recounting would make reading n records cost n².
    counts: std::collections::HashMap<String, usize>,
}

impl Reader {
    pub fn new(config: &Config) -> Reader {
        let t = &config.topics;
        let consumer: BaseConsumer = client_config(&config.kafka, Role::Consumer)
            .set("group.id", format!("{}.reader", config.kafka.group_id))
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        // Assigned, not subscribed: a group member would rejoin after a broker restart
        // and, with nothing committed, read everything again, which would look like
        // duplicates.
        let mut tpl = TopicPartitionList::new();
        let personal = config.personal_topics();
        for topic in [&t.anonymous, &t.dead_letter, &t.audit]
            .into_iter()
            .chain(&personal)
        {
            for p in 0..config.topics.partitions {
                tpl.add_partition_offset(topic, p, Offset::Beginning)
                    .expect("partition");
            }
        }
        consumer.assign(&tpl).expect("assign");
        Reader {
            consumer,
            records: Vec::new(),
            counts: std::collections::HashMap::new(),
        }
    }

    pub fn count(&self, topic: &str) -> usize {
        self.counts.get(topic).copied().unwrap_or(0)
    }

    fn push(&mut self, out: Out) {
        *self.counts.entry(out.topic.clone()).or_default() += 1;
        self.records.push(out);
    }

    /// Reads until `cond(self)` holds.
    pub fn read_until(&mut self, what: &str, timeout: Duration, cond: impl Fn(&Reader) -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; have {} records",
                self.records.len()
            );
            // Errors here are librdkafka's transient notices (a broker restarting):
            // the consumer recovers by itself.
            if let Some(Ok(msg)) = self.consumer.poll(Duration::from_millis(100)) {
                let out = to_out(&msg);
                self.push(out);
            }
        }
    }

    /// Reads whatever else arrives within `quiet` (to catch duplicates or late records).
    pub fn drain(&mut self, quiet: Duration) {
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            if let Some(Ok(msg)) = self.consumer.poll(Duration::from_millis(100)) {
                let out = to_out(&msg);
                self.push(out);
                last = Instant::now();
            }
        }
    }
}

fn to_out(msg: &rdkafka::message::BorrowedMessage<'_>) -> Out {
    let headers = msg
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    (
                        h.key.to_string(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Out {
        topic: msg.topic().to_string(),
        key: msg.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        value: msg.payload().unwrap_or_default().to_vec(),
        headers,
    }
}

/// Serializes tests against the broker's availability: every test that uses the broker
/// holds `shared()`; the broker-restart test holds `exclusive()` while it stops it.
static BROKER_LOCK: RwLock<()> = RwLock::new(());

/// Held by every test that needs the broker up.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    BROKER_LOCK.read().unwrap_or_else(|p| p.into_inner())
}

/// Held by a test that stops and starts the broker.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    BROKER_LOCK.write().unwrap_or_else(|p| p.into_inner())
}

/// The worker as a child process (`consent-enricher run`), stderr collected.
pub struct ChildWorker {
    child: Child,
    ready_file: PathBuf,
    pub stderr: Arc<Mutex<Vec<String>>>,
    /// Set when the child's stderr closes, which is when the process has exited.
    exited: Arc<AtomicBool>,
}

impl ChildWorker {
    /// Starts `consent-enricher run` with `config` (written to a temp file) as process
    /// `instance_id`, plus `env`, and waits for its ready file.
    pub fn start(
        config: &Config,
        instance_id: &str,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> ChildWorker {
        let dir = std::env::temp_dir().join(format!("ce-it-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = config.clone();
        config.delivery.instance_id = instance_id.to_string();
        config.telemetry.http_port = 0;
        let key = std::mem::take(&mut config.pseudonym.key);
        let stem = format!("{}-{instance_id}", config.kafka.group_id);
        let path = dir.join(format!("{stem}.toml"));
        std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
        let ready_file = dir.join(format!("{stem}.ready"));
        let _ = std::fs::remove_file(&ready_file);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_consent-enricher"));
        cmd.args(["run", "--config"])
            .arg(&path)
            .arg("--ready-file")
            .arg(&ready_file)
            .args(extra_args);
        cmd.env("CONSENT_ENRICHER__PSEUDONYM__KEY", key.expose())
            .stderr(Stdio::piped())
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("starting the worker binary");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let exited = Arc::new(AtomicBool::new(false));
        let pipe = child.stderr.take().unwrap();
        {
            let lines = Arc::clone(&stderr);
            let exited = Arc::clone(&exited);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
                exited.store(true, Ordering::SeqCst);
            });
        }
        let mut w = ChildWorker {
            child,
            ready_file,
            stderr,
            exited,
        };
        wait_for("worker process ready", Duration::from_secs(90), || {
            if let Ok(Some(status)) = w.child.try_wait() {
                panic!(
                    "worker exited early ({status}): {:?}",
                    w.stderr.lock().unwrap()
                );
            }
            w.ready_file.exists()
        });
        w
    }

    /// Panics if the process has exited on its own (its stderr tail is printed on the
    /// way out), so a test waiting for outputs fails at once instead of at its timeout.
    pub fn assert_running(&self) {
        assert!(
            !self.exited.load(Ordering::SeqCst),
            "worker process {} exited on its own",
            self.child.id()
        );
    }

    /// How many stderr lines contain `needle`.
    pub fn logged_count(&self, needle: &str) -> usize {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// True once a stderr line contains `needle`.
    pub fn logged(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    /// SIGKILL: no drain, no commit, no goodbye.
    pub fn kill9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping");
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        self.child.wait().expect("waiting for the worker")
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let lines = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
            let tail = lines.len().saturating_sub(40);
            eprintln!(
                "--- worker {} stderr (last lines) ---\n{}",
                self.child.id(),
                lines[tail..].join("\n")
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

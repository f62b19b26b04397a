//! The Kafka edge: client configuration (record size limits included), start-up checks
//! (topics exist, output topics accept what the worker may produce) and the error codes
//! operators see, plus the submodules that move bytes (`tables` loads the user tables, `worker`
//! runs the consume → process → produce loop, `admin` creates topics, `load` writes
//! generated data) and `clock`, the monotonic clock the staleness fence runs on.
//! Nothing here decides policy: records go through `pipeline::Core`.

pub mod acls;
pub mod admin;
pub mod audit;
pub mod clock;
pub mod headers;
pub mod load;
mod native;
pub mod tables;
pub mod worker;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{Producer, ProducerContext, ThreadedProducer};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;

use crate::config::{KafkaConfig, LimitsConfig};

/// How long start-up waits for the cluster to answer (`kafka.startup_timeout_ms`).
pub fn startup_timeout(k: &KafkaConfig) -> Duration {
    Duration::from_millis(k.startup_timeout_ms)
}

/// The error for a cluster that did not answer in time.
pub fn unreachable(k: &KafkaConfig, source: KafkaError) -> EdgeError {
    EdgeError::BrokerUnreachable {
        servers: k.bootstrap_servers.clone(),
        secs: startup_timeout(k).as_secs_f64(),
        source,
    }
}

/// Errors of the Kafka edge, each with a stable code for logs and exit statuses.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    /// No broker answered.
    #[error("broker_unreachable: no broker at {servers} answered within {secs} s ({source})")]
    BrokerUnreachable {
        /// bootstrap.servers.
        servers: String,
        /// Timeout.
        secs: f64,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// A configured topic does not exist.
    #[error(
        "topic_missing: topic {0} does not exist; create it with `consent-enricher topics create`"
    )]
    TopicMissing(String),
    /// The principal may not use a topic or group.
    #[error("authorization_failed: not authorized for {0}")]
    AuthorizationFailed(String),
    /// The cluster refused this client's credentials, or its certificate was not
    /// trusted (SASL or TLS handshake failed).
    #[error("authentication_failed: {0}")]
    AuthenticationFailed(String),
    /// An admin request (creating ACLs) failed as a whole.
    #[error("admin_failed: {0}")]
    AdminFailed(String),
    /// A producer or consumer failed in a way retrying cannot fix.
    #[error("kafka_fatal: {context}: {source}")]
    Fatal {
        /// What we were doing.
        context: &'static str,
        /// librdkafka's error.
        source: KafkaError,
    },
    /// An output could not be delivered after librdkafka's own retries.
    #[error("delivery_failed: {0}")]
    DeliveryFailed(String),
    /// Another producer with this transactional.id, or a newer group generation, took
    /// over: this instance must stop (the orchestrator restarts it).
    #[error("fenced: {0}")]
    Fenced(String),
    /// The same batch's transaction aborted `delivery.max_consecutive_aborts` times in a
    /// row for a reason that is not authorization (which is `AuthorizationFailed`).
    #[error("aborts_exhausted: {0}")]
    AbortsExhausted(String),
    /// A topic exists with settings that break the contract.
    #[error("topic_misconfigured: {0}")]
    TopicMisconfigured(String),
}

impl EdgeError {
    /// Process exit status for this error (distinct per class, for orchestrators).
    pub fn exit_code(&self) -> u8 {
        match self {
            EdgeError::BrokerUnreachable { .. } => 3,
            EdgeError::TopicMissing(_) | EdgeError::TopicMisconfigured(_) => 4,
            EdgeError::AuthorizationFailed(_) | EdgeError::AuthenticationFailed(_) => 5,
            EdgeError::Fatal { .. }
            | EdgeError::AdminFailed(_)
            | EdgeError::DeliveryFailed(_)
            | EdgeError::AbortsExhausted(_) => 6,
            EdgeError::Fenced(_) => 7,
        }
    }
}

/// Which client a configuration is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A consumer.
    Consumer,
    /// A producer.
    Producer,
}

/// librdkafka configuration for `role`: our defaults, then `[kafka.client]`, then the
/// role's own section, so an operator's setting always wins.
pub fn client_config(k: &KafkaConfig, role: Role) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.bootstrap_servers);
    c.set_log_level(crate::log::kafka_log_level());
    for (key, v) in &k.client {
        c.set(key, v);
    }
    let extra = match role {
        Role::Consumer => &k.consumer,
        Role::Producer => &k.producer,
    };
    for (key, v) in extra {
        c.set(key, v);
    }
    c
}

/// What a worker producer may send beyond `limits.max_output_bytes`: the headers the
/// edge adds after the core measured a record (the trace context, at most about 1 KiB)
/// and librdkafka's per-record framing, which its `message.max.bytes` check counts.
pub const PRODUCER_HEADROOM: usize = 16 * 1024;
/// librdkafka's default `fetch.message.max.bytes`, the least the consumer is given.
const FETCH_MESSAGE_DEFAULT: usize = 1 << 20;
/// librdkafka's default `receive.message.max.bytes`.
const RECEIVE_MESSAGE_DEFAULT: usize = 100_000_000;

/// Record size limits from the configuration, unless the operator set them: producers
/// may send `limits.max_output_bytes` plus [`PRODUCER_HEADROOM`] (the core never makes a
/// larger record, so librdkafka never refuses one); the consumer fetches at least
/// `limits.max_event_bytes` plus headroom per partition, so a raw record at the limit
/// takes one fetch, and may receive that plus librdkafka's framing margin. Larger raw
/// records (a raw topic opened above the event limit) are still read: brokers return a
/// first record larger than the fetch size whole, up to `receive.message.max.bytes`.
pub fn with_size_limits(c: &mut ClientConfig, limits: &LimitsConfig, role: Role) {
    match role {
        Role::Producer => {
            let max = limits.max_output_bytes.saturating_add(PRODUCER_HEADROOM);
            set_default(c, "message.max.bytes", &max.to_string());
        }
        Role::Consumer => {
            let fetch = limits
                .max_event_bytes
                .saturating_add(PRODUCER_HEADROOM)
                .max(FETCH_MESSAGE_DEFAULT);
            set_default(c, "fetch.message.max.bytes", &fetch.to_string());
            // librdkafka wants room for a whole fetch response plus 512 bytes.
            let receive = fetch.saturating_mul(2).max(RECEIVE_MESSAGE_DEFAULT);
            set_default(c, "receive.message.max.bytes", &receive.to_string());
        }
    }
}

/// A numeric librdkafka property as the client will use it (`default` when unset).
pub fn size_property(c: &ClientConfig, key: &str, default: usize) -> usize {
    c.get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// An admin client with the configuration's connection settings (topic creation, the
/// start-up checks, `acls --apply`).
pub fn admin_client(k: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, EdgeError> {
    client_config(k, Role::Producer)
        .create()
        .map_err(|source| EdgeError::Fatal {
            context: "creating the admin client",
            source,
        })
}

/// How long the start-up check of the output topics' limits waits for the broker.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Checks at start-up that every topic in `outputs` accepts records of `producer_max`
/// bytes (`max.message.bytes`, read with DescribeConfigs), so a topic that would refuse
/// an output is an operator's error named at start-up (`topic_misconfigured`, exit 4),
/// not a record that fails at every restart. A principal without DescribeConfigs on a
/// topic gets a warning: the check is a safety net, not a permission the worker needs.
pub fn check_output_limits(
    k: &KafkaConfig,
    outputs: &[&str],
    producer_max: usize,
) -> Result<(), EdgeError> {
    let admin = admin_client(k)?;
    let specs: Vec<ResourceSpecifier<'_>> = outputs
        .iter()
        .map(|t| ResourceSpecifier::Topic(t))
        .collect();
    // A broker that cannot answer DescribeConfigs (librdkafka's in-process cluster does
    // not implement it, an ACL may refuse it) leaves the limits unchecked, with a
    // warning: the per-record check before each send still turns an output the producer
    // would refuse into an `output_too_large` dead letter.
    let opts = AdminOptions::new().request_timeout(Some(DESCRIBE_TIMEOUT));
    let described = match block_on(admin.describe_configs(&specs, &opts)) {
        Ok(d) => d,
        Err(e) => {
            crate::log::warn(&format!(
                "cannot read the output topics' max.message.bytes ({e}); not checked"
            ));
            return Ok(());
        }
    };
    for (topic, r) in outputs.iter().zip(described) {
        let resource = match r {
            Ok(r) => r,
            Err(code) => {
                crate::log::warn(&format!(
                    "cannot read max.message.bytes of topic {topic} ({code}); not checked"
                ));
                continue;
            }
        };
        let have = resource
            .get("max.message.bytes")
            .and_then(|e| e.value.as_deref())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let Some(have) = have else {
            crate::log::warn(&format!(
                "topic {topic} reports no max.message.bytes; not checked"
            ));
            continue;
        };
        if have < producer_max {
            return Err(EdgeError::TopicMisconfigured(format!(
                "topic {topic} has max.message.bytes={have}, below the {producer_max} bytes \
                 the worker may produce (limits.max_output_bytes + {PRODUCER_HEADROOM}, or \
                 kafka.producer message.max.bytes); raise the topic's max.message.bytes or \
                 lower limits.max_output_bytes"
            )));
        }
    }
    Ok(())
}

/// Turns on librdkafka's statistics for a client whose context forwards them to the
/// metrics (queue sizes, broker round trips, consumer lag); the other clients (table
/// loader, admin, audit, `gen`) leave them off, as nothing would read them.
pub fn with_statistics(c: &mut ClientConfig) {
    set_default(c, "statistics.interval.ms", "15000");
}

/// Waits until `producer` has nothing in flight (every message acknowledged or failed
/// and its delivery report served), up to `timeout`; true when it got there. Use it
/// instead of a `ThreadedProducer`'s `flush`: rust-rdkafka's flush polls the event queue
/// in 100 ms waits in competition with the producer's own polling thread, so it takes at
/// least 100 ms whenever anything is in flight.
pub fn settle<C: ProducerContext>(producer: &ThreadedProducer<C>, timeout: Duration) -> bool {
    let until = Instant::now() + timeout;
    loop {
        if producer.in_flight_count() == 0 {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sets `key` unless the operator already did.
pub fn set_default(c: &mut ClientConfig, key: &str, value: &str) {
    if c.get(key).is_none() {
        c.set(key, value);
    }
}

/// A client context that logs librdkafka's errors with their codes and nothing else.
#[derive(Debug, Clone, Default)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::log::kafka(level as i32, fac, log_message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        crate::log::warn(&format!("kafka: {error} ({reason})"));
    }
}

impl rdkafka::consumer::ConsumerContext for LogContext {}

/// How often [`connect`] looks for an answer or a refused handshake.
const CONNECT_SLICE: Duration = Duration::from_millis(500);

/// Records the first handshake librdkafka reports refused (SASL credentials, an
/// untrusted certificate), which it otherwise only retries until the start-up timeout.
#[derive(Debug, Default)]
struct ProbeContext(std::sync::Mutex<Option<(RDKafkaErrorCode, String)>>);

impl ProbeContext {
    fn refused(&self, code: RDKafkaErrorCode, reason: &str) {
        if let Ok(mut first) = self.0.lock() {
            first.get_or_insert((code, reason.to_string()));
        }
    }
}

impl ClientContext for ProbeContext {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        // librdkafka raises no error event for a failed TLS handshake, only this log line
        // (on its own thread, so it is seen without polling).
        if fac == "FAIL" && log_message.contains("SSL handshake failed") {
            self.refused(RDKafkaErrorCode::SSL, log_message);
        }
        crate::log::kafka(level as i32, fac, log_message);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(
                code @ (RDKafkaErrorCode::Authentication
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::SSL),
            ) => self.refused(code, reason),
            _ => crate::log::warn(&format!("kafka: {error} ({reason})")),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ProbeContext {}

/// The first thing every command that talks to Kafka does: waits up to
/// `kafka.startup_timeout_ms` for the cluster to answer a metadata request, and stops
/// early with `authentication_failed` (exit 5) when the SASL or TLS handshake is refused,
/// naming the principal and librdkafka's reason (which never holds the password).
pub fn connect(k: &KafkaConfig) -> Result<(), EdgeError> {
    let probe: BaseConsumer<ProbeContext> = client_config(k, Role::Consumer)
        .create_with_context(ProbeContext::default())
        .map_err(|source| EdgeError::Fatal {
            context: "creating the connection probe",
            source,
        })?;
    let until = Instant::now() + startup_timeout(k);
    loop {
        let last = match probe.fetch_metadata(None, CONNECT_SLICE) {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        // Error events reach the context only when the client is polled.
        let _ = probe.poll(Duration::ZERO);
        let refused = probe.context().0.lock().ok().and_then(|mut f| f.take());
        if let Some((code, reason)) = refused {
            return Err(EdgeError::AuthenticationFailed(refused_message(
                k, code, &reason,
            )));
        }
        if Instant::now() >= until {
            return Err(unreachable(k, last));
        }
    }
}

fn refused_message(k: &KafkaConfig, code: RDKafkaErrorCode, reason: &str) -> String {
    if code == RDKafkaErrorCode::SSL {
        return format!(
            "the TLS handshake with the brokers at {} failed ({reason}); check ssl.ca.location: \
             it must name the CA that signed the brokers' certificates",
            k.bootstrap_servers
        );
    }
    format!(
        "the brokers at {} refused the credentials of {} ({reason}); check sasl.username, \
         sasl.password and sasl.mechanisms",
        k.bootstrap_servers,
        acls::principal(k)
    )
}

/// Checks that the cluster answers and every topic in `topics` exists and is readable,
/// so a wrong address, a missing topic or a missing ACL stops start-up with its code.
pub fn check_topics<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    k: &KafkaConfig,
    topics: &[&str],
) -> Result<(), EdgeError> {
    let md = consumer
        .fetch_metadata(None, startup_timeout(k))
        .map_err(|source| unreachable(k, source))?;
    for t in topics {
        // A listing of all topics leaves out those the principal may not describe; asked
        // by name, the broker says which it is (missing, or not authorized).
        let error = match md.topics().iter().find(|m| m.name() == *t) {
            Some(found) => found.error().map(RDKafkaErrorCode::from),
            None => consumer
                .fetch_metadata(Some(t), startup_timeout(k))
                .map_err(|source| unreachable(k, source))?
                .topics()
                .first()
                .map_or(Some(RDKafkaErrorCode::UnknownTopicOrPartition), |m| {
                    m.error().map(RDKafkaErrorCode::from)
                }),
        };
        match error {
            None => {}
            Some(RDKafkaErrorCode::TopicAuthorizationFailed) => {
                return Err(EdgeError::AuthorizationFailed(format!(
                    "topic {t}: {} may not describe it; grant what `consent-enricher acls` prints",
                    acls::principal(k)
                )));
            }
            Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                return Err(EdgeError::TopicMissing((*t).to_string()));
            }
            Some(code) => {
                return Err(EdgeError::Fatal {
                    context: "reading topic metadata",
                    source: KafkaError::MetadataFetch(code),
                });
            }
        }
    }
    Ok(())
}

/// Drives a future to completion on this thread. rdkafka's admin API is async; the
/// worker has no runtime, and one blocking call at start-up does not need one.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

//! Configuration: the TOML file, environment overrides (`CONSENT_ENRICHER__SECTION__KEY`)
//! and the validation every command runs before doing anything. It owns defaults and the
//! documentation table of every key (the README's table is generated from [`KEYS`] and a
//! test keeps the two in step). It does no I/O beyond reading the file it is given and the
//! process environment handed to it, and it never prints secrets: [`Config::masked`] hides
//! librdkafka's sensitive properties, and no [`ConfigError`] repeats a configured value.
//! Environment values are taken verbatim for keys that hold strings and parsed as TOML
//! only for the others; pass-through properties the delivery guarantees rest on are
//! refused ([`PROTECTED`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::settings::CoreSettings;
use crate::state::FORBIDDEN_PROFILE_FIELDS;

/// The core's own types, embedded here as the `[policy]` table.
pub use crate::settings::{
    AnonymousVisits, ContextField, LocationPrecision, NetworkPrecision, OutputKey, PersonalOutput,
    PolicyConfig,
};

/// Prefix of environment overrides: `CONSENT_ENRICHER__POLICY__PERSONAL_PURPOSE=marketing`.
pub const ENV_PREFIX: &str = "CONSENT_ENRICHER__";

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// TOML syntax, unknown key or wrong type.
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// A value is out of its allowed range.
    #[error("invalid value for {key}: {why}")]
    Value {
        /// The key.
        key: &'static str,
        /// Why.
        why: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// What the policy copies and where.
    pub policy: PolicyConfig,
    /// Input limits.
    pub limits: LimitsConfig,
    /// Pseudonymisation of event ids.
    pub pseudonym: PseudonymConfig,
    /// What an erasure does beyond the worker's memory.
    pub erasure: ErasureConfig,
    /// Topic names.
    pub topics: TopicsConfig,
    /// Personal outputs per purpose (`[[outputs.personal]]`).
    pub outputs: OutputsConfig,
    /// Kafka connection and client properties.
    pub kafka: KafkaConfig,
    /// Enrichment data.
    pub enrich: EnrichConfig,
    /// Delivery guarantees, batching, consent freshness and instances.
    pub delivery: DeliveryConfig,
    /// Metrics, traces, logs and the HTTP endpoints.
    pub telemetry: TelemetryConfig,
}

/// Delivery guarantee.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryMode {
    /// Kafka transactions: each input's outputs appear once to read_committed consumers.
    #[default]
    ExactlyOnce,
    /// Idempotent producer, offsets stored after acknowledgement; duplicates after a crash.
    AtLeastOnce,
}

/// Delivery settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// `exactly-once` or `at-least-once`.
    pub mode: DeliveryMode,
    /// A transaction commits after this many inputs…
    pub batch_max_records: usize,
    /// …or after this many milliseconds, whichever comes first.
    pub batch_max_ms: u64,
    /// Events are not processed while the view of the consent topic is older than this.
    pub max_consent_staleness_ms: u64,
    /// Consumers (each with its own producer) in this process, sharing the tables.
    pub instances: usize,
    /// Stable name of this process for `transactional.id`s (`<group>.<id>.<slot>`);
    /// empty = the host name. Two live processes must not share it.
    pub instance_id: String,
    /// With a `delivery.instance_id` set, each consumer joins as a static member
    /// (`group.instance.id = <instance_id>.<slot>`), so a restarted process gets its
    /// partitions back at once instead of after `session.timeout.ms`. Without an
    /// explicit id (host names change between pods) membership stays dynamic.
    pub static_membership: bool,
    /// Transactions aborted in a row for Kafka errors (not consent replays) after which
    /// the worker exits: 5 when authorization was denied, 6 otherwise.
    pub max_consecutive_aborts: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            mode: DeliveryMode::ExactlyOnce,
            batch_max_records: 5000,
            batch_max_ms: 100,
            max_consent_staleness_ms: 1000,
            instances: 1,
            instance_id: String::new(),
            static_membership: true,
            max_consecutive_aborts: 10,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// `time LEVEL message`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Telemetry settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Port of `/health/live`, `/health/ready` and `/metrics` (0 = no HTTP server).
    pub http_port: u16,
    /// Address the HTTP server binds to.
    pub http_bind: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Most verbose level logged: error, warn, info, debug or trace.
    pub log_level: String,
    /// OTLP endpoint for metrics and traces; empty = `OTEL_EXPORTER_OTLP_ENDPOINT`, or none.
    pub otlp_endpoint: String,
    /// Share of records that get a span (0.0–1.0).
    pub trace_sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            http_port: 9464,
            http_bind: "0.0.0.0".into(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            otlp_endpoint: String::new(),
            trace_sample_ratio: 0.01,
        }
    }
}

/// Enrichment data sources.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// MaxMind-format `.mmdb` files for IP geolocation (GeoIP2/GeoLite2 City or DB-IP
    /// city lite; IPv4 and IPv6 may be separate files). Empty: no IP location.
    pub geoip: Vec<PathBuf>,
    /// IP-to-ASN CSV files in ip-location-db's layout (`asn-ipv4.csv`, `asn-ipv6.csv`)
    /// for the records' `network`. Empty: the fetched files when present, else none.
    pub network: Vec<PathBuf>,
}

/// Input limits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Raw events larger than this many bytes are dead-lettered as `too_large`.
    pub max_event_bytes: usize,
    /// The most bytes one output record may take (key, value, `dlq.*` headers): an
    /// input with a larger output becomes one `output_too_large` dead letter. The
    /// worker's producers may send this plus `kafka::PRODUCER_HEADROOM` (headers the
    /// edge adds, record framing), and start-up checks the output topics accept that.
    /// The default fits librdkafka's and the broker's default limits.
    pub max_output_bytes: usize,
    /// A consent's or profile's `updated_at` more than this far ahead of the time its
    /// record was written (or of the worker's clock, if earlier) is not trusted: it is
    /// treated as that time, so a skewed upstream clock cannot outrank a later erasure.
    pub max_clock_skew_ms: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_event_bytes: 1 << 20,
            max_output_bytes: 1_000_000,
            max_clock_skew_ms: 5 * 60 * 1000,
        }
    }
}

/// Erasure handling.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ErasureConfig {
    /// On erasure, write tombstones for the user to the consent and profile topics, so
    /// that compaction removes their data from Kafka too (needs WRITE on both topics).
    pub tombstone_tables: bool,
}

impl Default for ErasureConfig {
    fn default() -> Self {
        ErasureConfig {
            tombstone_tables: true,
        }
    }
}

/// Pseudonymisation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PseudonymConfig {
    /// HMAC-SHA256 key for the anonymous `event_id` (required unless `key_file` is set:
    /// ≥ 32 bytes, no placeholder, enough variety). Prefer the environment
    /// (`CONSENT_ENRICHER__PSEUDONYM__KEY`) or `key_file`; never a command line.
    pub key: Secret,
    /// A file holding the key (one trailing newline ignored), e.g. a Kubernetes secret
    /// mounted as a file; empty = use `key`. Setting both is an error.
    pub key_file: String,
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Topic names.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Raw events in.
    pub raw: String,
    /// Consent records in (compacted).
    pub consent: String,
    /// Profiles in (compacted).
    pub profile: String,
    /// Erasure requests in.
    pub erasure: String,
    /// Personal events out.
    pub personal: String,
    /// Anonymous events out.
    pub anonymous: String,
    /// Dead letters out.
    pub dead_letter: String,
    /// Audit records out.
    pub audit: String,
    /// Partitions of every topic `topics create` makes (the worker scales up to this).
    pub partitions: i32,
    /// Replication factor of every topic `topics create` makes.
    pub replication_factor: i32,
    /// `retention.ms` `topics create` gives the personal output: personal data is kept
    /// only as long as necessary. -1 = forever.
    pub personal_retention_ms: i64,
    /// `retention.ms` `topics create` gives the dead-letter topic, which holds raw input
    /// (personal data included) unchanged. -1 = forever.
    pub dead_letter_retention_ms: i64,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            raw: "usage.raw".into(),
            consent: "users.consent".into(),
            profile: "users.profile".into(),
            erasure: "users.erasure".into(),
            personal: "usage.personal".into(),
            anonymous: "usage.anonymous".into(),
            dead_letter: "usage.dead-letter".into(),
            audit: "privacy.audit".into(),
            partitions: 6,
            replication_factor: 1,
            personal_retention_ms: 30 * DAY_MS,
            dead_letter_retention_ms: 7 * DAY_MS,
        }
    }
}

/// Kafka connection.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub bootstrap_servers: String,
    /// Consumer group of the workers.
    pub group_id: String,
    /// Extra librdkafka properties for every client (TLS, SASL, …).
    pub client: BTreeMap<String, String>,
    /// Extra librdkafka properties for consumers only.
    pub consumer: BTreeMap<String, String>,
    /// Extra librdkafka properties for producers only.
    pub producer: BTreeMap<String, String>,
    /// How long start-up waits for the cluster before giving up (milliseconds).
    pub startup_timeout_ms: u64,
    /// Allow an unencrypted connection (`security.protocol` PLAINTEXT or SASL_PLAINTEXT)
    /// to brokers that are not on a loopback address. Off: personal data in transit is
    /// encrypted unless an operator says otherwise (a warning is logged when on).
    pub allow_plaintext: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "127.0.0.1:9092".into(),
            group_id: "consent-enricher".into(),
            client: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            startup_timeout_ms: 30_000,
            allow_plaintext: false,
        }
    }
}

/// Asks librdkafka whether it takes `name = value`, here rather than when a client is
/// made: librdkafka's own error repeats the value, which may be a mistyped password.
fn librdkafka_accepts(map: &'static str, name: &str, value: &str) -> Result<(), ConfigError> {
    let mut c = rdkafka::ClientConfig::new();
    c.set(name, value);
    match c.create_native_config() {
        Ok(_) => Ok(()),
        Err(rdkafka::error::KafkaError::ClientConfig(res, ..)) => Err(ConfigError::Value {
            key: map,
            why: if res == rdkafka::types::RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN {
                format!("{name} is not a librdkafka property (CONFIGURATION.md lists them)")
            } else {
                format!("librdkafka does not accept the value of {name}")
            },
        }),
        Err(_) => Err(ConfigError::Value {
            key: map,
            why: format!("librdkafka does not accept {name}"),
        }),
    }
}

/// Shows librdkafka's sensitive properties as `***`, so a configuration in a panic
/// message or a debug log holds no password.
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let masked = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .map(|(k, v)| {
                    let v = if is_secret(k) { "***" } else { v.as_str() };
                    (k.clone(), v.to_string())
                })
                .collect()
        };
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("group_id", &self.group_id)
            .field("client", &masked(&self.client))
            .field("consumer", &masked(&self.consumer))
            .field("producer", &masked(&self.producer))
            .field("startup_timeout_ms", &self.startup_timeout_ms)
            .field("allow_plaintext", &self.allow_plaintext)
            .finish()
    }
}

impl Config {
    /// Loads `path` (or the defaults when `None`), applies the environment overrides in
    /// `env` and validates. Unknown keys, in the file or the environment, are errors.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                text.parse::<toml::Table>()
                    .map_err(|e| ConfigError::Invalid(toml_error(&e, Some(&text))))?
            }
            None => toml::Table::new(),
        };
        // The defaults say which keys hold strings: those take environment values verbatim.
        let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
        for (name, value) in env {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                apply_env(&mut table, &defaults, rest, &value)?;
            }
        }
        let mut config = Config::deserialize(toml::Value::Table(table))
            .map_err(|e| ConfigError::Invalid(toml_error(&e, None)))?;
        config.read_key_file()?;
        config.validate()?;
        Ok(config)
    }

    /// Checks ranges and policy invariants that types cannot express. The pseudonym key
    /// is checked separately ([`Config::require_key`]) so `check-config` can run without it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for f in &self.policy.profile_fields {
            if FORBIDDEN_PROFILE_FIELDS.contains(&f.as_str()) {
                return Err(ConfigError::Value {
                    key: "policy.profile_fields",
                    why: format!("{f} is never copied; remove it"),
                });
            }
        }
        if self.topics.partitions < 1 || self.topics.replication_factor < 1 {
            return Err(ConfigError::Value {
                key: "topics.partitions",
                why: "partitions and replication_factor must be at least 1".into(),
            });
        }
        let d = &self.delivery;
        if d.batch_max_records == 0
            || d.batch_max_ms == 0
            || d.instances == 0
            || d.max_consecutive_aborts == 0
        {
            return Err(ConfigError::Value {
                key: "delivery",
                why: "batch_max_records, batch_max_ms, instances and max_consecutive_aborts must be at least 1".into(),
            });
        }
        if !(0.0..=1.0).contains(&self.telemetry.trace_sample_ratio) {
            return Err(ConfigError::Value {
                key: "telemetry.trace_sample_ratio",
                why: "must be between 0 and 1".into(),
            });
        }
        if !["error", "warn", "info", "debug", "trace"].contains(&self.telemetry.log_level.as_str())
        {
            return Err(ConfigError::Value {
                key: "telemetry.log_level",
                why: "one of error, warn, info, debug, trace".into(),
            });
        }
        for (key, ms) in [
            (
                "topics.personal_retention_ms",
                self.topics.personal_retention_ms,
            ),
            (
                "topics.dead_letter_retention_ms",
                self.topics.dead_letter_retention_ms,
            ),
        ] {
            if ms == 0 || ms < -1 {
                return Err(ConfigError::Value {
                    key,
                    why: "must be positive, or -1 for no time limit".into(),
                });
            }
        }
        if self.limits.max_clock_skew_ms > 7 * DAY_MS as u64 {
            return Err(ConfigError::Value {
                key: "limits.max_clock_skew_ms",
                why: "at most 7 days: a larger skew would trust nearly any future timestamp".into(),
            });
        }
        self.validate_outputs()?;
        self.validate_topics()?;
        self.validate_pass_through()?;
        if self.limits.max_event_bytes == 0 {
            return Err(ConfigError::Value {
                key: "limits.max_event_bytes",
                why: "must be positive".into(),
            });
        }
        if self.limits.max_output_bytes < crate::pipeline::MIN_OUTPUT_BYTES {
            return Err(ConfigError::Value {
                key: "limits.max_output_bytes",
                why: format!(
                    "must be at least {} (a bounded dead letter must fit)",
                    crate::pipeline::MIN_OUTPUT_BYTES
                ),
            });
        }
        if let Some(why) = (!self.pseudonym.key.is_empty())
            .then(|| key_problem(self.pseudonym.key.expose()))
            .flatten()
        {
            return Err(ConfigError::Value {
                key: "pseudonym.key",
                why,
            });
        }
        transport::check(&self.kafka)?;
        Ok(())
    }

    /// True when `kafka.allow_plaintext` is what lets a client reach a remote broker
    /// unencrypted (the worker warns at start-up).
    pub fn sends_plaintext_off_host(&self) -> bool {
        transport::plaintext_off_host(&self.kafka)
    }

    /// Replaces an empty `pseudonym.key` by the contents of `pseudonym.key_file`.
    fn read_key_file(&mut self) -> Result<(), ConfigError> {
        let path = &self.pseudonym.key_file;
        if path.is_empty() {
            return Ok(());
        }
        if !self.pseudonym.key.is_empty() {
            return Err(ConfigError::Value {
                key: "pseudonym.key_file",
                why: "set either pseudonym.key or pseudonym.key_file, not both".into(),
            });
        }
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            ConfigError::Value {
                key: "pseudonym.key_file",
                why: format!("cannot read it: {}", e.kind()),
            }
        })?);
        let key = text
            .strip_suffix('\n')
            .map(|k| k.strip_suffix('\r').unwrap_or(k))
            .unwrap_or(&text);
        self.pseudonym.key = Secret::from(key);
        Ok(())
    }

    /// Every topic name is distinct: a topic read as two things (an output that is also
    /// an input, the audit topic shared with dead letters) breaks the contract silently.
    /// Names are not echoed, only their keys.
    fn validate_topics(&self) -> Result<(), ConfigError> {
        let t = &self.topics;
        let outputs = self.personal_outputs();
        let mut named: Vec<(&'static str, &str)> = vec![
            ("topics.raw", &t.raw),
            ("topics.consent", &t.consent),
            ("topics.profile", &t.profile),
            ("topics.erasure", &t.erasure),
            ("topics.anonymous", &t.anonymous),
            ("topics.dead_letter", &t.dead_letter),
            ("topics.audit", &t.audit),
        ];
        let personal_key = match self.outputs.personal.is_empty() {
            true => "topics.personal",
            false => "outputs.personal",
        };
        named.extend(outputs.iter().map(|o| (personal_key, o.topic.as_str())));
        for (i, (key, name)) in named.iter().enumerate() {
            if name.is_empty() {
                return Err(ConfigError::Value {
                    key,
                    why: "must not be empty".into(),
                });
            }
            if let Some((other, _)) = named[i + 1..].iter().find(|(_, n)| n == name) {
                return Err(ConfigError::Value {
                    key,
                    why: format!("names the same topic as {other}; every topic must be distinct"),
                });
            }
        }
        Ok(())
    }

    /// Pass-through properties may not change what the delivery guarantees rest on
    /// ([`PROTECTED`]): refused rather than silently overridden, so the operator learns
    /// their setting has no place, not that it was ignored.
    fn validate_pass_through(&self) -> Result<(), ConfigError> {
        let k = &self.kafka;
        for (key, map) in [
            ("kafka.client", &k.client),
            ("kafka.consumer", &k.consumer),
            ("kafka.producer", &k.producer),
        ] {
            for name in map.keys() {
                let normalized = name.trim().to_ascii_lowercase();
                if let Some((_, why)) = PROTECTED.iter().find(|(p, _)| *p == normalized) {
                    return Err(ConfigError::Value {
                        key,
                        why: format!("{normalized} cannot be set here: {why}"),
                    });
                }
            }
            for (name, value) in map {
                librdkafka_accepts(key, name, value)?;
            }
        }
        Ok(())
    }

    /// The pseudonym key, or the error `run` and `process` refuse to start with.
    pub fn require_key(&self) -> Result<&[u8], ConfigError> {
        if self.pseudonym.key.is_empty() {
            return Err(ConfigError::Value {
                key: "pseudonym.key",
                why: format!(
                    "required: set CONSENT_ENRICHER__PSEUDONYM__KEY or pseudonym.key_file (a file, e.g. a mounted secret) to a secret of at least {MIN_KEY_LEN} bytes, e.g. `openssl rand -hex 32`"
                ),
            });
        }
        if let Some(why) = key_problem(self.pseudonym.key.expose()) {
            return Err(ConfigError::Value {
                key: "pseudonym.key",
                why,
            });
        }
        Ok(self.pseudonym.key.expose().as_bytes())
    }

    /// The allowed clock skew for the tables, in the signed milliseconds `State` uses
    /// (validated to at most 7 days, so the conversion cannot wrap).
    pub fn max_clock_skew_ms(&self) -> i64 {
        i64::try_from(self.limits.max_clock_skew_ms).unwrap_or(i64::MAX)
    }

    /// What the core is built from; fails without a pseudonym key.
    pub fn core_settings(&self) -> Result<CoreSettings, ConfigError> {
        Ok(CoreSettings {
            policy: self.policy.clone(),
            personal_outputs: self.personal_outputs(),
            max_event_bytes: self.limits.max_event_bytes,
            max_output_bytes: self.limits.max_output_bytes,
            pseudonym_key: zeroize::Zeroizing::new(self.require_key()?.to_vec()),
        })
    }

    /// The effective configuration as TOML with secrets masked.
    pub fn masked(&self) -> String {
        let mut c = self.clone();
        if !c.pseudonym.key.is_empty() {
            c.pseudonym.key = Secret::from("***");
        }
        for map in [
            &mut c.kafka.client,
            &mut c.kafka.consumer,
            &mut c.kafka.producer,
        ] {
            for (k, v) in map.iter_mut() {
                if is_secret(k) {
                    *v = "***".into();
                }
            }
        }
        toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

mod env;
mod keys;
mod outputs;
mod secret;
mod sensitive;
mod transport;

#[cfg(test)]
use env::redact;
use env::{apply_env, toml_error};
pub use keys::{ConfigKey, KEYS, OUTPUT_KEYS, markdown_table};
pub use outputs::{
    MAX_NAME_LEN, MAX_OUTPUTS, OutputsConfig, RESERVED_NAMES, third_party_disclosures,
};
pub use secret::{MIN_KEY_LEN, Secret, key_problem};
use sensitive::is_secret;
pub use sensitive::{PROTECTED, SENSITIVE};

#[cfg(test)]
mod tests;

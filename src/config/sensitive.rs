//! Which librdkafka properties are secrets (masked by `check-config`) and which ones the
//! delivery guarantees rest on (refused in the pass-through maps). Lists only; masking and
//! refusing happen in `config`.

/// librdkafka's sensitive properties (flagged `_RK_SENSITIVE` in its `rdkafka_conf.c`,
/// 2.12: the ones it redacts itself when it dumps its configuration).
pub const SENSITIVE: &[&str] = &[
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.assertion.private.key.file",
    "sasl.oauthbearer.assertion.private.key.passphrase",
    "sasl.oauthbearer.assertion.private.key.pem",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.ca.pem",
    "ssl.keystore.password",
];

/// librdkafka properties the worker's guarantees rest on, and why: the worker's clients
/// set each of them themselves, so `[kafka.*]` pass-through may not.
pub const PROTECTED: &[(&str, &str)] = &[
    (
        "isolation.level",
        "the worker's consumers read only committed records (read_committed), or aborted outputs of upstream transactions would be processed",
    ),
    (
        "enable.auto.offset.store",
        "offsets are stored only once every output of a record is acknowledged",
    ),
    (
        "enable.auto.commit",
        "each delivery mode sets it (exactly-once commits offsets in its transactions)",
    ),
    (
        "enable.idempotence",
        "producers are idempotent so that retries cannot duplicate outputs",
    ),
    (
        "transactional.id",
        "exactly-once derives one per instance from kafka.group_id and delivery.instance_id",
    ),
    (
        "bootstrap.servers",
        "set kafka.bootstrap_servers, which the plaintext rule checks",
    ),
    (
        "metadata.broker.list",
        "set kafka.bootstrap_servers, which the plaintext rule checks",
    ),
    (
        "group.instance.id",
        "static membership derives one per consumer from delivery.instance_id (delivery.static_membership)",
    ),
];

pub(super) fn is_secret(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    // The exact list, and a net for properties it does not know (plugins, newer versions).
    SENSITIVE.contains(&key.as_str())
        || ["password", "secret", "jaas", "token", "key.pem", "private"]
            .iter()
            .any(|s| key.contains(s))
}

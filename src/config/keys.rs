//! The documentation of every configuration key: its default and meaning, the source of
//! the README's configuration table (`check-config --markdown-table`; a test keeps the
//! two in step). Text only: defaults are the config structs' own, and a test checks these
//! match them.

/// One documented key.
#[derive(Debug, Clone, Copy)]
pub struct ConfigKey {
    /// Dotted key.
    pub key: &'static str,
    /// Default, as TOML.
    pub default: &'static str,
    /// Meaning.
    pub meaning: &'static str,
}

/// The keys of one `[[outputs.personal]]` table, documented as `outputs.personal[].<key>`.
pub const OUTPUT_KEYS: &[ConfigKey] = &[
    ConfigKey {
        key: "outputs.personal[].name",
        default: "(required)",
        meaning: "The output's label in metrics (`decisions_total{output=..}`), summaries and `acls` (its readers' role): `[a-z][a-z0-9_]*`, at most 32 bytes, unique, not a fixed role (worker, producer, analytics, admin).",
    },
    ConfigKey {
        key: "outputs.personal[].topic",
        default: "(required)",
        meaning: "Its topic; distinct from every other topic. `topics create` makes it with topics.personal_retention_ms.",
    },
    ConfigKey {
        key: "outputs.personal[].purposes",
        default: "(required)",
        meaning: "Consent purposes it needs, all of them (analytics, personalization, marketing, third_party_sharing); not empty. Its records' consent.purposes show these only.",
    },
    ConfigKey {
        key: "outputs.personal[].profile_fields",
        default: "[]",
        meaning: "Profile fields it carries (`profile` is absent when empty); bank_card and government_id are refused.",
    },
    ConfigKey {
        key: "outputs.personal[].context",
        default: "(every field; for third_party_sharing all but ip, device_location, geo and network)",
        meaning: "Event context it carries, of identifiers (anonymous_id, device_id, session_id), ip, user_agent, language, url, referrer, app, properties, geo, device_location, time, network; the others are absent from its records. A third-party output gets ip, device_location, geo (the IP's location) or network only when they are named here, and never the input's trace headers.",
    },
    ConfigKey {
        key: "outputs.personal[].properties_allow_list",
        default: "[\"*\"]",
        meaning: "Top-level property keys kept when context has properties; `*` keeps all. Card numbers are scrubbed either way.",
    },
    ConfigKey {
        key: "outputs.personal[].key",
        default: "\"user_id\"",
        meaning: "Its records' Kafka key: user_id (one user's records in order on one partition) or none.",
    },
];

/// Every key, its default and meaning: the source of the README's configuration table.
pub const KEYS: &[ConfigKey] = &[
    ConfigKey {
        key: "policy.personal_purpose",
        default: "\"analytics\"",
        meaning: "Consent purpose that allows a personal record (analytics, personalization, marketing, third_party_sharing).",
    },
    ConfigKey {
        key: "policy.query_allow_list",
        default: "[\"utm_source\", \"utm_medium\", \"utm_campaign\", \"utm_term\", \"utm_content\"]",
        meaning: "Query parameters kept in the anonymous URL; all others are dropped.",
    },
    ConfigKey {
        key: "policy.properties_allow_list",
        default: "[\"*\"]",
        meaning: "Top-level property keys kept in the anonymous record; `*` keeps all. Values are scrubbed either way.",
    },
    ConfigKey {
        key: "policy.profile_fields",
        default: "[\"name\", \"email\", \"phone\", \"mailing_address\", \"preferences\"]",
        meaning: "Profile fields copied into the personal record; bank_card and government_id are refused.",
    },
    ConfigKey {
        key: "policy.location_precision",
        default: "\"city\"",
        meaning: "Location kept in the anonymous record: city, region, country or none.",
    },
    ConfigKey {
        key: "policy.network_precision",
        default: "\"asn\"",
        meaning: "What the anonymous record says of the address's network when enrich.network is set: none, asn (the AS number) or organization (number and name). An AS number names its holder in public registries, so both disclose the same; policy.network_min_ipv4_addresses is what keeps small networks out.",
    },
    ConfigKey {
        key: "policy.network_min_ipv4_addresses",
        default: "65536",
        meaning: "The anonymous record names only autonomous systems holding at least this many IPv4 addresses in enrich.network (a /16 by default: the ~3,700 largest, 92 % of routed IPv4); a smaller one (a small employer's, a person's) gets `network: null`; larger employers are still named.",
    },
    ConfigKey {
        key: "policy.anonymous_visits",
        default: "\"off\"",
        meaning: "`daily` adds `visit` to the anonymous record: a keyed hash of the session id (else the anonymous id) and the event's UTC day, linking one session's events within one day and nothing else. `off`: no `visit`.",
    },
    ConfigKey {
        key: "outputs.personal",
        default: "[]",
        meaning: "Personal outputs per purpose, one `[[outputs.personal]]` table each (keys `outputs.personal[].*` below). Empty: one output named `personal`, to topics.personal, gated on policy.personal_purpose, carrying policy.profile_fields and every context field. A list replaces those three keys: changing any of them as well is an error. In the environment: a TOML array of inline tables.",
    },
    ConfigKey {
        key: "limits.max_event_bytes",
        default: "1048576",
        meaning: "Raw events larger than this are dead-lettered as too_large.",
    },
    ConfigKey {
        key: "limits.max_output_bytes",
        default: "1000000",
        meaning: "Largest output record (key, value, headers); an input with a larger output is dead-lettered as output_too_large. Producers may send this plus 16 KiB; the output topics' max.message.bytes must allow that (checked at start-up).",
    },
    ConfigKey {
        key: "limits.max_clock_skew_ms",
        default: "300000",
        meaning: "A consent's or profile's updated_at more than this ahead of the time its record was written (or of the worker's clock) is treated as that time, and counted.",
    },
    ConfigKey {
        key: "erasure.tombstone_tables",
        default: "true",
        meaning: "On erasure, write tombstones for the user to the consent and profile topics so compaction removes their data from Kafka (needs WRITE on both).",
    },
    ConfigKey {
        key: "pseudonym.key",
        default: "(required)",
        meaning: "HMAC-SHA256 key for the anonymous event_id: at least 32 bytes, no placeholder, enough variety (`openssl rand -hex 32`). Set it through CONSENT_ENRICHER__PSEUDONYM__KEY or pseudonym.key_file, never on a command line.",
    },
    ConfigKey {
        key: "pseudonym.key_file",
        default: "\"\"",
        meaning: "A file holding the pseudonym key (one trailing newline ignored), e.g. a Kubernetes secret mounted as a file; empty = pseudonym.key. Setting both is an error.",
    },
    ConfigKey {
        key: "topics.raw",
        default: "\"usage.raw\"",
        meaning: "Raw events in.",
    },
    ConfigKey {
        key: "topics.consent",
        default: "\"users.consent\"",
        meaning: "Consent records in (compacted).",
    },
    ConfigKey {
        key: "topics.profile",
        default: "\"users.profile\"",
        meaning: "Profiles in (compacted).",
    },
    ConfigKey {
        key: "topics.erasure",
        default: "\"users.erasure\"",
        meaning: "Erasure requests in.",
    },
    ConfigKey {
        key: "topics.personal",
        default: "\"usage.personal\"",
        meaning: "Personal events out.",
    },
    ConfigKey {
        key: "topics.anonymous",
        default: "\"usage.anonymous\"",
        meaning: "Anonymous events out.",
    },
    ConfigKey {
        key: "topics.dead_letter",
        default: "\"usage.dead-letter\"",
        meaning: "Dead letters out.",
    },
    ConfigKey {
        key: "topics.audit",
        default: "\"privacy.audit\"",
        meaning: "Audit records out.",
    },
    ConfigKey {
        key: "topics.partitions",
        default: "6",
        meaning: "Partitions of every topic `topics create` makes; the most worker instances that can share the load.",
    },
    ConfigKey {
        key: "topics.replication_factor",
        default: "1",
        meaning: "Replication factor of every topic `topics create` makes (3 in production).",
    },
    ConfigKey {
        key: "topics.personal_retention_ms",
        default: "2592000000",
        meaning: "retention.ms `topics create` gives the personal output (30 days): personal data is kept only as long as necessary. -1 = forever.",
    },
    ConfigKey {
        key: "topics.dead_letter_retention_ms",
        default: "604800000",
        meaning: "retention.ms `topics create` gives the dead-letter topic, which holds raw input unchanged (7 days). -1 = forever.",
    },
    ConfigKey {
        key: "kafka.bootstrap_servers",
        default: "\"127.0.0.1:9092\"",
        meaning: "Kafka bootstrap servers.",
    },
    ConfigKey {
        key: "kafka.group_id",
        default: "\"consent-enricher\"",
        meaning: "Consumer group of the workers.",
    },
    ConfigKey {
        key: "kafka.client",
        default: "{}",
        meaning: "librdkafka properties for every client (TLS, SASL, …). isolation.level, enable.auto.offset.store, enable.auto.commit, enable.idempotence and transactional.id are refused here and below: the delivery guarantees set them.",
    },
    ConfigKey {
        key: "kafka.consumer",
        default: "{}",
        meaning: "librdkafka properties for consumers only.",
    },
    ConfigKey {
        key: "kafka.producer",
        default: "{}",
        meaning: "librdkafka properties for producers only.",
    },
    ConfigKey {
        key: "kafka.startup_timeout_ms",
        default: "30000",
        meaning: "How long start-up waits for the cluster before exiting with broker_unreachable (a refused SASL or TLS handshake exits at once with authentication_failed).",
    },
    ConfigKey {
        key: "kafka.allow_plaintext",
        default: "false",
        meaning: "Allow an unencrypted security.protocol (PLAINTEXT, librdkafka's default, or SASL_PLAINTEXT) to brokers not on a loopback address; off, such a configuration is refused (exit 2). On, the worker warns at start-up.",
    },
    ConfigKey {
        key: "enrich.geoip",
        default: "[]",
        meaning: "MaxMind-format .mmdb files for IP geolocation (GeoIP2/GeoLite2 City or DB-IP city lite; IPv4 and IPv6 may be separate files). `--geoip` overrides.",
    },
    ConfigKey {
        key: "enrich.network",
        default: "[]",
        meaning: "IP-to-ASN CSV files in ip-location-db's layout (`asn-ipv4.csv`, `asn-ipv6.csv` from scripts/fetch-geoip asn) for the records' `network`. Empty: the fetched files when present, else no network. `--network` overrides.",
    },
    ConfigKey {
        key: "delivery.mode",
        default: "\"exactly-once\"",
        meaning: "exactly-once (Kafka transactions) or at-least-once (idempotent producer, duplicates after a crash).",
    },
    ConfigKey {
        key: "delivery.batch_max_records",
        default: "5000",
        meaning: "A transaction commits after this many inputs…",
    },
    ConfigKey {
        key: "delivery.batch_max_ms",
        default: "100",
        meaning: "…or after this many milliseconds, whichever comes first.",
    },
    ConfigKey {
        key: "delivery.max_consent_staleness_ms",
        default: "1000",
        meaning: "Events are not processed while the view of the consent topic is older than this (fail closed).",
    },
    ConfigKey {
        key: "delivery.instances",
        default: "1",
        meaning: "Consumers in this process (each with its own producer), sharing the tables; useful up to the partition count.",
    },
    ConfigKey {
        key: "delivery.instance_id",
        default: "\"\"",
        meaning: "Stable name of this process in transactional.ids (<group_id>.<instance_id>.<slot>) and static group membership; empty = host name. Two live processes must not share it.",
    },
    ConfigKey {
        key: "delivery.static_membership",
        default: "true",
        meaning: "With delivery.instance_id set, each consumer is a static group member (group.instance.id = <instance_id>.<slot>): a restarted process gets its partitions back at once, not after session.timeout.ms; a stopped one keeps them until then. Dynamic without an explicit instance_id.",
    },
    ConfigKey {
        key: "delivery.max_consecutive_aborts",
        default: "10",
        meaning: "Transactions aborted in a row for Kafka errors (not consent replays; each retry waits twice as long, 200 ms up to 10 s) after which the worker exits: code 5 when authorization was denied, 6 otherwise.",
    },
    ConfigKey {
        key: "telemetry.http_port",
        default: "9464",
        meaning: "Port of /health/live, /health/ready and /metrics (0 = no HTTP server).",
    },
    ConfigKey {
        key: "telemetry.http_bind",
        default: "\"0.0.0.0\"",
        meaning: "Address the HTTP server binds to.",
    },
    ConfigKey {
        key: "telemetry.log_format",
        default: "\"text\"",
        meaning: "text or json.",
    },
    ConfigKey {
        key: "telemetry.log_level",
        default: "\"info\"",
        meaning: "Most verbose level logged: error, warn, info, debug, trace. Logs never contain record contents.",
    },
    ConfigKey {
        key: "telemetry.otlp_endpoint",
        default: "\"\"",
        meaning: "OTLP endpoint for metrics and traces; empty = OTEL_EXPORTER_OTLP_ENDPOINT if set, else no export.",
    },
    ConfigKey {
        key: "telemetry.trace_sample_ratio",
        default: "0.01",
        meaning: "Share of records that get a span (0.0–1.0).",
    },
];

/// The README's configuration table, generated from [`KEYS`].
pub fn markdown_table() -> String {
    let mut out = String::from("| key | default | meaning |\n|---|---|---|\n");
    for k in KEYS.iter().chain(OUTPUT_KEYS) {
        out.push_str(&format!(
            "| `{}` | `{}` | {} |\n",
            k.key,
            k.default.replace('|', "\\|"),
            k.meaning
        ));
    }
    out
}

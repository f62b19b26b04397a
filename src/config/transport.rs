//! The plaintext rule: a client whose `security.protocol` does not encrypt (PLAINTEXT,
//! librdkafka's default, or SASL_PLAINTEXT) may only reach brokers on a loopback address,
//! unless `kafka.allow_plaintext` says the network is trusted. It reads the configuration
//! only (no DNS: a name other than `localhost` counts as remote), and its errors name
//! keys, never the configured hosts or values.

use super::{ConfigError, KafkaConfig};

/// True when the protocol `value` (librdkafka's, any case) sends data unencrypted.
fn unencrypted(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    v == "plaintext" || v == "sasl_plaintext"
}

/// The protocols the worker's clients will use: each role's own setting, else the
/// shared one, else librdkafka's default (plaintext).
fn protocols(k: &KafkaConfig) -> [&str; 2] {
    let shared = k.client.get("security.protocol").map(String::as_str);
    [&k.consumer, &k.producer].map(|role| {
        role.get("security.protocol")
            .map(String::as_str)
            .or(shared)
            .unwrap_or("plaintext")
    })
}

/// The host part of one `bootstrap.servers` entry (`host:port`, `[v6]:port`,
/// `proto://host:port`).
fn host(entry: &str) -> &str {
    let e = entry.trim();
    let e = e.split_once("://").map_or(e, |(_, rest)| rest);
    if let Some(v6) = e.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    e.rsplit_once(':').map_or(e, |(h, _)| h)
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True when some client would send data unencrypted to a broker off this host.
pub(super) fn plaintext_off_host(k: &KafkaConfig) -> bool {
    protocols(k).iter().any(|p| unencrypted(p))
        && k.bootstrap_servers
            .split(',')
            .filter(|e| !e.trim().is_empty())
            .any(|e| !is_loopback(host(e)))
}

/// The rule, as configuration validation runs it.
pub(super) fn check(k: &KafkaConfig) -> Result<(), ConfigError> {
    if k.allow_plaintext || !plaintext_off_host(k) {
        return Ok(());
    }
    Err(ConfigError::Value {
        key: "kafka.bootstrap_servers",
        why: "a broker is not on a loopback address and security.protocol does not encrypt \
              (PLAINTEXT is librdkafka's default): personal data would cross the network in \
              clear. Set [kafka.client] security.protocol = \"SASL_SSL\" or \"SSL\" (README \
              \"Security\"), or kafka.allow_plaintext = true for a network you trust"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(servers: &str, protocol: Option<&str>) -> KafkaConfig {
        let mut k = KafkaConfig {
            bootstrap_servers: servers.into(),
            ..KafkaConfig::default()
        };
        if let Some(p) = protocol {
            k.client.insert("security.protocol".into(), p.into());
        }
        k
    }

    #[test]
    fn loopback_brokers_may_be_plaintext() {
        for s in [
            "127.0.0.1:9092",
            "localhost:9092",
            "[::1]:9092",
            "127.0.0.2:1,localhost:2",
        ] {
            assert!(check(&kafka(s, None)).is_ok(), "{s}");
        }
    }

    #[test]
    fn remote_plaintext_is_refused_unless_allowed() {
        for (s, p) in [
            ("kafka:9092", None),
            ("10.0.0.5:9092", Some("PLAINTEXT")),
            ("127.0.0.1:9092,broker-2:9092", Some("sasl_plaintext")),
            ("[2001:db8::1]:9092", None),
        ] {
            let err = check(&kafka(s, p)).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains("kafka.allow_plaintext"), "{err}");
            assert!(!err.contains(s), "the error names no host: {err}");
            let mut k = kafka(s, p);
            k.allow_plaintext = true;
            assert!(check(&k).is_ok());
        }
    }

    #[test]
    fn encrypted_protocols_reach_anything_and_roles_override() {
        assert!(check(&kafka("kafka:9093", Some("SASL_SSL"))).is_ok());
        assert!(check(&kafka("kafka:9093", Some("ssl"))).is_ok());
        // A producer-only override back to plaintext is caught.
        let mut k = kafka("kafka:9093", Some("SSL"));
        k.producer
            .insert("security.protocol".into(), "PLAINTEXT".into());
        assert!(check(&k).is_err());
    }
}

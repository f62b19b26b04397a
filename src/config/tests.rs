//! Unit tests of `config`, kept beside it in their own file so the module itself stays
//! small enough to read in one sitting.

use super::*;
use crate::model::Purpose;

fn flatten(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t)
            if !prefix.starts_with("kafka.") || prefix.matches('.').count() == 0 =>
        {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        _ => out.push(prefix.to_string()),
    }
}

#[test]
fn every_key_is_documented_and_every_documented_key_exists() {
    let v = toml::Value::try_from(Config::default()).unwrap();
    let mut keys = Vec::new();
    flatten("", &v, &mut keys);
    keys.sort();
    let mut documented: Vec<String> = KEYS.iter().map(|k| k.key.to_string()).collect();
    documented.sort();
    assert_eq!(keys, documented);
}

#[test]
fn every_output_key_is_documented_with_its_default() {
    let sample = PersonalOutput {
        context: Some(vec![ContextField::Ip]),
        ..PersonalOutput::single(&PolicyConfig::default(), "usage.personal")
    };
    let toml::Value::Table(t) = toml::Value::try_from(&sample).unwrap() else {
        panic!("a table");
    };
    let mut keys: Vec<String> = t
        .keys()
        .map(|k| format!("outputs.personal[].{k}"))
        .collect();
    keys.sort();
    let mut documented: Vec<&str> = OUTPUT_KEYS.iter().map(|k| k.key).collect();
    documented.sort();
    assert_eq!(keys, documented);
    // The defaults the table states are the ones serde applies.
    let parsed: PersonalOutput =
        toml::from_str("name = \"n\"\ntopic = \"t\"\npurposes = [\"marketing\"]").unwrap();
    for k in OUTPUT_KEYS.iter().filter(|k| !k.default.starts_with('(')) {
        let field = k.key.trim_start_matches("outputs.personal[].");
        let got = &toml::Value::try_from(&parsed).unwrap()[field];
        let want: toml::Value =
            format!("v = {}", k.default).parse::<toml::Table>().unwrap()["v"].clone();
        assert_eq!(got, &want, "{}", k.key);
    }
    assert_eq!(parsed.context, None, "absent: the purpose decides");
}

#[test]
fn documented_defaults_match_the_code() {
    let v = toml::Value::try_from(Config::default()).unwrap();
    for k in KEYS.iter().filter(|k| k.default != "(required)") {
        let mut cur = &v;
        for part in k.key.split('.') {
            cur = &cur[part];
        }
        let want: toml::Value =
            format!("v = {}", k.default).parse::<toml::Table>().unwrap()["v"].clone();
        assert_eq!(cur, &want, "{}", k.key);
    }
}

#[test]
fn env_overrides_and_unknown_keys() {
    let env = [
        (
            "CONSENT_ENRICHER__POLICY__PERSONAL_PURPOSE".to_string(),
            "marketing".to_string(),
        ),
        (
            "CONSENT_ENRICHER__KAFKA__GROUP_ID".to_string(),
            "workers".to_string(),
        ),
        (
            "CONSENT_ENRICHER__LIMITS__MAX_EVENT_BYTES".to_string(),
            "2048".to_string(),
        ),
        ("OTHER".to_string(), "x".to_string()),
    ];
    let c = Config::load(None, env).unwrap();
    assert_eq!(c.policy.personal_purpose, Purpose::Marketing);
    assert_eq!(c.kafka.group_id, "workers");
    assert_eq!(c.limits.max_event_bytes, 2048);
    let bad = [(
        "CONSENT_ENRICHER__POLICY__NOPE".to_string(),
        "1".to_string(),
    )];
    assert!(Config::load(None, bad).is_err());
}

#[test]
fn forbidden_profile_fields_and_short_keys_are_refused() {
    let mut c = Config::default();
    c.policy.profile_fields.push("bank_card".into());
    assert!(c.validate().is_err());
    let mut c = Config::default();
    c.pseudonym.key = "short".into();
    assert!(c.validate().is_err());
    assert!(Config::default().require_key().is_err());
}

#[test]
fn placeholder_keys_from_our_own_examples_are_refused() {
    // The values README, deploy/ and compose ship must never pass as keys.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (file, placeholder) in [
        ("README.md", "change-me-to-a-long-secret"),
        (
            "deploy/kubernetes/secret.yaml",
            "REPLACE-with-at-least-32-random-bytes",
        ),
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        assert!(
            text.contains(placeholder),
            "{file} still ships {placeholder}"
        );
        let e = Config::load(None, env(&[("PSEUDONYM__KEY", placeholder)]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pseudonym.key") && !e.contains(placeholder),
            "{e}"
        );
    }
}

#[test]
fn the_key_can_come_from_a_file_and_not_with_a_key_as_well() {
    let dir = std::env::temp_dir().join(format!("ce-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pseudonym-key");
    let key = "5b0e6f3d9a27c4e18f7a62d0c93b1e45aa07f2c8d61e9b34";
    std::fs::write(&path, format!("{key}\n")).unwrap();
    let file = path.to_str().unwrap();
    let c = Config::load(None, env(&[("PSEUDONYM__KEY_FILE", file)])).unwrap();
    assert_eq!(
        c.require_key().unwrap(),
        key.as_bytes(),
        "one newline dropped"
    );
    assert!(!format!("{c:?}").contains(key), "Debug masks the key");
    assert!(!c.masked().contains(key));
    let both = Config::load(
        None,
        env(&[("PSEUDONYM__KEY_FILE", file), ("PSEUDONYM__KEY", key)]),
    );
    assert!(both.unwrap_err().to_string().contains("not both"));
    let missing = Config::load(None, env(&[("PSEUDONYM__KEY_FILE", "/nonexistent/k")]));
    let e = missing.unwrap_err().to_string();
    assert!(
        e.contains("pseudonym.key_file") && !e.contains("/nonexistent"),
        "{e}"
    );
    std::fs::write(&path, "short\n").unwrap();
    assert!(Config::load(None, env(&[("PSEUDONYM__KEY_FILE", file)])).is_err());
}

#[test]
fn secrets_are_masked() {
    let mut c = Config::default();
    c.pseudonym.key = "a-very-secret-key-0123456789abcdef".into();
    c.kafka
        .client
        .insert("sasl.password".into(), "hunter2".into());
    let m = c.masked();
    assert!(
        !m.contains("a-very-secret") && !m.contains("hunter2"),
        "{m}"
    );
    let d = format!("{c:?}");
    assert!(
        !d.contains("a-very-secret") && !d.contains("hunter2"),
        "Debug masks too: {d}"
    );
}

#[test]
fn example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    Config::load(Some(&path), []).unwrap();
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (format!("{ENV_PREFIX}{k}"), (*v).to_string()))
        .collect()
}

#[test]
fn string_keys_take_environment_values_verbatim() {
    let c = Config::load(
        None,
        env(&[
            ("KAFKA__GROUP_ID", "12345"),
            ("PSEUDONYM__KEY", "\"quoted-secret-0123456789abcdef\""),
            ("KAFKA__CLIENT__SASL.PASSWORD", "007"),
            ("KAFKA__CLIENT__SASL.USERNAME", "true"),
            ("DELIVERY__INSTANCE_ID", "[a]"),
            ("DELIVERY__MODE", "at-least-once"),
        ]),
    )
    .unwrap();
    assert_eq!(c.kafka.group_id, "12345");
    assert_eq!(
        c.pseudonym.key.expose(),
        "\"quoted-secret-0123456789abcdef\""
    );
    assert_eq!(c.kafka.client["sasl.password"], "007");
    assert_eq!(c.kafka.client["sasl.username"], "true");
    assert_eq!(c.delivery.instance_id, "[a]");
    assert_eq!(c.delivery.mode, DeliveryMode::AtLeastOnce);
}

#[test]
fn non_string_keys_still_parse_as_toml() {
    let c = Config::load(
        None,
        env(&[
            ("DELIVERY__INSTANCES", "3"),
            ("ERASURE__TOMBSTONE_TABLES", "false"),
            ("POLICY__QUERY_ALLOW_LIST", "[\"utm_source\"]"),
            ("TELEMETRY__TRACE_SAMPLE_RATIO", "0.5"),
        ]),
    )
    .unwrap();
    assert_eq!(c.delivery.instances, 3);
    assert!(!c.erasure.tombstone_tables);
    assert_eq!(c.policy.query_allow_list, ["utm_source"]);
    assert!((c.telemetry.trace_sample_ratio - 0.5).abs() < f64::EPSILON);
}

#[test]
fn no_configuration_error_echoes_a_value() {
    const SECRET: &str = "hunter2-s3cret";
    let cases: Vec<Vec<(String, String)>> = vec![
        env(&[("TELEMETRY__HTTP_PORT", SECRET)]),
        env(&[("DELIVERY__INSTANCES", &format!("\"{SECRET}\""))]),
        env(&[("DELIVERY__MODE", SECRET)]),
        env(&[("POLICY__PERSONAL_PURPOSE", SECRET)]),
        env(&[("ERASURE__TOMBSTONE_TABLES", &format!("{SECRET}, expected"))]),
        env(&[("POLICY__QUERY_ALLOW_LIST", SECRET)]),
        env(&[("PSEUDONYM__KEY", "hunter2")]),
    ];
    for case in cases {
        let e = Config::load(None, case.clone()).unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{case:?}: {e}");
        assert!(!e.contains("s3cret"), "{case:?}: {e}");
    }
    // A file: toml would quote the failing line; neither syntax nor type errors do here.
    let dir = std::env::temp_dir().join(format!("ce-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, text) in [
        format!("[kafka]\ngroup_id = {SECRET}\n"),
        format!("[telemetry]\nhttp_port = \"{SECRET}\"\n"),
        format!("[kafka.client]\n\"sasl.password\" = \"{SECRET}\n"),
        format!("[delivery]\nmode = \"{SECRET}\"\n"),
    ]
    .iter()
    .enumerate()
    {
        let path = dir.join(format!("c{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let e = Config::load(Some(&path), []).unwrap_err().to_string();
        assert!(
            !e.contains("hunter2") && !e.contains("s3cret"),
            "{text}: {e}"
        );
        assert!(e.contains("line ") || e.contains("invalid"), "{text}: {e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn redact_keeps_the_kind_and_the_expectation() {
    assert_eq!(
        redact("invalid type: string \"x, expected y\", expected u16"),
        "invalid type: string, expected u16"
    );
    assert_eq!(
        redact("unknown variant `nope`, expected `exactly-once` or `at-least-once`"),
        "unknown variant, expected `exactly-once` or `at-least-once`"
    );
    assert_eq!(
        redact("unknown field `nope`, expected one of `a`"),
        "unknown field `nope`, expected one of `a`"
    );
}

#[test]
fn topic_names_must_be_distinct() {
    let mut c = Config::default();
    c.topics.audit = c.topics.dead_letter.clone();
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("topics.dead_letter") && e.contains("topics.audit"),
        "{e}"
    );
    assert!(
        !e.contains("usage.dead-letter"),
        "names are not echoed: {e}"
    );
    let mut c = Config::default();
    c.topics.personal = c.topics.raw.clone();
    let e = c.validate().unwrap_err().to_string();
    assert!(
        e.contains("topics.raw") && e.contains("topics.personal"),
        "{e}"
    );
    let mut c = Config::default();
    c.topics.consent = String::new();
    assert!(c.validate().is_err());
}

#[test]
fn guarantee_properties_cannot_be_passed_through() {
    for (map, name, value) in [
        ("consumer", "isolation.level", "read_uncommitted"),
        ("client", "enable.auto.offset.store", "true"),
        ("consumer", "enable.auto.commit", "true"),
        ("producer", "enable.idempotence", "false"),
        ("producer", "transactional.id", "someone-else"),
        ("client", " Isolation.Level", "read_uncommitted"),
    ] {
        let mut c = Config::default();
        let m = match map {
            "client" => &mut c.kafka.client,
            "consumer" => &mut c.kafka.consumer,
            _ => &mut c.kafka.producer,
        };
        m.insert(name.into(), value.into());
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains(&format!("kafka.{map}")), "{e}");
        assert!(e.contains(&name.trim().to_ascii_lowercase()), "{e}");
        assert!(!e.contains(value), "{e}");
    }
    let mut c = Config::default();
    c.kafka
        .consumer
        .insert("fetch.message.max.bytes".into(), "2097152".into());
    c.validate().unwrap();
}

#[test]
fn every_sensitive_librdkafka_property_is_masked() {
    let mut c = Config::default();
    for (i, name) in SENSITIVE.iter().enumerate() {
        c.kafka
            .client
            .insert((*name).to_string(), format!("secret-value-{i}"));
        c.kafka
            .producer
            .insert((*name).to_string(), format!("secret-value-{i}"));
    }
    c.kafka
        .consumer
        .insert("sasl.jaas.config".into(), "secret-value-jaas".into());
    c.kafka
        .client
        .insert("client.id".into(), "visible-client".into());
    let m = c.masked();
    assert!(!m.contains("secret-value"), "{m}");
    assert!(m.contains("visible-client"), "{m}");
}

#[test]
fn a_mistyped_or_refused_librdkafka_property_is_named_without_its_value() {
    for (name, value) in [
        ("sasl.pasword", "hunter2-s3cret"),
        ("enable.partition.eof", "hunter2-s3cret"),
    ] {
        let e = Config::load(
            None,
            env(&[(
                &format!("KAFKA__CLIENT__{}", name.to_ascii_uppercase()),
                value,
            )]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains(name), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}

#[test]
fn bootstrap_servers_cannot_slip_past_the_plaintext_rule() {
    for name in ["BOOTSTRAP.SERVERS", "METADATA.BROKER.LIST"] {
        let e = Config::load(
            None,
            env(&[(&format!("KAFKA__PRODUCER__{name}"), "10.0.0.5:9092")]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("kafka.bootstrap_servers"), "{e}");
    }
}

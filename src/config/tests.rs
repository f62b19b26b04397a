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
            "\"marketing\"".to_string(),
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
fn secrets_are_masked() {
    let mut c = Config::default();
    c.pseudonym.key = "a-very-secret-key-123".into();
    c.kafka
        .client
        .insert("sasl.password".into(), "hunter2".into());
    let m = c.masked();
    assert!(
        !m.contains("a-very-secret") && !m.contains("hunter2"),
        "{m}"
    );
}

#[test]
fn example_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/example.toml");
    Config::load(Some(&path), []).unwrap();
}

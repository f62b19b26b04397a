//! `topics create`: makes every topic of the contract with the settings the guarantees
//! rely on, idempotently: an existing topic with the right settings is fine, one with
//! wrong settings is reported. The settings: the consent and profile tables compacted,
//! with the broker's append time as record timestamp (the clock-skew rule measures
//! `updated_at` against it); `users.erasure` compacted with no time retention, so an
//! erasure marker never expires; the personal output and the dead letters with bounded
//! retention. It owns topic settings; it never writes records.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use super::{EdgeError, Role, block_on, client_config};
use crate::config::Config;

const TIMEOUT: Duration = Duration::from_secs(30);

/// What happened to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    /// Created now.
    Created,
    /// Already there with the right settings.
    Exists,
    /// Already there with settings that differ; the text says how.
    Differs(String),
}

/// One topic of the contract and the settings `topics create` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Topic configs to set (and to check on an existing topic); the broker's defaults
    /// for everything else.
    pub settings: Vec<(&'static str, String)>,
}

/// Every topic of the contract with its settings.
pub fn contract_topics(config: &Config) -> Vec<TopicSpec> {
    let t = &config.topics;
    let table = || {
        vec![
            ("cleanup.policy", "compact".to_string()),
            ("message.timestamp.type", "LogAppendTime".to_string()),
        ]
    };
    let spec = |name: &str, settings: Vec<(&'static str, String)>| TopicSpec {
        name: name.to_string(),
        settings,
    };
    let personal = config.personal_outputs().into_iter().map(|o| {
        let retention = vec![("retention.ms", t.personal_retention_ms.to_string())];
        spec(&o.topic, retention)
    });
    let mut specs = vec![
        spec(&t.raw, vec![]),
        spec(&t.consent, table()),
        spec(&t.profile, table()),
        spec(
            &t.erasure,
            vec![
                ("cleanup.policy", "compact".to_string()),
                ("retention.ms", "-1".to_string()),
            ],
        ),
        spec(&t.anonymous, vec![]),
        spec(
            &t.dead_letter,
            vec![("retention.ms", t.dead_letter_retention_ms.to_string())],
        ),
        spec(&t.audit, vec![]),
    ];
    specs.extend(personal);
    specs
}

/// Creates the contract's topics; returns the outcome per topic.
pub fn create_topics(config: &Config) -> Result<Vec<(String, TopicOutcome)>, EdgeError> {
    let fatal = |context| move |source| EdgeError::Fatal { context, source };
    let admin = super::admin_client(&config.kafka)?;
    let probe: BaseConsumer = client_config(&config.kafka, Role::Consumer)
        .create()
        .map_err(fatal("creating a metadata client"))?;
    super::connect(&config.kafka)?;
    let topics = contract_topics(config);
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|spec| {
            let t = NewTopic::new(
                &spec.name,
                config.topics.partitions,
                TopicReplication::Fixed(config.topics.replication_factor),
            );
            spec.settings.iter().fold(t, |t, (k, v)| t.set(k, v))
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = block_on(admin.create_topics(&new, &opts)).map_err(fatal("creating topics"))?;
    let mut out = Vec::new();
    for (r, spec) in results.into_iter().zip(&topics) {
        let name = &spec.name;
        let outcome = match r {
            Ok(_) => TopicOutcome::Created,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                check_existing(&admin, &probe, config, spec)?
            }
            Err((
                _,
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed,
            )) => {
                return Err(EdgeError::AuthorizationFailed(format!(
                    "creating topic {name}"
                )));
            }
            Err((_, code)) => {
                return Err(EdgeError::Fatal {
                    context: "creating a topic",
                    source: rdkafka::error::KafkaError::AdminOp(code),
                });
            }
        };
        out.push((name.clone(), outcome));
    }
    Ok(out)
}

fn check_existing(
    admin: &AdminClient<DefaultClientContext>,
    probe: &BaseConsumer,
    config: &Config,
    spec: &TopicSpec,
) -> Result<TopicOutcome, EdgeError> {
    let name = spec.name.as_str();
    let mut problems = Vec::new();
    let md = probe
        .fetch_metadata(Some(name), TIMEOUT)
        .map_err(|source| EdgeError::Fatal {
            context: "reading topic metadata",
            source,
        })?;
    if let Some(m) = md.topics().first() {
        let n = m.partitions().len() as i32;
        if n != config.topics.partitions {
            problems.push(format!(
                "{n} partitions (config says {})",
                config.topics.partitions
            ));
        }
    }
    let opts = AdminOptions::new().request_timeout(Some(TIMEOUT));
    let described = block_on(admin.describe_configs(&[ResourceSpecifier::Topic(name)], &opts))
        .map_err(|source| EdgeError::Fatal {
            context: "describing topic configs",
            source,
        })?;
    let entries: Vec<(String, String)> = described
        .into_iter()
        .flatten()
        .flat_map(|r| r.entries)
        .map(|e| (e.name, e.value.unwrap_or_default()))
        .collect();
    let value = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let policy = value("cleanup.policy");
    let is_compacted = policy.split(',').any(|p| p.trim() == "compact");
    let want_compacted = spec
        .settings
        .iter()
        .any(|(k, v)| *k == "cleanup.policy" && v == "compact");
    if want_compacted && !is_compacted {
        problems.push(format!("cleanup.policy={policy}, must include compact"));
    }
    if !want_compacted && is_compacted {
        problems.push(format!("cleanup.policy={policy}, expected delete"));
    }
    for (key, want) in &spec.settings {
        if *key == "cleanup.policy" {
            continue;
        }
        let have = value(key);
        if have != want {
            problems.push(format!("{key}={have}, expected {want}"));
        }
    }
    Ok(if problems.is_empty() {
        TopicOutcome::Exists
    } else {
        TopicOutcome::Differs(problems.join("; "))
    })
}

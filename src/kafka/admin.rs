//! `topics create`: makes every topic of the contract with the right settings
//! (compaction for the consent and profile tables), idempotently: an existing topic with
//! the right settings is fine, one with wrong settings is reported. It owns topic
//! settings; it never writes records.

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

/// One topic of the contract and whether it is a compacted table.
pub fn contract_topics(config: &Config) -> Vec<(String, bool)> {
    let t = &config.topics;
    vec![
        (t.raw.clone(), false),
        (t.consent.clone(), true),
        (t.profile.clone(), true),
        (t.erasure.clone(), false),
        (t.personal.clone(), false),
        (t.anonymous.clone(), false),
        (t.dead_letter.clone(), false),
        (t.audit.clone(), false),
    ]
}

/// Creates the contract's topics; returns the outcome per topic.
pub fn create_topics(config: &Config) -> Result<Vec<(String, TopicOutcome)>, EdgeError> {
    let fatal = |context| move |source| EdgeError::Fatal { context, source };
    let cc = client_config(&config.kafka, Role::Producer);
    let admin: AdminClient<DefaultClientContext> =
        cc.create().map_err(fatal("creating the admin client"))?;
    let probe: BaseConsumer = client_config(&config.kafka, Role::Consumer)
        .create()
        .map_err(fatal("creating a metadata client"))?;
    probe
        .fetch_metadata(None, super::startup_timeout(&config.kafka))
        .map_err(|source| super::unreachable(&config.kafka, source))?;
    let topics = contract_topics(config);
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, compacted)| {
            let t = NewTopic::new(
                name,
                config.topics.partitions,
                TopicReplication::Fixed(config.topics.replication_factor),
            );
            if *compacted {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = block_on(admin.create_topics(&new, &opts)).map_err(fatal("creating topics"))?;
    let mut out = Vec::new();
    for (r, (name, compacted)) in results.into_iter().zip(&topics) {
        let outcome = match r {
            Ok(_) => TopicOutcome::Created,
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {
                check_existing(&admin, &probe, config, name, *compacted)?
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
    name: &str,
    compacted: bool,
) -> Result<TopicOutcome, EdgeError> {
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
    let policy = described
        .into_iter()
        .flatten()
        .flat_map(|r| r.entries)
        .find(|e| e.name == "cleanup.policy")
        .and_then(|e| e.value)
        .unwrap_or_default();
    let is_compacted = policy.split(',').any(|p| p.trim() == "compact");
    if compacted && !is_compacted {
        problems.push(format!("cleanup.policy={policy}, must include compact"));
    }
    if !compacted && is_compacted {
        problems.push(format!("cleanup.policy={policy}, expected delete"));
    }
    Ok(if problems.is_empty() {
        TopicOutcome::Exists
    } else {
        TopicOutcome::Differs(problems.join("; "))
    })
}

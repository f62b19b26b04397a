//! Least privilege as a product feature: the ACLs a configuration needs, role by role
//! (`consent-enricher acls` prints them as `kafka-acls` command lines and `--apply`
//! creates them), and the start-up check that the worker's own principal holds its
//! share (DescribeTopics with authorized operations, so a missing READ or WRITE is an
//! exit 5 naming the topic, not an abort loop an hour later). Which role needs what is
//! decided here from the configuration alone; the librdkafka calls are in `native`.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;

use super::native::{self, TopicOps};
use super::{EdgeError, admin_client};
use crate::config::{Config, DeliveryMode, KafkaConfig};

/// A kind of Kafka resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Resource {
    /// A topic.
    Topic,
    /// A consumer group.
    Group,
    /// A transactional id.
    TransactionalId,
    /// The cluster.
    Cluster,
}

/// How an ACL's resource name matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Pattern {
    /// Exactly this name.
    Literal,
    /// Every name starting with it.
    Prefixed,
}

/// The operations this product grants (Kafka's READ and WRITE imply DESCRIBE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Consume, join a group, commit offsets.
    Read,
    /// Produce, use a transactional id.
    Write,
    /// Create topics.
    Create,
    /// See a resource.
    Describe,
    /// Read a topic's settings.
    DescribeConfigs,
    /// Change a topic's settings.
    AlterConfigs,
}

impl Operation {
    /// Kafka's own name (`DESCRIBE_CONFIGS`), as brokers and the docs spell it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            Operation::Read => "READ",
            Operation::Write => "WRITE",
            Operation::Create => "CREATE",
            Operation::Describe => "DESCRIBE",
            Operation::DescribeConfigs => "DESCRIBE_CONFIGS",
            Operation::AlterConfigs => "ALTER_CONFIGS",
        }
    }

    /// The name `kafka-acls --operation` takes.
    pub fn cli_name(self) -> &'static str {
        match self {
            Operation::Read => "Read",
            Operation::Write => "Write",
            Operation::Create => "Create",
            Operation::Describe => "Describe",
            Operation::DescribeConfigs => "DescribeConfigs",
            Operation::AlterConfigs => "AlterConfigs",
        }
    }
}

/// Who uses the cluster around the worker.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AclRole {
    /// The consent-enricher processes.
    Worker,
    /// Upstream producers of events, consents, profiles and erasure requests.
    Producer,
    /// Readers of the anonymous output (analytics).
    Analytics,
    /// Readers of one personal output (a consented use), named as the output is:
    /// `personal` for the single output of a configuration without a list.
    Personal(String),
    /// Readers of dead letters and the audit trail (privacy officers, operators).
    DeadLetter,
    /// Whoever runs `consent-enricher topics create`.
    Admin,
}

impl AclRole {
    /// The roles every configuration has; each personal output adds its own.
    pub const FIXED: [AclRole; 5] = [
        AclRole::Worker,
        AclRole::Producer,
        AclRole::Analytics,
        AclRole::DeadLetter,
        AclRole::Admin,
    ];

    /// Every role of `config`, in the order they are printed.
    pub fn all(config: &Config) -> Vec<AclRole> {
        let mut roles: Vec<AclRole> = AclRole::FIXED[..3].to_vec();
        roles.extend(
            config
                .personal_outputs()
                .into_iter()
                .map(|o| AclRole::Personal(o.name)),
        );
        roles.extend(AclRole::FIXED[3..].iter().cloned());
        roles
    }

    /// The role's name on the command line (`--principal analytics=User:bi`).
    pub fn name(&self) -> &str {
        match self {
            AclRole::Worker => "worker",
            AclRole::Producer => "producer",
            AclRole::Analytics => "analytics",
            AclRole::Personal(name) => name,
            AclRole::DeadLetter => "dead-letter",
            AclRole::Admin => "admin",
        }
    }

    /// What the role is for, in words.
    pub fn purpose(&self) -> String {
        match self {
            AclRole::Worker => {
                "the worker: reads the inputs, writes the outputs (tombstones on the tables when erasure.tombstone_tables), commits in its groups, uses its transactional ids".into()
            }
            AclRole::Producer => {
                "upstream producers: write events, consents, profiles, erasure requests".into()
            }
            AclRole::Analytics => "anonymous-data readers: read the anonymous output only".into(),
            AclRole::Personal(name) => {
                format!("readers of personal output {name}: read its topic only")
            }
            AclRole::DeadLetter => {
                "dead-letter readers (privacy officers, operators): read dead letters (raw input, personal data included) and the audit trail".into()
            }
            AclRole::Admin => {
                "the administrator running `topics create`: create the topics and read their settings".into()
            }
        }
    }

    /// Parses a role name of `config`.
    pub fn parse(name: &str, config: &Config) -> Option<AclRole> {
        AclRole::all(config).into_iter().find(|r| r.name() == name)
    }
}

/// One ACL: allow `principal` to do `operation` on a resource, from any host.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Acl {
    /// The role it is for.
    pub role: AclRole,
    /// `User:<name>`.
    pub principal: String,
    /// The resource kind.
    pub resource: Resource,
    /// Literal or prefixed.
    pub pattern: Pattern,
    /// The resource's name (`kafka-cluster` for the cluster).
    pub name: String,
    /// What is allowed.
    pub operation: Operation,
}

/// The principal of each role: `User:<role name>` unless given.
#[derive(Debug, Clone, Default)]
pub struct Principals(BTreeMap<AclRole, String>);

impl Principals {
    /// Sets `role`'s principal.
    pub fn set(&mut self, role: AclRole, principal: &str) {
        self.0.insert(role, principal.to_string());
    }

    /// `role`'s principal.
    pub fn of(&self, role: &AclRole) -> String {
        self.0
            .get(role)
            .cloned()
            .unwrap_or_else(|| format!("User:{}", role.name()))
    }
}

/// Reader groups: each reader role may use the consumer groups whose names start with
/// its principal's name and a dot (`analytics.dashboards`), so readers cannot join (or
/// disturb) the worker's groups or each other's.
fn reader_group_prefix(principal: &str) -> String {
    let name = principal.split_once(':').map_or(principal, |(_, n)| n);
    format!("{name}.")
}

/// Every ACL `config` needs, role by role.
pub fn needed(config: &Config, principals: &Principals) -> Vec<Acl> {
    let t = &config.topics;
    let group = &config.kafka.group_id;
    let mut out = Vec::new();
    let mut add = |role: &AclRole, resource, pattern, name: &str, ops: &[Operation]| {
        for op in ops {
            out.push(Acl {
                role: role.clone(),
                principal: principals.of(role),
                resource,
                pattern,
                name: name.to_string(),
                operation: *op,
            });
        }
    };
    use Operation::*;
    use Pattern::*;
    use Resource::*;
    let w = &AclRole::Worker;
    let personal = config.personal_outputs();
    for input in [&t.raw, &t.consent, &t.profile, &t.erasure] {
        add(w, Topic, Literal, input, &[Read]);
    }
    let outputs = [&t.anonymous, &t.dead_letter]
        .into_iter()
        .chain(personal.iter().map(|o| &o.topic));
    for output in outputs {
        // DescribeConfigs: the start-up check of max.message.bytes.
        add(w, Topic, Literal, output, &[Write, DescribeConfigs]);
    }
    add(w, Topic, Literal, &t.audit, &[Write]);
    if config.erasure.tombstone_tables {
        add(w, Topic, Literal, &t.consent, &[Write]);
        add(w, Topic, Literal, &t.profile, &[Write]);
    }
    for g in [
        group.clone(),
        format!("{group}.tables"),
        format!("{group}.audit"),
    ] {
        add(w, Group, Literal, &g, &[Read]);
    }
    if config.delivery.mode == DeliveryMode::ExactlyOnce {
        // `<group>.<instance>.<slot>` (exactly_once.rs).
        add(w, TransactionalId, Prefixed, &format!("{group}."), &[Write]);
    }
    for input in [&t.raw, &t.consent, &t.profile, &t.erasure] {
        add(&AclRole::Producer, Topic, Literal, input, &[Write]);
    }
    let mut readers = vec![(AclRole::Analytics, vec![&t.anonymous])];
    readers.extend(
        personal
            .iter()
            .map(|o| (AclRole::Personal(o.name.clone()), vec![&o.topic])),
    );
    readers.push((AclRole::DeadLetter, vec![&t.dead_letter, &t.audit]));
    for (role, topics) in &readers {
        for topic in topics {
            add(role, Topic, Literal, topic, &[Read]);
        }
        let prefix = reader_group_prefix(&principals.of(role));
        add(role, Group, Prefixed, &prefix, &[Read]);
    }
    for spec in super::admin::contract_topics(config) {
        add(
            &AclRole::Admin,
            Topic,
            Literal,
            &spec.name,
            &[Create, Describe, DescribeConfigs],
        );
    }
    out
}

/// The ACLs as `kafka-acls` command lines, grouped per role with its purpose as a
/// comment; one line per resource with all its operations.
pub fn kafka_acls_lines(acls: &[Acl], bootstrap: &str) -> String {
    let mut grouped: BTreeMap<(&AclRole, &str, Resource, Pattern, &str), Vec<Operation>> =
        BTreeMap::new();
    for a in acls {
        grouped
            .entry((&a.role, &a.principal, a.resource, a.pattern, &a.name))
            .or_default()
            .push(a.operation);
    }
    let mut out = String::new();
    let mut last = None;
    for ((role, principal, resource, pattern, name), ops) in grouped {
        if last != Some(role) {
            out.push_str(&format!(
                "\n# {} ({principal}): {}\n",
                role.name(),
                role.purpose()
            ));
            last = Some(role);
        }
        let ops: String = ops
            .iter()
            .map(|o| format!(" --operation {}", o.cli_name()))
            .collect();
        let target = match resource {
            Resource::Topic => format!("--topic {}", shell_word(name)),
            Resource::Group => format!("--group {}", shell_word(name)),
            Resource::TransactionalId => format!("--transactional-id {}", shell_word(name)),
            Resource::Cluster => "--cluster".to_string(),
        };
        let pattern = match pattern {
            Pattern::Literal => "",
            Pattern::Prefixed => " --resource-pattern-type prefixed",
        };
        out.push_str(&format!(
            "kafka-acls.sh --bootstrap-server {} --command-config admin.properties --add --allow-principal {}{ops} {target}{pattern}\n",
            shell_word(bootstrap),
            shell_word(principal),
        ));
    }
    out.push_str(
        "\n# `acls --apply` (and these commands) need ALTER on the cluster: a super user, or --operation Alter --cluster.\n",
    );
    out
}

/// The ACLs in words, one Markdown row per role and operation: the README's table.
pub fn markdown_table(acls: &[Acl]) -> String {
    let mut rows: BTreeMap<(&AclRole, &str, Operation), Vec<String>> = BTreeMap::new();
    for a in acls {
        let what = match (a.resource, a.pattern) {
            (Resource::Topic, _) => format!("topic `{}`", a.name),
            (Resource::Group, Pattern::Literal) => format!("group `{}`", a.name),
            (Resource::Group, Pattern::Prefixed) => format!("groups `{}*`", a.name),
            (Resource::TransactionalId, _) => format!("transactional ids `{}*`", a.name),
            (Resource::Cluster, _) => "the cluster".into(),
        };
        rows.entry((&a.role, &a.principal, a.operation))
            .or_default()
            .push(what);
    }
    let mut out = String::from("| role | principal (default) | may | on |\n|---|---|---|---|\n");
    for ((role, principal, op), what) in rows {
        out.push_str(&format!(
            "| {} | `{principal}` | {} | {} |\n",
            role.name(),
            op.kafka_name(),
            what.join(", ")
        ));
    }
    out
}

/// `s` quoted for a POSIX shell when it holds anything but safe characters.
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:,/@=".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// How long an admin request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the start-up permission check may hold start-up: it is a safety net (the
/// first produce or fetch would find a missing ACL too), so it must not slow recovery.
const PERMISSIONS_TIMEOUT: Duration = Duration::from_secs(5);

/// Creates `acls` as the configuration's principal (which needs ALTER on the cluster);
/// one line per ACL that failed, empty when all were created.
pub fn apply(k: &KafkaConfig, acls: &[Acl]) -> Result<Vec<String>, EdgeError> {
    let admin = admin_client(k)?;
    let results = native::create_acls(admin.inner(), acls, ADMIN_TIMEOUT)
        .map_err(|e| EdgeError::AdminFailed(format!("creating ACLs: {e}")))?;
    Ok(acls
        .iter()
        .zip(results)
        .filter_map(|(a, r)| {
            r.err().map(|why| {
                format!(
                    "{} {:?} {:?} {} for {}: {why}",
                    a.operation.cli_name(),
                    a.resource,
                    a.pattern,
                    a.name,
                    a.principal
                )
            })
        })
        .collect())
}

/// What a client may do to a topic, for the start-up check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Consume it.
    Read,
    /// Produce to it.
    Write,
}

/// Checks at start-up that this client's principal may `need` each topic, so a missing
/// ACL stops the worker with exit 5 naming the topic and the principal. Brokers that do
/// not report authorized operations (librdkafka's in-process cluster, old brokers) leave
/// it to the first produce or fetch, with a warning.
pub fn check_permissions(k: &KafkaConfig, needs: &[(&str, Need)]) -> Result<(), EdgeError> {
    // Each topic once: librdkafka refuses a DescribeTopics that names one twice (the
    // tables are both read and, for tombstones, written).
    let mut topics: Vec<&str> = Vec::new();
    for (t, _) in needs {
        if !topics.contains(t) {
            topics.push(t);
        }
    }
    // Its own admin client: librdkafka's admin requests want the cluster's controller,
    // which a consumer's handle did not always know yet (seen as 15 s waits for it).
    let admin = admin_client(k)?;
    let answers = match native::authorized_operations(admin.inner(), &topics, PERMISSIONS_TIMEOUT) {
        Ok(a) => a,
        Err(e) => {
            crate::log::warn(&format!(
                "cannot read this principal's permissions on the topics ({e}); not checked at start-up"
            ));
            return Ok(());
        }
    };
    let answers: BTreeMap<&str, TopicOps> = topics.into_iter().zip(answers).collect();
    for (topic, need) in needs {
        let Some(answer) = answers.get(topic).cloned() else {
            continue;
        };
        let ops = match answer {
            TopicOps::Allowed(ops) if ops.is_empty() => {
                crate::log::warn(&format!(
                    "the cluster does not report authorized operations on topic {topic}; not checked at start-up"
                ));
                continue;
            }
            TopicOps::Allowed(ops) => ops,
            TopicOps::Error(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                return Err(EdgeError::TopicMissing((*topic).to_string()));
            }
            TopicOps::Error(code) => {
                return Err(EdgeError::AuthorizationFailed(format!(
                    "topic {topic} as {} (describing it failed: {code:?}); see `consent-enricher acls`",
                    principal(k)
                )));
            }
        };
        let op = match need {
            Need::Read => Operation::Read,
            Need::Write => Operation::Write,
        };
        if !ops.contains(&op) {
            return Err(EdgeError::AuthorizationFailed(format!(
                "topic {topic}: {} has no {} permission (it has: {}); grant what `consent-enricher acls` prints for the worker",
                principal(k),
                op.kafka_name(),
                ops.iter()
                    .map(|o| o.kafka_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(())
}

/// The error a consumer's poll error is when the broker denied `principal` its group
/// or the topic it reads (no retry fixes that); `None` for any other error.
pub fn consumer_denied(
    e: &rdkafka::error::KafkaError,
    principal: &str,
    group: &str,
    topic: &str,
) -> Option<EdgeError> {
    let what = match e.rdkafka_error_code()? {
        RDKafkaErrorCode::GroupAuthorizationFailed => {
            format!("group {group}: {principal} may not use it")
        }
        RDKafkaErrorCode::TopicAuthorizationFailed => {
            format!("topic {topic}: {principal} may not read it")
        }
        _ => return None,
    };
    Some(EdgeError::AuthorizationFailed(format!(
        "{what} ({e}); grant what `consent-enricher acls` prints for the worker"
    )))
}

/// The principal this configuration authenticates as, for messages: the SASL user
/// name (a name, not a secret), else the TLS certificate's subject or ANONYMOUS.
pub fn principal(k: &KafkaConfig) -> String {
    match k.client.get("sasl.username") {
        Some(u) if !u.is_empty() => format!("principal User:{u}"),
        _ => "this client's principal (TLS certificate subject or ANONYMOUS)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(acls: &[Acl], role: AclRole, name: &str, op: Operation) -> usize {
        acls.iter()
            .filter(|a| a.role == role && a.name == name && a.operation == op)
            .count()
    }

    #[test]
    fn each_reader_gets_its_topic_and_nothing_else() {
        let c = Config::default();
        let acls = needed(&c, &Principals::default());
        let t = &c.topics;
        let personal = AclRole::Personal("personal".into());
        let readers = [
            (AclRole::Analytics, vec![&t.anonymous]),
            (personal.clone(), vec![&t.personal]),
            (AclRole::DeadLetter, vec![&t.dead_letter, &t.audit]),
        ];
        for (role, topics) in readers {
            let mine: Vec<&Acl> = acls
                .iter()
                .filter(|a| a.role == role && a.resource == Resource::Topic)
                .collect();
            assert_eq!(mine.len(), topics.len(), "{role:?}");
            assert!(mine.iter().all(|a| a.operation == Operation::Read));
            assert!(mine.iter().all(|a| topics.contains(&&a.name)));
        }
        let readers = [AclRole::Analytics, personal, AclRole::DeadLetter];
        assert!(
            !acls
                .iter()
                .any(|a| readers.contains(&a.role) && a.operation == Operation::Write)
        );
    }

    #[test]
    fn each_personal_output_has_its_own_readers_on_its_own_topic() {
        let text = r#"
            [[outputs.personal]]
            name = "product_analytics"
            topic = "usage.personal.analytics"
            purposes = ["analytics"]
            [[outputs.personal]]
            name = "partner"
            topic = "partner.events"
            purposes = ["third_party_sharing"]
        "#;
        let c: Config = toml::from_str(text).unwrap();
        let acls = needed(&c, &Principals::default());
        for (name, topic) in [
            ("product_analytics", "usage.personal.analytics"),
            ("partner", "partner.events"),
        ] {
            let role = AclRole::Personal(name.into());
            let topics: Vec<&str> = acls
                .iter()
                .filter(|a| a.role == role && a.resource == Resource::Topic)
                .map(|a| a.name.as_str())
                .collect();
            assert_eq!(topics, [topic], "{name} reads its topic only");
            assert_eq!(Principals::default().of(&role), format!("User:{name}"));
            assert_eq!(AclRole::parse(name, &c), Some(role));
            assert_eq!(count(&acls, AclRole::Worker, topic, Operation::Write), 1);
            assert_eq!(count(&acls, AclRole::Admin, topic, Operation::Create), 1);
        }
        assert_eq!(AclRole::parse("personal", &c), None, "the list replaced it");
        assert!(!acls.iter().any(|a| a.name == c.topics.personal));
    }

    #[test]
    fn an_output_cannot_take_a_fixed_role_name() {
        for role in AclRole::FIXED {
            let name = role.name();
            let spellable = name.bytes().all(|b| b.is_ascii_lowercase());
            assert!(
                !spellable || crate::config::RESERVED_NAMES.contains(&name),
                "{name} must be reserved"
            );
        }
    }

    #[test]
    fn the_worker_reads_inputs_writes_outputs_and_owns_its_ids() {
        let mut c = Config::default();
        let acls = needed(&c, &Principals::default());
        let t = &c.topics;
        for input in [&t.raw, &t.consent, &t.profile, &t.erasure] {
            assert_eq!(count(&acls, AclRole::Worker, input, Operation::Read), 1);
        }
        for output in [&t.anonymous, &t.personal, &t.dead_letter, &t.audit] {
            assert_eq!(count(&acls, AclRole::Worker, output, Operation::Write), 1);
        }
        // Tombstones on the tables, on by default.
        assert_eq!(
            count(&acls, AclRole::Worker, &t.consent, Operation::Write),
            1
        );
        assert_eq!(
            count(
                &acls,
                AclRole::Worker,
                "consent-enricher.",
                Operation::Write
            ),
            1
        );
        c.erasure.tombstone_tables = false;
        c.delivery.mode = DeliveryMode::AtLeastOnce;
        let acls = needed(&c, &Principals::default());
        assert_eq!(
            count(&acls, AclRole::Worker, &c.topics.consent, Operation::Write),
            0
        );
        assert!(!acls.iter().any(|a| a.resource == Resource::TransactionalId));
    }

    #[test]
    fn command_lines_name_principals_and_quote_odd_names() {
        let mut c = Config::default();
        c.topics.anonymous = "usage anonymous".into();
        let mut p = Principals::default();
        p.set(AclRole::Analytics, "User:bi");
        let text = kafka_acls_lines(&needed(&c, &p), "broker:9093");
        assert!(text.contains(
            "--add --allow-principal User:bi --operation Read --topic 'usage anonymous'\n"
        ));
        assert!(text.contains("--allow-principal User:bi --operation Read --group bi. --resource-pattern-type prefixed"));
        assert!(text.contains("--allow-principal User:worker --operation Write --transactional-id consent-enricher. --resource-pattern-type prefixed"));
        assert!(text.contains("# analytics (User:bi): anonymous-data readers"));
    }
}

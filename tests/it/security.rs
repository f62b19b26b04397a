//! The protection measures on a secured broker (`scripts/kafka-up-secure`: SASL_SSL with
//! SCRAM-SHA-512, its own CA, the StandardAuthorizer, no access without an ACL): the
//! worker end to end as its own principal with only the ACLs `acls` computes, readers
//! confined to their topic, refused handshakes and missing ACLs as exit 5 with a message
//! that names the principal or topic and never the secret, and the plaintext rule.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use consent_enricher::config::{Config, KafkaConfig};
use consent_enricher::kafka::acls::{self, Need, Principals};
use consent_enricher::kafka::{EdgeError, Role, client_config};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::broker::{self, Reader, TestWorker, produce};
use crate::support::{self, Schemas};

const T: Duration = Duration::from_secs(120);

/// The secured broker's address and its folder (CA, passwords), started once.
fn cluster() -> &'static (String, PathBuf) {
    static C: OnceLock<(String, PathBuf)> = OnceLock::new();
    C.get_or_init(|| {
        let addr = broker::start_broker("kafka-up-secure");
        (addr, support::root().join(".cache/kafka-secure"))
    })
}

fn password(user: &str) -> String {
    let path = cluster().1.join(format!("users/{user}.password"));
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

/// Client settings for `user` over SASL_SSL, trusting the test CA.
fn as_user(user: &str, password: &str) -> KafkaConfig {
    let mut k = KafkaConfig {
        bootstrap_servers: cluster().0.clone(),
        startup_timeout_ms: 20_000,
        ..KafkaConfig::default()
    };
    let ca = cluster().1.join("tls/ca.pem");
    for (key, v) in [
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanisms", "SCRAM-SHA-512"),
        ("sasl.username", user),
        ("sasl.password", password),
        ("ssl.ca.location", ca.to_str().unwrap()),
    ] {
        k.client.insert(key.into(), v.into());
    }
    k
}

fn user(name: &str) -> KafkaConfig {
    as_user(name, &password(name))
}

/// `kafka` with this test's group id.
fn with_group(mut kafka: KafkaConfig, config: &Config) -> KafkaConfig {
    kafka.group_id = config.kafka.group_id.clone();
    kafka
}

/// Unique topics made by the admin, the ACLs `acls` computes for them created through
/// `acls::apply` (as the admin); the configuration returned connects as the worker.
fn secured_config(test: &str, partitions: i32) -> Config {
    let admin = user("admin");
    let mut c = broker::config_on(admin.clone(), test, partitions);
    let failed = acls::apply(
        &with_group(admin, &c),
        &acls::needed(&c, &Principals::default()),
    )
    .expect("creating the ACLs");
    assert!(failed.is_empty(), "{failed:?}");
    // CreateAcls answers once the controller has them; the broker's authorizer may take
    // a moment more (CI's first produce after it met TOPIC_AUTHORIZATION_FAILED).
    let producer = with_group(user("producer"), &c);
    let worker = with_group(user("worker"), &c);
    let t = &c.topics;
    broker::wait_for("the new ACLs in effect", T, || {
        acls::check_permissions(
            &producer,
            &[
                (t.raw.as_str(), Need::Write),
                (t.consent.as_str(), Need::Write),
            ],
        )
        .is_ok()
            && acls::check_permissions(
                &worker,
                &[
                    (t.raw.as_str(), Need::Read),
                    (t.anonymous.as_str(), Need::Write),
                ],
            )
            .is_ok()
    });
    c.kafka = worker;
    c.delivery.max_consecutive_aborts = 3;
    c
}

/// The same configuration as `role`.
fn as_role(config: &Config, role: &str) -> Config {
    let mut c = config.clone();
    c.kafka = with_group(user(role), config);
    c
}

fn event(id: &str, user: Option<&str>) -> Vec<u8> {
    let mut v = serde_json::json!({"event_id": id, "event_type": "click",
        "occurred_at": "2026-11-29T10:00:00Z", "ip": "81.2.69.160"});
    if let Some(u) = user {
        v["user_id"] = serde_json::Value::from(u);
    }
    serde_json::to_vec(&v).unwrap()
}

fn consent(user: &str) -> Vec<u8> {
    serde_json::to_vec(
        &serde_json::json!({"user_id": user, "updated_at": "2026-11-29T09:00:00Z",
        "policy_version": "v1", "purposes": {"analytics": true}}),
    )
    .unwrap()
}

/// `n` events as the producer principal: even ones by a consenting user, odd anonymous.
fn produce_events(config: &Config, from: usize, n: usize) {
    let producer = as_role(config, "producer");
    let bodies: Vec<Vec<u8>> = (from..from + n)
        .map(|i| event(&format!("e{i}"), (i % 2 == 0).then_some("u1")))
        .collect();
    let records: Vec<(Option<&str>, Option<&[u8]>)> =
        bodies.iter().map(|b| (None, Some(b.as_slice()))).collect();
    produce(&producer, &config.topics.raw, &records);
}

#[test]
fn the_worker_runs_exactly_once_over_sasl_ssl_with_only_the_acls_it_prints() {
    let config = secured_config("sec-e2e", 2);
    let producer = as_role(&config, "producer");
    produce(
        &producer,
        &config.topics.consent,
        &[(Some("u1"), Some(&consent("u1")))],
    );
    produce_events(&config, 0, 40);
    // An erasure runs the audit publisher (its group, the audit topic) and the
    // tombstones on both tables under the same ACLs.
    let erasure = serde_json::to_vec(&serde_json::json!({"user_id": "u2",
        "request_id": "er-sec-1", "requested_at": "2026-11-29T09:30:00Z"}))
    .unwrap();
    produce(
        &producer,
        &config.topics.erasure,
        &[(Some("u2"), Some(&erasure))],
    );
    let worker = TestWorker::start(&config);
    // Counting as the admin (a super user) sees every output topic.
    let mut reader = Reader::new(&as_role(&config, "admin"));
    let t = config.topics.clone();
    reader.read_until("every event's outputs and the audit record", T, |r| {
        r.count(&t.anonymous) >= 40 && r.count(&t.personal) >= 20 && r.count(&t.audit) >= 1
    });
    let report = worker.stop();
    reader.drain(Duration::from_secs(1));
    assert_eq!(report.counts.raw, 40);
    assert_eq!(
        reader.count(&t.anonymous),
        40,
        "one anonymous record per event"
    );
    assert_eq!(
        reader.count(&t.personal),
        20,
        "one personal record per consented event"
    );
    assert_eq!(reader.count(&t.dead_letter), 0);
    assert_eq!(reader.count(&t.audit), 1, "the erasure is audited");
    let schemas = Schemas::get();
    for r in reader.records.iter().filter(|r| r.topic != t.audit) {
        let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
        let schema = if r.topic == t.anonymous {
            "anonymous-event.schema.json"
        } else {
            "personal-event.schema.json"
        };
        schemas.check(schema, &v);
    }
}

/// The first record of `topic` as `kafka`, subscribed in group `group` (so the group's
/// ACL counts too), or the broker's refusal.
fn read_one(kafka: &KafkaConfig, group: &str, topic: &str) -> Result<(), RDKafkaErrorCode> {
    let consumer: BaseConsumer = client_config(kafka, Role::Consumer)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    if let Some(code) = md.topics().first().and_then(|m| m.error()) {
        return Err(code.into());
    }
    consumer.subscribe(&[topic]).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => return Ok(()),
            Some(Err(e)) => {
                if let Some(code) = e.rdkafka_error_code() {
                    return Err(code);
                }
            }
            None => {}
        }
    }
    panic!("nothing read from {topic} within 30 s");
}

#[test]
fn each_reader_reads_its_own_topic_and_is_refused_the_others() {
    let config = secured_config("sec-readers", 1);
    let t = &config.topics;
    let admin = as_role(&config, "admin");
    // One record in partition 0 of every topic, so a read that is allowed succeeds.
    for topic in [
        &t.raw,
        &t.consent,
        &t.profile,
        &t.anonymous,
        &t.personal,
        &t.dead_letter,
        &t.audit,
    ] {
        produce(&admin, topic, &[(Some("k"), Some(b"{}"))]);
    }
    let everything = [
        &t.raw,
        &t.consent,
        &t.profile,
        &t.erasure,
        &t.anonymous,
        &t.personal,
        &t.dead_letter,
        &t.audit,
    ];
    let readers = [
        ("analytics", vec![&t.anonymous]),
        ("personal", vec![&t.personal]),
        ("dead-letter", vec![&t.dead_letter, &t.audit]),
    ];
    for (role, own) in readers {
        let k = user(role);
        let group = format!("{role}.{}", config.kafka.group_id);
        for mine in &own {
            assert_eq!(read_one(&k, &group, mine), Ok(()), "{role} reads {mine}");
        }
        for other in everything.iter().filter(|o| !own.contains(o)) {
            assert_eq!(
                read_one(&k, &group, other),
                Err(RDKafkaErrorCode::TopicAuthorizationFailed),
                "{role} is refused {other}"
            );
        }
        // A group outside the reader's prefix is refused too (the worker's own group).
        assert_eq!(
            read_one(&k, &config.kafka.group_id, own[0]),
            Err(RDKafkaErrorCode::GroupAuthorizationFailed),
            "{role} may not join the worker's group"
        );
    }
}

#[test]
fn each_personal_output_is_readable_by_its_own_principal_only() {
    use consent_enricher::config::PersonalOutput;
    use consent_enricher::model::Purpose;
    let output = |name: &str, purpose| PersonalOutput {
        name: name.into(),
        topic: name.into(),
        purposes: vec![purpose],
        profile_fields: Vec::new(),
        context: None,
        properties_allow_list: vec!["*".into()],
        key: Default::default(),
        single_shape: false,
    };
    let outputs = vec![
        output("marketing", Purpose::Marketing),
        output("partner", Purpose::ThirdPartySharing),
    ];
    let admin = user("admin");
    let c = broker::config_with_outputs(admin.clone(), "sec-outputs", 1, outputs);
    // The test cluster's users: `personal` reads marketing, `analytics` the partner's
    // topic beside the anonymous one.
    let mut principals = Principals::default();
    principals.set(acls::AclRole::Personal("marketing".into()), "User:personal");
    principals.set(acls::AclRole::Personal("partner".into()), "User:analytics");
    let failed = acls::apply(&with_group(admin, &c), &acls::needed(&c, &principals))
        .expect("creating the ACLs");
    assert!(failed.is_empty(), "{failed:?}");
    let topics = c.personal_topics();
    let admin = as_role(&c, "admin");
    for topic in &topics {
        produce(&admin, topic, &[(Some("k"), Some(b"{}"))]);
    }
    let (marketing, partner) = (&topics[0], &topics[1]);
    for (role, own, other) in [
        ("personal", marketing, partner),
        ("analytics", partner, marketing),
    ] {
        let group = format!("{role}.{}", c.kafka.group_id);
        assert_eq!(
            read_one(&user(role), &group, own),
            Ok(()),
            "{role} reads {own}"
        );
        assert_eq!(
            read_one(&user(role), &group, other),
            Err(RDKafkaErrorCode::TopicAuthorizationFailed),
            "{role} is refused {other}"
        );
    }
}

/// Runs `consent-enricher run` with `config` (its pseudonym key through the environment)
/// until it exits, at most `limit`.
fn run_binary(config: &Config, limit: Duration) -> (Output, Duration) {
    let dir = std::env::temp_dir().join(format!("ce-it-sec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = config.clone();
    let key = std::mem::take(&mut c.pseudonym.key);
    c.telemetry.http_port = 0;
    let path = dir.join(format!("{}.toml", c.kafka.group_id));
    std::fs::write(&path, toml::to_string(&c).unwrap()).unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_consent-enricher"))
        .args(["run", "--config"])
        .arg(&path)
        .env("CONSENT_ENRICHER__PSEUDONYM__KEY", key.expose())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the worker did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_refused_handshake_exits_5_within_the_start_up_timeout_and_never_shows_the_secret() {
    let mut config = support::config();
    let wrong = "wrong-password-4f7c1e9a";
    config.kafka = as_user("worker", wrong);
    config.kafka.group_id = "sec-wrong-password".into();
    let all = refused_at_start_up(&config);
    assert!(
        all.contains("authentication_failed") && all.contains("User:worker"),
        "{all}"
    );
    assert!(!all.contains(wrong), "the password is never printed");
    assert!(!all.contains(support::KEY), "nor the pseudonym key");

    // A broker certificate the client does not trust: the same exit, a TLS hint.
    let mut config = support::config();
    config.kafka = user("worker");
    config.kafka.client.remove("ssl.ca.location");
    config.kafka.group_id = "sec-untrusted".into();
    let all = refused_at_start_up(&config);
    assert!(
        all.contains("TLS handshake") && all.contains("ssl.ca.location"),
        "{all}"
    );
    assert!(!all.contains(&password("worker")));
}

/// The worker's output when it exits 5 before its start-up timeout (else a failure).
fn refused_at_start_up(config: &Config) -> String {
    let (out, took) = run_binary(config, Duration::from_secs(60));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert!(
        took < Duration::from_millis(config.kafka.startup_timeout_ms),
        "{took:?}"
    );
    all
}

#[test]
fn a_plaintext_client_on_the_tls_port_gets_nothing() {
    let k = KafkaConfig {
        bootstrap_servers: cluster().0.clone(),
        startup_timeout_ms: 3_000,
        ..KafkaConfig::default()
    };
    let consumer: BaseConsumer = client_config(&k, Role::Consumer).create().unwrap();
    assert!(
        consumer
            .fetch_metadata(None, Duration::from_secs(3))
            .is_err()
    );
    assert!(matches!(
        consent_enricher::kafka::connect(&k),
        Err(EdgeError::BrokerUnreachable { .. })
    ));
}

#[test]
fn plaintext_to_a_remote_broker_exits_2_unless_allowed() {
    let mut config = support::config();
    // TEST-NET-1 (RFC 5737): never routed, so nothing answers.
    config.kafka.bootstrap_servers = "192.0.2.10:9092".into();
    config.kafka.startup_timeout_ms = 1_000;
    config.kafka.group_id = "sec-plaintext".into();
    let (out, _) = run_binary(&config, Duration::from_secs(30));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("kafka.allow_plaintext"), "{all}");
    assert!(
        !all.contains("192.0.2.10"),
        "config errors repeat no value: {all}"
    );

    config.kafka.allow_plaintext = true;
    let (out, _) = run_binary(&config, Duration::from_secs(30));
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "allowed, it tries (nothing answers): {all}"
    );
    assert!(
        all.contains("WARN") && all.contains("not encrypted"),
        "{all}"
    );
}

/// Removes (`action` "--remove") or adds ("--add") ACLs of `User:worker` (`what`:
/// kafka-acls operation and resource flags) with Kafka's own `kafka-acls` tool, as the
/// admin.
fn worker_acls(config: &Config, action: &str, what: &[&str]) {
    let props = cluster()
        .1
        .join(format!("{}.admin.properties", config.kafka.group_id));
    std::fs::write(
        &props,
        format!(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nsasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"{}\";\nssl.truststore.type=PEM\nssl.truststore.location={}\n",
            password("admin"),
            cluster().1.join("tls/ca.pem").display()
        ),
    )
    .unwrap();
    let out = Command::new(support::root().join("scripts/kafka-tool"))
        .args([
            "org.apache.kafka.tools.AclCommand",
            "--bootstrap-server",
            &cluster().0,
        ])
        .arg("--command-config")
        .arg(&props)
        .args([action, "--force", "--allow-principal", "User:worker"])
        .args(what)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&props);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn a_missing_group_acl_ends_in_a_clear_exit() {
    let config = secured_config("sec-group", 1);
    worker_acls(
        &config,
        "--remove",
        &["--operation", "Read", "--group", &config.kafka.group_id],
    );
    let (out, _) = run_binary(&config, Duration::from_secs(90));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert!(
        all.contains(&format!("group {}", config.kafka.group_id)) && all.contains("User:worker"),
        "{all}"
    );
}

#[test]
fn a_missing_write_acl_ends_in_a_bounded_clear_exit() {
    let config = secured_config("sec-revoke", 1);
    let t = config.topics.clone();
    produce_events(&config, 0, 4);
    let worker = TestWorker::start(&config);
    let mut reader = Reader::new(&as_role(&config, "admin"));
    reader.read_until("the first outputs", T, |r| r.count(&t.anonymous) >= 4);
    // Revoke the worker's WRITE on the anonymous output with Kafka's own tool.
    worker_acls(
        &config,
        "--remove",
        &[
            "--operation",
            "Write",
            "--operation",
            "DescribeConfigs",
            "--topic",
            &t.anonymous,
        ],
    );
    // Running: the next transactions abort, and after three the worker stops with 5.
    produce_events(&config, 4, 4);
    let err = worker.exited(T).expect_err("the worker stops");
    assert_eq!(err.exit_code(), 5, "{err}");
    assert!(err.to_string().contains(&t.anonymous), "{err}");
    // Restarted still able to see the topic but not to write it: refused at start-up by
    // the authorized-operations check, naming the topic, the principal and what is missing.
    worker_acls(
        &config,
        "--add",
        &["--operation", "Describe", "--topic", &t.anonymous],
    );
    let (out, _) = run_binary(&config, Duration::from_secs(90));
    let all = text(&out);
    assert_eq!(out.status.code(), Some(5), "{all}");
    assert!(
        all.contains(&t.anonymous) && all.contains("User:worker"),
        "{all}"
    );
    assert!(all.contains("has no WRITE permission"), "{all}");
    assert!(!all.contains(&password("worker")));
}

#[test]
fn readme_acl_table_matches_the_code() {
    let acls = acls::needed(&Config::default(), &Principals::default());
    assert_eq!(
        support::readme_section("acl-table"),
        acls::markdown_table(&acls)
    );
}

//! The deployment files and the README against the code: docker-compose, the Kubernetes
//! manifests and the Grafana dashboard agree with the CLI, the configuration keys, the
//! ports and the metric names, and the README's metrics table lists exactly the metrics
//! the worker exposes. No broker: these read files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use consent_enricher::config::{Config, KEYS};
use consent_enricher::telemetry::prometheus::{CATALOGUE, Kind};
use serde_json::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::support;

const BIN: &str = env!("CARGO_BIN_EXE_consent-enricher");

fn read(rel: &str) -> String {
    std::fs::read_to_string(support::root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn yaml_docs(rel: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn s(y: &Yaml) -> String {
    match y {
        Yaml::String(s) | Yaml::Real(s) => s.clone(),
        Yaml::Integer(i) => i.to_string(),
        Yaml::Boolean(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn strings(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| v.iter().map(s).collect())
        .unwrap_or_default()
}

/// A Deployment's selector labels.
fn labels_of(deploy: &Yaml) -> &Yaml {
    &deploy["spec"]["selector"]["matchLabels"]
}

/// A compose service with YAML merge keys (`<<: *anchor`) applied.
fn merged(y: &Yaml) -> yaml_rust2::yaml::Hash {
    let mut out = yaml_rust2::yaml::Hash::new();
    let Some(h) = y.as_hash() else { return out };
    if let Some(base) = h.get(&Yaml::String("<<".into())).and_then(Yaml::as_hash) {
        out.extend(base.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    for (k, v) in h {
        if k.as_str() != Some("<<") {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_string())
}

/// `${VAR:-default}` → default (compose interpolation with nothing set).
fn interpolate(v: &str) -> String {
    let mut out = v.to_string();
    while let Some(i) = out.find("${") {
        let end = out[i..].find('}').map(|e| i + e).expect("closed ${");
        let inner = &out[i + 2..end];
        // `${VAR:?message}` is a variable the operator must set: the test sets it to
        // its own key; `${VAR:-default}` takes the default.
        let default = if inner.contains(":?") {
            support::KEY.to_string()
        } else {
            inner
                .split_once(":-")
                .map(|(_, d)| d.to_string())
                .unwrap_or_default()
        };
        out.replace_range(i..=end, &default);
    }
    out
}

/// Every `CONSENT_ENRICHER__*` name maps to a configuration key (librdkafka properties
/// under kafka.client/consumer/producer are free-form).
fn check_env_names(names: &[String]) {
    let keys: BTreeSet<&str> = KEYS.iter().map(|k| k.key).collect();
    for n in names {
        let Some(rest) = n.strip_prefix("CONSENT_ENRICHER__") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        let dotted = path.join(".");
        let passthrough = path.len() == 3
            && ["kafka.client", "kafka.consumer", "kafka.producer"]
                .contains(&path[..2].join(".").as_str());
        assert!(
            keys.contains(dotted.as_str()) || passthrough,
            "{n} names no configuration key"
        );
    }
}

/// The command line is a real subcommand with real flags of the binary.
fn check_command(args: &[String]) {
    let words: Vec<&str> = args
        .iter()
        .take_while(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    assert!(!words.is_empty(), "no subcommand in {args:?}");
    let out = Command::new(BIN)
        .args(&words)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "`{}` is not a command: {}",
        words.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in args.iter().filter(|a| a.starts_with("--")) {
        let flag = flag.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "`{}` has no {flag}:\n{help}",
            words.join(" ")
        );
    }
}

/// The config file a command reads (`--config PATH`).
fn config_arg(args: &[String]) -> Option<&str> {
    args.iter()
        .position(|a| a == "--config")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn load_config(toml_text: &str, env: &[(String, String)]) -> Config {
    let dir =
        std::env::temp_dir().join(format!("consent-enricher-it-{}-deploy", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{}.toml", env.len()));
    std::fs::write(&path, toml_text).unwrap();
    let c = Config::load(Some(&path), env.iter().cloned()).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    c
}

#[test]
fn docker_compose_matches_the_cli_config_and_ports() {
    let docs = yaml_docs("docker-compose.yml");
    let services = docs[0]["services"].as_hash().expect("services");
    let get = |name: &str| {
        merged(
            services
                .get(&key(name))
                .unwrap_or_else(|| panic!("service {name}")),
        )
    };
    let kafka = get("kafka");
    assert!(s(&kafka[&key("image")]).starts_with("apache/kafka:"));
    assert!(
        s(&kafka[&key("environment")]["KAFKA_PROCESS_ROLES"]).contains("controller"),
        "KRaft"
    );
    assert!(kafka.contains_key(&key("healthcheck")));
    let collector = get("otel-collector");
    assert!(s(&collector[&key("image")]).starts_with("otel/opentelemetry-collector"));
    let otel_cfg = &yaml_docs("deploy/compose/otel-collector.yaml")[0];
    let http_ep = s(&otel_cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"]);
    assert!(http_ep.ends_with(":4318"));
    for signal in ["metrics", "traces"] {
        assert_eq!(
            strings(&otel_cfg["service"]["pipelines"][signal]["exporters"]),
            ["debug"],
            "{signal} printed"
        );
    }
    assert!(strings(&collector[&key("ports")]).contains(&"4318:4318".to_string()));

    let default_port = Config::default().telemetry.http_port;
    assert_eq!(default_port, 9464);
    for name in ["topics", "worker", "gen"] {
        let svc = get(name);
        assert!(
            svc.contains_key(&key("build")),
            "{name} builds the Dockerfile"
        );
        let args = strings(&svc[&key("command")]);
        check_command(&args);
        let env: Vec<(String, String)> = svc[&key("environment")]
            .as_hash()
            .unwrap()
            .iter()
            .map(|(k, v)| (s(k), interpolate(&s(v))))
            .collect();
        check_env_names(&env.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
        assert!(
            env.iter().any(
                |(k, v)| k == "CONSENT_ENRICHER__KAFKA__BOOTSTRAP_SERVERS" && v == "kafka:9092"
            )
        );
        // The mounted config file exists and, with this environment, is valid.
        let cfg_path = config_arg(&args).expect("--config");
        let volumes = strings(&svc[&key("volumes")]);
        let mount = volumes
            .iter()
            .find(|v| v.split(':').nth(1) == Some(cfg_path))
            .expect("config mounted");
        let host = mount.split(':').next().unwrap().trim_start_matches("./");
        let c = load_config(&read(host), &env);
        if name == "worker" {
            c.require_key().expect("worker gets a pseudonym key");
            assert_eq!(c.telemetry.http_port, default_port);
            assert!(
                strings(&svc[&key("ports")]).contains(&format!("{0}:{0}", c.telemetry.http_port))
            );
            let probe = strings(&svc[&key("healthcheck")]["test"]).join(" ");
            assert!(
                probe.contains(consent_enricher::telemetry::http::READY_PATH)
                    && probe.contains(&format!("/{}", c.telemetry.http_port)),
                "{probe}"
            );
            let otlp = env
                .iter()
                .find(|(k, _)| k == "OTEL_EXPORTER_OTLP_ENDPOINT")
                .map(|(_, v)| v.clone())
                .unwrap();
            assert_eq!(
                otlp, "http://otel-collector:4318",
                "the worker exports to the collector service"
            );
            assert!(env.iter().any(|(k, _)| k == "OTEL_SERVICE_NAME"));
        }
    }
}

#[test]
fn kubernetes_manifests_parse_and_match_the_worker() {
    let dir = support::root().join("deploy/kubernetes");
    let mut by_kind: BTreeMap<String, Vec<Yaml>> = BTreeMap::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name == "kustomization.yaml" {
            continue;
        }
        files.push(name.clone());
        for d in yaml_docs(&format!("deploy/kubernetes/{name}")) {
            assert!(
                !d["apiVersion"].is_badvalue() && !d["metadata"]["name"].is_badvalue(),
                "{name}: apiVersion and name"
            );
            by_kind.entry(s(&d["kind"])).or_default().push(d);
        }
    }
    let kustomize = &yaml_docs("deploy/kubernetes/kustomization.yaml")[0];
    let mut listed = strings(&kustomize["resources"]);
    listed.sort();
    files.sort();
    assert_eq!(listed, files, "kustomization lists every manifest");
    let one = |k: &str| {
        by_kind
            .get(k)
            .and_then(|v| v.first())
            .unwrap_or_else(|| panic!("a {k}"))
            .clone()
    };
    let (deploy, cm, secret, pdb, so) = (
        one("Deployment"),
        one("ConfigMap"),
        one("Secret"),
        one("PodDisruptionBudget"),
        one("ScaledObject"),
    );

    let pod = &deploy["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let port = c["ports"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|p| s(&p["name"]) == "http")
        .expect("http port");
    let container_port = port["containerPort"].as_i64().unwrap();
    let resolve_port = |p: &Yaml| match p {
        Yaml::String(n) => {
            assert_eq!(n, "http");
            container_port
        }
        other => other.as_i64().unwrap(),
    };
    use consent_enricher::telemetry::http::{LIVE_PATH, READY_PATH};
    assert_eq!(s(&c["livenessProbe"]["httpGet"]["path"]), LIVE_PATH);
    assert_eq!(s(&c["readinessProbe"]["httpGet"]["path"]), READY_PATH);
    assert_eq!(
        resolve_port(&c["livenessProbe"]["httpGet"]["port"]),
        container_port
    );
    assert_eq!(
        resolve_port(&c["readinessProbe"]["httpGet"]["port"]),
        container_port
    );
    let annotations = &deploy["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        s(&annotations["prometheus.io/port"]),
        container_port.to_string()
    );
    assert_eq!(s(&annotations["prometheus.io/path"]), "/metrics");
    let args = strings(&c["args"]);
    check_command(&args);
    assert!(pod["securityContext"]["runAsNonRoot"].as_bool().unwrap());
    assert!(
        pod["terminationGracePeriodSeconds"].as_i64().unwrap() as u64
            > consent_enricher::kafka::worker::DRAIN_TIMEOUT.as_secs(),
        "room to drain on SIGTERM"
    );

    // Environment: names map to keys; secrets referenced exist.
    let secret_keys: BTreeSet<String> = secret["stringData"]
        .as_hash()
        .unwrap()
        .keys()
        .map(s)
        .collect();
    let mut env = Vec::new();
    for e in c["env"].as_vec().unwrap() {
        let name = s(&e["name"]);
        let value = match &e["valueFrom"]["secretKeyRef"] {
            Yaml::BadValue => s(&e["value"]),
            r => {
                assert_eq!(s(&r["name"]), s(&secret["metadata"]["name"]));
                let k = s(&r["key"]);
                assert!(secret_keys.contains(&k), "secret key {k}");
                assert_ne!(
                    k, "pseudonym-key",
                    "the key comes as a file, not in the environment"
                );
                format!("placeholder-{k}")
            }
        };
        env.push((name, value));
    }
    check_env_names(&env.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());

    // The ConfigMap's config is mounted where --config points and is valid with that env.
    let cfg_path = config_arg(&args).expect("--config");
    let mount = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| cfg_path.starts_with(&s(&m["mountPath"])))
        .expect("config mount");
    let volume = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|v| s(&v["name"]) == s(&mount["name"]))
        .unwrap();
    assert_eq!(s(&volume["configMap"]["name"]), s(&cm["metadata"]["name"]));
    let file = Path::new(cfg_path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // The key file is the Secret's pseudonym-key item, mounted read-only for the owner.
    let cm_text = s(&cm["data"][file.as_str()]);
    // Read as TOML: loading the configuration would read the file, absent here.
    let table: toml::Table = cm_text.parse().unwrap();
    let key_file = table["pseudonym"]["key_file"].as_str().unwrap().to_string();
    let key_mount = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| key_file.starts_with(&format!("{}/", s(&m["mountPath"]))))
        .expect("a mount holds pseudonym.key_file");
    assert_eq!(key_mount["readOnly"].as_bool(), Some(true));
    // Secret files belong to root: only the pod's fsGroup lets the worker's user read one.
    assert_eq!(
        pod["securityContext"]["fsGroup"].as_i64(),
        pod["securityContext"]["runAsGroup"].as_i64(),
        "fsGroup lets the worker read the key file"
    );
    let key_volume = pod["volumes"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|v| s(&v["name"]) == s(&key_mount["name"]))
        .unwrap();
    assert_eq!(
        s(&key_volume["secret"]["secretName"]),
        s(&secret["metadata"]["name"])
    );
    assert_eq!(
        key_volume["secret"]["defaultMode"].as_i64(),
        Some(0o400),
        "written in decimal: YAML 1.2 reads 0400 as 400"
    );
    let item = &key_volume["secret"]["items"][0];
    assert_eq!(s(&item["key"]), "pseudonym-key");
    assert!(key_file.ends_with(&format!("/{}", s(&item["path"]))));
    // With that file present (here: a temporary copy), the configuration is complete.
    let tmp = std::env::temp_dir().join(format!("ce-it-{}-key", std::process::id()));
    std::fs::write(&tmp, support::KEY).unwrap();
    let local = cm_text.replace(&key_file, tmp.to_str().unwrap());
    let config = load_config(&local, &env);
    config.require_key().unwrap();
    let _ = std::fs::remove_file(&tmp);

    // Only the scraper reaches the pods, and only on the HTTP port.
    let np = one("NetworkPolicy");
    assert_eq!(
        &np["spec"]["podSelector"]["matchLabels"],
        labels_of(&deploy)
    );
    assert_eq!(strings(&np["spec"]["policyTypes"]), ["Ingress"]);
    let rules = np["spec"]["ingress"].as_vec().unwrap();
    assert_eq!(rules.len(), 1, "one way in");
    let ports = rules[0]["ports"].as_vec().unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0]["port"].as_i64(), Some(container_port));
    assert!(
        !rules[0]["from"].as_vec().unwrap().is_empty(),
        "from the scraper only"
    );
    assert_eq!(
        i64::from(config.telemetry.http_port),
        container_port,
        "probes hit the configured port"
    );
    assert_eq!(
        config.kafka.client.get("sasl.password").map(String::as_str),
        Some("placeholder-kafka-password")
    );

    // PDB and autoscaler target this Deployment; replicas never exceed the partitions.
    let labels = &deploy["spec"]["selector"]["matchLabels"];
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&deploy["spec"]["template"]["metadata"]["labels"], labels);
    assert_eq!(
        s(&so["spec"]["scaleTargetRef"]["name"]),
        s(&deploy["metadata"]["name"])
    );
    let max = so["spec"]["maxReplicaCount"].as_i64().unwrap();
    let consumers = max * config.delivery.instances as i64;
    assert!(
        consumers <= i64::from(config.topics.partitions),
        "maxReplicaCount {max} × instances exceeds {} partitions",
        config.topics.partitions
    );
    let trigger = &so["spec"]["triggers"][0];
    assert_eq!(s(&trigger["type"]), "kafka");
    assert_eq!(
        s(&trigger["metadata"]["consumerGroup"]),
        config.kafka.group_id
    );
    assert_eq!(s(&trigger["metadata"]["topic"]), config.topics.raw);
    assert_eq!(
        s(&trigger["metadata"]["bootstrapServers"]),
        config.kafka.bootstrap_servers
    );
    let auth = one("TriggerAuthentication");
    assert_eq!(
        s(&trigger["authenticationRef"]["name"]),
        s(&auth["metadata"]["name"])
    );
    for r in auth["spec"]["secretTargetRef"].as_vec().unwrap() {
        assert!(secret_keys.contains(&s(&r["key"])));
    }
}

#[test]
fn grafana_dashboard_queries_only_exposed_metrics_and_covers_all() {
    let dash: Value = serde_json::from_str(&read("deploy/grafana/consent-enricher.json")).unwrap();
    let kinds: BTreeMap<&str, Kind> = CATALOGUE.iter().map(|d| (d.name, d.kind)).collect();
    let mut used = BTreeSet::new();
    let panels = dash["panels"].as_array().unwrap();
    assert!(!panels.is_empty());
    for p in panels {
        for t in p["targets"].as_array().unwrap() {
            let expr = t["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(i) = rest.find("consent_enricher_") {
                let tail = &rest[i..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                let name = &tail[..end];
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|sfx| {
                        name.strip_suffix(sfx)
                            .filter(|b| kinds.get(b) == Some(&Kind::Histogram))
                    })
                    .unwrap_or(name);
                assert!(
                    kinds.contains_key(family),
                    "dashboard queries {name}, which is not exposed ({expr})"
                );
                if name != family {
                    assert_ne!(kinds[family], Kind::Counter);
                }
                used.insert(family.to_string());
                rest = &tail[end..];
            }
        }
    }
    let all: BTreeSet<String> = kinds.keys().map(|k| k.to_string()).collect();
    assert_eq!(used, all, "every metric has a panel");
}

#[test]
fn readme_metrics_table_matches_the_code() {
    assert_eq!(
        support::readme_section("metrics-table"),
        consent_enricher::telemetry::prometheus::markdown_table()
    );
}

//! A real OpenTelemetry Collector for the telemetry tests: the binary `scripts/otelcol-build`
//! builds once from the Go module proxy (`tools/otelcol`: the OTLP receiver and the file
//! exporter), started per test on free ports with a configuration that writes every
//! export it receives, as OTLP JSON lines, to a file the test reads back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

use crate::broker::wait_for;
use crate::support;
use crate::telemetry::free_port;

/// The collector binary, built (or found built) once per test run.
fn binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let out = Command::new(support::root().join("scripts").join("otelcol-build"))
            .stderr(Stdio::inherit())
            .output()
            .expect("running scripts/otelcol-build");
        assert!(out.status.success(), "scripts/otelcol-build failed");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = stdout.lines().last().unwrap_or_default().trim().to_string();
        PathBuf::from(path)
    })
}

fn collector_dir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "consent-enricher-otelcol-{}-{name}",
        std::process::id()
    ))
}

/// A test CA and a server certificate it signed for 127.0.0.1, made with openssl.
pub struct Tls {
    /// The CA's certificate (PEM), what the exporter is told to trust.
    pub ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl Tls {
    /// Makes them in a folder of the temp dir named for `name`.
    pub fn make(name: &str) -> Tls {
        let dir = collector_dir(&format!("{name}-tls"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&dir)
                .output()
                .expect("running openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=otelcol test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ]);
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ]);
        Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.crt"),
            key: dir.join("server.key"),
        }
    }
}

/// One running collector.
pub struct Collector {
    child: Child,
    dir: PathBuf,
    /// `127.0.0.1:port` of the OTLP/gRPC receiver.
    pub grpc: String,
    /// `127.0.0.1:port` of the OTLP/HTTP receiver.
    pub http: String,
}

impl Collector {
    /// Starts a collector named `name` (its directory under the temp dir) and waits until
    /// both receivers accept connections.
    pub fn start(name: &str) -> Collector {
        Collector::start_with(name, None)
    }

    /// Starts a collector whose receivers both serve TLS with `tls`'s certificate.
    pub fn start_tls(name: &str, tls: &Tls) -> Collector {
        Collector::start_with(name, Some(tls))
    }

    fn start_with(name: &str, tls: Option<&Tls>) -> Collector {
        let dir = collector_dir(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let grpc = format!("127.0.0.1:{}", free_port());
        let http = format!("127.0.0.1:{}", free_port());
        let out = dir.join("received.jsonl");
        let tls = tls
            .map(|t| {
                format!(
                    "        tls:\n          cert_file: {}\n          key_file: {}\n",
                    t.cert.display(),
                    t.key.display()
                )
            })
            .unwrap_or_default();
        let config = format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: {grpc}\n{tls}      http:\n        endpoint: {http}\n{tls}\
             exporters:\n  file:\n    path: {}\n    flush_interval: 100ms\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    traces:\n      receivers: [otlp]\n      exporters: [file]\n    metrics:\n      receivers: [otlp]\n      exporters: [file]\n",
            out.display()
        );
        let path = dir.join("config.yaml");
        std::fs::write(&path, config).unwrap();
        let log = std::fs::File::create(dir.join("collector.log")).unwrap();
        let child = Command::new(binary())
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting the collector");
        let mut c = Collector {
            child,
            dir,
            grpc,
            http,
        };
        wait_for("the collector's receivers", Duration::from_secs(60), || {
            if let Ok(Some(status)) = c.child.try_wait() {
                panic!("the collector exited ({status}):\n{}", c.log());
            }
            [&c.grpc, &c.http]
                .iter()
                .all(|a| std::net::TcpStream::connect(a.as_str()).is_ok())
        });
        c
    }

    /// What it logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("collector.log")).unwrap_or_default()
    }

    /// Every export received so far, one OTLP JSON object each (`resourceSpans` or
    /// `resourceMetrics`), as the file exporter wrote them.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("received.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The raw text received so far (for leak checks).
    pub fn received_text(&self) -> String {
        std::fs::read_to_string(self.dir.join("received.jsonl")).unwrap_or_default()
    }

    /// Every span received: (trace id, parent span id, the span).
    pub fn spans(&self) -> Vec<(String, Option<String>, Value)> {
        let mut out = Vec::new();
        for body in self.received() {
            for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for s in ss["spans"].as_array().into_iter().flatten() {
                        out.push((
                            s["traceId"].as_str().unwrap_or_default().to_string(),
                            s["parentSpanId"]
                                .as_str()
                                .filter(|p| !p.is_empty())
                                .map(String::from),
                            s.clone(),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Every data point received for metric `name` (in every export, oldest first).
    pub fn points(&self, name: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for body in self.received() {
            for rm in body["resourceMetrics"].as_array().into_iter().flatten() {
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        if m["name"] != name {
                            continue;
                        }
                        for kind in ["sum", "gauge", "histogram"] {
                            let points = m[kind]["dataPoints"].as_array();
                            out.extend(points.into_iter().flatten().cloned());
                        }
                    }
                }
            }
        }
        out
    }

    /// The names of every metric received, and the `service.name` of every resource
    /// (spans' and metrics').
    pub fn metric_names(
        &self,
    ) -> (
        std::collections::BTreeSet<String>,
        std::collections::BTreeSet<String>,
    ) {
        let (mut names, mut services) = (Default::default(), std::collections::BTreeSet::new());
        let names_ref: &mut std::collections::BTreeSet<String> = &mut names;
        for body in self.received() {
            for r in ["resourceMetrics", "resourceSpans"]
                .iter()
                .flat_map(|k| body[*k].as_array().cloned().unwrap_or_default())
            {
                for a in r["resource"]["attributes"].as_array().into_iter().flatten() {
                    if a["key"] == "service.name" {
                        services.insert(
                            a["value"]["stringValue"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        );
                    }
                }
                for sm in r["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        names_ref.insert(m["name"].as_str().unwrap_or_default().to_string());
                    }
                }
            }
        }
        (names, services)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

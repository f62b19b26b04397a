//! Shared fixtures: the configured core, the schemas compiled once, and helpers to run
//! raw bytes through the core.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, TimeZone, Utc};
use consent_enricher::config::Config;
use consent_enricher::offline::{self, Summary};
use consent_enricher::pipeline::{Core, Outputs, RawRecord, Source};
use consent_enricher::state::State;
use serde_json::Value;

pub const KEY: &str = "test-pseudonym-key-0123456789abcdef";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn config() -> Config {
    let mut c = Config::default();
    c.pseudonym.key = KEY.into();
    c
}

pub fn core() -> Core {
    consent_enricher::enrichment::core_without_geoip(&config()).expect("core with a test key")
}

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
}

pub fn run(core: &Core, state: &State, bytes: &[u8]) -> Outputs {
    let raw = RawRecord {
        key: Some(b"k"),
        value: Some(bytes),
        source: Source {
            topic: "usage.raw",
            partition: 3,
            offset: 42,
        },
    };
    core.process(&raw, state, now())
}

pub struct Schemas {
    validators: Vec<(String, jsonschema::Validator)>,
}

impl Schemas {
    pub fn get() -> &'static Schemas {
        static S: OnceLock<Schemas> = OnceLock::new();
        S.get_or_init(|| {
            let dir = root().join("schemas");
            let mut validators = Vec::new();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let schema: Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                let v = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                validators.push((name, v));
            }
            Schemas { validators }
        })
    }

    pub fn check(&self, schema: &str, doc: &Value) {
        let (_, v) = self
            .validators
            .iter()
            .find(|(n, _)| n == schema)
            .unwrap_or_else(|| panic!("no schema {schema}"));
        let errors: Vec<String> = v
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{schema}: {errors:?}\n{doc}");
    }
}

pub fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// The README's text between `<!-- NAME:start -->` and `<!-- NAME:end -->`, for the
/// tests that keep generated tables in step with the code.
pub fn readme_section(name: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let open = format!("<!-- {name}:start -->\n");
    let start = readme.find(&open).expect("start marker") + open.len();
    let end = readme
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    readme[start..end].to_string()
}

/// Runs `examples/` (consents, profiles, erasures, then events) through the `process`
/// edge under `config`: the output lines, parsed, and the summary.
pub fn process_examples(config: &Config) -> (Vec<Value>, Summary) {
    let dir = root().join("examples");
    let core = consent_enricher::enrichment::core_without_geoip(config).expect("core");
    let state = State::for_outputs(&config.personal_outputs());
    let mut summary = Summary::default();
    let mut out = Vec::new();
    let open = |n: &str| BufReader::new(std::fs::File::open(dir.join(n)).unwrap());
    offline::load_consents(open("consents.jsonl"), &state, now(), &mut summary);
    offline::load_profiles(open("profiles.jsonl"), &state, now(), &mut summary);
    let erasures = open("erasures.jsonl");
    offline::load_erasures(
        erasures,
        &core,
        &state,
        &config.topics,
        now(),
        &mut out,
        &mut summary,
    )
    .unwrap();
    let events = open("events.jsonl");
    offline::process_events(events, &core, &state, config, now, &mut out, &mut summary).unwrap();
    let lines = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, summary)
}

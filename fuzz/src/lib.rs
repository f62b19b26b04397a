//! The fuzz harness shared by the targets in `fuzz_targets/` (FUZZING.md): one fixed core
//! and state snapshot (the users of `examples/`, geoip fixture databases, the real
//! time-zone finder), the JSON schemas compiled once, and the invariants every output of
//! `Core::process` must keep — schema-valid records, the dead-letter contract, and no
//! planted identifier in the anonymous record. It owns those checks and nothing else: it
//! never changes the core's behaviour, and it is test code, so a broken fixture or a
//! violated invariant panics (which is how libFuzzer learns of it); `unwrap`/`expect`
//! are allowed here for that reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use consent_enricher_core::enrich::{Enricher, GeoDb, GeoIp, timezone::ZoneFinder};
use consent_enricher_core::pipeline::{Core, Outputs, RawRecord, Source};
use consent_enricher_core::policy::Decision;
use consent_enricher_core::scrub;
use consent_enricher_core::settings::{CoreSettings, PersonalOutput, PolicyConfig};
use consent_enricher_core::state::{Arrival, State};
use consent_enricher_testkit::corpus::oracle_fold;
use consent_enricher_testkit::mmdb_writer::{self, Layout, Variant};
use serde_json::Value;

/// The example state and events, compiled in so a target needs no files at run time.
pub const EXAMPLE_CONSENTS: &str = include_str!("../../examples/consents.jsonl");
pub const EXAMPLE_PROFILES: &str = include_str!("../../examples/profiles.jsonl");
pub const EXAMPLE_ERASURES: &str = include_str!("../../examples/erasures.jsonl");
pub const EXAMPLE_EVENTS: &str = include_str!("../../examples/events.jsonl");

const SCHEMAS: [(&str, &str); 2] = [
    (
        "anonymous",
        include_str!("../../schemas/anonymous-event.schema.json"),
    ),
    (
        "personal",
        include_str!("../../schemas/personal-event.schema.json"),
    ),
];
const RAW_SCHEMA: &str = include_str!("../../schemas/raw-event.schema.json");

/// The raw-event size limit and output limit of the default configuration.
pub const MAX_EVENT_BYTES: usize = 1 << 20;
pub const MAX_OUTPUT_BYTES: usize = 1_000_000;

/// One user of the fixture state and every value of theirs that identifies them.
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// The phone's digits without the country code.
    pub national: Option<String>,
    pub bank_card: Option<String>,
    pub government_id: Option<String>,
}

/// The core, the state and what the checks need, built once per process.
pub struct Fixture {
    pub core: Core,
    pub state: State,
    pub now: chrono::DateTime<chrono::Utc>,
    pub users: Vec<User>,
    anonymous: jsonschema::Validator,
    personal: jsonschema::Validator,
    pub raw: jsonschema::Validator,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter(|l| !l.trim().is_empty())
}

fn compile(schema: &str) -> jsonschema::Validator {
    let v: Value = serde_json::from_str(schema).unwrap();
    jsonschema::options()
        .should_validate_formats(true)
        .build(&v)
        .unwrap()
}

/// Loads one `examples/*.jsonl` table: a line is a record, or a `{"key", "value": null}`
/// tombstone envelope.
fn load(text: &str, mut apply: impl FnMut(Option<&str>, Option<&[u8]>)) {
    for line in lines(text) {
        let v: Value = serde_json::from_str(line).unwrap();
        match v.get("value") {
            Some(Value::Null) => apply(v["key"].as_str(), None),
            _ => apply(v["user_id"].as_str(), Some(line.as_bytes())),
        }
    }
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

impl Fixture {
    pub fn get() -> &'static Fixture {
        static F: OnceLock<Fixture> = OnceLock::new();
        F.get_or_init(Fixture::build)
    }

    fn build() -> Fixture {
        let policy = PolicyConfig::default();
        let dbs = mmdb_writer::fixture_databases(Layout::MaxMindCity, Variant::A)
            .into_iter()
            .map(|(name, bytes)| GeoDb::open(name, bytes).unwrap())
            .collect();
        let enricher = Enricher::new(GeoIp::new(dbs), Arc::new(ZoneFinder::try_new().unwrap()));
        let outputs = vec![PersonalOutput::single(&policy, "usage.personal")];
        let state = State::for_outputs(&outputs);
        let core = Core::new(
            CoreSettings {
                policy,
                personal_outputs: outputs,
                max_event_bytes: MAX_EVENT_BYTES,
                max_output_bytes: MAX_OUTPUT_BYTES,
                pseudonym_key: b"fuzz-pseudonym-key-0123456789".to_vec().into(),
            },
            Arc::new(enricher),
        );
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap()
            .to_utc();
        let arrival = Arrival::at(now);
        load(EXAMPLE_CONSENTS, |k, v| {
            state.apply_consent_record(k, v, &arrival);
        });
        load(EXAMPLE_PROFILES, |k, v| {
            state.apply_profile_record(k, v, &arrival);
        });
        load(EXAMPLE_ERASURES, |k, v| {
            state.apply_erasure_record(k, v, &arrival);
        });
        let mut users: Vec<User> = Vec::new();
        for line in lines(EXAMPLE_PROFILES) {
            let p: Value = serde_json::from_str(line).unwrap();
            let s = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
            users.push(User {
                user_id: s("user_id").unwrap(),
                name: s("name"),
                email: s("email"),
                // `+44 20 7946 0958` -> `2079460958` (country codes of the examples).
                national: s("phone").map(|ph| {
                    let d = digits(&ph);
                    let cc = if ph.starts_with("+1") { 1 } else { 2 };
                    d[cc.min(d.len())..].to_string()
                }),
                bank_card: s("bank_card").map(|c| digits(&c)),
                government_id: s("government_id"),
            });
        }
        for line in lines(EXAMPLE_CONSENTS) {
            let v: Value = serde_json::from_str(line).unwrap();
            let id = v["user_id"].as_str().or(v["key"].as_str()).unwrap();
            if !users.iter().any(|u| u.user_id == id) {
                users.push(User {
                    user_id: id.to_string(),
                    name: None,
                    email: None,
                    national: None,
                    bank_card: None,
                    government_id: None,
                });
            }
        }
        let [anonymous, personal] = SCHEMAS.map(|(_, s)| compile(s));
        Fixture {
            core,
            state,
            now,
            users,
            anonymous,
            personal,
            raw: compile(RAW_SCHEMA),
        }
    }

    /// `bytes` through `Core::process` as the worker would consume them.
    pub fn process(&self, key: Option<&[u8]>, bytes: &[u8]) -> Outputs {
        let raw = RawRecord {
            key,
            value: Some(bytes),
            source: Source {
                topic: "usage.raw",
                partition: 0,
                offset: 7,
            },
        };
        self.core.process(&raw, &self.state, self.now)
    }

    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.user_id == id)
    }
}

fn validate(v: &jsonschema::Validator, what: &str, doc: &Value) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} record invalid: {errors:?}\n{doc}"
    );
}

/// What `check` found valid: the two records parsed, for the leak checks.
pub struct Records {
    pub anonymous: Value,
    pub personal: Option<Value>,
}

/// The contract of one `Core::process` call on `input`: an event has one schema-valid
/// anonymous record (no key) and a personal record exactly when the decision says so,
/// keyed by the user; a dead letter carries the input (or its bounded prefix with size
/// headers) and its reason; nothing exceeds the output limit. Returns the records of an
/// event.
pub fn check(f: &Fixture, key: Option<&[u8]>, input: &[u8], out: &Outputs) -> Option<Records> {
    let max = f.core.max_output_bytes();
    match out {
        Outputs::DeadLetter(d) => {
            assert!(d.len() <= max, "dead letter of {} bytes", d.len());
            let header = |n: &str| d.headers.iter().find(|(k, _)| *k == n).map(|(_, v)| v);
            assert_eq!(
                header("dlq.reason").map(String::as_str),
                Some(d.reason.code())
            );
            match header("dlq.value.size") {
                None => assert_eq!(d.value, input, "dead letter must carry the input"),
                Some(size) => {
                    assert_eq!(size, &input.len().to_string());
                    assert!(input.starts_with(&d.value), "bounded value is a prefix");
                }
            }
            if header("dlq.key.size").is_none() {
                assert_eq!(d.key.as_deref(), key);
            }
            None
        }
        Outputs::Event {
            anonymous,
            personal,
            ..
        } => {
            let [outcome] = personal.as_slice() else {
                panic!("one personal output configured, {} outcomes", personal.len());
            };
            let (decision, personal) = (&outcome.decision, &outcome.record);
            assert!(anonymous.key.is_none(), "anonymous records have no key");
            assert!(anonymous.len() <= max);
            let anon: Value = serde_json::from_slice(&anonymous.value).unwrap();
            validate(&f.anonymous, "anonymous", &anon);
            assert_eq!(personal.is_some(), *decision == Decision::Personal);
            let personal = personal.as_ref().map(|p| {
                assert!(p.len() <= max);
                let doc: Value = serde_json::from_slice(&p.value).unwrap();
                validate(&f.personal, "personal", &doc);
                assert_eq!(p.key.as_deref(), doc["user_id"].as_str());
                doc
            });
            Some(Records {
                anonymous: anon,
                personal,
            })
        }
    }
}

/// A planted value and how the scrubber promises to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Canon {
    /// Its letters and digits anywhere (identifiers, e-mails, card numbers).
    Token(String),
    /// Its letters and digits between non-letters/digits (names; short numbers).
    Word(String),
    /// Its folded text with separators, not glued to a letter, digit, `.` or `:`
    /// (IP addresses, a stranger's e-mail).
    Text(String),
}

/// What a placeholder becomes before the leak check: a letter no planted value holds, so
/// a placeholder's own letters (`[card]`, `:redacted`) never complete a value.
const STOP: char = 'ǂ';
const PLACEHOLDERS: [&str; 11] = [
    "[email]",
    "[ip]",
    "[card]",
    "[phone]",
    "[id]",
    ":redacted",
    ":email",
    ":num",
    ":uuid",
    "ip.invalid",
    "redacted",
];

/// The oracle's skeleton of `s`, with the index in `s`'s chars of each kept char.
fn skeleton_at(s: &str) -> (Vec<char>, Vec<usize>) {
    let mut sk = Vec::new();
    let mut at = Vec::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_alphanumeric() {
            sk.push(c);
            at.push(i);
        }
    }
    (sk, at)
}

/// The canon of an identifier as the scrubber matches it, or `None` when the scrubber
/// does not search for it (shorter than `MIN_KNOWN_LEN` letters and digits).
pub fn id_canon(value: &str) -> Option<Canon> {
    let sk: String = skeleton_at(&oracle_fold(value)).0.into_iter().collect();
    if sk.chars().count() < scrub::MIN_KNOWN_LEN
        || scrub::skeleton(value).chars().count() < scrub::MIN_KNOWN_LEN
        || sk.contains(STOP)
    {
        return None;
    }
    // Digit-only values under seven digits match whole numbers only.
    if sk.chars().all(|c| c.is_ascii_digit()) && sk.len() < 7 {
        return Some(Canon::Word(sk));
    }
    Some(Canon::Token(sk))
}

fn found(text: &str, canon: &Canon) -> bool {
    let folded = oracle_fold(text);
    match canon {
        Canon::Token(n) | Canon::Word(n) => {
            let (sk, at) = skeleton_at(&folded);
            let need: Vec<char> = n.chars().collect();
            if need.is_empty() || need.len() > sk.len() {
                return false;
            }
            let chars: Vec<char> = folded.chars().collect();
            (0..=sk.len() - need.len()).any(|i| {
                if sk[i..i + need.len()] != need[..] {
                    return false;
                }
                if matches!(canon, Canon::Token(_)) {
                    return true;
                }
                let before = at[i].checked_sub(1).map(|j| chars[j]);
                let after = chars.get(at[i + need.len() - 1] + 1).copied();
                !before.is_some_and(char::is_alphanumeric)
                    && !after.is_some_and(char::is_alphanumeric)
            })
        }
        Canon::Text(n) => {
            let glued =
                |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '.' || c == ':');
            folded.match_indices(n.as_str()).any(|(i, m)| {
                !glued(folded[..i].chars().next_back())
                    && !glued(folded[i + m.len()..].chars().next())
            })
        }
    }
}

/// The canons present in `doc`'s strings (keys included) and numbers. In an anonymous
/// record only the fields copied from the input are read: the pseudonym, the times, the
/// agent, geo and time-zone enrichment come from closed vocabularies or keyed hashes.
pub fn leaks<'c>(doc: &Value, canons: &'c [Canon], anonymous: bool) -> Vec<&'c Canon> {
    let mut doc = doc.clone();
    if anonymous && let Some(m) = doc.as_object_mut() {
        for k in [
            "event_id",
            "occurred_at",
            "processed_at",
            "agent",
            "geo",
            "time",
            "language",
        ] {
            m.remove(k);
        }
    }
    let mut all = Vec::new();
    // The URL is scrubbed per host, path segment and query value, as `url` promises: a
    // value spread over two segments (`/u_al/ice`) is not one it looks for.
    if anonymous && let Some(m) = doc.as_object_mut() {
        for k in ["url", "referrer_host"] {
            if let Some(Value::String(u)) = m.remove(k) {
                all.extend(u.split(['/', '?', '&', '=']).map(str::to_owned));
            }
        }
    }
    consent_enricher_testkit::corpus::strings(&doc, &mut all);
    let all: Vec<String> = all
        .into_iter()
        .map(|t| {
            PLACEHOLDERS
                .iter()
                .fold(t, |t, p| t.replace(p, &STOP.to_string()))
        })
        .collect();
    canons
        .iter()
        .filter(|c| all.iter().any(|t| found(t, c)))
        .collect()
}

/// What must not reach the anonymous record of an event naming `user_id`, besides the
/// event's own identifiers: that user's profile values, and every user's e-mail address
/// (an e-mail is found structurally, whoever's it is).
pub fn user_canons(f: &Fixture, user_id: Option<&str>) -> Vec<Canon> {
    let mut out = Vec::new();
    for u in &f.users {
        if let Some(e) = &u.email {
            out.push(Canon::Text(oracle_fold(e)));
        }
    }
    // Only a user whose profile is in the state has values the scrubber knows (an erased
    // user's profile is gone).
    let loaded = |id: &&str| f.state.profile(id).is_some();
    if let Some(u) = user_id.filter(loaded).and_then(|id| f.user(id)) {
        let name = u
            .name
            .as_deref()
            .map(|n| Canon::Word(skeleton_at(&oracle_fold(n)).0.into_iter().collect()));
        out.extend(name);
        for v in [&u.email, &u.national, &u.bank_card, &u.government_id]
            .into_iter()
            .flatten()
        {
            out.extend(id_canon(v));
        }
    }
    out
}

/// What must reach no record at all: the event user's card and government id.
pub fn never_canons(f: &Fixture, user_id: Option<&str>) -> Vec<Canon> {
    let Some(u) = user_id
        .filter(|id| f.state.profile(id).is_some())
        .and_then(|id| f.user(id))
    else {
        return Vec::new();
    };
    [&u.bank_card, &u.government_id]
        .into_iter()
        .flatten()
        .filter_map(|v| id_canon(v))
        .collect()
}

/// The event's own identifiers (`event_id`, `user_id`, `anonymous_id`, `device_id`,
/// `session_id`) as the parsed input holds them, plus its IP address.
pub fn own_canons(input: &Value) -> Vec<Canon> {
    let mut out: Vec<Canon> = [
        "event_id",
        "user_id",
        "anonymous_id",
        "device_id",
        "session_id",
    ]
    .iter()
    .filter_map(|k| input.get(*k).and_then(Value::as_str))
    .filter_map(id_canon)
    .collect();
    // An IPv4 address ending in `.0` reads as a version (`1.0.0.0`, README "What the
    // scrubber cannot know"); IPv6 text the fuzzer invents is checked by the planted target.
    if let Some(std::net::IpAddr::V4(ip)) = input
        .get("ip")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse::<std::net::IpAddr>().ok())
        && ip.octets()[3] != 0
    {
        out.push(Canon::Text(ip.to_string()));
    }
    out
}

/// Every invariant for one input: the contract ([`check`]), then no planted identifier
/// in the anonymous record and no card or government id of the user in any record.
pub fn check_all(f: &Fixture, key: Option<&[u8]>, input: &[u8]) {
    let out = f.process(key, input);
    let Some(records) = check(f, key, input, &out) else {
        return;
    };
    // serde_json's `Value` refuses some numbers the core's borrowed reader keeps (out of
    // f64 range); such an input plants no identifier this check could name.
    let parsed: Value = serde_json::from_slice(input).unwrap_or(Value::Null);
    let user = parsed.get("user_id").and_then(Value::as_str);
    let mut canons = own_canons(&parsed);
    canons.extend(user_canons(f, user));
    canons.extend(never_canons(f, user));
    let leaked = leaks(&records.anonymous, &canons, true);
    assert!(
        leaked.is_empty(),
        "{leaked:?} in the anonymous record {}",
        records.anonymous
    );
    if let Some(p) = &records.personal {
        let never = never_canons(f, user);
        let leaked = leaks(p, &never, false);
        assert!(leaked.is_empty(), "{leaked:?} in the personal record {p}");
    }
}

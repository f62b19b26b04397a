//! The offline edge behind `consent-enricher process`: reads state (consents, profiles,
//! erasures) and raw events from JSON Lines, runs the pure core on each event and writes
//! one JSON line per output record. It owns the file formats and the summary; it never
//! stops on a bad line (bad state lines are counted, bad events become dead letters), and
//! the summary holds counts only, never content.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::IgnoredAny;
use serde_json::value::RawValue;

use crate::config::{Config, TopicsConfig};
use crate::pipeline::{Core, Counts, Outputs, Produced, RawRecord, Source};
use crate::state::{Arrival, ErasureApplied, State};

/// Counts for the stderr summary: what the core produced, the audit records written and
/// the state lines that could not be applied.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Raw events and their outputs.
    pub counts: Counts,
    /// Audit records written (one per erasure request).
    pub audit: u64,
    /// State lines that could not be applied, per file kind.
    pub bad_state_lines: BTreeMap<&'static str, u64>,
}

impl Summary {
    /// Human-readable, one fact per line; personal outputs named by `names`.
    pub fn render(&self, names: &[&str]) -> String {
        let c = &self.counts;
        let mut s = format!(
            "raw events: {}\nanonymous records: {}\npersonal records: {}\ndead letters: {}\naudit records: {}\n",
            c.raw, c.anonymous, c.personal, c.dead_letters, self.audit
        );
        for (r, n) in &c.by_reason {
            s.push_str(&format!("dead letters ({r}): {n}\n"));
        }
        for (i, o) in c.outputs.iter().enumerate() {
            let name = names
                .get(i)
                .map_or_else(|| i.to_string(), |n| n.to_string());
            s.push_str(&format!("personal output {name}: {} records\n", o.records));
            for (d, n) in &o.decisions {
                s.push_str(&format!("personal output {name} decision {d}: {n}\n"));
            }
        }
        for (k, n) in &self.bad_state_lines {
            s.push_str(&format!("unreadable {k} lines (skipped): {n}\n"));
        }
        s
    }
}

/// One line of `process` output.
#[derive(Serialize)]
struct Line<'a> {
    topic: &'a str,
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<&'a str, &'a str>>,
}

/// A state line is either the document itself or an envelope `{"key": .., "value": ..}`
/// whose `null` value is a tombstone (what `gen` writes, mirroring the Kafka topic):
/// returns it as the key and value bytes a Kafka record would carry. The value keeps its
/// own bytes: re-serializing a parsed copy would merge a key given twice, which the
/// worker's table loader refuses.
fn state_line(line: &str) -> Option<(Option<String>, Option<Vec<u8>>)> {
    if let Ok(m) = serde_json::from_str::<BTreeMap<String, &RawValue>>(line)
        && m.len() <= 2
        && let Some(value) = m.get("value")
    {
        let key = m
            .get("key")
            .and_then(|k| serde_json::from_str::<String>(k.get()).ok());
        let value = (value.get() != "null").then(|| value.get().as_bytes().to_vec());
        return Some((key, value));
    }
    serde_json::from_str::<IgnoredAny>(line).ok()?;
    Some((None, Some(line.as_bytes().to_vec())))
}

/// Applies each line of a state file with `apply` (the same functions the worker's
/// table loader uses), counting the lines it could not read under `kind`.
fn load_table(
    r: impl BufRead,
    kind: &'static str,
    summary: &mut Summary,
    apply: impl Fn(Option<&str>, Option<&[u8]>) -> bool,
) {
    for line in r
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
    {
        let ok =
            state_line(&line).is_some_and(|(key, value)| apply(key.as_deref(), value.as_deref()));
        if !ok {
            *summary.bad_state_lines.entry(kind).or_default() += 1;
        }
    }
}

/// Applies a consents file to `state` (fail closed, as the worker does).
/// `now` is the clock the skew rule measures `updated_at` against: file lines carry no
/// write time.
pub fn load_consents(r: impl BufRead, state: &State, now: DateTime<Utc>, summary: &mut Summary) {
    load_table(r, "consent", summary, |k, v| {
        state.apply_consent_record(k, v, &Arrival::at(now))
    });
}

/// Applies a profiles file to `state`.
pub fn load_profiles(r: impl BufRead, state: &State, now: DateTime<Utc>, summary: &mut Summary) {
    load_table(r, "profile", summary, |k, v| {
        state.apply_profile_record(k, v, &Arrival::at(now))
    });
}

/// Applies an erasures file, writing one audit line per request.
pub fn load_erasures(
    r: impl BufRead,
    core: &Core,
    state: &State,
    topics: &TopicsConfig,
    now: DateTime<Utc>,
    out: &mut impl Write,
    summary: &mut Summary,
) -> std::io::Result<()> {
    for line in r
        .lines()
        .map_while(Result::ok)
        .filter(|l| !l.trim().is_empty())
    {
        let Some((key, value)) = state_line(&line) else {
            *summary.bad_state_lines.entry("erasure").or_default() += 1;
            continue;
        };
        // The same function the worker's table reader applies erasures with.
        let outcome =
            match state.apply_erasure_record(key.as_deref(), value.as_deref(), &Arrival::at(now)) {
                ErasureApplied::Request(outcome) => outcome,
                ErasureApplied::Tombstone => continue,
                ErasureApplied::KeyOnly | ErasureApplied::Unreadable => {
                    *summary.bad_state_lines.entry("erasure").or_default() += 1;
                    continue;
                }
            };
        let audit = core.audit(&outcome, now);
        write_json(out, &topics.audit, &audit)?;
        summary.audit += 1;
    }
    Ok(())
}

fn write_json(out: &mut impl Write, topic: &str, p: &Produced) -> std::io::Result<()> {
    // The core produced this JSON itself, so it is valid.
    let text = std::str::from_utf8(&p.value).unwrap_or("null");
    let raw = RawValue::from_string(text.to_string()).ok();
    let line = Line {
        topic,
        key: p.key.as_deref(),
        value: raw.as_deref(),
        value_base64: None,
        headers: None,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Runs the core over raw events, one per line. Every line produces output: a line that
/// is not valid becomes a dead letter with its bytes (newline stripped) unchanged.
pub fn process_events(
    r: impl BufRead,
    core: &Core,
    state: &State,
    config: &Config,
    now: impl Fn() -> DateTime<Utc>,
    out: &mut impl Write,
    summary: &mut Summary,
) -> std::io::Result<()> {
    let topics = &config.topics;
    let personal_topics = config.personal_topics();
    let mut offset = 0i64;
    for line in r.split(b'\n') {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            offset += 1;
            continue;
        }
        let raw = RawRecord {
            key: None,
            value: Some(&line),
            source: Source {
                topic: &topics.raw,
                partition: 0,
                offset,
            },
        };
        offset += 1;
        let outputs = core.process(&raw, state, now());
        summary.counts.add(&outputs);
        match outputs {
            Outputs::Event {
                anonymous,
                personal,
                ..
            } => {
                write_json(out, &topics.anonymous, &anonymous)?;
                for (p, topic) in personal.iter().zip(&personal_topics) {
                    if let Some(record) = &p.record {
                        write_json(out, topic, record)?;
                    }
                }
            }
            Outputs::DeadLetter(d) => {
                let headers = d.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let key = d.key.as_deref().map(String::from_utf8_lossy);
                let line = Line {
                    topic: &topics.dead_letter,
                    key: key.as_deref(),
                    value: None,
                    value_base64: Some(base64::engine::general_purpose::STANDARD.encode(&d.value)),
                    headers: Some(headers),
                };
                serde_json::to_writer(&mut *out, &line)?;
                out.write_all(b"\n")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lines_reach_the_table_functions_byte_for_byte() {
        let doc = r#"{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","name":"A"}"#;
        assert_eq!(state_line(doc), Some((None, Some(doc.as_bytes().to_vec()))));
        let env = format!(r#"{{"key":"u1","value":{doc}}}"#);
        assert_eq!(
            state_line(&env),
            Some((Some("u1".into()), Some(doc.as_bytes().to_vec())))
        );
        assert_eq!(
            state_line(r#"{"key":"u1","value":null}"#),
            Some((Some("u1".into()), None))
        );
        assert_eq!(state_line("{not json"), None);
    }

    #[test]
    fn an_enveloped_profile_with_a_key_twice_is_refused_as_in_the_worker() {
        let state = State::new(&["name".to_string()]);
        let mut summary = Summary::default();
        let lines = concat!(
            r#"{"key":"u1","value":{"user_id":"u1","updated_at":"2026-01-01T00:00:00Z","name":"A"}}"#,
            "\n",
            r#"{"key":"u2","value":{"user_id":"u2","updated_at":"2026-01-01T00:00:00Z","name":"A","name":"B"}}"#,
            "\n",
        );
        load_profiles(lines.as_bytes(), &state, chrono::Utc::now(), &mut summary);
        assert!(state.profile("u1").is_some());
        assert!(state.profile("u2").is_none());
        assert_eq!(summary.bad_state_lines.get("profile"), Some(&1));
    }
}

//! The pure core: `(raw record, state snapshot, clock) -> outputs`. One raw record in,
//! exactly one anonymous record or exactly one dead letter out, plus at most one personal
//! record; one erasure request in, one audit record out. It owns that contract, the
//! serialization of the output documents and their size: no output is larger than
//! `CoreSettings::max_output_bytes` (an input whose outputs would be becomes one
//! `output_too_large` dead letter; a dead letter too large to forward keeps a bounded
//! prefix plus the value's size and SHA-256). No I/O, no async, no globals: the Kafka
//! edge and the `process` command call it and move the bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::enrich::{self, Enricher, Miss};
use crate::model::{DlqReason, RawEvent, Rejection, format_time};
use crate::policy::{Decision, Policy};
use crate::settings::CoreSettings;
use crate::state::{ErasureOutcome, State};

/// Where a raw record came from (for dead-letter headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// One record as consumed.
#[derive(Debug, Clone, Copy)]
pub struct RawRecord<'a> {
    /// Message key.
    pub key: Option<&'a [u8]>,
    /// Message value (`None` for a null value).
    pub value: Option<&'a [u8]>,
    /// Origin.
    pub source: Source<'a>,
}

/// A serialized output record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Produced {
    /// Message key.
    pub key: Option<String>,
    /// JSON value.
    pub value: Vec<u8>,
}

impl Produced {
    /// Bytes of the record as the core made it (key and value).
    pub fn len(&self) -> usize {
        self.key.as_ref().map_or(0, String::len) + self.value.len()
    }

    /// True for an empty key and value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How much of a value a bounded dead letter keeps: enough to see what the input was,
/// little enough that a dead letter never comes near the producer's limit.
pub const DLQ_VALUE_PREFIX_BYTES: usize = 4096;
/// The same bound for a key too long to forward whole.
pub const DLQ_KEY_PREFIX_BYTES: usize = 1024;
/// Longest `dlq.detail`: a JSON pointer can name an input's keys, which are unbounded.
pub const DLQ_DETAIL_MAX_BYTES: usize = 1024;
/// The least `max_output_bytes` the core works with: a bounded dead letter (prefixes
/// and every `dlq.*` header) must always fit, or a dead letter could not be sent either.
pub const MIN_OUTPUT_BYTES: usize = 16 * 1024;

/// A dead letter: the input plus `dlq.*` headers. The value is the input's bytes
/// unchanged, except for a `too_large` or `output_too_large` input, or one that would
/// not fit: then it is the first [`DLQ_VALUE_PREFIX_BYTES`] bytes, and the headers
/// `dlq.value.size`, `dlq.value.sha256` (of the whole value, lowercase hex) and
/// `dlq.value.truncated` say what was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Why.
    pub reason: DlqReason,
    /// The input's key (its first [`DLQ_KEY_PREFIX_BYTES`] when it would not fit,
    /// with `dlq.key.size` and `dlq.key.truncated`).
    pub key: Option<Vec<u8>>,
    /// The input's bytes, or their bounded prefix.
    pub value: Vec<u8>,
    /// `dlq.reason`, `dlq.detail`, `dlq.source.topic`, `dlq.source.partition`,
    /// `dlq.source.offset`, and for a bounded value `dlq.value.size`, `dlq.value.sha256`,
    /// `dlq.value.truncated`.
    pub headers: Vec<(&'static str, String)>,
}

impl DeadLetter {
    /// Bytes of the record: key, value and headers (names and values).
    pub fn len(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len) + self.value.len() + headers_len(&self.headers)
    }

    /// True for a record with nothing in it (never, in practice: it has headers).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn headers_len(h: &[(&'static str, String)]) -> usize {
    h.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// What one personal output got from a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalOutcome {
    /// Why there is, or is not, a record.
    pub decision: Decision,
    /// Present only when the user's consent grants every purpose the output needs.
    pub record: Option<Produced>,
}

/// What one raw record produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs {
    /// A valid event.
    Event {
        /// Always present.
        anonymous: Produced,
        /// One per personal output, in configuration order (the output's index).
        personal: Vec<PersonalOutcome>,
        /// The event's user, when some output has a record for them (the edge watches
        /// that user's consent until the records commit, whatever their key).
        user_id: Option<String>,
        /// Enrichment misses, for metrics.
        misses: Vec<Miss>,
    },
    /// An invalid input.
    DeadLetter(DeadLetter),
}

impl Outputs {
    /// Personal output `i`'s record, if this input gave it one.
    pub fn personal_record(&self, i: usize) -> Option<&Produced> {
        match self {
            Outputs::Event { personal, .. } => personal.get(i)?.record.as_ref(),
            Outputs::DeadLetter(_) => None,
        }
    }

    /// Personal output `i`'s decision; `None` for a dead letter.
    pub fn decision(&self, i: usize) -> Option<Decision> {
        match self {
            Outputs::Event { personal, .. } => Some(personal.get(i)?.decision),
            Outputs::DeadLetter(_) => None,
        }
    }
}

/// Serialization of our own output structs cannot fail: they hold only strings, numbers,
/// booleans and maps with string keys.
fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec())
}

/// Counts of what the core produced, by output, dead-letter reason and decision; both
/// edges (the worker's report, the `process` summary) keep one. `raw = anonymous +
/// dead_letters` always holds, and so, for each personal output, does `anonymous = sum
/// of its decisions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Raw records run through the core.
    pub raw: u64,
    /// Anonymous records.
    pub anonymous: u64,
    /// Personal records, all outputs together.
    pub personal: u64,
    /// Dead letters.
    pub dead_letters: u64,
    /// Dead letters per reason code.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Per personal output, in configuration order.
    pub outputs: Vec<OutputCounts>,
}

/// What one personal output got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputCounts {
    /// Its records.
    pub records: u64,
    /// Valid events per decision code.
    pub decisions: BTreeMap<&'static str, u64>,
}

impl Counts {
    /// Counts one raw record's outputs.
    pub fn add(&mut self, out: &Outputs) {
        self.raw += 1;
        match out {
            Outputs::Event { personal, .. } => {
                self.anonymous += 1;
                if self.outputs.len() < personal.len() {
                    self.outputs
                        .resize_with(personal.len(), OutputCounts::default);
                }
                for (o, p) in self.outputs.iter_mut().zip(personal) {
                    let made = u64::from(p.record.is_some());
                    o.records += made;
                    self.personal += made;
                    *o.decisions.entry(p.decision.code()).or_default() += 1;
                }
            }
            Outputs::DeadLetter(d) => {
                self.dead_letters += 1;
                *self.by_reason.entry(d.reason.code()).or_default() += 1;
            }
        }
    }

    /// Adds another set of counts.
    pub fn merge(&mut self, o: &Counts) {
        self.raw += o.raw;
        self.anonymous += o.anonymous;
        self.personal += o.personal;
        self.dead_letters += o.dead_letters;
        for (k, v) in &o.by_reason {
            *self.by_reason.entry(k).or_default() += v;
        }
        if self.outputs.len() < o.outputs.len() {
            self.outputs
                .resize_with(o.outputs.len(), OutputCounts::default);
        }
        for (mine, theirs) in self.outputs.iter_mut().zip(&o.outputs) {
            mine.records += theirs.records;
            for (k, v) in &theirs.decisions {
                *mine.decisions.entry(k).or_default() += v;
            }
        }
    }

    /// One line: `raw=.. anonymous=.. personal=.. dead_letters=.. reasons={..}` and per
    /// personal output, named by `names` (its index if there are fewer names),
    /// `<name>={records=.. decisions={..}}`.
    pub fn render(&self, names: &[&str]) -> String {
        let mut line = format!(
            "raw={} anonymous={} personal={} dead_letters={} reasons={:?}",
            self.raw, self.anonymous, self.personal, self.dead_letters, self.by_reason,
        );
        for (i, o) in self.outputs.iter().enumerate() {
            let name = names
                .get(i)
                .map_or_else(|| i.to_string(), |n| n.to_string());
            line.push_str(&format!(
                " {name}={{records={} decisions={:?}}}",
                o.records, o.decisions
            ));
        }
        line
    }
}

/// The core: the policy plus limits, built once from the configuration, and the shared
/// enrichment state (geoip databases, time-zone finder).
#[derive(Debug, Clone)]
pub struct Core {
    policy: Policy,
    output_names: Vec<String>,
    max_event_bytes: usize,
    max_output_bytes: usize,
    enricher: Arc<Enricher>,
}

impl Core {
    /// Builds the core from settings the edge validated and an enricher it opened
    /// (geoip databases read by the edge, the time-zone finder).
    pub fn new(settings: CoreSettings, enricher: Arc<Enricher>) -> Core {
        Core {
            policy: Policy::new(
                settings.policy,
                &settings.personal_outputs,
                &settings.pseudonym_key,
            ),
            output_names: settings
                .personal_outputs
                .iter()
                .map(|o| o.name.clone())
                .collect(),
            max_event_bytes: settings.max_event_bytes,
            // Below the minimum a bounded dead letter might not fit; the edge validates
            // the setting, this keeps the core's promise whatever it was given.
            max_output_bytes: settings.max_output_bytes.max(MIN_OUTPUT_BYTES),
            enricher,
        }
    }

    /// The personal outputs' names, in order (their index in [`Outputs::Event`]).
    pub fn output_names(&self) -> Vec<&str> {
        self.output_names.iter().map(String::as_str).collect()
    }

    /// The most bytes one output record takes (key, value, the core's headers).
    pub fn max_output_bytes(&self) -> usize {
        self.max_output_bytes
    }

    /// The one `output_too_large` dead letter that replaces `raw`'s outputs. The core
    /// decides this itself when an output exceeds [`Core::max_output_bytes`]; the edge
    /// calls it when its producer would refuse an output anyway (a lower producer
    /// limit, headers the edge adds), so one record can never stop the worker.
    /// `detail` says which output and how large, never its contents.
    pub fn output_too_large(&self, raw: &RawRecord<'_>, detail: String) -> Outputs {
        self.instead_of_outputs(raw, DlqReason::OutputTooLarge, detail)
    }

    /// The one `output_rejected` dead letter that replaces `raw`'s outputs after the
    /// broker refused one of them, for a reason of that record's own, twice in a row.
    /// `detail` names the output's topic and the broker's error, never its contents.
    pub fn output_rejected(&self, raw: &RawRecord<'_>, detail: String) -> Outputs {
        self.instead_of_outputs(raw, DlqReason::OutputRejected, detail)
    }

    fn instead_of_outputs(
        &self,
        raw: &RawRecord<'_>,
        reason: DlqReason,
        detail: String,
    ) -> Outputs {
        let rej = Rejection { reason, detail };
        Outputs::DeadLetter(dead_letter(raw, rej, self.max_output_bytes))
    }

    /// The enrichment state (for `describe()` in the start-up log, and for the edge to
    /// swap in reloaded geoip databases).
    pub fn enricher(&self) -> &Arc<Enricher> {
        &self.enricher
    }

    /// Processes one raw record against the state as it is now.
    pub fn process(&self, raw: &RawRecord<'_>, state: &State, now: DateTime<Utc>) -> Outputs {
        let ev = match raw.value {
            None => Err(Rejection {
                reason: DlqReason::InvalidJson,
                detail: "null value".into(),
            }),
            Some(v) => RawEvent::parse(v, self.max_event_bytes),
        };
        let ev = match ev {
            Ok(ev) => ev,
            Err(rej) => return Outputs::DeadLetter(dead_letter(raw, rej, self.max_output_bytes)),
        };
        let processed_at = format_time(&now);
        let verdict = self.policy.decide(&ev, state);
        let enrichment = enrich::enrich(&ev, &self.enricher);
        let anonymous = self
            .policy
            .anonymous(&ev, &verdict, &enrichment, &processed_at);
        let personal: Vec<PersonalOutcome> = (0..self.policy.outputs())
            .map(|i| {
                let record = self
                    .policy
                    .personal(&ev, &verdict, i, state, &enrichment, &processed_at)
                    .map(|p| Produced {
                        key: self
                            .policy
                            .keyed_by_user(i)
                            .then(|| ev.user_id.as_deref().map(str::to_owned))
                            .flatten(),
                        value: to_json(&p),
                    });
                PersonalOutcome {
                    decision: self.policy.decision(&verdict, i),
                    record,
                }
            })
            .collect();
        let anonymous = Produced {
            key: None,
            value: to_json(&anonymous),
        };
        // Checked here, not at the producer: `run` and `process` then agree, and the
        // input gives one dead letter instead of a record Kafka refuses, which would
        // stop the partition at this offset for every instance that inherits it.
        let max = self.max_output_bytes;
        if anonymous.len() > max {
            let detail = format!("anonymous record of {} bytes, limit {max}", anonymous.len());
            return self.output_too_large(raw, detail);
        }
        for (p, name) in personal.iter().zip(&self.output_names) {
            if let Some(p) = p.record.as_ref().filter(|p| p.len() > max) {
                let detail = format!("{name} record of {} bytes, limit {max}", p.len());
                return self.output_too_large(raw, detail);
            }
        }
        let user_id = personal
            .iter()
            .any(|p| p.record.is_some())
            .then(|| ev.user_id.as_deref().map(str::to_owned))
            .flatten();
        Outputs::Event {
            anonymous,
            personal,
            user_id,
            misses: enrichment.misses,
        }
    }

    /// The audit record of an erasure [`State::apply_erasure_record`] applied. It says
    /// the request was carried out, so the edge publishes it only after applying.
    pub fn audit(&self, outcome: &ErasureOutcome, now: DateTime<Utc>) -> Produced {
        let audit = Audit {
            r#type: "erasure.completed",
            request_id: outcome.request_id.as_str(),
            requested_at: format_time(&outcome.requested_at),
            completed_at: format_time(&now),
        };
        Produced {
            key: Some(outcome.request_id.as_str().to_owned()),
            value: to_json(&audit),
        }
    }
}

#[derive(Serialize)]
struct Audit<'a> {
    r#type: &'static str,
    request_id: &'a str,
    requested_at: String,
    completed_at: String,
}

/// The dead letter of `raw`. Its value is bounded for `too_large`, `output_too_large` and
/// `output_rejected` inputs (forwarding them whole is what could not be done, or may be
/// what the broker refused) and for any input whose dead
/// letter would exceed `max_output`; its key only when even then it would not fit.
fn dead_letter(raw: &RawRecord<'_>, rej: Rejection, max_output: usize) -> DeadLetter {
    let value = raw.value.unwrap_or_default();
    let key = raw.key;
    let mut headers = vec![
        ("dlq.reason", rej.reason.code().to_string()),
        ("dlq.detail", bounded_detail(rej.detail)),
        ("dlq.source.topic", raw.source.topic.to_string()),
        ("dlq.source.partition", raw.source.partition.to_string()),
        ("dlq.source.offset", raw.source.offset.to_string()),
    ];
    let key_len = key.map_or(0, <[u8]>::len);
    let whole = key_len + value.len() + headers_len(&headers);
    let bound = matches!(
        rej.reason,
        DlqReason::TooLarge | DlqReason::OutputTooLarge | DlqReason::OutputRejected
    ) || whole > max_output;
    let value = if bound {
        let cut = value.len().min(DLQ_VALUE_PREFIX_BYTES);
        headers.push(("dlq.value.size", value.len().to_string()));
        headers.push(("dlq.value.sha256", sha256_hex(value)));
        headers.push(("dlq.value.truncated", (cut < value.len()).to_string()));
        value[..cut].to_vec()
    } else {
        value.to_vec()
    };
    let key = key.map(|k| {
        if key_len + value.len() + headers_len(&headers) + 64 <= max_output {
            return k.to_vec();
        }
        // A key of raw bytes the size of the limit: the dead letter is still sent, and
        // its size header says the key was cut (a dead letter's partition is not used).
        let cut = k.len().min(DLQ_KEY_PREFIX_BYTES);
        headers.push(("dlq.key.size", k.len().to_string()));
        headers.push(("dlq.key.truncated", (cut < k.len()).to_string()));
        k[..cut].to_vec()
    });
    DeadLetter {
        reason: rej.reason,
        key,
        value,
        headers,
    }
}

/// `detail` cut to [`DLQ_DETAIL_MAX_BYTES`] on a character boundary.
fn bounded_detail(mut detail: String) -> String {
    if detail.len() > DLQ_DETAIL_MAX_BYTES {
        let mut cut = DLQ_DETAIL_MAX_BYTES - 3;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
        detail.push_str("...");
    }
    detail
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests;

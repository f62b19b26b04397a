//! The pure core: `(raw record, state snapshot, clock) -> outputs`. One raw record in,
//! exactly one anonymous record or exactly one dead letter out, plus at most one personal
//! record; one erasure request in, one audit record out. It owns that contract and the
//! serialization of the output documents. No I/O, no async, no globals: the Kafka edge
//! and the `process` command call it and move the bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

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

/// A dead letter: the input unchanged plus `dlq.*` headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Why.
    pub reason: DlqReason,
    /// The input's key.
    pub key: Option<Vec<u8>>,
    /// The input's bytes, unchanged.
    pub value: Vec<u8>,
    /// `dlq.reason`, `dlq.detail`, `dlq.source.topic`, `dlq.source.partition`, `dlq.source.offset`.
    pub headers: Vec<(&'static str, String)>,
}

/// What one raw record produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outputs {
    /// A valid event.
    Event {
        /// Always present.
        anonymous: Produced,
        /// Present only with consent.
        personal: Option<Produced>,
        /// Why there is, or is not, a personal record.
        decision: Decision,
        /// Enrichment misses, for metrics.
        misses: Vec<Miss>,
    },
    /// An invalid input.
    DeadLetter(DeadLetter),
}

/// Serialization of our own output structs cannot fail: they hold only strings, numbers,
/// booleans and maps with string keys.
fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"null".to_vec())
}

/// Counts of what the core produced, by output, dead-letter reason and decision; both
/// edges (the worker's report, the `process` summary) keep one. `raw = anonymous +
/// dead_letters` always holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Raw records run through the core.
    pub raw: u64,
    /// Anonymous records.
    pub anonymous: u64,
    /// Personal records.
    pub personal: u64,
    /// Dead letters.
    pub dead_letters: u64,
    /// Dead letters per reason code.
    pub by_reason: BTreeMap<&'static str, u64>,
    /// Valid events per personal-record decision code.
    pub decisions: BTreeMap<&'static str, u64>,
}

impl Counts {
    /// Counts one raw record's outputs.
    pub fn add(&mut self, out: &Outputs) {
        self.raw += 1;
        match out {
            Outputs::Event {
                personal, decision, ..
            } => {
                self.anonymous += 1;
                self.personal += u64::from(personal.is_some());
                *self.decisions.entry(decision.code()).or_default() += 1;
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
        for (k, v) in &o.decisions {
            *self.decisions.entry(k).or_default() += v;
        }
    }

    /// One line: `raw=.. anonymous=.. personal=.. dead_letters=.. reasons={..} decisions={..}`.
    pub fn render(&self) -> String {
        format!(
            "raw={} anonymous={} personal={} dead_letters={} reasons={:?} decisions={:?}",
            self.raw,
            self.anonymous,
            self.personal,
            self.dead_letters,
            self.by_reason,
            self.decisions
        )
    }
}

/// The core: the policy plus limits, built once from the configuration, and the shared
/// enrichment state (geoip databases, time-zone finder).
#[derive(Debug, Clone)]
pub struct Core {
    policy: Policy,
    max_event_bytes: usize,
    enricher: Arc<Enricher>,
}

impl Core {
    /// Builds the core from settings the edge validated and an enricher it opened
    /// (geoip databases read by the edge, the time-zone finder).
    pub fn new(settings: CoreSettings, enricher: Arc<Enricher>) -> Core {
        Core {
            policy: Policy::new(settings.policy, &settings.pseudonym_key),
            max_event_bytes: settings.max_event_bytes,
            enricher,
        }
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
            Err(rej) => return Outputs::DeadLetter(dead_letter(raw, rej)),
        };
        let processed_at = format_time(&now);
        let verdict = self.policy.decide(&ev, state);
        let enrichment = enrich::enrich(&ev, &self.enricher);
        let anonymous = self
            .policy
            .anonymous(&ev, &verdict, &enrichment, &processed_at);
        let personal = self
            .policy
            .personal(&ev, &verdict, state, &enrichment, &processed_at)
            .map(|p| Produced {
                key: ev.user_id.as_deref().map(str::to_owned),
                value: to_json(&p),
            });
        Outputs::Event {
            anonymous: Produced {
                key: None,
                value: to_json(&anonymous),
            },
            personal,
            decision: verdict.decision,
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

fn dead_letter(raw: &RawRecord<'_>, rej: Rejection) -> DeadLetter {
    DeadLetter {
        reason: rej.reason,
        key: raw.key.map(<[u8]>::to_vec),
        value: raw.value.map(<[u8]>::to_vec).unwrap_or_default(),
        headers: vec![
            ("dlq.reason", rej.reason.code().to_string()),
            ("dlq.detail", rej.detail),
            ("dlq.source.topic", raw.source.topic.to_string()),
            ("dlq.source.partition", raw.source.partition.to_string()),
            ("dlq.source.offset", raw.source.offset.to_string()),
        ],
    }
}

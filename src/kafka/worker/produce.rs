//! Producing one input's outputs: the records (topic, key, bytes, headers), the tag each
//! carries into its delivery report, and the one produce-with-retry helper every send
//! goes through. It owns which headers each output gets: none from the input on the
//! anonymous record and the dead letter, the validated trace context (`trace_context`)
//! on the personal record. It must not copy any other
//! input header, decide what an output contains (the core did), count or acknowledge
//! outputs (the delivery modes do, from the tag), nor wait for delivery.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;

use super::DRAIN_TIMEOUT;
use crate::config::TopicsConfig;
use crate::kafka::EdgeError;
use crate::pipeline::{DeadLetter, Outputs, Produced};
use crate::telemetry::{OutTopic, TraceContext};

/// What an output's delivery report needs: the input it came from, when that was
/// consumed, and which output it is, so the report is counted without comparing topic
/// names.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tag {
    pub(super) partition: i32,
    pub(super) offset: i64,
    pub(super) consumed_at: Instant,
    pub(super) kind: OutTopic,
}

/// The producer contexts this module sends through: any whose reports carry a `Tag`.
pub(super) trait Tagged: ProducerContext<DeliveryOpaque = Box<Tag>> + 'static {}
impl<C: ProducerContext<DeliveryOpaque = Box<Tag>> + 'static> Tagged for C {}

type Record<'a> = BaseRecord<'a, [u8], [u8], Box<Tag>>;

/// Where one personal output's records go, and whether they carry the input's trace
/// context: a third-party output's do not, since a trace id would link its records to
/// the other outputs' and to the producer's own traces.
#[derive(Debug, Clone)]
pub(super) struct PersonalRoute {
    pub(super) topic: String,
    pub(super) trace: bool,
}

impl PersonalRoute {
    /// The route of each of `config`'s personal outputs, in the core's order.
    pub(super) fn all(config: &crate::config::Config) -> Vec<PersonalRoute> {
        config
            .personal_outputs()
            .into_iter()
            .map(|o| PersonalRoute {
                trace: !o
                    .purposes
                    .contains(&crate::model::Purpose::ThirdPartySharing),
                topic: o.topic,
            })
            .collect()
    }
}

/// Enqueues every output of `msg`. Only the personal records carry input headers: the
/// trace context, re-encoded, when it is valid and the output's route takes it.
/// `personal_routes` holds each personal output's route, in the core's order.
pub(super) fn send_outputs<C: Tagged>(
    producer: &ThreadedProducer<C>,
    topics: &TopicsConfig,
    personal_routes: &[PersonalRoute],
    msg: &BorrowedMessage<'_>,
    out: &Outputs,
    consumed_at: Instant,
    stop: &AtomicBool,
) -> Result<(), EdgeError> {
    let tag = |kind| {
        Box::new(Tag {
            partition: msg.partition(),
            offset: msg.offset(),
            consumed_at,
            kind,
        })
    };
    match out {
        Outputs::Event {
            anonymous,
            personal,
            ..
        } => {
            // No input header at all: headers are free-form producer data the core never
            // saw, and a trace id shared with the personal twin would link the two.
            let anonymous = event(&topics.anonymous, anonymous, None, tag(OutTopic::Anonymous));
            send(producer, anonymous, stop)?;
            let mut records = personal
                .iter()
                .zip(personal_routes)
                .filter_map(|(p, route)| Some((p.record.as_ref()?, route)))
                .peekable();
            if records.peek().is_none() {
                return Ok(());
            }
            // Read only here: an event without a personal record never looks at headers.
            let trace = trace_context(msg);
            for (p, route) in records {
                let trace = trace.as_ref().filter(|_| route.trace);
                let rec = event(&route.topic, p, trace, tag(OutTopic::Personal));
                send(producer, rec, stop)?;
            }
            Ok(())
        }
        Outputs::DeadLetter(d) => {
            let rec = dead_letter(&topics.dead_letter, d, tag(OutTopic::DeadLetter));
            send(producer, rec, stop)
        }
    }
}

/// The validated trace context of `msg`'s headers (see `trace_context` for the rules).
pub(super) fn trace_context(msg: &BorrowedMessage<'_>) -> Option<TraceContext> {
    TraceContext::from_headers(crate::kafka::headers::raw(msg))
}

fn event<'a>(
    topic: &'a str,
    p: &'a Produced,
    trace: Option<&TraceContext>,
    tag: Box<Tag>,
) -> Record<'a> {
    let mut rec = BaseRecord::with_opaque_to(topic, tag).payload(p.value.as_slice());
    // librdkafka allocates a header list even when it stays empty; most inputs carry
    // no trace context, so their outputs go without one.
    if let Some(t) = trace {
        rec = rec.headers(trace_headers(t));
    }
    if let Some(k) = p.key.as_deref() {
        rec = rec.key(k.as_bytes());
    }
    rec
}

/// The input's key and bytes with the core's `dlq.*` headers only: the input's own
/// headers (trace context included) are not copied.
fn dead_letter<'a>(topic: &'a str, d: &'a DeadLetter, tag: Box<Tag>) -> Record<'a> {
    let mut h = OwnedHeaders::new_with_capacity(d.headers.len());
    for (k, v) in &d.headers {
        h = h.insert(Header {
            key: k,
            value: Some(v.as_bytes()),
        });
    }
    let mut rec = BaseRecord::with_opaque_to(topic, tag)
        .payload(d.value.as_slice())
        .headers(h);
    if let Some(k) = d.key.as_deref() {
        rec = rec.key(k);
    }
    rec
}

fn trace_headers(t: &TraceContext) -> OwnedHeaders {
    let h = OwnedHeaders::new_with_capacity(2).insert(Header {
        key: "traceparent",
        value: Some(t.traceparent().as_bytes()),
    });
    match t.tracestate() {
        Some(state) => h.insert(Header {
            key: "tracestate",
            value: Some(state.as_bytes()),
        }),
        None => h,
    }
}

/// Enqueues a record, waiting while librdkafka's queue is full. Other errors (unknown
/// topic, a fatal producer) cannot be retried: the worker stops without committing the
/// input, so a restart reprocesses it once the cause is fixed. "Message too large" is
/// not one of them: the core bounds every record and the worker's size check
/// (`Instance::fit`) turns an output this producer would refuse into a dead letter
/// before anything of its input is sent.
fn send<C: Tagged>(
    producer: &ThreadedProducer<C>,
    mut rec: Record<'_>,
    stop: &AtomicBool,
) -> Result<(), EdgeError> {
    let started = Instant::now();
    loop {
        match producer.send(rec) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                rec = back;
                // The producer's own thread drains the queue; give it a moment.
                std::thread::sleep(Duration::from_millis(5));
                if stop.load(Ordering::SeqCst) && started.elapsed() > DRAIN_TIMEOUT {
                    return Err(EdgeError::DeliveryFailed(
                        "producer queue stayed full at shutdown".into(),
                    ));
                }
            }
            // librdkafka remembers a topic the broker refused and then refuses every
            // record for it at once: the missing permission, named, is the cause (exit 5)
            // — retrying the transaction cannot help.
            Err((KafkaError::MessageProduction(code), back))
                if super::streak::is_authorization(code) =>
            {
                return Err(EdgeError::AuthorizationFailed(format!(
                    "topic {} refused this producer ({code})",
                    back.topic
                )));
            }
            Err((e, _)) => {
                return Err(EdgeError::Fatal {
                    context: "producing an output",
                    source: e,
                });
            }
        }
    }
}

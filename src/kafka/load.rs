//! Writes generated data (`consent_enricher_gen`) to Kafka: state topics first, flushed, then events, so
//! a worker started afterwards sees every consent before the first event. It owns the
//! record-to-topic mapping of generated data and the progress display; the data itself
//! comes from the generator.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{EdgeError, Role, client_config, set_default};
use crate::config::Config;
use consent_enricher_gen::{GenConfig, GenRecord, GenTopic};

/// Produces a generated population: its table records first, then its events, each
/// step waiting for delivery, so a worker started afterwards finds the tables complete.
pub fn produce_generated(config: &Config, cfg: &GenConfig) -> Result<(), EdgeError> {
    let state_count = consent_enricher_gen::state_records(cfg).count() as u64;
    produce(
        config,
        consent_enricher_gen::state_records(cfg),
        state_count,
        "state",
    )?;
    produce(
        config,
        consent_enricher_gen::events(cfg),
        cfg.events,
        "events",
    )?;
    Ok(())
}

/// Produces `records` to their topics; returns how many were written.
pub fn produce(
    config: &Config,
    records: impl Iterator<Item = GenRecord>,
    total: u64,
    label: &str,
) -> Result<u64, EdgeError> {
    let mut pc = client_config(&config.kafka, Role::Producer);
    set_default(&mut pc, "enable.idempotence", "true");
    set_default(&mut pc, "linger.ms", "20");
    set_default(&mut pc, "queue.buffering.max.kbytes", "262144");
    let producer: BaseProducer = pc.create().map_err(|source| EdgeError::Fatal {
        context: "creating the producer",
        source,
    })?;
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut n = 0u64;
    for rec in records {
        let topic = match rec.topic {
            GenTopic::Consent => &config.topics.consent,
            GenTopic::Profile => &config.topics.profile,
            GenTopic::Erasure => &config.topics.erasure,
            GenTopic::Raw => &config.topics.raw,
        };
        let mut r: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic);
        if let Some(k) = rec.key.as_deref() {
            r = r.key(k.as_bytes());
        }
        if let Some(v) = rec.value.as_deref() {
            r = r.payload(v);
        }
        loop {
            match producer.send(r) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    r = back;
                    producer.poll(Duration::from_millis(5));
                }
                Err((source, _)) => {
                    return Err(EdgeError::Fatal {
                        context: "producing generated data",
                        source,
                    });
                }
            }
        }
        producer.poll(Duration::ZERO);
        n += 1;
        if tty && n.is_multiple_of(10_000) {
            let pct = (n * 100).checked_div(total).unwrap_or(100);
            eprint!("\r{label}: {n}/{total} ({pct}%)");
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .map_err(|source| EdgeError::Fatal {
            context: "flushing generated data",
            source,
        })?;
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    if tty {
        eprintln!();
    }
    eprintln!(
        "{label}: {n} records in {secs:.1} s ({:.0} records/s)",
        n as f64 / secs
    );
    Ok(n)
}

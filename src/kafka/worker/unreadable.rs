//! Raw-topic batches the consumer cannot decode (a compression codec this build of
//! librdkafka lacks, a corrupt batch). librdkafka reports them as consume errors and does
//! not advance the partition, so the same error comes back on every fetch; rust-rdkafka
//! hands the error over without its partition. Left as a log line per poll, that is a
//! partition silently stalled behind a worker that looks healthy. Here every such error is
//! counted (`Metrics::unreadable`, which also holds `/health/ready` at 503 while they keep
//! coming), the stalled partition is found (its position stays put between two errors while
//! its lag is positive) and logged once, with librdkafka's error. Other consume errors
//! (transport, a broker restarting) stay warnings: librdkafka recovers from them itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::lock;
use crate::log;
use crate::telemetry::Metrics;

/// What one instance has seen and said about unreadable batches.
#[derive(Debug, Default)]
pub(super) struct Unreadable {
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    /// Raw partitions' positions at the previous unreadable-batch error.
    positions: BTreeMap<i32, i64>,
    /// Partitions already logged as stalled: once each, until they move on.
    logged: BTreeSet<i32>,
    /// Error codes already logged before a partition could be named: once each.
    logged_codes: BTreeSet<String>,
}

/// Errors about the data itself: fetching again returns the same batch and the same error.
pub(super) fn is_unreadable(e: &KafkaError) -> bool {
    match e {
        KafkaError::MessageConsumption(code) | KafkaError::MessageConsumptionFatal(code) => {
            matches!(
                code,
                RDKafkaErrorCode::BadCompression
                    | RDKafkaErrorCode::NotImplemented
                    | RDKafkaErrorCode::BadMessage
                    | RDKafkaErrorCode::InvalidMessage
                    | RDKafkaErrorCode::MessageSizeTooLarge
            )
        }
        _ => false,
    }
}

impl Unreadable {
    /// One error from the raw consumer's poll.
    pub(super) fn consume_error<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
        &self,
        consumer: &C,
        topic: &str,
        e: &KafkaError,
        metrics: &Metrics,
    ) {
        if !is_unreadable(e) {
            log::warn(&format!("consumer: {e}"));
            return;
        }
        metrics.unreadable();
        let positions: BTreeMap<i32, i64> = consumer
            .position()
            .map(|tpl| {
                tpl.elements_for_topic(topic)
                    .iter()
                    .filter_map(|el| match el.offset() {
                        Offset::Offset(o) => Some((el.partition(), o)),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let lags = metrics.lags();
        let mut seen = lock(&self.seen);
        let stalled = stalled(&seen.positions, &positions, &lags);
        // A partition that moved on is readable again: should it stall later, say so again.
        let moved: Vec<i32> = seen
            .logged
            .iter()
            .copied()
            .filter(|p| seen.positions.get(p) != positions.get(p))
            .collect();
        for p in moved {
            seen.logged.remove(&p);
        }
        for (p, offset) in &stalled {
            if seen.logged.insert(*p) {
                log::error(&format!(
                    "consumer: {topic} partition {p} cannot be read at offset {offset}: {e}; \
                     it makes no progress until that batch can be decoded (logged once per \
                     partition, counted in consent_enricher_consumer_unreadable_total, \
                     /health/ready answers 503 while it lasts)"
                ));
            }
        }
        let code = format!("{:?}", e.rdkafka_error_code());
        if stalled.is_empty() && seen.logged.is_empty() && seen.logged_codes.insert(code) {
            log::error(&format!(
                "consumer: a batch of {topic} cannot be read: {e} (its partition is named once \
                 it is seen not to move; counted in consent_enricher_consumer_unreadable_total, \
                 /health/ready answers 503 while it lasts)"
            ));
        }
        seen.positions = positions;
    }
}

/// Partitions (with their position) that did not move since the previous error while
/// records wait behind them.
fn stalled(
    before: &BTreeMap<i32, i64>,
    now: &BTreeMap<i32, i64>,
    lags: &BTreeMap<i32, i64>,
) -> Vec<(i32, i64)> {
    now.iter()
        .filter(|(p, o)| before.get(p) == Some(o) && lags.get(p).is_some_and(|l| *l > 0))
        .map(|(p, o)| (*p, *o))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_unreadable_transport_errors_are_not() {
        for code in [
            RDKafkaErrorCode::BadCompression,
            RDKafkaErrorCode::NotImplemented,
        ] {
            assert!(is_unreadable(&KafkaError::MessageConsumption(code)));
        }
        assert!(!is_unreadable(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_unreadable(&KafkaError::PartitionEOF(0)));
    }

    #[test]
    fn a_partition_is_stalled_when_it_stays_put_with_records_behind_it() {
        let before = BTreeMap::from([(0, 10), (1, 5), (2, 7)]);
        let now = BTreeMap::from([(0, 10), (1, 9), (2, 7)]);
        // 0: stayed with lag; 1: moved; 2: stayed but caught up (idle, not stalled).
        let lags = BTreeMap::from([(0, 3), (1, 3), (2, 0)]);
        assert_eq!(stalled(&before, &now, &lags), vec![(0, 10)]);
        assert!(stalled(&BTreeMap::new(), &now, &lags).is_empty());
    }
}

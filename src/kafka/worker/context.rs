//! The one client context of an instance's producer and consumer: librdkafka's logs,
//! errors and statistics, delivery reports and rebalances. It owns the routing of those
//! callbacks; what a delivery report or a revocation means belongs to the delivery mode
//! (`Mode`), so this module must not keep bookkeeping of its own nor test which mode
//! it serves.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};

use super::Mode;
use super::fence;
use super::produce::Tag;
use crate::kafka::LogContext;
use crate::log;
use crate::telemetry::Metrics;

/// A producer with its own polling thread: delivery reports are served even while the
/// consumer thread sits in a rebalance callback, which aborting a transaction there needs.
pub(super) type OutProducer<M> = ThreadedProducer<Context<M>>;

pub(super) struct Context<M: Mode> {
    metrics: Arc<Metrics>,
    mode: Arc<M>,
    side: Side<M>,
}

/// Which client a context serves. Only the consumer's holds the producer: the
/// producer's own context holding it would be a cycle that never drops.
enum Side<M: Mode> {
    Producer,
    Consumer {
        /// What a revocation drains or aborts.
        producer: Arc<OutProducer<M>>,
        /// The staleness fence holds the raw partitions paused.
        fence_held: Arc<AtomicBool>,
    },
}

impl<M: Mode> Context<M> {
    pub(super) fn producer(metrics: Arc<Metrics>, mode: Arc<M>) -> Self {
        Context {
            metrics,
            mode,
            side: Side::Producer,
        }
    }

    pub(super) fn consumer(
        metrics: Arc<Metrics>,
        mode: Arc<M>,
        producer: Arc<OutProducer<M>>,
        fence_held: Arc<AtomicBool>,
    ) -> Self {
        Context {
            metrics,
            mode,
            side: Side::Consumer {
                producer,
                fence_held,
            },
        }
    }
}

impl<M: Mode> ClientContext for Context<M> {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, msg: &str) {
        LogContext.log(level, fac, msg);
    }
    fn error(&self, error: KafkaError, reason: &str) {
        LogContext.error(error, reason);
    }
    fn stats_raw(&self, statistics: &[u8]) {
        let client = match self.side {
            Side::Producer => "producer",
            Side::Consumer { .. } => "consumer",
        };
        self.metrics.kafka_stats(client, statistics);
    }
}

impl<M: Mode> ProducerContext for Context<M> {
    type DeliveryOpaque = Box<Tag>;
    fn delivery(&self, result: &DeliveryResult<'_>, tag: Self::DeliveryOpaque) {
        self.mode.delivered(&self.metrics, *tag, result);
    }
}

impl<M: Mode> ConsumerContext for Context<M> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let Side::Consumer { producer, .. } = &self.side else {
            return;
        };
        let revoked: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        self.mode.revoking(consumer, producer, &revoked);
        log::with(
            log::Level::Info,
            &format!("partitions revoked: {revoked:?}"),
            &[("partitions", log::Field::Partitions(revoked))],
        );
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        let Side::Consumer { fence_held, .. } = &self.side else {
            return;
        };
        fence::on_assign(consumer, tpl, fence_held);
        let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        log::with(
            log::Level::Info,
            &format!("partitions assigned: {parts:?}"),
            &[("partitions", log::Field::Partitions(parts))],
        );
    }
}

//! Which librdkafka errors the worker retries, which it aborts and rewinds from, and
//! which end it. It owns only the classification and the bounded retry of one
//! transactional call; it must not decide what to do next (the delivery modes do) nor
//! touch a client other than the call it is handed.

use std::sync::atomic::Ordering;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::streak::is_authorization;
use crate::kafka::EdgeError;
use crate::log;
use crate::telemetry::Metrics;

/// Most attempts of one transactional call (each waits up to `CALL_TIMEOUT`): a broker
/// restart takes well under this.
const TXN_ATTEMPTS: u32 = 10;

/// Runs a transactional call again while librdkafka says the error is retriable (a
/// timed-out commit must be *resumed* by calling it again; aborting instead conflicts
/// with the commit still in progress).
pub(super) fn retrying(
    what: &str,
    f: impl Fn() -> Result<(), KafkaError>,
) -> Result<(), KafkaError> {
    let mut attempt = 1;
    loop {
        match f() {
            Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < TXN_ATTEMPTS => {
                log::warn(&format!("{what}: {e}; retrying ({attempt}/{TXN_ATTEMPTS})"));
                attempt += 1;
            }
            r => return r,
        }
    }
}

/// Fatal and fenced producer errors end the worker; everything else is aborted and
/// retried from the committed offsets.
pub(super) fn is_fatal(e: &KafkaError) -> bool {
    match e {
        KafkaError::Transaction(re) => {
            re.is_fatal()
                || is_fenced(re.code())
                || re.code() == RDKafkaErrorCode::TransactionalIdAuthorizationFailed
        }
        _ => false,
    }
}

fn is_fenced(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
    )
}

/// A transactional error that leaves the producer unusable: the worker must exit and be
/// restarted (another instance may have taken over this slot).
/// A principal denied its transactional id is an authorization failure (exit 5), not a
/// fencing (7): no other instance took over, the ACL is missing.
pub(super) fn txn_fatal(metrics: &Metrics, context: &'static str, source: KafkaError) -> EdgeError {
    if let KafkaError::Transaction(re) = &source {
        if is_fenced(re.code()) {
            metrics.fenced.store(true, Ordering::SeqCst);
            return EdgeError::Fenced(format!("{context}: {source}"));
        }
        if is_authorization(re.code()) {
            return EdgeError::AuthorizationFailed(format!("{context}: {source}"));
        }
    }
    EdgeError::Fatal { context, source }
}

/// A produce call refused because the open transaction went into an abortable error
/// state (e.g. a sequence gap after a broker restart) is aborted and rewound, not the
/// end of the worker: `Ok` holds the error to abort with, `Err` anything else.
pub(super) fn abortable_send(e: EdgeError) -> Result<KafkaError, EdgeError> {
    match e {
        EdgeError::Fatal {
            source: e @ KafkaError::MessageProduction(RDKafkaErrorCode::State),
            ..
        } => Ok(e),
        e => Err(e),
    }
}

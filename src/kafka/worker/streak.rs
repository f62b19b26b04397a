//! The bound on aborted transactions in a row (exactly-once). A permanent broker-side
//! error — a missing WRITE ACL on an output, a topic's size limit, a record policy —
//! makes every attempt of the same batch abortable; retrying it without end would loop
//! while writing aborted copies of personal records each time. So consecutive aborts are
//! counted, each retry waits longer (`backoff`), an output the broker refused for a
//! reason of that record's own in two attempts in a row becomes that input's
//! `output_rejected` dead letter, and after `delivery.max_consecutive_aborts` the worker
//! stops with an error naming the topic and the broker's error (exit 5 when authorization
//! was denied, 6 otherwise). It owns the count, the refused inputs and the verdict; it
//! must not abort, rewind or sleep itself (the loop does) nor keep a record's contents.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::EdgeError;

/// The first retry's wait; each further one doubles, up to `BACKOFF_MAX`.
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// The first output delivery the broker refused in the open transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    /// The output's topic (a configured name, not data).
    pub(super) topic: String,
    /// The input it came from.
    pub(super) input: (i32, i64),
    /// librdkafka's code for the refusal.
    pub(super) code: RDKafkaErrorCode,
}

/// What the loop does after an abort.
#[derive(Debug)]
pub(super) enum Verdict {
    /// Wait this long, then rewind and try again.
    Retry(Duration),
    /// Stop the worker with this error.
    Stop(EdgeError),
}

#[derive(Debug, Default)]
pub(super) struct Streak {
    aborts: u32,
    /// The input whose output was refused in the last aborted attempt.
    last_refused: Option<(i32, i64)>,
    /// Inputs to dead-letter as `output_rejected`, with the detail to say why.
    rejected: HashMap<(i32, i64), String>,
}

impl Streak {
    /// Aborts in a row so far.
    pub(super) fn aborts(&self) -> u32 {
        self.aborts
    }

    /// One more abort, caused by `error`, with `refusal` the first refused delivery of
    /// that transaction if there was one; `max` is `delivery.max_consecutive_aborts`.
    pub(super) fn aborted(
        &mut self,
        error: &KafkaError,
        refusal: Option<Refusal>,
        max: u32,
    ) -> Verdict {
        self.aborts = self.aborts.saturating_add(1);
        let code = refusal
            .as_ref()
            .map(|r| r.code)
            .or(error.rdkafka_error_code());
        let auth = code.is_some_and(is_authorization);
        // What each error message names: the output's topic and the broker's code when a
        // delivery was refused, else the transaction call's own error.
        let (target, cause) = match &refusal {
            Some(r) => (format!("topic {}", r.topic), r.code.to_string()),
            None => ("the transaction".to_string(), error.to_string()),
        };
        if let Some(r) = &refusal
            && is_record_specific(r.code)
        {
            // Twice the same input refused for a reason of its own: that record, not the
            // cluster, is the problem. Its dead letter takes its place at the replay.
            if self.last_refused == Some(r.input) {
                self.rejected.insert(
                    r.input,
                    format!("output to {} refused twice: {}", r.topic, r.code),
                );
            }
        }
        self.last_refused = refusal.map(|r| r.input);
        if self.aborts >= max {
            let what = format!(
                "{target} ({} transactions in a row aborted; last: {cause})",
                self.aborts
            );
            return Verdict::Stop(if auth {
                EdgeError::AuthorizationFailed(what)
            } else {
                EdgeError::AbortsExhausted(what)
            });
        }
        Verdict::Retry(backoff(self.aborts))
    }

    /// The detail of `input`'s `output_rejected` dead letter, if its outputs are to be
    /// replaced by one.
    pub(super) fn rejected(&self, partition: i32, offset: i64) -> Option<String> {
        self.rejected.get(&(partition, offset)).cloned()
    }

    /// A transaction committed: the streak ends, and refused inputs the commit moved
    /// past (`next`: each partition's next offset) are done.
    pub(super) fn committed(&mut self, next: &[(i32, i64)]) {
        self.aborts = 0;
        self.last_refused = None;
        self.rejected.retain(|(p, o), _| {
            next.iter()
                .find(|(np, _)| np == p)
                .is_none_or(|(_, n)| o >= n)
        });
    }
}

/// The wait before retry `n` (1-based): 200 ms, 400 ms, … up to 10 s.
fn backoff(n: u32) -> Duration {
    let factor = 1u32 << n.saturating_sub(1).min(10);
    BACKOFF_FIRST.saturating_mul(factor).min(BACKOFF_MAX)
}

/// The broker denied the principal something: no retry can fix that.
pub(super) fn is_authorization(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed
    )
}

/// The broker refused this one record, not the request or the principal.
fn is_record_specific(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::PolicyViolation
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: RDKafkaErrorCode, input: (i32, i64)) -> Option<Refusal> {
        Some(Refusal {
            topic: "usage.personal".into(),
            input,
            code,
        })
    }

    fn abortable() -> KafkaError {
        KafkaError::MessageProduction(RDKafkaErrorCode::State)
    }

    #[test]
    fn retries_back_off_then_stop_with_the_topic_and_the_error() {
        let mut s = Streak::default();
        let mut waits = Vec::new();
        for _ in 0..9 {
            match s.aborted(&abortable(), None, 10) {
                Verdict::Retry(d) => waits.push(d.as_millis()),
                Verdict::Stop(e) => panic!("stopped early: {e}"),
            }
        }
        assert_eq!(
            waits,
            [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000]
        );
        let Verdict::Stop(e) = s.aborted(
            &abortable(),
            refused(RDKafkaErrorCode::BrokerNotAvailable, (0, 1)),
            10,
        ) else {
            panic!("the bound did not stop it");
        };
        assert_eq!(e.exit_code(), 6);
        let text = e.to_string();
        assert!(text.contains("10 transactions in a row") && text.contains("usage.personal"));
    }

    #[test]
    fn a_denied_write_stops_with_the_authorization_code() {
        let mut s = Streak::default();
        let denied = refused(RDKafkaErrorCode::TopicAuthorizationFailed, (0, 5));
        assert!(matches!(
            s.aborted(&abortable(), denied.clone(), 2),
            Verdict::Retry(_)
        ));
        let Verdict::Stop(e) = s.aborted(&abortable(), denied, 2) else {
            panic!("the bound did not stop it");
        };
        assert_eq!(e.exit_code(), 5, "{e}");
        assert!(
            s.rejected(0, 5).is_none(),
            "a denied topic is no record's fault"
        );
    }

    #[test]
    fn an_input_refused_twice_in_a_row_is_rejected_until_a_commit_moves_past_it() {
        let mut s = Streak::default();
        let invalid = |input| refused(RDKafkaErrorCode::InvalidRecord, input);
        s.aborted(&abortable(), invalid((1, 40)), 10);
        assert!(
            s.rejected(1, 40).is_none(),
            "once may be the request, not the record"
        );
        s.aborted(&abortable(), invalid((1, 41)), 10);
        assert!(s.rejected(1, 41).is_none(), "another input each time");
        s.aborted(&abortable(), invalid((1, 41)), 10);
        let detail = s.rejected(1, 41).unwrap_or_default();
        assert!(detail.contains("usage.personal") && detail.contains("refused twice"));
        s.committed(&[(1, 41), (0, 900)]);
        assert_eq!(s.aborts(), 0);
        assert!(s.rejected(1, 41).is_some(), "not yet committed past");
        s.committed(&[(1, 42)]);
        assert!(s.rejected(1, 41).is_none());
    }
}

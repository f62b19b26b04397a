//! The at-least-once ack tracker: per raw partition, which inputs still have outputs in
//! flight, and so which offset may be stored. It owns only that arithmetic; it must not
//! talk to Kafka (its caller stores and commits) nor know what the outputs are.

use std::collections::{BTreeMap, HashMap};

/// One partition's bookkeeping.
#[derive(Debug, Default)]
struct Part {
    /// Input offset -> outputs not yet acknowledged.
    pending: BTreeMap<i64, u32>,
    /// One past the highest input offset processed.
    next: i64,
    /// Last offset handed to the consumer for storing.
    stored: i64,
}

#[derive(Debug, Default)]
pub(super) struct Tracker {
    parts: HashMap<i32, Part>,
    /// The first delivery failure; the consume loop stops on it.
    pub(super) failed: Option<String>,
}

impl Tracker {
    pub(super) fn begin(&mut self, partition: i32, offset: i64, outputs: u32) {
        let part = self.parts.entry(partition).or_default();
        part.next = part.next.max(offset + 1);
        if outputs > 0 {
            part.pending.insert(offset, outputs);
        }
    }

    /// Returns true when this acknowledgement completed the input.
    pub(super) fn done(&mut self, partition: i32, offset: i64) -> bool {
        let Some(part) = self.parts.get_mut(&partition) else {
            return false;
        };
        let Some(n) = part.pending.get_mut(&offset) else {
            return false;
        };
        *n -= 1;
        if *n == 0 {
            part.pending.remove(&offset);
            return true;
        }
        false
    }

    /// Offsets that may be stored now: the lowest unacknowledged input, or one past the
    /// last processed when nothing is in flight.
    pub(super) fn committable(&mut self, only: Option<&[i32]>) -> Vec<(i32, i64)> {
        let mut out = Vec::new();
        for (p, part) in &mut self.parts {
            if only.is_some_and(|o| !o.contains(p)) {
                continue;
            }
            let c = part.pending.keys().next().copied().unwrap_or(part.next);
            if c > part.stored {
                part.stored = c;
                out.push((*p, c));
            }
        }
        out
    }

    /// Drops revoked partitions: their next owner resumes from the last commit, and a
    /// late acknowledgement for them must not move anything here.
    pub(super) fn forget(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.parts.remove(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_advance_only_past_acknowledged_inputs() {
        let mut t = Tracker::default();
        t.begin(0, 10, 2);
        t.begin(0, 11, 1);
        t.begin(0, 12, 1);
        // Inputs before 10 were done before this assignment: 10 may be stored, not more.
        assert_eq!(t.committable(None), vec![(0, 10)]);
        assert!(t.done(0, 11));
        assert!(t.done(0, 12));
        assert_eq!(
            t.committable(None),
            vec![],
            "10 still has an output in flight"
        );
        assert!(!t.done(0, 10));
        assert_eq!(t.committable(None), vec![]);
        assert!(t.done(0, 10));
        assert_eq!(t.committable(None), vec![(0, 13)]);
        assert_eq!(t.committable(None), vec![], "nothing new to store");
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = Tracker::default();
        t.begin(0, 5, 1);
        t.begin(1, 7, 1);
        t.done(1, 7);
        let mut ready = t.committable(None);
        ready.sort();
        assert_eq!(ready, vec![(0, 5), (1, 8)]);
        t.begin(0, 6, 1);
        t.done(0, 5);
        assert_eq!(
            t.committable(Some(&[1])),
            vec![],
            "partition 1 has nothing new"
        );
        assert_eq!(t.committable(Some(&[0])), vec![(0, 6)]);
    }

    #[test]
    fn forgotten_partitions_ignore_late_acknowledgements() {
        let mut t = Tracker::default();
        t.begin(0, 5, 1);
        t.begin(1, 7, 1);
        t.forget(&[0]);
        assert!(!t.done(0, 5), "partition 0 is no longer tracked");
        assert_eq!(t.committable(None), vec![(1, 7)]);
    }
}

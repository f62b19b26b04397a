//! The change log of [`State`]: a global epoch, bumped whenever a user's consent is
//! narrowed (a purpose withdrawn, the consent removed) or the user is erased, and a
//! bounded record of which user changed at which epoch. The exactly-once worker reads the
//! epoch before each decision and asks, right before it commits, whether any user it
//! gave a personal record changed since: a personal record must not become visible once
//! the consent it was decided under is gone. Memory is bounded (a ring of
//! [`CAPACITY`] entries, 16 bytes each, whatever the number of users); once the ring no
//! longer reaches back to a decision, the answer is "changed" (fail closed). It does no
//! I/O and reads no clock: epochs count changes, not time.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Purposes, State};

/// Entries the log keeps: 1 MiB. A batch is told "changed" only when more changes than
/// this were applied while it was open (at 100 ms batches, over 600k a second).
pub const CAPACITY: usize = 65_536;

/// A user as the change log knows them: a keyed 64-bit hash of the id, so the log and
/// the worker's per-batch sets cost no allocation per user. Two users sharing a hash
/// only make a change of one look like a change of the other: a needless replay, never
/// a missed one. The key is random per [`State`], so ids cannot be chosen to collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangeKey(u64);

/// The users given a personal record in one open transaction, each with the epoch read
/// before its earliest decision there.
#[derive(Debug, Clone, Default)]
pub struct ChangeWatch {
    decided: HashMap<ChangeKey, u64>,
    oldest: Option<u64>,
}

impl ChangeWatch {
    /// Notes a personal record for `key` decided at `epoch` (read before the decision);
    /// the earliest epoch per user is kept, since that decision is the one a later
    /// change could invalidate first.
    pub fn note(&mut self, key: ChangeKey, epoch: u64) {
        let e = self.decided.entry(key).or_insert(epoch);
        *e = (*e).min(epoch);
        self.oldest = Some(self.oldest.map_or(epoch, |o| o.min(epoch)));
    }

    /// No personal record in the transaction.
    pub fn is_empty(&self) -> bool {
        self.decided.is_empty()
    }

    /// Users watched.
    pub fn len(&self) -> usize {
        self.decided.len()
    }

    /// Every user watched.
    pub fn keys(&self) -> impl Iterator<Item = ChangeKey> + '_ {
        self.decided.keys().copied()
    }

    /// Forgets everything (the transaction ended).
    pub fn clear(&mut self) {
        self.decided.clear();
        self.oldest = None;
    }
}

/// The answer of [`State::changed_since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// No watched user changed after their decision: the records stand.
    Nothing,
    /// These watched users changed after their decision (each once).
    Users(Vec<ChangeKey>),
    /// The log no longer reaches back to the oldest decision: any of them may have
    /// changed, so assume all did.
    Unknown,
}

/// The log itself; a field of [`State`].
#[derive(Debug)]
pub(super) struct ChangeLog {
    /// Changes so far. Read without the lock; bumped under it, after the change is in
    /// the tables (see [`Pending`]).
    epoch: AtomicU64,
    ring: Mutex<Ring>,
    hasher: RandomState,
}

#[derive(Debug, Default)]
struct Ring {
    /// (epoch, user), epochs increasing.
    entries: VecDeque<(u64, ChangeKey)>,
    /// The newest epoch dropped from the ring (0: nothing dropped yet).
    floor: u64,
    capacity: usize,
}

impl Default for ChangeLog {
    fn default() -> Self {
        ChangeLog::with_capacity(CAPACITY)
    }
}

impl ChangeLog {
    pub(super) fn with_capacity(capacity: usize) -> ChangeLog {
        ChangeLog {
            epoch: AtomicU64::new(0),
            ring: Mutex::new(Ring {
                capacity: capacity.max(1),
                ..Ring::default()
            }),
            hasher: RandomState::new(),
        }
    }

    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    pub(super) fn key(&self, user: &str) -> ChangeKey {
        ChangeKey(self.hasher.hash_one(user))
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        // The ring is plain data; a panic elsewhere leaves it consistent.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, key: ChangeKey) {
        let mut ring = self.ring();
        // Under the lock, so entries stay in epoch order whoever writes.
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst) + 1;
        if ring.entries.len() >= ring.capacity
            && let Some((dropped, _)) = ring.entries.pop_front()
        {
            ring.floor = dropped;
        }
        ring.entries.push_back((epoch, key));
    }

    pub(super) fn changed_since(&self, watch: &ChangeWatch) -> Changed {
        let Some(oldest) = watch.oldest else {
            return Changed::Nothing;
        };
        let ring = self.ring();
        if oldest < ring.floor {
            return Changed::Unknown;
        }
        let mut users = Vec::new();
        for (epoch, key) in ring.entries.iter().rev() {
            if *epoch <= oldest {
                break;
            }
            if watch.decided.get(key).is_some_and(|d| d < epoch) && !users.contains(key) {
                users.push(*key);
            }
        }
        if users.is_empty() {
            Changed::Nothing
        } else {
            Changed::Users(users)
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.ring().entries.len()
    }
}

/// What a decision about `user` depends on: the purposes of their current consent and
/// their erasure mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    purposes: Option<Purposes>,
    erased_at: Option<i64>,
}

impl Snapshot {
    fn of(state: &State, user: &str) -> Snapshot {
        Snapshot {
            purposes: state.consent(user).map(|c| c.purposes),
            erased_at: state.erased.get(user),
        }
    }

    /// Whether a personal record decided under `self` may not be allowed under `after`:
    /// a purpose granted before is not granted now, or the erasure mark moved (an
    /// erasure also purges the profile such a record carries). A grant, a widening or a
    /// republished record changes no decision already taken and is not a change here.
    fn narrowed_by(self, after: Snapshot) -> bool {
        // No consent grants nothing.
        let bits = |p: Option<Purposes>| p.map_or(0, |p| p.0);
        let lost = bits(self.purposes) & !bits(after.purposes);
        lost != 0 || self.erased_at != after.erased_at
    }
}

/// A table change in progress for one user, from [`State::note_change`]: it reads what
/// the user's decisions depend on when made and again when dropped — at the end of the
/// applying function, whichever way it returns — and logs the user if that narrowed.
/// The epoch is bumped only then, after the change is in the tables, so a worker that
/// reads the new epoch before deciding also reads the new consent; one that read the old
/// epoch may have decided under either, and is told the user changed (at worst a
/// needless replay).
#[must_use = "the change is logged when this is dropped, at the end of the change"]
pub(super) struct Pending<'a> {
    state: &'a State,
    user: &'a str,
    before: Snapshot,
}

impl<'a> Pending<'a> {
    pub(super) fn new(state: &'a State, user: &'a str) -> Pending<'a> {
        Pending {
            state,
            user,
            before: Snapshot::of(state, user),
        }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.before.narrowed_by(Snapshot::of(self.state, self.user)) {
            let log = &self.state.changes;
            log.record(log.key(self.user));
        }
    }
}

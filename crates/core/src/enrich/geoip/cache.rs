//! The bounded cache of decoded geoip records, keyed by the record's offset in its
//! database (never by the address, so no IP address is held beyond a call). It owns
//! eviction only; what a record says is `geoip`'s.

use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::{Arc, Mutex, PoisonError};

use rustc_hash::FxHasher;

use super::IpLocation;

type FxBuild = BuildHasherDefault<FxHasher>;
type Map = std::collections::HashMap<u64, Arc<IpLocation>, FxBuild>;

/// Shards of the cache, each behind its own lock.
pub(super) const SHARDS: usize = 16;

/// Bounded, sharded cache of decoded records. Each shard keeps two
/// generations: when the current one is full it becomes the old one and the
/// previous old one is dropped; a hit in the old generation is promoted. That
/// approximates LRU with O(1) work and a hard bound of 2 x capacity entries.
/// Keys are database offsets chosen by the database, not by senders, so a
/// fast non-keyed hash is safe here.
pub(super) struct RecordCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

#[derive(Default)]
struct Shard {
    current: Map,
    old: Map,
}

impl RecordCache {
    pub(super) fn new(records: usize) -> RecordCache {
        let per_shard = records.div_ceil(SHARDS);
        RecordCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard,
        }
    }

    fn shard(&self, key: u64) -> &Mutex<Shard> {
        let h = FxBuild::default().hash_one(key);
        // Top bits: FxHash mixes into the high bits best.
        &self.shards[(h >> 60) as usize % SHARDS]
    }

    pub(super) fn get(&self, key: u64) -> Option<Arc<IpLocation>> {
        if self.per_shard == 0 {
            return None;
        }
        let mut s = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = s.current.get(&key) {
            return Some(Arc::clone(v));
        }
        let v = s.old.remove(&key)?;
        s.insert_current(key, Arc::clone(&v), self.per_shard);
        Some(v)
    }

    pub(super) fn insert(&self, key: u64, value: Arc<IpLocation>) {
        if self.per_shard == 0 {
            return;
        }
        let mut s = self
            .shard(key)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        s.insert_current(key, value, self.per_shard);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap_or_else(PoisonError::into_inner);
                s.current.len() + s.old.len()
            })
            .sum()
    }
}

impl Shard {
    fn insert_current(&mut self, key: u64, value: Arc<IpLocation>, cap: usize) {
        if self.current.len() >= cap {
            self.old = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }
}

//! Policy versions, interned: a consent stores a 4-byte index instead of the text. It owns
//! the index both ways (text → index in a hash map, index → text in a list), so a table
//! whose every record carries a new version loads in linear time; it must not forget a
//! version while a consent may still name its index.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub(super) struct Versions {
    inner: RwLock<Interned>,
}

#[derive(Debug, Default)]
struct Interned {
    texts: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
}

impl Versions {
    /// The index of `version`, added if new. Versions are usually few (one per policy
    /// change), so the common path is a shared read lock and one hash lookup.
    pub(super) fn intern(&self, version: &str) -> u32 {
        // A poisoned lock still holds valid data: every write below is one push and one
        // insert of the same value.
        if let Some(&i) = self.read().index.get(version) {
            return i;
        }
        let mut w = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(&i) = w.index.get(version) {
            return i;
        }
        let text: Arc<str> = Arc::from(version);
        // More than u32::MAX distinct versions cannot be held in memory anyway; saturating
        // keeps the arithmetic total.
        let i = u32::try_from(w.texts.len()).unwrap_or(u32::MAX);
        w.texts.push(Arc::clone(&text));
        w.index.insert(text, i);
        i
    }

    /// The text of index `i` (empty for an index never handed out).
    pub(super) fn get(&self, i: u32) -> Arc<str> {
        self.read()
            .texts
            .get(i as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Interned> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_text_gets_one_index_and_reads_back() {
        let v = Versions::default();
        let n = 50_000u32;
        for i in 0..n {
            assert_eq!(v.intern(&format!("v{i}")), i);
        }
        assert_eq!(v.intern("v7"), 7, "an existing version keeps its index");
        assert_eq!(&*v.get(49_999), "v49999");
        assert_eq!(&*v.get(n), "", "an index never handed out");
        // The lookup is by hash, not by scanning the list (which made a table of new
        // versions load in quadratic time).
        assert_eq!(v.read().index.len(), n as usize);
    }
}

//! Lock-free counters indexed by a fixed vocabulary (an enum's `ALL` list): one atomic
//! per label value, so the hot path adds without a lock or a map lookup. It owns only the
//! numbers; the labels and their order are the vocabularies' (see `prometheus`).

use std::sync::atomic::{AtomicU64, Ordering};

/// `N` counters, one per value of a vocabulary of `N`.
#[derive(Debug)]
pub struct Counters<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Counters<N> {
    fn default() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Counters<N> {
    /// Adds `n` to counter `i` (an index past the vocabulary is ignored: it cannot come
    /// from [`index`] over the same list).
    pub fn add(&self, i: usize, n: u64) {
        if let Some(c) = self.0.get(i) {
            c.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counter `i` now (0 past the vocabulary).
    pub fn get(&self, i: usize) -> u64 {
        self.0.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }
}

/// Where `v` is in `all` (vocabularies have at most a dozen values, so a scan is as
/// cheap as a match and cannot fall out of step with the list); `all.len()` if absent.
pub fn index<T: PartialEq>(all: &[T], v: &T) -> usize {
    all.iter().position(|x| x == v).unwrap_or(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_position_and_ignores_strangers() {
        let c = Counters::<3>::default();
        let all = ["a", "b", "c"];
        c.add(index(&all, &"b"), 2);
        c.add(index(&all, &"b"), 1);
        c.add(index(&all, &"z"), 5);
        assert_eq!((c.get(0), c.get(1), c.get(2), c.get(3)), (0, 3, 0, 0));
    }
}

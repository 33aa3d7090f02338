//! One deadline per invite, ordered so the next one is found at once.

use std::collections::BTreeSet;

use rustc_hash::FxHashMap as HashMap;
use std::time::Instant;

use super::Key;

/// Deadlines keyed by invite; setting one replaces the previous.
#[derive(Debug, Default)]
pub(super) struct Timers {
    order: BTreeSet<(Instant, Key)>,
    by_key: HashMap<Key, Instant>,
}

impl Timers {
    /// Sets (or moves) `key`'s deadline.
    pub(super) fn set(&mut self, key: Key, at: Instant) {
        if let Some(old) = self.by_key.insert(key, at) {
            self.order.remove(&(old, key));
        }
        self.order.insert((at, key));
    }

    /// Drops `key`'s deadline, if any.
    pub(super) fn clear(&mut self, key: Key) {
        if let Some(old) = self.by_key.remove(&key) {
            self.order.remove(&(old, key));
        }
    }

    /// The earliest deadline.
    pub(super) fn next(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Removes and returns a key whose deadline is at or before `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Key> {
        let &(at, key) = self.order.first()?;
        if at > now {
            return None;
        }
        self.order.remove(&(at, key));
        self.by_key.remove(&key);
        Some(key)
    }
}

//! Memoized database reads for the hot paths (`GET /users/me`, refresh), valid until the next write.
//!
//! The database counts committed write transactions ([`crate::db::Db::version`]). An entry
//! remembers the count read *before* its query ran and is used only while the count is unchanged,
//! so any write anywhere (a user update, a sign-out, the activity flush) makes every entry stale.
//! That is coarse but cannot serve data older than the last commit, and it needs no bookkeeping of
//! which write touches which row.

use std::collections::HashMap;
use std::sync::RwLock;

pub struct ReadCache<V> {
    entries: RwLock<HashMap<Box<str>, (u64, V)>>,
    capacity: usize,
}

impl<V: Clone> ReadCache<V> {
    pub fn new(capacity: usize) -> Self {
        ReadCache { entries: RwLock::new(HashMap::new()), capacity }
    }

    pub fn get(&self, key: &str, version: u64) -> Option<V> {
        let entries = self.entries.read().expect("read cache lock");
        match entries.get(key) {
            Some((v, value)) if *v == version => Some(value.clone()),
            _ => None,
        }
    }

    pub fn insert(&self, key: &str, version: u64, value: V) {
        let mut entries = self.entries.write().expect("read cache lock");
        if entries.len() >= self.capacity {
            // Stale entries are useless anyway; dropping everything keeps this O(1) and bounded.
            entries.clear();
        }
        entries.insert(key.into(), (version, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_the_version_and_the_cache_stays_bounded() {
        let c = ReadCache::new(2);
        c.insert("a", 1, 10);
        assert_eq!(c.get("a", 1), Some(10));
        assert_eq!(c.get("a", 2), None);
        c.insert("b", 1, 20);
        c.insert("c", 1, 30);
        assert!(c.entries.read().unwrap().len() <= 2);
    }
}

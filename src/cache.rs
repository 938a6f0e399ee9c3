//! Memoized database reads for the hot paths (`GET /users/me`, refresh, request authentication).
//!
//! Entries are dropped by what changed: a write transaction names the rows it touched
//! (`Tx::changed` in `db.rs`) and, once it has committed, the database invalidates those keys in
//! every cache registered for that table. A read that raced with such a write must not put an
//! old value back, so each key hashes to one of [`STRIPES`] generation counters: a reader takes a
//! [`Ticket`] (the counter) before its query and the insert is dropped if an invalidation bumped
//! the counter meanwhile.
//!
//! Memory is bounded in bytes, not entries: each value reports its approximate size ([`Weigh`]),
//! values larger than `max_entry_bytes` are never kept, and the oldest entries are evicted first.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use serde_json::Value;

const STRIPES: usize = 64;

/// Approximate heap and inline size of a cached value, in bytes.
pub trait Weigh {
    fn weigh(&self) -> usize;
}

impl<T: Weigh> Weigh for Option<T> {
    fn weigh(&self) -> usize {
        self.as_ref().map_or(0, Weigh::weigh) + std::mem::size_of::<Self>()
    }
}

impl<T: Weigh> Weigh for std::sync::Arc<T> {
    fn weigh(&self) -> usize {
        (**self).weigh()
    }
}

impl Weigh for String {
    fn weigh(&self) -> usize {
        self.capacity() + std::mem::size_of::<String>()
    }
}

/// Rough size of a JSON value: good enough to keep a metadata-heavy cache within its budget.
pub fn json_weight(v: &Value) -> usize {
    const NODE: usize = 32;
    NODE + match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 16,
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(json_weight).sum(),
        Value::Object(o) => o.iter().map(|(k, v)| k.len() + NODE + json_weight(v)).sum(),
    }
}

pub fn opt_str_weight(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

pub fn opt_json_weight(v: &Option<Value>) -> usize {
    v.as_ref().map_or(0, json_weight)
}

/// Anything a committed transaction can invalidate.
pub trait Invalidate: Send + Sync {
    fn invalidate(&self, key: &[u8]);
    fn clear(&self);
    /// Size and hit counts, for `/metrics` (listeners that hold nothing have none).
    fn stats(&self, _table: &'static str) -> Option<CacheStats> {
        None
    }
}

pub struct CacheStats {
    pub table: &'static str,
    pub entries: usize,
    pub bytes: usize,
    pub hits: u64,
    pub misses: u64,
}

/// Proof that a read started before any later invalidation of its key.
#[derive(Clone, Copy)]
pub struct Ticket {
    stripe: usize,
    generation: u64,
}

struct Entry<V> {
    seq: u64,
    bytes: usize,
    value: V,
}

struct Inner<V> {
    map: HashMap<Box<[u8]>, Entry<V>>,
    /// Insertion order for eviction; entries replaced since are skipped by their sequence number.
    order: VecDeque<(u64, Box<[u8]>)>,
    next_seq: u64,
    bytes: usize,
}

pub struct ReadCache<V> {
    inner: RwLock<Inner<V>>,
    generations: [AtomicU64; STRIPES],
    hasher: std::collections::hash_map::RandomState,
    max_bytes: usize,
    max_entry_bytes: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Per-entry bookkeeping (key box, map slot, order slot), counted against the budget.
const ENTRY_OVERHEAD: usize = 96;

impl<V: Clone + Weigh> ReadCache<V> {
    pub fn new(max_bytes: usize, max_entry_bytes: usize) -> Self {
        ReadCache {
            inner: RwLock::new(Inner { map: HashMap::new(), order: VecDeque::new(), next_seq: 0, bytes: 0 }),
            generations: std::array::from_fn(|_| AtomicU64::new(0)),
            hasher: Default::default(),
            max_bytes,
            max_entry_bytes,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn stripe(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) % STRIPES
    }

    pub fn get<K: Borrow<[u8]> + ?Sized>(&self, key: &K) -> Option<V> {
        let inner = self.inner.read().expect("cache lock");
        let found = inner.map.get(key.borrow()).map(|e| e.value.clone());
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Take before reading the database for `key`.
    pub fn ticket(&self, key: &[u8]) -> Ticket {
        let stripe = self.stripe(key);
        Ticket { stripe, generation: self.generations[stripe].load(Ordering::Acquire) }
    }

    /// Keeps `value` unless `key` was invalidated since `ticket` or the value is too large.
    pub fn insert(&self, key: &[u8], ticket: Ticket, value: V) {
        let bytes = value.weigh() + key.len() + ENTRY_OVERHEAD;
        if bytes > self.max_entry_bytes {
            return;
        }
        let mut inner = self.inner.write().expect("cache lock");
        // Checked under the lock: invalidations bump the counter while holding it.
        if self.generations[ticket.stripe].load(Ordering::Acquire) != ticket.generation {
            return;
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        if let Some(old) = inner.map.insert(key.into(), Entry { seq, bytes, value }) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        inner.order.push_back((seq, key.into()));
        while inner.bytes > self.max_bytes {
            let Some((seq, key)) = inner.order.pop_front() else { break };
            if inner.map.get(&key).is_some_and(|e| e.seq == seq) {
                let removed = inner.map.remove(&key).expect("present");
                inner.bytes -= removed.bytes;
            }
        }
        if inner.order.len() > 2 * inner.map.len() + 64 {
            let Inner { map, order, .. } = &mut *inner;
            order.retain(|(seq, key)| map.get(key).is_some_and(|e| e.seq == *seq));
        }
    }

    /// Bytes currently held (what the budget counts).
    pub fn bytes(&self) -> usize {
        self.inner.read().expect("cache lock").bytes
    }

    pub fn len(&self) -> usize {
        self.inner.read().expect("cache lock").map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<V: Clone + Weigh + Send + Sync> Invalidate for ReadCache<V> {
    fn invalidate(&self, key: &[u8]) {
        let mut inner = self.inner.write().expect("cache lock");
        self.generations[self.stripe(key)].fetch_add(1, Ordering::AcqRel);
        if let Some(old) = inner.map.remove(key) {
            inner.bytes -= old.bytes;
        }
    }

    fn clear(&self) {
        let mut inner = self.inner.write().expect("cache lock");
        for g in &self.generations {
            g.fetch_add(1, Ordering::AcqRel);
        }
        inner.map.clear();
        inner.order.clear();
        inner.bytes = 0;
    }

    fn stats(&self, table: &'static str) -> Option<CacheStats> {
        let inner = self.inner.read().expect("cache lock");
        Some(CacheStats {
            table,
            entries: inner.map.len(),
            bytes: inner.bytes,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weigh for u64 {
        fn weigh(&self) -> usize {
            8
        }
    }

    #[test]
    fn an_invalidation_during_a_read_keeps_the_old_value_out() {
        let c: ReadCache<u64> = ReadCache::new(1 << 20, 1 << 10);
        let t = c.ticket(b"a");
        c.invalidate(b"a");
        c.insert(b"a", t, 1);
        assert_eq!(c.get(&b"a"[..]), None);
        let t = c.ticket(b"a");
        c.insert(b"a", t, 2);
        assert_eq!(c.get(&b"a"[..]), Some(2));
        c.invalidate(b"a");
        assert_eq!(c.get(&b"a"[..]), None);
    }

    #[test]
    fn the_byte_budget_evicts_oldest_first_and_refuses_huge_values() {
        let per_entry = 8 + 1 + ENTRY_OVERHEAD;
        let c: ReadCache<u64> = ReadCache::new(3 * per_entry, per_entry);
        for k in [b"a", b"b", b"c", b"d"] {
            c.insert(k, c.ticket(k), 7);
        }
        assert!(c.bytes() <= 3 * per_entry);
        assert_eq!(c.get(&b"a"[..]), None);
        assert_eq!(c.get(&b"d"[..]), Some(7));
        let small: ReadCache<u64> = ReadCache::new(1 << 20, 10);
        small.insert(b"x", small.ticket(b"x"), 1);
        assert!(small.is_empty());
    }
}

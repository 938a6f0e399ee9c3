//! Request rate limits: fixed windows counted per (limit, key), where the key is a client IP, an
//! account (e-mail, user id) or both. Over the limit a request gets `429` with `Retry-After`
//! (spec 00 §7: what the SDK honours). The table of counters is bounded: expired windows are
//! swept when it fills, and if it is still full the oldest windows go first, so a flood of new
//! keys costs the attacker their own counters, not the server's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::error::ApiError;
use crate::metrics::NameLabels;

/// One named limit: at most `max` requests per `window` for each key.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn per_minute(name: &'static str, max: u32) -> Limit {
        Limit { name, max, window: Duration::from_secs(60) }
    }
}

struct Window {
    started: Instant,
    window: Duration,
    count: u32,
}

pub struct RateLimiter {
    enabled: bool,
    max_keys: usize,
    windows: Mutex<HashMap<Box<str>, Window>>,
    /// Refusals by limit name (see [`crate::metrics`]).
    pub rejections: Family<NameLabels, Counter>,
}

pub const DEFAULT_MAX_KEYS: usize = 100_000;

impl RateLimiter {
    pub fn new(enabled: bool, max_keys: usize) -> Self {
        RateLimiter { enabled, max_keys, windows: Mutex::new(HashMap::new()), rejections: Family::default() }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Counts one request against `limit` for `key`; errs with 429 when over. No-op when rate
    /// limiting is turned off (development mode, `--rate-limits off`).
    pub fn check(&self, limit: Limit, key: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        self.count(limit, key)
    }

    /// Like [`check`](Self::check), but also in development mode: for budgets that are a security
    /// property rather than load protection (TOTP guesses per user).
    pub fn budget(&self, limit: Limit, key: &str) -> Result<(), ApiError> {
        self.count(limit, key)
    }

    fn count(&self, limit: Limit, key: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut windows = self.windows.lock().expect("rate limiter lock");
        let mut full_key = String::with_capacity(limit.name.len() + 1 + key.len().min(256));
        full_key.push_str(limit.name);
        full_key.push('\0');
        // Keys are caller-controlled (e-mails); a long one is still one key, not a large allocation.
        full_key.push_str(&key[..floor_char_boundary(key, 256)]);
        if !windows.contains_key(full_key.as_str()) && windows.len() >= self.max_keys {
            Self::make_room(&mut windows, now, self.max_keys);
        }
        let w =
            windows.entry(full_key.into_boxed_str()).or_insert(Window { started: now, window: limit.window, count: 0 });
        if now.duration_since(w.started) >= w.window {
            *w = Window { started: now, window: limit.window, count: 0 };
        }
        if w.count >= limit.max {
            let left = w.window.saturating_sub(now.duration_since(w.started));
            self.rejections.get_or_create(&NameLabels { name: limit.name }).inc();
            return Err(ApiError::RateLimited { retry_after_secs: left.as_secs_f64().ceil().max(1.0) as u64 });
        }
        w.count += 1;
        Ok(())
    }

    fn make_room(windows: &mut HashMap<Box<str>, Window>, now: Instant, max_keys: usize) {
        windows.retain(|_, w| now.duration_since(w.started) < w.window);
        if windows.len() >= max_keys {
            let mut starts: Vec<Instant> = windows.values().map(|w| w.started).collect();
            let keep = max_keys * 9 / 10;
            let cut_index = starts.len() - keep;
            let (_, cutoff, _) = starts.select_nth_unstable(cut_index);
            let cutoff = *cutoff;
            windows.retain(|_, w| w.started > cutoff);
        }
    }

    /// Number of counters held (bounded by `max_keys`).
    pub fn len(&self) -> usize {
        self.windows.lock().expect("rate limiter lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_stays_bounded() {
        let l = RateLimiter::new(true, 100);
        let limit = Limit::per_minute("t", 3);
        for _ in 0..3 {
            l.check(limit, "a").unwrap();
        }
        match l.check(limit, "a") {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!((1..=60).contains(&retry_after_secs)),
            other => panic!("expected 429, got {other:?}"),
        }
        l.check(limit, "b").unwrap();
        for i in 0..1000 {
            let _ = l.check(limit, &format!("k{i}"));
        }
        assert!(l.len() <= 100);
        let off = RateLimiter::new(false, 100);
        for _ in 0..10 {
            off.check(limit, "a").unwrap();
        }
        assert!(off.budget(limit, "a").is_ok());
    }
}

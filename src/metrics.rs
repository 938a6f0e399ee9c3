//! Prometheus metrics, served at `GET /metrics` in the text exposition format.
//!
//! Each piece of infrastructure owns the counters it updates (the hashing pool its wait histogram,
//! the database its write latency, the rate limiter its rejections, each read cache its hits); this
//! module registers them under stable names and, at scrape time, samples what is cheaper to read
//! than to track (queue depths, cache sizes, and the backlogs of the durable queues, which domains
//! register as probes so that this module names no domain).

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use rusqlite::Connection;

use crate::cache::CacheStats;
use crate::error::ApiResult;

/// Latency buckets from 0.25 ms to ~4 s, doubling.
pub fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 15))
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabels {
    pub name: &'static str,
}

/// What a durable queue holds: rows waiting, and the age of the oldest.
pub struct Backlog {
    pub waiting: i64,
    pub oldest_created_at_millis: Option<i64>,
}

type Probe = Box<dyn Fn(&Connection) -> ApiResult<Backlog> + Send + Sync>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<OperationLabels, Histogram, fn() -> Histogram>,
    hashing_queued: Gauge,
    cache_entries: Family<NameLabels, Gauge>,
    cache_bytes: Family<NameLabels, Gauge>,
    cache_hits: Family<NameLabels, Gauge>,
    cache_misses: Family<NameLabels, Gauge>,
    backlog: Family<NameLabels, Gauge>,
    backlog_age: Family<NameLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    probes: Mutex<Vec<(&'static str, Probe)>>,
}

/// The counters and histograms the infrastructure keeps itself (handles share their values).
pub struct Kept {
    pub hashing_wait_seconds: Histogram,
    pub hashing_rejections: Counter,
    pub db_write_seconds: Histogram,
    pub db_write_rejections: Counter,
    pub db_busy_retries: Counter,
    pub rate_limit_rejections: Family<NameLabels, Counter>,
}

impl Metrics {
    /// Registers the metrics the infrastructure already keeps.
    pub fn new(kept: Kept) -> Metrics {
        let mut registry = Registry::with_prefix("stackd");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by operation id (route template), method and status",
            requests.clone(),
        );
        let request_seconds: Family<OperationLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response, by operation id",
            request_seconds.clone(),
        );
        let hashing_queued = Gauge::default();
        registry.register(
            "password_hashing_queued",
            "Password hashes waiting for a hashing thread",
            hashing_queued.clone(),
        );
        registry.register(
            "password_hashing_wait_seconds",
            "Time a password hash waited for a hashing thread",
            kept.hashing_wait_seconds,
        );
        registry.register(
            "password_hashing_rejections",
            "Requests shed with 503 + Retry-After because the hashing queue was full",
            kept.hashing_rejections,
        );
        registry.register(
            "db_write_duration_seconds",
            "Time a write transaction took, from waiting for the writer to its commit",
            kept.db_write_seconds,
        );
        registry.register(
            "db_write_rejections",
            "Requests shed with 503 + Retry-After because too many writes were already waiting",
            kept.db_write_rejections,
        );
        registry.register(
            "db_busy_retries",
            "Times SQLite found the database locked by another connection or process and retried",
            kept.db_busy_retries,
        );
        registry.register(
            "rate_limit_rejections",
            "Requests refused with 429 by a rate limit, by limit",
            kept.rate_limit_rejections,
        );
        let cache_entries = Family::<NameLabels, Gauge>::default();
        let cache_bytes = Family::<NameLabels, Gauge>::default();
        let cache_hits = Family::<NameLabels, Gauge>::default();
        let cache_misses = Family::<NameLabels, Gauge>::default();
        registry.register("cache_entries", "Rows held by a read cache", cache_entries.clone());
        registry.register("cache_bytes", "Approximate bytes held by a read cache", cache_bytes.clone());
        // Sampled counters, so their type is gauge; hits / (hits + misses) is the hit ratio.
        registry.register("cache_hits", "Reads answered from a read cache since start", cache_hits.clone());
        registry.register(
            "cache_misses",
            "Reads a read cache passed to the database since start",
            cache_misses.clone(),
        );
        let backlog = Family::<NameLabels, Gauge>::default();
        let backlog_age = Family::<NameLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register("queue_backlog", "Rows of a durable queue waiting for delivery", backlog.clone());
        registry.register(
            "queue_oldest_age_seconds",
            "Age of the oldest row of a durable queue still waiting (0 when empty)",
            backlog_age.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            hashing_queued,
            cache_entries,
            cache_bytes,
            cache_hits,
            cache_misses,
            backlog,
            backlog_age,
            probes: Mutex::new(Vec::new()),
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, operation: &'static str, method: &poem::http::Method, status: u16, took: Duration) {
        let method = match *method {
            poem::http::Method::GET => "GET",
            poem::http::Method::POST => "POST",
            poem::http::Method::PATCH => "PATCH",
            poem::http::Method::PUT => "PUT",
            poem::http::Method::DELETE => "DELETE",
            poem::http::Method::OPTIONS => "OPTIONS",
            _ => "OTHER",
        };
        self.requests.get_or_create(&RequestLabels { operation, method, status }).inc();
        self.request_seconds.get_or_create(&OperationLabels { operation }).observe(took.as_secs_f64());
    }

    /// Makes a durable queue's backlog part of every scrape (`queue_backlog{name}`,
    /// `queue_oldest_age_seconds{name}`). The probe runs on a read connection; keep it indexed.
    pub fn register_backlog(
        &self,
        name: &'static str,
        probe: impl Fn(&Connection) -> ApiResult<Backlog> + Send + Sync + 'static,
    ) {
        self.probes.lock().expect("metrics probes").push((name, Box::new(probe)));
    }

    /// Samples the gauges and renders every metric in Prometheus' text format.
    pub fn render(&self, hashing_queued: usize, caches: Vec<CacheStats>, conn: &Connection) -> String {
        self.hashing_queued.set(hashing_queued as i64);
        for stats in caches {
            let name = NameLabels { name: stats.table };
            self.cache_entries.get_or_create(&name).set(stats.entries as i64);
            self.cache_bytes.get_or_create(&name).set(stats.bytes as i64);
            self.cache_hits.get_or_create(&name).set(stats.hits as i64);
            self.cache_misses.get_or_create(&name).set(stats.misses as i64);
        }
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        for (name, probe) in self.probes.lock().expect("metrics probes").iter() {
            match probe(conn) {
                Ok(b) => {
                    self.backlog.get_or_create(&NameLabels { name }).set(b.waiting);
                    let age = b.oldest_created_at_millis.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0);
                    self.backlog_age.get_or_create(&NameLabels { name }).set(age);
                }
                Err(e) => tracing::warn!(queue = name, error = %e, "cannot read a queue's backlog for /metrics"),
            }
        }
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }
}

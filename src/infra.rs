//! The infrastructure every domain service is built on: configuration, the database, token
//! signing, the password-hashing pool, the rate limiter and the background jobs. Imports no domain.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::error::ApiResult;
use crate::hashing::HashingPool;
use crate::jobs::Jobs;
use crate::metrics::Metrics;
use crate::rate_limit::{RateLimiter, DEFAULT_MAX_KEYS};
use crate::tokens::TokenService;

pub struct Infra {
    pub config: Config,
    pub db: Db,
    pub tokens: TokenService,
    /// Where argon2id and bcrypt run (see [`crate::hashing`]).
    pub password_hashing: HashingPool,
    pub limiter: RateLimiter,
    pub jobs: Jobs,
    pub metrics: Metrics,
}

impl Infra {
    /// `base_url` is the effective public origin (known once the listener is bound).
    pub fn new(config: Config, db: Db, base_url: &str) -> Arc<Infra> {
        let tokens = TokenService::new(&config.server_secret, base_url, config.access_token_ttl.as_secs() as i64);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let limiter = RateLimiter::new(config.rate_limits, DEFAULT_MAX_KEYS);
        let password_hashing = HashingPool::new(cores);
        let metrics = Metrics::new(crate::metrics::Kept {
            hashing_wait_seconds: password_hashing.wait_seconds.clone(),
            hashing_rejections: password_hashing.rejections.clone(),
            db_write_seconds: db.write_seconds.clone(),
            db_write_rejections: db.write_rejections.clone(),
            db_busy_retries: crate::db::busy_retries().clone(),
            rate_limit_rejections: limiter.rejections.clone(),
        });
        Arc::new(Infra { config, db, tokens, password_hashing, limiter, jobs: Jobs::default(), metrics })
    }

    /// Runs a password hash or verification on the hashing pool.
    pub async fn hash_work<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
        self.password_hashing.run(f).await
    }
}

//! Shared server state, handed to every API module.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::Config;
use crate::db::Db;
use crate::projects::ProjectCache;
use crate::sessions::Activity;
use crate::tokens::TokenService;

pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub tokens: TokenService,
    pub projects: ProjectCache,
    /// Session and user "last active" timestamps waiting to be written.
    pub activity: Activity,
    /// Bounds concurrent password hashing to the core count: argon2id is CPU- and memory-heavy, and
    /// more parallel hashes than cores only add latency and memory.
    pub password_hashing: Semaphore,
}

pub type State = Arc<AppState>;

impl AppState {
    /// `base_url` is the effective public origin (known once the listener is bound).
    pub fn new(config: Config, db: Db, base_url: &str) -> State {
        let tokens = TokenService::new(&config.server_secret, base_url, config.access_token_ttl.as_secs() as i64);
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Arc::new(AppState {
            config,
            db,
            tokens,
            projects: ProjectCache::default(),
            activity: Activity::default(),
            password_hashing: Semaphore::new(cores),
        })
    }

    /// Runs a password hash or verification on the blocking pool, at most one per core at a time.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> crate::error::ApiResult<T> {
        let _permit = self.password_hashing.acquire().await.map_err(crate::error::ApiError::internal)?;
        tokio::task::spawn_blocking(f).await.map_err(crate::error::ApiError::internal)
    }
}

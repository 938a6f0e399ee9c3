//! Shared server state, handed to every API module.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Db;
use crate::hashing::HashingPool;
use crate::projects::ProjectCache;
use crate::read_cache::ReadCache;
use crate::sessions::store::SessionKey;
use crate::sessions::Activity;
use crate::tokens::TokenService;
use crate::users::UserRecord;

pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub tokens: TokenService,
    pub projects: ProjectCache,
    /// Session and user "last active" timestamps waiting to be written.
    pub activity: Activity,
    /// Hot-path reads (`/users/me`, refresh), valid until the next committed write.
    pub user_cache: ReadCache<Option<UserRecord>>,
    pub session_cache: ReadCache<Option<SessionKey>>,
    /// Where argon2id and bcrypt run (see [`crate::hashing`]).
    pub password_hashing: HashingPool,
}

pub type State = Arc<AppState>;

/// Entries per hot-path read cache.
const HOT_CACHE_CAPACITY: usize = 16_384;

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
            user_cache: ReadCache::new(HOT_CACHE_CAPACITY),
            session_cache: ReadCache::new(HOT_CACHE_CAPACITY),
            password_hashing: HashingPool::new(cores),
        })
    }

    /// Runs a password hash or verification on the hashing pool.
    pub async fn hash_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> crate::error::ApiResult<T> {
        self.password_hashing.run(f).await
    }
}

//! SQLite storage: one file, WAL, a pool of readers and a single writer.
//!
//! All database work runs on tokio's blocking pool, never on the async executor. Writes go through a
//! one-connection pool, so they queue in-process instead of spinning on SQLite's busy handler, and
//! each runs in a `BEGIN IMMEDIATE` transaction.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::error::{ApiError, ApiResult};
use crate::read_cache::ReadCache;

mod embedded {
    refinery::embed_migrations!("schema");
}

#[derive(Clone)]
pub struct Db {
    read: Pool<SqliteConnectionManager>,
    write: Pool<SqliteConnectionManager>,
    /// Number of committed write transactions; see [`ReadCache`].
    version: Arc<AtomicU64>,
}

fn manager(path: &Path, synchronous_full: bool) -> SqliteConnectionManager {
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    SqliteConnectionManager::file(path).with_init(move |c| {
        c.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA synchronous = {sync};"
        ))?;
        c.set_prepared_statement_cache_capacity(128);
        Ok(())
    })
}

impl Db {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path, synchronous_full: bool) -> Result<Db, String> {
        let mut conn = Connection::open(path).map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| format!("cannot configure database {}: {e}", path.display()))?;
        embedded::migrations::runner()
            .run(&mut conn)
            .map_err(|e| format!("cannot migrate database {}: {e}", path.display()))?;
        drop(conn);

        let read = Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager(path, synchronous_full))
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        let write = Pool::builder()
            .max_size(1)
            .connection_timeout(Duration::from_secs(30))
            .build(manager(path, synchronous_full))
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        Ok(Db { read, write, version: Arc::new(AtomicU64::new(0)) })
    }

    /// Runs a read-only closure on a pooled connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let pool = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let conn = pool.get()?;
            f(&conn)
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// Runs a closure inside one `BEGIN IMMEDIATE` transaction; it commits only if the closure succeeds.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> ApiResult<T> + Send + 'static,
    {
        let (pool, version) = (self.write.clone(), self.version.clone());
        tokio::task::spawn_blocking(move || Self::write_blocking(&pool, &version, f))
            .await
            .map_err(ApiError::internal)?
    }

    /// Like [`Db::read`], but answered from `cache` while no write has committed since.
    pub async fn read_cached<T, F>(&self, cache: &ReadCache<T>, key: &str, f: F) -> ApiResult<T>
    where
        T: Clone + Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        // Read the version before the query: a write committing meanwhile makes the entry stale.
        let version = self.version.load(Ordering::Acquire);
        if let Some(hit) = cache.get(key, version) {
            return Ok(hit);
        }
        let value = self.read(f).await?;
        cache.insert(key, version, value.clone());
        Ok(value)
    }

    /// The synchronous form of [`Db::write`], for the CLI and start-up code.
    pub fn write_now<T>(&self, f: impl FnOnce(&Transaction) -> ApiResult<T>) -> ApiResult<T> {
        Self::write_blocking(&self.write, &self.version, f)
    }

    fn write_blocking<T>(
        pool: &Pool<SqliteConnectionManager>,
        version: &AtomicU64,
        f: impl FnOnce(&Transaction) -> ApiResult<T>,
    ) -> ApiResult<T> {
        let mut conn = pool.get()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        version.fetch_add(1, Ordering::Release);
        Ok(out)
    }

    pub fn read_now<T>(&self, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
        let conn = self.read.get()?;
        f(&conn)
    }

    /// Folds the WAL back into the main file so a stopped server leaves one self-contained database.
    pub fn close(&self) {
        if let Ok(conn) = self.write.get() {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        }
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// JSON text column → value (NULL stays None).
pub fn json_column(text: Option<String>) -> Option<serde_json::Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Optional JSON value → text column; JSON `null` is stored as NULL.
pub fn json_text(value: &Option<serde_json::Value>) -> Option<String> {
    match value {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.to_string()),
    }
}

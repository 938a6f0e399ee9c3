//! SQLite storage: one file, WAL, a pool of readers and a single writer.
//!
//! All database work runs on tokio's blocking pool, never on the async executor. Writes go through a
//! one-connection pool, so they queue in-process instead of spinning on SQLite's busy handler, and
//! each runs in a `BEGIN IMMEDIATE` transaction handed to services as a [`Tx`]: one request's changes
//! across domains (a user, its session, soon its outbox rows) commit together. A `Tx` also collects
//! which cached rows it changed; after the commit those keys are invalidated in every read cache
//! registered for their table (see [`crate::cache`]), before the write is acknowledged.

use std::cell::RefCell;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, RwLock};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::Semaphore;

use crate::cache::{CacheStats, Invalidate, ReadCache, Ticket, Weigh};
use crate::error::{ApiError, ApiResult};

mod embedded {
    refinery::embed_migrations!("schema");
}

/// What a committed transaction changed: one row's cache key, or a whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Row(&'static str, Box<[u8]>),
    Table(&'static str),
}

type Registry = Arc<RwLock<Vec<(&'static str, Arc<dyn Invalidate>)>>>;

/// Connections that read at once (and so blocking threads that hold one).
const READERS: usize = 8;
/// Requests allowed to wait for a read connection, and for the writer; past these a request is
/// shed with `503` + `Retry-After` instead of joining a queue that only grows.
const MAX_WAITING_READS: usize = 4096;
const MAX_WAITING_WRITES: usize = 1024;
/// How long a statement waits for a lock held by another process before it fails (`503`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Db {
    read: Pool<SqliteConnectionManager>,
    write: Pool<SqliteConnectionManager>,
    caches: Registry,
    /// Waiting happens here, as async tasks, not as blocked threads: a thread is taken only once
    /// a connection is free.
    readers: Arc<Gate>,
    writer: Arc<Gate>,
    /// Time per write transaction, waiting for the writer included (see [`crate::metrics`]).
    pub write_seconds: Histogram,
    /// Writes shed because [`MAX_WAITING_WRITES`] were already waiting.
    pub write_rejections: Counter,
}

/// A bounded waiting room in front of a fixed number of connections.
struct Gate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Gate {
    fn new(connections: usize, max_waiting: usize) -> Gate {
        Gate { permits: Arc::new(Semaphore::new(connections)), waiting: AtomicUsize::new(0), max_waiting }
    }

    async fn enter(&self) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Overloaded { retry_after_secs: 1 });
        }
        // Counted out on drop: a waiter whose request is cancelled (a timeout, a closed
        // connection) must not keep its place in the count.
        let _waiting = Waiting(&self.waiting);
        self.permits.clone().acquire_owned().await.map_err(ApiError::internal)
    }
}

struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Times SQLite met a lock held by another connection or process and waited (all databases of
/// the process; SQLite's busy handler is a plain function).
pub fn busy_retries() -> &'static Counter {
    static RETRIES: LazyLock<Counter> = LazyLock::new(Counter::default);
    &RETRIES
}

/// SQLite's busy handler: counts the retry, sleeps a little, gives up after [`BUSY_TIMEOUT`].
fn on_busy(attempt: i32) -> bool {
    busy_retries().inc();
    const STEP_MS: u64 = 5;
    if u64::try_from(attempt).unwrap_or(u64::MAX).saturating_mul(STEP_MS) >= BUSY_TIMEOUT.as_millis() as u64 {
        return false;
    }
    std::thread::sleep(Duration::from_millis(STEP_MS));
    true
}

/// A write transaction shared by the services taking part in one request.
pub struct Tx<'c> {
    tx: Transaction<'c>,
    changes: RefCell<Vec<Change>>,
}

impl<'c> std::ops::Deref for Tx<'c> {
    type Target = Transaction<'c>;
    fn deref(&self) -> &Transaction<'c> {
        &self.tx
    }
}

impl Tx<'_> {
    /// Records that the row cached under `key` in `table`'s caches changed (or was deleted).
    pub fn changed(&self, table: &'static str, key: impl AsRef<[u8]>) {
        self.changes.borrow_mut().push(Change::Row(table, key.as_ref().into()));
    }

    /// Records that any row of `table` may have changed.
    pub fn changed_table(&self, table: &'static str) {
        self.changes.borrow_mut().push(Change::Table(table));
    }
}

/// SQLite's default page size, which our databases keep.
const PAGE_SIZE: u64 = 4096;

fn manager(path: &Path, synchronous_full: bool, max_bytes: Option<u64>) -> SqliteConnectionManager {
    let sync = if synchronous_full { "FULL" } else { "NORMAL" };
    // max_page_count is a per-connection setting: every connection gets it.
    let max_pages = max_bytes.map_or(String::new(), |b| format!("PRAGMA max_page_count = {};", (b / PAGE_SIZE).max(1)));
    SqliteConnectionManager::file(path).with_init(move |c| {
        c.busy_handler(Some(on_busy))?;
        c.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA synchronous = {sync}; {max_pages}"
        ))?;
        c.set_prepared_statement_cache_capacity(128);
        Ok(())
    })
}

impl Db {
    /// Opens (creating if needed) the database file and applies pending migrations.
    pub fn open(path: &Path, synchronous_full: bool) -> Result<Db, String> {
        Self::open_limited(path, synchronous_full, None)
    }

    /// [`Db::open`] with a ceiling on the database's size (`--max-db-size-mb`).
    pub fn open_limited(path: &Path, synchronous_full: bool, max_bytes: Option<u64>) -> Result<Db, String> {
        check_parent_directory(path)?;
        let mut conn = Connection::open(path).map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        conn.busy_handler(Some(on_busy)).map_err(|e| format!("cannot configure database {}: {e}", path.display()))?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| format!("cannot configure database {}: {e}", path.display()))?;
        embedded::migrations::runner()
            .run(&mut conn)
            .map_err(|e| format!("cannot migrate database {}: {e}", path.display()))?;
        drop(conn);

        let read = Pool::builder()
            .max_size(READERS as u32)
            .connection_timeout(Duration::from_secs(10))
            .build(manager(path, synchronous_full, max_bytes))
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        let write = Pool::builder()
            .max_size(1)
            .connection_timeout(Duration::from_secs(30))
            .build(manager(path, synchronous_full, max_bytes))
            .map_err(|e| format!("cannot open database {}: {e}", path.display()))?;
        Ok(Db {
            read,
            write,
            caches: Registry::default(),
            readers: Arc::new(Gate::new(READERS, MAX_WAITING_READS)),
            writer: Arc::new(Gate::new(1, MAX_WAITING_WRITES)),
            write_seconds: crate::metrics::latency_histogram(),
            write_rejections: Counter::default(),
        })
    }

    /// Makes `cache` forget the rows of `table` that committed transactions report as changed.
    pub fn register_cache(&self, table: &'static str, cache: Arc<dyn Invalidate>) {
        self.caches.write().expect("cache registry lock").push((table, cache));
    }

    /// Runs a read-only closure on a pooled connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        let permit = self.readers.enter().await?;
        let pool = self.read.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
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
        F: FnOnce(&Tx) -> ApiResult<T> + Send + 'static,
    {
        let started = Instant::now();
        let permit = match self.writer.enter().await {
            Ok(permit) => permit,
            Err(e) => {
                self.write_rejections.inc();
                return Err(e);
            }
        };
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let out = db.write_now(f);
            db.write_seconds.observe(started.elapsed().as_secs_f64());
            out
        })
        .await
        .map_err(ApiError::internal)?
    }

    /// Like [`Db::read`], but answered from `cache` while the row under `key` has not changed.
    pub async fn read_cached<T, F>(&self, cache: &ReadCache<T>, key: &[u8], f: F) -> ApiResult<T>
    where
        T: Clone + Weigh + Send + 'static,
        F: FnOnce(&Connection) -> ApiResult<T> + Send + 'static,
    {
        if let Some(hit) = cache.get(key) {
            return Ok(hit);
        }
        let ticket: Ticket = cache.ticket(key);
        let value = self.read(f).await?;
        cache.insert(key, ticket, value.clone());
        Ok(value)
    }

    /// The synchronous form of [`Db::write`], for the CLI, start-up code and blocking callers.
    pub fn write_now<T>(&self, f: impl FnOnce(&Tx) -> ApiResult<T>) -> ApiResult<T> {
        let mut conn = self.write.get()?;
        let tx =
            Tx { tx: conn.transaction_with_behavior(TransactionBehavior::Immediate)?, changes: RefCell::default() };
        let out = f(&tx)?;
        let changes = tx.changes.take();
        tx.tx.commit()?;
        self.invalidate(&changes);
        Ok(out)
    }

    /// Each registered read cache's size and hit counts, for `/metrics`.
    pub fn cache_stats(&self) -> Vec<CacheStats> {
        self.caches
            .read()
            .expect("cache registry lock")
            .iter()
            .filter_map(|(table, cache)| cache.stats(table))
            .collect()
    }

    fn invalidate(&self, changes: &[Change]) {
        if changes.is_empty() {
            return;
        }
        let caches = self.caches.read().expect("cache registry lock");
        for change in changes {
            for (table, cache) in caches.iter() {
                match change {
                    Change::Row(t, key) if t == table => cache.invalidate(key),
                    Change::Table(t) if t == table => cache.clear(),
                    _ => {}
                }
            }
        }
    }

    /// Proves a write commits: readiness (`/health/ready`). The probe row is one fixed row, so
    /// probing does not grow the database.
    pub async fn probe_write(&self) -> ApiResult<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO readiness_probe (id, checked_at) VALUES (1, ?1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
                [now_millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// Proves the database answers a query.
    pub async fn ping(&self) -> ApiResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)).map(|_| ())?)).await
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

/// A clear message when the database's directory is missing or not writable (SQLite's own error
/// only says "unable to open database file").
fn check_parent_directory(path: &Path) -> Result<(), String> {
    if path.as_os_str() == ":memory:" {
        return Ok(());
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match std::fs::metadata(parent) {
        Err(_) => Err(format!(
            "cannot open database {}: the directory {} does not exist (create it first, e.g. `mkdir -p {}`)",
            path.display(),
            parent.display(),
            parent.display()
        )),
        Ok(m) if !m.is_dir() => {
            Err(format!("cannot open database {}: {} is not a directory", path.display(), parent.display()))
        }
        Ok(m) if m.permissions().readonly() => {
            Err(format!("cannot open database {}: the directory {} is not writable", path.display(), parent.display()))
        }
        Ok(_) => Ok(()),
    }
}

pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Milliseconds since the epoch as RFC 3339 UTC (`2023-11-14T22:13:20.123Z`).
pub fn format_millis(millis: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm), so no date crate is needed for one format.
    let secs = millis.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        millis.rem_euclid(1000)
    )
}

/// JSON text column `idx` → value (NULL stays None). Stored text that is not JSON is an error, never
/// silently dropped.
pub fn json_column(row: &rusqlite::Row, idx: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let text: Option<String> = row.get(idx)?;
    text.map(|t| {
        serde_json::from_str(&t)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
    })
    .transpose()
}

/// Holds `<database>.lock` for as long as the server runs, so a second server on the same file
/// stops with a clear message instead of sharing the single writer.
pub struct FileLock {
    _file: std::fs::File,
}

pub fn lock_database(path: &Path) -> Result<Option<FileLock>, String> {
    if path.as_os_str() == ":memory:" {
        return Ok(None);
    }
    check_parent_directory(path)?;
    let lock_path = path.with_extension(match path.extension() {
        Some(ext) => format!("{}.lock", ext.to_string_lossy()),
        None => "lock".into(),
    });
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot create the lock file {}: {e}", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "the database {} is already in use by another stackd server (lock file {})",
            path.display(),
            lock_path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", lock_path.display())),
    }
}

/// Optional JSON value → text column; JSON `null` is stored as NULL.
pub fn json_text(value: &Option<serde_json::Value>) -> Option<String> {
    match value {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancelled_waiter_gives_its_place_back() {
        let gate = Gate::new(1, 1);
        let held = gate.enter().await.unwrap();
        // One may wait; a second is shed.
        let mut waiting = Box::pin(gate.enter());
        assert!(tokio::time::timeout(Duration::from_millis(10), &mut waiting).await.is_err());
        assert!(matches!(gate.enter().await, Err(ApiError::Overloaded { .. })));
        // The waiter is cancelled (its request timed out): its place is free again.
        drop(waiting);
        let mut again = Box::pin(gate.enter());
        assert!(tokio::time::timeout(Duration::from_millis(10), &mut again).await.is_err(), "waits, not shed");
        drop(held);
        let _permit = again.await.unwrap();
    }
}

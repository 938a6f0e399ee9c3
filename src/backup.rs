//! Online backups and restore.
//!
//! A backup is SQLite's online backup API run from a separate read-only connection that first
//! opens a read transaction: in WAL mode that pins one snapshot, so the copy is consistent while
//! the server keeps writing (writers append to the WAL; the copy never restarts). The copy is
//! written next to its destination and renamed into place once complete and synced, so a failed
//! backup never leaves a half-written file under the final name.
//!
//! Restore replaces the database file with a checked copy, only while no server holds it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::config::BackupSchedule;

/// Pages copied per step (4 MiB at SQLite's default page size) between progress reports.
const PAGES_PER_STEP: std::os::raw::c_int = 1024;

/// How far a backup has come.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub copied_pages: u64,
    pub total_pages: u64,
}

/// What a finished backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    pub pages: u64,
    pub bytes: u64,
}

fn open_source(db: &Path) -> Result<Connection, String> {
    if !db.exists() {
        return Err(format!("there is no database at {} (give its path with --db)", db.display()));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| format!("cannot open {}: {e}", db.display()))?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(|e| e.to_string())?;
    Ok(conn)
}

fn partial_path(to: &Path) -> PathBuf {
    let mut name = to.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    to.with_file_name(name)
}

/// Copies the database at `db` to `to` while other connections keep writing to it.
pub fn backup(db: &Path, to: &Path, mut progress: impl FnMut(Progress)) -> Result<BackupReport, String> {
    if to.exists() {
        return Err(format!("{} already exists; choose a new file name", to.display()));
    }
    let source = open_source(db)?;
    // The read transaction pins a snapshot for every step of the copy.
    source
        .execute_batch("BEGIN; SELECT count(*) FROM sqlite_master;")
        .map_err(|e| format!("cannot read {}: {e}", db.display()))?;
    let partial = partial_path(to);
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut dest = Connection::open(&partial).map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        {
            let copy = rusqlite::backup::Backup::new(&source, &mut dest)
                .map_err(|e| format!("cannot start the backup: {e}"))?;
            loop {
                let step = copy.step(PAGES_PER_STEP).map_err(|e| format!("the backup failed: {e}"))?;
                let p = copy.progress();
                let total = p.pagecount.max(0) as u64;
                progress(Progress { copied_pages: total - p.remaining.max(0) as u64, total_pages: total });
                match step {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    // Only with a busy destination, which is ours alone: wait and retry.
                    _ => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }
        let pages: u64 = dest.query_row("PRAGMA page_count", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        dest.close().map_err(|(_, e)| format!("cannot close {}: {e}", partial.display()))?;
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", partial.display()))?;
        std::fs::rename(&partial, to)
            .map_err(|e| format!("cannot rename {} to {}: {e}", partial.display(), to.display()))?;
        let bytes = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport { pages, bytes })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// Checks that `file` is a whole, healthy stackd database: `PRAGMA integrity_check` says `ok` and
/// it has the migration history.
pub fn check(file: &Path) -> Result<(), String> {
    let conn = open_source(file)?;
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| format!("{} is not a readable SQLite database: {e}", file.display()))?;
    if verdict != "ok" {
        return Err(format!("{} is damaged (integrity check: {verdict})", file.display()));
    }
    let migrated: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'refinery_schema_history'", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if migrated == 0 {
        return Err(format!("{} is an SQLite database but not a stackd one", file.display()));
    }
    Ok(())
}

/// Replaces the database at `db` with the backup `from`. The caller holds the database's lock
/// (no server runs on it). The replaced database is kept as `<db>.before-restore`.
pub fn restore(from: &Path, db: &Path) -> Result<Option<PathBuf>, String> {
    check(from)?;
    let incoming = partial_path(db);
    std::fs::copy(from, &incoming)
        .map_err(|e| format!("cannot copy {} to {}: {e}", from.display(), incoming.display()))?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(|e| format!("cannot sync {}: {e}", incoming.display()))?;
    let mut kept = None;
    if db.exists() {
        // Fold the current WAL into the file first, so the kept copy is complete on its own.
        if let Ok(conn) = Connection::open(db) {
            let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
        }
        let before = db.with_file_name(format!(
            "{}.before-restore",
            db.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        ));
        std::fs::rename(db, &before).map_err(|e| format!("cannot move {} aside: {e}", db.display()))?;
        kept = Some(before);
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = db.as_os_str().to_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    std::fs::rename(&incoming, db).map_err(|e| format!("cannot move the restored copy into place: {e}"))?;
    Ok(kept)
}

/// File names of scheduled backups: `stackd-<UTC time>.db`, so they sort by age.
fn scheduled_name(now_millis: i64) -> String {
    let stamp: String =
        crate::db::format_millis(now_millis).chars().filter(|c| c.is_ascii_digit() || *c == 'T').collect();
    format!("stackd-{stamp}Z.db")
}

/// Takes one scheduled backup into `schedule.dir` and deletes the oldest beyond `schedule.keep`.
pub fn scheduled(db: &Path, schedule: &BackupSchedule) -> Result<PathBuf, String> {
    std::fs::create_dir_all(&schedule.dir)
        .map_err(|e| format!("cannot create the backup directory {}: {e}", schedule.dir.display()))?;
    let to = schedule.dir.join(scheduled_name(crate::db::now_millis()));
    backup(db, &to, |_| {})?;
    let mut taken: Vec<PathBuf> = std::fs::read_dir(&schedule.dir)
        .map_err(|e| format!("cannot list {}: {e}", schedule.dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("stackd-") && n.ends_with("Z.db"))
        })
        .collect();
    taken.sort();
    let excess = taken.len().saturating_sub(schedule.keep);
    for old in &taken[..excess] {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(file = %old.display(), error = %e, "cannot delete an old backup");
        }
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    #[test]
    fn scheduled_names_sort_by_time() {
        let a = super::scheduled_name(1_700_000_000_000);
        let b = super::scheduled_name(1_700_000_001_000);
        assert_eq!(a, "stackd-20231114T221320000Z.db");
        assert!(a < b);
    }
}

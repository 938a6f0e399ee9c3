//! SQL for sessions. A session is a refresh-token row; only the token's SHA-256 is stored.
//! Deletes return the hashes they removed, so the refresh cache (keyed by hash) can forget them.

use rusqlite::{params, Connection, OptionalExtension};

use crate::crypto::{hash_secret, SecretHash};
use crate::db::Tx;
use crate::error::ApiResult;
use crate::sessions::{SessionKey, SessionRow};

/// Cache table name: a removed session invalidates its refresh-token hash.
pub const TABLE: &str = "sessions";

#[allow(clippy::too_many_arguments)]
pub fn insert(
    tx: &Tx,
    project_id: &str,
    user_id: &str,
    refresh_token: &str,
    expires_at: Option<i64>,
    is_impersonation: bool,
    now: i64,
) -> ApiResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    tx.prepare_cached(
        "INSERT INTO sessions (id, project_id, user_id, refresh_token_hash, created_at, expires_at, last_used_at, is_impersonation)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?5, ?7)",
    )?
    .execute(params![id, project_id, user_id, hash_secret(refresh_token).to_vec(), now, expires_at, is_impersonation])?;
    Ok(id)
}

/// The session holding a refresh token (by its hash). Expiry and project are checked by the
/// caller, so a cached row is still checked against the clock.
pub fn find_by_token_hash(conn: &Connection, hash: &SecretHash) -> ApiResult<Option<SessionKey>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, project_id, user_id, expires_at FROM sessions WHERE refresh_token_hash = ?1")?;
    Ok(stmt
        .query_row(params![hash.as_slice()], |r| {
            Ok(SessionKey { id: r.get(0)?, project_id: r.get(1)?, user_id: r.get(2)?, expires_at: r.get(3)? })
        })
        .optional()?)
}

pub fn list_for_user(
    conn: &Connection,
    project_id: &str,
    user_id: &str,
    include_impersonation: bool,
    now: i64,
) -> ApiResult<Vec<SessionRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, user_id, created_at, last_used_at, is_impersonation FROM sessions
         WHERE project_id = ?1 AND user_id = ?2 AND (expires_at IS NULL OR expires_at > ?3) AND (?4 OR is_impersonation = 0)
         ORDER BY created_at DESC, id DESC",
    )?;
    let rows = stmt.query_map(params![project_id, user_id, now, include_impersonation], |r| {
        Ok(SessionRow {
            id: r.get(0)?,
            user_id: r.get(1)?,
            created_at: r.get(2)?,
            last_used_at: r.get(3)?,
            is_impersonation: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The owner of a session in this project, if it exists.
pub fn owner(conn: &Connection, project_id: &str, session_id: &str) -> ApiResult<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT user_id FROM sessions WHERE project_id = ?1 AND id = ?2")?;
    Ok(stmt.query_row(params![project_id, session_id], |r| r.get(0)).optional()?)
}

fn forget(tx: &Tx, hashes: Vec<Vec<u8>>) -> usize {
    let n = hashes.len();
    for hash in hashes {
        tx.changed(TABLE, hash);
    }
    n
}

pub fn delete(tx: &Tx, project_id: &str, session_id: &str) -> ApiResult<bool> {
    let mut stmt =
        tx.prepare_cached("DELETE FROM sessions WHERE project_id = ?1 AND id = ?2 RETURNING refresh_token_hash")?;
    let hashes = stmt.query_map(params![project_id, session_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(forget(tx, hashes) > 0)
}

/// Deletes every session of a user except the one whose refresh token hashes to `keep`.
pub fn delete_all_for_user_except(tx: &Tx, user_id: &str, keep: &SecretHash) -> ApiResult<()> {
    let mut stmt = tx.prepare_cached(
        "DELETE FROM sessions WHERE user_id = ?1 AND refresh_token_hash != ?2 RETURNING refresh_token_hash",
    )?;
    let hashes = stmt.query_map(params![user_id, keep.as_slice()], |r| r.get(0))?.collect::<Result<_, _>>()?;
    forget(tx, hashes);
    Ok(())
}

pub fn delete_all_for_user(tx: &Tx, user_id: &str) -> ApiResult<()> {
    let mut stmt = tx.prepare_cached("DELETE FROM sessions WHERE user_id = ?1 RETURNING refresh_token_hash")?;
    let hashes = stmt.query_map([user_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
    forget(tx, hashes);
    Ok(())
}

/// Sessions of the project that have not expired.
pub fn count_active(conn: &Connection, project_id: &str, now: i64) -> ApiResult<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT count(*) FROM sessions WHERE project_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
        )?
        .query_row(params![project_id, now], |r| r.get(0))?)
}

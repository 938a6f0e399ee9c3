//! SQL of the auth domain's own tables: CLI sign-in attempts and passkeys (the rest of sign-in works through
//! users, sessions and verification codes).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::crypto::SecretHash;
use crate::db::Tx;
use crate::error::ApiResult;

/// A CLI sign-in attempt.
#[derive(Debug, Clone)]
pub struct CliAttempt {
    pub id: String,
    pub anon_user_id: Option<String>,
    pub user_id: Option<String>,
    pub used_at: Option<i64>,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, anon_user_id, user_id, used_at, expires_at";

fn attempt(r: &Row) -> rusqlite::Result<CliAttempt> {
    Ok(CliAttempt {
        id: r.get(0)?,
        anon_user_id: r.get(1)?,
        user_id: r.get(2)?,
        used_at: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

#[allow(clippy::too_many_arguments)]
pub fn insert_cli_attempt(
    tx: &Tx,
    id: &str,
    project_id: &str,
    polling: &SecretHash,
    login: &SecretHash,
    anon_user_id: Option<&str>,
    expires_at: i64,
    now: i64,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO cli_auth_attempts (id, project_id, polling_code_hash, login_code_hash, anon_user_id, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![id, project_id, &polling[..], &login[..], anon_user_id, expires_at, now])?;
    Ok(())
}

pub fn cli_attempt_by_polling(conn: &Connection, project_id: &str, hash: &SecretHash) -> ApiResult<Option<CliAttempt>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM cli_auth_attempts WHERE project_id = ?1 AND polling_code_hash = ?2"
        ))?
        .query_row(params![project_id, &hash[..]], attempt)
        .optional()?)
}

pub fn cli_attempt_by_login(conn: &Connection, project_id: &str, hash: &SecretHash) -> ApiResult<Option<CliAttempt>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM cli_auth_attempts WHERE project_id = ?1 AND login_code_hash = ?2"
        ))?
        .query_row(params![project_id, &hash[..]], attempt)
        .optional()?)
}

/// Marks a completed attempt used; false if it already was.
pub fn use_cli_attempt(tx: &Tx, id: &str, now: i64) -> ApiResult<bool> {
    Ok(tx.execute("UPDATE cli_auth_attempts SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL", params![id, now])? > 0)
}

/// Completes a pending attempt for `user_id` (dropping any anonymous session); false if it is no
/// longer pending.
pub fn complete_cli_attempt(tx: &Tx, id: &str, user_id: &str, now: i64) -> ApiResult<bool> {
    Ok(tx.execute(
        "UPDATE cli_auth_attempts SET user_id = ?2, anon_user_id = NULL
         WHERE id = ?1 AND user_id IS NULL AND used_at IS NULL AND expires_at > ?3",
        params![id, user_id, now],
    )? > 0)
}

/// Takes the anonymous user off a pending attempt (one claim only); false if already taken.
pub fn take_cli_anon_user(tx: &Tx, id: &str, anon_user_id: &str, now: i64) -> ApiResult<bool> {
    Ok(tx.execute(
        "UPDATE cli_auth_attempts SET anon_user_id = NULL
         WHERE id = ?1 AND anon_user_id = ?2 AND user_id IS NULL AND used_at IS NULL AND expires_at > ?3",
        params![id, anon_user_id, now],
    )? > 0)
}

pub fn delete_expired_cli_attempts(tx: &Tx, now: i64) -> ApiResult<usize> {
    Ok(tx.execute("DELETE FROM cli_auth_attempts WHERE expires_at < ?1", [now])?)
}

// --- passkeys ---------------------------------------------------------------------------------

/// Makes `credential` the user's passkey (one per user: a new one replaces the old).
pub fn save_passkey(
    tx: &Tx,
    user_id: &str,
    project_id: &str,
    credential_id: &str,
    credential: &str,
    counter: i64,
    now: i64,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO passkeys (user_id, project_id, credential_id, credential, counter, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (user_id) DO UPDATE SET credential_id = ?3, credential = ?4, counter = ?5, created_at = ?6,
           last_used_at = NULL",
    )?
    .execute(params![user_id, project_id, credential_id, credential, counter, now])?;
    Ok(())
}

/// Whether another user of the project already holds this credential id.
pub fn passkey_credential_taken(
    conn: &Connection,
    project_id: &str,
    credential_id: &str,
    user_id: &str,
) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM passkeys WHERE project_id = ?1 AND credential_id = ?2 AND user_id != ?3")?
        .exists(params![project_id, credential_id, user_id])?)
}

/// `(user_id, credential)` of the passkey with this credential id.
pub fn passkey_by_credential(
    conn: &Connection,
    project_id: &str,
    credential_id: &str,
) -> ApiResult<Option<(String, String)>> {
    Ok(conn
        .prepare_cached("SELECT user_id, credential FROM passkeys WHERE project_id = ?1 AND credential_id = ?2")?
        .query_row(params![project_id, credential_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn update_passkey_use(tx: &Tx, user_id: &str, credential: &str, counter: i64, now: i64) -> ApiResult<()> {
    tx.prepare_cached("UPDATE passkeys SET credential = ?2, counter = ?3, last_used_at = ?4 WHERE user_id = ?1")?
        .execute(params![user_id, credential, counter, now])?;
    Ok(())
}

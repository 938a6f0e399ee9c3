//! SQL of the OAuth domain: provider accounts, their sealed tokens, pending authorizations and
//! the authorization codes handed to the SDK.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::crypto::SecretHash;
use crate::db::Tx;
use crate::error::ApiResult;
use crate::oauth::OAuthAccount;

const ACCOUNT_COLUMNS: &str =
    "id, user_id, provider_config_id, provider_account_id, email, allow_sign_in, allow_connected_accounts";

fn account(r: &Row) -> rusqlite::Result<OAuthAccount> {
    Ok(OAuthAccount {
        id: r.get(0)?,
        user_id: r.get(1)?,
        provider_config_id: r.get(2)?,
        provider_account_id: r.get(3)?,
        email: r.get(4)?,
        allow_sign_in: r.get(5)?,
        allow_connected_accounts: r.get(6)?,
    })
}

/// The account that signs in with this provider account (spec 10 §10.3 step 5).
pub fn sign_in_account(
    conn: &Connection,
    project_id: &str,
    provider_config_id: &str,
    provider_account_id: &str,
) -> ApiResult<Option<OAuthAccount>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM oauth_accounts
             WHERE project_id = ?1 AND provider_config_id = ?2 AND provider_account_id = ?3 AND allow_sign_in = 1
             ORDER BY created_at LIMIT 1"
        ))?
        .query_row(params![project_id, provider_config_id, provider_account_id], account)
        .optional()?)
}

/// A user's account at a provider with this account id (any sign-in setting).
pub fn user_account(
    conn: &Connection,
    user_id: &str,
    provider_config_id: &str,
    provider_account_id: &str,
) -> ApiResult<Option<OAuthAccount>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM oauth_accounts
             WHERE user_id = ?1 AND provider_config_id = ?2 AND provider_account_id = ?3"
        ))?
        .query_row(params![user_id, provider_config_id, provider_account_id], account)
        .optional()?)
}

pub fn account_by_id(conn: &Connection, project_id: &str, id: &str) -> ApiResult<Option<OAuthAccount>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM oauth_accounts WHERE project_id = ?1 AND id = ?2"))?
        .query_row(params![project_id, id], account)
        .optional()?)
}

/// A user's accounts, oldest first; `user_id` `None` = every account of the project.
pub fn accounts(conn: &Connection, project_id: &str, user_id: Option<&str>) -> ApiResult<Vec<OAuthAccount>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM oauth_accounts WHERE project_id = ?1 AND (?2 IS NULL OR user_id = ?2)
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![project_id, user_id], account)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[allow(clippy::too_many_arguments)]
pub fn insert_account(
    tx: &Tx,
    id: &str,
    project_id: &str,
    user_id: &str,
    provider_config_id: &str,
    provider_account_id: &str,
    email: Option<&str>,
    allow_sign_in: bool,
    allow_connected_accounts: bool,
    now: i64,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO oauth_accounts (id, project_id, user_id, provider_config_id, provider_account_id, email,
           allow_sign_in, allow_connected_accounts, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        id,
        project_id,
        user_id,
        provider_config_id,
        provider_account_id,
        email,
        allow_sign_in,
        allow_connected_accounts,
        now
    ])?;
    Ok(())
}

pub fn update_account(tx: &Tx, a: &OAuthAccount) -> ApiResult<()> {
    tx.prepare_cached(
        "UPDATE oauth_accounts SET provider_account_id = ?2, email = ?3, allow_sign_in = ?4, allow_connected_accounts = ?5
         WHERE id = ?1",
    )?
    .execute(params![a.id, a.provider_account_id, a.email, a.allow_sign_in, a.allow_connected_accounts])?;
    Ok(())
}

pub fn delete_account(tx: &Tx, id: &str) -> ApiResult<()> {
    tx.prepare_cached("DELETE FROM oauth_accounts WHERE id = ?1")?.execute([id])?;
    Ok(())
}

// --- provider tokens ---------------------------------------------------------------------------

/// A stored provider token (still sealed).
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub id: String,
    pub oauth_account_id: String,
    pub sealed: Vec<u8>,
    pub scopes: String,
    pub expires_at: Option<i64>,
}

pub const ACCESS: &str = "access";
pub const REFRESH: &str = "refresh";

#[allow(clippy::too_many_arguments)]
pub fn insert_token(
    tx: &Tx,
    id: &str,
    oauth_account_id: &str,
    kind: &str,
    sealed: &[u8],
    scopes: &str,
    expires_at: Option<i64>,
    now: i64,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO oauth_tokens (id, oauth_account_id, kind, sealed, scopes, expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![id, oauth_account_id, kind, sealed, scopes, expires_at, now])?;
    Ok(())
}

/// Valid tokens of `kind` for these accounts, newest first.
pub fn valid_tokens(conn: &Connection, account_ids: &[String], kind: &str) -> ApiResult<Vec<StoredToken>> {
    let mut out = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT id, oauth_account_id, sealed, scopes, expires_at FROM oauth_tokens
         WHERE oauth_account_id = ?1 AND kind = ?2 AND is_valid = 1 ORDER BY created_at DESC",
    )?;
    for account_id in account_ids {
        let rows = stmt.query_map(params![account_id, kind], |r| {
            Ok(StoredToken {
                id: r.get(0)?,
                oauth_account_id: r.get(1)?,
                sealed: r.get(2)?,
                scopes: r.get(3)?,
                expires_at: r.get(4)?,
            })
        })?;
        for row in rows {
            out.push(row?);
        }
    }
    Ok(out)
}

pub fn invalidate_token(tx: &Tx, id: &str) -> ApiResult<()> {
    tx.prepare_cached("UPDATE oauth_tokens SET is_valid = 0 WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// Keeps the newest `keep` tokens of each kind for an account, so repeated sign-ins do not pile up.
pub fn trim_tokens(tx: &Tx, oauth_account_id: &str, keep: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "DELETE FROM oauth_tokens WHERE oauth_account_id = ?1 AND id NOT IN (
           SELECT id FROM oauth_tokens t WHERE t.oauth_account_id = ?1 AND t.kind = 'access' AND t.is_valid = 1
             ORDER BY created_at DESC LIMIT ?2)
         AND id NOT IN (
           SELECT id FROM oauth_tokens t WHERE t.oauth_account_id = ?1 AND t.kind = 'refresh' AND t.is_valid = 1
             ORDER BY created_at DESC LIMIT ?2)",
    )?
    .execute(params![oauth_account_id, keep])?;
    Ok(())
}

// --- pending authorizations and codes ----------------------------------------------------------

pub fn insert_outer_state(tx: &Tx, hash: &SecretHash, project_id: &str, info: &str, expires_at: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO oauth_outer_states (inner_state_hash, project_id, info, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![&hash[..], project_id, info, expires_at])?;
    Ok(())
}

/// Removes and returns a pending authorization: `(project_id, info, expires_at)`.
pub fn take_outer_state(tx: &Tx, hash: &SecretHash) -> ApiResult<Option<(String, String, i64)>> {
    let found = tx
        .prepare_cached("SELECT project_id, info, expires_at FROM oauth_outer_states WHERE inner_state_hash = ?1")?
        .query_row([&hash[..]], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    if found.is_some() {
        tx.prepare_cached("DELETE FROM oauth_outer_states WHERE inner_state_hash = ?1")?.execute([&hash[..]])?;
    }
    Ok(found)
}

pub fn insert_code(
    tx: &Tx,
    hash: &SecretHash,
    project_id: &str,
    user_id: &str,
    data: &str,
    expires_at: i64,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO oauth_codes (code_hash, project_id, user_id, data, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![&hash[..], project_id, user_id, data, expires_at])?;
    Ok(())
}

/// An authorization code handed to the SDK.
pub struct StoredCode {
    pub user_id: String,
    /// JSON (see `service::CodeData`).
    pub data: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub fn code(conn: &Connection, project_id: &str, hash: &SecretHash) -> ApiResult<Option<StoredCode>> {
    Ok(conn
        .prepare_cached(
            "SELECT user_id, data, expires_at, used_at FROM oauth_codes WHERE project_id = ?1 AND code_hash = ?2",
        )?
        .query_row(params![project_id, &hash[..]], |r| {
            Ok(StoredCode { user_id: r.get(0)?, data: r.get(1)?, expires_at: r.get(2)?, used_at: r.get(3)? })
        })
        .optional()?)
}

pub fn mark_code_used(tx: &Tx, hash: &SecretHash, now: i64) -> ApiResult<()> {
    tx.prepare_cached("UPDATE oauth_codes SET used_at = ?2 WHERE code_hash = ?1")?.execute(params![&hash[..], now])?;
    Ok(())
}

/// Deletes expired pending authorizations and codes (hourly job).
pub fn prune(tx: &Tx, now: i64) -> ApiResult<usize> {
    let a = tx.prepare_cached("DELETE FROM oauth_outer_states WHERE expires_at < ?1")?.execute([now])?;
    let b = tx.prepare_cached("DELETE FROM oauth_codes WHERE expires_at < ?1")?.execute([now])?;
    Ok(a + b)
}

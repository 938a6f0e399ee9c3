//! SQL of user and team API keys.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::api_keys::ApiKeyRecord;
use crate::db::Tx;
use crate::error::ApiResult;

const COLUMNS: &str = "id, project_id, type, user_id, team_id, description, is_public, key_hash, last_four, created_at,
    expires_at, manually_revoked_at";

fn row(r: &Row) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.get(0)?,
        project_id: r.get(1)?,
        kind: r.get(2)?,
        user_id: r.get(3)?,
        team_id: r.get(4)?,
        description: r.get(5)?,
        is_public: r.get(6)?,
        key_hash: r.get(7)?,
        last_four: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        revoked_at: r.get(11)?,
    })
}

pub fn insert(tx: &Tx, k: &ApiKeyRecord) -> ApiResult<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?
    .execute(params![
        k.id,
        k.project_id,
        k.kind,
        k.user_id,
        k.team_id,
        k.description,
        k.is_public,
        k.key_hash,
        k.last_four,
        k.created_at,
        k.expires_at,
        k.revoked_at
    ])?;
    Ok(())
}

pub fn load(conn: &Connection, project_id: &str, id: &str) -> ApiResult<Option<ApiKeyRecord>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE project_id = ?1 AND id = ?2"))?
        .query_row(params![project_id, id], row)
        .optional()?)
}

/// Keys of one user or team, newest first.
pub fn list(conn: &Connection, project_id: &str, kind: &str, owner_id: &str) -> ApiResult<Vec<ApiKeyRecord>> {
    let column = if kind == crate::api_keys::USER { "user_id" } else { "team_id" };
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM api_keys WHERE project_id = ?1 AND type = ?2 AND {column} = ?3
             ORDER BY created_at DESC, rowid DESC"
        ))?
        .query_map(params![project_id, kind, owner_id], row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn update(tx: &Tx, k: &ApiKeyRecord) -> ApiResult<()> {
    tx.prepare_cached("UPDATE api_keys SET description = ?2, manually_revoked_at = ?3 WHERE id = ?1")?
        .execute(params![k.id, k.description, k.revoked_at])?;
    Ok(())
}

/// A key by id in any project (the credential-scanning route has no project).
pub fn load_any_project(conn: &Connection, id: &str) -> ApiResult<Option<ApiKeyRecord>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))?
        .query_row(params![id], row)
        .optional()?)
}

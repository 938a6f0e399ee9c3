//! SQL for stored images.

use rusqlite::{params, Connection, OptionalExtension};

use crate::db::Tx;
use crate::error::ApiResult;

pub fn insert(tx: &Tx, id: &str, project_id: &str, content_type: &str, bytes: &[u8], now: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO images (id, project_id, content_type, bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, project_id, content_type, bytes, now])?;
    Ok(())
}

pub fn delete(tx: &Tx, id: &str) -> ApiResult<()> {
    tx.prepare_cached("DELETE FROM images WHERE id = ?1")?.execute([id])?;
    Ok(())
}

/// `(content type, bytes)` of an image.
pub fn load(conn: &Connection, id: &str) -> ApiResult<Option<(String, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached("SELECT content_type, bytes FROM images WHERE id = ?1")?;
    Ok(stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
}

//! SQL of the event log.

use rusqlite::{params, Connection};

use crate::db::{json_column, Tx};
use crate::error::ApiResult;
use crate::events::Event;

/// Table name under which commits that append events are reported (see `Db::register_cache`): the
/// webhook dispatcher wakes on it.
pub const TABLE: &str = "events";

pub fn insert(tx: &Tx, project_id: &str, id: &str, kind: &str, data: &serde_json::Value, now: i64) -> ApiResult<()> {
    tx.changed_table(TABLE);
    tx.prepare_cached("INSERT INTO events (id, project_id, type, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![id, project_id, kind, data.to_string(), now])?;
    Ok(())
}

/// Up to `limit` events of a project after position `after`, oldest first.
pub fn read_after(conn: &Connection, project_id: &str, after: i64, limit: u32) -> ApiResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, project_id, type, data, created_at FROM events
         WHERE project_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![project_id, after, limit], event)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Position of the newest event (0 when the log is empty).
pub fn last_seq(conn: &Connection) -> ApiResult<i64> {
    Ok(conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?.query_row([], |r| r.get(0))?)
}

/// Up to `limit` events of every project after position `after`, oldest first (webhook fan-out).
pub fn read_all_after(conn: &Connection, after: i64, limit: u32) -> ApiResult<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, project_id, type, data, created_at FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after, limit], event)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn event(r: &rusqlite::Row) -> rusqlite::Result<Event> {
    Ok(Event {
        seq: r.get(0)?,
        id: r.get(1)?,
        project_id: r.get(2)?,
        kind: r.get(3)?,
        data: json_column(r, 4)?.unwrap_or(serde_json::Value::Null),
        created_at: r.get(5)?,
    })
}

pub fn delete_before(tx: &Tx, cutoff: i64) -> ApiResult<usize> {
    Ok(tx.execute("DELETE FROM events WHERE created_at < ?1", [cutoff])?)
}

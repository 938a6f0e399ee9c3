//! SQL of webhooks: endpoints, messages, deliveries (a message's state per endpoint), attempts, and
//! the dispatcher's position in the event log.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::db::{json_column, Tx};
use crate::error::ApiResult;
use crate::webhooks::{status, Attempt, Endpoint, Message};

const ENDPOINT_COLUMNS: &str = "id, project_id, uid, url, description, disabled, event_types, metadata, secret,
     previous_secret, previous_secret_until, created_at, updated_at";

fn endpoint(r: &Row) -> rusqlite::Result<Endpoint> {
    let event_types: Option<Value> = json_column(r, 6)?;
    let metadata: Option<Value> = json_column(r, 7)?;
    let previous: Option<String> = r.get(9)?;
    let until: Option<i64> = r.get(10)?;
    Ok(Endpoint {
        id: r.get(0)?,
        project_id: r.get(1)?,
        uid: r.get(2)?,
        url: r.get(3)?,
        description: r.get(4)?,
        disabled: r.get(5)?,
        event_types: event_types.and_then(|v| serde_json::from_value(v).ok()),
        metadata: match metadata {
            Some(Value::Object(m)) => m,
            _ => Default::default(),
        },
        secret: r.get(8)?,
        previous_secret: previous.zip(until),
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
    })
}

fn event_types_column(e: &Endpoint) -> Option<String> {
    e.event_types.as_ref().map(|t| serde_json::to_string(t).expect("strings serialize"))
}

/// Inserts an endpoint, or updates every field but its project and creation time.
pub fn save_endpoint(tx: &Tx, e: &Endpoint) -> ApiResult<()> {
    tx.prepare_cached(&format!(
        "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (id) DO UPDATE SET uid = excluded.uid, url = excluded.url, description = excluded.description,
         disabled = excluded.disabled, event_types = excluded.event_types, metadata = excluded.metadata,
         secret = excluded.secret, previous_secret = excluded.previous_secret,
         previous_secret_until = excluded.previous_secret_until, updated_at = excluded.updated_at"
    ))?
    .execute(params![
        e.id,
        e.project_id,
        e.uid,
        e.url,
        e.description,
        e.disabled,
        event_types_column(e),
        Value::Object(e.metadata.clone()).to_string(),
        e.secret,
        e.previous_secret.as_ref().map(|p| &p.0),
        e.previous_secret.as_ref().map(|p| p.1),
        e.created_at,
        e.updated_at,
    ])?;
    Ok(())
}

pub fn delete_endpoint(tx: &Tx, project_id: &str, id: &str) -> ApiResult<bool> {
    Ok(tx.execute("DELETE FROM webhook_endpoints WHERE project_id = ?1 AND id = ?2", params![project_id, id])? > 0)
}

/// An endpoint of the project by id or uid.
pub fn endpoint_by_id_or_uid(conn: &Connection, project_id: &str, id_or_uid: &str) -> ApiResult<Option<Endpoint>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE project_id = ?1 AND (id = ?2 OR uid = ?2)"
        ))?
        .query_row(params![project_id, id_or_uid], endpoint)
        .optional()?)
}

/// The project's endpoints, oldest first (`newest_first` reverses), after the one with id `after`.
pub fn endpoints(conn: &Connection, project_id: &str) -> ApiResult<Vec<Endpoint>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE project_id = ?1 ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([project_id], endpoint)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn uid_taken(conn: &Connection, project_id: &str, uid: &str, except_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM webhook_endpoints WHERE project_id = ?1 AND uid = ?2 AND id != ?3")?
        .exists(params![project_id, uid, except_id])?)
}

// --- The dispatcher's position in the event log.

pub fn cursor(conn: &Connection) -> ApiResult<i64> {
    Ok(conn.query_row("SELECT seq FROM webhook_cursor WHERE id = 1", [], |r| r.get(0)).optional()?.unwrap_or(0))
}

pub fn set_cursor(tx: &Tx, seq: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO webhook_cursor (id, seq) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq",
    )?
    .execute([seq])?;
    Ok(())
}

// --- Messages and deliveries.

pub fn insert_message(tx: &Tx, m: &Message) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT OR IGNORE INTO webhook_messages (id, project_id, event_id, event_type, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![m.id, m.project_id, m.event_id, m.event_type, m.body, m.created_at])?
        > 0)
}

/// Schedules (or, for a resend, re-schedules) a message to an endpoint, due at `due`.
pub fn schedule_delivery(tx: &Tx, message_id: &str, endpoint_id: &str, project_id: &str, due: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (message_id, endpoint_id, project_id, status, attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?5)
         ON CONFLICT (message_id, endpoint_id) DO UPDATE SET status = excluded.status, next_attempt_at = excluded.next_attempt_at",
    )?
    .execute(params![message_id, endpoint_id, project_id, status::PENDING, due])?;
    Ok(())
}

fn message(r: &Row, offset: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(offset)?,
        project_id: r.get(offset + 1)?,
        event_id: r.get(offset + 2)?,
        event_type: r.get(offset + 3)?,
        body: r.get(offset + 4)?,
        created_at: r.get(offset + 5)?,
    })
}

const MESSAGE_COLUMNS: &str = "m.id, m.project_id, m.event_id, m.event_type, m.body, m.created_at";

pub fn message_by_id(conn: &Connection, project_id: &str, id: &str) -> ApiResult<Option<Message>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m WHERE m.project_id = ?1 AND m.id = ?2"
        ))?
        .query_row(params![project_id, id], |r| message(r, 0))
        .optional()?)
}

/// The project's messages, newest first, older than `before` (a message id), at most `limit`.
pub fn messages(conn: &Connection, project_id: &str, before: Option<&str>, limit: u32) -> ApiResult<Vec<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM webhook_messages m WHERE m.project_id = ?1
         AND (?2 IS NULL OR (m.created_at, m.id) < (SELECT created_at, id FROM webhook_messages WHERE id = ?2))
         ORDER BY m.created_at DESC, m.id DESC LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![project_id, before, limit], |r| message(r, 0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A delivery claimed for an attempt: the message, and the endpoint as it is now.
pub struct DueDelivery {
    pub message: Message,
    pub endpoint: Endpoint,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// Deliveries due at `now`: pending ones, and sending ones whose lease ran out (a crash).
pub fn due_deliveries(conn: &Connection, now: i64, limit: usize) -> ApiResult<Vec<(String, String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT message_id, endpoint_id, attempts FROM webhook_deliveries
         WHERE status IN (1, 3) AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2",
    )?;
    let rows = stmt
        .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Marks a delivery as being sent until `lease_until` (then it is due again).
pub fn mark_sending(tx: &Tx, message_id: &str, endpoint_id: &str, lease_until: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?3, next_attempt_at = ?4 WHERE message_id = ?1 AND endpoint_id = ?2",
    )?
    .execute(params![message_id, endpoint_id, status::SENDING, lease_until])?;
    Ok(())
}

/// Deliveries a stopped process left sending.
pub fn interrupted(conn: &Connection) -> ApiResult<usize> {
    Ok(conn.query_row("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 3", [], |r| r.get::<_, i64>(0))? as usize)
}

pub fn resume_interrupted(tx: &Tx, now: i64) -> ApiResult<usize> {
    Ok(tx.execute("UPDATE webhook_deliveries SET status = 1, next_attempt_at = ?1 WHERE status = 3", [now])?)
}

pub fn load_due(
    conn: &Connection,
    message_id: &str,
    endpoint_id: &str,
    attempts: i64,
) -> ApiResult<Option<DueDelivery>> {
    let Some(endpoint) = conn
        .prepare_cached(&format!("SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1"))?
        .query_row([endpoint_id], endpoint)
        .optional()?
    else {
        return Ok(None);
    };
    let Some(message) = conn
        .prepare_cached(&format!("SELECT {MESSAGE_COLUMNS} FROM webhook_messages m WHERE m.id = ?1"))?
        .query_row([message_id], |r| message(r, 0))
        .optional()?
    else {
        return Ok(None);
    };
    Ok(Some(DueDelivery { message, endpoint, attempts }))
}

/// Ends a delivery without an attempt (its endpoint was disabled).
pub fn finish_delivery(tx: &Tx, message_id: &str, endpoint_id: &str, final_status: i64) -> ApiResult<()> {
    tx.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?3, next_attempt_at = NULL WHERE message_id = ?1 AND endpoint_id = ?2",
    )?
    .execute(params![message_id, endpoint_id, final_status])?;
    Ok(())
}

/// A delivery row for a message sent outside fan-out (a resend to an endpoint added later).
pub fn schedule_delivery_if_missing(tx: &Tx, message_id: &str, endpoint_id: &str, project_id: &str) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO webhook_deliveries (message_id, endpoint_id, project_id, status, attempts, next_attempt_at, created_at)
         VALUES (?1, ?2, ?3, 2, 0, NULL, ?4)",
    )?
    .execute(params![message_id, endpoint_id, project_id, crate::db::now_millis()])?;
    Ok(())
}

pub fn insert_attempt(tx: &Tx, a: &Attempt) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO webhook_attempts (id, message_id, endpoint_id, url, status, response_status_code, response,
         response_duration_ms, trigger_type, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        a.id,
        a.message_id,
        a.endpoint_id,
        a.url,
        a.status,
        a.response_status_code,
        a.response,
        a.response_duration_ms,
        a.trigger_type,
        a.created_at
    ])?;
    Ok(())
}

/// Records an attempt and the delivery's new state (`next` = when to try again, if it will be).
pub fn record_attempt(tx: &Tx, a: &Attempt, delivery_status: i64, next: Option<i64>) -> ApiResult<()> {
    insert_attempt(tx, a)?;
    tx.prepare_cached(
        "UPDATE webhook_deliveries SET status = ?3, next_attempt_at = ?4, attempts = attempts + 1
         WHERE message_id = ?1 AND endpoint_id = ?2",
    )?
    .execute(params![a.message_id, a.endpoint_id, delivery_status, next])?;
    Ok(())
}

fn attempt(r: &Row) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: r.get(0)?,
        message_id: r.get(1)?,
        endpoint_id: r.get(2)?,
        url: r.get(3)?,
        status: r.get(4)?,
        response_status_code: r.get(5)?,
        response: r.get(6)?,
        response_duration_ms: r.get(7)?,
        trigger_type: r.get(8)?,
        created_at: r.get(9)?,
    })
}

/// Attempts of a message (`by_message`) or to an endpoint, newest first, at most `limit`.
pub fn attempts(
    conn: &Connection,
    project_id: &str,
    message_id: Option<&str>,
    endpoint_id: Option<&str>,
    limit: u32,
) -> ApiResult<Vec<Attempt>> {
    let mut stmt = conn.prepare_cached(
        "SELECT a.id, a.message_id, a.endpoint_id, a.url, a.status, a.response_status_code, a.response,
         a.response_duration_ms, a.trigger_type, a.created_at
         FROM webhook_attempts a JOIN webhook_messages m ON m.id = a.message_id
         WHERE m.project_id = ?1 AND (?2 IS NULL OR a.message_id = ?2) AND (?3 IS NULL OR a.endpoint_id = ?3)
         ORDER BY a.created_at DESC, a.id DESC LIMIT ?4",
    )?;
    let rows =
        stmt.query_map(params![project_id, message_id, endpoint_id, limit], attempt)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The delivery state of a message to an endpoint: `(status, attempts)`.
pub fn delivery_state(conn: &Connection, message_id: &str, endpoint_id: &str) -> ApiResult<Option<(i64, i64)>> {
    Ok(conn
        .prepare_cached("SELECT status, attempts FROM webhook_deliveries WHERE message_id = ?1 AND endpoint_id = ?2")?
        .query_row(params![message_id, endpoint_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Deliveries not finished yet (pending or sending), and since when: the backlog (`/metrics`).
pub fn backlog(conn: &Connection) -> ApiResult<crate::metrics::Backlog> {
    Ok(conn.query_row("SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE status IN (1, 3)", [], |r| {
        Ok(crate::metrics::Backlog { waiting: r.get(0)?, oldest_created_at_millis: r.get(1)? })
    })?)
}

/// [`backlog`] of one project.
pub fn project_backlog(conn: &Connection, project_id: &str) -> ApiResult<crate::metrics::Backlog> {
    Ok(conn.query_row(
        "SELECT COUNT(*), MIN(created_at) FROM webhook_deliveries WHERE project_id = ?1 AND status IN (1, 3)",
        [project_id],
        |r| Ok(crate::metrics::Backlog { waiting: r.get(0)?, oldest_created_at_millis: r.get(1)? }),
    )?)
}

/// Deletes messages (with their deliveries and attempts) older than `cutoff` whose deliveries are
/// all finished.
pub fn delete_finished_before(tx: &Tx, cutoff: i64) -> ApiResult<usize> {
    Ok(tx.execute(
        "DELETE FROM webhook_messages WHERE created_at < ?1
         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = webhook_messages.id AND d.status IN (1, 3))",
        [cutoff],
    )?)
}

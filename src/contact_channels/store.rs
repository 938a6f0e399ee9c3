//! SQL of contact channels. The users store reads and writes the primary channel as a user's
//! `primary_email`; everything else about channels is here.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::contact_channels::ContactChannel;
use crate::db::{now_millis, Tx};
use crate::error::ApiResult;

const COLUMNS: &str = "id, user_id, value, is_primary, is_verified, used_for_auth";

fn row(r: &Row) -> rusqlite::Result<ContactChannel> {
    Ok(ContactChannel {
        id: r.get(0)?,
        user_id: r.get(1)?,
        value: r.get(2)?,
        is_primary: r.get(3)?,
        is_verified: r.get(4)?,
        used_for_auth: r.get(5)?,
    })
}

/// Channels of a project, optionally of one user and/or one id, oldest first.
pub fn list(
    conn: &Connection,
    project_id: &str,
    user_id: Option<&str>,
    channel_id: Option<&str>,
) -> ApiResult<Vec<ContactChannel>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM contact_channels
         WHERE project_id = ?1 AND type = 'email' AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR id = ?3)
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![project_id, user_id, channel_id], row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn load(conn: &Connection, project_id: &str, user_id: &str, id: &str) -> ApiResult<Option<ContactChannel>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM contact_channels WHERE project_id = ?1 AND user_id = ?2 AND id = ?3 AND type = 'email'"
        ))?
        .query_row(params![project_id, user_id, id], row)
        .optional()?)
}

/// A user's channel with this value.
pub fn find_by_value(conn: &Connection, user_id: &str, value: &str) -> ApiResult<Option<ContactChannel>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM contact_channels WHERE user_id = ?1 AND type = 'email' AND value = ?2"
        ))?
        .query_row(params![user_id, value], row)
        .optional()?)
}

/// The channel another user (or channel) already signs in with, if any.
pub fn auth_channel_of_value(conn: &Connection, project_id: &str, value: &str) -> ApiResult<Option<ContactChannel>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM contact_channels
             WHERE project_id = ?1 AND type = 'email' AND value = ?2 AND used_for_auth = 1"
        ))?
        .query_row(params![project_id, value], row)
        .optional()?)
}

pub fn insert(tx: &Tx, project_id: &str, c: &ContactChannel) -> ApiResult<()> {
    tx.execute(
        "INSERT INTO contact_channels (id, project_id, user_id, type, value, is_primary, is_verified, used_for_auth, created_at)
         VALUES (?1, ?2, ?3, 'email', ?4, ?5, ?6, ?7, ?8)",
        params![c.id, project_id, c.user_id, c.value, c.is_primary, c.is_verified, c.used_for_auth, now_millis()],
    )?;
    Ok(())
}

pub fn update(tx: &Tx, c: &ContactChannel) -> ApiResult<()> {
    tx.execute(
        "UPDATE contact_channels SET value = ?2, is_primary = ?3, is_verified = ?4, used_for_auth = ?5 WHERE id = ?1",
        params![c.id, c.value, c.is_primary, c.is_verified, c.used_for_auth],
    )?;
    Ok(())
}

pub fn delete(tx: &Tx, id: &str) -> ApiResult<()> {
    tx.execute("DELETE FROM contact_channels WHERE id = ?1", [id])?;
    Ok(())
}

/// Marks a user's channel with this value verified; false if there is none.
pub fn mark_verified(tx: &Tx, user_id: &str, value: &str) -> ApiResult<bool> {
    let n = tx.execute(
        "UPDATE contact_channels SET is_verified = 1 WHERE user_id = ?1 AND type = 'email' AND value = ?2",
        params![user_id, value],
    )?;
    Ok(n > 0)
}

/// The sign-in channel of an address, tried as given and then normalized (spec 10 §0.3).
pub fn find_auth_channel(conn: &Connection, project_id: &str, email: &str) -> ApiResult<Option<ContactChannel>> {
    if let Some(c) = auth_channel_of_value(conn, project_id, email)? {
        return Ok(Some(c));
    }
    match crate::users::email::normalize_email(email) {
        Some(n) if n != email => auth_channel_of_value(conn, project_id, &n),
        _ => Ok(None),
    }
}

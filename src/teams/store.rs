//! SQL of teams and memberships (with the member profiles).

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::db::{json_text, Tx};
use crate::error::ApiResult;
use crate::teams::{Membership, TeamRecord};

const TEAM_COLUMNS: &str = "t.id, t.project_id, t.display_name, t.profile_image_url, t.client_metadata,
    t.client_read_only_metadata, t.server_metadata, t.created_at";

fn team(r: &Row) -> rusqlite::Result<TeamRecord> {
    TeamRecord::from_row(r, 0)?.ok_or(rusqlite::Error::InvalidColumnType(0, "id".into(), rusqlite::types::Type::Null))
}

pub fn load(conn: &Connection, project_id: &str, team_id: &str) -> ApiResult<Option<TeamRecord>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {TEAM_COLUMNS} FROM teams t WHERE t.project_id = ?1 AND t.id = ?2"))?
        .query_row(params![project_id, team_id], team)
        .optional()?)
}

pub fn exists(conn: &Connection, project_id: &str, team_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM teams WHERE project_id = ?1 AND id = ?2")?
        .exists(params![project_id, team_id])?)
}

/// Teams of a project, or of one member, oldest first.
pub fn list(conn: &Connection, project_id: &str, member: Option<&str>) -> ApiResult<Vec<TeamRecord>> {
    let rows = match member {
        Some(user_id) => conn
            .prepare_cached(&format!(
                "SELECT {TEAM_COLUMNS} FROM team_members m JOIN teams t ON t.id = m.team_id
                 WHERE m.user_id = ?1 AND t.project_id = ?2 ORDER BY t.created_at, t.rowid"
            ))?
            .query_map(params![user_id, project_id], team)?
            .collect::<Result<Vec<_>, _>>()?,
        None => conn
            .prepare_cached(&format!(
                "SELECT {TEAM_COLUMNS} FROM teams t WHERE t.project_id = ?1 ORDER BY t.created_at, t.rowid"
            ))?
            .query_map(params![project_id], team)?
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

pub fn insert(tx: &Tx, t: &TeamRecord) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO teams (id, project_id, display_name, profile_image_url, client_metadata,
            client_read_only_metadata, server_metadata, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        t.id,
        t.project_id,
        t.display_name,
        t.profile_image_url,
        json_text(&t.client_metadata),
        json_text(&t.client_read_only_metadata),
        json_text(&t.server_metadata),
        t.created_at
    ])?;
    Ok(())
}

pub fn update(tx: &Tx, t: &TeamRecord) -> ApiResult<()> {
    tx.prepare_cached(
        "UPDATE teams SET display_name = ?2, profile_image_url = ?3, client_metadata = ?4,
            client_read_only_metadata = ?5, server_metadata = ?6 WHERE id = ?1",
    )?
    .execute(params![
        t.id,
        t.display_name,
        t.profile_image_url,
        json_text(&t.client_metadata),
        json_text(&t.client_read_only_metadata),
        json_text(&t.server_metadata)
    ])?;
    Ok(())
}

/// Deletes a team; memberships and their grants go with it (foreign keys).
pub fn delete(tx: &Tx, team_id: &str) -> ApiResult<()> {
    tx.execute("DELETE FROM teams WHERE id = ?1", [team_id])?;
    Ok(())
}

const MEMBER_COLUMNS: &str = "m.team_id, m.user_id, m.display_name, m.profile_image_url";

fn membership(r: &Row) -> rusqlite::Result<Membership> {
    Ok(Membership { team_id: r.get(0)?, user_id: r.get(1)?, display_name: r.get(2)?, profile_image_url: r.get(3)? })
}

pub fn is_member(conn: &Connection, team_id: &str, user_id: &str) -> ApiResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM team_members WHERE team_id = ?1 AND user_id = ?2")?
        .exists(params![team_id, user_id])?)
}

pub fn membership_of(conn: &Connection, team_id: &str, user_id: &str) -> ApiResult<Option<Membership>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM team_members m WHERE m.team_id = ?1 AND m.user_id = ?2"
        ))?
        .query_row(params![team_id, user_id], membership)
        .optional()?)
}

/// Memberships of a project, optionally of one team and/or user, in joining order.
pub fn memberships(
    conn: &Connection,
    project_id: &str,
    team_id: Option<&str>,
    user_id: Option<&str>,
) -> ApiResult<Vec<Membership>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {MEMBER_COLUMNS} FROM team_members m
             WHERE m.project_id = ?1 AND (?2 IS NULL OR m.team_id = ?2) AND (?3 IS NULL OR m.user_id = ?3)
             ORDER BY m.created_at, m.rowid"
        ))?
        .query_map(params![project_id, team_id, user_id], membership)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A user's teams ordered by team creation (for `user.deleted`).
pub fn team_ids_of_user(conn: &Connection, user_id: &str) -> ApiResult<Vec<String>> {
    let rows = conn
        .prepare_cached(
            "SELECT t.id FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = ?1
             ORDER BY t.created_at, t.rowid",
        )?
        .query_map([user_id], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(rows)
}

pub fn add_member(tx: &Tx, project_id: &str, team_id: &str, user_id: &str, now: i64) -> ApiResult<()> {
    tx.prepare_cached("INSERT INTO team_members (project_id, team_id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![project_id, team_id, user_id, now])?;
    Ok(())
}

/// Removes a membership and its grants; false when there was none.
pub fn remove_member(tx: &Tx, team_id: &str, user_id: &str) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM team_members WHERE team_id = ?1 AND user_id = ?2")?
        .execute(params![team_id, user_id])?
        > 0)
}

pub fn update_profile(tx: &Tx, m: &Membership) -> ApiResult<()> {
    tx.prepare_cached(
        "UPDATE team_members SET display_name = ?3, profile_image_url = ?4 WHERE team_id = ?1 AND user_id = ?2",
    )?
    .execute(params![m.team_id, m.user_id, m.display_name, m.profile_image_url])?;
    Ok(())
}

/// A user's teams still called exactly `name` (personal teams to rename after an upgrade).
pub fn teams_of_user_named(conn: &Connection, user_id: &str, name: &str) -> ApiResult<Vec<TeamRecord>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {TEAM_COLUMNS} FROM team_members m JOIN teams t ON t.id = m.team_id
             WHERE m.user_id = ?1 AND t.display_name = ?2"
        ))?
        .query_map(params![user_id, name], team)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

//! SQL of direct permission grants (team and project scope).

use rusqlite::{params, Connection};

use crate::db::Tx;
use crate::error::ApiResult;

/// A direct team grant.
#[derive(Debug, Clone)]
pub struct TeamGrant {
    pub team_id: String,
    pub user_id: String,
    pub permission_id: String,
}

/// Direct team grants of a project, optionally of one team and/or user, by (team, user).
pub fn team_grants(
    conn: &Connection,
    project_id: &str,
    team_id: Option<&str>,
    user_id: Option<&str>,
) -> ApiResult<Vec<TeamGrant>> {
    let mut stmt = conn.prepare_cached(
        "SELECT team_id, user_id, permission_id FROM team_permissions
         WHERE project_id = ?1 AND (?2 IS NULL OR team_id = ?2) AND (?3 IS NULL OR user_id = ?3)
         ORDER BY team_id, user_id",
    )?;
    let rows = stmt
        .query_map(params![project_id, team_id, user_id], |r| {
            Ok(TeamGrant { team_id: r.get(0)?, user_id: r.get(1)?, permission_id: r.get(2)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// The ids granted directly to a member.
pub fn member_grants(conn: &Connection, team_id: &str, user_id: &str) -> ApiResult<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT permission_id FROM team_permissions WHERE team_id = ?1 AND user_id = ?2")?;
    let rows = stmt.query_map(params![team_id, user_id], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Returns false when the grant existed already.
pub fn grant_team(tx: &Tx, project_id: &str, team_id: &str, user_id: &str, permission_id: &str) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT OR IGNORE INTO team_permissions (project_id, team_id, user_id, permission_id) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![project_id, team_id, user_id, permission_id])?
        > 0)
}

pub fn revoke_team(tx: &Tx, team_id: &str, user_id: &str, permission_id: &str) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM team_permissions WHERE team_id = ?1 AND user_id = ?2 AND permission_id = ?3")?
        .execute(params![team_id, user_id, permission_id])?
        > 0)
}

/// Direct project grants as (user, permission), optionally of one user, by user.
pub fn project_grants(conn: &Connection, project_id: &str, user_id: Option<&str>) -> ApiResult<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id, permission_id FROM project_permissions
         WHERE project_id = ?1 AND (?2 IS NULL OR user_id = ?2) ORDER BY user_id",
    )?;
    let rows =
        stmt.query_map(params![project_id, user_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn grant_project(tx: &Tx, project_id: &str, user_id: &str, permission_id: &str) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached(
            "INSERT OR IGNORE INTO project_permissions (project_id, user_id, permission_id) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![project_id, user_id, permission_id])?
        > 0)
}

pub fn revoke_project(tx: &Tx, user_id: &str, permission_id: &str) -> ApiResult<bool> {
    Ok(tx
        .prepare_cached("DELETE FROM project_permissions WHERE user_id = ?1 AND permission_id = ?2")?
        .execute(params![user_id, permission_id])?
        > 0)
}

/// A definition was renamed: every grant of the old id now names the new one.
pub fn rename_grants(tx: &Tx, project_id: &str, from: &str, to: &str) -> ApiResult<()> {
    tx.execute(
        "UPDATE OR REPLACE team_permissions SET permission_id = ?3 WHERE project_id = ?1 AND permission_id = ?2",
        params![project_id, from, to],
    )?;
    tx.execute(
        "UPDATE OR REPLACE project_permissions SET permission_id = ?3 WHERE project_id = ?1 AND permission_id = ?2",
        params![project_id, from, to],
    )?;
    Ok(())
}

/// A definition was deleted: so are its grants.
pub fn delete_grants(tx: &Tx, project_id: &str, id: &str) -> ApiResult<()> {
    tx.execute("DELETE FROM team_permissions WHERE project_id = ?1 AND permission_id = ?2", params![project_id, id])?;
    tx.execute(
        "DELETE FROM project_permissions WHERE project_id = ?1 AND permission_id = ?2",
        params![project_id, id],
    )?;
    Ok(())
}

//! SQL for projects and their key sets.

use rusqlite::{params, Connection, OptionalExtension};

use crate::crypto::{self, SecretHash};
use crate::db::{now_millis, Tx};
use crate::error::ApiResult;
use crate::projects::{KeySet, LiveKeySet, Project, ProjectEntry};

/// Cache table name: committed changes to a project invalidate its entry (key: project id).
pub const TABLE: &str = "projects";

const PROJECT_COLUMNS: &str =
    "id, display_name, description, created_at, is_production_mode, owner_team_id, logo_url, \
     logo_full_url, logo_dark_mode_url, logo_full_dark_mode_url, onboarding_status, config";

fn project_from_row(r: &rusqlite::Row) -> rusqlite::Result<Project> {
    let config: String = r.get(11)?;
    Ok(Project {
        id: r.get(0)?,
        display_name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
        is_production_mode: r.get(4)?,
        owner_team_id: r.get(5)?,
        logo_url: r.get(6)?,
        logo_full_url: r.get(7)?,
        logo_dark_mode_url: r.get(8)?,
        logo_full_dark_mode_url: r.get(9)?,
        onboarding_status: r.get(10)?,
        // A stored config that cannot be read is an error: defaults would silently turn sign-up
        // on and the publishable-key requirement off.
        config: serde_json::from_str(&config)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(e)))?,
    })
}

pub fn load(conn: &Connection, id: &str) -> ApiResult<Option<Project>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"))?;
    Ok(stmt.query_row([id], project_from_row).optional()?)
}

pub fn load_entry(conn: &Connection, id: &str) -> ApiResult<Option<ProjectEntry>> {
    let Some(project) = load(conn, id)? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT expires_at, publishable_client_key_hash, secret_server_key_hash, super_secret_admin_key_hash
         FROM api_key_sets WHERE project_id = ?1 AND manually_revoked_at IS NULL",
    )?;
    let hash = |v: Option<Vec<u8>>| v.and_then(|b| <SecretHash>::try_from(b.as_slice()).ok());
    let key_sets = stmt
        .query_map([id], |r| {
            Ok(LiveKeySet {
                expires_at: r.get(0)?,
                publishable_client: hash(r.get(1)?),
                secret_server: hash(r.get(2)?),
                super_secret_admin: hash(r.get(3)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(ProjectEntry { project, key_sets }))
}

pub fn insert(tx: &Tx, project: &Project) -> ApiResult<()> {
    tx.execute(
        &format!("INSERT INTO projects ({PROJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            project.id,
            project.display_name,
            project.description,
            project.created_at,
            project.is_production_mode,
            project.owner_team_id,
            project.logo_url,
            project.logo_full_url,
            project.logo_dark_mode_url,
            project.logo_full_dark_mode_url,
            project.onboarding_status,
            serde_json::to_string(&project.config).expect("config serializes"),
        ],
    )?;
    Ok(())
}

pub fn update(tx: &Tx, project: &Project) -> ApiResult<()> {
    tx.changed(TABLE, &project.id);
    tx.execute(
        "UPDATE projects SET display_name = ?2, description = ?3, is_production_mode = ?4, owner_team_id = ?5,
            logo_url = ?6, logo_full_url = ?7, logo_dark_mode_url = ?8, logo_full_dark_mode_url = ?9,
            onboarding_status = ?10, config = ?11 WHERE id = ?1",
        params![
            project.id,
            project.display_name,
            project.description,
            project.is_production_mode,
            project.owner_team_id,
            project.logo_url,
            project.logo_full_url,
            project.logo_dark_mode_url,
            project.logo_full_dark_mode_url,
            project.onboarding_status,
            serde_json::to_string(&project.config).expect("config serializes"),
        ],
    )?;
    Ok(())
}

/// Stores a key set; only hashes and the last four characters of each key are kept.
pub fn insert_key_set(
    tx: &Tx,
    project_id: &str,
    key_set_id: &str,
    description: &str,
    expires_at: i64,
    keys: [&str; 3],
) -> ApiResult<()> {
    let [pck, ssk, sak] = keys;
    insert_partial_key_set(tx, project_id, key_set_id, description, expires_at, [Some(pck), Some(ssk), Some(sak)])
}

/// Stores a key set holding only some of the three kinds.
pub fn insert_partial_key_set(
    tx: &Tx,
    project_id: &str,
    key_set_id: &str,
    description: &str,
    expires_at: i64,
    keys: [Option<&str>; 3],
) -> ApiResult<()> {
    let [pck, ssk, sak] = keys;
    let hash = |k: Option<&str>| k.map(|k| crypto::hash_secret(k).to_vec());
    let last4 = |k: Option<&str>| k.map(crypto::last_four);
    tx.changed(TABLE, project_id);
    tx.execute(
        "INSERT INTO api_key_sets (id, project_id, description, created_at, expires_at,
            publishable_client_key_hash, publishable_client_key_last4, secret_server_key_hash, secret_server_key_last4,
            super_secret_admin_key_hash, super_secret_admin_key_last4)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            key_set_id,
            project_id,
            description,
            now_millis(),
            expires_at,
            hash(pck),
            last4(pck),
            hash(ssk),
            last4(ssk),
            hash(sak),
            last4(sak),
        ],
    )?;
    Ok(())
}

pub fn count(conn: &Connection) -> ApiResult<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get(0))?)
}

const KEY_SET_COLUMNS: &str = "id, project_id, description, created_at, expires_at, manually_revoked_at,
    publishable_client_key_last4, secret_server_key_last4, super_secret_admin_key_last4";

fn key_set_from_row(r: &rusqlite::Row) -> rusqlite::Result<KeySet> {
    Ok(KeySet {
        id: r.get(0)?,
        project_id: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        revoked_at: r.get(5)?,
        publishable_client_key_last4: r.get(6)?,
        secret_server_key_last4: r.get(7)?,
        super_secret_admin_key_last4: r.get(8)?,
    })
}

/// A project's key sets, newest first.
pub fn key_sets(conn: &Connection, project_id: &str) -> ApiResult<Vec<KeySet>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {KEY_SET_COLUMNS} FROM api_key_sets WHERE project_id = ?1 ORDER BY created_at DESC, rowid DESC"
        ))?
        .query_map([project_id], key_set_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn key_set(conn: &Connection, project_id: &str, id: &str) -> ApiResult<Option<KeySet>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {KEY_SET_COLUMNS} FROM api_key_sets WHERE project_id = ?1 AND id = ?2"))?
        .query_row(params![project_id, id], key_set_from_row)
        .optional()?)
}

/// Writes a key set's description and revocation time; the project's cached keys are dropped.
pub fn update_key_set(tx: &Tx, k: &KeySet) -> ApiResult<()> {
    tx.changed(TABLE, &k.project_id);
    tx.execute(
        "UPDATE api_key_sets SET description = ?2, manually_revoked_at = ?3 WHERE id = ?1",
        params![k.id, k.description, k.revoked_at],
    )?;
    Ok(())
}

/// Every project, oldest first.
pub fn list(conn: &Connection) -> ApiResult<Vec<Project>> {
    let rows = conn
        .prepare_cached(&format!("SELECT {PROJECT_COLUMNS} FROM projects ORDER BY created_at, rowid"))?
        .query_map([], project_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Where a dashboard user (a user of `internal`) stands towards a project: whether the user still
/// exists, and whether it is a member of the team owning the project. Reads the users and
/// team_members tables: admin access is decided here, below the domains that own them.
pub fn admin_standing(conn: &Connection, project_id: &str, user_id: &str) -> ApiResult<AdminStanding> {
    let user_exists = conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1 AND project_id = ?2")?
        .exists(params![user_id, crate::projects::INTERNAL_PROJECT_ID])?;
    let in_owner_team = conn
        .prepare_cached(
            "SELECT 1 FROM projects p JOIN team_members m ON m.team_id = p.owner_team_id
             WHERE p.id = ?1 AND m.user_id = ?2 AND m.project_id = ?3",
        )?
        .exists(params![project_id, user_id, crate::projects::INTERNAL_PROJECT_ID])?;
    Ok(AdminStanding { user_exists, in_owner_team })
}

/// See [`admin_standing`].
#[derive(Debug, Clone, Copy)]
pub struct AdminStanding {
    pub user_exists: bool,
    pub in_owner_team: bool,
}

/// Projects owned by any of the teams `user_id` is a member of, oldest first.
pub fn owned_by_member(conn: &Connection, user_id: &str) -> ApiResult<Vec<Project>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE owner_team_id IN
               (SELECT team_id FROM team_members WHERE user_id = ?1 AND project_id = ?2)
             ORDER BY created_at, rowid"
        ))?
        .query_map(params![user_id, crate::projects::INTERNAL_PROJECT_ID], project_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Deletes a project and everything in it (foreign keys cascade).
pub fn delete(tx: &Tx, project_id: &str) -> ApiResult<bool> {
    tx.changed(TABLE, project_id);
    Ok(tx.execute("DELETE FROM projects WHERE id = ?1", [project_id])? > 0)
}

/// What the config API last wrote at `level` (`None` when nothing was), and the level's source.
pub fn config_override(
    conn: &Connection,
    project_id: &str,
    level: &str,
) -> ApiResult<Option<(String, Option<String>)>> {
    Ok(conn
        .prepare_cached("SELECT config, source FROM config_overrides WHERE project_id = ?1 AND level = ?2")?
        .query_row(params![project_id, level], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub fn set_config_override(
    tx: &Tx,
    project_id: &str,
    level: &str,
    config: &str,
    source: Option<&str>,
) -> ApiResult<()> {
    tx.prepare_cached(
        "INSERT INTO config_overrides (project_id, level, config, source) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (project_id, level) DO UPDATE SET config = excluded.config, source = excluded.source",
    )?
    .execute(params![project_id, level, config, source])?;
    Ok(())
}

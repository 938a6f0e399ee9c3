//! The SQL of user export and import: whole rows of the user tables, read in pages and written
//! as they are (the bulk path; the API's single-user writes live in the owning domains' stores).

use base64::Engine;
use rusqlite::{params, Connection, OptionalExtension};

use super::{ChannelLine, MembershipLine, OAuthLine, UserLine};
use crate::db::{json_column, json_text, Tx};
use crate::error::ApiResult;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Up to `limit` users of the project after the `(signed_up_at, id)` position, oldest first.
pub fn page(
    conn: &Connection,
    project_id: &str,
    after: Option<(i64, String)>,
    limit: usize,
) -> ApiResult<Vec<UserLine>> {
    let (after_time, after_id) = after.unwrap_or((i64::MIN, String::new()));
    let mut stmt = conn.prepare_cached(
        "SELECT u.id, u.display_name, u.profile_image_url, u.signed_up_at, u.last_active_at, u.client_metadata, \
                u.client_read_only_metadata, u.server_metadata, u.is_anonymous, u.restricted_by_admin, \
                u.restricted_by_admin_reason, u.restricted_by_admin_private_details, u.otp_auth_enabled, \
                u.requires_totp_mfa, u.totp_secret, u.selected_team_id, p.password_hash \
         FROM users u LEFT JOIN password_credentials p ON p.user_id = u.id \
         WHERE u.project_id = ?1 AND (u.signed_up_at, u.id) > (?2, ?3) \
         ORDER BY u.signed_up_at, u.id LIMIT ?4",
    )?;
    let mut users = stmt
        .query_map(params![project_id, after_time, after_id, limit as i64], |r| {
            Ok(UserLine {
                id: r.get(0)?,
                display_name: r.get(1)?,
                profile_image_url: r.get(2)?,
                signed_up_at_millis: r.get(3)?,
                last_active_at_millis: r.get(4)?,
                client_metadata: json_column(r, 5)?,
                client_read_only_metadata: json_column(r, 6)?,
                server_metadata: json_column(r, 7)?,
                is_anonymous: r.get(8)?,
                restricted_by_admin: r.get(9)?,
                restricted_by_admin_reason: r.get(10)?,
                restricted_by_admin_private_details: r.get(11)?,
                otp_auth_enabled: r.get(12)?,
                requires_totp_mfa: r.get(13)?,
                totp_secret_base64: r.get::<_, Option<Vec<u8>>>(14)?.map(|s| B64.encode(s)),
                selected_team_id: r.get(15)?,
                password_hash: r.get(16)?,
                contact_channels: vec![],
                oauth_providers: vec![],
                teams: vec![],
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for user in &mut users {
        fill_children(conn, user)?;
    }
    Ok(users)
}

fn fill_children(conn: &Connection, user: &mut UserLine) -> ApiResult<()> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, type, value, is_primary, is_verified, used_for_auth, created_at FROM contact_channels \
         WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    user.contact_channels = stmt
        .query_map([&user.id], |r| {
            Ok(ChannelLine {
                id: r.get(0)?,
                kind: r.get(1)?,
                value: r.get(2)?,
                is_primary: r.get(3)?,
                is_verified: r.get(4)?,
                used_for_auth: r.get(5)?,
                created_at_millis: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, provider_config_id, provider_account_id, email, allow_sign_in, allow_connected_accounts, created_at \
         FROM oauth_accounts WHERE user_id = ?1 ORDER BY created_at, id",
    )?;
    user.oauth_providers = stmt
        .query_map([&user.id], |r| {
            Ok(OAuthLine {
                id: r.get(0)?,
                provider_config_id: r.get(1)?,
                account_id: r.get(2)?,
                email: r.get(3)?,
                allow_sign_in: r.get(4)?,
                allow_connected_accounts: r.get(5)?,
                created_at_millis: r.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut stmt = conn.prepare_cached(
        "SELECT m.team_id, t.display_name, m.display_name, m.profile_image_url, m.created_at \
         FROM team_members m JOIN teams t ON t.id = m.team_id WHERE m.user_id = ?1 ORDER BY m.created_at, m.team_id",
    )?;
    user.teams = stmt
        .query_map([&user.id], |r| {
            Ok(MembershipLine {
                team_id: r.get(0)?,
                team_display_name: r.get(1)?,
                display_name: r.get(2)?,
                profile_image_url: r.get(3)?,
                joined_at_millis: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(())
}

/// Whether a user with this id exists (in any project: ids are global).
pub fn user_exists(conn: &Connection, user_id: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT project_id FROM users WHERE id = ?1")?
        .query_row([user_id], |r| r.get(0))
        .optional()?)
}

/// Writes one user and everything it carries. Runs inside a savepoint of the caller's batch.
pub fn insert_user(tx: &Tx, project_id: &str, u: &UserLine) -> ApiResult<()> {
    let totp = u.totp_secret_base64.as_deref().map(|s| B64.decode(s).unwrap_or_default());
    tx.prepare_cached(
        "INSERT INTO users (id, project_id, display_name, profile_image_url, signed_up_at, last_active_at, \
             client_metadata, client_read_only_metadata, server_metadata, is_anonymous, restricted_by_admin, \
             restricted_by_admin_reason, restricted_by_admin_private_details, otp_auth_enabled, totp_secret, \
             requires_totp_mfa) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        u.id,
        project_id,
        u.display_name,
        u.profile_image_url,
        u.signed_up_at_millis,
        u.last_active_at_millis.unwrap_or(u.signed_up_at_millis),
        json_text(&u.client_metadata),
        json_text(&u.client_read_only_metadata),
        json_text(&u.server_metadata),
        u.is_anonymous,
        u.restricted_by_admin,
        u.restricted_by_admin_reason,
        u.restricted_by_admin_private_details,
        u.otp_auth_enabled,
        totp,
        u.requires_totp_mfa,
    ])?;
    if let Some(hash) = &u.password_hash {
        tx.prepare_cached("INSERT INTO password_credentials (user_id, password_hash) VALUES (?1, ?2)")?
            .execute(params![u.id, hash])?;
    }
    for c in &u.contact_channels {
        tx.prepare_cached(
            "INSERT INTO contact_channels (id, project_id, user_id, type, value, is_primary, is_verified, used_for_auth, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            c.id,
            project_id,
            u.id,
            c.kind,
            c.value,
            c.is_primary,
            c.is_verified,
            c.used_for_auth,
            c.created_at_millis
        ])?;
    }
    for o in &u.oauth_providers {
        tx.prepare_cached(
            "INSERT INTO oauth_accounts (id, project_id, user_id, provider_config_id, provider_account_id, email, \
                 allow_sign_in, allow_connected_accounts, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            o.id,
            project_id,
            u.id,
            o.provider_config_id,
            o.account_id,
            o.email,
            o.allow_sign_in,
            o.allow_connected_accounts,
            o.created_at_millis
        ])?;
    }
    for t in &u.teams {
        tx.prepare_cached(
            "INSERT INTO teams (id, project_id, display_name, created_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![t.team_id, project_id, t.team_display_name, t.joined_at_millis])?;
        let team_project: String =
            tx.prepare_cached("SELECT project_id FROM teams WHERE id = ?1")?.query_row([&t.team_id], |r| r.get(0))?;
        if team_project != project_id {
            return Err(crate::error::ApiError::bad_request(format!("team {} belongs to another project", t.team_id)));
        }
        tx.prepare_cached(
            "INSERT INTO team_members (project_id, team_id, user_id, display_name, profile_image_url, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            project_id,
            t.team_id,
            u.id,
            t.display_name,
            t.profile_image_url,
            t.joined_at_millis
        ])?;
    }
    if let Some(team) = &u.selected_team_id {
        tx.prepare_cached("UPDATE users SET selected_team_id = ?1 WHERE id = ?2")?.execute(params![team, u.id])?;
    }
    Ok(())
}

/// Whether the project exists.
pub fn project_exists(conn: &Connection, project_id: &str) -> ApiResult<bool> {
    Ok(conn.query_row("SELECT EXISTS (SELECT 1 FROM projects WHERE id = ?1)", [project_id], |r| r.get(0))?)
}

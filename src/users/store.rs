//! SQL for users, their primary e-mail channel and their password credential. A user is read with
//! its selected team's row (a join on `teams`), so `/users/me` stays one cached lookup.

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use crate::db::{json_column, json_text, now_millis, Tx};
use crate::error::{ApiResult, KnownError};
use crate::users::{TeamRecord, UserRecord};

/// Cache table name: committed changes to a user invalidate its cached record (key: user id).
pub const TABLE: &str = "users";

const USER_SELECT: &str =
    "SELECT u.project_id, u.id, u.display_name, u.profile_image_url, u.signed_up_at, u.last_active_at,
    u.client_metadata, u.client_read_only_metadata, u.server_metadata, u.is_anonymous, u.restricted_by_admin,
    u.restricted_by_admin_reason, u.restricted_by_admin_private_details, u.country_code, u.risk_score_bot,
    u.risk_score_free_trial_abuse, u.otp_auth_enabled, u.requires_totp_mfa, u.selected_team_id,
    c.value, COALESCE(c.is_verified, 0), COALESCE(c.used_for_auth, 0),
    EXISTS (SELECT 1 FROM password_credentials p WHERE p.user_id = u.id),
    t.id, t.project_id, t.display_name, t.profile_image_url, t.client_metadata, t.client_read_only_metadata,
    t.server_metadata, t.created_at,
    (SELECT json_group_array(json_array(o.provider_config_id, o.provider_account_id, o.email))
       FROM (SELECT * FROM oauth_accounts WHERE user_id = u.id ORDER BY created_at) o),
    EXISTS (SELECT 1 FROM passkeys k WHERE k.user_id = u.id)
  FROM users u
  LEFT JOIN contact_channels c ON c.user_id = u.id AND c.type = 'email' AND c.is_primary = 1
  LEFT JOIN teams t ON t.id = u.selected_team_id";

fn user_from_row(r: &Row) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        project_id: r.get(0)?,
        id: r.get(1)?,
        display_name: r.get(2)?,
        profile_image_url: r.get(3)?,
        signed_up_at: r.get(4)?,
        last_active_at: r.get(5)?,
        client_metadata: json_column(r, 6)?,
        client_read_only_metadata: json_column(r, 7)?,
        server_metadata: json_column(r, 8)?,
        is_anonymous: r.get(9)?,
        restricted_by_admin: r.get(10)?,
        restricted_by_admin_reason: r.get(11)?,
        restricted_by_admin_private_details: r.get(12)?,
        country_code: r.get(13)?,
        risk_score_bot: r.get(14)?,
        risk_score_free_trial_abuse: r.get(15)?,
        otp_auth_enabled: r.get(16)?,
        requires_totp_mfa: r.get(17)?,
        selected_team_id: r.get(18)?,
        primary_email: r.get(19)?,
        primary_email_verified: r.get(20)?,
        primary_email_auth_enabled: r.get(21)?,
        has_password: r.get(22)?,
        selected_team: TeamRecord::from_row(r, 23)?,
        oauth_providers: oauth_links(r.get_ref(31)?.as_str_or_null()?),
        has_passkey: r.get(32)?,
    })
}

/// The user's OAuth accounts, read as one JSON column (`[[config id, account id, email]…]`).
fn oauth_links(json: Option<&str>) -> Vec<crate::users::OAuthProviderLink> {
    let rows: Vec<(String, String, Option<String>)> =
        json.and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
    rows.into_iter().map(|(id, account_id, email)| crate::users::OAuthProviderLink { id, account_id, email }).collect()
}

pub fn load(conn: &Connection, project_id: &str, user_id: &str) -> ApiResult<Option<UserRecord>> {
    let mut stmt = conn.prepare_cached(&format!("{USER_SELECT} WHERE u.project_id = ?1 AND u.id = ?2"))?;
    Ok(stmt.query_row(params![project_id, user_id], user_from_row).optional()?)
}

/// A user by its (globally unique) id, whatever its project; callers check the project.
pub fn load_any_project(conn: &Connection, user_id: &str) -> ApiResult<Option<UserRecord>> {
    let mut stmt = conn.prepare_cached(&format!("{USER_SELECT} WHERE u.id = ?1"))?;
    Ok(stmt.query_row(params![user_id], user_from_row).optional()?)
}

/// The stored profile image URL of a user (to forget an uploaded image it replaces).
pub fn profile_image_url(conn: &Connection, user_id: &str) -> ApiResult<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT profile_image_url FROM users WHERE id = ?1")?;
    Ok(stmt.query_row([user_id], |r| r.get(0)).optional()?.flatten())
}

/// Users of a project by id, in no particular order (missing ids are left out).
pub fn load_many(conn: &Connection, project_id: &str, ids: &[String]) -> ApiResult<Vec<UserRecord>> {
    let mut users = Vec::with_capacity(ids.len());
    // SQLite allows 32,766 parameters; chunks keep each statement well below that.
    for chunk in ids.chunks(500) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let mut stmt = conn.prepare(&format!("{USER_SELECT} WHERE u.project_id = ? AND u.id IN ({placeholders})"))?;
        let args = std::iter::once(project_id).chain(chunk.iter().map(String::as_str));
        users.extend(stmt.query_map(params_from_iter(args), user_from_row)?.collect::<Result<Vec<_>, _>>()?);
    }
    Ok(users)
}

pub fn require(conn: &Connection, project_id: &str, user_id: &str) -> ApiResult<UserRecord> {
    load(conn, project_id, user_id)?.ok_or_else(|| KnownError::user_not_found().into())
}

pub fn exists(conn: &Connection, project_id: &str, user_id: &str) -> ApiResult<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM users WHERE project_id = ?1 AND id = ?2")?;
    Ok(stmt.exists(params![project_id, user_id])?)
}

/// Filters and paging of `GET /users` (spec 10 §1.2).
pub struct ListQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub desc: bool,
    pub query: Option<String>,
    pub include_restricted: bool,
    pub include_anonymous: bool,
    pub only_anonymous: bool,
    pub require_email_verification: bool,
    /// Only members of this team.
    pub team_id: Option<String>,
}

/// Returns the page and the id of the first user of the next page.
pub fn list(conn: &Connection, project_id: &str, q: &ListQuery) -> ApiResult<(Vec<UserRecord>, Option<String>)> {
    let mut sql = format!("{USER_SELECT} WHERE u.project_id = ?");
    let mut args: Vec<rusqlite::types::Value> = vec![project_id.to_string().into()];
    if q.only_anonymous {
        sql.push_str(" AND u.is_anonymous = 1");
    } else if !q.include_anonymous {
        sql.push_str(" AND u.is_anonymous = 0");
        if !q.include_restricted {
            sql.push_str(" AND u.restricted_by_admin = 0");
            if q.require_email_verification {
                sql.push_str(" AND COALESCE(c.is_verified, 0) = 1");
            }
        }
    }
    if let Some(team_id) = &q.team_id {
        sql.push_str(" AND EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = ? AND m.user_id = u.id)");
        args.push(team_id.clone().into());
    }
    if let Some(text) = q.query.as_deref().filter(|t| !t.is_empty()) {
        let pattern =
            format!("%{}%", text.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        sql.push_str(
            " AND (lower(COALESCE(u.display_name, '')) LIKE ? ESCAPE '\\'
                   OR EXISTS (SELECT 1 FROM contact_channels cc WHERE cc.user_id = u.id AND lower(cc.value) LIKE ? ESCAPE '\\')",
        );
        args.push(pattern.clone().into());
        args.push(pattern.into());
        let id_like: String = text.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
        if uuid::Uuid::parse_str(&id_like).is_ok() {
            sql.push_str(" OR u.id = ?");
            args.push(id_like.to_lowercase().into());
        }
        sql.push(')');
    }
    let (cmp, order) = if q.desc { ("<=", "DESC") } else { (">=", "ASC") };
    if let Some(cursor) = &q.cursor {
        // Keyset paging on (signed_up_at, id); the cursor row itself starts the page.
        sql.push_str(&format!(
            " AND (u.signed_up_at, u.id) {cmp} (SELECT signed_up_at, id FROM users WHERE project_id = ? AND id = ?)"
        ));
        args.push(project_id.to_string().into());
        args.push(cursor.clone().into());
    }
    sql.push_str(&format!(" ORDER BY u.signed_up_at {order}, u.id {order}"));
    if let Some(limit) = q.limit {
        sql.push_str(" LIMIT ?");
        args.push(i64::from(limit + 1).into());
    }
    let mut stmt = conn.prepare(&sql)?;
    let mut users: Vec<UserRecord> =
        stmt.query_map(params_from_iter(args), user_from_row)?.collect::<Result<_, _>>()?;
    let next = match q.limit {
        Some(limit) if users.len() > limit as usize => users.pop().map(|u| u.id),
        _ => None,
    };
    Ok((users, next))
}

/// Ids of a project's users, oldest first, at most `limit`.
pub fn all_ids(conn: &Connection, project_id: &str, limit: usize) -> ApiResult<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM users WHERE project_id = ?1 ORDER BY signed_up_at, id LIMIT ?2")?;
    let ids = stmt.query_map(params![project_id, limit as i64], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// Inserts a bare user row; e-mail, password and the rest are applied by [`super::changes`].
pub fn insert(tx: &Tx, project_id: &str, user_id: &str, is_anonymous: bool) -> ApiResult<()> {
    let now = now_millis();
    tx.prepare_cached(
        "INSERT INTO users (id, project_id, signed_up_at, last_active_at, is_anonymous) VALUES (?1, ?2, ?3, ?3, ?4)",
    )?
    .execute(params![user_id, project_id, now, is_anonymous])?;
    Ok(())
}

pub fn delete(tx: &Tx, project_id: &str, user_id: &str) -> ApiResult<bool> {
    tx.changed(TABLE, user_id);
    Ok(tx.execute("DELETE FROM users WHERE project_id = ?1 AND id = ?2", params![project_id, user_id])? > 0)
}

pub fn set_text(tx: &Tx, user_id: &str, column: &'static str, value: Option<&str>) -> ApiResult<()> {
    tx.execute(&format!("UPDATE users SET {column} = ?2 WHERE id = ?1"), params![user_id, value])?;
    Ok(())
}

pub fn set_json(tx: &Tx, user_id: &str, column: &'static str, value: &Option<serde_json::Value>) -> ApiResult<()> {
    tx.execute(&format!("UPDATE users SET {column} = ?2 WHERE id = ?1"), params![user_id, json_text(value)])?;
    Ok(())
}

pub fn set_int(tx: &Tx, user_id: &str, column: &'static str, value: i64) -> ApiResult<()> {
    tx.execute(&format!("UPDATE users SET {column} = ?2 WHERE id = ?1"), params![user_id, value])?;
    Ok(())
}

pub fn set_totp_secret(tx: &Tx, user_id: &str, secret: Option<&[u8]>, requires_totp_mfa: bool) -> ApiResult<()> {
    tx.execute(
        "UPDATE users SET totp_secret = ?2, requires_totp_mfa = ?3 WHERE id = ?1",
        params![user_id, secret, requires_totp_mfa],
    )?;
    Ok(())
}

pub fn totp_secret(conn: &Connection, user_id: &str) -> ApiResult<Option<Vec<u8>>> {
    let mut stmt = conn.prepare_cached("SELECT totp_secret FROM users WHERE id = ?1")?;
    Ok(stmt.query_row([user_id], |r| r.get(0)).optional()?.flatten())
}

/// Removes the user's passkey (`passkey_auth_enabled: false`).
pub fn delete_passkey(tx: &Tx, user_id: &str) -> ApiResult<()> {
    tx.prepare_cached("DELETE FROM passkeys WHERE user_id = ?1")?.execute([user_id])?;
    Ok(())
}

pub fn touch_last_active(tx: &Tx, user_id: &str, now: i64) -> ApiResult<()> {
    tx.changed(TABLE, user_id);
    tx.prepare_cached("UPDATE users SET last_active_at = ?2 WHERE id = ?1")?.execute(params![user_id, now])?;
    Ok(())
}

// --- passwords -------------------------------------------------------------------------------

pub fn password_hash(conn: &Connection, user_id: &str) -> ApiResult<Option<String>> {
    let mut stmt = conn.prepare_cached("SELECT password_hash FROM password_credentials WHERE user_id = ?1")?;
    Ok(stmt.query_row([user_id], |r| r.get(0)).optional()?)
}

pub fn set_password_hash(tx: &Tx, user_id: &str, hash: Option<&str>) -> ApiResult<()> {
    match hash {
        Some(h) => tx.execute(
            "INSERT INTO password_credentials (user_id, password_hash) VALUES (?1, ?2)
             ON CONFLICT (user_id) DO UPDATE SET password_hash = excluded.password_hash",
            params![user_id, h],
        )?,
        None => tx.execute("DELETE FROM password_credentials WHERE user_id = ?1", [user_id])?,
    };
    Ok(())
}

// --- e-mail contact channels -----------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct EmailChannel {
    pub id: String,
    pub value: String,
    pub is_primary: bool,
    pub is_verified: bool,
    pub used_for_auth: bool,
}

pub fn email_channels(tx: &Connection, user_id: &str) -> ApiResult<Vec<EmailChannel>> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, value, is_primary, is_verified, used_for_auth FROM contact_channels
         WHERE user_id = ?1 AND type = 'email' ORDER BY created_at",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok(EmailChannel {
            id: r.get(0)?,
            value: r.get(1)?,
            is_primary: r.get(2)?,
            is_verified: r.get(3)?,
            used_for_auth: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The user that signs in with this e-mail, tried as given and then normalized (spec 10 §0.3).
pub fn find_auth_user_by_email(conn: &Connection, project_id: &str, email: &str) -> ApiResult<Option<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM contact_channels WHERE project_id = ?1 AND type = 'email' AND value = ?2 AND used_for_auth = 1",
    )?;
    if let Some(id) = stmt.query_row(params![project_id, email], |r| r.get(0)).optional()? {
        return Ok(Some(id));
    }
    match crate::users::email::normalize_email(email) {
        Some(n) if n != email => Ok(stmt.query_row(params![project_id, n], |r| r.get(0)).optional()?),
        _ => Ok(None),
    }
}

/// Whether another channel (not `except_channel_id`) already signs in with this e-mail.
pub fn auth_email_taken(
    tx: &Connection,
    project_id: &str,
    email: &str,
    except_channel_id: Option<&str>,
) -> ApiResult<bool> {
    let mut stmt = tx.prepare_cached(
        "SELECT 1 FROM contact_channels WHERE project_id = ?1 AND type = 'email' AND value = ?2 AND used_for_auth = 1
           AND id IS NOT ?3",
    )?;
    Ok(stmt.exists(params![project_id, email, except_channel_id])?)
}

pub fn insert_email_channel(
    tx: &Tx,
    project_id: &str,
    user_id: &str,
    value: &str,
    is_primary: bool,
    is_verified: bool,
    used_for_auth: bool,
) -> ApiResult<String> {
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO contact_channels (id, project_id, user_id, type, value, is_primary, is_verified, used_for_auth, created_at)
         VALUES (?1, ?2, ?3, 'email', ?4, ?5, ?6, ?7, ?8)",
        params![id, project_id, user_id, value, is_primary, is_verified, used_for_auth, now_millis()],
    )?;
    Ok(id)
}

pub fn update_email_channel(tx: &Tx, channel: &EmailChannel) -> ApiResult<()> {
    tx.execute(
        "UPDATE contact_channels SET is_primary = ?2, is_verified = ?3, used_for_auth = ?4 WHERE id = ?1",
        params![channel.id, channel.is_primary, channel.is_verified, channel.used_for_auth],
    )?;
    Ok(())
}

pub fn demote_primary_emails(tx: &Tx, user_id: &str) -> ApiResult<()> {
    tx.execute("UPDATE contact_channels SET is_primary = 0 WHERE user_id = ?1 AND type = 'email'", [user_id])?;
    Ok(())
}

/// Users whose selected team is `team_id` (their cached records embed the team).
pub fn ids_selecting_team(conn: &Connection, team_id: &str) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT id FROM users WHERE selected_team_id = ?1")?;
    let ids = stmt.query_map([team_id], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// Deselects `team_id` for `user_id` (or for every user when `None`), marking the users changed.
pub fn deselect_team(tx: &Tx, team_id: &str, user_id: Option<&str>) -> ApiResult<()> {
    for id in ids_selecting_team(tx, team_id)? {
        if user_id.is_none_or(|u| u == id) {
            tx.changed(TABLE, &id);
            set_text(tx, &id, "selected_team_id", None)?;
        }
    }
    Ok(())
}

/// Marks a user's cached record stale (e.g. its selected team changed).
pub fn touch(tx: &Tx, user_id: &str) {
    tx.changed(TABLE, user_id);
}

pub fn is_anonymous(conn: &Connection, user_id: &str) -> ApiResult<bool> {
    let mut stmt = conn.prepare_cached("SELECT is_anonymous FROM users WHERE id = ?1")?;
    Ok(stmt.query_row([user_id], |r| r.get(0)).optional()?.unwrap_or(false))
}

// ---- figures for the project overview (`GET /internal/metrics`) ----

/// The non-anonymous users of a project, counted in one pass over their rows: in all, per day of
/// sign-up and of last activity (day index from `since`, a UTC midnight in ms; `days` buckets,
/// earlier days left out) and per country code.
pub struct UserFigures {
    pub total: i64,
    pub signed_up_per_day: Vec<i64>,
    pub active_per_day: Vec<i64>,
    pub per_country: std::collections::BTreeMap<String, i64>,
}

pub fn figures(conn: &Connection, project_id: &str, since: i64, days: usize) -> ApiResult<UserFigures> {
    let mut f = UserFigures {
        total: 0,
        signed_up_per_day: vec![0; days],
        active_per_day: vec![0; days],
        per_country: Default::default(),
    };
    let day = |at: i64| usize::try_from((at - since).div_euclid(86_400_000)).ok().filter(|d| *d < days);
    let mut stmt = conn.prepare_cached(
        "SELECT signed_up_at, last_active_at, country_code FROM users WHERE project_id = ?1 AND is_anonymous = 0",
    )?;
    let mut rows = stmt.query([project_id])?;
    while let Some(r) = rows.next()? {
        f.total += 1;
        if let Some(d) = day(r.get(0)?) {
            f.signed_up_per_day[d] += 1;
        }
        if let Some(d) = day(r.get(1)?) {
            f.active_per_day[d] += 1;
        }
        if let rusqlite::types::ValueRef::Text(code) = r.get_ref(2)? {
            let country = String::from_utf8_lossy(code);
            match f.per_country.get_mut(country.as_ref()) {
                Some(n) => *n += 1,
                None => {
                    f.per_country.insert(country.to_string(), 1);
                }
            }
        }
    }
    Ok(f)
}

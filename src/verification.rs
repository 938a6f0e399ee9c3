//! One-time verification codes (spec 10 §3), shared by every flow that mails or returns a code.
//!
//! A code is the 45-character secret `R`; only its SHA-256 is stored. Every submission counts an
//! attempt against all codes sharing its last 39 characters (the "nonce"), so guessing the short
//! OTP part of a code dies after 20 tries. Checking happens inside the caller's write transaction;
//! the attempt counts must survive a failed check, so checks return the verdict instead of failing
//! the transaction.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use crate::crypto::{hash_secret, random_secret};
use crate::db::Tx;
use crate::error::{ApiResult, KnownError};

pub const CODE_LENGTH: usize = 45;
const NONCE_LENGTH: usize = 39;
pub const MAX_ATTEMPTS: i64 = 20;

/// Code types, as upstream names them.
pub const ONE_TIME_PASSWORD: &str = "ONE_TIME_PASSWORD";
pub const PASSWORD_RESET: &str = "PASSWORD_RESET";
pub const CONTACT_CHANNEL_VERIFICATION: &str = "CONTACT_CHANNEL_VERIFICATION";
/// One-click unsubscribe links (spec 20 §5.7).
pub const EMAIL_UNSUBSCRIBE: &str = "EMAIL_UNSUBSCRIBE";
/// Team invitations (spec 20 §2.4): `data.team_id`, `method.email`.
pub const TEAM_INVITATION: &str = "TEAM_INVITATION";

/// Default lifetime of a mailed code (spec 10 §3).
pub const DEFAULT_LIFETIME_MILLIS: i64 = 7 * 24 * 3600 * 1000;

/// A code that passed the checks: its row id and stored payload.
pub struct ValidCode {
    pub id: String,
    pub data: Value,
    pub method: Value,
}

/// `url` with its `code` query parameter set to `code` (other parameters and the fragment kept).
pub fn link_with_code(url: &str, code: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let (base, query) = before_fragment.split_once('?').unwrap_or((before_fragment, ""));
    let mut params: Vec<&str> =
        query.split('&').filter(|p| !p.is_empty() && !p.starts_with("code=") && *p != "code").collect();
    let code_param = format!("code={code}");
    params.push(&code_param);
    let mut link = format!("{base}?{}", params.join("&"));
    if let Some(f) = fragment {
        link.push('#');
        link.push_str(f);
    }
    link
}

/// Stores a new code and returns it in plain text (the only time it exists unhashed).
pub fn create(
    tx: &Tx,
    project_id: &str,
    kind: &str,
    data: &Value,
    method: &Value,
    lifetime_millis: i64,
    now: i64,
) -> ApiResult<String> {
    create_with_id(tx, project_id, kind, data, method, lifetime_millis, now).map(|(_, code)| code)
}

/// [`create`], also returning the code's row id (invitations are addressed by it).
pub fn create_with_id(
    tx: &Tx,
    project_id: &str,
    kind: &str,
    data: &Value,
    method: &Value,
    lifetime_millis: i64,
    now: i64,
) -> ApiResult<(String, String)> {
    let code = random_secret();
    let id = uuid::Uuid::new_v4().to_string();
    tx.execute(
        "INSERT INTO verification_codes (id, project_id, type, code_hash, nonce_hash, data, method, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            id,
            project_id,
            kind,
            hash_secret(&code).to_vec(),
            hash_secret(&code[CODE_LENGTH - NONCE_LENGTH..]).to_vec(),
            data.to_string(),
            method.to_string(),
            now,
            now + lifetime_millis,
        ],
    )?;
    Ok((id, code))
}

/// The code's length must be exact; it is matched case-insensitively.
pub fn parse(code: &str) -> ApiResult<String> {
    if code.chars().count() != CODE_LENGTH || !code.is_ascii() {
        return Err(KnownError::schema(&format!("body.code must be exactly {CODE_LENGTH} characters")).into());
    }
    Ok(code.to_ascii_lowercase())
}

/// Steps 1–3 of spec 10 §3: find, count the attempt, then not found → expired → used → too many.
/// The outer `Result` is for database failures; the inner one is the verdict.
pub fn check(tx: &Tx, project_id: &str, kind: &str, code: &str, now: i64) -> ApiResult<Result<ValidCode, KnownError>> {
    // Callers `parse` first; a code of another shape cannot exist (and has no nonce to count).
    if code.len() != CODE_LENGTH || !code.is_ascii() {
        return Ok(Err(KnownError::verification_code_not_found()));
    }
    let found = tx
        .query_row(
            "SELECT id, data, expires_at, used_at, attempt_count, method FROM verification_codes
             WHERE project_id = ?1 AND type = ?2 AND code_hash = ?3",
            params![project_id, kind, hash_secret(code).to_vec()],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                ))
            },
        )
        .optional()?;
    tx.execute(
        "UPDATE verification_codes SET attempt_count = attempt_count + 1 WHERE project_id = ?1 AND nonce_hash = ?2",
        params![project_id, hash_secret(&code[CODE_LENGTH - NONCE_LENGTH..]).to_vec()],
    )?;
    let Some((id, data, expires_at, used_at, attempts, method)) = found else {
        return Ok(Err(KnownError::verification_code_not_found()));
    };
    if expires_at <= now {
        return Ok(Err(KnownError::new("VERIFICATION_CODE_EXPIRED", 400, "The verification code has expired.")));
    }
    if used_at.is_some() {
        return Ok(Err(KnownError::new(
            "VERIFICATION_CODE_ALREADY_USED",
            409,
            "The verification code has already been used.",
        )));
    }
    if attempts >= MAX_ATTEMPTS {
        return Ok(Err(KnownError::new(
            "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED",
            400,
            "Too many attempts were made with this code; it is no longer valid.",
        )));
    }
    Ok(Ok(ValidCode {
        id,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
        method: serde_json::from_str(&method).unwrap_or(Value::Null),
    }))
}

/// The project of a code found by its hash alone (links that carry no project, like unsubscribe).
pub fn project_of(conn: &rusqlite::Connection, kind: &str, code: &str) -> ApiResult<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT project_id FROM verification_codes WHERE type = ?1 AND code_hash = ?2",
            params![kind, hash_secret(code).to_vec()],
            |r| r.get(0),
        )
        .optional()?)
}

/// Codes are kept a day past their expiry (so a late submission still reads "expired"), then deleted.
const KEEP_EXPIRED_MILLIS: i64 = 24 * 3600 * 1000;

/// Deletes long-expired codes; returns how many. Run by the housekeeping job.
pub fn delete_expired(tx: &Tx, now: i64) -> ApiResult<usize> {
    Ok(tx.execute("DELETE FROM verification_codes WHERE expires_at < ?1", [now - KEEP_EXPIRED_MILLIS])?)
}

pub fn mark_used(tx: &Tx, id: &str, now: i64) -> ApiResult<()> {
    tx.execute("UPDATE verification_codes SET used_at = ?2 WHERE id = ?1", params![id, now])?;
    Ok(())
}

/// A code that is still usable (unused, unexpired), as listings show it.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub id: String,
    pub data: Value,
    pub method: Value,
    pub expires_at: i64,
}

const PENDING_COLUMNS: &str = "id, data, method, expires_at";

fn pending_row(r: &rusqlite::Row) -> rusqlite::Result<PendingCode> {
    let text = |i: usize| -> rusqlite::Result<Value> {
        Ok(serde_json::from_str(&r.get::<_, String>(i)?).unwrap_or(Value::Null))
    };
    Ok(PendingCode { id: r.get(0)?, data: text(1)?, method: text(2)?, expires_at: r.get(3)? })
}

/// Usable codes of a kind whose `data.<key>` equals `value`, oldest first.
pub fn pending_by_data(
    conn: &rusqlite::Connection,
    project_id: &str,
    kind: &str,
    key: &str,
    value: &str,
    now: i64,
) -> ApiResult<Vec<PendingCode>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PENDING_COLUMNS} FROM verification_codes
         WHERE project_id = ?1 AND type = ?2 AND json_extract(data, '$.' || ?3) = ?4 AND used_at IS NULL AND expires_at > ?5
         ORDER BY created_at, id"
    ))?;
    let rows =
        stmt.query_map(params![project_id, kind, key, value, now], pending_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Usable codes of a kind sent to `email`, oldest first.
pub fn pending_for_email(
    conn: &rusqlite::Connection,
    project_id: &str,
    kind: &str,
    email: &str,
    now: i64,
) -> ApiResult<Vec<PendingCode>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {PENDING_COLUMNS} FROM verification_codes
         WHERE project_id = ?1 AND type = ?2 AND json_extract(method, '$.email') = ?3 AND used_at IS NULL AND expires_at > ?4
         ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map(params![project_id, kind, email, now], pending_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A usable code by its id.
pub fn pending_by_id(
    conn: &rusqlite::Connection,
    project_id: &str,
    kind: &str,
    id: &str,
    now: i64,
) -> ApiResult<Option<PendingCode>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {PENDING_COLUMNS} FROM verification_codes
             WHERE project_id = ?1 AND type = ?2 AND id = ?3 AND used_at IS NULL AND expires_at > ?4"
        ))?
        .query_row(params![project_id, kind, id, now], pending_row)
        .optional()?)
}

/// Marks a code used unless it already is; false when another request took it first.
pub fn take(tx: &Tx, id: &str, now: i64) -> ApiResult<bool> {
    Ok(tx.execute("UPDATE verification_codes SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL", params![id, now])?
        > 0)
}

/// Deletes a code by id; false when there was none.
pub fn delete(tx: &Tx, project_id: &str, kind: &str, id: &str) -> ApiResult<bool> {
    Ok(tx.execute(
        "DELETE FROM verification_codes WHERE project_id = ?1 AND type = ?2 AND id = ?3",
        params![project_id, kind, id],
    )? > 0)
}

/// The e-mail address a code was sent to (`method.email`).
impl ValidCode {
    pub fn email(&self) -> Option<&str> {
        self.method.get("email").and_then(|v| v.as_str())
    }

    pub fn user_id(&self) -> Option<&str> {
        self.data.get("user_id").and_then(|v| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_other_parameters() {
        assert_eq!(link_with_code("http://localhost:3000/cb", "abc"), "http://localhost:3000/cb?code=abc");
        assert_eq!(link_with_code("https://a/cb?x=1&code=old#top", "abc"), "https://a/cb?x=1&code=abc#top");
    }
}

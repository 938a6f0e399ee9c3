//! SQL of the e-mail domain: outbox, development mailbox, notification preferences, custom
//! templates and themes.

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde_json::Value;

use crate::db::Tx;
use crate::emails::{status, Content, NewEmail, OutboxRow, Recipient, ThemeChoice};
use crate::error::ApiResult;

const OUTBOX_COLUMNS: &str = "id, project_id, created_at, recipient, template_id, html, variables, subject, theme_id,
    notification_category_id, is_high_priority, scheduled_at, is_paused, status, attempts, next_attempt_at, last_error,
    skipped_reason, rendered_subject, rendered_html, rendered_text, to_addresses, unsubscribe_link, started_sending_at, sent_at";

fn outbox_row(r: &Row) -> rusqlite::Result<OutboxRow> {
    let recipient: String = r.get(3)?;
    let variables: String = r.get(6)?;
    let to: Option<String> = r.get(21)?;
    Ok(OutboxRow {
        id: r.get(0)?,
        project_id: r.get(1)?,
        created_at: r.get(2)?,
        recipient: serde_json::from_str(&recipient).unwrap_or(Recipient::CustomEmails { emails: vec![] }),
        template_id: r.get(4)?,
        html: r.get(5)?,
        variables: serde_json::from_str(&variables).unwrap_or(Value::Null),
        subject: r.get(7)?,
        theme: ThemeChoice::from_column(r.get(8)?),
        category_id: r.get(9)?,
        is_high_priority: r.get(10)?,
        scheduled_at: r.get(11)?,
        is_paused: r.get(12)?,
        status: r.get(13)?,
        attempts: r.get(14)?,
        next_attempt_at: r.get(15)?,
        last_error: r.get(16)?,
        skipped_reason: r.get(17)?,
        rendered_subject: r.get(18)?,
        rendered_html: r.get(19)?,
        rendered_text: r.get(20)?,
        to_addresses: to.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default(),
        unsubscribe_link: r.get(22)?,
        started_sending_at: r.get(23)?,
        sent_at: r.get(24)?,
    })
}

pub fn insert_outbox(
    tx: &Tx,
    id: &str,
    project_id: &str,
    email: &NewEmail,
    unsubscribe_link: Option<&str>,
    now: i64,
) -> ApiResult<()> {
    let (template_id, html, variables) = match &email.content {
        Content::Template { id, variables } => (Some(id.as_str()), None, variables.clone()),
        Content::Html(html) => (None, Some(html.as_str()), Value::Object(Default::default())),
    };
    let scheduled_at = email.scheduled_at.unwrap_or(now);
    tx.execute(
        "INSERT INTO email_outbox (id, project_id, created_at, recipient, template_id, html, variables, subject, theme_id,
            notification_category_id, is_high_priority, scheduled_at, status, next_attempt_at, unsubscribe_link)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?12, ?14)",
        params![
            id,
            project_id,
            now,
            serde_json::to_string(&email.recipient).expect("recipients serialize"),
            template_id,
            html,
            variables.to_string(),
            email.subject,
            email.theme.to_column(),
            email.category_id,
            email.is_high_priority,
            scheduled_at,
            status::SCHEDULED,
            unsubscribe_link,
        ],
    )?;
    Ok(())
}

pub fn load_outbox(conn: &Connection, project_id: &str, id: &str) -> ApiResult<Option<OutboxRow>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {OUTBOX_COLUMNS} FROM email_outbox WHERE project_id = ?1 AND id = ?2"))?
        .query_row(params![project_id, id], outbox_row)
        .optional()?)
}

/// Rows whose next attempt is due, high priority first.
pub fn due_outbox(conn: &Connection, now: i64, limit: usize) -> ApiResult<Vec<OutboxRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM email_outbox
         WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?1
         ORDER BY is_high_priority DESC, next_attempt_at LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![now, limit as i64], outbox_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// A page of a project's outbox, newest first, optionally one status.
pub fn list_outbox(
    conn: &Connection,
    project_id: &str,
    statuses: &[&str],
    limit: usize,
    before: Option<(i64, String)>,
) -> ApiResult<Vec<OutboxRow>> {
    let (before_at, before_id) = before.unwrap_or((i64::MAX, String::new()));
    let status_filter = if statuses.is_empty() {
        String::new()
    } else {
        format!(" AND status IN ({})", statuses.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(","))
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {OUTBOX_COLUMNS} FROM email_outbox
         WHERE project_id = ?1 AND (created_at < ?2 OR (created_at = ?2 AND id < ?3)){status_filter}
         ORDER BY created_at DESC, id DESC LIMIT ?4"
    ))?;
    let rows = stmt
        .query_map(params![project_id, before_at, before_id, limit as i64], outbox_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Claims a row for delivery: `SENDING`, one attempt more, and a lease: if the process dies while
/// sending, the row comes due again once the lease ends (see `EmailsService::recover`).
pub fn mark_sending(tx: &Tx, id: &str, now: i64, lease_until: i64) -> ApiResult<bool> {
    let n = tx.execute(
        "UPDATE email_outbox SET status = ?2, attempts = attempts + 1, started_sending_at = ?3, next_attempt_at = ?4
         WHERE id = ?1 AND next_attempt_at IS NOT NULL",
        params![id, status::SENDING, now, lease_until],
    )?;
    Ok(n == 1)
}

pub struct Rendering<'a> {
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
    pub to: &'a [String],
}

/// Records a delivery. `variables`, if given, replaces the stored ones (redaction).
pub fn mark_sent(tx: &Tx, id: &str, r: &Rendering, variables: Option<&Value>, now: i64) -> ApiResult<()> {
    tx.execute(
        "UPDATE email_outbox SET status = ?2, sent_at = ?3, next_attempt_at = NULL, last_error = NULL,
            rendered_subject = ?4, rendered_html = ?5, rendered_text = ?6, to_addresses = ?7,
            variables = coalesce(?8, variables)
         WHERE id = ?1",
        params![
            id,
            status::SENT,
            now,
            r.subject,
            r.html,
            r.text,
            serde_json::to_string(r.to).unwrap_or_default(),
            variables.map(|v| v.to_string())
        ],
    )?;
    Ok(())
}

/// A failed attempt: try again at `retry_at`, or give up (`None`) with `SERVER_ERROR`.
pub fn mark_failed(tx: &Tx, id: &str, error: &str, retry_at: Option<i64>) -> ApiResult<()> {
    let new_status = if retry_at.is_some() { status::SCHEDULED } else { status::SERVER_ERROR };
    tx.execute(
        "UPDATE email_outbox SET status = ?2, next_attempt_at = ?3, last_error = ?4 WHERE id = ?1",
        params![id, new_status, retry_at, error],
    )?;
    Ok(())
}

pub fn mark_final(
    tx: &Tx,
    id: &str,
    new_status: &str,
    error: Option<&str>,
    skipped_reason: Option<&str>,
) -> ApiResult<()> {
    tx.execute(
        "UPDATE email_outbox SET status = ?2, next_attempt_at = NULL, last_error = ?3, skipped_reason = ?4 WHERE id = ?1",
        params![id, new_status, error, skipped_reason],
    )?;
    Ok(())
}

/// Gives a claimed row that was not attempted back to the queue (shutdown), uncounted.
pub fn release(tx: &Tx, id: &str, now: i64) -> ApiResult<()> {
    tx.execute(
        "UPDATE email_outbox SET status = ?2, attempts = attempts - 1, next_attempt_at = ?3 WHERE id = ?1 AND status = ?4",
        params![id, status::SCHEDULED, now, status::SENDING],
    )?;
    Ok(())
}

/// Rows left `SENDING` by a process that stopped mid-delivery.
pub fn interrupted(conn: &Connection) -> ApiResult<Vec<String>> {
    let mut stmt = conn.prepare("SELECT id FROM email_outbox WHERE status = ?1")?;
    let ids = stmt.query_map([status::SENDING], |r| r.get(0))?.collect::<Result<Vec<String>, _>>()?;
    Ok(ids)
}

/// Applies an admin's edit of an outbox row.
pub fn update_outbox(tx: &Tx, row: &OutboxRow) -> ApiResult<()> {
    tx.execute(
        "UPDATE email_outbox SET recipient = ?2, html = ?3, variables = ?4, theme_id = ?5, scheduled_at = ?6,
            is_paused = ?7, status = ?8, next_attempt_at = ?9, skipped_reason = ?10, last_error = ?11
         WHERE id = ?1",
        params![
            row.id,
            serde_json::to_string(&row.recipient).expect("recipients serialize"),
            row.html,
            row.variables.to_string(),
            row.theme.to_column(),
            row.scheduled_at,
            row.is_paused,
            row.status,
            row.next_attempt_at,
            row.skipped_reason,
            row.last_error,
        ],
    )?;
    Ok(())
}

/// How many rows wait for delivery, and since when (`/metrics`; the partial index `email_outbox_due`).
pub fn backlog(conn: &Connection) -> ApiResult<crate::metrics::Backlog> {
    Ok(conn.query_row(
        "SELECT count(*), min(created_at) FROM email_outbox WHERE next_attempt_at IS NOT NULL",
        [],
        |r| Ok(crate::metrics::Backlog { waiting: r.get(0)?, oldest_created_at_millis: r.get(1)? }),
    )?)
}

/// [`backlog`] of one project.
pub fn project_backlog(conn: &Connection, project_id: &str) -> ApiResult<crate::metrics::Backlog> {
    Ok(conn.query_row(
        "SELECT count(*), min(created_at) FROM email_outbox WHERE project_id = ?1 AND next_attempt_at IS NOT NULL",
        [project_id],
        |r| Ok(crate::metrics::Backlog { waiting: r.get(0)?, oldest_created_at_millis: r.get(1)? }),
    )?)
}

// ---- development mailbox ----

#[derive(Debug, Clone)]
pub struct MailboxMessage {
    pub id: i64,
    pub mailbox: String,
    pub from_name: String,
    pub from_address: String,
    pub to_address: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub headers: Value,
    pub created_at: i64,
}

pub struct NewMailboxMessage<'a> {
    pub project_id: &'a str,
    pub outbox_id: &'a str,
    pub from_name: &'a str,
    pub from_address: &'a str,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub headers: &'a Value,
}

/// Deletes finished rows (sent, skipped, failed for good) created before `before`.
pub fn delete_finished_before(tx: &Tx, before: i64) -> ApiResult<usize> {
    Ok(tx.execute(
        "DELETE FROM email_outbox WHERE next_attempt_at IS NULL AND status IN (?1, ?2, ?3, ?4) AND created_at < ?5",
        params![status::SENT, status::SKIPPED, status::SERVER_ERROR, status::RENDER_ERROR, before],
    )?)
}

/// Keeps the newest `keep` messages of the development mailbox; returns how many were deleted.
pub fn trim_mailbox(tx: &Tx, keep: i64) -> ApiResult<usize> {
    Ok(tx.execute("DELETE FROM dev_mailbox WHERE id <= (SELECT max(id) FROM dev_mailbox) - ?1", [keep])?)
}

/// The Inbucket mailbox name of an address: its local part, lower-cased.
pub fn mailbox_name(address: &str) -> String {
    address.split('@').next().unwrap_or(address).to_lowercase()
}

pub fn insert_mailbox(tx: &Tx, m: &NewMailboxMessage, now: i64) -> ApiResult<i64> {
    tx.execute(
        "INSERT INTO dev_mailbox (project_id, outbox_id, mailbox, from_name, from_address, to_address, subject,
            text_body, html_body, headers, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            m.project_id,
            m.outbox_id,
            mailbox_name(m.to_address),
            m.from_name,
            m.from_address,
            m.to_address,
            m.subject,
            m.text,
            m.html,
            m.headers.to_string(),
            now
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

const MAILBOX_COLUMNS: &str =
    "id, mailbox, from_name, from_address, to_address, subject, text_body, html_body, headers, created_at";

fn mailbox_row(r: &Row) -> rusqlite::Result<MailboxMessage> {
    let headers: String = r.get(8)?;
    Ok(MailboxMessage {
        id: r.get(0)?,
        mailbox: r.get(1)?,
        from_name: r.get(2)?,
        from_address: r.get(3)?,
        to_address: r.get(4)?,
        subject: r.get(5)?,
        text: r.get(6)?,
        html: r.get(7)?,
        headers: serde_json::from_str(&headers).unwrap_or(Value::Null),
        created_at: r.get(9)?,
    })
}

/// Messages, oldest first: of a project (optionally to one address), or of an Inbucket mailbox.
pub fn list_mailbox(
    conn: &Connection,
    project_id: Option<&str>,
    mailbox: Option<&str>,
    to: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<MailboxMessage>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {MAILBOX_COLUMNS} FROM (
            SELECT * FROM dev_mailbox
            WHERE (?1 IS NULL OR project_id = ?1) AND (?2 IS NULL OR mailbox = ?2) AND (?3 IS NULL OR lower(to_address) = ?3)
            ORDER BY id DESC LIMIT ?4)
         ORDER BY id"
    ))?;
    let rows =
        stmt.query_map(params![project_id, mailbox, to, limit as i64], mailbox_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn load_mailbox(conn: &Connection, project_id: Option<&str>, id: i64) -> ApiResult<Option<MailboxMessage>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {MAILBOX_COLUMNS} FROM dev_mailbox WHERE id = ?2 AND (?1 IS NULL OR project_id = ?1)"
        ))?
        .query_row(params![project_id, id], mailbox_row)
        .optional()?)
}

// ---- notification preferences ----

pub fn preference(conn: &Connection, user_id: &str, category_id: &str) -> ApiResult<Option<bool>> {
    Ok(conn
        .prepare_cached("SELECT enabled FROM notification_preferences WHERE user_id = ?1 AND category_id = ?2")?
        .query_row(params![user_id, category_id], |r| r.get(0))
        .optional()?)
}

pub fn set_preference(tx: &Tx, user_id: &str, category_id: &str, enabled: bool) -> ApiResult<()> {
    tx.execute(
        "INSERT INTO notification_preferences (user_id, category_id, enabled) VALUES (?1, ?2, ?3)
         ON CONFLICT (user_id, category_id) DO UPDATE SET enabled = excluded.enabled",
        params![user_id, category_id, enabled],
    )?;
    Ok(())
}

// ---- custom templates and themes ----

#[derive(Debug, Clone)]
pub struct CustomSource {
    pub id: String,
    pub display_name: String,
    pub source: String,
    /// Templates only: the theme choice column.
    pub theme_id: Option<String>,
}

fn table(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Template => "email_templates",
        SourceKind::Theme => "email_themes",
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SourceKind {
    Template,
    Theme,
}

pub fn list_sources(conn: &Connection, kind: SourceKind, project_id: &str) -> ApiResult<Vec<CustomSource>> {
    let theme = if kind == SourceKind::Template { "theme_id" } else { "NULL" };
    let mut stmt = conn.prepare(&format!(
        "SELECT id, display_name, source, {theme} FROM {} WHERE project_id = ?1 ORDER BY created_at, id",
        table(kind)
    ))?;
    let rows = stmt
        .query_map([project_id], |r| {
            Ok(CustomSource { id: r.get(0)?, display_name: r.get(1)?, source: r.get(2)?, theme_id: r.get(3)? })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub fn load_source(conn: &Connection, kind: SourceKind, project_id: &str, id: &str) -> ApiResult<Option<CustomSource>> {
    let theme = if kind == SourceKind::Template { "theme_id" } else { "NULL" };
    Ok(conn
        .prepare(&format!(
            "SELECT id, display_name, source, {theme} FROM {} WHERE project_id = ?1 AND id = ?2",
            table(kind)
        ))?
        .query_row(params![project_id, id], |r| {
            Ok(CustomSource { id: r.get(0)?, display_name: r.get(1)?, source: r.get(2)?, theme_id: r.get(3)? })
        })
        .optional()?)
}

pub fn upsert_source(tx: &Tx, kind: SourceKind, project_id: &str, s: &CustomSource, now: i64) -> ApiResult<()> {
    match kind {
        SourceKind::Template => tx.execute(
            "INSERT INTO email_templates (id, project_id, display_name, source, theme_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, source = excluded.source,
                theme_id = excluded.theme_id",
            params![s.id, project_id, s.display_name, s.source, s.theme_id, now],
        )?,
        SourceKind::Theme => tx.execute(
            "INSERT INTO email_themes (id, project_id, display_name, source, created_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, source = excluded.source",
            params![s.id, project_id, s.display_name, s.source, now],
        )?,
    };
    Ok(())
}

pub fn delete_source(tx: &Tx, kind: SourceKind, project_id: &str, id: &str) -> ApiResult<bool> {
    let n =
        tx.execute(&format!("DELETE FROM {} WHERE project_id = ?1 AND id = ?2", table(kind)), params![project_id, id])?;
    Ok(n == 1)
}

//! E-mail rules and transactions: putting mail in the outbox (inside the caller's transaction),
//! the delivery job, and what the e-mail endpoints do.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::db::{now_millis, Db, Tx};
use crate::emails::delivery::{theme_source, Deliverer};
use crate::emails::store::{self, CustomSource, MailboxMessage, SourceKind};
use crate::emails::templates::{self, RenderContext, Rendered};
use crate::emails::{category, skipped, status, Content, NewEmail, OutboxRow, Recipient, ThemeChoice, CATEGORIES};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::jobs::Jobs;
use crate::mail::{self, OutgoingEmail, SmtpSettings};
use crate::projects::Project;
use crate::users::store as user_store;
use crate::verification;

/// Lifetime of an unsubscribe link (spec 20 §5.7).
const UNSUBSCRIBE_LIFETIME_MILLIS: i64 = 30 * 24 * 3600 * 1000;
/// How long finished outbox rows (the sent-mail log) are kept.
const OUTBOX_KEEP_MILLIS: i64 = 30 * 24 * 3600 * 1000;
/// Messages the development mailbox keeps (the newest).
const MAILBOX_KEEP: i64 = 10_000;
/// How often expired codes and old development-mailbox messages are deleted.
const HOUSEKEEPING_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// Recipients of one `send-email` call by `user_ids`, and by `all_users` (all in one transaction).
pub const MAX_RECIPIENTS_PER_SEND: usize = 10_000;
const MAX_ALL_USERS: usize = 100_000;

pub struct EmailsService {
    infra: Arc<Infra>,
    deliverer: Arc<Deliverer>,
}

/// A notification preference as the API shows it.
pub struct Preference {
    pub category_id: &'static str,
    pub category_name: &'static str,
    pub enabled: bool,
    pub can_disable: bool,
}

/// What `GET /emails/unsubscribe-link` answers.
pub enum Unsubscribed {
    Now,
    Already,
}

impl EmailsService {
    pub fn new(infra: Arc<Infra>) -> Self {
        let deliverer = Arc::new(Deliverer::new(infra.clone()));
        infra.metrics.register_backlog("email_outbox", store::backlog);
        EmailsService { infra, deliverer }
    }

    /// Whether mail of `shared` projects goes to the development mailbox.
    pub fn uses_dev_mailbox(&self) -> bool {
        self.deliverer.uses_dev_mailbox()
    }

    /// The delivery worker (its first round resumes rows a stopped process left behind; all of its
    /// database work runs off the async executor) and the housekeeping job.
    pub fn register_jobs(&self, jobs: &Jobs) {
        let deliverer = self.deliverer.clone();
        // No last round at shutdown: the rows are durable and the next start delivers them.
        jobs.every_until_stop("email-delivery", deliverer.poll_interval(), move || {
            let deliverer = deliverer.clone();
            async move {
                if let Err(e) = tokio::task::spawn_blocking(move || deliverer.run_due()).await {
                    tracing::error!(error = %e, "e-mail delivery worker failed");
                }
            }
        });
        let db = self.infra.db.clone();
        jobs.every_until_stop("email-housekeeping", HOUSEKEEPING_EVERY, move || {
            let db = db.clone();
            async move {
                match tokio::task::spawn_blocking(move || housekeeping(&db)).await {
                    Ok(Ok(h)) if h != Housekeeping::default() => tracing::info!(
                        codes = h.codes,
                        mailbox_messages = h.mailbox_messages,
                        outbox_rows = h.outbox_rows,
                        "deleted expired codes, old development-mailbox messages and old outbox rows"
                    ),
                    Ok(Err(e)) => tracing::error!(error = %e, "housekeeping failed"),
                    _ => {}
                }
            }
        });
    }

    /// Delivers every due row now (tools and tests that run without background jobs).
    pub async fn deliver_due(&self) -> usize {
        let deliverer = self.deliverer.clone();
        tokio::task::spawn_blocking(move || deliverer.run_due()).await.unwrap_or(0)
    }

    /// Puts one e-mail in the outbox, inside the caller's transaction. Returns the row id.
    pub fn enqueue_in(&self, tx: &Tx, project_id: &str, email: NewEmail) -> ApiResult<String> {
        let now = now_millis();
        let id = uuid::Uuid::new_v4().to_string();
        let unsubscribe_link = match (email.recipient.user_id(), category(email.category_id)) {
            (Some(user_id), Some(cat)) if cat.can_disable => {
                let code = verification::create(
                    tx,
                    project_id,
                    verification::EMAIL_UNSUBSCRIBE,
                    &json!({ "user_id": user_id, "notification_category_id": cat.id }),
                    &json!({}),
                    UNSUBSCRIBE_LIFETIME_MILLIS,
                    now,
                )?;
                Some(format!("{}/api/v1/emails/unsubscribe-link?code={code}", self.infra.tokens.base_url))
            }
            _ => None,
        };
        store::insert_outbox(tx, &id, project_id, &email, unsubscribe_link.as_deref(), now)?;
        Ok(id)
    }

    /// `POST /emails/send-email`: one outbox row per recipient, all in one transaction.
    /// `user_ids = None` means every user of the project.
    pub async fn send_email(
        self: &Arc<Self>,
        project: &Project,
        user_ids: Option<Vec<String>>,
        template: NewEmail,
    ) -> ApiResult<Vec<String>> {
        let (me, project_id) = (self.clone(), project.id.clone());
        self.infra
            .db
            .write(move |tx| {
                if let Content::Template { id, .. } = &template.content {
                    if templates::builtin_template(id).is_none()
                        && store::load_source(tx, SourceKind::Template, &project_id, id)?.is_none()
                    {
                        return Err(ApiError::bad_request("No template found with given template_id"));
                    }
                }
                let ids = match user_ids {
                    Some(ids) => {
                        for id in &ids {
                            if uuid::Uuid::parse_str(id).is_err() || !user_store::exists(tx, &project_id, id)? {
                                return Err(KnownError::user_id_does_not_exist(id).into());
                            }
                        }
                        ids
                    }
                    None => {
                        let ids = user_store::all_ids(tx, &project_id, MAX_ALL_USERS + 1)?;
                        if ids.len() > MAX_ALL_USERS {
                            return Err(ApiError::bad_request(format!(
                                "all_users reaches at most {MAX_ALL_USERS} users per call; send to larger audiences in batches of user_ids"
                            )));
                        }
                        ids
                    }
                };
                for user_id in &ids {
                    let mut email = template.clone();
                    email.recipient = Recipient::UserPrimaryEmail { user_id: user_id.clone() };
                    me.enqueue_in(tx, &project_id, email)?;
                }
                Ok(ids)
            })
            .await
    }

    // ---- outbox ----

    pub async fn outbox_page(
        &self,
        project_id: &str,
        statuses: Vec<&'static str>,
        limit: usize,
        cursor: Option<(i64, String)>,
    ) -> ApiResult<Vec<OutboxRow>> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list_outbox(c, &project_id, &statuses, limit, cursor)).await
    }

    pub async fn outbox_row(&self, project_id: &str, id: &str) -> ApiResult<OutboxRow> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.infra.db.read(move |c| store::load_outbox(c, &project_id, &id)).await?.ok_or_else(email_not_found)
    }

    /// `PATCH /emails/outbox/{id}`: edits a row that has not gone out yet.
    pub async fn update_outbox(
        &self,
        project_id: &str,
        id: &str,
        change: impl FnOnce(&mut OutboxRow) -> ApiResult<()> + Send + 'static,
    ) -> ApiResult<OutboxRow> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.infra
            .db
            .write(move |tx| {
                let mut row = store::load_outbox(tx, &project_id, &id)?.ok_or_else(email_not_found)?;
                if !status::editable(&row.status) {
                    return Err(KnownError::new(
                        "EMAIL_NOT_EDITABLE",
                        400,
                        format!("The e-mail can no longer be changed: it is {}.", row.status),
                    )
                    .with_details(json!({ "email_id": row.id, "status": row.status }))
                    .into());
                }
                change(&mut row)?;
                if row.skipped_reason.as_deref() == Some(skipped::MANUALLY_CANCELLED) {
                    row.status = status::SKIPPED.into();
                    row.next_attempt_at = None;
                } else if row.is_paused {
                    // Out of the worker's queue until resumed.
                    row.status = status::PAUSED.into();
                    row.next_attempt_at = None;
                } else {
                    // Edited or resumed: (re)scheduled, with a fresh error state.
                    row.status = status::SCHEDULED.into();
                    row.next_attempt_at = Some(row.scheduled_at.max(now_millis()));
                    row.last_error = None;
                }
                store::update_outbox(tx, &row)?;
                Ok(row)
            })
            .await
    }

    // ---- notification preferences and unsubscribe ----

    pub async fn preferences(&self, user_id: &str) -> ApiResult<Vec<Preference>> {
        let user_id = user_id.to_string();
        self.infra
            .db
            .read(move |c| {
                CATEGORIES
                    .iter()
                    .map(|cat| {
                        Ok(Preference {
                            category_id: cat.id,
                            category_name: cat.name,
                            enabled: store::preference(c, &user_id, cat.id)?.unwrap_or(cat.default_enabled),
                            can_disable: cat.can_disable,
                        })
                    })
                    .collect()
            })
            .await
    }

    pub async fn set_preference(&self, user_id: &str, category_id: &'static str, enabled: bool) -> ApiResult<()> {
        let user_id = user_id.to_string();
        self.infra.db.write(move |tx| store::set_preference(tx, &user_id, category_id, enabled)).await
    }

    /// One-click unsubscribe: the code names the user and the category.
    pub async fn unsubscribe(&self, code: String) -> ApiResult<Unsubscribed> {
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                // The code's project is not known from the link, so it is found by its hash alone.
                let Some(project_id) = verification::project_of(tx, verification::EMAIL_UNSUBSCRIBE, &code)? else {
                    return Ok(Err(KnownError::verification_code_not_found().into()));
                };
                let valid = match verification::check(tx, &project_id, verification::EMAIL_UNSUBSCRIBE, &code, now)? {
                    Ok(v) => v,
                    Err(e) if e.code == "VERIFICATION_CODE_ALREADY_USED" => return Ok(Ok(Unsubscribed::Already)),
                    Err(e) => return Ok(Err(e.into())),
                };
                verification::mark_used(tx, &valid.id, now)?;
                let category_id = valid.data.get("notification_category_id").and_then(|v| v.as_str());
                if let (Some(user_id), Some(cat)) = (valid.user_id(), category_id.and_then(category)) {
                    if user_store::exists(tx, &project_id, user_id)? {
                        store::set_preference(tx, user_id, cat.id, false)?;
                    }
                }
                Ok(Ok(Unsubscribed::Now))
            })
            .await?;
        outcome
    }

    // ---- development mailbox ----

    pub async fn mailbox(
        &self,
        project_id: Option<String>,
        mailbox: Option<String>,
        to: Option<String>,
        limit: usize,
    ) -> ApiResult<Vec<MailboxMessage>> {
        self.infra
            .db
            .read(move |c| store::list_mailbox(c, project_id.as_deref(), mailbox.as_deref(), to.as_deref(), limit))
            .await
    }

    pub async fn mailbox_message(&self, project_id: Option<String>, id: i64) -> ApiResult<Option<MailboxMessage>> {
        self.infra.db.read(move |c| store::load_mailbox(c, project_id.as_deref(), id)).await
    }

    // ---- test e-mail ----

    /// `POST /internal/send-test-email`: one attempt, no outbox; the outcome is reported, not raised.
    pub async fn send_test_email(
        &self,
        settings: SmtpSettings,
        sender_name: String,
        sender_email: String,
        recipient: String,
    ) -> Result<(), String> {
        let email = OutgoingEmail {
            message_id: format!("<test-{}@stackd>", uuid::Uuid::new_v4()),
            from_name: sender_name,
            from_address: sender_email,
            to: vec![recipient],
            subject: "Test Email from Stack Auth".into(),
            html: "<p>This is a test e-mail from stackd. Your e-mail settings work.</p>".into(),
            text: "This is a test e-mail from stackd. Your e-mail settings work.".into(),
            unsubscribe_link: None,
        };
        tokio::task::spawn_blocking(move || {
            let transport = settings.transport(false)?;
            mail::send(&transport, &email)
        })
        .await
        .unwrap_or_else(|e| Err(e.to_string()))
    }

    // ---- templates and themes ----

    pub async fn sources(&self, kind: SourceKind, project_id: &str) -> ApiResult<Vec<CustomSource>> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list_sources(c, kind, &project_id)).await
    }

    pub async fn source(&self, kind: SourceKind, project_id: &str, id: &str) -> ApiResult<Option<CustomSource>> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.infra.db.read(move |c| store::load_source(c, kind, &project_id, &id)).await
    }

    pub async fn save_source(&self, kind: SourceKind, project_id: &str, source: CustomSource) -> ApiResult<()> {
        let project_id = project_id.to_string();
        self.infra.db.write(move |tx| store::upsert_source(tx, kind, &project_id, &source, now_millis())).await
    }

    pub async fn delete_source(&self, kind: SourceKind, project_id: &str, id: &str) -> ApiResult<bool> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.infra.db.write(move |tx| store::delete_source(tx, kind, &project_id, &id)).await
    }

    /// Renders a template source in a theme for a preview (no user; sample variables allowed).
    pub async fn preview(
        &self,
        project: &Project,
        template: String,
        theme: ThemeChoice,
        theme_source_override: Option<String>,
        variables: Value,
    ) -> ApiResult<Rendered> {
        let project = project.clone();
        self.infra
            .db
            .read(move |c| {
                let theme = match theme_source_override {
                    Some(t) => Some(t),
                    None => theme_source(c, &project, &theme)?,
                };
                let ctx = RenderContext {
                    project_display_name: project.display_name.clone(),
                    project_logo_url: project.logo_url.clone(),
                    project_logo_full_url: project.logo_full_url.clone(),
                    project_logo_dark_mode_url: project.logo_dark_mode_url.clone(),
                    project_logo_full_dark_mode_url: project.logo_full_dark_mode_url.clone(),
                    variables: variables.as_object().cloned().unwrap_or_default(),
                    ..Default::default()
                };
                Ok(templates::render(&template, theme.as_deref(), &ctx, None)?)
            })
            .await
    }
}

/// What one housekeeping round deleted.
#[derive(Debug, Default, PartialEq)]
pub struct Housekeeping {
    pub codes: usize,
    pub mailbox_messages: usize,
    pub outbox_rows: usize,
}

/// Deletes verification codes a day past their expiry, all but the newest development-mailbox
/// messages, and finished outbox rows older than 30 days, so no table grows without end.
pub fn housekeeping(db: &Db) -> ApiResult<Housekeeping> {
    let now = now_millis();
    db.write_now(|tx| {
        Ok(Housekeeping {
            codes: verification::delete_expired(tx, now)?,
            mailbox_messages: store::trim_mailbox(tx, MAILBOX_KEEP)?,
            outbox_rows: store::delete_finished_before(tx, now - OUTBOX_KEEP_MILLIS)?,
        })
    })
}

pub fn email_not_found() -> ApiError {
    ApiError::plain(poem::http::StatusCode::NOT_FOUND, "Email not found")
}

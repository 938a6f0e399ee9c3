//! E-mail endpoints (spec 20 §5.4–§5.8): send-email, the outbox, notification preferences and
//! unsubscribe links, the sent-mail log, the test e-mail. Templates and themes: `templates_api.rs`.
//!
//! A deliberate difference from upstream (in the README): `send-email` also works on the `shared`
//! e-mail server, which on a self-hosted server is the operator's.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Html, Json};
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use crate::emails::service::{Unsubscribed, MAX_RECIPIENTS_PER_SEND};
use crate::emails::templates;
use crate::emails::{
    category, status, Content, EmailsService, NewEmail, OutboxRow, Recipient, ThemeChoice, CATEGORIES,
};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::mail::SmtpSettings;
use crate::projects::access::{AdminAuth, AnyAuth, ClientAuth, ServerAuth};
use crate::users::UsersService;
use crate::web::Tag;

pub struct EmailsApi {
    pub emails: Arc<EmailsService>,
    pub users: Arc<UsersService>,
}

/// `POST /emails/send-email`: recipients (`user_ids` or `all_users`) and exactly one content
/// variant (`html`, or `template_id` with `variables`).
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendEmailBody {
    /// Users to mail (each at their primary address, resolved at delivery). Excludes `all_users`.
    pub user_ids: Option<Vec<String>>,
    /// `true`: every user of the project. Excludes `user_ids`.
    pub all_users: Option<bool>,
    /// Replaces the template's subject.
    pub subject: Option<String>,
    /// `Transactional` or `Marketing` (case-sensitive). Default: `Transactional`.
    pub notification_category_name: Option<String>,
    /// A theme id, `false` for no theme, or `null` / absent for the project's theme.
    pub theme_id: Option<Value>,
    pub is_high_priority: Option<bool>,
    /// When to send, milliseconds since the epoch. Default: now.
    pub scheduled_at_millis: Option<i64>,
    /// Raw HTML body (variant A).
    pub html: Option<String>,
    /// A built-in or custom template (variant B).
    pub template_id: Option<String>,
    /// Variables for the template.
    pub variables: Option<Value>,
    /// A draft (variant C). stackd keeps no drafts, so any id is answered with `No draft found`.
    pub draft_id: Option<String>,
}

#[derive(Object)]
pub struct SendEmailResult {
    pub user_id: String,
}

#[derive(Object)]
pub struct SendEmailResults {
    /// One entry per recipient, in request order. The mail is only queued: see the outbox.
    pub results: Vec<SendEmailResult>,
}

/// An outbox row (upstream's `email-outbox.ts` read shape; statuses upper-case as upstream sends them).
#[derive(Object)]
pub struct OutboxEmail {
    pub id: String,
    pub created_at_millis: i64,
    pub updated_at_millis: i64,
    /// The template's or the raw HTML body's source (minijinja HTML).
    pub tsx_source: String,
    /// The theme: an id, `none`, or null for the project's theme.
    pub theme_id: Option<String>,
    /// Recipient: `{type: "user-primary-email", user_id}`, `{type: "user-custom-emails", user_id, emails}`
    /// or `{type: "custom-emails", emails}`.
    pub to: Value,
    pub variables: Value,
    pub skip_deliverability_check: bool,
    pub scheduled_at_millis: i64,
    /// `PAUSED`, `SCHEDULED`, `SENDING`, `SENT`, `SKIPPED`, `RENDER_ERROR` or `SERVER_ERROR`.
    pub status: String,
    /// `IN_PROGRESS`, `OK` or `ERROR`.
    pub simple_status: String,
    pub is_paused: bool,
    pub has_rendered: bool,
    pub has_delivered: bool,
    pub is_transactional: bool,
    pub is_high_priority: bool,
    pub notification_category_id: Option<String>,
    pub subject: Option<String>,
    pub html: Option<String>,
    pub text: Option<String>,
    pub started_sending_at_millis: Option<i64>,
    pub delivered_at_millis: Option<i64>,
    /// Why the last delivery attempt failed.
    pub server_error: Option<String>,
    pub render_error: Option<String>,
    pub skipped_reason: Option<String>,
    /// Delivery attempts so far (stackd).
    pub attempt_count: i64,
    /// When the worker tries next, if it will (stackd).
    pub next_attempt_at_millis: Option<i64>,
}

fn outbox_view(row: OutboxRow) -> OutboxEmail {
    let source = match (&row.html, &row.template_id) {
        (Some(h), _) => h.clone(),
        (None, Some(id)) => templates::builtin_template(id).map(|t| t.source.to_string()).unwrap_or_default(),
        _ => String::new(),
    };
    let rendered = row.rendered_subject.is_some();
    OutboxEmail {
        updated_at_millis: [Some(row.created_at), row.started_sending_at, row.sent_at]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(row.created_at),
        id: row.id,
        created_at_millis: row.created_at,
        tsx_source: source,
        theme_id: row.theme.to_column(),
        to: serde_json::to_value(&row.recipient).unwrap_or(Value::Null),
        variables: row.variables,
        skip_deliverability_check: false,
        scheduled_at_millis: row.scheduled_at,
        simple_status: status::simple(&row.status).into(),
        is_paused: row.is_paused,
        has_rendered: rendered,
        has_delivered: row.sent_at.is_some(),
        is_transactional: category(&row.category_id).is_some_and(|c| !c.can_disable),
        is_high_priority: row.is_high_priority,
        notification_category_id: Some(row.category_id),
        subject: row.rendered_subject,
        html: row.rendered_html,
        text: row.rendered_text,
        started_sending_at_millis: row.started_sending_at,
        delivered_at_millis: row.sent_at,
        server_error: if row.status == status::RENDER_ERROR { None } else { row.last_error.clone() },
        render_error: if row.status == status::RENDER_ERROR { row.last_error } else { None },
        skipped_reason: row.skipped_reason,
        attempt_count: row.attempts,
        next_attempt_at_millis: row.next_attempt_at,
        status: row.status,
    }
}

#[derive(Object)]
pub struct OutboxPagination {
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Object)]
pub struct OutboxList {
    pub items: Vec<OutboxEmail>,
    pub is_paginated: bool,
    pub pagination: OutboxPagination,
}

/// `PATCH /emails/outbox/{id}`: every field optional.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct OutboxPatch {
    /// New HTML body (minijinja HTML).
    pub tsx_source: Option<String>,
    /// A theme id, or null for the project's theme.
    pub theme_id: MaybeUndefined<String>,
    /// New recipient (same shapes as the read view's `to`).
    pub to: Option<Value>,
    pub variables: Option<Value>,
    /// Accepted for compatibility; stackd does no deliverability check.
    pub skip_deliverability_check: Option<bool>,
    pub scheduled_at_millis: Option<i64>,
    pub is_paused: Option<bool>,
    /// `true` cancels the e-mail (status `SKIPPED`, reason `MANUALLY_CANCELLED`).
    pub cancel: Option<bool>,
}

#[derive(Object)]
pub struct NotificationPreference {
    pub notification_category_id: String,
    pub notification_category_name: String,
    pub enabled: bool,
    pub can_disable: bool,
}

#[derive(Object)]
pub struct NotificationPreferenceList {
    pub items: Vec<NotificationPreference>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct NotificationPreferencePatch {
    pub enabled: bool,
}

#[derive(ApiResponse)]
pub enum UnsubscribeResponse {
    /// The preference is off now, or was already.
    #[oai(status = 200)]
    Done(Html<String>),
}

/// One sent (or attempted) e-mail in the log.
#[derive(Object)]
pub struct SentEmail {
    pub id: String,
    pub subject: String,
    pub sent_at_millis: i64,
    pub to: Vec<String>,
    /// The delivery error, if the e-mail could not be sent.
    pub error: Option<String>,
}

#[derive(Object)]
pub struct SentEmailList {
    pub emails: Vec<SentEmail>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TestEmailConfig {
    pub host: String,
    #[oai(validator(minimum(value = "0"), maximum(value = "65535")))]
    pub port: i64,
    pub username: String,
    pub password: String,
    pub sender_name: String,
    pub sender_email: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendTestEmailBody {
    pub recipient_email: String,
    pub email_config: TestEmailConfig,
}

#[derive(Object)]
pub struct SendTestEmailResult {
    pub success: bool,
    /// Why sending failed (only when `success` is false).
    #[oai(skip_serializing_if_is_none)]
    pub error_message: Option<String>,
}

/// A theme field of upstream's shape: uuid, `false` (none) or null/absent (the project's).
pub(super) fn theme_choice(field: &str, v: Option<&Value>) -> ApiResult<ThemeChoice> {
    match v {
        None | Some(Value::Null) => Ok(ThemeChoice::Project),
        Some(Value::Bool(false)) => Ok(ThemeChoice::None),
        Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => Ok(ThemeChoice::Id(s.to_lowercase())),
        _ => Err(KnownError::schema(&format!("body.{field} must be a theme id, false or null")).into()),
    }
}

fn parse_recipient(v: Value) -> ApiResult<Recipient> {
    serde_json::from_value(v).map_err(|_| {
        KnownError::schema("body.to must be a user-primary-email, user-custom-emails or custom-emails recipient").into()
    })
}

/// A JSON-object field (absent = empty object).
pub(super) fn object_field(field: &str, v: Option<Value>) -> ApiResult<Value> {
    match v {
        None => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(KnownError::schema(&format!("body.{field} must be an object")).into()),
    }
}

#[OpenApi(tag = "Tag::Emails")]
impl EmailsApi {
    /// Queues an e-mail to users: one outbox row each, delivered by the worker. Works on the
    /// shared e-mail server too (unlike upstream's `REQUIRES_CUSTOM_EMAIL_SERVER`: on a
    /// self-hosted server the shared server is the operator's).
    #[oai(path = "/emails/send-email", method = "post", operation_id = "send_email")]
    async fn send_email(&self, auth: ServerAuth, body: Json<SendEmailBody>) -> ApiResult<Json<SendEmailResults>> {
        let b = body.0;
        let user_ids = match (b.user_ids, b.all_users) {
            (Some(ids), None) => Some(ids),
            (None, Some(true)) => None,
            (None, Some(false)) => {
                return Err(KnownError::schema("body.all_users must be one of the following values: true").into())
            }
            _ => return Err(KnownError::schema("Exactly one of user_ids or all_users must be provided").into()),
        };
        if user_ids.as_ref().is_some_and(|ids| ids.len() > MAX_RECIPIENTS_PER_SEND) {
            return Err(KnownError::schema(&format!(
                "body.user_ids must have at most {MAX_RECIPIENTS_PER_SEND} items"
            ))
            .into());
        }
        let category_id = match b.notification_category_name.as_deref() {
            None => crate::emails::TRANSACTIONAL,
            Some(name) => CATEGORIES
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.id)
                .ok_or_else(|| ApiError::bad_request("Notification category not found with given name"))?,
        };
        let content = match (b.html, b.template_id, b.draft_id) {
            (Some(html), None, None) => Content::Html(html),
            (None, Some(id), None) => {
                Content::Template { id: id.to_lowercase(), variables: object_field("variables", b.variables)? }
            }
            (None, None, Some(_)) => return Err(ApiError::bad_request("No draft found with given draft_id")),
            _ => {
                return Err(KnownError::schema(
                    "body must have exactly one of: html; template_id (with variables); draft_id",
                )
                .into())
            }
        };
        let email = NewEmail {
            recipient: Recipient::CustomEmails { emails: vec![] },
            content,
            subject: b.subject,
            theme: theme_choice("theme_id", b.theme_id.as_ref())?,
            category_id,
            is_high_priority: b.is_high_priority.unwrap_or(false),
            scheduled_at: b.scheduled_at_millis,
        };
        let ids = self.emails.send_email(auth.0.project(), user_ids, email).await?;
        Ok(Json(SendEmailResults { results: ids.into_iter().map(|user_id| SendEmailResult { user_id }).collect() }))
    }

    /// Lists the project's outbox, newest first, optionally by `status` or `simple_status`.
    #[oai(path = "/emails/outbox", method = "get", operation_id = "list_outbox_emails")]
    async fn list_outbox(
        &self,
        auth: ServerAuth,
        /// One status (e.g. `SENT`, `SCHEDULED`, `SERVER_ERROR`); case-insensitive.
        status: Query<Option<String>>,
        /// `IN_PROGRESS`, `OK` or `ERROR`; case-insensitive.
        simple_status: Query<Option<String>>,
        /// Page size, 1–200 (default 50).
        limit: Query<Option<i64>>,
        /// `next_cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> ApiResult<Json<OutboxList>> {
        let mut statuses: Vec<&'static str> = status::ALL.to_vec();
        if let Some(s) = &status.0 {
            let s = s.to_uppercase().replace('-', "_");
            statuses.retain(|x| *x == s);
            if statuses.is_empty() {
                return Err(
                    KnownError::schema(&format!("query.status must be one of: {}", status::ALL.join(", "))).into()
                );
            }
        }
        if let Some(s) = &simple_status.0 {
            let s = s.to_uppercase().replace('-', "_");
            if !["IN_PROGRESS", "OK", "ERROR"].contains(&s.as_str()) {
                return Err(KnownError::schema("query.simple_status must be one of: IN_PROGRESS, OK, ERROR").into());
            }
            statuses.retain(|x| status::simple(x) == s);
        }
        if status.0.is_none() && simple_status.0.is_none() {
            statuses.clear();
        }
        let limit = limit.0.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(KnownError::schema("query.limit must be between 1 and 200").into());
        }
        let cursor = match cursor.0 {
            None => None,
            Some(c) => Some(
                c.split_once('_')
                    .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
                    .ok_or_else(|| KnownError::schema("query.cursor is not a cursor of this list"))?,
            ),
        };
        let mut rows = self.emails.outbox_page(auth.0.project_id(), statuses, limit as usize + 1, cursor).await?;
        let next_cursor = if rows.len() > limit as usize {
            rows.truncate(limit as usize);
            rows.last().map(|r| format!("{}_{}", r.created_at, r.id))
        } else {
            None
        };
        Ok(Json(OutboxList {
            items: rows.into_iter().map(outbox_view).collect(),
            is_paginated: true,
            pagination: OutboxPagination { next_cursor },
        }))
    }

    /// One outbox row.
    #[oai(path = "/emails/outbox/:id", method = "get", operation_id = "get_outbox_email")]
    async fn get_outbox(&self, auth: ServerAuth, id: Path<String>) -> ApiResult<Json<OutboxEmail>> {
        Ok(Json(outbox_view(self.emails.outbox_row(auth.0.project_id(), &id.0).await?)))
    }

    /// Edits, pauses, resumes or cancels an e-mail that has not been sent
    /// (`EMAIL_NOT_EDITABLE` otherwise). An edited row is scheduled again.
    #[oai(path = "/emails/outbox/:id", method = "patch", operation_id = "update_outbox_email")]
    async fn update_outbox(
        &self,
        auth: ServerAuth,
        id: Path<String>,
        body: Json<OutboxPatch>,
    ) -> ApiResult<Json<OutboxEmail>> {
        let p = body.0;
        if p.cancel == Some(false) {
            return Err(KnownError::schema("body.cancel must be one of the following values: true").into());
        }
        let to = p.to.map(parse_recipient).transpose()?;
        let row = self
            .emails
            .update_outbox(auth.0.project_id(), &id.0, move |row| {
                if let Some(source) = p.tsx_source {
                    row.html = Some(source);
                    row.template_id = None;
                }
                match p.theme_id {
                    MaybeUndefined::Undefined => {}
                    MaybeUndefined::Null => row.theme = ThemeChoice::Project,
                    MaybeUndefined::Value(t) => row.theme = ThemeChoice::from_column(Some(t)),
                }
                if let Some(to) = to {
                    row.recipient = to;
                }
                if let Some(v) = p.variables {
                    row.variables = object_field("variables", Some(v))?;
                }
                if let Some(at) = p.scheduled_at_millis {
                    row.scheduled_at = at;
                }
                if let Some(paused) = p.is_paused {
                    row.is_paused = paused;
                }
                if p.cancel == Some(true) {
                    row.skipped_reason = Some(crate::emails::skipped::MANUALLY_CANCELLED.into());
                }
                Ok(())
            })
            .await?;
        Ok(Json(outbox_view(row)))
    }

    /// A user's notification preferences: both categories, Transactional first.
    #[oai(
        path = "/emails/notification-preference/:user_id",
        method = "get",
        operation_id = "list_notification_preferences"
    )]
    async fn list_preferences(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
    ) -> ApiResult<Json<NotificationPreferenceList>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        if !auth.access_type.is_server_or_higher() && auth.user_id() != Some(user_id.as_str()) {
            return Err(ApiError::plain(
                StatusCode::FORBIDDEN,
                "Clients can only read their own notification preferences",
            ));
        }
        if self.users.get(auth.project_id(), &user_id).await?.is_none() {
            return Err(KnownError::user_not_found().into());
        }
        let items = self
            .emails
            .preferences(&user_id)
            .await?
            .into_iter()
            .map(|p| NotificationPreference {
                notification_category_id: p.category_id.into(),
                notification_category_name: p.category_name.into(),
                enabled: p.enabled,
                can_disable: p.can_disable,
            })
            .collect();
        Ok(Json(NotificationPreferenceList { items, is_paginated: false }))
    }

    /// Turns a notification category on or off for a user. Transactional mail is delivered
    /// whatever is stored.
    #[oai(
        path = "/emails/notification-preference/:user_id/:notification_category_id",
        method = "patch",
        operation_id = "update_notification_preference"
    )]
    async fn update_preference(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        notification_category_id: Path<String>,
        body: Json<NotificationPreferencePatch>,
    ) -> ApiResult<Json<NotificationPreference>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        if uuid::Uuid::parse_str(&notification_category_id.0).is_err() {
            return Err(KnownError::schema("params.notification_category_id must be a valid UUID").into());
        }
        let cat = category(&notification_category_id.0.to_lowercase())
            .ok_or_else(|| ApiError::plain(StatusCode::NOT_FOUND, "Notification category not found"))?;
        if !auth.access_type.is_server_or_higher() && auth.user_id() != Some(user_id.as_str()) {
            return Err(ApiError::plain(
                StatusCode::FORBIDDEN,
                "Clients can only change their own notification preferences",
            ));
        }
        if self.users.get(auth.project_id(), &user_id).await?.is_none() {
            return Err(KnownError::user_not_found().into());
        }
        self.emails.set_preference(&user_id, cat.id, body.0.enabled).await?;
        Ok(Json(NotificationPreference {
            notification_category_id: cat.id.into(),
            notification_category_name: cat.name.into(),
            enabled: body.0.enabled,
            can_disable: cat.can_disable,
        }))
    }

    /// One-click unsubscribe (the link in e-mails of categories that can be disabled, and their
    /// `List-Unsubscribe` header). Needs no authentication; answers an HTML page.
    #[oai(path = "/emails/unsubscribe-link", method = "get", operation_id = "unsubscribe")]
    async fn unsubscribe(
        &self,
        _auth: AnyAuth,
        /// The 45-character code of the link.
        code: Query<Option<String>>,
    ) -> ApiResult<UnsubscribeResponse> {
        let code = code.0.filter(|c| c.len() == crate::verification::CODE_LENGTH && c.is_ascii());
        let Some(code) = code else {
            return Err(ApiError::bad_request("Invalid code"));
        };
        let page = match self.emails.unsubscribe(code.to_ascii_lowercase()).await? {
            Unsubscribed::Now => "<p>Successfully unsubscribed from notification group</p>",
            Unsubscribed::Already => "<p>You have already unsubscribed from this notification group</p>",
        };
        Ok(UnsubscribeResponse::Done(Html(page.to_string())))
    }

    /// The RFC 8058 one-click form of the same link (`List-Unsubscribe-Post`).
    #[oai(path = "/emails/unsubscribe-link", method = "post", operation_id = "unsubscribe_one_click")]
    async fn unsubscribe_post(&self, auth: AnyAuth, code: Query<Option<String>>) -> ApiResult<UnsubscribeResponse> {
        self.unsubscribe(auth, code).await
    }

    /// The sent-mail log: the project's most recent 500 e-mails that were sent or failed.
    #[oai(path = "/internal/emails", method = "get", operation_id = "list_sent_emails")]
    async fn sent_emails(&self, auth: AdminAuth) -> ApiResult<Json<SentEmailList>> {
        let finals = vec![status::SENT, status::SERVER_ERROR, status::RENDER_ERROR];
        let rows = self.emails.outbox_page(auth.0.project_id(), finals, 500, None).await?;
        let emails = rows
            .into_iter()
            .map(|r| SentEmail {
                sent_at_millis: r.sent_at.or(r.started_sending_at).unwrap_or(r.created_at),
                subject: r.rendered_subject.or(r.subject).unwrap_or_default(),
                to: r.to_addresses,
                error: if r.status == status::SENT { None } else { r.last_error },
                id: r.id,
            })
            .collect();
        Ok(Json(SentEmailList { emails }))
    }

    /// Sends one test e-mail through the given SMTP settings (10 s timeout, no retries).
    /// Failures are reported in the body with status 200.
    #[oai(path = "/internal/send-test-email", method = "post", operation_id = "send_test_email")]
    async fn send_test_email(
        &self,
        _auth: AdminAuth,
        body: Json<SendTestEmailBody>,
    ) -> ApiResult<Json<SendTestEmailResult>> {
        let b = body.0;
        if !crate::users::changes::is_valid_email(&b.recipient_email) {
            return Err(KnownError::schema("body.recipient_email must be a valid email").into());
        }
        let c = b.email_config;
        if !crate::users::changes::is_valid_email(&c.sender_email) {
            return Err(KnownError::schema("body.email_config.sender_email must be a valid email").into());
        }
        let settings = SmtpSettings::standard(&c.host, c.port as u16, &c.username, &c.password);
        let outcome = self.emails.send_test_email(settings, c.sender_name, c.sender_email, b.recipient_email).await;
        Ok(Json(match outcome {
            Ok(()) => SendTestEmailResult { success: true, error_message: None },
            Err(e) => SendTestEmailResult { success: false, error_message: Some(e) },
        }))
    }
}

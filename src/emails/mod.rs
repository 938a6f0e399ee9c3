//! E-mail (spec 20 §5): the durable outbox every e-mail goes through, its delivery worker, the
//! SMTP transport and the development mailbox, templates and themes, notification preferences.
//!
//! Flows that send mail (verification, OTP, password reset, send-email, invitations) call
//! [`EmailsService::enqueue_in`] inside their own write transaction, so the e-mail exists exactly
//! when its cause does. The worker (`service.rs`) renders and delivers each row with retries.

pub mod api;
pub mod delivery;
pub mod mailbox;
pub mod service;
pub mod store;
pub mod templates;
pub mod templates_api;

use serde::{Deserialize, Serialize};

pub use service::EmailsService;

/// Notification categories (spec 20 §5.2), hard-coded as upstream.
pub struct NotificationCategory {
    pub id: &'static str,
    pub name: &'static str,
    pub default_enabled: bool,
    pub can_disable: bool,
}

pub const TRANSACTIONAL: &str = "7bb82d33-2f54-4a3d-9d23-82739e0d66ef";
pub const MARKETING: &str = "4f6f8873-3d04-46bd-8bef-18338b1a1b4c";

pub const CATEGORIES: &[NotificationCategory] = &[
    NotificationCategory { id: TRANSACTIONAL, name: "Transactional", default_enabled: true, can_disable: false },
    NotificationCategory { id: MARKETING, name: "Marketing", default_enabled: true, can_disable: true },
];

/// Whether `theme_id` is one of the project's e-mail themes: built-in, or one it created.
pub fn theme_exists(conn: &rusqlite::Connection, project_id: &str, theme_id: &str) -> crate::error::ApiResult<bool> {
    Ok(templates::builtin_theme(theme_id).is_some()
        || store::load_source(conn, store::SourceKind::Theme, project_id, theme_id)?.is_some())
}

pub fn category(id: &str) -> Option<&'static NotificationCategory> {
    CATEGORIES.iter().find(|c| c.id == id)
}

/// Who an outbox row goes to (upstream's recipient kinds). A user's primary address is resolved
/// when the row is delivered, so a changed address is honoured.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Recipient {
    UserPrimaryEmail { user_id: String },
    UserCustomEmails { user_id: String, emails: Vec<String> },
    CustomEmails { emails: Vec<String> },
}

impl Recipient {
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Recipient::UserPrimaryEmail { user_id } | Recipient::UserCustomEmails { user_id, .. } => Some(user_id),
            Recipient::CustomEmails { .. } => None,
        }
    }
}

/// What the e-mail says: a template (built-in or custom) with variables, or raw HTML.
#[derive(Debug, Clone)]
pub enum Content {
    Template { id: String, variables: serde_json::Value },
    Html(String),
}

/// Which theme wraps the body.
#[derive(Debug, Clone, PartialEq)]
pub enum ThemeChoice {
    /// The project's selected theme.
    Project,
    None,
    Id(String),
}

impl ThemeChoice {
    pub fn to_column(&self) -> Option<String> {
        match self {
            ThemeChoice::Project => None,
            ThemeChoice::None => Some("none".into()),
            ThemeChoice::Id(id) => Some(id.clone()),
        }
    }

    pub fn from_column(v: Option<String>) -> ThemeChoice {
        match v.as_deref() {
            None => ThemeChoice::Project,
            Some("none") => ThemeChoice::None,
            Some(id) => ThemeChoice::Id(id.to_string()),
        }
    }
}

/// One e-mail to put in the outbox.
#[derive(Debug, Clone)]
pub struct NewEmail {
    pub recipient: Recipient,
    pub content: Content,
    pub subject: Option<String>,
    pub theme: ThemeChoice,
    pub category_id: &'static str,
    pub is_high_priority: bool,
    pub scheduled_at: Option<i64>,
}

impl NewEmail {
    /// A built-in transactional e-mail (verification, reset, OTP…): high priority, project theme.
    pub fn builtin(template_id: &str, recipient: Recipient, variables: serde_json::Value) -> NewEmail {
        NewEmail {
            recipient,
            content: Content::Template { id: template_id.to_string(), variables },
            subject: None,
            theme: ThemeChoice::Project,
            category_id: TRANSACTIONAL,
            is_high_priority: true,
            scheduled_at: None,
        }
    }
}

/// Outbox statuses as the API spells them (upstream's `email-outbox.ts`).
pub mod status {
    pub const PAUSED: &str = "PAUSED";
    pub const SCHEDULED: &str = "SCHEDULED";
    pub const SENDING: &str = "SENDING";
    pub const SENT: &str = "SENT";
    pub const SKIPPED: &str = "SKIPPED";
    pub const RENDER_ERROR: &str = "RENDER_ERROR";
    pub const SERVER_ERROR: &str = "SERVER_ERROR";

    pub const ALL: &[&str] = &[
        "PAUSED",
        "PREPARING",
        "RENDERING",
        "RENDER_ERROR",
        "SCHEDULED",
        "QUEUED",
        "SENDING",
        "SERVER_ERROR",
        "SKIPPED",
        "BOUNCED",
        "DELIVERY_DELAYED",
        "SENT",
        "OPENED",
        "CLICKED",
        "MARKED_AS_SPAM",
    ];

    /// `simple_status` of spec 20 §5.5.
    pub fn simple(status: &str) -> &'static str {
        match status {
            "RENDER_ERROR" | "SERVER_ERROR" | "BOUNCED" => "ERROR",
            "SKIPPED" | "DELIVERY_DELAYED" | "SENT" | "OPENED" | "CLICKED" | "MARKED_AS_SPAM" => "OK",
            _ => "IN_PROGRESS",
        }
    }

    /// Rows an admin may still change (spec 20 §5.5).
    pub fn editable(status: &str) -> bool {
        matches!(
            status,
            "PAUSED" | "PREPARING" | "RENDERING" | "RENDER_ERROR" | "SCHEDULED" | "QUEUED" | "SERVER_ERROR"
        )
    }
}

/// An outbox row as stored.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: String,
    pub project_id: String,
    pub created_at: i64,
    pub recipient: Recipient,
    pub template_id: Option<String>,
    pub html: Option<String>,
    pub variables: serde_json::Value,
    pub subject: Option<String>,
    pub theme: ThemeChoice,
    pub category_id: String,
    pub is_high_priority: bool,
    pub scheduled_at: i64,
    pub is_paused: bool,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub skipped_reason: Option<String>,
    pub rendered_subject: Option<String>,
    pub rendered_html: Option<String>,
    pub rendered_text: Option<String>,
    pub to_addresses: Vec<String>,
    pub unsubscribe_link: Option<String>,
    pub started_sending_at: Option<i64>,
    pub sent_at: Option<i64>,
}

/// Skipped reasons (spec 20 §5.5).
pub mod skipped {
    pub const USER_UNSUBSCRIBED: &str = "USER_UNSUBSCRIBED";
    pub const USER_ACCOUNT_DELETED: &str = "USER_ACCOUNT_DELETED";
    pub const USER_HAS_NO_PRIMARY_EMAIL: &str = "USER_HAS_NO_PRIMARY_EMAIL";
    pub const NO_EMAIL_PROVIDED: &str = "NO_EMAIL_PROVIDED";
    pub const MANUALLY_CANCELLED: &str = "MANUALLY_CANCELLED";
}

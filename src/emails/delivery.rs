//! The outbox worker: renders due rows and delivers them, with exponential backoff and a bounded
//! number of attempts (spec 20 §5.5).
//!
//! A row is claimed in its own transaction (`SENDING`, attempt counted, a lease as its next
//! attempt time) before any byte goes out, and marked `SENT` right after the SMTP server accepted
//! it. The development mailbox is written in the same transaction as `SENT`, so it gets every row
//! exactly once. If the process dies between the server's acceptance and the `SENT` commit, the
//! row is sent again after the restart — with the same `Message-ID`, so a receiver can tell.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use lettre::SmtpTransport;
use rusqlite::Connection;

use crate::config::{EmailRetry, MailConfig};
use crate::db::{now_millis, Db};
use crate::emails::store::{self, NewMailboxMessage, Rendering, SourceKind};
use crate::emails::templates::{self, RenderContext, Rendered};
use crate::emails::{category, skipped, status, OutboxRow, Recipient, ThemeChoice};
use crate::error::ApiResult;
use crate::infra::Infra;
use crate::mail::{self, OutgoingEmail, SmtpSettings};
use crate::projects::{self, Project};
use crate::users::store as user_store;

/// How long a claimed row stays `SENDING` before another attempt may take it (only after a crash).
const LEASE_MILLIS: i64 = 5 * 60 * 1000;
/// Rows claimed per round.
const BATCH: usize = 64;
/// Messages sent at the same time (each on its own pooled SMTP connection): SMTP is a chain of
/// round trips, and lettre writes a message's end in a separate small packet that the receiver's
/// delayed ACK holds for up to 40 ms, so one connection alone cannot pass ~25 messages/s.
const PARALLEL_SENDS: usize = 8;
/// SMTP transports kept for reuse (one per distinct server); cleared when it grows past this.
const MAX_TRANSPORTS: usize = 32;

/// Where a message goes.
enum Route {
    Smtp(SmtpSettings),
    Mailbox,
}

/// A row ready to send.
struct Prepared {
    route: Route,
    email: OutgoingEmail,
}

/// Why a row is not sent now.
enum Held {
    Skip(&'static str),
    RenderError(String),
    /// A database failure while preparing: retried like a failed delivery.
    Retry(String),
}

pub struct Deliverer {
    db: Db,
    infra: Arc<Infra>,
    /// Rows a stopped process left `SENDING` are resumed once, in the first round.
    recovered: Once,
    transports: Mutex<HashMap<SmtpSettings, SmtpTransport>>,
}

impl Deliverer {
    pub fn new(infra: Arc<Infra>) -> Deliverer {
        Deliverer { db: infra.db.clone(), infra, recovered: Once::new(), transports: Mutex::new(HashMap::new()) }
    }

    fn mail(&self) -> &MailConfig {
        &self.infra.config.mail
    }

    fn retry(&self) -> &EmailRetry {
        &self.mail().retry
    }

    /// Whether mail of `shared` projects goes to the development mailbox.
    pub fn uses_dev_mailbox(&self) -> bool {
        self.mail().smtp.is_none()
    }

    pub fn poll_interval(&self) -> Duration {
        self.retry().poll_interval
    }

    /// Delay before attempt `attempts + 1`.
    fn backoff(&self, attempts: i64) -> i64 {
        let exp = (attempts.max(1) - 1).min(30) as u32;
        let delay = self.retry().base.saturating_mul(2u32.saturating_pow(exp));
        delay.min(self.retry().max_delay).as_millis() as i64
    }

    /// At startup: rows a stopped process left `SENDING` are due again now.
    fn recover(&self) -> ApiResult<usize> {
        let ids = self.db.read_now(store::interrupted)?;
        if ids.is_empty() {
            return Ok(0);
        }
        let now = now_millis();
        self.db.write_now(|tx| {
            for id in &ids {
                store::mark_failed(tx, id, "interrupted while sending; sending again", Some(now))?;
            }
            Ok(())
        })?;
        tracing::warn!(rows = ids.len(), "e-mails interrupted while sending will be sent again (same Message-ID)");
        Ok(ids.len())
    }

    /// One round: every due row, a batch at a time. Returns how many rows were handled.
    pub fn run_due(&self) -> usize {
        self.recovered.call_once(|| {
            if let Err(e) = self.recover() {
                tracing::error!(error = %e, "cannot resume interrupted e-mails");
            }
        });
        let mut handled = 0;
        loop {
            let claimed = match self.claim() {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the e-mail outbox");
                    return handled;
                }
            };
            if claimed.is_empty() {
                return handled;
            }
            let n = claimed.len();
            let mut lanes: Vec<Vec<OutboxRow>> = (0..PARALLEL_SENDS.min(n)).map(|_| Vec::new()).collect();
            for (i, row) in claimed.into_iter().enumerate() {
                lanes[i % PARALLEL_SENDS].push(row);
            }
            let failed = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|scope| {
                for lane in lanes {
                    let failed = &failed;
                    scope.spawn(move || {
                        crate::jobs::lower_thread_priority();
                        for row in lane {
                            // At shutdown the rest waits for the next start (no attempt counted).
                            if self.infra.jobs.is_stopping() {
                                if let Err(e) = self.db.write_now(|tx| store::release(tx, &row.id, now_millis())) {
                                    tracing::error!(error = %e, "cannot release a claimed e-mail");
                                }
                                continue;
                            }
                            if let Err(e) = self.deliver(row) {
                                // The row stays claimed; its lease brings it back.
                                tracing::error!(error = %e, "e-mail delivery failed to record its outcome");
                                failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            }
                        }
                    });
                }
            });
            handled += n;
            if n < BATCH || failed.into_inner() || self.infra.jobs.is_stopping() {
                return handled;
            }
        }
    }

    /// Claims up to a batch of due rows in one transaction (one commit for the batch).
    fn claim(&self) -> ApiResult<Vec<OutboxRow>> {
        let now = now_millis();
        self.db.write_now(|tx| {
            let due = store::due_outbox(tx, now, BATCH)?;
            let mut claimed = Vec::with_capacity(due.len());
            for row in due {
                if store::mark_sending(tx, &row.id, now, now + LEASE_MILLIS)? {
                    claimed.push(row);
                }
            }
            Ok(claimed)
        })
    }

    /// Renders and sends one claimed row, and records the outcome.
    fn deliver(&self, row: OutboxRow) -> ApiResult<()> {
        let id = row.id.clone();
        let prepared = {
            let row = &row;
            self.db.read_now(|c| Ok(self.prepare(c, row)))?
        };
        let prepared = match prepared {
            Ok(p) => p,
            Err(Held::Skip(reason)) => {
                return self.db.write_now(|tx| store::mark_final(tx, &id, status::SKIPPED, None, Some(reason)));
            }
            Err(Held::RenderError(e)) => {
                tracing::warn!(email_id = %id, error = %e, "e-mail could not be rendered");
                return self.db.write_now(|tx| store::mark_final(tx, &id, status::RENDER_ERROR, Some(&e), None));
            }
            Err(Held::Retry(e)) => return self.failed(&row, &e),
        };
        let email = &prepared.email;
        // Mail that carried a one-time code is kept redacted once sent (see `templates::carries_secret`).
        let redacted = row.template_id.as_deref().is_some_and(templates::carries_secret);
        let redacted_variables = redacted.then(|| redact(&row.variables));
        let rendering = if redacted {
            Rendering { subject: &email.subject, html: REDACTED, text: REDACTED, to: &email.to }
        } else {
            Rendering { subject: &email.subject, html: &email.html, text: &email.text, to: &email.to }
        };
        match &prepared.route {
            Route::Mailbox => {
                let headers = email.headers();
                self.db.write_now(|tx| {
                    for to in &email.to {
                        store::insert_mailbox(
                            tx,
                            &NewMailboxMessage {
                                project_id: &row.project_id,
                                outbox_id: &id,
                                from_name: &email.from_name,
                                from_address: &email.from_address,
                                to_address: to,
                                subject: &email.subject,
                                text: &email.text,
                                html: &email.html,
                                headers: &headers,
                            },
                            now_millis(),
                        )?;
                    }
                    store::mark_sent(tx, &id, &rendering, redacted_variables.as_ref(), now_millis())
                })?;
                tracing::info!(
                    email_id = %id,
                    to = %email.to.join(", "),
                    subject = %email.subject,
                    links = %mail::links_in(&email.text).join(" "),
                    "e-mail delivered to the development mailbox"
                );
                Ok(())
            }
            Route::Smtp(settings) => match self.send_smtp(settings, email) {
                Ok(()) => {
                    self.db.write_now(|tx| {
                        store::mark_sent(tx, &id, &rendering, redacted_variables.as_ref(), now_millis())
                    })?;
                    tracing::info!(email_id = %id, "e-mail sent");
                    Ok(())
                }
                Err(e) => self.failed(&row, &e),
            },
        }
    }

    /// Records a failed attempt: another one after the backoff, or none after the last.
    fn failed(&self, row: &OutboxRow, error: &str) -> ApiResult<()> {
        let attempts = row.attempts + 1;
        let retry_at = (attempts < self.retry().max_attempts as i64).then(|| now_millis() + self.backoff(attempts));
        tracing::warn!(email_id = %row.id, attempts, error = %error, will_retry = retry_at.is_some(), "e-mail delivery failed");
        self.db.write_now(|tx| store::mark_failed(tx, &row.id, error, retry_at))
    }

    fn send_smtp(&self, settings: &SmtpSettings, email: &OutgoingEmail) -> Result<(), String> {
        let transport = {
            let mut cache = self.transports.lock().expect("transport cache lock");
            if let Some(t) = cache.get(settings) {
                t.clone()
            } else {
                if cache.len() >= MAX_TRANSPORTS {
                    cache.clear();
                }
                let t = settings.transport(true)?;
                cache.insert(settings.clone(), t.clone());
                t
            }
        };
        let result = mail::send(&transport, email);
        if result.is_err() {
            // A broken pooled connection must not poison the next attempt.
            self.transports.lock().expect("transport cache lock").remove(settings);
        }
        result
    }

    /// Resolves the recipient, the sender and the route, and renders the message.
    fn prepare(&self, conn: &Connection, row: &OutboxRow) -> Result<Prepared, Held> {
        let internal = |e: crate::error::ApiError| Held::Retry(e.to_string());
        let project = projects::store::load(conn, &row.project_id)
            .map_err(internal)?
            .ok_or(Held::Skip(skipped::USER_ACCOUNT_DELETED))?;
        let user = match row.recipient.user_id() {
            Some(user_id) => Some(
                user_store::load(conn, &row.project_id, user_id)
                    .map_err(internal)?
                    .ok_or(Held::Skip(skipped::USER_ACCOUNT_DELETED))?,
            ),
            None => None,
        };
        let to = match &row.recipient {
            Recipient::UserPrimaryEmail { .. } => {
                vec![user
                    .as_ref()
                    .and_then(|u| u.primary_email.clone())
                    .ok_or(Held::Skip(skipped::USER_HAS_NO_PRIMARY_EMAIL))?]
            }
            Recipient::UserCustomEmails { emails, .. } | Recipient::CustomEmails { emails } => emails.clone(),
        };
        if to.is_empty() {
            return Err(Held::Skip(skipped::NO_EMAIL_PROVIDED));
        }
        if let (Some(user), Some(cat)) = (&user, category(&row.category_id)) {
            if cat.can_disable {
                let enabled =
                    store::preference(conn, &user.id, cat.id).map_err(internal)?.unwrap_or(cat.default_enabled);
                if !enabled {
                    return Err(Held::Skip(skipped::USER_UNSUBSCRIBED));
                }
            }
        }

        let template_source: String = match (&row.template_id, &row.html) {
            (_, Some(html)) => html.clone(),
            (Some(id), None) => match templates::builtin_template(id) {
                Some(t) => t.source.to_string(),
                None => store::load_source(conn, SourceKind::Template, &project.id, id)
                    .map_err(internal)?
                    .map(|t| t.source)
                    .ok_or_else(|| Held::RenderError(format!("template {id} no longer exists")))?,
            },
            (None, None) => return Err(Held::RenderError("the e-mail has no content".into())),
        };
        let theme_source = theme_source(conn, &project, &row.theme).map_err(internal)?;
        let ctx = RenderContext {
            project_display_name: project.display_name.clone(),
            user_display_name: user.as_ref().and_then(|u| u.display_name.clone()),
            project_logo_url: project.logo_url.clone(),
            project_logo_full_url: project.logo_full_url.clone(),
            project_logo_dark_mode_url: project.logo_dark_mode_url.clone(),
            project_logo_full_dark_mode_url: project.logo_full_dark_mode_url.clone(),
            unsubscribe_link: row.unsubscribe_link.clone(),
            variables: row.variables.as_object().cloned().unwrap_or_default(),
        };
        let Rendered { subject, html, text } =
            templates::render(&template_source, theme_source.as_deref(), &ctx, row.subject.as_deref())
                .map_err(|e| Held::RenderError(e.message.to_string()))?;

        let (route, from_name, from_address) = match &project.config.email_server {
            Some(s) => (
                Route::Smtp(SmtpSettings::standard(&s.host, s.port, &s.username, &s.password)),
                s.sender_name.clone(),
                s.sender_email.clone(),
            ),
            None => (
                match &self.mail().smtp {
                    Some(s) => Route::Smtp(s.clone()),
                    None => Route::Mailbox,
                },
                self.mail().sender_name.clone().unwrap_or_else(|| project.display_name.clone()),
                self.mail().sender_address.clone(),
            ),
        };
        Ok(Prepared {
            route,
            email: OutgoingEmail {
                message_id: format!("<{}@stackd>", row.id),
                from_name,
                from_address,
                to,
                subject,
                html,
                text,
                unsubscribe_link: row.unsubscribe_link.clone(),
            },
        })
    }
}

const REDACTED: &str = "[redacted: this e-mail carried a one-time code]";

/// The variables with every value replaced (their names stay, for the outbox view).
fn redact(variables: &serde_json::Value) -> serde_json::Value {
    match variables.as_object() {
        Some(map) => map.keys().map(|k| (k.clone(), serde_json::Value::from("[redacted]"))).collect(),
        None => serde_json::json!({}),
    }
}

/// The theme source a row uses (`None` = no theme). An unknown theme falls back to the default.
pub fn theme_source(conn: &Connection, project: &Project, choice: &ThemeChoice) -> ApiResult<Option<String>> {
    let id = match choice {
        ThemeChoice::None => return Ok(None),
        ThemeChoice::Project => project.config.email_theme.clone(),
        ThemeChoice::Id(id) => id.clone(),
    };
    if let Some(t) = templates::builtin_theme(&id) {
        return Ok(Some(t.source.to_string()));
    }
    Ok(Some(match store::load_source(conn, SourceKind::Theme, &project.id, &id)? {
        Some(t) => t.source,
        None => templates::STARTER_THEME.to_string(),
    }))
}

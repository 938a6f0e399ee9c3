//! Contact channel rules and transactions (spec 10 §2), and the verification e-mail every flow
//! that verifies an address sends (spec 10 §2.1, §4.1).

use std::sync::Arc;

use poem::http::StatusCode;
use serde_json::json;

use crate::contact_channels::{store, ContactChannel};
use crate::db::{now_millis, Tx};
use crate::emails::templates::EMAIL_VERIFICATION;
use crate::emails::{EmailsService, NewEmail, Recipient};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::projects::Project;
use crate::rate_limit::Limit;
use crate::users::store as user_store;
use crate::verification;

/// Verification e-mails per user (outside `--dev`).
pub const VERIFICATION_PER_USER: Limit = Limit::per_minute("verification-email/user", 10);

/// A new channel, value already normalized.
pub struct NewChannel {
    pub user_id: String,
    pub value: String,
    pub used_for_auth: bool,
    pub is_primary: bool,
    pub is_verified: bool,
}

/// Changes to a channel; `None` keeps a field.
#[derive(Default)]
pub struct ChannelPatch {
    pub value: Option<String>,
    pub used_for_auth: Option<bool>,
    pub is_primary: Option<bool>,
    pub is_verified: Option<bool>,
}

pub struct ContactChannelsService {
    infra: Arc<Infra>,
    emails: Arc<EmailsService>,
}

fn already_used_for_auth(value: Option<&str>) -> ApiError {
    KnownError::new(
        "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
        409,
        format!("The e-mail {} is already used to sign in to another account.", value.unwrap_or("address")),
    )
    .with_details(json!({
        "type": "email",
        "contact_channel_value": value,
        "would_work_if_email_was_verified": false,
    }))
    .into()
}

pub fn email_already_verified() -> ApiError {
    KnownError::new("EMAIL_ALREADY_VERIFIED", 409, "This e-mail address is already verified.").into()
}

impl ContactChannelsService {
    pub fn new(infra: Arc<Infra>, emails: Arc<EmailsService>) -> Self {
        ContactChannelsService { infra, emails }
    }

    pub async fn list(
        &self,
        project_id: &str,
        user_id: Option<String>,
        channel_id: Option<String>,
    ) -> ApiResult<Vec<ContactChannel>> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list(c, &project_id, user_id.as_deref(), channel_id.as_deref())).await
    }

    pub async fn get(&self, project_id: &str, user_id: &str, id: &str) -> ApiResult<Option<ContactChannel>> {
        let (project_id, user_id, id) = (project_id.to_string(), user_id.to_string(), id.to_string());
        self.infra.db.read(move |c| store::load(c, &project_id, &user_id, &id)).await
    }

    pub async fn create(&self, project_id: &str, new: NewChannel) -> ApiResult<ContactChannel> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                if !user_store::exists(tx, &project_id, &new.user_id)? {
                    return Err(KnownError::user_id_does_not_exist(&new.user_id).into());
                }
                if store::find_by_value(tx, &new.user_id, &new.value)?.is_some() {
                    return Err(ApiError::bad_request("Contact channel already exists"));
                }
                if new.used_for_auth && store::auth_channel_of_value(tx, &project_id, &new.value)?.is_some() {
                    return Err(already_used_for_auth(Some(&new.value)));
                }
                if new.is_primary {
                    user_store::demote_primary_emails(tx, &new.user_id)?;
                }
                let channel = ContactChannel {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: new.user_id,
                    value: new.value,
                    is_primary: new.is_primary,
                    is_verified: new.is_verified,
                    used_for_auth: new.used_for_auth,
                };
                store::insert(tx, &project_id, &channel)?;
                tx.changed(user_store::TABLE, &channel.user_id);
                Ok(channel)
            })
            .await
    }

    pub async fn update(
        &self,
        project_id: &str,
        user_id: &str,
        id: &str,
        patch: ChannelPatch,
    ) -> ApiResult<ContactChannel> {
        let (project_id, user_id, id) = (project_id.to_string(), user_id.to_string(), id.to_string());
        self.infra
            .db
            .write(move |tx| {
                let mut c = store::load(tx, &project_id, &user_id, &id)?
                    .ok_or_else(|| ApiError::bad_request("Contact channel not found"))?;
                if let Some(value) = patch.value {
                    if value != c.value {
                        if store::find_by_value(tx, &user_id, &value)?.is_some() {
                            return Err(ApiError::bad_request("Contact channel already exists"));
                        }
                        c.value = value;
                        c.is_verified = false;
                    }
                }
                if let Some(v) = patch.is_verified {
                    c.is_verified = v;
                }
                if let Some(v) = patch.used_for_auth {
                    c.used_for_auth = v;
                }
                if c.used_for_auth {
                    if let Some(other) = store::auth_channel_of_value(tx, &project_id, &c.value)? {
                        if other.id != c.id {
                            return Err(already_used_for_auth(None));
                        }
                    }
                }
                if let Some(primary) = patch.is_primary {
                    if primary {
                        user_store::demote_primary_emails(tx, &user_id)?;
                    }
                    c.is_primary = primary;
                }
                store::update(tx, &c)?;
                tx.changed(user_store::TABLE, &user_id);
                Ok(c)
            })
            .await
    }

    pub async fn delete(&self, project_id: &str, user_id: &str, id: &str) -> ApiResult<()> {
        let (project_id, user_id, id) = (project_id.to_string(), user_id.to_string(), id.to_string());
        self.infra
            .db
            .write(move |tx| {
                let c = store::load(tx, &project_id, &user_id, &id)?
                    .ok_or_else(|| ApiError::bad_request("Contact channel not found"))?;
                store::delete(tx, &c.id)?;
                tx.changed(user_store::TABLE, &user_id);
                Ok(())
            })
            .await
    }

    /// Creates a verification code for `email` of `user_id` and puts the verification e-mail in
    /// the outbox, inside the caller's transaction. The callback URL must be trusted.
    pub fn send_verification_in(
        &self,
        tx: &Tx,
        project: &Project,
        user_id: &str,
        email: &str,
        callback_url: &str,
    ) -> ApiResult<()> {
        if !project.config.is_trusted_url(callback_url) {
            return Err(KnownError::redirect_url_not_whitelisted().into());
        }
        let code = verification::create(
            tx,
            &project.id,
            verification::CONTACT_CHANNEL_VERIFICATION,
            &json!({ "user_id": user_id }),
            &json!({ "email": email }),
            verification::DEFAULT_LIFETIME_MILLIS,
            now_millis(),
        )?;
        let link = verification::link_with_code(callback_url, &code);
        let recipient = Recipient::UserCustomEmails { user_id: user_id.to_string(), emails: vec![email.to_string()] };
        self.emails.enqueue_in(
            tx,
            &project.id,
            NewEmail::builtin(EMAIL_VERIFICATION, recipient, json!({ "emailVerificationLink": link })),
        )?;
        Ok(())
    }

    fn limit(&self, user_id: &str) -> ApiResult<()> {
        if self.infra.limiter.enabled() {
            self.infra.limiter.check(VERIFICATION_PER_USER, user_id)?;
        }
        Ok(())
    }

    /// `POST /contact-channels/{user_id}/{id}/send-verification-code` (spec 10 §2.1).
    pub async fn send_channel_verification(
        self: &Arc<Self>,
        project: &Project,
        user_id: String,
        channel_id: String,
        callback_url: String,
    ) -> ApiResult<()> {
        self.limit(&user_id)?;
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                if !user_store::exists(tx, &project.id, &user_id)? {
                    return Err(KnownError::user_id_does_not_exist(&user_id).into());
                }
                let c = store::load(tx, &project.id, &user_id, &channel_id)?
                    .ok_or_else(|| ApiError::plain(StatusCode::NOT_FOUND, "Contact channel not found"))?;
                if c.is_verified {
                    return Err(email_already_verified());
                }
                me.send_verification_in(tx, &project, &user_id, &c.value, &callback_url)
            })
            .await
    }

    /// Legacy `POST /contact-channels/send-verification-code` (spec 10 §2.2): the primary e-mail.
    pub async fn send_primary_verification(
        self: &Arc<Self>,
        project: &Project,
        user_id: String,
        email: String,
        callback_url: String,
    ) -> ApiResult<()> {
        self.limit(&user_id)?;
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                let user = user_store::load(tx, &project.id, &user_id)?.ok_or_else(KnownError::user_not_found)?;
                if user.primary_email.as_deref() != Some(email.as_str()) {
                    return Err(KnownError::new(
                        "EMAIL_IS_NOT_PRIMARY_EMAIL",
                        400,
                        format!("{email} is not this user's primary e-mail address."),
                    )
                    .with_details(json!({ "email": email, "primary_email": user.primary_email }))
                    .into());
                }
                if user.primary_email_verified {
                    return Err(email_already_verified());
                }
                me.send_verification_in(tx, &project, &user_id, &email, &callback_url)
            })
            .await
    }

    /// `POST /contact-channels/verify` (and `/check-code` with `check_only`), spec 10 §2.3.
    pub async fn verify(&self, project_id: &str, code: String, check_only: bool) -> ApiResult<()> {
        let project_id = project_id.to_string();
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let valid =
                    match verification::check(tx, &project_id, verification::CONTACT_CHANNEL_VERIFICATION, &code, now)?
                    {
                        Ok(v) => v,
                        Err(e) => return Ok(Err(e.into())),
                    };
                if check_only {
                    return Ok(Ok(()));
                }
                verification::mark_used(tx, &valid.id, now)?;
                let (Some(user_id), Some(email)) = (valid.user_id(), valid.email()) else {
                    return Ok(Err(KnownError::verification_code_not_found().into()));
                };
                if !store::mark_verified(tx, user_id, email)? {
                    return Ok(Err(ApiError::bad_request(
                        "Contact channel not found. Was your contact channel deleted?",
                    )));
                }
                tx.changed(user_store::TABLE, user_id);
                Ok(Ok(()))
            })
            .await?;
        outcome
    }
}

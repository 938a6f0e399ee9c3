//! Password reset, update and set (spec 10 §4.3–§4.6).

use std::sync::Arc;

use serde_json::json;

use crate::auth::check_password_strength;
use crate::auth::service::{client_key, AuthService};
use crate::crypto::password;
use crate::db::now_millis;
use crate::emails::templates::PASSWORD_RESET;
use crate::emails::{NewEmail, Recipient};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::RequestAuth;
use crate::rate_limit::Limit;
use crate::users::changes::UserChanges;
use crate::users::store as user_store;
use crate::verification;

pub const RESET_CODE_PER_IP: Limit = Limit::per_minute("password-reset-code/ip", 10);
pub const RESET_CODE_PER_EMAIL: Limit = Limit::per_minute("password-reset-code/email", 3);
/// Guesses at the old password of one user.
pub const UPDATE_PER_USER: Limit = Limit::per_minute("password-update/user", 10);

/// `send-reset-code` answers no sooner than this (plus up to 100 ms of jitter), whether or not the
/// address has an account, so its timing does not tell either (upstream waits 2–3 s for unknown
/// addresses and sends the e-mail inline for known ones).
const RESET_CODE_MIN_MILLIS: u64 = 300;

/// What `send-reset-code` answers whether or not the address has an account.
pub const RESET_CODE_ANSWER: &str = "maybe, only if user with e-mail exists";

fn enabled(auth: &RequestAuth) -> ApiResult<()> {
    if auth.project().config.credential_enabled {
        Ok(())
    } else {
        Err(KnownError::password_authentication_not_enabled().into())
    }
}

impl AuthService {
    /// `POST /auth/password/send-reset-code`. The answer is the same whether or not the address
    /// has an account; the callback URL is checked first, for every address, so that check
    /// reveals nothing either (upstream checks it only for existing accounts).
    pub async fn send_password_reset_code(
        self: &Arc<Self>,
        auth: &RequestAuth,
        email: String,
        callback_url: String,
    ) -> ApiResult<()> {
        enabled(auth)?;
        if !auth.project().config.is_trusted_url(&callback_url) {
            return Err(KnownError::redirect_url_not_whitelisted().into());
        }
        self.limit(RESET_CODE_PER_IP, client_key)?;
        self.limit(RESET_CODE_PER_EMAIL, || format!("{}/{}", auth.project_id(), email.to_lowercase()))?;
        let answer_at = tokio::time::Instant::now()
            + std::time::Duration::from_millis(RESET_CODE_MIN_MILLIS + rand::random::<u64>() % 100);
        let (me, project) = (self.clone(), auth.project.clone());
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let Some(user_id) = user_store::find_auth_user_by_email(tx, &project.id, &email)? else {
                    return Ok(());
                };
                let code = verification::create(
                    tx,
                    &project.id,
                    verification::PASSWORD_RESET,
                    &json!({ "user_id": user_id }),
                    &json!({ "email": email }),
                    verification::DEFAULT_LIFETIME_MILLIS,
                    now_millis(),
                )?;
                let link = verification::link_with_code(&callback_url, &code);
                let recipient = Recipient::UserCustomEmails { user_id, emails: vec![email] };
                me.emails.enqueue_in(
                    tx,
                    &project.id,
                    NewEmail::builtin(PASSWORD_RESET, recipient, json!({ "passwordResetLink": link })),
                )?;
                Ok(())
            })
            .await;
        tokio::time::sleep_until(answer_at).await;
        outcome
    }

    /// Spec 10 §3 steps 1–3 for a reset code; with `consume`, the code is used up (committed even
    /// if what follows fails). Returns the user the code is for.
    async fn take_reset_code(&self, auth: &RequestAuth, code: String, consume: bool) -> ApiResult<String> {
        let project_id = auth.project_id().to_string();
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let valid = match verification::check(tx, &project_id, verification::PASSWORD_RESET, &code, now)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(ApiError::from(e))),
                };
                if consume {
                    verification::mark_used(tx, &valid.id, now)?;
                }
                Ok(valid.user_id().map(String::from).ok_or_else(|| KnownError::verification_code_not_found().into()))
            })
            .await?;
        outcome
    }

    pub async fn check_password_reset_code(&self, auth: &RequestAuth, code: String) -> ApiResult<()> {
        self.take_reset_code(auth, code, false).await.map(|_| ())
    }

    /// `POST /auth/password/reset`: the code is used up first, then the password is checked and
    /// set; every session of the user ends.
    pub async fn reset_password(
        self: &Arc<Self>,
        auth: &RequestAuth,
        code: String,
        new_password: String,
    ) -> ApiResult<()> {
        let user_id = self.take_reset_code(auth, code, true).await?;
        enabled(auth)?;
        check_password_strength(&new_password)?;
        let hash = self.infra.hash_work(move || password::hash(&new_password)).await?;
        let (me, project) = (self.clone(), auth.project.clone());
        self.infra
            .db
            .write(move |tx| {
                let project = &project.project;
                if !user_store::exists(tx, &project.id, &user_id)? {
                    return Err(KnownError::user_not_found().into());
                }
                let changes = UserChanges { password_hash: Some(Some(hash)), ..Default::default() };
                me.users.apply_in(tx, project, &user_id, changes).map(|_| ())
            })
            .await
    }

    /// `POST /auth/password/update`: checks the old password, sets the new one and ends every
    /// other session (all of them when no refresh token is sent).
    pub async fn update_password(
        self: &Arc<Self>,
        auth: &RequestAuth,
        user_id: String,
        old_password: String,
        new_password: String,
        keep_refresh_token: Option<String>,
    ) -> ApiResult<()> {
        enabled(auth)?;
        check_password_strength(&new_password)?;
        let id = user_id.clone();
        let current = self.infra.db.read(move |c| user_store::password_hash(c, &id)).await?;
        let Some(current) = current else {
            return Err(KnownError::new(
                "USER_DOES_NOT_HAVE_PASSWORD",
                400,
                "This user has no password; set one instead.",
            )
            .into());
        };
        self.limit(UPDATE_PER_USER, || user_id.clone())?;
        let new_hash = self
            .infra
            .hash_work(move || password::verify(&old_password, &current).then(|| password::hash(&new_password)))
            .await?
            .ok_or_else(|| KnownError::new("PASSWORD_CONFIRMATION_MISMATCH", 400, "The old password is wrong."))?;
        let (me, project_id) = (self.clone(), auth.project_id().to_string());
        self.infra
            .db
            .write(move |tx| {
                user_store::require(tx, &project_id, &user_id)?;
                user_store::set_password_hash(tx, &user_id, Some(&new_hash))?;
                tx.changed(user_store::TABLE, &user_id);
                me.sessions.revoke_others_in(tx, &user_id, keep_refresh_token.as_deref())
            })
            .await
    }

    /// `POST /auth/password/set`: a first password for a user without one. Sessions stay.
    pub async fn set_password(
        self: &Arc<Self>,
        auth: &RequestAuth,
        user_id: String,
        new_password: String,
    ) -> ApiResult<()> {
        enabled(auth)?;
        check_password_strength(&new_password)?;
        let id = user_id.clone();
        if self.infra.db.read(move |c| user_store::password_hash(c, &id)).await?.is_some() {
            return Err(ApiError::bad_request("User already has a password set."));
        }
        let hash = self.infra.hash_work(move || password::hash(&new_password)).await?;
        let project_id = auth.project_id().to_string();
        self.infra
            .db
            .write(move |tx| {
                user_store::require(tx, &project_id, &user_id)?;
                if user_store::password_hash(tx, &user_id)?.is_some() {
                    return Err(ApiError::bad_request("User already has a password set."));
                }
                user_store::set_password_hash(tx, &user_id, Some(&hash))?;
                tx.changed(user_store::TABLE, &user_id);
                Ok(())
            })
            .await
    }
}

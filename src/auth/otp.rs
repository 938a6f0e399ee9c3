//! Magic link / OTP sign-in and sign-up (spec 10 §5). The e-mailed code is 45 characters; its first
//! six (upper-cased) are the OTP typed by hand and the other 39 the nonce returned to the app, so
//! `OTP + nonce` is the whole code again. Every guess counts against the nonce (see `verification`).

use std::sync::Arc;

use poem::http::StatusCode;
use serde_json::json;

use crate::auth::mfa;
use crate::auth::service::{client_key, AuthService, IssuedSession};
use crate::auth::sign_up_rules::{self, SignUpContext};
use crate::contact_channels::store as channel_store;
use crate::db::{now_millis, Tx};
use crate::emails::templates::MAGIC_LINK;
use crate::emails::{NewEmail, Recipient};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::RequestAuth;
use crate::projects::Project;
use crate::rate_limit::Limit;
use crate::sessions::DEFAULT_SESSION_MILLIS;
use crate::users::changes::{self, UserChanges};
use crate::users::store as user_store;
use crate::verification;

pub const OTP_SEND_PER_IP: Limit = Limit::per_minute("otp-send/ip", 20);
pub const OTP_SEND_PER_EMAIL: Limit = Limit::per_minute("otp-send/email", 5);
pub const OTP_SIGN_IN_PER_IP: Limit = Limit::per_minute("otp-sign-in/ip", 30);

const OTP_LENGTH: usize = 6;

/// Who an address belongs to, for OTP (spec 10 §5.1 step 2).
enum Owner {
    Verified(String),
    None,
}

/// The step-2 lookup: a verified owner, nobody (if sign-up is allowed), or the error to answer.
fn owner_of(tx: &Tx, project: &Project, email: &str) -> ApiResult<Owner> {
    match channel_store::find_auth_channel(tx, &project.id, email)? {
        Some(c) if c.is_verified => Ok(Owner::Verified(c.user_id)),
        Some(_) => Err(KnownError::user_email_already_exists(email, true).into()),
        None if !project.config.sign_up_enabled => Err(KnownError::sign_up_not_enabled().into()),
        None => Ok(Owner::None),
    }
}

impl AuthService {
    /// `POST /auth/otp/send-sign-in-code`: mails a magic link and OTP; returns the nonce.
    pub async fn send_sign_in_code(
        self: &Arc<Self>,
        auth: &RequestAuth,
        email: String,
        callback_url: String,
    ) -> ApiResult<String> {
        if !auth.project().config.magic_link_enabled {
            return Err(ApiError::plain(StatusCode::FORBIDDEN, "OTP sign-in is not enabled for this project"));
        }
        self.limit(OTP_SEND_PER_IP, client_key)?;
        self.limit(OTP_SEND_PER_EMAIL, || format!("{}/{}", auth.project_id(), email.to_lowercase()))?;
        let (me, project) = (self.clone(), auth.project.clone());
        self.infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let owner = owner_of(tx, project, &email)?;
                if let Owner::Verified(user_id) = &owner {
                    // A verified owner without OTP gets it now (upstream's silent account merge).
                    if !user_store::require(tx, &project.id, user_id)?.otp_auth_enabled {
                        user_store::set_int(tx, user_id, "otp_auth_enabled", 1)?;
                        tx.changed(user_store::TABLE, user_id);
                    }
                }
                if !project.config.is_trusted_url(&callback_url) {
                    return Err(KnownError::redirect_url_not_whitelisted().into());
                }
                let code = verification::create(
                    tx,
                    &project.id,
                    verification::ONE_TIME_PASSWORD,
                    &json!({}),
                    &json!({ "email": email }),
                    verification::DEFAULT_LIFETIME_MILLIS,
                    now_millis(),
                )?;
                let otp = code[..OTP_LENGTH].to_uppercase();
                let variables = json!({ "magicLink": verification::link_with_code(&callback_url, &code), "otp": otp });
                let recipient = match owner {
                    Owner::Verified(user_id) => Recipient::UserCustomEmails { user_id, emails: vec![email] },
                    Owner::None => Recipient::CustomEmails { emails: vec![email] },
                };
                me.emails.enqueue_in(tx, &project.id, NewEmail::builtin(MAGIC_LINK, recipient, variables))?;
                Ok(code[OTP_LENGTH..].to_string())
            })
            .await
    }

    /// `POST /auth/otp/sign-in` (and `/check-code` with `check_only`): signs in the address's
    /// owner, or signs up a new user (upgrading the caller if anonymous). Returns the session and
    /// whether the user is new; `None` for a check.
    pub async fn sign_in_with_otp(
        self: &Arc<Self>,
        auth: &RequestAuth,
        code: String,
        check_only: bool,
    ) -> ApiResult<Option<(IssuedSession, bool)>> {
        self.limit(OTP_SIGN_IN_PER_IP, client_key)?;
        let upgrade = if check_only { None } else { self.anonymous_caller(auth).await? };
        let (me, project) = (self.clone(), auth.project.clone());
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let now = now_millis();
                let valid = match verification::check(tx, &project.id, verification::ONE_TIME_PASSWORD, &code, now)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(ApiError::from(e))),
                };
                // MFA attempt codes share the type but name no address: not a sign-in code.
                let Some(email) = valid.email().map(String::from) else {
                    return Ok(Err(KnownError::verification_code_not_found().into()));
                };
                if check_only {
                    return Ok(Ok(None));
                }
                verification::mark_used(tx, &valid.id, now)?;
                // Failures from here on leave the code used (spec 10 §3 step 5).
                Ok(me.finish_otp_sign_in(tx, project, &email, upgrade).map(Some))
            })
            .await?;
        outcome
    }

    fn finish_otp_sign_in(
        &self,
        tx: &Tx,
        project: &Project,
        email: &str,
        upgrade: Option<String>,
    ) -> ApiResult<(IssuedSession, bool)> {
        let (user, is_new_user) = match owner_of(tx, project, email)? {
            Owner::Verified(user_id) => (user_store::require(tx, &project.id, &user_id)?, false),
            Owner::None => {
                let email = changes::normalize_email(email)
                    .ok_or_else(|| KnownError::schema("body.email must be a valid email"))?;
                let restriction =
                    sign_up_rules::enforce(&project.config, &SignUpContext::new(Some(&email), "otp", None))?;
                let mut changes = UserChanges {
                    primary_email: Some(Some(email)),
                    primary_email_verified: Some(true),
                    primary_email_auth_enabled: Some(true),
                    otp_auth_enabled: Some(true),
                    is_anonymous: Some(false),
                    ..Default::default()
                };
                sign_up_rules::restrict(&mut changes, restriction);
                let user = match upgrade {
                    Some(id) => self.users.apply_in(tx, project, &id, changes)?,
                    None => self.users.create_in(tx, project, changes)?,
                };
                (user, true)
            }
        };
        if user.requires_totp_mfa {
            return Err(mfa::second_factor_required(tx, &project.id, &user.id, is_new_user, now_millis())?.into());
        }
        Ok((self.issue_session_in(tx, project, &user, DEFAULT_SESSION_MILLIS, false)?, is_new_user))
    }
}

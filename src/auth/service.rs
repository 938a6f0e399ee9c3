//! Sign-up and sign-in rules and transactions. Every sign-in method ends in [`AuthService::issue_session_in`],
//! the one path that starts a session and mints its tokens, and every sign-up creates its user
//! through `UsersService::create_in`, in the same transaction.

use std::sync::Arc;
use std::time::Duration;

use crate::auth::sign_up_rules::{self, SignUpContext};
use crate::auth::{check_password_strength, mfa};
use crate::contact_channels::ContactChannelsService;
use crate::crypto::{password, random_secret};
use crate::db::{now_millis, Tx};
use crate::emails::EmailsService;
use crate::error::{ApiResult, KnownError};
use crate::infra::Infra;
use crate::projects::access::RequestAuth;
use crate::projects::Project;
use crate::rate_limit::Limit;
use crate::sessions::{SessionsService, DEFAULT_SESSION_MILLIS};
use crate::users::changes::{self, UserChanges};
use crate::users::{store as user_store, UserRecord, UsersService};
use crate::verification;

/// Credential endpoints, per client IP and per account (outside `--dev`, see `rate_limit`).
pub const SIGN_IN_PER_IP: Limit = Limit::per_minute("password-sign-in/ip", 30);
pub const SIGN_IN_PER_ACCOUNT: Limit = Limit::per_minute("password-sign-in/account", 10);
pub const SIGN_UP_PER_IP: Limit = Limit::per_minute("sign-up/ip", 20);
pub const MFA_PER_IP: Limit = Limit::per_minute("mfa-sign-in/ip", 30);
/// TOTP guesses per user, whatever attempt code they come with; on even in development mode,
/// because it is what makes a 6-digit code safe to accept.
pub const TOTP_PER_USER: Limit = Limit { name: "totp/user", max: 30, window: Duration::from_secs(10 * 60) };

/// What every sign-in returns.
pub struct IssuedSession {
    pub user_id: String,
    pub session_id: String,
    pub refresh_token: String,
    pub access_token: String,
}

pub struct AuthService {
    pub(super) infra: Arc<Infra>,
    pub(super) users: Arc<UsersService>,
    pub(super) sessions: Arc<SessionsService>,
    pub(super) emails: Arc<EmailsService>,
    pub(super) contact_channels: Arc<ContactChannelsService>,
}

pub(super) fn client_key() -> String {
    crate::request_info::client_ip().map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
}

impl AuthService {
    pub fn new(
        infra: Arc<Infra>,
        users: Arc<UsersService>,
        sessions: Arc<SessionsService>,
        emails: Arc<EmailsService>,
        contact_channels: Arc<ContactChannelsService>,
    ) -> Self {
        AuthService { infra, users, sessions, emails, contact_channels }
    }

    /// Counts a request against `limit`; the key is only built when rate limiting is on.
    pub(super) fn limit(&self, limit: Limit, key: impl FnOnce() -> String) -> ApiResult<()> {
        if !self.infra.limiter.enabled() {
            return Ok(());
        }
        self.infra.limiter.check(limit, &key())
    }

    /// Starts a session for `user` inside the caller's transaction and mints both tokens. Also marks
    /// the user active (spec 10 §1.9).
    pub fn issue_session_in(
        &self,
        tx: &Tx,
        project: &Project,
        user: &UserRecord,
        lifetime_millis: i64,
        is_impersonation: bool,
    ) -> ApiResult<IssuedSession> {
        let now = now_millis();
        let refresh_token = random_secret();
        let session_id = self.sessions.insert_in(
            tx,
            &project.id,
            &user.id,
            &refresh_token,
            now + lifetime_millis,
            is_impersonation,
            now,
        )?;
        user_store::touch_last_active(tx, &user.id, now)?;
        let access_token =
            self.infra.tokens.mint(&project.id, &user.token_subject(&project.config), &session_id, now / 1000);
        Ok(IssuedSession { user_id: user.id.clone(), session_id, refresh_token, access_token })
    }

    /// Exchanges a refresh token for a new access token (no rotation). Reads only, through the
    /// hot-path caches; the activity it implies is written in batches (see `sessions::activity`).
    pub async fn refresh(&self, project: &Project, refresh_token: &str) -> ApiResult<String> {
        let session = self
            .sessions
            .find_by_refresh_token(&project.id, refresh_token)
            .await?
            .ok_or_else(KnownError::refresh_token_not_found_or_expired)?;
        let user = self
            .users
            .get(&project.id, &session.user_id)
            .await?
            .ok_or_else(KnownError::refresh_token_not_found_or_expired)?;
        let now = now_millis();
        let token = self.infra.tokens.mint(&project.id, &user.token_subject(&project.config), &session.id, now / 1000);
        self.sessions.record_activity(&session.id, &session.user_id, now);
        Ok(token)
    }

    /// `POST /auth/sessions`: a session made by the server for an existing user.
    pub async fn create_session(
        self: &Arc<Self>,
        project: &Project,
        user_id: String,
        lifetime_millis: i64,
        is_impersonation: bool,
    ) -> ApiResult<IssuedSession> {
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                let user = user_store::load(tx, &project.id, &user_id)?
                    .ok_or_else(|| KnownError::user_id_does_not_exist(&user_id))?;
                me.issue_session_in(tx, &project, &user, lifetime_millis, is_impersonation)
            })
            .await
    }

    /// The signed-in user if it is anonymous: sign-up then upgrades it in place.
    pub(super) async fn anonymous_caller(&self, auth: &RequestAuth) -> ApiResult<Option<String>> {
        let Some(token) = auth.token.as_ref().filter(|t| t.is_anonymous) else {
            return Ok(None);
        };
        let user = self.users.get(auth.project_id(), &token.sub).await?;
        Ok(user.filter(|u| u.is_anonymous).map(|u| u.id.clone()))
    }

    /// E-mail + password sign-up (spec 10 §4.1), checks in upstream's order.
    pub async fn sign_up_with_password(
        self: &Arc<Self>,
        auth: &RequestAuth,
        email: &str,
        password: String,
        verification_callback_url: Option<&str>,
    ) -> ApiResult<IssuedSession> {
        if email.is_empty() {
            return Err(KnownError::schema("body.email must not be empty").into());
        }
        if !changes::is_valid_sign_up_email(email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        let config = &auth.project().config;
        if !config.credential_enabled {
            return Err(KnownError::password_authentication_not_enabled().into());
        }
        if let Some(url) = verification_callback_url {
            if !config.is_trusted_url(url) {
                return Err(KnownError::redirect_url_not_whitelisted().into());
            }
        }
        if !config.sign_up_enabled {
            return Err(KnownError::sign_up_not_enabled().into());
        }
        check_password_strength(&password)?;
        self.limit(SIGN_UP_PER_IP, client_key)?;

        let email =
            changes::normalize_email(email).ok_or_else(|| KnownError::schema("body.email must be a valid email"))?;
        // The rules run before anything is written (SIGN_UP_REJECTED wins over a taken e-mail).
        let restriction = sign_up_rules::enforce(config, &SignUpContext::new(Some(&email), "password", None))?;
        let hash = self.infra.hash_work(move || password::hash(&password)).await?;
        let upgrade = self.anonymous_caller(auth).await?;
        let mut changes = UserChanges {
            primary_email: Some(Some(email)),
            primary_email_verified: Some(false),
            primary_email_auth_enabled: Some(true),
            password_hash: Some(Some(hash)),
            is_anonymous: Some(false),
            ..Default::default()
        };
        sign_up_rules::restrict(&mut changes, restriction);
        let (me, project) = (self.clone(), auth.project.clone());
        let callback = verification_callback_url.map(String::from);
        self.infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let user = match upgrade {
                    // The upgrade keeps the id; the password change ends the anonymous sessions.
                    Some(id) => me.users.apply_in(tx, project, &id, changes)?,
                    None => me.users.create_in(tx, project, changes)?,
                };
                // The verification e-mail is queued with the account: both or neither (spec 10 §4.1).
                if let (Some(url), Some(email)) = (&callback, &user.primary_email) {
                    me.contact_channels.send_verification_in(tx, project, &user.id, email, url)?;
                }
                me.issue_session_in(tx, project, &user, DEFAULT_SESSION_MILLIS, false)
            })
            .await
    }

    /// E-mail + password sign-in (spec 10 §4.2). A user with TOTP gets an attempt code instead.
    pub async fn sign_in_with_password(
        self: &Arc<Self>,
        auth: &RequestAuth,
        email: &str,
        password: String,
    ) -> ApiResult<IssuedSession> {
        if !auth.project().config.credential_enabled {
            return Err(KnownError::password_authentication_not_enabled().into());
        }
        self.limit(SIGN_IN_PER_IP, client_key)?;
        self.limit(SIGN_IN_PER_ACCOUNT, || {
            format!("{}/{}", auth.project_id(), changes::normalize_email(email).unwrap_or_default())
        })?;

        let project_id = auth.project_id().to_string();
        let email = email.to_string();
        let found = self
            .infra
            .db
            .read(move |c| {
                let Some(user_id) = user_store::find_auth_user_by_email(c, &project_id, &email)? else {
                    return Ok(None);
                };
                Ok(user_store::password_hash(c, &user_id)?.map(|h| (user_id, h)))
            })
            .await?;
        let user_id = self
            .infra
            .hash_work(move || match found {
                Some((user_id, hash)) if password::verify(&password, &hash) => Some(user_id),
                Some(_) => None,
                None => {
                    password::verify_dummy(&password);
                    None
                }
            })
            .await?
            .ok_or_else(KnownError::email_password_mismatch)?;

        let (me, project) = (self.clone(), auth.project.clone());
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let user = user_store::require(tx, &project.id, &user_id)?;
                if user.requires_totp_mfa {
                    // The attempt code must be stored, so this is a committed outcome, not an error.
                    return Ok(Err(mfa::second_factor_required(tx, &project.id, &user.id, false, now_millis())?));
                }
                Ok(Ok(me.issue_session_in(tx, project, &user, DEFAULT_SESSION_MILLIS, false)?))
            })
            .await?;
        Ok(outcome?)
    }

    /// Completes a sign-in that answered `MULTI_FACTOR_AUTHENTICATION_REQUIRED` (spec 10 §8).
    /// Returns the session and whether the user was created by the first step.
    pub async fn sign_in_with_mfa(
        self: &Arc<Self>,
        auth: &RequestAuth,
        code: String,
        totp: String,
    ) -> ApiResult<(IssuedSession, bool)> {
        self.limit(MFA_PER_IP, client_key)?;
        let (me, project) = (self.clone(), auth.project.clone());
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let project = &project.project;
                let valid = match verification::check(tx, &project.id, verification::ONE_TIME_PASSWORD, &code, now)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e.into())),
                };
                // Only MFA attempt codes name a user; any other one-time code is not one.
                let Some(user_id) = valid.data.get("user_id").and_then(|v| v.as_str()).map(String::from) else {
                    return Ok(Err(KnownError::verification_code_not_found().into()));
                };
                // The per-user budget survives fresh attempt codes: each password sign-in makes a
                // new code, but guesses at this user's TOTP are counted here.
                if let Err(e) = me.infra.limiter.budget(TOTP_PER_USER, &user_id) {
                    return Ok(Err(e));
                }
                let is_new_user = valid.data.get("is_new_user").and_then(|v| v.as_bool()).unwrap_or(false);
                let secret = user_store::totp_secret(tx, &user_id)?;
                if !secret.is_some_and(|s| mfa::verify_totp(&s, &totp, now / 1000)) {
                    return Ok(Err(KnownError::new(
                        "INVALID_TOTP_CODE",
                        400,
                        "The TOTP code is invalid. Please try again.",
                    )
                    .into()));
                }
                verification::mark_used(tx, &valid.id, now)?;
                let user = user_store::require(tx, &project.id, &user_id)?;
                Ok(Ok((me.issue_session_in(tx, project, &user, DEFAULT_SESSION_MILLIS, false)?, is_new_user)))
            })
            .await?;
        outcome
    }

    /// Creates an anonymous user and signs it in.
    pub async fn sign_up_anonymously(self: &Arc<Self>, auth: &RequestAuth) -> ApiResult<IssuedSession> {
        self.limit(SIGN_UP_PER_IP, client_key)?;
        let (me, project) = (self.clone(), auth.project.clone());
        self.infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let changes = UserChanges { is_anonymous: Some(true), ..Default::default() };
                let user = me.users.create_in(tx, project, changes)?;
                me.issue_session_in(tx, project, &user, DEFAULT_SESSION_MILLIS, false)
            })
            .await
    }
}

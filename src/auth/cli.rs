//! Sign-in from a command-line tool (upstream's `auth/cli` routes): the CLI starts an attempt and
//! gets a polling code and a login code; it sends the user to a page that, signed in, completes
//! the attempt with the login code; the CLI polls and receives a refresh token of its own. Codes
//! are stored hashed, the CLI's session is issued when it polls, and attempts expire (2 h by
//! default, at most 24 h).

use std::sync::Arc;

use crate::auth::service::{client_key, IssuedSession};
use crate::auth::{store, AuthService};
use crate::crypto::{hash_secret, random_secret};
use crate::db::{now_millis, Db};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::jobs::Jobs;
use crate::projects::access::RequestAuth;
use crate::rate_limit::Limit;
use crate::sessions::DEFAULT_SESSION_MILLIS;
use crate::users::store as user_store;

/// Attempts started per minute and IP: each one is a stored row.
pub const CLI_START_PER_IP: Limit = Limit::per_minute("cli-auth-start/ip", 20);
pub const DEFAULT_EXPIRY_MILLIS: i64 = 2 * 3600 * 1000;
pub const MAX_EXPIRY_MILLIS: i64 = 24 * 3600 * 1000;

pub struct CliCodes {
    pub polling_code: String,
    pub login_code: String,
    pub expires_at: i64,
}

pub enum CliPoll {
    Waiting,
    Expired,
    Used,
    /// The CLI's own new session's refresh token.
    Success(String),
}

pub enum CliMode {
    Check,
    ClaimAnonSession,
    Complete,
}

pub enum CliCompleted {
    /// `check`: `anonymous` when the CLI started with a live anonymous session, else `none`.
    State(&'static str),
    /// `claim-anon-session`: a session of that anonymous user, for the browser.
    Claimed(IssuedSession),
    Completed,
}

fn invalid_login_code() -> ApiError {
    ApiError::bad_request("Invalid login code or the code has expired")
}

impl AuthService {
    pub async fn start_cli(
        &self,
        auth: &RequestAuth,
        expires_in_millis: i64,
        anon_refresh_token: Option<String>,
    ) -> ApiResult<CliCodes> {
        self.limit(CLI_START_PER_IP, client_key)?;
        let project_id = auth.project_id().to_string();
        let anon_user_id = match anon_refresh_token {
            None => None,
            Some(token) => {
                let session = self
                    .sessions
                    .find_by_refresh_token(&project_id, &token)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("Invalid anon refresh token"))?;
                let user = self
                    .users
                    .get(&project_id, &session.user_id)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("User not found for provided refresh token"))?;
                if !user.is_anonymous {
                    return Err(ApiError::bad_request(
                        "The provided refresh token does not belong to an anonymous user",
                    ));
                }
                Some(user.id.clone())
            }
        };
        let codes = CliCodes {
            polling_code: random_secret(),
            login_code: random_secret(),
            expires_at: now_millis() + expires_in_millis,
        };
        let (polling, login, expires_at) =
            (hash_secret(&codes.polling_code), hash_secret(&codes.login_code), codes.expires_at);
        self.infra
            .db
            .write(move |tx| {
                let id = uuid::Uuid::new_v4().to_string();
                store::insert_cli_attempt(
                    tx,
                    &id,
                    &project_id,
                    &polling,
                    &login,
                    anon_user_id.as_deref(),
                    expires_at,
                    now_millis(),
                )
            })
            .await?;
        Ok(codes)
    }

    /// The CLI's poll: on the first poll after completion it gets a session of its own.
    pub async fn poll_cli(self: &Arc<Self>, auth: &RequestAuth, polling_code: &str) -> ApiResult<CliPoll> {
        let hash = hash_secret(polling_code);
        let (me, project) = (self.clone(), auth.project.clone());
        self.infra
            .db
            .write(move |tx| {
                let project = &project.project;
                let attempt = store::cli_attempt_by_polling(tx, &project.id, &hash)?
                    .ok_or_else(|| KnownError::schema_message("The polling code is invalid or does not exist."))?;
                let now = now_millis();
                if attempt.expires_at < now {
                    return Ok(CliPoll::Expired);
                }
                if attempt.used_at.is_some() {
                    return Ok(CliPoll::Used);
                }
                let Some(user_id) = attempt.user_id else { return Ok(CliPoll::Waiting) };
                let user = user_store::load(tx, &project.id, &user_id)?.ok_or_else(KnownError::user_not_found)?;
                if !store::use_cli_attempt(tx, &attempt.id, now)? {
                    return Ok(CliPoll::Used);
                }
                Ok(CliPoll::Success(
                    me.issue_session_in(tx, project, &user, DEFAULT_SESSION_MILLIS, false)?.refresh_token,
                ))
            })
            .await
    }

    /// The browser's side: inspect the attempt, take over the CLI's anonymous session, or complete
    /// it as the user of `refresh_token`.
    pub async fn complete_cli(
        self: &Arc<Self>,
        auth: &RequestAuth,
        login_code: &str,
        mode: CliMode,
        refresh_token: Option<String>,
    ) -> ApiResult<CliCompleted> {
        let project = auth.project.clone();
        let project_id = project.project.id.clone();
        let hash = hash_secret(login_code);
        let attempt = {
            let project_id = project_id.clone();
            self.infra.db.read(move |c| store::cli_attempt_by_login(c, &project_id, &hash)).await?
        };
        let attempt = attempt
            .filter(|a| a.user_id.is_none() && a.used_at.is_none() && a.expires_at > now_millis())
            .ok_or_else(invalid_login_code)?;
        let anonymous = match &attempt.anon_user_id {
            Some(id) => self.users.get(&project_id, id).await?.filter(|u| u.is_anonymous),
            None => None,
        };
        match mode {
            CliMode::Check => Ok(CliCompleted::State(if anonymous.is_some() { "anonymous" } else { "none" })),
            CliMode::ClaimAnonSession => {
                let no_session = || ApiError::bad_request("No anonymous session associated with this code");
                let user = anonymous.ok_or_else(no_session)?;
                let me = self.clone();
                let session = self
                    .infra
                    .db
                    .write(move |tx| {
                        if !store::take_cli_anon_user(tx, &attempt.id, &user.id, now_millis())? {
                            return Err(no_session());
                        }
                        me.issue_session_in(tx, &project.project, &user, DEFAULT_SESSION_MILLIS, false)
                    })
                    .await?;
                Ok(CliCompleted::Claimed(session))
            }
            CliMode::Complete => {
                let token = refresh_token
                    .ok_or_else(|| ApiError::bad_request("refresh_token is required when mode is 'complete'"))?;
                let session = self
                    .sessions
                    .find_by_refresh_token(&project_id, &token)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("Invalid refresh token"))?;
                let user = self
                    .users
                    .get(&project_id, &session.user_id)
                    .await?
                    .ok_or_else(|| ApiError::bad_request("Invalid refresh token"))?;
                if let Some(reason) = user.restricted_reason(&project.project.config) {
                    return Err(KnownError::restricted_user_not_allowed(reason).into());
                }
                let completed = self
                    .infra
                    .db
                    .write(move |tx| store::complete_cli_attempt(tx, &attempt.id, &user.id, now_millis()))
                    .await?;
                if !completed {
                    return Err(invalid_login_code());
                }
                Ok(CliCompleted::Completed)
            }
        }
    }
}

/// Deletes expired attempts every hour (each one is a row that unauthenticated callers can create).
pub fn register_jobs(jobs: &Jobs, db: Db) {
    jobs.every_until_stop("cli-auth-pruning", std::time::Duration::from_secs(3600), move || {
        let db = db.clone();
        async move {
            match tokio::task::spawn_blocking(move || {
                db.write_now(|tx| store::delete_expired_cli_attempts(tx, now_millis()))
            })
            .await
            {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "CLI sign-in pruning failed"),
                Err(e) => tracing::error!(error = %e, "CLI sign-in pruning failed"),
            }
        }
    });
}

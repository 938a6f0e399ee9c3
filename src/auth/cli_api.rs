//! `POST /auth/cli`, `/auth/cli/poll`, `/auth/cli/complete`: sign-in from a command-line tool
//! (see [`crate::auth::cli`]).

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::auth::cli::{CliCompleted, CliMode, CliPoll, DEFAULT_EXPIRY_MILLIS, MAX_EXPIRY_MILLIS};
use crate::auth::AuthService;
use crate::db::format_millis;
use crate::error::{ApiResult, KnownError};
use crate::projects::access::ClientAuth;
use crate::web::Tag;

pub struct CliAuthApi {
    pub auth: Arc<AuthService>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct StartCliAuth {
    /// How long the codes work, in milliseconds (default 2 hours, at most 24 hours).
    #[oai(validator(minimum(value = "1"), maximum(value = "86400000")))]
    pub expires_in_millis: Option<i64>,
    /// The CLI's anonymous session, if it has one: the browser may take it over
    /// (`mode: claim-anon-session`).
    pub anon_refresh_token: Option<String>,
}

#[derive(Object)]
pub struct CliAuthCodes {
    /// The CLI keeps this and polls with it.
    pub polling_code: String,
    /// The CLI shows this to the user (usually inside a URL of the app's CLI sign-in page).
    pub login_code: String,
    /// ISO 8601.
    pub expires_at: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PollCliAuth {
    pub polling_code: String,
}

#[derive(Object)]
pub struct CliAuthStatus {
    /// `waiting`, `success`, `expired` or `used`.
    pub status: String,
    /// With `success` only: a refresh token of a new session for the CLI (returned once).
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CompleteCliAuth {
    pub login_code: String,
    /// `check`, `claim-anon-session` or `complete` (default).
    pub mode: Option<String>,
    /// `complete`: the signed-in browser's refresh token; the CLI signs in as that user.
    pub refresh_token: Option<String>,
}

/// One of three shapes by mode: `check` → `cli_session_state`; `claim-anon-session` →
/// `access_token` + `refresh_token`; `complete` → `success`.
#[derive(Object)]
pub struct CliAuthCompleted {
    /// `anonymous` or `none`.
    #[oai(skip_serializing_if_is_none)]
    pub cli_session_state: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub access_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub refresh_token: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub success: Option<bool>,
}

#[OpenApi(tag = "Tag::Auth")]
impl CliAuthApi {
    /// Starts a CLI sign-in: a polling code for the CLI and a login code for the browser.
    #[oai(path = "/auth/cli", method = "post", operation_id = "start_cli_auth")]
    async fn start(&self, auth: ClientAuth, body: Json<StartCliAuth>) -> ApiResult<Json<CliAuthCodes>> {
        let expires_in = body.0.expires_in_millis.unwrap_or(DEFAULT_EXPIRY_MILLIS).min(MAX_EXPIRY_MILLIS);
        let codes = self.auth.start_cli(&auth.0, expires_in, body.0.anon_refresh_token).await?;
        Ok(Json(CliAuthCodes {
            polling_code: codes.polling_code,
            login_code: codes.login_code,
            expires_at: format_millis(codes.expires_at),
        }))
    }

    /// The CLI's poll. After the browser completed the attempt, the first poll returns `success`
    /// with a refresh token; later polls return `used`.
    #[oai(path = "/auth/cli/poll", method = "post", operation_id = "poll_cli_auth")]
    async fn poll(&self, auth: ClientAuth, body: Json<PollCliAuth>) -> ApiResult<Json<CliAuthStatus>> {
        let status = |s: &str| CliAuthStatus { status: s.into(), refresh_token: None };
        Ok(Json(match self.auth.poll_cli(&auth.0, &body.0.polling_code).await? {
            CliPoll::Waiting => status("waiting"),
            CliPoll::Expired => status("expired"),
            CliPoll::Used => status("used"),
            CliPoll::Success(token) => CliAuthStatus { status: "success".into(), refresh_token: Some(token) },
        }))
    }

    /// The browser's side of a CLI sign-in (see the modes on the body).
    #[oai(path = "/auth/cli/complete", method = "post", operation_id = "complete_cli_auth")]
    async fn complete(&self, auth: ClientAuth, body: Json<CompleteCliAuth>) -> ApiResult<Json<CliAuthCompleted>> {
        let b = body.0;
        let mode = match b.mode.as_deref().unwrap_or("complete") {
            "check" => CliMode::Check,
            "claim-anon-session" => CliMode::ClaimAnonSession,
            "complete" => CliMode::Complete,
            _ => {
                return Err(KnownError::schema(
                    "body.mode must be one of the following values: check, claim-anon-session, complete",
                )
                .into())
            }
        };
        let empty =
            CliAuthCompleted { cli_session_state: None, access_token: None, refresh_token: None, success: None };
        Ok(Json(match self.auth.complete_cli(&auth.0, &b.login_code, mode, b.refresh_token).await? {
            CliCompleted::State(s) => CliAuthCompleted { cli_session_state: Some(s.into()), ..empty },
            CliCompleted::Claimed(s) => {
                CliAuthCompleted { access_token: Some(s.access_token), refresh_token: Some(s.refresh_token), ..empty }
            }
            CliCompleted::Completed => CliAuthCompleted { success: Some(true), ..empty },
        }))
    }
}

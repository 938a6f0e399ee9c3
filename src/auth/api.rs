//! `POST /auth/password/sign-up`, `POST /auth/password/sign-in`, `POST /auth/anonymous/sign-up`.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::api::Tag;
use crate::auth::{check_password_strength, mfa, MAX_PASSWORD_LENGTH};
use crate::context::{ClientAuth, RequestAuth};
use crate::crypto::password;
use crate::db::now_millis;
use crate::error::{ApiResult, KnownError};
use crate::sessions::{self, DEFAULT_SESSION_MILLIS};
use crate::state::State;
use crate::users::api::insert_user;
use crate::users::changes::{self, UserChanges};
use crate::users::store;
use crate::verification;

pub struct AuthApi {
    pub state: State,
}

#[derive(Object)]
pub struct SignUpBody {
    pub email: String,
    #[oai(validator(max_length = 70))]
    pub password: String,
    /// Where the e-mail verification link should lead; must be a trusted URL.
    pub verification_callback_url: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SignInBody {
    pub email: String,
    #[oai(validator(max_length = 70))]
    pub password: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct MfaSignInBody {
    /// The `attempt_code` from `MULTI_FACTOR_AUTHENTICATION_REQUIRED`.
    pub code: String,
    /// Always `totp`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The current 6-digit TOTP.
    pub totp: String,
}

/// Tokens of the new session, and whether the account was created by this sign-in.
#[derive(Object)]
pub struct SignInResult {
    pub access_token: String,
    pub refresh_token: String,
    pub is_new_user: bool,
    pub user_id: String,
}

/// Tokens of the new session.
#[derive(Object)]
pub struct SignedIn {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
}

impl AuthApi {
    /// The signed-in user if it is anonymous: sign-up then upgrades it in place.
    async fn anonymous_caller(&self, auth: &RequestAuth) -> ApiResult<Option<String>> {
        let Some(token) = auth.token.as_ref().filter(|t| t.is_anonymous) else {
            return Ok(None);
        };
        let (project_id, user_id) = (auth.project_id().to_string(), token.sub.clone());
        let user = self.state.db.read(move |c| store::load(c, &project_id, &user_id)).await?;
        Ok(user.filter(|u| u.is_anonymous).map(|u| u.id))
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Creates an account with e-mail and password and signs it in. Called while signed in as an
    /// anonymous user, it upgrades that user (same id) instead.
    #[oai(path = "/auth/password/sign-up", method = "post", operation_id = "sign_up_with_password")]
    async fn sign_up(&self, auth: ClientAuth, body: Json<SignUpBody>) -> ApiResult<Json<SignedIn>> {
        let auth = auth.0;
        let body = body.0;
        if !changes::is_valid_sign_up_email(&body.email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        let config = &auth.project().config;
        if !config.credential_enabled {
            return Err(KnownError::password_authentication_not_enabled().into());
        }
        if let Some(url) = &body.verification_callback_url {
            if !config.is_trusted_url(url) {
                return Err(KnownError::redirect_url_not_whitelisted().into());
            }
        }
        if !config.sign_up_enabled {
            return Err(KnownError::sign_up_not_enabled().into());
        }
        check_password_strength(&body.password)?;

        let email = changes::normalize_email(&body.email)
            .ok_or_else(|| KnownError::schema("body.email must be a valid email"))?;
        let plain = body.password;
        let hash = self.state.hash_work(move || password::hash(&plain)).await?;
        let upgrade = self.anonymous_caller(&auth).await?;
        let changes = UserChanges {
            primary_email: Some(Some(email)),
            primary_email_verified: Some(false),
            primary_email_auth_enabled: Some(true),
            password_hash: Some(Some(hash)),
            is_anonymous: Some(false),
            ..Default::default()
        };
        let state = self.state.clone();
        let project = auth.project.clone();
        let issued = self
            .state
            .db
            .write(move |tx| {
                let project_id = project.project.id.as_str();
                let user_id = match upgrade {
                    // The upgrade keeps the id; the password change ends the anonymous sessions.
                    Some(id) => {
                        changes.apply(tx, project_id, &id, false)?;
                        id
                    }
                    None => insert_user(tx, project_id, changes)?,
                };
                let issued =
                    sessions::start(tx, &state.tokens, &project.project, &user_id, DEFAULT_SESSION_MILLIS, false)?;
                Ok((user_id, issued))
            })
            .await?;
        Ok(Json(SignedIn {
            access_token: issued.1.access_token,
            refresh_token: issued.1.refresh_token,
            user_id: issued.0,
        }))
    }

    /// Signs in with e-mail and password.
    #[oai(path = "/auth/password/sign-in", method = "post", operation_id = "sign_in_with_password")]
    async fn sign_in(&self, auth: ClientAuth, body: Json<SignInBody>) -> ApiResult<Json<SignedIn>> {
        let auth = auth.0;
        let body = body.0;
        if body.email.is_empty() || !changes::is_valid_email(&body.email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        if body.password.encode_utf16().count() > MAX_PASSWORD_LENGTH {
            return Err(KnownError::schema("body.password must be at most 70 characters").into());
        }
        if !auth.project().config.credential_enabled {
            return Err(KnownError::password_authentication_not_enabled().into());
        }
        let project_id = auth.project_id().to_string();
        let email = body.email.clone();
        let found = self
            .state
            .db
            .read(move |c| {
                let Some(user_id) = store::find_auth_user_by_email(c, &project_id, &email)? else {
                    return Ok(None);
                };
                Ok(store::password_hash(c, &user_id)?.map(|h| (user_id, h)))
            })
            .await?;
        let plain = body.password;
        let user_id = self
            .state
            .hash_work(move || match found {
                Some((user_id, hash)) if password::verify(&plain, &hash) => Some(user_id),
                Some(_) => None,
                None => {
                    password::verify_dummy(&plain);
                    None
                }
            })
            .await?
            .ok_or_else(KnownError::email_password_mismatch)?;

        let state = self.state.clone();
        let project = auth.project.clone();
        let session_user = user_id.clone();
        let outcome = self
            .state
            .db
            .write(move |tx| {
                let project_id = project.project.id.as_str();
                let user = store::require(tx, project_id, &session_user)?;
                if user.requires_totp_mfa {
                    // The attempt code must be stored, so this is a committed outcome, not an error.
                    return Ok(Err(mfa::second_factor_required(tx, project_id, &session_user, false, now_millis())?));
                }
                Ok(Ok(sessions::start_for(tx, &state.tokens, &project.project, &user, DEFAULT_SESSION_MILLIS, false)?))
            })
            .await?;
        let issued = outcome?;
        Ok(Json(SignedIn { access_token: issued.access_token, refresh_token: issued.refresh_token, user_id }))
    }

    /// Completes a sign-in that answered `MULTI_FACTOR_AUTHENTICATION_REQUIRED`: the attempt code
    /// from its details plus the user's current TOTP.
    #[oai(path = "/auth/mfa/sign-in", method = "post", operation_id = "sign_in_with_mfa")]
    async fn mfa_sign_in(&self, auth: ClientAuth, body: Json<MfaSignInBody>) -> ApiResult<Json<SignInResult>> {
        let auth = auth.0;
        let body = body.0;
        let code = verification::parse(&body.code)?;
        if body.kind != "totp" {
            return Err(KnownError::schema("body.type must be one of the following values: totp").into());
        }
        let state = self.state.clone();
        let project = auth.project.clone();
        let outcome = self
            .state
            .db
            .write(move |tx| {
                let now = now_millis();
                let project_id = project.project.id.as_str();
                let valid = match verification::check(tx, project_id, verification::ONE_TIME_PASSWORD, &code, now)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e)),
                };
                // Only MFA attempt codes name a user; any other one-time code is not one.
                let Some(user_id) = valid.data.get("user_id").and_then(|v| v.as_str()).map(String::from) else {
                    return Ok(Err(KnownError::new(
                        "VERIFICATION_CODE_NOT_FOUND",
                        404,
                        "The verification code does not exist for this project.",
                    )));
                };
                let is_new_user = valid.data.get("is_new_user").and_then(|v| v.as_bool()).unwrap_or(false);
                let secret = store::totp_secret(tx, &user_id)?;
                if !secret.is_some_and(|s| mfa::verify_totp(&s, &body.totp, now / 1000)) {
                    return Ok(Err(KnownError::new(
                        "INVALID_TOTP_CODE",
                        400,
                        "The TOTP code is invalid. Please try again.",
                    )));
                }
                verification::mark_used(tx, &valid.id, now)?;
                let issued =
                    sessions::start(tx, &state.tokens, &project.project, &user_id, DEFAULT_SESSION_MILLIS, false)?;
                Ok(Ok((user_id, is_new_user, issued)))
            })
            .await?;
        let (user_id, is_new_user, issued) = outcome?;
        Ok(Json(SignInResult {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            is_new_user,
            user_id,
        }))
    }

    /// Creates an anonymous user and signs it in. Its tokens use the anonymous issuer and audience;
    /// send `x-stack-allow-anonymous-user: true` to use them.
    #[oai(path = "/auth/anonymous/sign-up", method = "post", operation_id = "sign_up_anonymously")]
    async fn anonymous_sign_up(&self, auth: ClientAuth) -> ApiResult<Json<SignedIn>> {
        let auth = auth.0;
        let state = self.state.clone();
        let project = auth.project.clone();
        let (user_id, issued) = self
            .state
            .db
            .write(move |tx| {
                let changes = UserChanges { is_anonymous: Some(true), ..Default::default() };
                let user_id = insert_user(tx, &project.project.id, changes)?;
                let issued =
                    sessions::start(tx, &state.tokens, &project.project, &user_id, DEFAULT_SESSION_MILLIS, false)?;
                Ok((user_id, issued))
            })
            .await?;
        Ok(Json(SignedIn { access_token: issued.access_token, refresh_token: issued.refresh_token, user_id }))
    }
}

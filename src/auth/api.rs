//! `POST /auth/password/sign-up`, `POST /auth/password/sign-in`, `POST /auth/anonymous/sign-up`.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::auth::service::IssuedSession;
use crate::auth::{AuthService, MAX_PASSWORD_LENGTH};
use crate::error::{ApiResult, KnownError};
use crate::projects::access::ClientAuth;
use crate::users::changes;
use crate::verification;
use crate::web::Tag;

pub struct AuthApi {
    pub auth: Arc<AuthService>,
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

impl From<IssuedSession> for SignedIn {
    fn from(s: IssuedSession) -> Self {
        SignedIn { access_token: s.access_token, refresh_token: s.refresh_token, user_id: s.user_id }
    }
}

#[OpenApi(tag = "Tag::Auth")]
impl AuthApi {
    /// Creates an account with e-mail and password and signs it in. Called while signed in as an
    /// anonymous user, it upgrades that user (same id) instead.
    #[oai(path = "/auth/password/sign-up", method = "post", operation_id = "sign_up_with_password")]
    async fn sign_up(&self, auth: ClientAuth, body: Json<SignUpBody>) -> ApiResult<Json<SignedIn>> {
        let body = body.0;
        let session = self
            .auth
            .sign_up_with_password(&auth.0, &body.email, body.password, body.verification_callback_url.as_deref())
            .await?;
        Ok(Json(session.into()))
    }

    /// Signs in with e-mail and password.
    #[oai(path = "/auth/password/sign-in", method = "post", operation_id = "sign_in_with_password")]
    async fn sign_in(&self, auth: ClientAuth, body: Json<SignInBody>) -> ApiResult<Json<SignedIn>> {
        let body = body.0;
        if body.email.is_empty() {
            return Err(KnownError::schema("body.email must not be empty").into());
        }
        if !changes::is_valid_email(&body.email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        if body.password.encode_utf16().count() > MAX_PASSWORD_LENGTH {
            return Err(KnownError::schema("body.password must be at most 70 characters").into());
        }
        Ok(Json(self.auth.sign_in_with_password(&auth.0, &body.email, body.password).await?.into()))
    }

    /// Completes a sign-in that answered `MULTI_FACTOR_AUTHENTICATION_REQUIRED`: the attempt code
    /// from its details plus the user's current TOTP.
    #[oai(path = "/auth/mfa/sign-in", method = "post", operation_id = "sign_in_with_mfa")]
    async fn mfa_sign_in(&self, auth: ClientAuth, body: Json<MfaSignInBody>) -> ApiResult<Json<SignInResult>> {
        let body = body.0;
        let code = verification::parse(&body.code)?;
        if body.kind != "totp" {
            return Err(KnownError::schema("body.type must be one of the following values: totp").into());
        }
        let (session, is_new_user) = self.auth.sign_in_with_mfa(&auth.0, code, body.totp).await?;
        Ok(Json(SignInResult {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            is_new_user,
            user_id: session.user_id,
        }))
    }

    /// Creates an anonymous user and signs it in. Its tokens use the anonymous issuer and audience;
    /// send `x-stack-allow-anonymous-user: true` to use them.
    #[oai(path = "/auth/anonymous/sign-up", method = "post", operation_id = "sign_up_anonymously")]
    async fn anonymous_sign_up(&self, auth: ClientAuth) -> ApiResult<Json<SignedIn>> {
        Ok(Json(self.auth.sign_up_anonymously(&auth.0).await?.into()))
    }
}

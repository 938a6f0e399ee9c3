//! Sign-up and sign-in endpoints: password (spec 10 §4), OTP / magic link (§5), anonymous (§6),
//! MFA (§8), and the password reset, update and set flows.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::auth::password::RESET_CODE_ANSWER;
use crate::auth::service::IssuedSession;
use crate::auth::{AuthService, MAX_PASSWORD_LENGTH};
use crate::error::{ApiResult, KnownError};
use crate::projects::access::{ClientAuth, RequestAuth, REFRESH_TOKEN};
use crate::users::changes;
use crate::verification;
use crate::web::Success;
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

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EmailWithCallbackBody {
    pub email: String,
    /// Where the link in the e-mail leads (the code is added as `?code=`); must be a trusted URL.
    pub callback_url: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ResetPasswordBody {
    /// The 45-character code from the reset link.
    pub code: String,
    #[oai(validator(max_length = 70))]
    pub password: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CodeOnlyBody {
    /// The 45-character code (for OTP sign-in also the 6-character OTP followed by the nonce).
    pub code: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdatePasswordBody {
    #[oai(validator(max_length = 70))]
    pub old_password: String,
    #[oai(validator(max_length = 70))]
    pub new_password: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SetPasswordBody {
    #[oai(validator(max_length = 70))]
    pub password: String,
}

/// The same answer whether or not the address has an account.
#[derive(Object)]
pub struct MaybeSent {
    /// Always `maybe, only if user with e-mail exists`.
    pub success: String,
}

#[derive(Object)]
pub struct CodeIsValid {
    /// Always true (an invalid code is an error).
    pub is_code_valid: bool,
}

#[derive(Object)]
pub struct OtpSent {
    /// The last 39 characters of the mailed code: send `OTP + nonce` as the code to sign in.
    pub nonce: String,
}

/// The signed-in user of a route that declares it required (upstream answers a schema error).
pub(super) fn required_user(auth: &RequestAuth) -> ApiResult<String> {
    auth.user_id().map(String::from).ok_or_else(|| KnownError::schema("auth.user must be defined").into())
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

    /// E-mails a password-reset link (template `password_reset`) if the address belongs to an
    /// account; the answer is the same either way.
    #[oai(path = "/auth/password/send-reset-code", method = "post", operation_id = "send_password_reset_code")]
    async fn send_reset_code(&self, auth: ClientAuth, body: Json<EmailWithCallbackBody>) -> ApiResult<Json<MaybeSent>> {
        let b = body.0;
        if !changes::is_valid_email(&b.email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        self.auth.send_password_reset_code(&auth.0, b.email, b.callback_url).await?;
        Ok(Json(MaybeSent { success: RESET_CODE_ANSWER.into() }))
    }

    /// Sets a new password with the code from a reset link. The code is used up even if the new
    /// password is refused; every session of the user ends.
    #[oai(path = "/auth/password/reset", method = "post", operation_id = "reset_password")]
    async fn reset_password(&self, auth: ClientAuth, body: Json<ResetPasswordBody>) -> ApiResult<Json<Success>> {
        let code = verification::parse(&body.0.code)?;
        self.auth.reset_password(&auth.0, code, body.0.password).await?;
        Ok(Success::ok())
    }

    /// Checks a password-reset code without using it.
    #[oai(path = "/auth/password/reset/check-code", method = "post", operation_id = "check_password_reset_code")]
    async fn check_reset_code(&self, auth: ClientAuth, body: Json<CodeOnlyBody>) -> ApiResult<Json<CodeIsValid>> {
        let code = verification::parse(&body.0.code)?;
        self.auth.check_password_reset_code(&auth.0, code).await?;
        Ok(Json(CodeIsValid { is_code_valid: true }))
    }

    /// Changes the signed-in user's password. Every other session ends; the one whose refresh
    /// token comes in `x-stack-refresh-token` stays (without it, all end).
    #[oai(path = "/auth/password/update", method = "post", operation_id = "update_password")]
    async fn update_password(
        &self,
        req: &poem::Request,
        auth: ClientAuth,
        body: Json<UpdatePasswordBody>,
    ) -> ApiResult<Json<Success>> {
        let user_id = required_user(&auth.0)?;
        let keep = REFRESH_TOKEN.get(req.headers()).map(String::from);
        let b = body.0;
        self.auth.update_password(&auth.0, user_id, b.old_password, b.new_password, keep).await?;
        Ok(Success::ok())
    }

    /// Gives the signed-in user a first password.
    #[oai(path = "/auth/password/set", method = "post", operation_id = "set_password")]
    async fn set_password(&self, auth: ClientAuth, body: Json<SetPasswordBody>) -> ApiResult<Json<Success>> {
        let user_id = required_user(&auth.0)?;
        self.auth.set_password(&auth.0, user_id, body.0.password).await?;
        Ok(Success::ok())
    }

    /// E-mails a magic link and a 6-character code (template `magic_link`). Returns the nonce to
    /// combine with the typed code.
    #[oai(path = "/auth/otp/send-sign-in-code", method = "post", operation_id = "send_sign_in_code")]
    async fn send_sign_in_code(&self, auth: ClientAuth, body: Json<EmailWithCallbackBody>) -> ApiResult<Json<OtpSent>> {
        let b = body.0;
        if !changes::is_valid_sign_up_email(&b.email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        let nonce = self.auth.send_sign_in_code(&auth.0, b.email, b.callback_url).await?;
        Ok(Json(OtpSent { nonce }))
    }

    /// Signs in with a magic-link code (or `OTP + nonce`); signs up a new user for an unknown
    /// address (upgrading the caller if anonymous).
    #[oai(path = "/auth/otp/sign-in", method = "post", operation_id = "sign_in_with_otp")]
    async fn otp_sign_in(&self, auth: ClientAuth, body: Json<CodeOnlyBody>) -> ApiResult<Json<SignInResult>> {
        let code = verification::parse(&body.0.code)?;
        let (session, is_new_user) = self
            .auth
            .sign_in_with_otp(&auth.0, code, false)
            .await?
            .ok_or_else(|| crate::error::ApiError::internal("an OTP sign-in returned no session"))?;
        Ok(Json(SignInResult {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            is_new_user,
            user_id: session.user_id,
        }))
    }

    /// Checks a magic-link code without using it.
    #[oai(path = "/auth/otp/sign-in/check-code", method = "post", operation_id = "check_sign_in_code")]
    async fn otp_check_code(&self, auth: ClientAuth, body: Json<CodeOnlyBody>) -> ApiResult<Json<CodeIsValid>> {
        let code = verification::parse(&body.0.code)?;
        self.auth.sign_in_with_otp(&auth.0, code, true).await?;
        Ok(Json(CodeIsValid { is_code_valid: true }))
    }

    /// Creates an anonymous user and signs it in. Its tokens use the anonymous issuer and audience;
    /// send `x-stack-allow-anonymous-user: true` to use them.
    #[oai(path = "/auth/anonymous/sign-up", method = "post", operation_id = "sign_up_anonymously")]
    async fn anonymous_sign_up(&self, auth: ClientAuth) -> ApiResult<Json<SignedIn>> {
        Ok(Json(self.auth.sign_up_anonymously(&auth.0).await?.into()))
    }
}

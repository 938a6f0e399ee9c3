//! `/auth/passkey/*` (spec 10 §9): passkey registration and sign-in. The option and response
//! bodies are WebAuthn's JSON shapes (`PublicKeyCredentialCreationOptionsJSON`,
//! `RegistrationResponseJSON`, …), passed through as free-form objects.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use crate::auth::api::{required_user, SignInResult};
use crate::auth::AuthService;
use crate::error::ApiResult;
use crate::projects::access::ClientAuth;
use crate::verification;
use crate::web::Tag;

pub struct PasskeysApi {
    pub auth: Arc<AuthService>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EmptyBody {}

#[derive(Object)]
pub struct PasskeyOptions {
    /// WebAuthn options for the browser. `rp.id` / `rpId` is a placeholder the client replaces
    /// with its own host.
    pub options_json: Value,
    /// Pass back with the browser's answer (valid for 65 seconds, once).
    pub code: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct RegisterPasskeyBody {
    /// The `code` of the registration options.
    pub code: String,
    /// The browser's `RegistrationResponseJSON`.
    pub credential: Value,
}

#[derive(Object)]
pub struct RegisteredPasskey {
    /// The credential id (base64url).
    pub user_handle: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PasskeySignInBody {
    /// The `code` of the authentication options.
    pub code: String,
    /// The browser's `AuthenticationResponseJSON`.
    pub authentication_response: Value,
}

#[OpenApi(tag = "Tag::Auth")]
impl PasskeysApi {
    /// Registration options for the signed-in user's passkey (`navigator.credentials.create`).
    #[oai(
        path = "/auth/passkey/initiate-passkey-registration",
        method = "post",
        operation_id = "initiate_passkey_registration"
    )]
    async fn initiate_registration(&self, auth: ClientAuth, _body: Json<EmptyBody>) -> ApiResult<Json<PasskeyOptions>> {
        required_user(&auth.0)?;
        let (options_json, code) = self.auth.initiate_passkey_registration(&auth.0).await?;
        Ok(Json(PasskeyOptions { options_json, code }))
    }

    /// Verifies the browser's new credential and makes it the user's passkey (replacing any other).
    #[oai(path = "/auth/passkey/register", method = "post", operation_id = "register_passkey")]
    async fn register(&self, auth: ClientAuth, body: Json<RegisterPasskeyBody>) -> ApiResult<Json<RegisteredPasskey>> {
        required_user(&auth.0)?;
        let b = body.0;
        let code = verification::parse(&b.code)?;
        let user_handle = self.auth.register_passkey(&auth.0, code, b.credential).await?;
        Ok(Json(RegisteredPasskey { user_handle }))
    }

    /// Authentication options (`navigator.credentials.get`, discoverable credentials).
    #[oai(
        path = "/auth/passkey/initiate-passkey-authentication",
        method = "post",
        operation_id = "initiate_passkey_authentication"
    )]
    async fn initiate_authentication(
        &self,
        auth: ClientAuth,
        _body: Json<EmptyBody>,
    ) -> ApiResult<Json<PasskeyOptions>> {
        let (options_json, code) = self.auth.initiate_passkey_authentication(&auth.0).await?;
        Ok(Json(PasskeyOptions { options_json, code }))
    }

    /// Signs in with a passkey: verifies the assertion, then issues a session (or asks for the
    /// second factor). Passkeys never create users.
    #[oai(path = "/auth/passkey/sign-in", method = "post", operation_id = "sign_in_with_passkey")]
    async fn sign_in(&self, auth: ClientAuth, body: Json<PasskeySignInBody>) -> ApiResult<Json<SignInResult>> {
        let b = body.0;
        let code = verification::parse(&b.code)?;
        let session = self.auth.sign_in_with_passkey(&auth.0, code, b.authentication_response).await?;
        Ok(Json(SignInResult {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            is_new_user: false,
            user_id: session.user_id,
        }))
    }
}

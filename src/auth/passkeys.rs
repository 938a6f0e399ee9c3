//! Passkeys (spec 10 §9): registration and sign-in with WebAuthn. The options are built in
//! upstream's JSON shapes (with its placeholder RP ID, which the client replaces by its own host);
//! the ceremonies are verified by kanidm's webauthn-rs once the origin in `clientDataJSON` passed
//! the trusted-URL check, with that origin and its host as the expected origin and RP ID. The
//! challenge and the ceremony state live in a 65-second verification code, used once.

use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationState, COSEAlgorithm, Credential, PublicKeyCredential,
    RegisterPublicKeyCredential, RegistrationState, UserVerificationPolicy,
};
use webauthn_rs_core::WebauthnCore;

use crate::auth::service::{client_key, AuthService, IssuedSession};
use crate::auth::{mfa, store};
use crate::db::now_millis;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::RequestAuth;
use crate::projects::Project;
use crate::rate_limit::Limit;
use crate::sessions::DEFAULT_SESSION_MILLIS;
use crate::users::store as user_store;
use crate::verification;

pub const PASSKEY_SIGN_IN_PER_IP: Limit = Limit::per_minute("passkey-sign-in/ip", 30);
/// Unauthenticated challenges stored per client address.
pub const PASSKEY_CHALLENGE_PER_IP: Limit = Limit::per_minute("passkey-challenge/ip", 60);

const REGISTRATION: &str = "PASSKEY_REGISTRATION_CHALLENGE";
const AUTHENTICATION: &str = "PASSKEY_AUTHENTICATION_CHALLENGE";
/// The RP ID in the options; the client puts its own host in its place (spec 10 §9).
const PLACEHOLDER_RP_ID: &str = "THIS_VALUE_WILL_BE_REPLACED.example.com";
const TIMEOUT_MILLIS: u64 = 60_000;
const CHALLENGE_LIFETIME_MILLIS: i64 = 65_000;

fn not_enabled() -> KnownError {
    KnownError::new(
        "PASSKEY_AUTHENTICATION_NOT_ENABLED",
        400,
        "Passkey authentication is not enabled for this project.",
    )
}

fn registration_failed(message: &'static str) -> ApiError {
    KnownError::new("PASSKEY_REGISTRATION_FAILED", 400, message).into()
}

fn authentication_failed(message: &'static str) -> ApiError {
    KnownError::new("PASSKEY_AUTHENTICATION_FAILED", 400, message).into()
}

/// A relying party for one ceremony: the given origin, its host as RP ID.
fn relying_party(project: &Project, origin: Option<&url::Url>) -> Option<WebauthnCore> {
    let (rp_id, origins) = match origin {
        Some(o) => (o.host_str()?.to_string(), vec![o.clone()]),
        None => (PLACEHOLDER_RP_ID.to_string(), vec![]),
    };
    Some(WebauthnCore::new_unsafe_experts_only(
        &project.display_name,
        &rp_id,
        origins,
        Duration::from_millis(TIMEOUT_MILLIS),
        None,
        None,
    ))
}

/// The origin named by a response's `clientDataJSON`, if the project trusts it (spec 10 §0.5).
fn trusted_origin(project: &Project, client_data_json: &[u8]) -> Option<url::Url> {
    let data: Value = serde_json::from_slice(client_data_json).ok()?;
    let origin = url::Url::parse(data.get("origin")?.as_str()?).ok()?;
    project.config.is_trusted_url(origin.as_str()).then_some(origin)
}

impl AuthService {
    fn passkey_project<'a>(&self, auth: &'a RequestAuth) -> ApiResult<&'a Project> {
        let project = auth.project();
        if !project.config.passkey_enabled {
            return Err(not_enabled().into());
        }
        Ok(project)
    }

    /// Keeps a ceremony's challenge and state in a single-use 65-second code; returns the code.
    async fn store_challenge(&self, project_id: &str, kind: &'static str, data: Value) -> ApiResult<String> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                verification::create(tx, &project_id, kind, &data, &json!({}), CHALLENGE_LIFETIME_MILLIS, now_millis())
            })
            .await
    }

    /// `POST /auth/passkey/initiate-passkey-registration`: options for `navigator.credentials.create`.
    pub async fn initiate_passkey_registration(&self, auth: &RequestAuth) -> ApiResult<(Value, String)> {
        let project = self.passkey_project(auth)?.clone();
        let user_id = auth.user_id().ok_or_else(KnownError::user_authentication_required)?.to_string();
        let user = self.users.get(&project.id, &user_id).await?.ok_or_else(KnownError::user_not_found)?;
        let name = user
            .display_name
            .clone()
            .or_else(|| user.primary_email.clone())
            .unwrap_or_else(|| "Stack Auth User".into());
        let rp = relying_party(&project, None).ok_or_else(|| ApiError::internal("relying party"))?;
        let builder = rp
            .new_challenge_register_builder(user_id.as_bytes(), &name, &name)
            .map_err(ApiError::internal)?
            .attestation(AttestationConveyancePreference::None)
            .user_verification_policy(UserVerificationPolicy::Preferred)
            .credential_algorithms(vec![COSEAlgorithm::EDDSA, COSEAlgorithm::ES256, COSEAlgorithm::RS256])
            .require_resident_key(true);
        let (ccr, state) = rp.generate_challenge_register(builder).map_err(ApiError::internal)?;
        let challenge = B64.encode(ccr.public_key.challenge.as_slice());
        let options = json!({
            "rp": { "name": project.display_name, "id": PLACEHOLDER_RP_ID },
            "user": { "id": B64.encode(user_id.as_bytes()), "name": name, "displayName": name },
            "challenge": challenge,
            "pubKeyCredParams": [
                { "alg": -8, "type": "public-key" },
                { "alg": -7, "type": "public-key" },
                { "alg": -257, "type": "public-key" },
            ],
            "timeout": TIMEOUT_MILLIS,
            "attestation": "none",
            "excludeCredentials": [],
            "authenticatorSelection": { "residentKey": "required", "requireResidentKey": true, "userVerification": "preferred" },
            "extensions": { "credProps": true },
        });
        let data = json!({
            "challenge": challenge,
            "userHandle": B64.encode(user_id.as_bytes()),
            "user_id": user_id,
            "state": serde_json::to_value(&state).map_err(ApiError::internal)?,
        });
        let code = self.store_challenge(&project.id, REGISTRATION, data).await?;
        Ok((options, code))
    }

    /// `POST /auth/passkey/register`: verifies the new credential and makes it the user's passkey.
    /// Returns the credential id.
    pub async fn register_passkey(&self, auth: &RequestAuth, code: String, credential: Value) -> ApiResult<String> {
        let project = self.passkey_project(auth)?.clone();
        let user_id = auth.user_id().ok_or_else(KnownError::user_authentication_required)?.to_string();
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let valid = match verification::check(tx, &project.id, REGISTRATION, &code, now)? {
                    Ok(v) if v.data.get("user_id").and_then(Value::as_str) == Some(user_id.as_str()) => v,
                    Ok(_) => return Ok(Err(KnownError::verification_code_not_found().into())),
                    Err(e) => return Ok(Err(e.into())),
                };
                // The challenge is spent whatever happens next.
                verification::mark_used(tx, &valid.id, now)?;
                Ok(verify_registration(&project, &valid.data, credential).and_then(|cred| {
                    let credential_id = B64.encode(cred.cred_id.as_slice());
                    let stored = serde_json::to_string(&cred).map_err(ApiError::internal)?;
                    if store::passkey_credential_taken(tx, &project.id, &credential_id, &user_id)? {
                        return Err(registration_failed(
                            "Passkey registration failed because the verification response is invalid",
                        ));
                    }
                    store::save_passkey(
                        tx,
                        &user_id,
                        &project.id,
                        &credential_id,
                        &stored,
                        i64::from(cred.counter),
                        now,
                    )?;
                    tx.changed(user_store::TABLE, &user_id);
                    Ok(credential_id)
                }))
            })
            .await?;
        outcome
    }

    /// `POST /auth/passkey/initiate-passkey-authentication`: options for `navigator.credentials.get`.
    pub async fn initiate_passkey_authentication(&self, auth: &RequestAuth) -> ApiResult<(Value, String)> {
        let project = self.passkey_project(auth)?.clone();
        self.limit(PASSKEY_CHALLENGE_PER_IP, client_key)?;
        let rp = relying_party(&project, None).ok_or_else(|| ApiError::internal("relying party"))?;
        let builder = rp
            .new_challenge_authenticate_builder(vec![], Some(UserVerificationPolicy::Preferred))
            .map_err(ApiError::internal)?;
        let (rcr, state) = rp.generate_challenge_authenticate(builder).map_err(ApiError::internal)?;
        let challenge = B64.encode(rcr.public_key.challenge.as_slice());
        let options = json!({
            "challenge": challenge,
            "timeout": TIMEOUT_MILLIS,
            "rpId": PLACEHOLDER_RP_ID,
            "allowCredentials": [],
            "userVerification": "preferred",
        });
        let data =
            json!({ "challenge": challenge, "state": serde_json::to_value(&state).map_err(ApiError::internal)? });
        let code = self.store_challenge(&project.id, AUTHENTICATION, data).await?;
        Ok((options, code))
    }

    /// `POST /auth/passkey/sign-in`: verifies the assertion against the stored passkey, updates its
    /// counter and signs its user in (or asks for the second factor).
    pub async fn sign_in_with_passkey(
        self: &Arc<Self>,
        auth: &RequestAuth,
        code: String,
        response: Value,
    ) -> ApiResult<IssuedSession> {
        let project = self.passkey_project(auth)?.clone();
        self.limit(PASSKEY_SIGN_IN_PER_IP, client_key)?;
        let me = self.clone();
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let valid = match verification::check(tx, &project.id, AUTHENTICATION, &code, now)? {
                    Ok(v) => v,
                    Err(e) => return Ok(Err(e.into())),
                };
                verification::mark_used(tx, &valid.id, now)?;
                let Ok(assertion) = serde_json::from_value::<PublicKeyCredential>(response) else {
                    return Ok(Err(authentication_failed("Passkey not found")));
                };
                let credential_id = B64.encode(assertion.raw_id.as_slice());
                let Some((user_id, stored)) = store::passkey_by_credential(tx, &project.id, &credential_id)? else {
                    return Ok(Err(authentication_failed("Passkey not found")));
                };
                let Some(origin) = trusted_origin(&project, assertion.response.client_data_json.as_slice()) else {
                    return Ok(Err(authentication_failed(
                        "Passkey authentication failed because the origin is not allowed",
                    )));
                };
                let mut credential: Credential = serde_json::from_str(&stored).map_err(ApiError::internal)?;
                let verified = serde_json::from_value::<AuthenticationState>(valid.data["state"].clone())
                    .ok()
                    .zip(relying_party(&project, Some(&origin)))
                    .and_then(|(mut state, rp)| {
                        state.set_allowed_credentials(vec![credential.clone()]);
                        rp.authenticate_credential(&assertion, &state).ok()
                    });
                let Some(result) = verified else {
                    return Ok(Err(authentication_failed(
                        "The signature of the authentication response could not be verified with the stored public key tied to this credential ID",
                    )));
                };
                credential.counter = result.counter();
                credential.backup_state = result.backup_state();
                let updated = serde_json::to_string(&credential).map_err(ApiError::internal)?;
                store::update_passkey_use(tx, &user_id, &updated, i64::from(result.counter()), now)?;
                let user = user_store::require(tx, &project.id, &user_id)?;
                if user.requires_totp_mfa {
                    return Ok(Err(mfa::second_factor_required(tx, &project.id, &user.id, false, now)?.into()));
                }
                Ok(Ok(me.issue_session_in(tx, &project, &user, DEFAULT_SESSION_MILLIS, false)?))
            })
            .await?;
        outcome
    }
}

/// The registration ceremony's checks (spec 10 §9): parseable, trusted origin, valid attestation
/// for the stored challenge.
fn verify_registration(project: &Project, data: &Value, credential: Value) -> ApiResult<Credential> {
    let invalid = || registration_failed("Passkey registration failed because the verification response is invalid");
    let reg: RegisterPublicKeyCredential = serde_json::from_value(credential).map_err(|_| invalid())?;
    let origin = trusted_origin(project, reg.response.client_data_json.as_slice())
        .ok_or_else(|| registration_failed("Passkey registration failed because the origin is not allowed"))?;
    let state: RegistrationState = serde_json::from_value(data["state"].clone()).map_err(|_| invalid())?;
    let rp = relying_party(project, Some(&origin)).ok_or_else(invalid)?;
    rp.register_credential(&reg, &state, None).map_err(|e| {
        tracing::debug!(error = %e, "passkey registration refused");
        invalid()
    })
}

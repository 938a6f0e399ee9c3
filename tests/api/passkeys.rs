//! Passkeys (spec 10 §9) with a software authenticator: 1Password's passkey-rs makes real WebAuthn
//! attestations and assertions, checked by stackd (webauthn-rs) — two independent implementations.

use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use passkey::types::Passkey;
use serde_json::{json, Value};

use crate::helpers::*;

/// A user who always agrees (and is verified).
struct Agrees;

#[async_trait::async_trait]
impl UserValidationMethod for Agrees {
    type PasskeyItem = Passkey;
    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Passkey>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck { presence, verification })
    }
    fn is_presence_enabled(&self) -> bool {
        true
    }
    fn is_verification_enabled(&self) -> Option<bool> {
        Some(true)
    }
}

type Device = Client<Option<Passkey>, Agrees, public_suffix::PublicSuffixList, ()>;

fn device() -> Device {
    Client::new(Authenticator::new(Aaguid::new_empty(), None, Agrees)).allows_insecure_localhost(true)
}

const ORIGIN: &str = "http://localhost:3000";

/// What the SDK does with the options: put its own host in place of the placeholder RP ID.
fn with_rp_id(mut options: Value, pointer: &str, host: &str) -> Value {
    *options.pointer_mut(pointer).unwrap() = json!(host);
    options
}

async fn enable_passkeys(app: &TestApp) {
    app.configure(json!({"passkey_enabled": true})).await;
}

/// Registers a passkey for the user of `token` from `origin`; the register response.
async fn register(app: &TestApp, dev: &mut Device, token: &str, origin: &str) -> Resp {
    let r = app
        .post("/api/v1/auth/passkey/initiate-passkey-registration")
        .client()
        .token(token)
        .json(json!({}))
        .send()
        .await;
    r.assert_status(200);
    let body = r.json();
    let options = &body["options_json"];
    assert_eq!(options["rp"]["id"], "THIS_VALUE_WILL_BE_REPLACED.example.com");
    assert_eq!(
        options["pubKeyCredParams"].as_array().unwrap().iter().map(|p| p["alg"].as_i64().unwrap()).collect::<Vec<_>>(),
        [-8, -7, -257]
    );
    let host = url::Url::parse(origin).unwrap().host_str().unwrap().to_string();
    let public_key = serde_json::from_value(with_rp_id(options.clone(), "/rp/id", &host)).unwrap();
    let created = dev
        .register(url::Url::parse(origin).unwrap(), CredentialCreationOptions { public_key }, DefaultClientData)
        .await
        .expect("the authenticator makes a credential");
    let credential = serde_json::to_value(&created).unwrap();
    app.post("/api/v1/auth/passkey/register")
        .client()
        .token(token)
        .json(json!({"code": body["code"], "credential": credential}))
        .send()
        .await
}

/// Options and the authenticator's assertion for them: `(code, response)`.
async fn assert_with(app: &TestApp, dev: &mut Device, origin: &str) -> (String, Value) {
    let r = app.post("/api/v1/auth/passkey/initiate-passkey-authentication").client().json(json!({})).send().await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(body["options_json"]["allowCredentials"], json!([]));
    let host = url::Url::parse(origin).unwrap().host_str().unwrap().to_string();
    let public_key = serde_json::from_value(with_rp_id(body["options_json"].clone(), "/rpId", &host)).unwrap();
    let asserted = dev
        .authenticate(url::Url::parse(origin).unwrap(), CredentialRequestOptions { public_key }, DefaultClientData)
        .await
        .expect("the authenticator signs");
    (body["code"].as_str().unwrap().to_string(), serde_json::to_value(&asserted).unwrap())
}

async fn sign_in(app: &TestApp, code: &str, response: &Value) -> Resp {
    app.post("/api/v1/auth/passkey/sign-in")
        .client()
        .json(json!({"code": code, "authentication_response": response}))
        .send()
        .await
}

#[tokio::test]
async fn register_then_sign_in_with_a_software_authenticator() {
    let app = spawn_app().await;
    let (user_id, token, _) = app.sign_up("passkey@example.com").await;
    // Off by default in projects that did not turn it on.
    app.post("/api/v1/auth/passkey/initiate-passkey-authentication")
        .client()
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "PASSKEY_AUTHENTICATION_NOT_ENABLED");
    enable_passkeys(&app).await;
    let mut dev = device();
    let r = register(&app, &mut dev, &token, ORIGIN).await;
    r.assert_status(200);
    assert!(!r.json()["user_handle"].as_str().unwrap().is_empty());
    let user = app.get(&format!("/api/v1/users/{user_id}")).server().send().await.json();
    assert_eq!(user["passkey_auth_enabled"], true);

    let (code, response) = assert_with(&app, &mut dev, ORIGIN).await;
    let r = sign_in(&app, &code, &response).await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(body["user_id"], user_id);
    assert_eq!(body["is_new_user"], false);
    app.get("/api/v1/users/me").client().token(body["access_token"].as_str().unwrap()).send().await.assert_status(200);

    // The same challenge cannot be used twice.
    sign_in(&app, &code, &response).await.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    // A second sign-in with a fresh challenge works (the counter moves on).
    let (code, response) = assert_with(&app, &mut dev, ORIGIN).await;
    sign_in(&app, &code, &response).await.assert_status(200);

    // Turning passkeys off removes the passkey.
    app.patch("/api/v1/users/me")
        .client()
        .token(&token)
        .json(json!({"passkey_auth_enabled": false}))
        .send()
        .await
        .assert_status(200);
    let (code, response) = assert_with(&app, &mut dev, ORIGIN).await;
    let body = sign_in(&app, &code, &response).await.assert_known(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert!(body.get("details").is_none_or(Value::is_null));
}

#[tokio::test]
async fn wrong_origins_unknown_credentials_and_tampering_are_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = spawn_app().await;
    enable_passkeys(&app).await;
    let (_, token, _) = app.sign_up("origin@example.com").await;
    // Registration from an origin the project does not trust.
    let r = register(&app, &mut device(), &token, "https://evil.example").await;
    let body = r.assert_known(400, "PASSKEY_REGISTRATION_FAILED");
    assert!(body["error"].as_str().unwrap().contains("origin"), "{body}");
    assert!(body.get("details").is_none_or(Value::is_null));

    let mut dev = device();
    register(&app, &mut dev, &token, ORIGIN).await.assert_status(200);

    // A credential this project does not know (registered with another server).
    let other = spawn_app().await;
    enable_passkeys(&other).await;
    let (_, other_token, _) = other.sign_up("stranger@example.com").await;
    let mut stranger = device();
    register(&other, &mut stranger, &other_token, ORIGIN).await.assert_status(200);
    let (code, response) = assert_with(&app, &mut stranger, ORIGIN).await;
    let body = sign_in(&app, &code, &response).await.assert_known(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert!(body["error"].as_str().unwrap().contains("not found"), "{body}");

    // Client data naming an untrusted origin.
    let (code, mut response) = assert_with(&app, &mut dev, ORIGIN).await;
    let client_data = b64.decode(response["response"]["clientDataJSON"].as_str().unwrap()).unwrap();
    let forged = String::from_utf8(client_data).unwrap().replace(ORIGIN, "https://evil.example");
    response["response"]["clientDataJSON"] = json!(b64.encode(forged));
    let body = sign_in(&app, &code, &response).await.assert_known(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert!(body["error"].as_str().unwrap().contains("origin"), "{body}");

    // A signature that does not verify.
    let (code, mut response) = assert_with(&app, &mut dev, ORIGIN).await;
    let mut signature = b64.decode(response["response"]["signature"].as_str().unwrap()).unwrap();
    let last = signature.len() - 2;
    signature[last] ^= 0x55;
    response["response"]["signature"] = json!(b64.encode(signature));
    let body = sign_in(&app, &code, &response).await.assert_known(400, "PASSKEY_AUTHENTICATION_FAILED");
    assert!(body["error"].as_str().unwrap().contains("signature"), "{body}");

    // Malformed codes are schema errors, never a crash.
    sign_in(&app, "LPT1", &json!("x")).await.assert_known(400, "SCHEMA_ERROR");

    // Access: registration needs a signed-in user.
    app.post("/api/v1/auth/passkey/initiate-passkey-registration")
        .client()
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
}

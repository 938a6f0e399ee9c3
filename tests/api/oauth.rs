//! OAuth sign-in over real HTTP (spec 10 §10): the SDK's outer flow (authorize → provider →
//! callback → token) against the development OIDC provider, and against a misbehaving provider
//! started by the test; merge strategies, linking, anonymous upgrade, every error redirect, code
//! reuse, PKCE and redirect checks; `/oauth-providers` and connected accounts.

use std::sync::Mutex;

use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::oauth_stub::{StubProvider, TokenMode};

const VERIFIER: &str = "a-pkce-verifier-of-at-least-forty-three-characters-0123456789";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A browser without JavaScript: follows nothing on its own, keeps cookies.
pub struct Browser {
    http: reqwest::Client,
    cookies: Mutex<Vec<(String, String)>>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.location.as_deref().unwrap_or_else(|| panic!("no location: {} {}", self.status, self.text))
    }
    /// A query parameter of the location.
    pub fn param(&self, name: &str) -> Option<String> {
        url::Url::parse(self.location()).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {} {}", self.status, self.text))
    }
}

impl Browser {
    pub fn new() -> Browser {
        let http = reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http, cookies: Mutex::new(vec![]) }
    }

    pub fn forget_cookies(&self) {
        self.cookies.lock().unwrap().clear();
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Page {
        let cookie =
            self.cookies.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let req = if cookie.is_empty() { req } else { req.header("cookie", cookie) };
        let resp = req.send().await.unwrap();
        for set in resp.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (k, v) = pair.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            jar.retain(|(name, _)| name != k);
            if !attrs.contains("Max-Age=0") {
                jar.push((k.to_string(), v.to_string()));
            }
        }
        Page {
            status: resp.status().as_u16(),
            location: resp.headers().get("location").map(|l| l.to_str().unwrap().to_string()),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&self, url: &str) -> Page {
        self.send(self.http.get(url)).await
    }

    pub async fn post_form(&self, url: &str, pairs: &[(String, String)]) -> Page {
        self.send(self.http.post(url).form(pairs)).await
    }
}

/// The authorize URL the SDK's `getOAuthUrl` builds, with `overrides` replacing or adding parameters.
pub fn authorize_url(app: &TestApp, provider: &str, overrides: &[(&str, &str)]) -> String {
    let mut params: Vec<(String, String)> = [
        ("client_id", "internal"),
        ("client_secret", app.internal.pck.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "legacy"),
        ("state", "outer-state"),
        ("grant_type", "authorization_code"),
        ("code_challenge", &challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
        ("response_type", "code"),
        ("type", "authenticate"),
        ("error_redirect_url", "http://localhost:3000/handler/error"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    let mut url = url::Url::parse(&format!("{}/api/v1/auth/oauth/authorize/{provider}", app.base)).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// The consent page's answer: sign in as `email`, or deny.
pub enum Consent<'a> {
    SignInAs(&'a str),
    Deny,
}

/// Authorize → development provider's consent page → callback. Returns the callback's answer.
pub async fn through_dev_provider(
    app: &TestApp,
    b: &Browser,
    overrides: &[(&str, &str)],
    consent: Consent<'_>,
) -> Page {
    let start = b.get(&authorize_url(app, "github", overrides)).await;
    assert_eq!(start.status, 307, "{}", start.text);
    let provider_url = start.location().to_string();
    let page = b.get(&provider_url).await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("Development only"), "{}", page.text);
    let mut form: Vec<(String, String)> =
        url::Url::parse(&provider_url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    match consent {
        Consent::SignInAs(email) => {
            form.push(("email".into(), email.into()));
            form.push(("name".into(), "Octo Cat".into()));
            form.push(("action".into(), "allow".into()));
        }
        Consent::Deny => form.push(("action".into(), "deny".into())),
    }
    let back = b.post_form(provider_url.split('?').next().unwrap(), &form).await;
    assert_eq!(back.status, 303, "{}", back.text);
    b.get(back.location()).await
}

/// The SDK's code exchange at `/auth/oauth/token`.
pub async fn exchange(app: &TestApp, code: &str, verifier: &str, redirect_uri: &str) -> Resp {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
        ("client_id", "internal"),
        ("client_secret", app.internal.pck.as_str()),
    ];
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
    app.post("/api/v1/auth/oauth/token").raw("application/x-www-form-urlencoded", &body).send().await
}

/// A full sign-in as `email`: the token response.
pub async fn sign_in(app: &TestApp, email: &str, overrides: &[(&str, &str)]) -> Value {
    let b = Browser::new();
    let done = through_dev_provider(app, &b, overrides, Consent::SignInAs(email)).await;
    assert_eq!(done.status, 303, "{}", done.text);
    assert_eq!(done.param("state").as_deref(), Some("outer-state"));
    let code = done.param("code").unwrap();
    let r = exchange(app, &code, VERIFIER, CALLBACK).await;
    r.assert_status(200);
    r.json()
}

async fn enable_github(app: &TestApp) {
    app.configure(json!({"oauth_providers": [{"id": "github", "type": "shared"}]})).await;
}

async fn me(app: &TestApp, token: &str) -> Value {
    let r = app.get("/api/v1/users/me").server().token(token).allow_anonymous().send().await;
    r.assert_status(200);
    r.json()
}

/// The known error carried by an error redirect.
#[track_caller]
fn redirected_error(page: &Page, code: &str) -> Value {
    assert_eq!(page.status, 307, "{}", page.text);
    assert!(page.location().starts_with(CALLBACK), "{}", page.location());
    assert_eq!(page.param("errorCode").as_deref(), Some(code), "{}", page.location());
    assert_eq!(page.param("error").as_deref(), Some("server_error"));
    assert!(page.param("message").is_some_and(|m| !m.is_empty()));
    serde_json::from_str(&page.param("details").unwrap()).unwrap()
}

#[tokio::test]
async fn new_and_returning_users_sign_in_with_the_development_provider() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let first =
        sign_in(&app, "Octo@Example.com", &[("after_callback_redirect_url", "http://localhost:3000/after")]).await;
    assert_eq!(first["token_type"], "Bearer");
    assert_eq!(first["scope"], "legacy");
    assert_eq!(first["is_new_user"], true);
    assert_eq!(first["newUser"], true);
    assert_eq!(first["after_callback_redirect_url"], "http://localhost:3000/after");
    assert_eq!(first["afterCallbackRedirectUrl"], "http://localhost:3000/after");
    let user = me(&app, first["access_token"].as_str().unwrap()).await;
    assert_eq!(user["primary_email"], "octo@example.com");
    assert_eq!(user["primary_email_verified"], true);
    assert_eq!(user["primary_email_auth_enabled"], true);
    assert_eq!(user["display_name"], "Octo Cat");
    assert_eq!(user["oauth_providers"][0]["id"], "github");
    assert!(user["oauth_providers"][0]["account_id"].as_str().is_some_and(|a| !a.is_empty()));

    // The refresh token works with the refresh grant.
    let form = format!(
        "grant_type=refresh_token&refresh_token={}&client_id=internal&client_secret={}",
        first["refresh_token"].as_str().unwrap(),
        app.internal.pck
    );
    app.post("/api/v1/auth/oauth/token")
        .raw("application/x-www-form-urlencoded", &form)
        .send()
        .await
        .assert_status(200);

    let again = sign_in(&app, "octo@example.com", &[]).await;
    assert_eq!(again["is_new_user"], false);
    assert_eq!(again["after_callback_redirect_url"], Value::Null);
    assert_eq!(me(&app, again["access_token"].as_str().unwrap()).await["id"], user["id"]);
    // Provider tokens are stored sealed, never in the clear.
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM oauth_tokens"), 4);
    assert!(!app.db_files_contain("\"typ\":\"access\""));
}

#[tokio::test]
async fn authorization_codes_are_single_use_and_bound_to_pkce_and_redirect() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let b = Browser::new();
    let done = through_dev_provider(&app, &b, &[], Consent::SignInAs("pkce@example.com")).await;
    let code = done.param("code").unwrap();
    exchange(&app, &code, "a-different-verifier-that-does-not-match-the-challenge-00", CALLBACK)
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
    exchange(&app, &code, VERIFIER, "http://localhost:3000/elsewhere").await.assert_plain(400);
    exchange(&app, &code, VERIFIER, CALLBACK).await.assert_status(200);
    exchange(&app, &code, VERIFIER, CALLBACK).await.assert_known(400, "INVALID_AUTHORIZATION_CODE");
    exchange(&app, "not-a-code", VERIFIER, CALLBACK).await.assert_known(400, "INVALID_AUTHORIZATION_CODE");

    // An expired code is refused too.
    let done = through_dev_provider(&app, &b, &[], Consent::SignInAs("pkce@example.com")).await;
    app.db_exec("UPDATE oauth_codes SET expires_at = 1 WHERE used_at IS NULL");
    exchange(&app, &done.param("code").unwrap(), VERIFIER, CALLBACK)
        .await
        .assert_known(400, "INVALID_AUTHORIZATION_CODE");
}

#[tokio::test]
async fn anonymous_users_are_upgraded_in_place() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let anon = app.post("/api/v1/auth/anonymous/sign-up").client().json(json!({})).send().await;
    let anon = anon.json();
    let token = anon["access_token"].as_str().unwrap();
    let signed_in = sign_in(&app, "upgrade@example.com", &[("token", token)]).await;
    assert_eq!(signed_in["is_new_user"], true);
    let user = me(&app, signed_in["access_token"].as_str().unwrap()).await;
    assert_eq!(user["id"], anon["user_id"]);
    assert_eq!(user["is_anonymous"], false);
    assert_eq!(user["primary_email"], "upgrade@example.com");
}

#[tokio::test]
async fn linking_adds_the_account_to_the_signed_in_user_once() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let (user_id, token, _) = app.sign_up("linker@example.com").await;
    let b = Browser::new();
    let r = b.get(&authorize_url(&app, "github", &[("type", "link")])).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("token"), "{}", r.text);

    let linked = sign_in(&app, "somebody-else@example.com", &[("type", "link"), ("token", &token)]).await;
    assert_eq!(linked["is_new_user"], false);
    let user = me(&app, linked["access_token"].as_str().unwrap()).await;
    assert_eq!(user["id"], user_id);
    assert_eq!(user["primary_email"], "linker@example.com");
    assert_eq!(user["oauth_providers"].as_array().unwrap().len(), 1);
    // Signing in with that provider account is now signing in as this user.
    let again = sign_in(&app, "somebody-else@example.com", &[]).await;
    assert_eq!(me(&app, again["access_token"].as_str().unwrap()).await["id"], user_id);

    // Another user cannot link the same provider account.
    let (_, other_token, _) = app.sign_up("second@example.com").await;
    let page = through_dev_provider(
        &app,
        &b,
        &[("type", "link"), ("token", &other_token)],
        Consent::SignInAs("somebody-else@example.com"),
    )
    .await;
    redirected_error(&page, "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER");
}

#[tokio::test]
async fn merge_strategies_decide_what_happens_to_an_existing_email() {
    let app = spawn_app().await;
    enable_github(&app).await;
    // link_method (default): an unverified owner refuses; a verified one gets the account.
    let (owner_id, _, _) = app.sign_up("owner@example.com").await;
    let b = Browser::new();
    let page = through_dev_provider(&app, &b, &[], Consent::SignInAs("owner@example.com")).await;
    let details = redirected_error(&page, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
    assert_eq!(
        details,
        json!({"type": "email", "contact_channel_value": "owner@example.com", "would_work_if_email_was_verified": true})
    );
    app.patch(&format!("/api/v1/users/{owner_id}"))
        .server()
        .json(json!({"primary_email_verified": true}))
        .send()
        .await
        .assert_status(200);
    let merged = sign_in(&app, "owner@example.com", &[]).await;
    assert_eq!(merged["is_new_user"], false);
    assert_eq!(me(&app, merged["access_token"].as_str().unwrap()).await["id"], owner_id);

    // raise_error: always refused.
    app.configure(json!({"oauth_account_merge_strategy": "raise_error"})).await;
    app.sign_up("raise@example.com").await;
    let page = through_dev_provider(&app, &b, &[], Consent::SignInAs("raise@example.com")).await;
    redirected_error(&page, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");

    // allow_duplicates: a second user whose e-mail does not sign in.
    app.configure(json!({"oauth_account_merge_strategy": "allow_duplicates"})).await;
    let dup = sign_in(&app, "raise@example.com", &[]).await;
    assert_eq!(dup["is_new_user"], true);
    let user = me(&app, dup["access_token"].as_str().unwrap()).await;
    assert_eq!(user["primary_email"], "raise@example.com");
    assert_eq!(user["primary_email_auth_enabled"], false);
}

#[tokio::test]
async fn callback_errors_redirect_to_the_app_when_they_can() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let b = Browser::new();
    // The user denies at the provider.
    let page = through_dev_provider(&app, &b, &[], Consent::Deny).await;
    redirected_error(&page, "OAUTH_PROVIDER_ACCESS_DENIED");

    // Sign-up is off.
    app.configure(json!({"sign_up_enabled": false})).await;
    let page = through_dev_provider(&app, &b, &[], Consent::SignInAs("new@example.com")).await;
    redirected_error(&page, "SIGN_UP_NOT_ENABLED");
    app.configure(json!({"sign_up_enabled": true})).await;

    // Too slow: the pending authorization expired.
    let start = b.get(&authorize_url(&app, "github", &[])).await;
    app.db_exec("UPDATE oauth_outer_states SET expires_at = 1");
    let state =
        url::Url::parse(start.location()).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let page = b.get(&format!("{}/api/v1/auth/oauth/callback/github?state={state}&code=x", app.base)).await;
    redirected_error(&page, "OUTER_OAUTH_TIMEOUT");

    // An unknown state is a plain error (nothing to redirect to).
    let page = b.get(&format!("{}/api/v1/auth/oauth/callback/github?state=unknown&code=x", app.base)).await;
    assert_eq!(page.status, 400);
    assert!(page.headers.get("x-stack-known-error").is_none());

    // Without the inner cookie (a reloaded page or another browser): plain 400.
    let start = b.get(&authorize_url(&app, "github", &[])).await;
    b.forget_cookies();
    let state =
        url::Url::parse(start.location()).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let page = b.get(&format!("{}/api/v1/auth/oauth/callback/github?state={state}&code=x", app.base)).await;
    assert_eq!(page.status, 400);
    assert!(page.text.contains("cookie"), "{}", page.text);

    // Untrusted redirect URIs: the error is answered as JSON, not redirected anywhere.
    let page = through_dev_provider(
        &app,
        &b,
        &[("redirect_uri", "https://evil.example/cb"), ("error_redirect_url", "https://evil.example/err")],
        Consent::SignInAs("x@example.com"),
    )
    .await;
    assert_eq!(page.status, 400);
    assert_eq!(page.json()["code"], "REDIRECT_URL_NOT_WHITELISTED");
    // …but a trusted error URL still gets it.
    let page = through_dev_provider(
        &app,
        &b,
        &[("redirect_uri", "https://evil.example/cb")],
        Consent::SignInAs("x@example.com"),
    )
    .await;
    assert_eq!(page.status, 307);
    assert!(page.location().starts_with("http://localhost:3000/handler/error"));
    assert_eq!(page.param("errorCode").as_deref(), Some("REDIRECT_URL_NOT_WHITELISTED"));
    // No user was created by these attempts.
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM users WHERE project_id = 'internal'"), 0);
}

#[tokio::test]
async fn authorize_checks_the_client_the_provider_and_the_urls() {
    let app = spawn_app().await;
    let b = Browser::new();
    let r = b.get(&authorize_url(&app, "gitlab", &[])).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.headers.get("x-stack-known-error").unwrap(), "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: [Case; 6] = [
        (&[("client_id", "no-such-project")], 400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET"),
        (&[("client_secret", "pck_wrong")], 401, "INVALID_PUBLISHABLE_CLIENT_KEY"),
        (&[("provider_scope", "repo")], 400, "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS"),
        (&[("after_callback_redirect_url", "https://evil.example/")], 400, "REDIRECT_URL_NOT_WHITELISTED"),
        (&[("grant_type", "password")], 400, "SCHEMA_ERROR"),
        (&[("token", "not-a-jwt")], 401, "UNPARSABLE_ACCESS_TOKEN"),
    ];
    for (overrides, status, code) in cases {
        let r = b.get(&authorize_url(&app, "github", overrides)).await;
        assert_eq!(
            (r.status, r.headers.get("x-stack-known-error").map(|v| v.to_str().unwrap())),
            (status, Some(code)),
            "{overrides:?}: {}",
            r.text
        );
    }
    // A token of another project.
    let other =
        app.post("/api/v1/auth/anonymous/sign-up").client().project(&app.other).json(json!({})).send().await.json();
    let r = b.get(&authorize_url(&app, "github", &[("token", other["access_token"].as_str().unwrap())])).await;
    assert_eq!(r.status, 403, "{}", r.text);

    // JSON mode answers with the location and sets no cookie; unknown parameters are ignored.
    let r = b.get(&authorize_url(&app, "github", &[("stack_response_mode", "json"), ("something_new", "1")])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json()["location"].as_str().unwrap().contains("/dev-oauth/github/authorize"));
    assert!(r.headers.get("set-cookie").is_none());
    // Redirect mode: the provider URL carries PKCE, offline access and our callback.
    let r = b.get(&authorize_url(&app, "github", &[])).await;
    let cookie = r.headers.get("set-cookie").unwrap().to_str().unwrap();
    assert!(cookie.starts_with("stack-oauth-inner-") && cookie.contains("HttpOnly") && cookie.contains("Max-Age=600"));
    let location = url::Url::parse(r.location()).unwrap();
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["redirect_uri"], format!("{}/api/v1/auth/oauth/callback/github", app.base));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert_eq!(q["scope"], "user:email");
}

#[tokio::test]
async fn users_with_totp_need_the_second_factor_after_oauth() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let first = sign_in(&app, "mfa@example.com", &[]).await;
    let user_id = me(&app, first["access_token"].as_str().unwrap()).await["id"].as_str().unwrap().to_string();
    let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 20]);
    app.patch(&format!("/api/v1/users/{user_id}"))
        .server()
        .json(json!({"totp_secret_base64": secret}))
        .send()
        .await
        .assert_status(200);
    let b = Browser::new();
    let done = through_dev_provider(&app, &b, &[], Consent::SignInAs("mfa@example.com")).await;
    let r = exchange(&app, &done.param("code").unwrap(), VERIFIER, CALLBACK).await;
    let body = r.assert_known(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    assert!(body["details"]["attempt_code"].is_string());
}

/// Authorize with the stub provider (in `mode`) and call the callback as it would.
async fn stub_callback(app: &TestApp, b: &Browser, stub: &StubProvider, mode: TokenMode) -> Page {
    stub.set(mode);
    let start = b.get(&authorize_url(app, "gitlab", &[])).await;
    assert_eq!(start.status, 307, "{}", start.text);
    assert!(start.location().starts_with(&format!("{}/authorize", stub.issuer)));
    let state =
        url::Url::parse(start.location()).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    b.get(&format!("{}/api/v1/auth/oauth/callback/gitlab?state={state}&code=c", app.base)).await
}

#[tokio::test]
async fn a_failing_provider_is_reported_as_the_spec_says() {
    let stub = StubProvider::start();
    let issuer = stub.issuer.clone();
    let app = spawn_app_with(move |c| {
        c.oauth.issuers.insert("gitlab".into(), issuer);
    })
    .await;
    app.configure(json!({"oauth_providers": [{"id": "gitlab", "type": "standard", "client_id": "id", "client_secret": "secret"}]})).await;
    let b = Browser::new();
    redirected_error(
        &stub_callback(&app, &b, &stub, TokenMode::ServerError).await,
        "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE",
    );
    redirected_error(&stub_callback(&app, &b, &stub, TokenMode::Hang).await, "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE");
    redirected_error(
        &stub_callback(&app, &b, &stub, TokenMode::UserInfoDown).await,
        "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE",
    );
    redirected_error(&stub_callback(&app, &b, &stub, TokenMode::AccessDenied).await, "OAUTH_PROVIDER_ACCESS_DENIED");
    let denied = stub_callback(&app, &b, &stub, TokenMode::InvalidGrant).await;
    assert_eq!(denied.status, 400);
    assert!(denied.headers.get("x-stack-known-error").is_none(), "plain errors are not redirected");
    assert_eq!(stub_callback(&app, &b, &stub, TokenMode::InvalidClient).await.status, 400);
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM users WHERE project_id = 'internal'"), 0);

    // The same provider, working: signs up the stub's user.
    let done = stub_callback(&app, &b, &stub, TokenMode::Ok).await;
    assert_eq!(done.status, 303, "{}", done.text);
    let tokens = exchange(&app, &done.param("code").unwrap(), VERIFIER, CALLBACK).await.json();
    assert_eq!(me(&app, tokens["access_token"].as_str().unwrap()).await["primary_email"], "stub@example.com");
}

#[tokio::test]
async fn the_development_provider_exists_only_in_development_mode() {
    let dev = spawn_app().await;
    let doc =
        dev.http.get(format!("{}/dev-oauth/github/.well-known/openid-configuration", dev.base)).send().await.unwrap();
    assert_eq!(doc.status(), 200);
    let doc: Value = doc.json().await.unwrap();
    assert_eq!(doc["issuer"], format!("{}/dev-oauth/github", dev.base));
    assert!(doc["code_challenge_methods_supported"].as_array().unwrap().contains(&json!("S256")));
    let jwks: Value = dev.http.get(doc["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "ES256");

    let prod = spawn_app_with(|c| c.dev = false).await;
    let r =
        prod.http.get(format!("{}/dev-oauth/github/.well-known/openid-configuration", prod.base)).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // And shared providers need real credentials there.
    prod.patch("/api/v1/internal/projects/current")
        .admin()
        .project(&prod.other)
        .json(json!({"config": {"oauth_providers": [{"id": "github", "type": "shared"}]}}))
        .send()
        .await
        .assert_status(200);
    let other = (prod.other.project_id.as_str(), prod.other.pck.as_str());
    let r = Browser::new()
        .get(&authorize_url(&prod, "github", &[("client_id", other.0), ("client_secret", other.1)]))
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("STACK_GITHUB_CLIENT_ID"), "{}", r.text);
}

/// An Apple-style identity token (RS256) signed by `key`.
fn apple_token(key: &openssl::pkey::PKey<openssl::pkey::Private>, claims: Value) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!(
        "{}.{}",
        b64.encode(json!({"alg": "RS256", "kid": "apple-1"}).to_string()),
        b64.encode(claims.to_string())
    );
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), key).unwrap();
    signer.update(signed.as_bytes()).unwrap();
    format!("{signed}.{}", b64.encode(signer.sign_to_vec().unwrap()))
}

#[tokio::test]
async fn native_apple_sign_in_verifies_the_identity_token() {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "apple-1", "alg": "RS256", "use": "sig",
        "n": b64.encode(rsa.n().to_vec()), "e": b64.encode(rsa.e().to_vec())}]});
    let key = openssl::pkey::PKey::from_rsa(rsa).unwrap();
    let stub = StubProvider::start();
    stub.set_jwks(jwks.to_string());
    let url = format!("{}/auth/keys", stub.issuer);
    let app = spawn_app_with(move |c| c.oauth.apple_jwks_url = url).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let claims = |aud: &str, exp: i64| {
        json!({"iss": "https://appleid.apple.com", "aud": aud, "sub": "001234.apple", "email": "fruit@example.com",
               "email_verified": "true", "iat": now, "exp": exp})
    };
    let native =
        |token: String| app.post("/api/v1/auth/oauth/callback/apple/native").client().json(json!({"id_token": token}));

    native(apple_token(&key, claims("com.example.app", now + 600)))
        .send()
        .await
        .assert_known(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    app.configure(json!({"oauth_providers": [{"id": "apple", "type": "standard", "client_id": "com.example.web", "client_secret": "s"}]})).await;
    native(apple_token(&key, claims("com.example.app", now + 600)))
        .send()
        .await
        .assert_known(400, "APPLE_BUNDLE_ID_NOT_CONFIGURED");
    app.configure(json!({"oauth_providers": [{"id": "apple", "type": "standard", "client_id": "com.example.web", "client_secret": "s",
        "apple_bundle_ids": ["com.example.app"]}]}))
    .await;

    let first = native(apple_token(&key, claims("com.example.app", now + 600))).send().await;
    first.assert_status(200);
    let first = first.json();
    assert_eq!(first["is_new_user"], true);
    let user = me(&app, first["access_token"].as_str().unwrap()).await;
    assert_eq!(user["primary_email"], "fruit@example.com");
    assert_eq!(user["primary_email_verified"], true);
    assert_eq!(user["oauth_providers"][0]["account_id"], "001234.apple");
    let again = native(apple_token(&key, claims("com.example.app", now + 600))).send().await.json();
    assert_eq!((again["is_new_user"].clone(), again["user_id"].clone()), (json!(false), first["user_id"].clone()));

    // Another app's token, an expired one, another key's signature, garbage.
    native(apple_token(&key, claims("com.other.app", now + 600)))
        .send()
        .await
        .assert_known(400, "INVALID_APPLE_CREDENTIALS");
    native(apple_token(&key, claims("com.example.app", now - 10)))
        .send()
        .await
        .assert_known(400, "INVALID_APPLE_CREDENTIALS");
    let stranger = openssl::pkey::PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
    native(apple_token(&stranger, claims("com.example.app", now + 600)))
        .send()
        .await
        .assert_known(400, "INVALID_APPLE_CREDENTIALS");
    native("not.a.jwt".into()).send().await.assert_known(400, "INVALID_APPLE_CREDENTIALS");
}

#[tokio::test]
async fn starting_oauth_sign_ins_is_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.rate_limits = true).await;
    let b = Browser::new();
    for _ in 0..60 {
        assert_eq!(b.get(&authorize_url(&app, "github", &[])).await.status, 307);
    }
    let r = b.get(&authorize_url(&app, "github", &[])).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.get("retry-after").is_some());
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM oauth_outer_states"), 60);
}

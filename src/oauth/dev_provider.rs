//! The development OAuth provider (`--dev` only; not mounted otherwise): a small OpenID Connect
//! provider under `/dev-oauth/{type}`, used by every shared provider in development mode, so
//! "Sign in with GitHub" works with no credentials. Its consent page asks for the e-mail and name
//! to sign in as. It is stateless: codes, access and refresh tokens are ES256 JWTs under a key
//! derived from the server secret (codes are valid for 5 minutes; as a development tool it does not
//! remember which were used). The account id is derived from the type and the e-mail, so the same
//! e-mail is the same account every time.
//!
//! Endpoints (OpenID Connect Discovery 1.0): `/.well-known/openid-configuration`, `/authorize`
//! (GET: the consent page; POST: its form), `/token` (`authorization_code` with PKCE,
//! `refresh_token`), `/userinfo`, `/jwks`. Not part of the Stack Auth API, so not in the
//! OpenAPI document.

use std::sync::Arc;

use base64::Engine;
use poem::http::StatusCode;
use poem::web::{Data, Form, Path, Query};
use poem::{handler, EndpointExt, IntoEndpoint, Request, Response, Route};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::db::now_millis;
use crate::infra::Infra;
use crate::oauth::providers::provider_type;

/// Key name of the provider's signing key (not a project id, so never an access-token key).
const KEY: &str = "stackd-dev-oauth-provider";
const CODE_SECS: i64 = 300;
const ACCESS_SECS: i64 = 3600;

type Shared = Arc<Infra>;

fn issuer(infra: &Infra, kind: &str) -> String {
    format!("{}/dev-oauth/{kind}", infra.tokens.base_url)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json")
        .header("cache-control", "no-store")
        .body(body.to_string())
}

fn oauth_error(error: &str, description: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({ "error": error, "error_description": description }))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn known_kind(kind: &str) -> Option<&'static str> {
    provider_type(kind).map(|t| t.name)
}

fn account_id(kind: &str, email: &str) -> String {
    let digest = Sha256::digest(format!("{kind}:{}", email.to_lowercase()).as_bytes());
    digest[..10].iter().map(|b| format!("{b:02x}")).collect()
}

fn now_secs() -> i64 {
    now_millis() / 1000
}

#[handler]
fn discovery(Path(kind): Path<String>, infra: Data<&Shared>) -> Response {
    let Some(kind) = known_kind(&kind) else { return Response::builder().status(StatusCode::NOT_FOUND).finish() };
    let iss = issuer(&infra, kind);
    json_response(
        StatusCode::OK,
        json!({
            "issuer": iss,
            "authorization_endpoint": format!("{iss}/authorize"),
            "token_endpoint": format!("{iss}/token"),
            "userinfo_endpoint": format!("{iss}/userinfo"),
            "jwks_uri": format!("{iss}/jwks"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "form_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256", "plain"],
            "scopes_supported": ["openid", "email", "profile"],
            "claims_supported": ["sub", "email", "email_verified", "name", "iss", "aud", "exp", "iat", "nonce"],
        }),
    )
}

#[handler]
fn jwks(infra: Data<&Shared>) -> Response {
    let key = infra.tokens.key(KEY);
    json_response(
        StatusCode::OK,
        json!({ "keys": [{ "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": key.kid, "x": key.x, "y": key.y }] }),
    )
}

/// The authorization request's parameters (query on GET, hidden fields on POST).
#[derive(Deserialize, Default)]
struct AuthorizeParams {
    client_id: Option<String>,
    redirect_uri: Option<String>,
    state: Option<String>,
    scope: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    response_mode: Option<String>,
    login_hint: Option<String>,
    // The consent form's own fields.
    email: Option<String>,
    name: Option<String>,
    action: Option<String>,
}

/// The authorization request's parameters the consent form carries to its POST.
fn carried(p: &AuthorizeParams) -> [(&'static str, Option<&String>); 8] {
    [
        ("client_id", p.client_id.as_ref()),
        ("redirect_uri", p.redirect_uri.as_ref()),
        ("state", p.state.as_ref()),
        ("scope", p.scope.as_ref()),
        ("nonce", p.nonce.as_ref()),
        ("code_challenge", p.code_challenge.as_ref()),
        ("code_challenge_method", p.code_challenge_method.as_ref()),
        ("response_mode", p.response_mode.as_ref()),
    ]
}

fn consent_page(kind: &str, p: &AuthorizeParams, problem: Option<&str>) -> Response {
    let hidden: String = carried(p)
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!(r#"<input type="hidden" name="{k}" value="{}">"#, html_escape(v))))
        .collect();
    let email = p.email.as_deref().or(p.login_hint.as_deref()).unwrap_or("");
    let name = p.name.as_deref().unwrap_or("");
    let problem =
        problem.map(|t| format!(r#"<p class="error" role="alert">{}</p>"#, html_escape(t))).unwrap_or_default();
    let kind = html_escape(kind);
    let body = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in with {kind} — stackd development provider</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f4f5; display: flex; justify-content: center; padding: 3rem 1rem; }}
main {{ background: #fff; border-radius: 12px; padding: 2rem; max-width: 24rem; width: 100%; box-shadow: 0 1px 3px #0002; }}
.badge {{ display: inline-block; background: #fde68a; color: #78350f; border-radius: 999px; padding: .2rem .7rem; font-size: .8rem; }}
label {{ display: block; margin-top: 1rem; font-weight: 600; }}
input[type=email], input[type=text] {{ width: 100%; box-sizing: border-box; padding: .55rem; margin-top: .3rem; border: 1px solid #a1a1aa; border-radius: 6px; }}
.buttons {{ display: flex; gap: .5rem; margin-top: 1.5rem; }}
button {{ flex: 1; padding: .6rem; border-radius: 6px; border: 1px solid #3f3f46; background: #18181b; color: #fff; font-size: 1rem; }}
button[value=deny] {{ background: #fff; color: #18181b; }}
.error {{ color: #b91c1c; }}
</style></head>
<body><main>
<span class="badge">Development only — not a real {kind} sign-in</span>
<h1>Sign in with {kind}</h1>
<p>This is stackd's development OAuth provider. Type the e-mail address and name to sign in as.</p>
{problem}
<form method="post">
{hidden}
<label for="email">E-mail</label><input id="email" name="email" type="email" required autocomplete="email" value="{email}">
<label for="name">Name</label><input id="name" name="name" type="text" autocomplete="name" value="{name}">
<div class="buttons"><button type="submit" name="action" value="allow">Sign in</button><button type="submit" name="action" value="deny" formnovalidate>Deny</button></div>
</form>
</main></body></html>"#,
        email = html_escape(email),
        name = html_escape(name),
    );
    Response::builder().content_type("text/html; charset=utf-8").header("cache-control", "no-store").body(body)
}

#[handler]
fn authorize_page(Path(kind): Path<String>, Query(p): Query<AuthorizeParams>) -> Response {
    let Some(kind) = known_kind(&kind) else { return Response::builder().status(StatusCode::NOT_FOUND).finish() };
    if p.redirect_uri.as_deref().is_none_or(|u| url::Url::parse(u).is_err()) {
        return Response::builder().status(StatusCode::BAD_REQUEST).body("redirect_uri is missing or not a URL");
    }
    consent_page(kind, &p, None)
}

/// Sends the answer to the client: a redirect, or for `form_post` an auto-submitting form.
fn respond(p: &AuthorizeParams, pairs: &[(&str, &str)]) -> Response {
    let redirect_uri = p.redirect_uri.as_deref().unwrap_or_default();
    if p.response_mode.as_deref() == Some("form_post") {
        let fields: String = pairs
            .iter()
            .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, html_escape(v)))
            .collect();
        let body = format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signing in…</title></head><body onload="document.forms[0].submit()"><form method="post" action="{}">{fields}<noscript><button type="submit">Continue</button></noscript></form></body></html>"#,
            html_escape(redirect_uri)
        );
        return Response::builder().content_type("text/html; charset=utf-8").body(body);
    }
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return Response::builder().status(StatusCode::BAD_REQUEST).body("redirect_uri is not a URL");
    };
    url.query_pairs_mut().extend_pairs(pairs);
    Response::builder().status(StatusCode::SEE_OTHER).header("location", url.to_string()).finish()
}

#[handler]
fn authorize_submit(Path(kind): Path<String>, Form(p): Form<AuthorizeParams>, infra: Data<&Shared>) -> Response {
    let Some(kind) = known_kind(&kind) else { return Response::builder().status(StatusCode::NOT_FOUND).finish() };
    if p.redirect_uri.as_deref().is_none_or(|u| url::Url::parse(u).is_err()) {
        return Response::builder().status(StatusCode::BAD_REQUEST).body("redirect_uri is missing or not a URL");
    }
    let state = p.state.clone().unwrap_or_default();
    if p.action.as_deref() == Some("deny") {
        return respond(
            &p,
            &[("error", "access_denied"), ("error_description", "The user denied access"), ("state", &state)],
        );
    }
    let email = p.email.as_deref().unwrap_or("").trim().to_string();
    if !crate::users::email::is_valid_email(&email) {
        return consent_page(kind, &p, Some("Enter a valid e-mail address."));
    }
    let name = p.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(String::from);
    let code = infra.tokens.sign_with(
        KEY,
        &json!({
            "typ": "code", "kind": kind, "sub": account_id(kind, &email), "email": email.to_lowercase(), "name": name,
            "client_id": p.client_id, "redirect_uri": p.redirect_uri, "scope": p.scope, "nonce": p.nonce,
            "code_challenge": p.code_challenge, "code_challenge_method": p.code_challenge_method,
            "exp": now_secs() + CODE_SECS,
        }),
    );
    respond(&p, &[("code", &code), ("state", &state)])
}

#[derive(Deserialize)]
struct TokenParams {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
}

fn claims_of(infra: &Infra, jwt: &str, typ: &str, kind: &str) -> Option<Value> {
    let claims = infra.tokens.verify_with(KEY, jwt)?;
    let fresh = claims.get("exp").and_then(Value::as_i64).is_none_or(|exp| exp > now_secs());
    (claims["typ"] == typ && claims["kind"] == kind && fresh).then_some(claims)
}

fn tokens_for(infra: &Infra, kind: &str, c: &Value, client_id: &str, with_refresh: bool) -> Value {
    let now = now_secs();
    let base = json!({ "kind": kind, "sub": c["sub"], "email": c["email"], "name": c["name"], "scope": c["scope"] });
    let mut access = base.clone();
    access["typ"] = json!("access");
    access["exp"] = json!(now + ACCESS_SECS);
    access["jti"] = json!(uuid::Uuid::new_v4().to_string());
    let id_token = infra.tokens.sign_with(
        KEY,
        &json!({
            "iss": issuer(infra, kind), "sub": c["sub"], "aud": client_id, "iat": now, "exp": now + ACCESS_SECS,
            "email": c["email"], "email_verified": true, "name": c["name"], "nonce": c["nonce"],
        }),
    );
    let mut out = json!({
        "access_token": infra.tokens.sign_with(KEY, &access),
        "token_type": "Bearer",
        "expires_in": ACCESS_SECS,
        "scope": c["scope"],
        "id_token": id_token,
    });
    if with_refresh {
        let mut refresh = base;
        refresh["typ"] = json!("refresh");
        refresh["jti"] = json!(uuid::Uuid::new_v4().to_string());
        out["refresh_token"] = json!(infra.tokens.sign_with(KEY, &refresh));
    }
    out
}

#[handler]
fn token_endpoint(
    Path(kind): Path<String>,
    req: &Request,
    Form(p): Form<TokenParams>,
    infra: Data<&Shared>,
) -> Response {
    let Some(kind) = known_kind(&kind) else { return Response::builder().status(StatusCode::NOT_FOUND).finish() };
    let basic_client = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(id, _)| id.to_string()));
    let client_id = p.client_id.clone().or(basic_client).unwrap_or_default();
    match p.grant_type.as_deref() {
        Some("authorization_code") => {
            let Some(c) = p.code.as_deref().and_then(|code| claims_of(&infra, code, "code", kind)) else {
                return oauth_error("invalid_grant", "The code is invalid or expired");
            };
            if c["redirect_uri"].as_str() != p.redirect_uri.as_deref() || c["client_id"].as_str() != Some(&client_id) {
                return oauth_error("invalid_grant", "redirect_uri or client_id differ from the authorization request");
            }
            if let Some(challenge) = c["code_challenge"].as_str() {
                let verifier = p.code_verifier.as_deref().unwrap_or_default();
                let computed = match c["code_challenge_method"].as_str() {
                    Some("plain") => verifier.to_string(),
                    _ => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
                };
                if computed != challenge {
                    return oauth_error("invalid_grant", "PKCE verification failed");
                }
            }
            json_response(StatusCode::OK, tokens_for(&infra, kind, &c, &client_id, true))
        }
        Some("refresh_token") => match p.refresh_token.as_deref().and_then(|t| claims_of(&infra, t, "refresh", kind)) {
            Some(c) => json_response(StatusCode::OK, tokens_for(&infra, kind, &c, &client_id, false)),
            None => oauth_error("invalid_grant", "The refresh token is invalid"),
        },
        _ => oauth_error("unsupported_grant_type", "Use authorization_code or refresh_token"),
    }
}

#[handler]
fn userinfo(Path(kind): Path<String>, req: &Request, infra: Data<&Shared>) -> Response {
    let Some(kind) = known_kind(&kind) else { return Response::builder().status(StatusCode::NOT_FOUND).finish() };
    let bearer =
        req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match bearer.and_then(|t| claims_of(&infra, t, "access", kind)) {
        Some(c) => json_response(
            StatusCode::OK,
            json!({ "sub": c["sub"], "email": c["email"], "email_verified": true, "name": c["name"] }),
        ),
        None => Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("www-authenticate", r#"Bearer error="invalid_token""#)
            .finish(),
    }
}

/// The provider's routes, mounted at `/dev-oauth` in development mode only.
pub fn routes(infra: Arc<Infra>) -> impl IntoEndpoint {
    Route::new()
        .at("/:kind/.well-known/openid-configuration", poem::get(discovery))
        .at("/:kind/authorize", poem::get(authorize_page).post(authorize_submit))
        .at("/:kind/token", poem::post(token_endpoint))
        .at("/:kind/userinfo", poem::get(userinfo).post(userinfo))
        .at("/:kind/jwks", poem::get(jwks))
        .data(infra)
}

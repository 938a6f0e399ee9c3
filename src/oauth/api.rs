//! Handlers of the OAuth flow (spec 10 §10.2–§10.4): authorize, the provider's callback and the
//! token endpoint. These routes take no `x-stack-*` headers: the browser and the SDK's OAuth
//! library call them, so the project comes from `client_id`, and unknown query parameters (which
//! providers add to callbacks) are ignored.

use std::sync::Arc;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi};
use serde::Deserialize;
use serde_json::json;

use crate::auth::AuthService;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::oauth::service::{AuthorizeRequest, CallbackOutcome};
use crate::oauth::{OAuthService, PUBLIC_CLIENT_SENTINEL};
use crate::payload::PreSerializedJson;
use crate::projects::access::{AnyAuth, ClientAuth};
use crate::projects::KeyKind;
use crate::web::Tag;

/// Name prefix of the cookie that ties a callback to the browser that started the flow.
const INNER_COOKIE_PREFIX: &str = "stack-oauth-inner-";

pub struct OAuthFlowApi {
    pub infra: Arc<Infra>,
    pub oauth: Arc<OAuthService>,
    pub auth: Arc<AuthService>,
}

#[derive(Object)]
pub struct AuthorizeLocation {
    /// The identity provider's authorization URL to open in the browser.
    pub location: String,
}

#[derive(ApiResponse)]
pub enum AuthorizeResponse {
    /// `stack_response_mode=json`: where to send the browser.
    #[oai(status = 200)]
    Location(Json<AuthorizeLocation>),
    /// Redirect to the identity provider; sets the inner-state cookie (10 minutes).
    #[oai(status = 307)]
    Redirect(#[oai(header = "location")] String, #[oai(header = "set-cookie")] String),
}

#[derive(ApiResponse)]
pub enum CallbackResponse {
    /// Signed in: back to the app's `redirect_uri` with `code` and `state`.
    #[oai(status = 303)]
    SignedIn(#[oai(header = "location")] String, #[oai(header = "set-cookie")] String),
    /// A known error, sent to the app's trusted redirect URI as `errorCode`, `message`, `details`
    /// (and OAuth's `error`, `error_description`).
    #[oai(status = 307)]
    ErrorRedirect(#[oai(header = "location")] String, #[oai(header = "set-cookie")] String),
}

/// The provider's form POST to the callback (Apple's `form_post` response mode).
#[derive(Object, Deserialize)]
pub struct CallbackForm {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    /// Apple's first-sign-in user JSON (unused: the ID token carries the e-mail).
    pub user: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct AppleNativeBody {
    /// Apple's identity token (a JWT).
    pub id_token: String,
}

#[derive(Object)]
pub struct AppleNativeResult {
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: String,
    pub is_new_user: bool,
}

/// OAuth 2 token request (form-encoded or JSON).
#[derive(Object, Deserialize)]
pub struct TokenRequestBody {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// Refresh grant: the session's refresh token.
    pub refresh_token: Option<String>,
    /// The project id, optionally `<project id>#<branch id>`.
    pub client_id: Option<String>,
    /// The publishable client key, or `__stack_public_client__`.
    pub client_secret: Option<String>,
    /// Code grant: the code from the callback redirect.
    pub code: Option<String>,
    /// Code grant: the `redirect_uri` given to `authorize`.
    pub redirect_uri: Option<String>,
    /// Code grant: the PKCE verifier of the `code_challenge` given to `authorize`.
    pub code_verifier: Option<String>,
}

#[derive(ApiRequest)]
pub enum TokenRequest {
    Form(Form<TokenRequestBody>),
    Json(Json<TokenRequestBody>),
}

#[derive(Object)]
pub struct TokenGrant {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token is valid for.
    pub expires_in: i64,
    /// Code grant only: the new session's refresh token.
    pub refresh_token: Option<String>,
    /// Always `legacy`.
    pub scope: String,
    /// Code grant only: whether the sign-in created the user. The body also carries it as
    /// `newUser`, as upstream does.
    pub is_new_user: Option<bool>,
    /// Where the OAuth flow returns to (null for the refresh grant). The body also carries it as
    /// `afterCallbackRedirectUrl`, as upstream does; only one name of each pair is documented,
    /// because two properties that differ only in case break generated clients.
    pub after_callback_redirect_url: Option<String>,
}

#[derive(ApiResponse)]
pub enum TokenResponse {
    /// Tokens (the refresh grant does not rotate the refresh token).
    #[oai(status = 200)]
    Ok(PreSerializedJson<TokenGrant>, #[oai(header = "cache-control")] String, #[oai(header = "pragma")] String),
}

/// An OAuth-level error (`{error, error_description}`), not a KnownError.
fn oauth_error(error: &'static str, description: &str) -> ApiError {
    ApiError::OAuth { status: poem::http::StatusCode::BAD_REQUEST, error, description: description.to_string() }
}

fn basic_credentials(req: &Request) -> Option<(String, String)> {
    use base64::Engine;
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

fn has_cookie(req: &Request, name: &str) -> bool {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim().split_once('=').is_some_and(|(k, _)| k == name))
}

fn required(value: Option<String>, name: &str) -> ApiResult<String> {
    value.ok_or_else(|| KnownError::schema(&format!("query.{name} must be defined")).into())
}

impl OAuthFlowApi {
    fn cookie(&self, inner_state: &str, max_age: u32) -> String {
        // Secure outside development; `SameSite=None` so Apple's cross-site form POST carries it.
        let attributes = if self.infra.config.dev { "SameSite=Lax" } else { "Secure; SameSite=None" };
        format!("{INNER_COOKIE_PREFIX}{inner_state}=true; HttpOnly; Path=/; Max-Age={max_age}; {attributes}")
    }

    async fn callback(
        &self,
        req: &Request,
        state: Option<String>,
        code: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    ) -> ApiResult<CallbackResponse> {
        let provider_error = error.filter(|e| !e.is_empty()).map(|e| (e, error_description));
        let state = state.unwrap_or_default();
        let clear = self.cookie(&state, 0);
        let outcome = self
            .oauth
            .callback(Some(&state), code, provider_error, |s| has_cookie(req, &format!("{INNER_COOKIE_PREFIX}{s}")))
            .await?;
        Ok(match outcome {
            CallbackOutcome::SignedIn(location) => CallbackResponse::SignedIn(location, clear),
            CallbackOutcome::ErrorRedirect(location) => CallbackResponse::ErrorRedirect(location, clear),
        })
    }
}

#[OpenApi(tag = "Tag::Oauth")]
impl OAuthFlowApi {
    /// Starts OAuth sign-in (or linking, `type=link`) with a provider: stores the request and sends
    /// the browser to the provider. The SDK's `getOAuthUrl` builds this URL.
    #[oai(path = "/auth/oauth/authorize/:provider_id", method = "get", operation_id = "oauth_authorize")]
    #[allow(clippy::too_many_arguments)]
    async fn authorize(
        &self,
        /// The provider's id in the project config (`github`, `google`…).
        provider_id: Path<String>,
        /// The project id, optionally `<project id>#<branch id>`.
        client_id: Query<Option<String>>,
        /// The publishable client key, or `__stack_public_client__`.
        client_secret: Query<Option<String>>,
        /// Where the callback sends the browser with `code` and `state` (must be trusted).
        redirect_uri: Query<Option<String>>,
        /// Must be `legacy`.
        scope: Query<Option<String>>,
        /// Opaque value echoed back to `redirect_uri`.
        state: Query<Option<String>>,
        /// Must be `authorization_code`.
        grant_type: Query<Option<String>>,
        /// PKCE challenge of the verifier the token request will send.
        code_challenge: Query<Option<String>>,
        /// `S256` (or `plain`).
        code_challenge_method: Query<Option<String>>,
        /// Must be `code`.
        response_type: Query<Option<String>>,
        /// `authenticate` (default) or `link`.
        #[oai(name = "type")]
        flow_type: Query<Option<String>>,
        /// The user's access token: required for `link`; for `authenticate` it lets an anonymous
        /// user be upgraded in place.
        token: Query<Option<String>>,
        /// Extra provider scopes (space-separated; not with shared credentials).
        provider_scope: Query<Option<String>>,
        /// Where errors go when `redirect_uri` is not trusted.
        error_redirect_uri: Query<Option<String>>,
        /// Deprecated alias of `error_redirect_uri`.
        error_redirect_url: Query<Option<String>>,
        /// Returned by the token endpoint after sign-in (must be trusted).
        after_callback_redirect_url: Query<Option<String>>,
        /// `redirect` (default: 307 to the provider) or `json` (200 with the location).
        stack_response_mode: Query<Option<String>>,
        /// SDK 2.8.108's name of `stack_response_mode`.
        hexclave_response_mode: Query<Option<String>>,
        /// Bot-challenge fields: accepted and ignored (the challenge is disabled in stackd).
        bot_challenge_token: Query<Option<String>>,
        /// See `bot_challenge_token`.
        bot_challenge_phase: Query<Option<String>>,
        /// See `bot_challenge_token`.
        bot_challenge_unavailable: Query<Option<String>>,
    ) -> ApiResult<AuthorizeResponse> {
        let _ = (bot_challenge_token, bot_challenge_phase, bot_challenge_unavailable);
        let grant_type = required(grant_type.0, "grant_type")?;
        if grant_type != "authorization_code" {
            return Err(
                KnownError::schema("query.grant_type must be one of the following values: authorization_code").into()
            );
        }
        if required(response_type.0, "response_type")? != "code" {
            return Err(KnownError::schema("query.response_type must be one of the following values: code").into());
        }
        let link = match flow_type.0.as_deref() {
            None | Some("authenticate") => false,
            Some("link") => true,
            Some(_) => {
                return Err(
                    KnownError::schema("query.type must be one of the following values: authenticate, link").into()
                )
            }
        };
        let redirect_uri = required(redirect_uri.0, "redirect_uri")?;
        if redirect_uri.contains(' ') || url::Url::parse(&redirect_uri).is_err() {
            return Err(KnownError::schema("query.redirect_uri must be a valid URL").into());
        }
        let mode = stack_response_mode.0.or(hexclave_response_mode.0);
        let json_mode = match mode.as_deref() {
            None | Some("redirect") => false,
            Some("json") => true,
            Some(_) => {
                return Err(KnownError::schema(
                    "query.stack_response_mode must be one of the following values: json, redirect",
                )
                .into())
            }
        };
        let request = AuthorizeRequest {
            provider_id: provider_id.0.to_ascii_lowercase(),
            client_id: required(client_id.0, "client_id")?,
            client_secret: required(client_secret.0, "client_secret")?,
            redirect_uri,
            scope: required(scope.0, "scope")?,
            state: required(state.0, "state")?,
            code_challenge: required(code_challenge.0, "code_challenge")?,
            code_challenge_method: required(code_challenge_method.0, "code_challenge_method")?,
            link,
            token: token.0.filter(|t| !t.is_empty()),
            provider_scope: provider_scope.0,
            error_redirect_uri: error_redirect_uri.0.or(error_redirect_url.0),
            after_callback_redirect_url: after_callback_redirect_url.0,
            json_mode,
        };
        let authorized = self.oauth.authorize(request).await?;
        if json_mode {
            return Ok(AuthorizeResponse::Location(Json(AuthorizeLocation { location: authorized.location })));
        }
        Ok(AuthorizeResponse::Redirect(authorized.location, self.cookie(&authorized.inner_state, 600)))
    }

    /// The identity provider's redirect back to stackd. Signs the user in (or up, or links the
    /// account) and sends the browser to the app's `redirect_uri` with an authorization code.
    #[oai(path = "/auth/oauth/callback/:provider_id", method = "get", operation_id = "oauth_callback")]
    async fn callback_get(
        &self,
        req: &Request,
        /// The provider's id (its type).
        #[oai(name = "provider_id")]
        _provider_id: Path<String>,
        /// The inner state stackd gave the provider.
        state: Query<Option<String>>,
        /// The provider's authorization code.
        code: Query<Option<String>>,
        /// The provider's error (`access_denied`…).
        error: Query<Option<String>>,
        /// The provider's error description.
        error_description: Query<Option<String>>,
    ) -> ApiResult<CallbackResponse> {
        self.callback(req, state.0, code.0, error.0, error_description.0).await
    }

    /// The provider's callback as a form POST (Apple's `form_post` response mode).
    #[oai(path = "/auth/oauth/callback/:provider_id", method = "post", operation_id = "oauth_callback_post")]
    async fn callback_post(
        &self,
        req: &Request,
        /// The provider's id (its type).
        #[oai(name = "provider_id")]
        _provider_id: Path<String>,
        body: Form<CallbackForm>,
    ) -> ApiResult<CallbackResponse> {
        let f = body.0;
        self.callback(req, f.state, f.code, f.error, f.error_description).await
    }

    /// Native Sign in with Apple: exchanges an Apple identity token (from the app's own Apple
    /// sign-in) for a session. The token must be signed by Apple for one of the project's bundle ids.
    #[oai(path = "/auth/oauth/callback/apple/native", method = "post", operation_id = "apple_native_sign_in")]
    async fn apple_native(&self, auth: ClientAuth, body: Json<AppleNativeBody>) -> ApiResult<Json<AppleNativeResult>> {
        let (session, is_new_user) = self.oauth.apple_native(auth.0.project(), &body.0.id_token).await?;
        Ok(Json(AppleNativeResult {
            access_token: session.access_token,
            refresh_token: session.refresh_token,
            user_id: session.user_id,
            is_new_user,
        }))
    }

    /// OAuth 2 token endpoint: the `authorization_code` grant finishing OAuth sign-in (PKCE), and
    /// the `refresh_token` grant the SDK uses for every access-token refresh (form-encoded,
    /// `client_id` = project id, `client_secret` = publishable key or `__stack_public_client__`).
    #[oai(path = "/auth/oauth/token", method = "post", operation_id = "oauth_token")]
    async fn oauth_token(&self, _auth: AnyAuth, req: &Request, body: TokenRequest) -> ApiResult<TokenResponse> {
        let body = match body {
            TokenRequest::Form(Form(b)) | TokenRequest::Json(Json(b)) => b,
        };
        let grant_type = body.grant_type.as_deref().unwrap_or_default();
        if grant_type != "refresh_token" && grant_type != "authorization_code" {
            return Err(KnownError::schema(
                "body.grant_type must be one of the following values: authorization_code, refresh_token",
            )
            .into());
        }
        let (client_id, client_secret) = match (body.client_id.clone(), body.client_secret.clone()) {
            (Some(id), secret) => (Some(id), secret),
            (None, _) => basic_credentials(req).map(|(i, s)| (Some(i), Some(s))).unwrap_or((None, None)),
        };
        let invalid_client = || KnownError::invalid_oauth_client_id_or_secret(None);
        let client_id = client_id.ok_or_else(invalid_client)?;
        let entry = self.oauth.client_project(&client_id).await?.ok_or_else(invalid_client)?;
        let requires_key = entry.project.config.require_publishable_client_key;
        // The code grant may go without a secret when PKCE protects it (spec 10 §10.4).
        let secret_optional = grant_type == "authorization_code" && body.code_verifier.is_some();
        match client_secret.as_deref() {
            Some(PUBLIC_CLIENT_SENTINEL) | None if requires_key => {
                return Err(KnownError::publishable_client_key_required(Some(&entry.project.id)).into())
            }
            Some(PUBLIC_CLIENT_SENTINEL) => {}
            None if secret_optional => {}
            Some(key) if entry.accepts_key(KeyKind::PublishableClient, key) => {}
            _ => return Err(invalid_client().into()),
        }
        let ttl = self.infra.tokens.ttl_secs;
        let grant = if grant_type == "authorization_code" {
            let Some(code) = body.code.filter(|c| !c.is_empty()) else {
                return Err(oauth_error("invalid_request", "Missing parameter: `code`"));
            };
            let done = self.oauth.exchange_code(&entry.project, code, body.redirect_uri, body.code_verifier).await?;
            json!({
                "access_token": done.session.access_token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "refresh_token": done.session.refresh_token,
                "scope": "legacy",
                "is_new_user": done.is_new_user,
                "newUser": done.is_new_user,
                "after_callback_redirect_url": done.after_callback_redirect_url,
                "afterCallbackRedirectUrl": done.after_callback_redirect_url,
            })
        } else {
            let Some(refresh_token) = body.refresh_token.filter(|t| !t.is_empty()) else {
                return Err(oauth_error("invalid_request", "Missing parameter: `refresh_token`"));
            };
            let access_token = self.auth.refresh(&entry.project, &refresh_token).await?;
            json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": "legacy",
                "afterCallbackRedirectUrl": null,
                "after_callback_redirect_url": null,
            })
        };
        Ok(TokenResponse::Ok(PreSerializedJson::from_value_documented_as(&grant), "no-store".into(), "no-cache".into()))
    }
}

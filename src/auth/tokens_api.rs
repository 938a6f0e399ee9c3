//! The token side of sessions: server-created sessions, refresh, the OAuth token endpoint (refresh
//! grant) and the JWKS (spec 00 §4, spec 10 §7.1, §7.5).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use poem::http::StatusCode;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, ApiResponse, Object, OpenApi};
use serde::Deserialize;

use crate::auth::AuthService;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::payload::PreSerializedJson;
use crate::projects::access::{AnyAuth, ClientAuth, ServerAuth, REFRESH_TOKEN};
use crate::projects::{KeyKind, ProjectsService, INTERNAL_PROJECT_ID};
use crate::sessions::{DEFAULT_SESSION_MILLIS, MAX_SESSION_MILLIS};
use crate::web::Tag;

/// `POST /auth/sessions` and `POST /auth/sessions/current/refresh`.
pub struct SessionTokensApi {
    pub auth: Arc<AuthService>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateSessionBody {
    /// The user (UUID or `me`).
    pub user_id: String,
    /// Lifetime of the refresh token in milliseconds (default 365 days, at most 367 days).
    #[oai(validator(minimum(value = "0"), maximum(value = "31708800000")))]
    pub expires_in_millis: Option<i64>,
    /// Marks a session created by an administrator acting as the user.
    pub is_impersonation: Option<bool>,
}

#[derive(Object)]
pub struct TokenPair {
    /// Long-lived opaque token; exchange it for access tokens.
    pub refresh_token: String,
    /// Short-lived ES256 JWT.
    pub access_token: String,
}

#[derive(Object)]
pub struct AccessTokenOnly {
    pub access_token: String,
}

/// OAuth 2 token request (form-encoded or JSON). Only the `refresh_token` grant is served for now.
#[derive(Object, Deserialize)]
pub struct TokenRequestBody {
    /// `refresh_token` (or `authorization_code`).
    pub grant_type: Option<String>,
    pub refresh_token: Option<String>,
    /// The project id, optionally `<project id>#<branch id>`.
    pub client_id: Option<String>,
    /// The publishable client key, or `__stack_public_client__`.
    pub client_secret: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
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
    /// Always `legacy`.
    pub scope: String,
    /// Where the OAuth flow returns to (null for the refresh grant). The body also carries it as
    /// `afterCallbackRedirectUrl`, as upstream does; only one name is documented, because two
    /// properties that differ only in case break generated clients.
    pub after_callback_redirect_url: Option<String>,
}

#[derive(ApiResponse)]
pub enum TokenResponse {
    /// A fresh access token (the refresh token is not rotated).
    #[oai(status = 200)]
    Ok(PreSerializedJson<TokenGrant>, #[oai(header = "cache-control")] String, #[oai(header = "pragma")] String),
}

#[derive(Object, serde::Serialize)]
pub struct Jwk {
    /// `EC`
    pub kty: String,
    /// `ES256`
    pub alg: String,
    /// `P-256`
    pub crv: String,
    pub x: String,
    pub y: String,
    pub kid: String,
}

#[derive(Object, serde::Serialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The project's public signing keys.
    #[oai(status = 200)]
    Ok(PreSerializedJson<Jwks>, #[oai(header = "cache-control")] String),
}

/// An OAuth-level error (`{error, error_description}`), not a KnownError.
fn oauth_error(error: &'static str, description: &str) -> ApiError {
    ApiError::OAuth { status: StatusCode::BAD_REQUEST, error, description: description.to_string() }
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

#[OpenApi(tag = "Tag::Sessions")]
impl SessionTokensApi {
    /// Creates a session for a user and returns its tokens (server-side sign-in, impersonation).
    #[oai(path = "/auth/sessions", method = "post", operation_id = "create_session")]
    async fn create_session(&self, auth: ServerAuth, body: Json<CreateSessionBody>) -> ApiResult<Json<TokenPair>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&body.user_id)?;
        let lifetime = body.expires_in_millis.unwrap_or(DEFAULT_SESSION_MILLIS).min(MAX_SESSION_MILLIS);
        let impersonation = body.is_impersonation.unwrap_or(false);
        let issued = self.auth.create_session(auth.project(), user_id, lifetime, impersonation).await?;
        Ok(Json(TokenPair { refresh_token: issued.refresh_token, access_token: issued.access_token }))
    }

    /// Exchanges the `x-stack-refresh-token` header for a new access token.
    #[oai(path = "/auth/sessions/current/refresh", method = "post", operation_id = "refresh_access_token")]
    async fn refresh(
        &self,
        auth: ClientAuth,
        req: &Request,
        /// The session's refresh token (also accepted as `x-hexclave-refresh-token`).
        #[oai(name = "x-stack-refresh-token")]
        _refresh_token: Header<Option<String>>,
    ) -> ApiResult<Json<AccessTokenOnly>> {
        let Some(refresh_token) = REFRESH_TOKEN.get(req.headers()) else {
            return Err(KnownError::schema("headers.x-stack-refresh-token must be defined").into());
        };
        let access_token = self.auth.refresh(auth.0.project(), refresh_token).await?;
        Ok(Json(AccessTokenOnly { access_token }))
    }
}

pub struct OauthApi {
    pub infra: Arc<Infra>,
    pub projects: Arc<ProjectsService>,
    pub auth: Arc<AuthService>,
    /// Serialized JWKS documents by (project id, include_restricted, include_anonymous). Keys
    /// derive from the server secret alone, so a document never changes while the process lives.
    pub jwks: RwLock<HashMap<(String, bool, bool), PreSerializedJson<Jwks>>>,
}

impl OauthApi {
    pub fn new(infra: Arc<Infra>, projects: Arc<ProjectsService>, auth: Arc<AuthService>) -> Self {
        OauthApi { infra, projects, auth, jwks: RwLock::new(HashMap::new()) }
    }

    fn jwks_document(&self, project_id: &str, restricted: bool, anonymous: bool) -> PreSerializedJson<Jwks> {
        let key = (project_id.to_string(), restricted, anonymous);
        if let Some(doc) = self.jwks.read().expect("jwks lock").get(&key) {
            return doc.clone();
        }
        let keys = self
            .infra
            .tokens
            .jwks(project_id, restricted, anonymous)
            .iter()
            .map(|k| Jwk {
                kty: "EC".into(),
                alg: "ES256".into(),
                crv: "P-256".into(),
                x: k.x.clone(),
                y: k.y.clone(),
                kid: k.kid.clone(),
            })
            .collect();
        let doc = PreSerializedJson::new(&Jwks { keys });
        self.jwks.write().expect("jwks lock").insert(key, doc.clone());
        doc
    }
}

#[OpenApi(tag = "Tag::Oauth")]
impl OauthApi {
    /// OAuth 2 token endpoint. Serves the `refresh_token` grant as the SDK sends it
    /// (form-encoded, `client_id` = project id, `client_secret` = publishable key).
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
        let (project_id, branch) = client_id.split_once('#').unwrap_or((client_id.as_str(), "main"));
        let entry = self.projects.get(project_id).await?.filter(|_| branch == "main").ok_or_else(invalid_client)?;
        let requires_key = entry.project.config.require_publishable_client_key;
        match client_secret.as_deref() {
            Some("__stack_public_client__") | None if requires_key => {
                return Err(KnownError::publishable_client_key_required(Some(&entry.project.id)).into())
            }
            Some("__stack_public_client__") => {}
            Some(key) if entry.accepts_key(KeyKind::PublishableClient, key) => {}
            _ => return Err(invalid_client().into()),
        }
        if grant_type == "authorization_code" {
            // No OAuth provider flow issues codes yet, so no code can be valid.
            return Err(KnownError::new(
                "INVALID_AUTHORIZATION_CODE",
                400,
                "The authorization code is invalid or has expired.",
            )
            .into());
        }
        let Some(refresh_token) = body.refresh_token.filter(|t| !t.is_empty()) else {
            return Err(oauth_error("invalid_request", "Missing parameter: `refresh_token`"));
        };
        let access_token = self.auth.refresh(&entry.project, &refresh_token).await?;
        let grant = serde_json::json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.infra.tokens.ttl_secs,
            "scope": "legacy",
            "afterCallbackRedirectUrl": null,
            "after_callback_redirect_url": null,
        });
        Ok(TokenResponse::Ok(PreSerializedJson::from_value_documented_as(&grant), "no-store".into(), "no-cache".into()))
    }

    /// The project's JSON Web Key Set: verify access tokens with any JWT library.
    #[oai(path = "/projects/:project_id/.well-known/jwks.json", method = "get", operation_id = "get_jwks")]
    async fn jwks(
        &self,
        _auth: AnyAuth,
        project_id: Path<String>,
        /// Also list the keys of restricted users' tokens.
        include_restricted: Query<Option<bool>>,
        /// Also list the keys of anonymous (and restricted) users' tokens.
        include_anonymous: Query<Option<bool>>,
    ) -> ApiResult<JwksResponse> {
        let id = project_id.0;
        let well_formed = id == INTERNAL_PROJECT_ID || uuid::Uuid::parse_str(&id).is_ok();
        let exists = well_formed && self.projects.get(&id).await?.is_some();
        if !exists {
            return Err(ApiError::plain(StatusCode::NOT_FOUND, "Project not found"));
        }
        let doc = self.jwks_document(&id, include_restricted.0.unwrap_or(false), include_anonymous.0.unwrap_or(false));
        Ok(JwksResponse::Ok(doc, "public, max-age=3600".into()))
    }
}

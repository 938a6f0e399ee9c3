//! The token side of sessions: server-created sessions, refresh, and the JWKS (the OAuth token
//! endpoint is in `oauth::api`) (spec 00 §4, spec 10 §7.1, §7.5).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use poem::http::StatusCode;
use poem::Request;
use poem_openapi::param::{Header, Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::auth::AuthService;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::payload::PreSerializedJson;
use crate::projects::access::{AnyAuth, ClientAuth, ServerAuth, REFRESH_TOKEN};
use crate::projects::{ProjectsService, INTERNAL_PROJECT_ID};
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

pub struct JwksApi {
    pub infra: Arc<Infra>,
    pub projects: Arc<ProjectsService>,
    /// Serialized JWKS documents by (project id, include_restricted, include_anonymous). Keys
    /// derive from the server secret alone, so a document never changes while the process lives.
    pub jwks: RwLock<HashMap<(String, bool, bool), PreSerializedJson<Jwks>>>,
}

impl JwksApi {
    pub fn new(infra: Arc<Infra>, projects: Arc<ProjectsService>) -> Self {
        JwksApi { infra, projects, jwks: RwLock::new(HashMap::new()) }
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
impl JwksApi {
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

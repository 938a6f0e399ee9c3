//! Who is calling: which project, which access type, which user (spec 00 §1).
//!
//! The pipeline resolves the auth headers once per request ([`resolve`]) and leaves the result in
//! the request's extensions. Handlers declare the access level they need by their first parameter
//! ([`AnyAuth`], [`ClientAuth`], [`ServerAuth`], [`AdminAuth`]); that extractor runs before
//! poem-openapi parses the rest, so auth errors win over schema errors as upstream's do.

use std::sync::Arc;

use poem::http::{HeaderMap, HeaderName, StatusCode};
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::error::{ApiError, KnownError};
use crate::infra::Infra;
use crate::projects::{KeyKind, Project, ProjectEntry, ProjectsService, INTERNAL_PROJECT_ID};
use crate::tokens::{self, AccessClaims, TokenKind};

/// A Stack request header, readable under both `x-stack-*` and the SDK 2.8.108 `x-hexclave-*` name.
#[derive(Clone, Copy)]
pub struct StackHeader {
    stack: &'static str,
    hexclave: &'static str,
}

macro_rules! stack_headers {
    ($($ident:ident => $suffix:literal),* $(,)?) => {
        $(pub const $ident: StackHeader = StackHeader { stack: concat!("x-stack-", $suffix), hexclave: concat!("x-hexclave-", $suffix) };)*
        /// Every header name a browser may send, for the CORS allow-list.
        pub const ALL_STACK_HEADER_NAMES: &[&str] = &[$(concat!("x-stack-", $suffix), concat!("x-hexclave-", $suffix)),*];
    };
}

stack_headers! {
    ACCESS_TYPE => "access-type",
    PROJECT_ID => "project-id",
    BRANCH_ID => "branch-id",
    PUBLISHABLE_CLIENT_KEY => "publishable-client-key",
    SECRET_SERVER_KEY => "secret-server-key",
    SUPER_SECRET_ADMIN_KEY => "super-secret-admin-key",
    ADMIN_ACCESS_TOKEN => "admin-access-token",
    ACCESS_TOKEN => "access-token",
    REFRESH_TOKEN => "refresh-token",
    ALLOW_ANONYMOUS_USER => "allow-anonymous-user",
    ALLOW_RESTRICTED_USER => "allow-restricted-user",
    OVERRIDE_ERROR_STATUS => "override-error-status",
    CLIENT_VERSION => "client-version",
    RANDOM_NONCE => "random-nonce",
    DEVELOPMENT_OVERRIDE_KEY => "development-override-key",
    DISABLE_ARTIFICIAL_DEVELOPMENT_DELAY => "disable-artificial-development-delay",
}

impl StackHeader {
    /// The header's value; an empty or non-ASCII value counts as absent (spec 00 §1.1).
    pub fn get(self, headers: &HeaderMap) -> Option<&str> {
        let value = headers
            .get(HeaderName::from_static(self.stack))
            .or_else(|| headers.get(HeaderName::from_static(self.hexclave)))?;
        value.to_str().ok().filter(|v| !v.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccessType {
    Client,
    Server,
    Admin,
}

impl AccessType {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::Client => "client",
            AccessType::Server => "server",
            AccessType::Admin => "admin",
        }
    }

    pub fn is_server_or_higher(self) -> bool {
        self >= AccessType::Server
    }
}

/// An authenticated request: project, access type and (optionally) the signed-in user's token.
#[derive(Clone)]
pub struct RequestAuth {
    pub access_type: AccessType,
    pub project: Arc<ProjectEntry>,
    /// Verified claims of `x-stack-access-token`. The user may have been deleted since.
    pub token: Option<Arc<AccessClaims>>,
}

impl RequestAuth {
    pub fn project(&self) -> &Project {
        &self.project.project
    }

    pub fn project_id(&self) -> &str {
        &self.project.project.id
    }

    pub fn user_id(&self) -> Option<&str> {
        self.token.as_deref().map(|c| c.sub.as_str())
    }

    /// A user id parameter: a UUID (lower-cased) or `me` for the signed-in user (spec 10 §0.1).
    pub fn user_id_param(&self, user_id: &str) -> Result<String, ApiError> {
        let id = self.resolve_user_id(user_id)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(KnownError::schema("params.user_id must be a valid UUID").into());
        }
        Ok(id.to_lowercase())
    }

    /// Replaces `me` by the signed-in user's id (spec 10 §0.1).
    pub fn resolve_user_id<'a>(&'a self, user_id: &'a str) -> Result<&'a str, ApiError> {
        if user_id == "me" {
            self.user_id().ok_or_else(|| KnownError::cannot_get_own_user_without_user().into())
        } else {
            Ok(user_id)
        }
    }
}

/// What the pipeline leaves in the request extensions.
#[derive(Clone)]
pub struct ResolvedAuth(pub Option<RequestAuth>);

/// A query-string problem found by the pipeline, raised only after the access checks.
#[derive(Clone)]
pub struct PendingSchemaError(pub KnownError);

fn now_secs() -> i64 {
    crate::db::now_millis() / 1000
}

/// Verifies an access token. Signing keys are derived per audience, so the audience's project
/// must exist before any key is derived: a token claiming a made-up audience costs one lookup and
/// leaves nothing behind.
async fn verify_token(infra: &Infra, projects: &ProjectsService, token: &str) -> Result<Arc<AccessClaims>, ApiError> {
    // Tokens verified before skip the check: their project existed when they were verified.
    if let Some(result) = infra.tokens.verify_cached(token, now_secs()) {
        return Ok(result?);
    }
    let project = tokens::unverified_audience_project(token).ok_or_else(KnownError::unparsable_access_token)?;
    if projects.get(&project).await?.is_none() {
        return Err(KnownError::unparsable_access_token().into());
    }
    Ok(infra.tokens.verify(token, now_secs())?)
}

/// Resolves the auth headers in upstream's exact order (spec 00 §1.2).
pub async fn resolve(
    infra: &Infra,
    projects: &ProjectsService,
    h: &HeaderMap,
) -> Result<Option<RequestAuth>, ApiError> {
    let any_key = [PUBLISHABLE_CLIENT_KEY, SECRET_SERVER_KEY, SUPER_SECRET_ADMIN_KEY, ADMIN_ACCESS_TOKEN]
        .iter()
        .any(|k| k.get(h).is_some());
    let Some(access_type) = ACCESS_TYPE.get(h) else {
        return if any_key { Err(KnownError::project_key_without_access_type().into()) } else { Ok(None) };
    };
    let access_type = match access_type {
        "client" => AccessType::Client,
        "server" => AccessType::Server,
        "admin" => AccessType::Admin,
        other => return Err(KnownError::invalid_access_type(other).into()),
    };
    let Some(project_id) = PROJECT_ID.get(h) else {
        return Err(KnownError::access_type_without_project_id(access_type.as_str()).into());
    };

    let allow_anonymous = ALLOW_ANONYMOUS_USER.get(h) == Some("true");
    let allow_restricted = allow_anonymous || ALLOW_RESTRICTED_USER.get(h) == Some("true");
    let token = match ACCESS_TOKEN.get(h) {
        None => None,
        Some(t) => {
            let claims = verify_token(infra, projects, t).await?;
            if claims.project_id != project_id {
                return Err(KnownError::invalid_project_for_access_token(project_id, &claims.project_id).into());
            }
            match claims.kind() {
                TokenKind::Anonymous if !allow_anonymous => {
                    return Err(KnownError::anonymous_authentication_not_allowed().into())
                }
                TokenKind::Restricted if !allow_restricted => {
                    let reason = claims
                        .restricted_reason
                        .as_ref()
                        .map(|r| r.kind.as_str())
                        .unwrap_or("restricted_by_administrator");
                    return Err(KnownError::restricted_user_not_allowed(reason).into());
                }
                _ => {}
            }
            Some(claims)
        }
    };

    let Some(project) = projects.get(project_id).await? else {
        return Err(KnownError::current_project_not_found(project_id).into());
    };

    check_credentials(infra, projects, h, access_type, &project).await?;

    if let Some(branch) = BRANCH_ID.get(h) {
        if branch != "main" {
            return Err(KnownError::branch_does_not_exist(branch).into());
        }
    }
    Ok(Some(RequestAuth { access_type, project, token }))
}

/// Step 7 of §1.2: only the first applicable credential is checked.
async fn check_credentials(
    infra: &Infra,
    projects: &ProjectsService,
    h: &HeaderMap,
    access_type: AccessType,
    project: &ProjectEntry,
) -> Result<(), ApiError> {
    let project_id = project.project.id.as_str();
    if let Some(key) = DEVELOPMENT_OVERRIDE_KEY.get(h) {
        let internal = if infra.config.dev { projects.get(INTERNAL_PROJECT_ID).await? } else { None };
        return match internal {
            Some(internal) if internal.accepts_key(KeyKind::SuperSecretAdmin, key) => Ok(()),
            _ => Err(ApiError::plain(StatusCode::UNAUTHORIZED, "The development override key is not valid here.")),
        };
    }
    if let Some(token) = ADMIN_ACCESS_TOKEN.get(h) {
        return check_admin_access_token(infra, projects, token, project).await;
    }
    match access_type {
        AccessType::Client => match PUBLISHABLE_CLIENT_KEY.get(h) {
            None | Some("__stack_public_client__") if project.project.config.require_publishable_client_key => {
                Err(KnownError::publishable_client_key_required(Some(project_id)).into())
            }
            None | Some("__stack_public_client__") => Ok(()),
            Some(key) if project.accepts_key(KeyKind::PublishableClient, key) => Ok(()),
            Some(_) => Err(KnownError::invalid_project_key("INVALID_PUBLISHABLE_CLIENT_KEY", project_id).into()),
        },
        AccessType::Server => match SECRET_SERVER_KEY.get(h) {
            None => Err(KnownError::server_authentication_required().into()),
            Some(key) if project.accepts_key(KeyKind::SecretServer, key) => Ok(()),
            Some(_) => Err(KnownError::invalid_project_key("INVALID_SECRET_SERVER_KEY", project_id).into()),
        },
        AccessType::Admin => match SUPER_SECRET_ADMIN_KEY.get(h) {
            None => Err(KnownError::admin_authentication_required().into()),
            Some(key) if project.accepts_key(KeyKind::SuperSecretAdmin, key) => Ok(()),
            Some(_) => Err(KnownError::invalid_project_key("INVALID_SUPER_SECRET_ADMIN_KEY", project_id).into()),
        },
    }
}

/// §1.6: a dashboard user's token from `internal`, whose user must be a member of the team that
/// owns the target project.
async fn check_admin_access_token(
    infra: &Infra,
    projects: &ProjectsService,
    token: &str,
    project: &ProjectEntry,
) -> Result<(), ApiError> {
    let unparsable = || KnownError::new("UNPARSABLE_ADMIN_ACCESS_TOKEN", 401, "The admin access token is not valid.");
    let not_admin = || {
        KnownError::new(
            "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN",
            401,
            "The admin access token does not grant access to this project.",
        )
    };
    // Keys are derived only for audiences that exist (verify_token checks the project first).
    let claims = match verify_token(infra, projects, token).await {
        Ok(c) => c,
        Err(ApiError::Known(e)) if e.code == "ACCESS_TOKEN_EXPIRED" => {
            let expired_at = e.details.as_ref().and_then(|d| d.get("expired_at_millis")).cloned();
            return Err(KnownError::new("ADMIN_ACCESS_TOKEN_EXPIRED", 401, "The admin access token has expired.")
                .with_details(serde_json::json!({ "expired_at_millis": expired_at }))
                .into());
        }
        Err(_) => return Err(unparsable().into()),
    };
    // Anonymous and restricted users administer nothing.
    if claims.kind() != TokenKind::Normal {
        return Err(unparsable().into());
    }
    if claims.project_id != INTERNAL_PROJECT_ID {
        return Err(not_admin().into());
    }
    let standing = projects.admin_standing(&project.project.id, &claims.sub).await?;
    if !standing.user_exists {
        return Err(ApiError::plain(StatusCode::UNAUTHORIZED, "The admin access token's user no longer exists."));
    }
    if !standing.in_owner_team {
        return Err(not_admin().into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Extractors

fn take_auth(req: &Request, allowed: &'static [AccessType]) -> Result<RequestAuth, ApiError> {
    let auth = req.extensions().get::<ResolvedAuth>().and_then(|a| a.0.clone());
    let Some(auth) = auth else {
        return Err(KnownError::access_type_required().into());
    };
    if !allowed.contains(&auth.access_type) {
        let names: Vec<&str> = allowed.iter().map(|a| a.as_str()).collect();
        return Err(KnownError::insufficient_access_type(auth.access_type.as_str(), &names).into());
    }
    pending_schema_error(req)?;
    Ok(auth)
}

fn pending_schema_error(req: &Request) -> Result<(), ApiError> {
    match req.extensions().get::<PendingSchemaError>() {
        Some(p) => Err(p.0.clone().into()),
        None => Ok(()),
    }
}

const CLIENT_KEY_SCHEME: &str = "PublishableClientKey";
const SERVER_KEY_SCHEME: &str = "SecretServerKey";
const ADMIN_KEY_SCHEME: &str = "SuperSecretAdminKey";

fn register_schemes(registry: &mut Registry) {
    let scheme = |name: &'static str, description: &'static str| MetaSecurityScheme {
        ty: "apiKey",
        description: Some(description),
        name: Some(name),
        key_in: Some("header"),
        scheme: None,
        bearer_format: None,
        flows: None,
        openid_connect_url: None,
    };
    registry.create_security_scheme(
        CLIENT_KEY_SCHEME,
        scheme("x-stack-publishable-client-key", "Client access: send `x-stack-access-type: client` and `x-stack-project-id` with the publishable client key (optional unless the project requires it). `x-hexclave-*` names are accepted too."),
    );
    registry.create_security_scheme(
        SERVER_KEY_SCHEME,
        scheme("x-stack-secret-server-key", "Server access: send `x-stack-access-type: server` and `x-stack-project-id` with the secret server key. Never expose it to browsers."),
    );
    registry.create_security_scheme(
        ADMIN_KEY_SCHEME,
        scheme(
            "x-stack-super-secret-admin-key",
            "Admin access: send `x-stack-access-type: admin` and `x-stack-project-id` with the super secret admin key.",
        ),
    );
}

/// The `ApiExtractor` impl every access extractor shares: the security schemes it documents,
/// whether the operation also works without authentication, and how it reads the request.
macro_rules! auth_extractor {
    ($name:ident, [$($scheme:ident),*], fallback: $fallback:expr, |$req:ident| $extract:expr) => {
        impl<'a> ApiExtractor<'a> for $name {
            const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
            type ParamType = ();
            type ParamRawType = ();

            fn register(registry: &mut Registry) {
                register_schemes(registry);
            }

            fn security_schemes() -> Vec<&'static str> {
                vec![$($scheme),*]
            }

            fn has_security_fallback() -> bool {
                $fallback
            }

            async fn from_request($req: &'a Request, _body: &mut RequestBody, _opts: ExtractParamOptions<()>) -> poem::Result<Self> {
                $extract
            }
        }
    };
}

const ALL_ACCESS: &[AccessType] = &[AccessType::Client, AccessType::Server, AccessType::Admin];

/// Client, server or admin access.
pub struct ClientAuth(pub RequestAuth);
auth_extractor!(ClientAuth, [CLIENT_KEY_SCHEME, SERVER_KEY_SCHEME, ADMIN_KEY_SCHEME], fallback: false, |req| {
    Ok(ClientAuth(take_auth(req, ALL_ACCESS)?))
});

/// Server or admin access.
pub struct ServerAuth(pub RequestAuth);
auth_extractor!(ServerAuth, [SERVER_KEY_SCHEME, ADMIN_KEY_SCHEME], fallback: false, |req| {
    Ok(ServerAuth(take_auth(req, &[AccessType::Server, AccessType::Admin])?))
});

/// Admin access only.
pub struct AdminAuth(pub RequestAuth);
auth_extractor!(AdminAuth, [ADMIN_KEY_SCHEME], fallback: false, |req| {
    Ok(AdminAuth(take_auth(req, &[AccessType::Admin])?))
});

/// The signed-in user, for handlers that act as the caller (`/users/me`): any access type plus an
/// `x-stack-access-token`. Without a token the request fails with `CANNOT_GET_OWN_USER_WITHOUT_USER`
/// after the access-type and schema checks, as upstream orders them. The user may have been deleted
/// since the token was issued; the users service decides what that means.
pub struct SignedInUser {
    pub auth: RequestAuth,
    pub user_id: String,
}
auth_extractor!(SignedInUser, [CLIENT_KEY_SCHEME, SERVER_KEY_SCHEME, ADMIN_KEY_SCHEME], fallback: false, |req| {
    let auth = take_auth(req, ALL_ACCESS)?;
    let user_id =
        auth.user_id().ok_or_else(|| ApiError::from(KnownError::cannot_get_own_user_without_user()))?.to_string();
    Ok(SignedInUser { auth, user_id })
});

/// Any access type, or none at all.
pub struct AnyAuth(pub Option<RequestAuth>);
auth_extractor!(AnyAuth, [CLIENT_KEY_SCHEME, SERVER_KEY_SCHEME, ADMIN_KEY_SCHEME], fallback: true, |req| {
    pending_schema_error(req)?;
    Ok(AnyAuth(req.extensions().get::<ResolvedAuth>().and_then(|a| a.0.clone())))
});

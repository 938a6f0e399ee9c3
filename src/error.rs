//! The one error type every handler returns, and how it goes on the wire.
//!
//! Stack Auth clients decode errors by `code` + `details` (spec 00 §2). A [`KnownError`] renders as
//! `{"code", "details"?, "error"}` with the `x-stack-known-error` / `x-hexclave-known-error` headers;
//! "plain" errors are a bare text body; anything unexpected is a 500 whose cause is logged, never sent.

use std::borrow::Cow;

use poem::http::{HeaderValue, StatusCode};
use poem::{Body, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object};
use serde_json::{json, Value};

/// A Stack Auth KnownError: a stable `code`, an HTTP status, optional structured `details`.
#[derive(Debug, Clone)]
pub struct KnownError {
    pub code: &'static str,
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    pub details: Option<Value>,
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum ApiError {
    Known(KnownError),
    /// A non-KnownError status with a text body (spec 00 §2.2).
    Plain(StatusCode, Cow<'static, str>),
    /// An OAuth 2 protocol error: `{"error", "error_description"}` without a known-error header.
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// Too many requests (spec 00 §7): `429` with `Retry-After` and `{"message"}`, no KnownError.
    RateLimited {
        retry_after_secs: u64,
    },
    /// The server sheds load (a full work queue): `503` with `Retry-After` and `{"message"}`.
    Overloaded {
        retry_after_secs: u64,
    },
    /// The database (or its disk) is full: `507` with `Retry-After`; reads keep working and writes
    /// resume once space is freed, without a restart.
    StorageFull,
    /// A bug or an infrastructure failure. The text is logged, the client sees a generic 500.
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Known(e) => write!(f, "{}: {}", e.code, e.message),
            ApiError::Plain(status, text) => write!(f, "{status}: {text}"),
            ApiError::OAuth { error, description, .. } => write!(f, "{error}: {description}"),
            ApiError::RateLimited { retry_after_secs } => write!(f, "rate limited for {retry_after_secs}s"),
            ApiError::Overloaded { retry_after_secs } => write!(f, "overloaded; retry in {retry_after_secs}s"),
            ApiError::StorageFull => write!(f, "the database is full"),
            ApiError::Internal(text) => write!(f, "internal error: {text}"),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<KnownError> for ApiError {
    fn from(e: KnownError) -> Self {
        ApiError::Known(e)
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DiskFull) => {
                tracing::warn!(error = %e, "a write failed: the database or its disk is full");
                ApiError::StorageFull
            }
            // Locked by another process for longer than the busy timeout (see `db::on_busy`).
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                tracing::warn!(error = %e, "the database stayed locked by another process; request shed");
                ApiError::Overloaded { retry_after_secs: 1 }
            }
            _ => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        ApiError::Internal(format!("database pool: {e}"))
    }
}

impl ApiError {
    pub fn plain(status: StatusCode, text: impl Into<Cow<'static, str>>) -> Self {
        ApiError::Plain(status, text.into())
    }

    pub fn bad_request(text: impl Into<Cow<'static, str>>) -> Self {
        Self::plain(StatusCode::BAD_REQUEST, text)
    }

    pub fn internal(text: impl std::fmt::Display) -> Self {
        ApiError::Internal(text.to_string())
    }

    pub fn known_code(&self) -> Option<&'static str> {
        match self {
            ApiError::Known(e) => Some(e.code),
            _ => None,
        }
    }
}

/// The KnownError body as documented in the OpenAPI spec.
#[derive(Object)]
#[oai(rename = "KnownError")]
pub struct KnownErrorBody {
    /// Stable machine-readable error code, e.g. `USER_NOT_FOUND`. Equals the `x-stack-known-error` header.
    pub code: String,
    /// Structured data for this code (exact keys per code); omitted when the code has none.
    pub details: Option<Value>,
    /// Human-readable explanation. Clients must not parse it.
    pub error: String,
}

pub fn known_error_response(e: &KnownError) -> Response {
    let mut body = serde_json::Map::new();
    body.insert("code".into(), Value::String(e.code.into()));
    if let Some(d) = &e.details {
        body.insert("details".into(), d.clone());
    }
    body.insert("error".into(), Value::String(e.message.to_string()));
    let code = HeaderValue::from_static(e.code);
    Response::builder()
        .status(e.status)
        .content_type("application/json; charset=utf-8")
        .header("x-stack-known-error", code.clone())
        .header("x-hexclave-known-error", code)
        .body(Body::from_vec(serde_json::to_vec(&Value::Object(body)).unwrap_or_default()))
}

/// `429` / `503` with `Retry-After` (seconds) and `{"message"}`: what the SDK waits out and retries.
fn retry_later(status: StatusCode, retry_after_secs: u64, message: &str) -> Response {
    Response::builder()
        .status(status)
        .content_type("application/json; charset=utf-8")
        .header("retry-after", retry_after_secs)
        .body(json!({ "message": message }).to_string())
}

pub fn plain_response(status: StatusCode, text: impl Into<String>) -> Response {
    Response::builder().status(status).content_type("text/plain; charset=utf-8").body(text.into())
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Known(e) => e.status,
            ApiError::Plain(s, _) => *s,
            ApiError::OAuth { status, .. } => *status,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        match self {
            ApiError::Known(e) => known_error_response(e),
            ApiError::Plain(s, t) => plain_response(*s, t.as_ref()),
            ApiError::OAuth { status, error, description } => Response::builder()
                .status(*status)
                .content_type("application/json; charset=utf-8")
                .body(json!({ "error": error, "error_description": description }).to_string()),
            ApiError::RateLimited { retry_after_secs } => retry_later(
                StatusCode::TOO_MANY_REQUESTS,
                *retry_after_secs,
                &format!("Too many requests. Try again in {retry_after_secs} seconds."),
            ),
            ApiError::Overloaded { retry_after_secs } => retry_later(
                StatusCode::SERVICE_UNAVAILABLE,
                *retry_after_secs,
                "The server is busy. Try again shortly.",
            ),
            ApiError::StorageFull => retry_later(
                StatusCode::INSUFFICIENT_STORAGE,
                60,
                "The server's database is full, so nothing can be saved right now; reading still works. \
                 Try again later.",
            ),
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "unexpected error");
                let rid = crate::request_info::current_request_id();
                plain_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "Something went wrong. Please make sure the data you entered is correct.\n\nRequest ID: {rid}"
                    ),
                )
            }
        }
    }
}

/// Documents the error responses of every operation. Every documented error is a KnownError: client
/// generators such as progenitor need one error type per operation, so the `429` of the rate
/// limiter (a `{message}` body with `Retry-After`) is described once, in the document's description. (poem-openapi's own parse failures never reach
/// this type: its `Result` impl asks the success type for a bad-request handler. The pipeline turns
/// them into `SCHEMA_ERROR`, see `pipeline::replace_framework_errors`.)
impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        let known = |status: u16, description: &'static str| MetaResponse {
            description,
            status: Some(status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: "application/json; charset=utf-8",
                schema: MetaSchemaRef::Reference("KnownError".into()),
            }],
            headers: vec![],
        };
        MetaResponses {
            responses: vec![
                known(400, "Bad request: a KnownError such as `SCHEMA_ERROR` (see `code`), or a plain-text message."),
                known(401, "Authentication failed: a KnownError such as `INVALID_SECRET_SERVER_KEY` or `ACCESS_TOKEN_EXPIRED`."),
                known(403, "Forbidden: e.g. `RESTRICTED_USER_NOT_ALLOWED`."),
                known(404, "Not found: e.g. `USER_NOT_FOUND`."),
                known(409, "Conflict: e.g. `USER_EMAIL_ALREADY_EXISTS`."),
            ],
        }
    }

    fn register(registry: &mut Registry) {
        <KnownErrorBody as poem_openapi::types::Type>::register(registry);
    }
}

/// Constructors for the KnownErrors stackd emits (codes, statuses and `details` keys per `known-errors.tsv`).
impl KnownError {
    pub fn new(code: &'static str, status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        KnownError {
            code,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `SCHEMA_ERROR` with the upstream message layout; `problem` is one line like `body.x must be defined`.
    pub fn schema(problem: &str) -> Self {
        let (method, path) = crate::request_info::current_request_line();
        let message = format!("Request validation failed on {method} {path}:\n  - {problem}");
        Self::new("SCHEMA_ERROR", 400, message.clone()).with_details(json!({ "message": message }))
    }

    /// `SCHEMA_ERROR` whose whole message is `message` (a few upstream routes word it so).
    pub fn schema_message(message: &str) -> Self {
        Self::new("SCHEMA_ERROR", 400, message.to_string()).with_details(json!({ "message": message }))
    }

    /// `SCHEMA_ERROR` listing several problems, one per line, in upstream's layout.
    pub fn schema_lines(problems: &[String]) -> Self {
        let (method, path) = crate::request_info::current_request_line();
        let mut message = format!("Request validation failed on {method} {path}:");
        for p in problems {
            message.push_str("\n  - ");
            message.push_str(p);
        }
        Self::new("SCHEMA_ERROR", 400, message.clone()).with_details(json!({ "message": message }))
    }

    pub fn body_parsing(reason: &str) -> Self {
        Self::new("BODY_PARSING_ERROR", 400, format!("Could not parse the request body: {reason}"))
    }

    pub fn project_key_without_access_type() -> Self {
        Self::new(
            "PROJECT_KEY_WITHOUT_ACCESS_TYPE",
            400,
            "A project key was given, but no x-stack-access-type header. Set it to client, server or admin.",
        )
    }

    pub fn invalid_access_type(given: &str) -> Self {
        Self::new(
            "INVALID_ACCESS_TYPE",
            400,
            format!("The x-stack-access-type header must be client, server or admin, but was {given:?}."),
        )
    }

    pub fn access_type_without_project_id(access_type: &str) -> Self {
        Self::new(
            "ACCESS_TYPE_WITHOUT_PROJECT_ID",
            400,
            format!("An x-stack-access-type of {access_type:?} was given without an x-stack-project-id header."),
        )
        .with_details(json!({ "request_type": access_type }))
    }

    pub fn access_type_required() -> Self {
        Self::new(
            "ACCESS_TYPE_REQUIRED",
            400,
            "This endpoint needs project authentication: send x-stack-access-type and x-stack-project-id.",
        )
    }

    pub fn insufficient_access_type(actual: &str, allowed: &[&str]) -> Self {
        Self::new(
            "INSUFFICIENT_ACCESS_TYPE",
            401,
            format!("The x-stack-access-type header must be one of {allowed:?}, but was {actual:?}."),
        )
        .with_details(json!({ "actual_access_type": actual, "allowed_access_types": allowed }))
    }

    pub fn invalid_project_key(code: &'static str, project_id: &str) -> Self {
        Self::new(code, 401, "The project key is not valid for this project (unknown, expired or revoked).")
            .with_details(json!({ "project_id": project_id }))
    }

    pub fn publishable_client_key_required(project_id: Option<&str>) -> Self {
        Self::new(
            "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT",
            401,
            "This project requires a publishable client key (x-stack-publishable-client-key).",
        )
        .with_details(json!({ "project_id": project_id }))
    }

    pub fn server_authentication_required() -> Self {
        Self::new("SERVER_AUTHENTICATION_REQUIRED", 401, "Server access needs an x-stack-secret-server-key header.")
    }

    pub fn admin_authentication_required() -> Self {
        Self::new("ADMIN_AUTHENTICATION_REQUIRED", 401, "Admin access needs an x-stack-super-secret-admin-key header.")
    }

    pub fn current_project_not_found(project_id: &str) -> Self {
        Self::new("CURRENT_PROJECT_NOT_FOUND", 400, "The project named by x-stack-project-id does not exist.")
            .with_details(json!({ "project_id": project_id }))
    }

    pub fn branch_does_not_exist(branch_id: &str) -> Self {
        Self::new("BRANCH_DOES_NOT_EXIST", 400, "The branch named by x-stack-branch-id does not exist.")
            .with_details(json!({ "branch_id": branch_id }))
    }

    pub fn unparsable_access_token() -> Self {
        Self::new("UNPARSABLE_ACCESS_TOKEN", 401, "The access token could not be parsed or its signature is invalid.")
    }

    pub fn access_token_expired(
        expired_at_millis: Option<i64>,
        project_id: Option<&str>,
        user_id: Option<&str>,
        refresh_token_id: Option<&str>,
    ) -> Self {
        Self::new("ACCESS_TOKEN_EXPIRED", 401, "The access token has expired. Refresh it and try again.").with_details(
            json!({
                "expired_at_millis": expired_at_millis,
                "project_id": project_id,
                "user_id": user_id,
                "refresh_token_id": refresh_token_id,
            }),
        )
    }

    pub fn invalid_project_for_access_token(expected: &str, actual: &str) -> Self {
        Self::new(
            "INVALID_PROJECT_FOR_ACCESS_TOKEN",
            401,
            "The access token was issued for a different project than x-stack-project-id.",
        )
        .with_details(json!({ "expected_project_id": expected, "actual_project_id": actual }))
    }

    pub fn anonymous_authentication_not_allowed() -> Self {
        Self::new(
            "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED",
            401,
            "The access token belongs to an anonymous user; send x-stack-allow-anonymous-user: true to accept it.",
        )
    }

    pub fn restricted_user_not_allowed(reason: &str) -> Self {
        Self::new(
            "RESTRICTED_USER_NOT_ALLOWED",
            403,
            "The access token belongs to a restricted user; send x-stack-allow-restricted-user: true to accept it.",
        )
        .with_details(json!({ "restricted_reason": { "type": reason } }))
    }

    pub fn refresh_token_not_found_or_expired() -> Self {
        Self::new(
            "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
            401,
            "The refresh token was not found for this project, or the session expired or was revoked.",
        )
    }

    pub fn cannot_delete_current_session() -> Self {
        Self::new(
            "CANNOT_DELETE_CURRENT_SESSION",
            400,
            "The session that authenticates this request cannot be deleted here; sign out instead.",
        )
    }

    pub fn user_email_already_exists(email: &str, would_work_if_verified: bool) -> Self {
        Self::new("USER_EMAIL_ALREADY_EXISTS", 409, format!("A user with email {email:?} already exists."))
            .with_details(json!({ "email": email, "would_work_if_email_was_verified": would_work_if_verified }))
    }

    pub fn cannot_get_own_user_without_user() -> Self {
        Self::new(
            "CANNOT_GET_OWN_USER_WITHOUT_USER",
            400,
            "You used 'me' as a user id, but the request is not authenticated as a user.",
        )
    }

    pub fn user_id_does_not_exist(user_id: &str) -> Self {
        Self::new("USER_ID_DOES_NOT_EXIST", 400, format!("The user with id {user_id} does not exist."))
            .with_details(json!({ "user_id": user_id }))
    }

    pub fn user_not_found() -> Self {
        Self::new("USER_NOT_FOUND", 404, "User not found.")
    }

    pub fn user_authentication_required() -> Self {
        Self::new("USER_AUTHENTICATION_REQUIRED", 401, "This endpoint needs a signed-in user (x-stack-access-token).")
    }

    pub fn sign_up_not_enabled() -> Self {
        Self::new("SIGN_UP_NOT_ENABLED", 400, "Creating new accounts is not enabled for this project.")
    }

    pub fn password_authentication_not_enabled() -> Self {
        Self::new(
            "PASSWORD_AUTHENTICATION_NOT_ENABLED",
            400,
            "Password authentication is not enabled for this project.",
        )
    }

    pub fn email_password_mismatch() -> Self {
        Self::new("EMAIL_PASSWORD_MISMATCH", 400, "Wrong e-mail or password.")
    }

    pub fn redirect_url_not_whitelisted() -> Self {
        Self::new("REDIRECT_URL_NOT_WHITELISTED", 400, "The redirect URL is not on this project's trusted domains.")
    }

    pub fn password_too_short(min_length: usize) -> Self {
        Self::new("PASSWORD_TOO_SHORT", 400, format!("The password is too short; the minimum length is {min_length}."))
            .with_details(json!({ "min_length": min_length }))
    }

    pub fn password_too_long(max_length: usize) -> Self {
        Self::new("PASSWORD_TOO_LONG", 400, format!("The password is too long; the maximum length is {max_length}."))
            .with_details(json!({ "maxLength": max_length }))
    }

    pub fn verification_code_not_found() -> Self {
        Self::new("VERIFICATION_CODE_NOT_FOUND", 404, "The verification code does not exist for this project.")
    }

    pub fn invalid_oauth_client_id_or_secret(client_id: Option<&str>) -> Self {
        Self::new("INVALID_OAUTH_CLIENT_ID_OR_SECRET", 400, "The OAuth client_id or client_secret is invalid.")
            .with_details(json!({ "client_id": client_id }))
    }
}

/// Every KnownError code of the Stack Auth API (`known-errors.tsv` of the contract), in sorted
/// order: the `code` enum of the OpenAPI document. Codes stackd does not emit yet are listed too,
/// so generated clients keep working as features arrive.
pub const KNOWN_ERROR_CODES: [&str; 144] = [
    "ACCESS_TOKEN_EXPIRED",
    "ACCESS_TYPE_REQUIRED",
    "ACCESS_TYPE_WITHOUT_PROJECT_ID",
    "ADMIN_ACCESS_TOKEN_EXPIRED",
    "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN",
    "ADMIN_AUTHENTICATION_REQUIRED",
    "ALL_OVERLOADS_FAILED",
    "ANALYTICS_NOT_ENABLED",
    "ANALYTICS_QUERY_ERROR",
    "ANALYTICS_QUERY_TIMEOUT",
    "ANONYMOUS_ACCOUNTS_NOT_ENABLED",
    "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED",
    "API_KEY_EXPIRED",
    "API_KEY_NOT_FOUND",
    "API_KEY_NOT_VALID",
    "API_KEY_REVOKED",
    "APPLE_BUNDLE_ID_NOT_CONFIGURED",
    "BODY_PARSING_ERROR",
    "BOT_CHALLENGE_FAILED",
    "BOT_CHALLENGE_REQUIRED",
    "BRANCH_DOES_NOT_EXIST",
    "CANNOT_DELETE_CURRENT_SESSION",
    "CANNOT_GET_OWN_USER_WITHOUT_USER",
    "CLIENT_AUTHENTICATION_REQUIRED",
    "CLIENT_OR_ADMIN_AUTHENTICATION_REQUIRED",
    "CLIENT_OR_SERVER_AUTHENTICATION_REQUIRED",
    "CLIENT_OR_SERVER_OR_ADMIN_AUTHENTICATION_REQUIRED",
    "CLI_AUTH_ERROR",
    "CLI_AUTH_EXPIRED_ERROR",
    "CLI_AUTH_USED_ERROR",
    "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
    "CONTAINED_PERMISSION_NOT_FOUND",
    "CURRENT_PROJECT_NOT_FOUND",
    "CUSTOMER_DOES_NOT_EXIST",
    "DATA_VAULT_STORE_DOES_NOT_EXIST",
    "DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST",
    "DEFAULT_PAYMENT_METHOD_REQUIRED",
    "EMAIL_ALREADY_VERIFIED",
    "EMAIL_CAPACITY_BOOST_ALREADY_ACTIVE",
    "EMAIL_IS_NOT_PRIMARY_EMAIL",
    "EMAIL_NOT_ASSOCIATED_WITH_USER",
    "EMAIL_NOT_EDITABLE",
    "EMAIL_NOT_VERIFIED",
    "EMAIL_PASSWORD_MISMATCH",
    "EMAIL_RENDERING_ERROR",
    "EMAIL_TEMPLATE_ALREADY_EXISTS",
    "EXPECTED_INTERNAL_PROJECT",
    "INSUFFICIENT_ACCESS_TYPE",
    "INVALID_ACCESS_TOKEN",
    "INVALID_ACCESS_TYPE",
    "INVALID_ADMIN_ACCESS_TOKEN",
    "INVALID_APPLE_CREDENTIALS",
    "INVALID_AUTHORIZATION_CODE",
    "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
    "INVALID_POLLING_CODE",
    "INVALID_PROJECT_AUTHENTICATION",
    "INVALID_PROJECT_FOR_ACCESS_TOKEN",
    "INVALID_PROJECT_FOR_ADMIN_ACCESS_TOKEN",
    "INVALID_PUBLISHABLE_CLIENT_KEY",
    "INVALID_SCOPE",
    "INVALID_SECRET_SERVER_KEY",
    "INVALID_SESSION_AUTHENTICATION",
    "INVALID_SHARED_OAUTH_PROVIDER_ID",
    "INVALID_STANDARD_OAUTH_PROVIDER_ID",
    "INVALID_SUPER_SECRET_ADMIN_KEY",
    "INVALID_TOTP_CODE",
    "ITEM_CUSTOMER_TYPE_DOES_NOT_MATCH",
    "ITEM_NOT_FOUND",
    "ITEM_QUANTITY_INSUFFICIENT_AMOUNT",
    "MULTI_FACTOR_AUTHENTICATION_REQUIRED",
    "NEW_PURCHASES_BLOCKED",
    "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE",
    "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS",
    "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER",
    "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
    "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER",
    "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS",
    "OAUTH_PROVIDER_ACCESS_DENIED",
    "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN",
    "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED",
    "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE",
    "ONE_TIME_PURCHASE_ALREADY_REFUNDED",
    "ONE_TIME_PURCHASE_NOT_FOUND",
    "OUTER_OAUTH_TIMEOUT",
    "PASSKEY_AUTHENTICATION_FAILED",
    "PASSKEY_AUTHENTICATION_NOT_ENABLED",
    "PASSKEY_REGISTRATION_FAILED",
    "PASSKEY_WEBAUTHN_ERROR",
    "PASSWORD_AUTHENTICATION_NOT_ENABLED",
    "PASSWORD_CONFIRMATION_MISMATCH",
    "PASSWORD_REQUIREMENTS_NOT_MET",
    "PASSWORD_TOO_LONG",
    "PASSWORD_TOO_SHORT",
    "PERMISSION_ID_ALREADY_EXISTS",
    "PERMISSION_NOT_FOUND",
    "PRODUCT_ALREADY_GRANTED",
    "PRODUCT_CUSTOMER_TYPE_DOES_NOT_MATCH",
    "PRODUCT_DOES_NOT_EXIST",
    "PROJECT_AUTHENTICATION_ERROR",
    "PROJECT_AUTHENTICATION_REQUIRED",
    "PROJECT_KEY_WITHOUT_ACCESS_TYPE",
    "PROJECT_NOT_FOUND",
    "PROJECT_PERMISSION_REQUIRED",
    "PROVIDER_REJECTED",
    "PUBLIC_API_KEY_CANNOT_BE_REVOKED",
    "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT",
    "REDIRECT_URL_NOT_WHITELISTED",
    "REFRESH_TOKEN_ERROR",
    "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED",
    "REQUIRES_CUSTOM_EMAIL_SERVER",
    "RESTRICTED_USER_NOT_ALLOWED",
    "SCHEMA_ERROR",
    "SERVER_AUTHENTICATION_REQUIRED",
    "SESSION_AUTHENTICATION_ERROR",
    "SIGN_UP_NOT_ENABLED",
    "SIGN_UP_REJECTED",
    "STRIPE_ACCOUNT_INFO_NOT_FOUND",
    "SUBSCRIPTION_ALREADY_REFUNDED",
    "SUBSCRIPTION_INVOICE_NOT_FOUND",
    "TEAM_ALREADY_EXISTS",
    "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED",
    "TEAM_MEMBERSHIP_ALREADY_EXISTS",
    "TEAM_MEMBERSHIP_NOT_FOUND",
    "TEAM_NOT_FOUND",
    "TEAM_PERMISSION_NOT_FOUND",
    "TEAM_PERMISSION_REQUIRED",
    "TEMPLATE_SOURCE_REWRITE_ERROR",
    "TEST_MODE_PURCHASE_NON_REFUNDABLE",
    "UNPARSABLE_ACCESS_TOKEN",
    "UNPARSABLE_ADMIN_ACCESS_TOKEN",
    "UNSUPPORTED_ERROR",
    "USER_ALREADY_CONNECTED_TO_ANOTHER_OAUTH_CONNECTION",
    "USER_AUTHENTICATION_REQUIRED",
    "USER_DOES_NOT_HAVE_PASSWORD",
    "USER_EMAIL_ALREADY_EXISTS",
    "USER_ID_DOES_NOT_EXIST",
    "USER_NOT_FOUND",
    "VERIFICATION_CODE_ALREADY_USED",
    "VERIFICATION_CODE_EXPIRED",
    "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED",
    "VERIFICATION_CODE_NOT_FOUND",
    "VERIFICATION_ERROR",
    "WRONG_API_KEY_TYPE",
    "WRONG_PERMISSION_SCOPE",
];

#[cfg(test)]
mod tests {
    use super::KNOWN_ERROR_CODES;

    /// Every code this crate constructs must be in the documented enum, or generated clients with
    /// strict enums would fail to decode it.
    #[test]
    fn every_emitted_code_is_documented() {
        let mut files = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        let mut emitted = Vec::new();
        while let Some(path) = files.pop() {
            if path.is_dir() {
                files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split("KnownError::new(").skip(1).chain(text.split("Self::new(").skip(1)) {
                let code: String = part
                    .trim_start()
                    .trim_start_matches('"')
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                if code.len() > 3 {
                    emitted.push(code);
                }
            }
        }
        assert!(emitted.len() > 20, "the scan found the constructors");
        for code in emitted {
            assert!(KNOWN_ERROR_CODES.contains(&code.as_str()), "{code} is not in KNOWN_ERROR_CODES");
        }
        assert!(KNOWN_ERROR_CODES.windows(2).all(|w| w[0] < w[1]));
    }
}

//! Signing in with OAuth providers (spec 10 §10). stackd is an OAuth 2 authorization server
//! towards the SDK (the "outer" flow: `authorize`, `callback`, the `authorization_code` grant of
//! `/auth/oauth/token`) and an OAuth client towards the identity provider (the "inner" flow).
//!
//! - `providers.rs`: the twelve provider types, their endpoints, scopes and user-info shapes.
//! - `client.rs`: outbound HTTP to providers (discovery, code exchange, user info, refresh).
//! - `service.rs`: the flow's rules: authorize, callback (merge strategies, anonymous upgrade,
//!   `type=link`), the code grant, connected accounts and the `/oauth-providers` links.
//! - `api.rs`, `accounts_api.rs`: handlers; `dev_provider.rs`: the development OIDC provider.
//! - `store.rs`: the SQL.

pub mod accounts_api;
pub mod api;
pub mod apple;
pub mod client;
pub mod dev_provider;
pub mod links;
pub mod providers;
pub mod service;
pub mod store;

pub use service::OAuthService;

use crate::db::{now_millis, Db};
use crate::error::KnownError;
use crate::jobs::Jobs;

/// Sentinel `client_secret` of clients without a publishable key (spec 10 §10.2).
pub const PUBLIC_CLIENT_SENTINEL: &str = "__stack_public_client__";

/// A user's account at an identity provider.
#[derive(Debug, Clone)]
pub struct OAuthAccount {
    pub id: String,
    pub user_id: String,
    pub provider_config_id: String,
    pub provider_account_id: String,
    pub email: Option<String>,
    pub allow_sign_in: bool,
    pub allow_connected_accounts: bool,
}

pub fn provider_not_found_or_not_enabled() -> KnownError {
    KnownError::new(
        "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED",
        400,
        "This OAuth provider is not configured or not enabled for the project.",
    )
}

pub fn outer_oauth_timeout() -> KnownError {
    KnownError::new("OUTER_OAUTH_TIMEOUT", 408, "The OAuth sign-in took too long. Please try again.")
}

pub fn provider_access_denied() -> KnownError {
    KnownError::new("OAUTH_PROVIDER_ACCESS_DENIED", 400, "Access was denied at the OAuth provider.")
}

pub fn provider_temporarily_unavailable() -> KnownError {
    KnownError::new(
        "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE",
        503,
        "The OAuth provider is temporarily unavailable. Please try again in a moment.",
    )
}

pub fn connection_already_connected_to_another_user() -> KnownError {
    KnownError::new(
        "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER",
        409,
        "This provider account is already connected to another user.",
    )
}

pub fn extra_scope_with_shared_keys() -> KnownError {
    KnownError::new(
        "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS",
        400,
        "Extra provider scopes need the project's own OAuth credentials, not the shared ones.",
    )
}

pub fn invalid_authorization_code() -> KnownError {
    KnownError::new("INVALID_AUTHORIZATION_CODE", 400, "The authorization code is invalid, expired or already used.")
}

pub fn channel_used_by_someone_else(email: &str, would_work_if_verified: bool) -> KnownError {
    KnownError::new(
        "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE",
        409,
        "This e-mail address already signs in to another account.",
    )
    .with_details(serde_json::json!({
        "type": "email",
        "contact_channel_value": email,
        "would_work_if_email_was_verified": would_work_if_verified,
    }))
}

pub fn connection_not_connected_to_user() -> KnownError {
    KnownError::new(
        "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER",
        400,
        "The user has no connected account at this provider.",
    )
}

pub fn connection_lacks_scope() -> KnownError {
    KnownError::new(
        "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE",
        400,
        "The connected account was not granted the requested scopes. Connect it again with those scopes.",
    )
}

pub fn access_token_with_shared_keys() -> KnownError {
    KnownError::new(
        "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS",
        400,
        "Provider access tokens need the project's own OAuth credentials, not the shared ones.",
    )
}

pub fn account_id_already_used_for_sign_in() -> KnownError {
    KnownError::new(
        "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN",
        400,
        "Another user already signs in with this provider account.",
    )
}

/// Expired pending authorizations and codes are deleted hourly.
pub fn register_jobs(jobs: &Jobs, db: Db) {
    jobs.every_until_stop("oauth-pruning", std::time::Duration::from_secs(3600), move || {
        let db = db.clone();
        async move {
            match tokio::task::spawn_blocking(move || db.write_now(|tx| store::prune(tx, now_millis()))).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "OAuth pruning failed"),
                Err(e) => tracing::error!(error = %e, "OAuth pruning failed"),
            }
        }
    });
}

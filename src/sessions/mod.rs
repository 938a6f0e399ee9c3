//! Sessions and the tokens they issue (spec 00 §4.7–§4.10, spec 10 §7).

pub mod activity;
pub mod api;
pub mod store;

use rusqlite::Transaction;

pub use activity::Activity;

use crate::crypto::random_secret;
use crate::db::now_millis;
use crate::error::{ApiResult, KnownError};
use crate::projects::Project;
use crate::state::AppState;
use crate::tokens::{AccessClaims, RestrictedReason, TokenService};
use crate::users::{self, UserRecord};

/// Default and maximum session lifetimes: 365 and 367 days.
pub const DEFAULT_SESSION_MILLIS: i64 = 365 * 24 * 3600 * 1000;
pub const MAX_SESSION_MILLIS: i64 = 367 * 24 * 3600 * 1000;

/// What every sign-in returns.
pub struct IssuedSession {
    pub session_id: String,
    pub refresh_token: String,
    pub access_token: String,
}

/// Mints an access token for `user` in `session_id`, with the user's current restriction status.
pub fn mint_access_token(tokens: &TokenService, project: &Project, user: &UserRecord, session_id: &str) -> String {
    let now = now_millis() / 1000;
    let kind = user.token_kind(&project.config);
    let reason = user.restricted_reason(&project.config);
    let claims = AccessClaims {
        iss: kind.issuer(&tokens.base_url, &project.id),
        aud: kind.audience(&project.id),
        sub: user.id.clone(),
        iat: now,
        exp: now + tokens.ttl_secs,
        project_id: project.id.clone(),
        branch_id: "main".into(),
        refresh_token_id: session_id.to_string(),
        role: "authenticated".into(),
        name: user.display_name.clone(),
        email: user.primary_email.clone(),
        email_verified: user.primary_email_verified,
        selected_team_id: user.selected_team_id.clone(),
        signed_up_at: user.signed_up_at / 1000,
        is_anonymous: user.is_anonymous,
        is_restricted: reason.is_some(),
        restricted_reason: reason.map(|r| RestrictedReason { kind: r.to_string() }),
        requires_totp_mfa: user.requires_totp_mfa,
    };
    tokens.sign(&claims)
}

/// Starts a session for an existing user inside the caller's transaction and issues both tokens.
/// Also marks the user active (spec 10 §1.9).
pub fn start(
    tx: &Transaction,
    tokens: &TokenService,
    project: &Project,
    user_id: &str,
    lifetime_millis: i64,
    is_impersonation: bool,
) -> ApiResult<IssuedSession> {
    let user = users::store::load(tx, &project.id, user_id)?.ok_or_else(KnownError::user_not_found)?;
    start_for(tx, tokens, project, &user, lifetime_millis, is_impersonation)
}

/// [`start`] for a caller that already loaded the user in this transaction.
pub fn start_for(
    tx: &Transaction,
    tokens: &TokenService,
    project: &Project,
    user: &UserRecord,
    lifetime_millis: i64,
    is_impersonation: bool,
) -> ApiResult<IssuedSession> {
    let now = now_millis();
    let refresh_token = random_secret();
    let session_id =
        store::insert(tx, &project.id, &user.id, &refresh_token, Some(now + lifetime_millis), is_impersonation, now)?;
    users::store::touch_last_active(tx, &user.id, now)?;
    let access_token = mint_access_token(tokens, project, user, &session_id);
    Ok(IssuedSession { session_id, refresh_token, access_token })
}

/// A refreshed access token and the session it belongs to.
pub struct Refreshed {
    pub access_token: String,
    pub session_id: String,
    pub user_id: String,
}

/// Exchanges a refresh token for a new access token (no rotation). Reads only, through the hot-path
/// caches; the activity it implies is recorded in [`Activity`], which writes it in batches.
pub async fn refresh(state: &AppState, project: &Project, refresh_token: &str) -> ApiResult<Refreshed> {
    let hash = crate::crypto::hash_secret(refresh_token);
    let key =
        format!("{}/{}", project.id, base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, hash));
    let project_id = project.id.clone();
    let session = state
        .db
        .read_cached(&state.session_cache, &key, move |c| store::find_by_token_hash(c, &project_id, &hash))
        .await?;
    let now = now_millis();
    let session = session
        .filter(|s| s.expires_at.is_none_or(|e| e > now))
        .ok_or_else(KnownError::refresh_token_not_found_or_expired)?;
    let user = users::load_cached(state, &project.id, &session.user_id)
        .await?
        .ok_or_else(KnownError::refresh_token_not_found_or_expired)?;
    let access_token = mint_access_token(&state.tokens, project, &user, &session.id);
    state.activity.record(&session.id, &session.user_id, now);
    Ok(Refreshed { access_token, session_id: session.id, user_id: session.user_id })
}

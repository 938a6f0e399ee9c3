//! The OAuth flow's rules and transactions (spec 10 §10.2–§10.4, §10.7). Users are created through
//! `UsersService::create_in` and sessions issued through `AuthService::issue_session_in`, like
//! every other sign-in method.

use std::sync::Arc;

use base64::Engine;
use poem::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::service::IssuedSession;
use crate::auth::sign_up_rules::{self, SignUpContext};
use crate::auth::{mfa, AuthService};
use crate::contact_channels::store as channel_store;
use crate::crypto::{hash_secret, random_secret, Sealer};
use crate::db::{now_millis, Tx};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::images::ImageInput;
use crate::infra::Infra;
use crate::oauth::apple::AppleVerifier;
use crate::oauth::client::{ProviderClient, ProviderFailure, ResolvedProvider, TokenSet};
use crate::oauth::providers::{provider_type, ProviderUser};
use crate::oauth::{self as errors, store, OAuthAccount, PUBLIC_CLIENT_SENTINEL};
use crate::projects::config::OAuthProviderSetting;
use crate::projects::{KeyKind, Project, ProjectEntry, ProjectsService};
use crate::rate_limit::Limit;
use crate::sessions::DEFAULT_SESSION_MILLIS;
use crate::users::changes::{self, UserChanges};
use crate::users::{store as user_store, UsersService};

/// OAuth sign-ins started per client address (each one stores a pending authorization).
pub const AUTHORIZE_PER_IP: Limit = Limit::per_minute("oauth-authorize/ip", 60);
/// A pending authorization lives this long (spec 10 §10.2).
const OUTER_STATE_MILLIS: i64 = 10 * 60 * 1000;
/// An authorization code handed to the SDK lives this long.
const CODE_MILLIS: i64 = 5 * 60 * 1000;
/// A stored access token is handed out only if it lives at least this much longer.
const ACCESS_TOKEN_MARGIN_MILLIS: i64 = 5 * 60 * 1000;
/// Provider tokens kept per account and kind.
const TOKENS_KEPT: i64 = 5;
/// The development provider's key and client credentials.
pub const DEV_PROVIDER_CLIENT: &str = "stackd-dev";
/// URL scheme of native apps, accepted as an OAuth redirect (spec 10 §0.5).
const NATIVE_APP_SCHEME: &str = "stack-auth-mobile-oauth-url:";

/// `GET /auth/oauth/authorize/{provider_id}`, parsed.
#[derive(Debug, Default)]
pub struct AuthorizeRequest {
    pub provider_id: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: String,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub link: bool,
    pub token: Option<String>,
    pub provider_scope: Option<String>,
    pub error_redirect_uri: Option<String>,
    pub after_callback_redirect_url: Option<String>,
    pub json_mode: bool,
}

/// What `authorize` hands back: where to send the browser, and the inner state (cookie name).
pub struct Authorized {
    pub location: String,
    pub inner_state: String,
}

/// The pending authorization, stored under the inner state's hash.
#[derive(Debug, Serialize, Deserialize)]
struct OuterInfo {
    project_id: String,
    provider_id: String,
    redirect_uri: String,
    error_redirect_uri: Option<String>,
    after_callback_redirect_url: Option<String>,
    scope: String,
    state: String,
    code_challenge: String,
    code_challenge_method: String,
    link: bool,
    user_id: Option<String>,
    provider_scope: Option<String>,
    json_mode: bool,
    inner_verifier: String,
    client_secret: String,
}

/// The data bound to an authorization code.
#[derive(Debug, Serialize, Deserialize)]
struct CodeData {
    redirect_uri: String,
    code_challenge: String,
    code_challenge_method: String,
    is_new_user: bool,
    after_callback_redirect_url: Option<String>,
}

/// How a callback ends.
pub enum CallbackOutcome {
    /// 303 to the app's redirect URI with `code` and `state`.
    SignedIn(String),
    /// 307 to a trusted redirect URI carrying the error.
    ErrorRedirect(String),
}

/// The code grant's answer.
pub struct CodeGrant {
    pub session: IssuedSession,
    pub is_new_user: bool,
    pub after_callback_redirect_url: Option<String>,
}

/// A provider's client and whether it is the server's shared one / the development provider.
struct ProviderSetup {
    resolved: ResolvedProvider,
    is_dev_provider: bool,
}

pub struct OAuthService {
    pub(super) infra: Arc<Infra>,
    pub(super) projects: Arc<ProjectsService>,
    pub(super) auth: Arc<AuthService>,
    pub(super) users: Arc<UsersService>,
    client: ProviderClient,
    apple: AppleVerifier,
    sealer: Sealer,
}

fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Inner redirect URI towards the provider: the callback route of the provider's type.
fn inner_redirect_uri(base_url: &str, provider_type: &str) -> String {
    format!("{base_url}/api/v1/auth/oauth/callback/{provider_type}")
}

fn with_query(url: &str, pairs: &[(&str, &str)]) -> ApiResult<String> {
    let mut url = url::Url::parse(url).map_err(|_| ApiError::from(KnownError::redirect_url_not_whitelisted()))?;
    url.query_pairs_mut().extend_pairs(pairs);
    Ok(url.to_string())
}

fn map_failure(provider: &str, failure: ProviderFailure) -> ApiError {
    match failure {
        ProviderFailure::InvalidGrant => {
            ApiError::bad_request("The OAuth provider refused the authorization code. Please try signing in again.")
        }
        ProviderFailure::AccessDenied => errors::provider_access_denied().into(),
        ProviderFailure::InvalidClient => ApiError::bad_request(
            "The OAuth provider refused this project's client credentials. Check the provider's client id and secret in the project settings.",
        ),
        ProviderFailure::Unavailable(reason) | ProviderFailure::Other(reason) => {
            tracing::warn!(provider, reason = %reason, "OAuth provider request failed");
            errors::provider_temporarily_unavailable().into()
        }
    }
}

impl OAuthService {
    pub fn new(
        infra: Arc<Infra>,
        projects: Arc<ProjectsService>,
        auth: Arc<AuthService>,
        users: Arc<UsersService>,
    ) -> OAuthService {
        let client = ProviderClient::new(infra.config.oauth.request_timeout);
        let sealer = Sealer::new(&infra.config.server_secret, "oauth-provider-tokens");
        let oauth = &infra.config.oauth;
        let apple = AppleVerifier::new(oauth.apple_jwks_url.clone(), oauth.request_timeout);
        OAuthService { infra, projects, auth, users, client, apple, sealer }
    }

    fn base_url(&self) -> &str {
        &self.infra.tokens.base_url
    }

    /// Whether a URL may receive the OAuth result (spec 10 §0.5, native apps included).
    fn is_trusted_redirect(project: &Project, url: &str) -> bool {
        url.starts_with(NATIVE_APP_SCHEME) || project.config.is_trusted_url(url)
    }

    /// The project named by an OAuth `client_id` (`<project>` or `<project>#<branch>`).
    pub async fn client_project(&self, client_id: &str) -> ApiResult<Option<Arc<ProjectEntry>>> {
        let (project_id, branch) = client_id.split_once('#').unwrap_or((client_id, "main"));
        if branch != "main" {
            return Ok(None);
        }
        Ok(self.projects.get(project_id).await?.filter(|e| e.project.id == project_id))
    }

    /// The publishable-key rule of the authorize and callback steps.
    fn check_client_key(entry: &ProjectEntry, secret: &str) -> ApiResult<()> {
        if secret == PUBLIC_CLIENT_SENTINEL {
            if entry.project.config.require_publishable_client_key {
                return Err(KnownError::publishable_client_key_required(Some(&entry.project.id)).into());
            }
            return Ok(());
        }
        if entry.accepts_key(KeyKind::PublishableClient, secret) {
            Ok(())
        } else {
            Err(KnownError::invalid_project_key("INVALID_PUBLISHABLE_CLIENT_KEY", &entry.project.id).into())
        }
    }

    fn setting<'a>(project: &'a Project, provider_id: &str) -> ApiResult<&'a OAuthProviderSetting> {
        project
            .config
            .oauth_providers
            .iter()
            .find(|p| p.id == provider_id)
            .ok_or_else(|| errors::provider_not_found_or_not_enabled().into())
    }

    /// Endpoints and credentials of a project's provider: its own credentials, the server's
    /// shared ones, or (in development mode, without shared ones) the development provider.
    async fn provider(&self, setting: &OAuthProviderSetting) -> ApiResult<ProviderSetup> {
        let kind = provider_type(&setting.id).ok_or_else(errors::provider_not_found_or_not_enabled)?;
        let oauth = &self.infra.config.oauth;
        let issuer_override = oauth.issuers.get(kind.name).cloned();
        let (issuer, client_id, client_secret, is_dev_provider) = if setting.kind == "shared" {
            match oauth.shared_credentials.get(kind.name) {
                Some((id, secret)) => (issuer_override, id.clone(), secret.clone(), false),
                None if self.infra.config.dev => {
                    let dev_issuer = format!("{}/dev-oauth/{}", self.base_url(), kind.name);
                    let is_dev = issuer_override.is_none();
                    (
                        Some(issuer_override.unwrap_or(dev_issuer)),
                        DEV_PROVIDER_CLIENT.into(),
                        DEV_PROVIDER_CLIENT.into(),
                        is_dev,
                    )
                }
                None => {
                    let upper = kind.name.to_ascii_uppercase();
                    return Err(ApiError::bad_request(format!(
                        "This server has no shared OAuth credentials for {} (STACK_{upper}_CLIENT_ID and STACK_{upper}_CLIENT_SECRET). Configure the project's own client id and secret instead.",
                        kind.name
                    )));
                }
            }
        } else {
            (
                issuer_override,
                setting.client_id.clone().unwrap_or_default(),
                setting.client_secret.clone().unwrap_or_default(),
                false,
            )
        };
        let resolved = self
            .client
            .resolve(kind, issuer.as_deref(), setting.microsoft_tenant_id.as_deref(), client_id, client_secret)
            .await
            .map_err(|f| map_failure(kind.name, f))?;
        Ok(ProviderSetup { resolved, is_dev_provider })
    }

    /// `GET /auth/oauth/authorize/{provider_id}` (spec 10 §10.2).
    pub async fn authorize(&self, req: AuthorizeRequest) -> ApiResult<Authorized> {
        // Each authorization stores a pending row: bounded per client address.
        if self.infra.limiter.enabled() {
            let ip = crate::request_info::client_ip().map(|ip| ip.to_string()).unwrap_or_default();
            self.infra.limiter.check(AUTHORIZE_PER_IP, &ip)?;
        }
        let invalid_client = || KnownError::invalid_oauth_client_id_or_secret(Some(&req.client_id));
        let entry = self.client_project(&req.client_id).await?.ok_or_else(invalid_client)?;
        Self::check_client_key(&entry, &req.client_secret)?;
        let project = &entry.project;
        let user_id = match &req.token {
            Some(token) => {
                let claims = self.infra.tokens.verify(token, now_millis() / 1000)?;
                if claims.project_id != project.id {
                    return Err(ApiError::plain(
                        StatusCode::FORBIDDEN,
                        "The access token is not valid for this project",
                    ));
                }
                if claims.branch_id != "main" {
                    return Err(ApiError::plain(
                        StatusCode::FORBIDDEN,
                        "The access token is not valid for this branch",
                    ));
                }
                Some(claims.sub.clone())
            }
            None if req.link => return Err(ApiError::bad_request("?token= query parameter is required for link type")),
            None => None,
        };
        let setting = Self::setting(project, &req.provider_id)?;
        if req.provider_scope.as_deref().is_some_and(|s| !s.trim().is_empty()) && setting.kind == "shared" {
            return Err(errors::extra_scope_with_shared_keys().into());
        }
        if let Some(url) = &req.after_callback_redirect_url {
            if !Self::is_trusted_redirect(project, url) {
                return Err(KnownError::redirect_url_not_whitelisted().into());
            }
        }
        let setup = self.provider(setting).await?;
        let p = &setup.resolved;
        let inner_state = random_secret();
        let inner_verifier = format!("{}{}", random_secret(), random_secret());
        let redirect_uri = req.redirect_uri.split('#').next().unwrap_or_default().to_string();
        let scope = match req.provider_scope.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(extra) => format!("{} {extra}", p.kind.base_scope),
            None => p.kind.base_scope.to_string(),
        };
        let callback = inner_redirect_uri(self.base_url(), p.kind.name);
        let mut pairs = vec![
            ("client_id", p.client_id.as_str()),
            ("redirect_uri", callback.as_str()),
            ("response_type", "code"),
            ("scope", scope.as_str()),
            ("state", inner_state.as_str()),
            ("access_type", "offline"),
            ("prompt", "consent"),
        ];
        let challenge = pkce_challenge(&inner_verifier);
        if p.kind.pkce {
            pairs.push(("code_challenge", challenge.as_str()));
            pairs.push(("code_challenge_method", "S256"));
        }
        if p.kind.form_post {
            pairs.push(("response_mode", "form_post"));
        }
        let location = with_query(&p.authorize_url, &pairs)
            .map_err(|_| ApiError::internal(format!("bad authorize URL {}", p.authorize_url)))?;
        let info = OuterInfo {
            project_id: project.id.clone(),
            provider_id: setting.id.clone(),
            redirect_uri,
            error_redirect_uri: req.error_redirect_uri,
            after_callback_redirect_url: req.after_callback_redirect_url,
            scope: req.scope,
            state: req.state,
            code_challenge: req.code_challenge,
            code_challenge_method: req.code_challenge_method,
            link: req.link,
            user_id,
            provider_scope: req.provider_scope.filter(|s| !s.trim().is_empty()),
            json_mode: req.json_mode,
            inner_verifier,
            client_secret: req.client_secret,
        };
        let info = serde_json::to_string(&info).map_err(ApiError::internal)?;
        let (hash, project_id) = (hash_secret(&inner_state), project.id.clone());
        self.infra
            .db
            .write(move |tx| {
                store::insert_outer_state(tx, &hash, &project_id, &info, now_millis() + OUTER_STATE_MILLIS)
            })
            .await?;
        Ok(Authorized { location, inner_state })
    }

    /// `GET|POST /auth/oauth/callback/{provider_id}` (spec 10 §10.3). `has_cookie` tells whether
    /// the browser presented the inner-state cookie.
    pub async fn callback(
        self: &Arc<Self>,
        state: Option<&str>,
        code: Option<String>,
        provider_error: Option<(String, Option<String>)>,
        has_cookie: impl FnOnce(&str) -> bool,
    ) -> ApiResult<CallbackOutcome> {
        let invalid_state = || ApiError::bad_request("Invalid OAuth state. Please try signing in again.");
        let state = state.filter(|s| !s.is_empty()).ok_or_else(invalid_state)?;
        let hash = hash_secret(state);
        let found = self.infra.db.write(move |tx| store::take_outer_state(tx, &hash)).await?;
        let (_, info, expires_at) = found.ok_or_else(invalid_state)?;
        let info: OuterInfo = serde_json::from_str(&info).map_err(ApiError::internal)?;
        if !info.json_mode && !has_cookie(state) {
            return Err(ApiError::bad_request(
                "The OAuth sign-in cookie is missing, which happens when the page is reloaded during sign-in. Please try signing in again.",
            ));
        }
        let entry = self.projects.get(&info.project_id).await?;
        let result = match &entry {
            Some(entry) => self.finish_callback(entry, &info, expires_at, code, provider_error).await,
            None => Err(KnownError::current_project_not_found(&info.project_id).into()),
        };
        match result {
            Ok(location) => Ok(CallbackOutcome::SignedIn(location)),
            Err(ApiError::Known(e)) => {
                let project = entry.as_ref().map(|e| &e.project);
                let target = [Some(&info.redirect_uri), info.error_redirect_uri.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|url| project.is_some_and(|p| Self::is_trusted_redirect(p, url)));
                let Some(target) = target else { return Err(e.into()) };
                let details = e.details.clone().unwrap_or_else(|| serde_json::json!({})).to_string();
                let location = with_query(
                    target,
                    &[
                        ("error", "server_error"),
                        ("error_description", &e.message),
                        ("errorCode", e.code),
                        ("message", &e.message),
                        ("details", &details),
                    ],
                )?;
                Ok(CallbackOutcome::ErrorRedirect(location))
            }
            Err(other) => Err(other),
        }
    }

    async fn finish_callback(
        self: &Arc<Self>,
        entry: &ProjectEntry,
        info: &OuterInfo,
        expires_at: i64,
        code: Option<String>,
        provider_error: Option<(String, Option<String>)>,
    ) -> ApiResult<String> {
        if expires_at < now_millis() {
            return Err(errors::outer_oauth_timeout().into());
        }
        let project = &entry.project;
        let setting = Self::setting(project, &info.provider_id)?;
        Self::check_client_key(entry, &info.client_secret)?;
        if !Self::is_trusted_redirect(project, &info.redirect_uri) {
            return Err(KnownError::redirect_url_not_whitelisted().into());
        }
        if info.scope != "legacy" {
            return Err(ApiError::bad_request("Invalid scope requested. Please check the scopes you are requesting."));
        }
        if let Some((error, description)) = provider_error {
            return Err(map_failure(&setting.id, ProviderFailure::from_error_code(&error, description.as_deref())));
        }
        let code = code
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ApiError::bad_request("The OAuth provider sent neither a code nor an error."))?;
        let setup = self.provider(setting).await?;
        let p = &setup.resolved;
        let verifier = p.kind.pkce.then_some(info.inner_verifier.as_str());
        let callback = inner_redirect_uri(self.base_url(), p.kind.name);
        let tokens =
            self.client.exchange_code(p, &code, &callback, verifier).await.map_err(|f| map_failure(&setting.id, f))?;
        let provider_user = self.client.user(p, &tokens).await.map_err(|f| map_failure(&setting.id, f))?;
        let scopes = match &info.provider_scope {
            Some(extra) => format!("{} {extra}", p.kind.base_scope),
            None => p.kind.base_scope.to_string(),
        };

        let me = self.clone();
        let project = project.clone();
        let link_user = info.link.then(|| info.user_id.clone()).flatten();
        let upgrade_user = (!info.link).then(|| info.user_id.clone()).flatten();
        let provider_id = setting.id.clone();
        let code_data = CodeData {
            redirect_uri: info.redirect_uri.clone(),
            code_challenge: info.code_challenge.clone(),
            code_challenge_method: info.code_challenge_method.clone(),
            is_new_user: false,
            after_callback_redirect_url: info.after_callback_redirect_url.clone(),
        };
        let outer_code = random_secret();
        let code_hash = hash_secret(&outer_code);
        self.infra
            .db
            .write(move |tx| {
                let (user_id, account_id, is_new_user) = match link_user {
                    Some(user_id) => me.link_in(tx, &project, &user_id, &provider_id, &provider_user)?,
                    None => me.sign_in_or_up_in(tx, &project, &provider_id, &provider_user, upgrade_user)?,
                };
                me.store_tokens_in(tx, &account_id, &tokens, &scopes)?;
                let data = CodeData { is_new_user, ..code_data };
                let data = serde_json::to_string(&data).map_err(ApiError::internal)?;
                store::insert_code(tx, &code_hash, &project.id, &user_id, &data, now_millis() + CODE_MILLIS)
            })
            .await?;
        with_query(&info.redirect_uri, &[("code", &outer_code), ("state", &info.state)])
    }

    /// `type=link`: the provider account joins the signed-in user (spec 10 §10.3 step 5).
    fn link_in(
        &self,
        tx: &Tx,
        project: &Project,
        user_id: &str,
        provider_id: &str,
        pu: &ProviderUser,
    ) -> ApiResult<(String, String, bool)> {
        user_store::load(tx, &project.id, user_id)?.ok_or_else(KnownError::user_not_found)?;
        if let Some(existing) = store::sign_in_account(tx, &project.id, provider_id, &pu.account_id)? {
            if existing.user_id != user_id {
                return Err(errors::connection_already_connected_to_another_user().into());
            }
            return Ok((user_id.to_string(), existing.id, false));
        }
        if let Some(existing) = store::user_account(tx, user_id, provider_id, &pu.account_id)? {
            return Ok((user_id.to_string(), existing.id, false));
        }
        let id = self.insert_account_in(tx, project, user_id, provider_id, pu)?;
        Ok((user_id.to_string(), id, false))
    }

    /// A new provider account of `user_id` that signs in and is a connected account.
    fn insert_account_in(
        &self,
        tx: &Tx,
        project: &Project,
        user_id: &str,
        provider_id: &str,
        pu: &ProviderUser,
    ) -> ApiResult<String> {
        let id = uuid::Uuid::new_v4().to_string();
        store::insert_account(
            tx,
            &id,
            &project.id,
            user_id,
            provider_id,
            &pu.account_id,
            pu.email.as_deref(),
            true,
            true,
            now_millis(),
        )?;
        tx.changed(user_store::TABLE, user_id);
        Ok(id)
    }

    /// `type=authenticate`: the account's user, a merge into the e-mail's owner, or a new (or
    /// upgraded anonymous) user. Returns `(user id, account id, is_new_user)`.
    fn sign_in_or_up_in(
        &self,
        tx: &Tx,
        project: &Project,
        provider_id: &str,
        pu: &ProviderUser,
        caller: Option<String>,
    ) -> ApiResult<(String, String, bool)> {
        if let Some(existing) = store::sign_in_account(tx, &project.id, provider_id, &pu.account_id)? {
            return Ok((existing.user_id, existing.id, false));
        }
        let mut email_auth_enabled = true;
        if let Some(email) = &pu.email {
            if let Some(channel) = channel_store::find_auth_channel(tx, &project.id, email)? {
                match project.config.oauth_account_merge_strategy.as_str() {
                    "raise_error" => return Err(errors::channel_used_by_someone_else(email, false).into()),
                    "allow_duplicates" => email_auth_enabled = false,
                    _ => {
                        if !channel.is_verified {
                            return Err(errors::channel_used_by_someone_else(email, true).into());
                        }
                        if !pu.email_verified {
                            return Err(errors::channel_used_by_someone_else(email, false).into());
                        }
                        let id = self.insert_account_in(tx, project, &channel.user_id, provider_id, pu)?;
                        return Ok((channel.user_id, id, false));
                    }
                }
            }
        }
        let upgrade = match caller {
            Some(id) if user_store::is_anonymous(tx, &id)? => Some(id),
            _ => None,
        };
        if upgrade.is_none() && !project.config.sign_up_enabled {
            return Err(KnownError::sign_up_not_enabled().into());
        }
        let picture = pu
            .profile_image_url
            .clone()
            .filter(|u| (u.starts_with("https://") || u.starts_with("http://")) && u.len() <= 2048)
            .map(ImageInput::Url);
        let email = pu.email.as_deref().and_then(changes::normalize_email);
        let rules_context = SignUpContext::new(email.as_deref(), "oauth", Some(provider_id));
        let restriction = sign_up_rules::enforce(&project.config, &rules_context)?;
        let mut changes = UserChanges {
            display_name: pu.display_name.clone().map(|n| Some(n.chars().take(256).collect())),
            profile_image_url: picture.map(Some),
            primary_email_verified: email.as_ref().map(|_| pu.email_verified),
            primary_email_auth_enabled: email.as_ref().map(|_| email_auth_enabled),
            primary_email: email.map(Some),
            is_anonymous: Some(false),
            ..Default::default()
        };
        sign_up_rules::restrict(&mut changes, restriction);
        let user = match upgrade {
            Some(id) => self.users.apply_in(tx, project, &id, changes)?,
            None => self.users.create_in(tx, project, changes)?,
        };
        let id = self.insert_account_in(tx, project, &user.id, provider_id, pu)?;
        Ok((user.id, id, true))
    }

    fn store_tokens_in(&self, tx: &Tx, account_id: &str, tokens: &TokenSet, scopes: &str) -> ApiResult<()> {
        let now = now_millis();
        let scopes = tokens.scope.as_deref().map(|s| s.replace(',', " ")).unwrap_or_else(|| scopes.to_string());
        let expires_at = tokens.expires_in.map(|s| now + s * 1000);
        let id = uuid::Uuid::new_v4().to_string();
        store::insert_token(
            tx,
            &id,
            account_id,
            store::ACCESS,
            &self.sealer.seal(&tokens.access_token),
            &scopes,
            expires_at,
            now,
        )?;
        if let Some(refresh) = &tokens.refresh_token {
            let id = uuid::Uuid::new_v4().to_string();
            store::insert_token(tx, &id, account_id, store::REFRESH, &self.sealer.seal(refresh), &scopes, None, now)?;
        }
        store::trim_tokens(tx, account_id, TOKENS_KEPT)
    }

    /// The `authorization_code` grant of `/auth/oauth/token` (spec 10 §10.4).
    pub async fn exchange_code(
        self: &Arc<Self>,
        project: &Project,
        code: String,
        redirect_uri: Option<String>,
        verifier: Option<String>,
    ) -> ApiResult<CodeGrant> {
        let (me, project) = (self.clone(), project.clone());
        let outcome = self
            .infra
            .db
            .write(move |tx| {
                let now = now_millis();
                let hash = hash_secret(&code);
                let Some(stored) = store::code(tx, &project.id, &hash)? else {
                    return Ok(Err(errors::invalid_authorization_code().into()));
                };
                if stored.used_at.is_some() || stored.expires_at < now {
                    return Ok(Err(errors::invalid_authorization_code().into()));
                }
                let data: CodeData = serde_json::from_str(&stored.data).map_err(ApiError::internal)?;
                if redirect_uri.as_deref().map(|u| u.split('#').next().unwrap_or_default()) != Some(&data.redirect_uri)
                {
                    return Ok(Err(ApiError::bad_request(
                        "Invalid redirect URI: it must be the one the authorization code was issued for.",
                    )));
                }
                let verified = match (verifier.as_deref(), data.code_challenge_method.as_str()) {
                    (Some(v), "plain") => crate::crypto::hashes_equal(v.as_bytes(), data.code_challenge.as_bytes()),
                    (Some(v), _) => {
                        crate::crypto::hashes_equal(pkce_challenge(v).as_bytes(), data.code_challenge.as_bytes())
                    }
                    (None, _) => false,
                };
                if !verified {
                    return Ok(Err(errors::invalid_authorization_code().into()));
                }
                store::mark_code_used(tx, &hash, now)?;
                let user = user_store::require(tx, &project.id, &stored.user_id)?;
                if user.requires_totp_mfa {
                    return Ok(Err(
                        mfa::second_factor_required(tx, &project.id, &user.id, data.is_new_user, now)?.into()
                    ));
                }
                let session = me.auth.issue_session_in(tx, &project, &user, DEFAULT_SESSION_MILLIS, false)?;
                Ok(Ok(CodeGrant {
                    session,
                    is_new_user: data.is_new_user,
                    after_callback_redirect_url: data.after_callback_redirect_url,
                }))
            })
            .await?;
        outcome
    }

    /// `POST /auth/oauth/callback/apple/native` (spec 10 §10.5): signs in (or up) with an Apple
    /// identity token from a native app. Returns the session and whether the user is new.
    pub async fn apple_native(self: &Arc<Self>, project: &Project, id_token: &str) -> ApiResult<(IssuedSession, bool)> {
        let setting = Self::setting(project, "apple")?;
        let bundles = setting.apple_bundle_ids.clone().unwrap_or_default();
        if bundles.is_empty() {
            return Err(KnownError::new(
                "APPLE_BUNDLE_ID_NOT_CONFIGURED",
                400,
                "Native Sign in with Apple needs the app's bundle id in the project's Apple provider settings.",
            )
            .into());
        }
        let invalid =
            || KnownError::new("INVALID_APPLE_CREDENTIALS", 400, "The Apple identity token is invalid or expired.");
        let claims = self.apple.verify(id_token, &bundles, now_millis() / 1000).await.ok_or_else(invalid)?;
        let kind = provider_type("apple").ok_or_else(errors::provider_not_found_or_not_enabled)?;
        let provider_user = crate::oauth::providers::normalize(kind, true, &claims).ok_or_else(invalid)?;
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                let (user_id, _, is_new_user) = me.sign_in_or_up_in(tx, &project, "apple", &provider_user, None)?;
                let user = user_store::require(tx, &project.id, &user_id)?;
                Ok((me.auth.issue_session_in(tx, &project, &user, DEFAULT_SESSION_MILLIS, false)?, is_new_user))
            })
            .await
    }

    // --- connected accounts (spec 10 §10.7) -------------------------------------------------

    /// A provider access token of the user's connected account covering `scope`.
    pub async fn connected_access_token(
        self: &Arc<Self>,
        project: &Project,
        user_id: &str,
        provider_id: &str,
        provider_account_id: Option<&str>,
        scope: Option<&str>,
    ) -> ApiResult<String> {
        let setting = Self::setting(project, provider_id)?;
        let setup = self.provider(setting).await?;
        let shared_allowed =
            setup.is_dev_provider || std::env::var("STACK_ALLOW_SHARED_OAUTH_ACCESS_TOKENS").is_ok_and(|v| v == "true");
        if setting.kind == "shared" && !shared_allowed {
            return Err(errors::access_token_with_shared_keys().into());
        }
        let (project_id, user, provider, account) =
            (project.id.clone(), user_id.to_string(), provider_id.to_string(), provider_account_id.map(String::from));
        let (accounts, access, refresh) = self
            .infra
            .db
            .read(move |c| {
                user_store::load(c, &project_id, &user)?.ok_or_else(KnownError::user_not_found)?;
                let accounts: Vec<OAuthAccount> = store::accounts(c, &project_id, Some(&user))?
                    .into_iter()
                    .filter(|a| a.provider_config_id == provider)
                    .filter(|a| match &account {
                        Some(id) => &a.provider_account_id == id && a.allow_connected_accounts,
                        None => true,
                    })
                    .collect();
                let ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
                let access = store::valid_tokens(c, &ids, store::ACCESS)?;
                let refresh = store::valid_tokens(c, &ids, store::REFRESH)?;
                Ok((accounts, access, refresh))
            })
            .await?;
        if accounts.is_empty() {
            return Err(errors::connection_not_connected_to_user().into());
        }
        let wanted: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
        let covers = |scopes: &str| wanted.iter().all(|w| scopes.split_whitespace().any(|s| s == *w));
        let now = now_millis();
        let p = &setup.resolved;
        for token in access.iter().filter(|t| covers(&t.scopes)) {
            if token.expires_at.is_some_and(|e| e < now + ACCESS_TOKEN_MARGIN_MILLIS) {
                continue;
            }
            let Some(plain) = self.sealer.open(&token.sealed) else { continue };
            if self.client.accepts(p, &plain).await.map_err(|f| map_failure(provider_id, f))? {
                return Ok(plain);
            }
            let id = token.id.clone();
            self.infra.db.write(move |tx| store::invalidate_token(tx, &id)).await?;
        }
        for token in refresh.iter().filter(|t| covers(&t.scopes)) {
            let Some(plain) = self.sealer.open(&token.sealed) else { continue };
            match self.client.refresh(p, &plain).await {
                Ok(fresh) => {
                    let (me, account_id, old_id, scopes) =
                        (self.clone(), token.oauth_account_id.clone(), token.id.clone(), token.scopes.clone());
                    let access_token = fresh.access_token.clone();
                    let rotated = fresh.refresh_token.is_some();
                    self.infra
                        .db
                        .write(move |tx| {
                            if rotated {
                                store::invalidate_token(tx, &old_id)?;
                            }
                            let fresh = TokenSet { scope: None, ..fresh };
                            me.store_tokens_in(tx, &account_id, &fresh, &scopes)
                        })
                        .await?;
                    return Ok(access_token);
                }
                Err(ProviderFailure::InvalidGrant) => {
                    let id = token.id.clone();
                    self.infra.db.write(move |tx| store::invalidate_token(tx, &id)).await?;
                }
                Err(f) => return Err(map_failure(provider_id, f)),
            }
        }
        Err(errors::connection_lacks_scope().into())
    }
}

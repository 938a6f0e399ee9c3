//! `GET /projects/current` and `GET|PATCH /internal/projects/current` (spec 00 §6.2–§6.4).

use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};

use std::sync::Arc;

use crate::error::{ApiResult, KnownError};
use crate::projects::access::{AdminAuth, ClientAuth};
use crate::projects::config::{
    OAuthProviderSetting, StandardEmailServer, TrustedDomain, OAUTH_PROVIDER_TYPES, PROJECT_SCOPE,
    SHARED_OAUTH_PROVIDER_TYPES, TEAM_SCOPE,
};
use crate::projects::{Project, ProjectConfig, ProjectsService};
use crate::web::Tag;

pub struct ProjectsApi {
    pub projects: Arc<ProjectsService>,
}

#[derive(Object)]
pub struct OAuthProviderId {
    /// Provider id, e.g. `github`.
    pub id: String,
}

#[derive(Object, Clone)]
pub struct Domain {
    /// Trusted origin, starting with `http://` or `https://`.
    pub domain: String,
    /// Path of the handler pages on that domain, starting with `/`.
    pub handler_path: String,
}

#[derive(Object)]
pub struct ClientProjectConfig {
    pub sign_up_enabled: bool,
    pub credential_enabled: bool,
    pub magic_link_enabled: bool,
    pub passkey_enabled: bool,
    pub client_team_creation_enabled: bool,
    pub client_user_deletion_enabled: bool,
    pub allow_user_api_keys: bool,
    pub allow_team_api_keys: bool,
    pub enabled_oauth_providers: Vec<OAuthProviderId>,
    pub domains: Vec<Domain>,
}

/// What any client may know about the project.
#[derive(Object)]
pub struct ClientProject {
    pub id: String,
    pub display_name: String,
    pub config: ClientProjectConfig,
}

#[derive(Object)]
pub struct PermissionId {
    pub id: String,
}

/// The project's e-mail server. Read back: `{"type": "shared"}`, or the `standard` server's
/// fields without its password (stackd never returns it).
#[derive(Object)]
pub struct EmailConfig {
    /// `shared` (the server's own SMTP settings, or the development mailbox) or `standard` (the
    /// project's SMTP server).
    #[oai(rename = "type")]
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub host: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub port: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub sender_name: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub sender_email: Option<String>,
}

/// `config.email_config` in a PATCH: `{"type": "shared"}`, or `standard` with every field.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct EmailConfigInput {
    /// `shared` or `standard`.
    #[oai(rename = "type")]
    pub kind: String,
    pub host: Option<String>,
    /// Port 465 or 2465: implicit TLS; otherwise STARTTLS when the server offers it.
    #[oai(validator(minimum(value = "0"), maximum(value = "65535")))]
    pub port: Option<i64>,
    pub username: Option<String>,
    /// Write-only.
    pub password: Option<String>,
    pub sender_name: Option<String>,
    pub sender_email: Option<String>,
}

#[derive(Object)]
pub struct AdminProjectConfig {
    pub allow_localhost: bool,
    pub sign_up_enabled: bool,
    pub credential_enabled: bool,
    pub magic_link_enabled: bool,
    pub passkey_enabled: bool,
    pub client_team_creation_enabled: bool,
    pub client_user_deletion_enabled: bool,
    pub create_team_on_sign_up: bool,
    pub allow_user_api_keys: bool,
    pub allow_team_api_keys: bool,
    /// `link_method`, `raise_error` or `allow_duplicates`.
    pub oauth_account_merge_strategy: String,
    pub oauth_providers: Vec<OAuthProviderView>,
    pub enabled_oauth_providers: Vec<OAuthProviderId>,
    pub domains: Vec<Domain>,
    pub email_config: EmailConfig,
    /// Selected e-mail theme id.
    pub email_theme: String,
    pub team_creator_default_permissions: Vec<PermissionId>,
    pub team_member_default_permissions: Vec<PermissionId>,
    pub user_default_permissions: Vec<PermissionId>,
}

/// An enabled sign-in provider, as administrators see it.
#[derive(Object)]
pub struct OAuthProviderView {
    /// The provider's key in the project configuration (equal to `id`).
    pub provider_config_id: String,
    /// The provider type: `github`, `google`, `microsoft`, `spotify`, `facebook`, `discord`,
    /// `gitlab`, `bitbucket`, `linkedin`, `apple`, `x` or `twitch`.
    pub id: String,
    /// `shared` (the server's credentials) or `standard` (the project's own).
    #[oai(rename = "type")]
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub facebook_config_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub microsoft_tenant_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub apple_bundle_ids: Option<Vec<String>>,
}

/// `config.oauth_providers[]` in a PATCH; the list replaces the enabled providers.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct OAuthProviderInput {
    /// The provider type (also its id).
    pub id: String,
    /// `shared` or `standard`; `standard` needs `client_id` and `client_secret`.
    #[oai(rename = "type")]
    pub kind: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub facebook_config_id: Option<String>,
    pub microsoft_tenant_id: Option<String>,
    pub apple_bundle_ids: Option<Vec<String>>,
}

fn oauth_provider_views(c: &ProjectConfig) -> Vec<OAuthProviderView> {
    c.oauth_providers
        .iter()
        .map(|p| OAuthProviderView {
            provider_config_id: p.id.clone(),
            id: p.id.clone(),
            kind: p.kind.clone(),
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
            facebook_config_id: p.facebook_config_id.clone(),
            microsoft_tenant_id: p.microsoft_tenant_id.clone(),
            apple_bundle_ids: p.apple_bundle_ids.clone(),
        })
        .collect()
}

fn enabled_oauth_providers(c: &ProjectConfig) -> Vec<OAuthProviderId> {
    c.oauth_providers.iter().map(|p| OAuthProviderId { id: p.id.clone() }).collect()
}

/// Validates `config.oauth_providers` of a PATCH into the stored list, sorted by id.
fn parse_oauth_providers(input: Vec<OAuthProviderInput>) -> ApiResult<Vec<OAuthProviderSetting>> {
    let mut out: Vec<OAuthProviderSetting> = Vec::with_capacity(input.len());
    for (i, p) in input.into_iter().enumerate() {
        let field = format!("body.config.oauth_providers[{i}]");
        one_of(&format!("{field}.id"), &p.id, OAUTH_PROVIDER_TYPES)?;
        one_of(&format!("{field}.type"), &p.kind, &["shared", "standard"])?;
        if p.kind == "shared" && !SHARED_OAUTH_PROVIDER_TYPES.contains(&p.id.as_str()) {
            return Err(KnownError::schema(&format!(
                "{field}: {} has no shared credentials; use type standard with the app's client_id and client_secret",
                p.id
            ))
            .into());
        }
        let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if p.kind == "standard" && !(present(&p.client_id) && present(&p.client_secret)) {
            return Err(
                KnownError::schema(&format!("{field}: a standard provider needs client_id and client_secret")).into()
            );
        }
        if out.iter().any(|o| o.id == p.id) {
            return Err(KnownError::schema(&format!("{field}.id: {} is listed twice", p.id)).into());
        }
        let standard = p.kind == "standard";
        out.push(OAuthProviderSetting {
            id: p.id,
            client_id: p.client_id.filter(|_| standard),
            client_secret: p.client_secret.filter(|_| standard),
            facebook_config_id: p.facebook_config_id,
            microsoft_tenant_id: p.microsoft_tenant_id,
            apple_bundle_ids: p.apple_bundle_ids,
            kind: p.kind,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The project as its administrators see it.
#[derive(Object)]
pub struct AdminProject {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub logo_url: Option<String>,
    pub logo_full_url: Option<String>,
    pub logo_dark_mode_url: Option<String>,
    pub logo_full_dark_mode_url: Option<String>,
    pub created_at_millis: i64,
    pub is_production_mode: bool,
    pub owner_team_id: Option<String>,
    /// One of `config_choice`, `apps_selection`, `auth_setup`, `domain_setup`, `email_theme_setup`,
    /// `payments_setup`, `welcome`, `completed`.
    pub onboarding_status: String,
    pub config: AdminProjectConfig,
}

/// Writable subset of the legacy `config` object. Omitted fields stay as they are.
#[derive(Object, Default)]
#[oai(deny_unknown_fields)]
pub struct ProjectConfigPatch {
    pub sign_up_enabled: Option<bool>,
    pub credential_enabled: Option<bool>,
    pub magic_link_enabled: Option<bool>,
    pub passkey_enabled: Option<bool>,
    pub client_team_creation_enabled: Option<bool>,
    pub client_user_deletion_enabled: Option<bool>,
    pub allow_localhost: Option<bool>,
    pub allow_user_api_keys: Option<bool>,
    pub allow_team_api_keys: Option<bool>,
    pub create_team_on_sign_up: Option<bool>,
    /// Replaces the whole list of trusted domains.
    pub domains: Option<Vec<Domain>>,
    /// Replaces the whole list of enabled sign-in providers.
    pub oauth_providers: Option<Vec<OAuthProviderInput>>,
    pub team_creator_default_permissions: Option<Vec<PermissionIdInput>>,
    pub team_member_default_permissions: Option<Vec<PermissionIdInput>>,
    pub user_default_permissions: Option<Vec<PermissionIdInput>>,
    /// `link_method`, `raise_error` or `allow_duplicates`.
    pub oauth_account_merge_strategy: Option<String>,
    /// Write-only: restrict users until their primary e-mail is verified.
    pub require_email_verification: Option<bool>,
    /// The e-mail server: `shared` or the project's own (`standard`).
    pub email_config: Option<EmailConfigInput>,
    /// Theme of e-mails that do not choose one (a theme id).
    pub email_theme: Option<String>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PermissionIdInput {
    pub id: String,
}

#[derive(Object, Default)]
#[oai(deny_unknown_fields)]
pub struct ProjectPatch {
    pub display_name: Option<String>,
    /// `null` is stored as an empty description.
    pub description: MaybeUndefined<String>,
    pub is_production_mode: Option<bool>,
    pub onboarding_status: Option<String>,
    pub logo_url: MaybeUndefined<String>,
    pub logo_full_url: MaybeUndefined<String>,
    pub logo_dark_mode_url: MaybeUndefined<String>,
    pub logo_full_dark_mode_url: MaybeUndefined<String>,
    pub config: Option<ProjectConfigPatch>,
}

fn domains(config: &ProjectConfig) -> Vec<Domain> {
    let mut d: Vec<Domain> = config
        .domains
        .iter()
        .map(|d| Domain { domain: d.domain.clone(), handler_path: d.handler_path.clone() })
        .collect();
    d.sort_by(|a, b| a.domain.cmp(&b.domain));
    d
}

/// Default permissions as the legacy project view lists them: sorted, and only those still defined
/// in `scope` (`$` system ids count for teams).
fn permission_ids(c: &ProjectConfig, ids: &[String], scope: &str) -> Vec<PermissionId> {
    let defined = |id: &String| {
        (scope == TEAM_SCOPE && id.starts_with('$'))
            || c.permission_definitions.get(id).is_some_and(|d| d.scope == scope)
    };
    let mut ids: Vec<String> = ids.iter().filter(|id| defined(id)).cloned().collect();
    ids.sort();
    ids.into_iter().map(|id| PermissionId { id }).collect()
}

pub fn client_view(p: &Project) -> ClientProject {
    let c = &p.config;
    ClientProject {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        config: ClientProjectConfig {
            sign_up_enabled: c.sign_up_enabled,
            credential_enabled: c.credential_enabled,
            magic_link_enabled: c.magic_link_enabled,
            passkey_enabled: c.passkey_enabled,
            client_team_creation_enabled: c.client_team_creation_enabled,
            client_user_deletion_enabled: c.client_user_deletion_enabled,
            allow_user_api_keys: c.allow_user_api_keys,
            allow_team_api_keys: c.allow_team_api_keys,
            enabled_oauth_providers: enabled_oauth_providers(c),
            domains: domains(c),
        },
    }
}

pub fn admin_view(p: &Project) -> AdminProject {
    let c = &p.config;
    AdminProject {
        id: p.id.clone(),
        display_name: p.display_name.clone(),
        description: p.description.clone(),
        logo_url: p.logo_url.clone(),
        logo_full_url: p.logo_full_url.clone(),
        logo_dark_mode_url: p.logo_dark_mode_url.clone(),
        logo_full_dark_mode_url: p.logo_full_dark_mode_url.clone(),
        created_at_millis: p.created_at,
        is_production_mode: p.is_production_mode,
        owner_team_id: p.owner_team_id.clone(),
        onboarding_status: p.onboarding_status.clone(),
        config: AdminProjectConfig {
            allow_localhost: c.allow_localhost,
            sign_up_enabled: c.sign_up_enabled,
            credential_enabled: c.credential_enabled,
            magic_link_enabled: c.magic_link_enabled,
            passkey_enabled: c.passkey_enabled,
            client_team_creation_enabled: c.client_team_creation_enabled,
            client_user_deletion_enabled: c.client_user_deletion_enabled,
            create_team_on_sign_up: c.create_team_on_sign_up,
            allow_user_api_keys: c.allow_user_api_keys,
            allow_team_api_keys: c.allow_team_api_keys,
            oauth_account_merge_strategy: c.oauth_account_merge_strategy.clone(),
            oauth_providers: oauth_provider_views(c),
            enabled_oauth_providers: enabled_oauth_providers(c),
            domains: domains(c),
            email_config: match &c.email_server {
                None => EmailConfig {
                    kind: "shared".into(),
                    host: None,
                    port: None,
                    username: None,
                    sender_name: None,
                    sender_email: None,
                },
                Some(s) => EmailConfig {
                    kind: "standard".into(),
                    host: Some(s.host.clone()),
                    port: Some(s.port.into()),
                    username: Some(s.username.clone()),
                    sender_name: Some(s.sender_name.clone()),
                    sender_email: Some(s.sender_email.clone()),
                },
            },
            email_theme: c.email_theme.clone(),
            team_creator_default_permissions: permission_ids(c, &c.team_creator_default_permissions, TEAM_SCOPE),
            team_member_default_permissions: permission_ids(c, &c.team_member_default_permissions, TEAM_SCOPE),
            user_default_permissions: permission_ids(c, &c.user_default_permissions, PROJECT_SCOPE),
        },
    }
}

const ONBOARDING_STATUSES: &[&str] = &[
    "config_choice",
    "apps_selection",
    "auth_setup",
    "domain_setup",
    "email_theme_setup",
    "payments_setup",
    "welcome",
    "completed",
];
const MERGE_STRATEGIES: &[&str] = &["link_method", "raise_error", "allow_duplicates"];

fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(KnownError::schema(&format!("{field} must be one of the following values: {}", allowed.join(", "))).into())
    }
}

fn set<T>(target: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *target = v;
    }
}

fn maybe(target: &mut Option<String>, value: MaybeUndefined<String>) {
    match value {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => *target = None,
        MaybeUndefined::Value(v) => *target = Some(v),
    }
}

/// Logos given as image data are stored (spec 00 §6.4: "stored and returned as a URL").
fn store_logos(
    tx: &crate::db::Tx,
    project_id: &str,
    mut patch: ProjectPatch,
    assets: Option<&dyn crate::projects::service::ProjectAssets>,
) -> ApiResult<ProjectPatch> {
    if let Some(assets) = assets {
        for logo in [
            &mut patch.logo_url,
            &mut patch.logo_full_url,
            &mut patch.logo_dark_mode_url,
            &mut patch.logo_full_dark_mode_url,
        ] {
            if let MaybeUndefined::Value(value) = logo {
                *value = assets.logo_in(tx, project_id, value)?;
            }
        }
    }
    Ok(patch)
}

/// Applies a validated patch to a project value.
pub fn apply_patch(p: &mut Project, patch: ProjectPatch) -> ApiResult<()> {
    if let Some(status) = &patch.onboarding_status {
        one_of("body.onboarding_status", status, ONBOARDING_STATUSES)?;
    }
    set(&mut p.display_name, patch.display_name);
    match patch.description {
        MaybeUndefined::Undefined => {}
        MaybeUndefined::Null => p.description = String::new(),
        MaybeUndefined::Value(v) => p.description = v,
    }
    set(&mut p.is_production_mode, patch.is_production_mode);
    set(&mut p.onboarding_status, patch.onboarding_status);
    maybe(&mut p.logo_url, patch.logo_url);
    maybe(&mut p.logo_full_url, patch.logo_full_url);
    maybe(&mut p.logo_dark_mode_url, patch.logo_dark_mode_url);
    maybe(&mut p.logo_full_dark_mode_url, patch.logo_full_dark_mode_url);
    let Some(c) = patch.config else { return Ok(()) };
    let cfg = &mut p.config;
    set(&mut cfg.sign_up_enabled, c.sign_up_enabled);
    set(&mut cfg.credential_enabled, c.credential_enabled);
    set(&mut cfg.magic_link_enabled, c.magic_link_enabled);
    set(&mut cfg.passkey_enabled, c.passkey_enabled);
    set(&mut cfg.client_team_creation_enabled, c.client_team_creation_enabled);
    set(&mut cfg.client_user_deletion_enabled, c.client_user_deletion_enabled);
    set(&mut cfg.allow_localhost, c.allow_localhost);
    set(&mut cfg.allow_user_api_keys, c.allow_user_api_keys);
    set(&mut cfg.allow_team_api_keys, c.allow_team_api_keys);
    set(&mut cfg.create_team_on_sign_up, c.create_team_on_sign_up);
    set(&mut cfg.require_email_verification, c.require_email_verification);
    if let Some(strategy) = c.oauth_account_merge_strategy {
        one_of("body.config.oauth_account_merge_strategy", &strategy, MERGE_STRATEGIES)?;
        cfg.oauth_account_merge_strategy = strategy;
    }
    if let Some(domains) = c.domains {
        for d in &domains {
            if !(d.domain.starts_with("http://") || d.domain.starts_with("https://")) {
                return Err(KnownError::schema("body.config.domains: URL must start with http:// or https://").into());
            }
            if !d.handler_path.starts_with('/') {
                return Err(KnownError::schema("body.config.domains: handler_path must start with /").into());
            }
        }
        cfg.domains = domains
            .into_iter()
            .map(|d| TrustedDomain { id: String::new(), domain: d.domain, handler_path: d.handler_path })
            .collect();
    }
    if let Some(e) = c.email_config {
        cfg.email_server = parse_email_config(e)?;
    }
    if let Some(providers) = c.oauth_providers {
        cfg.oauth_providers = parse_oauth_providers(providers)?;
    }
    if let Some(theme) = c.email_theme {
        if uuid::Uuid::parse_str(&theme).is_err() {
            return Err(KnownError::schema("body.config.email_theme must be a theme id").into());
        }
        cfg.email_theme = theme.to_lowercase();
    }
    let ids = |v: Vec<PermissionIdInput>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
    set(&mut cfg.team_creator_default_permissions, c.team_creator_default_permissions.map(ids));
    set(&mut cfg.team_member_default_permissions, c.team_member_default_permissions.map(ids));
    set(&mut cfg.user_default_permissions, c.user_default_permissions.map(ids));
    Ok(())
}

/// Validates `config.email_config` (spec 20 §5.1): `None` for shared.
fn parse_email_config(e: EmailConfigInput) -> ApiResult<Option<StandardEmailServer>> {
    match e.kind.as_str() {
        "shared" => Ok(None),
        "standard" => {
            let required = |name: &str, v: Option<String>| -> ApiResult<String> {
                v.filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                    KnownError::schema(&format!(
                        "body.config.email_config.{name} is required for a standard e-mail server"
                    ))
                    .into()
                })
            };
            let port = e.port.ok_or_else(|| {
                KnownError::schema("body.config.email_config.port is required for a standard e-mail server")
            })?;
            let server = StandardEmailServer {
                host: required("host", e.host)?,
                port: port as u16,
                username: required("username", e.username)?,
                password: required("password", e.password)?,
                sender_name: required("sender_name", e.sender_name)?,
                sender_email: required("sender_email", e.sender_email)?,
            };
            if !crate::mail::is_valid_address(&server.sender_email) {
                return Err(KnownError::schema("body.config.email_config.sender_email must be a valid email").into());
            }
            Ok(Some(server))
        }
        _ => Err(KnownError::schema(
            "body.config.email_config.type must be one of the following values: shared, standard",
        )
        .into()),
    }
}

#[OpenApi(tag = "Tag::Projects")]
impl ProjectsApi {
    /// The current project's public view: name and the settings a sign-in UI needs.
    #[oai(path = "/projects/current", method = "get", operation_id = "get_current_project")]
    async fn get_current(&self, auth: ClientAuth) -> ApiResult<Json<ClientProject>> {
        Ok(Json(client_view(auth.0.project())))
    }

    /// The current project with its full configuration (admin only).
    #[oai(path = "/internal/projects/current", method = "get", operation_id = "get_current_project_admin")]
    async fn get_current_admin(&self, auth: AdminAuth) -> ApiResult<Json<AdminProject>> {
        Ok(Json(admin_view(auth.0.project())))
    }

    /// Updates the current project; `config` fields that are given replace the stored ones.
    #[oai(path = "/internal/projects/current", method = "patch", operation_id = "update_current_project")]
    async fn update_current(&self, auth: AdminAuth, body: Json<ProjectPatch>) -> ApiResult<Json<AdminProject>> {
        let patch = body.0;
        let (project, ()) = self
            .projects
            .change_settings(auth.0.project_id(), move |tx, project, assets| {
                let patch = store_logos(tx, &project.id, patch, assets)?;
                apply_patch(project, patch)
            })
            .await?;
        Ok(Json(admin_view(&project)))
    }

    /// Deletes the current project with all its users, teams, keys and data. Irreversible;
    /// `internal` cannot be deleted.
    #[oai(path = "/internal/projects/current", method = "delete", operation_id = "delete_current_project")]
    async fn delete_current(&self, auth: AdminAuth) -> ApiResult<Json<crate::web::Success>> {
        self.projects.delete(auth.0.project_id()).await?;
        Ok(crate::web::Success::ok())
    }
}

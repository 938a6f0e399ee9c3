//! A project's configuration, stored as one JSON document. Field names follow the legacy
//! `config` object of the admin API (spec 00 §6.3); every field has a default, so settings added by
//! later modules need no migration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TrustedDomain {
    /// Its key in the config API's `domains.trustedDomains`; empty for domains set through the
    /// legacy list (they are keyed by position).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    pub domain: String,
    pub handler_path: String,
}

/// A project's own SMTP server (`email_config.type = "standard"`, spec 20 §5.1). The password is
/// kept because SMTP needs it in the clear; it is never returned by the API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StandardEmailServer {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub sender_name: String,
    pub sender_email: String,
}

/// A permission definition (spec 20 §3.1): `rbac.permissions.<id>` upstream. Team and project
/// permissions share one id namespace, so both live in one map.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PermissionDefinition {
    /// `team` or `project`.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub contained_permission_ids: Vec<String>,
}

/// A sign-in provider enabled for the project (spec 10 §10.1, legacy `config.oauth_providers`).
/// `standard` providers carry the project's own client credentials; `shared` ones use the
/// server's. The client secret is kept because the OAuth flow needs it in the clear.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct OAuthProviderSetting {
    /// The provider type, which is also its id: `github`, `google`…
    pub id: String,
    /// `shared` or `standard`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook_config_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microsoft_tenant_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple_bundle_ids: Option<Vec<String>>,
}

/// A sign-up rule (spec 10 §11.1): `auth.signUpRules.<id>` upstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SignUpRule {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Higher runs first.
    #[serde(default)]
    pub priority: i64,
    /// A CEL expression (see `auth::sign_up_rules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `allow`, `reject`, `restrict` or `log`.
    pub action: String,
    /// Kept for the dashboard; never shown to the user signing up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub const SIGN_UP_RULE_ACTIONS: &[&str] = &["allow", "reject", "restrict", "log"];

/// Provider types (spec 10 §10.1); the first four can use the server's shared credentials.
pub const OAUTH_PROVIDER_TYPES: &[&str] = &[
    "google",
    "github",
    "microsoft",
    "spotify",
    "facebook",
    "discord",
    "gitlab",
    "bitbucket",
    "linkedin",
    "apple",
    "x",
    "twitch",
];
pub use crate::config::SHARED_OAUTH_TYPES as SHARED_OAUTH_PROVIDER_TYPES;

pub const TEAM_SCOPE: &str = "team";
pub const PROJECT_SCOPE: &str = "project";

/// Upstream's "Default Light" theme, what new projects use.
pub const DEFAULT_EMAIL_THEME: &str = "1df07ae6-abf3-4a40-83a5-a1a2cbe336ac";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct ProjectConfig {
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
    pub oauth_account_merge_strategy: String,
    pub domains: Vec<TrustedDomain>,
    pub team_creator_default_permissions: Vec<String>,
    pub team_member_default_permissions: Vec<String>,
    pub user_default_permissions: Vec<String>,
    pub require_email_verification: bool,
    pub require_publishable_client_key: bool,
    /// `None` = the server's shared e-mail settings.
    pub email_server: Option<StandardEmailServer>,
    /// Theme of e-mails that do not choose one.
    pub email_theme: String,
    /// Permission definitions by id (team and project scope; the `$` system ones are implicit).
    pub permission_definitions: BTreeMap<String, PermissionDefinition>,
    /// Enabled sign-in providers, sorted by id.
    pub oauth_providers: Vec<OAuthProviderSetting>,
    /// Sign-up rules by id.
    pub sign_up_rules: BTreeMap<String, SignUpRule>,
    /// `allow` or `reject`: what happens when no rule decides.
    pub sign_up_rules_default_action: String,
}

/// Upstream's schema defaults (`config/schema.ts`).
impl Default for ProjectConfig {
    fn default() -> Self {
        ProjectConfig {
            allow_localhost: false,
            sign_up_enabled: true,
            credential_enabled: false,
            magic_link_enabled: false,
            passkey_enabled: false,
            client_team_creation_enabled: false,
            client_user_deletion_enabled: false,
            create_team_on_sign_up: false,
            allow_user_api_keys: false,
            allow_team_api_keys: false,
            oauth_account_merge_strategy: "link_method".into(),
            domains: vec![],
            team_creator_default_permissions: vec![],
            team_member_default_permissions: vec![],
            user_default_permissions: vec![],
            require_email_verification: false,
            require_publishable_client_key: false,
            email_server: None,
            email_theme: DEFAULT_EMAIL_THEME.into(),
            permission_definitions: BTreeMap::new(),
            oauth_providers: vec![],
            sign_up_rules: BTreeMap::new(),
            sign_up_rules_default_action: "allow".into(),
        }
    }
}

impl ProjectConfig {
    /// What a new project gets (upstream's `POST /internal/projects` as the dashboard calls it).
    pub fn new_project() -> Self {
        ProjectConfig {
            allow_localhost: true,
            credential_enabled: true,
            team_creator_default_permissions: vec!["team_admin".into()],
            team_member_default_permissions: vec!["team_member".into()],
            permission_definitions: default_team_permissions(),
            ..Default::default()
        }
    }

    /// The development `internal` project: everything needed for local work switched on, including
    /// the shared OAuth providers (served by the development OAuth provider without credentials).
    pub fn development() -> Self {
        let shared = |id: &str| OAuthProviderSetting {
            id: id.into(),
            kind: "shared".into(),
            client_id: None,
            client_secret: None,
            facebook_config_id: None,
            microsoft_tenant_id: None,
            apple_bundle_ids: None,
        };
        let mut oauth_providers: Vec<OAuthProviderSetting> =
            SHARED_OAUTH_PROVIDER_TYPES.iter().map(|id| shared(id)).collect();
        oauth_providers.sort_by(|a, b| a.id.cmp(&b.id));
        ProjectConfig {
            oauth_providers,
            allow_localhost: true,
            sign_up_enabled: true,
            credential_enabled: true,
            magic_link_enabled: true,
            client_team_creation_enabled: true,
            allow_user_api_keys: true,
            allow_team_api_keys: true,
            team_creator_default_permissions: vec!["team_admin".into()],
            team_member_default_permissions: vec!["team_member".into()],
            permission_definitions: default_team_permissions(),
            ..Default::default()
        }
    }
}

/// The two team definitions new projects are seeded with (spec 20 §3.5).
fn default_team_permissions() -> BTreeMap<String, PermissionDefinition> {
    let def = |description: &str, contained: &[&str]| PermissionDefinition {
        scope: TEAM_SCOPE.into(),
        description: Some(description.into()),
        contained_permission_ids: contained.iter().map(|s| s.to_string()).collect(),
    };
    BTreeMap::from([
        (
            "team_admin".to_string(),
            def(
                "Default permission for team admins",
                &[
                    "$delete_team",
                    "$invite_members",
                    "$manage_api_keys",
                    "$read_members",
                    "$remove_members",
                    "$update_team",
                ],
            ),
        ),
        ("team_member".to_string(), def("Default permission for team members", &["$invite_members", "$read_members"])),
    ])
}

/// `(scheme, host, port)` of an absolute http(s) URL, host lower-cased, port defaulted.
fn origin_of(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (h, p.parse().ok()?),
        _ => (authority, default_port),
    };
    (!host.is_empty()).then(|| (scheme, host.to_ascii_lowercase(), port))
}

/// Whether `host` matches a trusted-domain host pattern (`*` = one label fragment, `**` = anything).
fn host_matches(pattern: &str, host: &str) -> bool {
    fn go(p: &[u8], h: &[u8]) -> bool {
        match p.first() {
            None => h.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => (0..=h.len()).any(|i| go(&p[2..], &h[i..])),
            Some(b'*') => (0..=h.len()).take_while(|&i| i == 0 || h[i - 1] != b'.').any(|i| go(&p[1..], &h[i..])),
            Some(c) => h.first() == Some(c) && go(&p[1..], &h[1..]),
        }
    }
    go(pattern.as_bytes(), host.as_bytes())
}

impl ProjectConfig {
    /// The redirect-URL trust check of spec 10 §0.5.
    pub fn is_trusted_url(&self, url: &str) -> bool {
        let Some((scheme, host, port)) = origin_of(url) else {
            return false;
        };
        if self.allow_localhost && (host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.")) {
            return true;
        }
        self.domains.iter().any(|d| match origin_of(&d.domain) {
            Some((s, h, p)) => s == scheme && p == port && (h == host || (h.contains('*') && host_matches(&h, &host))),
            None => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_urls() {
        let mut c = ProjectConfig { allow_localhost: true, ..Default::default() };
        assert!(c.is_trusted_url("http://localhost:3000/handler"));
        assert!(c.is_trusted_url("http://127.0.0.1/x"));
        assert!(!c.is_trusted_url("https://evil.example/x"));
        c.allow_localhost = false;
        assert!(!c.is_trusted_url("http://localhost:3000/handler"));
        c.domains.push(TrustedDomain {
            id: String::new(),
            domain: "https://app.example.com".into(),
            handler_path: "/handler".into(),
        });
        c.domains.push(TrustedDomain {
            id: String::new(),
            domain: "https://*.preview.example.com".into(),
            handler_path: "/handler".into(),
        });
        assert!(c.is_trusted_url("https://app.example.com/anything?x=1"));
        assert!(!c.is_trusted_url("http://app.example.com/"));
        assert!(!c.is_trusted_url("https://app.example.com:8443/"));
        assert!(c.is_trusted_url("https://pr-1.preview.example.com/cb"));
        assert!(!c.is_trusted_url("https://a.b.preview.example.com/cb"));
        assert!(!c.is_trusted_url("javascript:alert(1)"));
    }
}

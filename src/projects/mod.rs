//! Projects, their configuration and their key sets (spec 00 §5.1, §6), and who is calling
//! ([`access`]: every request is resolved against a project and its keys).
//!
//! Layout of a domain (the same in every folder): this file holds the model and views, `store.rs`
//! its SQL, `service.rs` its rules and transactions, `api.rs` the thin HTTP handlers.

pub mod access;
pub mod api;
pub mod apply;
pub mod config;
pub mod config_api;
pub mod config_overrides;
pub mod key_sets;
pub mod key_sets_api;
pub mod service;
pub mod store;

use crate::cache::{opt_str_weight, Weigh};
use crate::crypto::{self, SecretHash};
use crate::db::now_millis;
pub use config::ProjectConfig;
pub use service::ProjectsService;

/// Id of the project whose users administer the others; created by development mode.
pub const INTERNAL_PROJECT_ID: &str = "internal";

/// Upstream's well-known local-development keys of `internal` (spec 00 §6.1).
pub const DEV_PUBLISHABLE_CLIENT_KEY: &str = "this-publishable-client-key-is-for-local-development-only";
pub const DEV_SECRET_SERVER_KEY: &str = "this-secret-server-key-is-for-local-development-only";
pub const DEV_SUPER_SECRET_ADMIN_KEY: &str = "this-super-secret-admin-key-is-for-local-development-only";

#[derive(Debug, Clone)]
pub struct Project {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub created_at: i64,
    pub is_production_mode: bool,
    pub owner_team_id: Option<String>,
    pub logo_url: Option<String>,
    pub logo_full_url: Option<String>,
    pub logo_dark_mode_url: Option<String>,
    pub logo_full_dark_mode_url: Option<String>,
    pub onboarding_status: String,
    pub config: ProjectConfig,
}

/// Which project key a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    PublishableClient,
    SecretServer,
    SuperSecretAdmin,
}

#[derive(Debug, Clone)]
pub(crate) struct LiveKeySet {
    expires_at: i64,
    publishable_client: Option<SecretHash>,
    secret_server: Option<SecretHash>,
    super_secret_admin: Option<SecretHash>,
}

/// A project plus the hashes of its unrevoked key sets: what request authentication needs.
#[derive(Debug, Clone)]
pub struct ProjectEntry {
    pub project: Project,
    pub(crate) key_sets: Vec<LiveKeySet>,
}

impl Weigh for ProjectEntry {
    fn weigh(&self) -> usize {
        let p = &self.project;
        std::mem::size_of::<Self>()
            + p.id.len()
            + p.display_name.len()
            + p.description.len()
            + opt_str_weight(&p.logo_url)
            + opt_str_weight(&p.logo_full_url)
            + opt_str_weight(&p.logo_dark_mode_url)
            + opt_str_weight(&p.logo_full_dark_mode_url)
            + p.config.domains.iter().map(|d| d.domain.len() + d.handler_path.len() + 48).sum::<usize>()
            + p.config
                .permission_definitions
                .iter()
                .map(|(id, d)| {
                    id.len()
                        + 96
                        + d.description.as_ref().map_or(0, String::len)
                        + d.contained_permission_ids.iter().map(|c| c.len() + 24).sum::<usize>()
                })
                .sum::<usize>()
            + self.key_sets.len() * std::mem::size_of::<LiveKeySet>()
    }
}

impl ProjectEntry {
    /// Whether `key` is a current key of this kind. Compares hashes in constant time.
    pub fn accepts_key(&self, kind: KeyKind, key: &str) -> bool {
        let presented = crypto::hash_secret(key);
        let now = now_millis();
        let mut ok = false;
        for set in &self.key_sets {
            let stored = match kind {
                KeyKind::PublishableClient => &set.publishable_client,
                KeyKind::SecretServer => &set.secret_server,
                KeyKind::SuperSecretAdmin => &set.super_secret_admin,
            };
            if let Some(stored) = stored {
                ok |= set.expires_at > now && crypto::hashes_equal(stored, &presented);
            }
        }
        ok
    }
}

/// A key set as stored: the last four characters of each key it holds, never the keys.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub id: String,
    pub project_id: String,
    pub description: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub publishable_client_key_last4: Option<String>,
    pub secret_server_key_last4: Option<String>,
    pub super_secret_admin_key_last4: Option<String>,
}

/// The three keys of a freshly created key set, in plain text (shown once).
pub struct NewKeys {
    pub key_set_id: String,
    pub publishable_client_key: String,
    pub secret_server_key: String,
    pub super_secret_admin_key: String,
}

//! Projects, their configuration and their key sets (spec 00 §5.1, §6).
//!
//! Project rows are read on every authenticated request, so they are cached in memory (with the
//! hashes of their live keys) and the cache entry is dropped whenever the project changes.

pub mod api;
pub mod config;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use crate::crypto::{self, SecretHash};
use crate::db::{now_millis, Db};
use crate::error::ApiResult;
pub use config::ProjectConfig;

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
struct LiveKeySet {
    expires_at: i64,
    publishable_client: Option<SecretHash>,
    secret_server: Option<SecretHash>,
    super_secret_admin: Option<SecretHash>,
}

/// A project plus the hashes of its unrevoked key sets: what request authentication needs.
#[derive(Debug, Clone)]
pub struct ProjectEntry {
    pub project: Project,
    key_sets: Vec<LiveKeySet>,
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

/// The three keys of a freshly created key set, in plain text (shown once).
pub struct NewKeys {
    pub key_set_id: String,
    pub publishable_client_key: String,
    pub secret_server_key: String,
    pub super_secret_admin_key: String,
}

#[derive(Default)]
pub struct ProjectCache {
    entries: RwLock<HashMap<String, Arc<ProjectEntry>>>,
}

impl ProjectCache {
    pub async fn get(&self, db: &Db, id: &str) -> ApiResult<Option<Arc<ProjectEntry>>> {
        if let Some(e) = self.entries.read().expect("project cache lock").get(id) {
            return Ok(Some(e.clone()));
        }
        let owned = id.to_string();
        let loaded = db.read(move |c| load_entry(c, &owned)).await?;
        Ok(loaded.map(|entry| {
            let entry = Arc::new(entry);
            self.entries.write().expect("project cache lock").insert(id.to_string(), entry.clone());
            entry
        }))
    }

    pub fn invalidate(&self, id: &str) {
        self.entries.write().expect("project cache lock").remove(id);
    }
}

const PROJECT_COLUMNS: &str =
    "id, display_name, description, created_at, is_production_mode, owner_team_id, logo_url, \
     logo_full_url, logo_dark_mode_url, logo_full_dark_mode_url, onboarding_status, config";

fn project_from_row(r: &rusqlite::Row) -> rusqlite::Result<Project> {
    let config: String = r.get(11)?;
    Ok(Project {
        id: r.get(0)?,
        display_name: r.get(1)?,
        description: r.get(2)?,
        created_at: r.get(3)?,
        is_production_mode: r.get(4)?,
        owner_team_id: r.get(5)?,
        logo_url: r.get(6)?,
        logo_full_url: r.get(7)?,
        logo_dark_mode_url: r.get(8)?,
        logo_full_dark_mode_url: r.get(9)?,
        onboarding_status: r.get(10)?,
        config: serde_json::from_str(&config).unwrap_or_default(),
    })
}

pub fn load(conn: &Connection, id: &str) -> ApiResult<Option<Project>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1"))?;
    Ok(stmt.query_row([id], project_from_row).optional()?)
}

fn load_entry(conn: &Connection, id: &str) -> ApiResult<Option<ProjectEntry>> {
    let Some(project) = load(conn, id)? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT expires_at, publishable_client_key_hash, secret_server_key_hash, super_secret_admin_key_hash
         FROM api_key_sets WHERE project_id = ?1 AND manually_revoked_at IS NULL",
    )?;
    let hash = |v: Option<Vec<u8>>| v.and_then(|b| <SecretHash>::try_from(b.as_slice()).ok());
    let key_sets = stmt
        .query_map([id], |r| {
            Ok(LiveKeySet {
                expires_at: r.get(0)?,
                publishable_client: hash(r.get(1)?),
                secret_server: hash(r.get(2)?),
                super_secret_admin: hash(r.get(3)?),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(Some(ProjectEntry { project, key_sets }))
}

pub fn insert(tx: &Transaction, project: &Project) -> ApiResult<()> {
    tx.execute(
        &format!("INSERT INTO projects ({PROJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"),
        params![
            project.id,
            project.display_name,
            project.description,
            project.created_at,
            project.is_production_mode,
            project.owner_team_id,
            project.logo_url,
            project.logo_full_url,
            project.logo_dark_mode_url,
            project.logo_full_dark_mode_url,
            project.onboarding_status,
            serde_json::to_string(&project.config).expect("config serializes"),
        ],
    )?;
    Ok(())
}

pub fn update(tx: &Transaction, project: &Project) -> ApiResult<()> {
    tx.execute(
        "UPDATE projects SET display_name = ?2, description = ?3, is_production_mode = ?4, owner_team_id = ?5,
            logo_url = ?6, logo_full_url = ?7, logo_dark_mode_url = ?8, logo_full_dark_mode_url = ?9,
            onboarding_status = ?10, config = ?11 WHERE id = ?1",
        params![
            project.id,
            project.display_name,
            project.description,
            project.is_production_mode,
            project.owner_team_id,
            project.logo_url,
            project.logo_full_url,
            project.logo_dark_mode_url,
            project.logo_full_dark_mode_url,
            project.onboarding_status,
            serde_json::to_string(&project.config).expect("config serializes"),
        ],
    )?;
    Ok(())
}

/// Stores a key set; only hashes and the last four characters of each key are kept.
pub fn insert_key_set(
    tx: &Transaction,
    project_id: &str,
    key_set_id: &str,
    description: &str,
    expires_at: i64,
    keys: [&str; 3],
) -> ApiResult<()> {
    let [pck, ssk, sak] = keys;
    tx.execute(
        "INSERT INTO api_key_sets (id, project_id, description, created_at, expires_at,
            publishable_client_key_hash, publishable_client_key_last4, secret_server_key_hash, secret_server_key_last4,
            super_secret_admin_key_hash, super_secret_admin_key_last4)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            key_set_id,
            project_id,
            description,
            now_millis(),
            expires_at,
            crypto::hash_secret(pck).to_vec(),
            crypto::last_four(pck),
            crypto::hash_secret(ssk).to_vec(),
            crypto::last_four(ssk),
            crypto::hash_secret(sak).to_vec(),
            crypto::last_four(sak),
        ],
    )?;
    Ok(())
}

/// 2099-12-31T23:59:59Z, the expiry upstream gives seeded key sets.
const FAR_FUTURE_MILLIS: i64 = 4_102_444_799_000;

fn new_project(id: String, display_name: &str, description: &str, config: ProjectConfig) -> Project {
    Project {
        id,
        display_name: display_name.to_string(),
        description: description.to_string(),
        created_at: now_millis(),
        is_production_mode: false,
        owner_team_id: None,
        logo_url: None,
        logo_full_url: None,
        logo_dark_mode_url: None,
        logo_full_dark_mode_url: None,
        onboarding_status: "completed".into(),
        config,
    }
}

/// Creates a project (random UUID id) with one key set of random `pck_`/`ssk_`/`sak_` keys.
pub fn create_with_keys(tx: &Transaction, display_name: &str, config: ProjectConfig) -> ApiResult<(Project, NewKeys)> {
    let project = new_project(uuid::Uuid::new_v4().to_string(), display_name, "", config);
    insert(tx, &project)?;
    let keys = NewKeys {
        key_set_id: uuid::Uuid::new_v4().to_string(),
        publishable_client_key: format!("pck_{}", crypto::random_secret()),
        secret_server_key: format!("ssk_{}", crypto::random_secret()),
        super_secret_admin_key: format!("sak_{}", crypto::random_secret()),
    };
    insert_key_set(
        tx,
        &project.id,
        &keys.key_set_id,
        "Created by stackd project create",
        FAR_FUTURE_MILLIS,
        [&keys.publishable_client_key, &keys.secret_server_key, &keys.super_secret_admin_key],
    )?;
    Ok((project, keys))
}

/// Development mode: makes sure `internal` exists with upstream's local-development keys.
/// Returns true when it was created now.
pub fn ensure_dev_internal_project(db: &Db) -> ApiResult<bool> {
    db.write_now(|tx| {
        if load(tx, INTERNAL_PROJECT_ID)?.is_some() {
            return Ok(false);
        }
        let project = new_project(
            INTERNAL_PROJECT_ID.into(),
            "Stack Dashboard",
            "Stack's admin dashboard",
            ProjectConfig::development(),
        );
        insert(tx, &project)?;
        insert_key_set(
            tx,
            INTERNAL_PROJECT_ID,
            "3142e763-b230-44b5-8636-aa62f7489c26",
            "Internal API key set",
            FAR_FUTURE_MILLIS,
            [DEV_PUBLISHABLE_CLIENT_KEY, DEV_SECRET_SERVER_KEY, DEV_SUPER_SECRET_ADMIN_KEY],
        )?;
        Ok(true)
    })
}

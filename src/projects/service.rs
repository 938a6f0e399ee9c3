//! Project rules and transactions, and the in-memory cache that request authentication reads.
//!
//! Project rows are read on every authenticated request, so they are cached (with the hashes of
//! their live keys); a committed change to a project or its keys drops its entry.

use std::sync::Arc;

use crate::cache::ReadCache;
use crate::crypto;
use crate::db::{now_millis, Db, Tx};
use crate::error::{ApiResult, KnownError};
use crate::projects::{
    key_sets, store, KeySet, NewKeys, Project, ProjectConfig, ProjectEntry, DEV_PUBLISHABLE_CLIENT_KEY,
    DEV_SECRET_SERVER_KEY, DEV_SUPER_SECRET_ADMIN_KEY, INTERNAL_PROJECT_ID,
};

/// Projects are few and small; this bounds the cache even if someone creates many.
const CACHE_BYTES: usize = 16 << 20;
const CACHE_ENTRY_BYTES: usize = 1 << 20;

pub struct ProjectsService {
    db: Db,
    cache: Arc<ReadCache<Arc<ProjectEntry>>>,
    /// Connected by the route assembly (see [`ProjectAssets`]).
    assets: std::sync::OnceLock<Arc<dyn ProjectAssets>>,
}

/// What changing a project's settings needs from domains built on top of projects: storing
/// uploaded logos (images) and knowing the project's e-mail themes (emails). The route assembly
/// connects it, so projects import neither.
pub trait ProjectAssets: Send + Sync {
    /// A `logo_*` value as stored: an http(s) URL as given, base64 image data stored (its URL);
    /// anything else is a 400.
    fn logo_in(&self, tx: &Tx, project_id: &str, value: &str) -> ApiResult<String>;
    /// Whether `theme_id` is one of the project's e-mail themes (built-in or its own).
    fn theme_exists(&self, conn: &rusqlite::Connection, project_id: &str, theme_id: &str) -> ApiResult<bool>;
}

impl ProjectsService {
    pub fn new(db: Db) -> Self {
        let cache = Arc::new(ReadCache::new(CACHE_BYTES, CACHE_ENTRY_BYTES));
        db.register_cache(store::TABLE, cache.clone());
        ProjectsService { db, cache, assets: std::sync::OnceLock::new() }
    }

    /// The project with its live keys. Unknown ids are not cached (they come from unauthenticated input).
    pub async fn get(&self, id: &str) -> ApiResult<Option<Arc<ProjectEntry>>> {
        if let Some(e) = self.cache.get(id.as_bytes()) {
            return Ok(Some(e));
        }
        let ticket = self.cache.ticket(id.as_bytes());
        let owned = id.to_string();
        let loaded = self.db.read(move |c| store::load_entry(c, &owned)).await?;
        Ok(loaded.map(|entry| {
            let entry = Arc::new(entry);
            self.cache.insert(id.as_bytes(), ticket, entry.clone());
            entry
        }))
    }

    /// Connects logo storage and theme lookup (once, by the route assembly).
    pub fn connect_assets(&self, assets: Arc<dyn ProjectAssets>) {
        let _ = self.assets.set(assets);
    }

    /// Changes a project's settings in one transaction: `change` gets the project and the
    /// [`ProjectAssets`] (to store logos), and a changed e-mail theme must exist afterwards. Concurrent
    /// changes cannot lose each other's fields.
    pub async fn change_settings<T: Send + 'static>(
        &self,
        id: &str,
        change: impl FnOnce(&Tx, &mut Project, Option<&dyn ProjectAssets>) -> ApiResult<T> + Send + 'static,
    ) -> ApiResult<(Project, T)> {
        let id = id.to_string();
        let assets = self.assets.get().cloned();
        self.db
            .write(move |tx| {
                let mut out = None;
                let project = update_in(tx, &id, |project| {
                    let theme = project.config.email_theme.clone();
                    out = Some(change(tx, project, assets.as_deref())?);
                    check_theme(tx, assets.as_deref(), project, &theme)
                })?;
                Ok((project, out.expect("set by the change")))
            })
            .await
    }

    /// Whether any project exists (a fresh production database has none).
    pub fn count(&self) -> ApiResult<i64> {
        self.db.read_now(store::count)
    }
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

/// A project value not stored yet (random UUID id), owned by `owner_team_id`.
pub fn new_owned_project(display_name: &str, config: ProjectConfig, owner_team_id: Option<String>) -> Project {
    Project { owner_team_id, ..new_project(uuid::Uuid::new_v4().to_string(), display_name, "", config) }
}

/// Stores a new project (no key set: its owners administer it with their admin access tokens).
pub fn insert_in(tx: &Tx, project: &Project) -> ApiResult<()> {
    store::insert(tx, project)
}

/// Every project whose owner team has `user_id` (a user of `internal`) as a member, oldest first.
pub fn owned_by_member(conn: &rusqlite::Connection, user_id: &str) -> ApiResult<Vec<Project>> {
    store::owned_by_member(conn, user_id)
}

/// Creates a project (random UUID id) with one key set of random `pck_`/`ssk_`/`sak_` keys.
pub fn create_with_keys(tx: &Tx, display_name: &str, config: ProjectConfig) -> ApiResult<(Project, NewKeys)> {
    let project = new_project(uuid::Uuid::new_v4().to_string(), display_name, "", config);
    store::insert(tx, &project)?;
    let keys = NewKeys {
        key_set_id: uuid::Uuid::new_v4().to_string(),
        publishable_client_key: format!("pck_{}", crypto::random_secret()),
        secret_server_key: format!("ssk_{}", crypto::random_secret()),
        super_secret_admin_key: format!("sak_{}", crypto::random_secret()),
    };
    store::insert_key_set(
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
        if store::load(tx, INTERNAL_PROJECT_ID)?.is_some() {
            return Ok(false);
        }
        let project = new_project(
            INTERNAL_PROJECT_ID.into(),
            "Stack Dashboard",
            "Stack's admin dashboard",
            ProjectConfig::development(),
        );
        store::insert(tx, &project)?;
        store::insert_key_set(
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

/// Reads, changes and writes a project inside the caller's transaction (for changes that touch
/// other tables too, like renaming a permission with its grants).
pub fn update_in(tx: &Tx, id: &str, change: impl FnOnce(&mut Project) -> ApiResult<()>) -> ApiResult<Project> {
    let mut project = store::load(tx, id)?.ok_or_else(|| KnownError::current_project_not_found(id))?;
    change(&mut project)?;
    store::update(tx, &project)?;
    Ok(project)
}

impl ProjectsService {
    pub async fn create_key_set(
        &self,
        project_id: &str,
        new: key_sets::NewKeySet,
    ) -> ApiResult<(KeySet, key_sets::CreatedKeys)> {
        let project_id = project_id.to_string();
        self.db.write(move |tx| key_sets::create_in(tx, &project_id, new)).await
    }

    pub async fn key_sets(&self, project_id: &str) -> ApiResult<Vec<KeySet>> {
        let project_id = project_id.to_string();
        self.db.read(move |c| store::key_sets(c, &project_id)).await
    }

    pub async fn key_set(&self, project_id: &str, id: &str) -> ApiResult<KeySet> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.db.read(move |c| store::key_set(c, &project_id, &id)).await?.ok_or_else(key_sets::not_found)
    }

    pub async fn update_key_set(
        &self,
        project_id: &str,
        id: String,
        description: Option<String>,
        revoke: bool,
    ) -> ApiResult<KeySet> {
        let project_id = project_id.to_string();
        self.db.write(move |tx| key_sets::update_in(tx, &project_id, &id, description, revoke)).await
    }
}

impl ProjectsService {
    /// See [`store::admin_standing`].
    pub async fn admin_standing(&self, project_id: &str, user_id: &str) -> ApiResult<store::AdminStanding> {
        let (project_id, user_id) = (project_id.to_string(), user_id.to_string());
        self.db.read(move |c| store::admin_standing(c, &project_id, &user_id)).await
    }

    /// Deletes a project with all its data (`DELETE /internal/projects/current`). `internal` stays:
    /// it holds the dashboard users that own every other project.
    pub async fn delete(&self, project_id: &str) -> ApiResult<()> {
        if project_id == INTERNAL_PROJECT_ID {
            return Err(crate::error::ApiError::bad_request("The internal project cannot be deleted."));
        }
        let project_id = project_id.to_string();
        self.db
            .write(move |tx| {
                if store::delete(tx, &project_id)? {
                    Ok(())
                } else {
                    Err(KnownError::current_project_not_found(&project_id).into())
                }
            })
            .await
    }
}

impl ProjectsService {
    /// The override `level` last received (nested form; `{}` when none) and its source.
    pub async fn config_override(
        &self,
        project_id: &str,
        level: &'static str,
    ) -> ApiResult<(serde_json::Value, Option<serde_json::Value>)> {
        let project_id = project_id.to_string();
        let row = self.db.read(move |c| store::config_override(c, &project_id, level)).await?;
        parse_override_row(row)
    }
}

/// A changed e-mail theme must be one of the project's (spec 00 §6.4: plain 400 otherwise).
fn check_theme(tx: &Tx, assets: Option<&dyn ProjectAssets>, project: &Project, before: &str) -> ApiResult<()> {
    match assets {
        Some(assets)
            if project.config.email_theme != before
                && !assets.theme_exists(tx, &project.id, &project.config.email_theme)? =>
        {
            Err(crate::error::ApiError::bad_request("Invalid email theme"))
        }
        _ => Ok(()),
    }
}

/// The stored override record and source of a level (`{}` and none when nothing was written).
pub fn parse_override_row(
    row: Option<(String, Option<String>)>,
) -> ApiResult<(serde_json::Value, Option<serde_json::Value>)> {
    let Some((config, source)) = row else { return Ok((serde_json::json!({}), None)) };
    // A stored override that cannot be read is an error, never an empty override.
    let unreadable =
        |e: serde_json::Error| crate::error::ApiError::internal(format!("stored config override is unreadable: {e}"));
    let config: serde_json::Value = serde_json::from_str(&config).map_err(unreadable)?;
    let source = source.map(|s| serde_json::from_str(&s)).transpose().map_err(unreadable)?;
    Ok((config, source))
}

//! User rules and transactions: the one path that creates a user (server `POST /users` and every
//! sign-up method), updates, deletes, and the hot-path read cache. Every change records its
//! `user.*` event in the same transaction.

use std::sync::{Arc, OnceLock};

use poem_openapi::types::ToJSON;
use rusqlite::Connection;

use crate::cache::ReadCache;
use crate::crypto::password;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::events;
use crate::images::{ImageInput, ImagesService};
use crate::infra::Infra;
use crate::projects::Project;
use crate::sessions::SessionsService;
use crate::users::changes::UserChanges;
use crate::users::store::{self, ListQuery};
use crate::users::UserRecord;

/// Budget of the user cache. A record counts with its metadata; one larger than
/// `CACHE_ENTRY_BYTES` is simply read from the database each time.
const CACHE_BYTES: usize = 32 << 20;
const CACHE_ENTRY_BYTES: usize = 64 << 10;

/// What a user's life means for its teams and permissions. Teams sit above users (memberships
/// and profiles read users), so they plug in here; the route assembly connects them once.
pub trait TeamHooks: Send + Sync {
    /// After a user is created and its `user.created` recorded: sign-up default permissions and
    /// the personal team.
    fn user_created(&self, tx: &Tx, project: &Project, user: &UserRecord) -> ApiResult<()>;
    /// An anonymous user became a real one: its teams named "Personal Team" get its name.
    fn user_upgraded(&self, tx: &Tx, project: &Project, user: &UserRecord) -> ApiResult<()>;
    /// Before a user is deleted: records `team_membership.deleted` for each of its teams and
    /// returns their ids, oldest team first.
    fn user_deleting(&self, tx: &Tx, project_id: &str, user_id: &str) -> ApiResult<Vec<String>>;
    /// A user may select only a team it is a member of (else `TEAM_MEMBERSHIP_NOT_FOUND`).
    fn check_selectable(&self, conn: &Connection, team_id: &str, user_id: &str) -> ApiResult<()>;
}

pub struct UsersService {
    infra: Arc<Infra>,
    sessions: Arc<SessionsService>,
    images: Arc<ImagesService>,
    cache: Arc<ReadCache<Arc<UserRecord>>>,
    teams: OnceLock<Arc<dyn TeamHooks>>,
}

/// The server view of a user as event data (spec 20 §6.2).
pub fn event_data(project: &Project, user: &UserRecord) -> serde_json::Value {
    user.to_server(&project.config, user.last_active_at).to_json().unwrap_or_default()
}

impl UsersService {
    pub fn new(infra: Arc<Infra>, sessions: Arc<SessionsService>, images: Arc<ImagesService>) -> Self {
        let cache = Arc::new(ReadCache::new(CACHE_BYTES, CACHE_ENTRY_BYTES));
        infra.db.register_cache(store::TABLE, cache.clone());
        UsersService { infra, sessions, images, cache, teams: OnceLock::new() }
    }

    /// Connects the teams domain (once, by the route assembly).
    pub fn connect_teams(&self, hooks: Arc<dyn TeamHooks>) {
        let _ = self.teams.set(hooks);
    }

    fn teams(&self) -> ApiResult<&Arc<dyn TeamHooks>> {
        self.teams.get().ok_or_else(|| ApiError::internal("the teams domain is not connected"))
    }

    /// A user of `project_id`, through the hot-path cache (keyed by the globally unique user id).
    pub async fn get(&self, project_id: &str, user_id: &str) -> ApiResult<Option<Arc<UserRecord>>> {
        let user = match self.cache.get(user_id.as_bytes()) {
            Some(hit) => Some(hit),
            None => {
                let ticket = self.cache.ticket(user_id.as_bytes());
                let id = user_id.to_string();
                let found = self.infra.db.read(move |c| store::load_any_project(c, &id)).await?.map(Arc::new);
                if let Some(u) = &found {
                    self.cache.insert(user_id.as_bytes(), ticket, u.clone());
                }
                found
            }
        };
        Ok(user.filter(|u| u.project_id == project_id))
    }

    /// The newest "last active" time of a user, including what is not written yet.
    pub fn last_active_at(&self, user: &UserRecord) -> i64 {
        self.sessions.activity.user_last_active(&user.id, user.last_active_at)
    }

    pub async fn list(&self, project_id: &str, q: ListQuery) -> ApiResult<(Vec<UserRecord>, Option<String>)> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list(c, &project_id, &q)).await
    }

    /// Hashes a new password, or checks an imported hash, off the executor. `None` = unchanged,
    /// `Some(None)` = remove the password.
    pub async fn password_change(
        &self,
        password: Option<Option<String>>,
        imported: Option<Option<String>>,
    ) -> ApiResult<Option<Option<String>>> {
        match (password, imported) {
            (Some(Some(_)), Some(Some(_))) => {
                Err(ApiError::bad_request("Cannot set both password and password_hash at the same time."))
            }
            (_, Some(Some(hash))) => {
                if password::is_importable_bcrypt(&hash) {
                    Ok(Some(Some(hash)))
                } else {
                    Err(ApiError::bad_request(
                        "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.",
                    ))
                }
            }
            (Some(Some(plain)), _) => Ok(Some(Some(self.infra.hash_work(move || password::hash(&plain)).await?))),
            (Some(None), _) | (None, Some(None)) => Ok(Some(None)),
            (None, None) => Ok(None),
        }
    }

    /// Creates a user inside the caller's transaction; every sign-up method comes through here.
    /// Returns the user as created, before its personal team (as upstream's response shows it).
    pub fn create_in(&self, tx: &Tx, project: &Project, changes: UserChanges) -> ApiResult<UserRecord> {
        let user_id = uuid::Uuid::new_v4().to_string();
        store::insert(tx, &project.id, &user_id, changes.is_anonymous.unwrap_or(false))?;
        self.write_changes_in(tx, project, &user_id, changes, true)?;
        let user = store::require(tx, &project.id, &user_id)?;
        events::record_in(tx, &project.id, events::USER_CREATED, event_data(project, &user))?;
        self.teams()?.user_created(tx, project, &user)?;
        Ok(user)
    }

    /// Applies changes to an existing user inside the caller's transaction and records
    /// `user.updated`. A password change (or removal) ends all of the user's sessions.
    pub fn apply_in(&self, tx: &Tx, project: &Project, user_id: &str, changes: UserChanges) -> ApiResult<UserRecord> {
        let upgrading = changes.is_anonymous == Some(false) && store::is_anonymous(tx, user_id)?;
        self.write_changes_in(tx, project, user_id, changes, false)?;
        let mut user = store::require(tx, &project.id, user_id)?;
        if upgrading {
            self.teams()?.user_upgraded(tx, project, &user)?;
            // The selected team may be one it renamed.
            user = store::require(tx, &project.id, user_id)?;
        }
        events::record_in(tx, &project.id, events::USER_UPDATED, event_data(project, &user))?;
        Ok(user)
    }

    fn write_changes_in(
        &self,
        tx: &Tx,
        project: &Project,
        user_id: &str,
        mut changes: UserChanges,
        creating: bool,
    ) -> ApiResult<()> {
        let project_id = project.id.as_str();
        tx.changed(store::TABLE, user_id);
        if let Some(Some(team_id)) = &changes.selected_team_id {
            self.teams()?.check_selectable(tx, team_id, user_id)?;
        }
        // An uploaded image is stored in this transaction; the user keeps its URL. The picture it
        // replaces goes, if stackd stored it.
        if changes.profile_image_url.is_some() && !creating {
            if let Some(old) = store::profile_image_url(tx, user_id)? {
                self.images.forget_in(tx, &old)?;
            }
        }
        if matches!(changes.profile_image_url, Some(Some(ImageInput::Upload(_)))) {
            if let Some(Some(image)) = changes.profile_image_url.take() {
                changes.profile_image_url = Some(Some(ImageInput::Url(self.images.resolve_in(tx, project_id, image)?)));
            }
        }
        let ends_sessions = changes.changes_password() && !creating;
        changes.apply(tx, project_id, user_id, creating)?;
        if ends_sessions {
            self.sessions.revoke_all_in(tx, user_id)?;
        }
        Ok(())
    }

    /// `POST /users`: a user made by the server, in its own transaction.
    pub async fn create(self: &Arc<Self>, project: &Project, changes: UserChanges) -> ApiResult<UserRecord> {
        changes.check_against_config(&project.config, true)?;
        let (me, project) = (self.clone(), project.clone());
        self.infra.db.write(move |tx| me.create_in(tx, &project, changes)).await
    }

    pub async fn update(
        self: &Arc<Self>,
        project: &Project,
        user_id: String,
        changes: UserChanges,
    ) -> ApiResult<UserRecord> {
        changes.check_against_config(&project.config, false)?;
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                store::require(tx, &project.id, &user_id)?;
                me.apply_in(tx, &project, &user_id, changes)
            })
            .await
    }

    /// Deletes a user with its e-mails, credentials, memberships and sessions; records one
    /// `team_membership.deleted` per team, then `user.deleted`.
    pub async fn delete(self: &Arc<Self>, project_id: &str, user_id: String) -> ApiResult<()> {
        let me = self.clone();
        let project_id = project_id.to_string();
        let deleted = self
            .infra
            .db
            .write(move |tx| {
                if !store::exists(tx, &project_id, &user_id)? {
                    return Ok(false);
                }
                let teams = me.teams()?.user_deleting(tx, &project_id, &user_id)?;
                let teams: Vec<serde_json::Value> =
                    teams.into_iter().map(|id| serde_json::json!({ "id": id })).collect();
                events::record_in(
                    tx,
                    &project_id,
                    events::USER_DELETED,
                    serde_json::json!({ "id": user_id, "teams": teams }),
                )?;
                me.sessions.revoke_all_in(tx, &user_id)?;
                if let Some(picture) = store::profile_image_url(tx, &user_id)? {
                    me.images.forget_in(tx, &picture)?;
                }
                store::delete(tx, &project_id, &user_id)
            })
            .await?;
        if deleted {
            Ok(())
        } else {
            Err(KnownError::user_not_found().into())
        }
    }

    /// Bytes held by the user cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes()
    }
}

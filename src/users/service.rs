//! User rules and transactions: the one path that creates a user (server `POST /users` and every
//! sign-up method), updates, deletes, and the hot-path read cache.

use std::sync::Arc;

use crate::cache::ReadCache;
use crate::crypto::password;
use crate::db::Tx;
use crate::error::{ApiError, ApiResult, KnownError};
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

pub struct UsersService {
    infra: Arc<Infra>,
    sessions: Arc<SessionsService>,
    images: Arc<ImagesService>,
    cache: Arc<ReadCache<Arc<UserRecord>>>,
}

impl UsersService {
    pub fn new(infra: Arc<Infra>, sessions: Arc<SessionsService>, images: Arc<ImagesService>) -> Self {
        let cache = Arc::new(ReadCache::new(CACHE_BYTES, CACHE_ENTRY_BYTES));
        infra.db.register_cache(store::TABLE, cache.clone());
        UsersService { infra, sessions, images, cache }
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
    pub fn create_in(&self, tx: &Tx, project_id: &str, changes: UserChanges) -> ApiResult<UserRecord> {
        let user_id = uuid::Uuid::new_v4().to_string();
        store::insert(tx, project_id, &user_id, changes.is_anonymous.unwrap_or(false))?;
        self.apply_in(tx, project_id, &user_id, changes, true)?;
        store::require(tx, project_id, &user_id)
    }

    /// Applies changes to an existing user inside the caller's transaction. A password change (or
    /// removal) of an existing user ends all of its sessions.
    pub fn apply_in(
        &self,
        tx: &Tx,
        project_id: &str,
        user_id: &str,
        mut changes: UserChanges,
        creating: bool,
    ) -> ApiResult<()> {
        tx.changed(store::TABLE, user_id);
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
        let me = self.clone();
        let project_id = project.id.clone();
        self.infra.db.write(move |tx| me.create_in(tx, &project_id, changes)).await
    }

    pub async fn update(
        self: &Arc<Self>,
        project: &Project,
        user_id: String,
        changes: UserChanges,
    ) -> ApiResult<UserRecord> {
        changes.check_against_config(&project.config, false)?;
        let me = self.clone();
        let project_id = project.id.clone();
        self.infra
            .db
            .write(move |tx| {
                store::require(tx, &project_id, &user_id)?;
                me.apply_in(tx, &project_id, &user_id, changes, false)?;
                store::require(tx, &project_id, &user_id)
            })
            .await
    }

    /// Deletes a user with its e-mails, credentials and sessions.
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

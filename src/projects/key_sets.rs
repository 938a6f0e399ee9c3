//! A project's key sets (spec 00 §5.1, 20 §4.5): created with any of the three kinds, shown once,
//! stored hashed, revoked or expired. Request authentication accepts a key of any live set.

use crate::crypto;
use crate::db::{now_millis, Db, Tx};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::{store, KeySet};

/// The plain keys of a new set, only the requested kinds.
#[derive(Debug, Clone, Default)]
pub struct CreatedKeys {
    pub publishable_client_key: Option<String>,
    pub secret_server_key: Option<String>,
    pub super_secret_admin_key: Option<String>,
}

/// What a new set holds.
pub struct NewKeySet {
    pub description: String,
    pub expires_at: i64,
    pub has_publishable_client_key: bool,
    pub has_secret_server_key: bool,
    pub has_super_secret_admin_key: bool,
}

pub fn not_found() -> ApiError {
    KnownError::new("API_KEY_NOT_FOUND", 404, "API key set not found.").into()
}

/// Creates a key set inside the caller's transaction (the project must exist).
pub fn create_in(tx: &Tx, project_id: &str, new: NewKeySet) -> ApiResult<(KeySet, CreatedKeys)> {
    if store::load(tx, project_id)?.is_none() {
        return Err(KnownError::current_project_not_found(project_id).into());
    }
    let make = |wanted: bool, prefix: &str| wanted.then(|| format!("{prefix}_{}", crypto::random_secret()));
    let keys = CreatedKeys {
        publishable_client_key: make(new.has_publishable_client_key, "pck"),
        secret_server_key: make(new.has_secret_server_key, "ssk"),
        super_secret_admin_key: make(new.has_super_secret_admin_key, "sak"),
    };
    let id = uuid::Uuid::new_v4().to_string();
    store::insert_partial_key_set(
        tx,
        project_id,
        &id,
        &new.description,
        new.expires_at,
        [
            keys.publishable_client_key.as_deref(),
            keys.secret_server_key.as_deref(),
            keys.super_secret_admin_key.as_deref(),
        ],
    )?;
    let set = store::key_set(tx, project_id, &id)?.ok_or_else(not_found)?;
    Ok((set, keys))
}

pub fn create(db: &Db, project_id: &str, new: NewKeySet) -> ApiResult<(KeySet, CreatedKeys)> {
    db.write_now(|tx| create_in(tx, project_id, new))
}

/// Changes the description and/or revokes (one-way; the first revocation time stays).
pub fn update_in(tx: &Tx, project_id: &str, id: &str, description: Option<String>, revoke: bool) -> ApiResult<KeySet> {
    let mut set = store::key_set(tx, project_id, id)?.ok_or_else(not_found)?;
    if let Some(d) = description {
        set.description = d;
    }
    if revoke && set.revoked_at.is_none() {
        set.revoked_at = Some(now_millis());
    }
    store::update_key_set(tx, &set)?;
    Ok(set)
}

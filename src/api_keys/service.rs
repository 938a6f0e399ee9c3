//! API key rules and transactions (spec 20 §4.4).

use std::sync::Arc;

use serde_json::json;

use crate::api_keys::{embedded_id, key_string, store, ApiKeyRecord, USER};
use crate::crypto::{hash_secret, hashes_equal, last_four};
use crate::db::now_millis;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::projects::Project;
use crate::teams::service::{require_team, require_user};

pub fn not_found() -> ApiError {
    KnownError::new("API_KEY_NOT_FOUND", 404, "API key not found.").into()
}

fn revoked() -> ApiError {
    KnownError::new("API_KEY_REVOKED", 401, "This API key has been revoked.").into()
}

fn expired() -> ApiError {
    KnownError::new("API_KEY_EXPIRED", 401, "This API key has expired.").into()
}

fn wrong_type(expected: &str, actual: &str) -> ApiError {
    KnownError::new(
        "WRONG_API_KEY_TYPE",
        400,
        format!("This endpoint takes {expected} API keys, but a {actual} API key was given."),
    )
    .with_details(json!({ "expected_type": expected, "actual_type": actual }))
    .into()
}

/// A key to create.
pub struct NewApiKey {
    pub kind: &'static str,
    pub owner_id: String,
    pub description: String,
    pub expires_at: Option<i64>,
    pub is_public: bool,
}

pub struct ApiKeysService {
    infra: Arc<Infra>,
}

impl ApiKeysService {
    pub fn new(infra: Arc<Infra>) -> Self {
        ApiKeysService { infra }
    }

    /// Creates a key; the full key string is returned this once.
    pub async fn create(&self, project: &Project, new: NewApiKey) -> ApiResult<(ApiKeyRecord, String)> {
        let id = uuid::Uuid::new_v4();
        let key = key_string(&id, new.kind, new.is_public);
        let (user_id, team_id) = if new.kind == USER { (Some(new.owner_id), None) } else { (None, Some(new.owner_id)) };
        let record = ApiKeyRecord {
            id: id.to_string(),
            project_id: project.id.clone(),
            kind: new.kind.to_string(),
            user_id,
            team_id,
            description: new.description,
            is_public: new.is_public,
            key_hash: hash_secret(&key).to_vec(),
            last_four: last_four(&key),
            created_at: now_millis(),
            expires_at: new.expires_at,
            revoked_at: None,
        };
        self.infra
            .db
            .write(move |tx| {
                match (&record.user_id, &record.team_id) {
                    (Some(user_id), _) => require_user(tx, &record.project_id, user_id)?,
                    (_, Some(team_id)) => {
                        require_team(tx, &record.project_id, team_id)?;
                    }
                    _ => {}
                }
                store::insert(tx, &record)?;
                Ok((record, key))
            })
            .await
    }

    pub async fn get(&self, project_id: &str, kind: &'static str, id: &str) -> ApiResult<ApiKeyRecord> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.infra
            .db
            .read(move |c| store::load(c, &project_id, &id))
            .await?
            .filter(|k| k.kind == kind)
            .ok_or_else(not_found)
    }

    pub async fn list(&self, project_id: &str, kind: &'static str, owner_id: String) -> ApiResult<Vec<ApiKeyRecord>> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list(c, &project_id, kind, &owner_id)).await
    }

    /// Changes the description and/or revokes (one-way; the first revocation time stays).
    pub async fn update(
        &self,
        project_id: &str,
        kind: &'static str,
        id: String,
        description: Option<String>,
        revoke: bool,
    ) -> ApiResult<ApiKeyRecord> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                let mut key = store::load(tx, &project_id, &id)?.filter(|k| k.kind == kind).ok_or_else(not_found)?;
                if let Some(d) = description {
                    key.description = d;
                }
                if revoke && key.revoked_at.is_none() {
                    key.revoked_at = Some(now_millis());
                }
                store::update(tx, &key)?;
                Ok(key)
            })
            .await
    }

    /// `POST /{user,team}-api-keys/check`: not found → wrong kind → revoked → expired.
    pub async fn check(&self, project_id: &str, kind: &'static str, key: String) -> ApiResult<ApiKeyRecord> {
        let Some(id) = embedded_id(&key) else { return Err(not_found()) };
        let project_id = project_id.to_string();
        let found = self.infra.db.read(move |c| store::load(c, &project_id, &id.to_string())).await?;
        let presented = hash_secret(&key);
        let found = found.filter(|k| hashes_equal(&k.key_hash, &presented)).ok_or_else(not_found)?;
        if found.kind != kind {
            return Err(wrong_type(kind, &found.kind));
        }
        if found.revoked_at.is_some() {
            return Err(revoked());
        }
        if found.expires_at.is_some_and(|e| e <= now_millis()) {
            return Err(expired());
        }
        Ok(found)
    }
}

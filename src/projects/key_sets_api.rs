//! `/internal/api-keys` (spec 20 §4.5, admin): the project's key sets.

use std::sync::Arc;

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::error::{ApiResult, KnownError};
use crate::projects::access::AdminAuth;
use crate::projects::key_sets::{not_found, CreatedKeys, NewKeySet};
use crate::projects::{KeySet, ProjectsService};
use crate::web::Tag;

pub struct KeySetsApi {
    pub projects: Arc<ProjectsService>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateKeySetBody {
    pub description: String,
    /// When the keys stop working, milliseconds since the epoch.
    pub expires_at_millis: i64,
    pub has_publishable_client_key: bool,
    pub has_secret_server_key: bool,
    pub has_super_secret_admin_key: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateKeySetBody {
    pub description: Option<String>,
    /// Only `true`: revocation cannot be undone.
    pub revoked: Option<bool>,
}

#[derive(Object)]
pub struct KeyLastFour {
    pub last_four: String,
}

/// A key set without its keys.
#[derive(Object)]
pub struct KeySetView {
    pub id: String,
    pub description: String,
    pub created_at_millis: i64,
    pub expires_at_millis: i64,
    #[oai(skip_serializing_if_is_none)]
    pub manually_revoked_at_millis: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub publishable_client_key: Option<KeyLastFour>,
    #[oai(skip_serializing_if_is_none)]
    pub secret_server_key: Option<KeyLastFour>,
    #[oai(skip_serializing_if_is_none)]
    pub super_secret_admin_key: Option<KeyLastFour>,
}

/// A new key set with its keys (shown only here; only their hashes are stored).
#[derive(Object)]
pub struct CreatedKeySetView {
    pub id: String,
    pub description: String,
    pub created_at_millis: i64,
    pub expires_at_millis: i64,
    /// `pck_…`, when requested.
    #[oai(skip_serializing_if_is_none)]
    pub publishable_client_key: Option<String>,
    /// `ssk_…`, when requested.
    #[oai(skip_serializing_if_is_none)]
    pub secret_server_key: Option<String>,
    /// `sak_…`, when requested.
    #[oai(skip_serializing_if_is_none)]
    pub super_secret_admin_key: Option<String>,
}

#[derive(Object)]
pub struct KeySetList {
    pub items: Vec<KeySetView>,
    pub is_paginated: bool,
}

fn view(k: KeySet) -> KeySetView {
    let four = |v: Option<String>| v.map(|last_four| KeyLastFour { last_four });
    KeySetView {
        id: k.id,
        description: k.description,
        created_at_millis: k.created_at,
        expires_at_millis: k.expires_at,
        manually_revoked_at_millis: k.revoked_at,
        publishable_client_key: four(k.publishable_client_key_last4),
        secret_server_key: four(k.secret_server_key_last4),
        super_secret_admin_key: four(k.super_secret_admin_key_last4),
    }
}

fn created_view(k: KeySet, keys: CreatedKeys) -> CreatedKeySetView {
    CreatedKeySetView {
        id: k.id,
        description: k.description,
        created_at_millis: k.created_at,
        expires_at_millis: k.expires_at,
        publishable_client_key: keys.publishable_client_key,
        secret_server_key: keys.secret_server_key,
        super_secret_admin_key: keys.super_secret_admin_key,
    }
}

fn key_set_id(id: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(id).map(|u| u.to_string()).map_err(|_| not_found())
}

#[OpenApi(tag = "Tag::Projects")]
impl KeySetsApi {
    /// Creates a key set with the requested kinds of keys; they are in this response only.
    #[oai(path = "/internal/api-keys", method = "post", operation_id = "create_project_key_set")]
    async fn create(&self, auth: AdminAuth, body: Json<CreateKeySetBody>) -> ApiResult<Json<CreatedKeySetView>> {
        let b = body.0;
        let new = NewKeySet {
            description: b.description,
            expires_at: b.expires_at_millis,
            has_publishable_client_key: b.has_publishable_client_key,
            has_secret_server_key: b.has_secret_server_key,
            has_super_secret_admin_key: b.has_super_secret_admin_key,
        };
        let (set, keys) = self.projects.create_key_set(auth.0.project_id(), new).await?;
        Ok(Json(created_view(set, keys)))
    }

    /// The project's key sets, newest first, each key as its last four characters.
    #[oai(path = "/internal/api-keys", method = "get", operation_id = "list_project_key_sets")]
    async fn list(&self, auth: AdminAuth) -> ApiResult<Json<KeySetList>> {
        let sets = self.projects.key_sets(auth.0.project_id()).await?;
        Ok(Json(KeySetList { items: sets.into_iter().map(view).collect(), is_paginated: false }))
    }

    /// One key set.
    #[oai(path = "/internal/api-keys/:api_key_id", method = "get", operation_id = "get_project_key_set")]
    async fn get(&self, auth: AdminAuth, api_key_id: Path<String>) -> ApiResult<Json<KeySetView>> {
        let id = key_set_id(&api_key_id.0)?;
        Ok(Json(view(self.projects.key_set(auth.0.project_id(), &id).await?)))
    }

    /// Changes a key set's description or revokes it (its keys stop working at once).
    #[oai(path = "/internal/api-keys/:api_key_id", method = "patch", operation_id = "update_project_key_set")]
    async fn update(
        &self,
        auth: AdminAuth,
        api_key_id: Path<String>,
        body: Json<UpdateKeySetBody>,
    ) -> ApiResult<Json<KeySetView>> {
        let b = body.0;
        if b.revoked == Some(false) {
            return Err(KnownError::schema("body.revoked must be one of the following values: true").into());
        }
        let id = key_set_id(&api_key_id.0)?;
        let set = self.projects.update_key_set(auth.0.project_id(), id, b.description, b.revoked == Some(true)).await?;
        Ok(Json(view(set)))
    }
}

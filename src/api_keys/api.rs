//! `/user-api-keys` and `/team-api-keys` (spec 20 §4.4): two symmetric route families.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};

use crate::api_keys::errors::not_found;
use crate::api_keys::service::NewApiKey;
use crate::api_keys::{ApiKeyRecord, ApiKeysService, TEAM, USER};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::permissions::MANAGE_API_KEYS;
use crate::projects::access::{AnyAuth, ClientAuth, RequestAuth, ServerAuth};
use crate::teams::api::signed_in;
use crate::teams::TeamsService;
use crate::web::uuid_param as team_id_param;
use crate::web::{Success, Tag};

pub struct ApiKeysApi {
    pub keys: Arc<ApiKeysService>,
    pub teams: Arc<TeamsService>,
}

#[derive(Object)]
pub struct LastFour {
    /// The last four characters of the key.
    pub last_four: String,
}

/// An API key without its secret.
#[derive(Object)]
pub struct ApiKeyView {
    pub id: String,
    pub description: String,
    /// Absent when the key does not expire.
    #[oai(skip_serializing_if_is_none)]
    pub expires_at_millis: Option<i64>,
    /// Absent unless revoked.
    #[oai(skip_serializing_if_is_none)]
    pub manually_revoked_at_millis: Option<i64>,
    pub created_at_millis: i64,
    /// Public keys (`pk_`) may be shown to anyone; secret keys (`sk_`) may not.
    pub is_public: bool,
    pub value: LastFour,
    /// `user` or `team`.
    #[oai(rename = "type")]
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub team_id: Option<String>,
}

/// A new API key with its full key string (shown only here).
#[derive(Object)]
pub struct CreatedApiKeyView {
    pub id: String,
    pub description: String,
    #[oai(skip_serializing_if_is_none)]
    pub expires_at_millis: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub manually_revoked_at_millis: Option<i64>,
    pub created_at_millis: i64,
    pub is_public: bool,
    /// The key (`sk_…`/`pk_…`, 102 characters). Store it now: it cannot be read again.
    pub value: String,
    #[oai(rename = "type")]
    pub kind: String,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub team_id: Option<String>,
}

fn view(k: ApiKeyRecord) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        description: k.description,
        expires_at_millis: k.expires_at,
        manually_revoked_at_millis: k.revoked_at,
        created_at_millis: k.created_at,
        is_public: k.is_public,
        value: LastFour { last_four: k.last_four },
        kind: k.kind,
        user_id: k.user_id,
        team_id: k.team_id,
    }
}

fn created_view(k: ApiKeyRecord, key: String) -> CreatedApiKeyView {
    CreatedApiKeyView {
        id: k.id,
        description: k.description,
        expires_at_millis: k.expires_at,
        manually_revoked_at_millis: k.revoked_at,
        created_at_millis: k.created_at,
        is_public: k.is_public,
        value: key,
        kind: k.kind,
        user_id: k.user_id,
        team_id: k.team_id,
    }
}

#[derive(Object)]
pub struct ApiKeyList {
    pub items: Vec<ApiKeyView>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateUserApiKeyBody {
    pub description: String,
    /// Expiry in milliseconds since the epoch, or `null` for none. Required (may be null).
    pub expires_at_millis: MaybeUndefined<i64>,
    /// Default false.
    pub is_public: Option<bool>,
    /// A user id or `me`.
    pub user_id: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateTeamApiKeyBody {
    pub description: String,
    /// Expiry in milliseconds since the epoch, or `null` for none. Required (may be null).
    pub expires_at_millis: MaybeUndefined<i64>,
    /// Default false.
    pub is_public: Option<bool>,
    pub team_id: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateApiKeyBody {
    pub description: Option<String>,
    /// Only `true`: revocation cannot be undone.
    pub revoked: Option<bool>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CheckApiKeyBody {
    /// The full key string.
    pub api_key: String,
}

/// The project must allow keys of this kind (checked before anything else).
fn enabled(auth: &RequestAuth, kind: &str) -> ApiResult<()> {
    let config = &auth.project().config;
    match kind {
        USER if !config.allow_user_api_keys => {
            Err(ApiError::bad_request("User API keys are not enabled for this project."))
        }
        TEAM if !config.allow_team_api_keys => {
            Err(ApiError::bad_request("Team API keys are not enabled for this project."))
        }
        _ => Ok(()),
    }
}

fn expiry(v: MaybeUndefined<i64>) -> ApiResult<Option<i64>> {
    match v {
        MaybeUndefined::Undefined => Err(KnownError::schema("body.expires_at_millis must be defined").into()),
        MaybeUndefined::Null => Ok(None),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

fn revoke(revoked: Option<bool>) -> ApiResult<bool> {
    match revoked {
        Some(false) => Err(KnownError::schema("body.revoked must be one of the following values: true").into()),
        other => Ok(other == Some(true)),
    }
}

impl ApiKeysApi {
    /// Clients manage their own user keys, and team keys of teams where they hold
    /// `$manage_api_keys` (others look like a missing key).
    async fn authorize(&self, auth: &RequestAuth, kind: &str, owner_id: &str) -> ApiResult<()> {
        if auth.access_type.is_server_or_higher() {
            return Ok(());
        }
        let me = signed_in(auth)?;
        if kind == USER {
            if me != owner_id {
                return Err(ApiError::plain(StatusCode::FORBIDDEN, "Clients can only manage their own API keys."));
            }
            return Ok(());
        }
        self.teams.require_permission(auth.project(), owner_id, &me, MANAGE_API_KEYS).await.map_err(|_| not_found())
    }

    /// Both kinds' create: authorize the owner, mint, show the key once.
    async fn create_key(
        &self,
        auth: &RequestAuth,
        kind: &'static str,
        owner_id: String,
        description: String,
        expires_at_millis: MaybeUndefined<i64>,
        is_public: Option<bool>,
    ) -> ApiResult<Json<CreatedApiKeyView>> {
        self.authorize(auth, kind, &owner_id).await?;
        let new = NewApiKey {
            kind,
            owner_id,
            description,
            expires_at: expiry(expires_at_millis)?,
            is_public: is_public.unwrap_or(false),
        };
        let (record, key) = self.keys.create(auth.project(), new).await?;
        Ok(Json(created_view(record, key)))
    }

    async fn list_keys(&self, auth: &RequestAuth, kind: &'static str, owner_id: String) -> ApiResult<Json<ApiKeyList>> {
        self.authorize(auth, kind, &owner_id).await?;
        let keys = self.keys.list(auth.project_id(), kind, owner_id).await?;
        Ok(Json(ApiKeyList { items: keys.into_iter().map(view).collect(), is_paginated: false }))
    }

    async fn update_key(
        &self,
        auth: &RequestAuth,
        kind: &'static str,
        id: &str,
        owner: Option<&str>,
        body: UpdateApiKeyBody,
    ) -> ApiResult<Json<ApiKeyView>> {
        let revoked = revoke(body.revoked)?;
        let key = self.read(auth, kind, id, owner).await?;
        Ok(Json(view(self.keys.update(auth.project_id(), kind, key.id, body.description, revoked).await?)))
    }

    /// A key by id; `owner` (the `user_id` / `team_id` query the SDK sends) must match it.
    async fn read(
        &self,
        auth: &RequestAuth,
        kind: &'static str,
        id: &str,
        owner: Option<&str>,
    ) -> ApiResult<ApiKeyRecord> {
        let id = uuid::Uuid::parse_str(id).map_err(|_| not_found())?.to_string();
        let key = self.keys.get(auth.project_id(), kind, &id).await?;
        if owner.is_some() && key.user_id.as_deref().or(key.team_id.as_deref()) != owner {
            return Err(not_found());
        }
        let owner = key.user_id.as_deref().or(key.team_id.as_deref()).unwrap_or_default();
        self.authorize(auth, kind, owner).await?;
        Ok(key)
    }
}

#[OpenApi(tag = "Tag::ApiKeys")]
impl ApiKeysApi {
    /// Creates a user API key (the project must allow them). The full key is in this response only.
    #[oai(path = "/user-api-keys", method = "post", operation_id = "create_user_api_key")]
    async fn create_user_key(
        &self,
        auth: ClientAuth,
        body: Json<CreateUserApiKeyBody>,
    ) -> ApiResult<Json<CreatedApiKeyView>> {
        let (auth, b) = (auth.0, body.0);
        enabled(&auth, USER)?;
        let user_id = auth.user_id_param(&b.user_id)?;
        self.create_key(&auth, USER, user_id, b.description, b.expires_at_millis, b.is_public).await
    }

    /// A user's API keys, newest first.
    #[oai(path = "/user-api-keys", method = "get", operation_id = "list_user_api_keys")]
    async fn list_user_keys(
        &self,
        auth: ClientAuth,
        /// A user id or `me` (required).
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<ApiKeyList>> {
        let auth = auth.0;
        enabled(&auth, USER)?;
        let user_id = user_id
            .0
            .ok_or_else(|| ApiError::from(KnownError::schema_message("user_id is required for user API keys")))?;
        let user_id = auth.user_id_param(&user_id)?;
        self.list_keys(&auth, USER, user_id).await
    }

    /// Checks a user API key: its owner, or why it is not valid.
    #[oai(path = "/user-api-keys/check", method = "post", operation_id = "check_user_api_key")]
    async fn check_user_key(&self, auth: ServerAuth, body: Json<CheckApiKeyBody>) -> ApiResult<Json<ApiKeyView>> {
        let auth = auth.0;
        enabled(&auth, USER)?;
        Ok(Json(view(self.keys.check(auth.project_id(), USER, body.0.api_key).await?)))
    }

    /// One user API key (without its secret).
    #[oai(path = "/user-api-keys/:api_key_id", method = "get", operation_id = "get_user_api_key")]
    async fn get_user_key(
        &self,
        auth: ClientAuth,
        api_key_id: Path<String>,
        /// The key's user (a user id or `me`), optional.
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<ApiKeyView>> {
        let auth = auth.0;
        enabled(&auth, USER)?;
        let owner = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        Ok(Json(view(self.read(&auth, USER, &api_key_id.0, owner.as_deref()).await?)))
    }

    /// Changes a user API key's description or revokes it.
    #[oai(path = "/user-api-keys/:api_key_id", method = "patch", operation_id = "update_user_api_key")]
    async fn update_user_key(
        &self,
        auth: ClientAuth,
        api_key_id: Path<String>,
        /// The key's user (a user id or `me`), optional.
        user_id: Query<Option<String>>,
        body: Json<UpdateApiKeyBody>,
    ) -> ApiResult<Json<ApiKeyView>> {
        let auth = auth.0;
        enabled(&auth, USER)?;
        let owner = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        self.update_key(&auth, USER, &api_key_id.0, owner.as_deref(), body.0).await
    }

    /// Creates a team API key (the project must allow them; clients need `$manage_api_keys`).
    /// The full key is in this response only.
    #[oai(path = "/team-api-keys", method = "post", operation_id = "create_team_api_key")]
    async fn create_team_key(
        &self,
        auth: ClientAuth,
        body: Json<CreateTeamApiKeyBody>,
    ) -> ApiResult<Json<CreatedApiKeyView>> {
        let (auth, b) = (auth.0, body.0);
        enabled(&auth, TEAM)?;
        let team_id = team_id_param("body.team_id", &b.team_id)?;
        self.create_key(&auth, TEAM, team_id, b.description, b.expires_at_millis, b.is_public).await
    }

    /// A team's API keys, newest first.
    #[oai(path = "/team-api-keys", method = "get", operation_id = "list_team_api_keys")]
    async fn list_team_keys(&self, auth: ClientAuth, team_id: Query<String>) -> ApiResult<Json<ApiKeyList>> {
        let auth = auth.0;
        enabled(&auth, TEAM)?;
        let team_id = team_id_param("query.team_id", &team_id.0)?;
        self.list_keys(&auth, TEAM, team_id).await
    }

    /// Checks a team API key: its team, or why it is not valid.
    #[oai(path = "/team-api-keys/check", method = "post", operation_id = "check_team_api_key")]
    async fn check_team_key(&self, auth: ServerAuth, body: Json<CheckApiKeyBody>) -> ApiResult<Json<ApiKeyView>> {
        let auth = auth.0;
        enabled(&auth, TEAM)?;
        Ok(Json(view(self.keys.check(auth.project_id(), TEAM, body.0.api_key).await?)))
    }

    /// One team API key (without its secret).
    #[oai(path = "/team-api-keys/:api_key_id", method = "get", operation_id = "get_team_api_key")]
    async fn get_team_key(
        &self,
        auth: ClientAuth,
        api_key_id: Path<String>,
        team_id: Query<String>,
    ) -> ApiResult<Json<ApiKeyView>> {
        let auth = auth.0;
        enabled(&auth, TEAM)?;
        let team_id = team_id_param("query.team_id", &team_id.0)?;
        Ok(Json(view(self.read(&auth, TEAM, &api_key_id.0, Some(&team_id)).await?)))
    }

    /// For credential scanners (no authentication): revokes a leaked secret key and e-mails its
    /// owners. Public keys are refused, expired ones need nothing.
    #[oai(path = "/integrations/credential-scanning/revoke", method = "post", operation_id = "revoke_leaked_api_key")]
    async fn revoke_leaked(&self, _auth: AnyAuth, body: Json<CheckApiKeyBody>) -> ApiResult<Json<Success>> {
        self.keys.revoke_leaked(body.0.api_key).await?;
        Ok(Success::ok())
    }

    /// Changes a team API key's description or revokes it.
    #[oai(path = "/team-api-keys/:api_key_id", method = "patch", operation_id = "update_team_api_key")]
    async fn update_team_key(
        &self,
        auth: ClientAuth,
        api_key_id: Path<String>,
        team_id: Query<String>,
        body: Json<UpdateApiKeyBody>,
    ) -> ApiResult<Json<ApiKeyView>> {
        let auth = auth.0;
        enabled(&auth, TEAM)?;
        let team_id = team_id_param("query.team_id", &team_id.0)?;
        self.update_key(&auth, TEAM, &api_key_id.0, Some(&team_id), body.0).await
    }
}

//! The config API of the admin SDK (`getConfig`, `updateConfig`, `pushConfig`, …): the effective
//! configuration in upstream's rendered shape, and what each override level last wrote. Both it
//! and the admin PATCH of `/internal/projects/current` change the same configuration (see
//! [`crate::projects::config_overrides`]).

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::{AccessType, AdminAuth, ServerAuth};
use crate::projects::config_overrides::{self, render, OverrideWrite, LEVELS};
use crate::projects::ProjectsService;
use crate::web::{Success, Tag};

pub struct ConfigApi {
    pub projects: Arc<ProjectsService>,
}

/// A configuration as a JSON string (the SDK parses it).
#[derive(Object)]
pub struct ConfigString {
    /// JSON object: upstream's config paths (`auth.password.allowSignIn`, `domains.trustedDomains.<id>.baseUrl`, …).
    pub config_string: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ReplaceOverride {
    /// The level's new override: a JSON object of dotted paths or nested objects.
    pub config_string: String,
    /// Where a pushed branch config comes from (`{"type": "pushed-from-github", …}`,
    /// `{"type": "pushed-from-unknown"}` or `{"type": "unlinked"}`); kept as given.
    pub source: Option<Value>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct PatchOverride {
    /// A JSON object merged into the level's override: dotted paths or nested objects; `null`
    /// removes a setting (back to its default).
    pub config_override_string: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct ResetKeys {
    /// Dotted paths to return to their defaults.
    pub keys: Vec<String>,
}

#[derive(Object)]
pub struct ConfigSource {
    /// The branch's pushed-config source; `{"type": "unlinked"}` when none.
    pub source: Value,
}

fn level(value: &str) -> ApiResult<&'static str> {
    LEVELS.iter().copied().find(|l| *l == value).ok_or_else(|| {
        KnownError::schema(&format!("params.level must be one of the following values: {}", LEVELS.join(", "))).into()
    })
}

/// Upstream's rule: server keys reach only the branch level.
fn check_level_access(auth: &ServerAuth, level: &str) -> ApiResult<()> {
    if auth.0.access_type == AccessType::Server && level != "branch" {
        return Err(ApiError::plain(StatusCode::FORBIDDEN, "Server access can only manage branch config overrides."));
    }
    Ok(())
}

fn parse_object(text: &str, field: &str) -> ApiResult<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(KnownError::schema(&format!("body.{field} must be a JSON object")).into()),
        Err(_) => Err(ApiError::bad_request("Invalid config JSON")),
    }
}

#[OpenApi(tag = "Tag::Projects")]
impl ConfigApi {
    /// The project's effective configuration (admin only).
    #[oai(path = "/internal/config", method = "get", operation_id = "get_config")]
    async fn get_config(&self, auth: AdminAuth) -> ApiResult<Json<ConfigString>> {
        Ok(Json(ConfigString { config_string: render(&auth.0.project().config).to_string() }))
    }

    /// What the override `level` (`project`, `branch` or `environment`) last received, as a
    /// nested object. Server keys may read only `branch`.
    #[oai(path = "/internal/config/override/:level", method = "get", operation_id = "get_config_override")]
    async fn get_override(&self, auth: ServerAuth, level: Path<String>) -> ApiResult<Json<ConfigString>> {
        let level = self::level(&level.0)?;
        check_level_access(&auth, level)?;
        let (config, _) = self.projects.config_override(auth.0.project_id(), level).await?;
        Ok(Json(ConfigString { config_string: config.to_string() }))
    }

    /// Replaces the override of `level`: settings the old one set and the new one does not return
    /// to their defaults. Invalid settings are a `SCHEMA_ERROR` naming the path.
    #[oai(path = "/internal/config/override/:level", method = "put", operation_id = "replace_config_override")]
    async fn replace_override(
        &self,
        auth: ServerAuth,
        level: Path<String>,
        body: Json<ReplaceOverride>,
    ) -> ApiResult<Json<Success>> {
        let level = self::level(&level.0)?;
        check_level_access(&auth, level)?;
        let config = parse_object(&body.0.config_string, "config_string")?;
        if level == "branch" && body.0.source.is_none() {
            return Err(ApiError::bad_request("source is required for branch level config"));
        }
        let source = body.0.source;
        config_overrides::write(&self.projects, auth.0.project_id(), level, OverrideWrite::Replace { config, source })
            .await?;
        Ok(Success::ok())
    }

    /// Merges settings into the override of `level` (what `updateConfig` sends).
    #[oai(path = "/internal/config/override/:level", method = "patch", operation_id = "update_config_override")]
    async fn patch_override(
        &self,
        auth: ServerAuth,
        level: Path<String>,
        body: Json<PatchOverride>,
    ) -> ApiResult<Json<Success>> {
        let level = self::level(&level.0)?;
        check_level_access(&auth, level)?;
        let patch = parse_object(&body.0.config_override_string, "config_override_string")?;
        config_overrides::write(&self.projects, auth.0.project_id(), level, OverrideWrite::Merge(patch)).await?;
        Ok(Success::ok())
    }

    /// Returns the given paths of `level` to their defaults.
    #[oai(
        path = "/internal/config/override/:level/reset-keys",
        method = "post",
        operation_id = "reset_config_override_keys"
    )]
    async fn reset_keys(
        &self,
        auth: ServerAuth,
        level: Path<String>,
        body: Json<ResetKeys>,
    ) -> ApiResult<Json<Success>> {
        let level = self::level(&level.0)?;
        check_level_access(&auth, level)?;
        let keys = body.0.keys;
        config_overrides::write(&self.projects, auth.0.project_id(), level, OverrideWrite::ResetKeys(keys)).await?;
        Ok(Success::ok())
    }

    /// Where the branch config was pushed from.
    #[oai(path = "/internal/config/source", method = "get", operation_id = "get_config_source")]
    async fn get_source(&self, auth: AdminAuth) -> ApiResult<Json<ConfigSource>> {
        let (_, source) = self.projects.config_override(auth.0.project_id(), "branch").await?;
        Ok(Json(ConfigSource { source: source.unwrap_or_else(|| serde_json::json!({ "type": "unlinked" })) }))
    }

    /// Unlinks the branch config from its pushed source (the settings stay).
    #[oai(path = "/internal/config/source", method = "delete", operation_id = "unlink_config_source")]
    async fn unlink_source(&self, auth: AdminAuth) -> ApiResult<Json<Success>> {
        config_overrides::write(&self.projects, auth.0.project_id(), "branch", OverrideWrite::Unlink).await?;
        Ok(Success::ok())
    }
}

//! Permission definitions (`/team-permission-definitions`, `/project-permission-definitions`,
//! admin) and project permission grants (`/project-permissions`) — spec 20 §3.2, §3.6.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::error::{ApiError, ApiResult};
use crate::permissions::service::{definitions, Definition, DefinitionInput};
use crate::permissions::{parse_custom_id, parse_id, PermissionsService, PROJECT_SCOPE, TEAM_SCOPE};
use crate::projects::access::{AdminAuth, ClientAuth, RequestAuth, ServerAuth};
use crate::web::{Success, Tag};

pub struct PermissionsApi {
    pub permissions: Arc<PermissionsService>,
}

/// A permission definition.
#[derive(Object)]
pub struct PermissionDefinitionView {
    /// `[a-z0-9_:]+`, or a `$` system permission.
    pub id: String,
    #[oai(skip_serializing_if_is_none)]
    pub description: Option<String>,
    /// Permissions this one includes, sorted.
    pub contained_permission_ids: Vec<String>,
}

fn definition_view(d: Definition) -> PermissionDefinitionView {
    PermissionDefinitionView {
        id: d.id,
        description: d.description,
        contained_permission_ids: d.contained_permission_ids,
    }
}

#[derive(Object)]
pub struct PermissionDefinitionList {
    pub items: Vec<PermissionDefinitionView>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateDefinitionBody {
    /// `[a-z0-9_:]+`, unique across team and project permissions.
    pub id: String,
    pub description: Option<String>,
    /// Ids of same-scope definitions (team permissions may also contain `$` system ones).
    pub contained_permission_ids: Option<Vec<String>>,
}

/// Replaces the definition: an omitted description is removed, omitted contained ids become none.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateDefinitionBody {
    /// A new id renames the permission in every definition and grant.
    pub id: Option<String>,
    pub description: Option<String>,
    pub contained_permission_ids: Option<Vec<String>>,
}

#[derive(ApiResponse)]
pub enum CreatedDefinition {
    #[oai(status = 201)]
    Created(Json<PermissionDefinitionView>),
}

/// A project permission a user holds.
#[derive(Object)]
pub struct ProjectPermissionView {
    pub id: String,
    pub user_id: String,
}

#[derive(Object)]
pub struct ProjectPermissionList {
    pub items: Vec<ProjectPermissionView>,
    pub is_paginated: bool,
}

#[derive(ApiResponse)]
pub enum CreatedProjectPermission {
    #[oai(status = 201)]
    Created(Json<ProjectPermissionView>),
}

fn contained(ids: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    ids.unwrap_or_default().iter().map(|id| parse_id("body.contained_permission_ids", id)).collect()
}

fn create_input(b: CreateDefinitionBody) -> ApiResult<DefinitionInput> {
    Ok(DefinitionInput {
        id: parse_custom_id("body.id", &b.id)?,
        description: b.description,
        contained_permission_ids: contained(b.contained_permission_ids)?,
    })
}

fn update_input(current: &str, b: UpdateDefinitionBody) -> ApiResult<DefinitionInput> {
    Ok(DefinitionInput {
        id: match b.id {
            Some(id) => parse_custom_id("body.id", &id)?,
            None => current.to_string(),
        },
        description: b.description,
        contained_permission_ids: contained(b.contained_permission_ids)?,
    })
}

fn list(auth: &RequestAuth, scope: &str) -> Json<PermissionDefinitionList> {
    let items = definitions(&auth.project().config, scope).into_iter().map(definition_view).collect();
    Json(PermissionDefinitionList { items, is_paginated: false })
}

/// Lists of permissions a client may read are its own only (spec 20 §3.3, §3.6).
pub fn own_permissions_only(auth: &RequestAuth, user_id: Option<&str>) -> ApiResult<()> {
    if auth.access_type.is_server_or_higher() {
        return Ok(());
    }
    let me =
        auth.user_id().ok_or_else(|| ApiError::from(crate::error::KnownError::cannot_get_own_user_without_user()))?;
    if user_id != Some(me) {
        return Err(ApiError::plain(
            StatusCode::FORBIDDEN,
            "Clients can only list their own permissions: user_id must be \"me\" or the current user's id.",
        ));
    }
    Ok(())
}

#[OpenApi(tag = "Tag::Permissions")]
impl PermissionsApi {
    /// Team permission definitions, including the six `$` system permissions, sorted by id.
    #[oai(path = "/team-permission-definitions", method = "get", operation_id = "list_team_permission_definitions")]
    async fn list_team_definitions(&self, auth: AdminAuth) -> ApiResult<Json<PermissionDefinitionList>> {
        Ok(list(&auth.0, TEAM_SCOPE))
    }

    /// Defines a team permission.
    #[oai(path = "/team-permission-definitions", method = "post", operation_id = "create_team_permission_definition")]
    async fn create_team_definition(
        &self,
        auth: AdminAuth,
        body: Json<CreateDefinitionBody>,
    ) -> ApiResult<CreatedDefinition> {
        let d = self.permissions.create_definition(auth.0.project_id(), TEAM_SCOPE, create_input(body.0)?).await?;
        Ok(CreatedDefinition::Created(Json(definition_view(d))))
    }

    /// Replaces a team permission definition (and renames it everywhere when `id` changes).
    #[oai(
        path = "/team-permission-definitions/:permission_id",
        method = "patch",
        operation_id = "update_team_permission_definition"
    )]
    async fn update_team_definition(
        &self,
        auth: AdminAuth,
        permission_id: Path<String>,
        body: Json<UpdateDefinitionBody>,
    ) -> ApiResult<Json<PermissionDefinitionView>> {
        let id = parse_id("params.permission_id", &permission_id.0)?;
        let input = update_input(&id, body.0)?;
        Ok(Json(definition_view(self.permissions.update_definition(auth.0.project_id(), TEAM_SCOPE, id, input).await?)))
    }

    /// Deletes a team permission definition with all its grants.
    #[oai(
        path = "/team-permission-definitions/:permission_id",
        method = "delete",
        operation_id = "delete_team_permission_definition"
    )]
    async fn delete_team_definition(&self, auth: AdminAuth, permission_id: Path<String>) -> ApiResult<Json<Success>> {
        let id = parse_id("params.permission_id", &permission_id.0)?;
        self.permissions.delete_definition(auth.0.project_id(), TEAM_SCOPE, id).await?;
        Ok(Success::ok())
    }

    /// Project permission definitions, sorted by id.
    #[oai(
        path = "/project-permission-definitions",
        method = "get",
        operation_id = "list_project_permission_definitions"
    )]
    async fn list_project_definitions(&self, auth: AdminAuth) -> ApiResult<Json<PermissionDefinitionList>> {
        Ok(list(&auth.0, PROJECT_SCOPE))
    }

    /// Defines a project permission.
    #[oai(
        path = "/project-permission-definitions",
        method = "post",
        operation_id = "create_project_permission_definition"
    )]
    async fn create_project_definition(
        &self,
        auth: AdminAuth,
        body: Json<CreateDefinitionBody>,
    ) -> ApiResult<CreatedDefinition> {
        let d = self.permissions.create_definition(auth.0.project_id(), PROJECT_SCOPE, create_input(body.0)?).await?;
        Ok(CreatedDefinition::Created(Json(definition_view(d))))
    }

    /// Replaces a project permission definition (and renames it everywhere when `id` changes).
    #[oai(
        path = "/project-permission-definitions/:permission_id",
        method = "patch",
        operation_id = "update_project_permission_definition"
    )]
    async fn update_project_definition(
        &self,
        auth: AdminAuth,
        permission_id: Path<String>,
        body: Json<UpdateDefinitionBody>,
    ) -> ApiResult<Json<PermissionDefinitionView>> {
        let id = parse_id("params.permission_id", &permission_id.0)?;
        let input = update_input(&id, body.0)?;
        Ok(Json(definition_view(
            self.permissions.update_definition(auth.0.project_id(), PROJECT_SCOPE, id, input).await?,
        )))
    }

    /// Deletes a project permission definition with all its grants.
    #[oai(
        path = "/project-permission-definitions/:permission_id",
        method = "delete",
        operation_id = "delete_project_permission_definition"
    )]
    async fn delete_project_definition(
        &self,
        auth: AdminAuth,
        permission_id: Path<String>,
    ) -> ApiResult<Json<Success>> {
        let id = parse_id("params.permission_id", &permission_id.0)?;
        self.permissions.delete_definition(auth.0.project_id(), PROJECT_SCOPE, id).await?;
        Ok(Success::ok())
    }

    /// Project permissions users hold, sorted by user then id; with `recursive=true` including
    /// the ones contained in them. Clients may list their own only.
    #[oai(path = "/project-permissions", method = "get", operation_id = "list_project_permissions")]
    async fn list_project_permissions(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
        permission_id: Query<Option<String>>,
        /// Include permissions held through nesting.
        recursive: Query<Option<bool>>,
    ) -> ApiResult<Json<ProjectPermissionList>> {
        let auth = auth.0;
        let user_id = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        own_permissions_only(&auth, user_id.as_deref())?;
        let permission_id = permission_id.0.map(|p| parse_id("query.permission_id", &p)).transpose()?;
        let items = self
            .permissions
            .list_project(auth.project(), user_id, permission_id, recursive.0.unwrap_or(false))
            .await?
            .into_iter()
            .map(|(user_id, id)| ProjectPermissionView { id, user_id })
            .collect();
        Ok(Json(ProjectPermissionList { items, is_paginated: false }))
    }

    /// Grants a project permission (idempotent).
    #[oai(
        path = "/project-permissions/:user_id/:permission_id",
        method = "post",
        operation_id = "grant_project_permission"
    )]
    async fn grant_project_permission(
        &self,
        auth: ServerAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        permission_id: Path<String>,
    ) -> ApiResult<CreatedProjectPermission> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let id = parse_id("params.permission_id", &permission_id.0)?;
        self.permissions.grant_project(auth.project(), user_id.clone(), id.clone()).await?;
        Ok(CreatedProjectPermission::Created(Json(ProjectPermissionView { id, user_id })))
    }

    /// Revokes a directly granted project permission.
    #[oai(
        path = "/project-permissions/:user_id/:permission_id",
        method = "delete",
        operation_id = "revoke_project_permission"
    )]
    async fn revoke_project_permission(
        &self,
        auth: ServerAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        permission_id: Path<String>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let id = parse_id("params.permission_id", &permission_id.0)?;
        self.permissions.revoke_project(auth.project(), user_id, id).await?;
        Ok(Success::ok())
    }
}

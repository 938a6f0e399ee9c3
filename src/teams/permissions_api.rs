//! `/team-permissions` (spec 20 §3.3): who holds which team permission.

use std::sync::Arc;

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::error::ApiResult;
use crate::permissions::api::own_permissions_only;
use crate::permissions::parse_id;
use crate::projects::access::{ClientAuth, ServerAuth};
use crate::teams::TeamsService;
use crate::web::uuid_param as team_id_param;
use crate::web::{Success, Tag};

pub struct TeamPermissionsApi {
    pub teams: Arc<TeamsService>,
}

/// A team permission a member holds.
#[derive(Object)]
pub struct TeamPermissionView {
    pub id: String,
    pub team_id: String,
    pub user_id: String,
}

#[derive(Object)]
pub struct TeamPermissionList {
    pub items: Vec<TeamPermissionView>,
    pub is_paginated: bool,
}

#[derive(ApiResponse)]
pub enum CreatedTeamPermission {
    #[oai(status = 201)]
    Created(Json<TeamPermissionView>),
}

#[OpenApi(tag = "Tag::Permissions")]
impl TeamPermissionsApi {
    /// Team permissions members hold, sorted by team, user and id; with `recursive=true`
    /// including the ones contained in them. Clients may list their own only.
    #[oai(path = "/team-permissions", method = "get", operation_id = "list_team_permissions")]
    async fn list(
        &self,
        auth: ClientAuth,
        team_id: Query<Option<String>>,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
        permission_id: Query<Option<String>>,
        /// Include permissions held through nesting.
        recursive: Query<Option<bool>>,
    ) -> ApiResult<Json<TeamPermissionList>> {
        let auth = auth.0;
        let user_id = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        own_permissions_only(&auth, user_id.as_deref())?;
        let team_id = team_id.0.map(|t| team_id_param("query.team_id", &t)).transpose()?;
        let permission_id = permission_id.0.map(|p| parse_id("query.permission_id", &p)).transpose()?;
        let items = self
            .teams
            .list_permissions(auth.project(), team_id, user_id, permission_id, recursive.0.unwrap_or(false))
            .await?
            .into_iter()
            .map(|p| TeamPermissionView { id: p.id, team_id: p.team_id, user_id: p.user_id })
            .collect();
        Ok(Json(TeamPermissionList { items, is_paginated: false }))
    }

    /// Grants a team permission to a member (idempotent).
    #[oai(
        path = "/team-permissions/:team_id/:user_id/:permission_id",
        method = "post",
        operation_id = "grant_team_permission"
    )]
    async fn grant(
        &self,
        auth: ServerAuth,
        team_id: Path<String>,
        /// A user id or `me`.
        user_id: Path<String>,
        permission_id: Path<String>,
    ) -> ApiResult<CreatedTeamPermission> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        let id = parse_id("params.permission_id", &permission_id.0)?;
        self.teams.grant_permission(auth.project(), team_id.clone(), user_id.clone(), id.clone()).await?;
        Ok(CreatedTeamPermission::Created(Json(TeamPermissionView { id, team_id, user_id })))
    }

    /// Revokes a directly granted team permission.
    #[oai(
        path = "/team-permissions/:team_id/:user_id/:permission_id",
        method = "delete",
        operation_id = "revoke_team_permission"
    )]
    async fn revoke(
        &self,
        auth: ServerAuth,
        team_id: Path<String>,
        /// A user id or `me`.
        user_id: Path<String>,
        permission_id: Path<String>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        let id = parse_id("params.permission_id", &permission_id.0)?;
        self.teams.revoke_permission(auth.project(), team_id, user_id, id).await?;
        Ok(Success::ok())
    }
}

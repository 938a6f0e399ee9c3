//! `GET|POST /internal/projects` and `POST /internal/projects/transfer`: a signed-in user of
//! `internal` (client access) and the projects its teams own.

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::error::{ApiError, ApiResult, KnownError};
use crate::owned_projects::OwnedProjectsService;
use crate::projects::access::{ClientAuth, RequestAuth};
use crate::projects::api::{admin_view, AdminProject, ProjectConfigPatch, ProjectPatch};
use crate::projects::INTERNAL_PROJECT_ID;
use crate::web::{uuid_param, Tag};

pub struct OwnedProjectsApi {
    pub owned: Arc<OwnedProjectsService>,
}

/// `POST /internal/projects`: the admin project fields, plus the owner team.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateProjectBody {
    pub display_name: String,
    pub description: MaybeUndefined<String>,
    /// A team of `internal` the caller is a member of; default: the caller's selected team, or
    /// else a new team of the caller's.
    pub owner_team_id: Option<String>,
    pub is_production_mode: Option<bool>,
    /// Accepted for the SDK's sake; stackd has no separate development environments.
    pub is_development_environment: Option<bool>,
    pub onboarding_status: Option<String>,
    pub logo_url: MaybeUndefined<String>,
    pub logo_full_url: MaybeUndefined<String>,
    pub logo_dark_mode_url: MaybeUndefined<String>,
    pub logo_full_dark_mode_url: MaybeUndefined<String>,
    /// Settings over those of a typical new project.
    pub config: Option<ProjectConfigPatch>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct TransferProjectBody {
    pub project_id: String,
    /// A team of `internal` the caller is a member of.
    pub new_team_id: String,
}

/// `{"success": "true"}` (a string, as upstream answers).
#[derive(Object)]
pub struct TransferDone {
    pub success: String,
}

#[derive(Object)]
pub struct OwnedProjectList {
    pub items: Vec<AdminProject>,
    pub is_paginated: bool,
}

#[derive(ApiResponse)]
pub enum CreatedProject {
    #[oai(status = 201)]
    Created(Json<AdminProject>),
}

/// Only `internal`'s signed-in users own projects.
fn dashboard_user(auth: &RequestAuth) -> ApiResult<String> {
    let user = auth.user_id().ok_or_else(|| ApiError::from(KnownError::user_authentication_required()))?;
    if auth.project_id() != INTERNAL_PROJECT_ID {
        return Err(KnownError::new(
            "EXPECTED_INTERNAL_PROJECT",
            401,
            "This endpoint is served for the internal project only.",
        )
        .into());
    }
    Ok(user.to_string())
}

#[OpenApi(tag = "Tag::Projects")]
impl OwnedProjectsApi {
    /// The projects owned by the signed-in dashboard user's teams (`internal` only).
    #[oai(path = "/internal/projects", method = "get", operation_id = "list_owned_projects")]
    async fn list(&self, auth: ClientAuth) -> ApiResult<Json<OwnedProjectList>> {
        let user = dashboard_user(&auth.0)?;
        let projects = self.owned.list(user).await?;
        Ok(Json(OwnedProjectList { items: projects.iter().map(admin_view).collect(), is_paginated: false }))
    }

    /// Creates a project owned by one of the signed-in dashboard user's teams (`internal` only).
    #[oai(path = "/internal/projects", method = "post", operation_id = "create_owned_project")]
    async fn create(&self, auth: ClientAuth, body: Json<CreateProjectBody>) -> ApiResult<CreatedProject> {
        let (auth, b) = (auth.0, body.0);
        let user = dashboard_user(&auth)?;
        let owner = b.owner_team_id.map(|t| uuid_param("body.owner_team_id", &t)).transpose()?;
        let patch = ProjectPatch {
            display_name: None,
            description: b.description,
            is_production_mode: b.is_production_mode,
            onboarding_status: b.onboarding_status,
            logo_url: b.logo_url,
            logo_full_url: b.logo_full_url,
            logo_dark_mode_url: b.logo_dark_mode_url,
            logo_full_dark_mode_url: b.logo_full_dark_mode_url,
            config: b.config,
        };
        let project = self.owned.create(auth.project(), user, b.display_name, owner, patch).await?;
        Ok(CreatedProject::Created(Json(admin_view(&project))))
    }

    /// Gives a project to another team: the caller needs `team_admin` in its owner team and must
    /// be a member of the new one.
    #[oai(path = "/internal/projects/transfer", method = "post", operation_id = "transfer_project")]
    async fn transfer(&self, auth: ClientAuth, body: Json<TransferProjectBody>) -> ApiResult<Json<TransferDone>> {
        let (auth, b) = (auth.0, body.0);
        let user = dashboard_user(&auth)?;
        let team = uuid_param("body.new_team_id", &b.new_team_id)?;
        self.owned.transfer(auth.project(), user, b.project_id, team).await?;
        Ok(Json(TransferDone { success: "true".into() }))
    }
}

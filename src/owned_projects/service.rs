//! Rules of owned projects: who may list, create and transfer them.

use std::sync::Arc;

use crate::error::{ApiError, ApiResult, KnownError};
use crate::infra::Infra;
use crate::projects::api::{apply_patch, ProjectPatch};
use crate::projects::{self, Project, ProjectConfig, INTERNAL_PROJECT_ID};
use crate::teams::service::{require_member, require_team};
use crate::teams::{personal_team_name, TeamChanges, TeamsService};
use crate::users::store as user_store;

/// The team permission a user needs (through nesting) in a project's owner team to give the
/// project away.
const TRANSFER_PERMISSION: &str = "team_admin";

pub struct OwnedProjectsService {
    infra: Arc<Infra>,
    teams: Arc<TeamsService>,
}

pub fn project_not_found(project_id: &str) -> ApiError {
    KnownError::new("PROJECT_NOT_FOUND", 404, format!("Project {project_id} does not exist."))
        .with_details(serde_json::json!({ "project_id": project_id }))
        .into()
}

impl OwnedProjectsService {
    pub fn new(infra: Arc<Infra>, teams: Arc<TeamsService>) -> Self {
        OwnedProjectsService { infra, teams }
    }

    /// The projects owned by the user's teams, oldest first.
    pub async fn list(&self, user_id: String) -> ApiResult<Vec<Project>> {
        self.infra.db.read(move |c| projects::service::owned_by_member(c, &user_id)).await
    }

    /// Creates a project owned by `owner_team_id` (a team of `internal` the user is a member of),
    /// or, when none is given, by the user's selected team, or else a new team of the user's.
    /// New projects get the settings of a typical new project (spec 00 §6.3), then `patch`.
    pub async fn create(
        &self,
        internal: &Project,
        user_id: String,
        display_name: String,
        owner_team_id: Option<String>,
        patch: ProjectPatch,
    ) -> ApiResult<Project> {
        let mut project = projects::service::new_owned_project(&display_name, ProjectConfig::new_project(), None);
        apply_patch(&mut project, patch)?;
        let (teams, internal) = (self.teams.clone(), internal.clone());
        self.infra
            .db
            .write(move |tx| {
                let owner = match owner_team_id {
                    Some(team_id) => {
                        require_member(tx, INTERNAL_PROJECT_ID, &team_id, &user_id)?;
                        team_id
                    }
                    None => {
                        let user = user_store::require(tx, INTERNAL_PROJECT_ID, &user_id)?;
                        match user.selected_team_id {
                            Some(team) => team,
                            None => {
                                let name =
                                    personal_team_name(user.display_name.as_deref(), user.primary_email.as_deref());
                                let changes = TeamChanges { display_name: Some(name), ..Default::default() };
                                teams.create_in(tx, &internal, changes, Some(&user_id))?.id
                            }
                        }
                    }
                };
                project.owner_team_id = Some(owner);
                projects::service::insert_in(tx, &project)?;
                Ok(project)
            })
            .await
    }

    /// Gives a project to another team: the user needs `team_admin` in the current owner team and
    /// membership in the new one.
    pub async fn transfer(
        &self,
        internal: &Project,
        user_id: String,
        project_id: String,
        new_team_id: String,
    ) -> ApiResult<()> {
        let internal = internal.clone();
        self.infra
            .db
            .write(move |tx| {
                let mut project =
                    projects::store::load(tx, &project_id)?.ok_or_else(|| project_not_found(&project_id))?;
                let Some(owner) = project.owner_team_id.clone() else {
                    return Err(ApiError::bad_request("The project has no owner team, so it cannot be transferred."));
                };
                crate::teams::service::require_permission(tx, &internal, &owner, &user_id, TRANSFER_PERMISSION)?;
                require_team(tx, INTERNAL_PROJECT_ID, &new_team_id)?;
                require_member(tx, INTERNAL_PROJECT_ID, &new_team_id, &user_id)?;
                project.owner_team_id = Some(new_team_id);
                projects::store::update(tx, &project)
            })
            .await
    }
}

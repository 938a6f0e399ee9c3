//! `/teams` and `/team-memberships` (spec 20 §1, §2.1–§2.2).

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi, Union};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, KnownError};
use crate::images::{parse_image_input, ImageInput};
use crate::permissions::{DELETE_TEAM, REMOVE_MEMBERS, UPDATE_TEAM};
use crate::projects::access::{ClientAuth, RequestAuth, ServerAuth};
use crate::teams::{ClientTeam, ServerTeam, TeamChanges, TeamRecord, TeamsService};
use crate::web::{maybe, uuid_param as team_id_param, Success, Tag};

pub struct TeamsApi {
    pub teams: Arc<TeamsService>,
}

/// A team: the server view for server and admin access, the client view otherwise.
#[derive(Union)]
pub enum TeamView {
    Server(ServerTeam),
    Client(ClientTeam),
}

pub fn team_view(auth: &RequestAuth, team: &TeamRecord) -> TeamView {
    if auth.access_type.is_server_or_higher() {
        TeamView::Server(team.to_server())
    } else {
        TeamView::Client(team.to_client())
    }
}

#[derive(Object)]
pub struct TeamList {
    pub items: Vec<TeamView>,
    pub is_paginated: bool,
}

/// `POST /teams`. `client_read_only_metadata` and `server_metadata` need server access.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateTeamBody {
    pub display_name: String,
    /// Clients: a base64 image (`data:image/...;base64,...`); servers may also give an http(s) URL.
    pub profile_image_url: Option<String>,
    pub client_metadata: Option<Value>,
    /// Server access only.
    pub client_read_only_metadata: Option<Value>,
    /// Server access only.
    pub server_metadata: Option<Value>,
    /// The first member (a user id or `me`); it gets the team-creator default permissions.
    /// Clients may only name themselves, and default to themselves.
    pub creator_user_id: Option<String>,
}

/// `PATCH /teams/{team_id}`: every field optional; `null` clears.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateTeamBody {
    pub display_name: Option<String>,
    pub profile_image_url: MaybeUndefined<String>,
    pub client_metadata: MaybeUndefined<Value>,
    /// Server access only.
    pub client_read_only_metadata: MaybeUndefined<Value>,
    /// Server access only.
    pub server_metadata: MaybeUndefined<Value>,
}

#[derive(ApiResponse)]
pub enum CreatedTeam {
    #[oai(status = 201)]
    Created(Json<TeamView>),
}

/// A membership.
#[derive(Object)]
pub struct TeamMembershipView {
    pub team_id: String,
    pub user_id: String,
}

#[derive(ApiResponse)]
pub enum CreatedMembership {
    #[oai(status = 201)]
    Created(Json<TeamMembershipView>),
}

/// Fields only servers may write are unknown to client bodies (upstream's schema).
pub fn server_only(auth: &RequestAuth, fields: &[(&str, bool)]) -> ApiResult<()> {
    if auth.access_type.is_server_or_higher() {
        return Ok(());
    }
    let given: Vec<&str> = fields.iter().filter(|(_, present)| *present).map(|(name, _)| *name).collect();
    if given.is_empty() {
        Ok(())
    } else {
        Err(KnownError::schema(&format!("body contains unknown properties: {}", given.join(", "))).into())
    }
}

fn image(auth: &RequestAuth, url: Option<String>) -> ApiResult<Option<ImageInput>> {
    url.filter(|u| !u.is_empty()).map(|u| parse_image_input(&u, auth.access_type.is_server_or_higher())).transpose()
}

/// The signed-in user of a client request (401 USER_AUTHENTICATION_REQUIRED without one).
pub fn signed_in(auth: &RequestAuth) -> ApiResult<String> {
    auth.user_id().map(String::from).ok_or_else(|| KnownError::user_authentication_required().into())
}

#[OpenApi(tag = "Tag::Teams")]
impl TeamsApi {
    /// Teams, oldest first: of one user (clients: their own, `user_id=me`), or with server access
    /// all of the project's.
    #[oai(path = "/teams", method = "get", operation_id = "list_teams")]
    async fn list(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<TeamList>> {
        let auth = auth.0;
        let user_id = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        if !auth.access_type.is_server_or_higher() {
            let me = auth.user_id().ok_or_else(|| ApiError::from(KnownError::cannot_get_own_user_without_user()))?;
            if user_id.as_deref() != Some(me) {
                return Err(ApiError::plain(
                    StatusCode::FORBIDDEN,
                    "Clients can only list their own teams: user_id must be \"me\" or the current user's id.",
                ));
            }
        }
        let teams = self.teams.list(auth.project_id(), user_id).await?;
        Ok(Json(TeamList { items: teams.iter().map(|t| team_view(&auth, t)).collect(), is_paginated: false }))
    }

    /// Creates a team. A client needs the project's client team creation setting and becomes
    /// the team's creator.
    #[oai(path = "/teams", method = "post", operation_id = "create_team")]
    async fn create(
        &self,
        auth: ClientAuth,
        body: Json<CreateTeamBody>,
        /// Deprecated: `true` makes the signed-in user the creator; use `creator_user_id`.
        add_current_user: Query<Option<bool>>,
    ) -> ApiResult<CreatedTeam> {
        let (auth, b) = (auth.0, body.0);
        server_only(
            &auth,
            &[
                ("client_read_only_metadata", b.client_read_only_metadata.is_some()),
                ("server_metadata", b.server_metadata.is_some()),
            ],
        )?;
        let client = !auth.access_type.is_server_or_higher();
        if client {
            signed_in(&auth)?;
            if !auth.project().config.client_team_creation_enabled {
                return Err(ApiError::plain(
                    StatusCode::FORBIDDEN,
                    "Client team creation is disabled for this project",
                ));
            }
        }
        let profile_image_url = image(&auth, b.profile_image_url)?;
        if b.creator_user_id.is_some() && add_current_user.0.is_some() {
            return Err(ApiError::bad_request(
                "Use creator_user_id only: add_current_user is deprecated and cannot be combined with it.",
            ));
        }
        let creator = match (b.creator_user_id, add_current_user.0) {
            (Some(c), _) => Some(auth.user_id_param(&c)?),
            (None, Some(true)) => Some(auth.user_id().map(String::from).ok_or_else(|| {
                ApiError::plain(StatusCode::UNAUTHORIZED, "Sign in to create a team with the current user as a member.")
            })?),
            (None, _) if client => auth.user_id().map(String::from),
            (None, _) => None,
        };
        if client && creator.as_deref() != auth.user_id() {
            return Err(ApiError::plain(
                StatusCode::FORBIDDEN,
                "Clients can only create teams as themselves: set creator_user_id to 'me'.",
            ));
        }
        let changes = TeamChanges {
            display_name: Some(b.display_name),
            profile_image_url: Some(profile_image_url),
            client_metadata: Some(b.client_metadata),
            client_read_only_metadata: Some(b.client_read_only_metadata),
            server_metadata: Some(b.server_metadata),
        };
        let team = self.teams.create(auth.project(), changes, creator).await?;
        Ok(CreatedTeam::Created(Json(team_view(&auth, &team))))
    }

    /// One team. Clients must be members.
    #[oai(path = "/teams/:team_id", method = "get", operation_id = "get_team")]
    async fn get(&self, auth: ClientAuth, team_id: Path<String>) -> ApiResult<Json<TeamView>> {
        let auth = auth.0;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        if !auth.access_type.is_server_or_higher() {
            let me = signed_in(&auth)?;
            self.teams.require_member(auth.project_id(), &team_id, &me).await?;
        }
        let team = self.teams.get(auth.project_id(), &team_id).await?;
        Ok(Json(team_view(&auth, &team)))
    }

    /// Updates a team. Clients need `$update_team`.
    #[oai(path = "/teams/:team_id", method = "patch", operation_id = "update_team")]
    async fn update(
        &self,
        auth: ClientAuth,
        team_id: Path<String>,
        body: Json<UpdateTeamBody>,
    ) -> ApiResult<Json<TeamView>> {
        let (auth, b) = (auth.0, body.0);
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        server_only(
            &auth,
            &[
                ("client_read_only_metadata", !b.client_read_only_metadata.is_undefined()),
                ("server_metadata", !b.server_metadata.is_undefined()),
            ],
        )?;
        if !auth.access_type.is_server_or_higher() {
            let me = signed_in(&auth)?;
            self.teams.require_permission(auth.project(), &team_id, &me, UPDATE_TEAM).await?;
        }
        let profile_image_url = match maybe(b.profile_image_url) {
            None => None,
            Some(url) => Some(image(&auth, url)?),
        };
        let changes = TeamChanges {
            display_name: b.display_name,
            profile_image_url,
            client_metadata: maybe(b.client_metadata),
            client_read_only_metadata: maybe(b.client_read_only_metadata),
            server_metadata: maybe(b.server_metadata),
        };
        let team = self.teams.update(auth.project(), team_id, changes).await?;
        Ok(Json(team_view(&auth, &team)))
    }

    /// Deletes a team with its memberships and their permissions. Clients need `$delete_team`.
    #[oai(path = "/teams/:team_id", method = "delete", operation_id = "delete_team")]
    async fn delete(&self, auth: ClientAuth, team_id: Path<String>) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        if !auth.access_type.is_server_or_higher() {
            let me = signed_in(&auth)?;
            self.teams.require_permission(auth.project(), &team_id, &me, DELETE_TEAM).await?;
        }
        self.teams.delete(auth.project(), team_id).await?;
        Ok(Success::ok())
    }

    /// Adds a user to a team with the team-member default permissions.
    #[oai(path = "/team-memberships/:team_id/:user_id", method = "post", operation_id = "add_team_member")]
    async fn add_member(
        &self,
        auth: ServerAuth,
        team_id: Path<String>,
        /// A user id or `me`.
        user_id: Path<String>,
    ) -> ApiResult<CreatedMembership> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        self.teams.add_member(auth.project(), team_id.clone(), user_id.clone()).await?;
        Ok(CreatedMembership::Created(Json(TeamMembershipView { team_id, user_id })))
    }

    /// Removes a user from a team. Clients may always leave; removing someone else needs
    /// `$remove_members`.
    #[oai(path = "/team-memberships/:team_id/:user_id", method = "delete", operation_id = "remove_team_member")]
    async fn remove_member(
        &self,
        auth: ClientAuth,
        team_id: Path<String>,
        /// A user id or `me`.
        user_id: Path<String>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        let team_id = team_id_param("params.team_id", &team_id.0)?;
        if !auth.access_type.is_server_or_higher() {
            let me = auth.user_id().ok_or_else(|| ApiError::from(KnownError::cannot_get_own_user_without_user()))?;
            if me != user_id {
                self.teams.require_permission(auth.project(), &team_id, me, REMOVE_MEMBERS).await?;
            }
        }
        self.teams.remove_member(auth.project(), team_id, user_id).await?;
        Ok(Success::ok())
    }
}

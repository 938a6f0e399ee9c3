//! Team rules and transactions: teams, memberships (with their events and default permissions),
//! and the permission checks of spec 20 §0.6 that guard every client operation.

use std::sync::Arc;

use poem_openapi::types::ToJSON;
use rusqlite::Connection;
use serde_json::json;

use crate::db::{now_millis, Tx};
use crate::emails::EmailsService;
use crate::error::{ApiResult, KnownError};
use crate::events;
use crate::images::{ImageInput, ImagesService};
use crate::infra::Infra;
use crate::permissions::service::{require_grantable, TeamPermission};
use crate::permissions::{PermissionsService, TEAM_SCOPE};
use crate::projects::Project;
use crate::teams::{errors, store, Membership, TeamChanges, TeamRecord};
use crate::users::store as user_store;
use crate::users::UsersService;

pub struct TeamsService {
    pub(super) infra: Arc<Infra>,
    pub(super) users: Arc<UsersService>,
    pub(super) permissions: Arc<PermissionsService>,
    pub(super) images: Arc<ImagesService>,
    pub(super) emails: Arc<EmailsService>,
}

fn team_event_data(team: &TeamRecord) -> serde_json::Value {
    team.to_server().to_json().unwrap_or_default()
}

/// USER_NOT_FOUND unless the user is in the project.
pub fn require_user(conn: &Connection, project_id: &str, user_id: &str) -> ApiResult<()> {
    if user_store::exists(conn, project_id, user_id)? {
        Ok(())
    } else {
        Err(KnownError::user_not_found().into())
    }
}

pub fn require_team(conn: &Connection, project_id: &str, team_id: &str) -> ApiResult<TeamRecord> {
    store::load(conn, project_id, team_id)?.ok_or_else(|| errors::team_not_found(team_id))
}

/// The user exists and is a member (spec 20 §0.6 steps 1–2).
pub fn require_member(conn: &Connection, project_id: &str, team_id: &str, user_id: &str) -> ApiResult<Membership> {
    require_user(conn, project_id, user_id)?;
    store::membership_of(conn, team_id, user_id)?.ok_or_else(|| errors::membership_not_found(team_id, user_id))
}

/// Spec 20 §0.6: user exists → member → holds `permission_id` recursively.
pub fn require_permission(
    conn: &Connection,
    project: &Project,
    team_id: &str,
    user_id: &str,
    permission_id: &str,
) -> ApiResult<()> {
    require_member(conn, &project.id, team_id, user_id)?;
    if PermissionsService::member_has(conn, &project.config, team_id, user_id, permission_id)? {
        Ok(())
    } else {
        Err(crate::permissions::errors::team_permission_required(team_id, user_id, permission_id))
    }
}

impl TeamsService {
    pub fn new(
        infra: Arc<Infra>,
        users: Arc<UsersService>,
        permissions: Arc<PermissionsService>,
        images: Arc<ImagesService>,
        emails: Arc<EmailsService>,
    ) -> Self {
        TeamsService { infra, users, permissions, images, emails }
    }

    /// Checks a team permission of the caller (spec 20 §0.6), for client access.
    pub async fn require_permission(
        &self,
        project: &Project,
        team_id: &str,
        user_id: &str,
        permission_id: &'static str,
    ) -> ApiResult<()> {
        let (project, team_id, user_id) = (project.clone(), team_id.to_string(), user_id.to_string());
        self.infra.db.read(move |c| require_permission(c, &project, &team_id, &user_id, permission_id)).await
    }

    /// Checks that the user exists and is a member.
    pub async fn require_member(&self, project_id: &str, team_id: &str, user_id: &str) -> ApiResult<Membership> {
        let (project_id, team_id, user_id) = (project_id.to_string(), team_id.to_string(), user_id.to_string());
        self.infra.db.read(move |c| require_member(c, &project_id, &team_id, &user_id)).await
    }

    pub async fn get(&self, project_id: &str, team_id: &str) -> ApiResult<TeamRecord> {
        let (project_id, team_id) = (project_id.to_string(), team_id.to_string());
        self.infra.db.read(move |c| require_team(c, &project_id, &team_id)).await
    }

    /// Teams of the project, or of one member; oldest first.
    pub async fn list(&self, project_id: &str, member: Option<String>) -> ApiResult<Vec<TeamRecord>> {
        let project_id = project_id.to_string();
        self.infra.db.read(move |c| store::list(c, &project_id, member.as_deref())).await
    }

    /// Creates a team inside the caller's transaction, with `creator` as its first member holding
    /// the team-creator default permissions (no membership or permission events for the creator).
    pub fn create_in(
        &self,
        tx: &Tx,
        project: &Project,
        mut changes: TeamChanges,
        creator: Option<&str>,
    ) -> ApiResult<TeamRecord> {
        if let Some(user_id) = creator {
            require_user(tx, &project.id, user_id)?;
        }
        let image = match changes.profile_image_url.take().flatten() {
            Some(image) => Some(self.images.resolve_in(tx, &project.id, image)?),
            None => None,
        };
        let team = TeamRecord {
            id: uuid::Uuid::new_v4().to_string(),
            project_id: project.id.clone(),
            display_name: changes.display_name.unwrap_or_default(),
            profile_image_url: image,
            client_metadata: changes.client_metadata.flatten(),
            client_read_only_metadata: changes.client_read_only_metadata.flatten(),
            server_metadata: changes.server_metadata.flatten(),
            created_at: now_millis(),
        };
        store::insert(tx, &team)?;
        events::record_in(tx, &project.id, events::TEAM_CREATED, team_event_data(&team))?;
        if let Some(user_id) = creator {
            store::add_member(tx, &project.id, &team.id, user_id, now_millis())?;
            let defaults = &project.config.team_creator_default_permissions;
            self.permissions.grant_team_defaults_in(tx, project, &team.id, user_id, defaults, false)?;
        }
        Ok(team)
    }

    pub async fn create(
        self: &Arc<Self>,
        project: &Project,
        changes: TeamChanges,
        creator: Option<String>,
    ) -> ApiResult<TeamRecord> {
        let (me, project) = (self.clone(), project.clone());
        self.infra.db.write(move |tx| me.create_in(tx, &project, changes, creator.as_deref())).await
    }

    pub async fn update(
        self: &Arc<Self>,
        project: &Project,
        team_id: String,
        changes: TeamChanges,
    ) -> ApiResult<TeamRecord> {
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                let mut team = require_team(tx, &project.id, &team_id)?;
                if let Some(name) = changes.display_name {
                    team.display_name = name;
                }
                if let Some(image) = changes.profile_image_url {
                    if let Some(old) = &team.profile_image_url {
                        me.images.forget_in(tx, old)?;
                    }
                    team.profile_image_url = match image {
                        Some(image) => Some(me.images.resolve_in(tx, &project.id, image)?),
                        None => None,
                    };
                }
                if let Some(v) = changes.client_metadata {
                    team.client_metadata = v;
                }
                if let Some(v) = changes.client_read_only_metadata {
                    team.client_read_only_metadata = v;
                }
                if let Some(v) = changes.server_metadata {
                    team.server_metadata = v;
                }
                store::update(tx, &team)?;
                // Users that selected the team carry it in their cached records.
                for user_id in user_store::ids_selecting_team(tx, &team.id)? {
                    user_store::touch(tx, &user_id);
                }
                events::record_in(tx, &project.id, events::TEAM_UPDATED, team_event_data(&team))?;
                Ok(team)
            })
            .await
    }

    /// Deletes a team with its memberships and grants; only `team.deleted` is recorded. Its
    /// invitations stay until they expire, and accepting one answers TEAM_NOT_FOUND.
    pub async fn delete(self: &Arc<Self>, project: &Project, team_id: String) -> ApiResult<()> {
        let (me, project_id) = (self.clone(), project.id.clone());
        self.infra
            .db
            .write(move |tx| {
                let team = require_team(tx, &project_id, &team_id)?;
                user_store::deselect_team(tx, &team.id, None)?;
                if let Some(image) = &team.profile_image_url {
                    me.images.forget_in(tx, image)?;
                }
                store::delete(tx, &team.id)?;
                events::record_in(tx, &project_id, events::TEAM_DELETED, json!({ "id": team.id }))
            })
            .await
    }

    /// Adds a member with the team-member default permissions and their events (spec 20 §2.1).
    pub fn add_member_in(&self, tx: &Tx, project: &Project, team_id: &str, user_id: &str) -> ApiResult<()> {
        store::add_member(tx, &project.id, team_id, user_id, now_millis())?;
        events::record_in(
            tx,
            &project.id,
            events::TEAM_MEMBERSHIP_CREATED,
            json!({ "team_id": team_id, "user_id": user_id }),
        )?;
        let defaults = &project.config.team_member_default_permissions;
        self.permissions.grant_team_defaults_in(tx, project, team_id, user_id, defaults, true)
    }

    /// `POST /team-memberships/{team_id}/{user_id}`.
    pub async fn add_member(self: &Arc<Self>, project: &Project, team_id: String, user_id: String) -> ApiResult<()> {
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                require_user(tx, &project.id, &user_id)?;
                require_team(tx, &project.id, &team_id)?;
                if store::is_member(tx, &team_id, &user_id)? {
                    return Err(errors::membership_already_exists());
                }
                me.add_member_in(tx, &project, &team_id, &user_id)
            })
            .await
    }

    /// `DELETE /team-memberships/{team_id}/{user_id}`: the membership, its grants (no events for
    /// them) and the selection of the team go.
    pub async fn remove_member(&self, project: &Project, team_id: String, user_id: String) -> ApiResult<()> {
        let project_id = project.id.clone();
        self.infra
            .db
            .write(move |tx| {
                require_member(tx, &project_id, &team_id, &user_id)?;
                store::remove_member(tx, &team_id, &user_id)?;
                user_store::deselect_team(tx, &team_id, Some(&user_id))?;
                events::record_in(
                    tx,
                    &project_id,
                    events::TEAM_MEMBERSHIP_DELETED,
                    json!({ "team_id": team_id, "user_id": user_id }),
                )
            })
            .await
    }

    /// `POST /team-permissions/{team_id}/{user_id}/{permission_id}` (idempotent; the event is
    /// recorded on every grant, as upstream does).
    pub async fn grant_permission(
        self: &Arc<Self>,
        project: &Project,
        team_id: String,
        user_id: String,
        permission_id: String,
    ) -> ApiResult<()> {
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                require_member(tx, &project.id, &team_id, &user_id)?;
                require_grantable(&project.config, TEAM_SCOPE, &permission_id)?;
                me.permissions.grant_team_in(tx, &project, &team_id, &user_id, &permission_id, true)
            })
            .await
    }

    /// `DELETE /team-permissions/{team_id}/{user_id}/{permission_id}`: direct grants only.
    pub async fn revoke_permission(
        self: &Arc<Self>,
        project: &Project,
        team_id: String,
        user_id: String,
        permission_id: String,
    ) -> ApiResult<()> {
        let (me, project) = (self.clone(), project.clone());
        self.infra
            .db
            .write(move |tx| {
                require_member(tx, &project.id, &team_id, &user_id)?;
                if !me.permissions.revoke_team_in(tx, &project, &team_id, &user_id, &permission_id)? {
                    return Err(crate::permissions::errors::team_permission_not_found(
                        &team_id,
                        &user_id,
                        &permission_id,
                    ));
                }
                Ok(())
            })
            .await
    }

    /// `GET /team-permissions`.
    pub async fn list_permissions(
        &self,
        project: &Project,
        team_id: Option<String>,
        user_id: Option<String>,
        permission_id: Option<String>,
        recursive: bool,
    ) -> ApiResult<Vec<TeamPermission>> {
        self.permissions.list_team(project, team_id, user_id, permission_id, recursive).await
    }

    /// An uploaded image stored for a profile (resolving data URLs), inside the caller's transaction.
    pub(super) fn store_image_in(&self, tx: &Tx, project_id: &str, image: ImageInput) -> ApiResult<String> {
        self.images.resolve_in(tx, project_id, image)
    }
}

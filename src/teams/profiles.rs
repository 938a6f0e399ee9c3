//! Member profiles (spec 20 §2.3): a member's own name and picture in a team, falling back to the
//! user's.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::ApiResult;
use crate::images::ImageInput;
use crate::projects::Project;
use crate::teams::service::{require_member, require_team, require_user};
use crate::teams::{store, Membership, TeamsService};
use crate::users::{store as user_store, UserRecord};

/// A membership with its user.
pub struct Profile {
    pub membership: Membership,
    pub user: UserRecord,
}

impl Profile {
    pub fn display_name(&self) -> Option<String> {
        self.membership.display_name.clone().or_else(|| self.user.display_name.clone())
    }

    pub fn profile_image_url(&self) -> Option<String> {
        self.membership.profile_image_url.clone().or_else(|| self.user.profile_image_url.clone())
    }
}

/// Memberships with their users, read in one query, in the memberships' order.
fn with_users(conn: &rusqlite::Connection, project_id: &str, memberships: Vec<Membership>) -> ApiResult<Vec<Profile>> {
    let ids: Vec<String> = memberships.iter().map(|m| m.user_id.clone()).collect();
    let mut users: HashMap<String, UserRecord> =
        user_store::load_many(conn, project_id, &ids)?.into_iter().map(|u| (u.id.clone(), u)).collect();
    Ok(memberships
        .into_iter()
        .filter_map(|membership| users.remove(&membership.user_id).map(|user| Profile { membership, user }))
        .collect())
}

impl TeamsService {
    /// Profiles of a team and/or a user, in joining order; given filters must exist.
    pub async fn list_profiles(
        &self,
        project: &Project,
        team_id: Option<String>,
        user_id: Option<String>,
    ) -> ApiResult<Vec<Profile>> {
        let project_id = project.id.clone();
        self.infra
            .db
            .read(move |c| {
                if let Some(team_id) = &team_id {
                    require_team(c, &project_id, team_id)?;
                }
                if let Some(user_id) = &user_id {
                    require_user(c, &project_id, user_id)?;
                }
                let memberships = store::memberships(c, &project_id, team_id.as_deref(), user_id.as_deref())?;
                with_users(c, &project_id, memberships)
            })
            .await
    }

    pub async fn get_profile(&self, project: &Project, team_id: String, user_id: String) -> ApiResult<Profile> {
        let project_id = project.id.clone();
        self.infra
            .db
            .read(move |c| {
                let membership = require_member(c, &project_id, &team_id, &user_id)?;
                let user = user_store::require(c, &project_id, &user_id)?;
                Ok(Profile { membership, user })
            })
            .await
    }

    /// Changes a member's name and/or picture in the team (`Some(None)` clears the picture).
    pub async fn update_profile(
        self: &Arc<Self>,
        project: &Project,
        team_id: String,
        user_id: String,
        display_name: Option<String>,
        image: Option<Option<ImageInput>>,
    ) -> ApiResult<Profile> {
        let (me, project_id) = (self.clone(), project.id.clone());
        self.infra
            .db
            .write(move |tx| {
                let mut membership = require_member(tx, &project_id, &team_id, &user_id)?;
                if let Some(name) = display_name {
                    membership.display_name = Some(name);
                }
                if let Some(image) = image {
                    if let Some(old) = &membership.profile_image_url {
                        me.images.forget_in(tx, old)?;
                    }
                    membership.profile_image_url = match image {
                        Some(image) => Some(me.store_image_in(tx, &project_id, image)?),
                        None => None,
                    };
                }
                store::update_profile(tx, &membership)?;
                let user = user_store::require(tx, &project_id, &user_id)?;
                Ok(Profile { membership, user })
            })
            .await
    }

    /// The newest "last active" time of a member, for the server view of its user.
    pub fn last_active_at(&self, user: &UserRecord) -> i64 {
        self.users.last_active_at(user)
    }
}

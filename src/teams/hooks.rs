//! The teams side of a user's life ([`crate::users::TeamHooks`]): sign-up defaults and the
//! personal team, renaming it on upgrade, and the memberships of a deleted user.

use std::sync::{Arc, Weak};

use rusqlite::Connection;
use serde_json::json;

use crate::db::Tx;
use crate::error::{ApiError, ApiResult};
use crate::events;
use crate::projects::Project;
use crate::teams::{errors, personal_team_name, store, TeamChanges, TeamsService, PERSONAL_TEAM};
use crate::users::store as user_store;
use crate::users::{TeamHooks, UserRecord};

/// Holds the teams service weakly: the users service keeps this hook, and the teams service
/// keeps the users service.
pub struct UserLifecycle(pub Weak<TeamsService>);

impl UserLifecycle {
    pub fn new(teams: &Arc<TeamsService>) -> Arc<Self> {
        Arc::new(UserLifecycle(Arc::downgrade(teams)))
    }

    fn teams(&self) -> ApiResult<Arc<TeamsService>> {
        self.0.upgrade().ok_or_else(|| ApiError::internal("the teams service is gone"))
    }
}

impl TeamHooks for UserLifecycle {
    fn user_created(&self, tx: &Tx, project: &Project, user: &UserRecord) -> ApiResult<()> {
        let teams = self.teams()?;
        teams.permissions.grant_sign_up_defaults_in(tx, project, &user.id)?;
        if project.config.create_team_on_sign_up {
            let name = personal_team_name(user.display_name.as_deref(), user.primary_email.as_deref());
            let changes = TeamChanges { display_name: Some(name), ..Default::default() };
            let team = teams.create_in(tx, project, changes, Some(&user.id))?;
            user_store::touch(tx, &user.id);
            user_store::set_text(tx, &user.id, "selected_team_id", Some(&team.id))?;
        }
        Ok(())
    }

    fn user_upgraded(&self, tx: &Tx, _project: &Project, user: &UserRecord) -> ApiResult<()> {
        let name = personal_team_name(user.display_name.as_deref(), user.primary_email.as_deref());
        for mut team in store::teams_of_user_named(tx, &user.id, PERSONAL_TEAM)? {
            team.display_name = name.clone();
            store::update(tx, &team)?;
            for id in user_store::ids_selecting_team(tx, &team.id)? {
                user_store::touch(tx, &id);
            }
        }
        Ok(())
    }

    fn user_deleting(&self, tx: &Tx, project_id: &str, user_id: &str) -> ApiResult<Vec<String>> {
        let team_ids = store::team_ids_of_user(tx, user_id)?;
        for team_id in &team_ids {
            events::record_in(
                tx,
                project_id,
                events::TEAM_MEMBERSHIP_DELETED,
                json!({ "team_id": team_id, "user_id": user_id }),
            )?;
        }
        Ok(team_ids)
    }

    fn check_selectable(&self, conn: &Connection, team_id: &str, user_id: &str) -> ApiResult<()> {
        if store::is_member(conn, team_id, user_id)? {
            Ok(())
        } else {
            Err(errors::membership_not_found(team_id, user_id))
        }
    }
}

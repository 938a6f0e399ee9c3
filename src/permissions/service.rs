//! Permission rules and transactions: definition CRUD (replace-on-update, renames and deletes
//! carried into containment, defaults and grants), grants with their events, listings and checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::json;

use crate::db::Tx;
use crate::error::ApiResult;
use crate::events;
use crate::infra::Infra;
use crate::permissions::{errors, expand, is_defined, is_system, order, store, PermissionDefinition, TEAM_SCOPE};
use crate::projects::{self, Project, ProjectConfig};
use crate::users::store as user_store;

/// A definition as the API shows it (system ones included for team scope).
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    pub id: String,
    pub description: Option<String>,
    pub contained_permission_ids: Vec<String>,
}

/// What a create or (replacing) update says.
pub struct DefinitionInput {
    pub id: String,
    pub description: Option<String>,
    pub contained_permission_ids: Vec<String>,
}

/// One permission held by a member of a team.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamPermission {
    pub id: String,
    pub team_id: String,
    pub user_id: String,
}

pub struct PermissionsService {
    infra: Arc<Infra>,
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort_by(|a, b| order(a, b));
    ids.dedup();
    ids
}

/// The definitions of a scope, sorted by id.
pub fn definitions(config: &ProjectConfig, scope: &str) -> Vec<Definition> {
    let mut out: Vec<Definition> = config
        .permission_definitions
        .iter()
        .filter(|(_, d)| d.scope == scope)
        .map(|(id, d)| Definition {
            id: id.clone(),
            description: d.description.clone(),
            contained_permission_ids: sorted(d.contained_permission_ids.clone()),
        })
        .collect();
    if scope == TEAM_SCOPE {
        out.extend(crate::permissions::SYSTEM_PERMISSIONS.iter().map(|(id, description)| Definition {
            id: id.to_string(),
            description: Some(description.to_string()),
            contained_permission_ids: vec![],
        }));
    }
    out.sort_by(|a, b| order(&a.id, &b.id));
    out
}

fn check_contained(defs: &BTreeMap<String, PermissionDefinition>, scope: &str, ids: &[String]) -> ApiResult<()> {
    match ids.iter().find(|id| !is_defined(defs, scope, id)) {
        Some(missing) => Err(errors::contained_not_found(missing)),
        None => Ok(()),
    }
}

/// Whether the definition `id` is in `scope` (else PERMISSION_NOT_FOUND).
fn require_definition(config: &ProjectConfig, scope: &str, id: &str) -> ApiResult<()> {
    match config.permission_definitions.get(id) {
        Some(d) if d.scope == scope => Ok(()),
        _ => Err(errors::permission_not_found(id)),
    }
}

/// A grant's permission must be defined in `scope`: unknown → PERMISSION_NOT_FOUND, the other
/// scope → WRONG_PERMISSION_SCOPE.
pub fn require_grantable(config: &ProjectConfig, scope: &str, id: &str) -> ApiResult<()> {
    if is_defined(&config.permission_definitions, scope, id) {
        return Ok(());
    }
    match config.permission_definitions.get(id) {
        Some(d) => Err(errors::wrong_scope(id, scope, Some(&d.scope))),
        None if is_system(id) => Err(errors::wrong_scope(id, scope, Some(TEAM_SCOPE))),
        None => Err(errors::permission_not_found(id)),
    }
}

fn rename_in_list(list: &mut Vec<String>, from: &str, to: &str) {
    for id in list.iter_mut() {
        if id == from {
            *id = to.to_string();
        }
    }
    list.dedup();
}

impl PermissionsService {
    pub fn new(infra: Arc<Infra>) -> Self {
        PermissionsService { infra }
    }

    pub async fn create_definition(
        &self,
        project_id: &str,
        scope: &'static str,
        input: DefinitionInput,
    ) -> ApiResult<Definition> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                let project = projects::service::update_in(tx, &project_id, |p| {
                    let defs = &mut p.config.permission_definitions;
                    if defs.contains_key(&input.id) || is_system(&input.id) {
                        return Err(errors::id_already_exists(&input.id));
                    }
                    check_contained(defs, scope, &input.contained_permission_ids)?;
                    defs.insert(
                        input.id.clone(),
                        PermissionDefinition {
                            scope: scope.into(),
                            description: input.description.clone(),
                            contained_permission_ids: sorted(input.contained_permission_ids.clone()),
                        },
                    );
                    Ok(())
                })?;
                Ok(definitions(&project.config, scope).into_iter().find(|d| d.id == input.id).expect("just created"))
            })
            .await
    }

    /// Replaces a definition (spec 20 §3.2): omitted fields become empty; a new `id` renames it
    /// everywhere it is referenced.
    pub async fn update_definition(
        &self,
        project_id: &str,
        scope: &'static str,
        id: String,
        input: DefinitionInput,
    ) -> ApiResult<Definition> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                let new_id = input.id.clone();
                let project = projects::service::update_in(tx, &project_id, |p| {
                    require_definition(&p.config, scope, &id)?;
                    let cfg = &mut p.config;
                    if new_id != id && (cfg.permission_definitions.contains_key(&new_id) || is_system(&new_id)) {
                        return Err(errors::id_already_exists(&new_id));
                    }
                    cfg.permission_definitions.remove(&id);
                    let mut contained = input.contained_permission_ids.clone();
                    rename_in_list(&mut contained, &id, &new_id);
                    // A definition may contain itself under its new name; the check sees it.
                    cfg.permission_definitions.insert(
                        new_id.clone(),
                        PermissionDefinition {
                            scope: scope.into(),
                            description: None,
                            contained_permission_ids: vec![],
                        },
                    );
                    check_contained(&cfg.permission_definitions, scope, &contained)?;
                    cfg.permission_definitions.insert(
                        new_id.clone(),
                        PermissionDefinition {
                            scope: scope.into(),
                            description: input.description.clone(),
                            contained_permission_ids: sorted(contained),
                        },
                    );
                    if new_id != id {
                        for def in cfg.permission_definitions.values_mut() {
                            rename_in_list(&mut def.contained_permission_ids, &id, &new_id);
                        }
                        for list in [
                            &mut cfg.team_creator_default_permissions,
                            &mut cfg.team_member_default_permissions,
                            &mut cfg.user_default_permissions,
                        ] {
                            rename_in_list(list, &id, &new_id);
                        }
                    }
                    Ok(())
                })?;
                if new_id != id {
                    store::rename_grants(tx, &project_id, &id, &new_id)?;
                }
                Ok(definitions(&project.config, scope).into_iter().find(|d| d.id == new_id).expect("just written"))
            })
            .await
    }

    /// Deletes a definition, its grants and every reference to it (no events, as upstream).
    pub async fn delete_definition(&self, project_id: &str, scope: &'static str, id: String) -> ApiResult<()> {
        let project_id = project_id.to_string();
        self.infra
            .db
            .write(move |tx| {
                projects::service::update_in(tx, &project_id, |p| {
                    require_definition(&p.config, scope, &id)?;
                    let cfg = &mut p.config;
                    cfg.permission_definitions.remove(&id);
                    for def in cfg.permission_definitions.values_mut() {
                        def.contained_permission_ids.retain(|c| c != &id);
                    }
                    for list in [
                        &mut cfg.team_creator_default_permissions,
                        &mut cfg.team_member_default_permissions,
                        &mut cfg.user_default_permissions,
                    ] {
                        list.retain(|c| c != &id);
                    }
                    Ok(())
                })?;
                store::delete_grants(tx, &project_id, &id)
            })
            .await
    }

    /// Grants a team permission to a member (idempotent). `announce`: record
    /// `team_permission.created` (not for a team creator's defaults).
    pub fn grant_team_in(
        &self,
        tx: &Tx,
        project: &Project,
        team_id: &str,
        user_id: &str,
        permission_id: &str,
        announce: bool,
    ) -> ApiResult<()> {
        store::grant_team(tx, &project.id, team_id, user_id, permission_id)?;
        if announce {
            events::record_in(
                tx,
                &project.id,
                events::TEAM_PERMISSION_CREATED,
                json!({ "id": permission_id, "team_id": team_id, "user_id": user_id }),
            )?;
        }
        Ok(())
    }

    /// Grants each of `ids` that is still a team definition.
    pub fn grant_team_defaults_in(
        &self,
        tx: &Tx,
        project: &Project,
        team_id: &str,
        user_id: &str,
        ids: &[String],
        announce: bool,
    ) -> ApiResult<()> {
        for id in ids.iter().filter(|id| is_defined(&project.config.permission_definitions, TEAM_SCOPE, id)) {
            self.grant_team_in(tx, project, team_id, user_id, id, announce)?;
        }
        Ok(())
    }

    /// Revokes a direct team grant; false when there was none.
    pub fn revoke_team_in(
        &self,
        tx: &Tx,
        project: &Project,
        team_id: &str,
        user_id: &str,
        id: &str,
    ) -> ApiResult<bool> {
        if !store::revoke_team(tx, team_id, user_id, id)? {
            return Ok(false);
        }
        events::record_in(
            tx,
            &project.id,
            events::TEAM_PERMISSION_DELETED,
            json!({ "id": id, "team_id": team_id, "user_id": user_id }),
        )?;
        Ok(true)
    }

    /// Whether a member holds `permission_id` in the team, through nesting (spec 20 §3.4).
    pub fn member_has(
        conn: &Connection,
        config: &ProjectConfig,
        team_id: &str,
        user_id: &str,
        permission_id: &str,
    ) -> ApiResult<bool> {
        let direct = store::member_grants(conn, team_id, user_id)?;
        Ok(expand(&config.permission_definitions, TEAM_SCOPE, direct.iter().map(String::as_str), true)
            .iter()
            .any(|p| p == permission_id))
    }

    /// Members of a team holding `permission_id` through nesting, read in one query.
    pub fn holders(
        conn: &Connection,
        config: &ProjectConfig,
        project_id: &str,
        team_id: &str,
        permission_id: &str,
    ) -> ApiResult<Vec<String>> {
        let grants = store::team_grants(conn, project_id, Some(team_id), None)?;
        let mut out = vec![];
        for user_grants in grants.chunk_by(|a, b| a.user_id == b.user_id) {
            let ids = user_grants.iter().map(|g| g.permission_id.as_str());
            if expand(&config.permission_definitions, TEAM_SCOPE, ids, true).iter().any(|p| p == permission_id) {
                out.push(user_grants[0].user_id.clone());
            }
        }
        Ok(out)
    }

    /// `GET /team-permissions`: one entry per (team, user, permission), sorted by team, user, id.
    pub async fn list_team(
        &self,
        project: &Project,
        team_id: Option<String>,
        user_id: Option<String>,
        permission_id: Option<String>,
        recursive: bool,
    ) -> ApiResult<Vec<TeamPermission>> {
        let project_id = project.id.clone();
        let grants = self
            .infra
            .db
            .read(move |c| store::team_grants(c, &project_id, team_id.as_deref(), user_id.as_deref()))
            .await?;
        let mut out = vec![];
        for member in grants.chunk_by(|a, b| a.team_id == b.team_id && a.user_id == b.user_id) {
            let ids = member.iter().map(|g| g.permission_id.as_str());
            for id in expand(&project.config.permission_definitions, TEAM_SCOPE, ids, recursive) {
                if permission_id.as_deref().is_none_or(|p| p == id) {
                    let (team_id, user_id) = (member[0].team_id.clone(), member[0].user_id.clone());
                    out.push(TeamPermission { id, team_id, user_id });
                }
            }
        }
        Ok(out)
    }

    /// `GET /project-permissions`: (user, permission) pairs sorted by user, then id.
    pub async fn list_project(
        &self,
        project: &Project,
        user_id: Option<String>,
        permission_id: Option<String>,
        recursive: bool,
    ) -> ApiResult<Vec<(String, String)>> {
        let project_id = project.id.clone();
        let grants = self.infra.db.read(move |c| store::project_grants(c, &project_id, user_id.as_deref())).await?;
        let mut out = vec![];
        for user in grants.chunk_by(|a, b| a.0 == b.0) {
            let ids = user.iter().map(|g| g.1.as_str());
            for id in expand(&project.config.permission_definitions, crate::permissions::PROJECT_SCOPE, ids, recursive)
            {
                if permission_id.as_deref().is_none_or(|p| p == id) {
                    out.push((user[0].0.clone(), id));
                }
            }
        }
        Ok(out)
    }

    /// `POST /project-permissions/{user_id}/{permission_id}`.
    pub async fn grant_project(&self, project: &Project, user_id: String, permission_id: String) -> ApiResult<()> {
        let project_id = project.id.clone();
        require_grantable(&project.config, crate::permissions::PROJECT_SCOPE, &permission_id)?;
        self.infra
            .db
            .write(move |tx| {
                if !user_store::exists(tx, &project_id, &user_id)? {
                    return Err(crate::error::KnownError::user_not_found().into());
                }
                store::grant_project(tx, &project_id, &user_id, &permission_id)?;
                events::record_in(
                    tx,
                    &project_id,
                    events::PROJECT_PERMISSION_CREATED,
                    json!({ "id": permission_id, "user_id": user_id }),
                )
            })
            .await
    }

    /// `DELETE /project-permissions/{user_id}/{permission_id}`: a direct grant only.
    pub async fn revoke_project(&self, project: &Project, user_id: String, permission_id: String) -> ApiResult<()> {
        let project_id = project.id.clone();
        self.infra
            .db
            .write(move |tx| {
                if !user_store::exists(tx, &project_id, &user_id)? {
                    return Err(crate::error::KnownError::user_not_found().into());
                }
                if !store::revoke_project(tx, &user_id, &permission_id)? {
                    return Err(errors::permission_not_found(&permission_id));
                }
                events::record_in(
                    tx,
                    &project_id,
                    events::PROJECT_PERMISSION_DELETED,
                    json!({ "id": permission_id, "user_id": user_id }),
                )
            })
            .await
    }

    /// The sign-up defaults of a new user (spec 20 §3.5), without events.
    pub fn grant_sign_up_defaults_in(&self, tx: &Tx, project: &Project, user_id: &str) -> ApiResult<()> {
        let defs = &project.config.permission_definitions;
        for id in project.config.user_default_permissions.iter() {
            if is_defined(defs, crate::permissions::PROJECT_SCOPE, id) {
                store::grant_project(tx, &project.id, user_id, id)?;
            }
        }
        Ok(())
    }
}

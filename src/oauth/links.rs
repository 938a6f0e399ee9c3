//! `/oauth-providers` (spec 10 §10.6): the links between users and provider accounts, read and
//! managed directly, and the connected-accounts list (§10.7).

use std::sync::Arc;

use poem::http::StatusCode;

use crate::db::{now_millis, Tx};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::oauth::providers::provider_type;
use crate::oauth::{self as errors, store, OAuthAccount, OAuthService};
use crate::projects::Project;
use crate::users::store as user_store;

/// A new link (`POST /oauth-providers`).
pub struct NewLink {
    pub user_id: String,
    pub provider_config_id: String,
    pub account_id: String,
    pub email: Option<String>,
    pub allow_sign_in: bool,
    pub allow_connected_accounts: bool,
}

/// A change to a link; `None` keeps the value.
#[derive(Default)]
pub struct LinkPatch {
    pub allow_sign_in: Option<bool>,
    pub allow_connected_accounts: Option<bool>,
    pub email: Option<Option<String>>,
    pub account_id: Option<String>,
}

/// The provider type of a config id: the configured provider's, or the id itself if it names a type.
pub fn link_type(project: &Project, provider_config_id: &str) -> Option<&'static str> {
    let configured = project.config.oauth_providers.iter().find(|p| p.id == provider_config_id).map(|p| p.id.as_str());
    provider_type(configured.unwrap_or(provider_config_id)).map(|t| t.name)
}

fn link_not_found(link_id: &str, user_id: &str) -> ApiError {
    ApiError::plain(StatusCode::NOT_FOUND, format!("OAuth provider {link_id} for user {user_id} not found"))
}

/// The sign-in rules a link must keep (spec 10 §10.6): one sign-in link per provider and user, one
/// user signing in with a provider account, and no two links to the same account for one user.
fn check_link_in(tx: &Tx, project_id: &str, link: &OAuthAccount) -> ApiResult<()> {
    let all = store::accounts(tx, project_id, None)?;
    let others = all.iter().filter(|a| a.id != link.id && a.provider_config_id == link.provider_config_id);
    for other in others {
        if other.user_id == link.user_id && other.provider_account_id == link.provider_account_id {
            return Err(ApiError::bad_request(
                "The same provider type with the same account ID already exists for this user.",
            ));
        }
        if link.allow_sign_in && other.allow_sign_in {
            if other.user_id == link.user_id {
                return Err(ApiError::bad_request(
                    "The same provider type with sign-in enabled already exists for this user.",
                ));
            }
            if other.provider_account_id == link.provider_account_id {
                return Err(errors::account_id_already_used_for_sign_in().into());
            }
        }
    }
    Ok(())
}

impl OAuthService {
    /// Links of one user (or, `None`, of the whole project), oldest first, without links whose
    /// provider type cannot be told.
    pub async fn list_links(&self, project: &Project, user_id: Option<String>) -> ApiResult<Vec<OAuthAccount>> {
        let project_id = project.id.clone();
        let links = self
            .infra
            .db
            .read(move |c| {
                if let Some(u) = &user_id {
                    user_store::load(c, &project_id, u)?.ok_or_else(KnownError::user_not_found)?;
                }
                store::accounts(c, &project_id, user_id.as_deref())
            })
            .await?;
        Ok(links.into_iter().filter(|l| link_type(project, &l.provider_config_id).is_some()).collect())
    }

    pub async fn get_link(&self, project: &Project, user_id: String, link_id: String) -> ApiResult<OAuthAccount> {
        let project_id = project.id.clone();
        let link = self
            .infra
            .db
            .read(move |c| {
                user_store::load(c, &project_id, &user_id)?.ok_or_else(KnownError::user_not_found)?;
                store::account_by_id(c, &project_id, &link_id)?
                    .filter(|l| l.user_id == user_id)
                    .ok_or_else(|| link_not_found(&link_id, &user_id))
            })
            .await?;
        if link_type(project, &link.provider_config_id).is_none() {
            return Err(link_not_found(&link.id, &link.user_id));
        }
        Ok(link)
    }

    pub async fn create_link(&self, project: &Project, new: NewLink) -> ApiResult<OAuthAccount> {
        if !project.config.oauth_providers.iter().any(|p| p.id == new.provider_config_id) {
            return Err(ApiError::plain(
                StatusCode::NOT_FOUND,
                format!("OAuth provider {} not found or not configured", new.provider_config_id),
            ));
        }
        let project_id = project.id.clone();
        self.infra
            .db
            .write(move |tx| {
                user_store::load(tx, &project_id, &new.user_id)?.ok_or_else(KnownError::user_not_found)?;
                let link = OAuthAccount {
                    id: uuid::Uuid::new_v4().to_string(),
                    user_id: new.user_id,
                    provider_config_id: new.provider_config_id,
                    provider_account_id: new.account_id,
                    email: new.email,
                    allow_sign_in: new.allow_sign_in,
                    allow_connected_accounts: new.allow_connected_accounts,
                };
                check_link_in(tx, &project_id, &link)?;
                store::insert_account(
                    tx,
                    &link.id,
                    &project_id,
                    &link.user_id,
                    &link.provider_config_id,
                    &link.provider_account_id,
                    link.email.as_deref(),
                    link.allow_sign_in,
                    link.allow_connected_accounts,
                    now_millis(),
                )?;
                tx.changed(user_store::TABLE, &link.user_id);
                Ok(link)
            })
            .await
    }

    pub async fn update_link(
        &self,
        project: &Project,
        user_id: String,
        link_id: String,
        patch: LinkPatch,
    ) -> ApiResult<OAuthAccount> {
        self.get_link(project, user_id.clone(), link_id.clone()).await?;
        let project_id = project.id.clone();
        self.infra
            .db
            .write(move |tx| {
                let mut link = store::account_by_id(tx, &project_id, &link_id)?
                    .filter(|l| l.user_id == user_id)
                    .ok_or_else(|| link_not_found(&link_id, &user_id))?;
                if let Some(v) = patch.allow_sign_in {
                    link.allow_sign_in = v;
                }
                if let Some(v) = patch.allow_connected_accounts {
                    link.allow_connected_accounts = v;
                }
                if let Some(v) = patch.email {
                    link.email = v;
                }
                if let Some(v) = patch.account_id {
                    link.provider_account_id = v;
                }
                check_link_in(tx, &project_id, &link)?;
                store::update_account(tx, &link)?;
                tx.changed(user_store::TABLE, &link.user_id);
                Ok(link)
            })
            .await
    }

    pub async fn delete_link(&self, project: &Project, user_id: String, link_id: String) -> ApiResult<()> {
        let link = self.get_link(project, user_id, link_id).await?;
        self.infra
            .db
            .write(move |tx| {
                store::delete_account(tx, &link.id)?;
                tx.changed(user_store::TABLE, &link.user_id);
                Ok(())
            })
            .await
    }

    /// The user's accounts usable as connected accounts, oldest first (spec 10 §10.7).
    pub async fn connected_accounts(
        self: &Arc<Self>,
        project: &Project,
        user_id: String,
    ) -> ApiResult<Vec<OAuthAccount>> {
        let links = self.list_links(project, Some(user_id)).await?;
        Ok(links.into_iter().filter(|l| l.allow_connected_accounts).collect())
    }
}

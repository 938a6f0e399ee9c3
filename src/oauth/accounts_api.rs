//! `/oauth-providers` (spec 10 §10.6) and `/connected-accounts` (§10.7) handlers.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::error::{ApiError, ApiResult, KnownError};
use crate::oauth::links::{link_type, LinkPatch, NewLink};
use crate::oauth::{OAuthAccount, OAuthService};
use crate::projects::access::{ClientAuth, RequestAuth, ServerAuth};
use crate::projects::Project;
use crate::web::{uuid_param, Success, Tag};

pub struct OAuthAccountsApi {
    pub oauth: Arc<OAuthService>,
}

/// A user's link to a provider account. `account_id` is shown to servers only; `email` is
/// omitted when unknown.
#[derive(Object)]
pub struct OAuthProviderLinkView {
    pub user_id: String,
    /// The link's id.
    pub id: String,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// The provider's id in the project config.
    pub provider_config_id: String,
    /// The provider type (`github`, `google`…).
    #[oai(rename = "type")]
    pub kind: String,
    /// The account signs the user in.
    pub allow_sign_in: bool,
    /// The app may get provider access tokens of this account.
    pub allow_connected_accounts: bool,
    /// The account's id at the provider (server access only).
    #[oai(skip_serializing_if_is_none)]
    pub account_id: Option<String>,
}

fn view(project: &Project, auth: &RequestAuth, l: OAuthAccount) -> OAuthProviderLinkView {
    OAuthProviderLinkView {
        kind: link_type(project, &l.provider_config_id).unwrap_or_default().to_string(),
        user_id: l.user_id,
        id: l.id,
        email: l.email,
        provider_config_id: l.provider_config_id,
        allow_sign_in: l.allow_sign_in,
        allow_connected_accounts: l.allow_connected_accounts,
        account_id: auth.access_type.is_server_or_higher().then_some(l.provider_account_id),
    }
}

#[derive(Object)]
pub struct OAuthProviderLinkList {
    pub items: Vec<OAuthProviderLinkView>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateOAuthProviderBody {
    /// A user id or `me`.
    pub user_id: String,
    /// A provider configured for the project.
    pub provider_config_id: String,
    /// The account's id at the provider.
    pub account_id: String,
    pub email: Option<String>,
    pub allow_sign_in: bool,
    pub allow_connected_accounts: bool,
}

/// Clients may change the two switches; servers also `email` and `account_id`.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateOAuthProviderBody {
    pub allow_sign_in: Option<bool>,
    pub allow_connected_accounts: Option<bool>,
    /// Server access only.
    pub email: Option<String>,
    /// Server access only.
    pub account_id: Option<String>,
}

#[derive(ApiResponse)]
pub enum CreatedOAuthProvider {
    #[oai(status = 201)]
    Created(Json<OAuthProviderLinkView>),
}

/// A connected account: a provider account the app may act on.
#[derive(Object)]
pub struct ConnectedAccountView {
    pub user_id: String,
    /// The provider's id in the project config.
    pub provider: String,
    pub provider_account_id: String,
}

#[derive(Object)]
pub struct ConnectedAccountList {
    pub items: Vec<ConnectedAccountView>,
    pub is_paginated: bool,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct AccessTokenRequest {
    /// Scopes the token must cover (space-separated); none = any token of the account.
    pub scope: Option<String>,
}

#[derive(Object)]
pub struct ProviderAccessToken {
    /// The provider's access token.
    pub access_token: String,
}

#[derive(ApiResponse)]
pub enum CreatedAccessToken {
    #[oai(status = 201)]
    Created(Json<ProviderAccessToken>),
}

fn forbidden(text: &'static str) -> ApiError {
    ApiError::plain(StatusCode::FORBIDDEN, text)
}

fn own_user(auth: &RequestAuth, user_id: &str, text: &'static str) -> ApiResult<()> {
    if !auth.access_type.is_server_or_higher() && auth.user_id() != Some(user_id) {
        return Err(forbidden(text));
    }
    Ok(())
}

fn link_id(id: &str) -> ApiResult<String> {
    uuid_param("params.provider_id", id)
}

impl OAuthAccountsApi {
    /// Both access-token routes: `account` `None` searches all of the user's accounts at the provider.
    async fn provider_access_token(
        &self,
        auth: RequestAuth,
        user_id: &str,
        provider_id: &str,
        account: Option<&str>,
        body: AccessTokenRequest,
    ) -> ApiResult<CreatedAccessToken> {
        let user_id = auth.user_id_param(user_id)?;
        own_user(&auth, &user_id, "Client can only access its own connected accounts")?;
        let token = self
            .oauth
            .connected_access_token(auth.project(), &user_id, provider_id, account, body.scope.as_deref())
            .await?;
        Ok(CreatedAccessToken::Created(Json(ProviderAccessToken { access_token: token })))
    }
}

#[OpenApi(tag = "Tag::Oauth")]
impl OAuthAccountsApi {
    /// Lists OAuth provider links: of one user (clients: their own), or with server access all
    /// of the project's.
    #[oai(path = "/oauth-providers", method = "get", operation_id = "list_oauth_providers")]
    async fn list(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
    ) -> ApiResult<Json<OAuthProviderLinkList>> {
        let auth = auth.0;
        let user_id = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        match &user_id {
            Some(u) => own_user(&auth, u, "Client can only list OAuth providers for their own user.")?,
            None if !auth.access_type.is_server_or_higher() => {
                return Err(forbidden("Client can only list OAuth providers for their own user."))
            }
            None => {}
        }
        let links = self.oauth.list_links(auth.project(), user_id).await?;
        let items = links.into_iter().map(|l| view(auth.project(), &auth, l)).collect();
        Ok(Json(OAuthProviderLinkList { items, is_paginated: false }))
    }

    /// Links a provider account to a user (server access).
    #[oai(path = "/oauth-providers", method = "post", operation_id = "create_oauth_provider")]
    async fn create(&self, auth: ServerAuth, body: Json<CreateOAuthProviderBody>) -> ApiResult<CreatedOAuthProvider> {
        let (auth, b) = (auth.0, body.0);
        let new = NewLink {
            user_id: auth.user_id_param(&b.user_id)?,
            provider_config_id: b.provider_config_id,
            account_id: b.account_id,
            email: b.email,
            allow_sign_in: b.allow_sign_in,
            allow_connected_accounts: b.allow_connected_accounts,
        };
        let link = self.oauth.create_link(auth.project(), new).await?;
        Ok(CreatedOAuthProvider::Created(Json(view(auth.project(), &auth, link))))
    }

    /// One link of a user.
    #[oai(path = "/oauth-providers/:user_id/:provider_id", method = "get", operation_id = "get_oauth_provider")]
    async fn get(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        /// The link's id.
        provider_id: Path<String>,
    ) -> ApiResult<Json<OAuthProviderLinkView>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "Client can only read OAuth providers for their own user.")?;
        let link = self.oauth.get_link(auth.project(), user_id, link_id(&provider_id.0)?).await?;
        Ok(Json(view(auth.project(), &auth, link)))
    }

    /// Changes a link: whether it signs in and whether it is a connected account (servers also
    /// `email` and `account_id`).
    #[oai(path = "/oauth-providers/:user_id/:provider_id", method = "patch", operation_id = "update_oauth_provider")]
    async fn update(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        /// The link's id.
        provider_id: Path<String>,
        body: Json<UpdateOAuthProviderBody>,
    ) -> ApiResult<Json<OAuthProviderLinkView>> {
        let (auth, b) = (auth.0, body.0);
        if !auth.access_type.is_server_or_higher() && (b.email.is_some() || b.account_id.is_some()) {
            let field = if b.email.is_some() { "email" } else { "account_id" };
            return Err(KnownError::schema(&format!("body contains unknown properties: {field}")).into());
        }
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "Client can only update OAuth providers for their own user.")?;
        let patch = LinkPatch {
            allow_sign_in: b.allow_sign_in,
            allow_connected_accounts: b.allow_connected_accounts,
            email: b.email.map(Some),
            account_id: b.account_id,
        };
        let link = self.oauth.update_link(auth.project(), user_id, link_id(&provider_id.0)?, patch).await?;
        Ok(Json(view(auth.project(), &auth, link)))
    }

    /// Removes a link (and with it, signing in with that account).
    #[oai(path = "/oauth-providers/:user_id/:provider_id", method = "delete", operation_id = "delete_oauth_provider")]
    async fn delete(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        /// The link's id.
        provider_id: Path<String>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "Client can only delete OAuth providers for their own user.")?;
        self.oauth.delete_link(auth.project(), user_id, link_id(&provider_id.0)?).await?;
        Ok(Success::ok())
    }

    /// The user's connected accounts (links the app may get provider access tokens for).
    #[oai(path = "/connected-accounts/:user_id", method = "get", operation_id = "list_connected_accounts")]
    async fn connected(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
    ) -> ApiResult<Json<ConnectedAccountList>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "Client can only list connected accounts for their own user.")?;
        let links = self.oauth.connected_accounts(auth.project(), user_id).await?;
        let items = links
            .into_iter()
            .map(|l| ConnectedAccountView {
                user_id: l.user_id,
                provider: l.provider_config_id,
                provider_account_id: l.provider_account_id,
            })
            .collect();
        Ok(Json(ConnectedAccountList { items, is_paginated: false }))
    }

    /// A provider access token of one connected account covering `scope`: a stored one still
    /// valid for 5 minutes, or one refreshed with the stored refresh token.
    #[oai(
        path = "/connected-accounts/:user_id/:provider_id/:provider_account_id/access-token",
        method = "post",
        operation_id = "create_connected_account_access_token"
    )]
    async fn access_token(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        /// The provider's id in the project config.
        provider_id: Path<String>,
        /// The account's id at the provider.
        provider_account_id: Path<String>,
        body: Json<AccessTokenRequest>,
    ) -> ApiResult<CreatedAccessToken> {
        self.provider_access_token(auth.0, &user_id.0, &provider_id.0, Some(&provider_account_id.0), body.0).await
    }

    /// Legacy form of the access-token route: any of the user's accounts at the provider.
    #[oai(
        path = "/connected-accounts/:user_id/:provider_id/access-token",
        method = "post",
        operation_id = "create_connected_account_access_token_legacy"
    )]
    async fn access_token_legacy(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        /// The provider's id in the project config.
        provider_id: Path<String>,
        body: Json<AccessTokenRequest>,
    ) -> ApiResult<CreatedAccessToken> {
        self.provider_access_token(auth.0, &user_id.0, &provider_id.0, None, body.0).await
    }
}

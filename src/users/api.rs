//! `/users`, `/users/{user_id}` and `/users/me` (spec 10 §1).

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::Value;

use std::sync::Arc;

use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::{AccessType, RequestAuth, ServerAuth, SignedInUser};
use crate::users::changes::{self, UserChanges};
use crate::users::store::ListQuery;
use crate::users::{CurrentUser, ServerUser, UserRecord, UsersService};
use crate::web::{maybe, uuid_param, Success, Tag};

pub struct UsersApi {
    pub users: Arc<UsersService>,
}

#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct RiskScoresInput {
    pub sign_up: SignUpRiskScoresInput,
}

#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct SignUpRiskScoresInput {
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub bot: i64,
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub free_trial_abuse: i64,
}

/// `POST /users`. Every field is optional.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct CreateUserBody {
    #[oai(validator(max_length = 256))]
    pub display_name: Option<String>,
    /// An http(s) URL or a base64 `data:image/...` URL.
    pub profile_image_url: Option<String>,
    pub client_metadata: Option<Value>,
    pub client_read_only_metadata: Option<Value>,
    pub server_metadata: Option<Value>,
    /// Normalized to lower case.
    pub primary_email: Option<String>,
    pub primary_email_verified: Option<bool>,
    /// Whether the primary e-mail can be used to sign in (default false).
    pub primary_email_auth_enabled: Option<bool>,
    /// Plain password (stored as an argon2id hash).
    #[oai(validator(max_length = 70))]
    pub password: Option<String>,
    /// An existing bcrypt hash (`$2a$`/`$2b$`/`$2y$`, cost ≤ 16) to import.
    pub password_hash: Option<String>,
    pub otp_auth_enabled: Option<bool>,
    /// Base64 of the raw TOTP secret.
    pub totp_secret_base64: Option<String>,
    pub passkey_auth_enabled: Option<bool>,
    pub is_anonymous: Option<bool>,
    pub restricted_by_admin: Option<bool>,
    pub restricted_by_admin_reason: Option<String>,
    pub restricted_by_admin_private_details: Option<String>,
    /// ISO 3166-1 alpha-2 code.
    pub country_code: Option<String>,
    pub risk_scores: Option<RiskScoresInput>,
    /// Linked OAuth accounts to create (needs configured OAuth providers).
    pub oauth_providers: Option<Vec<Value>>,
}

/// `PATCH /users/{user_id}` and `PATCH /users/me`. Omitted fields stay; `null` clears.
/// Client access may only send `display_name`, `profile_image_url`, `client_metadata`,
/// `selected_team_id`, `totp_secret_base64`, `otp_auth_enabled`, `passkey_auth_enabled`, `primary_email`.
#[derive(Object, Debug)]
#[oai(deny_unknown_fields)]
pub struct UpdateUserBody {
    #[oai(validator(max_length = 256))]
    pub display_name: MaybeUndefined<String>,
    pub profile_image_url: MaybeUndefined<String>,
    pub client_metadata: MaybeUndefined<Value>,
    pub client_read_only_metadata: MaybeUndefined<Value>,
    pub server_metadata: MaybeUndefined<Value>,
    pub primary_email: MaybeUndefined<String>,
    pub primary_email_verified: Option<bool>,
    pub primary_email_auth_enabled: Option<bool>,
    /// A new password; `null` removes password sign-in. Either way all the user's sessions end.
    #[oai(validator(max_length = 70))]
    pub password: MaybeUndefined<String>,
    pub password_hash: MaybeUndefined<String>,
    pub otp_auth_enabled: Option<bool>,
    pub totp_secret_base64: MaybeUndefined<String>,
    pub passkey_auth_enabled: Option<bool>,
    /// Only `false` (turns an anonymous user into a regular one).
    pub is_anonymous: Option<bool>,
    pub restricted_by_admin: Option<bool>,
    pub restricted_by_admin_reason: MaybeUndefined<String>,
    pub restricted_by_admin_private_details: MaybeUndefined<String>,
    pub country_code: MaybeUndefined<String>,
    pub risk_scores: Option<RiskScoresInput>,
    /// A team the user is a member of, or `null`.
    pub selected_team_id: MaybeUndefined<String>,
}

#[derive(Object)]
pub struct Pagination {
    /// Id of the first user of the next page, or null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Object)]
pub struct UserList {
    pub items: Vec<ServerUser>,
    pub is_paginated: bool,
    pub pagination: Pagination,
}

#[derive(ApiResponse)]
pub enum CreatedUser {
    /// The new user.
    #[oai(status = 201)]
    Created(Json<ServerUser>),
}

fn lift<T, U>(v: Option<Option<T>>, f: impl FnOnce(Option<T>) -> ApiResult<Option<U>>) -> ApiResult<Option<Option<U>>> {
    v.map(f).transpose()
}

fn risk(scores: Option<RiskScoresInput>) -> Option<(i64, i64)> {
    scores.map(|r| (r.sign_up.bot, r.sign_up.free_trial_abuse))
}

async fn create_changes(users: &UsersService, b: CreateUserBody) -> ApiResult<UserChanges> {
    if let Some(first) = b.oauth_providers.as_ref().and_then(|p| p.first()) {
        let id = first.get("id").and_then(Value::as_str).unwrap_or_default();
        return Err(ApiError::bad_request(format!("OAuth provider {id} not found")));
    }
    Ok(UserChanges {
        display_name: Some(changes::parse_display_name(b.display_name)?),
        profile_image_url: Some(changes::parse_profile_image_url(b.profile_image_url, true)?),
        client_metadata: b.client_metadata.map(Some),
        client_read_only_metadata: b.client_read_only_metadata.map(Some),
        server_metadata: b.server_metadata.map(Some),
        primary_email: b
            .primary_email
            .map(|e| changes::parse_email_field("primary_email", &e).map(Some))
            .transpose()?,
        primary_email_verified: b.primary_email_verified,
        primary_email_auth_enabled: b.primary_email_auth_enabled,
        password_hash: users.password_change(b.password.map(Some), b.password_hash.map(Some)).await?,
        otp_auth_enabled: b.otp_auth_enabled,
        passkey_auth_enabled: b.passkey_auth_enabled,
        totp_secret: b.totp_secret_base64.map(|s| changes::parse_totp_secret(Some(s))).transpose()?,
        is_anonymous: b.is_anonymous,
        restricted_by_admin: b.restricted_by_admin,
        restricted_by_admin_reason: Some(changes::reject_empty(b.restricted_by_admin_reason)),
        restricted_by_admin_private_details: Some(changes::reject_empty(b.restricted_by_admin_private_details)),
        country_code: b.country_code.map(|c| changes::parse_country_code(Some(c))).transpose()?,
        risk_scores: risk(b.risk_scores),
        selected_team_id: None,
    })
}

const CLIENT_WRITABLE: &[&str] = &[
    "display_name",
    "profile_image_url",
    "client_metadata",
    "selected_team_id",
    "totp_secret_base64",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "primary_email",
];

/// Names of the server-only fields present in a client's update body.
fn server_only_fields(b: &UpdateUserBody) -> Vec<&'static str> {
    let present = [
        ("client_read_only_metadata", !b.client_read_only_metadata.is_undefined()),
        ("server_metadata", !b.server_metadata.is_undefined()),
        ("primary_email_verified", b.primary_email_verified.is_some()),
        ("primary_email_auth_enabled", b.primary_email_auth_enabled.is_some()),
        ("password", !b.password.is_undefined()),
        ("password_hash", !b.password_hash.is_undefined()),
        ("is_anonymous", b.is_anonymous.is_some()),
        ("restricted_by_admin", b.restricted_by_admin.is_some()),
        ("restricted_by_admin_reason", !b.restricted_by_admin_reason.is_undefined()),
        ("restricted_by_admin_private_details", !b.restricted_by_admin_private_details.is_undefined()),
        ("country_code", !b.country_code.is_undefined()),
        ("risk_scores", b.risk_scores.is_some()),
    ];
    present.iter().filter(|(name, p)| *p && !CLIENT_WRITABLE.contains(name)).map(|(name, _)| *name).collect()
}

async fn update_changes(users: &UsersService, b: UpdateUserBody, server_access: bool) -> ApiResult<UserChanges> {
    if b.is_anonymous == Some(true) {
        return Err(KnownError::schema("body.is_anonymous must be one of the following values: false").into());
    }
    let restricted_by_admin = b.restricted_by_admin;
    Ok(UserChanges {
        display_name: lift(maybe(b.display_name), changes::parse_display_name)?,
        profile_image_url: lift(maybe(b.profile_image_url), |u| changes::parse_profile_image_url(u, server_access))?,
        client_metadata: maybe(b.client_metadata),
        client_read_only_metadata: maybe(b.client_read_only_metadata),
        server_metadata: maybe(b.server_metadata),
        primary_email: lift(maybe(b.primary_email), |e| {
            e.map(|e| changes::parse_email_field("primary_email", &e)).transpose()
        })?,
        primary_email_verified: b.primary_email_verified,
        primary_email_auth_enabled: b.primary_email_auth_enabled,
        password_hash: users.password_change(maybe(b.password), maybe(b.password_hash)).await?,
        otp_auth_enabled: b.otp_auth_enabled,
        passkey_auth_enabled: b.passkey_auth_enabled,
        totp_secret: lift(maybe(b.totp_secret_base64), changes::parse_totp_secret)?,
        is_anonymous: b.is_anonymous,
        restricted_by_admin,
        restricted_by_admin_reason: maybe(b.restricted_by_admin_reason).map(changes::reject_empty),
        restricted_by_admin_private_details: maybe(b.restricted_by_admin_private_details).map(changes::reject_empty),
        country_code: lift(maybe(b.country_code), changes::parse_country_code)?,
        risk_scores: risk(b.risk_scores),
        selected_team_id: maybe(b.selected_team_id),
    })
}

impl UsersApi {
    /// The signed-in user's record; a token whose user was deleted counts as no user.
    async fn me(&self, me: &SignedInUser) -> ApiResult<Arc<UserRecord>> {
        let user = self.users.get(me.auth.project_id(), &me.user_id).await?;
        user.ok_or_else(|| KnownError::cannot_get_own_user_without_user().into())
    }

    fn server_view(&self, auth: &RequestAuth, user: &UserRecord) -> ServerUser {
        user.to_server(&auth.project().config, self.users.last_active_at(user))
    }

    fn render(&self, auth: &RequestAuth, user: &UserRecord) -> CurrentUser {
        match auth.access_type {
            AccessType::Client => CurrentUser::Client(user.to_client(&auth.project().config)),
            _ => CurrentUser::Server(self.server_view(auth, user)),
        }
    }
}

#[OpenApi(tag = "Tag::Users")]
impl UsersApi {
    /// Lists users, oldest first unless `desc=true`. Anonymous and restricted users are left out unless asked for.
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/users", method = "get", operation_id = "list_users")]
    async fn list_users(
        &self,
        auth: ServerAuth,
        /// Page size (no limit when omitted).
        #[oai(validator(minimum(value = "1")))]
        limit: Query<Option<u32>>,
        /// Id of the first user of the page (a previous `next_cursor`).
        cursor: Query<Option<String>>,
        /// Sort key; only `signed_up_at`.
        order_by: Query<Option<String>>,
        /// Newest first.
        desc: Query<Option<bool>>,
        /// Matches an exact id, or a substring of the display name or of any e-mail (case-insensitive).
        query: Query<Option<String>>,
        /// Only members of this team.
        team_id: Query<Option<String>>,
        /// Include users restricted by an administrator or by e-mail verification.
        include_restricted: Query<Option<bool>>,
        /// Include anonymous (and restricted) users.
        include_anonymous: Query<Option<bool>>,
        /// Only anonymous users; needs `include_anonymous=true`.
        only_anonymous: Query<Option<bool>>,
    ) -> ApiResult<Json<UserList>> {
        let auth = auth.0;
        if let Some(order) = order_by.0.as_deref() {
            if order != "signed_up_at" {
                return Err(
                    KnownError::schema("query.order_by must be one of the following values: signed_up_at").into()
                );
            }
        }
        let include_anonymous = include_anonymous.0.unwrap_or(false);
        let only_anonymous = only_anonymous.0.unwrap_or(false);
        if only_anonymous && !include_anonymous {
            return Err(ApiError::bad_request("only_anonymous=true requires include_anonymous=true"));
        }
        if let Some(cursor) = cursor.0.as_deref() {
            if uuid::Uuid::parse_str(cursor).is_err() {
                return Err(KnownError::schema("query.cursor must be a valid UUID").into());
            }
        }
        let config = &auth.project().config;
        let team_id = team_id.0.map(|t| uuid_param("query.team_id", &t)).transpose()?;
        let q = ListQuery {
            limit: limit.0,
            cursor: cursor.0.map(|c| c.to_lowercase()),
            desc: desc.0.unwrap_or(false),
            query: query.0,
            include_restricted: include_restricted.0.unwrap_or(false),
            include_anonymous,
            only_anonymous,
            require_email_verification: config.require_email_verification,
            team_id,
        };
        let (users, next) = self.users.list(auth.project_id(), q).await?;
        Ok(Json(UserList {
            items: users.iter().map(|u| self.server_view(&auth, u)).collect(),
            is_paginated: true,
            pagination: Pagination { next_cursor: next },
        }))
    }

    /// Creates a user. No sign-up rules run and no e-mail is sent.
    #[oai(path = "/users", method = "post", operation_id = "create_user")]
    async fn create_user(&self, auth: ServerAuth, body: Json<CreateUserBody>) -> ApiResult<CreatedUser> {
        let auth = auth.0;
        let changes = create_changes(&self.users, body.0).await?;
        let user = self.users.create(auth.project(), changes).await?;
        Ok(CreatedUser::Created(Json(self.server_view(&auth, &user))))
    }

    /// The signed-in user: the client view for client access, the server view otherwise.
    #[oai(path = "/users/me", method = "get", operation_id = "get_current_user")]
    async fn get_me(&self, me: SignedInUser) -> ApiResult<Json<CurrentUser>> {
        let user = self.me(&me).await?;
        Ok(Json(self.render(&me.auth, &user)))
    }

    /// Updates the signed-in user. Client access may change only its client-writable fields.
    #[oai(path = "/users/me", method = "patch", operation_id = "update_current_user")]
    async fn update_me(&self, me: SignedInUser, body: Json<UpdateUserBody>) -> ApiResult<Json<CurrentUser>> {
        if me.auth.access_type == AccessType::Client {
            let forbidden = server_only_fields(&body.0);
            if !forbidden.is_empty() {
                return Err(
                    KnownError::schema(&format!("body contains unknown properties: {}", forbidden.join(", "))).into()
                );
            }
        }
        let user = self.me(&me).await?;
        let server_access = me.auth.access_type.is_server_or_higher();
        let changes = update_changes(&self.users, body.0, server_access).await?;
        let user = self.users.update(me.auth.project(), user.id.clone(), changes).await?;
        Ok(Json(self.render(&me.auth, &user)))
    }

    /// Deletes the signed-in user and all its sessions. Client access needs `client_user_deletion_enabled`.
    #[oai(path = "/users/me", method = "delete", operation_id = "delete_current_user")]
    async fn delete_me(&self, me: SignedInUser) -> ApiResult<Json<Success>> {
        let user = self.me(&me).await?;
        let auth = &me.auth;
        if auth.access_type == AccessType::Client && !auth.project().config.client_user_deletion_enabled {
            return Err(ApiError::bad_request("Client user deletion is not enabled for this project"));
        }
        self.users.delete(auth.project_id(), user.id.clone()).await?;
        Ok(Success::ok())
    }

    /// Reads any user of the project, including anonymous and restricted ones.
    #[oai(path = "/users/:user_id", method = "get", operation_id = "get_user")]
    async fn get_user(&self, auth: ServerAuth, user_id: Path<String>) -> ApiResult<Json<ServerUser>> {
        let auth = auth.0;
        let id = auth.user_id_param(&user_id.0)?;
        let user = self.users.get(auth.project_id(), &id).await?.ok_or_else(KnownError::user_not_found)?;
        Ok(Json(self.server_view(&auth, &user)))
    }

    /// Updates a user. A password change (or removal) ends all of the user's sessions.
    #[oai(path = "/users/:user_id", method = "patch", operation_id = "update_user")]
    async fn update_user(
        &self,
        auth: ServerAuth,
        user_id: Path<String>,
        body: Json<UpdateUserBody>,
    ) -> ApiResult<Json<ServerUser>> {
        let auth = auth.0;
        let id = auth.user_id_param(&user_id.0)?;
        let changes = update_changes(&self.users, body.0, true).await?;
        let user = self.users.update(auth.project(), id, changes).await?;
        Ok(Json(self.server_view(&auth, &user)))
    }

    /// Deletes a user with its e-mails, credentials and sessions.
    #[oai(path = "/users/:user_id", method = "delete", operation_id = "delete_user")]
    async fn delete_user(&self, auth: ServerAuth, user_id: Path<String>) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let id = auth.user_id_param(&user_id.0)?;
        self.users.delete(auth.project_id(), id).await?;
        Ok(Success::ok())
    }
}

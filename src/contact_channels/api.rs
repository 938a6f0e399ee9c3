//! `/contact-channels` (spec 10 §2): CRUD, sending verification codes, verifying.

use std::sync::Arc;

use poem::http::StatusCode;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::contact_channels::service::{ChannelPatch, NewChannel};
use crate::contact_channels::{ContactChannel, ContactChannelsService, EMAIL};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::{ClientAuth, RequestAuth};
use crate::users::changes;
use crate::verification;
use crate::web::{uuid_param, Success, Tag};

pub struct ContactChannelsApi {
    pub channels: Arc<ContactChannelsService>,
}

/// A user's e-mail address.
#[derive(Object)]
pub struct ContactChannelView {
    pub user_id: String,
    pub id: String,
    pub value: String,
    /// Always `email`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Whether this address can be used to sign in (unique per project).
    pub used_for_auth: bool,
    pub is_verified: bool,
    /// The user's primary e-mail (at most one).
    pub is_primary: bool,
}

fn view(c: ContactChannel) -> ContactChannelView {
    ContactChannelView {
        user_id: c.user_id,
        id: c.id,
        value: c.value,
        kind: EMAIL.into(),
        used_for_auth: c.used_for_auth,
        is_verified: c.is_verified,
        is_primary: c.is_primary,
    }
}

#[derive(Object)]
pub struct ContactChannelList {
    pub items: Vec<ContactChannelView>,
    pub is_paginated: bool,
}

/// `POST /contact-channels`. `is_verified` needs server access.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CreateChannelBody {
    /// A user id or `me`.
    pub user_id: String,
    /// The e-mail address (normalized to lower case).
    pub value: String,
    /// Always `email`.
    #[oai(rename = "type")]
    pub kind: String,
    pub used_for_auth: bool,
    pub is_primary: Option<bool>,
    /// Server access only.
    pub is_verified: Option<bool>,
}

/// `PATCH /contact-channels/{user_id}/{id}`: every field optional. `is_verified` needs server access.
#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct UpdateChannelBody {
    /// A new address; it is unverified again unless `is_verified` is given.
    pub value: Option<String>,
    /// Always `email`.
    #[oai(rename = "type")]
    pub kind: Option<String>,
    pub used_for_auth: Option<bool>,
    pub is_primary: Option<bool>,
    /// Server access only.
    pub is_verified: Option<bool>,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendCodeBody {
    /// Where the link in the e-mail leads (the code is added as `?code=`); must be trusted.
    pub callback_url: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendPrimaryCodeBody {
    /// Must equal the signed-in user's primary e-mail.
    pub email: String,
    /// Where the link in the e-mail leads (the code is added as `?code=`); must be trusted.
    pub callback_url: String,
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct CodeBody {
    /// The 45-character code from the e-mailed link.
    pub code: String,
}

#[derive(Object)]
pub struct CodeValid {
    /// Always true (an invalid code is an error).
    pub is_code_valid: bool,
}

#[derive(ApiResponse)]
pub enum CreatedChannel {
    #[oai(status = 201)]
    Created(Json<ContactChannelView>),
}

fn email_type(kind: &str) -> ApiResult<()> {
    if kind == EMAIL {
        Ok(())
    } else {
        Err(KnownError::schema("body.type must be one of the following values: email").into())
    }
}

fn parse_value(value: &str) -> ApiResult<String> {
    changes::parse_email_field("value", value)
}

fn server_only_field(auth: &RequestAuth, present: bool) -> ApiResult<()> {
    if present && !auth.access_type.is_server_or_higher() {
        return Err(KnownError::schema("body contains unknown properties: is_verified").into());
    }
    Ok(())
}

fn not_own_user(verb: &str) -> ApiError {
    ApiError::plain(StatusCode::FORBIDDEN, format!("Clients can only {verb} contact channels of their own user."))
}

/// The user a client may act on is itself only (`verb`: read, create, update, delete, list).
fn own_user(auth: &RequestAuth, user_id: &str, verb: &str) -> ApiResult<()> {
    if !auth.access_type.is_server_or_higher() && auth.user_id() != Some(user_id) {
        return Err(not_own_user(verb));
    }
    Ok(())
}

fn channel_id(id: &str) -> ApiResult<String> {
    uuid_param("params.contact_channel_id", id)
}

#[OpenApi(tag = "Tag::ContactChannels")]
impl ContactChannelsApi {
    /// Adds an e-mail address to a user. Clients may only add to their own user.
    #[oai(path = "/contact-channels", method = "post", operation_id = "create_contact_channel")]
    async fn create(&self, auth: ClientAuth, body: Json<CreateChannelBody>) -> ApiResult<CreatedChannel> {
        let (auth, b) = (auth.0, body.0);
        server_only_field(&auth, b.is_verified.is_some())?;
        email_type(&b.kind)?;
        let user_id = auth.user_id_param(&b.user_id)?;
        own_user(&auth, &user_id, "create")?;
        let new = NewChannel {
            user_id,
            value: parse_value(&b.value)?,
            used_for_auth: b.used_for_auth,
            is_primary: b.is_primary.unwrap_or(false),
            is_verified: b.is_verified.unwrap_or(false),
        };
        Ok(CreatedChannel::Created(Json(view(self.channels.create(auth.project_id(), new).await?))))
    }

    /// Lists contact channels, oldest first: of one user (clients: their own), or with server
    /// access all of the project's.
    #[oai(path = "/contact-channels", method = "get", operation_id = "list_contact_channels")]
    async fn list(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Query<Option<String>>,
        contact_channel_id: Query<Option<String>>,
    ) -> ApiResult<Json<ContactChannelList>> {
        let auth = auth.0;
        let user_id = user_id.0.map(|u| auth.user_id_param(&u)).transpose()?;
        // Clients must name their own user; only servers may list the whole project.
        match &user_id {
            Some(u) => own_user(&auth, u, "list")?,
            None if !auth.access_type.is_server_or_higher() => return Err(not_own_user("list")),
            None => {}
        }
        let channel = contact_channel_id.0.map(|c| channel_id(&c)).transpose()?;
        let items = self.channels.list(auth.project_id(), user_id, channel).await?;
        Ok(Json(ContactChannelList { items: items.into_iter().map(view).collect(), is_paginated: false }))
    }

    /// One contact channel of a user.
    #[oai(
        path = "/contact-channels/:user_id/:contact_channel_id",
        method = "get",
        operation_id = "get_contact_channel"
    )]
    async fn get(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        contact_channel_id: Path<String>,
    ) -> ApiResult<Json<ContactChannelView>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "read")?;
        let id = channel_id(&contact_channel_id.0)?;
        let c = self
            .channels
            .get(auth.project_id(), &user_id, &id)
            .await?
            .ok_or_else(|| ApiError::plain(StatusCode::NOT_FOUND, "Contact channel not found."))?;
        Ok(Json(view(c)))
    }

    /// Changes a contact channel. A new `value` is unverified unless `is_verified` is given.
    #[oai(
        path = "/contact-channels/:user_id/:contact_channel_id",
        method = "patch",
        operation_id = "update_contact_channel"
    )]
    async fn update(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        contact_channel_id: Path<String>,
        body: Json<UpdateChannelBody>,
    ) -> ApiResult<Json<ContactChannelView>> {
        let (auth, b) = (auth.0, body.0);
        server_only_field(&auth, b.is_verified.is_some())?;
        if let Some(kind) = &b.kind {
            email_type(kind)?;
        }
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "update")?;
        let id = channel_id(&contact_channel_id.0)?;
        // Upstream normalizes a new value only when `type` comes with it (spec 10 §0.3).
        let value = match b.value {
            Some(v) if b.kind.is_some() => Some(parse_value(&v)?),
            Some(v) if changes::is_valid_email(&v) => Some(v),
            Some(_) => return Err(KnownError::schema("body.value must be a valid email").into()),
            None => None,
        };
        let patch = ChannelPatch {
            value,
            used_for_auth: b.used_for_auth,
            is_primary: b.is_primary,
            is_verified: b.is_verified,
        };
        Ok(Json(view(self.channels.update(auth.project_id(), &user_id, &id, patch).await?)))
    }

    /// Removes a contact channel (a primary one leaves the user without a primary e-mail).
    #[oai(
        path = "/contact-channels/:user_id/:contact_channel_id",
        method = "delete",
        operation_id = "delete_contact_channel"
    )]
    async fn delete(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        contact_channel_id: Path<String>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        own_user(&auth, &user_id, "delete")?;
        let id = channel_id(&contact_channel_id.0)?;
        self.channels.delete(auth.project_id(), &user_id, &id).await?;
        Ok(Success::ok())
    }

    /// E-mails a verification link (template `email_verification`) to the channel's address.
    #[oai(
        path = "/contact-channels/:user_id/:contact_channel_id/send-verification-code",
        method = "post",
        operation_id = "send_contact_channel_verification_code"
    )]
    async fn send_code(
        &self,
        auth: ClientAuth,
        /// A user id or `me`.
        user_id: Path<String>,
        contact_channel_id: Path<String>,
        body: Json<SendCodeBody>,
    ) -> ApiResult<Json<Success>> {
        let auth = auth.0;
        let user_id = auth.user_id_param(&user_id.0)?;
        if !auth.access_type.is_server_or_higher() && auth.user_id() != Some(user_id.as_str()) {
            return Err(ApiError::bad_request("Clients can only send verification codes for their own user"));
        }
        let id = channel_id(&contact_channel_id.0)?;
        self.channels.send_channel_verification(auth.project(), user_id, id, body.0.callback_url).await?;
        Ok(Success::ok())
    }

    /// E-mails a verification link to the signed-in user's primary e-mail (the SDK's
    /// `sendVerificationEmail`).
    #[oai(
        path = "/contact-channels/send-verification-code",
        method = "post",
        operation_id = "send_primary_email_verification_code"
    )]
    async fn send_primary_code(&self, auth: ClientAuth, body: Json<SendPrimaryCodeBody>) -> ApiResult<Json<Success>> {
        let (auth, b) = (auth.0, body.0);
        if !changes::is_valid_sign_up_email(&b.email) {
            return Err(KnownError::schema("body.email must be a valid email").into());
        }
        let user_id = auth.user_id().ok_or_else(|| KnownError::schema("auth.user must be defined"))?.to_string();
        self.channels.send_primary_verification(auth.project(), user_id, b.email, b.callback_url).await?;
        Ok(Success::ok())
    }

    /// Verifies the address a code was sent to. Works with any access type and no user.
    #[oai(path = "/contact-channels/verify", method = "post", operation_id = "verify_contact_channel")]
    async fn verify(&self, auth: ClientAuth, body: Json<CodeBody>) -> ApiResult<Json<Success>> {
        let code = verification::parse(&body.0.code)?;
        self.channels.verify(auth.0.project_id(), code, false).await?;
        Ok(Success::ok())
    }

    /// Checks a verification code without using it.
    #[oai(path = "/contact-channels/verify/check-code", method = "post", operation_id = "check_contact_channel_code")]
    async fn check_code(&self, auth: ClientAuth, body: Json<CodeBody>) -> ApiResult<Json<CodeValid>> {
        let code = verification::parse(&body.0.code)?;
        self.channels.verify(auth.0.project_id(), code, true).await?;
        Ok(Json(CodeValid { is_code_valid: true }))
    }
}

//! What every area's handlers share for the OpenAPI document: the tags (one per area) and the
//! `{"success": true}` body. Names no domain module, so any domain can use it.

use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, Tags};

use crate::error::{ApiResult, KnownError};

/// One tag per API area; generated clients group their methods by these.
#[derive(Tags)]
pub enum Tag {
    /// Service root, health and version checks.
    System,
    /// The current project's public and admin views.
    Projects,
    /// Creating, reading, updating, listing and deleting users.
    Users,
    /// Sessions (refresh tokens), access-token refresh and sign-out.
    Sessions,
    /// Sign-up and sign-in with e-mail and password, and anonymous sign-up.
    Auth,
    /// OAuth sign-in (authorize, callback, the token endpoint), the JWKS, users' provider links
    /// and connected accounts.
    Oauth,
    /// Images uploaded as data URLs (profile pictures), served back.
    Images,
    /// A user's e-mail addresses: create, verify, use for sign-in.
    ContactChannels,
    /// E-mail: send-email, the outbox, notification preferences, templates and themes, the
    /// development mailbox.
    Emails,
    /// Teams, memberships, member profiles and invitations.
    Teams,
    /// Team and project permission definitions, and who holds them.
    Permissions,
    /// API keys that users and teams create for their own customers.
    ApiKeys,
    /// The event log: every change to users, teams, memberships and permissions, in commit order.
    Events,
    /// Webhook endpoint management (through the Svix-compatible API) and test events.
    Webhooks,
}

/// A UUID parameter or body field, lower-cased; anything else is a `SCHEMA_ERROR` naming `field`
/// (e.g. `params.team_id`).
pub fn uuid_param(field: &str, value: &str) -> ApiResult<String> {
    uuid::Uuid::parse_str(value)
        .map(|u| u.to_string())
        .map_err(|_| KnownError::schema(&format!("{field} must be a valid UUID")).into())
}

/// A PATCH field: absent (`None`), `null` (`Some(None)`) or a value.
pub fn maybe<T>(v: MaybeUndefined<T>) -> Option<Option<T>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

/// `{"success": true}`, the body of deletes and other actions without a result.
#[derive(Object)]
pub struct Success {
    /// Always true.
    pub success: bool,
}

impl Success {
    pub fn ok() -> poem_openapi::payload::Json<Success> {
        poem_openapi::payload::Json(Success { success: true })
    }
}

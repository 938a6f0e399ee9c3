//! Contact channels (spec 10 §2): a user's e-mail addresses, which may be primary, verified and
//! used to sign in. The primary e-mail of a user is its primary channel.
//!
//! Verification codes for channels are sent here too ([`ContactChannelsService::send_verification_in`]),
//! for sign-up (`auth`) as well as for the channel endpoints.

pub mod api;
pub mod service;
pub mod store;

pub use service::ContactChannelsService;

/// A contact channel row.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactChannel {
    pub id: String,
    pub user_id: String,
    pub value: String,
    pub is_primary: bool,
    pub is_verified: bool,
    pub used_for_auth: bool,
}

/// Only e-mail channels exist (upstream's `type` is always `email` on the wire).
pub const EMAIL: &str = "email";

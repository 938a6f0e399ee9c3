//! Users (spec 10 §1): the stored record, its client and server views, and how it changes.
//!
//! `changes.rs` is the one validated change set every write path uses (server create/update,
//! client update, every sign-up method); `service.rs` runs it in transactions; `store.rs` is the SQL.
//! Adding a user field: a migration, [`UserRecord`] (+ `store::USER_SELECT`), the views below, the
//! request bodies in `api.rs` and [`changes::UserChanges`].

pub mod api;
pub mod changes;
pub mod email;
pub mod service;
pub mod store;
pub mod team_views;

use poem_openapi::{Object, Union};
use serde_json::Value;

use crate::cache::{opt_json_weight, opt_str_weight, Weigh};
use crate::projects::ProjectConfig;
use crate::tokens::{TokenKind, TokenSubject};
pub use service::{TeamHooks, UsersService};
pub use team_views::{ClientTeam, ServerTeam, TeamRecord};

/// A user as stored, joined with its primary e-mail and auth methods.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: String,
    pub project_id: String,
    pub display_name: Option<String>,
    pub profile_image_url: Option<String>,
    pub signed_up_at: i64,
    pub last_active_at: i64,
    pub client_metadata: Option<Value>,
    pub client_read_only_metadata: Option<Value>,
    pub server_metadata: Option<Value>,
    pub is_anonymous: bool,
    pub restricted_by_admin: bool,
    pub restricted_by_admin_reason: Option<String>,
    pub restricted_by_admin_private_details: Option<String>,
    pub country_code: Option<String>,
    pub risk_score_bot: i64,
    pub risk_score_free_trial_abuse: i64,
    pub otp_auth_enabled: bool,
    pub requires_totp_mfa: bool,
    pub selected_team_id: Option<String>,
    /// The selected team's row (read with the user).
    pub selected_team: Option<TeamRecord>,
    pub primary_email: Option<String>,
    pub primary_email_verified: bool,
    pub primary_email_auth_enabled: bool,
    pub has_password: bool,
    /// Linked OAuth accounts, oldest first.
    pub oauth_providers: Vec<OAuthProviderLink>,
    /// The user has a passkey (at most one).
    pub has_passkey: bool,
}

impl Weigh for UserRecord {
    fn weigh(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.id.len()
            + self.project_id.len()
            + opt_str_weight(&self.display_name)
            + opt_str_weight(&self.profile_image_url)
            + opt_json_weight(&self.client_metadata)
            + opt_json_weight(&self.client_read_only_metadata)
            + opt_json_weight(&self.server_metadata)
            + opt_str_weight(&self.restricted_by_admin_reason)
            + opt_str_weight(&self.restricted_by_admin_private_details)
            + opt_str_weight(&self.country_code)
            + opt_str_weight(&self.selected_team_id)
            + self.selected_team.as_ref().map_or(0, TeamRecord::weigh)
            + opt_str_weight(&self.primary_email)
            + self
                .oauth_providers
                .iter()
                .map(|o| {
                    std::mem::size_of::<OAuthProviderLink>()
                        + o.id.len()
                        + o.account_id.len()
                        + opt_str_weight(&o.email)
                })
                .sum::<usize>()
    }
}

impl UserRecord {
    /// What an access token says about this user (spec 00 §4.1).
    pub fn token_subject(&self, config: &ProjectConfig) -> TokenSubject {
        let reason = self.restricted_reason(config);
        TokenSubject {
            user_id: self.id.clone(),
            kind: self.token_kind(config),
            restricted_reason: reason.map(String::from),
            name: self.display_name.clone(),
            email: self.primary_email.clone(),
            email_verified: self.primary_email_verified,
            selected_team_id: self.selected_team_id.clone(),
            signed_up_at_secs: self.signed_up_at / 1000,
            is_anonymous: self.is_anonymous,
            requires_totp_mfa: self.requires_totp_mfa,
        }
    }

    /// Why the user is restricted, first match wins (spec 10 §1.8).
    pub fn restricted_reason(&self, config: &ProjectConfig) -> Option<&'static str> {
        if self.is_anonymous {
            Some("anonymous")
        } else if config.require_email_verification && !self.primary_email_verified {
            Some("email_not_verified")
        } else if self.restricted_by_admin {
            Some("restricted_by_administrator")
        } else {
            None
        }
    }

    pub fn token_kind(&self, config: &ProjectConfig) -> TokenKind {
        match self.restricted_reason(config) {
            Some("anonymous") => TokenKind::Anonymous,
            Some(_) => TokenKind::Restricted,
            None => TokenKind::Normal,
        }
    }

    pub fn to_client(&self, config: &ProjectConfig) -> ClientUser {
        let reason = self.restricted_reason(config);
        ClientUser {
            id: self.id.clone(),
            primary_email: self.primary_email.clone(),
            primary_email_verified: self.primary_email_verified,
            display_name: self.display_name.clone(),
            profile_image_url: self.profile_image_url.clone(),
            signed_up_at_millis: self.signed_up_at,
            client_metadata: self.client_metadata.clone(),
            client_read_only_metadata: self.client_read_only_metadata.clone(),
            has_password: self.has_password,
            otp_auth_enabled: self.otp_auth_enabled,
            passkey_auth_enabled: self.has_passkey,
            auth_with_email: self.has_password || self.otp_auth_enabled,
            requires_totp_mfa: self.requires_totp_mfa,
            oauth_providers: self.oauth_providers.clone(),
            selected_team_id: self.selected_team_id.clone(),
            selected_team: self.selected_team.as_ref().map(TeamRecord::to_client),
            is_anonymous: self.is_anonymous,
            is_restricted: reason.is_some(),
            restricted_reason: reason.map(RestrictedReasonView::new),
            restricted_by_admin: self.restricted_by_admin,
            restricted_by_admin_reason: self.restricted_by_admin_reason.clone(),
        }
    }

    /// `last_active_at` may be newer than the stored value (see `sessions::activity`).
    pub fn to_server(&self, config: &ProjectConfig, last_active_at: i64) -> ServerUser {
        let c = self.to_client(config);
        ServerUser {
            id: c.id,
            primary_email: c.primary_email,
            primary_email_verified: c.primary_email_verified,
            primary_email_auth_enabled: self.primary_email_auth_enabled,
            display_name: c.display_name,
            profile_image_url: c.profile_image_url,
            signed_up_at_millis: c.signed_up_at_millis,
            last_active_at_millis: last_active_at.max(self.last_active_at),
            client_metadata: c.client_metadata,
            client_read_only_metadata: c.client_read_only_metadata,
            server_metadata: self.server_metadata.clone(),
            has_password: c.has_password,
            otp_auth_enabled: c.otp_auth_enabled,
            passkey_auth_enabled: c.passkey_auth_enabled,
            auth_with_email: c.auth_with_email,
            requires_totp_mfa: c.requires_totp_mfa,
            oauth_providers: c.oauth_providers,
            selected_team_id: c.selected_team_id,
            selected_team: self.selected_team.as_ref().map(TeamRecord::to_server),
            is_anonymous: c.is_anonymous,
            is_restricted: c.is_restricted,
            restricted_reason: c.restricted_reason,
            restricted_by_admin: c.restricted_by_admin,
            restricted_by_admin_reason: c.restricted_by_admin_reason,
            restricted_by_admin_private_details: self.restricted_by_admin_private_details.clone(),
            country_code: self.country_code.clone(),
            risk_scores: RiskScores {
                sign_up: SignUpRiskScores {
                    bot: self.risk_score_bot,
                    free_trial_abuse: self.risk_score_free_trial_abuse,
                },
            },
        }
    }
}

/// `{type}` of a restricted user.
#[derive(Object, Debug, Clone)]
#[oai(rename = "RestrictedReason")]
pub struct RestrictedReasonView {
    /// `anonymous`, `email_not_verified` or `restricted_by_administrator`.
    #[oai(rename = "type")]
    pub kind: String,
}

impl RestrictedReasonView {
    fn new(kind: &str) -> Self {
        RestrictedReasonView { kind: kind.to_string() }
    }
}

/// An OAuth account linked to the user.
#[derive(Object, Debug, Clone)]
pub struct OAuthProviderLink {
    /// Provider config id, e.g. `github`.
    pub id: String,
    pub account_id: String,
    pub email: Option<String>,
}

#[derive(Object, Debug, Clone)]
pub struct SignUpRiskScores {
    /// Bot likelihood, 0–100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub bot: i64,
    /// Free-trial-abuse likelihood, 0–100.
    #[oai(validator(minimum(value = "0"), maximum(value = "100")))]
    pub free_trial_abuse: i64,
}

#[derive(Object, Debug, Clone)]
pub struct RiskScores {
    pub sign_up: SignUpRiskScores,
}

/// A user as the user themself (client access) sees it.
#[derive(Object, Debug, Clone)]
pub struct ClientUser {
    /// The user's id (UUID).
    pub id: String,
    /// Primary e-mail address, normalized to lower case.
    pub primary_email: Option<String>,
    pub primary_email_verified: bool,
    pub display_name: Option<String>,
    pub profile_image_url: Option<String>,
    /// Sign-up time, milliseconds since the epoch.
    pub signed_up_at_millis: i64,
    /// Readable and writable by the client.
    pub client_metadata: Option<Value>,
    /// Readable by the client, writable by the server only.
    pub client_read_only_metadata: Option<Value>,
    pub has_password: bool,
    pub otp_auth_enabled: bool,
    pub passkey_auth_enabled: bool,
    /// Deprecated: `has_password || otp_auth_enabled`.
    pub auth_with_email: bool,
    pub requires_totp_mfa: bool,
    pub oauth_providers: Vec<OAuthProviderLink>,
    pub selected_team_id: Option<String>,
    pub selected_team: Option<ClientTeam>,
    pub is_anonymous: bool,
    pub is_restricted: bool,
    pub restricted_reason: Option<RestrictedReasonView>,
    pub restricted_by_admin: bool,
    pub restricted_by_admin_reason: Option<String>,
}

/// A user as a server (or admin) sees it.
#[derive(Object, Debug, Clone)]
pub struct ServerUser {
    pub id: String,
    pub primary_email: Option<String>,
    pub primary_email_verified: bool,
    /// Whether the primary e-mail can be used to sign in.
    pub primary_email_auth_enabled: bool,
    pub display_name: Option<String>,
    pub profile_image_url: Option<String>,
    pub signed_up_at_millis: i64,
    /// Last time an access token was issued for the user, milliseconds since the epoch.
    pub last_active_at_millis: i64,
    pub client_metadata: Option<Value>,
    pub client_read_only_metadata: Option<Value>,
    /// Readable and writable by the server only.
    pub server_metadata: Option<Value>,
    pub has_password: bool,
    pub otp_auth_enabled: bool,
    pub passkey_auth_enabled: bool,
    pub auth_with_email: bool,
    pub requires_totp_mfa: bool,
    pub oauth_providers: Vec<OAuthProviderLink>,
    pub selected_team_id: Option<String>,
    pub selected_team: Option<ServerTeam>,
    pub is_anonymous: bool,
    pub is_restricted: bool,
    pub restricted_reason: Option<RestrictedReasonView>,
    pub restricted_by_admin: bool,
    pub restricted_by_admin_reason: Option<String>,
    pub restricted_by_admin_private_details: Option<String>,
    /// ISO 3166-1 alpha-2 country code captured at sign-up.
    pub country_code: Option<String>,
    pub risk_scores: RiskScores,
}

/// `GET /users/me`: the client view for client access, the server view otherwise.
// Built once per response and serialized at once: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Union, Debug, Clone)]
pub enum CurrentUser {
    Server(ServerUser),
    Client(ClientUser),
}

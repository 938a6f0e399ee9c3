//! One validated set of changes to a user, shared by `POST /users`, `PATCH /users/{id}`,
//! `PATCH /users/me` and the sign-up paths, and the rules for applying it (spec 10 §1.3, §1.5).

use poem::http::StatusCode;
use serde_json::Value;

use crate::db::{now_millis, Tx};
use crate::error::{ApiError, ApiResult, KnownError};
use crate::images::{self, ImageInput};
use crate::projects::ProjectConfig;
pub use crate::users::email::{is_valid_email, is_valid_sign_up_email, normalize_email};
use crate::users::store::{self, EmailChannel};

/// `None` = leave unchanged; `Some(None)` = clear.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub display_name: Option<Option<String>>,
    /// A URL as given, or an image to store (stored by `UsersService::apply_in`).
    pub profile_image_url: Option<Option<ImageInput>>,
    pub client_metadata: Option<Option<Value>>,
    pub client_read_only_metadata: Option<Option<Value>>,
    pub server_metadata: Option<Option<Value>>,
    /// Already normalized.
    pub primary_email: Option<Option<String>>,
    pub primary_email_verified: Option<bool>,
    pub primary_email_auth_enabled: Option<bool>,
    /// An argon2id or imported bcrypt hash; hashing happens before the write transaction.
    pub password_hash: Option<Option<String>>,
    pub otp_auth_enabled: Option<bool>,
    pub passkey_auth_enabled: Option<bool>,
    pub totp_secret: Option<Option<Vec<u8>>>,
    pub is_anonymous: Option<bool>,
    pub restricted_by_admin: Option<bool>,
    pub restricted_by_admin_reason: Option<Option<String>>,
    pub restricted_by_admin_private_details: Option<Option<String>>,
    pub country_code: Option<Option<String>>,
    pub risk_scores: Option<(i64, i64)>,
    pub selected_team_id: Option<Option<String>>,
}

pub fn parse_email_field(field: &str, email: &str) -> ApiResult<String> {
    if !is_valid_email(email) {
        return Err(KnownError::schema(&format!("body.{field} must be a valid email")).into());
    }
    normalize_email(email).ok_or_else(|| KnownError::schema(&format!("body.{field} must be a valid email")).into())
}

pub fn parse_display_name(name: Option<String>) -> ApiResult<Option<String>> {
    match name {
        Some(n) if n.chars().count() > 256 => {
            Err(KnownError::schema("body.display_name must be at most 256 characters").into())
        }
        Some(n) if n.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// A profile image field: empty clears it; otherwise see [`images::parse_image_input`].
pub fn parse_profile_image_url(url: Option<String>, server_access: bool) -> ApiResult<Option<ImageInput>> {
    match url.filter(|u| !u.is_empty()) {
        None => Ok(None),
        Some(url) => images::parse_image_input(&url, server_access).map(Some),
    }
}

pub fn parse_country_code(code: Option<String>) -> ApiResult<Option<String>> {
    let Some(code) = code else { return Ok(None) };
    let code = code.trim().to_uppercase();
    if code.len() == 2 && code.chars().all(|c| c.is_ascii_uppercase()) {
        Ok(Some(code))
    } else {
        Err(KnownError::schema("body.country_code must be a 2-letter country code").into())
    }
}

pub fn parse_totp_secret(secret: Option<String>) -> ApiResult<Option<Vec<u8>>> {
    use base64::Engine;
    let Some(secret) = secret else {
        return Ok(None);
    };
    base64::engine::general_purpose::STANDARD
        .decode(secret.as_bytes())
        .map(Some)
        .map_err(|_| KnownError::schema("body.totp_secret_base64 is not valid base64").into())
}

pub fn reject_empty(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty())
}

/// Whether this change set replaces or removes the password (which ends every session).
impl UserChanges {
    pub fn changes_password(&self) -> bool {
        self.password_hash.is_some()
    }

    /// Checks that need the project's config but no database (spec 10 §1.3 error order).
    pub fn check_against_config(&self, config: &ProjectConfig, creating: bool) -> ApiResult<()> {
        if matches!(self.password_hash, Some(Some(_))) && !config.credential_enabled {
            return Err(ApiError::bad_request("Password auth not enabled in the project"));
        }
        if self.otp_auth_enabled == Some(true) && !config.magic_link_enabled {
            return Err(ApiError::bad_request("OTP auth not enabled in the project"));
        }
        if !creating && self.passkey_auth_enabled == Some(true) {
            return Err(ApiError::bad_request(
                "Cannot manually enable passkey auth: it is enabled exactly when the user has a passkey",
            ));
        }
        if self.restricted_by_admin != Some(true) {
            if matches!(self.restricted_by_admin_reason, Some(Some(_))) {
                return Err(ApiError::bad_request("restricted_by_admin_reason requires restricted_by_admin=true"));
            }
            if matches!(self.restricted_by_admin_private_details, Some(Some(_))) {
                return Err(ApiError::bad_request(
                    "restricted_by_admin_private_details requires restricted_by_admin=true",
                ));
            }
        }
        Ok(())
    }

    /// Applies the changes to an existing user row inside the caller's transaction.
    pub fn apply(self, tx: &Tx, project_id: &str, user_id: &str, creating: bool) -> ApiResult<()> {
        if let Some(v) = &self.display_name {
            store::set_text(tx, user_id, "display_name", v.as_deref())?;
        }
        if let Some(v) = &self.profile_image_url {
            let url = match v {
                None => None,
                Some(ImageInput::Url(url)) => Some(url.as_str()),
                Some(ImageInput::Upload(_)) => {
                    return Err(ApiError::internal("an uploaded image must be stored before the user changes"))
                }
            };
            store::set_text(tx, user_id, "profile_image_url", url)?;
        }
        if let Some(v) = &self.client_metadata {
            store::set_json(tx, user_id, "client_metadata", v)?;
        }
        if let Some(v) = &self.client_read_only_metadata {
            store::set_json(tx, user_id, "client_read_only_metadata", v)?;
        }
        if let Some(v) = &self.server_metadata {
            store::set_json(tx, user_id, "server_metadata", v)?;
        }
        apply_primary_email(
            tx,
            project_id,
            user_id,
            &self.primary_email,
            self.primary_email_verified,
            self.primary_email_auth_enabled,
        )?;
        if let Some(hash) = &self.password_hash {
            store::set_password_hash(tx, user_id, hash.as_deref())?;
        }
        if let Some(v) = self.otp_auth_enabled {
            store::set_int(tx, user_id, "otp_auth_enabled", v.into())?;
        }
        // Turning passkeys off removes the user's passkey (turning them on needs a registration).
        if self.passkey_auth_enabled == Some(false) {
            store::delete_passkey(tx, user_id)?;
        }
        if let Some(secret) = &self.totp_secret {
            // Upstream quirk kept for compatibility: a secret given at creation does not turn on MFA.
            store::set_totp_secret(tx, user_id, secret.as_deref(), secret.is_some() && !creating)?;
        }
        if self.is_anonymous == Some(false) && !creating {
            let was_anonymous: bool =
                tx.query_row("SELECT is_anonymous FROM users WHERE id = ?1", [user_id], |r| r.get(0))?;
            if was_anonymous {
                store::set_int(tx, user_id, "is_anonymous", 0)?;
                store::set_int(tx, user_id, "signed_up_at", now_millis())?;
            }
        }
        if let Some(restricted) = self.restricted_by_admin {
            store::set_int(tx, user_id, "restricted_by_admin", restricted.into())?;
            if !restricted {
                store::set_text(tx, user_id, "restricted_by_admin_reason", None)?;
                store::set_text(tx, user_id, "restricted_by_admin_private_details", None)?;
            }
        }
        if let Some(v) = &self.restricted_by_admin_reason {
            store::set_text(tx, user_id, "restricted_by_admin_reason", v.as_deref())?;
        }
        if let Some(v) = &self.restricted_by_admin_private_details {
            store::set_text(tx, user_id, "restricted_by_admin_private_details", v.as_deref())?;
        }
        if let Some(v) = &self.country_code {
            store::set_text(tx, user_id, "country_code", v.as_deref())?;
        }
        if let Some((bot, abuse)) = self.risk_scores {
            store::set_int(tx, user_id, "risk_score_bot", bot)?;
            store::set_int(tx, user_id, "risk_score_free_trial_abuse", abuse)?;
        }
        if let Some(team) = &self.selected_team_id {
            // Membership was checked by `UsersService::apply_in` (teams own memberships).
            store::set_text(tx, user_id, "selected_team_id", team.as_deref())?;
        }
        Ok(())
    }
}

/// The primary-e-mail rules of spec 10 §1.5.
fn apply_primary_email(
    tx: &Tx,
    project_id: &str,
    user_id: &str,
    new_email: &Option<Option<String>>,
    verified: Option<bool>,
    auth: Option<bool>,
) -> ApiResult<()> {
    let channels = store::email_channels(tx, user_id)?;
    let current = channels.iter().find(|c| c.is_primary).cloned();
    let without_email =
        |field: &str| ApiError::plain(StatusCode::BAD_REQUEST, format!("{field} cannot be true without primary_email"));

    match new_email {
        None => {
            let Some(mut channel) = current else {
                if auth == Some(true) {
                    return Err(without_email("primary_email_auth_enabled"));
                }
                if verified == Some(true) {
                    return Err(without_email("primary_email_verified"));
                }
                return Ok(());
            };
            if let Some(v) = verified {
                channel.is_verified = v;
            }
            if let Some(a) = auth {
                if a && !channel.used_for_auth
                    && store::auth_email_taken(tx, project_id, &channel.value, Some(&channel.id))?
                {
                    return Err(KnownError::user_email_already_exists(&channel.value, false).into());
                }
                channel.used_for_auth = a;
            }
            store::update_email_channel(tx, &channel)
        }
        Some(None) => {
            if auth == Some(true) {
                return Err(without_email("primary_email_auth_enabled"));
            }
            if verified == Some(true) {
                return Err(without_email("primary_email_verified"));
            }
            store::demote_primary_emails(tx, user_id)
        }
        Some(Some(email)) => {
            let effective_auth = auth.unwrap_or_else(|| current.as_ref().is_some_and(|c| c.used_for_auth));
            let existing = channels.iter().find(|c| &c.value == email).cloned();
            let changed = current.as_ref().map(|c| &c.value) != Some(email);
            if effective_auth
                && (changed || current.as_ref().is_some_and(|c| !c.used_for_auth))
                && store::auth_email_taken(tx, project_id, email, existing.as_ref().map(|c| c.id.as_str()))?
            {
                return Err(KnownError::user_email_already_exists(email, false).into());
            }
            store::demote_primary_emails(tx, user_id)?;
            match existing {
                Some(channel) => store::update_email_channel(
                    tx,
                    &EmailChannel {
                        is_primary: true,
                        is_verified: verified.unwrap_or(channel.is_verified),
                        used_for_auth: effective_auth,
                        ..channel
                    },
                ),
                None => store::insert_email_channel(
                    tx,
                    project_id,
                    user_id,
                    email,
                    true,
                    verified.unwrap_or(false),
                    effective_auth,
                )
                .map(|_| ()),
            }
        }
    }
}

//! Moving users in and out: `stackd users export` / `stackd users import`, one user per line of
//! JSON (JSON Lines) with everything that makes the account — profile, metadata, contact channels,
//! the password hash (argon2 as stored, or imported bcrypt), TOTP, OAuth links and team
//! memberships. Sessions, tokens and provider tokens are not carried: users sign in again.
//!
//! Both directions stream (memory does not grow with the number of users); the import commits in
//! batches and writes each user in a savepoint, so an invalid line is reported with its number and
//! skipped without leaving part of its user behind, and a re-run skips the users already there.

pub mod service;
pub mod store;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One exported user: a line of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub profile_image_url: Option<String>,
    pub signed_up_at_millis: i64,
    #[serde(default)]
    pub last_active_at_millis: Option<i64>,
    #[serde(default)]
    pub client_metadata: Option<Value>,
    #[serde(default)]
    pub client_read_only_metadata: Option<Value>,
    #[serde(default)]
    pub server_metadata: Option<Value>,
    #[serde(default)]
    pub is_anonymous: bool,
    #[serde(default)]
    pub restricted_by_admin: bool,
    #[serde(default)]
    pub restricted_by_admin_reason: Option<String>,
    #[serde(default)]
    pub restricted_by_admin_private_details: Option<String>,
    #[serde(default)]
    pub otp_auth_enabled: bool,
    #[serde(default)]
    pub requires_totp_mfa: bool,
    /// The TOTP secret, base64 (standard alphabet).
    #[serde(default)]
    pub totp_secret_base64: Option<String>,
    #[serde(default)]
    pub selected_team_id: Option<String>,
    /// `$argon2id$…` as stackd stores it, or an importable bcrypt hash (`$2a$`/`$2b$`/`$2y$`).
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub contact_channels: Vec<ChannelLine>,
    #[serde(default)]
    pub oauth_providers: Vec<OAuthLine>,
    #[serde(default)]
    pub teams: Vec<MembershipLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelLine {
    pub id: String,
    /// Only `email` exists today.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub is_primary: bool,
    #[serde(default)]
    pub is_verified: bool,
    #[serde(default)]
    pub used_for_auth: bool,
    pub created_at_millis: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthLine {
    pub id: String,
    /// The provider's id in the project's configuration (`github`…).
    pub provider_config_id: String,
    pub account_id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default = "yes")]
    pub allow_sign_in: bool,
    #[serde(default = "yes")]
    pub allow_connected_accounts: bool,
    pub created_at_millis: i64,
}

fn yes() -> bool {
    true
}

/// A team membership; the team is created (with this id and name) when the project lacks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembershipLine {
    pub team_id: String,
    pub team_display_name: String,
    /// The member's own name and image in the team (null: the user's own).
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub profile_image_url: Option<String>,
    pub joined_at_millis: i64,
}

/// Ids as stackd and upstream make them (UUIDs, or prefixed random ids): short, no odd characters.
fn check_id(what: &str, id: &str) -> Result<(), String> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(format!("{what} {id:?} is not a valid id (1–64 letters, digits, '-' or '_')"));
    }
    Ok(())
}

fn check_metadata(field: &str, value: &Option<Value>) -> Result<(), String> {
    match value {
        None | Some(Value::Null) | Some(Value::Object(_)) => Ok(()),
        Some(_) => Err(format!("{field} must be a JSON object or null")),
    }
}

fn check_text(field: &str, value: &Option<String>, max: usize) -> Result<(), String> {
    match value {
        Some(v) if v.len() > max => Err(format!("{field} is longer than {max} bytes")),
        _ => Ok(()),
    }
}

impl UserLine {
    /// Everything that can be checked without the database.
    pub fn validate(&self) -> Result<(), String> {
        check_id("user id", &self.id)?;
        if self.signed_up_at_millis < 0 {
            return Err("signed_up_at_millis must not be negative".into());
        }
        check_text("display_name", &self.display_name, 1024)?;
        check_text("profile_image_url", &self.profile_image_url, 64 * 1024)?;
        check_metadata("client_metadata", &self.client_metadata)?;
        check_metadata("client_read_only_metadata", &self.client_read_only_metadata)?;
        check_metadata("server_metadata", &self.server_metadata)?;
        if let Some(hash) = &self.password_hash {
            let argon2 = hash.starts_with("$argon2") && argon2::password_hash::PasswordHash::new(hash).is_ok();
            if !argon2 && !crate::crypto::password::is_importable_bcrypt(hash) {
                return Err("password_hash is neither an argon2 PHC string nor a bcrypt hash with cost 4–16".into());
            }
        }
        if let Some(secret) = &self.totp_secret_base64 {
            use base64::Engine;
            if base64::engine::general_purpose::STANDARD.decode(secret).is_err() {
                return Err("totp_secret_base64 is not base64".into());
            }
        }
        if let Some(team) = &self.selected_team_id {
            if !self.teams.iter().any(|t| &t.team_id == team) {
                return Err(format!("selected_team_id {team} is not one of the user's teams"));
            }
        }
        let mut primaries = 0;
        for c in &self.contact_channels {
            check_id("contact channel id", &c.id)?;
            if c.kind != "email" {
                return Err(format!("contact channel {}: type must be \"email\"", c.id));
            }
            let (local, domain) = c.value.split_once('@').unwrap_or_default();
            if local.is_empty() || domain.is_empty() || c.value.len() > 254 {
                return Err(format!("contact channel {}: {:?} is not an e-mail address", c.id, c.value));
            }
            primaries += usize::from(c.is_primary);
        }
        if primaries > 1 {
            return Err("more than one primary e-mail".into());
        }
        for o in &self.oauth_providers {
            check_id("OAuth account id", &o.id)?;
            if o.provider_config_id.is_empty() || o.account_id.is_empty() || o.account_id.len() > 256 {
                return Err(format!("OAuth account {}: provider_config_id and account_id are required", o.id));
            }
        }
        for t in &self.teams {
            check_id("team id", &t.team_id)?;
            if t.team_display_name.is_empty() || t.team_display_name.len() > 1024 {
                return Err(format!("team {}: team_display_name must be 1–1024 bytes", t.team_id));
            }
        }
        Ok(())
    }
}

//! Signing up and in: e-mail + password, anonymous accounts, the TOTP second factor (spec 10 §4,
//! §6, §8), and the token side of sessions: server-created sessions, refresh, the OAuth token
//! endpoint and the JWKS (spec 00 §4). `service.rs` holds the rules; `api.rs` and `tokens_api.rs`
//! are the handlers.

pub mod api;
pub mod cli;
pub mod cli_api;
pub mod mfa;
pub mod otp;
pub mod passkeys;
pub mod passkeys_api;
pub mod password;
pub mod service;
pub mod sign_up_rules;
pub mod sign_up_rules_api;
pub mod store;
pub mod tokens_api;

pub use service::AuthService;

use crate::error::{ApiResult, KnownError};

pub const MIN_PASSWORD_LENGTH: usize = 8;
pub const MAX_PASSWORD_LENGTH: usize = 70;

/// The strength rule applied to new passwords on sign-up (not to server-side user writes).
pub fn check_password_strength(password: &str) -> ApiResult<()> {
    let len = password.encode_utf16().count();
    if len < MIN_PASSWORD_LENGTH {
        return Err(KnownError::password_too_short(MIN_PASSWORD_LENGTH).into());
    }
    if len > MAX_PASSWORD_LENGTH {
        return Err(KnownError::password_too_long(MAX_PASSWORD_LENGTH).into());
    }
    Ok(())
}

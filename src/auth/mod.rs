//! Signing up and in: e-mail + password and anonymous accounts (spec 10 §4.1–§4.2, §6).

pub mod api;
pub mod mfa;

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

//! TOTP second factor (spec 10 §8): a sign-in for a user with a TOTP secret stops with
//! `MULTI_FACTOR_AUTHENTICATION_REQUIRED` and an attempt code, exchanged with a current TOTP at
//! `POST /auth/mfa/sign-in`.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha1::Sha1;
use subtle::ConstantTimeEq;

use crate::db::Tx;
use crate::error::{ApiResult, KnownError};
use crate::verification;

/// Attempt codes live five minutes.
pub const ATTEMPT_LIFETIME_MILLIS: i64 = 5 * 60 * 1000;
const STEP_SECONDS: i64 = 30;

/// RFC 6238 TOTP with HMAC-SHA1, 6 digits, 30-second steps.
pub fn totp(secret: &[u8], unix_seconds: i64) -> String {
    let counter = (unix_seconds / STEP_SECONDS) as u64;
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", value % 1_000_000)
}

/// Only the current 30-second window counts, as upstream.
pub fn verify_totp(secret: &[u8], submitted: &str, unix_seconds: i64) -> bool {
    bool::from(totp(secret, unix_seconds).as_bytes().ct_eq(submitted.trim().as_bytes()))
}

/// Issues an attempt code for `user_id` and returns the error that carries it.
pub fn second_factor_required(
    tx: &Tx,
    project_id: &str,
    user_id: &str,
    is_new_user: bool,
    now: i64,
) -> ApiResult<KnownError> {
    let data = json!({ "user_id": user_id, "is_new_user": is_new_user });
    let code = verification::create(
        tx,
        project_id,
        verification::ONE_TIME_PASSWORD,
        &data,
        &json!({}),
        ATTEMPT_LIFETIME_MILLIS,
        now,
    )?;
    Ok(KnownError::new(
        "MULTI_FACTOR_AUTHENTICATION_REQUIRED",
        400,
        "Multi-factor authentication is required for this user.",
    )
    .with_details(json!({ "attempt_code": code })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B (8-digit values; the last 6 digits are the 6-digit code).
        let secret = b"12345678901234567890";
        assert_eq!(totp(secret, 59), "287082");
        assert_eq!(totp(secret, 1111111109), "081804");
        assert_eq!(totp(secret, 2000000000), "279037");
        assert!(verify_totp(secret, "287082", 59));
        assert!(!verify_totp(secret, "287083", 59));
        assert!(!verify_totp(secret, "287082", 60 + 59));
    }
}

//! The API key errors of spec 20 §0.5.

use serde_json::json;

use crate::error::{ApiError, KnownError};

pub fn not_found() -> ApiError {
    KnownError::new("API_KEY_NOT_FOUND", 404, "API key not found.").into()
}

pub fn revoked() -> ApiError {
    KnownError::new("API_KEY_REVOKED", 401, "This API key has been revoked.").into()
}

pub fn expired() -> ApiError {
    KnownError::new("API_KEY_EXPIRED", 401, "This API key has expired.").into()
}

pub fn wrong_type(expected: &str, actual: &str) -> ApiError {
    KnownError::new(
        "WRONG_API_KEY_TYPE",
        400,
        format!("This endpoint takes {expected} API keys, but a {actual} API key was given."),
    )
    .with_details(json!({ "expected_type": expected, "actual_type": actual }))
    .into()
}

pub fn public_key_cannot_be_revoked() -> ApiError {
    KnownError::new(
        "PUBLIC_API_KEY_CANNOT_BE_REVOKED",
        400,
        "Public API keys are meant to be published; they cannot be revoked this way.",
    )
    .into()
}

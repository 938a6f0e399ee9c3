//! The team errors of spec 20 §0.5.

use serde_json::json;

use crate::error::{ApiError, KnownError};

pub fn team_not_found(team_id: &str) -> ApiError {
    KnownError::new("TEAM_NOT_FOUND", 404, format!("Team {team_id} does not exist."))
        .with_details(json!({ "team_id": team_id }))
        .into()
}

pub fn membership_not_found(team_id: &str, user_id: &str) -> ApiError {
    KnownError::new("TEAM_MEMBERSHIP_NOT_FOUND", 404, format!("User {user_id} is not a member of team {team_id}."))
        .with_details(json!({ "team_id": team_id, "user_id": user_id }))
        .into()
}

pub fn membership_already_exists() -> ApiError {
    KnownError::new("TEAM_MEMBERSHIP_ALREADY_EXISTS", 409, "The user is already a member of this team.").into()
}

pub fn restricted_user_not_allowed(reason: &str) -> ApiError {
    KnownError::new(
        "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED",
        403,
        "Restricted users (anonymous, unverified or restricted by an administrator) cannot accept team invitations.",
    )
    .with_details(json!({ "restricted_reason": { "type": reason } }))
    .into()
}

//! The permission errors of spec 20 §0.5.

use serde_json::json;

use crate::error::{ApiError, KnownError};

pub fn permission_not_found(id: &str) -> ApiError {
    KnownError::new("PERMISSION_NOT_FOUND", 404, format!("Permission \"{id}\" is not defined in this project."))
        .with_details(json!({ "permission_id": id }))
        .into()
}

pub fn wrong_scope(id: &str, expected: &str, actual: Option<&str>) -> ApiError {
    KnownError::new("WRONG_PERMISSION_SCOPE", 404, format!("Permission \"{id}\" is not a {expected} permission."))
        .with_details(json!({ "permission_id": id, "expected_scope": expected, "actual_scope": actual }))
        .into()
}

pub fn contained_not_found(id: &str) -> ApiError {
    KnownError::new("CONTAINED_PERMISSION_NOT_FOUND", 400, format!("Contained permission \"{id}\" does not exist."))
        .with_details(json!({ "permission_id": id }))
        .into()
}

pub fn id_already_exists(id: &str) -> ApiError {
    KnownError::new("PERMISSION_ID_ALREADY_EXISTS", 400, format!("A permission with id \"{id}\" already exists."))
        .with_details(json!({ "permission_id": id }))
        .into()
}

pub fn team_permission_required(team_id: &str, user_id: &str, permission_id: &str) -> ApiError {
    KnownError::new(
        "TEAM_PERMISSION_REQUIRED",
        401,
        format!("User {user_id} lacks permission {permission_id} in team {team_id}."),
    )
    .with_details(json!({ "team_id": team_id, "user_id": user_id, "permission_id": permission_id }))
    .into()
}

pub fn team_permission_not_found(team_id: &str, user_id: &str, permission_id: &str) -> ApiError {
    KnownError::new(
        "TEAM_PERMISSION_NOT_FOUND",
        401,
        format!("User {user_id} lacks permission {permission_id} in team {team_id}."),
    )
    .with_details(json!({ "team_id": team_id, "user_id": user_id, "permission_id": permission_id }))
    .into()
}

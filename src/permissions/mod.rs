//! Permissions (spec 20 §3): definitions (kept in the project's config), direct grants, and the
//! recursive expansion every check uses. Team grants need a membership, so the team-permission
//! routes live with teams; this folder owns definitions, storage, expansion and project grants.

pub mod api;
pub mod errors;
pub mod service;
pub mod store;

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::error::{ApiResult, KnownError};
pub use crate::projects::config::{PermissionDefinition, PROJECT_SCOPE, TEAM_SCOPE};
pub use service::PermissionsService;

/// The implicit team permissions that guard team operations (spec 20 §3.1), sorted.
pub const SYSTEM_PERMISSIONS: &[(&str, &str)] = &[
    ("$delete_team", "Delete the team"),
    ("$invite_members", "Invite other users to the team"),
    ("$manage_api_keys", "Create and manage API keys for the team"),
    ("$read_members", "Read and list the other members of the team"),
    ("$remove_members", "Remove other members from the team"),
    ("$update_team", "Update the team information"),
];

pub const UPDATE_TEAM: &str = "$update_team";
pub const DELETE_TEAM: &str = "$delete_team";
pub const READ_MEMBERS: &str = "$read_members";
pub const REMOVE_MEMBERS: &str = "$remove_members";
pub const INVITE_MEMBERS: &str = "$invite_members";
pub const MANAGE_API_KEYS: &str = "$manage_api_keys";

pub fn is_system(id: &str) -> bool {
    SYSTEM_PERMISSIONS.iter().any(|(s, _)| *s == id)
}

/// Upstream's order of permission ids: case-insensitive, ties in reverse ordinal order.
pub fn order(a: &str, b: &str) -> Ordering {
    a.to_lowercase().cmp(&b.to_lowercase()).then_with(|| b.cmp(a))
}

/// A custom permission id as a body gives it: `^[a-z0-9_:]+$`.
pub fn parse_custom_id(field: &str, id: &str) -> ApiResult<String> {
    if !id.is_empty() && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b':') {
        Ok(id.to_string())
    } else {
        Err(KnownError::schema(&format!("{field} must contain only lowercase letters, numbers, \":\" and \"_\""))
            .into())
    }
}

/// A permission id in a path or query: a custom id or one of the system ids.
pub fn parse_id(field: &str, id: &str) -> ApiResult<String> {
    match id.strip_prefix('$') {
        Some(_) if is_system(id) => Ok(id.to_string()),
        Some(_) => Err(KnownError::schema(&format!("{field}: Invalid system permission")).into()),
        None => parse_custom_id(field, id),
    }
}

/// Whether `id` is defined in `scope` (system ids always are, for teams).
pub fn is_defined(defs: &BTreeMap<String, PermissionDefinition>, scope: &str, id: &str) -> bool {
    if scope == TEAM_SCOPE && is_system(id) {
        return true;
    }
    defs.get(id).is_some_and(|d| d.scope == scope)
}

/// The permissions a set of direct grants amounts to (spec 20 §3.4): grants whose definition is
/// gone are dropped, and with `recursive` the contained ids are followed. Each id is visited once,
/// so a cyclic definition ends the walk instead of looping.
pub fn expand<'a>(
    defs: &BTreeMap<String, PermissionDefinition>,
    scope: &str,
    direct: impl IntoIterator<Item = &'a str>,
    recursive: bool,
) -> Vec<String> {
    let mut stack: Vec<String> = direct.into_iter().map(String::from).collect();
    let mut collected: std::collections::BTreeSet<String> = Default::default();
    while let Some(id) = stack.pop() {
        if !is_defined(defs, scope, &id) || collected.contains(&id) {
            continue;
        }
        if recursive {
            if let Some(def) = defs.get(&id) {
                stack.extend(def.contained_permission_ids.iter().filter(|c| !collected.contains(*c)).cloned());
            }
        }
        collected.insert(id);
    }
    let mut ids: Vec<String> = collected.into_iter().collect();
    ids.sort_by(|a, b| order(a, b));
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(contained: &[&str]) -> PermissionDefinition {
        PermissionDefinition {
            scope: TEAM_SCOPE.into(),
            description: None,
            contained_permission_ids: contained.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn expansion_follows_nesting_and_survives_cycles() {
        let mut defs = BTreeMap::new();
        defs.insert("a".to_string(), def(&["b"]));
        defs.insert("b".to_string(), def(&["a", "$update_team", "gone"]));
        assert_eq!(expand(&defs, TEAM_SCOPE, ["a"], false), ["a"]);
        assert_eq!(expand(&defs, TEAM_SCOPE, ["a"], true), ["$update_team", "a", "b"]);
        assert!(expand(&defs, PROJECT_SCOPE, ["a"], true).is_empty());
        assert!(expand(&defs, TEAM_SCOPE, ["gone"], true).is_empty());
    }

    #[test]
    fn ids_sort_case_insensitively() {
        let mut ids = vec!["b", "$x", "A", "a"];
        ids.sort_by(|a, b| order(a, b));
        assert_eq!(ids, ["$x", "a", "A", "b"]);
    }
}

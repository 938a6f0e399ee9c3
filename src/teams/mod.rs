//! Teams (spec 20 §1–§3.3): teams, memberships with their member profiles, invitations, and who
//! holds which team permission. Teams sit above users: they read users (profiles, invitations)
//! and plug into the user lifecycle through [`crate::users::TeamHooks`] (personal teams, the
//! memberships of a deleted user). The team views are [`crate::users::team_views`], since user
//! objects embed the selected team.
//!
//! Files: `store.rs` (teams and memberships SQL), `service.rs` (teams, memberships, checks),
//! `invitations.rs`, `profiles.rs`, `hooks.rs` (the user lifecycle), and one `*_api.rs` per route
//! family.

pub mod api;
pub mod errors;
pub mod hooks;
pub mod invitations;
pub mod invitations_api;
pub mod permissions_api;
pub mod profiles;
pub mod profiles_api;
pub mod service;
pub mod store;

use serde_json::Value;

use crate::images::ImageInput;
pub use crate::users::team_views::{ClientTeam, ServerTeam, TeamRecord};
pub use service::TeamsService;

/// A membership with the member's own profile fields (`None` = use the user's).
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    pub team_id: String,
    pub user_id: String,
    pub display_name: Option<String>,
    pub profile_image_url: Option<String>,
}

/// Fields of a create or update; `None` keeps a field (on create: default).
#[derive(Default)]
pub struct TeamChanges {
    pub display_name: Option<String>,
    pub profile_image_url: Option<Option<ImageInput>>,
    pub client_metadata: Option<Option<Value>>,
    pub client_read_only_metadata: Option<Option<Value>>,
    pub server_metadata: Option<Option<Value>>,
}

/// Name of a team made on sign-up (spec 20 §1.7).
pub const PERSONAL_TEAM: &str = "Personal Team";

pub fn personal_team_name(display_name: Option<&str>, primary_email: Option<&str>) -> String {
    match (display_name, primary_email) {
        (Some(name), _) => format!("{name}'s Team"),
        (None, Some(email)) => format!("{email}'s Team"),
        (None, None) => PERSONAL_TEAM.to_string(),
    }
}

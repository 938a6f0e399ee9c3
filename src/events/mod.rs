//! The event log (spec 20 §6.2): every change to users, teams, memberships and permissions appends
//! an event in the transaction of the change, so an event exists exactly when its change committed.
//! Webhook delivery reads the log by position (`seq`), which is commit order: writes are serialized.

pub mod api;
pub mod store;

use serde_json::Value;

use crate::db::{now_millis, Tx};
use crate::error::ApiResult;

pub const USER_CREATED: &str = "user.created";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_DELETED: &str = "user.deleted";
pub const TEAM_CREATED: &str = "team.created";
pub const TEAM_UPDATED: &str = "team.updated";
pub const TEAM_DELETED: &str = "team.deleted";
pub const TEAM_MEMBERSHIP_CREATED: &str = "team_membership.created";
pub const TEAM_MEMBERSHIP_DELETED: &str = "team_membership.deleted";
pub const TEAM_PERMISSION_CREATED: &str = "team_permission.created";
pub const TEAM_PERMISSION_DELETED: &str = "team_permission.deleted";
pub const PROJECT_PERMISSION_CREATED: &str = "project_permission.created";
pub const PROJECT_PERMISSION_DELETED: &str = "project_permission.deleted";

/// A recorded event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Position in the log; strictly increasing in commit order.
    pub seq: i64,
    pub id: String,
    pub project_id: String,
    pub kind: String,
    pub data: Value,
    pub created_at: i64,
}

/// Appends an event inside the transaction that makes the change.
pub fn record_in(tx: &Tx, project_id: &str, kind: &'static str, data: Value) -> ApiResult<()> {
    store::insert(tx, project_id, &uuid::Uuid::new_v4().to_string(), kind, &data, now_millis())
}

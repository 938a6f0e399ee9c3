//! The event log (spec 20 §6.2): every change to users, teams, memberships and permissions appends
//! an event in the transaction of the change, so an event exists exactly when its change committed.
//! Webhook delivery reads the log by position (`seq`), which is commit order: writes are serialized.

pub mod api;
pub mod store;

use std::time::Duration;

use serde_json::Value;

use crate::db::{now_millis, Db, Tx};
use crate::error::ApiResult;
use crate::jobs::Jobs;

/// Events are kept 30 days: far longer than any delivery retries them (spec 20 §6.3's schedule ends
/// after about a day and a half), so the log stays bounded.
pub const KEEP_MILLIS: i64 = 30 * 24 * 3600 * 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

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

/// Deletes events older than [`KEEP_MILLIS`] before `now`; returns how many.
pub fn prune(db: &Db, now: i64) -> ApiResult<usize> {
    db.write_now(|tx| store::delete_before(tx, now - KEEP_MILLIS))
}

/// Registers the hourly pruning of old events.
pub fn register_jobs(jobs: &Jobs, db: Db) {
    jobs.every_until_stop("event-log-pruning", PRUNE_EVERY, move || {
        let db = db.clone();
        async move {
            match tokio::task::spawn_blocking(move || prune(&db, now_millis())).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(events = n, "deleted events older than 30 days"),
                Ok(Err(e)) => tracing::error!(error = %e, "event-log pruning failed"),
                Err(e) => tracing::error!(error = %e, "event-log pruning failed"),
            }
        }
    });
}

//! Sessions (spec 00 §4.7, §4.10, spec 10 §7): refresh-token rows, their "last used" activity, and
//! the list / sign-out routes. Issuing a session (and its tokens) is the sign-in domain's one path,
//! `auth::service::AuthService::issue_session`; this domain only stores and revokes them.

pub mod activity;
pub mod api;
pub mod service;
pub mod store;

pub use activity::Activity;
pub use service::SessionsService;

use crate::cache::Weigh;

/// Default and maximum session lifetimes: 365 and 367 days.
pub const DEFAULT_SESSION_MILLIS: i64 = 365 * 24 * 3600 * 1000;
pub const MAX_SESSION_MILLIS: i64 = 367 * 24 * 3600 * 1000;

/// What refreshing needs to know about a session, read through the hot-path cache.
#[derive(Debug, Clone)]
pub struct SessionKey {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub expires_at: Option<i64>,
}

impl Weigh for SessionKey {
    fn weigh(&self) -> usize {
        std::mem::size_of::<Self>() + self.id.len() + self.project_id.len() + self.user_id.len()
    }
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub is_impersonation: bool,
}

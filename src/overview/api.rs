//! `GET /internal/metrics`: the figures of the dashboard's overview page (admin).

use std::collections::BTreeMap;

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use crate::db::{now_millis, Db};
use crate::error::ApiResult;
use crate::projects::access::AdminAuth;
use crate::web::Tag;

pub struct OverviewApi {
    pub db: Db,
}

/// One day of a series.
#[derive(Object)]
pub struct DataPointView {
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// How many users that day.
    pub activity: i64,
}

/// Work waiting to leave the server.
#[derive(Object)]
pub struct BacklogView {
    /// Items not yet delivered (waiting for their first attempt or a retry).
    pub waiting: i64,
    /// When the oldest of them was created, in ms since the epoch; null when none waits.
    pub oldest_created_at_millis: Option<i64>,
}

/// The current project at a glance. Anonymous users are not counted.
#[derive(Object)]
pub struct ProjectMetrics {
    /// Users that are not anonymous.
    pub total_users: i64,
    /// Sign-ups per UTC day over the last 30 days and today (31 points, oldest first).
    pub daily_users: Vec<DataPointView>,
    /// Users per UTC day whose latest activity fell on that day (31 points, oldest first).
    pub daily_active_users: Vec<DataPointView>,
    /// Users per country code (ISO 3166-1 alpha-2), for users with a known country.
    pub users_by_country: BTreeMap<String, i64>,
    /// Sessions (refresh tokens) that have not expired.
    pub active_sessions: i64,
    /// E-mails in the outbox still to be sent.
    pub email_backlog: BacklogView,
    /// Webhook deliveries still to be made.
    pub webhook_backlog: BacklogView,
}

fn points(series: Vec<super::DataPoint>) -> Vec<DataPointView> {
    series.into_iter().map(|p| DataPointView { date: p.date, activity: p.activity }).collect()
}

fn backlog(b: crate::metrics::Backlog) -> BacklogView {
    BacklogView { waiting: b.waiting, oldest_created_at_millis: b.oldest_created_at_millis }
}

#[OpenApi(tag = "Tag::Projects")]
impl OverviewApi {
    /// The current project's figures: users, sign-ups and active users per day for the last 30
    /// days, active sessions, and the e-mail and webhook backlogs.
    #[oai(path = "/internal/metrics", method = "get", operation_id = "get_project_metrics")]
    async fn metrics(&self, auth: AdminAuth) -> ApiResult<Json<ProjectMetrics>> {
        let project_id = auth.0.project_id().to_string();
        let o = self.db.read(move |c| super::load(c, &project_id, now_millis())).await?;
        Ok(Json(ProjectMetrics {
            total_users: o.total_users,
            daily_users: points(o.daily_users),
            daily_active_users: points(o.daily_active_users),
            users_by_country: o.users_by_country,
            active_sessions: o.active_sessions,
            email_backlog: backlog(o.email_backlog),
            webhook_backlog: backlog(o.webhook_backlog),
        }))
    }
}

//! The project overview (`GET /internal/metrics`, admin): user counts, sign-ups and activity per
//! day, active sessions, and the e-mail and webhook backlogs — what the dashboard's first page
//! shows. Upstream serves the same path with the same field names for the figures both have
//! (`total_users`, `daily_users`, `daily_active_users`, `users_by_country`); the three backlog and
//! session figures are stackd's own. Reads only, through the other domains' stores.

pub mod api;

use rusqlite::Connection;

use crate::error::ApiResult;

const DAY_MS: i64 = 86_400_000;
/// Days in each series: the last 30 days and today, oldest first (upstream's window).
pub const DAYS: i64 = 31;

/// One day of a series: `YYYY-MM-DD` (UTC) and its count.
#[derive(Debug, Clone, PartialEq)]
pub struct DataPoint {
    pub date: String,
    pub activity: i64,
}

pub struct Overview {
    pub total_users: i64,
    pub daily_users: Vec<DataPoint>,
    pub daily_active_users: Vec<DataPoint>,
    pub users_by_country: std::collections::BTreeMap<String, i64>,
    pub active_sessions: i64,
    pub email_backlog: crate::metrics::Backlog,
    pub webhook_backlog: crate::metrics::Backlog,
}

/// Reads every figure from one connection: the user figures in one pass over the project's users,
/// then one statement each for sessions and the two backlogs.
pub fn load(conn: &Connection, project_id: &str, now: i64) -> ApiResult<Overview> {
    let today = now - now.rem_euclid(DAY_MS);
    let since = today - (DAYS - 1) * DAY_MS;
    let users = crate::users::store::figures(conn, project_id, since, DAYS as usize)?;
    Ok(Overview {
        total_users: users.total,
        daily_users: series(since, &users.signed_up_per_day),
        daily_active_users: series(since, &users.active_per_day),
        users_by_country: users.per_country,
        active_sessions: crate::sessions::store::count_active(conn, project_id, now)?,
        email_backlog: crate::emails::store::project_backlog(conn, project_id)?,
        webhook_backlog: crate::webhooks::store::project_backlog(conn, project_id)?,
    })
}

/// The days of the window from `since`, each with its count.
fn series(since: i64, counts: &[i64]) -> Vec<DataPoint> {
    (0..).zip(counts).map(|(day, n)| DataPoint { date: utc_date(since + day * DAY_MS), activity: *n }).collect()
}

/// `YYYY-MM-DD` of a UTC time in milliseconds: the date part of [`crate::db::format_millis`].
fn utc_date(millis: i64) -> String {
    let mut text = crate::db::format_millis(millis);
    text.truncate(10);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_series() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
        assert_eq!(utc_date(1_798_675_200_000), "2026-12-31");
        let since = 1_798_675_200_000 - 30 * DAY_MS;
        let mut counts = vec![0; 31];
        counts[0] = 2;
        counts[30] = 5;
        let days = series(since, &counts);
        assert_eq!(days.len(), 31);
        assert_eq!(days[0], DataPoint { date: "2026-12-01".into(), activity: 2 });
        assert_eq!(days[30], DataPoint { date: "2026-12-31".into(), activity: 5 });
        assert_eq!(days[1..30].iter().map(|d| d.activity).sum::<i64>(), 0);
    }
}

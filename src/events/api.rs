//! `GET /internal/events`: the event log of the current project, read by position (admin).

use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use crate::db::Db;
use crate::error::{ApiResult, KnownError};
use crate::events::store;
use crate::projects::access::AdminAuth;
use crate::web::Tag;

pub struct EventsApi {
    pub db: Db,
}

/// One recorded change, as a webhook would carry it (`{type, data}`) plus its position.
#[derive(Object)]
pub struct EventView {
    /// Position in the log: strictly increasing in commit order. Resume with `after=<seq>`.
    pub seq: i64,
    pub id: String,
    /// e.g. `user.created`, `team_membership.deleted`.
    #[oai(rename = "type")]
    pub kind: String,
    /// The payload of spec 20 §6.2.
    pub data: Value,
    pub created_at_millis: i64,
}

#[derive(Object)]
pub struct EventPage {
    pub items: Vec<EventView>,
    /// Position to pass as `after` for the next page (the last item's `seq`, or `after` when empty).
    pub next_after: i64,
}

const MAX_PAGE: u32 = 1000;

#[OpenApi(tag = "Tag::Events")]
impl EventsApi {
    /// The project's events after position `after` (default 0), oldest first, at most `limit`
    /// (default 100, max 1000).
    #[oai(path = "/internal/events", method = "get", operation_id = "list_events")]
    async fn list(
        &self,
        auth: AdminAuth,
        after: Query<Option<i64>>,
        limit: Query<Option<u32>>,
    ) -> ApiResult<Json<EventPage>> {
        let after = after.0.unwrap_or(0);
        let limit = limit.0.unwrap_or(100);
        if limit == 0 || limit > MAX_PAGE {
            return Err(KnownError::schema(&format!("query.limit must be between 1 and {MAX_PAGE}")).into());
        }
        let project_id = auth.0.project_id().to_string();
        let events = self.db.read(move |c| store::read_after(c, &project_id, after, limit)).await?;
        let next_after = events.last().map(|e| e.seq).unwrap_or(after);
        let items = events
            .into_iter()
            .map(|e| EventView { seq: e.seq, id: e.id, kind: e.kind, data: e.data, created_at_millis: e.created_at })
            .collect();
        Ok(Json(EventPage { items, next_after }))
    }
}

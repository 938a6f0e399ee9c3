//! Session storage rules: the refresh-token cache, revocation, and the activity flush job.

use std::sync::Arc;
use std::time::Duration;

use crate::cache::ReadCache;
use crate::crypto::hash_secret;
use crate::db::{now_millis, Db, Tx};
use crate::error::ApiResult;
use crate::jobs::Jobs;
use crate::sessions::{store, Activity, SessionKey, SessionRow};

/// Sessions are tiny (~200 bytes): 8 MiB keeps tens of thousands of hot ones.
const CACHE_BYTES: usize = 8 << 20;
const CACHE_ENTRY_BYTES: usize = 4 << 10;

pub struct SessionsService {
    db: Db,
    pub activity: Activity,
    cache: Arc<ReadCache<Arc<SessionKey>>>,
}

impl SessionsService {
    pub fn new(db: Db) -> Self {
        let cache = Arc::new(ReadCache::new(CACHE_BYTES, CACHE_ENTRY_BYTES));
        db.register_cache(store::TABLE, cache.clone());
        SessionsService { db, activity: Activity::default(), cache }
    }

    /// Writes "last used" timestamps once a second, and once more at shutdown.
    pub fn register_jobs(self: &Arc<Self>, jobs: &Jobs) {
        let me = self.clone();
        jobs.every("activity-flush", Duration::from_secs(1), move || {
            let me = me.clone();
            async move {
                if let Err(e) = me.activity.flush(&me.db).await {
                    tracing::warn!(error = %e, "could not write activity timestamps; will retry");
                }
            }
        });
    }

    /// The live session of `project_id` holding `refresh_token`. Only existing sessions are cached:
    /// unknown tokens come from unauthenticated input.
    pub async fn find_by_refresh_token(
        &self,
        project_id: &str,
        refresh_token: &str,
    ) -> ApiResult<Option<Arc<SessionKey>>> {
        let hash = hash_secret(refresh_token);
        let session = match self.cache.get(&hash[..]) {
            Some(hit) => Some(hit),
            None => {
                let ticket = self.cache.ticket(&hash);
                let found = self.db.read(move |c| store::find_by_token_hash(c, &hash)).await?.map(Arc::new);
                if let Some(s) = &found {
                    self.cache.insert(&hash, ticket, s.clone());
                }
                found
            }
        };
        let now = now_millis();
        Ok(session.filter(|s| s.project_id == project_id && s.expires_at.is_none_or(|e| e > now)))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn insert_in(
        &self,
        tx: &Tx,
        project_id: &str,
        user_id: &str,
        refresh_token: &str,
        expires_at: i64,
        is_impersonation: bool,
        now: i64,
    ) -> ApiResult<String> {
        store::insert(tx, project_id, user_id, refresh_token, Some(expires_at), is_impersonation, now)
    }

    /// Active sessions of a user, newest first, with their latest "last used" time.
    pub async fn list(
        &self,
        project_id: &str,
        user_id: &str,
        include_impersonation: bool,
    ) -> ApiResult<Vec<SessionRow>> {
        let (project_id, user_id) = (project_id.to_string(), user_id.to_string());
        let mut rows = self
            .db
            .read(move |c| store::list_for_user(c, &project_id, &user_id, include_impersonation, now_millis()))
            .await?;
        for row in &mut rows {
            row.last_used_at = self.activity.session_last_used(&row.id, row.last_used_at);
        }
        Ok(rows)
    }

    /// Deletes a session; with `owner`, only if it belongs to that user. False if nothing was deleted.
    pub async fn delete(&self, project_id: &str, session_id: &str, owner: Option<String>) -> ApiResult<bool> {
        let (project_id, session_id) = (project_id.to_string(), session_id.to_string());
        self.db
            .write(move |tx| match (store::owner(tx, &project_id, &session_id)?, owner) {
                (Some(actual), Some(owner)) if actual != owner => Ok(false),
                (Some(_), _) => store::delete(tx, &project_id, &session_id),
                (None, _) => Ok(false),
            })
            .await
    }

    /// Ends every session of a user (password change, user deletion) inside the caller's transaction.
    pub fn revoke_all_in(&self, tx: &Tx, user_id: &str) -> ApiResult<()> {
        store::delete_all_for_user(tx, user_id)
    }

    /// Ends every session of a user but the one holding `keep_refresh_token` (password update).
    pub fn revoke_others_in(&self, tx: &Tx, user_id: &str, keep_refresh_token: Option<&str>) -> ApiResult<()> {
        match keep_refresh_token {
            Some(token) => store::delete_all_for_user_except(tx, user_id, &crate::crypto::hash_secret(token)),
            None => store::delete_all_for_user(tx, user_id),
        }
    }

    pub fn record_activity(&self, session_id: &str, user_id: &str, at: i64) {
        self.activity.record(session_id, user_id, at);
    }

    /// Bytes held by the refresh-token cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes()
    }
}

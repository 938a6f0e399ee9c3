//! "Last active" timestamps of sessions and users, coalesced in memory.
//!
//! Every refresh marks its session and user active. Writing that through would cost a durable
//! commit (an fsync) per refresh, for a value that only ever moves forward; instead the newest
//! timestamp per id is kept here, written in one transaction per second and at shutdown, and merged
//! into every read so clients never see an older value. A crash loses at most the last second of
//! activity timestamps, never anything a client submitted.

use std::collections::HashMap;
use std::sync::Mutex;

use rusqlite::params;

use crate::db::Db;
use crate::error::ApiResult;

#[derive(Default)]
struct Pending {
    sessions: HashMap<String, i64>,
    users: HashMap<String, i64>,
}

#[derive(Default)]
pub struct Activity {
    pending: Mutex<Pending>,
}

fn bump(map: &mut HashMap<String, i64>, id: &str, at: i64) {
    match map.get_mut(id) {
        Some(t) => *t = (*t).max(at),
        None => {
            map.insert(id.to_string(), at);
        }
    }
}

impl Activity {
    pub fn record(&self, session_id: &str, user_id: &str, at: i64) {
        let mut p = self.pending.lock().expect("activity lock");
        bump(&mut p.sessions, session_id, at);
        bump(&mut p.users, user_id, at);
    }

    /// The stored value, or a newer one not yet written.
    pub fn user_last_active(&self, user_id: &str, stored: i64) -> i64 {
        let p = self.pending.lock().expect("activity lock");
        p.users.get(user_id).map_or(stored, |t| stored.max(*t))
    }

    pub fn session_last_used(&self, session_id: &str, stored: i64) -> i64 {
        let p = self.pending.lock().expect("activity lock");
        p.sessions.get(session_id).map_or(stored, |t| stored.max(*t))
    }

    /// Number of ids waiting to be written.
    pub fn pending(&self) -> usize {
        let p = self.pending.lock().expect("activity lock");
        p.sessions.len() + p.users.len()
    }

    /// Writes the pending timestamps. Entries stay visible until their write has committed.
    pub async fn flush(&self, db: &Db) -> ApiResult<()> {
        let (sessions, users) = {
            let p = self.pending.lock().expect("activity lock");
            if p.sessions.is_empty() && p.users.is_empty() {
                return Ok(());
            }
            (p.sessions.clone(), p.users.clone())
        };
        let (s, u) = (sessions.clone(), users.clone());
        db.write(move |tx| {
            let mut session_stmt =
                tx.prepare_cached("UPDATE sessions SET last_used_at = MAX(last_used_at, ?2) WHERE id = ?1")?;
            for (id, at) in &s {
                session_stmt.execute(params![id, at])?;
            }
            let mut user_stmt =
                tx.prepare_cached("UPDATE users SET last_active_at = MAX(last_active_at, ?2) WHERE id = ?1")?;
            for (id, at) in &u {
                user_stmt.execute(params![id, at])?;
                // The users domain caches its records under this table name (users::store::TABLE);
                // named here, not imported, because users depends on sessions.
                tx.changed("users", id);
            }
            Ok(())
        })
        .await?;
        let mut p = self.pending.lock().expect("activity lock");
        p.sessions.retain(|id, at| sessions.get(id).is_none_or(|written| *at > *written));
        p.users.retain(|id, at| users.get(id).is_none_or(|written| *at > *written));
        Ok(())
    }
}

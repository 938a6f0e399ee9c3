//! A team as stored and as the API shows it (spec 20 §1.1). These live with users because every
//! user object embeds its selected team, and the teams domain sits above users (memberships and
//! profiles read users); the teams domain uses these same types.

use poem_openapi::Object;
use serde_json::Value;

use crate::cache::{opt_json_weight, opt_str_weight};
use crate::db::json_column;

/// A team row.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamRecord {
    pub id: String,
    pub project_id: String,
    pub display_name: String,
    pub profile_image_url: Option<String>,
    pub client_metadata: Option<Value>,
    pub client_read_only_metadata: Option<Value>,
    pub server_metadata: Option<Value>,
    pub created_at: i64,
}

impl TeamRecord {
    /// Reads a team from eight consecutive columns starting at `at`: id, project_id, display_name,
    /// profile_image_url, client_metadata, client_read_only_metadata, server_metadata, created_at
    /// (the teams store's columns, and the selected team joined to a user). `None` when the id is
    /// NULL (a user without a selected team).
    pub fn from_row(r: &rusqlite::Row, at: usize) -> rusqlite::Result<Option<TeamRecord>> {
        let Some(id) = r.get::<_, Option<String>>(at)? else { return Ok(None) };
        Ok(Some(TeamRecord {
            id,
            project_id: r.get(at + 1)?,
            display_name: r.get(at + 2)?,
            profile_image_url: r.get(at + 3)?,
            client_metadata: json_column(r, at + 4)?,
            client_read_only_metadata: json_column(r, at + 5)?,
            server_metadata: json_column(r, at + 6)?,
            created_at: r.get(at + 7)?,
        }))
    }

    pub fn weigh(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.id.len()
            + self.project_id.len()
            + self.display_name.len()
            + opt_str_weight(&self.profile_image_url)
            + opt_json_weight(&self.client_metadata)
            + opt_json_weight(&self.client_read_only_metadata)
            + opt_json_weight(&self.server_metadata)
    }

    pub fn to_client(&self) -> ClientTeam {
        ClientTeam {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            profile_image_url: self.profile_image_url.clone(),
            client_metadata: self.client_metadata.clone(),
            client_read_only_metadata: self.client_read_only_metadata.clone(),
        }
    }

    pub fn to_server(&self) -> ServerTeam {
        ServerTeam {
            id: self.id.clone(),
            display_name: self.display_name.clone(),
            profile_image_url: self.profile_image_url.clone(),
            client_metadata: self.client_metadata.clone(),
            client_read_only_metadata: self.client_read_only_metadata.clone(),
            server_metadata: self.server_metadata.clone(),
            created_at_millis: self.created_at,
        }
    }
}

/// A team as a member sees it.
#[derive(Object, Debug, Clone)]
pub struct ClientTeam {
    /// The team's id (UUID).
    pub id: String,
    pub display_name: String,
    pub profile_image_url: Option<String>,
    /// Readable and writable by members (with `$update_team`).
    pub client_metadata: Option<Value>,
    /// Readable by members, writable by the server only.
    pub client_read_only_metadata: Option<Value>,
}

/// A team as a server sees it.
#[derive(Object, Debug, Clone)]
pub struct ServerTeam {
    pub id: String,
    pub display_name: String,
    pub profile_image_url: Option<String>,
    pub client_metadata: Option<Value>,
    pub client_read_only_metadata: Option<Value>,
    /// Readable and writable by the server only.
    pub server_metadata: Option<Value>,
    /// Creation time, milliseconds since the epoch.
    pub created_at_millis: i64,
}

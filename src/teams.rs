//! Teams. Only the read shapes exist so far (a user's `selected_team` is always null until the
//! teams module lands with its routes, tables and migration).

use poem_openapi::Object;
use serde_json::Value;

/// A team as a member sees it.
#[derive(Object, Debug, Clone)]
pub struct ClientTeam {
    pub id: String,
    pub display_name: String,
    pub profile_image_url: Option<String>,
    pub client_metadata: Option<Value>,
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
    pub server_metadata: Option<Value>,
    pub created_at_millis: i64,
}

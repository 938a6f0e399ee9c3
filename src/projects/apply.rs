//! Config as code: a JSON file holding a project's settings, applied idempotently
//! (`stackd project apply FILE`, `stackd serve --config FILE`).
//!
//! The file is the admin PATCH body of `/internal/projects/current` (spec 00 §6.4) plus the
//! project's id: `{"project_id": "…", "display_name": "…", "config": {"sign_up_enabled": false, …}}`.
//! It is validated exactly as that body is (unknown keys and bad values are errors naming the
//! field); applying it again changes nothing.

use poem_openapi::types::{ParseFromJSON, ToJSON};
use serde_json::Value;

use crate::db::Db;
use crate::error::ApiError;
use crate::projects::api::{admin_view, apply_patch, ProjectPatch};
use crate::projects::{service, store};

/// One changed setting: its dotted path and its old and new values (secrets masked).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: String,
    pub after: String,
}

fn is_secret(key: &str) -> bool {
    key.contains("secret") || key.contains("password")
}

/// `v` with every value under a secret-looking key replaced, so changes can be printed.
fn masked(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), if is_secret(k) { Value::String("(hidden)".into()) } else { masked(v) }))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(masked).collect()),
        other => other.clone(),
    }
}

fn shown(path: &str, v: Option<&Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(_) if is_secret(path) => "(hidden)".into(),
        Some(v) => masked(v).to_string(),
    }
}

/// Leaf-by-leaf differences of two JSON documents (arrays compare whole).
fn diff(path: &str, before: Option<&Value>, after: Option<&Value>, out: &mut Vec<Change>) {
    match (before, after) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                diff(&p, a.get(k), b.get(k), out);
            }
        }
        (a, b) if a != b => out.push(Change { path: path.to_string(), before: shown(path, a), after: shown(path, b) }),
        _ => {}
    }
}

/// Reads and validates a config file: (project id, the patch it applies).
pub fn parse(text: &str) -> Result<(String, ProjectPatch), String> {
    let mut doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let obj = doc.as_object_mut().ok_or("the file must hold a JSON object")?;
    let project_id = match obj.remove("project_id") {
        Some(Value::String(id)) => id,
        _ => return Err("\"project_id\" (a string) is required: the project the file configures".into()),
    };
    let patch =
        ProjectPatch::parse_from_json(Some(doc)).map_err(|e| format!("invalid settings: {}", e.into_message()))?;
    Ok((project_id, patch))
}

/// Applies a config file's settings to its project and returns what changed (nothing is written
/// when nothing changes).
pub fn apply(db: &Db, text: &str) -> Result<(String, Vec<Change>), String> {
    let (project_id, patch) = parse(text)?;
    let changes = db
        .write_now(|tx| {
            let mut project = store::load(tx, &project_id)?
                .ok_or_else(|| ApiError::bad_request(format!("there is no project {project_id}")))?;
            let before = admin_view(&project).to_json();
            apply_patch(&mut project, patch)?;
            let after = admin_view(&project).to_json();
            let mut changes = vec![];
            diff("", before.as_ref(), after.as_ref(), &mut changes);
            if !changes.is_empty() {
                service::update_in(tx, &project_id, |p| {
                    *p = project;
                    Ok(())
                })?;
            }
            Ok(changes)
        })
        .map_err(|e| e.to_string())?;
    Ok((project_id, changes))
}

//! Service root, health and version endpoints (spec 00 §3.6, §3.7).

use poem::handler;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi};

use std::sync::Arc;

use crate::db::Db;
use crate::error::ApiResult;
use crate::projects::access::{AccessType, AnyAuth};
use crate::users::UsersService;
use crate::web::Tag;

/// The Stack Auth SDK version this server's wire format matches; `check-version` compares against it.
pub const COMPATIBLE_SDK_VERSION: &str = "2.8.108";

pub struct SystemApi {
    pub users: Arc<UsersService>,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CheckVersionBody {
    /// The client's SDK version, e.g. `2.8.108`.
    client_version: String,
}

#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CheckVersionResult {
    up_to_date: bool,
    #[oai(skip_serializing_if_is_none)]
    error: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    severe: Option<bool>,
}

#[derive(Object)]
pub struct FeatureSupportBody {
    /// Name of the feature the client wanted to use.
    feature_name: Option<String>,
}

#[OpenApi(tag = "Tag::System")]
impl SystemApi {
    /// Welcome text that also shows how the request was authenticated.
    #[oai(path = "/", method = "get", operation_id = "get_api_root")]
    async fn root(&self, auth: AnyAuth) -> ApiResult<PlainText<String>> {
        let mut text =
            "Welcome to the Stack API endpoint (served by stackd). Documentation: /api/v1/docs.\n\n".to_string();
        match auth.0 {
            None => text.push_str("Authentication: None"),
            Some(auth) => {
                let kind = match auth.access_type {
                    AccessType::Client => "Client",
                    AccessType::Server => "Server",
                    AccessType::Admin => "Admin",
                };
                let user = match auth.user_id() {
                    None => "None".to_string(),
                    Some(id) => match self.users.get(auth.project_id(), id).await? {
                        Some(u) => u.primary_email.clone().unwrap_or_else(|| u.id.clone()),
                        None => "None".to_string(),
                    },
                };
                text.push_str(&format!("Authentication: {kind}\n  Project: {}\n  User: {user}", auth.project_id()));
            }
        }
        Ok(PlainText(text))
    }

    /// Tells a dashboard client whether its SDK version works with this server.
    #[oai(path = "/check-version", method = "post", operation_id = "check_version")]
    async fn check_version(&self, _auth: AnyAuth, body: Json<CheckVersionBody>) -> ApiResult<Json<CheckVersionResult>> {
        Ok(Json(check_version(&body.client_version)))
    }

    /// Answers that a feature is not supported (the SDK shows the text as an error).
    #[oai(path = "/check-feature-support", method = "post", operation_id = "check_feature_support")]
    async fn check_feature_support(
        &self,
        _auth: AnyAuth,
        body: Json<serde_json::Value>,
    ) -> ApiResult<PlainText<String>> {
        let name = body.0.get("feature_name").and_then(|v| v.as_str()).unwrap_or("This feature").to_string();
        Ok(PlainText(format!("{name} is not yet supported by this server (stackd).")))
    }
}

fn parse_version(v: &str) -> Option<(u64, u64, u64, bool)> {
    let (core, pre) = match v.split_once('-') {
        Some((c, _)) => (c, true),
        None => (v, false),
    };
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let (Some(Some(a)), Some(Some(b)), Some(Some(c)), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    Some((a, b, c, pre))
}

fn check_version(client: &str) -> CheckVersionResult {
    let server = parse_version(COMPATIBLE_SDK_VERSION).expect("valid constant");
    let outdated = |severe: bool, error: String| CheckVersionResult {
        up_to_date: false,
        error: Some(error),
        severe: Some(severe),
    };
    let Some(c) = parse_version(client) else {
        return outdated(true, format!("The client version {client:?} is not a valid semantic version."));
    };
    if (c.0, c.1, c.2) < (2, 8, 57) || c.0 != server.0 || c.1 != server.1 {
        return outdated(
            true,
            format!("Client version {client} is incompatible with server version {COMPATIBLE_SDK_VERSION}."),
        );
    }
    if (c.0, c.1, c.2) < (server.0, server.1, server.2) {
        return outdated(
            false,
            format!("Client version {client} is older than {COMPATIBLE_SDK_VERSION}; please upgrade."),
        );
    }
    if c.3 {
        return outdated(true, format!("Pre-release client version {client} is not supported."));
    }
    CheckVersionResult { up_to_date: true, error: None, severe: None }
}

/// `GET /health`: liveness for load balancers and the SDK's network diagnostics. With a non-empty
/// `?db=` it also proves the database answers (500 if it does not).
#[handler]
pub async fn health(req: &poem::Request, db: poem::web::Data<&Db>) -> poem::Response {
    let check_db = req.uri().query().is_some_and(|q| q.split('&').any(|kv| kv.starts_with("db=") && kv.len() > 3));
    let db_ok = !check_db || db.ping().await.is_ok();
    let mut resp = if db_ok {
        poem::Response::builder().content_type("application/json; charset=utf-8").body(r#"{"status":"ok"}"#)
    } else {
        crate::error::plain_response(poem::http::StatusCode::INTERNAL_SERVER_ERROR, "The database is not available.")
    };
    for name in [
        "access-control-allow-origin",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
    ] {
        resp.headers_mut().insert(name, poem::http::HeaderValue::from_static("*"));
    }
    resp
}

/// `GET /health/live`: the process is up and answering (also while it opens its database).
#[handler]
pub async fn live() -> poem::Response {
    poem::Response::builder().content_type("application/json; charset=utf-8").body(r#"{"status":"ok"}"#)
}

/// How long readiness waits for its probe write before it answers "not ready".
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /health/ready`: 200 once the database is open and a write commits; 503 with the reason
/// while it is starting (see `server::starting_app`), locked, full or otherwise unwritable.
#[handler]
pub async fn ready(db: poem::web::Data<&Db>) -> poem::Response {
    let outcome = tokio::time::timeout(READINESS_TIMEOUT, db.probe_write()).await;
    let reason = match outcome {
        Ok(Ok(())) => {
            return poem::Response::builder()
                .content_type("application/json; charset=utf-8")
                .body(r#"{"status":"ready"}"#)
        }
        Ok(Err(crate::error::ApiError::StorageFull)) => "the database is full",
        Ok(Err(crate::error::ApiError::Overloaded { .. })) => "the database is locked or the writer is saturated",
        Ok(Err(_)) => "the database cannot be written",
        Err(_) => "a write did not commit within 2 seconds",
    };
    poem::Response::builder()
        .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
        .header("retry-after", "1")
        .content_type("application/json; charset=utf-8")
        .body(serde_json::json!({ "status": "unavailable", "reason": reason }).to_string())
}

/// `GET /metrics`: Prometheus' text format (see [`crate::metrics`]).
#[handler]
pub async fn metrics(infra: poem::web::Data<&std::sync::Arc<crate::infra::Infra>>) -> poem::Response {
    let infra = infra.0.clone();
    let rendered = infra
        .db
        .clone()
        .read(move |conn| Ok(infra.metrics.render(infra.password_hashing.queued(), infra.db.cache_stats(), conn)))
        .await;
    match rendered {
        Ok(text) => poem::Response::builder().content_type("text/plain; version=0.0.4; charset=utf-8").body(text),
        Err(e) => poem::error::ResponseError::as_response(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_rules() {
        assert!(check_version(COMPATIBLE_SDK_VERSION).up_to_date);
        assert!(check_version("2.8.999").up_to_date);
        assert_eq!(check_version("2.8.60").severe, Some(false));
        assert_eq!(check_version("2.7.0").severe, Some(true));
        assert_eq!(check_version("banana").severe, Some(true));
    }
}

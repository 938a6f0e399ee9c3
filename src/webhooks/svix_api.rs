//! The part of the Svix server API (`/api/v1/app/{app_id}/…`, mounted under `/svix`) that the
//! official `svix` client libraries use to manage one application's endpoints: endpoints, their
//! secrets, messages, attempts and resends. The application id is the project id; the bearer token
//! comes from `POST /api/v1/webhooks/svix-token` and reaches only its own project.
//!
//! Shapes follow the client's models (`EndpointOut`, `ListResponse…`, `MessageAttemptOut`; see
//! `svix/src/models` in the npm package); errors are Svix's `{"code", "detail"}` (422:
//! `{"detail": [{"loc", "msg", "type"}]}`). This API is Svix's, not Stack's, so it is not in
//! stackd's OpenAPI document.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::{Data, Path, Query};
use poem::{handler, Body, EndpointExt, IntoEndpoint, Request, Response, Route};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::db::format_millis;
use crate::webhooks::service::{EndpointChanges, SvixError, SvixResult};
use crate::webhooks::{status, Attempt, Endpoint, Message, WebhooksService};

type Service = Arc<WebhooksService>;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 250;

fn json_response(code: StatusCode, body: Value) -> Response {
    Response::builder().status(code).content_type("application/json").body(body.to_string())
}

fn error_response(e: SvixError) -> Response {
    let (code, kind, detail) = match e {
        SvixError::Unauthorized(d) => (StatusCode::UNAUTHORIZED, "authentication_failed", d.to_string()),
        SvixError::Forbidden(d) => (StatusCode::FORBIDDEN, "forbidden", d.to_string()),
        SvixError::NotFound(d) => (StatusCode::NOT_FOUND, "not_found", d.to_string()),
        SvixError::Conflict(d) => (StatusCode::CONFLICT, "conflict", d.to_string()),
        SvixError::Invalid { field, message } => {
            let body = json!({ "detail": [{ "loc": ["body", field], "msg": message, "type": "value_error" }] });
            return json_response(StatusCode::UNPROCESSABLE_ENTITY, body);
        }
        SvixError::Internal(e) => {
            tracing::error!(error = %e, "webhook management request failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "Something went wrong.".to_string())
        }
    };
    json_response(code, json!({ "code": kind, "detail": detail }))
}

fn respond(result: SvixResult<Response>) -> Response {
    result.unwrap_or_else(error_response)
}

/// The project of the bearer token, which must be the application in the path.
fn authorize(svc: &WebhooksService, req: &Request, app_id: &str) -> SvixResult<String> {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .ok_or(SvixError::Unauthorized("A bearer token is required."))?;
    let project_id = svc.verify_token(token.trim())?;
    if project_id != app_id {
        return Err(SvixError::Forbidden("This token does not grant access to this application."));
    }
    Ok(project_id)
}

fn endpoint_out(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "uid": e.uid,
        "url": e.url,
        "description": e.description,
        "disabled": e.disabled,
        "eventTypes": e.event_types,
        "filterTypes": e.event_types,
        "channels": null,
        "metadata": e.metadata,
        "version": 1,
        "createdAt": format_millis(e.created_at),
        "updatedAt": format_millis(e.updated_at),
    })
}

fn message_out(m: &Message) -> Value {
    json!({
        "id": m.id,
        "eventId": m.event_id,
        "eventType": m.event_type,
        "payload": serde_json::from_str::<Value>(&m.body).unwrap_or(Value::Null),
        "channels": null,
        "timestamp": format_millis(m.created_at),
    })
}

fn attempt_out(a: &Attempt) -> Value {
    json!({
        "id": a.id,
        "msgId": a.message_id,
        "endpointId": a.endpoint_id,
        "url": a.url,
        "response": a.response,
        "responseStatusCode": a.response_status_code,
        "responseDurationMs": a.response_duration_ms,
        "status": a.status,
        "statusText": status::text(a.status),
        "triggerType": a.trigger_type,
        "timestamp": format_millis(a.created_at),
    })
}

fn list(data: Vec<Value>, iterator: Option<String>, done: bool) -> Response {
    json_response(StatusCode::OK, json!({ "data": data, "iterator": iterator, "prevIterator": null, "done": done }))
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<u32>,
    iterator: Option<String>,
}

impl ListQuery {
    fn limit(&self) -> SvixResult<u32> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            l @ 1..=MAX_LIMIT => Ok(l),
            _ => Err(SvixError::Invalid { field: "limit", message: format!("must be between 1 and {MAX_LIMIT}") }),
        }
    }
}

async fn body_object(body: Body) -> SvixResult<Map<String, Value>> {
    let bytes =
        body.into_bytes().await.map_err(|_| SvixError::Invalid { field: "body", message: "unreadable body".into() })?;
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(SvixError::Invalid { field: "body", message: "must be a JSON object".into() }),
    }
}

fn string_field(body: &mut Map<String, Value>, field: &'static str) -> SvixResult<Option<Option<String>>> {
    match body.remove(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) => Ok(Some(Some(s))),
        Some(_) => Err(SvixError::Invalid { field, message: "must be a string".into() }),
    }
}

/// An `EndpointIn` / `EndpointUpdate` / `EndpointPatch` body.
fn endpoint_changes(mut body: Map<String, Value>) -> SvixResult<EndpointChanges> {
    let mut c = EndpointChanges {
        url: string_field(&mut body, "url")?.flatten(),
        description: string_field(&mut body, "description")?.map(Option::unwrap_or_default),
        uid: string_field(&mut body, "uid")?,
        secret: string_field(&mut body, "secret")?,
        ..Default::default()
    };
    match body.remove("disabled") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => c.disabled = Some(b),
        Some(_) => return Err(SvixError::Invalid { field: "disabled", message: "must be a boolean".into() }),
    }
    // `filterTypes` is the older name of `eventTypes`.
    let types = body.remove("eventTypes").or_else(|| body.remove("filterTypes"));
    match types {
        None => {}
        Some(Value::Null) => c.event_types = Some(None),
        Some(Value::Array(items)) => {
            let names: Option<Vec<String>> = items.into_iter().map(|v| v.as_str().map(String::from)).collect();
            let names =
                names.ok_or(SvixError::Invalid { field: "eventTypes", message: "must be a list of strings".into() })?;
            c.event_types = Some(Some(names));
        }
        Some(_) => return Err(SvixError::Invalid { field: "eventTypes", message: "must be a list of strings".into() }),
    }
    match body.remove("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => c.metadata = Some(m),
        Some(_) => return Err(SvixError::Invalid { field: "metadata", message: "must be an object".into() }),
    }
    Ok(c)
}

#[handler]
async fn list_endpoints(
    req: &Request,
    Path(app): Path<String>,
    Query(q): Query<ListQuery>,
    svc: Data<&Service>,
) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            let limit = q.limit()? as usize;
            let all = svc.endpoints(&project).await?;
            let start = match &q.iterator {
                Some(it) => all.iter().position(|e| &e.id == it).map(|i| i + 1).unwrap_or(all.len()),
                None => 0,
            };
            let page: Vec<&Endpoint> = all[start..].iter().take(limit).collect();
            let done = start + page.len() >= all.len();
            let iterator = page.last().map(|e| e.id.clone());
            Ok(list(page.into_iter().map(endpoint_out).collect(), iterator, done))
        }
        .await,
    )
}

#[handler]
async fn create_endpoint(req: &Request, Path(app): Path<String>, body: Body, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            let changes = endpoint_changes(body_object(body).await?)?;
            let e = svc.create_endpoint(&project, changes).await?;
            Ok(json_response(StatusCode::CREATED, endpoint_out(&e)))
        }
        .await,
    )
}

#[handler]
async fn get_endpoint(req: &Request, Path((app, id)): Path<(String, String)>, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            Ok(json_response(StatusCode::OK, endpoint_out(&svc.endpoint(&project, &id).await?)))
        }
        .await,
    )
}

async fn update(req: &Request, app: String, id: String, body: Body, svc: &Service, replace: bool) -> Response {
    respond(
        async {
            let project = authorize(svc, req, &app)?;
            let changes = endpoint_changes(body_object(body).await?)?;
            let e = svc.update_endpoint(&project, &id, changes, replace).await?;
            Ok(json_response(StatusCode::OK, endpoint_out(&e)))
        }
        .await,
    )
}

#[handler]
async fn put_endpoint(
    req: &Request,
    Path((app, id)): Path<(String, String)>,
    body: Body,
    svc: Data<&Service>,
) -> Response {
    update(req, app, id, body, &svc, true).await
}

#[handler]
async fn patch_endpoint(
    req: &Request,
    Path((app, id)): Path<(String, String)>,
    body: Body,
    svc: Data<&Service>,
) -> Response {
    update(req, app, id, body, &svc, false).await
}

#[handler]
async fn delete_endpoint(req: &Request, Path((app, id)): Path<(String, String)>, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            svc.delete_endpoint(&project, &id).await?;
            Ok(Response::builder().status(StatusCode::NO_CONTENT).finish())
        }
        .await,
    )
}

#[handler]
async fn get_secret(req: &Request, Path((app, id)): Path<(String, String)>, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            let e = svc.endpoint(&project, &id).await?;
            Ok(json_response(StatusCode::OK, json!({ "key": e.secret })))
        }
        .await,
    )
}

#[handler]
async fn rotate_secret(
    req: &Request,
    Path((app, id)): Path<(String, String)>,
    body: Body,
    svc: Data<&Service>,
) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            let mut body = body_object(body).await?;
            let key = string_field(&mut body, "key")?.flatten();
            let grace =
                match body.remove("gracePeriodSeconds") {
                    None | Some(Value::Null) => None,
                    Some(v) => Some(v.as_i64().ok_or(SvixError::Invalid {
                        field: "gracePeriodSeconds",
                        message: "must be an integer".into(),
                    })?),
                };
            svc.rotate_secret(&project, &id, key, grace).await?;
            Ok(Response::builder().status(StatusCode::NO_CONTENT).finish())
        }
        .await,
    )
}

#[handler]
async fn list_messages(
    req: &Request,
    Path(app): Path<String>,
    Query(q): Query<ListQuery>,
    svc: Data<&Service>,
) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            let limit = q.limit()?;
            let messages = svc.messages(&project, q.iterator.clone(), limit).await?;
            let done = (messages.len() as u32) < limit;
            let iterator = messages.last().map(|m| m.id.clone());
            Ok(list(messages.iter().map(message_out).collect(), iterator, done))
        }
        .await,
    )
}

#[handler]
async fn get_message(req: &Request, Path((app, id)): Path<(String, String)>, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            Ok(json_response(StatusCode::OK, message_out(&svc.message(&project, &id).await?)))
        }
        .await,
    )
}

async fn attempts(
    req: &Request,
    app: String,
    q: ListQuery,
    svc: &Service,
    message: Option<String>,
    endpoint: Option<String>,
) -> Response {
    respond(
        async {
            let project = authorize(svc, req, &app)?;
            let limit = q.limit()?;
            if let Some(m) = &message {
                svc.message(&project, m).await?;
            }
            let endpoint = match endpoint {
                Some(e) => Some(svc.endpoint(&project, &e).await?.id),
                None => None,
            };
            let found = svc.attempts(&project, message, endpoint, limit).await?;
            let done = (found.len() as u32) < limit;
            let iterator = found.last().map(|a| a.id.clone());
            Ok(list(found.iter().map(attempt_out).collect(), iterator, done))
        }
        .await,
    )
}

#[handler]
async fn attempts_by_message(
    req: &Request,
    Path((app, msg)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    svc: Data<&Service>,
) -> Response {
    attempts(req, app, q, &svc, Some(msg), None).await
}

#[handler]
async fn attempts_by_endpoint(
    req: &Request,
    Path((app, ep)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    svc: Data<&Service>,
) -> Response {
    attempts(req, app, q, &svc, None, Some(ep)).await
}

#[handler]
async fn resend(req: &Request, Path((app, msg, ep)): Path<(String, String, String)>, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            svc.resend(&project, &msg, &ep).await?;
            Ok(Response::builder().status(StatusCode::ACCEPTED).finish())
        }
        .await,
    )
}

#[handler]
async fn get_app(req: &Request, Path(app): Path<String>, svc: Data<&Service>) -> Response {
    respond(
        async {
            let project = authorize(&svc, req, &app)?;
            Ok(json_response(StatusCode::OK, json!({ "id": project, "uid": project, "name": project, "metadata": {} })))
        }
        .await,
    )
}

/// The routes, relative to `/svix`.
pub fn routes(svc: Service) -> impl poem::Endpoint {
    Route::new()
        .at("/api/v1/app/:app_id", poem::get(get_app))
        .at("/api/v1/app/:app_id/endpoint", poem::get(list_endpoints).post(create_endpoint))
        .at(
            "/api/v1/app/:app_id/endpoint/:endpoint_id",
            poem::get(get_endpoint).put(put_endpoint).patch(patch_endpoint).delete(delete_endpoint),
        )
        .at("/api/v1/app/:app_id/endpoint/:endpoint_id/secret", poem::get(get_secret))
        .at("/api/v1/app/:app_id/endpoint/:endpoint_id/secret/rotate", poem::post(rotate_secret))
        .at("/api/v1/app/:app_id/msg", poem::get(list_messages))
        .at("/api/v1/app/:app_id/msg/:msg_id", poem::get(get_message))
        .at("/api/v1/app/:app_id/attempt/msg/:msg_id", poem::get(attempts_by_message))
        .at("/api/v1/app/:app_id/attempt/endpoint/:endpoint_id", poem::get(attempts_by_endpoint))
        .at("/api/v1/app/:app_id/msg/:msg_id/endpoint/:endpoint_id/resend", poem::post(resend))
        .data(svc)
        .into_endpoint()
}

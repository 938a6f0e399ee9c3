//! The request pipeline every request goes through (spec 00 §0, §3.1), in upstream's order:
//! CORS preflight → method check → body parsing → auth resolution → (handler: access type → schema)
//! → response decoration (request id, cache-control, CORS, known-error status override) → one log line.
//! Outside development mode, a per-IP ceiling on API requests comes first.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use poem::http::{header, HeaderValue, Method, StatusCode, Uri};
use poem::{Body, Endpoint, IntoResponse, Middleware, Request, Response};

use poem_openapi::OperationId;
use tracing::Instrument;

use crate::crypto::RequestId;
use crate::error::{plain_response, ApiError, KnownError};
use crate::infra::Infra;
use crate::projects::access::{self, PendingSchemaError, ResolvedAuth, OVERRIDE_ERROR_STATUS};
use crate::projects::ProjectsService;
use crate::rate_limit::Limit;
use crate::request_info::{self, RequestInfo};

/// Requests larger than this are refused with 413 before anything else reads them.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Request bodies are counted against the body budget (`Config::body_budget_bytes`) in KiB.
const BODY_UNIT: usize = 1024;

/// Which operations exist, read from our own OpenAPI document: the query parameters and JSON body
/// each declares, so that requests are checked against them with upstream's `SCHEMA_ERROR` lines
/// (spec 00 §2.4, see [`crate::request_schema`]), and the methods of each path, for the `Allow`
/// header of a 405.
pub struct RouteTable {
    operations: Vec<Operation>,
    spec: serde_json::Value,
}

struct Operation {
    /// The `operationId`, as a metrics label.
    id: &'static str,
    method: Method,
    segments: Vec<Segment>,
    query: Vec<(String, serde_json::Value)>,
    json_body: Option<serde_json::Value>,
}

enum Segment {
    Literal(String),
    Param,
}

impl RouteTable {
    pub fn from_spec(spec: &serde_json::Value, prefix: &str) -> RouteTable {
        let mut operations = Vec::new();
        let paths = spec.get("paths").and_then(|p| p.as_object()).cloned().unwrap_or_default();
        for (path, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let segments = format!("{prefix}{path}")
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(|s| if s.starts_with('{') { Segment::Param } else { Segment::Literal(s.to_string()) })
                    .collect();
                let query = op
                    .get("parameters")
                    .and_then(|p| p.as_array())
                    .into_iter()
                    .flatten()
                    .filter(|p| p.get("in").and_then(|v| v.as_str()) == Some("query"))
                    .filter_map(|p| {
                        let name = p.get("name").and_then(|v| v.as_str())?.to_string();
                        Some((name, p.get("schema").cloned().unwrap_or_default()))
                    })
                    .collect();
                let json_body = op
                    .pointer("/requestBody/content")
                    .and_then(|c| c.as_object())
                    .and_then(|c| c.iter().find(|(k, _)| k.starts_with("application/json")))
                    .and_then(|(_, media)| media.get("schema").cloned());
                let id = intern(op.get("operationId").and_then(|v| v.as_str()).unwrap_or("unnamed"));
                operations.push(Operation { id, method, segments, query, json_body });
            }
        }
        // Only the component schemas are looked up later (by `$ref`); the paths were read above.
        let components = spec.pointer("/components/schemas").cloned().unwrap_or_default();
        RouteTable { operations, spec: serde_json::json!({ "components": { "schemas": components } }) }
    }

    fn matches(segs: &[Segment], parts: &[&str]) -> Option<usize> {
        if segs.len() != parts.len() {
            return None;
        }
        let mut literal_matches = 0;
        for (seg, part) in segs.iter().zip(parts) {
            match seg {
                Segment::Literal(l) if l == part => literal_matches += 1,
                Segment::Literal(_) => return None,
                Segment::Param => {}
            }
        }
        Some(literal_matches)
    }

    /// The best-matching operation (literal segments beat parameters).
    fn operation(&self, method: &Method, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.operations
            .iter()
            .filter(|op| op.method == method)
            .filter_map(|op| Self::matches(&op.segments, &parts).map(|n| (n, op)))
            .max_by_key(|(n, _)| *n)
            .map(|(_, op)| op)
    }

    /// The operation id of a request the pipeline answered itself (an authentication or body
    /// error): the handler's own label is not there to read.
    fn operation_id(&self, method: &Method, path: &str) -> Option<&'static str> {
        self.operation(method, path).map(|op| op.id)
    }

    /// The methods served at `path` (best-matching path template), for `Allow`.
    fn methods(&self, path: &str) -> Vec<&Method> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let best = self.operations.iter().filter_map(|op| Self::matches(&op.segments, &parts)).max();
        let mut methods: Vec<&Method> = self
            .operations
            .iter()
            .filter(|op| best.is_some() && Self::matches(&op.segments, &parts) == best)
            .map(|op| &op.method)
            .collect();
        methods.dedup();
        methods
    }

    /// Every way the query string and JSON body break the operation's declared schemas.
    fn problems(&self, method: &Method, path: &str, query: Option<&str>, json_body: Option<&[u8]>) -> Vec<String> {
        let mut problems = Vec::new();
        if query.is_none_or(str::is_empty) && json_body.is_none() {
            return problems; // the common GET: nothing to check, nothing to allocate
        }
        let Some(op) = self.operation(method, path) else { return problems };
        let Some(validator) = crate::request_schema::Validator::new(&self.spec) else { return problems };
        let pairs: Vec<(String, String)> = query
            .filter(|q| !q.is_empty())
            .map(|q| {
                q.split('&')
                    .filter(|kv| !kv.is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let unknown: Vec<&str> =
            pairs.iter().map(|(k, _)| k.as_str()).filter(|k| !op.query.iter().any(|(n, _)| n == k)).collect();
        if !unknown.is_empty() {
            problems.push(format!("query contains unknown properties: {}", unknown.join(", ")));
        }
        for (name, value) in &pairs {
            if let Some((_, schema)) = op.query.iter().find(|(n, _)| n == name) {
                validator.check_query_value(value, schema, &format!("query.{name}"), &mut problems);
            }
        }
        if let (Some(schema), Some(bytes)) = (&op.json_body, json_body) {
            if let Ok(body) = serde_json::from_slice::<serde_json::Value>(bytes) {
                validator.check(&body, schema, "body", &mut problems);
            }
        }
        problems
    }
}

/// `%XX` and `+` decoding of one query-string component.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub struct Pipeline {
    pub infra: Arc<Infra>,
    pub projects: Arc<ProjectsService>,
    pub routes: Arc<RouteTable>,
}

impl<E: Endpoint> Middleware<E> for Pipeline {
    type Output = PipelineEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        let ceiling = Limit::per_minute("requests/ip", self.infra.config.rate_limit_per_ip);
        let budget_units = (self.infra.config.body_budget_bytes / BODY_UNIT).max(MAX_BODY_BYTES / BODY_UNIT);
        PipelineEndpoint {
            inner,
            bodies: Arc::new(tokio::sync::Semaphore::new(budget_units)),
            infra: self.infra.clone(),
            projects: self.projects.clone(),
            routes: self.routes.clone(),
            ceiling,
        }
    }
}

pub struct PipelineEndpoint<E> {
    inner: E,
    /// The bytes of request bodies held at once, in [`BODY_UNIT`]s: with many slow or large
    /// uploads at once, the next body waits for none of them; it is refused with 503.
    bodies: Arc<tokio::sync::Semaphore>,
    infra: Arc<Infra>,
    projects: Arc<ProjectsService>,
    routes: Arc<RouteTable>,
    ceiling: Limit,
}

/// The client's address: the socket peer, or, behind a reverse proxy that is configured as
/// trusted, the last address that proxy appended to its header.
fn client_ip(req: &Request, trusted_header: Option<&str>) -> Option<IpAddr> {
    if let Some(name) = trusted_header {
        let from_header = req
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|part| part.trim().parse::<IpAddr>().ok())
            .next_back();
        if from_header.is_some() {
            return from_header;
        }
    }
    req.remote_addr().as_socket_addr().map(|a| a.ip())
}

impl<E: Endpoint> Endpoint for PipelineEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let started = Instant::now();
        let id = RequestId::new();
        // Method and Uri clones are reference-count bumps, not copies.
        let method = req.method().clone();
        let uri = req.uri().clone();
        let ip = client_ip(&req, self.infra.config.trusted_proxy_header.as_deref());
        let info = RequestInfo { id, method: method.clone(), uri: uri.clone(), client_ip: ip };
        let is_api = uri.path().starts_with("/api/");
        let override_status = OVERRIDE_ERROR_STATUS.get(req.headers()).is_some();

        let mut resp = if method == Method::OPTIONS {
            Response::builder().status(StatusCode::OK).finish()
        } else {
            // Every line logged while handling the request carries its id.
            let span = tracing::info_span!("request", request_id = %id);
            request_info::scope(info, self.handle(req, is_api, ip)).instrument(span).await
        };

        // Logged before the status override: an SDK's failed sign-in is a 400, not the 200 it sees.
        let status = resp.status().as_u16();
        let known_error = resp.headers().get("x-stack-known-error").and_then(|v| v.to_str().ok()).map(String::from);
        if method == Method::OPTIONS {
            add_cors_headers(&mut resp);
        } else if is_api {
            decorate_api_response(&mut resp, id.as_str(), override_status);
        }
        add_security_headers(&mut resp);
        let operation = match resp.data::<OperationId>() {
            Some(o) => o.0,
            None => self.routes.operation_id(&method, uri.path()).unwrap_or_else(|| unrouted_label(uri.path())),
        };
        self.infra.metrics.observe_request(operation, &method, status, started.elapsed());
        tracing::info!(
            request_id = %id,
            method = %method,
            path = %uri.path(),
            status,
            error_code = %known_error.as_deref().unwrap_or("-"),
            duration_ms = format_args!("{:.3}", started.elapsed().as_secs_f64() * 1000.0),
            "request"
        );
        Ok(resp)
    }
}

impl<E: Endpoint> PipelineEndpoint<E> {
    async fn handle(&self, mut req: Request, is_api: bool, ip: Option<IpAddr>) -> Response {
        if is_api && self.infra.limiter.enabled() {
            let key = ip.map(|ip| ip.to_string()).unwrap_or_default();
            if let Err(e) = self.infra.limiter.check(self.ceiling, &key) {
                return poem::error::ResponseError::as_response(&e);
            }
        }
        if !matches!(*req.method(), Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
            return self.method_not_allowed(req.uri().path());
        }
        // Reserved before the body is read, held until the response is ready.
        let _body_permit = match self.reserve_body(&req) {
            Ok(permit) => permit,
            Err(e) => return poem::error::ResponseError::as_response(&e),
        };
        let json_body = match check_body(&mut req).await {
            Ok(body) => body,
            Err(e) => return poem::error::ResponseError::as_response(&e),
        };
        match access::resolve(&self.infra, &self.projects, req.headers()).await {
            Ok(auth) => {
                req.extensions_mut().insert(ResolvedAuth(auth));
            }
            Err(e) => return poem::error::ResponseError::as_response(&e),
        }
        let problems = self.routes.problems(req.method(), req.uri().path(), req.uri().query(), json_body.as_deref());
        if !problems.is_empty() {
            req.extensions_mut().insert(PendingSchemaError(KnownError::schema_lines(&problems)));
        }
        let host = req.headers().get(header::HOST).cloned();
        let uri = req.uri().clone();
        let (resp, operation) = match self.inner.call(req).await {
            Ok(r) => {
                let r = r.into_response();
                let operation = r.data::<OperationId>().copied();
                (r, operation)
            }
            Err(e) => {
                let operation = e.data::<OperationId>().copied();
                (e.into_response(), operation)
            }
        };
        let mut resp = replace_framework_errors(resp, || request_url(host.as_ref(), &uri)).await;
        if let Some(operation) = operation {
            resp.set_data(operation);
        }
        if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
            return self.method_not_allowed(uri.path());
        }
        resp
    }

    /// Takes the request body's share of the body budget: its `content-length`, or the largest
    /// body allowed when it does not say (a chunked upload).
    fn reserve_body(&self, req: &Request) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ApiError> {
        if *req.method() == Method::GET {
            return Ok(None);
        }
        let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let bytes = match declared {
            Some(0) => return Ok(None),
            Some(n) => n.min(MAX_BODY_BYTES),
            None if req.headers().contains_key(header::TRANSFER_ENCODING) => MAX_BODY_BYTES,
            None => return Ok(None),
        };
        let units = bytes.div_ceil(BODY_UNIT) as u32;
        match self.bodies.clone().try_acquire_many_owned(units) {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => Err(ApiError::Overloaded { retry_after_secs: 1 }),
        }
    }

    /// 405 with the methods the path does serve (RFC 9110 §15.5.6).
    fn method_not_allowed(&self, path: &str) -> Response {
        let mut methods: Vec<String> = self.routes.methods(path).iter().map(|m| m.to_string()).collect();
        methods.push("OPTIONS".into());
        let mut resp = plain_response(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed");
        if let Ok(v) = HeaderValue::from_str(&methods.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, v);
        }
        resp
    }
}

/// One `&'static str` per distinct operation id, however many apps are built (tests build many).
fn intern(id: &str) -> &'static str {
    static IDS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut ids = IDS.lock().expect("operation ids");
    if let Some(known) = ids.iter().find(|known| **known == id) {
        return known;
    }
    let leaked: &'static str = Box::leak(id.to_string().into_boxed_str());
    ids.push(leaked);
    leaked
}

/// The metrics label of a request no API operation answered: a fixed set, never the raw path
/// (which the client chooses).
fn unrouted_label(path: &str) -> &'static str {
    match path {
        "/health" | "/health/live" | "/health/ready" => "health",
        "/metrics" => "metrics",
        p if p.starts_with("/api/v1/docs") || p == "/api/v1/openapi.json" => "docs",
        p if p.starts_with("/svix/") => "svix",
        p if p.starts_with("/dev-oauth/") => "dev_oauth",
        p if p.starts_with("/dashboard") => "dashboard",
        p if p.starts_with("/api/") => "api_unmatched",
        _ => "unmatched",
    }
}

/// Body parsing stage (spec 00 §1.9): the body must decode as its content type says. Returns a
/// JSON body's bytes, for schema validation.
async fn check_body(req: &mut Request) -> Result<Option<bytes::Bytes>, ApiError> {
    if req.method() == Method::GET {
        return Ok(None);
    }
    let Some(content_type) =
        req.content_type().map(|c| c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
    else {
        return Ok(None);
    };
    if content_type.is_empty() {
        return Ok(None);
    }
    let known = matches!(
        content_type.as_str(),
        "application/json" | "application/x-www-form-urlencoded" | "text/plain" | "application/octet-stream"
    );
    if !known {
        return Err(KnownError::body_parsing(&format!("unsupported content type {content_type:?}")).into());
    }
    let bytes = req.take_body().into_bytes_limit(MAX_BODY_BYTES).await.map_err(|_| {
        ApiError::plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
    })?;
    match content_type.as_str() {
        "application/json" => {
            serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
                .map_err(|e| KnownError::body_parsing(&format!("invalid JSON: {e}")))?;
        }
        "application/x-www-form-urlencoded" | "text/plain" => {
            std::str::from_utf8(&bytes).map_err(|_| KnownError::body_parsing("the body is not valid UTF-8"))?;
        }
        _ => {}
    }
    req.set_body(Body::from_bytes(bytes.clone()));
    Ok((content_type == "application/json").then_some(bytes))
}

/// The URL as the client sent it, for the 404 text; built only when needed.
fn request_url(host: Option<&HeaderValue>, uri: &Uri) -> String {
    let host = host.and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}{uri}")
}

/// Texts poem-openapi uses for request-parsing failures (see `poem_openapi::error`).
const PARSE_ERROR_PREFIXES: &[&str] = &[
    "parse request payload error: ",
    "failed to parse parameter `",
    "failed to parse path `",
    "the `Content-Type` requested by the client is not supported",
    "the client request does not include the `Content-Type` header",
];

/// Responses the frameworks produce on their own become upstream's: poem's 404/405 bodies get
/// upstream's texts (spec 00 §3.5) and poem-openapi's request-parsing failures become
/// `SCHEMA_ERROR` KnownErrors (spec 00 §2.4). Our handlers never answer with these exact texts.
async fn replace_framework_errors(resp: Response, full_url: impl FnOnce() -> String) -> Response {
    let status = resp.status();
    let candidate = matches!(
        status,
        StatusCode::NOT_FOUND
            | StatusCode::METHOD_NOT_ALLOWED
            | StatusCode::BAD_REQUEST
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
    ) && !resp.headers().contains_key("x-stack-known-error")
        && resp.headers().get(header::CONTENT_TYPE).is_some_and(|c| c.as_bytes().starts_with(b"text/plain"));
    if !candidate {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    match status {
        StatusCode::NOT_FOUND if text == "not found" => plain_response(
            StatusCode::NOT_FOUND,
            format!(
                "404 — this page does not exist in the Stack Auth API served by stackd.\n\nSee the API documentation at /api/v1/docs.\n\nURL: {}",
                full_url()
            ),
        ),
        StatusCode::METHOD_NOT_ALLOWED if text == "method not allowed" => plain_response(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        StatusCode::BAD_REQUEST | StatusCode::UNSUPPORTED_MEDIA_TYPE if PARSE_ERROR_PREFIXES.iter().any(|p| text.starts_with(p)) => {
            let problem = match text.strip_prefix("the client request does not include the `Content-Type` header") {
                Some(_) => "body must be defined".to_string(),
                None => without_type_names(&text.replace("parse request payload error: ", "body: ")),
            };
            poem::error::ResponseError::as_response(&ApiError::from(KnownError::schema(&problem)))
        }
        _ => Response::from_parts(parts, Body::from_bytes(bytes)),
    }
}

/// What poem-openapi says about a request it cannot parse, without the names of our Rust types
/// (`failed to parse "CreateSessionBody": …`, `(occurred while parsing "…")`). Most problems are
/// reported earlier, field by field, by [`crate::request_schema`]; this is the fallback.
fn without_type_names(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(" (occurred while parsing \"") {
        out.push_str(&rest[..start]);
        rest = rest[start..].split_once("\")").map(|(_, r)| r).unwrap_or("");
    }
    out.push_str(rest);
    let mut cleaned = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(start) = rest.find("failed to parse \"") {
        cleaned.push_str(&rest[..start]);
        rest = rest[start + "failed to parse \"".len()..].split_once("\": ").map(|(_, r)| r).unwrap_or("");
    }
    cleaned.push_str(rest);
    cleaned.replace("Expected input type", "expected a value of type").trim_end_matches('.').to_string()
}

fn cors_allow_headers() -> &'static HeaderValue {
    static VALUE: std::sync::OnceLock<HeaderValue> = std::sync::OnceLock::new();
    VALUE.get_or_init(|| {
        let mut names = vec![
            "content-type",
            "authorization",
            "accept",
            "baggage",
            "sentry-trace",
            "x-vercel-protection-bypass",
            "ngrok-skip-browser-warning",
        ];
        // Upstream keeps these two out of the browser allow-list on purpose (spec 00 §1.1).
        let browser_forbidden = ["allow-restricted-user", "development-override-key"];
        names.extend(
            access::ALL_STACK_HEADER_NAMES.iter().filter(|n| !browser_forbidden.iter().any(|f| n.ends_with(f))),
        );
        HeaderValue::from_str(&names.join(", ")).expect("ASCII header names")
    })
}

fn decorate_api_response(resp: &mut Response, request_id: &str, override_status: bool) {
    let status = resp.status();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-stack-request-id", v.clone());
        h.insert("x-hexclave-request-id", v);
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, max-age=0"));
    }
    // A 429 is not a KnownError and the SDK must see it as one to honour Retry-After (spec 00 §7).
    if override_status && status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
        let actual = HeaderValue::from(status.as_u16());
        h.insert("x-stack-actual-status", actual.clone());
        h.insert("x-hexclave-actual-status", actual);
        resp.set_status(StatusCode::OK);
    }
    add_cors_headers(resp);
}

/// CORS for browser apps (spec 00 §3.1): any origin, every Stack header of both families, no cookies.
fn add_cors_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"));
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, cors_allow_headers().clone());
    h.insert(header::VARY, cors_allow_headers().clone());
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "content-type, x-stack-actual-status, x-stack-known-error, x-hexclave-actual-status, x-hexclave-known-error, x-stack-request-id",
        ),
    );
}

fn add_security_headers(resp: &mut Response) {
    let h = resp.headers_mut();
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("referrer-policy", HeaderValue::from_static("strict-origin-when-cross-origin"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
}

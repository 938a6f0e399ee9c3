//! The finishing touches that make our OpenAPI document generate working clients, applied to what
//! poem-openapi emits:
//! - `nullable: true` on every optional property (the server sends `null` for them), with `$ref`s
//!   wrapped in `allOf` so OpenAPI 3.0 tools honour it;
//! - the access type, project id and access token as header security schemes, combined with the
//!   project keys in every operation's security requirements;
//! - a server URL with a `{baseUrl}` variable, license and contact;
//! - one request media type per operation (the token endpoint also accepts form bodies, as the SDK
//!   sends them, but documents JSON only);
//! - enums for closed sets (access type, restricted reason, KnownError codes);
//! - `additionalProperties: false` on request schemas, which refuse unknown properties.
//!
//! Imports no domain: it works on the JSON document alone.

use poem_openapi::OpenApiService;
use serde_json::{json, Map, Value};

use crate::error::KNOWN_ERROR_CODES;

pub const ACCESS_TYPE_SCHEME: &str = "AccessType";
pub const PROJECT_ID_SCHEME: &str = "ProjectId";
pub const ACCESS_TOKEN_SCHEME: &str = "AccessToken";

pub fn describe<T>(service: OpenApiService<T, ()>) -> OpenApiService<T, ()>
where
    T: poem_openapi::OpenApi,
{
    service
        .description(
            "Wire-compatible implementation of the Stack Auth REST API v1, served by stackd. Authenticate with \
             `x-stack-access-type` (client, server or admin), `x-stack-project-id` and the key of that access type \
             (the security schemes of each operation); add `x-stack-access-token` to act as a signed-in user. Every \
             `x-stack-*` header is also accepted as `x-hexclave-*`. Errors are KnownErrors: `{code, details?, error}` \
             with the `x-stack-known-error` header.\n\nRate limits: any operation may answer `429 Too Many Requests` with a \
             `Retry-After` header (seconds to wait) and a JSON body `{\"message\": \"…\"}`; wait and retry. Under overload \
             (a full password-hashing queue) the answer is `503` with the same header and body.",
        )
        .license(poem_openapi::LicenseObject::new("MIT").url("https://opensource.org/licenses/MIT"))
        .contact(poem_openapi::ContactObject::new().name("stackd").url("https://github.com/stack-auth/stack-auth"))
}

/// The `baseUrl` default of the committed document (what `make run` serves).
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8102";

/// Applies the finishing touches and renders the document as committed (pretty JSON + newline).
/// A running server passes its own base URL, so "Try it out" in its docs reaches it.
pub fn finish(raw: &str, base_url: &str) -> String {
    let mut spec: Value = serde_json::from_str(raw).expect("poem-openapi emits JSON");
    servers(&mut spec, base_url);
    security(&mut spec);
    single_media_type(&mut spec);
    let closed = request_schemas(&spec);
    if let Some(schemas) = spec.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        for (name, schema) in schemas.iter_mut() {
            nullable_optionals(schema);
            if closed.contains(name) && schema.get("properties").is_some() {
                schema["additionalProperties"] = json!(false);
            }
        }
        enums(schemas);
    }
    let mut text = serde_json::to_string_pretty(&spec).expect("JSON serializes");
    text.push('\n');
    text
}

fn servers(spec: &mut Value, base_url: &str) {
    spec["servers"] = json!([{
        "url": "{baseUrl}/api/v1",
        "description": "A stackd server (`make run` serves http://127.0.0.1:8102).",
        "variables": { "baseUrl": { "default": base_url, "description": "Scheme, host and port of the server." } }
    }]);
}

fn security(spec: &mut Value) {
    let schemes = spec.pointer_mut("/components/securitySchemes").and_then(Value::as_object_mut);
    let Some(schemes) = schemes else { return };
    let header = |name: &str, description: &str| json!({ "type": "apiKey", "in": "header", "name": name, "description": description });
    schemes.insert(
        ACCESS_TYPE_SCHEME.into(),
        header("x-stack-access-type", "`client`, `server` or `admin`: which key authenticates the request."),
    );
    schemes.insert(PROJECT_ID_SCHEME.into(), header("x-stack-project-id", "The project id (`internal` or a UUID)."));
    schemes.insert(
        ACCESS_TOKEN_SCHEME.into(),
        header("x-stack-access-token", "Optional: a user's access token (JWT), to act as that user."),
    );
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut() {
        for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            let Some(requirements) = op.get_mut("security").and_then(Value::as_array_mut) else { continue };
            let mut combined = Vec::new();
            let mut anonymous = false;
            for req in requirements.iter() {
                let Some(keys) = req.as_object() else { continue };
                if keys.is_empty() {
                    anonymous = true;
                    continue;
                }
                for with_token in [false, true] {
                    let mut r: Map<String, Value> = keys.clone();
                    r.insert(ACCESS_TYPE_SCHEME.into(), json!([]));
                    r.insert(PROJECT_ID_SCHEME.into(), json!([]));
                    if with_token {
                        r.insert(ACCESS_TOKEN_SCHEME.into(), json!([]));
                    }
                    combined.push(Value::Object(r));
                }
            }
            if anonymous {
                combined.push(json!({}));
            }
            *requirements = combined;
        }
    }
}

/// Optional properties may be sent as `null`: say so, in the form OpenAPI 3.0 tools understand.
fn nullable_optionals(schema: &mut Value) {
    let required: Vec<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default();
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else { return };
    for (name, prop) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        if let Some(reference) = prop.get("$ref").cloned() {
            let mut wrapped = Map::new();
            wrapped.insert("allOf".into(), json!([{ "$ref": reference }]));
            if let Some(d) = prop.get("description") {
                wrapped.insert("description".into(), d.clone());
            }
            wrapped.insert("nullable".into(), json!(true));
            *prop = Value::Object(wrapped);
        } else if let Some(o) = prop.as_object_mut() {
            o.insert("nullable".into(), json!(true));
        }
    }
}

fn enums(schemas: &mut Map<String, Value>) {
    if let Some(code) = schemas.get_mut("KnownError").and_then(|s| s.pointer_mut("/properties/code")) {
        code["enum"] = json!(KNOWN_ERROR_CODES.as_slice());
    }
    if let Some(kind) = schemas.get_mut("RestrictedReason").and_then(|s| s.pointer_mut("/properties/type")) {
        kind["enum"] = json!(["anonymous", "email_not_verified", "restricted_by_administrator"]);
    }
}

/// Request bodies the OAuth token endpoint takes: OAuth clients may send parameters we ignore.
const OPEN_REQUEST_SCHEMAS: &[&str] = &["TokenRequestBody"];

/// Names of the schemas request bodies use (transitively). Unknown properties in them are
/// refused (spec 00 §2.4), so the document says `additionalProperties: false`.
fn request_schemas(spec: &Value) -> std::collections::BTreeSet<String> {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.push(r.rsplit('/').next().unwrap_or_default().to_string());
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for item in spec.get("paths").and_then(Value::as_object).into_iter().flat_map(|p| p.values()) {
        for op in item.as_object().into_iter().flat_map(|o| o.values()) {
            if let Some(body) = op.get("requestBody") {
                refs(body, &mut pending);
            }
        }
    }
    let schemas = spec.pointer("/components/schemas").and_then(Value::as_object);
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if OPEN_REQUEST_SCHEMAS.contains(&name.as_str()) || !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.and_then(|s| s.get(&name)) {
            refs(schema, &mut pending);
        }
    }
    seen
}

/// Generators expect one request media type; JSON is the one every client can send.
fn single_media_type(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for item in paths.values_mut() {
        for op in item.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            if let Some(content) = op.pointer_mut("/requestBody/content").and_then(Value::as_object_mut) {
                if content.len() > 1 && content.keys().any(|k| k.starts_with("application/json")) {
                    content.retain(|k, _| k.starts_with("application/json"));
                }
            }
        }
    }
}

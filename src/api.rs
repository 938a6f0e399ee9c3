//! Assembles every area's routes into one OpenAPI service and the HTTP app around it.

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, Route};
use poem_openapi::{Object, OpenApiService, Tags};

use crate::pipeline::{Pipeline, QueryRules};
use crate::state::State;

/// One tag per API area; generated clients group their methods by these.
#[derive(Tags)]
pub enum Tag {
    /// Service root, health and version checks.
    System,
    /// The current project's public and admin views.
    Projects,
    /// Creating, reading, updating, listing and deleting users.
    Users,
    /// Sessions (refresh tokens), access-token refresh and sign-out.
    Sessions,
    /// Sign-up and sign-in with e-mail and password, and anonymous sign-up.
    Auth,
    /// OAuth 2 token endpoint and JWKS.
    Oauth,
}

/// `{"success": true}`, the body of deletes and other actions without a result.
#[derive(Object)]
pub struct Success {
    /// Always true.
    pub success: bool,
}

impl Success {
    pub fn ok() -> poem_openapi::payload::Json<Success> {
        poem_openapi::payload::Json(Success { success: true })
    }
}

/// Every route of `/api/v1`, in spec order.
pub type Api = (
    crate::system::SystemApi,
    crate::projects::api::ProjectsApi,
    crate::users::api::UsersApi,
    crate::sessions::api::SessionsApi,
    crate::auth::api::AuthApi,
    crate::sessions::api::OauthApi,
);

pub const API_PREFIX: &str = "/api/v1";

pub fn service(state: &State) -> OpenApiService<Api, ()> {
    let api: Api = (
        crate::system::SystemApi { state: state.clone() },
        crate::projects::api::ProjectsApi { state: state.clone() },
        crate::users::api::UsersApi { state: state.clone() },
        crate::sessions::api::SessionsApi { state: state.clone() },
        crate::auth::api::AuthApi { state: state.clone() },
        crate::sessions::api::OauthApi::new(state.clone()),
    );
    OpenApiService::new(api, "stackd — Stack Auth REST API v1", env!("CARGO_PKG_VERSION"))
        .description(
            "Wire-compatible implementation of the Stack Auth REST API v1. Authenticate with `x-stack-access-type` \
             (client, server or admin), `x-stack-project-id` and the key of that access type; add \
             `x-stack-access-token` to act as a signed-in user. Every `x-stack-*` header is also accepted as \
             `x-hexclave-*`. Errors are KnownErrors: `{code, details?, error}` with the `x-stack-known-error` header.",
        )
        .server(API_PREFIX)
}

/// The OpenAPI document as committed under `openapi/` (pretty JSON, trailing newline).
pub fn spec_json(state: &State) -> String {
    let spec: serde_json::Value = serde_json::from_str(&service(state).spec()).expect("poem-openapi emits JSON");
    let mut text = serde_json::to_string_pretty(&spec).expect("JSON serializes");
    text.push('\n');
    text
}

/// The whole HTTP application: `/api/v1/*`, docs, `/health`, wrapped in the request pipeline.
pub fn app(state: &State) -> impl Endpoint {
    let service = service(state);
    let spec: serde_json::Value = serde_json::from_str(&service.spec()).expect("poem-openapi emits JSON");
    let query_rules = Arc::new(QueryRules::from_spec(&spec, API_PREFIX));
    let docs = service.swagger_ui();
    let spec_endpoint = service.spec_endpoint();
    Route::new()
        .at("/health", poem::get(crate::system::health).data(state.clone()))
        .nest("/api/v1/docs", docs)
        .at("/api/v1/openapi.json", spec_endpoint)
        .nest(API_PREFIX, service)
        .with(Pipeline { state: state.clone(), query_rules })
}

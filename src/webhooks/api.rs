//! `POST /webhooks/svix-token` and `POST /internal/send-test-webhook` (spec 20 §6.4, §6.5).

use std::sync::Arc;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use crate::error::ApiResult;
use crate::projects::access::AdminAuth;
use crate::web::Tag;
use crate::webhooks::WebhooksService;

pub struct WebhooksApi {
    pub webhooks: Arc<WebhooksService>,
    /// This server's public origin: the Svix-compatible API lives under `{base_url}/svix`.
    pub base_url: String,
}

/// The request body: an empty object.
#[derive(Object)]
pub struct SvixTokenRequest {}

#[derive(Object)]
pub struct SvixToken {
    /// Bearer token for the Svix-compatible endpoint-management API of this project's
    /// application (the application id is the project id). Valid for 24 hours.
    pub token: String,
    /// Server URL to give the `svix` client library (`new Svix(token, { serverUrl: url })`).
    pub url: String,
}

#[derive(ApiResponse)]
pub enum CreatedSvixToken {
    #[oai(status = 201)]
    Created(Json<SvixToken>),
}

#[derive(Object)]
#[oai(deny_unknown_fields)]
pub struct SendTestWebhook {
    /// The endpoint (`ep_…` id or its uid).
    pub endpoint_id: String,
}

#[derive(Object)]
pub struct SendTestWebhookResult {
    /// Whether the endpoint accepted the test event (answered 2xx).
    pub success: bool,
    /// Why not, when it did not.
    #[oai(skip_serializing_if_is_none)]
    pub error_message: Option<String>,
}

#[OpenApi(tag = "Tag::Webhooks")]
impl WebhooksApi {
    /// A token for managing the project's webhook endpoints with the `svix` client libraries,
    /// pointed at this server (admin).
    #[oai(path = "/webhooks/svix-token", method = "post", operation_id = "create_svix_token")]
    async fn svix_token(&self, auth: AdminAuth, _body: Json<SvixTokenRequest>) -> ApiResult<CreatedSvixToken> {
        Ok(CreatedSvixToken::Created(Json(SvixToken {
            token: self.webhooks.portal_token(auth.0.project_id()),
            url: format!("{}/svix", self.base_url),
        })))
    }

    /// Sends a `stack.test` event to one endpoint at once and says whether it was accepted. Always
    /// 200; a failed test event stays on the retry schedule like any other.
    #[oai(path = "/internal/send-test-webhook", method = "post", operation_id = "send_test_webhook")]
    async fn send_test(&self, auth: AdminAuth, body: Json<SendTestWebhook>) -> ApiResult<Json<SendTestWebhookResult>> {
        let problem = self.webhooks.send_test(auth.0.project_id(), &body.0.endpoint_id).await?;
        Ok(Json(SendTestWebhookResult { success: problem.is_none(), error_message: problem.map(String::from) }))
    }
}

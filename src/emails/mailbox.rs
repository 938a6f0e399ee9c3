//! The development mailbox: where mail goes when the server has no SMTP server. Admins read their
//! project's messages through the API; test suites written against Stack's docker setup read
//! them through the two Inbucket endpoints, served on a listener of their own (development only).

use std::net::SocketAddr;
use std::sync::Arc;

use poem::error::ResponseError;
use poem::web::{Data, Json as PoemJson, Path as PoemPath};
use poem::{get, handler, EndpointExt, IntoResponse, Route};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::{json, Value};

use crate::emails::store::MailboxMessage;
use crate::emails::EmailsService;
use crate::error::{ApiError, ApiResult, KnownError};
use crate::projects::access::AdminAuth;
use crate::web::Tag;

/// Messages returned by one list call.
const MAX_LIST: usize = 500;

pub struct DevMailboxApi {
    pub emails: Arc<EmailsService>,
}

#[derive(Object)]
pub struct DevMailboxMessage {
    pub id: i64,
    /// `Name <address>`.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Headers as sent, each a list of values.
    pub headers: Value,
    pub created_at_millis: i64,
}

#[derive(Object)]
pub struct DevMailboxList {
    /// Oldest first (the newest 500 at most).
    pub items: Vec<DevMailboxMessage>,
    pub is_paginated: bool,
}

fn view(m: MailboxMessage) -> DevMailboxMessage {
    DevMailboxMessage {
        id: m.id,
        from: format!("{} <{}>", m.from_name, m.from_address),
        to: m.to_address,
        subject: m.subject,
        text: m.text,
        html: m.html,
        headers: m.headers,
        created_at_millis: m.created_at,
    }
}

fn not_found() -> ApiError {
    ApiError::plain(poem::http::StatusCode::NOT_FOUND, "Message not found")
}

#[OpenApi(tag = "Tag::Emails")]
impl DevMailboxApi {
    /// The project's messages in the development mailbox (kept when the server has no SMTP server
    /// configured), optionally those to one address.
    #[oai(path = "/internal/dev-mailbox", method = "get", operation_id = "list_dev_mailbox")]
    async fn list(
        &self,
        auth: AdminAuth,
        /// Only messages to this address (case-insensitive).
        to: Query<Option<String>>,
    ) -> ApiResult<Json<DevMailboxList>> {
        let to = to.0.map(|t| t.trim().to_lowercase());
        let items = self.emails.mailbox(Some(auth.0.project_id().to_string()), None, to, MAX_LIST).await?;
        Ok(Json(DevMailboxList { items: items.into_iter().map(view).collect(), is_paginated: false }))
    }

    /// One message of the project's development mailbox.
    #[oai(path = "/internal/dev-mailbox/:message_id", method = "get", operation_id = "get_dev_mailbox_message")]
    async fn get(&self, auth: AdminAuth, message_id: Path<String>) -> ApiResult<Json<DevMailboxMessage>> {
        let id: i64 = message_id.0.parse().map_err(|_| KnownError::schema("params.message_id must be a number"))?;
        let m = self.emails.mailbox_message(Some(auth.0.project_id().to_string()), id).await?.ok_or_else(not_found)?;
        Ok(Json(view(m)))
    }
}

// ---- Inbucket-compatible listener ----

fn inbucket_header(m: &MailboxMessage) -> Value {
    json!({
        "mailbox": m.mailbox,
        "id": m.id.to_string(),
        "from": format!("{} <{}>", m.from_name, m.from_address),
        "to": [format!("<{}>", m.to_address)],
        "subject": m.subject,
        "date": crate::db::format_millis(m.created_at),
        "posix-millis": m.created_at,
        "size": m.text.len() + m.html.len(),
        "seen": false,
    })
}

#[handler]
async fn inbucket_list(PoemPath(name): PoemPath<String>, emails: Data<&Arc<EmailsService>>) -> poem::Response {
    match emails.mailbox(None, Some(name.to_lowercase()), None, MAX_LIST).await {
        Ok(list) => PoemJson(list.iter().map(inbucket_header).collect::<Vec<_>>()).into_response(),
        Err(e) => e.as_response(),
    }
}

#[handler]
async fn inbucket_message(
    PoemPath((name, id)): PoemPath<(String, String)>,
    emails: Data<&Arc<EmailsService>>,
) -> poem::Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found().as_response();
    };
    match emails.mailbox_message(None, id).await {
        Ok(Some(m)) if m.mailbox == name.to_lowercase() => {
            let mut body = inbucket_header(&m);
            body["header"] = m.headers.clone();
            body["body"] = json!({ "text": m.text, "html": m.html });
            body["attachments"] = json!([]);
            PoemJson(body).into_response()
        }
        Ok(_) => not_found().as_response(),
        Err(e) => e.as_response(),
    }
}

/// The Inbucket read API over the development mailbox (every project's messages: development only).
pub fn inbucket_app(emails: Arc<EmailsService>) -> impl poem::Endpoint {
    Route::new()
        .at("/api/v1/mailbox/:name", get(inbucket_list))
        .at("/api/v1/mailbox/:name/:id", get(inbucket_message))
        .data(emails)
}

/// Serves [`inbucket_app`] on `addr` until `shutdown` resolves. Returns the bound address.
pub async fn serve_inbucket(
    addr: SocketAddr,
    emails: Arc<EmailsService>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let std_listener = listener.into_std()?;
    let acceptor = poem::listener::TcpAcceptor::from_std(std_listener)?;
    let server = poem::Server::new_with_acceptor(acceptor);
    tokio::spawn(async move {
        if let Err(e) = server.run_with_graceful_shutdown(inbucket_app(emails), shutdown, None).await {
            tracing::error!(error = %e, "development mailbox listener stopped");
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(crate::db::format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(crate::db::format_millis(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}

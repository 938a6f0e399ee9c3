//! What is known about the request being served, for code that has no `Request` at hand: its id
//! (error bodies, logs), method and path (`SCHEMA_ERROR` messages), and the client's IP address
//! (rate limits). The pipeline sets it for the duration of each request.

use std::net::IpAddr;

use poem::http::{Method, Uri};

use crate::crypto::RequestId;

pub struct RequestInfo {
    pub id: RequestId,
    pub method: Method,
    pub uri: Uri,
    pub client_ip: Option<IpAddr>,
}

tokio::task_local! {
    static REQUEST: RequestInfo;
}

/// Runs `f` with `info` as the current request.
pub async fn scope<F: std::future::Future>(info: RequestInfo, f: F) -> F::Output {
    REQUEST.scope(info, f).await
}

/// The current request's id, for error bodies and logs.
pub fn current_request_id() -> String {
    REQUEST.try_with(|r| r.id.to_string()).unwrap_or_else(|_| "-".into())
}

/// `(METHOD, path)` of the current request, for `SCHEMA_ERROR` messages.
pub fn current_request_line() -> (String, String) {
    REQUEST.try_with(|r| (r.method.to_string(), r.uri.path().to_string())).unwrap_or_else(|_| ("?".into(), "?".into()))
}

/// The client's address (the socket peer, or the configured trusted proxy header's value).
pub fn client_ip() -> Option<IpAddr> {
    REQUEST.try_with(|r| r.client_ip).ok().flatten()
}

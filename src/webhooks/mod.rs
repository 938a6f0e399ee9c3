//! Webhooks (spec 20 §6): every event of the log reaches the project's endpoints, signed exactly as
//! Svix signs (§6.3), retried on Svix's schedule, with every attempt recorded.
//!
//! Flow: the event is written in the transaction of its change ([`crate::events`]); the dispatcher
//! ([`delivery`]) turns new events into one message per event and one delivery per matching
//! endpoint, in one transaction with its read position, then posts due deliveries and records each
//! attempt. Endpoints are managed through a Svix-compatible API ([`svix_api`]) that the official
//! `svix` client libraries talk to, with the token of `POST /webhooks/svix-token` ([`api`]).

pub mod api;
pub mod delivery;
pub mod service;
pub mod store;
pub mod svix_api;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::Value;
use sha2::Sha256;

pub use service::WebhooksService;

/// Svix's `MessageStatus`.
pub mod status {
    pub const SUCCESS: i64 = 0;
    pub const PENDING: i64 = 1;
    pub const FAIL: i64 = 2;
    pub const SENDING: i64 = 3;

    pub fn text(status: i64) -> &'static str {
        match status {
            SUCCESS => "success",
            PENDING => "pending",
            FAIL => "fail",
            _ => "sending",
        }
    }
}

/// Svix's `MessageAttemptTriggerType`.
pub const TRIGGER_SCHEDULED: i64 = 0;
pub const TRIGGER_MANUAL: i64 = 1;

/// The test event of `POST /internal/send-test-webhook`.
pub const TEST_EVENT_TYPE: &str = "stack.test";

/// An endpoint of a project's application.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: String,
    pub project_id: String,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub disabled: bool,
    /// `None` = every event type.
    pub event_types: Option<Vec<String>>,
    pub metadata: serde_json::Map<String, Value>,
    pub secret: String,
    /// The secret before the last rotation, while it still signs (unix millis it stops).
    pub previous_secret: Option<(String, i64)>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    /// Whether an event of `event_type` goes to this endpoint.
    pub fn wants(&self, event_type: &str) -> bool {
        !self.disabled && self.event_types.as_ref().is_none_or(|types| types.iter().any(|t| t == event_type))
    }
}

/// A message: one event, with the exact body every attempt signs.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub project_id: String,
    pub event_id: Option<String>,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
}

/// One HTTP attempt of a message to an endpoint.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: String,
    pub message_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub status: i64,
    pub response_status_code: i64,
    pub response: String,
    pub response_duration_ms: i64,
    pub trigger_type: i64,
    pub created_at: i64,
}

/// `prefix_` + 32 random hex digits (Svix ids are prefixed the same way).
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A message id derived from its event, so a message is created at most once per event.
pub fn message_id_for_event(event_id: &str) -> String {
    format!("msg_{}", event_id.replace('-', ""))
}

/// A new signing secret: `whsec_` + base64 of 24 random bytes, as Svix makes them.
pub fn new_secret() -> String {
    let mut key = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut key);
    format!("whsec_{}", B64.encode(key))
}

/// The key bytes of a `whsec_` secret, if it is one (Svix accepts 24 to 64 bytes).
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let key = B64.decode(secret.strip_prefix("whsec_")?).ok()?;
    (24..=64).contains(&key.len()).then_some(key)
}

/// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` (spec 20 §6.3).
pub fn sign(secret: &str, msg_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    Some(format!("v1,{}", B64.encode(mac.finalize().into_bytes())))
}

/// The `svix-signature` value: the current secret's signature, and the previous one's while it is
/// in its grace period (receivers accept any listed signature).
pub fn signature_header(endpoint: &Endpoint, msg_id: &str, timestamp: i64, body: &str, now_millis: i64) -> String {
    let mut sigs: Vec<String> = sign(&endpoint.secret, msg_id, timestamp, body).into_iter().collect();
    if let Some((previous, until)) = &endpoint.previous_secret {
        if *until > now_millis {
            sigs.extend(sign(previous, msg_id, timestamp, body));
        }
    }
    sigs.join(" ")
}

/// The body of an event's message: exactly `{"type": …, "data": …}` (spec 20 §6.1).
pub fn event_body(event_type: &str, data: &Value) -> String {
    serde_json::json!({ "type": event_type, "data": data }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Svix's documentation ("Verifying webhooks manually").
    #[test]
    fn signature_matches_svix_reference() {
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn secrets_are_svix_shaped() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).unwrap().len(), 24);
        assert!(secret_key("whsec_short").is_none());
        assert!(secret_key("no-prefix").is_none());
    }
}

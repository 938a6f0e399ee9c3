//! Webhook rules: endpoint management (what the Svix-compatible API calls), the portal token of
//! `POST /webhooks/svix-token`, test sends and resends.

use std::sync::Arc;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use crate::db::{now_millis, Db};
use crate::error::ApiResult;
use crate::infra::Infra;
use crate::webhooks::delivery::{Dispatcher, LEASE_MILLIS};
use crate::webhooks::{new_id, new_secret, secret_key, store, Endpoint, Message, TEST_EVENT_TYPE, TRIGGER_MANUAL};

/// How long a portal token works.
const TOKEN_TTL_SECS: i64 = 24 * 3600;
/// Default grace period of a rotated secret (Svix's: 24 hours); at most 7 days.
const DEFAULT_GRACE_SECS: i64 = 24 * 3600;
const MAX_GRACE_SECS: i64 = 7 * 24 * 3600;
/// Endpoints per project: bounded, since each one multiplies every event.
pub const MAX_ENDPOINTS: usize = 50;

/// Why a management call failed, in the Svix API's terms (`{"code", "detail"}`).
#[derive(Debug)]
pub enum SvixError {
    Unauthorized(&'static str),
    Forbidden(&'static str),
    NotFound(&'static str),
    Conflict(&'static str),
    /// 422 with the offending field.
    Invalid {
        field: &'static str,
        message: String,
    },
    Internal(String),
}

impl From<crate::error::ApiError> for SvixError {
    fn from(e: crate::error::ApiError) -> Self {
        SvixError::Internal(e.to_string())
    }
}

pub type SvixResult<T> = Result<T, SvixError>;

/// The writable fields of an endpoint (Svix's `EndpointIn` / `EndpointPatch`); `None` = not given.
#[derive(Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub uid: Option<Option<String>>,
    pub disabled: Option<bool>,
    pub event_types: Option<Option<Vec<String>>>,
    pub metadata: Option<Map<String, Value>>,
    pub secret: Option<Option<String>>,
}

pub struct WebhooksService {
    infra: Arc<Infra>,
    pub dispatcher: Arc<Dispatcher>,
    token_key: [u8; 32],
}

fn invalid(field: &'static str, message: impl Into<String>) -> SvixError {
    SvixError::Invalid { field, message: message.into() }
}

fn check_url(url: &str) -> SvixResult<()> {
    let ok = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 65_536
        && url.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
    if ok {
        Ok(())
    } else {
        Err(invalid("url", "must be an http:// or https:// URL"))
    }
}

fn check_uid(uid: &str) -> SvixResult<()> {
    if !uid.is_empty() && uid.len() <= 256 && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        Ok(())
    } else {
        Err(invalid("uid", "must be 1 to 256 characters of letters, digits, '-', '_' and '.'"))
    }
}

/// A given secret: `whsec_` + base64, or bare base64 (Svix accepts both).
fn normalize_secret(secret: &str) -> SvixResult<String> {
    let secret = if secret.starts_with("whsec_") { secret.to_string() } else { format!("whsec_{secret}") };
    secret_key(&secret)
        .map(|_| secret)
        .ok_or_else(|| invalid("secret", "must be whsec_ followed by base64 of 24 to 64 bytes"))
}

impl WebhooksService {
    pub fn new(infra: Arc<Infra>) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(b"stackd/webhook-portal-token/v1"), infra.config.server_secret.as_bytes());
        let mut token_key = [0u8; 32];
        hk.expand(b"token", &mut token_key).expect("32 bytes is a valid HKDF length");
        let dispatcher = Arc::new(Dispatcher::new(infra.clone()));
        infra.metrics.register_backlog("webhook_deliveries", super::store::backlog);
        WebhooksService { infra, dispatcher, token_key }
    }

    fn db(&self) -> &Db {
        &self.infra.db
    }

    fn token_mac(&self, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.token_key).expect("any key length");
        mac.update(payload.as_bytes());
        mac.finalize().into_bytes().iter().take(20).map(|b| format!("{b:02x}")).collect()
    }

    /// A portal token for the project's application: `whtk_<project hex>_<expiry>_<mac>`. Stateless
    /// (an HMAC under a key derived from the server secret), valid for a day, and good only for
    /// this project.
    pub fn portal_token(&self, project_id: &str) -> String {
        let hex: String = project_id.bytes().map(|b| format!("{b:02x}")).collect();
        let payload = format!("whtk_{hex}_{}", now_millis() / 1000 + TOKEN_TTL_SECS);
        let mac = self.token_mac(&payload);
        format!("{payload}_{mac}")
    }

    /// The project a portal token is for, if the token is genuine and unexpired.
    pub fn verify_token(&self, token: &str) -> SvixResult<String> {
        let bad = SvixError::Unauthorized("Invalid or expired token.");
        let (payload, mac) = token.rsplit_once('_').ok_or(SvixError::Unauthorized("Invalid or expired token."))?;
        if !crate::crypto::hashes_equal(self.token_mac(payload).as_bytes(), mac.as_bytes()) {
            return Err(bad);
        }
        let mut parts = payload.strip_prefix("whtk_").unwrap_or_default().split('_');
        let (Some(hex), Some(expiry), None) = (parts.next(), parts.next(), parts.next()) else { return Err(bad) };
        let expiry: i64 = expiry.parse().map_err(|_| SvixError::Unauthorized("Invalid or expired token."))?;
        if expiry * 1000 < now_millis() || hex.len() % 2 != 0 {
            return Err(bad);
        }
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        bytes.and_then(|b| String::from_utf8(b).ok()).ok_or(bad)
    }

    pub async fn endpoints(&self, project_id: &str) -> SvixResult<Vec<Endpoint>> {
        let project_id = project_id.to_string();
        Ok(self.db().read(move |c| store::endpoints(c, &project_id)).await?)
    }

    pub async fn endpoint(&self, project_id: &str, id_or_uid: &str) -> SvixResult<Endpoint> {
        let (project_id, id) = (project_id.to_string(), id_or_uid.to_string());
        self.db()
            .read(move |c| store::endpoint_by_id_or_uid(c, &project_id, &id))
            .await?
            .ok_or(SvixError::NotFound("Endpoint not found"))
    }

    fn apply(endpoint: &mut Endpoint, changes: EndpointChanges) -> SvixResult<()> {
        if let Some(url) = changes.url {
            check_url(&url)?;
            endpoint.url = url;
        }
        if let Some(description) = changes.description {
            endpoint.description = description;
        }
        if let Some(uid) = changes.uid {
            if let Some(uid) = &uid {
                check_uid(uid)?;
            }
            endpoint.uid = uid;
        }
        if let Some(disabled) = changes.disabled {
            endpoint.disabled = disabled;
        }
        if let Some(types) = changes.event_types {
            if let Some(types) = &types {
                if types.is_empty() || types.iter().any(|t| t.is_empty() || t.len() > 256) {
                    return Err(invalid("eventTypes", "must be null or a non-empty list of event type names"));
                }
            }
            endpoint.event_types = types;
        }
        if let Some(metadata) = changes.metadata {
            if metadata.values().any(|v| !v.is_string()) {
                return Err(invalid("metadata", "values must be strings"));
            }
            endpoint.metadata = metadata;
        }
        Ok(())
    }

    pub async fn create_endpoint(&self, project_id: &str, changes: EndpointChanges) -> SvixResult<Endpoint> {
        let now = now_millis();
        let secret = match changes.secret.clone().flatten() {
            Some(s) => normalize_secret(&s)?,
            None => new_secret(),
        };
        let mut endpoint = Endpoint {
            id: new_id("ep"),
            project_id: project_id.to_string(),
            uid: None,
            url: String::new(),
            description: String::new(),
            disabled: false,
            event_types: None,
            metadata: Map::new(),
            secret,
            previous_secret: None,
            created_at: now,
            updated_at: now,
        };
        if changes.url.is_none() {
            return Err(invalid("url", "is required"));
        }
        Self::apply(&mut endpoint, changes)?;
        let e = endpoint.clone();
        self.db()
            .write(move |tx| {
                if store::endpoints(tx, &e.project_id)?.len() >= MAX_ENDPOINTS {
                    return Ok(Err(SvixError::Conflict("This application has the most endpoints it may have.")));
                }
                if let Some(uid) = &e.uid {
                    if store::uid_taken(tx, &e.project_id, uid, &e.id)? {
                        return Ok(Err(SvixError::Conflict("An endpoint with this uid already exists.")));
                    }
                }
                store::save_endpoint(tx, &e)?;
                Ok(Ok(()))
            })
            .await??;
        Ok(endpoint)
    }

    /// PUT (`replace`: omitted optional fields return to their defaults) or PATCH.
    pub async fn update_endpoint(
        &self,
        project_id: &str,
        id_or_uid: &str,
        changes: EndpointChanges,
        replace: bool,
    ) -> SvixResult<Endpoint> {
        let mut endpoint = self.endpoint(project_id, id_or_uid).await?;
        if replace {
            if changes.url.is_none() {
                return Err(invalid("url", "is required"));
            }
            endpoint.description.clear();
            endpoint.uid = None;
            endpoint.disabled = false;
            endpoint.event_types = None;
            endpoint.metadata.clear();
        }
        Self::apply(&mut endpoint, changes)?;
        endpoint.updated_at = now_millis();
        let e = endpoint.clone();
        self.db()
            .write(move |tx| {
                if let Some(uid) = &e.uid {
                    if store::uid_taken(tx, &e.project_id, uid, &e.id)? {
                        return Ok(Err(SvixError::Conflict("An endpoint with this uid already exists.")));
                    }
                }
                store::save_endpoint(tx, &e)?;
                Ok(Ok(()))
            })
            .await??;
        Ok(endpoint)
    }

    pub async fn delete_endpoint(&self, project_id: &str, id_or_uid: &str) -> SvixResult<()> {
        let endpoint = self.endpoint(project_id, id_or_uid).await?;
        let project_id = project_id.to_string();
        self.db().write(move |tx| store::delete_endpoint(tx, &project_id, &endpoint.id)).await?;
        Ok(())
    }

    /// Replaces the signing secret; the old one keeps signing (beside the new) for the grace period.
    pub async fn rotate_secret(
        &self,
        project_id: &str,
        id_or_uid: &str,
        key: Option<String>,
        grace_secs: Option<i64>,
    ) -> SvixResult<()> {
        let mut endpoint = self.endpoint(project_id, id_or_uid).await?;
        let grace = grace_secs.unwrap_or(DEFAULT_GRACE_SECS);
        if !(0..=MAX_GRACE_SECS).contains(&grace) {
            return Err(invalid("gracePeriodSeconds", "must be between 0 and 604800"));
        }
        let new = match key {
            Some(k) => normalize_secret(&k)?,
            None => new_secret(),
        };
        let now = now_millis();
        endpoint.previous_secret = Some((std::mem::replace(&mut endpoint.secret, new), now + grace * 1000));
        endpoint.updated_at = now;
        self.db().write(move |tx| store::save_endpoint(tx, &endpoint)).await?;
        Ok(())
    }

    pub async fn messages(&self, project_id: &str, before: Option<String>, limit: u32) -> SvixResult<Vec<Message>> {
        let project_id = project_id.to_string();
        Ok(self.db().read(move |c| store::messages(c, &project_id, before.as_deref(), limit)).await?)
    }

    pub async fn message(&self, project_id: &str, id: &str) -> SvixResult<Message> {
        let (project_id, id) = (project_id.to_string(), id.to_string());
        self.db()
            .read(move |c| store::message_by_id(c, &project_id, &id))
            .await?
            .ok_or(SvixError::NotFound("Message not found"))
    }

    pub async fn attempts(
        &self,
        project_id: &str,
        message_id: Option<String>,
        endpoint_id: Option<String>,
        limit: u32,
    ) -> SvixResult<Vec<crate::webhooks::Attempt>> {
        let project_id = project_id.to_string();
        Ok(self
            .db()
            .read(move |c| store::attempts(c, &project_id, message_id.as_deref(), endpoint_id.as_deref(), limit))
            .await?)
    }

    /// Sends a message to an endpoint again now (a manual attempt, in the background).
    pub async fn resend(&self, project_id: &str, message_id: &str, endpoint: &str) -> SvixResult<()> {
        let message = self.message(project_id, message_id).await?;
        let endpoint = self.endpoint(project_id, endpoint).await?;
        let dispatcher = self.dispatcher.clone();
        tokio::spawn(async move {
            if let Err(e) = dispatcher.attempt_now(message, endpoint, TRIGGER_MANUAL).await {
                tracing::error!(error = %e, "webhook resend failed to record its outcome");
            }
        });
        Ok(())
    }

    /// `POST /internal/send-test-webhook`: a `stack.test` message to one endpoint, attempted at
    /// once. `Ok(None)` when it was delivered, `Ok(Some(reason))` when not (it stays on the retry
    /// schedule like any message).
    pub async fn send_test(&self, project_id: &str, endpoint_id: &str) -> ApiResult<Option<&'static str>> {
        let (pid, eid) = (project_id.to_string(), endpoint_id.to_string());
        let Some(endpoint) = self.db().read(move |c| store::endpoint_by_id_or_uid(c, &pid, &eid)).await? else {
            return Ok(Some("Endpoint not found. Make sure it still exists."));
        };
        let data = json!({
            "message": "Stack webhook test event triggered from the Stack dashboard.",
            "endpointUrl": endpoint.url,
        });
        let message = Message {
            id: new_id("msg"),
            project_id: project_id.to_string(),
            event_id: None,
            event_type: TEST_EVENT_TYPE.into(),
            body: crate::webhooks::event_body(TEST_EVENT_TYPE, &data),
            created_at: now_millis(),
        };
        let (m, e) = (message.clone(), endpoint.clone());
        self.db()
            .write(move |tx| {
                store::insert_message(tx, &m)?;
                // Due after a lease: the attempt below is its first, and its outcome reschedules
                // it; only a crash in between leaves it to the dispatcher.
                store::schedule_delivery(tx, &m.id, &e.id, &m.project_id, now_millis() + LEASE_MILLIS)
            })
            .await?;
        let delivered = self.dispatcher.attempt_now(message, endpoint, crate::webhooks::TRIGGER_SCHEDULED).await?;
        Ok((!delivered).then_some("Webhook not delivered. Make sure the endpoint is configured correctly."))
    }
}

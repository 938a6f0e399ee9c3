//! The webhook dispatcher: fans new events of the log out into messages and deliveries, posts due
//! deliveries, and records every attempt.
//!
//! Fan-out writes the messages, their deliveries and the new read position in one transaction, so
//! an event becomes deliveries exactly once, whatever stops the process. A delivery is claimed
//! (`sending`, with a lease as its next attempt time) before its request goes out and its outcome
//! recorded right after; a process killed in between leaves it `sending`, and the next start sends
//! it again with the same `svix-id`, which is what receivers deduplicate on. Failed attempts follow
//! the retry schedule ([`crate::config::WebhookConfig`]); its times are stored, so restarts keep them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::Invalidate;
use crate::db::{now_millis, Db};
use crate::error::ApiResult;
use crate::events;
use crate::infra::Infra;
use crate::jobs::Jobs;
use crate::webhooks::store::{self, DueDelivery};
use crate::webhooks::{
    event_body, message_id_for_event, new_id, signature_header, status, Attempt, Endpoint, Message, TRIGGER_MANUAL,
    TRIGGER_SCHEDULED,
};

/// Events turned into deliveries per transaction.
const FAN_OUT_BATCH: u32 = 500;
/// Deliveries claimed (and sent concurrently) per round.
const SEND_BATCH: usize = 64;
/// How long a claimed delivery waits before another attempt may take it (only after a crash; an
/// attempt's own request timeout is far shorter).
pub const LEASE_MILLIS: i64 = 2 * 60 * 1000;
/// Bytes of a receiver's response body kept with the attempt.
const RESPONSE_EXCERPT: usize = 1024;
/// Finished messages are kept this long for the portal's history.
const KEEP_MILLIS: i64 = 30 * 24 * 3600 * 1000;

/// What one HTTP attempt gave.
struct Outcome {
    ok: bool,
    status_code: i64,
    response: String,
    duration_ms: i64,
}

/// Raised after every commit that appended events, so the dispatcher starts a round at once
/// instead of at its next poll.
#[derive(Default)]
struct NewEvents(tokio::sync::Notify);

impl Invalidate for NewEvents {
    fn invalidate(&self, _key: &[u8]) {
        self.0.notify_one();
    }
    fn clear(&self) {
        self.0.notify_one();
    }
}

pub struct Dispatcher {
    infra: Arc<Infra>,
    client: reqwest::Client,
    recovered: AtomicBool,
    new_events: Arc<NewEvents>,
}

impl Dispatcher {
    pub fn new(infra: Arc<Infra>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(infra.config.webhooks.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            // A receiver answers for itself: redirects are not followed (Svix does not either).
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("stackd-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the webhook HTTP client builds");
        let new_events = Arc::new(NewEvents::default());
        infra.db.register_cache(events::store::TABLE, new_events.clone());
        Dispatcher { infra, client, recovered: AtomicBool::new(false), new_events }
    }

    fn db(&self) -> &Db {
        &self.infra.db
    }

    /// Turns events after the read position into messages and deliveries. Returns how many events
    /// were read.
    pub fn fan_out(db: &Db) -> ApiResult<usize> {
        let cursor = db.read_now(store::cursor)?;
        if db.read_now(events::store::last_seq)? <= cursor {
            return Ok(0);
        }
        db.write_now(|tx| {
            let cursor = store::cursor(tx)?;
            let batch = events::store::read_all_after(tx, cursor, FAN_OUT_BATCH)?;
            let Some(last) = batch.last().map(|e| e.seq) else { return Ok(0) };
            let now = now_millis();
            let mut endpoints: std::collections::HashMap<String, Vec<Endpoint>> = Default::default();
            for event in &batch {
                if !endpoints.contains_key(&event.project_id) {
                    endpoints.insert(event.project_id.clone(), store::endpoints(tx, &event.project_id)?);
                }
                let targets: Vec<&Endpoint> =
                    endpoints[&event.project_id].iter().filter(|e| e.wants(&event.kind)).collect();
                if targets.is_empty() {
                    continue;
                }
                let message = Message {
                    id: message_id_for_event(&event.id),
                    project_id: event.project_id.clone(),
                    event_id: Some(event.id.clone()),
                    event_type: event.kind.clone(),
                    body: event_body(&event.kind, &event.data),
                    created_at: now,
                };
                store::insert_message(tx, &message)?;
                for endpoint in targets {
                    store::schedule_delivery(tx, &message.id, &endpoint.id, &message.project_id, now)?;
                }
            }
            store::set_cursor(tx, last)?;
            Ok(batch.len())
        })
    }

    /// At the first round: deliveries a stopped process left sending are due again now.
    fn recover(&self) -> ApiResult<()> {
        if self.recovered.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        if self.db().read_now(store::interrupted)? > 0 {
            let n = self.db().write_now(|tx| store::resume_interrupted(tx, now_millis()))?;
            tracing::warn!(deliveries = n, "webhooks interrupted while sending will be sent again (same svix-id)");
        }
        Ok(())
    }

    /// One round: fan out new events, then send every due delivery, a batch at a time. Returns
    /// how many deliveries were attempted.
    pub async fn run_round(self: &Arc<Self>) -> usize {
        let this = self.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            this.recover()?;
            while Self::fan_out(this.db())? == FAN_OUT_BATCH as usize {}
            Ok::<_, crate::error::ApiError>(())
        })
        .await;
        match prepared {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "webhook fan-out failed"),
            Err(e) => tracing::error!(error = %e, "webhook fan-out failed"),
        }
        let mut sent = 0;
        loop {
            if self.infra.jobs.is_stopping() {
                return sent;
            }
            let this = self.clone();
            let claimed = match tokio::task::spawn_blocking(move || this.claim()).await {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot read due webhook deliveries");
                    return sent;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read due webhook deliveries");
                    return sent;
                }
            };
            let n = claimed.len();
            if n == 0 {
                return sent;
            }
            let mut tasks = tokio::task::JoinSet::new();
            for due in claimed {
                let this = self.clone();
                tasks.spawn(async move {
                    let outcome = this.send(&due.message, &due.endpoint).await;
                    (due, outcome)
                });
            }
            let mut results = Vec::with_capacity(n);
            while let Some(r) = tasks.join_next().await {
                match r {
                    Ok(r) => results.push(r),
                    Err(e) => tracing::error!(error = %e, "a webhook attempt panicked; its lease brings it back"),
                }
            }
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.record(results, TRIGGER_SCHEDULED)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "cannot record webhook attempts; their leases bring them back")
                }
                Err(e) => tracing::error!(error = %e, "cannot record webhook attempts; their leases bring them back"),
            }
            sent += n;
            if n < SEND_BATCH {
                return sent;
            }
        }
    }

    /// Claims up to a batch of due deliveries in one transaction.
    fn claim(&self) -> ApiResult<Vec<DueDelivery>> {
        let now = now_millis();
        self.db().write_now(|tx| {
            let due = store::due_deliveries(tx, now, SEND_BATCH)?;
            let mut claimed = Vec::with_capacity(due.len());
            for (message_id, endpoint_id, attempts) in due {
                store::mark_sending(tx, &message_id, &endpoint_id, now + LEASE_MILLIS)?;
                match store::load_due(tx, &message_id, &endpoint_id, attempts)? {
                    // A disabled endpoint gets nothing more; the delivery ends without an attempt.
                    Some(d) if d.endpoint.disabled => {
                        store::finish_delivery(tx, &message_id, &endpoint_id, status::FAIL)?
                    }
                    Some(d) => claimed.push(d),
                    None => {}
                }
            }
            Ok(claimed)
        })
    }

    /// Records the outcomes of a batch in one transaction.
    fn record(&self, results: Vec<(DueDelivery, Outcome)>, trigger: i64) -> ApiResult<()> {
        let now = now_millis();
        self.db().write_now(|tx| {
            for (due, outcome) in &results {
                let (delivery_status, next) =
                    next_state(&self.infra.config.webhooks.retry_delays, due.attempts, outcome.ok, now);
                let attempt = attempt_row(&due.message, &due.endpoint, outcome, trigger, now);
                store::record_attempt(tx, &attempt, delivery_status, next)?;
            }
            Ok(())
        })
    }

    /// Posts a message to an endpoint, signed (spec 20 §6.3).
    async fn send(&self, message: &Message, endpoint: &Endpoint) -> Outcome {
        let started = Instant::now();
        let now = now_millis();
        let timestamp = now / 1000;
        let signature = signature_header(endpoint, &message.id, timestamp, &message.body, now);
        let timestamp = timestamp.to_string();
        let request = self
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("svix-id", &message.id)
            .header("svix-timestamp", &timestamp)
            .header("svix-signature", &signature)
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", &timestamp)
            .header("webhook-signature", &signature)
            .body(message.body.clone());
        let result = request.send().await;
        let (ok, status_code, response) = match result {
            Ok(mut resp) => {
                let code = resp.status();
                let mut excerpt = Vec::new();
                while excerpt.len() < RESPONSE_EXCERPT {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => {
                            excerpt.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_EXCERPT - excerpt.len())])
                        }
                        _ => break,
                    }
                }
                (code.is_success(), code.as_u16() as i64, String::from_utf8_lossy(&excerpt).into_owned())
            }
            Err(e) => (false, 0, format!("request failed: {}", error_chain(&e))),
        };
        Outcome { ok, status_code, response, duration_ms: started.elapsed().as_millis() as i64 }
    }

    /// One attempt now, outside the schedule (a test send or a manual resend); recorded with the
    /// delivery's state updated. Returns whether the receiver accepted it.
    pub async fn attempt_now(&self, message: Message, endpoint: Endpoint, trigger: i64) -> ApiResult<bool> {
        let outcome = self.send(&message, &endpoint).await;
        let ok = outcome.ok;
        let delays = self.infra.config.webhooks.retry_delays.clone();
        let attempt = attempt_row(&message, &endpoint, &outcome, trigger, now_millis());
        self.db()
            .write(move |tx| {
                let (m, e) = (&attempt.message_id, &attempt.endpoint_id);
                store::schedule_delivery_if_missing(tx, m, e, &message.project_id)?;
                // A manual attempt that failed leaves the delivery as it was (finished or scheduled).
                if trigger == TRIGGER_MANUAL && !ok {
                    return store::insert_attempt(tx, &attempt);
                }
                let attempts = store::delivery_state(tx, m, e)?.map_or(0, |(_, n)| n);
                let (delivery_status, next) = next_state(&delays, attempts, ok, attempt.created_at);
                store::record_attempt(tx, &attempt, delivery_status, next)
            })
            .await?;
        Ok(ok)
    }
}

/// `(status, next attempt time)` after attempt number `attempts_before + 1` ended `ok` or not.
fn next_state(delays: &[Duration], attempts_before: i64, ok: bool, now: i64) -> (i64, Option<i64>) {
    if ok {
        return (status::SUCCESS, None);
    }
    match delays.get(attempts_before.max(0) as usize) {
        Some(delay) => (status::PENDING, Some(now + delay.as_millis() as i64)),
        None => (status::FAIL, None),
    }
}

fn attempt_row(message: &Message, endpoint: &Endpoint, outcome: &Outcome, trigger: i64, now: i64) -> Attempt {
    Attempt {
        id: new_id("atmpt"),
        message_id: message.id.clone(),
        endpoint_id: endpoint.id.clone(),
        url: endpoint.url.clone(),
        status: if outcome.ok { status::SUCCESS } else { status::FAIL },
        response_status_code: outcome.status_code,
        response: outcome.response.clone(),
        response_duration_ms: outcome.duration_ms,
        trigger_type: trigger,
        created_at: now,
    }
}

/// An error with its causes ("connection refused" is usually two levels down).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Registers the dispatcher and the pruning of old finished messages.
pub fn register_jobs(jobs: &Jobs, dispatcher: Arc<Dispatcher>) {
    let poll = dispatcher.infra.config.webhooks.poll_interval;
    let d = dispatcher.clone();
    // No last round at shutdown: deliveries are durable and the next start sends them.
    // One tick that runs until shutdown: each round ends by waiting for the next commit that appends
    // events, or the poll interval (retries coming due), whichever is first; shutdown is seen within
    // one poll interval.
    jobs.every_until_stop("webhook-delivery", poll, move || {
        let d = d.clone();
        async move {
            while !d.infra.jobs.is_stopping() {
                d.run_round().await;
                let _ = tokio::time::timeout(poll, d.new_events.0.notified()).await;
            }
        }
    });
    let db = dispatcher.infra.db.clone();
    jobs.every_until_stop("webhook-pruning", Duration::from_secs(3600), move || {
        let db = db.clone();
        async move {
            match tokio::task::spawn_blocking(move || {
                db.write_now(|tx| store::delete_finished_before(tx, now_millis() - KEEP_MILLIS))
            })
            .await
            {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::info!(messages = n, "deleted finished webhook messages older than 30 days"),
                Ok(Err(e)) => tracing::error!(error = %e, "webhook pruning failed"),
                Err(e) => tracing::error!(error = %e, "webhook pruning failed"),
            }
        }
    });
}

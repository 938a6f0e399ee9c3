//! Webhooks (spec 20 §6): the portal token, the Svix-compatible endpoint API, delivery of every
//! event to real HTTP receivers with Svix signatures, retries, test sends, rotation, and SIGKILL.

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, start_binary, TestApp};
use crate::webhook_receiver::{Received, Receiver};

/// The Svix-compatible API as the `svix` client library calls it.
pub struct Svix {
    http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub app: String,
}

impl Svix {
    pub async fn for_app(app: &TestApp) -> Svix {
        let r = app.post("/api/v1/webhooks/svix-token").admin().json(json!({})).send().await;
        r.assert_status(201);
        let body = r.json();
        Svix {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            url: body["url"].as_str().unwrap().to_string(),
            token: body["token"].as_str().unwrap().to_string(),
            app: "internal".into(),
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}/api/v1/app/{}{path}", self.url, self.app);
        let mut req = self.http.request(method.parse().unwrap(), url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    /// Creates an endpoint; returns `(id, secret)`.
    pub async fn endpoint(&self, body: Value) -> (String, String) {
        let (status, e) = self.call("POST", "/endpoint", Some(body)).await;
        assert_eq!(status, 201, "{e}");
        let id = e["id"].as_str().unwrap().to_string();
        let (_, s) = self.call("GET", &format!("/endpoint/{id}/secret"), None).await;
        (id, s["key"].as_str().unwrap().to_string())
    }
}

fn assert_svix_shaped(r: &Received, secret: &str) {
    assert!(r.header("svix-id").starts_with("msg_"), "{r:?}");
    assert_eq!(r.header("webhook-id"), r.header("svix-id"));
    assert_eq!(r.header("webhook-timestamp"), r.header("svix-timestamp"));
    assert_eq!(r.header("webhook-signature"), r.header("svix-signature"));
    assert_eq!(r.header("content-type"), "application/json");
    let ts: i64 = r.header("svix-timestamp").parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - ts).abs() < 300, "timestamp {ts} is within Svix's tolerance of {now}");
    assert!(r.signed_by(secret), "signature of {r:?}");
    let body = r.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["type", "data"], "exactly {{type, data}}, in upstream's order");
}

#[tokio::test]
async fn the_portal_token_reaches_only_its_own_application() {
    let app = spawn_app().await;
    app.post("/api/v1/webhooks/svix-token")
        .server()
        .json(json!({}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.post("/api/v1/webhooks/svix-token")
        .client()
        .json(json!({}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let mut svix = Svix::for_app(&app).await;
    assert!(svix.url.ends_with("/svix") && svix.url.starts_with(&app.base), "{}", svix.url);
    let (status, list) = svix.call("GET", "/endpoint", None).await;
    assert_eq!((status, list), (200, json!({"data": [], "iterator": null, "prevIterator": null, "done": true})));

    // Another project's application: refused.
    svix.app = app.other.project_id.clone();
    let (status, e) = svix.call("GET", "/endpoint", None).await;
    assert_eq!((status, e["code"].as_str()), (403, Some("forbidden")));
    svix.app = "internal".into();

    // A forged or missing token.
    let genuine = svix.token.clone();
    let flipped = if genuine.ends_with('0') { '1' } else { '0' };
    svix.token = format!("{}{flipped}", &genuine[..genuine.len() - 1]);
    assert_eq!(svix.call("GET", "/endpoint", None).await.0, 401);
    let other_project_hex: String = app.other.project_id.bytes().map(|b| format!("{b:02x}")).collect();
    svix.token = genuine.replace("696e7465726e616c", &other_project_hex);
    assert_eq!(svix.call("GET", "/endpoint", None).await.0, 401);
    svix.token = String::new();
    let (status, e) = svix.call("GET", "/endpoint", None).await;
    assert_eq!((status, e["code"].as_str()), (401, Some("authentication_failed")));
}

#[tokio::test]
async fn endpoint_management_matches_the_svix_api() {
    let app = spawn_app().await;
    let svix = Svix::for_app(&app).await;
    let (status, e) = svix.call("POST", "/endpoint", Some(json!({"description": "no url"}))).await;
    assert_eq!((status, e["detail"][0]["loc"].clone()), (422, json!(["body", "url"])));
    let (status, _) = svix.call("POST", "/endpoint", Some(json!({"url": "ftp://x"}))).await;
    assert_eq!(status, 422);
    let (status, _) =
        svix.call("POST", "/endpoint", Some(json!({"url": "https://a.example", "secret": "whsec_tooshort"}))).await;
    assert_eq!(status, 422);

    let (status, e) = svix
        .call(
            "POST",
            "/endpoint",
            Some(json!({"url": "https://a.example/hook", "uid": "billing", "description": "Billing", "eventTypes": ["user.created"],
                        "metadata": {"team": "core"}, "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})),
        )
        .await;
    assert_eq!(status, 201, "{e}");
    let id = e["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ep_"));
    assert_eq!(e["eventTypes"], json!(["user.created"]));
    assert_eq!(e["metadata"], json!({"team": "core"}));
    assert!(e["createdAt"].as_str().unwrap().ends_with('Z'));
    let (status, _) = svix.call("POST", "/endpoint", Some(json!({"url": "https://b.example", "uid": "billing"}))).await;
    assert_eq!(status, 409, "uids are unique in an application");

    // Read by id or uid; the secret as given; patch keeps what it does not name; put resets it.
    assert_eq!(svix.call("GET", "/endpoint/billing", None).await.1["id"], id.as_str());
    assert_eq!(
        svix.call("GET", &format!("/endpoint/{id}/secret"), None).await.1["key"],
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    );
    let (_, e) = svix.call("PATCH", &format!("/endpoint/{id}"), Some(json!({"disabled": true}))).await;
    assert_eq!((e["disabled"].clone(), e["description"].clone()), (json!(true), json!("Billing")));
    let (_, e) = svix.call("PUT", &format!("/endpoint/{id}"), Some(json!({"url": "https://c.example/hook"}))).await;
    assert_eq!(
        (e["url"].clone(), e["description"].clone(), e["eventTypes"].clone()),
        (json!("https://c.example/hook"), json!(""), Value::Null)
    );

    // Rotation makes a new whsec_ secret.
    assert_eq!(svix.call("POST", &format!("/endpoint/{id}/secret/rotate"), Some(json!({}))).await.0, 204);
    let key = svix.call("GET", &format!("/endpoint/{id}/secret"), None).await.1["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("whsec_") && key != "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");

    let (_, list) = svix.call("GET", "/endpoint", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(svix.call("DELETE", &format!("/endpoint/{id}"), None).await.0, 204);
    let (status, e) = svix.call("GET", &format!("/endpoint/{id}"), None).await;
    assert_eq!((status, e["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn every_event_reaches_matching_endpoints_signed_as_svix_signs() {
    let app = spawn_app().await;
    let svix = Svix::for_app(&app).await;
    let all = Receiver::start();
    let teams_only = Receiver::start();
    let disabled = Receiver::start();
    let (_, all_secret) = svix.endpoint(json!({"url": all.url})).await;
    let (teams_id, teams_secret) = svix.endpoint(json!({"url": teams_only.url, "eventTypes": ["team.created"]})).await;
    let (disabled_id, _) = svix.endpoint(json!({"url": disabled.url, "disabled": true})).await;

    let user = app.create_user(json!({"primary_email": "ada@example.com", "display_name": "Ada"})).await;
    let other = app.create_user(json!({"primary_email": "bob@example.com"})).await;
    let team = app
        .post("/api/v1/teams")
        .server()
        .json(json!({"display_name": "Core", "creator_user_id": user}))
        .send()
        .await
        .json();
    let team_id = team["id"].as_str().unwrap();
    app.post(&format!("/api/v1/team-memberships/{team_id}/{other}"))
        .server()
        .json(json!({}))
        .send()
        .await
        .assert_status(201);
    app.patch(&format!("/api/v1/users/{user}"))
        .server()
        .json(json!({"display_name": "Ada L."}))
        .send()
        .await
        .assert_status(200);
    app.delete(&format!("/api/v1/team-memberships/{team_id}/{other}")).server().send().await.assert_status(200);

    for kind in [
        "user.created",
        "team.created",
        "team_membership.created",
        "team_permission.created",
        "user.updated",
        "team_membership.deleted",
    ] {
        let got = all.wait_for_events(kind, 1).await;
        for r in &got {
            assert_svix_shaped(r, &all_secret);
        }
    }
    let created = all.wait_for_events("user.created", 2).await;
    let ada = created.iter().find(|r| r.json()["data"]["id"] == user.as_str()).unwrap().json();
    assert_eq!(ada["data"]["primary_email"], "ada@example.com", "the server user object");
    let membership = all.wait_for_events("team_membership.created", 1).await[0].json();
    assert_eq!(membership["data"], json!({"team_id": team_id, "user_id": other}));
    let updated = all.wait_for_events("user.updated", 1).await[0].json();
    assert_eq!(updated["data"]["display_name"], "Ada L.", "the user after the change");

    // Each event is one message: one svix-id per event, the same id for every endpoint.
    let ids: Vec<String> = all.received().iter().map(|r| r.header("svix-id").to_string()).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no duplicate svix-id: {ids:?}");
    let team_created = teams_only.wait_for_events("team.created", 1).await;
    assert_svix_shaped(&team_created[0], &teams_secret);
    let same = all.wait_for_events("team.created", 1).await;
    assert_eq!(team_created[0].header("svix-id"), same[0].header("svix-id"));
    assert!(!team_created[0].signed_by(&all_secret), "each endpoint signs with its own secret");

    // The filter and the disabled flag decided at fan-out: only team.created for one, nothing for the other.
    let deliveries = |endpoint: &str| {
        app.db_scalar_with("SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = ?1", &[endpoint])
    };
    assert_eq!(deliveries(&teams_id), 1);
    assert_eq!(deliveries(&disabled_id), 0);
    assert!(teams_only.received().iter().all(|r| r.json()["type"] == "team.created"));
    assert!(disabled.received().is_empty());

    // The message list and the attempts are readable through the Svix API.
    let (_, messages) = svix.call("GET", "/msg", None).await;
    let types: HashSet<&str> =
        messages["data"].as_array().unwrap().iter().map(|m| m["eventType"].as_str().unwrap()).collect();
    assert!(types.contains("user.created") && types.contains("team_membership.deleted"), "{types:?}");
    let msg_id = same[0].header("svix-id");
    let (_, m) = svix.call("GET", &format!("/msg/{msg_id}"), None).await;
    assert_eq!(m["payload"], same[0].json());
    let (_, attempts) = svix.call("GET", &format!("/attempt/msg/{msg_id}"), None).await;
    let attempts = attempts["data"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "one per endpoint");
    assert!(attempts
        .iter()
        .all(|a| a["status"] == 0 && a["statusText"] == "success" && a["responseStatusCode"] == 200));
    assert!(attempts.iter().all(|a| a["response"] == "status 200"), "{attempts:?}");
}

#[tokio::test]
async fn a_receiver_that_fails_for_a_while_gets_the_event_after_it_recovers() {
    let app = spawn_app().await;
    let svix = Svix::for_app(&app).await;
    let receiver = Receiver::start();
    receiver.answer(500);
    let (endpoint, _) = svix.endpoint(json!({"url": receiver.url})).await;
    app.create_user(json!({"primary_email": "ada@example.com"})).await;
    receiver.wait_for("two failed attempts", |r| r.len() >= 2).await;
    receiver.answer(204);
    let got = receiver.wait_for("the successful attempt", |r| r.len() >= 3).await;
    let id = got[0].header("svix-id").to_string();
    assert!(got.iter().all(|r| r.header("svix-id") == id), "retries carry the same svix-id");
    // Each attempt is signed anew with its own timestamp; all are recorded, newest first.
    let (_, attempts) = svix.call("GET", &format!("/attempt/endpoint/{endpoint}"), None).await;
    let codes: Vec<i64> =
        attempts["data"].as_array().unwrap().iter().map(|a| a["responseStatusCode"].as_i64().unwrap()).collect();
    assert_eq!(codes[0], 204);
    assert!(codes[1..].iter().all(|c| *c == 500) && codes.len() == got.len(), "{codes:?}");
    assert_eq!(app.db_scalar("SELECT status FROM webhook_deliveries"), 0, "delivered");
}

#[tokio::test]
async fn retries_stop_after_the_schedule_and_a_resend_tries_again() {
    let app = spawn_app().await;
    let svix = Svix::for_app(&app).await;
    let receiver = Receiver::start();
    receiver.answer(503);
    let (endpoint, _) = svix.endpoint(json!({"url": receiver.url})).await;
    app.create_user(json!({"primary_email": "ada@example.com"})).await;
    // The test schedule has three delays: four attempts, then the delivery fails for good.
    receiver.wait_for("four attempts", |r| r.len() >= 4).await;
    let finished = || {
        app.db_scalar(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 2 AND next_attempt_at IS NULL AND attempts = 4",
        )
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while finished() == 0 {
        assert!(std::time::Instant::now() < deadline, "the delivery did not end as failed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM webhook_attempts"), 4);

    // A manual resend, recorded with trigger type 1.
    receiver.answer(200);
    let msg = receiver.received()[0].header("svix-id").to_string();
    let (status, _) = svix.call("POST", &format!("/msg/{msg}/endpoint/{endpoint}/resend"), None).await;
    assert_eq!(status, 202);
    receiver.wait_for("the resend", |r| r.len() >= 5).await;
    let (_, attempts) = svix.call("GET", &format!("/attempt/msg/{msg}"), None).await;
    let newest = &attempts["data"][0];
    // The attempt is recorded right after the receiver answers; poll for it.
    let mut newest = newest.clone();
    for _ in 0..200 {
        if newest["triggerType"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        newest = svix.call("GET", &format!("/attempt/msg/{msg}"), None).await.1["data"][0].clone();
    }
    assert_eq!((newest["triggerType"].clone(), newest["status"].clone()), (json!(1), json!(0)));
    let (status, _) = svix.call("POST", &format!("/msg/msg_nope/endpoint/{endpoint}/resend"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn send_test_webhook_reports_delivery() {
    let app = spawn_app().await;
    let svix = Svix::for_app(&app).await;
    let receiver = Receiver::start();
    let (endpoint, secret) = svix.endpoint(json!({"url": receiver.url})).await;
    let send =
        |id: &str| app.post("/api/v1/internal/send-test-webhook").admin().json(json!({"endpoint_id": id})).send();

    let r = send(&endpoint).await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"success": true}));
    let got = receiver.wait_for_events("stack.test", 1).await;
    assert_svix_shaped(&got[0], &secret);
    assert_eq!(
        got[0].json()["data"],
        json!({"message": "Stack webhook test event triggered from the Stack dashboard.", "endpointUrl": receiver.url})
    );

    receiver.answer(500);
    let r = send(&endpoint).await.json();
    assert_eq!(
        r,
        json!({"success": false, "error_message": "Webhook not delivered. Make sure the endpoint is configured correctly."})
    );
    let r = send("ep_missing").await.json();
    assert_eq!(r, json!({"success": false, "error_message": "Endpoint not found. Make sure it still exists."}));
    app.post("/api/v1/internal/send-test-webhook")
        .server()
        .json(json!({"endpoint_id": endpoint}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn a_rotated_secret_keeps_signing_during_its_grace_period() {
    let app = spawn_app().await;
    let svix = Svix::for_app(&app).await;
    let receiver = Receiver::start();
    let (endpoint, old) = svix.endpoint(json!({"url": receiver.url})).await;
    svix.call("POST", &format!("/endpoint/{endpoint}/secret/rotate"), Some(json!({"gracePeriodSeconds": 3600}))).await;
    let new =
        svix.call("GET", &format!("/endpoint/{endpoint}/secret"), None).await.1["key"].as_str().unwrap().to_string();
    app.create_user(json!({"primary_email": "ada@example.com"})).await;
    let got = receiver.wait_for_events("user.created", 1).await;
    assert!(got[0].signed_by(&old) && got[0].signed_by(&new), "{:?}", got[0].header("svix-signature"));
    assert_eq!(got[0].header("svix-signature").split(' ').count(), 2);

    svix.call("POST", &format!("/endpoint/{endpoint}/secret/rotate"), Some(json!({"gracePeriodSeconds": 0}))).await;
    let newest =
        svix.call("GET", &format!("/endpoint/{endpoint}/secret"), None).await.1["key"].as_str().unwrap().to_string();
    app.create_user(json!({"primary_email": "bob@example.com"})).await;
    let got = receiver.wait_for_events("user.created", 2).await;
    let bob = got.iter().find(|r| r.json()["data"]["primary_email"] == "bob@example.com").unwrap();
    assert!(bob.signed_by(&newest) && !bob.signed_by(&new));
}

/// A server killed while deliveries are in flight sends every event after it restarts.
#[tokio::test]
async fn a_sigkill_mid_delivery_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stackd.db");
    let flags = ["--webhook-retry-schedule", "200ms,200ms,200ms,200ms,200ms"];
    let (mut child, base) = start_binary(&db, &flags, "warn", false);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let admin = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}/api/v1{path}"))
            .header("x-stack-access-type", "admin")
            .header("x-stack-project-id", "internal")
            .header("x-stack-super-secret-admin-key", stackd::projects::DEV_SUPER_SECRET_ADMIN_KEY)
    };
    let token = admin(reqwest::Method::POST, "/webhooks/svix-token").json(&json!({})).send().await.unwrap();
    let token: Value = token.json().await.unwrap();
    let receiver = Receiver::start();
    // Each answer takes 400 ms (recorded when sent), so deliveries are in flight at the kill.
    receiver.delay(std::time::Duration::from_millis(400));
    let r = http
        .post(format!("{}/api/v1/app/internal/endpoint", token["url"].as_str().unwrap()))
        .bearer_auth(token["token"].as_str().unwrap())
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    const USERS: usize = 40;
    for i in 0..USERS {
        let r = admin(reqwest::Method::POST, "/users")
            .json(&json!({"primary_email": format!("u{i}@example.com")}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    receiver.wait_for("the first deliveries", |r| !r.is_empty()).await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(receiver.received().len() < USERS, "killed before every delivery was acknowledged");

    let (mut child, _) = start_binary(&db, &flags, "warn", false);
    let got = receiver
        .wait_for("every event after the restart", |r| {
            r.iter()
                .filter(|x| x.json()["type"] == "user.created")
                .map(|x| x.header("svix-id").to_string())
                .collect::<HashSet<_>>()
                .len()
                == USERS
        })
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let emails: HashSet<String> =
        got.iter().map(|r| r.json()["data"]["primary_email"].as_str().unwrap().to_string()).collect();
    assert_eq!(emails.len(), USERS);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

//! Sign-in from a command-line tool: `POST /auth/cli`, `/auth/cli/poll`, `/auth/cli/complete`.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

async fn start(app: &TestApp, body: Value) -> (String, String) {
    let r = app.post("/api/v1/auth/cli").client().json(body).send().await;
    let b = r.assert_status(200).json().clone();
    assert!(b["expires_at"].as_str().unwrap().ends_with('Z'));
    (b["polling_code"].as_str().unwrap().to_string(), b["login_code"].as_str().unwrap().to_string())
}

async fn poll(app: &TestApp, code: &str) -> crate::helpers::Resp {
    app.post("/api/v1/auth/cli/poll").client().json(json!({"polling_code": code})).send().await
}

async fn complete(app: &TestApp, body: Value) -> crate::helpers::Resp {
    app.post("/api/v1/auth/cli/complete").client().json(body).send().await
}

async fn anonymous(app: &TestApp) -> (String, String) {
    let b = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json();
    (b["user_id"].as_str().unwrap().to_string(), b["refresh_token"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_signed_in_browser_completes_and_the_cli_gets_a_session_of_its_own() {
    let app = spawn_app().await;
    let (polling, login) = start(&app, json!({})).await;
    assert_eq!(poll(&app, &polling).await.json(), json!({"status": "waiting"}));
    let (user_id, _, browser_refresh) = app.sign_up("cli@example.com").await;

    assert_eq!(
        complete(&app, json!({"login_code": login, "mode": "check"})).await.json(),
        json!({"cli_session_state": "none"})
    );
    let r = complete(&app, json!({"login_code": login})).await;
    assert!(r.assert_plain(400).contains("refresh_token is required"));
    let r = complete(&app, json!({"login_code": login, "refresh_token": "not-a-token"})).await;
    assert_eq!(r.assert_plain(400), "Invalid refresh token");
    let r = complete(&app, json!({"login_code": login, "refresh_token": browser_refresh})).await;
    assert_eq!(r.assert_status(200).json(), json!({"success": true}));
    let r = complete(&app, json!({"login_code": login, "refresh_token": browser_refresh})).await;
    assert_eq!(r.assert_plain(400), "Invalid login code or the code has expired", "a login code completes once");

    let r = poll(&app, &polling).await.json();
    assert_eq!(r["status"], "success");
    let cli_refresh = r["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(cli_refresh, browser_refresh, "the CLI gets its own session");
    let access = app.refresh(&cli_refresh).send().await.json()["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/users/me").client().token(&access).send().await.json();
    assert_eq!(me["id"], user_id.as_str());
    assert_eq!(poll(&app, &polling).await.json(), json!({"status": "used"}), "the token is handed out once");

    // Codes are stored only as hashes.
    assert!(!app.db_files_contain(&polling) && !app.db_files_contain(&login));
    let r = poll(&app, "no-such-code").await;
    assert_eq!(r.assert_known(400, "SCHEMA_ERROR")["error"], "The polling code is invalid or does not exist.");
    // Another project's codes do not exist there.
    let r = app
        .post("/api/v1/auth/cli/poll")
        .client()
        .project(&app.other)
        .json(json!({"polling_code": polling}))
        .send()
        .await;
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn attempts_expire() {
    // Without the pruning job: its first round, late on a busy machine, would delete the expired
    // attempt this test polls.
    let app = spawn_app_with(|c| c.background_jobs = false).await;
    let (polling, login) = start(&app, json!({"expires_in_millis": 1})).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(poll(&app, &polling).await.json(), json!({"status": "expired"}));
    let (_, _, refresh) = app.sign_up("late@example.com").await;
    let r = complete(&app, json!({"login_code": login, "refresh_token": refresh})).await;
    assert_eq!(r.assert_plain(400), "Invalid login code or the code has expired");
    for bad in [json!({"expires_in_millis": 0}), json!({"expires_in_millis": 86_400_001}), json!({"surprise": true})] {
        app.post("/api/v1/auth/cli").client().json(bad).send().await.assert_known(400, "SCHEMA_ERROR");
    }
    let r = complete(&app, json!({"login_code": "nope", "mode": "teleport"})).await;
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn the_browser_may_take_over_the_clis_anonymous_session_once() {
    let app = spawn_app().await;
    let (anon_id, anon_refresh) = anonymous(&app).await;
    let (_, login) = start(&app, json!({"anon_refresh_token": anon_refresh})).await;
    assert_eq!(
        complete(&app, json!({"login_code": login, "mode": "check"})).await.json(),
        json!({"cli_session_state": "anonymous"})
    );
    let r = complete(&app, json!({"login_code": login, "mode": "claim-anon-session"})).await.json();
    let access = r["access_token"].as_str().unwrap();
    assert!(r["refresh_token"].as_str().is_some());
    let me = app.get("/api/v1/users/me").client().token(access).allow_anonymous().send().await.json();
    assert_eq!((me["id"].clone(), me["is_anonymous"].clone()), (json!(anon_id), json!(true)));
    let r = complete(&app, json!({"login_code": login, "mode": "claim-anon-session"})).await;
    assert_eq!(r.assert_plain(400), "No anonymous session associated with this code");
    assert_eq!(
        complete(&app, json!({"login_code": login, "mode": "check"})).await.json(),
        json!({"cli_session_state": "none"})
    );

    // Only an anonymous user's live refresh token can start an attempt.
    let (_, _, refresh) = app.sign_up("named@example.com").await;
    let r = app.post("/api/v1/auth/cli").client().json(json!({"anon_refresh_token": refresh})).send().await;
    assert!(r.assert_plain(400).contains("does not belong to an anonymous user"));
    let r = app.post("/api/v1/auth/cli").client().json(json!({"anon_refresh_token": "nope"})).send().await;
    assert_eq!(r.assert_plain(400), "Invalid anon refresh token");

    // An anonymous (restricted) browser cannot complete an attempt.
    let (_, login) = start(&app, json!({})).await;
    let r = complete(&app, json!({"login_code": login, "refresh_token": anon_refresh})).await;
    r.assert_known(403, "RESTRICTED_USER_NOT_ALLOWED");
}

#[tokio::test]
async fn starting_attempts_is_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.rate_limits = true).await;
    for _ in 0..20 {
        start(&app, json!({})).await;
    }
    let r = app.post("/api/v1/auth/cli").client().json(json!({})).send().await;
    r.assert_status(429);
    assert!(r.header("retry-after").is_some());
}

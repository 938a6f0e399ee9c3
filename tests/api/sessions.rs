//! Sessions: refresh (both routes), sign-out, listing and revoking, server-created sessions.

use serde_json::json;

use crate::helpers::{spawn_app, Access};

const TOKEN: &str = "/api/v1/auth/oauth/token";

#[tokio::test]
async fn refresh_route_issues_new_access_tokens_without_rotation() {
    let app = spawn_app().await;
    let (id, token, refresh) = app.sign_up("refresh@example.com").await;
    // Backdated, so "marks the user active" needs no sleep to be visible.
    app.server
        .db
        .write_now(|tx| {
            tx.execute("UPDATE users SET last_active_at = 1000 WHERE id = ?1", [&id])?;
            tx.changed("users", &id);
            Ok(())
        })
        .unwrap();
    let mut refreshed = vec![];
    for prefix in [false, true] {
        let call = app.post("/api/v1/auth/sessions/current/refresh").client();
        let call = if prefix { call.hexclave() } else { call };
        let r = call.stack_header("refresh-token", &refresh).send().await;
        r.assert_status(200);
        assert_eq!(r.json().as_object().unwrap().keys().collect::<Vec<_>>(), ["access_token"]);
        let new = r.json()["access_token"].as_str().unwrap().to_string();
        app.get("/api/v1/users/me").client().token(&new).send().await.assert_status(200);
        refreshed.push(new);
    }
    let after =
        app.get(&format!("/api/v1/users/{id}")).server().send().await.json()["last_active_at_millis"].as_i64().unwrap();
    assert!(after > 1000, "refresh marks the user active");
    // Same session (no rotation): every refreshed token names the sign-up's session.
    let session = |t: &str| {
        let payload =
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, t.split('.').nth(1).unwrap())
                .unwrap();
        serde_json::from_slice::<serde_json::Value>(&payload).unwrap()["refresh_token_id"].clone()
    };
    assert!(refreshed.iter().all(|t| session(t) == session(&token)));
    app.post("/api/v1/auth/sessions/current/refresh").client().send().await.assert_known(400, "SCHEMA_ERROR");
    app.refresh("nope").send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    // Another project's refresh token is unknown here.
    app.refresh(&refresh).project(&app.other).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    // Refresh tokens are stored only as hashes: the plain token is nowhere in the database files.
    assert!(!app.db_files_contain(&refresh));
}

#[tokio::test]
async fn oauth_token_endpoint_serves_the_sdk_refresh_grant() {
    let app = spawn_app().await;
    let (_, _, refresh) = app.sign_up("grant@example.com").await;
    let form = format!(
        "refresh_token={refresh}&grant_type=refresh_token&client_id=internal&client_secret={}",
        app.internal.pck
    );
    let r = app
        .post(TOKEN)
        .raw("application/x-www-form-urlencoded;charset=UTF-8", &form)
        .header("accept", "application/json")
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let b = r.json();
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["scope"], "legacy");
    assert!(b["expires_in"].as_i64().unwrap() > 0);
    assert!(b.get("refresh_token").is_none() && b.get("id_token").is_none());
    assert_eq!(
        (b["afterCallbackRedirectUrl"].clone(), b["after_callback_redirect_url"].clone()),
        (json!(null), json!(null))
    );
    app.get("/api/v1/users/me").client().token(b["access_token"].as_str().unwrap()).send().await.assert_status(200);

    // JSON bodies, the public sentinel and HTTP Basic client authentication work too.
    let r = app.post(TOKEN).json(json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "internal", "client_secret": "__stack_public_client__"})).send().await;
    r.assert_status(200);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("internal:{}", app.internal.pck));
    let r = app
        .post(TOKEN)
        .header("authorization", &format!("Basic {basic}"))
        .json(json!({"grant_type": "refresh_token", "refresh_token": refresh}))
        .send()
        .await;
    r.assert_status(200);

    let bad = |body: serde_json::Value| app.post(TOKEN).json(body);
    let r = bad(json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "internal", "client_secret": "wrong"})).send().await;
    assert_eq!(r.assert_known(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET")["details"], json!({"client_id": null}));
    bad(json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": "6fbbf22e-f4b2-4c6e-95a1-beab6fa41063", "client_secret": "x"})).send().await.assert_known(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET");
    bad(json!({"grant_type": "refresh_token", "refresh_token": refresh}))
        .send()
        .await
        .assert_known(400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET");
    bad(json!({"grant_type": "password", "client_id": "internal", "client_secret": app.internal.pck}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    bad(json!({"grant_type": "refresh_token", "refresh_token": "nope", "client_id": "internal", "client_secret": app.internal.pck})).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    bad(json!({"grant_type": "authorization_code", "code": "x", "client_id": "internal", "client_secret": app.internal.pck})).send().await.assert_known(400, "INVALID_AUTHORIZATION_CODE");
    let r = bad(json!({"grant_type": "refresh_token", "client_id": "internal", "client_secret": app.internal.pck}))
        .send()
        .await;
    assert_eq!((r.status, r.json()["error"].clone()), (400, json!("invalid_request")));
    // A refresh token of `internal` is not valid for another project's client.
    bad(json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": app.other.project_id, "client_secret": app.other.pck})).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
}

#[tokio::test]
async fn sign_out_revokes_the_session() {
    let app = spawn_app().await;
    let (_, token, refresh) = app.sign_up("out@example.com").await;
    let r = app.delete("/api/v1/auth/sessions/current").client().token(&token).json(json!({})).send().await;
    assert_eq!(r.json(), json!({"success": true}));
    app.refresh(&refresh).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    app.delete("/api/v1/auth/sessions/current")
        .client()
        .token(&token)
        .send()
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    let r = app.delete("/api/v1/auth/sessions/current").client().send().await;
    let b = r.assert_known(401, "ACCESS_TOKEN_EXPIRED");
    assert_eq!((b["details"]["user_id"].clone(), b["details"]["project_id"].clone()), (json!(null), json!(null)));
    assert!(b["details"]["expired_at_millis"].is_i64());
}

#[tokio::test]
async fn sessions_are_listed_and_revoked_by_their_owner_only() {
    let app = spawn_app().await;
    let (a, a_token, _) = app.sign_up("sa@example.com").await;
    let second = app
        .post("/api/v1/auth/password/sign-in")
        .client()
        .json(json!({"email": "sa@example.com", "password": "password-123"}))
        .send()
        .await
        .json();
    let (_, b_token, _) = app.sign_up("sb@example.com").await;

    let list = app.get("/api/v1/auth/sessions?user_id=me").client().token(&a_token).send().await.json();
    assert_eq!(list["is_paginated"], false);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["is_current_session"] == true).count(), 1);
    for s in items {
        assert_eq!(s["user_id"], a.as_str());
        for k in ["id", "created_at", "last_used_at", "is_impersonation"] {
            assert!(s.get(k).is_some(), "{k}");
        }
    }
    let current = items.iter().find(|s| s["is_current_session"] == true).unwrap()["id"].as_str().unwrap().to_string();
    let other = items.iter().find(|s| s["is_current_session"] == false).unwrap()["id"].as_str().unwrap().to_string();

    app.get(&format!("/api/v1/auth/sessions?user_id={a}")).client().token(&b_token).send().await.assert_plain(403);
    app.get("/api/v1/auth/sessions").client().token(&a_token).send().await.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(
        app.get(&format!("/api/v1/auth/sessions?user_id={a}")).server().send().await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    app.delete(&format!("/api/v1/auth/sessions/{current}?user_id=me"))
        .client()
        .token(&a_token)
        .send()
        .await
        .assert_known(400, "CANNOT_DELETE_CURRENT_SESSION");
    app.delete(&format!("/api/v1/auth/sessions/{other}?user_id=me"))
        .client()
        .token(&b_token)
        .send()
        .await
        .assert_plain(404);
    app.delete(&format!("/api/v1/auth/sessions/{other}?user_id=me"))
        .client()
        .token(&a_token)
        .send()
        .await
        .assert_status(200);
    app.refresh(second["refresh_token"].as_str().unwrap())
        .send()
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    app.delete(&format!("/api/v1/auth/sessions/{other}?user_id=me"))
        .client()
        .token(&a_token)
        .send()
        .await
        .assert_plain(404);
}

#[tokio::test]
async fn servers_create_sessions_for_users() {
    let app = spawn_app().await;
    let id = app.create_user(json!({"display_name": "Headless"})).await;
    let r = app
        .post("/api/v1/auth/sessions")
        .server()
        .json(json!({"user_id": id, "expires_in_millis": 60_000, "is_impersonation": true}))
        .send()
        .await;
    r.assert_status(200);
    let b = r.json();
    let me = app.get("/api/v1/users/me").client().token(b["access_token"].as_str().unwrap()).send().await.json();
    assert_eq!(me["display_name"], "Headless");
    // Impersonation sessions are listed for admins only.
    assert_eq!(
        app.get(&format!("/api/v1/auth/sessions?user_id={id}")).server().send().await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        app.get(&format!("/api/v1/auth/sessions?user_id={id}")).admin().send().await.json()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let missing = "00000000-0000-4000-8000-000000000000";
    let r = app.post("/api/v1/auth/sessions").server().json(json!({"user_id": missing})).send().await;
    assert_eq!(r.assert_known(400, "USER_ID_DOES_NOT_EXIST")["details"], json!({"user_id": missing}));
    app.post("/api/v1/auth/sessions")
        .access(Access::Client)
        .json(json!({"user_id": id}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.post("/api/v1/auth/sessions")
        .server()
        .json(json!({"user_id": id, "expires_in_millis": 40_000_000_000i64}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.post("/api/v1/auth/sessions")
        .server()
        .json(json!({"user_id": "me"}))
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
}

#[tokio::test]
async fn refresh_activity_is_buffered_then_written() {
    // The flush job is driven by hand here, so "not written yet" is not a race with its timer.
    let app = crate::helpers::spawn_app_with(|c| c.background_jobs = false).await;
    let (id, _, refresh) = app.sign_up("active@example.com").await;
    let stored =
        |app: &crate::helpers::TestApp| app.db_scalar(&format!("SELECT last_active_at FROM users WHERE id = '{id}'"));
    let at_sign_up = stored(&app);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    app.refresh(&refresh).send().await.assert_status(200);
    // Visible through the API at once…
    let shown =
        app.get(&format!("/api/v1/users/{id}")).server().send().await.json()["last_active_at_millis"].as_i64().unwrap();
    assert!(shown > at_sign_up);
    // …but not written through: the refresh committed nothing…
    assert_eq!(stored(&app), at_sign_up, "refresh must not write the timestamp itself");
    // …and durable after the next flush (every second, and at shutdown).
    app.server.services.sessions.activity.flush(&app.server.db).await.unwrap();
    assert_eq!(stored(&app), shown);
    let session_used = app.db_scalar(&format!("SELECT MAX(last_used_at) FROM sessions WHERE user_id = '{id}'"));
    assert_eq!(session_used, shown);
}

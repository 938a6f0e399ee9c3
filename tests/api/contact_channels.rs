//! `/contact-channels` (spec 10 §2): CRUD with its access matrix and errors, and verification of a
//! channel through the mailed code.

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with_smtp, CALLBACK};

#[tokio::test]
async fn create_send_verification_and_verify_a_channel() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (user_id, token, _) = app.sign_up("owner@example.com").await;
    let r = app
        .post("/api/v1/contact-channels")
        .client()
        .token(&token)
        .json(json!({"user_id": "me", "value": "Second@Example.com", "type": "email", "used_for_auth": false}))
        .send()
        .await;
    let c = r.assert_status(201).json();
    assert_eq!(c["value"], "second@example.com");
    assert_eq!(
        (c["is_verified"].as_bool(), c["is_primary"].as_bool(), c["user_id"].as_str()),
        (Some(false), Some(false), Some(user_id.as_str()))
    );
    let id = c["id"].as_str().unwrap().to_string();

    let path = format!("/api/v1/contact-channels/me/{id}/send-verification-code");
    app.post(&path)
        .client()
        .token(&token)
        .json(json!({ "callback_url": "https://evil.example/verify" }))
        .send()
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    app.post(&path).client().token(&token).json(json!({ "callback_url": CALLBACK })).send().await.assert_status(200);
    let mail = sink.last_to("second@example.com").await;
    assert_eq!(mail.subject(), "Verify your email at Stack Dashboard");
    app.post("/api/v1/contact-channels/verify")
        .client()
        .json(json!({"code": mail.code()}))
        .send()
        .await
        .assert_status(200);
    let c = app.get(&format!("/api/v1/contact-channels/me/{id}")).client().token(&token).send().await.json();
    assert_eq!(c["is_verified"], true);
    app.post(&path)
        .client()
        .token(&token)
        .json(json!({ "callback_url": CALLBACK }))
        .send()
        .await
        .assert_known(409, "EMAIL_ALREADY_VERIFIED");
    app.post(&path)
        .client()
        .token(&token)
        .json(json!({ "callback_url": "https://evil.example/" }))
        .send()
        .await
        .assert_known(409, "EMAIL_ALREADY_VERIFIED");

    // The SDK's sendVerificationEmail: the primary address only.
    let legacy = |email: &str, url: &str| {
        app.post("/api/v1/contact-channels/send-verification-code")
            .client()
            .token(&token)
            .json(json!({"email": email, "callback_url": url}))
            .send()
    };
    let b = legacy("second@example.com", CALLBACK).await.assert_known(400, "EMAIL_IS_NOT_PRIMARY_EMAIL");
    assert_eq!(b["details"], json!({"email": "second@example.com", "primary_email": "owner@example.com"}));
    legacy("owner@example.com", "https://evil.example/").await.assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    legacy("owner@example.com", CALLBACK).await.assert_status(200);
    let code = sink.last_to("owner@example.com").await.code();
    app.post("/api/v1/contact-channels/verify").client().json(json!({ "code": code })).send().await.assert_status(200);
    legacy("owner@example.com", CALLBACK).await.assert_known(409, "EMAIL_ALREADY_VERIFIED");

    // A code for a channel deleted since.
    let other = app
        .post("/api/v1/contact-channels")
        .client()
        .token(&token)
        .json(json!({"user_id": "me", "value": "third@example.com", "type": "email", "used_for_auth": false}))
        .send()
        .await
        .json();
    let other_id = other["id"].as_str().unwrap();
    app.post(&format!("/api/v1/contact-channels/me/{other_id}/send-verification-code"))
        .client()
        .token(&token)
        .json(json!({ "callback_url": CALLBACK }))
        .send()
        .await
        .assert_status(200);
    let code = sink.last_to("third@example.com").await.code();
    app.delete(&format!("/api/v1/contact-channels/me/{other_id}"))
        .client()
        .token(&token)
        .send()
        .await
        .assert_status(200);
    let r = app.post("/api/v1/contact-channels/verify").client().json(json!({ "code": code })).send().await;
    assert!(r.assert_plain(400).contains("deleted"));
}

#[tokio::test]
async fn channel_rules_and_errors() {
    let app = spawn_app().await;
    let (a, token_a, _) = app.sign_up("a@example.com").await;
    let (b, token_b, _) = app.sign_up("b@example.com").await;
    let create = |token: &str, body: serde_json::Value| {
        app.post("/api/v1/contact-channels").client().token(token).json(body).send()
    };

    // Someone else's sign-in address cannot be used for sign-in.
    let r =
        create(&token_a, json!({"user_id": "me", "value": "b@example.com", "type": "email", "used_for_auth": true}))
            .await;
    let e = r.assert_known(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");
    assert_eq!(
        e["details"],
        json!({"type": "email", "contact_channel_value": "b@example.com", "would_work_if_email_was_verified": false})
    );
    // …but may be a plain contact address.
    create(&token_a, json!({"user_id": "me", "value": "b@example.com", "type": "email", "used_for_auth": false}))
        .await
        .assert_status(201);
    // Twice for the same user: refused.
    let r =
        create(&token_a, json!({"user_id": "me", "value": "B@example.com", "type": "email", "used_for_auth": false}))
            .await;
    assert_eq!(r.assert_plain(400), "Contact channel already exists");
    // Clients act on their own user only, and may not set is_verified.
    create(&token_a, json!({"user_id": b, "value": "x@example.com", "type": "email", "used_for_auth": false}))
        .await
        .assert_plain(403);
    create(&token_a, json!({"user_id": "me", "value": "x@example.com", "type": "email", "used_for_auth": false, "is_verified": true}))
        .await
        .assert_known(400, "SCHEMA_ERROR");
    create(&token_a, json!({"user_id": "me", "value": "x@example.com", "type": "phone", "used_for_auth": false}))
        .await
        .assert_known(400, "SCHEMA_ERROR");
    create(&token_a, json!({"user_id": "me", "value": "not-an-email", "type": "email", "used_for_auth": false}))
        .await
        .assert_known(400, "SCHEMA_ERROR");

    // Lists: own (client), anyone's (server).
    let own = app.get("/api/v1/contact-channels?user_id=me").client().token(&token_a).send().await.json();
    assert_eq!(own["items"].as_array().unwrap().len(), 2);
    app.get(&format!("/api/v1/contact-channels?user_id={b}")).client().token(&token_a).send().await.assert_plain(403);
    app.get("/api/v1/contact-channels").client().token(&token_a).send().await.assert_plain(403);
    let all = app.get("/api/v1/contact-channels").server().send().await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    // A becomes primary elsewhere: making the second address primary demotes the first.
    let second = own["items"].as_array().unwrap().iter().find(|c| c["value"] == "b@example.com").unwrap().clone();
    let sid = second["id"].as_str().unwrap();
    let r = app
        .patch(&format!("/api/v1/contact-channels/{a}/{sid}"))
        .server()
        .json(json!({"is_primary": true, "is_verified": true}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json()["is_primary"], true);
    let user = app.get(&format!("/api/v1/users/{a}")).server().send().await.json();
    assert_eq!(
        (user["primary_email"].as_str(), user["primary_email_verified"].as_bool()),
        (Some("b@example.com"), Some(true))
    );
    // A new value is unverified again; sign-in use conflicting with B's address is refused.
    let r = app
        .patch(&format!("/api/v1/contact-channels/me/{sid}"))
        .client()
        .token(&token_a)
        .json(json!({"value": "c@example.com", "type": "email"}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json()["is_verified"], false);
    app.patch(&format!("/api/v1/contact-channels/me/{sid}"))
        .client()
        .token(&token_a)
        .json(json!({"value": "b@example.com", "used_for_auth": true}))
        .send()
        .await
        .assert_known(409, "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE");

    // User B cannot see, change or delete A's channel.
    let path = format!("/api/v1/contact-channels/{a}/{sid}");
    app.get(&path).client().token(&token_b).send().await.assert_plain(403);
    app.patch(&path).client().token(&token_b).json(json!({"is_primary": false})).send().await.assert_plain(403);
    app.delete(&path).client().token(&token_b).send().await.assert_plain(403);
    app.post(&format!("{path}/send-verification-code"))
        .client()
        .token(&token_b)
        .json(json!({ "callback_url": CALLBACK }))
        .send()
        .await
        .assert_plain(400);

    // Missing channels.
    let missing = format!("/api/v1/contact-channels/me/{}", uuid::Uuid::new_v4());
    assert_eq!(app.get(&missing).client().token(&token_a).send().await.assert_plain(404), "Contact channel not found.");
    app.patch(&missing).client().token(&token_a).json(json!({"is_primary": true})).send().await.assert_plain(400);
    app.delete(&missing).client().token(&token_a).send().await.assert_plain(400);
    app.post(&format!("{missing}/send-verification-code"))
        .client()
        .token(&token_a)
        .json(json!({ "callback_url": CALLBACK }))
        .send()
        .await
        .assert_plain(404);
    // Unknown user (server).
    app.post(&format!("/api/v1/contact-channels/{}/{sid}/send-verification-code", uuid::Uuid::new_v4()))
        .server()
        .json(json!({ "callback_url": CALLBACK }))
        .send()
        .await
        .assert_known(400, "USER_ID_DOES_NOT_EXIST");
    // `me` without a user.
    app.get("/api/v1/contact-channels?user_id=me")
        .client()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

    // Deleting the primary channel leaves the user without a primary e-mail.
    app.delete(&format!("/api/v1/contact-channels/me/{sid}")).client().token(&token_a).send().await.assert_status(200);
    let me = app.get("/api/v1/users/me").client().token(&token_a).send().await.json();
    assert!(me["primary_email"].is_null());
}

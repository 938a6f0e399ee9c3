//! Input handling as upstream does it: emails validated per endpoint, large integers kept, schema
//! errors that name the field and the rule (never a Rust type), malformed ids, `Allow` on 405, and
//! profile images (URLs validated, data-URL images stored and served by stackd).

use base64::Engine;
use serde_json::json;

use crate::helpers::spawn_app;

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

#[tokio::test]
async fn each_endpoint_validates_emails_as_upstream() {
    let app = spawn_app().await;
    // Server-side creation takes the loose addresses yup's email() takes…
    let r = app.post("/api/v1/users").server().json(json!({"primary_email": "invalid_email@gmai"})).send().await;
    assert_eq!(r.assert_status(201).json()["primary_email"], "invalid_email@gmai");
    // …but never control characters, bidi overrides, spaces or address literals.
    for bad in ["a\u{7}b@example.com", "ab@exa\u{202e}moc.com", "a b@example.com", "a@[127.0.0.1]", "\"a\"@example.com"]
    {
        let r = app.post("/api/v1/users").server().json(json!({"primary_email": bad})).send().await;
        let b = r.assert_known(400, "SCHEMA_ERROR");
        assert!(
            b["details"]["message"].as_str().unwrap().contains("body.primary_email must be a valid email"),
            "{bad:?}"
        );
        let r = app
            .post("/api/v1/auth/password/sign-in")
            .client()
            .json(json!({"email": bad, "password": "password-123"}))
            .send()
            .await;
        r.assert_known(400, "SCHEMA_ERROR");
    }
    // Sign-up is stricter (a dotted domain), and an empty address has its own rule.
    let sign_up = |email: &str| {
        app.post("/api/v1/auth/password/sign-up").client().json(json!({"email": email, "password": "password-123"}))
    };
    let b = sign_up("invalid_email@gmai").send().await.assert_known(400, "SCHEMA_ERROR");
    assert!(b["details"]["message"].as_str().unwrap().ends_with("- body.email must be a valid email"));
    let b = sign_up("").send().await.assert_known(400, "SCHEMA_ERROR");
    assert!(b["details"]["message"].as_str().unwrap().ends_with("- body.email must not be empty"));
}

#[tokio::test]
async fn large_integers_in_metadata_keep_their_value() {
    let app = spawn_app().await;
    let id = app.create_user(json!({})).await;
    let raw = r#"{"server_metadata": {"a": 9007199254740993, "b": 123456789012345678901234567890, "c": -0.1}}"#;
    app.patch(&format!("/api/v1/users/{id}")).server().raw("application/json", raw).send().await.assert_status(200);
    let text = app.get(&format!("/api/v1/users/{id}")).server().send().await.text;
    assert!(text.contains(r#""a":9007199254740993"#), "{text}");
    assert!(text.contains(r#""b":123456789012345678901234567890"#), "{text}");
    assert!(text.contains(r#""c":-0.1"#), "{text}");
}

#[tokio::test]
async fn schema_errors_name_the_field_and_the_rule() {
    let app = spawn_app().await;
    let message = |r: crate::helpers::Resp| {
        r.assert_known(400, "SCHEMA_ERROR")["details"]["message"].as_str().unwrap().to_string()
    };
    let sessions = || app.post("/api/v1/auth/sessions").server();
    let m = message(sessions().json(json!({})).send().await);
    assert_eq!(m, "Request validation failed on POST /api/v1/auth/sessions:\n  - body.user_id must be defined");
    let m = message(sessions().json(json!({"user_id": "me", "extra": 1, "expires_in_millis": "soon"})).send().await);
    assert!(m.contains("- body contains unknown properties: extra"), "{m}");
    assert!(m.contains("- body.expires_in_millis must be a `number` type"), "{m}");
    let m = message(sessions().json(json!({"user_id": "me", "expires_in_millis": 40_000_000_000i64})).send().await);
    assert!(m.ends_with("- body.expires_in_millis must be less than or equal to 31708800000"), "{m}");
    let m = message(sessions().json(json!([])).send().await);
    assert!(m.ends_with("- body must be a `object` type"), "{m}");
    let m = message(app.get("/api/v1/users?limit=0&desc=maybe").server().send().await);
    assert!(
        m.contains("- query.limit must be greater than or equal to 1")
            && m.contains("- query.desc must be a `boolean` type"),
        "{m}"
    );
    let id = app.create_user(json!({})).await;
    let m = message(
        app.patch(&format!("/api/v1/users/{id}"))
            .server()
            .json(json!({"risk_scores": {"sign_up": {"bot": 500, "free_trial_abuse": 0}}}))
            .send()
            .await,
    );
    assert!(m.ends_with("- body.risk_scores.sign_up.bot must be less than or equal to 100"), "{m}");
    // Never a Rust type name, whatever the framework would have said.
    for m in [m, message(sessions().json(json!({"user_id": 5})).send().await)] {
        assert!(!m.contains("Body") && !m.contains("occurred while parsing"), "{m}");
    }
    // Access-type errors still win over schema errors.
    app.post("/api/v1/auth/sessions")
        .client()
        .json(json!({}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn malformed_ids_are_schema_errors_and_405_names_the_allowed_methods() {
    let app = spawn_app().await;
    app.get("/api/v1/users/not-a-uuid").server().send().await.assert_known(400, "SCHEMA_ERROR");
    app.delete("/api/v1/auth/sessions/not-a-uuid?user_id=me")
        .server()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let id = app.create_user(json!({})).await;
    app.delete(&format!("/api/v1/auth/sessions/not-a-uuid?user_id={id}"))
        .server()
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.get("/api/v1/users?cursor=nope").server().send().await.assert_known(400, "SCHEMA_ERROR");

    let r = app.call("PUT", "/api/v1/users").server().send().await;
    r.assert_plain(405);
    assert_eq!(r.header("allow"), Some("GET, POST, OPTIONS"));
    let r = app.call("TRACE", "/api/v1/users/me").send().await;
    r.assert_plain(405);
    assert!(r.header("allow").unwrap().contains("PATCH"));
}

#[tokio::test]
async fn profile_images_are_validated_stored_and_served() {
    let app = spawn_app().await;
    let create = |url: &str| app.post("/api/v1/users").server().json(json!({"profile_image_url": url}));
    // URLs are kept as given, if they are http(s) URLs.
    let r = create("https://cdn.example.com/me.png").send().await;
    assert_eq!(r.assert_status(201).json()["profile_image_url"], "https://cdn.example.com/me.png");
    for bad in ["not a url", "ftp://example.com/me.png", "https://", "javascript:alert(1)"] {
        create(bad).send().await.assert_plain(400);
    }
    // A data URL must hold a real image…
    let text_as_image = format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode("hello"));
    assert!(create(&text_as_image).send().await.assert_plain(400).contains("Invalid profile image URL"));
    // …which stackd stores and serves at a stable URL.
    let r = create(&format!("data:image/png;base64,{PNG_1X1}")).send().await;
    let url = r.assert_status(201).json()["profile_image_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/api/v1/images/", app.base)), "{url}");
    let image = app.http.get(&url).send().await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert_eq!(
        image.bytes().await.unwrap().to_vec(),
        base64::engine::general_purpose::STANDARD.decode(PNG_1X1).unwrap()
    );
    app.get("/api/v1/images/00000000-0000-4000-8000-000000000000").send().await.assert_plain(404);

    // Clients may upload images, but not point at arbitrary URLs.
    let (_, token, _) = app.sign_up("picture@example.com").await;
    let me = |url: &str| app.patch("/api/v1/users/me").client().token(&token).json(json!({"profile_image_url": url}));
    me("https://cdn.example.com/me.png").send().await.assert_plain(400);
    let r = me(&format!("data:image/png;base64,{PNG_1X1}")).send().await;
    assert!(r.assert_status(200).json()["profile_image_url"].as_str().unwrap().contains("/api/v1/images/"));
    let first = r.json()["profile_image_url"].as_str().unwrap().to_string();
    // A replaced (or removed) uploaded picture is deleted, not left behind.
    let r = me(&format!("data:image/png;base64,{PNG_1X1}")).send().await;
    let second = r.assert_status(200).json()["profile_image_url"].as_str().unwrap().to_string();
    assert_eq!(app.http.get(&first).send().await.unwrap().status(), 404);
    let r = me("").send().await;
    assert_eq!(r.assert_status(200).json()["profile_image_url"], serde_json::Value::Null);
    assert_eq!(app.http.get(&second).send().await.unwrap().status(), 404);
    // So is the picture of a deleted user.
    let with_picture = app.create_user(json!({"profile_image_url": format!("data:image/png;base64,{PNG_1X1}")})).await;
    let picture = app.get(&format!("/api/v1/users/{with_picture}")).server().send().await.json()["profile_image_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.http.get(&picture).send().await.unwrap().status(), 200);
    app.delete(&format!("/api/v1/users/{with_picture}")).server().send().await.assert_status(200);
    assert_eq!(app.http.get(&picture).send().await.unwrap().status(), 404);
}

//! Password sign-up / sign-in and anonymous accounts, with every error code they return.

use serde_json::json;

use crate::helpers::spawn_app;

const SIGN_UP: &str = "/api/v1/auth/password/sign-up";
const SIGN_IN: &str = "/api/v1/auth/password/sign-in";

#[tokio::test]
async fn sign_up_then_sign_in() {
    let app = spawn_app().await;
    let r = app
        .post(SIGN_UP)
        .client()
        .json(json!({"email": "New.User@Example.com", "password": "password-123"}))
        .send()
        .await;
    r.assert_status(200);
    let b = r.json();
    assert_eq!(b.as_object().unwrap().len(), 3);
    assert_eq!(b["refresh_token"].as_str().unwrap().len(), 45);
    let me = app.get("/api/v1/users/me").client().token(b["access_token"].as_str().unwrap()).send().await.json();
    assert_eq!(
        (me["id"].clone(), me["primary_email"].clone(), me["primary_email_verified"].clone()),
        (b["user_id"].clone(), json!("new.user@example.com"), json!(false))
    );

    // The e-mail matches case-insensitively; each sign-in is a new session.
    let r = app
        .post(SIGN_IN)
        .client()
        .json(json!({"email": "NEW.user@example.com", "password": "password-123"}))
        .send()
        .await;
    assert_eq!(r.json()["user_id"], b["user_id"]);
    assert_ne!(r.json()["refresh_token"], b["refresh_token"]);
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM sessions"), 2);
    // Server access can sign users in too.
    app.post(SIGN_IN)
        .server()
        .json(json!({"email": "new.user@example.com", "password": "password-123"}))
        .send()
        .await
        .assert_status(200);
}

#[tokio::test]
async fn sign_up_errors() {
    let app = spawn_app().await;
    app.sign_up("dupe@example.com").await;
    let r =
        app.post(SIGN_UP).client().json(json!({"email": "DUPE@example.com", "password": "password-123"})).send().await;
    assert_eq!(
        r.assert_known(409, "USER_EMAIL_ALREADY_EXISTS")["details"],
        json!({"email": "dupe@example.com", "would_work_if_email_was_verified": false})
    );
    let r = app.post(SIGN_UP).client().json(json!({"email": "short@example.com", "password": "1234567"})).send().await;
    assert_eq!(r.assert_known(400, "PASSWORD_TOO_SHORT")["details"], json!({"min_length": 8}));
    app.post(SIGN_UP)
        .client()
        .json(json!({"email": "long@example.com", "password": "x".repeat(71)}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    for bad in ["no-at-sign", "a..b@example.com", "x@example.c", ""] {
        app.post(SIGN_UP)
            .client()
            .json(json!({"email": bad, "password": "password-123"}))
            .send()
            .await
            .assert_known(400, "SCHEMA_ERROR");
    }
    app.post(SIGN_UP).client().json(json!({"email": "x@example.com"})).send().await.assert_known(400, "SCHEMA_ERROR");
    let r = app.post(SIGN_UP).client().json(json!({"email": "cb@example.com", "password": "password-123", "verification_callback_url": "https://evil.example/verify"})).send().await;
    r.assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    let r = app.post(SIGN_UP).client().json(json!({"email": "cb@example.com", "password": "password-123", "verification_callback_url": "http://localhost:3000/verify"})).send().await;
    r.assert_status(200);

    app.configure(json!({"sign_up_enabled": false})).await;
    app.post(SIGN_UP)
        .client()
        .json(json!({"email": "closed@example.com", "password": "password-123"}))
        .send()
        .await
        .assert_known(400, "SIGN_UP_NOT_ENABLED");
    app.configure(json!({"credential_enabled": false})).await;
    app.post(SIGN_UP)
        .client()
        .json(json!({"email": "closed@example.com", "password": "password-123"}))
        .send()
        .await
        .assert_known(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
    app.post(SIGN_IN)
        .client()
        .json(json!({"email": "dupe@example.com", "password": "password-123"}))
        .send()
        .await
        .assert_known(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
}

#[tokio::test]
async fn sign_in_errors_do_not_reveal_which_part_was_wrong() {
    let app = spawn_app().await;
    app.sign_up("known@example.com").await;
    let wrong = app
        .post(SIGN_IN)
        .client()
        .json(json!({"email": "known@example.com", "password": "wrong-password"}))
        .send()
        .await;
    let unknown = app
        .post(SIGN_IN)
        .client()
        .json(json!({"email": "nobody@example.com", "password": "wrong-password"}))
        .send()
        .await;
    assert_eq!(
        wrong.assert_known(400, "EMAIL_PASSWORD_MISMATCH"),
        unknown.assert_known(400, "EMAIL_PASSWORD_MISMATCH")
    );
    // A user without a password (created server-side) cannot sign in with one.
    app.create_user(json!({"primary_email": "nopass@example.com", "primary_email_auth_enabled": true})).await;
    app.post(SIGN_IN)
        .client()
        .json(json!({"email": "nopass@example.com", "password": "anything-1"}))
        .send()
        .await
        .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    app.post(SIGN_IN)
        .client()
        .json(json!({"email": "known@example.com"}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.post(SIGN_IN)
        .client()
        .json(json!({"email": "known@example.com", "password": "password-123", "extra": 1}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.post(SIGN_IN)
        .json(json!({"email": "known@example.com", "password": "password-123"}))
        .send()
        .await
        .assert_known(400, "ACCESS_TYPE_REQUIRED");
}

#[tokio::test]
async fn anonymous_users_upgrade_in_place() {
    let app = spawn_app().await;
    let r = app.post("/api/v1/auth/anonymous/sign-up").client().send().await;
    let anon = r.json();
    let (id, token, refresh) = (
        anon["user_id"].as_str().unwrap(),
        anon["access_token"].as_str().unwrap(),
        anon["refresh_token"].as_str().unwrap(),
    );
    let me = app.get("/api/v1/users/me").client().token(token).allow_anonymous().send().await.json();
    assert_eq!(
        (me["is_anonymous"].clone(), me["is_restricted"].clone(), me["restricted_reason"].clone()),
        (json!(true), json!(true), json!({"type": "anonymous"}))
    );
    // Sign-up being disabled does not stop anonymous sign-up.
    app.configure(json!({"sign_up_enabled": false})).await;
    app.post("/api/v1/auth/anonymous/sign-up").client().send().await.assert_status(200);
    app.configure(json!({"sign_up_enabled": true})).await;

    let r = app
        .post(SIGN_UP)
        .client()
        .token(token)
        .allow_anonymous()
        .json(json!({"email": "upgraded@example.com", "password": "password-123"}))
        .send()
        .await;
    assert_eq!(r.json()["user_id"], id);
    let new_token = r.json()["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/users/me").client().token(&new_token).send().await.json();
    assert_eq!(
        (me["id"].as_str(), me["is_anonymous"].clone(), me["primary_email"].clone()),
        (Some(id), json!(false), json!("upgraded@example.com"))
    );
    // The anonymous session is gone.
    app.refresh(refresh).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    // A signed-in regular user signing up creates a second account.
    let r = app
        .post(SIGN_UP)
        .client()
        .token(&new_token)
        .json(json!({"email": "second@example.com", "password": "password-123"}))
        .send()
        .await;
    assert_ne!(r.json()["user_id"], id);
}

/// A TOTP for `secret` that stays valid for the next few seconds (waits out a step boundary).
async fn current_totp(secret: &[u8]) -> String {
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    if now() % 30.0 > 27.0 {
        tokio::time::sleep(std::time::Duration::from_secs_f64(30.5 - now() % 30.0)).await;
    }
    stackd::auth::mfa::totp(secret, now() as i64)
}

#[tokio::test]
async fn totp_users_need_a_second_factor() {
    let app = spawn_app().await;
    let (id, token, _) = app.sign_up("mfa@example.com").await;
    let secret = b"0123456789abcdefghij";
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let me = app
        .patch("/api/v1/users/me")
        .client()
        .token(&token)
        .json(json!({"totp_secret_base64": b64}))
        .send()
        .await
        .json();
    assert_eq!(me["requires_totp_mfa"], true);

    let sign_in = || app.post(SIGN_IN).client().json(json!({"email": "mfa@example.com", "password": "password-123"}));
    let r = sign_in().send().await;
    let attempt = r.assert_known(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED")["details"]["attempt_code"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(attempt.len(), 45);
    // Only the hash is stored: the code is nowhere in the database files.
    assert!(!app.db_files_contain(&attempt));

    let mfa = |code: &str, totp: &str| {
        app.post("/api/v1/auth/mfa/sign-in").client().json(json!({"code": code, "type": "totp", "totp": totp}))
    };
    mfa(&attempt, "000000").send().await.assert_known(400, "INVALID_TOTP_CODE");
    mfa(&"x".repeat(45), "000000").send().await.assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    mfa("short", "000000").send().await.assert_known(400, "SCHEMA_ERROR");
    app.post("/api/v1/auth/mfa/sign-in")
        .client()
        .json(json!({"code": attempt, "type": "sms", "totp": "1"}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");

    // A wrong TOTP does not consume the code; the right one signs in, once.
    let r = mfa(&attempt.to_uppercase(), &current_totp(secret).await).send().await;
    r.assert_status(200);
    let b = r.json();
    assert_eq!((b["user_id"].as_str(), b["is_new_user"].clone()), (Some(id.as_str()), json!(false)));
    app.get("/api/v1/users/me").client().token(b["access_token"].as_str().unwrap()).send().await.assert_status(200);
    mfa(&attempt, &current_totp(secret).await).send().await.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");

    // Twenty failed attempts kill the code, even for the right TOTP.
    let attempt = sign_in().send().await.json()["details"]["attempt_code"].as_str().unwrap().to_string();
    for _ in 0..20 {
        mfa(&attempt, "999999x").send().await.assert_known(400, "INVALID_TOTP_CODE");
    }
    mfa(&attempt, &current_totp(secret).await).send().await.assert_known(400, "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");

    // Attempt codes expire.
    let attempt = sign_in().send().await.json()["details"]["attempt_code"].as_str().unwrap().to_string();
    app.server
        .db
        .write_now(|tx| Ok(tx.execute("UPDATE verification_codes SET expires_at = 0 WHERE used_at IS NULL", [])?))
        .unwrap();
    mfa(&attempt, &current_totp(secret).await).send().await.assert_known(400, "VERIFICATION_CODE_EXPIRED");

    // Turning MFA off restores one-step sign-in.
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"totp_secret_base64": null}))
        .send()
        .await
        .assert_status(200);
    sign_in().send().await.assert_status(200);
}

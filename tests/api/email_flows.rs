//! Flows that mail a code, end to end over real SMTP: magic link / OTP (spec 10 §5), password
//! reset, update and set (§4.3–§4.6), the sign-up verification e-mail (§4.1), and the rules every
//! verification code follows (§3).

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with_smtp, TestApp, CALLBACK};

async fn send_otp(app: &TestApp, email: &str) -> crate::helpers::Resp {
    app.post("/api/v1/auth/otp/send-sign-in-code")
        .client()
        .json(json!({"email": email, "callback_url": CALLBACK}))
        .send()
        .await
}

async fn otp_sign_in(app: &TestApp, code: &str) -> crate::helpers::Resp {
    app.post("/api/v1/auth/otp/sign-in").client().json(json!({ "code": code })).send().await
}

#[tokio::test]
async fn magic_link_signs_up_then_signs_in_with_the_mailed_code() {
    let (app, sink) = spawn_app_with_smtp().await;
    let r = send_otp(&app, "Ada@Example.com").await;
    r.assert_status(200);
    let nonce = r.json()["nonce"].as_str().unwrap().to_string();
    assert_eq!(nonce.len(), 39);

    let mail = sink.last_to("Ada@Example.com").await;
    assert_eq!(mail.rcpt_to, vec!["Ada@Example.com"]);
    assert_eq!(mail.mail_from, "noreply@stackd.localhost");
    let code = mail.code();
    assert!(code.ends_with(&nonce), "the nonce is the code's tail");
    let otp = code[..6].to_uppercase();
    assert_eq!(mail.subject(), format!("Sign in to Stack Dashboard: Your code is {otp}"));
    assert!(mail.body().contains(&format!("{CALLBACK}?code={code}")));
    assert!(mail.body().contains(&otp));

    // The typed OTP plus the nonce is the code: a new user, with a verified, sign-in e-mail.
    let r = otp_sign_in(&app, &format!("{otp}{nonce}")).await;
    r.assert_status(200);
    let b = r.json();
    assert_eq!(b["is_new_user"], true);
    let user_id = b["user_id"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/users/me").client().token(b["access_token"].as_str().unwrap()).send().await.json();
    assert_eq!(me["primary_email"], "ada@example.com");
    assert_eq!(me["primary_email_verified"], true);
    assert_eq!(me["otp_auth_enabled"], true);

    // Once sent, the outbox keeps no usable code.
    let mut outbox = json!({});
    for _ in 0..100 {
        outbox = app.get("/api/v1/emails/outbox").server().send().await.json();
        if outbox["items"][0]["status"] == "SENT" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let row = outbox["items"][0].to_string();
    assert!(!row.contains(&code) && !row.contains(&nonce), "{row}");
    assert_eq!(outbox["items"][0]["variables"]["magicLink"], "[redacted]");

    // Single use: the link's form of the same code is refused now.
    otp_sign_in(&app, &code).await.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");

    // A second code signs the same user in.
    let r = send_otp(&app, "ada@example.com").await;
    r.assert_status(200);
    let code = loop {
        let m = sink.last_to("ada@example.com").await;
        let c = m.code();
        if c.ends_with(r.json()["nonce"].as_str().unwrap()) {
            break c;
        }
    };
    let b = otp_sign_in(&app, &code).await.json();
    assert_eq!(b["is_new_user"], false);
    assert_eq!(b["user_id"], user_id);
}

#[tokio::test]
async fn otp_codes_check_expire_and_lock_after_twenty_wrong_guesses() {
    let (app, sink) = spawn_app_with_smtp().await;
    let nonce = send_otp(&app, "eve@example.com").await.json()["nonce"].as_str().unwrap().to_string();
    let code = sink.last_to("eve@example.com").await.code();

    let r = app.post("/api/v1/auth/otp/sign-in/check-code").client().json(json!({ "code": code })).send().await;
    assert_eq!(r.assert_status(200).json(), json!({"is_code_valid": true}));
    // Wrong length is a schema error; an unknown code is not found.
    otp_sign_in(&app, "short").await.assert_known(400, "SCHEMA_ERROR");
    otp_sign_in(&app, &"0".repeat(45)).await.assert_known(404, "VERIFICATION_CODE_NOT_FOUND");

    // 20 wrong OTPs with the right nonce: each is not found, and counts against the nonce…
    let right = code[..6].to_string();
    let mut tried = 0;
    for i in 0.. {
        let guess = format!("{:06}", i);
        if guess == right {
            continue;
        }
        otp_sign_in(&app, &format!("{guess}{nonce}")).await.assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
        tried += 1;
        if tried == 20 {
            break;
        }
    }
    // …so the right one is locked now (the check-code call above counted too).
    otp_sign_in(&app, &code).await.assert_known(400, "VERIFICATION_CODE_MAX_ATTEMPTS_REACHED");

    // Expiry: a fresh code whose time has passed.
    send_otp(&app, "eve2@example.com").await.assert_status(200);
    let code = sink.last_to("eve2@example.com").await.code();
    app.server
        .db
        .write_now(|tx| {
            Ok(tx.execute("UPDATE verification_codes SET expires_at = 1 WHERE type = 'ONE_TIME_PASSWORD'", [])?)
        })
        .unwrap();
    otp_sign_in(&app, &code).await.assert_known(400, "VERIFICATION_CODE_EXPIRED");
}

#[tokio::test]
async fn otp_send_rules() {
    let (app, _sink) = spawn_app_with_smtp().await;
    // An address whose account has not verified it cannot sign in by e-mail.
    app.sign_up("unverified@example.com").await;
    let b = send_otp(&app, "unverified@example.com").await.assert_known(409, "USER_EMAIL_ALREADY_EXISTS");
    assert_eq!(b["details"]["would_work_if_email_was_verified"], true);
    // Untrusted callback.
    app.post("/api/v1/auth/otp/send-sign-in-code")
        .client()
        .json(json!({"email": "x@example.com", "callback_url": "https://evil.example/cb"}))
        .send()
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    // Strict address check.
    send_otp(&app, "a..b@example.com").await.assert_known(400, "SCHEMA_ERROR");
    // Sign-up off: unknown addresses are refused.
    app.configure(json!({"sign_up_enabled": false})).await;
    send_otp(&app, "new@example.com").await.assert_known(400, "SIGN_UP_NOT_ENABLED");
    // OTP off: a plain 403.
    app.configure(json!({"magic_link_enabled": false})).await;
    send_otp(&app, "new@example.com").await.assert_plain(403);
}

#[tokio::test]
async fn a_verified_password_user_gets_otp_and_an_anonymous_user_is_upgraded() {
    let (app, sink) = spawn_app_with_smtp().await;
    let id = app
        .create_user(json!({"primary_email": "grace@example.com", "primary_email_verified": true,
                            "primary_email_auth_enabled": true, "password": "password-123"}))
        .await;
    send_otp(&app, "grace@example.com").await.assert_status(200);
    let code = sink.last_to("grace@example.com").await.code();
    let b = otp_sign_in(&app, &code).await.json();
    assert_eq!((b["user_id"].as_str().unwrap(), b["is_new_user"].as_bool().unwrap()), (id.as_str(), false));

    let anon = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json();
    send_otp(&app, "anon@example.com").await.assert_status(200);
    let code = sink.last_to("anon@example.com").await.code();
    let r = app
        .post("/api/v1/auth/otp/sign-in")
        .client()
        .token(anon["access_token"].as_str().unwrap())
        .allow_anonymous()
        .json(json!({ "code": code }))
        .send()
        .await;
    let b = r.assert_status(200).json();
    assert_eq!(b["user_id"], anon["user_id"], "the anonymous user keeps its id");
    assert_eq!(b["is_new_user"], true);
}

#[tokio::test]
async fn otp_sign_in_of_a_totp_user_asks_for_the_second_factor() {
    use base64::Engine;
    let (app, sink) = spawn_app_with_smtp().await;
    let secret = b"0123456789abcdefghij";
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
    let id = app
        .create_user(json!({"primary_email": "mfa@example.com", "primary_email_verified": true,
                            "primary_email_auth_enabled": true}))
        .await;
    // A secret set by an update turns MFA on (one given at creation does not, as upstream).
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"totp_secret_base64": b64}))
        .send()
        .await
        .assert_status(200);
    send_otp(&app, "mfa@example.com").await.assert_status(200);
    let code = sink.last_to("mfa@example.com").await.code();
    let e = otp_sign_in(&app, &code).await.assert_known(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED");
    let attempt = e["details"]["attempt_code"].as_str().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let r = app
        .post("/api/v1/auth/mfa/sign-in")
        .client()
        .json(json!({"code": attempt, "type": "totp", "totp": stackd::auth::mfa::totp(secret, now)}))
        .send()
        .await;
    let b = r.assert_status(200).json();
    assert_eq!((b["user_id"].as_str(), b["is_new_user"].as_bool()), (Some(id.as_str()), Some(false)));
    // The OTP code itself was used up by the first step.
    otp_sign_in(&app, &code).await.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
}

#[tokio::test]
async fn password_reset_over_smtp_then_sign_in_with_the_new_password() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (_, _, refresh) = app.sign_up("linus@example.com").await;
    let answer = json!({"success": "maybe, only if user with e-mail exists"});

    let r = app
        .post("/api/v1/auth/password/send-reset-code")
        .client()
        .json(json!({"email": "linus@example.com", "callback_url": CALLBACK}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json(), answer);
    let mail = sink.last_to("linus@example.com").await;
    assert_eq!(mail.subject(), "Reset your password at Stack Dashboard");
    let code = mail.code();

    // Unknown addresses get the same answer and no mail.
    let before = sink.messages().len();
    let r = app
        .post("/api/v1/auth/password/send-reset-code")
        .client()
        .json(json!({"email": "nobody@example.com", "callback_url": CALLBACK}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json(), answer);

    let check = app.post("/api/v1/auth/password/reset/check-code").client().json(json!({ "code": code })).send().await;
    assert_eq!(check.assert_status(200).json(), json!({"is_code_valid": true}));
    let r = app
        .post("/api/v1/auth/password/reset")
        .client()
        .json(json!({"code": code, "password": "brand-new-password"}))
        .send()
        .await;
    r.assert_status(200);
    app.sign_in("linus@example.com", "password-123").await.assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    app.sign_in("linus@example.com", "brand-new-password").await.assert_status(200);
    // Every session of the user ended.
    app.refresh(&refresh).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    // Used up.
    app.post("/api/v1/auth/password/reset")
        .client()
        .json(json!({"code": code, "password": "another-password"}))
        .send()
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    assert_eq!(sink.messages().len(), before, "no mail for an unknown address");
}

#[tokio::test]
async fn a_refused_new_password_still_uses_up_the_reset_code() {
    let (app, sink) = spawn_app_with_smtp().await;
    app.sign_up("short@example.com").await;
    app.post("/api/v1/auth/password/send-reset-code")
        .client()
        .json(json!({"email": "short@example.com", "callback_url": CALLBACK}))
        .send()
        .await
        .assert_status(200);
    let code = sink.last_to("short@example.com").await.code();
    let reset = |password: &'static str| {
        app.post("/api/v1/auth/password/reset").client().json(json!({"code": code, "password": password})).send()
    };
    reset("short").await.assert_known(400, "PASSWORD_TOO_SHORT");
    reset("long-enough-now").await.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    // Untrusted callbacks are refused for every address (so the check reveals nothing).
    for email in ["short@example.com", "nobody@example.com"] {
        app.post("/api/v1/auth/password/send-reset-code")
            .client()
            .json(json!({"email": email, "callback_url": "https://evil.example/reset"}))
            .send()
            .await
            .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    }
    app.configure(json!({"credential_enabled": false})).await;
    app.post("/api/v1/auth/password/send-reset-code")
        .client()
        .json(json!({"email": "short@example.com", "callback_url": CALLBACK}))
        .send()
        .await
        .assert_known(400, "PASSWORD_AUTHENTICATION_NOT_ENABLED");
}

#[tokio::test]
async fn password_update_keeps_only_the_current_session() {
    let app = spawn_app().await;
    let (_, token, refresh) = app.sign_up("ken@example.com").await;
    let other = app.sign_in("ken@example.com", "password-123").await.json();
    let update = |old: &str, new: &str| {
        app.post("/api/v1/auth/password/update")
            .client()
            .token(&token)
            .stack_header("refresh-token", &refresh)
            .json(json!({"old_password": old, "new_password": new}))
            .send()
    };
    update("wrong-password", "new-password-1").await.assert_known(400, "PASSWORD_CONFIRMATION_MISMATCH");
    update("password-123", "short").await.assert_known(400, "PASSWORD_TOO_SHORT");
    update("password-123", "new-password-1").await.assert_status(200);
    app.refresh(&refresh).send().await.assert_status(200);
    app.refresh(other["refresh_token"].as_str().unwrap())
        .send()
        .await
        .assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");
    app.sign_in("ken@example.com", "new-password-1").await.assert_status(200);

    // No user: upstream's schema error.
    let r = app
        .post("/api/v1/auth/password/update")
        .client()
        .json(json!({"old_password": "a", "new_password": "new-password-2"}))
        .send()
        .await;
    assert!(r.assert_known(400, "SCHEMA_ERROR")["error"].as_str().unwrap().contains("auth.user must be defined"));
}

#[tokio::test]
async fn password_set_for_users_without_one() {
    let app = spawn_app().await;
    let anon = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json();
    let token = anon["access_token"].as_str().unwrap();
    let update = app
        .post("/api/v1/auth/password/update")
        .client()
        .token(token)
        .allow_anonymous()
        .json(json!({"old_password": "whatever-1", "new_password": "new-password-1"}))
        .send()
        .await;
    update.assert_known(400, "USER_DOES_NOT_HAVE_PASSWORD");
    let set = |password: &str| {
        app.post("/api/v1/auth/password/set")
            .client()
            .token(token)
            .allow_anonymous()
            .json(json!({ "password": password }))
            .send()
    };
    set("short").await.assert_known(400, "PASSWORD_TOO_SHORT");
    set("first-password").await.assert_status(200);
    assert_eq!(set("second-password").await.assert_plain(400), "User already has a password set.");
    app.refresh(anon["refresh_token"].as_str().unwrap()).send().await.assert_status(200);
}

#[tokio::test]
async fn sign_up_with_a_callback_mails_a_verification_link() {
    let (app, sink) = spawn_app_with_smtp().await;
    let r = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .json(json!({"email": "verify@example.com", "password": "password-123", "verification_callback_url": CALLBACK}))
        .send()
        .await;
    let token = r.assert_status(200).json()["access_token"].as_str().unwrap().to_string();
    let mail = sink.last_to("verify@example.com").await;
    assert_eq!(mail.subject(), "Verify your email at Stack Dashboard");
    let code = mail.code();
    app.post("/api/v1/contact-channels/verify/check-code")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
        .assert_status(200);
    app.post("/api/v1/contact-channels/verify").client().json(json!({ "code": code })).send().await.assert_status(200);
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    assert_eq!(me["primary_email_verified"], true);
    app.post("/api/v1/contact-channels/verify")
        .client()
        .json(json!({ "code": code }))
        .send()
        .await
        .assert_known(409, "VERIFICATION_CODE_ALREADY_USED");

    // Without a callback no mail is sent; with an untrusted one the sign-up is refused.
    let before = sink.messages().len();
    app.sign_up("quiet@example.com").await;
    app.post("/api/v1/auth/password/sign-up")
        .client()
        .json(json!({"email": "evil@example.com", "password": "password-123", "verification_callback_url": "https://evil.example/"}))
        .send()
        .await
        .assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), before);
}

#[tokio::test]
async fn send_reset_code_takes_as_long_for_unknown_addresses_as_for_known_ones() {
    let app = spawn_app().await;
    app.sign_up("known@example.com").await;
    for email in ["known@example.com", "unknown@example.com"] {
        let started = std::time::Instant::now();
        app.post("/api/v1/auth/password/send-reset-code")
            .client()
            .json(json!({"email": email, "callback_url": CALLBACK}))
            .send()
            .await
            .assert_status(200);
        // A floor, not a measurement: both answers wait for it.
        assert!(started.elapsed() >= std::time::Duration::from_millis(300), "{email}");
    }
}

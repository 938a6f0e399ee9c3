//! The findings of the hostile review, each reproduced: unbounded signing-key derivation, a user
//! cache that grew with metadata, no rate limits (and a TOTP budget reset by fresh attempt codes),
//! high-S signatures, and half-sent requests held open forever. Plus: connections accepted right
//! before a shutdown are answered.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with};

/// A token-shaped string whose unverified payload claims `aud`.
fn forged_token(aud: &str) -> String {
    let header = B64.encode(r#"{"alg":"ES256","kid":"abcdefghijkl"}"#);
    let payload = B64.encode(
        json!({"aud": aud, "sub": "u", "iss": "x", "iat": 0, "exp": 9_999_999_999i64, "project_id": aud,
               "branch_id": "main", "refresh_token_id": "r", "role": "authenticated", "email_verified": false,
               "signed_up_at": 0, "is_anonymous": false, "is_restricted": false, "requires_totp_mfa": false})
        .to_string(),
    );
    format!("{header}.{payload}.{}", B64.encode([7u8; 64]))
}

#[tokio::test]
async fn tokens_claiming_unknown_audiences_derive_no_keys() {
    let app = spawn_app().await;
    let tokens = &app.server.services.infra.tokens;
    // Warm up: the real audiences of `internal` in use.
    let (_, token, _) = app.sign_up("aud@example.com").await;
    app.get("/api/v1/users/me").client().token(&token).send().await.assert_status(200);
    let keys_before = tokens.cached_key_count();

    let huge = "a".repeat(60_000);
    for i in 0..2000 {
        let aud = match i % 3 {
            0 => format!("{huge}{i}"),
            1 => uuid::Uuid::new_v4().to_string(),
            _ => format!("internal:{i}"),
        };
        app.get("/api/v1/users/me")
            .client()
            .token(&forged_token(&aud))
            .send()
            .await
            .assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
    }
    assert_eq!(tokens.cached_key_count(), keys_before, "no key was derived for a hostile audience");
    // Admin access tokens only ever derive keys of `internal`.
    let r = app
        .get("/api/v1/users")
        .bare("admin", "internal")
        .header("x-stack-admin-access-token", &forged_token(&uuid::Uuid::new_v4().to_string()))
        .send()
        .await;
    r.assert_known(401, "UNPARSABLE_ADMIN_ACCESS_TOKEN");
    assert_eq!(tokens.cached_key_count(), keys_before);
}

#[tokio::test]
async fn the_user_cache_is_bounded_in_bytes() {
    let app = spawn_app().await;
    let users = &app.server.services.users;
    // A small user is cached by /users/me…
    let (_, token, _) = app.sign_up("small@example.com").await;
    app.get("/api/v1/users/me").client().token(&token).send().await.assert_status(200);
    let with_one_user = users.cache_bytes();
    assert!(with_one_user > 0, "the hot path is cached");

    // …but anonymous users with 3.9 MB of client metadata each do not grow it.
    let blob = "x".repeat(3_900_000);
    for _ in 0..20 {
        let r = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json();
        let anon = r["access_token"].as_str().unwrap().to_string();
        app.patch("/api/v1/users/me")
            .client()
            .token(&anon)
            .allow_anonymous()
            .json(json!({"client_metadata": {"blob": blob}}))
            .send()
            .await
            .assert_status(200);
        let me = app.get("/api/v1/users/me").client().token(&anon).allow_anonymous().send().await;
        assert_eq!(me.json()["client_metadata"]["blob"].as_str().map(str::len), Some(3_900_000));
    }
    assert!(
        users.cache_bytes() < with_one_user + 64 * 1024,
        "the user cache grew to {} bytes with large records",
        users.cache_bytes()
    );
}

/// Flips a compact ES256 signature to its high-S twin: (r, s) → (r, n − s).
fn high_s_twin(token: &str) -> String {
    const N: [u8; 32] = [
        0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xBC, 0xE6,
        0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
    ];
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = B64.decode(sig).unwrap();
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = N[i] as i16 - sig[32 + i] as i16 - borrow;
        sig[32 + i] = d.rem_euclid(256) as u8;
        borrow = (d < 0) as i16;
    }
    format!("{signed}.{}", B64.encode(sig))
}

#[tokio::test]
async fn only_low_s_signatures_are_accepted() {
    let app = spawn_app().await;
    for i in 0..8 {
        let (_, token, _) = app.sign_up(&format!("lows{i}@example.com")).await;
        app.get("/api/v1/users/me").client().token(&token).send().await.assert_status(200);
        let twin = high_s_twin(&token);
        // The twin is a valid ECDSA signature of the same claims (it verifies mathematically)…
        let (signed, sig) = twin.rsplit_once('.').unwrap();
        let jwks = app.get("/api/v1/projects/internal/.well-known/jwks.json").send().await.json();
        let jwk = &jwks["keys"][0];
        let mut sec1 = vec![4u8];
        sec1.extend(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        sec1.extend(B64.decode(jwk["y"].as_str().unwrap()).unwrap());
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        use p256::ecdsa::signature::Verifier;
        assert!(key.verify(signed.as_bytes(), &sig).is_ok());
        // …but the server accepts exactly one token string per claims.
        app.get("/api/v1/users/me").client().token(&twin).send().await.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
    }
}

#[tokio::test]
async fn credential_endpoints_are_rate_limited_per_ip_and_per_account() {
    let app = spawn_app_with(|c| {
        c.rate_limits = true;
        c.trusted_proxy_header = Some("x-forwarded-for".into());
    })
    .await;
    app.sign_up("limited@example.com").await;
    let wrong = |ip: &str| {
        app.post("/api/v1/auth/password/sign-in")
            .client()
            .header("x-forwarded-for", &format!("203.0.113.9, {ip}"))
            .json(json!({"email": "limited@example.com", "password": "wrong-password"}))
    };
    // Per account: 10 wrong passwords a minute, from any number of addresses.
    for i in 0..10 {
        wrong(&format!("198.51.100.{i}")).send().await.assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    }
    let r = wrong("198.51.100.200").send().await;
    r.assert_status(429);
    let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert!(r.json()["message"].is_string());

    // Per IP: 30 sign-ins a minute across accounts.
    for i in 0..30 {
        app.post("/api/v1/auth/password/sign-in")
            .client()
            .header("x-forwarded-for", "192.0.2.1")
            .json(json!({"email": format!("nobody{i}@example.com"), "password": "wrong-password"}))
            .send()
            .await
            .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    }
    app.post("/api/v1/auth/password/sign-in")
        .client()
        .header("x-forwarded-for", "192.0.2.1")
        .json(json!({"email": "nobody-else@example.com", "password": "wrong-password"}))
        .send()
        .await
        .assert_status(429);
    // The SDK's status override does not hide a 429 (it is not a KnownError).
    let r = app
        .post("/api/v1/auth/password/sign-in")
        .client()
        .header("x-forwarded-for", "192.0.2.1")
        .header("x-stack-override-error-status", "true")
        .json(json!({"email": "nobody-else@example.com", "password": "wrong-password"}))
        .send()
        .await;
    r.assert_status(429);
    assert!(r.header("retry-after").is_some());

    // Sign-up per IP.
    for _ in 0..20 {
        app.post("/api/v1/auth/anonymous/sign-up")
            .client()
            .header("x-forwarded-for", "192.0.2.2")
            .send()
            .await
            .assert_status(200);
    }
    app.post("/api/v1/auth/anonymous/sign-up")
        .client()
        .header("x-forwarded-for", "192.0.2.2")
        .send()
        .await
        .assert_status(429);
}

#[tokio::test]
async fn without_a_trusted_proxy_header_the_socket_address_counts() {
    let app = spawn_app_with(|c| c.rate_limits = true).await;
    // Spoofed forwarding headers do not give an attacker fresh addresses.
    for i in 0..30 {
        app.post("/api/v1/auth/password/sign-in")
            .client()
            .header("x-forwarded-for", &format!("198.51.100.{i}"))
            .json(json!({"email": format!("spoof{i}@example.com"), "password": "wrong-password"}))
            .send()
            .await
            .assert_known(400, "EMAIL_PASSWORD_MISMATCH");
    }
    app.post("/api/v1/auth/password/sign-in")
        .client()
        .header("x-forwarded-for", "198.51.100.99")
        .json(json!({"email": "spoof-last@example.com", "password": "wrong-password"}))
        .send()
        .await
        .assert_status(429);
}

#[tokio::test]
async fn every_api_request_counts_against_a_per_ip_ceiling() {
    let app = spawn_app_with(|c| {
        c.rate_limits = true;
        c.rate_limit_per_ip = 5;
    })
    .await;
    for _ in 0..5 {
        app.get("/api/v1").send().await.assert_status(200);
    }
    let r = app.get("/api/v1").send().await;
    r.assert_status(429);
    assert!(r.header("retry-after").is_some());
    // Outside the API (health checks of load balancers) nothing is limited.
    app.get("/health").send().await.assert_status(200);
    // And development mode (the default of spawn_app) has no limits at all.
    let dev = spawn_app().await;
    for _ in 0..50 {
        dev.get("/api/v1").send().await.assert_status(200);
    }
}

#[tokio::test]
async fn fresh_attempt_codes_do_not_reset_the_totp_budget() {
    // Development mode: load limits are off, the TOTP budget is not.
    let app = spawn_app().await;
    let (_, token, _) = app.sign_up("budget@example.com").await;
    let b64 = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdefghij");
    app.patch("/api/v1/users/me").client().token(&token).json(json!({"totp_secret_base64": b64})).send().await;
    let mut statuses = vec![];
    for _ in 0..40 {
        // Each password sign-in hands out a new attempt code with 20 tries of its own…
        let r = app
            .post("/api/v1/auth/password/sign-in")
            .client()
            .json(json!({"email": "budget@example.com", "password": "password-123"}))
            .send()
            .await;
        let attempt = r.assert_known(400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED")["details"]["attempt_code"]
            .as_str()
            .unwrap()
            .to_string();
        let guess = app
            .post("/api/v1/auth/mfa/sign-in")
            .client()
            .json(json!({"code": attempt, "type": "totp", "totp": "000000"}))
            .send()
            .await;
        statuses.push(guess.status);
    }
    // …but guesses at this user's TOTP are counted across codes.
    let invalid = statuses.iter().filter(|s| **s == 400).count();
    assert!(invalid <= 30, "{invalid} TOTP guesses were checked");
    assert_eq!(statuses.last(), Some(&429));
}

/// Whether the server closed `stream` (EOF or reset) within `wait`.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 response before the close
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_not_held_open() {
    let app = spawn_app_with(|c| c.header_read_timeout = Duration::from_secs(1)).await;
    let addr = app.server.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut streams: Vec<TcpStream> = (0..200)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /api/v1 HTTP/1.1\r\nHost: localhost\r\nx-slow: ").unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(2500));
        streams.iter_mut().map(|s| closed_within(s, Duration::from_millis(500))).filter(|c| *c).count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 200, "every half-sent request was cut off");
    // Complete requests are still served.
    app.get("/api/v1").send().await.assert_status(200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_accepted_just_before_shutdown_are_answered() {
    let app = spawn_app().await;
    let addr = app.server.addr;
    let (server, _dir) = app.into_server();
    let streams: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answers = tokio::task::spawn_blocking(move || {
        streams
            .into_iter()
            .map(|mut s| {
                s.write_all(b"GET /api/v1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut text = String::new();
                let _ = s.read_to_string(&mut text);
                text.lines().next().unwrap_or_default().to_string()
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for status_line in &answers {
        assert_eq!(status_line, "HTTP/1.1 200 OK");
    }
    stopping.await.unwrap();
    // After the stop, nothing listens any more.
    assert!(TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn e_mail_sending_endpoints_are_rate_limited_per_address() {
    let app = spawn_app_with(|c| c.rate_limits = true).await;
    let callback = crate::helpers::CALLBACK;
    // OTP: 5 per address per minute, whatever the case of the address.
    for i in 0..5 {
        let email = if i % 2 == 0 { "flood@example.com" } else { "FLOOD@example.com" };
        app.post("/api/v1/auth/otp/send-sign-in-code")
            .client()
            .json(json!({"email": email, "callback_url": callback}))
            .send()
            .await
            .assert_status(200);
    }
    let r = app
        .post("/api/v1/auth/otp/send-sign-in-code")
        .client()
        .json(json!({"email": "flood@example.com", "callback_url": callback}))
        .send()
        .await;
    r.assert_status(429);
    assert!(r.header("retry-after").is_some());
    // Another address is not affected.
    app.post("/api/v1/auth/otp/send-sign-in-code")
        .client()
        .json(json!({"email": "calm@example.com", "callback_url": callback}))
        .send()
        .await
        .assert_status(200);
    // Password reset: 3 per address per minute, for unknown addresses too (no difference to observe).
    for _ in 0..3 {
        app.post("/api/v1/auth/password/send-reset-code")
            .client()
            .json(json!({"email": "nobody@example.com", "callback_url": callback}))
            .send()
            .await
            .assert_status(200);
    }
    app.post("/api/v1/auth/password/send-reset-code")
        .client()
        .json(json!({"email": "nobody@example.com", "callback_url": callback}))
        .send()
        .await
        .assert_status(429);
    // Nothing rate-limited reached the outbox.
    assert_eq!(app.db_scalar("SELECT count(*) FROM email_outbox"), 6);
}

#[tokio::test]
async fn team_invitations_are_rate_limited_per_sender() {
    let app = spawn_app_with(|c| c.rate_limits = true).await;
    let (_, token, _) = app.sign_up("inviter@example.com").await;
    let team = crate::teams::client_team(&app, &token, "Acme").await;
    let invite = |i: usize| {
        app.post("/api/v1/team-invitations/send-code").client().token(&token).json(
            json!({"team_id": team, "email": format!("guest{i}@example.com"), "callback_url": crate::helpers::CALLBACK}),
        )
    };
    for i in 0..20 {
        invite(i).send().await.assert_status(200);
    }
    let r = invite(20).send().await;
    r.assert_status(429);
    assert!(r.header("retry-after").is_some());
    assert_eq!(app.db_scalar("SELECT count(*) FROM verification_codes WHERE type = 'TEAM_INVITATION'"), 20);
}

//! Faults the server must survive without losing what it acknowledged: SIGKILL under load, a full
//! database, a database locked by another process, SMTP servers and webhook receivers that hang.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;

use crate::helpers::*;
use crate::operations::hold_write_lock;
use crate::webhook_receiver::Receiver;

/// A request that must be answered within `limit` (the server is not allowed to hang on a fault).
async fn answered<T>(limit: Duration, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(limit, f).await.unwrap_or_else(|_| panic!("{what} was not answered while the fault lasted"))
}

fn integrity(db: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap()
}

#[tokio::test]
async fn sigkill_during_500_sign_ups_keeps_every_acknowledged_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let (child, base) = start_binary(&db, &[], "warn", false);
    let mut child = KillOnDrop(child);
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut tasks = vec![];
    for i in 0..500 {
        let (http, base, acknowledged) = (http.clone(), base.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            // Half password sign-ups (argon2id on the hashing pool), half anonymous ones.
            let (path, body) = if i % 2 == 0 {
                ("password/sign-up", json!({"email": format!("killed-{i}@example.com"), "password": "password-123"}))
            } else {
                ("anonymous/sign-up", json!({}))
            };
            let r = http
                .post(format!("{base}/api/v1/auth/{path}"))
                .header("x-stack-access-type", "client")
                .header("x-stack-project-id", "internal")
                .header("x-stack-publishable-client-key", stackd::projects::DEV_PUBLISHABLE_CLIENT_KEY)
                .json(&body)
                .send()
                .await;
            if let Ok(r) = r {
                if r.status() == 200 {
                    if let Ok(b) = r.json::<serde_json::Value>().await {
                        acknowledged.lock().unwrap().push(b["user_id"].as_str().unwrap().to_string());
                    }
                }
            }
        }));
    }
    // Kill it mid-flight, once some sign-ups have been acknowledged and others are still running.
    for _ in 0..400 {
        if acknowledged.lock().unwrap().len() >= 40 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.0.kill().unwrap(); // SIGKILL
    child.0.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    let acknowledged: HashSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    assert!(acknowledged.len() >= 40 && acknowledged.len() < 500, "killed mid-flight: {}", acknowledged.len());
    assert_eq!(integrity(&db), "ok");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: HashSet<String> = conn
        .prepare("SELECT id FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    drop(conn);
    // And it starts again on the same file.
    let (child, base) = start_binary(&db, &[], "warn", false);
    let _child = KillOnDrop(child);
    assert_eq!(reqwest::get(format!("{base}/health/ready")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_full_database_refuses_writes_clearly_keeps_reading_and_recovers_without_a_restart() {
    let app = spawn_app_with(|c| c.max_db_bytes = Some(1024 * 1024)).await;
    let pad = "x".repeat(16 * 1024);
    let mut created = vec![];
    let refusal = loop {
        let r = app.post("/api/v1/users").server().json(json!({"server_metadata": {"pad": pad}})).send().await;
        if r.status != 201 {
            break r;
        }
        created.push(r.json()["id"].as_str().unwrap().to_string());
        assert!(created.len() < 200, "the 1 MiB ceiling was never reached");
    };
    assert_eq!(refusal.status, 507, "{}", refusal.text);
    assert_eq!(refusal.headers["retry-after"], "60");
    assert!(refusal.json()["message"].as_str().unwrap().contains("full"));
    assert!(created.len() > 5);
    // Reads keep working.
    app.get(&format!("/api/v1/users/{}", created[0])).server().send().await.assert_status(200);
    app.get("/api/v1/users?limit=100").server().send().await.assert_status(200);
    // Space comes back (users deleted): writes resume on the same running server.
    for id in &created[..created.len() / 2] {
        app.delete(&format!("/api/v1/users/{id}")).server().send().await.assert_status(200);
    }
    app.post("/api/v1/users").server().json(json!({"display_name": "after the flood"})).send().await.assert_status(201);
    app.get("/health/ready").send().await.assert_status(200);
    assert_eq!(app.db_scalar("SELECT count(*) FROM users WHERE display_name = 'after the flood'"), 1);
}

#[tokio::test]
async fn a_database_locked_by_another_process_for_5_s_delays_or_refuses_writes_and_corrupts_nothing() {
    let app = spawn_app().await;
    let (_, token, _) = app.sign_up("locked@example.com").await;
    let db = app.server.db_path();
    let locker = hold_write_lock(&db, 5.0);
    // Reads go on (WAL readers do not wait for writers).
    let me =
        answered(Duration::from_secs(3), "GET /users/me", app.get("/api/v1/users/me").client().token(&token).send())
            .await;
    me.assert_status(200);
    // A write waits for the lock; past the busy timeout it is refused with 503 + Retry-After.
    let write = answered(
        Duration::from_secs(15),
        "a write",
        app.post("/api/v1/users").server().json(json!({"display_name": "during the lock"})).send(),
    )
    .await;
    assert!(write.status == 201 || (write.status == 503 && write.headers.contains_key("retry-after")), "{write:?}");
    assert!(locker.wait_with_output().unwrap().status.success());
    app.post("/api/v1/users").server().json(json!({"display_name": "after the lock"})).send().await.assert_status(201);
    let expected = if write.status == 201 { 1 } else { 0 };
    assert_eq!(app.db_scalar("SELECT count(*) FROM users WHERE display_name = 'during the lock'"), expected);
    assert_eq!(integrity(&db), "ok");
    let metrics = app.get("/metrics").send().await.text;
    let busy: f64 =
        metrics.lines().find_map(|l| l.strip_prefix("stackd_db_busy_retries_total ")).unwrap().parse().unwrap();
    assert!(busy > 0.0, "the waits were counted");
}

#[tokio::test]
async fn a_hanging_smtp_server_delays_nothing_and_delivery_resumes() {
    let sink = SmtpSink::start().await;
    sink.hang(true);
    let url = sink.url();
    let app = spawn_app_with(move |c| {
        c.mail.smtp = Some(stackd::mail::SmtpSettings::from_url(&url).unwrap());
        c.mail.retry.base = Duration::from_millis(200);
    })
    .await;
    let (_, token, _) = app.sign_up("hang@example.com").await;
    for i in 0..3 {
        let r = answered(
            Duration::from_secs(5),
            "an OTP request",
            app.post("/api/v1/auth/otp/send-sign-in-code")
                .client()
                .json(json!({"email": format!("hang-{i}@example.com"), "callback_url": CALLBACK}))
                .send(),
        )
        .await;
        r.assert_status(200);
    }
    // The worker is stuck on the silent server; requests are not.
    for _ in 0..20 {
        let me = answered(
            Duration::from_secs(2),
            "GET /users/me",
            app.get("/api/v1/users/me").client().token(&token).send(),
        )
        .await;
        me.assert_status(200);
    }
    assert!(sink.messages().is_empty());
    // It answers again: everything queued arrives (after the stuck attempt's timeout and a retry).
    sink.hang(false);
    for i in 0..3 {
        tokio::time::timeout(Duration::from_secs(60), sink.last_to(&format!("hang-{i}@example.com")))
            .await
            .expect("delivered once the server answers");
    }
}

#[tokio::test]
async fn a_hanging_webhook_receiver_delays_nothing_and_delivery_resumes() {
    let receiver = Receiver::start();
    receiver.delay(Duration::from_secs(30));
    let app = spawn_app_with(|c| {
        c.webhooks.request_timeout = Duration::from_millis(500);
        c.webhooks.retry_delays = vec![Duration::from_millis(300); 8];
    })
    .await;
    let svix = crate::webhooks::Svix::for_app(&app).await;
    svix.endpoint(json!({"url": receiver.url})).await;
    for i in 0..3 {
        let r = answered(
            Duration::from_secs(5),
            "a user creation",
            app.post("/api/v1/users").server().json(json!({"display_name": format!("hooked {i}")})).send(),
        )
        .await;
        r.assert_status(201);
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    receiver.delay(Duration::ZERO);
    receiver.wait_for_events("user.created", 3).await;
}

#[tokio::test]
async fn connections_past_the_bound_get_503_and_retry_after() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|c| c.max_connections = 2).await;
    // Two idle keep-alive connections take the two places…
    let held: Vec<tokio::net::TcpStream> = vec![
        tokio::net::TcpStream::connect(app.server.addr).await.unwrap(),
        tokio::net::TcpStream::connect(app.server.addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    // …so the third is answered 503 with Retry-After and closed.
    let mut third = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    third.write_all(b"GET /api/v1 HTTP/1.1\r\nhost: x\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    answered(Duration::from_secs(5), "the refused connection", third.read_to_string(&mut answer)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Retry-After: 1"));
    let body: serde_json::Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(body["message"].as_str().unwrap().contains("too many connections"));
    // Once they close, connections are served again.
    drop(held);
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(format!("{}/api/v1", app.base)).await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("served again once the held connections closed");
}

#[tokio::test]
async fn request_bodies_held_at_once_are_bounded() {
    use tokio::io::AsyncWriteExt;
    let app = spawn_app_with(|c| c.body_budget_bytes = 4 * 1024 * 1024).await;
    // A slow upload announces the largest body allowed and sends none of it: the whole budget is
    // reserved for it while the server waits…
    let mut slow = tokio::net::TcpStream::connect(app.server.addr).await.unwrap();
    slow.write_all(
        b"POST /api/v1/users HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 4194304\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut refused = None;
    for _ in 0..100 {
        let r = app.post("/api/v1/users").server().json(json!({"display_name": "small"})).send().await;
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // …so another body is refused with 503 + Retry-After instead of adding to memory…
    let refused = refused.expect("a body past the budget is refused");
    assert_eq!(refused.headers["retry-after"], "1");
    // …and accepted again once the slow upload is gone. GETs never needed the budget.
    app.get("/api/v1/users").server().send().await.assert_status(200);
    drop(slow);
    for _ in 0..100 {
        if app.post("/api/v1/users").server().json(json!({"display_name": "small"})).send().await.status == 201 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("bodies accepted again");
}

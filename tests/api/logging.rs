//! Operability: one log line per request, and no secret ever reaches the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::helpers::spawn_app;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn requests_are_logged_once_without_secrets() {
    // The only test that installs a global subscriber; other tests' lines may appear too.
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).init();

    let app = spawn_app().await;
    let password = "very-secret-password-42";
    let r = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .json(json!({"email": "logs@example.com", "password": password}))
        .send()
        .await;
    let b = r.json();
    let (access, refresh) =
        (b["access_token"].as_str().unwrap().to_string(), b["refresh_token"].as_str().unwrap().to_string());
    app.get("/api/v1/users/me").client().token(&access).send().await.assert_status(200);
    app.refresh(&refresh).send().await.assert_status(200);
    let probe = app.get("/api/v1/users/me?probe=1").server().token(&access).send().await;
    let request_id = probe.header("x-stack-request-id").unwrap().to_string();
    app.post("/api/v1/auth/password/sign-in")
        .client()
        .json(json!({"email": "logs@example.com", "password": "wrong-password"}))
        .send()
        .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for secret in [password, access.as_str(), refresh.as_str(), &app.internal.ssk, &app.internal.pck, &app.other.sak] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    let line: Vec<&str> = logs.lines().filter(|l| l.contains(&request_id)).collect();
    assert_eq!(line.len(), 1, "exactly one line for the request: {line:?}");
    for part in ["method=GET", "path=/api/v1/users/me", "status=400", "duration_ms="] {
        assert!(line[0].contains(part), "{part} missing from {}", line[0]);
    }
    assert!(!line[0].contains("probe"), "query strings are not logged");
}

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
    // Scoped to this test's thread: the server runs on this (current-thread) runtime, so its
    // request lines are captured and no other test's lines can mix in.
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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
    // As the SDK sends it: the status override turns the 400 into a 200 on the wire…
    let failed = app
        .post("/api/v1/auth/password/sign-in")
        .client()
        .header("x-stack-override-error-status", "true")
        .json(json!({"email": "logs@example.com", "password": "wrong-password"}))
        .send()
        .await;
    assert_eq!(failed.status, 200);
    let failed_id = failed.header("x-stack-request-id").unwrap().to_string();

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
    assert!(line[0].contains("error_code=SCHEMA_ERROR"), "{}", line[0]);
    // …but the log records the real status and the KnownError code.
    let failed_line = logs.lines().find(|l| l.contains(&failed_id)).expect("the failed sign-in is logged");
    assert!(failed_line.contains("status=400"), "{failed_line}");
    assert!(failed_line.contains("error_code=EMAIL_PASSWORD_MISMATCH"), "{failed_line}");
    assert!(!failed_line.contains('\u{1b}'), "no colour codes");
}

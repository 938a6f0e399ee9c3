//! Operability: one log line per request with its real status and KnownError code, and no secret
//! ever reaches the logs. Read from the real binary's standard error (no subscriber is installed in
//! the test process, so nothing here depends on other tests).

use std::io::{BufRead, BufReader, Read};

use serde_json::{json, Value};

use crate::helpers::start_binary;

const PCK: &str = "this-publishable-client-key-is-for-local-development-only";
const SSK: &str = "this-secret-server-key-is-for-local-development-only";

#[tokio::test]
async fn requests_are_logged_once_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_binary(&dir.path().join("log.db"), &[], "info", true);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .header("x-stack-access-type", "client")
            .header("x-stack-project-id", "internal")
            .header("x-stack-publishable-client-key", PCK)
    };

    let password = "very-secret-password-42";
    let b: Value = call(reqwest::Method::POST, "/api/v1/auth/password/sign-up")
        .json(&json!({"email": "logs@example.com", "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (access, refresh) =
        (b["access_token"].as_str().unwrap().to_string(), b["refresh_token"].as_str().unwrap().to_string());
    let me =
        call(reqwest::Method::GET, "/api/v1/users/me").header("x-stack-access-token", &access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let refreshed = call(reqwest::Method::POST, "/api/v1/auth/sessions/current/refresh")
        .header("x-stack-refresh-token", &refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let probe = http
        .get(format!("{base}/api/v1/users/me?probe=1"))
        .header("x-stack-access-type", "server")
        .header("x-stack-project-id", "internal")
        .header("x-stack-secret-server-key", SSK)
        .header("x-stack-access-token", &access)
        .send()
        .await
        .unwrap();
    let request_id = probe.headers()["x-stack-request-id"].to_str().unwrap().to_string();
    // As the SDK sends it: the status override turns the 400 into a 200 on the wire…
    let failed = call(reqwest::Method::POST, "/api/v1/auth/password/sign-in")
        .header("x-stack-override-error-status", "true")
        .json(&json!({"email": "logs@example.com", "password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 200);
    let failed_id = failed.headers()["x-stack-request-id"].to_str().unwrap().to_string();

    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();

    for secret in [password, access.as_str(), refresh.as_str(), SSK, PCK] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains(&request_id)).collect();
    assert_eq!(lines.len(), 1, "exactly one line for the request: {logs}");
    for part in ["method=GET", "path=/api/v1/users/me", "status=400", "error_code=SCHEMA_ERROR", "duration_ms="] {
        assert!(lines[0].contains(part), "{part} missing from {}", lines[0]);
    }
    assert!(!lines[0].contains("probe"), "query strings are not logged");
    // …but the log records the real status and the KnownError code.
    let failed_line = logs.lines().find(|l| l.contains(&failed_id)).expect("the failed sign-in is logged");
    assert!(failed_line.contains("status=400"), "{failed_line}");
    assert!(failed_line.contains("error_code=EMAIL_PASSWORD_MISMATCH"), "{failed_line}");
    assert!(!logs.contains('\u{1b}'), "no colour codes when stderr is not a terminal");
}

#[tokio::test]
async fn the_development_mailbox_logs_each_message_with_its_links() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = start_binary(&dir.path().join("mail.db"), &[], "info", true);
    let mut line = String::new();
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}/api/v1/auth/otp/send-sign-in-code"))
        .header("x-stack-access-type", "client")
        .header("x-stack-project-id", "internal")
        .header("x-stack-publishable-client-key", PCK)
        .json(&json!({"email": "logged@example.com", "callback_url": "http://localhost:3000/cb"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let found = loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break None;
        }
        if line.contains("development mailbox") && line.contains("logged@example.com") {
            break Some(line.clone());
        }
    };
    child.kill().unwrap();
    let found = found.expect("the message is logged");
    assert!(found.contains("http://localhost:3000/cb?code="), "{found}");
    assert!(found.contains("Sign in to Stack Dashboard"), "{found}");
}

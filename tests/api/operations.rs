//! Operating the server: `/metrics` after known traffic, liveness and readiness, JSON logs with
//! request ids, online backup and restore, user export and import.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use crate::helpers::*;

fn stackd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stackd"))
}

/// Runs a command; (success, stdout, stderr).
fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// The value of one sample line `name{labels} value` of a Prometheus text page (0 when absent).
fn sample(page: &str, name_and_labels: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(name_and_labels).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

async fn metrics(app: &TestApp) -> String {
    let r = app.get("/metrics").send().await;
    r.assert_status(200);
    assert!(r.headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    r.text
}

#[tokio::test]
async fn metrics_count_known_traffic() {
    let app = spawn_app_with(|c| c.rate_limits = true).await;
    let before = metrics(&app).await;
    let (_, token, _) = app.sign_up("metrics@example.com").await;
    for _ in 0..3 {
        app.get("/api/v1/users/me").client().token(&token).send().await.assert_status(200);
    }
    app.get("/api/v1/users/me").client().token("not-a-token").send().await.assert_status(401);
    let page = metrics(&app).await;

    let me_ok = r#"stackd_http_requests_total{operation="get_current_user",method="GET",status="200"}"#;
    assert_eq!(sample(&page, me_ok) - sample(&before, me_ok), 3.0, "{page}");
    let me_401 = r#"stackd_http_requests_total{operation="get_current_user",method="GET",status="401"}"#;
    assert_eq!(sample(&page, me_401) - sample(&before, me_401), 1.0);
    let sign_ups = r#"stackd_http_requests_total{operation="sign_up_with_password",method="POST",status="200"}"#;
    assert_eq!(sample(&page, sign_ups), 1.0, "{page}");
    assert_eq!(
        sample(&page, r#"stackd_http_request_duration_seconds_count{operation="get_current_user"}"#),
        4.0 + sample(&before, r#"stackd_http_request_duration_seconds_count{operation="get_current_user"}"#)
    );
    // One password hashed, so one wait observed; the queue is empty now.
    assert_eq!(sample(&page, "stackd_password_hashing_wait_seconds_count"), 1.0);
    assert_eq!(sample(&page, "stackd_password_hashing_queued"), 0.0);
    // Write transactions were timed; the user cache answered the repeated reads.
    assert!(sample(&page, "stackd_db_write_duration_seconds_count") >= 1.0);
    assert!(sample(&page, r#"stackd_cache_hits{name="users"}"#) >= 2.0, "{page}");
    assert!(page.contains(r#"stackd_cache_misses{name="users"}"#));
    // The durable queues' backlogs (a sign-up e-mails nobody without an SMTP server: the
    // development mailbox takes it, so nothing waits).
    assert!(page.contains(r#"stackd_queue_backlog{name="email_outbox"}"#), "{page}");
    assert!(page.contains(r#"stackd_queue_backlog{name="webhook_deliveries"}"#));
    assert!(page.contains(r#"stackd_queue_oldest_age_seconds{name="email_outbox"}"#));
    assert!(page.contains("stackd_db_busy_retries_total"));
    assert!(page.contains("stackd_password_hashing_rejections_total 0"));
    assert!(page.contains("stackd_db_write_rejections_total 0"));
    // A path no operation serves is one label, not the path itself.
    app.get("/api/v1/no/such/thing/42").send().await.assert_status(404);
    let page = metrics(&app).await;
    assert!(page.contains(r#"operation="api_unmatched",method="GET",status="404""#));
    assert!(!page.contains("thing/42"));

    // Rate-limit rejections are counted by limit.
    let mut limited = 0;
    for _ in 0..40 {
        let r = app.sign_in("nobody@example.com", "wrong-password").await;
        if r.status == 429 {
            limited += 1;
        }
    }
    assert!(limited > 0);
    let page = metrics(&app).await;
    let rejections: f64 = page
        .lines()
        .filter(|l| l.starts_with("stackd_rate_limit_rejections_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(rejections, limited as f64, "{page}");
}

#[tokio::test]
async fn liveness_and_readiness() {
    let app = spawn_app().await;
    let live = app.get("/health/live").send().await;
    live.assert_status(200);
    assert_eq!(live.json()["status"], "ok");
    let ready = app.get("/health/ready").send().await;
    ready.assert_status(200);
    assert_eq!(ready.json()["status"], "ready");

    // Another process takes the write lock: not ready (the probe write cannot commit), still alive.
    let db = app.server.db_path();
    let locker = hold_write_lock(&db, 4.0);
    let ready = app.get("/health/ready").send().await;
    ready.assert_status(503);
    assert!(ready.headers.contains_key("retry-after"));
    assert!(ready.json()["reason"].as_str().unwrap().contains("2 seconds"), "{}", ready.text);
    app.get("/health/live").send().await.assert_status(200);
    assert!(locker.wait_with_output().unwrap().status.success());
    for _ in 0..100 {
        if app.get("/health/ready").send().await.status == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("ready again once the lock is gone");
}

/// Another process (Python's sqlite3) holding the database's write lock for `seconds`; it prints
/// `locked` once it holds it.
pub fn hold_write_lock(db: &Path, seconds: f64) -> std::process::Child {
    use std::io::{BufRead, BufReader};
    let script = format!(
        "import sqlite3, sys, time\n\
         c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=10)\n\
         c.execute('BEGIN IMMEDIATE')\n\
         c.execute('INSERT INTO readiness_probe (id, checked_at) VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET checked_at = 0')\n\
         print('locked', flush=True)\n\
         time.sleep({seconds})\n\
         c.execute('COMMIT')\n"
    );
    let mut child =
        Command::new("python3").args(["-c", &script]).arg(db).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    child
}

#[tokio::test]
async fn readiness_waits_for_the_database_at_start_and_json_logs_carry_request_ids() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stackd.db");
    stackd::db::Db::open(&db, false).unwrap().close();
    // Held while the server starts: it cannot create its development project until released.
    let locker = hold_write_lock(&db, 1.5);
    let mut child = KillOnDrop(
        stackd()
            .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--log-format", "json", "--db"])
            .arg(&db)
            .env("STACKD_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut logs = BufReader::new(child.0.stderr.take().unwrap()).lines();
    let starting: Value = loop {
        let line: Value = serde_json::from_str(&logs.next().unwrap().unwrap()).unwrap();
        if line.get("addr").is_some() {
            break line;
        }
    };
    assert_eq!(starting["level"], "INFO");
    let base = format!("http://{}", starting["addr"].as_str().unwrap());
    let http = reqwest::Client::new();
    let ready = http.get(format!("{base}/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "not ready while the database is being opened");
    assert_eq!(ready.headers()["retry-after"], "1");
    assert_eq!(http.get(format!("{base}/health/live")).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{base}/api/v1")).send().await.unwrap().status(), 503);
    assert!(locker.wait_with_output().unwrap().status.success());
    let mut status = 0;
    for _ in 0..200 {
        status = http.get(format!("{base}/health/ready")).send().await.unwrap().status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200);
    // Each request's line is JSON with its id (the one the response names).
    let r = http.get(format!("{base}/api/v1/users/me")).header("x-stack-access-type", "client").send().await.unwrap();
    let request_id = r.headers()["x-stack-request-id"].to_str().unwrap().to_string();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    drop(child);
    let lines: Vec<Value> = logs.map_while(Result::ok).filter_map(|l| serde_json::from_str(&l).ok()).collect();
    let request_line =
        lines.iter().find(|l| l["request_id"] == request_id.as_str()).expect("a JSON line with the request id");
    assert_eq!(request_line["message"], "request");
    assert_eq!(request_line["path"], "/api/v1/users/me");
}

#[tokio::test]
async fn backup_under_write_load_restores_a_consistent_copy() {
    let app = spawn_app().await;
    let db = app.server.db_path();
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("copy.db");
    // A writer creating users (each acknowledged creation is counted) while the backup runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let writer = {
        let (base, stop, acknowledged) = (app.base.clone(), stop.clone(), acknowledged.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http
                    .post(format!("{base}/api/v1/users"))
                    .header("x-stack-access-type", "server")
                    .header("x-stack-project-id", "internal")
                    .header("x-stack-secret-server-key", stackd::projects::DEV_SECRET_SERVER_KEY)
                    .json(&json!({"display_name": "written during the backup", "server_metadata": {"pad": "x".repeat(2000)}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 201);
                acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    while acknowledged.load(std::sync::atomic::Ordering::SeqCst) < 300 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = app.db_scalar("SELECT count(*) FROM users");
    let (ok, out, err) = {
        let (db, backup) = (db.clone(), backup.clone());
        tokio::task::spawn_blocking(move || run(stackd().args(["backup", "--to"]).arg(&backup).arg("--db").arg(&db)))
            .await
            .unwrap()
    };
    assert!(ok, "{err}");
    assert!(out.contains("Backed up"), "{out}");
    let after = app.db_scalar("SELECT count(*) FROM users");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    assert!(after > before, "writes went on during the backup");
    // The copy is whole and holds one moment of the database: between the two counts.
    stackd::backup::check(&backup).unwrap();
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let copied: i64 = copy.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
    assert!((before..=after).contains(&copied), "{before} ≤ {copied} ≤ {after}");
    let metadata_rows: i64 = copy
        .query_row(
            "SELECT count(*) FROM users WHERE server_metadata IS NOT NULL AND json_valid(server_metadata)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(metadata_rows >= copied - 1);
    drop(copy);
    // An existing target is not overwritten.
    let (ok, _, err) = run(stackd().args(["backup", "--to"]).arg(&backup).arg("--db").arg(&db));
    assert!(!ok && err.contains("already exists"), "{err}");

    // Restore refuses a database a running server holds…
    let (ok, _, err) = run(stackd().arg("restore").arg(&backup).arg("--db").arg(&db));
    assert!(!ok && err.contains("stop the server"), "{err}");
    // …refuses what is not a stackd database…
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"not a database at all, just bytes").unwrap();
    let target = dir.path().join("restored.db");
    let (ok, _, err) = run(stackd().arg("restore").arg(&junk).arg("--db").arg(&target));
    assert!(!ok && err.contains("junk.db"), "{err}");
    // …and restores into a stopped one, keeping the replaced file.
    std::fs::write(&target, b"").unwrap();
    let (ok, out, err) = run(stackd().arg("restore").arg(&backup).arg("--db").arg(&target));
    assert!(ok, "{err}");
    assert!(out.contains("before-restore"), "{out}");
    let (server, _dir) = app.into_server();
    server.stop().await;
    let restored = stackd::server::start(stackd::config::Config::for_tests(target.clone()), false).await.unwrap();
    let count =
        restored.db.read_now(|c| Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))?)).unwrap();
    assert_eq!(count, copied);
    restored.stop().await;
}

#[test]
fn scheduled_backups_keep_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stackd.db");
    stackd::db::Db::open(&db, false).unwrap().close();
    let schedule = stackd::config::BackupSchedule {
        dir: dir.path().join("backups"),
        every: std::time::Duration::from_secs(3600),
        keep: 2,
    };
    let mut taken = vec![];
    for _ in 0..4 {
        taken.push(stackd::backup::scheduled(&db, &schedule).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let mut kept: Vec<_> = std::fs::read_dir(&schedule.dir).unwrap().map(|e| e.unwrap().path()).collect();
    kept.sort();
    assert_eq!(kept, taken[2..].to_vec(), "the two newest are kept");
    for file in kept {
        stackd::backup::check(&file).unwrap();
    }
}

/// Every user of `internal` in `db`, exported by the command line, as JSON values.
fn export(db: &Path, to: &Path) -> Vec<Value> {
    let (ok, _, err) =
        run(stackd().args(["users", "export", "--project", "internal", "--to"]).arg(to).arg("--db").arg(db));
    assert!(ok, "{err}");
    assert!(err.contains("Exported"), "{err}");
    std::fs::read_to_string(to).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn fresh_database(dir: &Path, name: &str) -> std::path::PathBuf {
    let db = dir.join(name);
    let database = stackd::db::Db::open(&db, false).unwrap();
    stackd::projects::service::ensure_dev_internal_project(&database).unwrap();
    database.close();
    db
}

#[tokio::test]
async fn export_and_import_round_trip_field_by_field() {
    let app = spawn_app().await;
    // A password user with a team, metadata, a second e-mail and an OAuth link…
    let (alice, _, _) = app.sign_up("alice@example.com").await;
    app.patch(&format!("/api/v1/users/{alice}"))
        .server()
        .json(json!({"display_name": "Alice", "client_metadata": {"theme": "dark"}, "server_metadata": {"plan": "pro", "n": [1, 2]}}))
        .send()
        .await
        .assert_status(200);
    app.post("/api/v1/contact-channels")
        .server()
        .json(json!({"user_id": alice, "type": "email", "value": "alice@work.example", "used_for_auth": false, "is_verified": true}))
        .send()
        .await
        .assert_status(201);
    let team = app
        .post("/api/v1/teams")
        .server()
        .json(json!({"display_name": "Team A", "creator_user_id": alice}))
        .send()
        .await;
    team.assert_status(201);
    app.post("/api/v1/oauth-providers")
        .server()
        .json(json!({"user_id": alice, "provider_config_id": "github", "account_id": "gh-123", "email": "alice@github.example", "allow_sign_in": true, "allow_connected_accounts": true}))
        .send()
        .await
        .assert_status(201);
    // …a user whose password was imported as bcrypt, and an anonymous one.
    let bcrypt = bcrypt::hash("bcrypt-password", 4).unwrap();
    app.create_user(
        json!({"primary_email": "bob@example.com", "primary_email_auth_enabled": true, "password_hash": bcrypt}),
    )
    .await;
    app.post("/api/v1/auth/anonymous/sign-up").client().send().await.assert_status(200);

    let dir = tempfile::tempdir().unwrap();
    let first = export(&app.server.db_path(), &dir.path().join("first.jsonl"));
    assert_eq!(first.len(), 3);
    let a = first.iter().find(|u| u["id"] == alice.as_str()).unwrap();
    assert!(a["password_hash"].as_str().unwrap().starts_with("$argon2id$"));
    assert_eq!(a["contact_channels"].as_array().unwrap().len(), 2);
    assert_eq!(a["oauth_providers"][0]["account_id"], "gh-123");
    assert_eq!(a["teams"][0]["team_display_name"], "Team A");
    assert_eq!(a["server_metadata"], json!({"plan": "pro", "n": [1, 2]}));

    // Into a fresh database, then out again: the same users, field by field.
    let target = fresh_database(dir.path(), "target.db");
    let (ok, out, err) =
        run(stackd().arg("users").arg("import").arg(dir.path().join("first.jsonl")).arg("--db").arg(&target));
    assert!(ok, "{err}");
    assert!(out.contains("Imported 3 users"), "{out}");
    let second = export(&target, &dir.path().join("second.jsonl"));
    assert_eq!(first, second);
    // A re-run changes nothing.
    let (ok, out, _) =
        run(stackd().arg("users").arg("import").arg(dir.path().join("first.jsonl")).arg("--db").arg(&target));
    assert!(ok);
    assert!(out.contains("Imported 0 users") && out.contains("3 already present"), "{out}");

    // The imported hashes sign in: argon2id and bcrypt.
    let (server, _dir) = app.into_server();
    server.stop().await;
    let imported = stackd::server::start(stackd::config::Config::for_tests(target.clone()), false).await.unwrap();
    let http = reqwest::Client::new();
    for (email, password) in [("alice@example.com", "password-123"), ("bob@example.com", "bcrypt-password")] {
        let r = http
            .post(format!("http://{}/api/v1/auth/password/sign-in", imported.addr))
            .header("x-stack-access-type", "client")
            .header("x-stack-project-id", "internal")
            .header("x-stack-publishable-client-key", stackd::projects::DEV_PUBLISHABLE_CLIENT_KEY)
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{email}");
    }
    imported.stop().await;
}

#[test]
fn an_invalid_line_is_reported_by_number_and_never_half_written() {
    let dir = tempfile::tempdir().unwrap();
    let db = fresh_database(dir.path(), "stackd.db");
    let user = |id: &str, email: &str| {
        json!({"id": id, "signed_up_at_millis": 1_700_000_000_000i64, "password_hash": null,
               "contact_channels": [{"id": format!("{id}-c"), "type": "email", "value": email, "is_primary": true,
                                     "is_verified": true, "used_for_auth": true, "created_at_millis": 1_700_000_000_000i64}],
               "teams": [{"team_id": format!("{id}-team"), "team_display_name": "T", "joined_at_millis": 1_700_000_000_000i64}]})
        .to_string()
    };
    let lines = [
        user("user-1", "one@example.com"),
        "{ not json".to_string(),
        json!({"id": "user-3", "signed_up_at_millis": 1, "password_hash": "plaintext!"}).to_string(),
        // Its e-mail signs in user-1 already: refused by the database after its user row was written.
        user("user-4", "one@example.com"),
        String::new(),
        user("user-6", "six@example.com"),
        json!({"id": "user-7", "signed_up_at_millis": 1, "client_metadata": [1]}).to_string(),
    ];
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, out, err) = run(stackd().args(["users", "import", "--batch", "2"]).arg(&file).arg("--db").arg(&db));
    assert!(!ok, "invalid lines make the exit status non-zero");
    assert!(out.contains("Imported 2 users"), "{out}");
    for (line, words) in [(2, "not a user"), (3, "password_hash"), (4, "another user"), (7, "client_metadata")] {
        assert!(err.contains(&format!("line {line}: ")) && err.contains(words), "line {line}: {err}");
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0)).unwrap();
    assert_eq!(count("SELECT count(*) FROM users WHERE id LIKE 'user-%'"), 2);
    assert_eq!(count("SELECT count(*) FROM teams WHERE id = 'user-4-team'"), 0, "nothing of user-4 stays");
    assert_eq!(count("SELECT count(*) FROM team_members WHERE user_id = 'user-6'"), 1);
}

//! First run, through the real binary: clear errors for a missing database directory, a wrong log
//! filter or a database already in use; hints for an empty production database and an unusable
//! default base URL; `1`/`0` for boolean variables; no colour codes when logs go to a file or pipe;
//! `stackd openapi | head` ends quietly.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes-long";

fn stackd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stackd"));
    c.env_remove("STACKD_LOG").env_remove("STACKD_DEV").env_remove("STACK_SERVER_SECRET").env_remove("STACKD_DB");
    c
}

/// Runs to completion (the command must exit by itself): (success, stdout, stderr).
fn run(c: &mut Command) -> (bool, String, String) {
    let out = c.stdin(Stdio::null()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Starts a server and collects standard error until `wanted` appears (or 20 s pass), then stops it.
fn stderr_of_server(c: &mut Command, wanted: &str) -> String {
    let mut child: Child = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(wanted) {
                break;
            }
        }
        if let Ok(Some(_)) = child.try_wait() {
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                seen.push_str(&line);
                seen.push('\n');
            }
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
fn a_missing_database_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("no/such/dir/stackd.db");
    let (ok, _, err) = run(stackd().args(["project", "create", "--name", "x", "--db"]).arg(&db));
    assert!(!ok);
    assert!(err.contains("does not exist") && err.contains("mkdir -p"), "{err}");
    let (ok, _, err) = run(stackd().args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"]).arg(&db));
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn a_wrong_log_filter_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(stackd()
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("s.db"))
        .env("STACKD_LOG", "info,stackd=loud"));
    assert!(!ok);
    assert!(err.contains("STACKD_LOG"), "{err}");
}

#[test]
fn production_start_hints_and_warnings_without_colour() {
    let dir = tempfile::tempdir().unwrap();
    let logs = stderr_of_server(
        stackd()
            .args(["serve", "--listen", "0.0.0.0:0", "--db"])
            .arg(dir.path().join("p.db"))
            .env("STACK_SERVER_SECRET", SECRET),
        "stackd listening",
    );
    assert!(logs.contains("project create"), "hint to create a project: {logs}");
    assert!(logs.contains("--base-url"), "warning about the base URL: {logs}");
    assert!(logs.contains("stackd listening"), "{logs}");
    assert!(!logs.contains('\u{1b}'), "no colour codes when stderr is not a terminal: {logs:?}");
}

#[test]
fn boolean_variables_take_one_and_zero() {
    let dir = tempfile::tempdir().unwrap();
    let logs = stderr_of_server(
        stackd().args(["serve", "--listen", "127.0.0.1:0", "--db"]).arg(dir.path().join("d.db")).env("STACKD_DEV", "1"),
        "stackd listening",
    );
    assert!(logs.contains("stackd listening"), "STACKD_DEV=1 starts development mode: {logs}");
    let (ok, _, err) = run(stackd()
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.path().join("e.db"))
        .env("STACKD_DEV", "0"));
    assert!(!ok, "STACKD_DEV=0 is production mode, which needs a secret");
    assert!(err.contains("STACK_SERVER_SECRET"), "{err}");
}

#[test]
fn a_second_server_on_the_same_database_stops_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shared.db");
    let mut first = stackd()
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first one holds the database.
    let mut line = String::new();
    let mut reader = BufReader::new(first.stderr.take().unwrap());
    while reader.read_line(&mut line).unwrap() > 0 && !line.contains("stackd listening") {}
    let (ok, _, err) = run(stackd().args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"]).arg(&db));
    let _ = first.kill();
    let _ = first.wait();
    assert!(!ok);
    assert!(err.contains("already in use"), "{err}");
}

#[test]
fn openapi_into_a_closed_pipe_ends_quietly() {
    let mut child = stackd().arg("openapi").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 16];
    child.stdout.as_mut().unwrap().read_exact(&mut first).unwrap();
    drop(child.stdout.take()); // like `| head -c 16`
    let status = child.wait().unwrap();
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(status.success(), "{status:?}: {err}");
}

/// `stackd project list` and `stackd project keys create|list|revoke`: an operator who lost the keys
/// printed at creation mints new ones, and revokes the old set, without the API.
#[test]
fn project_keys_are_managed_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stackd.db");
    let (ok, out, err) = run(stackd().args(["project", "create", "--name", "Shop", "--db"]).arg(&db));
    assert!(ok, "{err}");
    let project = out.lines().find_map(|l| l.trim().strip_prefix("Project id:")).unwrap().trim().to_string();

    let (ok, out, err) = run(stackd().args(["project", "list", "--db"]).arg(&db));
    assert!(ok, "{err}");
    let row = out.lines().find(|l| l.starts_with(&project)).unwrap_or_else(|| panic!("{out}"));
    assert!(row.contains("Shop") && row.split_whitespace().nth(2) == Some("1"), "one live key set: {row}");

    let (ok, out, err) = run(stackd()
        .args(["project", "keys", "create", "--project", &project, "--expires-in-days", "30", "--db"])
        .arg(&db));
    assert!(ok, "{err}");
    let ssk = out.lines().find_map(|l| l.trim().strip_prefix("Secret server key:")).unwrap().trim().to_string();
    assert!(ssk.starts_with("ssk_"), "{out}");
    let new_set = out.split_whitespace().nth(3).unwrap().to_string();

    let (ok, out, _) = run(stackd().args(["project", "keys", "list", "--project", &project, "--db"]).arg(&db));
    assert!(ok);
    assert!(out.contains(&new_set) && out.contains(&format!("ssk…{}", &ssk[45..])), "{out}");
    assert!(!out.contains(&ssk), "the list shows last four characters only");
    let old_set = out
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.starts_with("id"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .find(|id| *id != new_set)
        .unwrap();

    let (ok, out, err) =
        run(stackd().args(["project", "keys", "revoke", "--project", &project, "--id", &old_set, "--db"]).arg(&db));
    assert!(ok, "{err}");
    assert!(out.contains("Revoked"), "{out}");
    let (_, out, _) = run(stackd().args(["project", "list", "--db"]).arg(&db));
    let row = out.lines().find(|l| l.starts_with(&project)).unwrap();
    assert_eq!(row.split_whitespace().nth(2), Some("1"), "the new set is the live one: {row}");
    let (ok, _, err) = run(stackd()
        .args(["project", "keys", "revoke", "--project", &project, "--id", &uuid::Uuid::new_v4().to_string(), "--db"])
        .arg(&db));
    assert!(!ok && err.contains("not found"), "{err}");
    // Listing never creates a database.
    let (ok, _, err) = run(stackd().args(["project", "list", "--db"]).arg(dir.path().join("typo.db")));
    assert!(!ok && err.contains("no database at"), "{err}");
    assert!(!dir.path().join("typo.db").exists());
}

/// Config as code: `stackd project apply FILE` validates like the admin PATCH, prints what it
/// changes (secrets hidden), and a second run changes nothing.
#[test]
fn project_configuration_files_apply_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stackd.db");
    let (ok, out, err) = run(stackd().args(["project", "create", "--name", "Shop", "--db"]).arg(&db));
    assert!(ok, "{err}");
    let project = out.lines().find_map(|l| l.trim().strip_prefix("Project id:")).unwrap().trim().to_string();
    let file = dir.path().join("shop.json");
    let write = |doc: serde_json::Value| std::fs::write(&file, doc.to_string()).unwrap();
    write(serde_json::json!({
        "project_id": project,
        "display_name": "Shop 2",
        "config": {
            "sign_up_enabled": false,
            "domains": [{"domain": "https://shop.example.com", "handler_path": "/handler"}],
            "oauth_providers": [{"id": "google", "type": "standard", "client_id": "g-id", "client_secret": "g-secret"}]
        }
    }));
    let (ok, out, err) = run(stackd().args(["project", "apply"]).arg(&file).arg("--db").arg(&db));
    assert!(ok, "{err}");
    assert!(out.contains("display_name: \"Shop\" → \"Shop 2\""), "{out}");
    assert!(out.contains("config.sign_up_enabled: true → false"), "{out}");
    assert!(out.contains("config.oauth_providers"), "{out}");
    assert!(!out.contains("g-secret"), "secrets are not printed: {out}");
    let (ok, out, _) = run(stackd().args(["project", "apply"]).arg(&file).arg("--db").arg(&db));
    assert!(ok && out.contains("nothing changed"), "{out}");

    write(serde_json::json!({"project_id": project, "config": {"sign_up_enabld": false}}));
    let (ok, _, err) = run(stackd().args(["project", "apply"]).arg(&file).arg("--db").arg(&db));
    assert!(!ok && err.contains("sign_up_enabld"), "the bad key is named: {err}");
    write(serde_json::json!({"project_id": project, "config": {"oauth_account_merge_strategy": "merge_everything"}}));
    let (ok, _, err) = run(stackd().args(["project", "apply"]).arg(&file).arg("--db").arg(&db));
    assert!(!ok && err.contains("oauth_account_merge_strategy"), "{err}");
    write(serde_json::json!({"project_id": "no-such-project", "config": {}}));
    let (ok, _, err) = run(stackd().args(["project", "apply"]).arg(&file).arg("--db").arg(&db));
    assert!(!ok && err.contains("no project"), "{err}");
}

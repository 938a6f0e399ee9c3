//! `spawn_app()`: the real server on an ephemeral port with a temporary database, and a small
//! request builder that speaks the Stack Auth header conventions.

use reqwest::Method;
use serde_json::{json, Value};
use stackd::config::Config;
use stackd::projects::{self, service::create_with_keys, ProjectConfig};
use stackd::server::RunningServer;

pub use crate::smtp_sink::SmtpSink;

#[derive(Clone, Debug)]
pub struct Keys {
    pub project_id: String,
    pub pck: String,
    pub ssk: String,
    pub sak: String,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub server: RunningServer,
    /// The development project `internal` with upstream's well-known keys.
    pub internal: Keys,
    /// A second project created like `stackd project create`.
    pub other: Keys,
    _dir: tempfile::TempDir,
}

/// The real server with an SMTP sink of its own as the server's mail server.
pub async fn spawn_app_with_smtp() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |c| c.mail.smtp = Some(stackd::mail::SmtpSettings::from_url(&url).unwrap())).await;
    (app, sink)
}

/// The real binary (`stackd serve --dev` on an ephemeral port, database `db`, then `extra` flags),
/// with `STACKD_LOG=log`; its standard error is piped (read it from the child) when `capture_logs`,
/// else discarded. Returns the child and
/// the base URL read from the development banner; the rest of standard output is drained in the
/// background, so the server never writes into a closed pipe.
#[allow(clippy::zombie_processes)] // the caller owns the returned child and waits for it
pub fn start_binary(
    db: &std::path::Path,
    extra: &[&str],
    log: &str,
    capture_logs: bool,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stackd"))
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        .env("STACKD_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(if capture_logs { Stdio::piped() } else { Stdio::null() })
        .spawn()
        .unwrap();
    let mut banner = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        if banner.read_line(&mut line).unwrap() == 0 {
            let status = child.wait().unwrap();
            panic!("stackd exited ({status}) before printing its banner");
        }
        if let Some(url) = line.split("Base URL (SDK baseUrl):").nth(1) {
            std::thread::spawn(move || std::io::copy(&mut banner, &mut std::io::sink()));
            return (child, url.trim().to_string());
        }
    }
}

/// A server process that goes away with the test, also when the test fails half-way.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A trusted callback URL of `internal` (localhost is allowed there).
pub const CALLBACK: &str = "http://localhost:3000/handler/callback";

/// The real server in development mode (no rate limits) on an ephemeral port.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with a changed configuration (rate limits on, a short header timeout…).
pub async fn spawn_app_with(change: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::for_tests(dir.path().join("stackd.db"));
    change(&mut config);
    let server = stackd::server::start(config, false).await.expect("server starts");
    let (_, keys) = server
        .db
        .write_now(|tx| create_with_keys(tx, "Other project", ProjectConfig::new_project()))
        .expect("second project");
    TestApp {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        internal: Keys {
            project_id: "internal".into(),
            pck: projects::DEV_PUBLISHABLE_CLIENT_KEY.into(),
            ssk: projects::DEV_SECRET_SERVER_KEY.into(),
            sak: projects::DEV_SUPER_SECRET_ADMIN_KEY.into(),
        },
        other: Keys {
            project_id: server
                .db
                .read_now(|c| Ok(c.query_row("SELECT id FROM projects WHERE id != 'internal'", [], |r| r.get(0))?))
                .unwrap(),
            pck: keys.publishable_client_key,
            ssk: keys.secret_server_key,
            sak: keys.super_secret_admin_key,
        },
        server,
        _dir: dir,
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum Access {
    None,
    Client,
    Server,
    Admin,
}

pub struct Call<'a> {
    app: &'a TestApp,
    method: Method,
    path: String,
    access: Access,
    keys: Keys,
    prefix: &'static str,
    headers: Vec<(String, String)>,
    body: Option<(String, Vec<u8>)>,
}

impl TestApp {
    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            app: self,
            method: method.parse().unwrap(),
            path: path.to_string(),
            access: Access::None,
            keys: self.internal.clone(),
            prefix: "x-stack-",
            headers: vec![],
            body: None,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call("GET", path)
    }
    pub fn post(&self, path: &str) -> Call<'_> {
        self.call("POST", path)
    }
    pub fn patch(&self, path: &str) -> Call<'_> {
        self.call("PATCH", path)
    }
    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call("DELETE", path)
    }

    /// Signs up `email` with a password on `internal`; returns (user id, access token, refresh token).
    pub async fn sign_up(&self, email: &str) -> (String, String, String) {
        let r = self
            .post("/api/v1/auth/password/sign-up")
            .client()
            .json(json!({"email": email, "password": "password-123"}))
            .send()
            .await;
        r.assert_status(200);
        let b = r.json();
        (
            b["user_id"].as_str().unwrap().into(),
            b["access_token"].as_str().unwrap().into(),
            b["refresh_token"].as_str().unwrap().into(),
        )
    }

    /// Password sign-in on `internal`; the response.
    pub async fn sign_in(&self, email: &str, password: &str) -> Resp {
        self.post("/api/v1/auth/password/sign-in")
            .client()
            .json(json!({"email": email, "password": password}))
            .send()
            .await
    }

    /// `POST /auth/sessions/current/refresh` with client access and the given refresh token.
    pub fn refresh(&self, refresh_token: &str) -> Call<'_> {
        self.post("/api/v1/auth/sessions/current/refresh").client().stack_header("refresh-token", refresh_token)
    }

    /// Creates a user through the server API; returns its id.
    pub async fn create_user(&self, body: Value) -> String {
        let r = self.post("/api/v1/users").server().json(body).send().await;
        r.assert_status(201);
        r.json()["id"].as_str().unwrap().to_string()
    }

    /// The running server and the directory holding its database, for tests that stop the server.
    pub fn into_server(self) -> (RunningServer, tempfile::TempDir) {
        (self.server, self._dir)
    }

    /// Whether `secret` appears anywhere in the database's files (main file and WAL), in any
    /// table, column or free page: the check that secrets are stored only as hashes.
    pub fn db_files_contain(&self, secret: &str) -> bool {
        let db = self._dir.path().join("stackd.db");
        let needle = secret.as_bytes();
        [db.clone(), db.with_extension("db-wal")].iter().any(|path| {
            let bytes = std::fs::read(path).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle)
        })
    }

    pub fn db_scalar(&self, sql: &str) -> i64 {
        self.db_scalar_with(sql, &[])
    }

    /// One integer from the database, with positional text parameters.
    pub fn db_scalar_with(&self, sql: &str, args: &[&str]) -> i64 {
        self.server.db.read_now(|c| Ok(c.query_row(sql, rusqlite::params_from_iter(args), |r| r.get(0))?)).unwrap()
    }

    /// Runs a statement on the database directly (to damage stored data on purpose).
    pub fn db_exec(&self, sql: &str) {
        self.server.db.write_now(|tx| Ok(tx.execute(sql, [])?)).unwrap();
    }

    /// Changes `internal`'s configuration directly (as an admin PATCH would).
    pub async fn configure(&self, config: Value) {
        self.patch("/api/v1/internal/projects/current")
            .admin()
            .json(json!({ "config": config }))
            .send()
            .await
            .assert_status(200);
    }
}

impl<'a> Call<'a> {
    pub fn client(mut self) -> Self {
        self.access = Access::Client;
        self
    }
    pub fn server(mut self) -> Self {
        self.access = Access::Server;
        self
    }
    pub fn admin(mut self) -> Self {
        self.access = Access::Admin;
        self
    }
    pub fn access(mut self, a: Access) -> Self {
        self.access = a;
        self
    }
    pub fn project(mut self, keys: &Keys) -> Self {
        self.keys = keys.clone();
        self
    }
    /// Send the headers as `x-hexclave-*`, as `@stackframe/js` 2.8.108 does.
    pub fn hexclave(mut self) -> Self {
        self.prefix = "x-hexclave-";
        self
    }
    pub fn token(self, t: &str) -> Self {
        self.stack_header("access-token", t)
    }
    pub fn allow_anonymous(self) -> Self {
        self.stack_header("allow-anonymous-user", "true")
    }
    pub fn stack_header(mut self, name: &str, value: &str) -> Self {
        let name = format!("{}{name}", self.prefix);
        self.headers.push((name, value.to_string()));
        self
    }
    /// Only `x-stack-access-type` and `x-stack-project-id`, no key: for testing the credential checks.
    pub fn bare(self, access_type: &str, project_id: &str) -> Self {
        self.header("x-stack-access-type", access_type).header("x-stack-project-id", project_id)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn json(mut self, v: Value) -> Self {
        self.body = Some(("application/json".into(), v.to_string().into_bytes()));
        self
    }
    pub fn raw(mut self, content_type: &str, body: &str) -> Self {
        self.body = Some((content_type.into(), body.as_bytes().to_vec()));
        self
    }

    pub async fn send(self) -> Resp {
        let mut req = self.app.http.request(self.method, format!("{}{}", self.app.base, self.path));
        let p = self.prefix;
        let (access, key_header, key) = match self.access {
            Access::None => (None, "", ""),
            Access::Client => (Some("client"), "publishable-client-key", self.keys.pck.as_str()),
            Access::Server => (Some("server"), "secret-server-key", self.keys.ssk.as_str()),
            Access::Admin => (Some("admin"), "super-secret-admin-key", self.keys.sak.as_str()),
        };
        if let Some(a) = access {
            req = req
                .header(format!("{p}access-type"), a)
                .header(format!("{p}project-id"), &self.keys.project_id)
                .header(format!("{p}{key_header}"), key);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        if let Some((ct, body)) = self.body {
            req = req.header("content-type", ct).body(body);
        }
        let resp = req.send().await.expect("request is answered");
        Resp {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            text: resp.text().await.unwrap_or_default(),
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a KnownError: status, code in body and both headers, and `details` presence.
    #[track_caller]
    pub fn assert_known(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("x-stack-known-error"), Some(code), "body: {}", self.text);
        assert_eq!(self.header("x-hexclave-known-error"), Some(code));
        let body = self.json();
        assert_eq!(body["code"], code);
        assert!(body["error"].is_string());
        body
    }

    #[track_caller]
    pub fn assert_plain(&self, status: u16) -> &str {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert!(self.header("x-stack-known-error").is_none());
        assert!(self.header("content-type").unwrap_or_default().starts_with("text/plain"), "{:?}", self.headers);
        &self.text
    }
}

//! A misbehaving OpenID Connect provider on an ephemeral loopback port: its discovery document
//! is correct, its token endpoint fails the way the test sets (500, a hang, `invalid_grant`,
//! `access_denied`, `invalid_client`) or succeeds, and its user-info endpoint answers with a fixed
//! user (or 503); it also serves a JWKS at `/auth/keys`, Apple's path.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TokenMode {
    Ok,
    ServerError,
    Hang,
    InvalidGrant,
    InvalidClient,
    AccessDenied,
    UserInfoDown,
}

pub struct StubProvider {
    pub issuer: String,
    mode: Arc<Mutex<TokenMode>>,
    /// Served at `/auth/keys` (Apple's JWKS path).
    jwks: Arc<Mutex<String>>,
}

impl StubProvider {
    pub fn start() -> StubProvider {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(TokenMode::Ok));
        let jwks = Arc::new(Mutex::new(r#"{"keys":[]}"#.to_string()));
        let (m, iss, keys) = (mode.clone(), issuer.clone(), jwks.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (m, iss, keys) = (m.clone(), iss.clone(), keys.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.trim_end().split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = reader.read_exact(&mut body);
                    let path = request_line.split(' ').nth(1).unwrap_or("/").to_string();
                    let mode = *m.lock().unwrap();
                    let (status, body) = if path.starts_with("/.well-known/openid-configuration") {
                        (
                            200,
                            format!(
                                r#"{{"issuer":"{iss}","authorization_endpoint":"{iss}/authorize","token_endpoint":"{iss}/token","userinfo_endpoint":"{iss}/userinfo"}}"#
                            ),
                        )
                    } else if path.starts_with("/token") {
                        match mode {
                            TokenMode::Ok | TokenMode::UserInfoDown => (
                                200,
                                r#"{"access_token":"stub-access","token_type":"Bearer","expires_in":3600}"#.into(),
                            ),
                            TokenMode::ServerError => (500, r#"{"error":"server_error"}"#.into()),
                            TokenMode::Hang => {
                                std::thread::sleep(Duration::from_secs(5));
                                (200, "{}".into())
                            }
                            TokenMode::InvalidGrant => (400, r#"{"error":"invalid_grant"}"#.into()),
                            TokenMode::InvalidClient => (401, r#"{"error":"invalid_client"}"#.into()),
                            TokenMode::AccessDenied => (400, r#"{"error":"access_denied"}"#.into()),
                        }
                    } else if path.starts_with("/auth/keys") {
                        (200, keys.lock().unwrap().clone())
                    } else if path.starts_with("/userinfo") {
                        match mode {
                            TokenMode::UserInfoDown => (503, "{}".into()),
                            _ => (
                                200,
                                r#"{"sub":"stub-1","email":"stub@example.com","email_verified":true,"name":"Stub"}"#
                                    .into(),
                            ),
                        }
                    } else {
                        (404, "{}".into())
                    };
                    let reason = if status == 200 { "OK" } else { "Error" };
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        StubProvider { issuer, mode, jwks }
    }

    pub fn set_jwks(&self, jwks: String) {
        *self.jwks.lock().unwrap() = jwks;
    }

    pub fn set(&self, mode: TokenMode) {
        *self.mode.lock().unwrap() = mode;
    }
}

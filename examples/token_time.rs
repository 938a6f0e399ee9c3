//! Prints the mean time (µs) to sign and to verify one access token (cold, no cache), used by `make bench`.

use std::time::Instant;

use stackd::tokens::{AccessClaims, TokenKind, TokenService};

fn main() {
    let svc = TokenService::new(stackd::config::DEV_SERVER_SECRET, "http://localhost:8102", 600);
    let claims = AccessClaims {
        iss: TokenKind::Normal.issuer("http://localhost:8102", "internal"),
        aud: "internal".into(),
        sub: "0f4b3a43-6a1d-4ec5-9bdb-9a3b7bbd5b58".into(),
        iat: 1,
        exp: i64::MAX / 2,
        project_id: "internal".into(),
        branch_id: "main".into(),
        refresh_token_id: "6c0a4d8e-2f7a-4b8e-9a51-3c4f0e1d2b7a".into(),
        role: "authenticated".into(),
        name: Some("Bench".into()),
        email: Some("bench@example.com".into()),
        email_verified: false,
        selected_team_id: None,
        signed_up_at: 1,
        is_anonymous: false,
        is_restricted: false,
        restricted_reason: None,
        requires_totp_mfa: false,
    };
    let rounds = 2000;
    let start = Instant::now();
    let mut tokens = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let mut c = claims.clone();
        c.iat = i as i64;
        tokens.push(svc.sign(&c));
    }
    let sign_us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    let start = Instant::now();
    for t in &tokens {
        svc.verify(t, 2).expect("valid");
    }
    let verify_us = start.elapsed().as_secs_f64() * 1e6 / rounds as f64;
    println!("sign {sign_us:.1} µs, verify (uncached) {verify_us:.1} µs");
}

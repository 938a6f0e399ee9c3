//! Access tokens: claims and issuer/audience variants, refusal of foreign, expired, tampered and
//! unsigned tokens, and the JWKS (verified here with the keys it publishes).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use p256::ecdsa::signature::Verifier;
use serde_json::{json, Value};
use stackd::tokens::AccessClaims;

use crate::helpers::spawn_app;

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

fn header_of(token: &str) -> Value {
    serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn normal_tokens_carry_every_claim() {
    let app = spawn_app().await;
    let (user_id, token, _) = app.sign_up("claims@example.com").await;
    assert_eq!(header_of(&token).as_object().unwrap().keys().collect::<Vec<_>>(), ["alg", "kid"]);
    assert_eq!(header_of(&token)["alg"], "ES256");
    let c = claims_of(&token);
    assert_eq!(c["iss"], format!("{}/api/v1/projects/internal", app.server.base_url));
    assert_eq!(c["aud"], "internal");
    assert_eq!(c["sub"], user_id);
    assert_eq!(c["project_id"], "internal");
    assert_eq!(c["branch_id"], "main");
    assert_eq!(c["role"], "authenticated");
    assert_eq!(c["email"], "claims@example.com");
    assert_eq!(c["email_verified"], false);
    assert_eq!(c["name"], Value::Null);
    assert_eq!(c["selected_team_id"], Value::Null);
    assert_eq!(c["is_anonymous"], false);
    assert_eq!(c["is_restricted"], false);
    assert_eq!(c["restricted_reason"], Value::Null);
    assert_eq!(c["requires_totp_mfa"], false);
    assert_eq!(c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap(), 600);
    assert!(c["refresh_token_id"].as_str().unwrap().len() == 36);
    let signed_up_secs = c["signed_up_at"].as_i64().unwrap();
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    assert_eq!(signed_up_secs, me["signed_up_at_millis"].as_i64().unwrap() / 1000);
}

#[tokio::test]
async fn anonymous_and_restricted_variants_need_opt_in() {
    let app = spawn_app().await;
    let r = app.post("/api/v1/auth/anonymous/sign-up").client().send().await;
    let anon = r.json()["access_token"].as_str().unwrap().to_string();
    let c = claims_of(&anon);
    assert_eq!(c["aud"], "internal:anon");
    assert_eq!(c["iss"], format!("{}/api/v1/projects-anonymous-users/internal", app.server.base_url));
    assert_eq!((c["is_anonymous"].clone(), c["is_restricted"].clone()), (json!(true), json!(true)));
    assert_eq!(c["restricted_reason"], json!({"type": "anonymous"}));
    app.get("/api/v1/users/me")
        .client()
        .token(&anon)
        .send()
        .await
        .assert_known(401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    app.get("/api/v1/users/me")
        .client()
        .token(&anon)
        .stack_header("allow-restricted-user", "true")
        .send()
        .await
        .assert_known(401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED");
    let me = app.get("/api/v1/users/me").client().token(&anon).allow_anonymous().send().await;
    assert_eq!(me.json()["is_anonymous"], true);

    let (user_id, _, refresh) = app.sign_up("restricted@example.com").await;
    app.patch(&format!("/api/v1/users/{user_id}"))
        .server()
        .json(json!({"restricted_by_admin": true, "restricted_by_admin_reason": "spam"}))
        .send()
        .await
        .assert_status(200);
    let r = app.refresh(&refresh).send().await;
    let restricted = r.json()["access_token"].as_str().unwrap().to_string();
    let c = claims_of(&restricted);
    assert_eq!(c["aud"], "internal:restricted");
    assert_eq!(c["iss"], format!("{}/api/v1/projects-restricted-users/internal", app.server.base_url));
    assert_eq!(c["restricted_reason"], json!({"type": "restricted_by_administrator"}));
    let r = app.get("/api/v1/users/me").client().token(&restricted).send().await;
    assert_eq!(
        r.assert_known(403, "RESTRICTED_USER_NOT_ALLOWED")["details"],
        json!({"restricted_reason": {"type": "restricted_by_administrator"}})
    );
    app.get("/api/v1/users/me")
        .client()
        .token(&restricted)
        .stack_header("allow-restricted-user", "true")
        .send()
        .await
        .assert_status(200);
    app.get("/api/v1/users/me").client().token(&restricted).allow_anonymous().send().await.assert_status(200);
}

#[tokio::test]
async fn foreign_expired_tampered_and_unsigned_tokens_are_refused() {
    let app = spawn_app().await;
    let (user_id, token, _) = app.sign_up("victim@example.com").await;

    // Signed for `internal`, presented to another project.
    let r = app.get("/api/v1/users/me").client().project(&app.other).token(&token).send().await;
    let b = r.assert_known(401, "INVALID_PROJECT_FOR_ACCESS_TOKEN");
    assert_eq!(b["details"], json!({"expected_project_id": app.other.project_id, "actual_project_id": "internal"}));

    // Expired: same claims, exp in the past, signed with the server's own key.
    let mut claims: AccessClaims = serde_json::from_value(claims_of(&token)).unwrap();
    claims.exp = claims.iat - 1;
    let expired = app.server.services.infra.tokens.sign(&claims);
    let r = app.get("/api/v1/users/me").client().token(&expired).send().await;
    let b = r.assert_known(401, "ACCESS_TOKEN_EXPIRED");
    assert_eq!(b["details"]["user_id"], user_id);
    assert_eq!(b["details"]["project_id"], "internal");
    assert_eq!(b["details"]["expired_at_millis"], json!(claims.exp * 1000));
    assert_eq!(b["details"]["refresh_token_id"], json!(claims.refresh_token_id));

    // A claim changed after signing.
    let parts: Vec<&str> = token.split('.').collect();
    let mut forged = claims_of(&token);
    forged["sub"] = json!("00000000-0000-4000-8000-000000000000");
    let tampered = format!("{}.{}.{}", parts[0], B64.encode(forged.to_string()), parts[2]);
    app.get("/api/v1/users/me").client().token(&tampered).send().await.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");

    // alg: none with no signature.
    let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), parts[1]);
    app.get("/api/v1/users/me").client().token(&none).send().await.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");

    // A token minted by a server with another secret (same claims, same project).
    let other = stackd::tokens::TokenService::new(&"x".repeat(40), &app.server.base_url, 600);
    let mut c: AccessClaims = serde_json::from_value(claims_of(&token)).unwrap();
    c.exp += 10;
    app.get("/api/v1/users/me")
        .client()
        .token(&other.sign(&c))
        .send()
        .await
        .assert_known(401, "UNPARSABLE_ACCESS_TOKEN");

    app.get("/api/v1/users/me").client().token("not-a-jwt").send().await.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");
    // The genuine token still works.
    app.get("/api/v1/users/me").client().token(&token).send().await.assert_status(200);
}

#[tokio::test]
async fn jwks_publishes_the_verifying_keys() {
    let app = spawn_app().await;
    let url = "/api/v1/projects/internal/.well-known/jwks.json";
    let r = app.get(url).send().await;
    r.assert_status(200);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    let keys = r.json()["keys"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 1);
    for k in &keys {
        assert_eq!(k.as_object().unwrap().len(), 6);
        assert_eq!(
            (k["kty"].as_str(), k["alg"].as_str(), k["crv"].as_str()),
            (Some("EC"), Some("ES256"), Some("P-256"))
        );
    }
    for (query, expected) in [
        ("?include_restricted=true", 2),
        ("?include_anonymous=true", 3),
        ("?include_anonymous=false&include_restricted=false", 1),
    ] {
        let r = app.get(&format!("{url}{query}")).send().await;
        assert_eq!(r.json()["keys"].as_array().unwrap().len(), expected, "{query}");
    }
    app.get(&format!("{url}?include_anonymous=maybe")).send().await.assert_known(400, "SCHEMA_ERROR");
    app.get(&format!("{url}?extra=1")).send().await.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(
        app.get("/api/v1/projects/6fbbf22e-f4b2-4c6e-95a1-beab6fa41063/.well-known/jwks.json")
            .send()
            .await
            .assert_plain(404),
        "Project not found"
    );
    app.get("/api/v1/projects/not-a-uuid/.well-known/jwks.json").send().await.assert_plain(404);

    // Every token kind verifies against the published key with the matching kid.
    let all = app.get(&format!("{url}?include_anonymous=true")).send().await.json()["keys"].as_array().unwrap().clone();
    let kids: std::collections::HashSet<_> = all.iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect();
    assert_eq!(kids.len(), 3);
    let (_, normal, _) = app.sign_up("jwks@example.com").await;
    let anon = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    for token in [normal, anon] {
        let kid = header_of(&token)["kid"].as_str().unwrap().to_string();
        let jwk = all.iter().find(|k| k["kid"] == kid.as_str()).expect("kid is published");
        let mut sec1 = vec![4u8];
        sec1.extend(B64.decode(jwk["x"].as_str().unwrap()).unwrap());
        sec1.extend(B64.decode(jwk["y"].as_str().unwrap()).unwrap());
        let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1).unwrap();
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&B64.decode(sig).unwrap()).unwrap();
        key.verify(signed.as_bytes(), &sig).expect("signature verifies with the JWKS key");
    }
    // Other projects have other keys.
    let other =
        app.get(&format!("/api/v1/projects/{}/.well-known/jwks.json", app.other.project_id)).send().await.json();
    assert!(!kids.contains(other["keys"][0]["kid"].as_str().unwrap()));
}

//! Request pipeline: auth header resolution order, both header families, error envelope,
//! body/schema errors, status override, CORS, 404/405, root, health and version endpoints.

use serde_json::json;

use crate::helpers::{spawn_app, Access};

#[tokio::test]
async fn root_describes_the_authentication() {
    let app = spawn_app().await;
    let r = app.get("/api/v1").send().await;
    assert!(r.assert_plain(200).ends_with("\n\nAuthentication: None"));
    let r = app.get("/api/v1").client().send().await;
    assert!(r.assert_plain(200).ends_with("Authentication: Client\n  Project: internal\n  User: None"));
    let (_, token, _) = app.sign_up("root@example.com").await;
    let r = app.get("/api/v1").server().token(&token).send().await;
    assert!(r.assert_plain(200).ends_with("Authentication: Server\n  Project: internal\n  User: root@example.com"));
    let r = app.get("/api/v1?x=1").send().await;
    let body = r.assert_known(400, "SCHEMA_ERROR");
    assert!(body["details"]["message"].as_str().unwrap().contains("query contains unknown properties: x"));
}

#[tokio::test]
async fn auth_headers_resolve_in_upstream_order() {
    let app = spawn_app().await;
    let users = "/api/v1/users/me";

    let r = app.get(users).header("x-stack-secret-server-key", "ssk_x").send().await;
    let b = r.assert_known(400, "PROJECT_KEY_WITHOUT_ACCESS_TYPE");
    assert!(b.get("details").is_none());

    let r = app.get(users).bare("Client", "internal").send().await;
    assert!(r.assert_known(400, "INVALID_ACCESS_TYPE").get("details").is_none());

    let r = app.get(users).header("x-stack-access-type", "server").send().await;
    assert_eq!(r.assert_known(400, "ACCESS_TYPE_WITHOUT_PROJECT_ID")["details"], json!({"request_type": "server"}));

    let missing = "6fbbf22e-f4b2-4c6e-95a1-beab6fa41063";
    let r = app.get(users).bare("client", missing).send().await;
    assert_eq!(r.assert_known(400, "CURRENT_PROJECT_NOT_FOUND")["details"], json!({"project_id": missing}));

    // A token error wins over "project not found".
    let r = app.get(users).bare("client", missing).header("x-stack-access-token", "garbage").send().await;
    r.assert_known(401, "UNPARSABLE_ACCESS_TOKEN");

    let r = app.get(users).bare("client", "internal").header("x-stack-publishable-client-key", "wrong").send().await;
    assert_eq!(r.assert_known(401, "INVALID_PUBLISHABLE_CLIENT_KEY")["details"], json!({"project_id": "internal"}));

    let r = app.get(users).bare("server", "internal").send().await;
    r.assert_known(401, "SERVER_AUTHENTICATION_REQUIRED");
    let r = app.get(users).bare("server", "internal").header("x-stack-secret-server-key", "ssk_wrong").send().await;
    assert_eq!(r.assert_known(401, "INVALID_SECRET_SERVER_KEY")["details"], json!({"project_id": "internal"}));
    let r = app.get(users).bare("admin", "internal").send().await;
    r.assert_known(401, "ADMIN_AUTHENTICATION_REQUIRED");
    let r = app.get(users).bare("admin", "internal").header("x-stack-super-secret-admin-key", "sak_wrong").send().await;
    r.assert_known(401, "INVALID_SUPER_SECRET_ADMIN_KEY");

    // Another project's keys are not this project's keys.
    let r = app.get(users).bare("server", "internal").header("x-stack-secret-server-key", &app.other.ssk).send().await;
    r.assert_known(401, "INVALID_SECRET_SERVER_KEY");

    // Keys of other access types are never checked; an empty header counts as absent.
    let r = app.get("/api/v1/projects/current").client().header("x-stack-secret-server-key", "nonsense").send().await;
    r.assert_status(200);
    let r = app
        .get("/api/v1/projects/current")
        .bare("client", "internal")
        .header("x-stack-publishable-client-key", "")
        .send()
        .await;
    r.assert_status(200);

    // Branches are checked only after credentials.
    let r = app.get("/api/v1/projects/current").client().stack_header("branch-id", "dev").send().await;
    assert_eq!(r.assert_known(400, "BRANCH_DOES_NOT_EXIST")["details"], json!({"branch_id": "dev"}));
}

#[tokio::test]
async fn access_type_is_enforced_per_endpoint() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/users").send().await;
    r.assert_known(400, "ACCESS_TYPE_REQUIRED");
    let r = app.get("/api/v1/users").client().send().await;
    let b = r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    assert_eq!(b["details"], json!({"actual_access_type": "client", "allowed_access_types": ["server", "admin"]}));
    let r = app.get("/api/v1/internal/projects/current").server().send().await;
    assert_eq!(r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE")["details"]["allowed_access_types"], json!(["admin"]));
    // The access-type error wins over schema errors in the same request.
    let r = app.post("/api/v1/users").client().json(json!({"nonsense": 1})).send().await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let r = app.get("/api/v1/users?bogus=1").client().send().await;
    r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn hexclave_headers_are_accepted_and_both_error_headers_are_sent() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/projects/current").client().hexclave().send().await;
    r.assert_status(200);
    assert_eq!(r.json()["id"], "internal");
    let r = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .hexclave()
        .json(json!({"email": "hex@example.com", "password": "password-123"}))
        .send()
        .await;
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    let r = app.get("/api/v1/users/me").client().hexclave().token(&token).send().await;
    assert_eq!(r.json()["primary_email"], "hex@example.com");
    let r = app.get("/api/v1/users/me").client().hexclave().send().await;
    r.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
}

#[tokio::test]
async fn override_error_status_turns_4xx_into_200() {
    let app = spawn_app().await;
    for prefix in ["x-stack-", "x-hexclave-"] {
        let r =
            app.get("/api/v1/users/me").client().header(&format!("{prefix}override-error-status"), "true").send().await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-stack-actual-status"), Some("400"));
        assert_eq!(r.header("x-hexclave-actual-status"), Some("400"));
        assert_eq!(r.header("x-stack-known-error"), Some("CANNOT_GET_OWN_USER_WITHOUT_USER"));
    }
    // Successes are untouched.
    let r = app.get("/api/v1/projects/current").client().header("x-stack-override-error-status", "true").send().await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-stack-actual-status").is_none());
    // Plain errors are overridden too.
    let r = app.get("/api/v1/nope").header("x-stack-override-error-status", "true").send().await;
    assert_eq!((r.status, r.header("x-stack-actual-status")), (200, Some("404")));
}

#[tokio::test]
async fn bodies_must_parse_and_match_the_schema() {
    let app = spawn_app().await;
    let sign_up = "/api/v1/auth/password/sign-up";
    let r = app.post(sign_up).client().raw("application/json", "{not json").send().await;
    assert!(r.assert_known(400, "BODY_PARSING_ERROR").get("details").is_none());
    let r = app.post(sign_up).client().raw("application/json", "").send().await;
    r.assert_known(400, "BODY_PARSING_ERROR");
    let r = app.post(sign_up).client().raw("application/xml", "<a/>").send().await;
    r.assert_known(400, "BODY_PARSING_ERROR");
    // Body parsing comes before auth.
    let r = app.post(sign_up).header("x-stack-access-type", "bogus").raw("application/json", "{").send().await;
    r.assert_known(400, "BODY_PARSING_ERROR");

    let r = app.post("/api/v1/users").server().json(json!({"display_name": "x", "unknown_field": 1})).send().await;
    let b = r.assert_known(400, "SCHEMA_ERROR");
    let message = b["details"]["message"].as_str().unwrap();
    assert!(message.starts_with("Request validation failed on POST /api/v1/users:\n  - "), "{message}");
    assert_eq!(b["error"], b["details"]["message"]);
    let r = app.post("/api/v1/users").server().json(json!({"display_name": {"not": "a string"}})).send().await;
    r.assert_known(400, "SCHEMA_ERROR");
    let r = app.get("/api/v1/users?limit=0").server().send().await;
    r.assert_known(400, "SCHEMA_ERROR");
    let r = app.get("/api/v1/users?limit=abc").server().send().await;
    r.assert_known(400, "SCHEMA_ERROR");
    let r = app.post(sign_up).client().send().await;
    r.assert_known(400, "SCHEMA_ERROR");
    // A DELETE carrying `{}` (as the SDK sends it) is fine.
    let (_, token, _) = app.sign_up("del@example.com").await;
    let r = app.delete("/api/v1/auth/sessions/current").client().token(&token).json(json!({})).send().await;
    r.assert_status(200);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/does-not-exist").send().await;
    let text = r.assert_plain(404);
    assert!(text.starts_with("404"), "{text}");
    assert!(text.contains(&format!("URL: {}/api/v1/does-not-exist", app.base)), "{text}");
    // Auth is resolved even for unknown paths.
    let r = app.get("/api/v1/does-not-exist").bare("nope", "internal").send().await;
    r.assert_known(400, "INVALID_ACCESS_TYPE");
    let r = app.call("HEAD", "/api/v1/users").send().await;
    assert_eq!(r.status, 405);
    let r = app.call("PUT", "/api/v1/users/me").client().send().await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn every_api_response_carries_request_id_cors_and_cache_headers() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/users/me").client().send().await;
    let id = r.header("x-stack-request-id").unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.bytes().all(|c| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&c)));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("cache-control"), Some("no-store, max-age=0"));
    assert!(r.header("access-control-expose-headers").unwrap().contains("x-stack-known-error"));
    assert_ne!(id, app.get("/api/v1").send().await.header("x-stack-request-id").unwrap());

    let r = app
        .call("OPTIONS", "/api/v1/anything")
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .send()
        .await;
    r.assert_status(200);
    let allowed = r.header("access-control-allow-headers").unwrap();
    for h in [
        "x-stack-access-token",
        "x-hexclave-access-token",
        "x-hexclave-override-error-status",
        "ngrok-skip-browser-warning",
    ] {
        assert!(allowed.contains(h), "{h} missing from {allowed}");
    }
    assert!(r.header("x-stack-request-id").is_none());
    for h in ["x-stack-allow-restricted-user", "x-stack-development-override-key"] {
        assert!(!allowed.contains(h), "{h} must stay out of the browser allow-list");
    }
}

#[tokio::test]
async fn health_and_version_endpoints() {
    let app = spawn_app().await;
    let r = app.get("/health").send().await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"status": "ok"}));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));

    let r = app
        .post("/api/v1/check-version")
        .json(json!({"clientVersion": stackd::system::COMPATIBLE_SDK_VERSION}))
        .send()
        .await;
    assert_eq!(r.json(), json!({"upToDate": true}));
    let r = app.post("/api/v1/check-version").json(json!({"clientVersion": "1.0.0"})).send().await;
    assert_eq!(r.json()["severe"], true);
    let r = app
        .post("/api/v1/check-feature-support")
        .access(Access::None)
        .json(json!({"feature_name": "Teleportation"}))
        .send()
        .await;
    assert!(r.assert_plain(200).starts_with("Teleportation is not yet supported"));
}

#[tokio::test]
async fn admin_access_tokens_override_keys_and_required_publishable_keys() {
    let app = spawn_app().await;
    let me = "/api/v1/projects/current";
    let (_, token, _) = app.sign_up("dashboard@example.com").await;
    let bare = |access: &str| {
        app.get(me).header("x-stack-access-type", access).header("x-stack-project-id", &app.other.project_id)
    };

    bare("admin")
        .header("x-stack-admin-access-token", "garbage")
        .send()
        .await
        .assert_known(401, "UNPARSABLE_ADMIN_ACCESS_TOKEN");
    // A valid dashboard token, but no team of its user owns the project.
    bare("server")
        .header("x-stack-admin-access-token", &token)
        .send()
        .await
        .assert_known(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    let mut claims: stackd::tokens::AccessClaims = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims.exp = claims.iat - 5;
    let expired = app.server.services.infra.tokens.sign(&claims);
    let r = bare("admin").header("x-stack-admin-access-token", &expired).send().await;
    assert_eq!(
        r.assert_known(401, "ADMIN_ACCESS_TOKEN_EXPIRED")["details"],
        json!({"expired_at_millis": claims.exp * 1000})
    );

    // Development override key: internal's admin key opens any project in --dev; anything else is a plain 401.
    bare("admin").header("x-stack-development-override-key", &app.internal.sak).send().await.assert_status(200);
    bare("admin").header("x-stack-development-override-key", "nope").send().await.assert_plain(401);

    // Projects may require the publishable key; then the public sentinel is not enough either.
    app.server
        .db
        .write_now(|tx| {
            tx.execute("UPDATE projects SET config = json_set(config, '$.require_publishable_client_key', json('true')) WHERE id = 'internal'", [])?;
            tx.changed("projects", "internal");
            Ok(())
        })
        .unwrap();
    let keyless = || app.get(me).bare("client", "internal");
    let r = keyless().send().await;
    assert_eq!(
        r.assert_known(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT")["details"],
        json!({"project_id": "internal"})
    );
    keyless()
        .header("x-stack-publishable-client-key", "__stack_public_client__")
        .send()
        .await
        .assert_known(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
    app.get(me).client().send().await.assert_status(200);
    let form = "grant_type=refresh_token&refresh_token=x&client_id=internal";
    app.post("/api/v1/auth/oauth/token")
        .raw("application/x-www-form-urlencoded", form)
        .send()
        .await
        .assert_known(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
}

#[tokio::test]
async fn keyless_client_access_works_when_keys_are_optional() {
    let app = spawn_app().await;
    let keyless = app.get("/api/v1/projects/current").bare("client", "internal");
    keyless.send().await.assert_status(200);
    let sentinel = app
        .get("/api/v1/projects/current")
        .bare("client", "internal")
        .header("x-stack-publishable-client-key", "__stack_public_client__");
    sentinel.send().await.assert_status(200);
}

//! The config API (`/internal/config`, `/internal/config/override/{level}`, `/internal/config/source`)
//! and its agreement with the admin PATCH of `/internal/projects/current`.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

async fn config(app: &TestApp) -> Value {
    let r = app.get("/api/v1/internal/config").admin().send().await;
    r.assert_status(200);
    serde_json::from_str(r.json()["config_string"].as_str().unwrap()).unwrap()
}

async fn admin_project(app: &TestApp) -> Value {
    app.get("/api/v1/internal/projects/current").admin().send().await.json()["config"].clone()
}

async fn patch_override(app: &TestApp, level: &str, patch: Value) -> crate::helpers::Resp {
    app.patch(&format!("/api/v1/internal/config/override/{level}"))
        .admin()
        .json(json!({"config_override_string": patch.to_string()}))
        .send()
        .await
}

#[tokio::test]
async fn settings_round_trip_through_both_apis() {
    let app = spawn_app().await;
    // Admin PATCH → config API.
    app.patch("/api/v1/internal/projects/current")
        .admin()
        .json(json!({"config": {"magic_link_enabled": true, "domains": [{"domain": "https://shop.example", "handler_path": "/auth"}],
                                "email_config": {"type": "standard", "host": "smtp.example", "port": 587, "username": "u",
                                                 "password": "smtp-secret", "sender_name": "Shop", "sender_email": "no-reply@shop.example"}}}))
        .send()
        .await
        .assert_status(200);
    let c = config(&app).await;
    assert_eq!(c["auth"]["otp"]["allowSignIn"], true);
    let domains: Vec<&Value> = c["domains"]["trustedDomains"].as_object().unwrap().values().collect();
    assert_eq!(domains, [&json!({"baseUrl": "https://shop.example", "handlerPath": "/auth"})]);
    assert_eq!(c["emails"]["server"]["host"], "smtp.example");
    assert_eq!(c["emails"]["server"]["isShared"], false);
    assert!(!c.to_string().contains("smtp-secret"), "the SMTP password is never shown");

    // Config API (dotted and nested) → admin view.
    patch_override(
        &app,
        "environment",
        json!({"auth.passkey.allowSignIn": true, "teams": {"allowClientTeamCreation": true},
               "domains.trustedDomains.prod": {"baseUrl": "https://prod.example"},
               "rbac.permissions.editor": {"scope": "team", "description": "Edits", "containedPermissionIds": {"$read_members": true}},
               "rbac.defaultPermissions.teamMember": {"editor": true},
               "emails.server.senderName": "Shop Team"}),
    )
    .await
    .assert_status(200);
    let admin = admin_project(&app).await;
    assert_eq!(admin["passkey_enabled"], true);
    assert_eq!(admin["client_team_creation_enabled"], true);
    assert_eq!(admin["magic_link_enabled"], true, "settings the override does not name stay");
    assert_eq!(
        admin["domains"],
        json!([{"domain": "https://prod.example", "handler_path": "/handler"}, {"domain": "https://shop.example", "handler_path": "/auth"}])
    );
    assert_eq!(admin["team_member_default_permissions"], json!([{"id": "editor"}, {"id": "team_member"}]));
    assert_eq!(admin["email_config"]["sender_name"], "Shop Team");
    let defs = app.get("/api/v1/team-permission-definitions").admin().send().await.json();
    assert!(defs["items"].as_array().unwrap().iter().any(|d| d["id"] == "editor" && d["description"] == "Edits"));
    // The stored SMTP password survived the override that did not mention it.
    assert!(app.db_files_contain("smtp-secret"));

    // The override record reads back; the SDK's GET shape.
    let r = app.get("/api/v1/internal/config/override/environment").admin().send().await;
    let record: Value = serde_json::from_str(r.json()["config_string"].as_str().unwrap()).unwrap();
    assert_eq!(record["auth"]["passkey"]["allowSignIn"], true);
    assert_eq!(record["domains"]["trustedDomains"]["prod"]["baseUrl"], "https://prod.example");

    // reset-keys returns a path to its default and drops it from the record.
    app.post("/api/v1/internal/config/override/environment/reset-keys")
        .admin()
        .json(json!({"keys": ["auth.passkey.allowSignIn"]}))
        .send()
        .await
        .assert_status(200);
    assert_eq!(admin_project(&app).await["passkey_enabled"], false);
    let r = app.get("/api/v1/internal/config/override/environment").admin().send().await;
    let record: Value = serde_json::from_str(r.json()["config_string"].as_str().unwrap()).unwrap();
    assert!(record["auth"]["passkey"].get("allowSignIn").is_none());
}

#[tokio::test]
async fn replacing_an_override_resets_what_it_no_longer_sets() {
    let app = spawn_app().await;
    let put = |config: Value, source: Option<Value>| {
        let mut body = json!({"config_string": config.to_string()});
        if let Some(s) = source {
            body["source"] = s;
        }
        app.call("PUT", "/api/v1/internal/config/override/branch").admin().json(body).send()
    };
    put(
        json!({"auth.otp.allowSignIn": true, "users.allowClientUserDeletion": true}),
        Some(json!({"type": "pushed-from-unknown"})),
    )
    .await
    .assert_status(200);
    let admin = admin_project(&app).await;
    assert_eq!(
        (admin["magic_link_enabled"].clone(), admin["client_user_deletion_enabled"].clone()),
        (json!(true), json!(true))
    );
    let source = app.get("/api/v1/internal/config/source").admin().send().await.json();
    assert_eq!(source["source"], json!({"type": "pushed-from-unknown"}));

    put(json!({"users": {"allowClientUserDeletion": true}}), Some(json!({"type": "pushed-from-unknown"})))
        .await
        .assert_status(200);
    let admin = admin_project(&app).await;
    assert_eq!(admin["magic_link_enabled"], false, "no longer set: back to the default");
    assert_eq!(admin["client_user_deletion_enabled"], true);

    // Branch level needs a source; unlinking keeps the settings.
    let r = put(json!({}), None).await;
    assert!(r.assert_plain(400).contains("source is required"));
    app.delete("/api/v1/internal/config/source").admin().send().await.assert_status(200);
    assert_eq!(
        app.get("/api/v1/internal/config/source").admin().send().await.json()["source"],
        json!({"type": "unlinked"})
    );
    assert_eq!(admin_project(&app).await["client_user_deletion_enabled"], true);

    // The project level carries requirePublishableClientKey (what the SDK's update() sends).
    app.get("/api/v1/projects/current").bare("client", "internal").send().await.assert_status(200);
    patch_override(&app, "project", json!({"project.requirePublishableClientKey": true})).await.assert_status(200);
    app.get("/api/v1/projects/current")
        .bare("client", "internal")
        .send()
        .await
        .assert_known(401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT");
}

#[tokio::test]
async fn invalid_config_is_a_schema_error_naming_the_path() {
    let app = spawn_app().await;
    for (patch, path) in [
        (json!({"auth.allowSignUp": "yes"}), "config.auth.allowSignUp"),
        (json!({"auth.nonsense": true}), "config.auth.nonsense"),
        (json!({"auth.oauth.accountMergeStrategy": "merge_everything"}), "oauth_account_merge_strategy"),
        (json!({"auth.oauth.providers.github": {"type": "github", "isShared": false}}), "client_id and client_secret"),
        (json!({"rbac.permissions.x.scope": "galaxy"}), "config.rbac.permissions.x.scope"),
        (json!({"domains.trustedDomains.a.baseUrl": "ftp://x"}), "http:// or https://"),
    ] {
        let r = patch_override(&app, "environment", patch.clone()).await;
        let body = r.assert_known(400, "SCHEMA_ERROR");
        assert!(body["error"].as_str().unwrap().contains(path), "{patch}: {body}");
    }
    // Nothing of a refused override was applied.
    assert_eq!(config(&app).await["auth"]["allowSignUp"], true);
    let r = app
        .patch("/api/v1/internal/config/override/environment")
        .admin()
        .json(json!({"config_override_string": "{not json"}))
        .send()
        .await;
    assert!(r.assert_plain(400).contains("Invalid config JSON"));
    let r = app.get("/api/v1/internal/config/override/galaxy").admin().send().await;
    r.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn access_rules() {
    let app = spawn_app().await;
    app.get("/api/v1/internal/config").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.get("/api/v1/internal/config").client().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    // Server keys reach only the branch level.
    app.get("/api/v1/internal/config/override/branch").server().send().await.assert_status(200);
    let r = app.get("/api/v1/internal/config/override/environment").server().send().await;
    assert!(r.assert_plain(403).contains("branch"));
    let r = app
        .patch("/api/v1/internal/config/override/project")
        .server()
        .json(json!({"config_override_string": "{}"}))
        .send()
        .await;
    r.assert_plain(403);
    app.get("/api/v1/internal/config/override/branch")
        .client()
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn a_stored_override_that_cannot_be_read_is_an_error_not_an_empty_one() {
    let app = spawn_app().await;
    patch_override(&app, "environment", json!({"auth.otp.allowSignIn": true})).await.assert_status(200);
    app.db_exec("UPDATE config_overrides SET config = '{broken' WHERE level = 'environment'");
    let r = app.get("/api/v1/internal/config/override/environment").admin().send().await;
    r.assert_status(500);
    patch_override(&app, "environment", json!({"auth.otp.allowSignIn": false})).await.assert_status(500);
    assert_eq!(config(&app).await["auth"]["otp"]["allowSignIn"], true, "the failed write changed nothing");
}

//! Projects: client and admin views, admin PATCH, and projects made by `stackd project create`.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn client_view_of_the_development_project() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/projects/current").client().send().await;
    let p = r.json();
    assert_eq!(p["id"], "internal");
    assert_eq!(p["display_name"], "Stack Dashboard");
    assert_eq!(
        p["config"],
        json!({
            "sign_up_enabled": true, "credential_enabled": true, "magic_link_enabled": true, "passkey_enabled": false,
            "client_team_creation_enabled": true, "client_user_deletion_enabled": false,
            "allow_user_api_keys": true, "allow_team_api_keys": true, "enabled_oauth_providers": [{"id": "github"}, {"id": "google"}, {"id": "microsoft"}, {"id": "spotify"}],
            "domains": []
        })
    );
    // Server and admin callers get the same stripped shape here.
    assert_eq!(app.get("/api/v1/projects/current").admin().send().await.json(), p);
    app.get("/api/v1/projects/current").send().await.assert_known(400, "ACCESS_TYPE_REQUIRED");
}

#[tokio::test]
async fn admins_read_and_patch_the_full_configuration() {
    let app = spawn_app().await;
    let p = app.get("/api/v1/internal/projects/current").admin().send().await.json();
    assert_eq!(p["description"], "Stack's admin dashboard");
    assert_eq!(p["onboarding_status"], "completed");
    assert_eq!(p["config"]["team_member_default_permissions"], json!([{"id": "team_member"}]));
    assert_eq!(p["config"]["team_creator_default_permissions"], json!([{"id": "team_admin"}]));
    assert_eq!(p["config"]["email_config"], json!({"type": "shared"}));
    assert_eq!(p["config"]["allow_localhost"], true);
    for access in ["client", "server"] {
        let r = app
            .call("GET", "/api/v1/internal/projects/current")
            .access(if access == "client" { crate::helpers::Access::Client } else { crate::helpers::Access::Server })
            .send()
            .await;
        r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    }

    let r = app
        .patch("/api/v1/internal/projects/current")
        .admin()
        .json(json!({
            "display_name": "Renamed", "description": null,
            "config": {"magic_link_enabled": false, "domains": [{"domain": "https://app.example.com", "handler_path": "/handler"}]}
        }))
        .send()
        .await;
    let p = r.json();
    assert_eq!((p["display_name"].clone(), p["description"].clone()), (json!("Renamed"), json!("")));
    assert_eq!(p["config"]["magic_link_enabled"], false);
    assert_eq!(p["config"]["credential_enabled"], true, "omitted settings stay");
    // The change is visible to the next request (the project cache was refreshed).
    let client = app.get("/api/v1/projects/current").client().send().await.json();
    assert_eq!(client["display_name"], "Renamed");
    assert_eq!(client["config"]["domains"], json!([{"domain": "https://app.example.com", "handler_path": "/handler"}]));
    // Trusted domains are used by redirect checks.
    let r = app.post("/api/v1/auth/password/sign-up").client().json(json!({"email": "d@example.com", "password": "password-123", "verification_callback_url": "https://app.example.com/verify"})).send().await;
    r.assert_status(200);

    let bad = |body: serde_json::Value| app.patch("/api/v1/internal/projects/current").admin().json(body);
    bad(json!({"config": {"no_such_setting": true}})).send().await.assert_known(400, "SCHEMA_ERROR");
    bad(json!({"config": {"domains": [{"domain": "app.example.com", "handler_path": "/h"}]}}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    bad(json!({"onboarding_status": "sleeping"})).send().await.assert_known(400, "SCHEMA_ERROR");
    bad(json!({"config": {"oauth_account_merge_strategy": "merge_everything"}}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn projects_created_by_the_cli_have_working_hashed_keys() {
    let app = spawn_app().await;
    let other = app.other.clone();
    assert!(other.pck.starts_with("pck_") && other.ssk.starts_with("ssk_") && other.sak.starts_with("sak_"));
    assert_eq!(other.pck.len(), 49);
    app.get("/api/v1/projects/current").client().project(&other).send().await.assert_status(200);
    app.get("/api/v1/users").server().project(&other).send().await.assert_status(200);
    app.get("/api/v1/internal/projects/current").admin().project(&other).send().await.assert_status(200);
    // Only hashes and last-four characters are stored.
    for key in [&other.pck, &other.ssk, &other.sak] {
        assert!(!app.db_files_contain(key), "a project key is stored in plain text");
    }
    let last4: String = app
        .server
        .db
        .read_now(|c| {
            Ok(c.query_row(
                "SELECT secret_server_key_last4 FROM api_key_sets WHERE project_id = ?1",
                [&other.project_id],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    assert!(other.ssk.ends_with(&last4));
    // A new project signs its users' tokens with its own keys.
    let r = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .project(&other)
        .json(json!({"email": "p2@example.com", "password": "password-123"}))
        .send()
        .await;
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    app.get("/api/v1/users/me").client().project(&other).token(&token).send().await.assert_status(200);
}

/// A project whose stored configuration does not parse is an error, never silently the defaults
/// (which would turn sign-up on and the publishable-key requirement off).
#[tokio::test]
async fn a_corrupt_stored_config_is_an_error_not_defaults() {
    let app = crate::helpers::spawn_app().await;
    app.server
        .db
        .write_now(|tx| {
            tx.execute(
                "UPDATE projects SET config = json_set(config, '$.sign_up_enabled', 'maybe') WHERE id = ?1",
                [&app.other.project_id],
            )?;
            tx.changed("projects", &app.other.project_id);
            Ok(())
        })
        .unwrap();
    let r = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .project(&app.other)
        .json(serde_json::json!({"email": "corrupt@example.com", "password": "password-123"}))
        .send()
        .await;
    assert_eq!(r.status, 500, "{}", r.text);
    assert!(!r.text.contains("sign_up_enabled"), "the cause is logged, not sent");
    // Other projects are unaffected.
    app.get("/api/v1/projects/current").client().send().await.assert_status(200);
}

#[tokio::test]
async fn oauth_provider_settings_are_patched_as_a_list_and_shown_to_clients() {
    let app = spawn_app().await;
    let patch = |providers: serde_json::Value| {
        app.patch("/api/v1/internal/projects/current").admin().json(json!({"config": {"oauth_providers": providers}}))
    };
    let r = patch(json!([
        {"id": "google", "type": "standard", "client_id": "g-id", "client_secret": "g-secret"},
        {"id": "github", "type": "shared"},
    ]))
    .send()
    .await;
    r.assert_status(200);
    assert_eq!(
        r.json()["config"]["oauth_providers"],
        json!([
            {"provider_config_id": "github", "id": "github", "type": "shared"},
            {"provider_config_id": "google", "id": "google", "type": "standard", "client_id": "g-id", "client_secret": "g-secret"},
        ])
    );
    let client = app.get("/api/v1/projects/current").client().send().await.json();
    assert_eq!(client["config"]["enabled_oauth_providers"], json!([{"id": "github"}, {"id": "google"}]));
    assert!(!client.to_string().contains("g-secret"), "clients never see provider secrets");

    for bad in [
        json!([{"id": "myspace", "type": "shared"}]),
        json!([{"id": "discord", "type": "shared"}]),
        json!([{"id": "google", "type": "standard", "client_id": "only-id"}]),
        json!([{"id": "github", "type": "shared"}, {"id": "github", "type": "shared"}]),
    ] {
        patch(bad.clone()).send().await.assert_known(400, "SCHEMA_ERROR");
    }
    patch(json!([])).send().await.assert_status(200);
    let client = app.get("/api/v1/projects/current").client().send().await.json();
    assert_eq!(client["config"]["enabled_oauth_providers"], json!([]));
}

/// `stackd serve --config FILE` applies the file before it accepts requests.
#[tokio::test]
async fn serve_applies_a_configuration_file_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("internal.json");
    std::fs::write(&file, json!({"project_id": "internal", "config": {"sign_up_enabled": false}}).to_string()).unwrap();
    let db = dir.path().join("stackd.db");
    let (mut child, base) = crate::helpers::start_binary(&db, &["--config", file.to_str().unwrap()], "warn", false);
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{base}/api/v1/auth/password/sign-up"))
        .header("x-stack-access-type", "client")
        .header("x-stack-project-id", "internal")
        .header("x-stack-publishable-client-key", stackd::projects::DEV_PUBLISHABLE_CLIENT_KEY)
        .json(&json!({"email": "x@example.com", "password": "password-123"}))
        .send()
        .await
        .unwrap();
    let code = r.headers().get("x-stack-known-error").map(|v| v.to_str().unwrap().to_string());
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(code.as_deref(), Some("SIGN_UP_NOT_ENABLED"));
}

const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

#[tokio::test]
async fn logos_given_as_image_data_are_stored_and_returned_as_urls() {
    let app = spawn_app().await;
    let patch = |body: serde_json::Value| app.patch("/api/v1/internal/projects/current").admin().json(body).send();
    let r = patch(json!({"logo_url": format!("data:image/png;base64,{PNG_1X1}"), "logo_full_url": "https://cdn.example.com/full.png"}))
        .await;
    let p = r.assert_status(200).json();
    let url = p["logo_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/api/v1/images/", app.base)), "{url}");
    assert_eq!(p["logo_full_url"], "https://cdn.example.com/full.png", "URLs are kept as given");
    let image = app.http.get(&url).send().await.unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    use base64::Engine;
    assert_eq!(
        image.bytes().await.unwrap().to_vec(),
        base64::engine::general_purpose::STANDARD.decode(PNG_1X1).unwrap()
    );
    assert_eq!(app.get("/api/v1/internal/projects/current").admin().send().await.json()["logo_url"], url.as_str());

    // Data that is not an image is refused, and nothing of the PATCH is applied.
    patch(json!({"logo_dark_mode_url": "data:image/png;base64,bm90IGFuIGltYWdl", "display_name": "Renamed"}))
        .await
        .assert_plain(400);
    let p = app.get("/api/v1/internal/projects/current").admin().send().await.json();
    assert_ne!(p["display_name"], "Renamed");
    assert!(p["logo_dark_mode_url"].is_null());
    let p = patch(json!({"logo_url": null})).await.json();
    assert!(p["logo_url"].is_null());
}

#[tokio::test]
async fn the_email_theme_must_be_one_of_the_projects() {
    let app = spawn_app().await;
    let patch = |theme: &str| {
        app.patch("/api/v1/internal/projects/current").admin().json(json!({"config": {"email_theme": theme}})).send()
    };
    let r = patch("0b6e0d6c-5b7a-4b65-9c2f-4f8f3f7c2a11").await;
    assert_eq!(r.assert_plain(400), "Invalid email theme");
    // A built-in theme, and one the project made.
    patch("1df07ae6-abf3-4a40-83a5-a1a2cbe336ac").await.assert_status(200);
    let mine =
        app.post("/api/v1/internal/email-themes").admin().json(json!({"display_name": "Mine"})).send().await.json()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(patch(&mine).await.json()["config"]["email_theme"], mine.as_str());
    // The same rule through the config API.
    let r = app
        .patch("/api/v1/internal/config/override/environment")
        .admin()
        .json(json!({"config_override_string": json!({"emails.selectedThemeId": "0b6e0d6c-5b7a-4b65-9c2f-4f8f3f7c2a11"}).to_string()}))
        .send()
        .await;
    assert_eq!(r.assert_plain(400), "Invalid email theme");
    let still = app.get("/api/v1/internal/projects/current").admin().send().await.json();
    assert_eq!(still["config"]["email_theme"], mine.as_str());
}

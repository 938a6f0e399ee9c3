//! Project key sets: `/internal/api-keys` (spec 20 §4.5, 00 §5.1) and `stackd project keys`.

use serde_json::json;

use crate::helpers::{spawn_app, Keys};

#[tokio::test]
async fn key_sets_are_shown_once_and_work_until_revoked() {
    let app = spawn_app().await;
    let far = 4_102_444_799_000i64;
    let r = app
        .post("/api/v1/internal/api-keys")
        .admin()
        .json(json!({"description": "backend", "expires_at_millis": far, "has_publishable_client_key": false,
                     "has_secret_server_key": true, "has_super_secret_admin_key": false}))
        .send()
        .await;
    r.assert_status(200);
    let set = r.json();
    let id = set["id"].as_str().unwrap().to_string();
    let ssk = set["secret_server_key"].as_str().unwrap().to_string();
    assert!(ssk.starts_with("ssk_") && ssk.len() == 49, "{ssk}");
    assert!(set.get("publishable_client_key").is_none() && set.get("super_secret_admin_key").is_none());
    assert_eq!(set["expires_at_millis"], far);
    assert!(!app.db_files_contain(&ssk), "only the hash is stored");

    let listed = app.get("/api/v1/internal/api-keys").admin().send().await.json();
    assert_eq!(listed["items"][0]["id"], id.as_str(), "newest first");
    assert_eq!(listed["items"][0]["secret_server_key"], json!({"last_four": &ssk[45..]}));
    assert!(listed["items"][0].get("publishable_client_key").is_none());
    let one = app.get(&format!("/api/v1/internal/api-keys/{id}")).admin().send().await.json();
    assert_eq!(one, listed["items"][0]);

    // The new key works for the project, next to the old set.
    let keys = Keys { ssk: ssk.clone(), ..app.internal.clone() };
    app.get("/api/v1/users").server().project(&keys).send().await.assert_status(200);
    app.get("/api/v1/users").server().send().await.assert_status(200);

    // Revoked: refused at once (the project's cached keys are dropped).
    let r = app.patch(&format!("/api/v1/internal/api-keys/{id}")).admin().json(json!({"revoked": true})).send().await;
    r.assert_status(200);
    let revoked_at = r.json()["manually_revoked_at_millis"].as_i64().unwrap();
    app.get("/api/v1/users").server().project(&keys).send().await.assert_known(401, "INVALID_SECRET_SERVER_KEY");
    let again = app
        .patch(&format!("/api/v1/internal/api-keys/{id}"))
        .admin()
        .json(json!({"revoked": true, "description": "old"}))
        .send()
        .await
        .json();
    assert_eq!(again["manually_revoked_at_millis"].as_i64().unwrap(), revoked_at);
    assert_eq!(again["description"], "old");

    app.patch(&format!("/api/v1/internal/api-keys/{}", uuid::Uuid::new_v4()))
        .admin()
        .json(json!({"revoked": true}))
        .send()
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
    app.get("/api/v1/internal/api-keys/not-an-id").admin().send().await.assert_known(404, "API_KEY_NOT_FOUND");
    app.get("/api/v1/internal/api-keys").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    // Another project's admin does not see this project's sets.
    let other = app.get(&format!("/api/v1/internal/api-keys/{id}")).admin().project(&app.other.clone()).send().await;
    other.assert_known(404, "API_KEY_NOT_FOUND");
}

#[tokio::test]
async fn an_expired_key_set_is_refused() {
    let app = spawn_app().await;
    let r = app
        .post("/api/v1/internal/api-keys")
        .admin()
        .json(json!({"description": "short", "expires_at_millis": 1000, "has_publishable_client_key": true,
                     "has_secret_server_key": false, "has_super_secret_admin_key": true}))
        .send()
        .await;
    r.assert_status(200);
    let set = r.json();
    let keys = Keys {
        pck: set["publishable_client_key"].as_str().unwrap().into(),
        sak: set["super_secret_admin_key"].as_str().unwrap().into(),
        ..app.internal.clone()
    };
    app.get("/api/v1/projects/current")
        .client()
        .project(&keys)
        .send()
        .await
        .assert_known(401, "INVALID_PUBLISHABLE_CLIENT_KEY");
    app.get("/api/v1/internal/api-keys")
        .admin()
        .project(&keys)
        .send()
        .await
        .assert_known(401, "INVALID_SUPER_SECRET_ADMIN_KEY");
    app.post("/api/v1/internal/api-keys")
        .admin()
        .json(json!({"description": "x", "expires_at_millis": 1000}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
}

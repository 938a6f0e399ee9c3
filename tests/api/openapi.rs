//! The OpenAPI document: served, complete, and identical to the committed copy.

use crate::helpers::spawn_app;

#[tokio::test]
async fn committed_spec_matches_what_the_server_serves() {
    let app = spawn_app().await;
    let generated = stackd::api::spec_json(&app.server.services);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap_or_default();
    assert!(generated == committed, "openapi/openapi.json is out of date: run `make openapi` and commit the result");

    let served: serde_json::Value = app.get("/api/v1/openapi.json").send().await.json();
    let generated: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(served, generated);
    app.get("/api/v1/docs/").send().await.assert_status(200);
}

#[tokio::test]
async fn every_operation_has_an_id_a_tag_and_a_description() {
    let app = spawn_app().await;
    let spec: serde_json::Value = serde_json::from_str(&stackd::api::spec_json(&app.server.services)).unwrap();
    let mut ids = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert_eq!(op["tags"].as_array().map(|t| t.len()), Some(1), "{id} needs exactly one tag");
            assert!(op["summary"].is_string() || op["description"].is_string(), "{id} has no description");
            assert!(op["responses"].get("400").is_some(), "{id} documents no error responses");
        }
    }
    for expected in
        ["get_current_user", "list_users", "create_user", "sign_in_with_password", "oauth_token", "get_jwks"]
    {
        assert!(ids.contains(expected), "{expected}");
    }
}

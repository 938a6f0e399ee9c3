//! The OpenAPI document: served, complete, and identical to the committed copy.

use crate::helpers::spawn_app;

#[tokio::test]
async fn committed_spec_matches_what_the_server_serves() {
    let app = spawn_app().await;
    let generated = stackd::api::spec_json(&app.server.services);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json")).unwrap_or_default();
    assert!(generated == committed, "openapi/openapi.json is out of date: run `make openapi` and commit the result");

    // Served as committed, except that "Try it out" points at the server itself.
    let mut served: serde_json::Value = app.get("/api/v1/openapi.json").send().await.json();
    assert_eq!(served["servers"][0]["variables"]["baseUrl"]["default"], app.base);
    served["servers"][0]["variables"]["baseUrl"]["default"] = "http://127.0.0.1:8102".into();
    let generated: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(served, generated);
    // The docs page embeds the finished document (with the header security schemes).
    let docs = app.get("/api/v1/docs").send().await;
    docs.assert_status(200);
    assert!(docs.text.contains("x-stack-access-type") && docs.text.contains("AccessToken"));
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

/// What the client generators tripped over: each property is checked on the document itself.
#[tokio::test]
async fn the_document_is_ready_for_client_generators() {
    let app = spawn_app().await;
    let spec: serde_json::Value = serde_json::from_str(&stackd::api::spec_json(&app.server.services)).unwrap();

    // A usable server URL with a variable, license and contact.
    assert_eq!(spec["servers"][0]["url"], "{baseUrl}/api/v1");
    assert!(spec["servers"][0]["variables"]["baseUrl"]["default"].as_str().unwrap().starts_with("http://"));
    assert!(spec["info"]["license"]["name"].is_string());
    assert!(spec["info"]["contact"]["url"].is_string());

    // Access type, project id and access token are security schemes, combined with the keys.
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    for (scheme, header) in [
        ("AccessType", "x-stack-access-type"),
        ("ProjectId", "x-stack-project-id"),
        ("AccessToken", "x-stack-access-token"),
        ("SecretServerKey", "x-stack-secret-server-key"),
    ] {
        assert_eq!(schemes[scheme]["name"], header);
        assert_eq!(schemes[scheme]["in"], "header");
    }
    let list_users = &spec["paths"]["/users"]["get"]["security"];
    assert!(list_users
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r.get("AccessType").is_some() && r.get("ProjectId").is_some()));
    assert!(list_users.as_array().unwrap().iter().any(|r| r.get("SecretServerKey").is_some()));
    assert!(list_users.as_array().unwrap().iter().all(|r| r.get("PublishableClientKey").is_none()));

    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        let Some(props) = schema["properties"].as_object() else { continue };
        let required: Vec<&str> =
            schema["required"].as_array().map(|r| r.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
        let mut folded = std::collections::HashSet::new();
        for (prop, def) in props {
            // No two properties that collide after case conversion (afterCallbackRedirectUrl vs after_callback_redirect_url).
            let key: String = prop.chars().filter(|c| *c != '_').flat_map(char::to_lowercase).collect();
            assert!(folded.insert(key), "{name}.{prop} collides with another property after case conversion");
            // Every optional property is nullable, and a nullable $ref is wrapped so OpenAPI 3.0 tools see it.
            if !required.contains(&prop.as_str()) {
                assert_eq!(def["nullable"], true, "{name}.{prop} is optional but not nullable");
                assert!(def.get("$ref").is_none(), "{name}.{prop}: nullable next to $ref is ignored by tools");
            }
        }
    }
    assert_eq!(
        schemas["ServerUser"]["properties"]["selected_team"]["allOf"][0]["$ref"],
        "#/components/schemas/ServerTeam"
    );

    // Closed sets are enums.
    let codes = schemas["KnownError"]["properties"]["code"]["enum"].as_array().unwrap();
    assert!(codes.iter().any(|c| c == "USER_EMAIL_ALREADY_EXISTS") && codes.len() > 100);
    assert_eq!(schemas["RestrictedReason"]["properties"]["type"]["enum"].as_array().unwrap().len(), 3);

    // One request media type per operation.
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(content) = op.pointer("/requestBody/content").and_then(|c| c.as_object()) {
                assert_eq!(content.len(), 1, "{method} {path} documents {} request media types", content.len());
            }
        }
    }
    // Rate limiting is documented once (one error type per operation, for generators like progenitor).
    let description = spec["info"]["description"].as_str().unwrap();
    assert!(description.contains("429") && description.contains("Retry-After"));
}

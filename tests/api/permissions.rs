//! Permission definitions, grants, nesting and the system permissions that guard team
//! operations (spec 20 §3).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp, CALLBACK};
use crate::teams::{add_member, client_team, server_team};

async fn define(app: &TestApp, scope: &str, id: &str, contained: &[&str]) {
    let r = app
        .post(&format!("/api/v1/{scope}-permission-definitions"))
        .admin()
        .json(json!({"id": id, "contained_permission_ids": contained}))
        .send()
        .await;
    r.assert_status(201);
}

async fn grant(app: &TestApp, team: &str, user: &str, perm: &str) {
    app.post(&format!("/api/v1/team-permissions/{team}/{user}/{perm}")).server().send().await.assert_status(201);
}

async fn revoke(app: &TestApp, team: &str, user: &str, perm: &str) {
    app.delete(&format!("/api/v1/team-permissions/{team}/{user}/{perm}")).server().send().await.assert_status(200);
}

fn perm_ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn definitions_share_one_namespace_and_patch_replaces() {
    let app = spawn_app().await;
    let list = app.get("/api/v1/team-permission-definitions").admin().send().await;
    list.assert_status(200);
    assert_eq!(
        perm_ids(&list.json()),
        [
            "$delete_team",
            "$invite_members",
            "$manage_api_keys",
            "$read_members",
            "$remove_members",
            "$update_team",
            "team_admin",
            "team_member"
        ]
    );
    assert_eq!(
        list.json()["items"][5],
        json!({"id": "$update_team", "description": "Update the team information", "contained_permission_ids": []})
    );
    app.get("/api/v1/team-permission-definitions").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");

    let r = app
        .post("/api/v1/team-permission-definitions")
        .admin()
        .json(json!({"id": "editor", "description": "Edits", "contained_permission_ids": ["$update_team", "team_member"]}))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(
        r.json(),
        json!({"id": "editor", "description": "Edits", "contained_permission_ids": ["$update_team", "team_member"]})
    );
    let r = app.post("/api/v1/project-permission-definitions").admin().json(json!({"id": "editor"})).send().await;
    let e = r.assert_known(400, "PERMISSION_ID_ALREADY_EXISTS");
    assert_eq!(e["details"], json!({"permission_id": "editor"}));
    let r = app
        .post("/api/v1/project-permission-definitions")
        .admin()
        .json(json!({"id": "billing", "contained_permission_ids": ["editor"]}))
        .send()
        .await;
    r.assert_known(400, "CONTAINED_PERMISSION_NOT_FOUND");
    app.post("/api/v1/team-permission-definitions")
        .admin()
        .json(json!({"id": "Bad Id"}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.patch("/api/v1/team-permission-definitions/$nope")
        .admin()
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");

    // PATCH rebuilds the definition: the omitted description is gone, contained ids are as given.
    let r = app
        .patch("/api/v1/team-permission-definitions/editor")
        .admin()
        .json(json!({"contained_permission_ids": ["$delete_team"]}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"id": "editor", "contained_permission_ids": ["$delete_team"]}));
    app.patch("/api/v1/team-permission-definitions/$update_team")
        .admin()
        .json(json!({}))
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.patch("/api/v1/project-permission-definitions/editor")
        .admin()
        .json(json!({}))
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.delete("/api/v1/project-permission-definitions/editor")
        .admin()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.patch("/api/v1/team-permission-definitions/editor")
        .admin()
        .json(json!({"id": "team_admin"}))
        .send()
        .await
        .assert_known(400, "PERMISSION_ID_ALREADY_EXISTS");
}

#[tokio::test]
async fn renaming_and_deleting_a_definition_carries_into_containment_and_grants() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &token, "Acme").await;
    define(&app, "team", "reader", &["$read_members"]).await;
    define(&app, "team", "lead", &["reader"]).await;
    grant(&app, &team, &user, "reader").await;

    app.patch("/api/v1/team-permission-definitions/reader")
        .admin()
        .json(json!({"id": "viewer", "contained_permission_ids": ["$read_members"]}))
        .send()
        .await
        .assert_status(200);
    let defs = app.get("/api/v1/team-permission-definitions").admin().send().await.json();
    let lead = defs["items"].as_array().unwrap().iter().find(|d| d["id"] == "lead").unwrap().clone();
    assert_eq!(lead["contained_permission_ids"], json!(["viewer"]));
    let held = app.get(&format!("/api/v1/team-permissions?team_id={team}&user_id={user}")).server().send().await.json();
    assert_eq!(perm_ids(&held), ["team_admin", "viewer"]);

    app.delete("/api/v1/team-permission-definitions/viewer").admin().send().await.assert_status(200);
    let held = app.get(&format!("/api/v1/team-permissions?team_id={team}&user_id={user}")).server().send().await.json();
    assert_eq!(perm_ids(&held), ["team_admin"]);
    assert_eq!(app.db_scalar("SELECT count(*) FROM team_permissions WHERE permission_id = 'viewer'"), 0);
    let defs = app.get("/api/v1/team-permission-definitions").admin().send().await.json();
    let lead = defs["items"].as_array().unwrap().iter().find(|d| d["id"] == "lead").unwrap().clone();
    assert_eq!(lead["contained_permission_ids"], json!([]));
}

#[tokio::test]
async fn grants_list_directly_and_recursively_and_revoke_only_direct_ones() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let (bob, bob_token, _) = app.sign_up("bob@example.com").await;
    let team = server_team(&app, "Acme").await;
    add_member(&app, &team, &user).await;

    let direct =
        app.get(&format!("/api/v1/team-permissions?user_id=me&team_id={team}")).client().token(&token).send().await;
    assert_eq!(direct.json()["items"], json!([{"id": "team_member", "team_id": team, "user_id": user}]));
    let recursive = app
        .get(&format!("/api/v1/team-permissions?user_id=me&team_id={team}&recursive=true"))
        .client()
        .token(&token)
        .send()
        .await
        .json();
    assert_eq!(perm_ids(&recursive), ["$invite_members", "$read_members", "team_member"]);
    // Filtering comes after expansion.
    let who = app
        .get(&format!("/api/v1/team-permissions?team_id={team}&permission_id=$read_members&recursive=true"))
        .server()
        .send()
        .await
        .json();
    assert_eq!(who["items"], json!([{"id": "$read_members", "team_id": team, "user_id": user}]));

    // Clients list their own only.
    app.get(&format!("/api/v1/team-permissions?user_id={user}"))
        .client()
        .token(&bob_token)
        .send()
        .await
        .assert_plain(403);
    app.get("/api/v1/team-permissions").client().token(&bob_token).send().await.assert_plain(403);
    app.get("/api/v1/team-permissions?user_id=me")
        .client()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

    // Grant errors.
    app.post(&format!("/api/v1/team-permissions/{team}/{bob}/team_admin"))
        .server()
        .send()
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.post(&format!("/api/v1/team-permissions/{team}/{user}/nope"))
        .server()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    define(&app, "project", "billing", &[]).await;
    let e = app
        .post(&format!("/api/v1/team-permissions/{team}/{user}/billing"))
        .server()
        .send()
        .await
        .assert_known(404, "WRONG_PERMISSION_SCOPE");
    assert_eq!(e["details"], json!({"permission_id": "billing", "expected_scope": "team", "actual_scope": "project"}));
    app.post(&format!("/api/v1/team-permissions/{team}/{user}/team_admin"))
        .client()
        .token(&token)
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    // Repeat grants are fine.
    grant(&app, &team, &user, "$update_team").await;
    grant(&app, &team, &user, "$update_team").await;

    // Only direct grants can be revoked.
    let e = app
        .delete(&format!("/api/v1/team-permissions/{team}/{user}/$read_members"))
        .server()
        .send()
        .await
        .assert_known(401, "TEAM_PERMISSION_NOT_FOUND");
    assert_eq!(e["details"], json!({"team_id": team, "user_id": user, "permission_id": "$read_members"}));
    revoke(&app, &team, &user, "$update_team").await;
}

/// One team operation per system permission: the status it gets with and without the right.
async fn attempt(app: &TestApp, token: &str, perm: &str, team: &str, victim: &str) -> u16 {
    let r = match perm {
        "$update_team" => app.patch(&format!("/api/v1/teams/{team}")).json(json!({"display_name": "New"})),
        "$delete_team" => app.delete(&format!("/api/v1/teams/{team}")),
        "$read_members" => app.get(&format!("/api/v1/team-member-profiles?team_id={team}")),
        "$remove_members" => app.delete(&format!("/api/v1/team-memberships/{team}/{victim}")),
        "$invite_members" => app
            .post("/api/v1/team-invitations/send-code")
            .json(json!({"team_id": team, "email": "x@example.com", "callback_url": CALLBACK})),
        "$manage_api_keys" => app
            .post("/api/v1/team-api-keys")
            .json(json!({"team_id": team, "description": "k", "expires_at_millis": null})),
        _ => unreachable!(),
    };
    let r = r.client().token(token).send().await;
    if r.status >= 400 {
        let code = r.header("x-stack-known-error").unwrap_or_default().to_string();
        let expected = if perm == "$manage_api_keys" { "API_KEY_NOT_FOUND" } else { "TEAM_PERMISSION_REQUIRED" };
        assert_eq!(code, expected, "{perm}: {}", r.text);
    }
    r.status
}

#[tokio::test]
async fn each_system_permission_guards_its_operation() {
    let app = spawn_app().await;
    let (bob, token, _) = app.sign_up("bob@example.com").await;
    for perm in
        ["$update_team", "$read_members", "$remove_members", "$invite_members", "$manage_api_keys", "$delete_team"]
    {
        let team = server_team(&app, "Acme").await;
        let (victim, _, _) = app.sign_up(&format!("victim{}@example.com", &perm[1..5])).await;
        add_member(&app, &team, &bob).await;
        add_member(&app, &team, &victim).await;
        revoke(&app, &team, &bob, "team_member").await;
        let denied = attempt(&app, &token, perm, &team, &victim).await;
        assert!(denied == 401 || denied == 404, "{perm} without the right: {denied}");
        grant(&app, &team, &bob, perm).await;
        assert_eq!(attempt(&app, &token, perm, &team, &victim).await / 100, 2, "{perm} with the right");
    }
}

#[tokio::test]
async fn nested_grants_count_and_revoking_the_parent_removes_them() {
    let app = spawn_app().await;
    let (bob, token, _) = app.sign_up("bob@example.com").await;
    let team = server_team(&app, "Acme").await;
    add_member(&app, &team, &bob).await;
    define(&app, "team", "editor", &["$update_team"]).await;
    define(&app, "team", "manager", &["editor"]).await;

    assert_eq!(attempt(&app, &token, "$update_team", &team, &bob).await, 401);
    grant(&app, &team, &bob, "manager").await;
    assert_eq!(attempt(&app, &token, "$update_team", &team, &bob).await, 200);
    revoke(&app, &team, &bob, "manager").await;
    assert_eq!(attempt(&app, &token, "$update_team", &team, &bob).await, 401);
}

#[tokio::test]
async fn a_cyclic_definition_neither_loops_nor_crashes() {
    let app = spawn_app().await;
    let (bob, token, _) = app.sign_up("bob@example.com").await;
    let team = server_team(&app, "Acme").await;
    add_member(&app, &team, &bob).await;
    define(&app, "team", "a", &[]).await;
    define(&app, "team", "b", &["a", "$update_team"]).await;
    // Close the cycle: a contains b.
    app.patch("/api/v1/team-permission-definitions/a")
        .admin()
        .json(json!({"contained_permission_ids": ["b"]}))
        .send()
        .await
        .assert_status(200);
    // And a definition containing itself.
    app.patch("/api/v1/team-permission-definitions/b")
        .admin()
        .json(json!({"contained_permission_ids": ["a", "b", "$update_team"]}))
        .send()
        .await
        .assert_status(200);
    grant(&app, &team, &bob, "a").await;
    let held = app
        .get(&format!("/api/v1/team-permissions?team_id={team}&user_id=me&recursive=true"))
        .client()
        .token(&token)
        .send()
        .await
        .json();
    assert_eq!(perm_ids(&held), ["$invite_members", "$read_members", "$update_team", "a", "b", "team_member"]);
    assert_eq!(attempt(&app, &token, "$update_team", &team, &bob).await, 200);
}

#[tokio::test]
async fn project_permissions_are_granted_listed_and_revoked() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    define(&app, "project", "read_reports", &[]).await;
    define(&app, "project", "admin_reports", &["read_reports"]).await;

    let r = app.post(&format!("/api/v1/project-permissions/{user}/admin_reports")).server().send().await;
    r.assert_status(201);
    assert_eq!(r.json(), json!({"id": "admin_reports", "user_id": user}));
    let own =
        app.get("/api/v1/project-permissions?user_id=me&recursive=true").client().token(&token).send().await.json();
    assert_eq!(
        own["items"],
        json!([{"id": "admin_reports", "user_id": user}, {"id": "read_reports", "user_id": user}])
    );
    let direct = app.get(&format!("/api/v1/project-permissions?user_id={user}")).server().send().await.json();
    assert_eq!(perm_ids(&direct), ["admin_reports"]);

    app.post(&format!("/api/v1/project-permissions/{user}/team_admin"))
        .server()
        .send()
        .await
        .assert_known(404, "WRONG_PERMISSION_SCOPE");
    app.post(&format!("/api/v1/project-permissions/{user}/$update_team"))
        .server()
        .send()
        .await
        .assert_known(404, "WRONG_PERMISSION_SCOPE");
    app.post(&format!("/api/v1/project-permissions/{user}/nope"))
        .server()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.post(&format!("/api/v1/project-permissions/{}/read_reports", uuid::Uuid::new_v4()))
        .server()
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");
    app.post(&format!("/api/v1/project-permissions/{user}/read_reports"))
        .client()
        .token(&token)
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.delete(&format!("/api/v1/project-permissions/{user}/read_reports"))
        .server()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    app.delete(&format!("/api/v1/project-permissions/{user}/admin_reports")).server().send().await.assert_status(200);
    let own =
        app.get("/api/v1/project-permissions?user_id=me&recursive=true").client().token(&token).send().await.json();
    assert_eq!(own["items"], json!([]));
}

#[tokio::test]
async fn sign_up_and_member_defaults_follow_the_project_settings() {
    let app = spawn_app().await;
    define(&app, "project", "viewer", &[]).await;
    app.configure(json!({
        "user_default_permissions": [{"id": "viewer"}, {"id": "ghost"}],
        "team_member_default_permissions": [{"id": "$read_members"}]
    }))
    .await;
    // The project view lists only defaults that are still defined.
    let project = app.get("/api/v1/internal/projects/current").admin().send().await.json();
    assert_eq!(project["config"]["user_default_permissions"], json!([{"id": "viewer"}]));
    assert_eq!(project["config"]["team_member_default_permissions"], json!([{"id": "$read_members"}]));
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let own = app.get("/api/v1/project-permissions?user_id=me").client().token(&token).send().await.json();
    assert_eq!(own["items"], json!([{"id": "viewer", "user_id": user}]));
    let team = server_team(&app, "Acme").await;
    add_member(&app, &team, &user).await;
    let held = app
        .get(&format!("/api/v1/team-permissions?team_id={team}&user_id=me"))
        .client()
        .token(&token)
        .send()
        .await
        .json();
    assert_eq!(perm_ids(&held), ["$read_members"]);
}

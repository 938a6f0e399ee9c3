//! Dashboard users' projects: `/internal/projects`, admin access tokens (spec 00 §1.6) and
//! `DELETE /internal/projects/current`.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::teams::{add_member, client_team};

/// A request to `project_id` carrying `token` as the admin access token.
fn as_admin<'a>(app: &'a TestApp, method: &str, path: &str, project_id: &str, token: &str) -> crate::helpers::Call<'a> {
    app.call(method, path)
        .header("x-stack-access-type", "admin")
        .header("x-stack-project-id", project_id)
        .header("x-stack-admin-access-token", token)
}

async fn create_project(app: &TestApp, token: &str, body: Value) -> crate::helpers::Resp {
    app.post("/api/v1/internal/projects").client().token(token).json(body).send().await
}

#[tokio::test]
async fn a_dashboard_user_creates_and_administers_a_project_of_its_team() {
    let app = spawn_app().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &ada, "Ada's company").await;
    let r =
        create_project(&app, &ada, json!({"display_name": "Shop", "owner_team_id": team, "description": "web shop"}))
            .await;
    r.assert_status(201);
    let p = r.json();
    let id = p["id"].as_str().unwrap().to_string();
    assert_eq!(p["owner_team_id"], team.as_str());
    assert_eq!(p["description"], "web shop");
    assert_eq!(p["config"]["allow_localhost"], true);
    assert_eq!(p["config"]["credential_enabled"], true);
    assert_eq!(p["config"]["team_creator_default_permissions"], json!([{"id": "team_admin"}]));

    let listed = app.get("/api/v1/internal/projects").client().token(&ada).send().await.json();
    assert_eq!(listed["items"].as_array().unwrap().iter().map(|p| p["id"].clone()).collect::<Vec<_>>(), [json!(id)]);

    // Ada's own token administers it: read, patch, mint a key set, and the keys work.
    let read = as_admin(&app, "GET", "/api/v1/internal/projects/current", &id, &ada).send().await;
    read.assert_status(200);
    assert_eq!(read.json()["display_name"], "Shop");
    as_admin(&app, "PATCH", "/api/v1/internal/projects/current", &id, &ada)
        .json(json!({"config": {"sign_up_enabled": false}}))
        .send()
        .await
        .assert_status(200);
    let keys = as_admin(&app, "POST", "/api/v1/internal/api-keys", &id, &ada)
        .json(json!({"description": "backend", "expires_at_millis": 4_102_444_799_000i64, "has_publishable_client_key": true,
                     "has_secret_server_key": true, "has_super_secret_admin_key": false}))
        .send()
        .await;
    keys.assert_status(200);
    let ssk = keys.json()["secret_server_key"].as_str().unwrap().to_string();
    let users = app
        .get("/api/v1/users")
        .header("x-stack-access-type", "server")
        .header("x-stack-project-id", &id)
        .header("x-stack-secret-server-key", &ssk)
        .send()
        .await;
    users.assert_status(200);

    // Deleting it removes everything; internal itself cannot be deleted.
    as_admin(&app, "DELETE", "/api/v1/internal/projects/current", &id, &ada).send().await.assert_status(200);
    app.get("/api/v1/users")
        .header("x-stack-access-type", "server")
        .header("x-stack-project-id", &id)
        .header("x-stack-secret-server-key", &ssk)
        .send()
        .await
        .assert_known(400, "CURRENT_PROJECT_NOT_FOUND");
    assert_eq!(app.db_scalar_with("SELECT count(*) FROM api_key_sets WHERE project_id = ?1", &[&id]), 0);
    assert_eq!(
        app.delete("/api/v1/internal/projects/current").admin().send().await.assert_plain(400),
        "The internal project cannot be deleted."
    );
}

#[tokio::test]
async fn admin_access_tokens_are_refused_for_everyone_else() {
    let app = spawn_app().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    let id = create_project(&app, &ada, json!({"display_name": "Shop", "owner_team_id": team})).await.json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let status_of = |token: String| {
        let app = &app;
        let id = id.clone();
        async move { as_admin(app, "GET", "/api/v1/internal/projects/current", &id, &token).send().await }
    };

    // A user of another team.
    let (_, bob, _) = app.sign_up("bob@example.com").await;
    status_of(bob.clone()).await.assert_known(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    // A member of the owner team is an admin, and stops being one when removed.
    let (carol_id, carol, _) = app.sign_up("carol@example.com").await;
    add_member(&app, &team, &carol_id).await;
    status_of(carol.clone()).await.assert_status(200);
    app.delete(&format!("/api/v1/team-memberships/{team}/{carol_id}")).server().send().await.assert_status(200);
    status_of(carol).await.assert_known(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    // A deleted user: a plain 401.
    let (dan_id, dan, _) = app.sign_up("dan@example.com").await;
    add_member(&app, &team, &dan_id).await;
    app.delete(&format!("/api/v1/users/{dan_id}")).server().send().await.assert_status(200);
    status_of(dan).await.assert_plain(401);
    // Anonymous and restricted users' tokens do not parse as admin tokens.
    let anon = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    status_of(anon).await.assert_known(401, "UNPARSABLE_ADMIN_ACCESS_TOKEN");
    let erin = app
        .create_user(
            json!({"primary_email": "erin@example.com", "primary_email_auth_enabled": true, "password": "password-123",
                            "restricted_by_admin": true}),
        )
        .await;
    add_member(&app, &team, &erin).await;
    let signed_in = app.sign_in("erin@example.com", "password-123").await;
    let erin_token = signed_in.json()["access_token"].as_str().unwrap().to_string();
    status_of(erin_token).await.assert_known(401, "UNPARSABLE_ADMIN_ACCESS_TOKEN");
    // A token of another project.
    let other = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .project(&app.other.clone())
        .json(json!({"email": "frank@example.com", "password": "password-123"}))
        .send()
        .await;
    other.assert_status(200);
    status_of(other.json()["access_token"].as_str().unwrap().into())
        .await
        .assert_known(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    // An expired token.
    let mut claims: stackd::tokens::AccessClaims = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, ada.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims.exp = claims.iat - 5;
    let expired = app.server.services.infra.tokens.sign(&claims);
    status_of(expired).await.assert_known(401, "ADMIN_ACCESS_TOKEN_EXPIRED");
    status_of(ada).await.assert_status(200);
}

#[tokio::test]
async fn creating_listing_and_transferring_follow_team_membership() {
    let app = spawn_app().await;
    let (ada_id, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    let second = client_team(&app, &ada, "Acme Labs").await;

    // Only internal's signed-in users, and only for their own teams.
    create_project(&app, &bob, json!({"display_name": "x", "owner_team_id": team}))
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.post("/api/v1/internal/projects")
        .client()
        .json(json!({"display_name": "x"}))
        .send()
        .await
        .assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    let other = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .project(&app.other.clone())
        .json(json!({"email": "frank@example.com", "password": "password-123"}))
        .send()
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    app.post("/api/v1/internal/projects")
        .client()
        .project(&app.other.clone())
        .token(&other)
        .json(json!({"display_name": "x"}))
        .send()
        .await
        .assert_known(401, "EXPECTED_INTERNAL_PROJECT");
    create_project(&app, &ada, json!({"display_name": "x", "config": {"oauth_account_merge_strategy": "nope"}}))
        .await
        .assert_known(400, "SCHEMA_ERROR");

    // Without an owner team: Bob gets a team of his own, which owns the project.
    let r = create_project(&app, &bob, json!({"display_name": "Bob's app", "is_development_environment": true})).await;
    r.assert_status(201);
    let bob_team = r.json()["owner_team_id"].as_str().unwrap().to_string();
    let bob_teams = app.get("/api/v1/teams?user_id=me").client().token(&bob).send().await.json();
    assert_eq!(bob_teams["items"][0]["id"], bob_team.as_str());
    assert_eq!(bob_teams["items"][0]["display_name"], "bob@example.com's Team");

    let p = create_project(&app, &ada, json!({"display_name": "Shop", "owner_team_id": team})).await.json();
    let id = p["id"].as_str().unwrap().to_string();
    let listed = app.get("/api/v1/internal/projects").client().token(&bob).send().await.json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1, "only Bob's own project");

    // Transfer: team_admin of the owner team, member of the new one.
    add_member(&app, &team, &bob_id).await;
    let transfer = |token: String, project: String, to: String| {
        let app = &app;
        async move {
            app.post("/api/v1/internal/projects/transfer")
                .client()
                .token(&token)
                .json(json!({"project_id": project, "new_team_id": to}))
                .send()
                .await
        }
    };
    transfer(bob.clone(), id.clone(), bob_team.clone()).await.assert_known(401, "TEAM_PERMISSION_REQUIRED");
    transfer(ada.clone(), id.clone(), bob_team.clone()).await.assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    transfer(ada.clone(), uuid::Uuid::new_v4().to_string(), second.clone())
        .await
        .assert_known(404, "PROJECT_NOT_FOUND");
    let r = transfer(ada.clone(), id.clone(), second.clone()).await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({"success": "true"}));
    let read = as_admin(&app, "GET", "/api/v1/internal/projects/current", &id, &ada).send().await.json();
    assert_eq!(read["owner_team_id"], second.as_str());
    // Bob was an admin through the old owner team only.
    as_admin(&app, "GET", "/api/v1/internal/projects/current", &id, &bob)
        .send()
        .await
        .assert_known(401, "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN");
    let _ = ada_id;
}

/// `stackd project create --owner-team` makes a project its owner team's members administer with
/// their own tokens, like one created through the API.
#[tokio::test]
async fn the_cli_creates_a_project_owned_by_a_team() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stackd.db");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let internal = |req: reqwest::RequestBuilder| {
        req.header("x-stack-access-type", "client")
            .header("x-stack-project-id", "internal")
            .header("x-stack-publishable-client-key", stackd::projects::DEV_PUBLISHABLE_CLIENT_KEY)
    };
    let (mut child, base) = crate::helpers::start_binary(&db, &[], "warn", false);
    let signed_up: Value = internal(http.post(format!("{base}/api/v1/auth/password/sign-up")))
        .json(&json!({"email": "ops@example.com", "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_up["access_token"].as_str().unwrap().to_string();
    let team: Value = internal(http.post(format!("{base}/api/v1/teams")))
        .header("x-stack-access-token", &token)
        .json(&json!({"display_name": "Ops"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let team = team["id"].as_str().unwrap().to_string();
    child.kill().unwrap();
    child.wait().unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stackd"))
        .args(["project", "create", "--name", "Ops app", "--owner-team", &team, "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(printed.contains(&format!("Owner team:              {team}")), "{printed}");
    let project = printed.lines().find_map(|l| l.trim().strip_prefix("Project id:")).unwrap().trim().to_string();
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_stackd"))
        .args(["project", "create", "--name", "x", "--owner-team", &uuid::Uuid::new_v4().to_string(), "--db"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("no team"));

    // A new port is a new token issuer: sign in again.
    let (mut child, base) = crate::helpers::start_binary(&db, &[], "warn", false);
    let signed_in: Value = internal(http.post(format!("{base}/api/v1/auth/password/sign-in")))
        .json(&json!({"email": "ops@example.com", "password": "password-123"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_in["access_token"].as_str().unwrap().to_string();
    let r = http
        .get(format!("{base}/api/v1/internal/projects/current"))
        .header("x-stack-access-type", "admin")
        .header("x-stack-project-id", &project)
        .header("x-stack-admin-access-token", &token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner_team_id"], team.as_str());
}

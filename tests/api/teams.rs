//! Teams, memberships, member profiles and the selected team (spec 20 §1–§2.3).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};

/// A client-created team of the signed-in user (`token`); returns its id.
pub async fn client_team(app: &TestApp, token: &str, name: &str) -> String {
    let r = app.post("/api/v1/teams").client().token(token).json(json!({ "display_name": name })).send().await;
    r.assert_status(201);
    r.json()["id"].as_str().unwrap().to_string()
}

/// A team made by the server with no members.
pub async fn server_team(app: &TestApp, name: &str) -> String {
    let r = app.post("/api/v1/teams").server().json(json!({ "display_name": name })).send().await;
    r.assert_status(201);
    r.json()["id"].as_str().unwrap().to_string()
}

pub async fn add_member(app: &TestApp, team: &str, user: &str) {
    app.post(&format!("/api/v1/team-memberships/{team}/{user}")).server().send().await.assert_status(201);
}

fn ids(list: &Value) -> Vec<String> {
    list["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_client_creates_reads_updates_and_deletes_its_team() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let r = app
        .post("/api/v1/teams")
        .client()
        .token(&token)
        .json(json!({ "display_name": "Acme", "client_metadata": {"plan": "pro"} }))
        .send()
        .await;
    r.assert_status(201);
    let team = r.json();
    let id = team["id"].as_str().unwrap().to_string();
    assert_eq!(
        team,
        json!({"id": id, "display_name": "Acme", "profile_image_url": null, "client_metadata": {"plan": "pro"},
               "client_read_only_metadata": null})
    );

    // The creator is a member holding team_admin (the creator default).
    let perms = app
        .get(&format!("/api/v1/team-permissions?team_id={id}&user_id=me"))
        .client()
        .token(&token)
        .send()
        .await
        .json();
    assert_eq!(perms["items"], json!([{"id": "team_admin", "team_id": id, "user_id": user}]));

    let server_view = app.get(&format!("/api/v1/teams/{id}")).server().send().await.json();
    assert!(server_view["created_at_millis"].as_i64().unwrap() > 0);
    assert_eq!(server_view["server_metadata"], Value::Null);

    let r = app
        .patch(&format!("/api/v1/teams/{id}"))
        .client()
        .token(&token)
        .json(json!({ "display_name": "Acme Inc", "client_metadata": null }))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["display_name"], "Acme Inc");
    assert_eq!(r.json()["client_metadata"], Value::Null);

    let list = app.get("/api/v1/teams?user_id=me").client().token(&token).send().await.json();
    assert_eq!(ids(&list), std::slice::from_ref(&id));

    app.delete(&format!("/api/v1/teams/{id}")).client().token(&token).send().await.assert_status(200);
    app.get(&format!("/api/v1/teams/{id}")).server().send().await.assert_known(404, "TEAM_NOT_FOUND");
    assert_eq!(app.db_scalar("SELECT count(*) FROM team_members"), 0);
    assert_eq!(app.db_scalar("SELECT count(*) FROM team_permissions"), 0);
}

#[tokio::test]
async fn team_creation_rules_for_clients_and_servers() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let (other, _, _) = app.sign_up("bob@example.com").await;

    // No user → 401; server-only fields are unknown to clients.
    app.post("/api/v1/teams")
        .client()
        .json(json!({ "display_name": "x" }))
        .send()
        .await
        .assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    let r = app
        .post("/api/v1/teams")
        .client()
        .token(&token)
        .json(json!({ "display_name": "x", "server_metadata": {} }))
        .send()
        .await;
    let e = r.assert_known(400, "SCHEMA_ERROR");
    assert!(e["error"].as_str().unwrap().contains("server_metadata"));
    // A client cannot create a team for someone else, nor pass an http image.
    let r = app
        .post("/api/v1/teams")
        .client()
        .token(&token)
        .json(json!({ "display_name": "x", "creator_user_id": other }))
        .send()
        .await;
    r.assert_plain(403);
    let r = app
        .post("/api/v1/teams")
        .client()
        .token(&token)
        .json(json!({ "display_name": "x", "profile_image_url": "https://example.com/a.png" }))
        .send()
        .await;
    assert_eq!(r.assert_plain(400), "Invalid profile image URL");
    let r = app
        .post("/api/v1/teams?add_current_user=true")
        .client()
        .token(&token)
        .json(json!({ "display_name": "x", "creator_user_id": "me" }))
        .send()
        .await;
    r.assert_plain(400);

    // Server: no creator → no members; a missing creator rolls back.
    let empty = server_team(&app, "Empty").await;
    let members = app.get(&format!("/api/v1/team-member-profiles?team_id={empty}")).server().send().await.json();
    assert_eq!(members["items"], json!([]));
    let r = app
        .post("/api/v1/teams")
        .server()
        .json(json!({ "display_name": "Ghost", "creator_user_id": uuid::Uuid::new_v4().to_string() }))
        .send()
        .await;
    r.assert_known(404, "USER_NOT_FOUND");
    let all = app.get("/api/v1/teams").server().send().await.json();
    assert_eq!(ids(&all), std::slice::from_ref(&empty));
    // The server may name a creator and http images.
    let r = app
        .post("/api/v1/teams")
        .server()
        .json(json!({ "display_name": "S", "creator_user_id": user, "profile_image_url": "https://example.com/a.png",
                      "server_metadata": {"k": 1} }))
        .send()
        .await;
    r.assert_status(201);
    assert_eq!(r.json()["profile_image_url"], "https://example.com/a.png");
    assert_eq!(r.json()["server_metadata"], json!({"k": 1}));

    // Client creation disabled.
    app.configure(json!({ "client_team_creation_enabled": false })).await;
    let r = app.post("/api/v1/teams").client().token(&token).json(json!({ "display_name": "x" })).send().await;
    r.assert_plain(403);
}

#[tokio::test]
async fn non_members_see_membership_not_found_and_lists_are_their_own() {
    let app = spawn_app().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;

    let r = app.get(&format!("/api/v1/teams/{team}")).client().token(&bob).send().await;
    let e = r.assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    assert_eq!(e["details"], json!({"team_id": team, "user_id": bob_id}));
    app.get(&format!("/api/v1/teams/{team}")).client().send().await.assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    app.get(&format!("/api/v1/teams/{}", uuid::Uuid::new_v4()))
        .server()
        .send()
        .await
        .assert_known(404, "TEAM_NOT_FOUND");
    app.get("/api/v1/teams/not-a-uuid").server().send().await.assert_known(400, "SCHEMA_ERROR");

    // Bob's list is empty; Bob cannot list Ada's teams; no user at all is a 400.
    let list = app.get("/api/v1/teams?user_id=me").client().token(&bob).send().await.json();
    assert_eq!(list["items"], json!([]));
    let ada_id =
        app.get("/api/v1/users/me").client().token(&ada).send().await.json()["id"].as_str().unwrap().to_string();
    app.get(&format!("/api/v1/teams?user_id={ada_id}")).client().token(&bob).send().await.assert_plain(403);
    app.get("/api/v1/teams?user_id=me").client().send().await.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");

    // Non-members cannot update or delete.
    let r = app
        .patch(&format!("/api/v1/teams/{team}"))
        .client()
        .token(&bob)
        .json(json!({"display_name": "x"}))
        .send()
        .await;
    r.assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.delete(&format!("/api/v1/teams/{team}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
}

#[tokio::test]
async fn memberships_are_added_by_servers_and_left_by_clients() {
    let app = spawn_app().await;
    let (ada_id, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let (carol_id, carol, _) = app.sign_up("carol@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;

    // Clients cannot add members.
    app.post(&format!("/api/v1/team-memberships/{team}/{bob_id}"))
        .client()
        .token(&ada)
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let r = app.post(&format!("/api/v1/team-memberships/{team}/{bob_id}")).server().send().await;
    r.assert_status(201);
    assert_eq!(r.json(), json!({"team_id": team, "user_id": bob_id}));
    app.post(&format!("/api/v1/team-memberships/{team}/{bob_id}"))
        .server()
        .send()
        .await
        .assert_known(409, "TEAM_MEMBERSHIP_ALREADY_EXISTS");
    app.post(&format!("/api/v1/team-memberships/{team}/{}", uuid::Uuid::new_v4()))
        .server()
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");
    app.post(&format!("/api/v1/team-memberships/{}/{bob_id}", uuid::Uuid::new_v4()))
        .server()
        .send()
        .await
        .assert_known(404, "TEAM_NOT_FOUND");
    add_member(&app, &team, &carol_id).await;

    // Bob (team_member: no $remove_members) cannot remove Carol, Ada (team_admin) can.
    let r = app.delete(&format!("/api/v1/team-memberships/{team}/{carol_id}")).client().token(&bob).send().await;
    let e = r.assert_known(401, "TEAM_PERMISSION_REQUIRED");
    assert_eq!(e["details"], json!({"team_id": team, "user_id": bob_id, "permission_id": "$remove_members"}));
    app.delete(&format!("/api/v1/team-memberships/{team}/{carol_id}"))
        .client()
        .token(&ada)
        .send()
        .await
        .assert_status(200);
    // Carol is gone; removing her again is 404.
    app.delete(&format!("/api/v1/team-memberships/{team}/{carol_id}"))
        .server()
        .send()
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    let carol_teams = app.get("/api/v1/teams?user_id=me").client().token(&carol).send().await.json();
    assert_eq!(carol_teams["items"], json!([]));
    // Bob leaves on his own.
    app.delete(&format!("/api/v1/team-memberships/{team}/me")).client().token(&bob).send().await.assert_status(200);
    app.delete(&format!("/api/v1/team-memberships/{team}/me"))
        .client()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let users = app.get(&format!("/api/v1/users?team_id={team}")).server().send().await.json();
    assert_eq!(ids(&users), [ada_id]);
}

#[tokio::test]
async fn member_profiles_fall_back_to_the_user_and_need_read_members() {
    let app = spawn_app().await;
    let (ada_id, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let (_, carol, _) = app.sign_up("carol@example.com").await;
    app.patch("/api/v1/users/me")
        .client()
        .token(&ada)
        .json(json!({"display_name": "Ada"}))
        .send()
        .await
        .assert_status(200);
    let team = client_team(&app, &ada, "Acme").await;
    add_member(&app, &team, &bob_id).await;

    let list = app.get(&format!("/api/v1/team-member-profiles?team_id={team}")).client().token(&bob).send().await;
    list.assert_status(200);
    assert_eq!(
        list.json()["items"],
        json!([
            {"team_id": team, "user_id": ada_id, "display_name": "Ada", "profile_image_url": null},
            {"team_id": team, "user_id": bob_id, "display_name": null, "profile_image_url": null},
        ])
    );
    // Server view carries the user.
    let server = app.get(&format!("/api/v1/team-member-profiles/{team}/{ada_id}")).server().send().await.json();
    assert_eq!(server["user"]["primary_email"], "ada@example.com");

    // A member's own name in the team; only their own.
    let r = app
        .patch(&format!("/api/v1/team-member-profiles/{team}/me"))
        .client()
        .token(&bob)
        .json(json!({"display_name": "Bobby"}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!(r.json()["display_name"], "Bobby");
    app.patch(&format!("/api/v1/team-member-profiles/{team}/{ada_id}"))
        .client()
        .token(&bob)
        .json(json!({"display_name": "x"}))
        .send()
        .await
        .assert_plain(403);

    // A client must name the team; a non-member gets 404; without $read_members only oneself.
    assert_eq!(
        app.get("/api/v1/team-member-profiles").client().token(&bob).send().await.assert_plain(400),
        "team_id is required for access type client"
    );
    app.get(&format!("/api/v1/team-member-profiles?team_id={team}"))
        .client()
        .token(&carol)
        .send()
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.delete(&format!("/api/v1/team-permissions/{team}/{bob_id}/team_member"))
        .server()
        .send()
        .await
        .assert_status(200);
    app.get(&format!("/api/v1/team-member-profiles?team_id={team}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(401, "TEAM_PERMISSION_REQUIRED");
    let own =
        app.get(&format!("/api/v1/team-member-profiles?team_id={team}&user_id=me")).client().token(&bob).send().await;
    own.assert_status(200);
    assert_eq!(own.json()["items"][0]["display_name"], "Bobby");
    app.get(&format!("/api/v1/team-member-profiles/{team}/{ada_id}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(401, "TEAM_PERMISSION_REQUIRED");
}

#[tokio::test]
async fn the_selected_team_is_a_membership_and_goes_with_it() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &token, "Acme").await;
    let other = server_team(&app, "Other").await;

    let r = app.patch("/api/v1/users/me").client().token(&token).json(json!({"selected_team_id": other})).send().await;
    r.assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    let r = app.patch("/api/v1/users/me").client().token(&token).json(json!({"selected_team_id": team})).send().await;
    r.assert_status(200);
    assert_eq!(r.json()["selected_team_id"], team.as_str());
    assert_eq!(r.json()["selected_team"]["display_name"], "Acme");
    assert!(r.json()["selected_team"].get("server_metadata").is_none(), "client shape");

    // A renamed team shows in the (cached) user at once.
    app.patch(&format!("/api/v1/teams/{team}"))
        .server()
        .json(json!({"display_name": "Acme 2"}))
        .send()
        .await
        .assert_status(200);
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    assert_eq!(me["selected_team"]["display_name"], "Acme 2");
    let server = app.get(&format!("/api/v1/users/{user}")).server().send().await.json();
    assert!(server["selected_team"]["created_at_millis"].is_i64());

    // Leaving the team clears the selection.
    app.delete(&format!("/api/v1/team-memberships/{team}/me")).client().token(&token).send().await.assert_status(200);
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    assert_eq!(me["selected_team_id"], Value::Null);
    assert_eq!(me["selected_team"], Value::Null);
}

#[tokio::test]
async fn personal_teams_are_made_on_every_sign_up_path_when_enabled() {
    let app = spawn_app().await;
    app.configure(json!({"create_team_on_sign_up": true})).await;

    // Password sign-up: named after the e-mail, selected.
    let (_, token, _) = app.sign_up("ada@example.com").await;
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    assert_eq!(me["selected_team"]["display_name"], "ada@example.com's Team");
    let team = me["selected_team_id"].as_str().unwrap().to_string();
    let perms =
        app.get(&format!("/api/v1/team-permissions?team_id={team}&user_id=me")).client().token(&token).send().await;
    assert_eq!(perms.json()["items"][0]["id"], "team_admin");

    // Server create: named after the display name; the 201 body shows no team yet (as upstream).
    let r = app.post("/api/v1/users").server().json(json!({"display_name": "Bob"})).send().await;
    r.assert_status(201);
    assert_eq!(r.json()["selected_team"], Value::Null);
    let bob = r.json()["id"].as_str().unwrap().to_string();
    let bob = app.get(&format!("/api/v1/users/{bob}")).server().send().await.json();
    assert_eq!(bob["selected_team"]["display_name"], "Bob's Team");

    // Anonymous: "Personal Team", renamed when the user becomes real.
    let r = app.post("/api/v1/auth/anonymous/sign-up").client().send().await;
    r.assert_status(200);
    let anon = r.json()["access_token"].as_str().unwrap().to_string();
    let me = app.get("/api/v1/users/me").client().allow_anonymous().token(&anon).send().await.json();
    assert_eq!(me["selected_team"]["display_name"], "Personal Team");
    let r = app
        .post("/api/v1/auth/password/sign-up")
        .client()
        .allow_anonymous()
        .token(&anon)
        .json(json!({"email": "carol@example.com", "password": "password-123"}))
        .send()
        .await;
    r.assert_status(200);
    let upgraded = app.get(&format!("/api/v1/users/{}", me["id"].as_str().unwrap())).server().send().await.json();
    assert_eq!(upgraded["selected_team"]["display_name"], "carol@example.com's Team");
}

#[tokio::test]
async fn profile_images_of_teams_are_stored_and_served() {
    let app = spawn_app().await;
    let (_, token, _) = app.sign_up("ada@example.com").await;
    let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
    let r = app
        .post("/api/v1/teams")
        .client()
        .token(&token)
        .json(json!({"display_name": "Pic", "profile_image_url": png}))
        .send()
        .await;
    r.assert_status(201);
    let url = r.json()["profile_image_url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http"), "{url}");
    let served = reqwest::get(&url).await.unwrap();
    assert_eq!(served.status(), 200);
}

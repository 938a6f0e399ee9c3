//! Team invitations end to end over real SMTP (spec 20 §2.4–§2.9).

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with_smtp, TestApp, CALLBACK};
use crate::teams::{add_member, client_team};

async fn invite(app: &TestApp, token: &str, team: &str, email: &str) -> crate::helpers::Resp {
    app.post("/api/v1/team-invitations/send-code")
        .client()
        .token(token)
        .json(json!({"team_id": team, "email": email, "callback_url": CALLBACK}))
        .send()
        .await
}

async fn code_call(app: &TestApp, route: &str, token: Option<&str>, code: &str) -> crate::helpers::Resp {
    let call = app.post(&format!("/api/v1/team-invitations/accept{route}")).client().json(json!({"code": code}));
    match token {
        Some(t) => call.token(t).send().await,
        None => call.send().await,
    }
}

#[tokio::test]
async fn an_invited_user_joins_with_the_code_from_the_email() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    let r = invite(&app, &ada, &team, "Bob@Example.com").await;
    r.assert_status(200);
    assert_eq!(r.json()["success"], true);
    let invitation = r.json()["id"].as_str().unwrap().to_string();

    let mail = sink.last_to("bob@example.com").await;
    assert_eq!(mail.subject(), "You have been invited to join Acme");
    assert!(mail.body().contains(&format!("{CALLBACK}?code=")));
    let code = mail.code();

    let listed = app.get(&format!("/api/v1/team-invitations?team_id={team}")).client().token(&ada).send().await;
    listed.assert_status(200);
    let item = &listed.json()["items"][0];
    assert_eq!(item["id"], invitation.as_str());
    assert_eq!(item["team_display_name"], "Acme");
    assert_eq!(item["recipient_email"], "bob@example.com");

    code_call(&app, "/check-code", None, &code).await.assert_status(200);
    code_call(&app, "/details", None, &code).await.assert_known(401, "USER_AUTHENTICATION_REQUIRED");
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let details = code_call(&app, "/details", Some(&bob), &code.to_uppercase()).await;
    details.assert_status(200);
    assert_eq!(details.json(), json!({"team_id": team, "team_display_name": "Acme"}));
    let r = code_call(&app, "", Some(&bob), &code).await;
    r.assert_status(200);
    assert_eq!(r.json(), json!({}));

    // Bob is a member with the member defaults; the code is used up.
    let perms =
        app.get(&format!("/api/v1/team-permissions?team_id={team}&user_id=me")).client().token(&bob).send().await;
    assert_eq!(perms.json()["items"], json!([{"id": "team_member", "team_id": team, "user_id": bob_id}]));
    code_call(&app, "", Some(&bob), &code).await.assert_known(409, "VERIFICATION_CODE_ALREADY_USED");
    let listed = app.get(&format!("/api/v1/team-invitations?team_id={team}")).server().send().await.json();
    assert_eq!(listed["items"], json!([]));
    code_call(&app, "/check-code", None, &"x".repeat(45)).await.assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    code_call(&app, "/check-code", None, "short").await.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn accepting_by_id_needs_a_verified_address_it_was_sent_to() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    let id = invite(&app, &ada, &team, "bob@example.com").await.json()["id"].as_str().unwrap().to_string();
    sink.last_to("bob@example.com").await;

    // Wrong e-mail: Carol cannot take Bob's invitation.
    let (carol_id, carol, _) = app.sign_up("carol@example.com").await;
    app.patch(&format!("/api/v1/users/{carol_id}"))
        .server()
        .json(json!({"primary_email_verified": true}))
        .send()
        .await
        .assert_status(200);
    app.post(&format!("/api/v1/team-invitations/{id}/accept?user_id=me"))
        .client()
        .token(&carol)
        .send()
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");

    // Bob, unverified, neither sees nor accepts it; verified, he does.
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let mine = app.get("/api/v1/team-invitations?user_id=me").client().token(&bob).send().await.json();
    assert_eq!(mine["items"], json!([]));
    app.post(&format!("/api/v1/team-invitations/{id}/accept?user_id=me"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    app.patch(&format!("/api/v1/users/{bob_id}"))
        .server()
        .json(json!({"primary_email_verified": true}))
        .send()
        .await
        .assert_status(200);
    let mine = app.get("/api/v1/team-invitations?user_id=me").client().token(&bob).send().await.json();
    assert_eq!(mine["items"][0]["id"], id.as_str());
    // Clients act for themselves only.
    app.post(&format!("/api/v1/team-invitations/{id}/accept?user_id={bob_id}"))
        .client()
        .token(&carol)
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    app.get(&format!("/api/v1/team-invitations?user_id={bob_id}"))
        .client()
        .token(&carol)
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    app.post(&format!("/api/v1/team-invitations/{id}/accept?user_id=me"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_status(200);
    let teams = app.get("/api/v1/teams?user_id=me").client().token(&bob).send().await.json();
    assert_eq!(teams["items"][0]["id"], team.as_str());
    app.post(&format!("/api/v1/team-invitations/{id}/accept?user_id=me"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
}

#[tokio::test]
async fn invitations_to_a_deleted_team_cannot_be_accepted() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    invite(&app, &ada, &team, "bob@example.com").await.assert_status(200);
    let code = sink.last_to("bob@example.com").await.code();
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    app.patch(&format!("/api/v1/users/{bob_id}"))
        .server()
        .json(json!({"primary_email_verified": true}))
        .send()
        .await
        .assert_status(200);
    app.delete(&format!("/api/v1/teams/{team}")).client().token(&ada).send().await.assert_status(200);

    let mine = app.get("/api/v1/team-invitations?user_id=me").client().token(&bob).send().await.json();
    assert_eq!(mine["items"], json!([]));
    code_call(&app, "", Some(&bob), &code).await.assert_known(404, "TEAM_NOT_FOUND");
    assert_eq!(app.db_scalar("SELECT count(*) FROM team_members"), 0);
}

#[tokio::test]
async fn invitation_rules_and_access() {
    let app = spawn_app().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;

    let r = app
        .post("/api/v1/team-invitations/send-code")
        .client()
        .token(&ada)
        .json(json!({"team_id": team, "email": "x@example.com", "callback_url": "https://evil.example/cb"}))
        .send()
        .await;
    r.assert_known(400, "REDIRECT_URL_NOT_WHITELISTED");
    let missing = uuid::Uuid::new_v4().to_string();
    let r = app
        .post("/api/v1/team-invitations/send-code")
        .server()
        .json(json!({"team_id": missing, "email": "x@example.com", "callback_url": CALLBACK}))
        .send()
        .await;
    r.assert_known(404, "TEAM_NOT_FOUND");
    invite(&app, &bob, &team, "x@example.com").await.assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.post("/api/v1/team-invitations/send-code")
        .client()
        .json(json!({"team_id": team, "email": "x@example.com", "callback_url": CALLBACK}))
        .send()
        .await
        .assert_known(401, "USER_AUTHENTICATION_REQUIRED");

    // Listing needs exactly one filter; by team, $read_members and $invite_members.
    assert_eq!(
        app.get("/api/v1/team-invitations").server().send().await.assert_plain(400),
        "Must specify either team_id or user_id"
    );
    assert_eq!(
        app.get(&format!("/api/v1/team-invitations?team_id={team}&user_id=me"))
            .client()
            .token(&ada)
            .send()
            .await
            .assert_plain(400),
        "Cannot specify both team_id and user_id"
    );
    add_member(&app, &team, &bob_id).await;
    app.delete(&format!("/api/v1/team-permissions/{team}/{bob_id}/team_member"))
        .server()
        .send()
        .await
        .assert_status(200);
    let e = app
        .get(&format!("/api/v1/team-invitations?team_id={team}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(401, "TEAM_PERMISSION_REQUIRED");
    assert_eq!(e["details"]["permission_id"], "$read_members");

    // Revoking: team_id required, needs $remove_members, must be the team's invitation.
    let id = invite(&app, &ada, &team, "x@example.com").await.json()["id"].as_str().unwrap().to_string();
    assert_eq!(
        app.delete(&format!("/api/v1/team-invitations/{id}")).server().send().await.assert_plain(400),
        "team_id is required for deleting a team invitation"
    );
    app.delete(&format!("/api/v1/team-invitations/{id}?team_id={team}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(401, "TEAM_PERMISSION_REQUIRED");
    let other = client_team(&app, &ada, "Other").await;
    app.delete(&format!("/api/v1/team-invitations/{id}?team_id={other}"))
        .client()
        .token(&ada)
        .send()
        .await
        .assert_known(404, "VERIFICATION_CODE_NOT_FOUND");
    app.delete(&format!("/api/v1/team-invitations/{id}?team_id={team}"))
        .client()
        .token(&ada)
        .send()
        .await
        .assert_status(200);
    let listed = app.get(&format!("/api/v1/team-invitations?team_id={team}")).server().send().await.json();
    assert_eq!(listed["items"], json!([]));
}

#[tokio::test]
async fn restricted_users_cannot_accept() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    invite(&app, &ada, &team, "anon@example.com").await.assert_status(200);
    let code = sink.last_to("anon@example.com").await.code();
    let anon = app.post("/api/v1/auth/anonymous/sign-up").client().send().await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .post("/api/v1/team-invitations/accept")
        .client()
        .allow_anonymous()
        .token(&anon)
        .json(json!({"code": code}))
        .send()
        .await;
    let e = r.assert_known(403, "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED");
    assert_eq!(e["details"], json!({"restricted_reason": {"type": "anonymous"}}));
    // The code is still good for someone else.
    code_call(&app, "/check-code", None, &code).await.assert_status(200);
}

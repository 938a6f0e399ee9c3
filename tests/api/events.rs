//! The event log (spec 20 §6.2): each change appends exactly its events, in the transaction of
//! the change; failed changes append none.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::teams::{add_member, server_team};

/// Events after `after`, as (type, data).
async fn events_after(app: &TestApp, after: i64) -> (Vec<(String, Value)>, i64) {
    let page = app.get(&format!("/api/v1/internal/events?after={after}")).admin().send().await;
    page.assert_status(200);
    let page = page.json();
    let items = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().to_string(), e["data"].clone()))
        .collect();
    (items, page["next_after"].as_i64().unwrap())
}

async fn position(app: &TestApp) -> i64 {
    let mut after = 0;
    loop {
        let (items, next) = events_after(app, after).await;
        if items.is_empty() {
            return after;
        }
        after = next;
    }
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(t, _)| t.as_str()).collect()
}

#[tokio::test]
async fn user_changes_record_their_events_with_the_server_view() {
    let app = spawn_app().await;
    let start = position(&app).await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let (events, pos) = events_after(&app, start).await;
    assert_eq!(types(&events), ["user.created"]);
    assert_eq!(events[0].1["id"], user.as_str());
    assert_eq!(events[0].1["primary_email"], "ada@example.com");
    assert!(events[0].1.get("server_metadata").is_some(), "server view");

    app.patch("/api/v1/users/me")
        .client()
        .token(&token)
        .json(json!({"display_name": "Ada"}))
        .send()
        .await
        .assert_status(200);
    let (events, pos) = events_after(&app, pos).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(events[0].1["display_name"], "Ada");

    // Not for password updates (spec 10 §1.11).
    app.post("/api/v1/auth/password/update")
        .client()
        .token(&token)
        .json(json!({"old_password": "password-123", "new_password": "password-456"}))
        .send()
        .await
        .assert_status(200);
    let (events, pos) = events_after(&app, pos).await;
    assert!(events.is_empty(), "{events:?}");

    let team = server_team(&app, "Acme").await;
    add_member(&app, &team, &user).await;
    let (_, pos) = events_after(&app, pos).await;
    app.delete(&format!("/api/v1/users/{user}")).server().send().await.assert_status(200);
    let (events, _) = events_after(&app, pos).await;
    assert_eq!(
        events,
        [
            ("team_membership.deleted".to_string(), json!({"team_id": team, "user_id": user})),
            ("user.deleted".to_string(), json!({"id": user, "teams": [{"id": team}]})),
        ]
    );
}

#[tokio::test]
async fn team_membership_and_permission_changes_record_their_events() {
    let app = spawn_app().await;
    let (ada, ada_token, _) = app.sign_up("ada@example.com").await;
    let (bob, _, _) = app.sign_up("bob@example.com").await;
    let pos = position(&app).await;

    // A client-created team: team.created only (none for the creator's membership and grants).
    let r = app.post("/api/v1/teams").client().token(&ada_token).json(json!({"display_name": "Acme"})).send().await;
    let team = r.json()["id"].as_str().unwrap().to_string();
    let (events, pos) = events_after(&app, pos).await;
    assert_eq!(types(&events), ["team.created"]);
    assert_eq!(events[0].1["display_name"], "Acme");
    assert!(events[0].1["created_at_millis"].is_i64(), "server team view");
    let _ = ada;

    add_member(&app, &team, &bob).await;
    let (events, pos) = events_after(&app, pos).await;
    assert_eq!(
        events,
        [
            ("team_membership.created".to_string(), json!({"team_id": team, "user_id": bob})),
            ("team_permission.created".to_string(), json!({"id": "team_member", "team_id": team, "user_id": bob})),
        ]
    );

    // A failed action appends nothing.
    app.post(&format!("/api/v1/team-memberships/{team}/{bob}"))
        .server()
        .send()
        .await
        .assert_known(409, "TEAM_MEMBERSHIP_ALREADY_EXISTS");
    app.post(&format!("/api/v1/team-permissions/{team}/{bob}/nope"))
        .server()
        .send()
        .await
        .assert_known(404, "PERMISSION_NOT_FOUND");
    let (events, pos) = events_after(&app, pos).await;
    assert!(events.is_empty(), "{events:?}");

    app.post(&format!("/api/v1/team-permissions/{team}/{bob}/$update_team")).server().send().await.assert_status(201);
    app.delete(&format!("/api/v1/team-permissions/{team}/{bob}/$update_team")).server().send().await.assert_status(200);
    app.patch(&format!("/api/v1/teams/{team}"))
        .server()
        .json(json!({"display_name": "Acme 2"}))
        .send()
        .await
        .assert_status(200);
    app.delete(&format!("/api/v1/team-memberships/{team}/{bob}")).server().send().await.assert_status(200);
    let (events, pos) = events_after(&app, pos).await;
    assert_eq!(
        types(&events),
        ["team_permission.created", "team_permission.deleted", "team.updated", "team_membership.deleted"]
    );
    assert_eq!(events[1].1, json!({"id": "$update_team", "team_id": team, "user_id": bob}));
    assert_eq!(events[2].1["display_name"], "Acme 2");

    // Deleting the team: team.deleted only, with the id only.
    app.delete(&format!("/api/v1/teams/{team}")).server().send().await.assert_status(200);
    let (events, pos) = events_after(&app, pos).await;
    assert_eq!(events, [("team.deleted".to_string(), json!({"id": team}))]);

    // Project permissions.
    app.post("/api/v1/project-permission-definitions")
        .admin()
        .json(json!({"id": "reports"}))
        .send()
        .await
        .assert_status(201);
    app.post(&format!("/api/v1/project-permissions/{bob}/reports")).server().send().await.assert_status(201);
    app.delete(&format!("/api/v1/project-permissions/{bob}/reports")).server().send().await.assert_status(200);
    let (events, _) = events_after(&app, pos).await;
    assert_eq!(
        events,
        [
            ("project_permission.created".to_string(), json!({"id": "reports", "user_id": bob})),
            ("project_permission.deleted".to_string(), json!({"id": "reports", "user_id": bob})),
        ]
    );
}

#[tokio::test]
async fn the_log_is_ordered_resumable_and_per_project() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.sign_up(&format!("u{i}@example.com")).await;
    }
    let first = app.get("/api/v1/internal/events?limit=2").admin().send().await.json();
    let seqs: Vec<i64> = first["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), 2);
    assert!(seqs[0] < seqs[1]);
    let rest = app.get(&format!("/api/v1/internal/events?after={}", first["next_after"])).admin().send().await.json();
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert!(rest["items"][0]["seq"].as_i64().unwrap() > seqs[1]);
    // Another project sees none of them; clients and servers cannot read the log.
    let other = app.get("/api/v1/internal/events").admin().project(&app.other.clone()).send().await.json();
    assert_eq!(other["items"], json!([]));
    app.get("/api/v1/internal/events").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.get("/api/v1/internal/events?limit=0").admin().send().await.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn personal_teams_and_accepted_invitations_record_their_events() {
    let app = spawn_app().await;
    app.configure(json!({"create_team_on_sign_up": true})).await;
    let pos = position(&app).await;
    let (user, _, _) = app.sign_up("ada@example.com").await;
    let (events, pos) = events_after(&app, pos).await;
    assert_eq!(types(&events), ["user.created", "team.created"]);
    assert_eq!(events[0].1["selected_team"], Value::Null, "computed before the team exists");
    assert_eq!(events[1].1["display_name"], "ada@example.com's Team");
    let _ = user;

    // Accepting an invitation: the membership and its default permission.
    let team = server_team(&app, "Acme").await;
    let bob = app.create_user(json!({"primary_email": "bob@example.com", "primary_email_verified": true})).await;
    let r = app
        .post("/api/v1/team-invitations/send-code")
        .server()
        .json(json!({"team_id": team, "email": "bob@example.com", "callback_url": crate::helpers::CALLBACK}))
        .send()
        .await;
    let invitation = r.json()["id"].as_str().unwrap().to_string();
    let (_, pos) = events_after(&app, pos).await;
    app.post(&format!("/api/v1/team-invitations/{invitation}/accept?user_id={bob}"))
        .server()
        .send()
        .await
        .assert_status(200);
    let (events, _) = events_after(&app, pos).await;
    assert_eq!(
        events,
        [
            ("team_membership.created".to_string(), json!({"team_id": team, "user_id": bob})),
            ("team_permission.created".to_string(), json!({"id": "team_member", "team_id": team, "user_id": bob})),
        ]
    );
}

#[tokio::test]
async fn events_older_than_thirty_days_are_pruned() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;
    let total = app.db_scalar("SELECT count(*) FROM events") as usize;
    assert!(total >= 1);
    let now = stackd::db::now_millis();
    assert_eq!(stackd::events::prune(&app.server.db, now).unwrap(), 0, "nothing is 30 days old yet");
    let later = now + stackd::events::KEEP_MILLIS + 60_000;
    assert_eq!(stackd::events::prune(&app.server.db, later).unwrap(), total);
    assert_eq!(app.db_scalar("SELECT count(*) FROM events"), 0);
}

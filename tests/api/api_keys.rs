//! User and team API keys (spec 20 §4).

use serde_json::{json, Value};

use crate::helpers::{spawn_app, TestApp};
use crate::teams::{add_member, client_team};

/// CRC-32 (IEEE), written out here so the test checks the server's checksum independently.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
        }
    }
    !crc
}

async fn create_user_key(app: &TestApp, token: &str, body: Value) -> crate::helpers::Resp {
    app.post("/api/v1/user-api-keys").client().token(token).json(body).send().await
}

#[tokio::test]
async fn a_user_key_has_the_scanner_layout_and_is_shown_once() {
    let app = spawn_app().await;
    let (user, token, _) = app.sign_up("ada@example.com").await;
    let r =
        create_user_key(&app, &token, json!({"user_id": "me", "description": "CI", "expires_at_millis": null})).await;
    r.assert_status(200);
    let k = r.json();
    let key = k["value"].as_str().unwrap().to_string();
    let id = k["id"].as_str().unwrap().to_string();
    assert_eq!(k["type"], "user");
    assert_eq!(k["user_id"], user.as_str());
    assert_eq!(k["is_public"], false);
    assert!(
        k.get("expires_at_millis").is_none()
            && k.get("manually_revoked_at_millis").is_none()
            && k.get("team_id").is_none()
    );

    // sk_ + 45 secret + 32 id + "user" + flag 1 (self-hosted secret) + marker + CRC-32.
    assert_eq!(key.len(), 102);
    assert!(key.starts_with("sk_"));
    assert!(key[3..48].chars().all(|c| "0123456789abcdefghjkmnpqrstvwxyz".contains(c)), "{key}");
    assert_eq!(key[48..80], id.replace('-', ""));
    assert_eq!(&key[80..84], "user");
    assert_eq!(&key[84..85], "1");
    assert_eq!(&key[85..94], "574ck4u7h");
    assert_eq!(key[94..], format!("{:08x}", crc32(&key.as_bytes()[..94])));
    assert!(!app.db_files_contain(&key), "only the hash is stored");

    // Afterwards, only the last four characters.
    let read = app.get(&format!("/api/v1/user-api-keys/{id}?user_id=me")).client().token(&token).send().await;
    read.assert_status(200);
    let someone_else = uuid::Uuid::new_v4();
    app.get(&format!("/api/v1/user-api-keys/{id}?user_id={someone_else}"))
        .server()
        .send()
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
    assert_eq!(read.json()["value"], json!({"last_four": &key[98..]}));
    let list = app.get("/api/v1/user-api-keys?user_id=me").client().token(&token).send().await.json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["value"]["last_four"], &key[98..]);

    // The backend checks it.
    let checked = app.post("/api/v1/user-api-keys/check").server().json(json!({"api_key": key})).send().await;
    checked.assert_status(200);
    assert_eq!(checked.json()["user_id"], user.as_str());
    app.post("/api/v1/user-api-keys/check")
        .client()
        .json(json!({"api_key": key}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");

    // A public key is pk_ with flag 3.
    let r = create_user_key(
        &app,
        &token,
        json!({"user_id": "me", "description": "pub", "expires_at_millis": null, "is_public": true}),
    )
    .await;
    let public = r.json()["value"].as_str().unwrap().to_string();
    assert!(public.starts_with("pk_") && &public[84..85] == "3");
    let list = app.get("/api/v1/user-api-keys?user_id=me").client().token(&token).send().await.json();
    assert_eq!(list["items"][0]["description"], "pub", "newest first");
}

#[tokio::test]
async fn revoked_expired_unknown_and_wrong_kind_keys_fail_the_check() {
    let app = spawn_app().await;
    let (_, token, _) = app.sign_up("ada@example.com").await;
    let team = client_team(&app, &token, "Acme").await;
    let key = |r: crate::helpers::Resp| {
        (r.json()["id"].as_str().unwrap().to_string(), r.json()["value"].as_str().unwrap().to_string())
    };
    let (id, live) =
        key(create_user_key(&app, &token, json!({"user_id": "me", "description": "a", "expires_at_millis": null}))
            .await);
    let (_, expired) =
        key(create_user_key(&app, &token, json!({"user_id": "me", "description": "b", "expires_at_millis": 1000}))
            .await);
    let team_key = app
        .post("/api/v1/team-api-keys")
        .client()
        .token(&token)
        .json(json!({"team_id": team, "description": "t", "expires_at_millis": null}))
        .send()
        .await;
    team_key.assert_status(200);
    let (_, team_key) = key(team_key);

    let check = |k: String| app.post("/api/v1/user-api-keys/check").server().json(json!({"api_key": k})).send();
    check(expired).await.assert_known(401, "API_KEY_EXPIRED");
    let e = check(team_key.clone()).await.assert_known(400, "WRONG_API_KEY_TYPE");
    assert_eq!(e["details"], json!({"expected_type": "user", "actual_type": "team"}));
    let mut forged = live.clone();
    forged.replace_range(3..4, if &live[3..4] == "a" { "b" } else { "a" });
    check(forged).await.assert_known(404, "API_KEY_NOT_FOUND");
    check("sk_nonsense".into()).await.assert_known(404, "API_KEY_NOT_FOUND");

    let r = app
        .patch(&format!("/api/v1/user-api-keys/{id}"))
        .client()
        .token(&token)
        .json(json!({"revoked": true, "description": "old"}))
        .send()
        .await;
    r.assert_status(200);
    let revoked_at = r.json()["manually_revoked_at_millis"].as_i64().unwrap();
    assert_eq!(r.json()["description"], "old");
    check(live.clone()).await.assert_known(401, "API_KEY_REVOKED");
    // Revocation is one-way and keeps its first time.
    let again = app
        .patch(&format!("/api/v1/user-api-keys/{id}"))
        .client()
        .token(&token)
        .json(json!({"revoked": true}))
        .send()
        .await;
    assert_eq!(again.json()["manually_revoked_at_millis"].as_i64().unwrap(), revoked_at);
    app.patch(&format!("/api/v1/user-api-keys/{id}"))
        .client()
        .token(&token)
        .json(json!({"revoked": false}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    let ok = app.post("/api/v1/team-api-keys/check").server().json(json!({"api_key": team_key})).send().await;
    ok.assert_status(200);
    assert_eq!(ok.json()["team_id"], team.as_str());
}

#[tokio::test]
async fn clients_manage_only_their_own_keys_and_their_teams_with_manage_api_keys() {
    let app = spawn_app().await;
    let (ada_id, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, bob, _) = app.sign_up("bob@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;

    // User keys: own only.
    app.post("/api/v1/user-api-keys")
        .client()
        .token(&bob)
        .json(json!({"user_id": ada_id, "description": "x", "expires_at_millis": null}))
        .send()
        .await
        .assert_plain(403);
    let id = create_user_key(&app, &ada, json!({"user_id": "me", "description": "x", "expires_at_millis": null}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.get(&format!("/api/v1/user-api-keys/{id}")).client().token(&bob).send().await.assert_plain(403);
    app.get(&format!("/api/v1/user-api-keys?user_id={ada_id}")).client().token(&bob).send().await.assert_plain(403);
    app.get(&format!("/api/v1/user-api-keys/{}", uuid::Uuid::new_v4()))
        .client()
        .token(&ada)
        .send()
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
    app.post("/api/v1/user-api-keys")
        .client()
        .json(json!({"user_id": "me", "description": "x", "expires_at_millis": null}))
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let e = app.get("/api/v1/user-api-keys").server().send().await.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(e["error"], "user_id is required for user API keys");
    create_user_key(&app, &ada, json!({"user_id": "me", "description": "x"})).await.assert_known(400, "SCHEMA_ERROR");

    // Team keys: a member without $manage_api_keys sees "not found".
    add_member(&app, &team, &bob_id).await;
    let create_team_key = |token: String| {
        let app = &app;
        let team = team.clone();
        async move {
            app.post("/api/v1/team-api-keys")
                .client()
                .token(&token)
                .json(json!({"team_id": team, "description": "k", "expires_at_millis": null}))
                .send()
                .await
        }
    };
    create_team_key(bob.clone()).await.assert_known(404, "API_KEY_NOT_FOUND");
    let k = create_team_key(ada.clone()).await;
    k.assert_status(200);
    let kid = k.json()["id"].as_str().unwrap().to_string();
    app.get(&format!("/api/v1/team-api-keys?team_id={team}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
    app.get(&format!("/api/v1/team-api-keys/{kid}?team_id={team}"))
        .client()
        .token(&bob)
        .send()
        .await
        .assert_known(404, "API_KEY_NOT_FOUND");
    let read = app.get(&format!("/api/v1/team-api-keys/{kid}?team_id={team}")).client().token(&ada).send().await;
    read.assert_status(200);
    assert_eq!(read.json()["team_id"], team.as_str());
    app.get(&format!("/api/v1/team-api-keys/{kid}"))
        .client()
        .token(&ada)
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.post(&format!("/api/v1/team-permissions/{team}/{bob_id}/$manage_api_keys"))
        .server()
        .send()
        .await
        .assert_status(201);
    let list = app.get(&format!("/api/v1/team-api-keys?team_id={team}")).client().token(&bob).send().await;
    list.assert_status(200);
    assert_eq!(list.json()["items"][0]["id"], kid.as_str());
}

#[tokio::test]
async fn project_flags_turn_each_kind_off() {
    let app = spawn_app().await;
    let (_, token, _) = app.sign_up("ada@example.com").await;
    app.configure(json!({"allow_user_api_keys": false, "allow_team_api_keys": false})).await;
    let r =
        create_user_key(&app, &token, json!({"user_id": "me", "description": "x", "expires_at_millis": null})).await;
    assert_eq!(r.assert_plain(400), "User API keys are not enabled for this project.");
    let r = app.post("/api/v1/team-api-keys/check").server().json(json!({"api_key": "x"})).send().await;
    assert_eq!(r.assert_plain(400), "Team API keys are not enabled for this project.");
}

#[tokio::test]
async fn credential_scanners_revoke_leaked_keys_and_owners_are_mailed() {
    let (app, sink) = crate::helpers::spawn_app_with_smtp().await;
    let (_, ada, _) = app.sign_up("ada@example.com").await;
    let (bob_id, _, _) = app.sign_up("bob@example.com").await;
    let team = client_team(&app, &ada, "Acme").await;
    add_member(&app, &team, &bob_id).await;
    let leak =
        |key: String| app.post("/api/v1/integrations/credential-scanning/revoke").json(json!({"api_key": key})).send();

    let user_key =
        create_user_key(&app, &ada, json!({"user_id": "me", "description": "x", "expires_at_millis": null})).await;
    let user_key = user_key.json()["value"].as_str().unwrap().to_string();
    leak(user_key.clone()).await.assert_status(200);
    let mail = sink.last_to("ada@example.com").await;
    assert_eq!(mail.subject(), "An API key was revoked because it was leaked");
    assert!(mail.body().contains(&user_key[98..]));
    assert!(!mail.body().contains(&user_key), "the key itself is never mailed");
    app.post("/api/v1/user-api-keys/check")
        .server()
        .json(json!({"api_key": user_key}))
        .send()
        .await
        .assert_known(401, "API_KEY_REVOKED");
    leak(user_key).await.assert_status(200);

    // A team key: only members holding $manage_api_keys (Ada, team_admin) are told.
    let team_key = app
        .post("/api/v1/team-api-keys")
        .client()
        .token(&ada)
        .json(json!({"team_id": team, "description": "t", "expires_at_millis": null}))
        .send()
        .await
        .json()["value"]
        .as_str()
        .unwrap()
        .to_string();
    leak(team_key.clone()).await.assert_status(200);
    sink.wait_for(2).await;
    let to_bob = sink.messages().into_iter().filter(|m| m.rcpt_to.iter().any(|r| r == "bob@example.com")).count();
    assert_eq!(to_bob, 0);
    app.post("/api/v1/team-api-keys/check")
        .server()
        .json(json!({"api_key": team_key}))
        .send()
        .await
        .assert_known(401, "API_KEY_REVOKED");

    // Public keys are meant to be seen; expired ones need nothing; unknown ones are not found.
    let public = create_user_key(
        &app,
        &ada,
        json!({"user_id": "me", "description": "p", "expires_at_millis": null, "is_public": true}),
    )
    .await;
    leak(public.json()["value"].as_str().unwrap().to_string())
        .await
        .assert_known(400, "PUBLIC_API_KEY_CANNOT_BE_REVOKED");
    let old = create_user_key(&app, &ada, json!({"user_id": "me", "description": "o", "expires_at_millis": 1})).await;
    leak(old.json()["value"].as_str().unwrap().to_string()).await.assert_known(401, "API_KEY_EXPIRED");
    leak("sk_unknown".into()).await.assert_known(404, "API_KEY_NOT_FOUND");
}

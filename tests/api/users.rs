//! `/users`: shapes, metadata rights, the access-type matrix, e-mail rules, pagination and search.

use serde_json::{json, Value};

use crate::helpers::spawn_app;

const SERVER_FIELDS: &[&str] = &[
    "id",
    "primary_email",
    "primary_email_verified",
    "primary_email_auth_enabled",
    "display_name",
    "profile_image_url",
    "signed_up_at_millis",
    "last_active_at_millis",
    "client_metadata",
    "client_read_only_metadata",
    "server_metadata",
    "has_password",
    "otp_auth_enabled",
    "passkey_auth_enabled",
    "auth_with_email",
    "requires_totp_mfa",
    "oauth_providers",
    "selected_team_id",
    "selected_team",
    "is_anonymous",
    "is_restricted",
    "restricted_reason",
    "restricted_by_admin",
    "restricted_by_admin_reason",
    "restricted_by_admin_private_details",
    "country_code",
    "risk_scores",
];
const SERVER_ONLY: &[&str] = &[
    "primary_email_auth_enabled",
    "last_active_at_millis",
    "server_metadata",
    "restricted_by_admin_private_details",
    "country_code",
    "risk_scores",
];

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn sorted(fields: &[&str]) -> Vec<String> {
    let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
    f.sort();
    f
}

#[tokio::test]
async fn create_and_read_return_the_exact_server_shape() {
    let app = spawn_app().await;
    let r = app
        .post("/api/v1/users")
        .server()
        .json(json!({
            "primary_email": "Jane.Doe@Example.COM", "primary_email_auth_enabled": true, "display_name": "Jane",
            "client_metadata": {"theme": "dark"}, "client_read_only_metadata": {"plan": "pro"}, "server_metadata": {"crm": 7},
            "country_code": " de", "risk_scores": {"sign_up": {"bot": 5, "free_trial_abuse": 9}}
        }))
        .send()
        .await;
    r.assert_status(201);
    let u = r.json();
    assert_eq!(keys(&u), sorted(SERVER_FIELDS));
    assert_eq!(u["primary_email"], "jane.doe@example.com");
    assert_eq!(u["primary_email_verified"], false);
    assert_eq!(u["primary_email_auth_enabled"], true);
    assert_eq!(u["country_code"], "DE");
    assert_eq!(u["risk_scores"], json!({"sign_up": {"bot": 5, "free_trial_abuse": 9}}));
    assert_eq!(u["server_metadata"], json!({"crm": 7}));
    assert_eq!(u["oauth_providers"], json!([]));
    assert_eq!(u["selected_team"], Value::Null);
    assert_eq!(u["restricted_reason"], Value::Null);
    assert_eq!(u["has_password"], false);

    let id = u["id"].as_str().unwrap();
    let got = app.get(&format!("/api/v1/users/{id}")).server().send().await;
    assert_eq!(got.json(), u);
    let admin = app.get(&format!("/api/v1/users/{id}")).admin().send().await;
    assert_eq!(admin.json()["id"], id);

    // Defaults: risk scores 0/0, nothing set.
    let bare = app.post("/api/v1/users").server().json(json!({})).send().await.json();
    assert_eq!(bare["risk_scores"], json!({"sign_up": {"bot": 0, "free_trial_abuse": 0}}));
    assert_eq!(bare["primary_email"], Value::Null);
    assert_eq!(bare["last_active_at_millis"], bare["signed_up_at_millis"]);
}

#[tokio::test]
async fn client_view_hides_server_fields_and_client_writes_only_client_fields() {
    let app = spawn_app().await;
    let (id, token, _) = app.sign_up("me@example.com").await;
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    let mut client_fields: Vec<&str> = SERVER_FIELDS.iter().copied().filter(|f| !SERVER_ONLY.contains(f)).collect();
    client_fields.sort();
    assert_eq!(keys(&me), sorted(&client_fields));
    assert_eq!(me["has_password"], true);
    assert_eq!(me["auth_with_email"], true);

    // The same route with server access shows the server shape.
    let me_server = app.get("/api/v1/users/me").server().token(&token).send().await.json();
    assert_eq!(keys(&me_server), sorted(SERVER_FIELDS));

    let r = app
        .patch("/api/v1/users/me")
        .client()
        .token(&token)
        .json(json!({"display_name": "Me", "client_metadata": {"a": 1}}))
        .send()
        .await;
    r.assert_status(200);
    assert_eq!((r.json()["display_name"].clone(), r.json()["client_metadata"].clone()), (json!("Me"), json!({"a": 1})));
    for field in ["server_metadata", "client_read_only_metadata", "primary_email_verified", "restricted_by_admin"] {
        let r = app.patch("/api/v1/users/me").client().token(&token).json(json!({ field: true })).send().await;
        let b = r.assert_known(400, "SCHEMA_ERROR");
        assert!(b["details"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("body contains unknown properties: {field}")));
    }
    // The server writes all three metadata kinds; the client reads two of them.
    let r = app
        .patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"client_read_only_metadata": {"plan": "pro"}, "server_metadata": {"secret": 1}}))
        .send()
        .await;
    assert_eq!(r.json()["server_metadata"], json!({"secret": 1}));
    let me = app.get("/api/v1/users/me").client().token(&token).send().await.json();
    assert_eq!(me["client_read_only_metadata"], json!({"plan": "pro"}));
    assert!(me.get("server_metadata").is_none());
    // `null` clears, omission keeps.
    let r = app.patch("/api/v1/users/me").client().token(&token).json(json!({"client_metadata": null})).send().await;
    assert_eq!((r.json()["client_metadata"].clone(), r.json()["display_name"].clone()), (Value::Null, json!("Me")));
}

#[tokio::test]
async fn access_type_matrix_and_user_isolation() {
    let app = spawn_app().await;
    let (a_id, a_token, _) = app.sign_up("a@example.com").await;
    let (b_id, _, _) = app.sign_up("b@example.com").await;
    for (method, path) in [("GET", "/api/v1/users"), ("POST", "/api/v1/users")] {
        let r = app.call(method, path).client().token(&a_token).json(json!({})).send().await;
        r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    }
    for method in ["GET", "PATCH", "DELETE"] {
        let r = app
            .call(method, &format!("/api/v1/users/{b_id}"))
            .client()
            .token(&a_token)
            .json(json!({"display_name": "pwned"}))
            .send()
            .await;
        r.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    }
    // A's own update changes A only.
    app.patch("/api/v1/users/me")
        .client()
        .token(&a_token)
        .json(json!({"display_name": "A"}))
        .send()
        .await
        .assert_status(200);
    let b = app.get(&format!("/api/v1/users/{b_id}")).server().send().await.json();
    assert_eq!(b["display_name"], Value::Null);
    // Users of one project are invisible to another.
    app.get(&format!("/api/v1/users/{a_id}"))
        .server()
        .project(&app.other)
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");
    let list = app.get("/api/v1/users").server().project(&app.other).send().await.json();
    assert_eq!(list["items"], json!([]));
    // `me` without a user.
    app.get("/api/v1/users/me").client().send().await.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    app.get("/api/v1/users/me").server().send().await.assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    // `me` in a user-id path.
    let r = app.get("/api/v1/users/me").server().token(&a_token).send().await;
    assert_eq!(r.json()["id"], a_id);
    app.get("/api/v1/users/not-a-uuid").server().send().await.assert_known(400, "SCHEMA_ERROR");
}

#[tokio::test]
async fn update_and_delete() {
    let app = spawn_app().await;
    let missing = "00000000-0000-4000-8000-000000000000";
    app.get(&format!("/api/v1/users/{missing}")).server().send().await.assert_known(404, "USER_NOT_FOUND");
    app.patch(&format!("/api/v1/users/{missing}"))
        .server()
        .json(json!({}))
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");
    app.delete(&format!("/api/v1/users/{missing}")).server().send().await.assert_known(404, "USER_NOT_FOUND");

    let (id, token, refresh) = app.sign_up("upd@example.com").await;
    let r = app
        .patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"display_name": "", "restricted_by_admin": true, "restricted_by_admin_reason": "r", "restricted_by_admin_private_details": "p"}))
        .send()
        .await;
    let u = r.json();
    assert_eq!(u["display_name"], Value::Null);
    assert_eq!(
        (u["is_restricted"].clone(), u["restricted_reason"].clone()),
        (json!(true), json!({"type": "restricted_by_administrator"}))
    );
    let u = app
        .patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"restricted_by_admin": false}))
        .send()
        .await
        .json();
    assert_eq!(
        (u["restricted_by_admin_reason"].clone(), u["restricted_by_admin_private_details"].clone()),
        (Value::Null, Value::Null)
    );
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"restricted_by_admin_reason": "x"}))
        .send()
        .await
        .assert_plain(400);
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"is_anonymous": true}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"country_code": "Germany"}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"risk_scores": {"sign_up": {"bot": 101, "free_trial_abuse": 0}}}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"selected_team_id": "00000000-0000-4000-8000-000000000001"}))
        .send()
        .await
        .assert_known(404, "TEAM_MEMBERSHIP_NOT_FOUND");
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"profile_image_url": "ftp://x"}))
        .send()
        .await
        .assert_plain(400);
    let u = app
        .patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"totp_secret_base64": "aGVsbG8gd29ybGQ="}))
        .send()
        .await
        .json();
    assert_eq!(u["requires_totp_mfa"], true);

    // A password change ends every session of the user.
    app.patch(&format!("/api/v1/users/{id}"))
        .server()
        .json(json!({"password": "another-password"}))
        .send()
        .await
        .assert_status(200);
    app.refresh(&refresh).send().await.assert_known(401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED");

    // Client deletion needs the project switch; server deletion does not.
    app.delete("/api/v1/users/me").client().token(&token).send().await.assert_plain(400);
    app.configure(json!({"client_user_deletion_enabled": true})).await;
    app.delete("/api/v1/users/me").client().token(&token).send().await.assert_status(200);
    app.get(&format!("/api/v1/users/{id}")).server().send().await.assert_known(404, "USER_NOT_FOUND");
    // The still-valid token of a deleted user means "no user".
    app.get("/api/v1/users/me")
        .client()
        .token(&token)
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    let other = app.create_user(json!({})).await;
    let r = app.delete(&format!("/api/v1/users/{other}")).server().json(json!({})).send().await;
    assert_eq!(r.json(), json!({"success": true}));
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM sessions WHERE user_id NOT IN (SELECT id FROM users)"), 0);
}

#[tokio::test]
async fn primary_email_rules() {
    let app = spawn_app().await;
    app.post("/api/v1/users").server().json(json!({"primary_email_auth_enabled": true})).send().await.assert_plain(400);
    app.post("/api/v1/users").server().json(json!({"primary_email_verified": true})).send().await.assert_plain(400);
    app.post("/api/v1/users")
        .server()
        .json(json!({"primary_email": "not-an-email"}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.create_user(json!({"primary_email": "Taken@Example.com", "primary_email_auth_enabled": true})).await;
    let r = app
        .post("/api/v1/users")
        .server()
        .json(json!({"primary_email": "taken@example.com", "primary_email_auth_enabled": true}))
        .send()
        .await;
    let b = r.assert_known(409, "USER_EMAIL_ALREADY_EXISTS");
    assert_eq!(b["details"], json!({"email": "taken@example.com", "would_work_if_email_was_verified": false}));
    // Without sign-in rights the address may repeat.
    app.create_user(json!({"primary_email": "taken@example.com"})).await;

    let id = app.create_user(json!({"primary_email": "one@example.com", "primary_email_verified": true, "primary_email_auth_enabled": true})).await;
    let path = format!("/api/v1/users/{id}");
    let u = app.patch(&path).server().json(json!({"primary_email": "two@example.com"})).send().await.json();
    assert_eq!(
        (u["primary_email"].clone(), u["primary_email_verified"].clone(), u["primary_email_auth_enabled"].clone()),
        (json!("two@example.com"), json!(false), json!(true))
    );
    // Switching back to the old address keeps its verification.
    let u = app.patch(&path).server().json(json!({"primary_email": "one@example.com"})).send().await.json();
    assert_eq!(u["primary_email_verified"], true);
    let u = app.patch(&path).server().json(json!({"primary_email": null})).send().await.json();
    assert_eq!((u["primary_email"].clone(), u["primary_email_verified"].clone()), (Value::Null, json!(false)));
    app.patch(&path)
        .server()
        .json(json!({"primary_email": "taken@example.com", "primary_email_auth_enabled": true}))
        .send()
        .await
        .assert_known(409, "USER_EMAIL_ALREADY_EXISTS");
}

#[tokio::test]
async fn password_import_and_conflicts() {
    let app = spawn_app().await;
    let bcrypt_hash = bcrypt::hash("imported-password", 4).unwrap();
    app.create_user(
        json!({"primary_email": "imp@example.com", "primary_email_auth_enabled": true, "password_hash": bcrypt_hash}),
    )
    .await;
    let r = app
        .post("/api/v1/auth/password/sign-in")
        .client()
        .json(json!({"email": "imp@example.com", "password": "imported-password"}))
        .send()
        .await;
    r.assert_status(200);
    app.post("/api/v1/users")
        .server()
        .json(json!({"password": "a", "password_hash": bcrypt_hash}))
        .send()
        .await
        .assert_plain(400);
    app.post("/api/v1/users")
        .server()
        .json(json!({"password_hash": "$argon2id$v=19$m=1,t=1,p=1$abc$def"}))
        .send()
        .await
        .assert_plain(400);
    // Server-side writes skip the strength check but keep the 70-character limit.
    let u = app
        .post("/api/v1/users")
        .server()
        .json(json!({"primary_email": "short@example.com", "primary_email_auth_enabled": true, "password": "x"}))
        .send()
        .await;
    assert_eq!(u.json()["has_password"], true);
    app.post("/api/v1/users")
        .server()
        .json(json!({"password": "x".repeat(71)}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    // New passwords are stored as argon2id, never in plain text.
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM password_credentials WHERE password_hash LIKE '$argon2id$%'"), 1);
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM password_credentials WHERE password_hash = 'x'"), 0);
    app.configure(json!({"credential_enabled": false})).await;
    app.post("/api/v1/users").server().json(json!({"password": "password-1"})).send().await.assert_plain(400);
}

#[tokio::test]
async fn list_paginates_filters_and_searches() {
    let app = spawn_app().await;
    let mut ids = vec![];
    for i in 0..5 {
        ids.push(
            app.create_user(
                json!({"display_name": format!("User {i}"), "primary_email": format!("user{i}@example.com")}),
            )
            .await,
        );
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    app.post("/api/v1/auth/anonymous/sign-up").client().send().await.assert_status(200);
    app.create_user(json!({"display_name": "Banned", "restricted_by_admin": true})).await;

    let all = app.get("/api/v1/users").server().send().await.json();
    assert_eq!(all["is_paginated"], true);
    let listed: Vec<&str> = all["items"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all["pagination"]["next_cursor"], Value::Null);

    let page1 = app.get("/api/v1/users?limit=2").server().send().await.json();
    assert_eq!(page1["items"].as_array().unwrap().len(), 2);
    assert_eq!(page1["pagination"]["next_cursor"], ids[2].as_str());
    let page2 = app.get(&format!("/api/v1/users?limit=2&cursor={}", ids[2])).server().send().await.json();
    assert_eq!(page2["items"][0]["id"], ids[2].as_str());
    let desc = app.get("/api/v1/users?desc=true&limit=1").server().send().await.json();
    assert_eq!(desc["items"][0]["id"], ids[4].as_str());
    assert_eq!(desc["pagination"]["next_cursor"], ids[3].as_str());

    let q = app.get("/api/v1/users?query=USER3%40").server().send().await.json();
    assert_eq!(q["items"].as_array().unwrap().len(), 1);
    let q = app.get(&format!("/api/v1/users?query={}", ids[1])).server().send().await.json();
    assert_eq!(q["items"][0]["id"], ids[1].as_str());
    let q = app.get("/api/v1/users?query=user%202").server().send().await.json();
    assert_eq!(q["items"][0]["display_name"], "User 2");

    let n = |v: Value| v["items"].as_array().unwrap().len();
    assert_eq!(n(app.get("/api/v1/users?include_restricted=true").server().send().await.json()), 6);
    assert_eq!(n(app.get("/api/v1/users?include_anonymous=true").server().send().await.json()), 7);
    assert_eq!(n(app.get("/api/v1/users?include_anonymous=true&only_anonymous=true").server().send().await.json()), 1);
    app.get("/api/v1/users?only_anonymous=true").server().send().await.assert_plain(400);
    app.get("/api/v1/users?order_by=display_name").server().send().await.assert_known(400, "SCHEMA_ERROR");
    app.get("/api/v1/users?cursor=nope").server().send().await.assert_known(400, "SCHEMA_ERROR");
}

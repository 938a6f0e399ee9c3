//! `/oauth-providers` (spec 10 §10.6) and connected accounts (§10.7): the access matrix, the
//! sign-in rules of links, and provider access tokens — stored, refreshed, or refused for scope —
//! obtained from a development provider served by a second stackd.

use serde_json::{json, Value};

use crate::helpers::*;
use crate::oauth::sign_in;

async fn enable_github(app: &TestApp) {
    app.configure(json!({"oauth_providers": [{"id": "github", "type": "shared"}]})).await;
}

#[tokio::test]
async fn links_are_managed_by_servers_and_read_by_their_own_user() {
    let app = spawn_app().await;
    enable_github(&app).await;
    let (alice, alice_token, _) = app.sign_up("alice@example.com").await;
    let (bob, bob_token, _) = app.sign_up("bob@example.com").await;
    let create = |user: &str, account: &str, sign_in: bool| {
        app.post("/api/v1/oauth-providers").server().json(json!({
            "user_id": user, "provider_config_id": "github", "account_id": account,
            "allow_sign_in": sign_in, "allow_connected_accounts": true, "email": "gh@example.com"
        }))
    };
    // Clients cannot create links.
    app.post("/api/v1/oauth-providers")
        .client()
        .token(&alice_token)
        .json(json!({"user_id": "me", "provider_config_id": "github", "account_id": "1", "allow_sign_in": true, "allow_connected_accounts": true}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let r = create(&alice, "gh-1", true).send().await;
    r.assert_status(201);
    let link = r.json();
    assert_eq!(link["type"], "github");
    assert_eq!(link["account_id"], "gh-1");
    let link_id = link["id"].as_str().unwrap().to_string();

    // The rules of sign-in links.
    create(&alice, "gh-1", false).send().await.assert_plain(400);
    create(&alice, "gh-2", true).send().await.assert_plain(400);
    create(&bob, "gh-1", true).send().await.assert_known(400, "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN");
    app.post("/api/v1/oauth-providers")
        .server()
        .json(json!({"user_id": alice, "provider_config_id": "gitlab", "account_id": "x", "allow_sign_in": true, "allow_connected_accounts": true}))
        .send()
        .await
        .assert_plain(404);
    app.post("/api/v1/oauth-providers")
        .server()
        .json(json!({"user_id": uuid::Uuid::new_v4().to_string(), "provider_config_id": "github", "account_id": "x", "allow_sign_in": false, "allow_connected_accounts": true}))
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");

    // Reading: the client sees its own links, without account ids.
    let mine = app.get("/api/v1/oauth-providers?user_id=me").client().token(&alice_token).send().await.json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert!(mine["items"][0].get("account_id").is_none());
    assert_eq!(mine["items"][0]["email"], "gh@example.com");
    app.get(&format!("/api/v1/oauth-providers?user_id={alice}"))
        .client()
        .token(&bob_token)
        .send()
        .await
        .assert_plain(403);
    app.get("/api/v1/oauth-providers").client().token(&bob_token).send().await.assert_plain(403);
    let all = app.get("/api/v1/oauth-providers").server().send().await.json();
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    app.get(&format!("/api/v1/oauth-providers/{alice}/{link_id}"))
        .client()
        .token(&bob_token)
        .send()
        .await
        .assert_plain(403);
    app.get(&format!("/api/v1/oauth-providers/{bob}/{link_id}")).server().send().await.assert_plain(404);
    let user: Value = app.get(&format!("/api/v1/users/{alice}")).server().send().await.json();
    assert_eq!(user["oauth_providers"], json!([{"id": "github", "account_id": "gh-1", "email": "gh@example.com"}]));

    // Updating: clients may flip the switches only.
    let path = format!("/api/v1/oauth-providers/me/{link_id}");
    app.patch(&path)
        .client()
        .token(&alice_token)
        .json(json!({"account_id": "x"}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    let r = app.patch(&path).client().token(&alice_token).json(json!({"allow_sign_in": false})).send().await;
    r.assert_status(200);
    assert_eq!(r.json()["allow_sign_in"], false);
    // Now bob may sign in with that account.
    create(&bob, "gh-1", true).send().await.assert_status(201);
    app.patch(&path)
        .client()
        .token(&alice_token)
        .json(json!({"allow_sign_in": true}))
        .send()
        .await
        .assert_known(400, "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN");

    // Deleting.
    app.delete(&format!("/api/v1/oauth-providers/{alice}/{link_id}"))
        .client()
        .token(&bob_token)
        .send()
        .await
        .assert_plain(403);
    app.delete(&path).client().token(&alice_token).send().await.assert_status(200);
    app.get(&path).client().token(&alice_token).send().await.assert_plain(404);
    let user: Value = app.get(&format!("/api/v1/users/{alice}")).server().send().await.json();
    assert_eq!(user["oauth_providers"], json!([]));
}

/// A stackd whose `github` is a standard provider served by `provider`'s development provider.
async fn app_using(provider: &TestApp) -> TestApp {
    let issuer = format!("{}/dev-oauth/github", provider.base);
    let app = spawn_app_with(move |c| {
        c.oauth.issuers.insert("github".into(), issuer);
    })
    .await;
    app.configure(json!({"oauth_providers": [{"id": "github", "type": "standard", "client_id": "stackd-dev", "client_secret": "anything"}]})).await;
    app
}

#[tokio::test]
async fn connected_accounts_hand_out_stored_or_refreshed_provider_tokens() {
    let provider = spawn_app().await;
    let app = app_using(&provider).await;
    let tokens = sign_in(&app, "connected@example.com", &[("provider_scope", "repo")]).await;
    let token = tokens["access_token"].as_str().unwrap();
    let me = app.get("/api/v1/users/me").client().token(token).send().await.json();
    let user_id = me["id"].as_str().unwrap().to_string();
    let account_id = me["oauth_providers"][0]["account_id"].as_str().unwrap().to_string();

    let list = app.get("/api/v1/connected-accounts/me").client().token(token).send().await;
    assert_eq!(
        list.json(),
        json!({"items": [{"user_id": user_id, "provider": "github", "provider_account_id": account_id}], "is_paginated": false})
    );

    let path = format!("/api/v1/connected-accounts/me/github/{account_id}/access-token");
    let get = |scope: Option<&str>| {
        let body = match scope {
            Some(s) => json!({"scope": s}),
            None => json!({}),
        };
        app.post(&path).client().token(token).json(body)
    };
    // The stored token covers the granted scopes (it is checked with the provider).
    let r = get(Some("user:email repo")).send().await;
    r.assert_status(201);
    let stored = r.json()["access_token"].as_str().unwrap().to_string();
    let userinfo = provider
        .http
        .get(format!("{}/dev-oauth/github/userinfo", provider.base))
        .bearer_auth(&stored)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    assert_eq!(get(None).send().await.json()["access_token"], stored.as_str());
    // The legacy route finds it too.
    let legacy = app
        .post("/api/v1/connected-accounts/me/github/access-token")
        .client()
        .token(token)
        .json(json!({"scope": "repo"}))
        .send()
        .await;
    assert_eq!(legacy.json()["access_token"], stored.as_str());

    // Scopes that were never granted.
    get(Some("admin:org")).send().await.assert_known(400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE");

    // An expired token is refreshed with the stored refresh token.
    app.db_exec("UPDATE oauth_tokens SET expires_at = 1 WHERE kind = 'access'");
    let fresh = get(Some("repo")).send().await;
    fresh.assert_status(201);
    let fresh = fresh.json()["access_token"].as_str().unwrap().to_string();
    assert_ne!(fresh, stored);
    let userinfo = provider
        .http
        .get(format!("{}/dev-oauth/github/userinfo", provider.base))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 200);
    // With no usable refresh token left either: the scope error.
    app.db_exec("UPDATE oauth_tokens SET is_valid = 0");
    get(Some("repo")).send().await.assert_known(400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE");

    // Access: other users, unknown accounts and providers.
    let (_, other_token, _) = app.sign_up("other@example.com").await;
    app.post(&format!("/api/v1/connected-accounts/{user_id}/github/{account_id}/access-token"))
        .client()
        .token(&other_token)
        .json(json!({}))
        .send()
        .await
        .assert_plain(403);
    app.get(&format!("/api/v1/connected-accounts/{user_id}"))
        .client()
        .token(&other_token)
        .send()
        .await
        .assert_plain(403);
    app.post("/api/v1/connected-accounts/me/github/unknown-account/access-token")
        .client()
        .token(token)
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER");
    app.post("/api/v1/connected-accounts/me/gitlab/access-token")
        .client()
        .token(token)
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED");
    app.get(&format!("/api/v1/connected-accounts/{}", uuid::Uuid::new_v4()))
        .server()
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");
}

#[tokio::test]
async fn shared_credentials_give_no_provider_access_tokens() {
    let provider = spawn_app().await;
    let issuer = format!("{}/dev-oauth/github", provider.base);
    let app = spawn_app_with(move |c| {
        c.oauth.issuers.insert("github".into(), issuer);
        c.oauth.shared_credentials.insert("github".into(), ("stackd-dev".into(), "shared-secret".into()));
    })
    .await;
    enable_github(&app).await;
    let tokens = sign_in(&app, "shared@example.com", &[]).await;
    app.post("/api/v1/connected-accounts/me/github/access-token")
        .client()
        .token(tokens["access_token"].as_str().unwrap())
        .json(json!({}))
        .send()
        .await
        .assert_known(400, "OAUTH_ACCESS_TOKEN_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS");
}

//! Sign-up rules (spec 10 §11): configured through the config API, evaluated in order on every
//! end-user sign-up (password, OTP, OAuth), each action, and the tester's statuses.

use serde_json::{json, Value};

use crate::helpers::*;

/// Replaces the rules (an override merges records, so the old ones are removed first).
async fn set_rules(app: &TestApp, rules: Value, default_action: &str) {
    let clear = json!({"auth.signUpRules": null});
    let set = json!({"auth.signUpRules": rules, "auth.signUpRulesDefaultAction": default_action});
    for patch in [clear, set] {
        app.patch("/api/v1/internal/config/override/environment")
            .admin()
            .json(json!({"config_override_string": patch.to_string()}))
            .send()
            .await
            .assert_status(200);
    }
}

fn rule(priority: i64, condition: &str, action: &str) -> Value {
    json!({"enabled": true, "priority": priority, "condition": condition, "action": {"type": action, "message": "secret reason"}})
}

async fn sign_up(app: &TestApp, email: &str) -> Resp {
    app.post("/api/v1/auth/password/sign-up")
        .client()
        .json(json!({"email": email, "password": "password-123"}))
        .send()
        .await
}

async fn tester(app: &TestApp, email: Option<&str>, extra: Value) -> Value {
    let mut body = json!({"email": email, "auth_method": "password", "oauth_provider": null, "country_code": null});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = app.post("/api/v1/internal/sign-up-rules-test").admin().json(body).send().await;
    r.assert_status(200);
    r.json()
}

#[tokio::test]
async fn rules_allow_reject_restrict_and_log_in_priority_order() {
    let app = spawn_app().await;
    set_rules(
        &app,
        json!({
            "block_evil": rule(10, r#"emailDomain == "evil.example""#, "reject"),
            "vip": rule(20, r#"email.startsWith("vip@")"#, "allow"),
            "watch": rule(5, r#"email.contains("watch")"#, "restrict"),
            "Audit": rule(5, r#"emailDomain in ["evil.example", "watch.example"]"#, "log"),
            "off": {"enabled": false, "priority": 99, "condition": "true", "action": {"type": "reject"}},
        }),
        "allow",
    )
    .await;
    // reject: the rule's own message is never shown.
    let r = sign_up(&app, "mallory@evil.example").await;
    let body = r.assert_known(403, "SIGN_UP_REJECTED");
    assert!(!r.text.contains("secret reason"));
    assert_eq!(body["details"]["message"], "Your sign up was rejected by an administrator's sign-up rule.");
    // Nothing was written (the rule runs first, so a taken address does not matter either).
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM users"), 0);
    // allow with a higher priority wins over the reject below it.
    sign_up(&app, "vip@evil.example").await.assert_status(200);
    // restrict: signed up, restricted by the admin with the rule named privately.
    let (user_id, _, _) = app.sign_up("someone@watch.example").await;
    let user = app.get(&format!("/api/v1/users/{user_id}")).server().send().await.json();
    assert_eq!(user["restricted_by_admin"], true);
    assert_eq!(user["restricted_by_admin_reason"], Value::Null);
    assert_eq!(user["restricted_by_admin_private_details"], "Restricted by sign-up rule: watch");
    // log only: nothing changes.
    set_rules(&app, json!({"audit": rule(0, "true", "log")}), "allow").await;
    let (user_id, _, _) = app.sign_up("plain@example.com").await;
    assert_eq!(app.get(&format!("/api/v1/users/{user_id}")).server().send().await.json()["restricted_by_admin"], false);

    // The default action decides when no rule does; server-side creation is not a sign-up.
    set_rules(&app, json!({"named": {"enabled": true, "priority": 1, "displayName": "Watch list", "condition": r#"email.endsWith("@watch.example")"#, "action": {"type": "restrict"}}}), "reject").await;
    sign_up(&app, "new@example.com").await.assert_known(403, "SIGN_UP_REJECTED");
    app.post("/api/v1/users")
        .server()
        .json(json!({"primary_email": "made@example.com"}))
        .send()
        .await
        .assert_status(201);
    // A restrict rule alone does not decide: the default still rejects.
    sign_up(&app, "x@watch.example").await.assert_known(403, "SIGN_UP_REJECTED");
    set_rules(&app, json!({"named": {"enabled": true, "priority": 1, "displayName": "Watch list", "condition": r#"email.endsWith("@watch.example")"#, "action": {"type": "restrict"}}}), "allow").await;
    let (user_id, _, _) = app.sign_up("y@watch.example").await;
    let user = app.get(&format!("/api/v1/users/{user_id}")).server().send().await.json();
    assert_eq!(user["restricted_by_admin_private_details"], "Restricted by sign-up rule: named (Watch list)");
}

#[tokio::test]
async fn otp_and_oauth_sign_ups_run_the_rules_with_their_method() {
    let (app, sink) = spawn_app_with_smtp().await;
    set_rules(
        &app,
        json!({
            "no_oauth_github": rule(1, r#"authMethod == "oauth" && oauthProvider == "github""#, "reject"),
            "no_otp": rule(1, r#"authMethod == "otp" && emailDomain == "otp.example""#, "reject"),
        }),
        "allow",
    )
    .await;
    // OTP: the code is mailed; the sign-in that would create the user is rejected.
    for email in ["new@otp.example", "new@fine.example"] {
        app.post("/api/v1/auth/otp/send-sign-in-code")
            .client()
            .json(json!({"email": email, "callback_url": CALLBACK}))
            .send()
            .await
            .assert_status(200);
    }
    let code = sink.last_to("new@otp.example").await.code();
    app.post("/api/v1/auth/otp/sign-in")
        .client()
        .json(json!({"code": code}))
        .send()
        .await
        .assert_known(403, "SIGN_UP_REJECTED");
    let code = sink.last_to("new@fine.example").await.code();
    app.post("/api/v1/auth/otp/sign-in").client().json(json!({"code": code})).send().await.assert_status(200);
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM users"), 1);
    // OAuth: rejected at the callback, and redirected to the app with the code.
    let b = crate::oauth::Browser::new();
    let page =
        crate::oauth::through_dev_provider(&app, &b, &[], crate::oauth::Consent::SignInAs("gh@example.com")).await;
    assert_eq!(page.status, 307, "{}", page.text);
    assert_eq!(page.param("errorCode").as_deref(), Some("SIGN_UP_REJECTED"));
    assert_eq!(app.db_scalar("SELECT COUNT(*) FROM users"), 1);
    // Password sign-ups are not concerned by these two.
    sign_up(&app, "pw@otp.example").await.assert_status(200);
}

#[tokio::test]
async fn the_tester_shows_each_status_and_the_decision() {
    let app = spawn_app().await;
    set_rules(
        &app,
        json!({
            "a_error": rule(50, r#"email.matches("(")"#, "reject"),
            "b_disabled": {"enabled": false, "priority": 40, "condition": "true", "action": {"type": "reject"}},
            "c_missing": {"enabled": true, "priority": 30, "action": {"type": "reject"}},
            "d_no": rule(20, "riskScores.bot > 50", "reject"),
            "e_restrict": rule(10, r#"countryCode == "DE""#, "restrict"),
            "f_allow": rule(0, r#"emailDomain == "example.com""#, "allow"),
            "g_never_reached": rule(0, "true", "reject"),
        }),
        "reject",
    )
    .await;
    let r = tester(
        &app,
        Some("Someone@Example.com"),
        json!({"country_code": "de", "risk_scores": {"bot": 10, "free_trial_abuse": 0}}),
    )
    .await;
    let statuses: Vec<(String, String)> = r["evaluations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["rule_id"].as_str().unwrap().into(), e["status"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("a_error", "error"),
            ("b_disabled", "disabled"),
            ("c_missing", "missing_condition"),
            ("d_no", "not_matched"),
            ("e_restrict", "matched"),
            ("f_allow", "matched")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(r["evaluations"][0]["error"].as_str().unwrap().contains("regular expression"));
    assert_eq!(r["evaluations"][0]["action"], json!({"type": "reject", "message": "secret reason"}));
    assert_eq!(
        r["outcome"],
        json!({"should_allow": true, "decision": "allow", "decision_rule_id": "f_allow", "restricted_because_of_rule_id": "e_restrict"})
    );
    assert_eq!(r["context"]["email"], "someone@example.com");
    assert_eq!(r["context"]["email_domain"], "example.com");
    assert_eq!(r["context"]["country_code"], "DE");
    assert_eq!(r["context"]["turnstile_result"], "invalid");

    // A high bot score: d_no rejects.
    let r = tester(&app, Some("someone@example.com"), json!({"risk_scores": {"bot": 90, "free_trial_abuse": 0}})).await;
    assert_eq!(r["outcome"]["decision"], "reject");
    assert_eq!(r["outcome"]["decision_rule_id"], "d_no");
    // Without an e-mail, only the catch-all rule at the end matches.
    let r = tester(&app, None, json!({})).await;
    assert_eq!(
        r["outcome"],
        json!({"should_allow": false, "decision": "reject", "decision_rule_id": "g_never_reached", "restricted_because_of_rule_id": null})
    );
    assert_eq!(r["context"]["email"], Value::Null);
    // No rules: the default decides.
    set_rules(&app, json!({}), "reject").await;
    let r = tester(&app, Some("a@example.com"), json!({})).await;
    assert_eq!(
        r["outcome"],
        json!({"should_allow": false, "decision": "default-reject", "decision_rule_id": null, "restricted_because_of_rule_id": null})
    );
    assert_eq!(r["evaluations"], json!([]));

    // Input checks and access.
    app.post("/api/v1/internal/sign-up-rules-test")
        .admin()
        .json(json!({"auth_method": "password", "oauth_provider": null, "country_code": null}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.post("/api/v1/internal/sign-up-rules-test")
        .admin()
        .json(json!({"email": null, "auth_method": "carrier-pigeon", "oauth_provider": null, "country_code": null}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    app.post("/api/v1/internal/sign-up-rules-test")
        .server()
        .json(json!({"email": null, "auth_method": "password", "oauth_provider": null, "country_code": null}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn rules_are_validated_and_read_back_through_the_config_api() {
    let app = spawn_app().await;
    for (bad, path) in [
        (json!({"auth.signUpRules": {"bad id!": rule(0, "true", "allow")}}), "auth.signUpRules.bad id!"),
        (json!({"auth.signUpRules": {"r": rule(-1, "true", "allow")}}), "priority"),
        (json!({"auth.signUpRules": {"r": rule(0, "true", "explode")}}), "action.type"),
        (json!({"auth.signUpRulesDefaultAction": "maybe"}), "signUpRulesDefaultAction"),
    ] {
        let r = app
            .patch("/api/v1/internal/config/override/environment")
            .admin()
            .json(json!({"config_override_string": bad.to_string()}))
            .send()
            .await;
        let body = r.assert_known(400, "SCHEMA_ERROR");
        assert!(body["error"].as_str().unwrap().contains(path), "{body}");
    }
    set_rules(&app, json!({"r1": {"enabled": true, "displayName": "One", "priority": 3, "condition": "true", "action": {"type": "log"}}}), "reject").await;
    let config: Value = serde_json::from_str(
        app.get("/api/v1/internal/config").admin().send().await.json()["config_string"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["auth"]["signUpRules"]["r1"],
        json!({"enabled": true, "displayName": "One", "priority": 3, "condition": "true", "action": {"type": "log"}})
    );
    assert_eq!(config["auth"]["signUpRulesDefaultAction"], "reject");
}

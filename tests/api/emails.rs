//! E-mail delivery and the e-mail endpoints (spec 20 §5): nothing accepted is lost across an SMTP
//! outage or a SIGKILL, the development mailbox (admin API and Inbucket API), send-email with
//! notification categories and one-click unsubscribe, the outbox, templates and themes, the
//! test e-mail, and a project's own SMTP server.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, spawn_app_with_smtp, start_binary, SmtpSink, TestApp, CALLBACK};

async fn send_otp(app: &TestApp, email: &str) {
    app.post("/api/v1/auth/otp/send-sign-in-code")
        .client()
        .json(json!({"email": email, "callback_url": CALLBACK}))
        .send()
        .await
        .assert_status(200);
}

fn count_by_recipient(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for m in sink.messages() {
        for r in m.rcpt_to {
            *counts.entry(r).or_default() += 1;
        }
    }
    counts
}

async fn outbox_statuses(app: &TestApp) -> HashMap<String, usize> {
    let list = app.get("/api/v1/emails/outbox?limit=200").server().send().await.json();
    let mut counts = HashMap::new();
    for item in list["items"].as_array().unwrap() {
        *counts.entry(item["status"].as_str().unwrap().to_string()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn an_smtp_outage_loses_and_duplicates_nothing() {
    let (app, sink) = spawn_app_with_smtp().await;
    sink.stop();
    for i in 0..50 {
        send_otp(&app, &format!("outage{i}@example.com")).await;
    }
    // Attempts fail while the server is down, and are recorded.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(sink.messages().is_empty());
    let failing = app.get("/api/v1/emails/outbox?status=scheduled&limit=200").server().send().await.json();
    let failing = failing["items"].as_array().unwrap();
    assert_eq!(failing.len(), 50, "all 50 wait for another attempt");
    assert!(failing.iter().all(|e| e["attempt_count"].as_i64().unwrap() >= 1 && e["server_error"].is_string()));

    sink.resume().await;
    sink.wait_for(50).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts = count_by_recipient(&sink);
    assert_eq!(counts.len(), 50);
    assert!(counts.values().all(|&n| n == 1), "each e-mail exactly once: {counts:?}");
    assert_eq!(outbox_statuses(&app).await, HashMap::from([("SENT".to_string(), 50)]));
}

#[tokio::test]
async fn delivery_gives_up_after_the_last_attempt_and_an_edit_retries_it() {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let app = spawn_app_with(move |c| {
        c.mail.smtp = Some(stackd::mail::SmtpSettings::from_url(&url).unwrap());
        c.mail.retry.max_attempts = 3;
    })
    .await;
    sink.stop();
    send_otp(&app, "gives-up@example.com").await;
    let mut row = json!({});
    for _ in 0..200 {
        row = app.get("/api/v1/emails/outbox").server().send().await.json()["items"][0].clone();
        if row["status"] == "SERVER_ERROR" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!((row["status"].as_str(), row["simple_status"].as_str()), (Some("SERVER_ERROR"), Some("ERROR")));
    assert_eq!(row["attempt_count"], 3);
    assert!(row["next_attempt_at_millis"].is_null());
    assert!(row["server_error"].as_str().unwrap().len() > 3);
    // Still editable: resuming it schedules another round of attempts.
    sink.resume().await;
    let path = format!("/api/v1/emails/outbox/{}", row["id"].as_str().unwrap());
    app.patch(&path).server().json(json!({"is_paused": false})).send().await.assert_status(200);
    sink.last_to("gives-up@example.com").await;
}

#[tokio::test]
async fn a_sigkill_with_undelivered_rows_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let sink = SmtpSink::start().await;
    sink.stop();
    let smtp = sink.url();
    let flags = ["--email-retry-base", "1s", "--smtp-url", smtp.as_str()];
    let (mut child, base) = start_binary(&db, &flags, "warn", false);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for i in 0..20 {
        let r = http
            .post(format!("{base}/api/v1/auth/otp/send-sign-in-code"))
            .header("x-stack-access-type", "client")
            .header("x-stack-project-id", "internal")
            .header("x-stack-publishable-client-key", stackd::projects::DEV_PUBLISHABLE_CLIENT_KEY)
            .json(&json!({"email": format!("kill{i}@example.com"), "callback_url": CALLBACK}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {i} failed: {e:?}"));
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(sink.messages().is_empty());

    sink.resume().await;
    let (mut child, _) = start_binary(&db, &flags, "warn", false);
    sink.wait_for(20).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let counts = count_by_recipient(&sink);
    assert_eq!(counts.len(), 20);
    assert!(counts.values().all(|&n| n == 1), "each e-mail exactly once: {counts:?}");
}

#[tokio::test]
async fn without_smtp_mail_lands_in_the_development_mailbox() {
    let app = spawn_app_with(|c| c.mail.dev_mailbox_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    send_otp(&app, "Dev.Person@example.com").await;

    // Admin API: the project's messages, by recipient.
    let mut list = json!({});
    for _ in 0..100 {
        list = app.get("/api/v1/internal/dev-mailbox?to=dev.person@example.com").admin().send().await.json();
        if !list["items"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let msg = list["items"][0].clone();
    assert_eq!(msg["to"], "Dev.Person@example.com");
    assert_eq!(msg["from"], "Stack Dashboard <noreply@stackd.localhost>");
    assert!(msg["subject"].as_str().unwrap().starts_with("Sign in to Stack Dashboard: Your code is "));
    let one = app.get(&format!("/api/v1/internal/dev-mailbox/{}", msg["id"])).admin().send().await.json();
    assert_eq!(one["text"], msg["text"]);
    // Admins only, and only their project's mail.
    app.get("/api/v1/internal/dev-mailbox").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let other = app.get("/api/v1/internal/dev-mailbox").admin().project(&app.other).send().await.json();
    assert!(other["items"].as_array().unwrap().is_empty());
    app.get(&format!("/api/v1/internal/dev-mailbox/{}", msg["id"]))
        .admin()
        .project(&app.other)
        .send()
        .await
        .assert_plain(404);

    // Inbucket API on its own listener: mailbox = local part, lower-cased.
    let inbucket = format!("http://{}", app.server.mailbox_addr.unwrap());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let headers: Value =
        http.get(format!("{inbucket}/api/v1/mailbox/dev.person")).send().await.unwrap().json().await.unwrap();
    let h = &headers[0];
    assert_eq!(h["mailbox"], "dev.person");
    assert_eq!(h["to"], json!(["<Dev.Person@example.com>"]));
    assert_eq!(h["from"], "Stack Dashboard <noreply@stackd.localhost>");
    assert!(h["date"].as_str().unwrap().ends_with('Z'));
    let id = h["id"].as_str().unwrap();
    let full: Value =
        http.get(format!("{inbucket}/api/v1/mailbox/dev.person/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(full["subject"], h["subject"]);
    assert_eq!(full["attachments"], json!([]));
    let html = full["body"]["html"].as_str().unwrap();
    assert!(html.contains("<html>"));
    let text = full["body"]["text"].as_str().unwrap();
    let start = text.find("code=").unwrap() + 5;
    let code: String = text[start..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let missing = http.get(format!("{inbucket}/api/v1/mailbox/someone-else/{id}")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // The mailed code signs the user in.
    let r = app.post("/api/v1/auth/otp/sign-in").client().json(json!({ "code": code })).send().await;
    assert_eq!(r.assert_status(200).json()["is_new_user"], true);
}

#[tokio::test]
async fn send_email_with_categories_and_one_click_unsubscribe() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (a, _, _) = app.sign_up("reader@example.com").await;
    let b = app.create_user(json!({"display_name": "No Mail"})).await;
    let send = |body: Value| app.post("/api/v1/emails/send-email").server().json(body).send();

    let r = send(json!({"user_ids": [a], "html": "<p>Hello {{ userDisplayName }} from {{ projectDisplayName }}</p>", "subject": "Hi"})).await;
    assert_eq!(r.assert_status(200).json(), json!({"results": [{"user_id": a}]}));
    let m = sink.last_to("reader@example.com").await;
    assert_eq!(m.subject(), "Hi");
    assert!(m.body().contains("from Stack Dashboard"));
    assert!(m.header("List-Unsubscribe").is_none(), "transactional mail has no unsubscribe link");

    // Marketing mail carries the one-click link; using it turns the category off.
    send(
        json!({"user_ids": [a], "html": "<p>News</p>", "subject": "News 1", "notification_category_name": "Marketing"}),
    )
    .await
    .assert_status(200);
    sink.wait_for(2).await;
    let m = sink.messages().into_iter().find(|m| m.subject() == "News 1").unwrap();
    let link = m.header("List-Unsubscribe").unwrap();
    let link = link.trim_start_matches('<').trim_end_matches('>');
    assert!(link.starts_with(&format!("{}/api/v1/emails/unsubscribe-link?code=", app.base)));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = http.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert_eq!(page.text().await.unwrap(), "<p>Successfully unsubscribed from notification group</p>");
    let again = http.get(link).send().await.unwrap().text().await.unwrap();
    assert_eq!(again, "<p>You have already unsubscribed from this notification group</p>");
    let prefs = app.get(&format!("/api/v1/emails/notification-preference/{a}")).server().send().await.json();
    assert_eq!(prefs["items"][1]["notification_category_name"], "Marketing");
    assert_eq!(prefs["items"][1]["enabled"], false);

    // The next marketing mail is skipped, transactional still goes; all_users includes B, who
    // has no address.
    send(
        json!({"user_ids": [a], "html": "<p>News</p>", "subject": "News 2", "notification_category_name": "Marketing"}),
    )
    .await
    .assert_status(200);
    let r = send(json!({"all_users": true, "html": "<p>Notice</p>", "subject": "Notice"})).await;
    let results = r.assert_status(200).json()["results"].as_array().unwrap().len();
    assert_eq!(results, 2);
    sink.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let subjects: Vec<String> = sink.messages().iter().map(|m| m.subject()).collect();
    assert!(!subjects.contains(&"News 2".to_string()));
    assert_eq!(subjects.iter().filter(|s| *s == "Notice").count(), 1);
    let skipped = app.get("/api/v1/emails/outbox?status=SKIPPED").server().send().await.json();
    let mut reasons: Vec<&str> =
        skipped["items"].as_array().unwrap().iter().map(|e| e["skipped_reason"].as_str().unwrap()).collect();
    reasons.sort();
    assert_eq!(reasons, vec!["USER_HAS_NO_PRIMARY_EMAIL", "USER_UNSUBSCRIBED"]);
    let _ = b;

    // Errors, in upstream's order.
    send(json!({"html": "x"})).await.assert_known(400, "SCHEMA_ERROR");
    send(json!({"user_ids": [a], "all_users": true, "html": "x"})).await.assert_known(400, "SCHEMA_ERROR");
    assert_eq!(
        send(json!({"user_ids": [a], "html": "x", "notification_category_name": "marketing"})).await.assert_plain(400),
        "Notification category not found with given name"
    );
    send(json!({"user_ids": [a], "template_id": uuid::Uuid::new_v4().to_string(), "variables": {}}))
        .await
        .assert_plain(400);
    send(json!({"user_ids": [a], "draft_id": "d"})).await.assert_plain(400);
    send(json!({"user_ids": [a]})).await.assert_known(400, "SCHEMA_ERROR");
    let missing = uuid::Uuid::new_v4().to_string();
    let e = send(json!({"user_ids": [a, missing], "html": "x"})).await.assert_known(400, "USER_ID_DOES_NOT_EXIST");
    assert_eq!(e["details"]["user_id"], missing);
    app.post("/api/v1/emails/send-email")
        .client()
        .json(json!({"user_ids": [a], "html": "x"}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    // A built-in template with variables.
    send(json!({"user_ids": [a], "template_id": "a70fb3a4-56c1-4e42-af25-49d25603abd0",
                "variables": {"passwordResetLink": "https://example.com/reset?code=1"}}))
    .await
    .assert_status(200);
    let all = sink.wait_for(4).await;
    assert!(all.iter().any(|m| m.subject() == "Reset your password at Stack Dashboard"));
}

#[tokio::test]
async fn notification_preferences_access_and_errors() {
    let app = spawn_app().await;
    let (a, token_a, _) = app.sign_up("prefs-a@example.com").await;
    let (b, _, _) = app.sign_up("prefs-b@example.com").await;
    let r = app.get("/api/v1/emails/notification-preference/me").client().token(&token_a).send().await;
    let items = r.assert_status(200).json()["items"].clone();
    assert_eq!(
        items,
        json!([
            {"notification_category_id": "7bb82d33-2f54-4a3d-9d23-82739e0d66ef", "notification_category_name": "Transactional", "enabled": true, "can_disable": false},
            {"notification_category_id": "4f6f8873-3d04-46bd-8bef-18338b1a1b4c", "notification_category_name": "Marketing", "enabled": true, "can_disable": true}
        ])
    );
    let marketing = "/api/v1/emails/notification-preference/me/4f6f8873-3d04-46bd-8bef-18338b1a1b4c";
    let r = app.patch(marketing).client().token(&token_a).json(json!({"enabled": false})).send().await;
    assert_eq!(r.assert_status(200).json()["enabled"], false);
    let r = app.get(&format!("/api/v1/emails/notification-preference/{a}")).server().send().await;
    assert_eq!(r.json()["items"][1]["enabled"], false);
    // Another user's: 403 for clients.
    app.get(&format!("/api/v1/emails/notification-preference/{b}"))
        .client()
        .token(&token_a)
        .send()
        .await
        .assert_plain(403);
    app.patch(&format!("/api/v1/emails/notification-preference/{b}/4f6f8873-3d04-46bd-8bef-18338b1a1b4c"))
        .client()
        .token(&token_a)
        .json(json!({"enabled": false}))
        .send()
        .await
        .assert_plain(403);
    // Unknown category, unknown user, `me` without a user.
    app.patch(&format!("/api/v1/emails/notification-preference/me/{}", uuid::Uuid::new_v4()))
        .client()
        .token(&token_a)
        .json(json!({"enabled": false}))
        .send()
        .await
        .assert_plain(404);
    app.get(&format!("/api/v1/emails/notification-preference/{}", uuid::Uuid::new_v4()))
        .server()
        .send()
        .await
        .assert_known(404, "USER_NOT_FOUND");
    app.get("/api/v1/emails/notification-preference/me")
        .client()
        .send()
        .await
        .assert_known(400, "CANNOT_GET_OWN_USER_WITHOUT_USER");
    // Unsubscribe links: bad and unknown codes.
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let r = http.get(format!("{}/api/v1/emails/unsubscribe-link?code=short", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r =
        http.get(format!("{}/api/v1/emails/unsubscribe-link?code={}", app.base, "0".repeat(45))).send().await.unwrap();
    assert_eq!(r.headers()["x-stack-known-error"], "VERIFICATION_CODE_NOT_FOUND");
}

#[tokio::test]
async fn outbox_rows_can_be_paused_edited_and_cancelled_until_sent() {
    let (app, sink) = spawn_app_with_smtp().await;
    let (a, _, _) = app.sign_up("outbox@example.com").await;
    let later = stackd::db::now_millis() + 3_600_000;
    app.post("/api/v1/emails/send-email")
        .server()
        .json(json!({"user_ids": [a], "html": "<p>Later</p>", "subject": "Later", "scheduled_at_millis": later}))
        .send()
        .await
        .assert_status(200);
    let list = app.get("/api/v1/emails/outbox").server().send().await.json();
    assert_eq!(list["is_paginated"], true);
    let row = list["items"][0].clone();
    assert_eq!((row["status"].as_str(), row["simple_status"].as_str()), (Some("SCHEDULED"), Some("IN_PROGRESS")));
    assert_eq!(row["to"], json!({"type": "user-primary-email", "user_id": a}));
    let path = format!("/api/v1/emails/outbox/{}", row["id"].as_str().unwrap());

    let r = app.patch(&path).server().json(json!({"is_paused": true})).send().await;
    assert_eq!(r.assert_status(200).json()["status"], "PAUSED");
    // Edited and resumed to go now.
    let r = app
        .patch(&path)
        .server()
        .json(json!({"is_paused": false, "scheduled_at_millis": 0, "tsx_source": "<p>Now instead</p>"}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json()["status"], "SCHEDULED");
    let m = sink.last_to("outbox@example.com").await;
    assert!(m.body().contains("Now instead"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent = app.get(&path).server().send().await.json();
    assert_eq!((sent["status"].as_str(), sent["simple_status"].as_str()), (Some("SENT"), Some("OK")));
    assert_eq!(sent["has_delivered"], true);
    let e =
        app.patch(&path).server().json(json!({"cancel": true})).send().await.assert_known(400, "EMAIL_NOT_EDITABLE");
    assert_eq!(e["details"]["status"], "SENT");

    // Cancel.
    app.post("/api/v1/emails/send-email")
        .server()
        .json(json!({"user_ids": [a], "html": "<p>Never</p>", "scheduled_at_millis": later}))
        .send()
        .await
        .assert_status(200);
    let list = app.get("/api/v1/emails/outbox?simple_status=in_progress").server().send().await.json();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    let r = app.patch(&format!("/api/v1/emails/outbox/{id}")).server().json(json!({"cancel": true})).send().await;
    let b = r.assert_status(200).json();
    assert_eq!((b["status"].as_str(), b["skipped_reason"].as_str()), (Some("SKIPPED"), Some("MANUALLY_CANCELLED")));

    // The sent log, errors, access.
    let log = app.get("/api/v1/internal/emails").admin().send().await.json();
    assert_eq!(log["emails"][0]["to"], json!(["outbox@example.com"]));
    assert_eq!(
        app.get(&format!("/api/v1/emails/outbox/{}", uuid::Uuid::new_v4())).server().send().await.assert_plain(404),
        "Email not found"
    );
    app.get("/api/v1/emails/outbox?status=nope").server().send().await.assert_known(400, "SCHEMA_ERROR");
    app.get("/api/v1/emails/outbox").client().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.get("/api/v1/internal/emails").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    // Other projects see none of it.
    let other = app.get("/api/v1/emails/outbox").server().project(&app.other).send().await.json();
    assert!(other["items"].as_array().unwrap().is_empty());
    app.get(&path).server().project(&app.other).send().await.assert_plain(404);
}

#[tokio::test]
async fn templates_themes_and_previews() {
    let (app, sink) = spawn_app_with_smtp().await;
    let list = app.get("/api/v1/internal/email-templates").admin().send().await.json();
    let templates = list["templates"].as_array().unwrap();
    assert!(templates
        .iter()
        .any(|t| t["id"] == "822687fe-8d0a-4467-a0d1-416b6e639478" && t["display_name"] == "Magic Link/OTP"));
    assert_eq!(templates.len(), 7);
    let themes = app.get("/api/v1/internal/email-themes").admin().send().await.json();
    assert_eq!(themes["themes"].as_array().unwrap().len(), 3);

    // A custom template: created, saved (rendered first), used by send-email, deleted.
    let id = app
        .post("/api/v1/internal/email-templates")
        .admin()
        .json(json!({"display_name": "Welcome"}))
        .send()
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/api/v1/internal/email-templates/{id}");
    let source =
        "{% block subject %}Welcome, {{ name }}{% endblock %}{% block body %}<p>Hi {{ name }}!</p>{% endblock %}";
    let r = app.patch(&path).admin().json(json!({"tsx_source": source, "theme_id": false})).send().await;
    assert_eq!(r.assert_status(200).json()["rendered_html"], "<p>Hi !</p>");
    let e = app
        .patch(&path)
        .admin()
        .json(json!({"tsx_source": "{% if %}"}))
        .send()
        .await
        .assert_known(400, "EMAIL_RENDERING_ERROR");
    assert!(e["details"]["error"].is_string());
    let (a, _, _) = app.sign_up("welcome@example.com").await;
    app.post("/api/v1/emails/send-email")
        .server()
        .json(json!({"user_ids": [a], "template_id": id, "variables": {"name": "<Ada>"}}))
        .send()
        .await
        .assert_status(200);
    let m = sink.last_to("welcome@example.com").await;
    assert_eq!(m.subject(), "Welcome, <Ada>");
    assert!(m.body().contains("Hi &lt;Ada&gt;!"), "HTML is escaped");
    app.delete(&path).admin().send().await.assert_status(200);
    assert_eq!(app.delete(&path).admin().send().await.assert_plain(404), "No template found with given id");

    // Themes.
    let theme =
        app.post("/api/v1/internal/email-themes").admin().json(json!({"display_name": "Mine"})).send().await.json()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    let tpath = format!("/api/v1/internal/email-themes/{theme}");
    let r = app.patch(&tpath).admin().json(json!({"tsx_source": "<main>{{ content }}</main>"})).send().await;
    assert_eq!(r.assert_status(200).json()["display_name"], "Mine");
    assert_eq!(app.get(&tpath).admin().send().await.json()["tsx_source"], "<main>{{ content }}</main>");
    app.patch(&tpath)
        .admin()
        .json(json!({"tsx_source": "{{ content "}))
        .send()
        .await
        .assert_known(400, "EMAIL_RENDERING_ERROR");
    app.get(&format!("/api/v1/internal/email-themes/{}", uuid::Uuid::new_v4())).admin().send().await.assert_plain(404);

    // Preview: a built-in template in the custom theme.
    let r = app
        .post("/api/v1/emails/render-email")
        .admin()
        .json(json!({"template_id": "822687fe-8d0a-4467-a0d1-416b6e639478", "theme_id": theme,
                     "variables": {"otp": "ABC123", "magicLink": "https://x.example/cb?code=1"}}))
        .send()
        .await;
    let b = r.assert_status(200).json();
    assert!(b["html"].as_str().unwrap().starts_with("<main>"));
    assert_eq!(b["subject"], "Sign in to Stack Dashboard: Your code is ABC123");
    app.post("/api/v1/emails/render-email")
        .admin()
        .json(json!({"template_tsx_source": "{% for %}"}))
        .send()
        .await
        .assert_known(400, "EMAIL_RENDERING_ERROR");
    app.get("/api/v1/internal/email-templates").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn test_emails_report_success_and_failure_in_the_body() {
    let app = spawn_app().await;
    let sink = SmtpSink::start().await;
    let config = |port: u16| {
        json!({"host": "127.0.0.1", "port": port, "username": "", "password": "",
                                     "sender_name": "Tester", "sender_email": "tester@example.com"})
    };
    let r = app
        .post("/api/v1/internal/send-test-email")
        .admin()
        .json(json!({"recipient_email": "to@example.com", "email_config": config(sink.addr.port())}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json(), json!({"success": true}));
    let m = sink.last_to("to@example.com").await;
    assert_eq!(m.subject(), "Test Email from Stack Auth");
    let from = m.header("From").unwrap();
    assert!(from.contains("Tester") && from.contains("<tester@example.com>"), "{from}");

    sink.stop();
    let r = app
        .post("/api/v1/internal/send-test-email")
        .admin()
        .json(json!({"recipient_email": "to@example.com", "email_config": config(sink.addr.port())}))
        .send()
        .await;
    let b = r.assert_status(200).json();
    assert_eq!(b["success"], false);
    assert!(b["error_message"].as_str().unwrap().len() > 5);
    app.post("/api/v1/internal/send-test-email")
        .server()
        .json(json!({"recipient_email": "to@example.com", "email_config": config(1)}))
        .send()
        .await
        .assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
}

#[tokio::test]
async fn a_projects_own_smtp_server_overrides_the_shared_one() {
    // The server has no SMTP (development mailbox); the project brings its own.
    let app = spawn_app().await;
    let sink = SmtpSink::start().await;
    let r = app
        .patch("/api/v1/internal/projects/current")
        .admin()
        .json(json!({"config": {"email_config": {"type": "standard", "host": "127.0.0.1", "port": sink.addr.port(),
            "username": "smtp-user", "password": "smtp-secret-password", "sender_name": "Acme", "sender_email": "hello@acme.example"}}}))
        .send()
        .await;
    let c = r.assert_status(200).json()["config"]["email_config"].clone();
    assert_eq!(
        c,
        json!({"type": "standard", "host": "127.0.0.1", "port": sink.addr.port(), "username": "smtp-user",
               "sender_name": "Acme", "sender_email": "hello@acme.example"}),
        "the password is never returned"
    );
    send_otp(&app, "custom@example.com").await;
    let m = sink.last_to("custom@example.com").await;
    assert_eq!(m.mail_from, "hello@acme.example");
    assert_eq!(sink.last_login(), vec!["smtp-user", "smtp-secret-password"]);
    assert!(app.get("/api/v1/internal/dev-mailbox").admin().send().await.json()["items"]
        .as_array()
        .unwrap()
        .is_empty());

    // Incomplete settings are refused; back to shared.
    app.patch("/api/v1/internal/projects/current")
        .admin()
        .json(json!({"config": {"email_config": {"type": "standard", "host": "127.0.0.1"}}}))
        .send()
        .await
        .assert_known(400, "SCHEMA_ERROR");
    let r = app
        .patch("/api/v1/internal/projects/current")
        .admin()
        .json(json!({"config": {"email_config": {"type": "shared"}}}))
        .send()
        .await;
    assert_eq!(r.assert_status(200).json()["config"]["email_config"], json!({"type": "shared"}));
}

#[tokio::test]
async fn housekeeping_bounds_the_mailbox_and_drops_long_expired_codes() {
    // The round is run by hand: the job's own first round, late on a busy machine, could otherwise
    // take the rows this test plants before the test looks.
    let app = spawn_app_with(|c| c.background_jobs = false).await;
    send_otp(&app, "fresh@example.com").await;
    app.server
        .db
        .write_now(|tx| {
            for i in 0..10_005 {
                tx.execute(
                    "INSERT INTO dev_mailbox (project_id, mailbox, from_name, from_address, to_address, subject, text_body,
                        html_body, headers, created_at) VALUES ('internal', 'm', 'n', 'a@x.y', 'm@x.y', ?1, '', '', '{}', 0)",
                    [i.to_string()],
                )?;
            }
            // A finished outbox row from 40 days ago, and one from then that waits for a retry tomorrow.
            for (id, next) in [("old-sent", None), ("old-waiting", Some(stackd::db::now_millis() + 86_400_000))] {
                tx.execute(
                    "INSERT INTO email_outbox (id, project_id, created_at, recipient, variables, notification_category_id,
                        scheduled_at, status, next_attempt_at)
                     VALUES (?1, 'internal', ?2, '{}', '{}', 'c', 0, ?3, ?4)",
                    rusqlite::params![id, stackd::db::now_millis() - 40 * 86_400_000, if next.is_some() { "SCHEDULED" } else { "SENT" }, next],
                )?;
            }
            // An old code, two days past its expiry.
            tx.execute(
                "INSERT INTO verification_codes (id, project_id, type, code_hash, nonce_hash, data, method, created_at, expires_at)
                 VALUES ('old', 'internal', 'ONE_TIME_PASSWORD', x'00', x'00', '{}', '{}', 0, 1)",
                [],
            )?;
            Ok(())
        })
        .unwrap();
    let h = stackd::emails::service::housekeeping(&app.server.db).unwrap();
    assert_eq!(h.codes, 1, "only the long-expired code goes");
    assert!(h.mailbox_messages >= 5);
    assert_eq!(h.outbox_rows, 1, "old finished rows go, waiting ones stay");
    assert_eq!(app.db_scalar("SELECT count(*) FROM email_outbox WHERE id = 'old-waiting'"), 1);
    assert_eq!(app.db_scalar("SELECT count(*) FROM dev_mailbox"), 10_000);
    assert_eq!(app.db_scalar("SELECT count(*) FROM dev_mailbox WHERE subject = '10004'"), 1, "the newest stay");
    assert_eq!(app.db_scalar("SELECT count(*) FROM verification_codes"), 1, "the fresh OTP code stays");
}

#[tokio::test]
async fn tls_modes_are_what_the_settings_say() {
    use stackd::mail::{self, OutgoingEmail, SmtpSettings};
    // The sink offers no STARTTLS and speaks no TLS.
    let sink = SmtpSink::start().await;
    let attempt = |url: String| async move {
        tokio::task::spawn_blocking(move || {
            let settings = SmtpSettings::from_url(&url).unwrap();
            let email = OutgoingEmail {
                message_id: format!("<{}@stackd>", uuid::Uuid::new_v4()),
                from_name: "T".into(),
                from_address: "t@example.com".into(),
                to: vec!["tls@example.com".into()],
                subject: url.clone(),
                html: "<p>x</p>".into(),
                text: "x".into(),
                unsubscribe_link: None,
            };
            mail::send(&settings.transport(false).unwrap(), &email)
        })
        .await
        .unwrap()
    };
    let addr = sink.addr;
    attempt(format!("smtp://{addr}?tls=none")).await.unwrap();
    // STARTTLS when offered: this server does not offer it, so the message goes in plain text.
    attempt(format!("smtp://{addr}")).await.unwrap();
    // Required STARTTLS, or implicit TLS: nothing is sent in plain text.
    assert!(attempt(format!("smtp://{addr}?tls=required")).await.is_err());
    assert!(attempt(format!("smtps://{addr}")).await.is_err());
    let subjects: Vec<String> = sink.messages().iter().map(|m| m.subject()).collect();
    assert_eq!(subjects, vec![format!("smtp://{addr}?tls=none"), format!("smtp://{addr}")]);
}

#[tokio::test]
async fn shutdown_leaves_undelivered_rows_queued_for_the_next_start() {
    // An SMTP server that accepts connections and never answers: every send hangs until its timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = vec![];
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let url = format!("smtp://{addr}?tls=none");
    let app = spawn_app_with(move |c| c.mail.smtp = Some(stackd::mail::SmtpSettings::from_url(&url).unwrap())).await;
    for i in 0..30 {
        send_otp(&app, &format!("hang{i}@example.com")).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (server, dir) = app.into_server();
    server.stop().await;
    held.abort();

    // Nothing is left claimed; at most the 8 sends in flight used an attempt.
    let db = stackd::db::Db::open(&dir.path().join("stackd.db"), false).unwrap();
    let (sending, queued, attempts): (i64, i64, i64) = db
        .read_now(|c| {
            Ok(c.query_row(
                "SELECT sum(status = 'SENDING'), sum(status = 'SCHEDULED' AND next_attempt_at IS NOT NULL), sum(attempts)
                 FROM email_outbox",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?)
        })
        .unwrap();
    assert_eq!((sending, queued), (0, 30));
    assert!(attempts <= 8, "{attempts} attempts");
}

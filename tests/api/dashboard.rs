//! The embedded dashboard's files (`/dashboard`, on in development mode, off otherwise) and the
//! overview figures it shows (`GET /internal/metrics`). The pages themselves are driven in a real
//! browser by tests/dashboard (make test-dashboard).

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn dashboard_files_are_served_with_a_same_origin_policy_and_revalidated() {
    let app = spawn_app().await;
    let no_redirects =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).no_proxy().build().unwrap();
    let r = no_redirects.get(format!("{}/dashboard", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/dashboard/");

    let page = app.get("/dashboard/").send().await;
    page.assert_status(200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    assert!(page.text.contains(r#"<script type="module" src="app.js">"#));
    let csp = page.header("content-security-policy").expect("a CSP");
    assert!(
        csp.contains("connect-src 'self'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );

    let script = app.get("/dashboard/pages/users.js").send().await;
    script.assert_status(200);
    assert!(script.header("content-type").unwrap().starts_with("text/javascript"));
    let etag = script.header("etag").expect("an ETag").to_string();
    assert_eq!(script.header("cache-control"), Some("no-cache"));
    let again = app.get("/dashboard/pages/users.js").header("if-none-match", &etag).send().await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());
    let stale = app.get("/dashboard/pages/users.js").header("if-none-match", "\"old\"").send().await;
    assert_eq!(stale.status, 200);

    assert_eq!(app.get("/dashboard/nothing-here.js").send().await.status, 404);
    assert_eq!(app.get("/dashboard/../Cargo.toml").send().await.status, 404);
    assert_eq!(app.post("/dashboard/").send().await.status, 405);
}

#[tokio::test]
async fn dashboard_can_be_turned_off() {
    let app = spawn_app_with(|c| c.dashboard = false).await;
    assert_eq!(app.get("/dashboard/").send().await.status, 404);
    assert_eq!(app.get("/dashboard/app.js").send().await.status, 404);
    // The API it would call is unaffected.
    app.get("/api/v1/internal/metrics").admin().send().await.assert_status(200);
}

#[tokio::test]
async fn project_metrics_count_users_sign_ups_sessions_and_backlogs() {
    let app = spawn_app().await;
    let before = app.get("/api/v1/internal/metrics").admin().send().await;
    before.assert_status(200);
    let base = before.json();
    assert_eq!(base["daily_users"].as_array().unwrap().len(), 31);
    assert_eq!(base["daily_active_users"].as_array().unwrap().len(), 31);

    app.sign_up("metrics-a@example.com").await;
    app.sign_up("metrics-b@example.com").await;
    app.create_user(json!({"primary_email": "metrics-c@example.com", "country_code": "DE"})).await;
    // Anonymous users are not counted.
    app.post("/api/v1/auth/anonymous/sign-up").client().json(json!({})).send().await.assert_status(200);

    let m = app.get("/api/v1/internal/metrics").admin().send().await.json();
    let delta = |field: &str| m[field].as_i64().unwrap() - base[field].as_i64().unwrap();
    assert_eq!(delta("total_users"), 3);
    // Two password sign-ups made a session each; the anonymous sign-up one more.
    assert_eq!(delta("active_sessions"), 3);
    let today = |v: &serde_json::Value| v.as_array().unwrap().last().unwrap()["activity"].as_i64().unwrap();
    assert_eq!(today(&m["daily_users"]) - today(&base["daily_users"]), 3);
    let date = m["daily_users"][30]["date"].as_str().unwrap();
    assert_eq!(date.len(), 10, "{date}");
    assert!(today(&m["daily_active_users"]) >= 3);
    assert_eq!(m["users_by_country"]["DE"], 1);
    assert!(m["email_backlog"]["waiting"].as_i64().is_some());
    assert!(m["webhook_backlog"]["waiting"].as_i64().is_some());

    // Another project's figures are its own.
    let other = app.get("/api/v1/internal/metrics").project(&app.other).admin().send().await.json();
    assert_eq!(other["total_users"], 0);
}

#[tokio::test]
async fn project_metrics_are_for_admins_only() {
    let app = spawn_app().await;
    app.get("/api/v1/internal/metrics").client().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    app.get("/api/v1/internal/metrics").server().send().await.assert_known(401, "INSUFFICIENT_ACCESS_TYPE");
    let r = app.get("/api/v1/internal/metrics").bare("admin", "internal").send().await;
    r.assert_known(401, "ADMIN_AUTHENTICATION_REQUIRED");
}

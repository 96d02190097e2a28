//! Hostile input and what every answer carries: NUL characters wherever text enters, bytes after
//! the JSON body, every missing field named at once, security headers, and stale sessions.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

fn complaint() -> Value {
    json!({
        "channel": "phone",
        "kind": "complaint",
        "title": "小区门口占道经营",
        "description": "每天傍晚有流动摊贩在小区门口占道经营。",
        "complainant": {"name": "张三", "phone": "13812345678"}
    })
}

async fn post_raw(app: &TestApp, token: &str, path: &str, body: &str) -> reqwest::Response {
    app.request("POST", path, Some(token))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

async fn case_count(app: &TestApp, token: &str) -> usize {
    let page: Value = app
        .get_as(token, "/api/v1/cases?limit=200")
        .await
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn nul_characters_are_refused_wherever_text_enters() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let admin = app.token("admin").await;

    // Query strings and paths (PostgreSQL refuses NUL in text; SQLite's search choked on it).
    for path in [
        "/api/v1/cases?q=%00abc",
        "/api/v1/cases?q=abc%00",
        "/api/v1/departments?q=%00",
        "/api/v1/users?q=a%00b",
        "/api/v1/categories?q=%00",
        "/api/v1/cases/by-number/2026%00",
    ] {
        let token = if path.contains("users") {
            &admin
        } else {
            &operator
        };
        assert_problem(app.get_as(token, path).await, 400, "invalid_character").await;
    }

    // JSON bodies: the field is named.
    let mut body = complaint();
    body["title"] = json!("路灯\u{0}坏了");
    let problem = assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &body).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "title");
    assert_eq!(problem["errors"][0]["code"], "invalid_character");
    let mut nested = complaint();
    nested["complainant"]["name"] = json!("\u{0}");
    let problem = assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &nested).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "complainant.name");
    assert_eq!(case_count(&app, &operator).await, 0, "nothing was created");

    // Sign-in fields, public.
    for credentials in [
        json!({"username": "operator\u{0}", "password": "x"}),
        json!({"username": "operator", "password": "\u{0}"}),
    ] {
        assert_problem(
            app.post_as(None, "/api/v1/auth/login", &credentials).await,
            422,
            "validation_failed",
        )
        .await;
    }
    // Form bodies (the OAuth token endpoint).
    let form = app
        .request("POST", "/api/v1/auth/token", None)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&client_id=a%00b&client_secret=x")
        .send()
        .await
        .unwrap();
    let problem = assert_problem(form, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "client_id");
}

#[tokio::test]
async fn bytes_after_the_json_body_are_refused() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let one = complaint().to_string();
    for body in [
        format!("{one} xx"),
        format!("{one}{one}"),
        format!("{one}\n{{}}"),
        format!("{one} null"),
    ] {
        assert_problem(
            post_raw(&app, &operator, "/api/v1/cases", &body).await,
            400,
            "malformed_json",
        )
        .await;
    }
    assert_eq!(case_count(&app, &operator).await, 0, "nothing was created");
    // Whitespace after the value is fine.
    let fine = post_raw(&app, &operator, "/api/v1/cases", &format!("{one} \r\n\t")).await;
    assert_eq!(fine.status(), 201);
}

#[tokio::test]
async fn every_missing_field_is_named_and_no_value_is_echoed() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let problem = assert_problem(
        post_raw(&app, &operator, "/api/v1/cases", "{}").await,
        422,
        "validation_failed",
    )
    .await;
    let mut missing: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["code"] == "required")
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    missing.sort_unstable();
    assert_eq!(missing, ["description", "kind", "title"]);

    // Wrong types in several fields at once: each named, the submitted values not repeated.
    let body = json!({
        "kind": "complaint",
        "title": 13812345678_i64,
        "description": true,
        "complainant": {"phone": 13912345678_i64, "name": false}
    });
    let problem = assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &body).await,
        422,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "complainant.name",
            "complainant.phone",
            "description",
            "title"
        ]
    );
    let text = problem.to_string();
    for value in ["13812345678", "13912345678"] {
        assert!(!text.contains(value), "{value} echoed in {text}");
    }

    // Sign-in with nothing: both fields named.
    let problem = assert_problem(
        app.post_as(None, "/api/v1/auth/login", &json!({})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "password");
    assert_eq!(problem["errors"][1]["field"], "username");
}

#[tokio::test]
async fn answers_carry_the_security_headers() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let me = app.get_as(&operator, "/api/v1/auth/me").await;
    assert_eq!(me.status(), 200);
    let headers = me.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert!(!headers.contains_key("strict-transport-security"));
    // Errors too, and errors made outside our handlers.
    let unauthorized = app.get("/api/v1/cases").await;
    assert_eq!(unauthorized.headers()["cache-control"], "no-store");
    assert_eq!(unauthorized.headers()["x-content-type-options"], "nosniff");
    let missing_asset = app.get("/docs/no-such-asset.js").await;
    assert_eq!(missing_asset.headers()["x-content-type-options"], "nosniff");
    // The documentation UI may run its own scripts, from this server only.
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));

    let https = spawn_app_with(&[("HOTLINE_HSTS_MAX_AGE", "31536000")]).await;
    assert_eq!(
        https.get("/healthz").await.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

/// Revocation by counter, not by clock: a token issued in the same second as the change is
/// refused like any older one.
#[tokio::test]
async fn tokens_issued_just_before_a_password_change_or_disabling_are_refused() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let operator_id = app.user_id(&admin, "operator").await;

    let stale = app.token("operator").await;
    let changed = app
        .patch_as(
            &stale,
            &format!("/api/v1/users/{operator_id}"),
            &json!({"password": "a-new-password-2026", "current_password": crate::helpers::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_problem(
        app.get_as(&stale, "/api/v1/auth/me").await,
        401,
        "token_revoked",
    )
    .await;
    let fresh = app.sign_in("operator", "a-new-password-2026").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.get_as(&fresh, "/api/v1/auth/me").await.status(), 200);

    // Disabling ends the session at once; enabling again does not bring it back.
    let path = format!("/api/v1/users/{operator_id}");
    let disabled = app.patch_as(&admin, &path, &json!({"active": false})).await;
    assert_eq!(disabled.status(), 200);
    let enabled = app.patch_as(&admin, &path, &json!({"active": true})).await;
    assert_eq!(enabled.status(), 200);
    assert_problem(
        app.get_as(&fresh, "/api/v1/auth/me").await,
        401,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn retired_categories_take_no_new_cases() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let operator = app.token("operator").await;
    let categories: Value = app
        .get_as(&admin, "/api/v1/categories?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let category = categories["items"][0]["id"].as_i64().unwrap();
    let retired = app
        .patch_as(
            &admin,
            &format!("/api/v1/categories/{category}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(retired.status(), 200);
    let mut body = complaint();
    body["category_id"] = json!(category);
    let problem = assert_problem(
        app.post_as(Some(&operator), "/api/v1/cases", &body).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(problem["errors"][0]["field"], "category_id");
    assert_eq!(problem["errors"][0]["code"], "inactive");
}

#[tokio::test]
async fn idempotency_keys_are_forgotten_after_their_time() {
    let app = spawn_app().await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let send = || {
        app.request("POST", "/api/v1/cases", Some(&operator))
            .header("idempotency-key", "kept-for-a-day")
            .json(&complaint())
            .send()
    };
    let first: Value = send().await.unwrap().json().await.unwrap();
    let retry: Value = send().await.unwrap().json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    // A day and more later (the record is aged behind the server's back), the key is free again.
    app.db
        .execute("UPDATE idempotency_keys SET created_at = '2000-01-01 00:00:00'")
        .await;
    let later = send().await.unwrap();
    assert_eq!(later.status(), 201);
    let later: Value = later.json().await.unwrap();
    assert_ne!(later["id"], first["id"]);
}

/// Every POST of a signed-in caller honours `Idempotency-Key`, not only registration.
#[tokio::test]
async fn idempotency_keys_make_every_post_safe_to_retry() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let send = |token: &str, path: &str, key: &str, body: Value| {
        app.request("POST", path, Some(token))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let client = json!({"name": "市民热线小程序"});
    let first = send(
        &admin,
        "/api/v1/integration-clients",
        "new-client-1",
        client.clone(),
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 201);
    let content_type = first.headers()["content-type"].clone();
    let first: Value = first.json().await.unwrap();
    let retry = send(
        &admin,
        "/api/v1/integration-clients",
        "new-client-1",
        client.clone(),
    )
    .await
    .unwrap();
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.headers()["content-type"], content_type);
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(retry["id"], first["id"]);
    // The secret shown once is shown again to the retry that holds the key, and only one client
    // exists.
    assert_eq!(retry["client_secret"], first["client_secret"]);
    let clients: Value = app
        .get_as(&admin, "/api/v1/integration-clients?limit=200")
        .await
        .json()
        .await
        .unwrap();
    let named = clients["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"] == "市民热线小程序")
        .count();
    assert_eq!(named, 1);

    // The same key for another request is refused; on another path too.
    assert_problem(
        send(
            &admin,
            "/api/v1/integration-clients",
            "new-client-1",
            json!({"name": "另一个"}),
        )
        .await
        .unwrap(),
        409,
        "idempotency_key_reused",
    )
    .await;
    // Another caller's key space is its own.
    let supervisor = app.token("supervisor").await;
    let theirs = send(
        &supervisor,
        "/api/v1/integration-clients",
        "new-client-1",
        client,
    )
    .await
    .unwrap();
    assert_problem(theirs, 403, "forbidden_role").await;

    // An error answer is not kept: the corrected request with the same key runs.
    let user = json!({"username": "new.operator", "display_name": "新话务员", "role": "operator", "password": "short"});
    assert_eq!(
        send(&admin, "/api/v1/users", "new-user-1", user.clone())
            .await
            .unwrap()
            .status(),
        422
    );
    let mut fixed = user;
    fixed["password"] = json!("a-long-enough-password");
    let created = send(&admin, "/api/v1/users", "new-user-1", fixed.clone())
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let user: Value = created.json().await.unwrap();
    assert_eq!(location, format!("/api/v1/users/{}", user["id"]));
    let replayed = send(&admin, "/api/v1/users", "new-user-1", fixed)
        .await
        .unwrap();
    assert_eq!(replayed.status(), 201);
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.headers()["location"], location.as_str());

    // A token revoked since (the administrator changed their password) gets no kept answer back.
    let admin_id = app.user_id(&admin, "admin").await;
    let changed = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{admin_id}"),
            &json!({"password": "another-admin-password", "current_password": crate::helpers::DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_problem(
        send(
            &admin,
            "/api/v1/integration-clients",
            "new-client-1",
            json!({"name": "市民热线小程序"}),
        )
        .await
        .unwrap(),
        401,
        "token_revoked",
    )
    .await;
    let admin = app.sign_in("admin", "another-admin-password").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A malformed key is refused before anything runs.
    assert_problem(
        send(&admin, "/api/v1/users", "has space", json!({}))
            .await
            .unwrap(),
        400,
        "invalid_idempotency_key",
    )
    .await;
}

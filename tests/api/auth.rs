//! Sign-in, lockout, refresh rotation and reuse, sign-out, client credentials, registration.

use serde_json::{Value, json};

use crate::helpers::{DEMO_PASSWORD, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn sign_in_issues_oauth_shaped_tokens_and_me_answers() {
    let app = spawn_app().await;
    app.load_demo().await;
    let response = app
        .post_as(
            None,
            "/api/v1/auth/login",
            &json!({"username": "Dispatcher", "password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["role"], "dispatcher");
    assert!(tokens["refresh_token"].as_str().unwrap().len() >= 40);

    let me: Value = app
        .get_as(tokens["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "user");
    assert_eq!(me["user"]["username"], "dispatcher");
    assert!(me["user"].get("password_hash").is_none());
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_get_the_same_answer() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let analyst_id = app.user_id(&admin, "analyst").await;
    let response = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{analyst_id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(response.status(), 200);

    let mut details = Vec::new();
    for (username, password) in [
        ("operator", "wrong-password-123"),
        ("nobody-here", DEMO_PASSWORD),
        ("analyst", DEMO_PASSWORD),
    ] {
        let response = app
            .post_as(
                None,
                "/api/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        let problem = assert_problem(response, 401, "invalid_credentials").await;
        details.push(problem["detail"].clone());
    }
    assert!(
        details.windows(2).all(|w| w[0] == w[1]),
        "identical answers: {details:?}"
    );
}

#[tokio::test]
async fn repeated_failures_lock_the_name_whether_or_not_it_exists() {
    let app = spawn_app_with(&[
        ("HOTLINE_LOGIN_MAX_FAILURES", "3"),
        ("HOTLINE_LOGIN_LOCK_SECS", "600"),
    ])
    .await;
    app.load_demo().await;
    for username in ["operator", "no-such-account"] {
        for _ in 0..3 {
            let response = app
                .post_as(
                    None,
                    "/api/v1/auth/login",
                    &json!({"username": username, "password": "not-the-password"}),
                )
                .await;
            assert_problem(response, 401, "invalid_credentials").await;
        }
        // Locked now: even the right password is refused, and the answer says when to retry.
        let response = app
            .post_as(
                None,
                "/api/v1/auth/login",
                &json!({"username": username, "password": DEMO_PASSWORD}),
            )
            .await;
        let retry_after: i64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((590..=600).contains(&retry_after), "{retry_after}");
        assert_problem(response, 429, "rate_limited").await;
    }
    // Other accounts are not affected.
    app.sign_in("dispatcher", DEMO_PASSWORD).await;
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_failure_count() {
    let app = spawn_app_with(&[("HOTLINE_LOGIN_MAX_FAILURES", "3")]).await;
    app.load_demo().await;
    for _ in 0..2 {
        let r = app
            .post_as(
                None,
                "/api/v1/auth/login",
                &json!({"username": "operator", "password": "nope-nope-nope"}),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    app.sign_in("operator", DEMO_PASSWORD).await;
    for _ in 0..2 {
        let r = app
            .post_as(
                None,
                "/api/v1/auth/login",
                &json!({"username": "operator", "password": "nope-nope-nope"}),
            )
            .await;
        assert_eq!(r.status(), 401);
    }
    app.sign_in("operator", DEMO_PASSWORD).await;
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_whole_family() {
    let app = spawn_app().await;
    app.load_demo().await;
    let first = app.sign_in("supervisor", DEMO_PASSWORD).await;
    let first_refresh = first["refresh_token"].as_str().unwrap();

    let second: Value = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": first_refresh}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_refresh = second["refresh_token"].as_str().unwrap();
    assert_ne!(first_refresh, second_refresh);
    let me = app
        .get_as(second["access_token"].as_str().unwrap(), "/api/v1/auth/me")
        .await;
    assert_eq!(me.status(), 200);

    // The first token again: someone replayed it. Both it and its successor die.
    let replay = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": first_refresh}),
        )
        .await;
    assert_problem(replay, 401, "refresh_token_reused").await;
    let successor = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": second_refresh}),
        )
        .await;
    assert_problem(successor, 401, "refresh_token_revoked").await;

    // Another sign-in of the same user is a different family and still works.
    let other = app.sign_in("supervisor", DEMO_PASSWORD).await;
    let renewed = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(renewed.status(), 200);
}

#[tokio::test]
async fn unknown_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    let response = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": "made-up"}),
        )
        .await;
    assert_problem(response, 401, "invalid_refresh_token").await;
}

#[tokio::test]
async fn logout_ends_the_refresh_family() {
    let app = spawn_app().await;
    app.load_demo().await;
    let tokens = app.sign_in("operator", DEMO_PASSWORD).await;
    let response = app
        .post_as(
            None,
            "/api/v1/auth/logout",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_eq!(response.status(), 204);
    let after = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_problem(after, 401, "refresh_token_revoked").await;
    // Unknown tokens: the same answer, nothing revealed.
    let unknown = app
        .post_as(
            None,
            "/api/v1/auth/logout",
            &json!({"refresh_token": "whatever"}),
        )
        .await;
    assert_eq!(unknown.status(), 204);
}

#[tokio::test]
async fn password_change_ends_existing_sessions() {
    let app = spawn_app().await;
    app.load_demo().await;
    let tokens = app.sign_in("operator", DEMO_PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = app
        .get_as(access, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let id = me["user"]["id"].as_i64().unwrap();

    let wrong_current = app
        .patch_as(
            access,
            &format!("/api/v1/users/{id}"),
            &json!({"password": "a-brand-new-password", "current_password": "nope"}),
        )
        .await;
    let problem = assert_problem(wrong_current, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "current_password");

    // Wait for the next second: tokens carry whole seconds.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let changed = app
        .patch_as(
            access,
            &format!("/api/v1/users/{id}"),
            &json!({"password": "a-brand-new-password", "current_password": DEMO_PASSWORD}),
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert_problem(
        app.get_as(access, "/api/v1/auth/me").await,
        401,
        "token_revoked",
    )
    .await;
    let refresh = app
        .post_as(
            None,
            "/api/v1/auth/refresh",
            &json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
    assert_problem(refresh, 401, "refresh_token_revoked").await;
    app.sign_in("operator", "a-brand-new-password").await;
}

#[tokio::test]
async fn integration_clients_get_tokens_with_client_credentials() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let created = app
        .post_as(
            Some(&admin),
            "/api/v1/integration-clients",
            &json!({"name": "支付宝小程序"}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let (client_id, secret) = (
        created["client_id"].as_str().unwrap(),
        created["client_secret"].as_str().unwrap(),
    );

    // As JSON and as an OAuth 2 form.
    let json_grant = app
        .post_as(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}),
        )
        .await;
    assert_eq!(json_grant.status(), 200);
    let form_grant = app
        .request("POST", "/api/v1/auth/token", None)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form_grant.status(), 200);
    let tokens: Value = form_grant.json().await.unwrap();
    assert_eq!(tokens["role"], "integration");
    assert!(tokens["refresh_token"].is_null());
    let access = tokens["access_token"].as_str().unwrap();
    let me: Value = app
        .get_as(access, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["kind"], "integration_client");
    assert_eq!(me["client"]["client_id"], client_id);

    // The secret is never shown again.
    let listed: Value = app
        .get_as(&admin, "/api/v1/integration-clients")
        .await
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(secret));

    let wrong = app
        .post_as(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": "guess"}),
        )
        .await;
    assert_problem(wrong, 401, "invalid_client").await;
    let grant = app
        .post_as(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "password", "client_id": client_id, "client_secret": secret}),
        )
        .await;
    assert_problem(grant, 400, "unsupported_grant_type").await;

    // Disabling the client stops its token at once.
    let id = created["id"].as_i64().unwrap();
    let disabled = app
        .patch_as(
            &admin,
            &format!("/api/v1/integration-clients/{id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(disabled.status(), 200);
    assert_problem(
        app.get_as(access, "/api/v1/auth/me").await,
        401,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn citizens_register_with_their_phone_and_sign_in_with_any_spelling_of_it() {
    let app = spawn_app().await;
    let response = app
        .post_as(
            None,
            "/api/v1/citizens/register",
            &json!({"phone": "+86 139-0000-1111", "password": "my-secret-passphrase", "display_name": "李女士"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["username"], "13900001111");
    assert_eq!(user["role"], "citizen");

    let tokens = app.sign_in("139 0000 1111", "my-secret-passphrase").await;
    assert_eq!(tokens["role"], "citizen");

    let again = app
        .post_as(
            None,
            "/api/v1/citizens/register",
            &json!({"phone": "13900001111", "password": "another-passphrase"}),
        )
        .await;
    assert_problem(again, 409, "already_registered").await;

    let invalid = app
        .post_as(
            None,
            "/api/v1/citizens/register",
            &json!({"phone": "12345", "password": "short"}),
        )
        .await;
    let problem = assert_problem(invalid, 422, "validation_failed").await;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["password", "phone"]);
}

/// One client address gets a budget of requests per minute across the public endpoints (sign-in,
/// client tokens, registration); past it: 429 with `Retry-After`, whatever the request says.
#[tokio::test]
async fn public_endpoints_are_rate_limited_per_client_address() {
    let app = spawn_app_with(&[("HOTLINE_PUBLIC_RATE_LIMIT", "3")]).await;
    app.load_demo().await;
    let operator = app.token("operator").await;
    let failed_login = |n: usize| json!({"username": format!("nobody-{n}"), "password": "x"});
    for n in 1..3 {
        let response = app
            .post_as(None, "/api/v1/auth/login", &failed_login(n))
            .await;
        assert_problem(response, 401, "invalid_credentials").await;
    }
    let refused = [
        ("/api/v1/auth/login", failed_login(3)),
        (
            "/api/v1/citizens/register",
            json!({"phone": "13912345678", "password": "a-long-password"}),
        ),
        (
            "/api/v1/auth/token",
            json!({"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}),
        ),
        // Bad input does not get past the limit either.
        ("/api/v1/auth/login", json!({"username": 1})),
    ];
    for (path, body) in refused {
        let response = app.post_as(None, path, &body).await;
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=20).contains(&retry_after), "{path}: {retry_after}");
        assert_problem(response, 429, "rate_limited").await;
    }
    // A forged X-Forwarded-For does not buy a fresh budget: no proxy is trusted here.
    let response = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.1")
        .json(&failed_login(4))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    // Signed-in work is not limited.
    for _ in 0..10 {
        assert_eq!(app.get_as(&operator, "/api/v1/auth/me").await.status(), 200);
    }
}

/// Behind a trusted reverse proxy, each client named by `X-Forwarded-For` has its own budget.
#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = spawn_app_with(&[
        ("HOTLINE_PUBLIC_RATE_LIMIT", "2"),
        ("HOTLINE_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let login_from = |client: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", format!("1.2.3.4, {client}"))
            .json(&json!({"username": "nobody", "password": "x"}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(login_from("198.51.100.1").await.unwrap().status(), 401);
    }
    assert_eq!(login_from("198.51.100.1").await.unwrap().status(), 429);
    assert_eq!(login_from("198.51.100.2").await.unwrap().status(), 401);
}

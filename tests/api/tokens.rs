//! Every way a forged or stale access token is refused with 401, and key rotation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TEST_SIGNING_KEY, assert_problem, spawn_app, spawn_app_with};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Claims like the server's own, for `user:<id>`.
fn claims(user_id: i64, role: &str, iat: i64, exp: i64) -> Value {
    json!({"iss": "hotline", "sub": format!("user:{user_id}"), "role": role, "iat": iat, "nbf": iat, "exp": exp, "jti": "t", "sv": 0})
}

fn sign_hs(alg: Algorithm, kid: Option<&str>, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(Into::into);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn admin_id(app: &crate::helpers::TestApp) -> i64 {
    let admin = app.token("admin").await;
    let me: Value = app
        .get_as(&admin, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    me["user"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_correctly_signed_token_is_accepted() {
    let app = spawn_app().await;
    app.load_demo().await;
    let id = admin_id(&app).await;
    let token = sign_hs(
        Algorithm::HS256,
        Some("k1"),
        TEST_SIGNING_KEY.as_bytes(),
        &claims(id, "admin", now(), now() + 60),
    );
    assert_eq!(
        app.get_as(&token, "/api/v1/auth/me").await.status(),
        200,
        "the forging helper itself is sound"
    );
}

#[tokio::test]
async fn forged_and_stale_tokens_are_refused() {
    let app = spawn_app().await;
    app.load_demo().await;
    let id = admin_id(&app).await;
    let key = TEST_SIGNING_KEY.as_bytes();
    let valid = claims(id, "admin", now(), now() + 300);

    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let payload = URL_SAFE_NO_PAD.encode(valid.to_string());
    let real = sign_hs(Algorithm::HS256, Some("k1"), key, &valid);
    let (real_head, _) = real.rsplit_once('.').unwrap();

    let mut without_epoch = valid.clone();
    without_epoch.as_object_mut().unwrap().remove("sv");
    let mut old_epoch = valid.clone();
    old_epoch["sv"] = json!(-1);

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "issued before session epochs existed",
            sign_hs(Algorithm::HS256, Some("k1"), key, &without_epoch),
            "invalid_token",
        ),
        (
            "another session epoch",
            sign_hs(Algorithm::HS256, Some("k1"), key, &old_epoch),
            "token_revoked",
        ),
        (
            "wrong signature",
            sign_hs(
                Algorithm::HS256,
                Some("k1"),
                b"some-other-secret-0123456789abcdef",
                &valid,
            ),
            "invalid_token",
        ),
        (
            "alg none",
            format!("{none_header}.{payload}."),
            "invalid_token",
        ),
        (
            "another algorithm",
            sign_hs(Algorithm::HS512, Some("k1"), key, &valid),
            "invalid_token",
        ),
        (
            "unknown kid",
            sign_hs(Algorithm::HS256, Some("k9"), key, &valid),
            "unknown_signing_key",
        ),
        (
            "no kid",
            sign_hs(Algorithm::HS256, None, key, &valid),
            "unknown_signing_key",
        ),
        (
            "expired",
            sign_hs(
                Algorithm::HS256,
                Some("k1"),
                key,
                &claims(id, "admin", now() - 600, now() - 300),
            ),
            "token_expired",
        ),
        (
            "not yet valid",
            sign_hs(
                Algorithm::HS256,
                Some("k1"),
                key,
                &claims(id, "admin", now() + 300, now() + 600),
            ),
            "token_not_yet_valid",
        ),
        ("malformed", "not-a-jwt".into(), "invalid_token"),
        (
            "truncated signature",
            format!("{real_head}.AAAA"),
            "invalid_token",
        ),
        (
            "unknown user",
            sign_hs(
                Algorithm::HS256,
                Some("k1"),
                key,
                &claims(999_999, "admin", now(), now() + 300),
            ),
            "token_revoked",
        ),
        (
            "foreign issuer",
            sign_hs(
                Algorithm::HS256,
                Some("k1"),
                key,
                &json!({"iss": "elsewhere", "sub": format!("user:{id}"), "role": "admin", "iat": now(), "nbf": now(), "exp": now() + 300, "jti": "x"}),
            ),
            "invalid_token",
        ),
    ];
    for (name, token, code) in cases {
        let response = app.get_as(&token, "/api/v1/auth/me").await;
        assert_eq!(response.status(), 401, "{name}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{name}");
        let problem = assert_problem(response, 401, code).await;
        assert!(!problem.to_string().contains(TEST_SIGNING_KEY), "{name}");
    }

    for header in [
        "Basic YWRtaW46YWRtaW4=",
        "Bearer",
        "Bearer    ",
        "token abc",
    ] {
        let response = app
            .request("GET", "/api/v1/auth/me", None)
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401, "invalid_token").await;
    }
    assert_problem(app.get("/api/v1/auth/me").await, 401, "missing_token").await;
}

#[tokio::test]
async fn a_disabled_users_token_stops_working_at_once() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let staff = app.token("cgj.staff").await;
    assert_eq!(app.get_as(&staff, "/api/v1/auth/me").await.status(), 200);
    let id = app.user_id(&admin, "cgj.staff").await;
    let response = app
        .patch_as(
            &admin,
            &format!("/api/v1/users/{id}"),
            &json!({"active": false}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_problem(
        app.get_as(&staff, "/api/v1/auth/me").await,
        401,
        "token_revoked",
    )
    .await;
}

#[tokio::test]
async fn the_role_comes_from_the_database_not_from_the_token() {
    let app = spawn_app().await;
    app.load_demo().await;
    let analyst = app.token("analyst").await;
    let me: Value = app
        .get_as(&analyst, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    let id = me["user"]["id"].as_i64().unwrap();
    // A validly signed token claiming "admin" for the analyst still acts as the analyst.
    let forged = sign_hs(
        Algorithm::HS256,
        Some("k1"),
        TEST_SIGNING_KEY.as_bytes(),
        &claims(id, "admin", now(), now() + 60),
    );
    let response = app.get_as(&forged, "/api/v1/users").await;
    assert_problem(response, 403, "forbidden_role").await;
}

#[tokio::test]
async fn rotated_keys_keep_earlier_tokens_valid_while_configured() {
    let old_key = "the-previous-signing-key-0123456789";
    let app = spawn_app_with(&[
        ("HOTLINE_JWT_KEY_ID", "k2"),
        ("HOTLINE_JWT_VERIFICATION_KEYS", &format!("k1={old_key}")),
    ])
    .await;
    app.load_demo().await;
    let id = admin_id(&app).await;
    let issued = app.token("admin").await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(issued.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["kid"], "k2", "new tokens carry the new key id");

    let old_token = sign_hs(
        Algorithm::HS256,
        Some("k1"),
        old_key.as_bytes(),
        &claims(id, "admin", now(), now() + 60),
    );
    assert_eq!(
        app.get_as(&old_token, "/api/v1/auth/me").await.status(),
        200
    );
    // The old key under the new id is still a wrong signature.
    let mixed = sign_hs(
        Algorithm::HS256,
        Some("k2"),
        old_key.as_bytes(),
        &claims(id, "admin", now(), now() + 60),
    );
    assert_problem(
        app.get_as(&mixed, "/api/v1/auth/me").await,
        401,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn es256_tokens_verify_with_the_public_key() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let app = spawn_app_with(&[
        ("HOTLINE_JWT_ALGORITHM", "ES256"),
        (
            "HOTLINE_JWT_SIGNING_KEY",
            &format!("@{fixtures}/es256-private.pem"),
        ),
        (
            "HOTLINE_JWT_PUBLIC_KEY",
            &format!("@{fixtures}/es256-public.pem"),
        ),
    ])
    .await;
    app.load_demo().await;
    let token = app.token("operator").await;
    assert_eq!(app.get_as(&token, "/api/v1/auth/me").await.status(), 200);

    // An integrator verifies with nothing but the public key.
    let public = std::fs::read(format!("{fixtures}/es256-public.pem")).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_issuer(&["hotline"]);
    let decoded = jsonwebtoken::decode::<Value>(
        &token,
        &jsonwebtoken::DecodingKey::from_ec_pem(&public).unwrap(),
        &validation,
    );
    assert_eq!(decoded.unwrap().claims["role"], "operator");

    // Algorithm confusion: an HS256 token keyed with the public key's bytes is refused.
    let id = decoded_id(&app, &token).await;
    let confused = sign_hs(
        Algorithm::HS256,
        Some("k1"),
        &public,
        &claims(id, "operator", now(), now() + 60),
    );
    assert_problem(
        app.get_as(&confused, "/api/v1/auth/me").await,
        401,
        "invalid_token",
    )
    .await;
}

async fn decoded_id(app: &crate::helpers::TestApp, token: &str) -> i64 {
    let me: Value = app
        .get_as(token, "/api/v1/auth/me")
        .await
        .json()
        .await
        .unwrap();
    me["user"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn eddsa_is_available_too() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let app = spawn_app_with(&[
        ("HOTLINE_JWT_ALGORITHM", "EdDSA"),
        (
            "HOTLINE_JWT_SIGNING_KEY",
            &format!("@{fixtures}/ed25519-private.pem"),
        ),
        (
            "HOTLINE_JWT_PUBLIC_KEY",
            &format!("@{fixtures}/ed25519-public.pem"),
        ),
    ])
    .await;
    app.load_demo().await;
    let token = app.token("operator").await;
    assert_eq!(app.get_as(&token, "/api/v1/auth/me").await.status(), 200);
}

#[tokio::test]
async fn tokens_from_another_server_key_are_refused() {
    let app = spawn_app().await;
    let other = spawn_app_with(&[(
        "HOTLINE_JWT_SIGNING_KEY",
        "a-completely-different-key-0123456789",
    )])
    .await;
    other.load_demo().await;
    app.load_demo().await;
    let foreign = other.token("admin").await;
    assert_problem(
        app.get_as(&foreign, "/api/v1/auth/me").await,
        401,
        "invalid_token",
    )
    .await;
}

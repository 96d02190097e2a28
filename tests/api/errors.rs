//! Every malformed request is answered with a problem document and the right status.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_routes_are_404_problems() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/v1/no-such-resource",
        "/api/v2/cases",
        "/%FF%FE",
    ] {
        assert_problem(app.get(path).await, 404, "route_not_found").await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = spawn_app().await;
    for (method, path) in [
        ("POST", "/healthz"),
        ("DELETE", "/readyz"),
        ("PUT", "/openapi.json"),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(response.headers()["allow"], "GET");
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn missing_documentation_assets_are_problems_too() {
    let app = spawn_app().await;
    assert_problem(app.get("/docs/no-such-asset.js").await, 404, "not_found").await;
}

#[tokio::test]
async fn cors_allows_configured_origins_only() {
    let app = spawn_app_with(&[("HOTLINE_CORS_ORIGINS", "https://app.example.gov.cn")]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/readyz"))
        .header("origin", "https://app.example.gov.cn")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.gov.cn"
    );

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.gov.cn")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.gov.cn"
    );
    assert!(
        simple.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );

    // A browser reading a foreign origin's answer finds no grant and withholds it.
    let foreign = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );

    let foreign_preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/readyz"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        !foreign_preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert_problem(foreign_preflight, 400, "bad_request").await;
}

#[tokio::test]
async fn without_cors_configuration_no_origin_is_granted() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.gov.cn")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

/// serde fills a struct from an array too; the API takes objects only (found by schemathesis).
#[tokio::test]
async fn a_body_that_is_not_an_object_is_refused() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let cgj = app.department_id(&admin, "CGJ").await;
    for body in ["[null, null]", "[\"市城市管理局\"]", "7", "null"] {
        let response = app
            .request("PATCH", &format!("/api/v1/departments/{cgj}"), Some(&admin))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 422, "validation_failed").await;
    }
}

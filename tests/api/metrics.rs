//! Prometheus metrics: off unless a listener is configured, served there and not by the API,
//! requests named by route pattern (never by a path that may hold personal data), a token when
//! one is set, and the figures of the pool, the outbox, the limits and the webhook worker.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::webhooks::{client, complaint, free_port};

const LISTENER: (&str, &str) = ("HOTLINE_METRICS_BIND", "127.0.0.1:0");

fn metrics_url(app: &TestApp) -> String {
    let address = app.metrics_address.as_ref().expect("a metrics listener");
    format!("{address}/metrics")
}

async fn scrape(app: &TestApp) -> String {
    let response = app.client.get(metrics_url(app)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as exposed), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrapes until `series` reaches `at_least` (background work), or fails after 10 s.
async fn scrape_until(app: &TestApp, series: &str, at_least: f64) -> String {
    for _ in 0..100 {
        let text = scrape(app).await;
        if value(&text, series).is_some_and(|v| v >= at_least) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{series} never reached {at_least}");
}

#[tokio::test]
async fn there_are_no_metrics_unless_a_listener_is_configured() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none());
    // Nor does the API serve them, or document them.
    assert_eq!(app.get("/metrics").await.status(), 404);
    let document = app.get("/openapi.json").await.text().await.unwrap();
    assert!(!document.contains("/metrics"));
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_never_by_path() {
    let app = spawn_app_with(&[LISTENER]).await;
    for _ in 0..2 {
        assert_eq!(app.get("/healthz").await.status(), 200);
    }
    // Paths that carry a phone number and a case id.
    let by_number = app
        .get("/api/v1/cases/by-number/13800138000")
        .await
        .status();
    let by_id = app.get("/api/v1/cases/987654321").await.status();
    assert_eq!(app.get("/no/such/13900139000").await.status(), 404);

    let text = scrape(&app).await;
    let requests = |route: &str, status: reqwest::StatusCode| {
        let series = format!(
            "hotline_http_requests_total{{method=\"GET\",route=\"{route}\",status=\"{}\"}}",
            status.as_u16()
        );
        value(&text, &series)
    };
    assert_eq!(requests("/healthz", reqwest::StatusCode::OK), Some(2.0));
    assert_eq!(
        requests("/api/v1/cases/by-number/{case_no}", by_number),
        Some(1.0)
    );
    assert_eq!(requests("/api/v1/cases/{id}", by_id), Some(1.0));
    assert_eq!(
        requests("unmatched", reqwest::StatusCode::NOT_FOUND),
        Some(1.0)
    );
    for raw in ["13800138000", "987654321", "13900139000"] {
        assert!(!text.contains(raw), "{raw} must not be exported");
    }
    assert_eq!(
        value(
            &text,
            r#"hotline_http_request_duration_seconds_count{method="GET",route="/api/v1/cases/{id}"}"#
        ),
        Some(1.0)
    );

    // The pool, read at scrape time, and the checkouts so far.
    let in_use = value(&text, r#"hotline_db_pool_connections{state="in_use"}"#).unwrap();
    let idle = value(&text, r#"hotline_db_pool_connections{state="idle"}"#).unwrap();
    assert!(in_use + idle >= 1.0, "{in_use} in use, {idle} idle");
    assert!(value(&text, "hotline_db_pool_wait_seconds_count").unwrap() >= 1.0);
    assert_eq!(value(&text, "hotline_db_pool_timeouts_total"), Some(0.0));
    assert_eq!(value(&text, "hotline_sqlite_writer_queue_depth"), Some(0.0));
    // An empty outbox, nothing refused, nothing failed.
    assert_eq!(value(&text, "hotline_webhook_outbox_backlog"), Some(0.0));
    assert_eq!(
        value(&text, "hotline_webhook_outbox_oldest_age_seconds"),
        Some(0.0)
    );
    assert_eq!(
        value(
            &text,
            r#"hotline_rate_limit_refusals_total{limit="public"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "hotline_webhook_delivery_failures_total"),
        Some(0.0)
    );
    // The sweep runs once at start.
    scrape_until(&app, "hotline_sweep_runs_total", 1.0).await;

    // The metrics listener serves nothing else.
    let other = format!("{}/openapi.json", app.metrics_address.as_ref().unwrap());
    assert_eq!(app.client.get(other).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn a_token_guards_the_metrics_when_one_is_set() {
    let token = "scrape-token-0123456789";
    let app = spawn_app_with(&[LISTENER, ("HOTLINE_METRICS_TOKEN", token)]).await;
    let url = metrics_url(&app);
    let refused = app.client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    for wrong in ["scrape-token-012345678", "scrape-token-0123456789x", ""] {
        let response = app
            .client
            .get(&url)
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{wrong:?}");
    }
    let basic = app
        .client
        .get(&url)
        .basic_auth("prometheus", Some(token))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let admitted = app
        .client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(admitted.status(), 200);
    assert!(
        admitted
            .text()
            .await
            .unwrap()
            .contains("hotline_db_pool_connections")
    );
}

#[tokio::test]
async fn refusals_are_counted_by_the_limit_that_refused() {
    let app = spawn_app_with(&[
        LISTENER,
        ("HOTLINE_PUBLIC_RATE_LIMIT", "3"),
        ("HOTLINE_LOGIN_MAX_FAILURES", "1"),
    ])
    .await;
    let attempt = json!({"username": "nobody", "password": "not-the-password"});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = app.post_as(None, "/api/v1/auth/login", &attempt).await;
        statuses.push(response.status().as_u16());
    }
    // A failure locks the name; two refusals of the lock; then the address is out of budget.
    assert_eq!(statuses, [401, 429, 429, 429]);
    let text = scrape(&app).await;
    assert_eq!(
        value(
            &text,
            r#"hotline_rate_limit_refusals_total{limit="sign_in_lockout"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &text,
            r#"hotline_rate_limit_refusals_total{limit="public"}"#
        ),
        Some(1.0)
    );
}

/// Loopback receivers over plain http (the worker is left as each test says).
const WEBHOOKS_TO_LOOPBACK: [(&str, &str); 4] = [
    ("HOTLINE_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("HOTLINE_WEBHOOK_HTTP_HOSTS", "127.0.0.1"),
    ("HOTLINE_WEBHOOK_RETRY_BASE_MS", "200"),
    ("HOTLINE_WEBHOOK_POLL_MS", "50"),
];

/// An application with a webhook to a port nobody listens on, and two cases registered since.
async fn app_with_undeliverable_events(worker: &str) -> TestApp {
    let mut settings = vec![LISTENER, ("HOTLINE_WEBHOOK_WORKER", worker)];
    settings.extend(WEBHOOKS_TO_LOOPBACK);
    let app = spawn_app_with(&settings).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let (_, integrator) = client(&app, &admin, "小程序").await;
    let url = format!("http://127.0.0.1:{}/events", free_port());
    let created = app
        .post_as(Some(&integrator), "/api/v1/webhooks", &json!({"url": url}))
        .await;
    assert_eq!(created.status(), 201);
    for external_ref in ["m-1", "m-2"] {
        let registered = app
            .post_as(Some(&integrator), "/api/v1/cases", &complaint(external_ref))
            .await;
        assert_eq!(registered.status(), 201);
    }
    app
}

#[tokio::test]
async fn the_outbox_backlog_is_read_at_scrape_time() {
    let app = app_with_undeliverable_events("false").await;
    let text = scrape(&app).await;
    assert_eq!(value(&text, "hotline_webhook_outbox_backlog"), Some(2.0));
    let age = value(&text, "hotline_webhook_outbox_oldest_age_seconds").unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
}

#[tokio::test]
async fn failed_delivery_attempts_are_counted() {
    let app = app_with_undeliverable_events("true").await;
    let text = scrape_until(&app, "hotline_webhook_delivery_failures_total", 2.0).await;
    // Handed out to the webhook: nothing left in the outbox.
    assert_eq!(value(&text, "hotline_webhook_outbox_backlog"), Some(0.0));
}

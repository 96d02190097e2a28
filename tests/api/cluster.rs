//! Several servers on one PostgreSQL database (SPEC 7: "for centres that run several API
//! servers"): real `hotline` processes, requests spread over them in turn, and what must hold
//! between them — distinct case numbers, one winner among concurrent dispatches, one sweep's work
//! done once, each webhook delivery sent by one server, refresh rotation and sign-in lockout seen by
//! every server, a public budget that spreading does not multiply, tokens that verify everywhere;
//! and a database outage that the servers ride out (`outage`).
//!
//! These tests need PostgreSQL (`HOTLINE_TEST_DATABASE_URL`); on SQLite they return at once,
//! saying so.

mod harness;
mod outage;
mod proxy;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{DEMO_PASSWORD, test_backend_url};
use harness::{Cluster, ServerProcess, answer, skipped};

fn complaint(marker: &str) -> Value {
    json!({
        "channel": "phone",
        "kind": "complaint",
        "title": format!("小区门口占道经营 {marker}"),
        "description": "每天傍晚有流动摊贩在小区门口占道经营，影响通行。",
        "address": "东城区东华门街道某小区北门",
        "complainant": {"name": "张三", "phone": "13812345678", "contact_allowed": true}
    })
}

/// The id of the demo department `code`.
async fn department(cluster: &Cluster, token: &str, code: &str) -> i64 {
    let (_, page) = cluster
        .get(token, &format!("/api/v1/departments?q={code}&limit=200"))
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == code)
        .and_then(|d| d["id"].as_i64())
        .unwrap_or_else(|| panic!("department {code}"))
}

/// Registers and accepts a complaint (each request on the next server); its id.
async fn accepted_case(cluster: &Cluster, operator: &str, marker: &str) -> i64 {
    let (status, case) = cluster
        .post(Some(operator), "/api/v1/cases", &complaint(marker))
        .await;
    assert_eq!(status, 201, "register: {case}");
    let id = case["id"].as_i64().unwrap();
    let (status, body) = cluster
        .post(
            Some(operator),
            &format!("/api/v1/cases/{id}/accept"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "accept: {body}");
    id
}

#[tokio::test]
async fn registrations_spread_over_the_servers_get_distinct_case_numbers() {
    let Some(cluster) = Cluster::start(3, &[]).await else {
        return skipped("registrations_spread_over_the_servers_get_distinct_case_numbers");
    };
    cluster.load_demo().await;
    let operator = cluster.token("operator").await;
    let registered = join_all((0..60).map(|n| {
        let body = complaint(&format!("R{n}"));
        let request = cluster.request("POST", "/api/v1/cases", Some(&operator));
        async move { answer(request.json(&body).send().await).await }
    }))
    .await;
    let mut numbers = HashSet::new();
    for (status, case) in &registered {
        assert_eq!(*status, 201, "{case}");
        assert!(
            numbers.insert(case["case_no"].as_str().unwrap().to_owned()),
            "case number {} given twice",
            case["case_no"]
        );
    }
    // Each case reads back, by number, from every server.
    for (_, case) in &registered {
        for server in &cluster.servers {
            let path = format!(
                "/api/v1/cases/by-number/{}",
                case["case_no"].as_str().unwrap()
            );
            let (status, found) = answer(
                cluster
                    .request_to(server, "GET", &path, Some(&operator))
                    .send()
                    .await,
            )
            .await;
            assert_eq!((status, &found["id"]), (200, &case["id"]));
        }
    }
}

#[tokio::test]
async fn of_fifty_concurrent_dispatches_over_the_servers_exactly_one_wins() {
    let Some(cluster) = Cluster::start(3, &[]).await else {
        return skipped("of_fifty_concurrent_dispatches_over_the_servers_exactly_one_wins");
    };
    cluster.load_demo().await;
    let operator = cluster.token("operator").await;
    let dispatcher = cluster.token("dispatcher").await;
    let cgj = department(&cluster, &operator, "CGJ").await;
    let case = accepted_case(&cluster, &operator, "D").await;

    let path = format!("/api/v1/cases/{case}/dispatch");
    let body = json!({"departments": [{"department_id": cgj}]});
    let outcomes = join_all((0..50).map(|_| {
        let request = cluster.request("POST", &path, Some(&dispatcher));
        let body = body.clone();
        async move { answer(request.json(&body).send().await).await }
    }))
    .await;
    let won = outcomes.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!(won, 1, "{outcomes:?}");
    for (status, body) in outcomes.iter().filter(|(status, _)| *status != 200) {
        assert_eq!(*status, 409, "the losers get a conflict: {body}");
    }
    let (_, assignments) = cluster
        .get(&dispatcher, &format!("/api/v1/assignments?case_id={case}"))
        .await;
    assert_eq!(
        assignments["items"].as_array().unwrap().len(),
        1,
        "{assignments}"
    );
    let (_, timeline) = cluster
        .get(&dispatcher, &format!("/api/v1/cases/{case}/timeline"))
        .await;
    let dispatched = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "dispatched")
        .count();
    assert_eq!(dispatched, 1, "{timeline}");
}

#[tokio::test]
async fn sweeps_on_every_server_at_once_mark_and_urge_each_missed_clock_once() {
    // Every server sweeps each second, and cron's `hotline sweep` runs beside them.
    let Some(cluster) = Cluster::start(3, &[("HOTLINE_SWEEP_INTERVAL_SECS", "1")]).await else {
        return skipped("sweeps_on_every_server_at_once_mark_and_urge_each_missed_clock_once");
    };
    cluster.load_demo().await;
    let operator = cluster.token("operator").await;
    let dispatcher = cluster.token("dispatcher").await;
    let supervisor = cluster.token("supervisor").await;
    let cgj = department(&cluster, &operator, "CGJ").await;
    let dc = department(&cluster, &operator, "DC").await;
    let cases = join_all((0..12).map(|n| {
        let (cluster, operator, dispatcher) = (&cluster, &operator, &dispatcher);
        async move {
            let case = accepted_case(cluster, operator, &format!("S{n}")).await;
            let to = if n % 2 == 0 { cgj } else { dc };
            let (status, body) = cluster
                .post(
                    Some(dispatcher),
                    &format!("/api/v1/cases/{case}/dispatch"),
                    &json!({"departments": [{"department_id": to}]}),
                )
                .await;
            assert_eq!(status, 200, "dispatch: {body}");
            case
        }
    }))
    .await;
    let listed = cases
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    // Every sign clock of these cases ran out long ago, all at the same moment.
    cluster
        .db
        .execute(&format!(
            "UPDATE deadlines SET starts_at = '2020-01-01 00:00:00', \
             due_at = '2020-01-02 00:00:00', due_soon_at = NULL \
             WHERE kind = 'sign' AND case_id IN ({listed})"
        ))
        .await;
    join_all((0..3).map(|_| cluster.command(&["sweep"]))).await;

    // The system's urges about these cases (the demo cases may have their own).
    let urges_of_cases = || async {
        let (_, page) = cluster
            .get(&supervisor, "/api/v1/supervisions?method=system&limit=200")
            .await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| cases.iter().any(|c| u["case_id"] == *c))
            .cloned()
            .collect::<Vec<_>>()
    };
    // Wait for every clock to be marked, then for a few more rounds of sweeping.
    let started = Instant::now();
    let urges = loop {
        let urges = urges_of_cases().await;
        if urges.len() >= cases.len() {
            break urges;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the sweeps urged {} of {} departments",
            urges.len(),
            cases.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        urges_of_cases().await.len(),
        urges.len(),
        "later sweeps urged again"
    );
    assert_eq!(
        urges.len(),
        cases.len(),
        "one urge per missed clock: {urges:#?}"
    );
    let urged_clocks: HashSet<_> = urges.iter().map(|u| u["deadline_id"].to_string()).collect();
    assert_eq!(urged_clocks.len(), cases.len(), "each clock urged once");
    for case in &cases {
        let (_, timeline) = cluster
            .get(&dispatcher, &format!("/api/v1/cases/{case}/timeline"))
            .await;
        let missed = timeline
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "deadline_missed")
            .count();
        assert_eq!(missed, 1, "case {case}: {timeline}");
    }
}

/// A webhook receiver that counts what it gets per delivery and per event.
struct Receiver {
    port: u16,
    deliveries: Arc<Mutex<HashMap<String, usize>>>,
    events: Arc<Mutex<HashMap<i64, usize>>>,
    _server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start() -> Self {
        let deliveries = Arc::new(Mutex::new(HashMap::new()));
        let events = Arc::new(Mutex::new(HashMap::new()));
        let (by_delivery, by_event) = (deliveries.clone(), events.clone());
        let server = HttpServer::new(move || {
            let (by_delivery, by_event) = (by_delivery.clone(), by_event.clone());
            App::new().default_service(web::to(
                move |req: actix_web::HttpRequest, body: web::Bytes| {
                    let (by_delivery, by_event) = (by_delivery.clone(), by_event.clone());
                    async move {
                        let delivery = req
                            .headers()
                            .get("x-hotline-delivery")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        *by_delivery.lock().unwrap().entry(delivery).or_default() += 1;
                        let event: Value = serde_json::from_slice(&body).unwrap_or_default();
                        let id = event["id"].as_i64().unwrap_or(-1);
                        *by_event.lock().unwrap().entry(id).or_default() += 1;
                        HttpResponse::Ok().finish()
                    }
                },
            ))
        })
        .workers(2)
        .bind(("127.0.0.1", 0))
        .expect("the receiver binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            deliveries,
            events,
            _server: handle,
        }
    }
}

#[tokio::test]
async fn each_webhook_event_is_delivered_once_by_one_of_the_servers() {
    let Some(cluster) = Cluster::start(
        3,
        &[
            ("HOTLINE_WEBHOOK_WORKER", "true"),
            ("HOTLINE_WEBHOOK_ALLOW_PRIVATE", "true"),
            ("HOTLINE_WEBHOOK_HTTP_HOSTS", "127.0.0.1"),
            ("HOTLINE_WEBHOOK_RETRY_BASE_MS", "200"),
            // Short polls: the three workers keep reaching for the same rows.
            ("HOTLINE_WEBHOOK_POLL_MS", "20"),
        ],
    )
    .await
    else {
        return skipped("each_webhook_event_is_delivered_once_by_one_of_the_servers");
    };
    cluster.load_demo().await;
    let admin = cluster.token("admin").await;
    let receiver = Receiver::start();
    let (_, created) = cluster
        .post(
            Some(&admin),
            "/api/v1/integration-clients",
            &json!({"name": "城市数据平台"}),
        )
        .await;
    let (_, token) = cluster
        .post(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "client_credentials", "client_id": created["client_id"],
                    "client_secret": created["client_secret"]}),
        )
        .await;
    let client = token["access_token"].as_str().unwrap().to_owned();
    let (status, hook) = cluster
        .post(
            Some(&client),
            "/api/v1/webhooks",
            &json!({"url": format!("http://127.0.0.1:{}/hook", receiver.port),
                    "event_types": ["case.registered"]}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");

    const CASES: usize = 60;
    let registered = join_all((0..CASES).map(|n| {
        let mut body = complaint(&format!("W{n}"));
        body.as_object_mut().unwrap().remove("channel");
        body["external_ref"] = json!(format!("W-{n}"));
        let request = cluster.request("POST", "/api/v1/cases", Some(&client));
        async move { answer(request.json(&body).send().await).await }
    }))
    .await;
    assert!(
        registered.iter().all(|(status, _)| *status == 201),
        "{registered:?}"
    );

    let started = Instant::now();
    while receiver.events.lock().unwrap().len() < CASES {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} of {CASES} events arrived",
            receiver.events.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A second delivery would come within a few polls.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let events = receiver.events.lock().unwrap().clone();
    assert_eq!(events.len(), CASES, "{events:?}");
    assert!(
        events.values().all(|n| *n == 1),
        "an event arrived twice: {events:?}"
    );
    let deliveries = receiver.deliveries.lock().unwrap().clone();
    assert!(deliveries.values().all(|n| *n == 1), "{deliveries:?}");
}

#[tokio::test]
async fn a_refresh_token_rotated_on_one_server_is_refused_on_the_others() {
    let Some(cluster) = Cluster::start(3, &[]).await else {
        return skipped("a_refresh_token_rotated_on_one_server_is_refused_on_the_others");
    };
    cluster.load_demo().await;
    let [a, b, c] = [
        &cluster.servers[0],
        &cluster.servers[1],
        &cluster.servers[2],
    ];
    let sign_in = |server: &ServerProcess| {
        cluster
            .request_to(server, "POST", "/api/v1/auth/login", None)
            .json(&json!({"username": "operator", "password": DEMO_PASSWORD}))
            .send()
    };
    let refresh = |server: &ServerProcess, token: &Value| {
        cluster
            .request_to(server, "POST", "/api/v1/auth/refresh", None)
            .json(&json!({"refresh_token": token}))
            .send()
    };
    let (_, first) = answer(sign_in(a).await).await;
    let (status, second) = answer(refresh(b, &first["refresh_token"]).await).await;
    assert_eq!(status, 200, "{second}");
    // The rotated token again, on the third server: reuse, and the family ends.
    let (status, reused) = answer(refresh(c, &first["refresh_token"]).await).await;
    assert_eq!(
        (status, &reused["code"]),
        (401, &json!("refresh_token_reused"))
    );
    for server in [a, b, c] {
        let (status, body) = answer(refresh(server, &second["refresh_token"]).await).await;
        assert_eq!(
            (status, &body["code"]),
            (401, &json!("refresh_token_revoked"))
        );
    }

    // One token presented to every server at once: one rotation, the rest are reuse.
    let (_, tokens) = answer(sign_in(a).await).await;
    let token = &tokens["refresh_token"];
    let outcomes = join_all(
        cluster
            .servers
            .iter()
            .cycle()
            .take(9)
            .map(|server| async move { answer(refresh(server, token).await).await }),
    )
    .await;
    let rotated = outcomes.iter().filter(|(status, _)| *status == 200).count();
    assert!(rotated <= 1, "rotated more than once: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(status, _)| [200, 401].contains(status)),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn a_sign_in_lockout_holds_whichever_server_the_attempts_reach() {
    let Some(cluster) = Cluster::start(
        3,
        &[
            ("HOTLINE_LOGIN_MAX_FAILURES", "6"),
            ("HOTLINE_LOGIN_LOCK_SECS", "600"),
        ],
    )
    .await
    else {
        return skipped("a_sign_in_lockout_holds_whichever_server_the_attempts_reach");
    };
    cluster.load_demo().await;
    let attempt = |server: &ServerProcess, username: &str, password: &str| {
        cluster
            .request_to(server, "POST", "/api/v1/auth/login", None)
            .json(&json!({"username": username, "password": password}))
            .send()
    };
    // Six wrong passwords at once, two on each server, for each of two names: every one counts,
    // however they interleave.
    for username in ["operator", "dispatcher"] {
        let failures = join_all(
            cluster
                .servers
                .iter()
                .cycle()
                .take(6)
                .map(|server| async move {
                    answer(attempt(server, username, "wrong-password").await).await
                }),
        )
        .await;
        assert!(
            failures.iter().all(|(status, _)| *status == 401),
            "{failures:?}"
        );
        // Locked on every server, even for the right password.
        for server in &cluster.servers {
            let (status, body) = answer(attempt(server, username, DEMO_PASSWORD).await).await;
            assert_eq!(
                (status, &body["code"]),
                (429, &json!("rate_limited")),
                "{username} on {}",
                server.address
            );
        }
    }
    let (status, _) = answer(attempt(&cluster.servers[0], "supervisor", DEMO_PASSWORD).await).await;
    assert_eq!(status, 200, "other accounts are not locked");
}

#[tokio::test]
async fn a_client_spreading_over_the_servers_gets_the_public_budget_once() {
    // 12 a minute for the deployment: 4 per server.
    let Some(cluster) = Cluster::start(
        3,
        &[
            ("HOTLINE_PUBLIC_RATE_LIMIT", "12"),
            ("HOTLINE_PUBLIC_RATE_LIMIT_SERVERS", "3"),
        ],
    )
    .await
    else {
        return skipped("a_client_spreading_over_the_servers_gets_the_public_budget_once");
    };
    cluster.load_demo().await;
    let started = Instant::now();
    let mut accepted = 0;
    for _ in 0..36 {
        let response = cluster
            .request(
                "GET",
                "/api/v1/public/knowledge/search?q=%E5%85%AC%E4%BA%A4",
                None,
            )
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => accepted += 1,
            429 => assert!(response.headers().contains_key("retry-after")),
            other => panic!("unexpected {other}"),
        }
    }
    // A server's budget refills one request every 15 s: within that, the total is exact.
    if started.elapsed() < Duration::from_secs(15) {
        assert_eq!(accepted, 12);
    } else {
        assert!(accepted <= 12 + 3, "{accepted}");
    }
}

#[tokio::test]
async fn tokens_signed_on_one_server_verify_on_the_others() {
    let Some(cluster) = Cluster::start(3, &[]).await else {
        return skipped("tokens_signed_on_one_server_verify_on_the_others");
    };
    cluster.load_demo().await;
    for signer in &cluster.servers {
        let (_, tokens) = answer(
            cluster
                .request_to(signer, "POST", "/api/v1/auth/login", None)
                .json(&json!({"username": "supervisor", "password": DEMO_PASSWORD}))
                .send()
                .await,
        )
        .await;
        let token = tokens["access_token"].as_str().unwrap();
        for verifier in &cluster.servers {
            let (status, me) = answer(
                cluster
                    .request_to(verifier, "GET", "/api/v1/auth/me", Some(token))
                    .send()
                    .await,
            )
            .await;
            assert_eq!(
                (status, &me["user"]["username"]),
                (200, &json!("supervisor"))
            );
        }
    }
    // What makes it work: the shared key. A server with a key of its own is a stranger.
    let mut env = cluster.env.clone();
    env.retain(|(k, _)| k != "HOTLINE_JWT_SIGNING_KEY");
    env.push((
        "HOTLINE_JWT_SIGNING_KEY".into(),
        "another-signing-key-0123456789abcdef-99".into(),
    ));
    let stranger = ServerProcess::start(&env).await;
    let (_, tokens) = answer(
        cluster
            .request_to(&stranger, "POST", "/api/v1/auth/login", None)
            .json(&json!({"username": "supervisor", "password": DEMO_PASSWORD}))
            .send()
            .await,
    )
    .await;
    let (status, _) = answer(
        cluster
            .request_to(
                &cluster.servers[0],
                "GET",
                "/api/v1/auth/me",
                tokens["access_token"].as_str(),
            )
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 401);
}

/// Whether the cluster tests run here (for the outage test, which builds its own cluster).
fn on_postgres() -> Option<String> {
    test_backend_url()
}

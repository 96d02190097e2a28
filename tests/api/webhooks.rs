//! Webhooks: signed deliveries of case events to a real HTTP receiver started by the test,
//! retries, a receiver that comes up late, replays, the clients' rows, and the URL rules against
//! server-side request forgery.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with, spawn_server_on_with};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    event: String,
    delivery: String,
    signature: String,
    body: String,
}

/// An HTTP receiver on 127.0.0.1: answers `statuses` in turn (then 200), keeps what it got.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start(port: u16, statuses: Vec<u16>) -> Self {
        let got = Arc::new(Mutex::new(Vec::new()));
        let statuses = Arc::new(Mutex::new(statuses));
        let (seen, answers) = (got.clone(), statuses.clone());
        let server = HttpServer::new(move || {
            let (seen, answers) = (seen.clone(), answers.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (seen, answers) = (seen.clone(), answers.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    seen.lock().unwrap().push(Received {
                        event: header("x-hotline-event"),
                        delivery: header("x-hotline-delivery"),
                        signature: header("x-hotline-signature"),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let mut answers = answers.lock().unwrap();
                    let status = if answers.is_empty() {
                        200
                    } else {
                        answers.remove(0)
                    };
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .body(format!("receiver says {status}"))
                }
            }))
        })
        .workers(1)
        .bind(("127.0.0.1", port))
        .expect("the receiver binds")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            port,
            got,
            server: handle,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (at most 20 s) until `done` holds of what was received.
    async fn wait_for(&self, what: &str, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..400 {
            let got = self.received();
            if done(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the receiver never got {what}: {:#?}", self.received());
    }
}

/// Polls a webhook's deliveries (at most 20 s) until `found` finds something in them.
async fn deliveries_when(
    app: &TestApp,
    token: &str,
    hook: i64,
    found: impl Fn(&[Value]) -> Option<Value>,
) -> Value {
    for _ in 0..400 {
        let deliveries: Value = app
            .get_as(token, &format!("/api/v1/webhooks/{hook}/deliveries"))
            .await
            .json()
            .await
            .unwrap();
        if let Some(value) = found(deliveries.as_array().unwrap()) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deliveries never showed what the test waited for");
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Settings for tests: the receiver is on loopback over plain http, retries are quick.
const FAST: &[(&str, &str)] = &[
    ("HOTLINE_WEBHOOK_ALLOW_PRIVATE", "true"),
    ("HOTLINE_WEBHOOK_HTTP_HOSTS", "127.0.0.1"),
    ("HOTLINE_WEBHOOK_RETRY_BASE_MS", "200"),
    ("HOTLINE_WEBHOOK_POLL_MS", "50"),
];

/// A new integration client: (its id, its token).
pub(crate) async fn client(app: &TestApp, admin: &str, name: &str) -> (i64, String) {
    let created: Value = app
        .post_as(
            Some(admin),
            "/api/v1/integration-clients",
            &json!({"name": name}),
        )
        .await
        .json()
        .await
        .unwrap();
    let token: Value = app
        .post_as(
            None,
            "/api/v1/auth/token",
            &json!({"grant_type": "client_credentials", "client_id": created["client_id"], "client_secret": created["client_secret"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    (
        created["id"].as_i64().unwrap(),
        token["access_token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) fn complaint(external_ref: &str) -> Value {
    json!({
        "kind": "complaint",
        "title": "小区门口占道经营",
        "description": "每天傍晚有流动摊贩在小区门口占道经营，影响通行。",
        "address": "东城区东华门街道某小区北门",
        "external_ref": external_ref,
        "complainant": {"name": "张三丰", "phone": "138-1234-5678", "contact_allowed": false}
    })
}

fn verify(secret: &str, received: &Received) {
    let mut parts = received.signature.split(',');
    let t = parts.next().unwrap().strip_prefix("t=").unwrap();
    let v1 = parts.next().unwrap().strip_prefix("v1=").unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", received.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "the signature verifies with the secret");
    let age = chrono::Utc::now().timestamp() - t.parse::<i64>().unwrap();
    assert!((0..60).contains(&age), "signed just now");
}

#[tokio::test]
async fn clients_get_signed_events_of_their_cases_with_retries_and_replays() {
    let app = spawn_app_with(FAST).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let operator = app.token("operator").await;
    let (a_id, a) = client(&app, &admin, "小程序甲").await;
    let (_, b) = client(&app, &admin, "小程序乙").await;
    // The receiver fails the first delivery.
    let receiver = Receiver::start(free_port(), vec![500]).await;

    let created = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": receiver.url(), "event_types": ["case.registered", "case.accepted"]}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let (hook, secret) = (
        created["id"].as_i64().unwrap(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    assert_eq!(created["client_id"], a_id);
    assert!(secret.starts_with("whsec_"));

    // Only its keeper and the administrators see it.
    let listed: Value = app
        .get_as(&a, "/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(
        listed[0].get("secret").is_none(),
        "the secret is shown once"
    );
    let others: Value = app
        .get_as(&b, "/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(others, json!([]));
    let all: Value = app
        .get_as(&admin, "/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1);
    for response in [
        app.patch_as(
            &b,
            &format!("/api/v1/webhooks/{hook}"),
            &json!({"active": false}),
        )
        .await,
        app.get_as(&b, &format!("/api/v1/webhooks/{hook}/deliveries"))
            .await,
        app.request("DELETE", &format!("/api/v1/webhooks/{hook}"), Some(&b))
            .send()
            .await
            .unwrap(),
    ] {
        assert_problem(response, 404, "not_found").await;
    }
    assert_problem(
        app.get_as(&operator, "/api/v1/webhooks").await,
        403,
        "forbidden_role",
    )
    .await;

    // The client's case, accepted by the centre: two events, the first after a retry.
    let case: Value = app
        .post_as(Some(&a), "/api/v1/cases", &complaint("wx-1"))
        .await
        .json()
        .await
        .unwrap();
    let case_id = case["id"].as_i64().unwrap();
    let accepted = app
        .request(
            "POST",
            &format!("/api/v1/cases/{case_id}/accept"),
            Some(&operator),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    // Another client's case and the centre's own: not this client's business.
    app.post_as(Some(&b), "/api/v1/cases", &complaint("wx-2"))
        .await;
    let mut centre_case = complaint("");
    centre_case.as_object_mut().unwrap().remove("external_ref");
    centre_case["channel"] = json!("phone");
    let centre_case: Value = app
        .post_as(Some(&operator), "/api/v1/cases", &centre_case)
        .await
        .json()
        .await
        .unwrap();

    // Whichever came first got the 500 and came again.
    let got = receiver
        .wait_for("both events, the first retried", |got| {
            got.len() >= 3
                && got.iter().any(|r| r.event == "case.registered")
                && got.iter().any(|r| r.event == "case.accepted")
        })
        .await;
    for received in &got {
        verify(&secret, received);
        for personal in ["张三丰", "1381234", "138-1234", "流动摊贩", "华门街道"] {
            assert!(
                !received.body.contains(personal),
                "no personal data: {}",
                received.body
            );
        }
        let body: Value = serde_json::from_str(&received.body).unwrap();
        assert_eq!(body["case"]["id"], case_id, "only the client's own case");
        assert_eq!(body["type"], received.event.as_str());
    }
    let retried = &got[0];
    assert_eq!(
        got.iter()
            .filter(|r| r.delivery == retried.delivery)
            .count(),
        2,
        "the retry is the same delivery"
    );
    let body_of = |event: &str| -> Value {
        serde_json::from_str(&got.iter().find(|r| r.event == event).unwrap().body).unwrap()
    };
    let registered = body_of("case.registered");
    assert_eq!(registered["sequence"], 1);
    assert_eq!(registered["case"]["case_no"], case["case_no"]);
    assert_eq!(registered["case"]["status"], "registered");
    let accepted_body = body_of("case.accepted");
    assert_eq!(
        accepted_body["case"]["status"], "pending_dispatch",
        "the status right after"
    );
    assert_eq!(accepted_body["sequence"], 2);

    // Every attempt is on record (once the worker has recorded what the receiver answered).
    let first = deliveries_when(&app, &a, hook, |deliveries| {
        deliveries
            .iter()
            .find(|d| d["id"].as_i64() == retried.delivery.parse().ok() && d["state"] != "pending")
            .cloned()
    })
    .await;
    assert_eq!(first["state"], "succeeded");
    assert_eq!(first["attempts"], 2);
    assert_eq!(first["attempt_log"][0]["status_code"], 500);
    assert_eq!(
        first["attempt_log"][0]["response_excerpt"],
        "receiver says 500"
    );
    assert_eq!(first["attempt_log"][1]["status_code"], 200);

    // A replay is a new delivery of the same event.
    let replayed = app
        .request(
            "POST",
            &format!("/api/v1/webhooks/{hook}/deliveries/{}/replay", first["id"]),
            Some(&a),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 202);
    let replayed: Value = replayed.json().await.unwrap();
    assert_eq!(replayed["replay_of"], first["id"]);
    assert_eq!(replayed["state"], "pending");
    let replay_id = replayed["id"].to_string();
    let got = receiver
        .wait_for("the replay", |got| {
            got.iter().any(|r| r.delivery == replay_id)
        })
        .await;
    let again = got.iter().find(|r| r.delivery == replay_id).unwrap();
    assert_eq!(again.body, retried.body, "the same event");
    verify(&secret, again);

    // Granted every case, the client hears of the centre's cases too.
    let granted = app
        .patch_as(
            &admin,
            &format!("/api/v1/integration-clients/{a_id}"),
            &json!({"all_cases": true}),
        )
        .await;
    assert_eq!(granted.status(), 200);
    let centre_id = centre_case["id"].as_i64().unwrap();
    let accepted = app
        .request(
            "POST",
            &format!("/api/v1/cases/{centre_id}/accept"),
            Some(&operator),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 200);
    receiver
        .wait_for("the centre's case accepted", |got| {
            got.iter()
                .any(|r| serde_json::from_str::<Value>(&r.body).unwrap()["case"]["id"] == centre_id)
        })
        .await;

    // Removed, it hears nothing more.
    let removed = app
        .request("DELETE", &format!("/api/v1/webhooks/{hook}"), Some(&a))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    receiver.server.stop(true).await;
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_everything_when_it_comes_up() {
    let app = spawn_app_with(FAST).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let (_, a) = client(&app, &admin, "小程序甲").await;
    let port = free_port();
    let hook: Value = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": format!("http://127.0.0.1:{port}/hook")}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook = hook["id"].as_i64().unwrap();
    for n in 0..3 {
        let response = app
            .post_as(Some(&a), "/api/v1/cases", &complaint(&format!("wx-{n}")))
            .await;
        assert_eq!(response.status(), 201);
    }
    // Attempts fail while nothing listens…
    deliveries_when(&app, &a, hook, |deliveries| {
        let failing = deliveries.iter().all(|d| {
            d["attempts"].as_i64().unwrap() >= 1
                && d["state"] == "pending"
                && d["attempt_log"][0]["status_code"].is_null()
                && d["attempt_log"][0]["error"].is_string()
        });
        (deliveries.len() == 3 && failing).then_some(Value::Bool(true))
    })
    .await;
    // …and every event arrives once it is up.
    let receiver = Receiver::start(port, vec![]).await;
    let got = receiver
        .wait_for("all three registrations", |got| {
            let mut cases: Vec<String> = got.iter().map(|r| r.body.clone()).collect();
            cases.sort();
            cases.dedup();
            cases.len() == 3
        })
        .await;
    assert!(got.iter().all(|r| r.event == "case.registered"));
    let hooks: Value = app
        .get_as(&a, "/api/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(hooks[0]["active"], true);
    receiver.server.stop(true).await;
}

#[tokio::test]
async fn webhook_urls_cannot_reach_inside_the_network() {
    let app = spawn_app().await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let (a_id, a) = client(&app, &admin, "小程序甲").await;
    for url in [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://10.0.0.8/hook",
        "https://[::1]/hook",
        "https://[::ffff:192.168.1.1]/hook",
        "http://partner.example.cn/hook",
        "ftp://partner.example.cn/hook",
        "https://user:pw@partner.example.cn/hook",
        "not a url",
    ] {
        let refused = app
            .post_as(Some(&a), "/api/v1/webhooks", &json!({"url": url}))
            .await;
        let problem = assert_problem(refused, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], "url", "{url}: {problem}");
    }
    let unknown_type = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": "https://partner.example.cn/hook", "event_types": ["case.exploded"]}),
        )
        .await;
    assert_problem(unknown_type, 422, "validation_failed").await;
    // An administrator names the client, which must exist; a client only itself.
    let unnamed = app
        .post_as(
            Some(&admin),
            "/api/v1/webhooks",
            &json!({"url": "https://127.0.0.1/hook"}),
        )
        .await;
    assert_problem(unnamed, 422, "validation_failed").await;
    let other = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": "https://127.0.0.1/hook", "client_id": a_id + 1}),
        )
        .await;
    assert_problem(other, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_change_that_rolls_back_emits_nothing() {
    let app = spawn_app_with(FAST).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let (_, a) = client(&app, &admin, "小程序甲").await;
    let receiver = Receiver::start(free_port(), vec![]).await;
    let hook: Value = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": receiver.url()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook = hook["id"].as_i64().unwrap();
    // The registration's transaction fails at its very end (its statistics are written just
    // before it commits), after the case, its timeline event and its outbox row were written.
    if app.db.is_postgres() {
        app.db
            .execute(
                "CREATE FUNCTION injected_failure() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
            )
            .await;
        app.db
            .execute(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON case_stat_facts \
                 FOR EACH ROW EXECUTE FUNCTION injected_failure()",
            )
            .await;
    } else {
        app.db
            .execute(
                "CREATE TRIGGER injected_failure BEFORE INSERT ON case_stat_facts \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            )
            .await;
    }
    let failed = app
        .post_as(Some(&a), "/api/v1/cases", &complaint("wx-rolled-back"))
        .await;
    assert_eq!(failed.status(), 500);
    app.db
        .execute(if app.db.is_postgres() {
            "DROP TRIGGER injected_failure ON case_stat_facts"
        } else {
            "DROP TRIGGER injected_failure"
        })
        .await;
    let committed = app
        .post_as(Some(&a), "/api/v1/cases", &complaint("wx-committed"))
        .await;
    assert_eq!(committed.status(), 201);
    let committed: Value = committed.json().await.unwrap();
    receiver
        .wait_for("the committed registration", |got| !got.is_empty())
        .await;
    // Give a wrongly emitted event time to arrive too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received();
    assert_eq!(got.len(), 1, "only the committed change: {got:#?}");
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(body["case"]["id"], committed["id"]);
    assert_eq!(body["sequence"], 1);
    let deliveries: Value = app
        .get_as(&a, &format!("/api/v1/webhooks/{hook}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries.as_array().unwrap().len(), 1);
    receiver.server.stop(true).await;
}

#[tokio::test]
async fn a_webhook_failing_for_its_whole_allowance_is_disabled_and_says_why() {
    let mut settings = FAST.to_vec();
    settings.extend([
        ("HOTLINE_WEBHOOK_RETRY_FOR_SECS", "1"),
        ("HOTLINE_WEBHOOK_DISABLE_AFTER_SECS", "1"),
    ]);
    let app = spawn_app_with(&settings).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let (_, a) = client(&app, &admin, "小程序甲").await;
    // Answers 503 to everything.
    let receiver = Receiver::start(free_port(), vec![503; 1000]).await;
    let hook: Value = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": receiver.url()}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook = hook["id"].as_i64().unwrap();
    app.post_as(Some(&a), "/api/v1/cases", &complaint("wx-1"))
        .await;
    let failed = deliveries_when(&app, &a, hook, |deliveries| {
        deliveries.iter().find(|d| d["state"] == "failed").cloned()
    })
    .await;
    assert!(failed["attempts"].as_i64().unwrap() >= 2);
    assert_eq!(failed["attempt_log"][0]["status_code"], 503);
    let mut view = Value::Null;
    for _ in 0..100 {
        let hooks: Value = app
            .get_as(&a, "/api/v1/webhooks")
            .await
            .json()
            .await
            .unwrap();
        view = hooks[0].clone();
        if view["active"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(view["active"], false, "{view}");
    let reason = view["disabled_reason"].as_str().unwrap();
    assert!(reason.contains("HTTP 503"), "{reason}");
    // Enabled again by its owner, it starts afresh.
    let enabled = app
        .patch_as(
            &a,
            &format!("/api/v1/webhooks/{hook}"),
            &json!({"active": true}),
        )
        .await;
    assert_eq!(enabled.status(), 200);
    let enabled: Value = enabled.json().await.unwrap();
    assert_eq!(enabled["active"], true);
    assert!(enabled["disabled_reason"].is_null() && enabled["failing_since"].is_null());
    receiver.server.stop(true).await;
}

/// The outbox forgets an event every webhook has had once it is older than
/// `HOTLINE_WEBHOOK_RETENTION_DAYS`, with its deliveries, and keeps the younger ones: a server
/// prunes at its start (then hourly). Two delivered events are made 2 days and 12 hours old; a
/// server keeping a day's worth prunes the first and, in the same pass, keeps the second.
#[tokio::test]
async fn settled_events_are_forgotten_after_the_retention_period_and_not_before() {
    let app = spawn_app_with(FAST).await;
    app.load_demo().await;
    let admin = app.token("admin").await;
    let (_, a) = client(&app, &admin, "小程序甲").await;
    let receiver = Receiver::start(free_port(), vec![]).await;
    let created: Value = app
        .post_as(
            Some(&a),
            "/api/v1/webhooks",
            &json!({"url": receiver.url(), "event_types": ["case.registered"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let hook = created["id"].as_i64().unwrap();
    let mut cases = Vec::new();
    for external_ref in ["older", "younger"] {
        let case: Value = app
            .post_as(Some(&a), "/api/v1/cases", &complaint(external_ref))
            .await
            .json()
            .await
            .unwrap();
        cases.push(case["id"].clone());
    }
    let delivered = deliveries_when(&app, &a, hook, |deliveries| {
        (deliveries.len() == 2 && deliveries.iter().all(|d| d["state"] == "succeeded"))
            .then(|| json!(deliveries))
    })
    .await;
    let event_of = |case: &Value| {
        (delivered.as_array().unwrap().iter())
            .find(|d| &d["case_id"] == case)
            .map(|d| d["event_id"].clone())
            .unwrap()
    };
    for (case, age) in [
        (&cases[0], chrono::Duration::days(2)),
        (&cases[1], chrono::Duration::hours(12)),
    ] {
        let at = (chrono::Utc::now() - age).format("%F %T");
        app.db
            .execute(&format!(
                "UPDATE webhook_events SET fanned_out_at = '{at}' WHERE id = {}",
                event_of(case)
            ))
            .await;
    }

    let mut settings = FAST.to_vec();
    settings.push(("HOTLINE_WEBHOOK_RETENTION_DAYS", "1"));
    let pruning = spawn_server_on_with(&app.db, &settings).await;
    let left = deliveries_when(&pruning, &a, hook, |deliveries| {
        (deliveries.len() < 2).then(|| json!(deliveries))
    })
    .await;
    let left = left.as_array().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["case_id"], cases[1]);
    assert_eq!(left[0]["event_id"], event_of(&cases[1]));
}

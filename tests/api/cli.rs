//! The binary itself: configuration errors, `migrate`, `openapi`, start-up and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::TestDatabase;

fn hotline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
    // A directory without a `.env`, so a developer's own file cannot change the outcome.
    command
        .current_dir(std::env::temp_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info");
    command
}

#[test]
fn bad_configuration_stops_with_one_line_naming_the_variable() {
    for (variable, value) in [
        ("HOTLINE_BIND", "not-an-address"),
        ("HOTLINE_TIMEZONE", "Nowhere/Never"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("HOTLINE_BODY_LIMIT", "lots"),
        ("HOTLINE_TRUSTED_PROXIES", "10.0.0.1, proxy.local"),
        ("HOTLINE_PUBLIC_RATE_LIMIT", "-1"),
    ] {
        let output = hotline()
            .arg("serve")
            .env(variable, value)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let output = hotline().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed == include_str!("../../openapi/openapi.json"),
        "`hotline openapi` differs from openapi/openapi.json: regenerate it"
    );
}

#[test]
fn migrate_creates_the_schema_and_is_idempotent() {
    let db = TestDatabase::create();
    for _ in 0..2 {
        let output = hotline()
            .arg("migrate")
            .env("DATABASE_URL", db.url())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if let TestDatabase::Sqlite { dir } = &db {
        assert!(
            dir.join("hotline.db").exists(),
            "the SQLite file and its directory are created"
        );
    }
}

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_server(db: &TestDatabase) -> (Server, Duration) {
    let port = free_port();
    let started = Instant::now();
    let child = hotline()
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("HOTLINE_BIND", format!("127.0.0.1:{port}"))
        .env("HOTLINE_WORKERS", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    let deadline = started + Duration::from_secs(30);
    loop {
        if let Ok(response) = raw_http::get_status(&format!("http://127.0.0.1:{port}/readyz"))
            && response == 200
        {
            return (server, started.elapsed());
        }
        assert!(Instant::now() < deadline, "the server did not become ready");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A tiny blocking GET so these tests need no runtime: returns the status code.
mod raw_http {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    pub fn get_status(url: &str) -> std::io::Result<u16> {
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut stream = TcpStream::connect(host)?;
        write!(
            stream,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| std::io::Error::other("no status line"))
    }
}

fn stop_with(mut server: Server, signal: &str) -> String {
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after {signal}: {status}");
    let stderr = server.child.stderr.take().unwrap();
    BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn serve_starts_and_stops_gracefully_on_sigterm_and_sigint() {
    let db = TestDatabase::create();
    for signal in ["-TERM", "-INT"] {
        let (server, ready_after) = start_server(&db);
        eprintln!("ready after {ready_after:?} (debug build)");
        assert_eq!(
            raw_http::get_status(&format!("http://127.0.0.1:{}/healthz", server.port)).unwrap(),
            200
        );
        let log = stop_with(server, signal);
        assert!(log.contains("finishing in-flight requests"), "{log}");
        assert!(log.contains("hotline stopped"), "{log}");
    }
}

/// Sends `request` in two parts with a pause between them, and returns the raw answer.
fn slow_request(
    port: u16,
    head: &str,
    body: &str,
    pause: Duration,
    during_pause: impl FnOnce(),
) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (first, second) = body.split_at(body.len() / 2);
    write!(
        stream,
        "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    stream.flush().unwrap();
    // Let the server read the head and start on the body: from then on the request is in flight.
    std::thread::sleep(Duration::from_millis(300));
    during_pause();
    std::thread::sleep(pause);
    stream.write_all(second.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[test]
fn in_flight_requests_finish_after_sigterm() {
    let db = TestDatabase::create();
    let (server, _) = start_server(&db);
    let pid = server.child.id().to_string();
    let head =
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";
    let body = r#"{"username": "nobody-at-all", "password": "not-a-real-password"}"#;
    let answer = slow_request(server.port, head, body, Duration::from_millis(500), || {
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
    });
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the request begun before SIGTERM is answered: {answer}"
    );
    // And no new connection is accepted afterwards.
    std::thread::sleep(Duration::from_millis(300));
    assert!(raw_http::get_status(&format!("http://127.0.0.1:{}/healthz", server.port)).is_err());
    let log = stop_and_collect(server);
    assert!(log.contains("hotline stopped"), "{log}");
}

fn stop_and_collect(mut server: Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stderr = server.child.stderr.take().unwrap();
    BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every secret and every piece of personal data the session handles, and none of it in the log.
#[test]
fn no_password_token_hash_or_phone_reaches_the_log() {
    let db = TestDatabase::create();
    let demo = hotline()
        .arg("demo")
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let port = free_port();
    let mut child = hotline()
        .arg("serve")
        .env("DATABASE_URL", db.url())
        .env("HOTLINE_BIND", format!("127.0.0.1:{port}"))
        .env("HOTLINE_WORKERS", "1")
        .env("RUST_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while raw_http::get_status(&format!("{base}/readyz")).ok() != Some(200) {
        assert!(Instant::now() < deadline, "not ready");
        std::thread::sleep(Duration::from_millis(20));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let secrets = runtime.block_on(async {
        let client = ::reqwest::Client::new();
        let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
            let mut request = client.post(format!("{base}{path}")).json(&body);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send()
        };
        let mut secrets = vec![hotline::commands::DEMO_PASSWORD.to_owned(), "wrong-password-xyz".into()];
        let failed = post("/api/v1/auth/login", None, serde_json::json!({"username": "admin", "password": "wrong-password-xyz"}));
        assert_eq!(failed.await.unwrap().status(), 401);
        let tokens: serde_json::Value = post(
            "/api/v1/auth/login",
            None,
            serde_json::json!({"username": "admin", "password": hotline::commands::DEMO_PASSWORD}),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let access = tokens["access_token"].as_str().unwrap().to_owned();
        let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
        let renewed: serde_json::Value =
            post("/api/v1/auth/refresh", None, serde_json::json!({"refresh_token": refresh})).await.unwrap().json().await.unwrap();
        // Reuse, which is logged as a warning: still without the token.
        let reuse = post("/api/v1/auth/refresh", None, serde_json::json!({"refresh_token": refresh})).await.unwrap();
        assert_eq!(reuse.status(), 401);
        let client_created: serde_json::Value =
            post("/api/v1/integration-clients", Some(&access), serde_json::json!({"name": "日志测试"}))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let registered = post(
            "/api/v1/citizens/register",
            None,
            serde_json::json!({"phone": "13511112222", "password": "citizen-passphrase", "display_name": "钱女士"}),
        )
        .await
        .unwrap();
        assert_eq!(registered.status(), 201);
        let bad_token = client.get(format!("{base}/api/v1/auth/me")).bearer_auth("forged.token.value").send().await.unwrap();
        assert_eq!(bad_token.status(), 401);
        // A token in a query string never reaches the log either: only route patterns are logged.
        let _ = client.get(format!("{base}/api/v1/departments?q=13511112222&token={access}")).send().await.unwrap();
        secrets.extend([
            access,
            refresh,
            renewed["access_token"].as_str().unwrap().to_owned(),
            renewed["refresh_token"].as_str().unwrap().to_owned(),
            client_created["client_secret"].as_str().unwrap().to_owned(),
            "citizen-passphrase".into(),
            "13511112222".into(),
            "forged.token.value".into(),
            "$argon2".into(),
        ]);
        secrets
    });

    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = child.wait();
    let stderr = child.stderr.take().unwrap();
    let log: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(
        log.iter().any(|line| line.contains("hotline::access")),
        "the access log was captured"
    );
    assert!(
        log.iter().any(|line| line.contains("refresh token reuse")),
        "the reuse warning was captured"
    );
    for secret in &secrets {
        for line in &log {
            assert!(
                !line.contains(secret.as_str()),
                "secret {secret:?} leaked into: {line}"
            );
        }
    }
}

/// Every case `GET /api/v1/cases` lists with `query`, following `next_cursor` page by page.
async fn all_pages(
    app: &crate::helpers::TestApp,
    token: &str,
    query: &[(&str, String)],
) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = app
            .request("GET", "/api/v1/cases", Some(token))
            .query(query)
            .query(&[("limit", "200")]);
        if let Some(cursor) = &cursor {
            request = request.query(&[("cursor", cursor)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{query:?}");
        let page: Value = response.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn seed(db: &TestDatabase, cases: u32) {
    let output = hotline()
        .args(["seed", "--cases", &cases.to_string()])
        .env("DATABASE_URL", db.url())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(&format!("seeded {cases} cases")),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_cases_are_listable_searchable_and_registration_continues_after_them() {
    let db = TestDatabase::create();
    let seeding = db.url();
    let seed_db = TestDatabase::Shared { url: seeding };
    tokio::task::spawn_blocking(move || seed(&seed_db, 2000))
        .await
        .unwrap();
    if let TestDatabase::Sqlite { dir } = &db {
        // The seed had the file to itself and wrote through a rollback journal: it must leave
        // the file in WAL mode again.
        use diesel::{Connection, RunQueryDsl, sqlite::SqliteConnection};
        #[derive(diesel::QueryableByName)]
        struct Mode {
            #[diesel(sql_type = diesel::sql_types::Text)]
            journal_mode: String,
        }
        let path = dir.join("hotline.db");
        let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
        let mode: Mode = diesel::sql_query("PRAGMA journal_mode")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(mode.journal_mode, "wal");
    }
    let app = crate::helpers::spawn_server_on(&db).await;
    let dispatcher = app.token("dispatcher").await;

    let all = all_pages(&app, &dispatcher, &[]).await;
    assert_eq!(all.len(), 2000);
    let ids: Vec<i64> = all.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let numbers: std::collections::HashSet<&str> =
        all.iter().map(|c| c["case_no"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 2000, "case numbers are unique");
    for status in ["registered", "in_progress", "closed"] {
        assert!(
            all.iter().any(|c| c["status"] == status),
            "some cases are {status}"
        );
    }

    let cgj = app.department_id(&dispatcher, "CGJ").await;
    let handled = all_pages(
        &app,
        &dispatcher,
        &[
            ("status", "closed".to_owned()),
            ("department_id", cgj.to_string()),
        ],
    )
    .await;
    assert!(!handled.is_empty());
    assert!(handled.iter().all(|c| c["status"] == "closed"));
    let case: Value = app
        .get_as(&dispatcher, &format!("/api/v1/cases/{}", handled[0]["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["status"], "closed");

    // A phrase from the trigram index finds exactly the cases whose title or description holds
    // it: the same as filtering the (scanned) two-character search by hand.
    let phrase = "夜间施工";
    let indexed = all_pages(&app, &dispatcher, &[("q", phrase.to_owned())]).await;
    let scanned = all_pages(&app, &dispatcher, &[("q", "施工".to_owned())]).await;
    assert!(!indexed.is_empty() && scanned.len() > indexed.len());
    let mut expected = Vec::new();
    for summary in &scanned {
        let case: Value = app
            .get_as(&dispatcher, &format!("/api/v1/cases/{}", summary["id"]))
            .await
            .json()
            .await
            .unwrap();
        let text = format!("{}\n{}", case["title"], case["description"]);
        assert!(text.contains("施工"));
        if text.contains(phrase) {
            expected.push(summary["id"].as_i64().unwrap());
        }
    }
    let found: Vec<i64> = indexed.iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(found, expected);

    // The per-day counters continue after the seeded numbers, and ids after the seeded ids.
    let operator = app.token("operator").await;
    let body = serde_json::json!({
        "channel": "phone", "kind": "complaint", "title": "新登记的道路积水问题",
        "description": "雨后道路积水，夜间施工。", "complainant": {"anonymous": true}
    });
    let response = app.post_as(Some(&operator), "/api/v1/cases", &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(created["id"].as_i64().unwrap() > ids[0]);
    assert!(!numbers.contains(created["case_no"].as_str().unwrap()));

    // Seeding again adds to what is there, after the case just registered.
    let again = TestDatabase::Shared { url: db.url() };
    tokio::task::spawn_blocking(move || seed(&again, 300))
        .await
        .unwrap();
    let response = app.post_as(Some(&operator), "/api/v1/cases", &body).await;
    assert_eq!(response.status(), 201);
    let last: Value = response.json().await.unwrap();
    let all = all_pages(&app, &dispatcher, &[]).await;
    assert_eq!(all.len(), 2302);

    // The keyword index holds the second seed's cases (indexed in bulk) and, before and after
    // them, the cases registered one by one (its insert trigger is in place again).
    let found: Vec<i64> = all_pages(&app, &dispatcher, &[("q", phrase.to_owned())])
        .await
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    let (first_id, last_id) = (
        created["id"].as_i64().unwrap(),
        last["id"].as_i64().unwrap(),
    );
    let seeded_again = |id: &i64| (first_id + 1..last_id).contains(id);
    let mut expected_again = Vec::new();
    for summary in all_pages(&app, &dispatcher, &[("q", "施工".to_owned())]).await {
        let id = summary["id"].as_i64().unwrap();
        if !seeded_again(&id) {
            continue;
        }
        let case: Value = app
            .get_as(&dispatcher, &format!("/api/v1/cases/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if format!("{}\n{}", case["title"], case["description"]).contains(phrase) {
            expected_again.push(id);
        }
    }
    assert!(!expected_again.is_empty());
    let mut expected_all = vec![last_id];
    expected_all.extend(expected_again);
    expected_all.push(first_id);
    expected_all.extend(expected);
    assert_eq!(
        found, expected_all,
        "newest first: every case holding the phrase, no other"
    );
    let numbers: std::collections::HashSet<&str> =
        all.iter().map(|c| c["case_no"].as_str().unwrap()).collect();
    assert_eq!(numbers.len(), 2302);
}

/// SQLite only, whatever backend the suite runs on: after a clean stop the write-ahead log is
/// checkpointed away, so that the next start has nothing to replay.
#[test]
fn sigterm_leaves_no_sqlite_log_behind() {
    let dir = std::env::temp_dir().join(format!("hotline-wal-{}", uuid::Uuid::new_v4().simple()));
    let db = TestDatabase::Sqlite { dir: dir.clone() };
    let (server, _) = start_server(&db);
    // Writes while serving: failed sign-ins record throttle rows.
    let head =
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n";
    for attempt in 0..3 {
        let body = format!(r#"{{"username": "nobody-{attempt}", "password": "wrong-password"}}"#);
        let answer = slow_request(server.port, head, &body, Duration::ZERO, || {});
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let wal = dir.join("hotline.db-wal");
    assert!(
        wal.exists(),
        "the server writes through a log while it runs"
    );
    let log = stop_with(server, "-TERM");
    assert!(log.contains("hotline stopped"), "{log}");
    let left = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(left, 0, "{} bytes of log left after SIGTERM", left);
    // And the next start finds nothing to replay.
    let (again, ready_after) = start_server(&db);
    eprintln!("ready again after {ready_after:?} (debug build)");
    drop(again);
}

/// What a case's history looks like, without its values: each event's action, actor, statuses and
/// detail fields; the case's status, closure and which of its times are set; its assignments' and
/// clocks' states and set fields.
async fn shape_of(app: &crate::helpers::TestApp, token: &str, id: i64) -> Vec<String> {
    use crate::dispatch::json_of;
    fn keys(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut fields: Vec<String> = map
                    .iter()
                    .map(|(key, value)| format!("{key}{}", keys(value)))
                    .collect();
                fields.sort();
                format!("{{{}}}", fields.join(","))
            }
            Value::Array(items) => {
                format!("[{}]", items.iter().map(keys).collect::<Vec<_>>().join(","))
            }
            Value::Null => ":null".into(),
            _ => String::new(),
        }
    }
    let set = |value: &Value, fields: &[&str]| {
        fields
            .iter()
            .filter(|f| !value[**f].is_null())
            .copied()
            .collect::<Vec<_>>()
            .join("+")
    };
    let mut shape = Vec::new();
    let timeline = json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}/timeline"))
            .await,
        200,
        "timeline",
    )
    .await;
    let timeline = timeline.as_array().unwrap();
    // The server's deadline sweep adds events of its own (the system urging departments):
    // those are the product's, not the seed's.
    for event in timeline.iter().filter(|e| e["actor_role"] != "system") {
        shape.push(format!(
            "event {} by {} ({}) {} -> {} {}",
            event["action"],
            event["actor_role"],
            set(event, &["actor_user_id", "actor_client_id"]),
            event["status_before"],
            event["status_after"],
            keys(&event["details"]),
        ));
    }
    let case = json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}")).await,
        200,
        "case",
    )
    .await;
    shape.push(format!(
        "case {} {} round {} with {}",
        case["status"],
        case["closure"],
        case["current_round"],
        set(
            &case,
            &[
                "accepted_at",
                "closed_at",
                "dispatched_at",
                "reviewed_at",
                "lead_department_id",
                "reply_due_at",
                "merged_into",
                "resolution",
            ]
        ),
    ));
    for assignment in crate::dispatch::assignments_of(app, token, id).await {
        shape.push(format!(
            "assignment {} {} {} v{} with {}",
            assignment["state"],
            assignment["role"],
            assignment["mode"],
            assignment["version"],
            set(
                &assignment,
                &[
                    "handler_id",
                    "signed_by",
                    "signed_at",
                    "reply",
                    "replied_by",
                    "replied_at",
                    "review_decision",
                    "reviewed_at",
                    "returned_at",
                    "ruling",
                ]
            ),
        ));
    }
    let calls = json_of(
        app.get_as(token, &format!("/api/v1/cases/{id}/follow-up-calls"))
            .await,
        200,
        "follow-up calls",
    )
    .await;
    for call in calls.as_array().unwrap() {
        shape.push(format!(
            "call {} {} round {} with {}",
            call["outcome"],
            call["effect"],
            call["round"],
            set(
                call,
                &["resolved", "satisfaction", "citizen_words", "department_id"]
            ),
        ));
    }
    let surveys = json_of(
        app.get_as(token, &format!("/api/v1/surveys?case_id={id}&limit=100"))
            .await,
        200,
        "surveys",
    )
    .await;
    for survey in surveys["items"].as_array().unwrap() {
        shape.push(format!(
            "survey {} {} with {}",
            survey["channel"],
            // Open or expired depends on the day it is read: both are unanswered.
            if survey["answered_at"].is_null() {
                "unanswered"
            } else {
                "answered"
            },
            set(
                survey,
                &[
                    "resolved",
                    "satisfaction",
                    "follow_up_call_id",
                    "issued_by",
                    "answered_by",
                    "answers",
                ]
            ),
        ));
    }
    let clocks = json_of(
        app.get_as(token, &format!("/api/v1/deadlines?case_id={id}&limit=100"))
            .await,
        200,
        "deadlines",
    )
    .await;
    for clock in clocks["items"].as_array().unwrap() {
        shape.push(format!(
            "clock {} {} with {}",
            clock["kind"],
            // Late work stops a clock as missed where work on time meets it: the same move.
            clock["state"].as_str().unwrap().replace("missed", "met"),
            set(
                clock,
                &["assignment_id", "department_id", "policy_version", "met_at"]
            ),
        ));
    }
    shape
}

/// The seed writes only history the product can make: every event (action, actor, statuses,
/// detail fields), every case, assignment and clock of the seeded cases has the shape of one
/// made through the API's own moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_histories_are_made_of_the_apis_own_moves() {
    use crate::dispatch::{
        Desk, accepted_case, complaint, dispatched_to, json_of, post, sign_and_reply,
    };
    use serde_json::json;

    let db = TestDatabase::create();
    let seed_db = TestDatabase::Shared { url: db.url() };
    tokio::task::spawn_blocking(move || seed(&seed_db, 400))
        .await
        .unwrap();
    let app = crate::helpers::spawn_server_on(&db).await;
    let operator = app.token("operator").await;
    let d = Desk {
        cgj: app.department_id(&operator, "CGJ").await,
        dc: app.department_id(&operator, "DC").await,
        dispatcher: app.token("dispatcher").await,
        supervisor: app.token("supervisor").await,
        cgj_staff: app.token("cgj.staff").await,
        cgj_admin: app.token("cgj.admin").await,
        dc_staff: app.token("dc.staff").await,
        operator,
    };
    let seeded: Vec<i64> = all_pages(&app, &d.dispatcher, &[])
        .await
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seeded.len(), 400);

    // The same paths through the API: every place a seeded case may stop.
    let mut made = Vec::new();
    let register = |body: Value| {
        let app = &app;
        let operator = d.operator.clone();
        async move {
            json_of(
                app.post_as(Some(&operator), "/api/v1/cases", &body).await,
                201,
                "register",
            )
            .await["id"]
                .as_i64()
                .unwrap()
        }
    };
    made.push(register(complaint(true, false)).await);
    let rejected = register(complaint(true, false)).await;
    let body =
        json!({"reason": "不属于本热线受理范围", "redirect_to": "请通过人民法院诉讼途径解决"});
    let path = format!("/api/v1/cases/{rejected}/reject");
    json_of(post(&app, &d.operator, &path, body).await, 200, "reject").await;
    made.push(rejected);
    let mut consultation = complaint(true, false);
    consultation["kind"] = json!("consultation");
    let answered = register(consultation).await;
    let path = format!("/api/v1/cases/{answered}/answer");
    let body = json!({"answer": "已向市民解释相关政策和办理流程。"});
    json_of(post(&app, &d.operator, &path, body).await, 200, "answer").await;
    made.push(answered);
    made.push(accepted_case(&app, &d, &complaint(true, false)).await);
    let close = |id: i64| {
        let (app, supervisor) = (&app, d.supervisor.clone());
        async move {
            let path = format!("/api/v1/cases/{id}/close");
            let body = json!({"reason": "已协调解决。", "closure": "resolved"});
            json_of(post(app, &supervisor, &path, body).await, 200, "close").await;
        }
    };
    // Dispatched to a department without a user to sign: left there, or closed by the centre.
    let unstaffed = app.department_id(&d.operator, "ZJJ").await;
    for closing in [false, true] {
        let (case, ..) = dispatched_to(&app, &d, unstaffed).await;
        if closing {
            close(case).await;
        }
        made.push(case);
    }
    for stop in ["signed", "replied", "approved", "closed"] {
        let (case, assignment, ..) = dispatched_to(&app, &d, d.cgj).await;
        if stop == "signed" {
            let path = format!("/api/v1/assignments/{assignment}/sign");
            json_of(
                post(&app, &d.cgj_staff, &path, json!({})).await,
                200,
                "sign",
            )
            .await;
        } else {
            sign_and_reply(&app, &d.cgj_staff, assignment).await;
        }
        if matches!(stop, "approved" | "closed") {
            let path = format!("/api/v1/cases/{case}/review");
            let body = json!({"decision": "approve"});
            json_of(post(&app, &d.dispatcher, &path, body).await, 200, "review").await;
        }
        if stop == "closed" {
            close(case).await;
        }
        made.push(case);
    }
    // Followed up: every ending the seed makes, and cases still waiting after unanswered calls.
    let approved = || {
        let (app, d) = (&app, &d);
        async move {
            let (case, assignment, ..) = dispatched_to(app, d, d.cgj).await;
            sign_and_reply(app, &d.cgj_staff, assignment).await;
            let path = format!("/api/v1/cases/{case}/review");
            let body = json!({"decision": "approve"});
            json_of(post(app, &d.dispatcher, &path, body).await, 200, "review").await;
            case
        }
    };
    let call = |case: i64, body: Value| {
        let (app, operator) = (&app, d.operator.clone());
        async move {
            let path = format!("/api/v1/cases/{case}/follow-up-calls");
            json_of(post(app, &operator, &path, body).await, 201, "call").await;
        }
    };
    let reached = |resolved: &str, satisfaction: &str| {
        json!({"channel": "phone", "outcome": "reached", "resolved": resolved,
               "satisfaction": satisfaction, "citizen_words": "已经处理好了，谢谢。"})
    };
    let no_answer = json!({"channel": "sms", "outcome": "no_answer"});
    for (first, last) in [
        (None, reached("yes", "satisfied")),
        (
            Some(no_answer.clone()),
            reached("partly", "basically_satisfied"),
        ),
        (None, reached("no", "basically_satisfied")),
        (None, json!({"channel": "phone", "outcome": "refused"})),
    ] {
        let case = approved().await;
        if let Some(first) = first {
            call(case, first).await;
        }
        call(case, last).await;
        made.push(case);
    }
    for reason in [
        "beyond_policy",
        "unreasonable_demand",
        "resolved_per_department",
    ] {
        let case = approved().await;
        call(case, reached("no", "dissatisfied")).await;
        let path = format!("/api/v1/cases/{case}/follow-up-decision");
        let body = json!({"decision": "close", "reason": reason, "note": "诉求超出政策规定范围"});
        json_of(post(&app, &d.supervisor, &path, body).await, 200, "decide").await;
        made.push(case);
    }
    let waiting = approved().await;
    call(waiting, no_answer.clone()).await;
    made.push(waiting);
    // Surveys: an invitation answered through its link (satisfied: it closes the case;
    // dissatisfied: the supervisor closes it), one never answered while calls go on, and a
    // reached call recorded as a phone survey.
    let invite = |case: i64| {
        let (app, operator) = (&app, d.operator.clone());
        async move {
            let path = format!("/api/v1/cases/{case}/surveys");
            json_of(post(app, &operator, &path, json!({})).await, 201, "invite").await["token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let survey_answers = |resolved: &str, satisfaction: &str| {
        json!({"answers": [{"question": "resolved", "value": resolved},
                           {"question": "satisfaction", "value": satisfaction}]})
    };
    for satisfaction in ["satisfied", "dissatisfied"] {
        let case = approved().await;
        let token = invite(case).await;
        let path = format!("/api/v1/public/surveys/{token}/responses");
        let response = app
            .post_as(None, &path, &survey_answers("partly", satisfaction))
            .await;
        json_of(response, 201, "answer").await;
        if satisfaction == "dissatisfied" {
            let path = format!("/api/v1/cases/{case}/follow-up-decision");
            let body = json!({"decision": "close", "reason": "beyond_policy", "note": "超出政策"});
            json_of(post(&app, &d.supervisor, &path, body).await, 200, "decide").await;
        }
        made.push(case);
    }
    for ending in [None, Some(reached("yes", "satisfied"))] {
        let case = approved().await;
        invite(case).await;
        call(case, no_answer.clone()).await;
        if let Some(ending) = ending {
            call(case, ending).await;
        }
        made.push(case);
    }
    for satisfaction in ["satisfied", "basically_satisfied"] {
        let case = approved().await;
        call(
            case,
            json!({"channel": "phone", "outcome": "reached", "citizen_words": "满意",
                   "survey": survey_answers("yes", satisfaction)}),
        )
        .await;
        made.push(case);
    }
    // Unreachable: calls recorded on three days after an approval three weeks back, the last
    // one unanswered or a wrong number.
    for last in ["no_answer", "wrong_number"] {
        let unreachable = approved().await;
        let started = chrono::Utc::now() - chrono::Duration::days(21);
        db.execute(&format!(
            "UPDATE deadlines SET starts_at = '{}' WHERE case_id = {unreachable} AND kind = 'follow_up'",
            started.format("%Y-%m-%d %H:%M:%S")
        ))
        .await;
        for (days, outcome) in [(20, "no_answer"), (19, "wrong_number"), (18, last)] {
            let at = (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339();
            call(
                unreachable,
                json!({"channel": "phone", "outcome": outcome, "called_at": at}),
            )
            .await;
        }
        made.push(unreachable);
    }

    // Redone (重办) after a dissatisfied citizen: round 2 to the same lead department, which
    // stops wherever a first round may, or is followed up satisfied and closed.
    for stop in [
        "dispatched",
        "signed",
        "replied",
        "approved",
        "resolved",
        "partly_resolved",
        "unresolved",
    ] {
        let case = approved().await;
        call(case, reached("no", "dissatisfied")).await;
        let path = format!("/api/v1/cases/{case}/follow-up-decision");
        let body = json!({"decision": "redo", "note": "市民反映问题仍未解决，责成重新办理。"});
        let redone = json_of(post(&app, &d.supervisor, &path, body).await, 200, "redo").await;
        assert_eq!(redone["current_round"], 2);
        let round_two = crate::dispatch::assignments_of(&app, &d.dispatcher, case)
            .await
            .into_iter()
            .find(|a| a["round"] == 2)
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        match stop {
            "dispatched" => {}
            "signed" => {
                let path = format!("/api/v1/assignments/{round_two}/sign");
                json_of(
                    post(&app, &d.cgj_staff, &path, json!({})).await,
                    200,
                    "sign",
                )
                .await;
            }
            _ => sign_and_reply(&app, &d.cgj_staff, round_two).await,
        }
        if !matches!(stop, "dispatched" | "signed" | "replied") {
            let path = format!("/api/v1/cases/{case}/review");
            let body = json!({"decision": "approve"});
            json_of(post(&app, &d.dispatcher, &path, body).await, 200, "review").await;
        }
        let ending = match stop {
            "approved" => Some(no_answer.clone()),
            "resolved" => Some(reached("yes", "satisfied")),
            "partly_resolved" => Some(reached("partly", "basically_satisfied")),
            "unresolved" => Some(reached("no", "basically_satisfied")),
            _ => None,
        };
        if let Some(ending) = ending {
            call(case, ending).await;
        }
        made.push(case);
    }

    let mut producible = std::collections::BTreeSet::new();
    for id in made {
        producible.extend(shape_of(&app, &d.dispatcher, id).await);
    }
    let mut written = std::collections::BTreeSet::new();
    for id in seeded {
        written.extend(shape_of(&app, &d.dispatcher, id).await);
    }
    let foreign: Vec<&String> = written.difference(&producible).collect();
    assert!(
        foreign.is_empty(),
        "the seed wrote what no API move writes:\n{foreign:#?}\nthe API's moves write:\n{producible:#?}"
    );
    for action in [
        "rejected",
        "answered_directly",
        "assignment_replied",
        "review_approved",
        "closed_after_follow_up",
        "follow_up_attempt",
        "awaiting_decision",
        "follow_up_decision",
        "survey_issued",
        "survey_answered",
        "redo",
    ] {
        assert!(
            written
                .iter()
                .any(|s| s.starts_with(&format!("event \"{action}\""))),
            "400 seeded cases include a {action} event: {written:#?}"
        );
    }
    for survey in [
        "survey \"link\" answered",
        "survey \"link\" unanswered",
        "survey \"phone\" answered",
    ] {
        assert!(
            written.iter().any(|s| s.starts_with(survey)),
            "400 seeded cases include a {survey}: {written:#?}"
        );
    }
    // Some were redone, and their second round went on.
    assert!(
        written
            .iter()
            .any(|s| s.starts_with("event \"dispatched\" by \"supervisor\"")),
        "a seeded redo dispatches round 2: {written:#?}"
    );
    // An answer through the link, not a call, closed some of them.
    assert!(
        written
            .iter()
            .any(|s| s.starts_with("event \"closed_after_follow_up\" by \"citizen\"")),
        "a seeded survey answer closes its case: {written:#?}"
    );
}

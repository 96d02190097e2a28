use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use hotline::config::Settings;
use hotline::startup::Application;

use crate::helpers::{TestDatabase, assert_problem, spawn_app};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let response = app.get("/healthz").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("x-request-id"));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_reports_the_backend_in_use() {
    let app = spawn_app().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    let expected = if app.db.is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(body["database"], expected);
}

/// Readiness follows the database. PostgreSQL can vanish from under a running server: then 503.
/// An open SQLite file cannot (its descriptors stay readable; the start-up failure below covers an
/// unusable file): there readiness must hold while another connection keeps the write lock, since
/// in WAL mode readers never wait for the writer, so a long write never takes the server out of
/// its load balancer.
#[tokio::test]
async fn readyz_follows_the_database() {
    let mut app = spawn_app().await;
    // The database is left refusing connections: nothing to check the statistics on.
    app.check_statistics = false;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let TestDatabase::Postgres { server_url, name } = &app.db else {
        let url = app.db.url();
        let path = url.strip_prefix("sqlite://").unwrap().to_owned();
        let (release, locked) = std::sync::mpsc::channel::<()>();
        let (taken, lock_taken) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            use diesel::connection::SimpleConnection;
            let mut conn = diesel::sqlite::SqliteConnection::establish(&path).unwrap();
            conn.batch_execute(
                "BEGIN IMMEDIATE; INSERT INTO login_throttle (username, failures, window_started_at) \
                 VALUES ('lock-holder', 1, '2026-01-01 00:00:00');",
            )
            .unwrap();
            taken.send(()).unwrap();
            let _ = locked.recv();
            conn.batch_execute("ROLLBACK;").unwrap();
        });
        lock_taken.recv().unwrap();
        let started = std::time::Instant::now();
        assert_eq!(app.get("/readyz").await.status(), 200);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "readiness waited for the writer: {:?}",
            started.elapsed()
        );
        release.send(()).unwrap();
        holder.join().unwrap();
        return;
    };
    let mut conn = PgConnection::establish(server_url).unwrap();
    diesel::sql_query(format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"))
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut conn)
    .unwrap();
    let body = assert_problem(app.get("/readyz").await, 503, "database_unavailable").await;
    assert!(
        !body["detail"].as_str().unwrap().contains(name.as_str()),
        "no internals in the detail"
    );
}

#[tokio::test]
async fn startup_fails_with_a_clear_error_when_the_database_cannot_be_opened() {
    let db = TestDatabase::create();
    let url = match &db {
        // A directory where the database file should be.
        TestDatabase::Sqlite { dir } => {
            std::fs::create_dir_all(dir.join("hotline.db")).unwrap();
            db.url()
        }
        TestDatabase::Postgres { .. } | TestDatabase::Shared { .. } => {
            format!("{}_missing", db.url())
        }
    };
    let settings = Settings::from_lookup(|name| match name {
        "DATABASE_URL" => Some(url.clone()),
        "HOTLINE_BIND" => Some("127.0.0.1:0".into()),
        _ => None,
    })
    .unwrap();
    let error = Application::build(settings)
        .await
        .err()
        .expect("start-up must fail");
    assert!(error.to_string().contains("database"), "{error}");
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_a_hostile_one_replaced() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "call-centre-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "call-centre-42");

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "x".repeat(200))
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 36, "a generated UUID replaces an oversized id");
}

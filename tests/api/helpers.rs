//! Spawning the application under test and the per-test database.

use std::collections::HashMap;
use std::path::PathBuf;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use hotline::config::Settings;
use hotline::startup::Application;

/// Where the tests' databases live, from `HOTLINE_TEST_DATABASE_URL`.
pub fn test_backend_url() -> Option<String> {
    std::env::var("HOTLINE_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// A database that exists for one test and is removed when it is dropped.
pub enum TestDatabase {
    Sqlite { dir: PathBuf },
    Postgres { server_url: String, name: String },
}

impl TestDatabase {
    pub fn create() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match test_backend_url() {
            Some(server_url) => {
                let name = format!("hotline_test_{unique}");
                let mut conn = PgConnection::establish(&server_url).unwrap_or_else(|e| {
                    panic!("HOTLINE_TEST_DATABASE_URL is set but PostgreSQL is not reachable: {e}")
                });
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut conn)
                    .expect("create the test database");
                Self::Postgres { server_url, name }
            }
            None => {
                let dir = std::env::temp_dir().join(format!("hotline-test-{unique}"));
                Self::Sqlite { dir }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite { dir } => format!("sqlite://{}", dir.join("hotline.db").display()),
            Self::Postgres { server_url, name } => {
                let (base, _) = server_url
                    .rsplit_once('/')
                    .expect("a URL with a database name");
                format!("{base}/{name}")
            }
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres { .. })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match self {
            Self::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Postgres { server_url, name } => {
                let (server_url, name) = (server_url.clone(), name.clone());
                // Off the async runtime: dropping happens inside a test's executor.
                let _ = std::thread::spawn(move || {
                    if let Ok(mut conn) = PgConnection::establish(&server_url) {
                        let _ = diesel::sql_query(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .execute(&mut conn);
                    }
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub db: TestDatabase,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }
}

/// Starts the application with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the application with a fresh database and extra environment settings.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let db = TestDatabase::create();
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url()),
        ("HOTLINE_BIND".into(), "127.0.0.1:0".into()),
        ("HOTLINE_WORKERS".into(), "1".into()),
        ("HOTLINE_DB_POOL_SIZE".into(), "4".into()),
    ]);
    for (key, value) in extra {
        vars.insert((*key).into(), (*value).into());
    }
    let settings =
        Settings::from_lookup(|name| vars.get(name).cloned()).expect("valid test settings");
    let app = Application::build(settings)
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        client,
        db,
    }
}

/// Asserts that `response` is a problem document with `status` and `code`, and returns it.
pub async fn assert_problem(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status, "status");
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "content type"
    );
    let request_id = response
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = response.json().await.expect("a JSON problem document");
    assert_eq!(body["status"], status);
    assert_eq!(body["code"], code, "problem: {body}");
    assert_eq!(body["type"], format!("urn:hotline:problem:{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert_eq!(body["request_id"], request_id.as_str());
    body
}

//! Spawning the application under test and the per-test database.

use std::collections::HashMap;
use std::path::PathBuf;

use diesel::{Connection, RunQueryDsl, pg::PgConnection};
use hotline::config::{DatabaseUrl, Settings};
use hotline::db::Db;
use hotline::startup::Application;
use serde_json::{Value, json};

/// Where the tests' databases live, from `HOTLINE_TEST_DATABASE_URL`.
pub fn test_backend_url() -> Option<String> {
    std::env::var("HOTLINE_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// A database that exists for one test and is removed when it is dropped.
pub enum TestDatabase {
    Sqlite {
        dir: PathBuf,
    },
    Postgres {
        server_url: String,
        name: String,
    },
    /// Another test's database, used without owning it.
    Shared {
        url: String,
    },
}

impl TestDatabase {
    pub fn create() -> Self {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        match test_backend_url() {
            Some(server_url) => {
                // Before the test process's first PostgreSQL connection (see the function).
                hotline::db::prepare_postgres_client();
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
            Self::Shared { url } => url.clone(),
        }
    }

    /// Runs SQL on the test database directly, behind the server's back: for putting rows in
    /// states the API cannot reach quickly (a deadline in the past, say).
    pub async fn execute(&self, sql: &str) {
        let (url, sql) = (self.url(), sql.to_owned());
        tokio::task::spawn_blocking(move || {
            if let Some(path) = url.strip_prefix("sqlite://") {
                use diesel::connection::SimpleConnection;
                let mut conn = diesel::sqlite::SqliteConnection::establish(path).unwrap();
                conn.batch_execute("PRAGMA busy_timeout = 10000;").unwrap();
                conn.batch_execute(&sql).unwrap();
            } else {
                let mut conn = PgConnection::establish(&url).unwrap();
                diesel::sql_query(sql).execute(&mut conn).unwrap();
            }
        })
        .await
        .unwrap();
    }

    pub fn is_postgres(&self) -> bool {
        match self {
            Self::Postgres { .. } => true,
            Self::Shared { url } => url.starts_with("postgres"),
            Self::Sqlite { .. } => false,
        }
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
            Self::Shared { .. } => {}
        }
    }
}

/// The HS256 secret test servers sign with, so tests can forge tokens of their own.
pub const TEST_SIGNING_KEY: &str = "test-signing-key-0123456789abcdef-0123";
pub use hotline::commands::DEMO_PASSWORD;

pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:PORT` of the metrics listener, when the test asked for one (with
    /// `HOTLINE_METRICS_BIND=127.0.0.1:0`).
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub db: TestDatabase,
    /// Whether dropping the app runs `hotline stats check` on its database (off only where a
    /// test leaves the database unreachable on purpose).
    pub check_statistics: bool,
    /// `HOTLINE_STORAGE_URL` of this app: a directory of its own, or a prefix of its own in the
    /// bucket of `HOTLINE_TEST_STORAGE_URL` (`s3://bucket`, with the `AWS_*` variables set).
    pub storage_url: String,
}

/// A storage location of the test's own.
fn test_storage_url() -> String {
    let unique = uuid::Uuid::new_v4().simple().to_string();
    match std::env::var("HOTLINE_TEST_STORAGE_URL") {
        Ok(base) if !base.trim().is_empty() => {
            format!("{}/t{unique}", base.trim().trim_end_matches('/'))
        }
        _ => std::env::temp_dir()
            .join(format!("hotline-files-{unique}"))
            .display()
            .to_string(),
    }
}

/// Every test's scenario ends with the statistics checked against the raw records
/// (`hotline stats check`): whatever a test did through the API, the per-day figures kept in its
/// transactions must equal the ones recomputed from scratch.
impl Drop for TestApp {
    fn drop(&mut self) {
        if !self.storage_url.contains("://") {
            let _ = std::fs::remove_dir_all(&self.storage_url);
        }
        if std::thread::panicking()
            || !self.check_statistics
            || matches!(self.db, TestDatabase::Shared { .. })
        {
            return;
        }
        assert_statistics_match_records(self.db.url());
    }
}

/// Runs `hotline stats check` on the database at `url` (on a thread of its own: it may be
/// called from an async test's drop) and fails the test if the stored statistics differ from
/// what the raw records give.
pub fn assert_statistics_match_records(url: String) {
    let output = std::thread::spawn(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["stats", "check"])
            .current_dir(std::env::temp_dir())
            .env("DATABASE_URL", url)
            .env("RUST_LOG", "warn")
            .output()
    })
    .join()
    .expect("the check runs")
    .expect("the check starts");
    assert!(
        output.status.success(),
        "the stored statistics differ from the raw records: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
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

    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method.parse().expect("a method"), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    }

    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.request("GET", path, Some(token))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_as(
        &self,
        token: Option<&str>,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.request("POST", path, token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    pub async fn patch_as(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.request("PATCH", path, Some(token))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Loads the demo organisation (`hotline demo`) straight into this test's database.
    pub async fn load_demo(&self) {
        let url = DatabaseUrl::parse(&self.db.url()).unwrap();
        tokio::task::spawn_blocking(move || {
            let db = Db::connect(&url, 1).expect("open the test database");
            hotline::commands::load_demo(&db).expect("demo loads");
        })
        .await
        .unwrap();
    }

    /// Adds the demo cases (the rest of `hotline demo`) after [`TestApp::load_demo`].
    pub async fn load_demo_cases(&self) {
        let url = DatabaseUrl::parse(&self.db.url()).unwrap();
        tokio::task::spawn_blocking(move || {
            let db = Db::connect(&url, 1).expect("open the test database");
            hotline::commands::load_demo_cases(&db, chrono_tz::Asia::Shanghai)
                .expect("demo cases load");
        })
        .await
        .unwrap();
    }

    /// Signs in and returns the whole token answer.
    pub async fn sign_in(&self, username: &str, password: &str) -> Value {
        let response = self
            .post_as(
                None,
                "/api/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(response.status(), 200, "sign-in of {username}");
        response.json().await.unwrap()
    }

    /// Signs a demo user in and returns the access token.
    pub async fn token(&self, username: &str) -> String {
        self.sign_in(username, DEMO_PASSWORD).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The id of the demo department with `code`.
    pub async fn department_id(&self, token: &str, code: &str) -> i64 {
        let path = format!("/api/v1/departments?q={code}&limit=200");
        let page: Value = self.get_as(token, &path).await.json().await.unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == code)
            .and_then(|d| d["id"].as_i64())
            .unwrap_or_else(|| panic!("department {code}"))
    }

    /// The id of the demo user `username`, looked up by an administrator.
    pub async fn user_id(&self, admin_token: &str, username: &str) -> i64 {
        let path = format!("/api/v1/users?q={username}&limit=200");
        let page: Value = self.get_as(admin_token, &path).await.json().await.unwrap();
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == username)
            .and_then(|u| u["id"].as_i64())
            .unwrap_or_else(|| panic!("user {username}"))
    }
}

/// Starts the application with a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the application with a fresh database and extra environment settings.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    spawn_on(TestDatabase::create(), extra).await
}

/// A second server on the database of `other` (it does not own the database: nothing is dropped
/// when it goes).
pub async fn spawn_server_on(other: &TestDatabase) -> TestApp {
    spawn_server_on_with(other, &[]).await
}

/// [`spawn_server_on`] with extra environment settings.
pub async fn spawn_server_on_with(other: &TestDatabase, extra: &[(&str, &str)]) -> TestApp {
    let shared = match other {
        TestDatabase::Sqlite { dir } => TestDatabase::Shared {
            url: format!("sqlite://{}", dir.join("hotline.db").display()),
        },
        TestDatabase::Postgres { .. } => TestDatabase::Shared { url: other.url() },
        TestDatabase::Shared { url } => TestDatabase::Shared { url: url.clone() },
    };
    spawn_on(shared, extra).await
}

async fn spawn_on(db: TestDatabase, extra: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), db.url()),
        ("HOTLINE_BIND".into(), "127.0.0.1:0".into()),
        ("HOTLINE_WORKERS".into(), "1".into()),
        ("HOTLINE_DB_POOL_SIZE".into(), "4".into()),
        ("HOTLINE_JWT_SIGNING_KEY".into(), TEST_SIGNING_KEY.into()),
    ]);
    for (key, value) in extra {
        vars.insert((*key).into(), (*value).into());
    }
    let storage_url = vars
        .entry("HOTLINE_STORAGE_URL".into())
        .or_insert_with(test_storage_url)
        .clone();
    let settings =
        Settings::from_lookup(|name| vars.get(name).cloned()).expect("valid test settings");
    let app = Application::build(settings)
        .await
        .expect("the application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        address,
        metrics_address,
        client,
        db,
        check_statistics: true,
        storage_url,
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

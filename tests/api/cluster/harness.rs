//! Real `hotline` processes on one PostgreSQL test database, and requests spread over them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{DEMO_PASSWORD, TEST_SIGNING_KEY, TestDatabase, test_backend_url};

/// The most a request to a test server may take before the test calls it hung.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Server log lines kept per process, for the message of a failing test.
const LOG_LINES: usize = 400;

/// The environment every cluster server gets; tests add or override entries.
fn base_environment(database_url: &str, storage: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url),
        // Port 0: the system picks a free port, which the process logs (no race for ports).
        ("HOTLINE_BIND", "127.0.0.1:0"),
        ("HOTLINE_WORKERS", "1"),
        ("HOTLINE_DB_POOL_SIZE", "4"),
        // One key for all: a token signed by one server verifies on the others.
        ("HOTLINE_JWT_SIGNING_KEY", TEST_SIGNING_KEY),
        ("HOTLINE_STORAGE_URL", storage),
        ("HOTLINE_SWEEP_INTERVAL_SECS", "0"),
        ("HOTLINE_WEBHOOK_WORKER", "false"),
        ("HOTLINE_SHUTDOWN_TIMEOUT_SECS", "1"),
        // The start-up line (with the port) and warnings; not the access log.
        ("RUST_LOG", "warn,hotline=info,hotline::access=warn"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// One `hotline serve` process. Dropping it kills the process (also when the test panics).
pub struct ServerProcess {
    child: Child,
    pub address: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl ServerProcess {
    /// Starts the binary with `env` (on top of a clean environment but `PATH`) and waits until it
    /// listens. The process is started from the calling thread, which it does not outlive.
    pub async fn start(env: &[(String, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hotline"));
        command
            .arg("serve")
            .current_dir(std::env::temp_dir())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        kill_with_parent(&mut command);
        let mut child = command.spawn().expect("the hotline binary starts");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = log.clone();
        // Drains stderr for the life of the process (a full pipe would block the server), keeps
        // the last lines, and hands over the port from the start-up line.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .split("hotline listening on port ")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|port| port.parse::<u16>().ok())
                {
                    let _ = port_tx.send(port);
                }
                let mut lines = lines.lock().unwrap();
                if lines.len() == LOG_LINES {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
        });
        let port =
            tokio::task::spawn_blocking(move || port_rx.recv_timeout(Duration::from_secs(60)))
                .await
                .unwrap();
        let mut server = Self {
            child,
            address: String::new(),
            log,
        };
        match port {
            Ok(port) => server.address = format!("http://127.0.0.1:{port}"),
            Err(_) => panic!("the server did not start:\n{}", server.log_text()),
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn log_text(&self) -> String {
        let lines = self.log.lock().unwrap();
        lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Polls `/readyz` until it answers `status` (at most `within`); returns how long it took.
    pub async fn wait_for_readiness(
        &self,
        client: &reqwest::Client,
        status: u16,
        within: Duration,
    ) -> Duration {
        let started = Instant::now();
        loop {
            let answer = client
                .get(self.url("/readyz"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map(|r| r.status().as_u16());
            if answer.as_ref().is_ok_and(|s| *s == status) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < within,
                "{}/readyz did not answer {status} within {within:?} (last: {answer:?}); log:\n{}",
                self.address,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let log = self.log_text();
            assert!(
                !log.contains("panicked"),
                "the server at {} panicked:\n{log}",
                self.address
            );
        }
    }
}

/// Makes the kernel kill the child when the thread that started it ends, so that not even an
/// aborted test run leaves servers behind (`Drop` covers panics and ordinary ends).
fn kill_with_parent(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches only the calling (child) process.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// N servers on one PostgreSQL database; requests go to them in turn.
pub struct Cluster {
    // Declared first, so dropped first: the processes go before their database.
    pub servers: Vec<ServerProcess>,
    pub db: TestDatabase,
    pub client: reqwest::Client,
    /// The environment the servers were started with (for starting more like them).
    pub env: Vec<(String, String)>,
    storage: std::path::PathBuf,
    next: AtomicUsize,
}

impl Cluster {
    /// `None`, with a note, when the tests do not run on PostgreSQL: several servers on one
    /// SQLite file is not a supported deployment.
    pub async fn start(servers: usize, extra: &[(&str, &str)]) -> Option<Self> {
        test_backend_url()?;
        let db = TestDatabase::create();
        let url = db.url();
        Some(Self::start_on(db, &url, servers, extra).await)
    }

    /// Starts the servers on `db`, reached through `database_url` (the database itself, or a
    /// proxy in front of it), all at once: their migrations at start race as in a real rollout.
    pub async fn start_on(
        db: TestDatabase,
        database_url: &str,
        servers: usize,
        extra: &[(&str, &str)],
    ) -> Self {
        let storage = std::env::temp_dir().join(format!(
            "hotline-cluster-files-{}",
            uuid::Uuid::new_v4().simple()
        ));
        let mut env = base_environment(database_url, &storage.display().to_string());
        for (key, value) in extra {
            env.retain(|(k, _)| k != key);
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let servers =
            futures_util::future::join_all((0..servers).map(|_| ServerProcess::start(&env))).await;
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cluster = Self {
            servers,
            db,
            client,
            env,
            storage,
            next: AtomicUsize::new(0),
        };
        for server in &cluster.servers {
            server
                .wait_for_readiness(&cluster.client, 200, Duration::from_secs(30))
                .await;
        }
        cluster
    }

    /// The next server in turn.
    pub fn next(&self) -> &ServerProcess {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        &self.servers[n % self.servers.len()]
    }

    /// A request to the next server in turn.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        self.request_to(self.next(), method, path, token)
    }

    /// A request to `server`.
    pub fn request_to(
        &self,
        server: &ServerProcess,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method.parse().expect("a method"), server.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// POSTs `body` to the next server; the status and the JSON answer.
    pub async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> (u16, Value) {
        answer(self.request("POST", path, token).json(body).send().await).await
    }

    /// GETs from the next server; the status and the JSON answer.
    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        answer(self.request("GET", path, Some(token)).send().await).await
    }

    /// Loads the demo organisation (`hotline demo`, which adds demo cases too).
    pub async fn load_demo(&self) {
        self.command(&["demo"]).await;
    }

    /// The last lines each server logged.
    pub fn logs(&self) -> String {
        self.servers
            .iter()
            .map(|server| format!("== {}\n{}", server.address, server.log_text()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Signs a demo user in (on the next server) and returns the access token.
    pub async fn token(&self, username: &str) -> String {
        let (status, body) = self
            .post(
                None,
                "/api/v1/auth/login",
                &json!({"username": username, "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "sign-in of {username}: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Runs `hotline ARGS` against the database, as cron would; its standard output as JSON.
    pub async fn command(&self, args: &[&str]) -> Value {
        let url = self.db.url();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        tokio::task::spawn_blocking(move || {
            let output = Command::new(env!("CARGO_BIN_EXE_hotline"))
                .args(&args)
                .current_dir(std::env::temp_dir())
                .env("DATABASE_URL", url)
                .env("RUST_LOG", "warn")
                .output()
                .expect("the hotline binary runs");
            assert!(
                output.status.success(),
                "hotline {args:?}: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
        })
        .await
        .unwrap()
    }
}

/// Like every API test's app, a cluster's scenario ends with the statistics checked against the
/// raw records: what several processes wrote at once must add up as if one had.
impl Drop for Cluster {
    fn drop(&mut self) {
        self.servers.clear();
        let _ = std::fs::remove_dir_all(&self.storage);
        if std::thread::panicking() {
            return;
        }
        crate::helpers::assert_statistics_match_records(self.db.url());
    }
}

/// The status and JSON body of an answer (`Null` for a body that is not JSON).
pub async fn answer(sent: reqwest::Result<reqwest::Response>) -> (u16, Value) {
    let response = sent.expect("the server answers in time");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Says why a cluster test did nothing.
pub fn skipped(test: &str) {
    eprintln!("{test}: skipped (needs HOTLINE_TEST_DATABASE_URL=postgres://…)");
}

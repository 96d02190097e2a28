//! The binary itself: configuration errors, `migrate`, `openapi`, start-up and graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        include_str!("../../openapi/openapi.json")
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
        if let Ok(response) = raw_http::get_status(&format!("http://127.0.0.1:{port}/readyz")) {
            if response == 200 {
                return (server, started.elapsed());
            }
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

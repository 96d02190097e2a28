//! The database goes away under load and comes back: servers that reach PostgreSQL through a
//! proxy the test cuts. While it is cut they keep answering, quickly, with 503 problem documents
//! (`/healthz` stays up); once it is back they recover by themselves; no acknowledged write is lost.

use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use super::harness::{Cluster, answer, skipped};
use super::proxy::DbProxy;
use super::{complaint, on_postgres};
use crate::helpers::TestDatabase;

/// How long an answer may take while the database is gone: the pool's wait for a connection
/// (5 s) with room for a slow debug build.
const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// How long the servers may take to notice the database is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);

/// The database's URL with the host and port of `proxy`.
fn through(url: &str, proxy: std::net::SocketAddr) -> String {
    let mut url = reqwest::Url::parse(url).unwrap();
    url.set_ip_host(proxy.ip()).unwrap();
    url.set_port(Some(proxy.port())).unwrap();
    url.to_string()
}

/// Asserts that `response` is a 503 `database_unavailable` problem document.
async fn assert_unavailable(response: reqwest::Response, what: &str) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body: Value = response.json().await.unwrap_or_default();
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(content_type, "application/problem+json", "{what}");
    assert_eq!(body["code"], "database_unavailable", "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_answer_503_while_the_database_is_cut_and_recover_without_losing_writes() {
    let Some(server_url) = on_postgres() else {
        return skipped("servers_answer_503_while_the_database_is_cut_and_recover");
    };
    let db = TestDatabase::create();
    let upstream = reqwest::Url::parse(&server_url).unwrap();
    let upstream = (
        upstream.host_str().unwrap().to_owned(),
        upstream.port().unwrap_or(5432),
    )
        .to_socket_addrs()
        .unwrap()
        .next()
        .unwrap();
    let mut proxy = DbProxy::start(upstream).await;
    let url = through(&db.url(), proxy.address);
    // The background work too (sweeps, webhook worker) must ride the outage out.
    let cluster = Cluster::start_on(
        db,
        &url,
        2,
        &[
            ("HOTLINE_SWEEP_INTERVAL_SECS", "1"),
            ("HOTLINE_WEBHOOK_WORKER", "true"),
            ("HOTLINE_WEBHOOK_POLL_MS", "50"),
        ],
    )
    .await;
    cluster.load_demo().await;
    let operator = cluster.token("operator").await;

    // Writers that keep registering cases all along; every 201 is noted.
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let unexpected = Arc::new(Mutex::new(Vec::<String>::new()));
    let running = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writers: Vec<_> = (0..4)
        .map(|n| {
            let (acknowledged, unexpected, running) =
                (acknowledged.clone(), unexpected.clone(), running.clone());
            let requests: Vec<_> = (0..cluster.servers.len())
                .map(|_| cluster.request("POST", "/api/v1/cases", Some(&operator)))
                .collect();
            tokio::spawn(async move {
                let mut i = 0;
                while running.load(std::sync::atomic::Ordering::Relaxed) {
                    let request = requests[i % requests.len()].try_clone().unwrap();
                    let body = complaint(&format!("O{n}-{i}"));
                    let sent = Instant::now();
                    let (status, case) = answer(request.json(&body).send().await).await;
                    let took = sent.elapsed();
                    match status {
                        201 => acknowledged
                            .lock()
                            .unwrap()
                            .push(case["id"].as_i64().unwrap()),
                        503 if case["code"] == "database_unavailable" => {}
                        _ => unexpected.lock().unwrap().push(format!("{status}: {case}")),
                    }
                    if took >= ANSWER_BOUND {
                        unexpected.lock().unwrap().push(format!("took {took:?}"));
                    }
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    proxy.cut().await;
    let cut_at = Instant::now();
    // Readiness says so, each server within the bound.
    let mut to_unready = Vec::new();
    for server in &cluster.servers {
        to_unready.push(
            server
                .wait_for_readiness(&cluster.client, 503, ANSWER_BOUND)
                .await,
        );
    }
    for server in &cluster.servers {
        let (status, _) = answer(
            cluster
                .request_to(server, "GET", "/healthz", None)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 200, "liveness does not depend on the database");
    }
    // Many requests at once, more than the pools hold: each a 503 in bounded time, none hangs.
    let burst = join_all((0..24).map(|n| {
        let request = if n % 2 == 0 {
            cluster.request("GET", "/api/v1/cases?limit=5", Some(&operator))
        } else {
            cluster
                .request("POST", "/api/v1/cases", Some(&operator))
                .json(&complaint(&format!("cut-{n}")))
        };
        async move {
            let sent = Instant::now();
            let response = request.send().await.expect("an answer");
            (sent.elapsed(), response)
        }
    }))
    .await;
    let mut slowest_503 = Duration::ZERO;
    for (took, response) in burst {
        assert!(took < ANSWER_BOUND, "an answer took {took:?}");
        slowest_503 = slowest_503.max(took);
        assert_unavailable(response, "during the cut").await;
    }
    let cut_for = cut_at.elapsed();

    proxy.restore().await;
    let mut to_ready = Vec::new();
    for server in &cluster.servers {
        to_ready.push(
            server
                .wait_for_readiness(&cluster.client, 200, RECOVERY_BOUND)
                .await,
        );
    }
    // Recovered for real: more concurrent requests than the pools hold all succeed.
    let after = join_all((0..40).map(|_| {
        let request = cluster.request("GET", "/api/v1/cases?limit=5", Some(&operator));
        async move { answer(request.send().await).await }
    }))
    .await;
    for (status, body) in &after {
        assert_eq!(*status, 200, "after recovery: {body}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    running.store(false, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    let unexpected = unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "registrations answered other than 201 or 503 in time: {unexpected:#?}\nlogs:\n{}",
        cluster.logs()
    );
    eprintln!(
        "outage: cut for {cut_for:?}; /readyz 503 after {to_unready:?}; slowest 503 {slowest_503:?}; \
         /readyz 200 again after {to_ready:?}"
    );

    // Every acknowledged case is there, on every server.
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() > 10,
        "the writers got little done: {acknowledged:?}"
    );
    for id in &acknowledged {
        let (status, case) = cluster.get(&operator, &format!("/api/v1/cases/{id}")).await;
        assert_eq!((status, &case["id"]), (200, &json!(id)), "case {id}");
    }
}

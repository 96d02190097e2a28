//! Prometheus metrics (issue 17): what this server counts, and the listener that serves them.
//!
//! Every application has a registry of its own, held in its state: the test suite starts many
//! applications in one process, and their figures must not mix. The metrics are served on a
//! listener of their own (`HOTLINE_METRICS_BIND`, none by default), never on the API's, so they
//! are not public unless an operator says so, and they stay out of the API's routes and its
//! OpenAPI document. No label carries personal data: a request is named by its route pattern
//! (`/api/v1/cases/{id}`), never its path, which can hold a phone number or a case number.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::db::Db;
use crate::service::supervision::SweepReport;
use crate::startup::AppState;

/// The collectors of one application, and the registry that holds them.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    pool_connections: IntGaugeVec,
    writer_queue_depth: IntGauge,
    rate_limit_refusals: IntCounterVec,
    pub db_pool: PoolMetrics,
    pub sweep: SweepMetrics,
    /// Webhook delivery attempts that failed (no answer, a refusal, or a status other than 2xx).
    pub webhook_delivery_failures: IntCounter,
}

/// What [`Db::with_connection`] records of the pool.
#[derive(Clone)]
pub struct PoolMetrics {
    wait: Histogram,
    timeouts: IntCounter,
}

impl PoolMetrics {
    /// One checkout: how long it waited, and whether it got a connection in time.
    pub fn observe(&self, waited: Duration, got_one: bool) {
        self.wait.observe(waited.as_secs_f64());
        if !got_one {
            self.timeouts.inc();
        }
    }
}

/// What the server's periodic deadline sweep records.
#[derive(Clone)]
pub struct SweepMetrics {
    runs: IntCounter,
    clocks_marked: IntCounter,
}

impl SweepMetrics {
    pub fn record(&self, report: &SweepReport) {
        self.runs.inc();
        self.clocks_marked.inc_by(report.due_soon + report.missed);
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// The per-address budget of the public endpoints (`HOTLINE_PUBLIC_RATE_LIMIT`).
    PublicLimit,
    /// The per-username lockout after failed sign-ins.
    SignInLockout,
}

impl Refusal {
    const ALL: [Refusal; 2] = [Refusal::PublicLimit, Refusal::SignInLockout];

    fn label(self) -> &'static str {
        match self {
            Refusal::PublicLimit => "public",
            Refusal::SignInLockout => "sign_in_lockout",
        }
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "hotline_http_requests_total",
                "Requests answered by the API, by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "hotline_http_request_duration_seconds",
                "Time from a request's arrival to its answer's head, by method and route pattern",
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "hotline_db_pool_connections",
                "Database connections of the pool, in use or idle",
            ),
            &["state"],
        )
        .expect("valid metric");
        let writer_queue_depth = IntGauge::new(
            "hotline_sqlite_writer_queue_depth",
            "Write transactions waiting for the shared SQLite writer (always 0 on PostgreSQL)",
        )
        .expect("valid metric");
        let rate_limit_refusals = IntCounterVec::new(
            Opts::new(
                "hotline_rate_limit_refusals_total",
                "Requests refused with 429, by the limit that refused them",
            ),
            &["limit"],
        )
        .expect("valid metric");
        let db_pool = PoolMetrics {
            // A checkout takes microseconds unless the pool is exhausted; it gives up at 5 s.
            wait: Histogram::with_opts(
                HistogramOpts::new(
                    "hotline_db_pool_wait_seconds",
                    "Time to get a pooled database connection",
                )
                .buckets(vec![
                    0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0,
                ]),
            )
            .expect("valid metric"),
            timeouts: IntCounter::new(
                "hotline_db_pool_timeouts_total",
                "Times no pooled database connection came free in time",
            )
            .expect("valid metric"),
        };
        let sweep = SweepMetrics {
            runs: IntCounter::new(
                "hotline_sweep_runs_total",
                "Deadline sweeps the server completed",
            )
            .expect("valid metric"),
            clocks_marked: IntCounter::new(
                "hotline_sweep_clocks_marked_total",
                "Clocks the server's sweeps marked due soon or missed",
            )
            .expect("valid metric"),
        };
        let webhook_delivery_failures = IntCounter::new(
            "hotline_webhook_delivery_failures_total",
            "Webhook delivery attempts that failed",
        )
        .expect("valid metric");
        // Present from the start, so that a rate of 0 is seen as 0 rather than as no data.
        for refusal in Refusal::ALL {
            rate_limit_refusals.with_label_values(&[refusal.label()]);
        }
        let collectors: [Box<dyn Collector>; 10] = [
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(pool_connections.clone()),
            Box::new(writer_queue_depth.clone()),
            Box::new(rate_limit_refusals.clone()),
            Box::new(db_pool.wait.clone()),
            Box::new(db_pool.timeouts.clone()),
            Box::new(sweep.runs.clone()),
            Box::new(sweep.clocks_marked.clone()),
            Box::new(webhook_delivery_failures.clone()),
        ];
        for collector in collectors {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            pool_connections,
            writer_queue_depth,
            rate_limit_refusals,
            db_pool,
            sweep,
            webhook_delivery_failures,
        }
    }

    /// The counter of the requests `refusal` refused.
    pub fn refusals(&self, refusal: Refusal) -> IntCounter {
        self.rate_limit_refusals
            .with_label_values(&[refusal.label()])
    }

    fn observe_request(&self, method: &str, route: &str, status: StatusCode, took: Duration) {
        self.http_requests
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.http_duration
            .with_label_values(&[method, route])
            .observe(took.as_secs_f64());
    }

    /// The text exposition of every metric, the scrape-time ones read now: the pool and the
    /// writer's queue from memory, the webhook outbox with one query. When that query fails the
    /// outbox gauges are left out (absent, not stale) and the rest is served.
    pub async fn render(&self, db: &Db) -> Result<String, prometheus::Error> {
        // Read before the outbox query takes a connection of its own.
        let pool = db.pool_state();
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(pool.in_use));
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.writer_queue_depth
            .set(i64::try_from(db.writer_queue_depth()).unwrap_or(i64::MAX));
        let mut families = self.registry.gather();
        let backlog = db
            .run(|conn| Ok(crate::db::webhooks::outbox_backlog(conn)?))
            .await;
        match backlog {
            Ok(backlog) => families.extend(outbox_families(&backlog)?),
            Err(error) => log::warn!("metrics: cannot read the webhook outbox: {error}"),
        }
        TextEncoder::new().encode_to_string(&families)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn outbox_families(
    backlog: &crate::db::webhooks::OutboxBacklog,
) -> Result<Vec<MetricFamily>, prometheus::Error> {
    let events = IntGauge::new(
        "hotline_webhook_outbox_backlog",
        "Outbox events not yet handed to the webhooks",
    )?;
    events.set(backlog.events);
    let oldest = Gauge::new(
        "hotline_webhook_outbox_oldest_age_seconds",
        "Age of the oldest outbox event not yet handed to the webhooks (0 when none waits)",
    )?;
    let age = backlog.oldest_at.map_or(0.0, |at| {
        (crate::db::now() - at).num_milliseconds() as f64 / 1000.0
    });
    oldest.set(age.max(0.0));
    Ok(events
        .collect()
        .into_iter()
        .chain(oldest.collect())
        .collect())
}

/// Middleware of the API: counts and times every request by method, route pattern and status.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.metrics.clone());
    let method = method_label(req.method());
    let outcome = next.call(req).await;
    if let Some(metrics) = metrics {
        let (route, status) = match &outcome {
            Ok(response) => (
                route_label(response.request().match_pattern()),
                response.status(),
            ),
            // The request went with the error: its route is not known any more.
            Err(error) => (route_label(None), error.as_response_error().status_code()),
        };
        metrics.observe_request(method, &route, status, started.elapsed());
    }
    outcome
}

/// The method as a label: anything but the standard methods is `other`, since a client may send
/// any token as a method and each would be a series of its own.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// The route pattern with its segments' regular expressions left out (`/cases/{id:\d+}` →
/// `/cases/{id}`), or `unmatched`: never the path itself.
fn route_label(pattern: Option<String>) -> String {
    let Some(pattern) = pattern else {
        return "unmatched".to_owned();
    };
    if !pattern.contains(':') {
        return pattern;
    }
    let mut label = String::with_capacity(pattern.len());
    let (mut depth, mut in_regex) = (0_u32, false);
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    label.push(c);
                }
            }
            '}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    in_regex = false;
                    label.push(c);
                }
            }
            ':' if depth == 1 => in_regex = true,
            _ if in_regex || depth > 1 => {}
            _ => label.push(c),
        }
    }
    label
}

/// What the metrics listener needs.
pub struct MetricsEndpoint {
    pub metrics: Arc<Metrics>,
    pub db: Db,
    /// SHA-256 of `HOTLINE_METRICS_TOKEN`: digests of equal length compare in constant time
    /// whatever the length of what a caller sends.
    token_digest: Option<[u8; 32]>,
}

impl MetricsEndpoint {
    pub fn new(metrics: Arc<Metrics>, db: Db, token: Option<&str>) -> Self {
        Self {
            metrics,
            db,
            token_digest: token.map(|t| Sha256::digest(t.as_bytes()).into()),
        }
    }

    fn admits(&self, req: &HttpRequest) -> bool {
        let Some(expected) = &self.token_digest else {
            return true;
        };
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| Sha256::digest(token.trim().as_bytes()));
        presented.is_some_and(|digest| bool::from(digest[..].ct_eq(&expected[..])))
    }
}

/// `GET /metrics` of the metrics listener.
async fn scrape(req: HttpRequest, endpoint: web::Data<MetricsEndpoint>) -> HttpResponse {
    if !endpoint.admits(&req) {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\""))
            .finish();
    }
    match endpoint.metrics.render(&endpoint.db).await {
        Ok(text) => HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, prometheus::TEXT_FORMAT))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(text),
        Err(error) => {
            log::error!("metrics cannot be rendered: {error}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// The metrics listener: `GET /metrics` and nothing else, on one worker.
pub fn serve(listener: TcpListener, endpoint: MetricsEndpoint) -> std::io::Result<Server> {
    let endpoint = web::Data::new(endpoint);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(endpoint.clone())
            .service(web::resource("/metrics").route(web::get().to(scrape)))
    })
    .workers(1)
    .worker_max_blocking_threads(2)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_by_pattern_without_their_expressions() {
        assert_eq!(route_label(None), "unmatched");
        assert_eq!(route_label(Some("/healthz".into())), "/healthz");
        assert_eq!(
            route_label(Some(r"/api/v1/cases/{id:\d+}/timeline".into())),
            "/api/v1/cases/{id}/timeline"
        );
        assert_eq!(route_label(Some(r"/x/{n:\d{4}}/y".into())), "/x/{n}/y");
        assert_eq!(route_label(Some("/docs/{_:.*}".into())), "/docs/{_}");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    }

    #[test]
    fn each_application_has_its_own_figures() {
        let (a, b) = (Metrics::new(), Metrics::new());
        a.refusals(Refusal::PublicLimit).inc();
        let refusals = |m: &Metrics| m.rate_limit_refusals.with_label_values(&["public"]).get();
        assert_eq!((refusals(&a), refusals(&b)), (1, 0));
    }
}

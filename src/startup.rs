//! Builds the application from configuration. The binary and the black-box tests both start the
//! server through [`Application::build`], so tests exercise exactly what production runs.

use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{
    ResourceDef, Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse,
};
use actix_web::http::{Method, header};
use actix_web::middleware::{Condition, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::auth::tokens::TokenKeys;
use crate::config::{CorsOrigins, Settings};
use crate::db::{Db, DbSetupError};
use crate::domain::account::LockoutPolicy;
use crate::domain::ids::CaseId;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{BodyLimit, path_config, query_config};
use crate::hardening::{self, HeaderPolicy};
use crate::idempotency;
use crate::metrics::{Metrics, MetricsEndpoint, Refusal};
use crate::rate_limit::PublicRateLimit;
use crate::service::reference::{ReferenceData, poll_for_changes};
use crate::service::supervision::sweep_periodically;
use crate::{openapi, routes, telemetry};
use sha2::Digest;

/// What every handler can reach.
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub tokens: TokenKeys,
    pub lockout: LockoutPolicy,
    /// The working-day calendar and deadline policy, cached.
    pub reference: Arc<ReferenceData>,
    /// Where full reads of personal data are recorded, in batches.
    pub read_log: crate::db::read_log::ReadLog,
    /// The per-address budget of the public endpoints.
    pub public_limit: Arc<PublicRateLimit>,
    /// The server's part of the keys that seal recorded idempotent answers (see `idempotency`).
    pub sealing_secret: [u8; 32],
    /// The case exports running (a few at most).
    pub exports: crate::service::exports::ExportSlots,
    /// Public reports made in the last few minutes (see `service::reports::ReportCache`).
    pub reports: Arc<crate::service::reports::ReportCache>,
    /// The public FAQ's answers of the last minute (see `service::knowledge::PublicCache`).
    pub knowledge_cache: Arc<crate::service::knowledge::PublicCache>,
    /// Where attachments' files are kept.
    pub storage: crate::storage::Storage,
    /// Signs and checks public links to attachments.
    pub links: crate::domain::attachment::LinkSigner,
    /// Encrypts and decrypts the webhooks' signing secrets.
    pub webhook_secrets: crate::service::webhooks::SecretBox,
    /// This application's Prometheus metrics (served on a listener of their own, if any).
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn refresh_ttl(&self) -> chrono::Duration {
        chrono::Duration::seconds(self.settings.jwt.refresh_ttl.as_secs() as i64)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] DbSetupError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("start-up task failed: {0}")]
    Task(String),
    #[error("configuration error: {0}")]
    Keys(#[from] crate::auth::tokens::KeyError),
}

pub struct Application {
    port: u16,
    server: Server,
    /// What must be released after the server stops, so that the database is closed cleanly.
    db: Db,
    read_log: crate::db::read_log::ReadLog,
    read_log_thread: std::thread::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The metrics listener, when `HOTLINE_METRICS_BIND` is set, and its port.
    metrics_server: Option<(Server, u16)>,
}

impl Application {
    /// Opens the database, applies migrations, binds the listener and prepares the server.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let tokens = TokenKeys::from_settings(&settings.jwt)?;
        let lockout = LockoutPolicy {
            max_failures: settings.login_max_failures,
            window: chrono::Duration::minutes(15),
            lock_for: chrono::Duration::seconds(settings.login_lock.as_secs() as i64),
        };
        let metrics = Arc::new(Metrics::new());
        let db = open_database(&settings)
            .await?
            .with_pool_metrics(metrics.db_pool.clone());
        let reference = {
            let (db, tz) = (db.clone(), settings.timezone);
            let loaded = db.run(move |conn| ReferenceData::load(conn, tz)).await;
            Arc::new(loaded.map_err(|e| {
                StartupError::Task(format!("cannot load the calendar and policy: {e}"))
            })?)
        };
        let mut background = vec![tokio::spawn(poll_for_changes(
            db.clone(),
            reference.clone(),
        ))];
        if db.backend() == "postgres" {
            background.push(tokio::spawn(crate::service::stats::fold_periodically(
                db.clone(),
            )));
        }
        if let Some(every) = settings.sweep_interval {
            background.push(tokio::spawn(sweep_periodically(
                db.clone(),
                reference.clone(),
                every,
                metrics.sweep.clone(),
            )));
        }
        let (listener, port) = bind(settings.bind)?;
        let metrics_listener = settings.metrics.bind.map(bind).transpose()?;
        if let Some(address) = settings.metrics.bind
            && !address.ip().is_loopback()
            && settings.metrics.token.is_none()
        {
            log::warn!(
                "metrics are served on {address} without HOTLINE_METRICS_TOKEN: anyone who \
                 reaches that address can read them"
            );
        }

        let workers = settings.workers;
        let blocking_threads = (settings.db_pool_size as usize).max(2);
        let shutdown_timeout = settings.shutdown_timeout.as_secs();
        let (read_log, read_log_thread) = crate::db::read_log::ReadLog::start(db.clone())
            .map_err(|e| StartupError::Task(format!("cannot start the read log: {e}")))?;
        let public_limit = Arc::new(
            PublicRateLimit::new(
                crate::rate_limit::share_of(
                    settings.public_rate_limit,
                    settings.public_rate_limit_servers,
                ),
                settings.trusted_proxies.clone(),
            )
            .counting_refusals(metrics.refusals(Refusal::PublicLimit)),
        );
        background.push(tokio::spawn(forget_idle_clients(public_limit.clone())));
        // Derived from the configured signing key, so that every server of a deployment (and the
        // next start) can open what another sealed; random when none is configured.
        let sealing_secret: [u8; 32] = match &settings.jwt.signing_key {
            Some(key) => sha2::Sha256::new_with_prefix(b"hotline sealing\0")
                .chain_update(key)
                .finalize()
                .into(),
            None => crate::auth::secrets::random_bytes::<32>(),
        };
        // Like the sealing secret: every server of a deployment checks what another signed.
        let links = crate::domain::attachment::LinkSigner::new(match &settings.jwt.signing_key {
            Some(key) => sha2::Sha256::new_with_prefix(b"hotline links\0")
                .chain_update(key)
                .finalize()
                .to_vec(),
            None => crate::auth::secrets::random_bytes::<32>().to_vec(),
        });
        let webhook_secrets = crate::service::webhooks::SecretBox::new(
            &settings.webhooks,
            settings.jwt.signing_key.as_deref(),
        );
        if settings.webhooks.worker {
            background.push(tokio::spawn(
                crate::service::webhooks::deliver_periodically(
                    db.clone(),
                    settings.webhooks.clone(),
                    webhook_secrets.clone(),
                    metrics.webhook_delivery_failures.clone(),
                ),
            ));
        }
        let storage = crate::storage::Storage::open(&settings.storage_url)
            .map_err(|e| StartupError::Task(format!("cannot open the attachment store: {e}")))?;
        if settings.sweep_interval.is_some() {
            // Hourly: it lists the store, which on S3 costs requests.
            background.push(tokio::spawn(
                crate::service::attachments::sweep_files_periodically(
                    db.clone(),
                    storage.clone(),
                    settings.orphan_file_age,
                    std::time::Duration::from_secs(3600),
                ),
            ));
        }
        background.push(tokio::spawn(idempotency::prune_idempotency_keys(
            db.clone(),
            settings.idempotency_ttl,
            std::time::Duration::from_secs(600),
        )));
        let metrics_server = metrics_listener
            .map(|(listener, port)| {
                let endpoint = MetricsEndpoint::new(
                    metrics.clone(),
                    db.clone(),
                    settings.metrics.token.as_deref(),
                );
                crate::metrics::serve(listener, endpoint)
                    .map(|server| (server, port))
                    .map_err(|source| StartupError::Bind {
                        address: "metrics listener".into(),
                        source,
                    })
            })
            .transpose()?;
        let state = web::Data::new(AppState {
            db: db.clone(),
            settings: Arc::new(settings),
            tokens,
            lockout,
            reference,
            read_log: read_log.clone(),
            public_limit,
            sealing_secret,
            exports: Default::default(),
            reports: Arc::default(),
            knowledge_cache: Arc::default(),
            storage,
            links,
            webhook_secrets,
            metrics,
        });
        let server = HttpServer::new(move || build_app(state.clone()))
            .workers(workers)
            // Database work runs on blocking threads and needs a pooled connection: threads beyond
            // the pool's size would only queue for one, contending on its lock.
            .worker_max_blocking_threads(blocking_threads)
            .shutdown_timeout(shutdown_timeout)
            // Signals are handled by the binary (see `main`), so that SIGINT too is graceful.
            .disable_signals()
            .listen(listener)
            .map_err(|source| StartupError::Bind {
                address: "listener".into(),
                source,
            })?
            .run();
        Ok(Self {
            port,
            server,
            db,
            read_log,
            read_log_thread,
            background,
            metrics_server,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the metrics listener, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// A handle to stop the server: `stop(true)` finishes in-flight requests and takes no new ones.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped, then closes down in order: background tasks, the read log (its last
    /// batch committed), and the database, whose SQLite log is checkpointed away, so that the next
    /// start does not replay it.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // The metrics listener lives as long as the API's: it stops when the API has stopped.
        let metrics = self
            .metrics_server
            .map(|(server, _)| (server.handle(), tokio::spawn(server)));
        let served = self.server.await;
        if let Some((handle, task)) = metrics {
            handle.stop(false).await;
            let _ = task.await;
        }
        for task in self.background {
            task.abort();
            let _ = task.await;
        }
        self.read_log.stop();
        drop(self.read_log);
        let read_log_thread = self.read_log_thread;
        let db = self.db;
        let closed = tokio::task::spawn_blocking(move || {
            let _ = read_log_thread.join();
            db.close()
        })
        .await;
        match closed {
            Ok(Err(error)) => log::warn!("closing the database: {error}"),
            Err(error) => log::warn!("closing the database: {error}"),
            Ok(Ok(())) => {}
        }
        served
    }
}

/// A listener on `address`, and its port (the system's choice for port 0).
fn bind(address: std::net::SocketAddr) -> Result<(TcpListener, u16), StartupError> {
    let failed = |source| StartupError::Bind {
        address: address.to_string(),
        source,
    };
    let listener = TcpListener::bind(address).map_err(failed)?;
    let port = listener.local_addr().map_err(failed)?.port();
    Ok((listener, port))
}

/// Keeps the rate limiter's table to the recently active addresses.
async fn forget_idle_clients(limit: Arc<PublicRateLimit>) {
    let mut every_minute = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        every_minute.tick().await;
        limit.forget_idle_clients();
    }
}

/// Opens the pool, applies pending migrations and, once after a change of their encoding, makes
/// the statistics anew (`service::stats::upgrade_stored_format`), off the async executor.
pub async fn open_database(settings: &Settings) -> Result<Db, StartupError> {
    let url = settings.database_url.clone();
    let pool_size = settings.db_pool_size;
    let tz = settings.timezone;
    tokio::task::spawn_blocking(move || {
        let db = Db::connect(&url, pool_size)?;
        let applied = db.migrate()?;
        if applied > 0 {
            log::info!("applied {applied} database migration(s)");
        }
        let upgraded = db
            .with_connection(|conn| crate::service::stats::upgrade_stored_format(conn, tz))
            .map_err(|e| StartupError::Task(format!("statistics upgrade: {e}")))?;
        if let Some(report) = upgraded {
            log::info!(
                "statistics made anew in the new encoding: {} cases, {} day rows, {:.1} s",
                report.cases,
                report.day_rows,
                report.seconds
            );
        }
        Ok::<_, StartupError>(db)
    })
    .await
    .map_err(|e| StartupError::Task(e.to_string()))?
}

/// The whole application: API routes (collected into the OpenAPI document as they are
/// registered), the documentation UI, the fallback for unknown routes, and the middleware.
pub fn build_app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let settings = state.settings.clone();
    let (app, doc) = App::new()
        .into_utoipa_app()
        .openapi(openapi::base())
        .configure(routes::configure)
        .split_for_parts();
    let doc = openapi::finish(doc);
    let route_table = RouteTable::from_document(&doc);

    app.app_data(state)
        .app_data(BodyLimit(settings.body_limit))
        .app_data(query_config())
        .app_data(path_config())
        .app_data(web::Data::new(route_table))
        .app_data(HeaderPolicy::new(settings.hsts_max_age))
        .service(web::resource("/docs").route(web::get().to(|| async {
            HttpResponse::Found()
                .insert_header((header::LOCATION, "/docs/"))
                .finish()
        })))
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                .url("/openapi.json", doc)
                // The default validator is an outside web service; the UI must work offline.
                .config(
                    SwaggerConfig::default()
                        .validator_url("none")
                        .try_it_out_enabled(true),
                ),
        )
        .default_service(web::to(unknown_route))
        .wrap(from_fn(record_personal_data_reads))
        .wrap(from_fn(idempotency::idempotent_posts))
        .wrap(from_fn(hardening::refuse_nul))
        .wrap(Condition::new(
            settings.cors_origins != CorsOrigins::None,
            cors(&settings.cors_origins),
        ))
        .wrap(from_fn(telemetry::request_context))
        .wrap(from_fn(hardening::security_headers))
        // Outermost: the time and status of the whole answer. Only when something reads them.
        .wrap(Condition::new(
            settings.metrics.bind.is_some(),
            from_fn(crate::metrics::count_requests),
        ))
}

/// Every answer that shows a complainant's personal data in full to centre staff leaves only once
/// that read is on record (SPEC 5.3): the reads are noted as cases are written into the answer
/// (`db::read_log::owe`), whichever handler wrote it, and recorded here in one batch. If the
/// record cannot be written, the answer is a 500 instead.
async fn record_personal_data_reads(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (response, owed) = crate::db::read_log::collecting(next.call(req)).await;
    let response = response?;
    let Some(state) = state.filter(|_| !owed.is_empty()) else {
        return Ok(response.map_into_left_body());
    };
    let cases: Vec<CaseId> = owed.iter().map(|read| read.case_id).collect();
    let recorded = futures_util::future::try_join_all(
        owed.into_iter().map(|read| state.read_log.record(read)),
    )
    .await;
    match recorded {
        Ok(_) => {
            let mut response = response;
            response
                .response_mut()
                .extensions_mut()
                .insert(crate::db::read_log::RecordedReads(cases));
            Ok(response.map_into_left_body())
        }
        Err(error) => {
            let (request, _) = response.into_parts();
            let answer = actix_web::ResponseError::error_response(&error);
            Ok(ServiceResponse::new(request, answer).map_into_right_body())
        }
    }
}

fn cors(origins: &CorsOrigins) -> Cors {
    let base = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::HeaderName::from_static("idempotency-key"),
            telemetry::REQUEST_ID_HEADER,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            telemetry::REQUEST_ID_HEADER,
        ])
        .max_age(3600);
    match origins {
        CorsOrigins::None => base,
        CorsOrigins::Any => base.allow_any_origin().send_wildcard(),
        CorsOrigins::List(list) => list
            .iter()
            .fold(base, |cors, origin| cors.allowed_origin(origin)),
    }
}

/// Every documented path template with its methods, to tell 405 (the path exists, the method does
/// not) from 404. Built from the OpenAPI document, which is built from the registered services.
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<&'static str>)>,
}

impl RouteTable {
    fn from_document(doc: &utoipa::openapi::OpenApi) -> Self {
        let mut routes: Vec<_> = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    ("GET", item.get.is_some()),
                    ("POST", item.post.is_some()),
                    ("PUT", item.put.is_some()),
                    ("PATCH", item.patch.is_some()),
                    ("DELETE", item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(name, present)| present.then_some(name))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        // Static paths first, so `/departments/tree` is not taken for `/departments/{id}`.
        routes.sort_by_key(|(def, _)| {
            def.is_prefix() || def.pattern().is_some_and(|p| p.contains('{'))
        });
        routes.push((ResourceDef::new("/openapi.json"), vec!["GET"]));
        routes.push((ResourceDef::new("/docs"), vec!["GET"]));
        Self { routes }
    }

    fn allowed_methods(&self, path: &str) -> Option<&[&'static str]> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, m)| m.as_slice())
    }
}

async fn unknown_route(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    Err(match routes.allowed_methods(req.path()) {
        // A template that allows this very method and still did not route means a path segment
        // failed its pattern (`/departments/abc` for a numeric id): there is no such resource.
        Some(allowed) if !allowed.contains(&req.method().as_str()) => ApiError::MethodNotAllowed {
            allowed: allowed.to_vec(),
        },
        _ => ApiError::NotFound {
            code: ErrorCode::RouteNotFound,
            detail: "no such endpoint".into(),
        },
    })
}

//! Liveness and readiness probes.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::startup::AppState;

/// How long readiness waits for a database connection before declaring the database unreachable.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` while the process serves requests.
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` when the database answered.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// The backend in use: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub database: &'static str,
}

/// Liveness: the process is up and serving HTTP. Touches nothing else.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)),
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: the database answers a query. Load balancers send traffic only when this is 200.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "The database answered", body = Readiness),
        (status = 503, description = "The database is not reachable", body = Problem,
            content_type = "application/problem+json"),
    ),
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let db = state.db.clone();
    web::block(move || db.ping(READY_TIMEOUT))
        .await
        .map_err(|e| ApiError::internal(format!("blocking task failed: {e}")))??;
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready",
        database: state.db.backend(),
    }))
}

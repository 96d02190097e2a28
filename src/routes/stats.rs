//! Statistics (SPEC 6): the department table (also by category, district, channel, kind), trends
//! and the composite score's weights.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, put, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, op};
use crate::domain::ids::DepartmentId;
use crate::domain::stat_facts::Grouping;
use crate::domain::statistics::{Interval, Period, Weights};
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiJson;
use crate::service::hotspots::{self as hotspots_service, HotspotQuery, Hotspots};
use crate::service::stats::{self as stats_service, StatsTable, TableQuery, Trends};
use crate::startup::AppState;

fn period(from: NaiveDate, to: NaiveDate) -> Result<Period, ApiError> {
    Period::parse(from, to).map_err(|detail| ApiError::bad_request(ErrorCode::InvalidQuery, detail))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TableParams {
    /// First local date of the period (inclusive), `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last local date of the period (inclusive); at most ten years after `from`.
    pub to: NaiveDate,
    /// How rows are grouped (default `department`). Department admins: `department` only.
    pub by: Option<Grouping>,
    /// Only this department's row, ranked among all.
    pub department_id: Option<DepartmentId>,
}

/// The statistics table of a period: per department (or category, district, channel, kind)
/// the four rates (响应率 signed on time / dispatched and due to be signed; 按时办结率 replied on
/// time / replies due, a reply being due in a period when its deadline's day or its reply's
/// day falls in it; 解决率 resolved `yes` / follow-ups reached; 满意率 satisfied and basically
/// satisfied / follow-ups reached — follow-ups counted for the evaluated round's lead
/// department, cases closed as merged, rejected, unreasonable demand or beyond policy left out
/// and counted apart in `excluded`), the composite score (Σ weight × rate × 100 over the rates
/// that have a denominator, weights scaled to 100 %) and the rank (ties share one), returns,
/// redo, extensions, overdue, and the median working hours from dispatch to reply. Days are
/// local dates; every rate is 0..1 or `null` with an empty denominator. Read from per-day
/// figures kept up to date with every change; never any personal data.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(TableParams),
    responses(
        (status = 200, description = "The table: JSON, or with `Accept: text/csv` the same rows as CSV (UTF-8 with a byte-order mark, the whole city last), or with `Accept: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet` as an XLSX workbook", content(
            (StatsTable = "application/json"),
            (String = "text/csv"),
            (String = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        )),
        (status = 400, description = "`from` after `to`, a period over ten years, or a malformed parameter (`invalid_query`)"),
        (status = 403, description = "A department admin asking for another department or another grouping (`forbidden`)"),
    ),
)]
#[get("/stats/departments")]
pub async fn stats_departments(
    req: HttpRequest,
    state: web::Data<AppState>,
    principal: Permit<op::StatsDepartments>,
    params: web::Query<TableParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let query = TableQuery {
        period: period(params.from, params.to)?,
        by: params.by.unwrap_or(Grouping::Department),
        department: params.department_id,
    };
    let table = state
        .db
        .run(move |conn| stats_service::table(conn, &principal, query))
        .await?;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (content_type, extension, body) = if accept.contains(XLSX) {
        (XLSX, "xlsx", stats_service::table_xlsx(&table)?)
    } else if accept.contains("text/csv") {
        (
            "text/csv; charset=utf-8",
            "csv",
            stats_service::table_csv(&table)?,
        )
    } else {
        return Ok(HttpResponse::Ok().json(table));
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"stats-{}-{}-{}.{extension}\"",
                table.by.as_str(),
                table.from,
                table.to
            ),
        ))
        .body(body))
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// First local date (inclusive).
    pub from: NaiveDate,
    /// Last local date (inclusive); at most ten years after `from`.
    pub to: NaiveDate,
    /// `day`, `week` (ISO weeks, Monday to Sunday) or `month` (default `day`).
    pub interval: Option<Interval>,
    /// `kind` (default), `category`, `channel` or `district`.
    pub by: Option<Grouping>,
}

/// Cases registered per day, ISO week or month, by kind, category, channel or district,
/// zero-filled; the first and last interval are clipped to the period.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(TrendParams),
    responses(
        (status = 200, description = "The series", body = Trends),
        (status = 400, description = "`from` after `to`, a period over ten years, `by=department`, or a malformed parameter (`invalid_query`)"),
    ),
)]
#[get("/stats/trends")]
pub async fn stats_trends(
    state: web::Data<AppState>,
    _principal: Permit<op::StatsTrends>,
    params: web::Query<TrendParams>,
) -> Result<web::Json<Trends>, ApiError> {
    let params = params.into_inner();
    let period = period(params.from, params.to)?;
    let by = params.by.unwrap_or(Grouping::Kind);
    if by == Grouping::Department {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "trends count registrations: by kind, category, channel or district",
        ));
    }
    let interval = params.interval.unwrap_or(Interval::Day);
    if interval == Interval::Day && period.days() > 3 * 366 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "daily trends span at most three years; use week or month",
        ));
    }
    let trends = state
        .db
        .run(move |conn| stats_service::trends(conn, period, interval, by))
        .await?;
    Ok(web::Json(trends))
}

/// The composite score's weights (default response 10, on-time 20, resolution 35,
/// satisfaction 35).
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    responses((status = 200, description = "The weights in force", body = Weights)),
)]
#[get("/stats/weights")]
pub async fn get_stats_weights(
    state: web::Data<AppState>,
    _principal: Permit<op::GetStatsWeights>,
) -> Result<web::Json<Weights>, ApiError> {
    Ok(web::Json(state.db.run(stats_service::weights).await?))
}

/// Set the composite score's weights: numbers from 0 to 100, not all 0; they need not sum to
/// 100 (they are scaled). Applies to every table read afterwards, past periods included.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    request_body = Weights,
    responses(
        (status = 200, description = "The weights now in force", body = Weights),
        (status = 422, description = "A weight out of range, all weights 0, or a malformed body"),
    ),
)]
#[put("/stats/weights")]
pub async fn put_stats_weights(
    state: web::Data<AppState>,
    principal: Permit<op::PutStatsWeights>,
    body: ApiJson<Weights>,
) -> Result<web::Json<Weights>, ApiError> {
    let ApiJson(weights) = body;
    Ok(web::Json(
        state
            .db
            .run(move |conn| stats_service::set_weights(conn, &principal, weights))
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HotspotParams {
    /// First local date of the period (inclusive), `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last local date of the period (inclusive); at most ten years after `from`.
    pub to: NaiveDate,
    /// The fewest registrations in the period for a category or district to be listed as rising
    /// (default 5), so that small numbers do not top the list.
    #[param(minimum = 1, maximum = 2147483647)]
    pub min_count: Option<i64>,
    /// The most items of each list (default 10).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Each case of a cluster registered at most this many hours after the one before
    /// (default 72).
    #[param(minimum = 1, maximum = 744)]
    pub window_hours: Option<i64>,
    /// The fewest cases a cluster has (default 3).
    #[param(minimum = 2, maximum = 1000)]
    pub min_cluster: Option<i64>,
}

/// Hot spots (热点) of a period: the categories and districts whose registrations rose most
/// against the previous period of as many days (at least `min_count` now and more than before;
/// by absolute rise, then relative rise), read from the per-day figures; and clusters of similar
/// cases — the common problems (共性问题) to fix at the root: cases of one category and one
/// district at the same spot (the same address, or within about 500 m of the cluster's first
/// case, as merge suggestions judge a place), each registered within `window_hours` of the one
/// before, at least `min_cluster` of them; largest first. A cluster names its cases only by their
/// public case numbers (the first five): never a case's text, address or complainant. Cases
/// registered with no category, or with no address or coordinates, are in no cluster. Days are
/// local dates.
#[utoipa::path(
    tag = "statistics",
    security(("bearer" = [])),
    params(HotspotParams),
    responses(
        (status = 200, description = "The hot spots", body = Hotspots),
        (status = 400, description = "`from` after `to`, a period over ten years, a parameter out of range, or a malformed parameter (`invalid_query`)"),
    ),
)]
#[get("/stats/hotspots")]
pub async fn stats_hotspots(
    state: web::Data<AppState>,
    _principal: Permit<op::StatsHotspots>,
    params: web::Query<HotspotParams>,
) -> Result<web::Json<Hotspots>, ApiError> {
    let params = params.into_inner();
    let query = HotspotQuery::new(
        period(params.from, params.to)?,
        params.min_count,
        params.limit,
        params.window_hours,
        params.min_cluster,
    )
    .map_err(|detail| ApiError::bad_request(ErrorCode::InvalidQuery, detail))?;
    let calendar = state.reference.calendar();
    let hotspots = state
        .db
        .run(move |conn| hotspots_service::hotspots(conn, &calendar, query))
        .await?;
    Ok(web::Json(hotspots))
}

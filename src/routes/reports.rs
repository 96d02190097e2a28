//! The public report (SPEC 6): aggregate figures of a year or a month for anyone, without signing
//! in.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::public_report::ReportPeriod;
use crate::error::{ApiError, ErrorCode};
use crate::rate_limit::WithinPublicLimit;
use crate::service::reports::{self as report_service, PublicReport, REPORT_TTL};
use crate::startup::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// The calendar year, from 2000 to next year.
    #[param(minimum = 2000, example = 2026)]
    pub year: i32,
    /// One month of the year (1 to 12); the whole year without it.
    #[param(minimum = 1, maximum = 12)]
    pub month: Option<u32>,
}

/// The public report of a year (the annual report to the public) or of one month: cases
/// registered in total, by kind and by channel, and the ten categories with the most; the four
/// rates with their numerators and denominators (响应率, 按时办结率, 解决率, 满意率, as in
/// `GET /stats/departments`) with the composite score, for the whole city and for each department
/// with its rank. Aggregate figures only: no case, case number or personal data. No sign-in;
/// rate-limited per client address; each period's report is made at most every five minutes
/// (`generated_at` says when) and may be cached as long. A period not begun yet has zeros.
#[utoipa::path(
    tag = "statistics",
    params(ReportParams),
    responses(
        (status = 200, description = "The report", body = PublicReport,
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
        (status = 400, description = "A year before 2000 or after next year, a month out of 1..12, or a malformed parameter (`invalid_query`)"),
        (status = 429, description = "Too many requests from this address; see `Retry-After`"),
    ),
)]
#[get("/public/reports")]
pub async fn public_report(
    _limit: WithinPublicLimit,
    state: web::Data<AppState>,
    params: web::Query<ReportParams>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let today = state.reference.calendar().local_date(chrono::Utc::now());
    let which = ReportPeriod::parse(params.year, params.month, today)
        .map_err(|detail| ApiError::bad_request(ErrorCode::InvalidQuery, detail))?;
    let report = match state.reports.get(which) {
        Some(report) => report,
        None => {
            let report = Arc::new(
                state
                    .db
                    .run(move |conn| report_service::public_report(conn, which))
                    .await?,
            );
            state.reports.put(which, report.clone());
            report
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", REPORT_TTL.as_secs()),
        ))
        .json(&*report))
}

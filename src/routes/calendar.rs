//! The working-day calendar, deadline previews and the deadline policy.

use actix_web::{get, put, web};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Permit, Principal, op};
use crate::domain::calendar::{Due, YearRules};
use crate::domain::ids::UserId;

use crate::domain::sla::SlaPolicy;
use crate::error::{ApiError, ErrorCode};
use crate::extract::ApiJson;
use crate::service::reference::{CalendarYearView, PolicyVersion};
use crate::startup::AppState;

fn admin_id(principal: &Principal) -> Result<UserId, ApiError> {
    principal
        .user_id()
        .ok_or_else(|| ApiError::internal("admin without user id"))
}

/// One year's holidays and make-up working days.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    params(("year" = i32, Path, description = "The year, e.g. 2026", minimum = 1900, maximum = 2200)),
    responses(
        (status = 200, description = "The year's calendar", body = CalendarYearView),
        (status = 404, description = "No calendar is loaded for that year (deadlines there count weekends only)"),
    ),
)]
#[get("/calendar/{year:\\d+}")]
pub async fn get_year(
    state: web::Data<AppState>,
    _permit: Permit<op::GetYear>,
    year: web::Path<i32>,
) -> Result<web::Json<CalendarYearView>, ApiError> {
    let (year, data) = (year.into_inner(), state.reference.clone());
    Ok(web::Json(
        state.db.run(move |conn| data.get_year(conn, year)).await?,
    ))
}

/// Replace one year's calendar; it takes effect at once.
///
/// Every date must lie in the year; no date may be both a holiday and a make-up working day.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    params(("year" = i32, Path, description = "The year, 1900 to 2200", minimum = 1900, maximum = 2200)),
    request_body = YearRules,
    responses(
        (status = 200, description = "The stored calendar", body = CalendarYearView),
        (status = 404, description = "The year is not a number"),
    ),
)]
#[put("/calendar/{year:\\d+}")]
pub async fn put_year(
    state: web::Data<AppState>,
    principal: Permit<op::PutYear>,
    year: web::Path<i32>,
    body: ApiJson<YearRules>,
) -> Result<web::Json<CalendarYearView>, ApiError> {
    let by = admin_id(&principal)?;
    let (year, ApiJson(rules), data) = (year.into_inner(), body, state.reference.clone());
    Ok(web::Json(
        state
            .db
            .run(move |conn| data.put_year(conn, year, rules, by))
            .await?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkingDaysQuery {
    /// Start instant, RFC 3339 (`+` in an offset must be sent as `%2B`).
    #[param(value_type = String, format = DateTime, example = "2026-02-13T18:00:00+08:00")]
    pub from: DateTime<Utc>,
    /// Working days, 0 to 60.
    #[param(minimum = 0, maximum = 60, example = 5)]
    pub days: u32,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoursQuery {
    #[param(value_type = String, format = DateTime, example = "2026-02-16T23:30:00+08:00")]
    pub from: DateTime<Utc>,
    /// Calendar hours, 0 to 720.
    #[param(minimum = 0, maximum = 720, example = 2)]
    pub hours: u32,
}

/// A computed deadline.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuePreview {
    pub from: DateTime<Utc>,
    /// The instant the deadline falls due (23:59:59 local of the last working day).
    pub due_at: DateTime<Utc>,
    /// The local date it falls on.
    #[schema(value_type = String, format = Date)]
    pub due_local_date: NaiveDate,
    /// The centre's time zone.
    #[schema(example = "Asia/Shanghai")]
    pub timezone: String,
    /// False when the count ran into a year without a loaded calendar (weekends only).
    pub calendar_complete: bool,
}

fn preview(from: DateTime<Utc>, due: Due, timezone: String) -> DuePreview {
    DuePreview {
        from,
        due_at: due.at,
        due_local_date: due.local_date,
        timezone,
        calendar_complete: due.calendar_complete,
    }
}

/// What a deadline of N working days from an instant would be.
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    params(WorkingDaysQuery),
    responses((status = 200, description = "The deadline", body = DuePreview)),
)]
#[get("/calendar/working-days")]
pub async fn working_days(
    state: web::Data<AppState>,
    _permit: Permit<op::WorkingDays>,
    query: web::Query<WorkingDaysQuery>,
) -> Result<web::Json<DuePreview>, ApiError> {
    if query.days > 60 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "days must be from 0 to 60",
        ));
    }
    let calendar = state.reference.calendar();
    let due = calendar.add_working_days(query.from, query.days);
    Ok(web::Json(preview(
        query.from,
        due,
        calendar.timezone().name().to_owned(),
    )))
}

/// What a deadline of N calendar hours from an instant would be (urgent cases).
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    params(HoursQuery),
    responses((status = 200, description = "The deadline", body = DuePreview)),
)]
#[get("/calendar/hours")]
pub async fn hours(
    state: web::Data<AppState>,
    _permit: Permit<op::Hours>,
    query: web::Query<HoursQuery>,
) -> Result<web::Json<DuePreview>, ApiError> {
    if query.hours > 720 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "hours must be from 0 to 720",
        ));
    }
    let calendar = state.reference.calendar();
    let due = calendar.add_hours(query.from, query.hours);
    Ok(web::Json(preview(
        query.from,
        due,
        calendar.timezone().name().to_owned(),
    )))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkingTimeQuery {
    #[param(value_type = String, format = DateTime, example = "2026-09-30T18:00:00+08:00")]
    pub from: DateTime<Utc>,
    #[param(value_type = String, format = DateTime, example = "2026-10-08T09:00:00+08:00")]
    pub to: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkingTime {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Seconds between the two instants that fall on working days (whole local days).
    pub working_seconds: i64,
    /// The same in hours.
    pub working_hours: f64,
    pub calendar_complete: bool,
}

/// Working time between two instants ("time left", handling time).
#[utoipa::path(
    tag = "calendar",
    security(("bearer" = [])),
    params(WorkingTimeQuery),
    responses((status = 200, description = "The working time", body = WorkingTime)),
)]
#[get("/calendar/working-time")]
pub async fn working_time(
    state: web::Data<AppState>,
    _permit: Permit<op::WorkingTime>,
    query: web::Query<WorkingTimeQuery>,
) -> Result<web::Json<WorkingTime>, ApiError> {
    if (query.to - query.from).num_days().abs() > 3660 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "the interval may span at most ten years",
        ));
    }
    let (time, complete) = state
        .reference
        .calendar()
        .working_time_between(query.from, query.to);
    Ok(web::Json(WorkingTime {
        from: query.from,
        to: query.to,
        working_seconds: time.num_seconds(),
        working_hours: time.num_seconds() as f64 / 3600.0,
        calendar_complete: complete,
    }))
}

/// The deadline policy in force.
#[utoipa::path(
    tag = "sla policies",
    security(("bearer" = [])),
    responses((status = 200, description = "The current version", body = PolicyVersion)),
)]
#[get("/sla-policies")]
pub async fn get_policy(
    state: web::Data<AppState>,
    _permit: Permit<op::GetPolicy>,
) -> Result<web::Json<PolicyVersion>, ApiError> {
    Ok(web::Json(state.reference.policy().as_ref().clone()))
}

/// Put a new policy version into force at once; earlier versions stay on record for the deadlines
/// they produced.
#[utoipa::path(
    tag = "sla policies",
    security(("bearer" = [])),
    request_body = SlaPolicy,
    responses((status = 200, description = "The new version", body = PolicyVersion)),
)]
#[put("/sla-policies")]
pub async fn put_policy(
    state: web::Data<AppState>,
    principal: Permit<op::PutPolicy>,
    body: ApiJson<SlaPolicy>,
) -> Result<web::Json<PolicyVersion>, ApiError> {
    let by = admin_id(&principal)?;
    let (ApiJson(policy), data) = (body, state.reference.clone());
    Ok(web::Json(
        state
            .db
            .run(move |conn| data.put_policy(conn, policy, by))
            .await?,
    ))
}

//! `/cases`: registering, listing, reading and reclassifying cases, and their timelines; the
//! moves on one case are in `actions`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Deserialize;

use crate::auth::{PendingPermit, Permit, op};
use crate::domain::case::is_case_number;
use crate::domain::ids::{CaseId, CategoryId, DepartmentId};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::routes::if_match;
use crate::service::case_views::{CaseView, TimelineEvent};
use crate::service::intake::RegisterCase;
use crate::startup::AppState;

pub mod actions;

pub(crate) fn with_etag(
    mut response: actix_web::HttpResponseBuilder,
    case: &CaseView,
) -> HttpResponse {
    response
        .insert_header((header::ETAG, format!("\"{}\"", case.version)))
        .json(case)
}

/// Register a case. The centre desks register from any channel; a citizen for themselves; an
/// integration client for a citizen, with `external_ref`.
///
/// Send `Idempotency-Key` to make retries safe: a repeated request returns the first answer and
/// creates nothing. An integration client sending an `external_ref` it sent before gets that case
/// back (200).
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe (1–100 visible ASCII characters)")),
    request_body = RegisterCase,
    responses(
        (status = 201, description = "Registered", body = CaseView, headers(("ETag" = String, description = "The case's version"), ("Location" = String, description = "Where the new case is read"))),
        (status = 200, description = "This client's case with the same external_ref", body = CaseView),
        (status = 409, description = "The Idempotency-Key was used for a different request"),
    ),
)]
#[post("/cases")]
pub async fn register(
    state: web::Data<AppState>,
    permit: PendingPermit<op::Register>,
    req: HttpRequest,
    body: ApiJson<RegisterCase>,
) -> Result<HttpResponse, ApiError> {
    let key = crate::idempotency::key_from_header(req.headers())?;
    let (ApiJson(input), tz) = (body, state.settings.timezone);
    let limits = crate::service::attachments::Limits::of(&state.settings);
    let ttl = chrono::Duration::from_std(state.settings.idempotency_ttl)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    // The hottest write: the caller is resolved in the same blocking task as the registration.
    let registered = state
        .db
        .run(move |conn| {
            let principal = permit.resolve(conn)?;
            crate::service::intake::register(conn, &principal, input, key, ttl, tz, limits)
        })
        .await?;
    let builder = if registered.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    let mut builder = builder;
    builder.insert_header((
        header::LOCATION,
        format!("/api/v1/cases/{}", registered.case.id),
    ));
    Ok(with_etag(builder, &registered.case))
}

/// One case. Each full read of the complainant's personal data by centre staff is recorded.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "The case", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case, or not one the caller may see"),
    ),
)]
#[get("/cases/{id:\\d+}")]
pub async fn get_case(
    state: web::Data<AppState>,
    permit: PendingPermit<op::GetCase>,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    // The hottest read: the caller is resolved in the same blocking task as the case.
    let case = state
        .db
        .run(move |conn| {
            let principal = permit.resolve(conn)?;
            let (row, complainant) =
                crate::service::cases::visible_case_with_complainant(conn, &principal, id)?;
            crate::service::case_views::render(&principal, row, complainant)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// A case by its public number.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(("case_no" = String, Path, description = "Case number, e.g. 20261121-000042", pattern = "^[0-9]{8}-[0-9]{6,9}$")),
    responses(
        (status = 200, description = "The case", body = CaseView),
        (status = 404, description = "No such case, or not one the caller may see"),
    ),
)]
#[get("/cases/by-number/{case_no}")]
pub async fn get_case_by_number(
    state: web::Data<AppState>,
    principal: Permit<op::GetCaseByNumber>,
    case_no: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let case_no = case_no.into_inner();
    if !is_case_number(&case_no) {
        return Err(ApiError::not_found("no such case"));
    }
    let case = state
        .db
        .run(move |conn| {
            let row = crate::service::cases::visible_case_by_number(conn, &principal, &case_no)?;
            crate::service::case_views::view(conn, &principal, row)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Every change of the case, oldest first.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "The timeline", body = Vec<TimelineEvent>),
        (status = 404, description = "No such case, or not one the caller may see"),
    ),
)]
#[get("/cases/{id:\\d+}/timeline")]
pub async fn timeline(
    state: web::Data<AppState>,
    principal: Permit<op::Timeline>,
    id: web::Path<CaseId>,
) -> Result<web::Json<Vec<TimelineEvent>>, ApiError> {
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db
            .run(move |conn| crate::service::case_views::timeline(conn, &principal, id))
            .await?,
    ))
}

/// The filters of the case list, shared by the export (`GET /exports/cases`).
#[derive(Debug, Deserialize, serde::Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseFilterQuery {
    /// One status, or several separated by commas.
    #[param(example = "registered,pending_dispatch")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::domain::sla::CaseKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgency: Option<crate::domain::sla::Urgency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<crate::domain::case::Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_id: Option<CategoryId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district_id: Option<DepartmentId>,
    /// Cases dispatched to this department (in any round).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_id: Option<DepartmentId>,
    /// `true`: only cases past the reply time the citizen was told and not yet replied to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue: Option<bool>,
    /// Registered at or after this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Registered before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Words from the title or description (substring match; works for Chinese).
    #[param(max_length = 100)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub q: Option<String>,
}

impl CaseFilterQuery {
    /// The filter, checked: 400 `invalid_query` for an unknown status or an overlong `q`.
    pub fn into_filter(self) -> Result<crate::db::cases::CaseFilter, ApiError> {
        Ok(crate::db::cases::CaseFilter {
            statuses: crate::routes::enum_list(
                "status",
                self.status.as_deref(),
                crate::domain::case::CaseStatus::parse,
            )?,
            kind: self.kind,
            urgency: self.urgency,
            channel: self.channel,
            category_id: self.category_id,
            district_id: self.district_id,
            department_id: self.department_id,
            overdue: self.overdue.unwrap_or(false),
            registered_from: self.registered_from.map(|t| t.naive_utc()),
            registered_before: self.registered_before.map(|t| t.naive_utc()),
            q: crate::routes::search_text(self.q)?,
            ..Default::default()
        })
    }
}

/// Cases, newest first.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(CaseFilterQuery, crate::pagination::PageParams),
    responses((status = 200, description = "One page of cases", body = crate::pagination::Page<crate::service::case_views::CaseSummary>)),
)]
#[get("/cases")]
pub async fn list_cases(
    state: web::Data<AppState>,
    permit: PendingPermit<op::ListCases>,
    query: web::Query<CaseFilterQuery>,
    page: web::Query<crate::pagination::PageParams>,
) -> Result<web::Json<crate::pagination::Page<crate::service::case_views::CaseSummary>>, ApiError> {
    let page = page.parse()?;
    let filter = query.into_inner().into_filter()?;
    let rows = state
        .db
        .run(move |conn| {
            // Resolved in the same blocking task as the list: one hand-off per request.
            let principal = permit.resolve(conn)?;
            crate::service::case_views::list(conn, &principal, filter, page)
        })
        .await?;
    Ok(web::Json(crate::pagination::Page::try_from_rows(
        rows,
        page,
        |c| c.id.get(),
        crate::service::case_views::CaseSummary::from_row,
    )?))
}

/// Change a case's classification and wording until it is dispatched.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = crate::service::intake::UpdateCase,
    responses(
        (status = 200, description = "The changed case", body = CaseView),
        (status = 404, description = "No such case"),
        (status = 409, description = "Already dispatched, or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[patch("/cases/{id:\\d+}")]
pub async fn update_case(
    state: web::Data<AppState>,
    principal: Permit<op::UpdateCase>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<crate::service::intake::UpdateCase>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let case = state
        .db
        .run(move |conn| crate::service::intake::reclassify(conn, &principal, id, input, expected))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

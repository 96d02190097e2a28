//! Supervision (督办): the centre urging and supervising departments, the sweep's own urges, and
//! the departments' explanations.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, op};
use crate::db::supervision::SupervisionFilter;
use crate::domain::ids::{AssignmentId, CaseId, DepartmentId, SupervisionId};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::service::supervision::{
    self as supervision_service, ExplanationRequest, NewPressure, SupervisionKind,
    SupervisionMethod, SupervisionRequest, SupervisionView,
};
use crate::startup::AppState;

/// Urge (催办) or supervise (督办) the department of an open assignment. Written supervision starts a
/// `supervision_response` clock (policy: 2 working days) for the department's explanation.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = [])),
    request_body = SupervisionRequest,
    responses(
        (status = 201, description = "Recorded, and on the case's timeline", body = SupervisionView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 409, description = "The assignment has no open work (`assignment_not_open`)"),
        (status = 422, description = "Invalid note or method, or no such assignment"),
    ),
)]
#[post("/supervisions")]
pub async fn create_supervision(
    state: web::Data<AppState>,
    principal: Permit<op::CreateSupervision>,
    body: ApiJson<SupervisionRequest>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(body) = body;
    let reference = state.reference.clone();
    let view = state
        .db
        .run(move |conn| {
            supervision_service::create(
                conn,
                &reference,
                &principal,
                NewPressure {
                    assignment_id: body.assignment_id,
                    kind: body.kind,
                    method: body.method,
                    note: &body.note,
                },
            )
        })
        .await?;
    Ok(crate::routes::created(format!("/api/v1/supervisions/{}", view.id)).json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SupervisionListQuery {
    pub kind: Option<SupervisionKind>,
    pub method: Option<SupervisionMethod>,
    /// Ignored for department users, who see only their own department's.
    pub department_id: Option<DepartmentId>,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    /// `true`: written supervision still waiting for the department's explanation.
    pub awaiting_explanation: Option<bool>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Supervision records, newest first, including the sweep's own urges (`method=system`).
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = [])),
    params(SupervisionListQuery),
    responses((status = 200, description = "One page of supervision records", body = Page<SupervisionView>)),
)]
#[get("/supervisions")]
pub async fn list_supervisions(
    state: web::Data<AppState>,
    principal: Permit<op::ListSupervisions>,
    query: web::Query<SupervisionListQuery>,
) -> Result<web::Json<Page<SupervisionView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = SupervisionFilter {
        kind: query.kind,
        method: query.method,
        department_id: query.department_id,
        case_id: query.case_id,
        assignment_id: query.assignment_id,
        awaiting_explanation: query.awaiting_explanation.unwrap_or(false),
    };
    let views = state
        .db
        .run(move |conn| supervision_service::list(conn, &principal, filter, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        views,
        page,
        |s| s.id.get(),
        |s| s,
    )))
}

/// One supervision record.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Supervision record id")),
    responses(
        (status = 200, description = "The record", body = SupervisionView),
        (status = 404, description = "No such record, or another department's"),
    ),
)]
#[get("/supervisions/{id:\\d+}")]
pub async fn get_supervision(
    state: web::Data<AppState>,
    principal: Permit<op::GetSupervision>,
    id: web::Path<SupervisionId>,
) -> Result<web::Json<SupervisionView>, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| supervision_service::get(conn, &principal, id))
        .await?;
    Ok(web::Json(view))
}

/// Answer a written supervision of your department, once; its clock is met or missed by it.
#[utoipa::path(
    tag = "supervision",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Supervision record id")),
    request_body = ExplanationRequest,
    responses(
        (status = 200, description = "Explained", body = SupervisionView),
        (status = 404, description = "No such record, or another department's"),
        (status = 409, description = "Not written supervision (`no_explanation_required`), or explained already (`already_explained`)"),
        (status = 422, description = "Empty or oversized explanation"),
    ),
)]
#[post("/supervisions/{id:\\d+}/explanation")]
pub async fn explain(
    state: web::Data<AppState>,
    principal: Permit<op::Explain>,
    id: web::Path<SupervisionId>,
    body: ApiJson<ExplanationRequest>,
) -> Result<web::Json<SupervisionView>, ApiError> {
    let (id, ApiJson(body)) = (id.into_inner(), body);
    let view = state
        .db
        .run(move |conn| supervision_service::explain(conn, &principal, id, &body.explanation))
        .await?;
    Ok(web::Json(view))
}

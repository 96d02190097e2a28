//! Extensions of reply deadlines (延期): requested by department admins, decided by supervisors.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, op};
use crate::db::extensions::ExtensionFilter;
use crate::domain::extension::ExtensionState;
use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId, ExtensionId};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::service::extensions::{
    self as extension_service, ExtensionDecisionRequest, ExtensionRequest, ExtensionView,
};
use crate::startup::AppState;

/// Ask for more time on a running reply deadline (延期申请). At most one request per assignment waits
/// at a time; the policy caps how many an assignment is granted (default 2) and how far the
/// deadline may go (default 30 working days after dispatch).
#[utoipa::path(
    tag = "deadlines",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Deadline id (a reply deadline)")),
    request_body = ExtensionRequest,
    responses(
        (status = 201, description = "Requested; a supervisor decides", body = ExtensionView, headers(("Location" = String, description = "Where the new resource is read"))),
        (status = 404, description = "No such deadline, or another department's"),
        (status = 409, description = "Not a reply deadline (`not_extendable`), stopped (`deadline_not_running`), a request already waiting (`extension_pending`), or no extension left (`extension_limit_reached`)"),
        (status = 422, description = "Invalid reason or days, or a deadline beyond the policy's limit (`working_days`: `beyond_limit`)"),
    ),
)]
#[post("/deadlines/{id:\\d+}/extensions")]
pub async fn request_extension(
    state: web::Data<AppState>,
    principal: Permit<op::RequestExtension>,
    id: web::Path<DeadlineId>,
    body: ApiJson<ExtensionRequest>,
) -> Result<HttpResponse, ApiError> {
    let (deadline_id, ApiJson(body)) = (id.into_inner(), body);
    let reference = state.reference.clone();
    let view = state
        .db
        .run(move |conn| {
            extension_service::request(
                conn,
                &reference,
                &principal,
                deadline_id,
                &body.reason,
                body.working_days,
            )
        })
        .await?;
    Ok(crate::routes::created(format!("/api/v1/extensions/{}", view.id)).json(view))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExtensionListQuery {
    pub state: Option<ExtensionState>,
    /// Ignored for department users, who see only their own department's.
    pub department_id: Option<DepartmentId>,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Extension requests, newest first; `state=pending` is the supervisors' queue.
#[utoipa::path(
    tag = "deadlines",
    security(("bearer" = [])),
    params(ExtensionListQuery),
    responses((status = 200, description = "One page of extension requests", body = Page<ExtensionView>)),
)]
#[get("/extensions")]
pub async fn list_extensions(
    state: web::Data<AppState>,
    principal: Permit<op::ListExtensions>,
    query: web::Query<ExtensionListQuery>,
) -> Result<web::Json<Page<ExtensionView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = ExtensionFilter {
        state: query.state,
        department_id: query.department_id,
        case_id: query.case_id,
        assignment_id: query.assignment_id,
    };
    let views = state
        .db
        .run(move |conn| extension_service::list(conn, &principal, filter, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        views,
        page,
        |e| e.id.get(),
        |e| e,
    )))
}

/// One extension request.
#[utoipa::path(
    tag = "deadlines",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Extension request id")),
    responses(
        (status = 200, description = "The request", body = ExtensionView),
        (status = 404, description = "No such request, or another department's"),
    ),
)]
#[get("/extensions/{id:\\d+}")]
pub async fn get_extension(
    state: web::Data<AppState>,
    principal: Permit<op::GetExtension>,
    id: web::Path<ExtensionId>,
) -> Result<web::Json<ExtensionView>, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| extension_service::get(conn, &principal, id))
        .await?;
    Ok(web::Json(view))
}

/// Approve or reject a waiting request. Approval moves the reply deadline (and the assignment's
/// reply time; for the lead department, also the time the citizen was told).
#[utoipa::path(
    tag = "deadlines",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Extension request id")),
    request_body = ExtensionDecisionRequest,
    responses(
        (status = 200, description = "Decided", body = ExtensionView),
        (status = 404, description = "No such request"),
        (status = 409, description = "Decided already (`extension_decided`), the deadline stopped meanwhile (`deadline_not_running`), or no extension left (`extension_limit_reached`)"),
        (status = 422, description = "Invalid note, or the deadline would pass the policy's limit"),
    ),
)]
#[post("/extensions/{id:\\d+}/decision")]
pub async fn decide_extension(
    state: web::Data<AppState>,
    principal: Permit<op::DecideExtension>,
    id: web::Path<ExtensionId>,
    body: ApiJson<ExtensionDecisionRequest>,
) -> Result<web::Json<ExtensionView>, ApiError> {
    let (id, ApiJson(body)) = (id.into_inner(), body);
    let reference = state.reference.clone();
    let view = state
        .db
        .run(move |conn| {
            extension_service::decide(
                conn,
                &reference,
                &principal,
                id,
                body.decision,
                body.note.as_deref(),
            )
        })
        .await?;
    Ok(web::Json(view))
}

//! `/assignments`: the departments' share of cases, and the moves on them (sign, return, the
//! centre's ruling, handover, progress, reply). Each move answers the assignment with its `ETag`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, Principal, op};
use crate::db::assignments::AssignmentFilter;
use crate::domain::dispatch::AssignmentState;
use crate::domain::ids::{AssignmentId, CaseId, CategoryId, DepartmentId, UserId};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::routes::{enum_list, if_match};
use crate::service::assignments::{
    AssignmentMove, AssignmentView, Handover, Progress, Reply, ReturnAssignment, RuleOnReturn,
};
use crate::startup::AppState;
use crate::validation::trimmed;

fn assignment_response(view: &AssignmentView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, format!("\"{}\"", view.version)))
        .json(view)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssignmentListQuery {
    /// One state, or several separated by commas.
    #[param(example = "pending_sign,in_progress")]
    pub state: Option<String>,
    /// Ignored for department users, who see only their own department's.
    pub department_id: Option<DepartmentId>,
    pub case_id: Option<CaseId>,
    /// The department user it was handed to.
    pub handler_id: Option<UserId>,
    /// `true`: only open assignments past their sign or reply time.
    pub overdue: Option<bool>,
    pub kind: Option<crate::domain::sla::CaseKind>,
    pub urgency: Option<crate::domain::sla::Urgency>,
    pub channel: Option<crate::domain::case::Channel>,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    /// Dispatched at or after this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub dispatched_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Dispatched before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub dispatched_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Assignments, newest first.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(AssignmentListQuery),
    responses((status = 200, description = "One page of assignments", body = Page<AssignmentView>)),
)]
#[get("/assignments")]
pub async fn list_assignments(
    state: web::Data<AppState>,
    principal: Permit<op::ListAssignments>,
    query: web::Query<AssignmentListQuery>,
) -> Result<web::Json<Page<AssignmentView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = AssignmentFilter {
        states: enum_list("state", query.state.as_deref(), AssignmentState::parse)?,
        department_id: query.department_id,
        case_id: query.case_id,
        handler_id: query.handler_id,
        overdue: query.overdue.unwrap_or(false),
        dispatched_from: query.dispatched_from.map(|t| t.naive_utc()),
        dispatched_before: query.dispatched_before.map(|t| t.naive_utc()),
        kind: query.kind,
        urgency: query.urgency,
        channel: query.channel,
        category_id: query.category_id,
        district_id: query.district_id,
    };
    let rows = state
        .db
        .run(move |conn| {
            crate::service::assignments::list_assignments(conn, &principal, filter, page)
        })
        .await?;
    Ok(web::Json(Page::try_from_rows(
        rows,
        page,
        |a| a.id.get(),
        crate::service::assignments::assignment_view,
    )?))
}

/// One assignment, with its `ETag`.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Assignment id")),
    responses(
        (status = 200, description = "The assignment", body = AssignmentView, headers(("ETag" = String, description = "The assignment's version"))),
        (status = 404, description = "No such assignment, or another department's"),
    ),
)]
#[get("/assignments/{id:\\d+}")]
pub async fn get_assignment(
    state: web::Data<AppState>,
    principal: Permit<op::GetAssignment>,
    id: web::Path<AssignmentId>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = state
        .db
        .run(move |conn| crate::service::assignments::get_assignment(conn, &principal, id))
        .await?;
    Ok(assignment_response(&view))
}

async fn act(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    id: AssignmentId,
    mv: AssignmentMove,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req);
    let view = state
        .db
        .run(move |conn| {
            crate::service::assignments::act_on_assignment(conn, &principal, id, mv, expected)
        })
        .await?;
    Ok(assignment_response(&view))
}

/// Sign for an assignment (签收): its sign deadline is met (or missed, if late) and the reply clock
/// keeps running.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "The assignment's ETag last read; 412 when it changed since"),
    ),
    responses(
        (status = 200, description = "Signed", body = AssignmentView),
        (status = 404, description = "No such assignment, or another department's"),
        (status = 409, description = "Not waiting to be signed (`assignment_not_pending_sign`), from an earlier round, or changed concurrently"),
        (status = 412, description = "The assignment changed since the ETag given in If-Match"),
    ),
)]
#[post("/assignments/{id:\\d+}/sign")]
pub async fn sign(
    state: web::Data<AppState>,
    principal: Permit<op::Sign>,
    req: HttpRequest,
    id: web::Path<AssignmentId>,
) -> Result<HttpResponse, ApiError> {
    act(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        AssignmentMove::Sign,
    )
    .await
}

/// Return an assignment the department is not responsible for (退单), before replying; the centre
/// rules on it.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "The assignment's ETag last read; 412 when it changed since"),
    ),
    request_body = ReturnAssignment,
    responses(
        (status = 200, description = "Returned: waiting for the centre's ruling", body = AssignmentView),
        (status = 404, description = "No such assignment, or another department's"),
        (status = 409, description = "Already replied or closed (`assignment_not_returnable`), or changed concurrently"),
        (status = 412, description = "The assignment changed since the ETag given in If-Match"),
    ),
)]
#[post("/assignments/{id:\\d+}/return")]
pub async fn return_assignment(
    state: web::Data<AppState>,
    principal: Permit<op::ReturnAssignment>,
    req: HttpRequest,
    id: web::Path<AssignmentId>,
    body: ApiJson<ReturnAssignment>,
) -> Result<HttpResponse, ApiError> {
    let reason = trimmed(&body.0.reason);
    act(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        AssignmentMove::Return { reason },
    )
    .await
}

/// Rule on a returned assignment (派单异议审核).
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "The assignment's ETag last read; 412 when it changed since"),
    ),
    request_body = RuleOnReturn,
    responses(
        (status = 200, description = "Ruled", body = AssignmentView),
        (status = 404, description = "No such assignment"),
        (status = 409, description = "Not returned (`assignment_not_returned`), or changed concurrently"),
        (status = 412, description = "The assignment changed since the ETag given in If-Match"),
    ),
)]
#[post("/assignments/{id:\\d+}/return-ruling")]
pub async fn return_ruling(
    state: web::Data<AppState>,
    principal: Permit<op::ReturnRuling>,
    req: HttpRequest,
    id: web::Path<AssignmentId>,
    body: ApiJson<RuleOnReturn>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let note = input.note.as_deref().map(trimmed);
    act(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        AssignmentMove::Rule {
            ruling: input.ruling,
            note,
        },
    )
    .await
}

/// Hand an assignment to a member of the department; staff then work only on what they were handed.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "The assignment's ETag last read; 412 when it changed since"),
    ),
    request_body = Handover,
    responses(
        (status = 200, description = "Handed over", body = AssignmentView),
        (status = 404, description = "No such assignment, or another department's"),
        (status = 409, description = "Not open (`assignment_not_open`), or changed concurrently"),
        (status = 412, description = "The assignment changed since the ETag given in If-Match"),
    ),
)]
#[post("/assignments/{id:\\d+}/handover")]
pub async fn handover(
    state: web::Data<AppState>,
    principal: Permit<op::Handover>,
    req: HttpRequest,
    id: web::Path<AssignmentId>,
    body: ApiJson<Handover>,
) -> Result<HttpResponse, ApiError> {
    let user_id = body.0.user_id;
    act(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        AssignmentMove::Handover { user_id },
    )
    .await
}

/// Report progress on a signed assignment; the note joins the case's timeline.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "The assignment's ETag last read; 412 when it changed since"),
    ),
    request_body = Progress,
    responses(
        (status = 200, description = "Recorded", body = AssignmentView),
        (status = 404, description = "No such assignment, or another department's"),
        (status = 409, description = "Not signed or already replied (`assignment_not_in_progress`)"),
        (status = 412, description = "The assignment changed since the ETag given in If-Match"),
    ),
)]
#[post("/assignments/{id:\\d+}/progress")]
pub async fn progress(
    state: web::Data<AppState>,
    principal: Permit<op::Progress>,
    req: HttpRequest,
    id: web::Path<AssignmentId>,
    body: ApiJson<Progress>,
) -> Result<HttpResponse, ApiError> {
    let note = trimmed(&body.0.note);
    act(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        AssignmentMove::Progress { note },
    )
    .await
}

/// Reply (答复): what was investigated, what was done, the result. Meets (or misses) the reply
/// deadline; when the whole round has replied the case waits for review.
#[utoipa::path(
    tag = "assignments",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Assignment id"),
        ("If-Match" = Option<String>, Header, description = "The assignment's ETag last read; 412 when it changed since"),
    ),
    request_body = Reply,
    responses(
        (status = 200, description = "Replied", body = AssignmentView),
        (status = 404, description = "No such assignment, or another department's"),
        (status = 409, description = "Not signed (`assignment_not_signed`), not in progress, or changed concurrently"),
        (status = 412, description = "The assignment changed since the ETag given in If-Match"),
    ),
)]
#[post("/assignments/{id:\\d+}/reply")]
pub async fn reply(
    state: web::Data<AppState>,
    principal: Permit<op::Reply>,
    req: HttpRequest,
    id: web::Path<AssignmentId>,
    body: ApiJson<Reply>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let reply = Reply {
        investigation: trimmed(&input.investigation),
        actions: trimmed(&input.actions),
        result: trimmed(&input.result),
        contacted_citizen: input.contacted_citizen,
    };
    act(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        AssignmentMove::Reply(reply),
    )
    .await
}

//! Follow-up (回访): `/cases/{id}/follow-up-calls` and `/follow-up-decision`, the lists of attempts
//! across cases, and the centre's follow-up queue.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, op};
use crate::db::follow_up::CallFilter;
use crate::domain::follow_up::CallOutcome;
use crate::domain::ids::{CaseId, DepartmentId, UserId};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::pagination::{Page, PageParams};
use crate::routes::cases::with_etag;
use crate::routes::{if_match, local_days};
use crate::service::case_views::CaseView;
use crate::service::follow_up::{
    FollowUpCallView, FollowUpDecision, FollowUpQueueItem, RecordCall, RecordedCall,
};
use crate::startup::AppState;

/// Record one follow-up attempt (回访) on a case awaiting follow-up, or on a case merged into one
/// whose result was approved. Reached and satisfied or basically satisfied → `closed` (`resolved`,
/// `partly_resolved` or `unresolved` as the citizen says); reached and dissatisfied →
/// `awaiting_decision` (the supervisor decides); `refused` → closed `not_evaluated`; the third
/// local day on which `no_answer` or `wrong_number` attempts failed → closed `unreachable`. Any
/// ending stops the follow-up clock (met, or missed when late). On a merged case the answer is
/// recorded for the case it was merged into; the merged case stays as it is. A reached call may
/// be recorded as a survey response (`survey`, channel `phone`): its answers are checked as
/// through the public link, give the call's `resolved` and `satisfaction` when the template
/// carries them, and are stored as a survey linked to the call, in the same transaction; the
/// follow-up rule is applied once, by the call.
#[utoipa::path(
    tag = "follow-up",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    request_body = RecordCall,
    responses(
        (status = 201, description = "Recorded; the case as it is after the attempt", body = RecordedCall),
        (status = 404, description = "No such case"),
        (status = 409, description = "The case does not await follow-up (`case_not_awaiting_follow_up`), the case it was merged into is not approved yet (`follow_up_not_due`), this citizen's follow-up is over (`follow_up_ended`), or the survey's template has a newer version (`template_superseded`)"),
        (status = 422, description = "Invalid attempt: an evaluation missing on a reached call or given on an unreached one, a call time in the future or before approval, a survey on an unreached call, bad survey answers (every one listed, under `survey.answers`), or a survey answer disagreeing with the call's `resolved` or `satisfaction` (both named)"),
    ),
)]
#[post("/cases/{id:\\d+}/follow-up-calls")]
pub async fn record_follow_up_call(
    state: web::Data<AppState>,
    principal: Permit<op::RecordFollowUpCall>,
    id: web::Path<CaseId>,
    body: ApiJson<RecordCall>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let reference = state.reference.clone();
    let recorded = state
        .db
        .run(move |conn| {
            crate::service::follow_up::record_call(conn, &reference, &principal, id, input)
        })
        .await?;
    Ok(HttpResponse::Created().json(recorded))
}

/// A case's follow-up attempts, oldest first. The citizen's words are shown to the centre only.
#[utoipa::path(
    tag = "follow-up",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "The attempts", body = Vec<FollowUpCallView>),
        (status = 404, description = "No such case, or not one the caller may see"),
    ),
)]
#[get("/cases/{id:\\d+}/follow-up-calls")]
pub async fn case_follow_up_calls(
    state: web::Data<AppState>,
    principal: Permit<op::CaseFollowUpCalls>,
    id: web::Path<CaseId>,
) -> Result<web::Json<Vec<FollowUpCallView>>, ApiError> {
    let id = id.into_inner();
    let calls = state
        .db
        .run(move |conn| crate::service::follow_up::case_calls(conn, &principal, id))
        .await?;
    Ok(web::Json(calls))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallListQuery {
    pub outcome: Option<CallOutcome>,
    /// The user who called.
    pub called_by: Option<UserId>,
    /// Called on or after this local date (the centre's time zone).
    pub from: Option<NaiveDate>,
    /// Called on or before this local date.
    pub to: Option<NaiveDate>,
    /// The lead department of the evaluated round.
    pub department_id: Option<DepartmentId>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Follow-up attempts across cases, newest first. Analysts see no citizen's words.
#[utoipa::path(
    tag = "follow-up",
    security(("bearer" = [])),
    params(CallListQuery),
    responses(
        (status = 200, description = "One page of attempts", body = Page<FollowUpCallView>),
        (status = 400, description = "`from` after `to`, or a bad cursor or limit"),
    ),
)]
#[get("/follow-up-calls")]
pub async fn list_follow_up_calls(
    state: web::Data<AppState>,
    principal: Permit<op::ListFollowUpCalls>,
    query: web::Query<CallListQuery>,
) -> Result<web::Json<Page<FollowUpCallView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let (from, until) = local_days(&state.reference.calendar(), query.from, query.to)?;
    let filter = CallFilter {
        outcome: query.outcome,
        called_by: query.called_by,
        from,
        until,
        department_id: query.department_id,
    };
    let calls = state
        .db
        .run(move |conn| crate::service::follow_up::list_calls(conn, &principal, filter, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        calls,
        page,
        |c| c.id.get(),
        |c| c,
    )))
}

/// The centre's follow-up work queue: cases awaiting follow-up (and merged cases whose citizens
/// are to be called), oldest follow-up clock first, with the working time left, the attempts so
/// far, and the complainant to call in full (each such read is recorded).
#[utoipa::path(
    tag = "follow-up",
    security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, description = "One page of the queue", body = Page<FollowUpQueueItem>)),
)]
#[get("/follow-up-queue")]
pub async fn follow_up_queue(
    state: web::Data<AppState>,
    principal: Permit<op::FollowUpQueue>,
    query: web::Query<PageParams>,
) -> Result<web::Json<Page<FollowUpQueueItem>>, ApiError> {
    let page = query.parse()?;
    let reference = state.reference.clone();
    let items = state
        .db
        .run(move |conn| crate::service::follow_up::queue(conn, &reference, &principal, page))
        .await?;
    Ok(web::Json(Page::from_rows(
        items,
        page,
        |item| item.deadline_id.get(),
        |item| item,
    )))
}

/// The supervisor's decision after a dissatisfied follow-up: `redo` (重办: a new dispatch round to
/// the same departments, or those named, with new clocks; counted in `redo_count`) or `close` with
/// a reason (`beyond_policy` 超出政策, `unreasonable_demand` 诉求不合理, `resolved_per_department`,
/// or `other` with a note).
#[utoipa::path(
    tag = "follow-up",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = FollowUpDecision,
    responses(
        (status = 200, description = "Redone and dispatched, or closed", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "The case does not await a decision (`case_not_awaiting_decision`), or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
        (status = 422, description = "A reason missing or not allowed, or departments that cannot take the case"),
    ),
)]
#[post("/cases/{id:\\d+}/follow-up-decision")]
pub async fn follow_up_decision(
    state: web::Data<AppState>,
    principal: Permit<op::FollowUpDecision>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<FollowUpDecision>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let reference = state.reference.clone();
    let case = state
        .db
        .run(move |conn| {
            crate::service::follow_up::decide(conn, &reference, &principal, id, input, expected)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

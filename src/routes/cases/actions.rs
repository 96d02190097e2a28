//! `/cases/{id}/…`: the moves on one case (accept, reject, answer; dispatch, review, redo; merge
//! and its suggestions, close, reopen; notes). Each move answers the changed case with its new
//! `ETag`.

use actix_web::{HttpRequest, HttpResponse, get, post, web};

use crate::auth::{Permit, Principal, op};
use crate::domain::ids::CaseId;
use crate::error::{ApiError, FieldErrorCode};
use crate::extract::ApiJson;
use crate::routes::cases::with_etag;
use crate::routes::if_match;
use crate::service::case_closing::{CloseCase, MergeCase, SimilarCase};
use crate::service::case_views::{CaseView, TimelineEvent};
use crate::service::dispatch::{DispatchCase, Reason, ReviewCase};
use crate::service::intake::{AnswerCase, AnsweredWith, IntakeDecision, RejectCase};
use crate::service::notes::NewNote;
use crate::startup::AppState;
use crate::validation::trimmed;

async fn decide(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    id: CaseId,
    decision: IntakeDecision,
) -> Result<HttpResponse, ApiError> {
    let expected = if_match(&req);
    let case = state
        .db
        .run(move |conn| crate::service::intake::decide(conn, &principal, id, decision, expected))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Accept a registered case for dispatch.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    responses(
        (status = 200, description = "Accepted: now pending dispatch", body = CaseView),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not a newly registered case, or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/accept")]
pub async fn accept(
    state: web::Data<AppState>,
    principal: Permit<op::Accept>,
    req: HttpRequest,
    id: web::Path<CaseId>,
) -> Result<HttpResponse, ApiError> {
    decide(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        IntakeDecision::Accept,
    )
    .await
}

/// Reject a registered case, telling the citizen where to go instead.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = RejectCase,
    responses(
        (status = 200, description = "Rejected (closed)", body = CaseView),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not a newly registered case, or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    principal: Permit<op::Reject>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<RejectCase>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let reason = trimmed(&input.reason);
    let redirect_to = trimmed(&input.redirect_to);
    decide(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        IntakeDecision::Reject {
            reason,
            redirect_to,
        },
    )
    .await
}

/// Answer a consultation directly and close it. Name the knowledge-base article version read
/// out (`article_id`, `article_version`: the version shown today) to record it in the timeline
/// and count it in `GET /stats/knowledge`.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = AnswerCase,
    responses(
        (status = 200, description = "Answered and closed", body = CaseView),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not a newly registered consultation, or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
        (status = 422, description = "Bad input, or an article version that is not the one shown today"),
    ),
)]
#[post("/cases/{id:\\d+}/answer")]
pub async fn answer(
    state: web::Data<AppState>,
    principal: Permit<op::Answer>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<AnswerCase>,
) -> Result<HttpResponse, ApiError> {
    let ApiJson(input) = body;
    let answer = trimmed(&input.answer);
    let today = state.reference.calendar().local_date(chrono::Utc::now());
    let article = match (input.article_id, input.article_version) {
        (None, None) => None,
        (Some(article), Some(version)) => Some(AnsweredWith {
            article,
            version,
            today,
        }),
        (Some(_), None) => {
            return Err(ApiError::field(
                "article_version",
                FieldErrorCode::Required,
                "name the version of the article used",
            ));
        }
        (None, Some(_)) => {
            return Err(ApiError::field(
                "article_id",
                FieldErrorCode::Required,
                "name the article whose version was used",
            ));
        }
    };
    decide(
        state,
        principal.into_principal(),
        req,
        id.into_inner(),
        IntakeDecision::Answer { answer, article },
    )
    .await
}

/// Dispatch an accepted case to one department (直接转办) or several with one lead (联合转办). Creates the
/// assignments of a new round and their sign and reply deadlines from the SLA policy and the
/// working-day calendar; with `assigned` (交办) the reply deadline is the centre's own.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = DispatchCase,
    responses(
        (status = 200, description = "Dispatched", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not waiting for dispatch (`case_not_pending_dispatch`), or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/dispatch")]
pub async fn dispatch(
    state: web::Data<AppState>,
    principal: Permit<op::Dispatch>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<DispatchCase>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let reference = state.reference.clone();
    let case = state
        .db
        .run(move |conn| {
            crate::service::dispatch::dispatch(conn, &reference, &principal, id, input, expected)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Review the departments' replies: approve (→ `awaiting_follow_up`, with the follow-up call's
/// deadline) or send one assignment back with a note (回退).
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = ReviewCase,
    responses(
        (status = 200, description = "Reviewed", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not waiting for review (`case_not_pending_review`), or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/review")]
pub async fn review(
    state: web::Data<AppState>,
    principal: Permit<op::Review>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<ReviewCase>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let reference = state.reference.clone();
    let case = state
        .db
        .run(move |conn| {
            crate::service::dispatch::review(conn, &reference, &principal, id, input, expected)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Redo (重办): set the round's work aside; the case waits for a new dispatch round. From
/// `pending_review` or `awaiting_follow_up` (after a dissatisfied follow-up).
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = Reason,
    responses(
        (status = 200, description = "Waiting for a new dispatch round", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not redoable now (`case_not_redoable`), or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/redo")]
pub async fn redo(
    state: web::Data<AppState>,
    principal: Permit<op::Redo>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<Reason>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let case = state
        .db
        .run(move |conn| crate::service::dispatch::redo(conn, &principal, id, input, expected))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Merge (并单) a not-yet-dispatched case into an earlier open case about the same matter: it closes
/// as `merged` and points there.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "The case merged away"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = MergeCase,
    responses(
        (status = 200, description = "Merged (closed)", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "Already dispatched (`case_not_mergeable`), target not earlier or closed, or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/merge")]
pub async fn merge(
    state: web::Data<AppState>,
    principal: Permit<op::Merge>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<MergeCase>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let case = state
        .db
        .run(move |conn| crate::service::case_closing::merge(conn, &principal, id, input, expected))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Earlier open cases that may be the same matter: the same citizen (account or phone), or the same
/// category at the same place (district, address, or within about 500 m), registered in the 30 days
/// before.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    responses(
        (status = 200, description = "Merge candidates, newest first (at most 20)", body = Vec<SimilarCase>),
        (status = 404, description = "No such case"),
    ),
)]
#[get("/cases/{id:\\d+}/similar")]
pub async fn similar(
    state: web::Data<AppState>,
    principal: Permit<op::Similar>,
    id: web::Path<CaseId>,
) -> Result<web::Json<Vec<SimilarCase>>, ApiError> {
    let id = id.into_inner();
    let similar = state
        .db
        .run(move |conn| crate::service::case_closing::similar(conn, &principal, id))
        .await?;
    Ok(web::Json(similar))
}

/// Close an open case with a reason (e.g. the demand exceeds policy): its open assignments and
/// running deadlines end.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = CloseCase,
    responses(
        (status = 200, description = "Closed", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not open (`case_not_open`), or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/close")]
pub async fn close(
    state: web::Data<AppState>,
    principal: Permit<op::Close>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<CloseCase>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let case = state
        .db
        .run(move |conn| crate::service::case_closing::close(conn, &principal, id, input, expected))
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Reopen a case closed in the last 30 days, with a reason: it waits for a new dispatch round.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(
        ("id" = i64, Path, description = "Case id"),
        ("If-Match" = Option<String>, Header, description = "The ETag last read; 412 when the case changed since"),
    ),
    request_body = Reason,
    responses(
        (status = 200, description = "Reopened: pending dispatch", body = CaseView, headers(("ETag" = String, description = "The case's version"))),
        (status = 404, description = "No such case"),
        (status = 409, description = "Not closed (`case_not_closed`), closed too long ago (`reopen_window_passed`), or changed concurrently"),
        (status = 412, description = "The case changed since the ETag given in If-Match"),
    ),
)]
#[post("/cases/{id:\\d+}/reopen")]
pub async fn reopen(
    state: web::Data<AppState>,
    principal: Permit<op::Reopen>,
    req: HttpRequest,
    id: web::Path<CaseId>,
    body: ApiJson<Reason>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input), expected) = (id.into_inner(), body, if_match(&req));
    let case = state
        .db
        .run(move |conn| {
            crate::service::case_closing::reopen(conn, &principal, id, input, expected)
        })
        .await?;
    Ok(with_etag(HttpResponse::Ok(), &case))
}

/// Add information to an open case (补充材料); it joins the timeline.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Case id")),
    request_body = NewNote,
    responses(
        (status = 201, description = "The note's timeline event", body = TimelineEvent),
        (status = 404, description = "No such case, or not one the caller may see"),
        (status = 409, description = "The case is closed (`case_closed`)"),
    ),
)]
#[post("/cases/{id:\\d+}/notes")]
pub async fn add_note(
    state: web::Data<AppState>,
    principal: Permit<op::AddNote>,
    id: web::Path<CaseId>,
    body: ApiJson<NewNote>,
) -> Result<HttpResponse, ApiError> {
    let (id, ApiJson(input)) = (id.into_inner(), body);
    let event = state
        .db
        .run(move |conn| crate::service::notes::add_note(conn, &principal, id, input))
        .await?;
    Ok(HttpResponse::Created().json(event))
}

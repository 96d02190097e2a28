//! `/deadlines`: the clocks that time the departments' work, with their due-soon and overdue flags.

use actix_web::{get, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::{Permit, op};
use crate::db::assignments::DeadlineFilter;
use crate::domain::dispatch::{DeadlineKind, DeadlineState};
use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId};
use crate::error::ApiError;
use crate::pagination::{Page, PageParams};
use crate::routes::enum_list;
use crate::service::deadlines::DeadlineView;
use crate::startup::AppState;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadlineListQuery {
    /// One state, or several separated by commas.
    #[param(example = "running")]
    pub state: Option<String>,
    pub kind: Option<DeadlineKind>,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    /// Ignored for department users, who see only their own department's.
    pub department_id: Option<DepartmentId>,
    /// Due before this instant.
    #[param(value_type = Option<String>, format = DateTime)]
    pub due_before: Option<chrono::DateTime<chrono::Utc>>,
    /// `true`: only running clocks past due.
    pub overdue: Option<bool>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Deadlines (sign, reply, follow-up…), newest first, with whether each is due soon or overdue now.
#[utoipa::path(
    tag = "deadlines",
    security(("bearer" = [])),
    params(DeadlineListQuery),
    responses((status = 200, description = "One page of deadlines", body = Page<DeadlineView>)),
)]
#[get("/deadlines")]
pub async fn list_deadlines(
    state: web::Data<AppState>,
    principal: Permit<op::ListDeadlines>,
    query: web::Query<DeadlineListQuery>,
) -> Result<web::Json<Page<DeadlineView>>, ApiError> {
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let filter = DeadlineFilter {
        states: enum_list("state", query.state.as_deref(), DeadlineState::parse)?,
        kind: query.kind,
        case_id: query.case_id,
        assignment_id: query.assignment_id,
        department_id: query.department_id,
        due_before: query.due_before.map(|t| t.naive_utc()),
        overdue: query.overdue.unwrap_or(false),
    };
    let reference = state.reference.clone();
    let views = state
        .db
        .run(move |conn| {
            let rows = crate::service::deadlines::list_deadlines(conn, &principal, filter, page)?;
            crate::service::deadlines::deadline_views(rows, &reference)
        })
        .await?;
    // The views keep the rows' order and count, so the page is cut from them directly.
    Ok(web::Json(Page::from_rows(
        views,
        page,
        |d| d.id.get(),
        |d| d,
    )))
}

/// One deadline.
#[utoipa::path(
    tag = "deadlines",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Deadline id")),
    responses(
        (status = 200, description = "The deadline", body = DeadlineView),
        (status = 404, description = "No such deadline, or another department's"),
    ),
)]
#[get("/deadlines/{id:\\d+}")]
pub async fn get_deadline(
    state: web::Data<AppState>,
    principal: Permit<op::GetDeadline>,
    id: web::Path<DeadlineId>,
) -> Result<web::Json<DeadlineView>, ApiError> {
    let id = id.into_inner();
    let reference = state.reference.clone();
    let view = state
        .db
        .run(move |conn| crate::service::deadlines::get_deadline(conn, &reference, &principal, id))
        .await?;
    Ok(web::Json(view))
}

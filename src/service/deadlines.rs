//! The clocks (SPEC 4): starting one, and reading them with their due-soon and overdue flags.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db::assignments::{self as assignment_db, DeadlineFilter, DeadlineRow, NewDeadline};
use crate::db::{DbConnection, PageRequest, now};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::dispatch::{DeadlineKind, DeadlineState, clock_flags};
use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId};
use crate::error::ApiError;
use crate::service::reference::ReferenceData;

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_deadline(
    kind: DeadlineKind,
    case_id: CaseId,
    assignment_id: Option<AssignmentId>,
    department_id: Option<DepartmentId>,
    starts_at: chrono::NaiveDateTime,
    due_at: DateTime<Utc>,
    policy_version: Option<i32>,
    period: String,
    beyond_calendar: bool,
) -> NewDeadline {
    let at = now();
    NewDeadline {
        kind,
        case_id,
        assignment_id,
        department_id,
        starts_at,
        due_at: due_at.naive_utc(),
        policy_version,
        period,
        beyond_calendar,
        state: DeadlineState::Running,
        met_at: None,
        created_at: at,
        updated_at: at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineView {
    pub id: DeadlineId,
    pub kind: DeadlineKind,
    pub case_id: CaseId,
    pub assignment_id: Option<AssignmentId>,
    pub department_id: Option<DepartmentId>,
    pub starts_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// The SLA policy version that produced it; absent when the centre set it (交办).
    pub policy_version: Option<i32>,
    /// What was counted: `3 working_days`, `24 hours`, `set_by_centre`, `sent_back`.
    #[schema(example = "5 working_days")]
    pub period: String,
    /// The due time lies in a year the calendar does not cover: only weekends were skipped.
    pub beyond_calendar: bool,
    pub state: DeadlineState,
    pub met_at: Option<DateTime<Utc>>,
    /// Running with less than 20 % of its period, or under 4 working hours, left (now).
    pub due_soon: bool,
    /// Running and past due (now).
    pub overdue: bool,
    /// When the deadline sweep marked it due soon.
    pub due_soon_marked_at: Option<DateTime<Utc>>,
    /// When the deadline sweep marked it missed (and urged the department). The clock keeps
    /// running until the work is done, which then makes it `missed`.
    pub missed_marked_at: Option<DateTime<Utc>>,
}

fn deadline_view(row: DeadlineRow, calendar: &WorkingCalendar) -> Result<DeadlineView, ApiError> {
    let state = row.state;
    let (starts_at, due_at) = (row.starts_at.and_utc(), row.due_at.and_utc());
    let (due_soon, overdue) = clock_flags(
        calendar,
        starts_at,
        due_at,
        state == DeadlineState::Running,
        Utc::now(),
    );
    Ok(DeadlineView {
        id: row.id,
        kind: row.kind,
        case_id: row.case_id,
        assignment_id: row.assignment_id,
        department_id: row.department_id,
        starts_at,
        due_at,
        policy_version: row.policy_version,
        period: row.period,
        beyond_calendar: row.beyond_calendar,
        state,
        met_at: row.met_at.map(|t| t.and_utc()),
        due_soon,
        overdue,
        due_soon_marked_at: row.due_soon_marked_at.map(|t| t.and_utc()),
        missed_marked_at: row.missed_marked_at.map(|t| t.and_utc()),
    })
}

pub fn get_deadline(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: DeadlineId,
) -> Result<DeadlineView, ApiError> {
    let row = assignment_db::find_deadline(conn, id)?
        .filter(|d| principal.sees_department_row(d.department_id))
        .ok_or_else(|| ApiError::not_found("no such deadline"))?;
    deadline_view(row, &reference.calendar())
}

pub fn list_deadlines(
    conn: &mut DbConnection,
    principal: &Principal,
    mut filter: DeadlineFilter,
    page: PageRequest,
) -> Result<Vec<DeadlineRow>, ApiError> {
    let Some(department_id) = principal.department_filter(filter.department_id)? else {
        return Ok(Vec::new());
    };
    filter.department_id = department_id;
    Ok(assignment_db::list_deadlines(conn, &filter, page, now())?)
}

pub fn deadline_views(
    rows: Vec<DeadlineRow>,
    reference: &ReferenceData,
) -> Result<Vec<DeadlineView>, ApiError> {
    let calendar = reference.calendar();
    rows.into_iter()
        .map(|row| deadline_view(row, &calendar))
        .collect()
}

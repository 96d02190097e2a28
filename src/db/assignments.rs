//! Assignments (派单) and deadlines (时限): rows, lookups, version-checked updates and lists.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::case::Channel;
use crate::domain::dispatch::{
    AssignmentRole, AssignmentState, DeadlineKind, DeadlineState, DispatchMode, ReturnRuling,
};
use crate::domain::ids::{AssignmentId, CaseId, CategoryId, DeadlineId, DepartmentId, UserId};
use crate::domain::sla::{CaseKind, Urgency};

use super::schema::{assignments, cases, deadlines};
use super::{DbConnection, MultiBackend, PageRequest};

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = assignments)]
pub struct AssignmentRow {
    pub id: AssignmentId,
    pub case_id: CaseId,
    pub department_id: DepartmentId,
    pub round: i32,
    pub role: AssignmentRole,
    pub mode: DispatchMode,
    pub assigned: bool,
    pub instructions: Option<String>,
    pub state: AssignmentState,
    pub dispatched_by: Option<UserId>,
    pub dispatched_at: NaiveDateTime,
    pub sign_due_at: NaiveDateTime,
    pub reply_due_at: NaiveDateTime,
    pub handler_id: Option<UserId>,
    pub signed_by: Option<UserId>,
    pub signed_at: Option<NaiveDateTime>,
    pub returned_by: Option<UserId>,
    pub returned_at: Option<NaiveDateTime>,
    pub return_reason: Option<String>,
    pub ruling: Option<ReturnRuling>,
    pub ruling_note: Option<String>,
    pub ruled_at: Option<NaiveDateTime>,
    /// JSON of the department's reply.
    pub reply: Option<String>,
    pub replied_by: Option<UserId>,
    pub replied_at: Option<NaiveDateTime>,
    pub review_decision: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub version: i32,
    pub updated_at: NaiveDateTime,
}

/// A new assignment: every column but the id. Dispatch inserts it waiting to be signed for; the
/// seed writes it as far as the department's work has gone. `T` is the timestamp type, as in
/// [`super::cases::NewCase`].
#[derive(Debug, Insertable)]
#[diesel(table_name = assignments, treat_none_as_default_value = false)]
pub struct NewAssignment<T = NaiveDateTime> {
    pub case_id: CaseId,
    pub department_id: DepartmentId,
    pub round: i32,
    pub role: AssignmentRole,
    pub mode: DispatchMode,
    pub assigned: bool,
    pub instructions: Option<String>,
    pub state: AssignmentState,
    pub dispatched_by: Option<UserId>,
    pub dispatched_at: T,
    pub sign_due_at: T,
    pub reply_due_at: T,
    pub handler_id: Option<UserId>,
    pub signed_by: Option<UserId>,
    pub signed_at: Option<T>,
    pub returned_by: Option<UserId>,
    pub returned_at: Option<T>,
    pub return_reason: Option<String>,
    pub ruling: Option<ReturnRuling>,
    pub ruling_note: Option<String>,
    pub ruled_at: Option<T>,
    /// JSON of the department's reply.
    pub reply: Option<String>,
    pub replied_by: Option<UserId>,
    pub replied_at: Option<T>,
    pub review_decision: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_at: Option<T>,
    pub version: i32,
    pub updated_at: T,
}

/// A change to an assignment; `version` is bumped by [`update_assignment`].
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = assignments)]
pub struct AssignmentChanges {
    pub state: Option<AssignmentState>,
    pub handler_id: Option<Option<UserId>>,
    pub signed_by: Option<UserId>,
    pub signed_at: Option<NaiveDateTime>,
    pub returned_by: Option<UserId>,
    pub returned_at: Option<NaiveDateTime>,
    pub return_reason: Option<String>,
    pub ruling: Option<ReturnRuling>,
    pub ruling_note: Option<String>,
    pub ruled_at: Option<NaiveDateTime>,
    pub reply: Option<String>,
    pub replied_by: Option<UserId>,
    pub replied_at: Option<NaiveDateTime>,
    pub review_decision: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub updated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = deadlines)]
pub struct DeadlineRow {
    pub id: DeadlineId,
    pub kind: DeadlineKind,
    pub case_id: CaseId,
    pub assignment_id: Option<AssignmentId>,
    pub department_id: Option<DepartmentId>,
    pub starts_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub policy_version: Option<i32>,
    pub period: String,
    pub beyond_calendar: bool,
    pub state: DeadlineState,
    pub met_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub due_soon_at: Option<NaiveDateTime>,
    pub due_soon_marked_at: Option<NaiveDateTime>,
    pub missed_marked_at: Option<NaiveDateTime>,
}

/// A new clock: every column the product writes when starting or stopping one (the sweep's marks
/// come later). `T` is the timestamp type, as in [`super::cases::NewCase`].
#[derive(Debug, Insertable)]
#[diesel(table_name = deadlines, treat_none_as_default_value = false)]
pub struct NewDeadline<T = NaiveDateTime> {
    pub kind: DeadlineKind,
    pub case_id: CaseId,
    pub assignment_id: Option<AssignmentId>,
    pub department_id: Option<DepartmentId>,
    pub starts_at: T,
    pub due_at: T,
    pub policy_version: Option<i32>,
    pub period: String,
    pub beyond_calendar: bool,
    pub state: DeadlineState,
    pub met_at: Option<T>,
    pub created_at: T,
    pub updated_at: T,
}

/// Serialises actions on one case across server processes: PostgreSQL locks the case row until
/// the transaction ends. SQLite needs nothing, its write transaction already excludes all others.
/// `FOR NO KEY UPDATE` (no action changes a case's id): it excludes the other actions on the case
/// and the sweep's batches, but not the key-share locks of rows inserted elsewhere that refer to
/// the case, such as a read-log batch, which would otherwise wait, and its readers with it, for
/// the action to commit.
pub fn lock_case(conn: &mut DbConnection, case_id: CaseId) -> QueryResult<()> {
    super::stats::held(case_id);
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query("SELECT id FROM cases WHERE id = $1 FOR NO KEY UPDATE")
            .bind::<diesel::sql_types::BigInt, _>(case_id)
            .execute(pg)?;
    }
    Ok(())
}

pub fn insert_assignment(
    conn: &mut DbConnection,
    row: NewAssignment,
) -> QueryResult<AssignmentRow> {
    diesel::insert_into(assignments::table)
        .values(row)
        .returning(assignments::all_columns)
        .get_result(conn)
}

pub fn find_assignment(
    conn: &mut DbConnection,
    id: AssignmentId,
) -> QueryResult<Option<AssignmentRow>> {
    assignments::table
        .find(id)
        .select(assignments::all_columns)
        .get_result(conn)
        .optional()
}

/// The assignments of one case, oldest round first.
pub fn case_assignments(
    conn: &mut DbConnection,
    case_id: CaseId,
) -> QueryResult<Vec<AssignmentRow>> {
    assignments::table
        .filter(assignments::case_id.eq(case_id))
        .order((assignments::round.asc(), assignments::id.asc()))
        .select(assignments::all_columns)
        .load(conn)
}

/// Whether the department was ever given a share of the case: what lets its users see it.
pub fn department_has_case(
    conn: &mut DbConnection,
    department_id: DepartmentId,
    case_id: CaseId,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        assignments::table
            .filter(assignments::case_id.eq(case_id))
            .filter(assignments::department_id.eq(department_id)),
    ))
    .get_result(conn)
}

/// Applies `changes` only if the assignment is still at `expected_version`.
pub fn update_assignment(
    conn: &mut DbConnection,
    id: AssignmentId,
    expected_version: i32,
    changes: AssignmentChanges,
) -> QueryResult<Option<AssignmentRow>> {
    diesel::update(
        assignments::table
            .find(id)
            .filter(assignments::version.eq(expected_version)),
    )
    .set((changes, assignments::version.eq(expected_version + 1)))
    .returning(assignments::all_columns)
    .get_result(conn)
    .optional()
}

/// Ends every still-open assignment of a case (redo, merge, close) and returns how many.
pub fn cancel_open_assignments(
    conn: &mut DbConnection,
    case_id: CaseId,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        assignments::table
            .filter(assignments::case_id.eq(case_id))
            .filter(assignments::state.eq_any([
                AssignmentState::PendingSign,
                AssignmentState::InProgress,
                AssignmentState::Returned,
                AssignmentState::Replied,
            ])),
    )
    .set((
        assignments::state.eq(AssignmentState::Cancelled),
        assignments::updated_at.eq(at),
        assignments::version.eq(assignments::version + 1),
    ))
    .execute(conn)
}

/// Marks the round's replied assignments completed when the centre approves them.
pub fn complete_round(
    conn: &mut DbConnection,
    case_id: CaseId,
    round: i32,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        assignments::table
            .filter(assignments::case_id.eq(case_id))
            .filter(assignments::round.eq(round))
            .filter(assignments::state.eq(AssignmentState::Replied)),
    )
    .set((
        assignments::state.eq(AssignmentState::Completed),
        assignments::review_decision.eq("approved"),
        assignments::reviewed_at.eq(at),
        assignments::updated_at.eq(at),
        assignments::version.eq(assignments::version + 1),
    ))
    .execute(conn)
}

/// Filters of the assignment list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct AssignmentFilter {
    pub states: Vec<AssignmentState>,
    pub department_id: Option<DepartmentId>,
    pub case_id: Option<CaseId>,
    pub handler_id: Option<UserId>,
    /// Open and past its sign or reply time.
    pub overdue: bool,
    pub dispatched_from: Option<NaiveDateTime>,
    pub dispatched_before: Option<NaiveDateTime>,
    pub kind: Option<CaseKind>,
    pub urgency: Option<Urgency>,
    pub channel: Option<Channel>,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
}

/// Newest first, keyset-paginated on the id.
pub fn list_assignments(
    conn: &mut DbConnection,
    filter: &AssignmentFilter,
    page: PageRequest,
    now: NaiveDateTime,
) -> QueryResult<Vec<AssignmentRow>> {
    let mut query = assignments::table
        .inner_join(cases::table)
        .select(assignments::all_columns)
        .into_boxed::<MultiBackend>();
    // One value is the common case: `=` keeps the statement cacheable (`IN` lists are not).
    match filter.states.as_slice() {
        [] => {}
        [one] => query = query.filter(assignments::state.eq(*one)),
        many => query = query.filter(assignments::state.eq_any(many.to_vec())),
    }
    if let Some(department) = filter.department_id {
        query = query.filter(assignments::department_id.eq(department));
    }
    if let Some(case_id) = filter.case_id {
        query = query.filter(assignments::case_id.eq(case_id));
    }
    if let Some(handler) = filter.handler_id {
        query = query.filter(assignments::handler_id.eq(handler));
    }
    if filter.overdue {
        query = query.filter(
            assignments::state
                .eq(AssignmentState::PendingSign)
                .and(assignments::sign_due_at.lt(now))
                .or(assignments::state
                    .eq_any([
                        AssignmentState::PendingSign,
                        AssignmentState::InProgress,
                        AssignmentState::Returned,
                    ])
                    .and(assignments::reply_due_at.lt(now))),
        );
    }
    if let Some(from) = filter.dispatched_from {
        query = query.filter(assignments::dispatched_at.ge(from));
    }
    if let Some(before) = filter.dispatched_before {
        query = query.filter(assignments::dispatched_at.lt(before));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(cases::kind.eq(*kind));
    }
    if let Some(urgency) = &filter.urgency {
        query = query.filter(cases::urgency.eq(*urgency));
    }
    if let Some(channel) = &filter.channel {
        query = query.filter(cases::channel.eq(*channel));
    }
    if let Some(category) = filter.category_id {
        query = query.filter(cases::category_id.eq(category));
    }
    if let Some(district) = filter.district_id {
        query = query.filter(cases::district_id.eq(district));
    }
    if let Some(before_id) = page.after {
        query = query.filter(assignments::id.lt(before_id));
    }
    query
        .order(assignments::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

pub fn insert_deadline(conn: &mut DbConnection, row: NewDeadline) -> QueryResult<DeadlineRow> {
    diesel::insert_into(deadlines::table)
        .values(row)
        .returning(deadlines::all_columns)
        .get_result(conn)
}

pub fn find_deadline(conn: &mut DbConnection, id: DeadlineId) -> QueryResult<Option<DeadlineRow>> {
    deadlines::table
        .find(id)
        .select(deadlines::all_columns)
        .get_result(conn)
        .optional()
}

/// The running clock of `kind` on an assignment, if any.
pub fn running_deadline(
    conn: &mut DbConnection,
    assignment_id: AssignmentId,
    kind: DeadlineKind,
) -> QueryResult<Option<DeadlineRow>> {
    deadlines::table
        .filter(deadlines::assignment_id.eq(assignment_id))
        .filter(deadlines::kind.eq(kind))
        .filter(deadlines::state.eq(DeadlineState::Running))
        .select(deadlines::all_columns)
        .get_result(conn)
        .optional()
}

/// Stops a clock: `met` or `missed` at `at`, or `cancelled`.
pub fn finish_deadline(
    conn: &mut DbConnection,
    id: DeadlineId,
    state: DeadlineState,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(
        deadlines::table
            .find(id)
            .filter(deadlines::state.eq(DeadlineState::Running)),
    )
    .set((
        deadlines::state.eq(state),
        deadlines::met_at.eq((state != DeadlineState::Cancelled).then_some(at)),
        deadlines::updated_at.eq(at),
    ))
    .execute(conn)?;
    Ok(())
}

/// Cancels the running clocks of an assignment, or of a whole case when `assignment_id` is None.
pub fn cancel_deadlines(
    conn: &mut DbConnection,
    case_id: CaseId,
    assignment_id: Option<AssignmentId>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    let mut query = diesel::update(deadlines::table)
        .filter(deadlines::case_id.eq(case_id))
        .filter(deadlines::state.eq(DeadlineState::Running))
        .into_boxed();
    if let Some(assignment) = assignment_id {
        query = query.filter(deadlines::assignment_id.eq(assignment));
    }
    query
        .set((
            deadlines::state.eq(DeadlineState::Cancelled),
            deadlines::updated_at.eq(at),
        ))
        .execute(conn)
}

/// Filters of the deadline list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct DeadlineFilter {
    pub states: Vec<DeadlineState>,
    pub kind: Option<DeadlineKind>,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    pub department_id: Option<DepartmentId>,
    pub due_before: Option<NaiveDateTime>,
    /// Running and past due.
    pub overdue: bool,
}

/// Soonest due first would not page stably; like every list, newest first by id.
pub fn list_deadlines(
    conn: &mut DbConnection,
    filter: &DeadlineFilter,
    page: PageRequest,
    now: NaiveDateTime,
) -> QueryResult<Vec<DeadlineRow>> {
    let mut query = deadlines::table
        .select(deadlines::all_columns)
        .into_boxed::<MultiBackend>();
    // One value is the common case: `=` keeps the statement cacheable (`IN` lists are not).
    match filter.states.as_slice() {
        [] => {}
        [one] => query = query.filter(deadlines::state.eq(*one)),
        many => query = query.filter(deadlines::state.eq_any(many.to_vec())),
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(deadlines::kind.eq(*kind));
    }
    if let Some(case_id) = filter.case_id {
        query = query.filter(deadlines::case_id.eq(case_id));
    }
    if let Some(assignment) = filter.assignment_id {
        query = query.filter(deadlines::assignment_id.eq(assignment));
    }
    if let Some(department) = filter.department_id {
        query = query.filter(deadlines::department_id.eq(department));
    }
    if let Some(before) = filter.due_before {
        query = query.filter(deadlines::due_at.lt(before));
    }
    if filter.overdue {
        // The literal lets SQLite use the partial index of running clocks.
        query = query
            .filter(diesel::dsl::sql::<diesel::sql_types::Bool>(
                "deadlines.state = 'running'",
            ))
            .filter(deadlines::due_at.lt(now));
    }
    if let Some(before_id) = page.after {
        query = query.filter(deadlines::id.lt(before_id));
    }
    query
        .order(deadlines::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

/// A case's clocks, oldest first.
pub fn case_deadlines(conn: &mut DbConnection, case_id: CaseId) -> QueryResult<Vec<DeadlineRow>> {
    deadlines::table
        .filter(deadlines::case_id.eq(case_id))
        .order(deadlines::id.asc())
        .select(deadlines::all_columns)
        .load(conn)
}

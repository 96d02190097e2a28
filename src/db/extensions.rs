//! Extension requests (延期): rows, counts, the decision as a state-checked update, and lists.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::dispatch::DeadlineState;
use crate::domain::extension::ExtensionState;
use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId, ExtensionId, UserId};

use super::schema::{assignments, deadlines, extensions};
use super::{DbConnection, MultiBackend, PageRequest};

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = extensions)]
pub struct ExtensionRow {
    pub id: ExtensionId,
    pub deadline_id: DeadlineId,
    pub assignment_id: AssignmentId,
    pub case_id: CaseId,
    pub department_id: DepartmentId,
    pub requested_by: UserId,
    pub requested_at: NaiveDateTime,
    pub reason: String,
    pub working_days: i32,
    pub due_before: NaiveDateTime,
    pub state: ExtensionState,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_note: Option<String>,
    pub new_due_at: Option<NaiveDateTime>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = extensions, treat_none_as_default_value = false)]
pub struct NewExtension {
    pub deadline_id: DeadlineId,
    pub assignment_id: AssignmentId,
    pub case_id: CaseId,
    pub department_id: DepartmentId,
    pub requested_by: UserId,
    pub requested_at: NaiveDateTime,
    pub reason: String,
    pub working_days: i32,
    pub due_before: NaiveDateTime,
    pub state: ExtensionState,
}

/// A supervisor's decision on a pending request.
#[derive(Debug)]
pub struct Decision {
    pub state: ExtensionState,
    pub decided_by: UserId,
    pub decided_at: NaiveDateTime,
    pub note: Option<String>,
    pub new_due_at: Option<NaiveDateTime>,
}

pub fn insert_extension(conn: &mut DbConnection, row: NewExtension) -> QueryResult<ExtensionRow> {
    diesel::insert_into(extensions::table)
        .values(row)
        .returning(extensions::all_columns)
        .get_result(conn)
}

pub fn find_extension(
    conn: &mut DbConnection,
    id: ExtensionId,
) -> QueryResult<Option<ExtensionRow>> {
    extensions::table
        .find(id)
        .select(extensions::all_columns)
        .get_result(conn)
        .optional()
}

/// How many requests of an assignment are in `state`.
pub fn count_for_assignment(
    conn: &mut DbConnection,
    assignment_id: AssignmentId,
    state: ExtensionState,
) -> QueryResult<i64> {
    extensions::table
        .filter(extensions::assignment_id.eq(assignment_id))
        .filter(extensions::state.eq(state))
        .count()
        .get_result(conn)
}

/// Records the decision if the request is still pending; `None` when another decision came first.
pub fn decide(
    conn: &mut DbConnection,
    id: ExtensionId,
    decision: Decision,
) -> QueryResult<Option<ExtensionRow>> {
    diesel::update(
        extensions::table
            .find(id)
            .filter(extensions::state.eq(ExtensionState::Pending)),
    )
    .set((
        extensions::state.eq(decision.state),
        extensions::decided_by.eq(decision.decided_by),
        extensions::decided_at.eq(decision.decided_at),
        extensions::decision_note.eq(decision.note),
        extensions::new_due_at.eq(decision.new_due_at),
    ))
    .returning(extensions::all_columns)
    .get_result(conn)
    .optional()
}

/// Moves a running reply deadline and its assignment's copy of it; `false` when the deadline is
/// no longer running.
pub fn move_reply_deadline(
    conn: &mut DbConnection,
    deadline_id: DeadlineId,
    assignment_id: AssignmentId,
    due_at: NaiveDateTime,
    beyond_calendar: bool,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    let moved = diesel::update(
        deadlines::table
            .find(deadline_id)
            .filter(deadlines::state.eq(DeadlineState::Running)),
    )
    .set((
        deadlines::due_at.eq(due_at),
        deadlines::beyond_calendar.eq(beyond_calendar),
        // A new period: the sweep works out anew when it is due soon, and may say so again.
        deadlines::due_soon_at.eq(None::<NaiveDateTime>),
        deadlines::due_soon_marked_at.eq(None::<NaiveDateTime>),
        deadlines::updated_at.eq(at),
    ))
    .execute(conn)?;
    if moved == 0 {
        return Ok(false);
    }
    diesel::update(assignments::table.find(assignment_id))
        .set((
            assignments::reply_due_at.eq(due_at),
            assignments::version.eq(assignments::version + 1),
            assignments::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Filters of the extension list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct ExtensionFilter {
    pub state: Option<ExtensionState>,
    pub department_id: Option<DepartmentId>,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
}

/// Newest first, like every list.
pub fn list_extensions(
    conn: &mut DbConnection,
    filter: &ExtensionFilter,
    page: PageRequest,
) -> QueryResult<Vec<ExtensionRow>> {
    let mut query = extensions::table
        .select(extensions::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(state) = &filter.state {
        query = query.filter(extensions::state.eq(*state));
    }
    if let Some(department) = filter.department_id {
        query = query.filter(extensions::department_id.eq(department));
    }
    if let Some(case_id) = filter.case_id {
        query = query.filter(extensions::case_id.eq(case_id));
    }
    if let Some(assignment) = filter.assignment_id {
        query = query.filter(extensions::assignment_id.eq(assignment));
    }
    if let Some(before_id) = page.after {
        query = query.filter(extensions::id.lt(before_id));
    }
    query
        .order(extensions::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

//! Follow-up calls (回访) and the centre's follow-up queue.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::schema::{cases, complainants, deadlines, follow_up_calls};
use super::{DbConnection, MultiBackend, PageRequest};
use crate::db::assignments::DeadlineRow;
use crate::db::cases::ComplainantRow;
use crate::domain::case::{CaseStatus, Channel};
use crate::domain::dispatch::{DeadlineKind, DeadlineState};
use crate::domain::follow_up::{CallEffect, CallOutcome, FollowUpChannel, Resolved, Satisfaction};
use crate::domain::ids::{CaseId, CategoryId, DeadlineId, DepartmentId, FollowUpCallId, UserId};
use crate::domain::sla::{CaseKind, Urgency};

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = follow_up_calls)]
pub struct FollowUpCallRow {
    pub id: FollowUpCallId,
    pub case_id: CaseId,
    pub deadline_id: DeadlineId,
    pub evaluated_case_id: CaseId,
    pub round: i32,
    pub department_id: Option<DepartmentId>,
    pub channel: FollowUpChannel,
    pub outcome: CallOutcome,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
    pub citizen_words: Option<String>,
    pub effect: CallEffect,
    pub called_by: UserId,
    pub called_at: NaiveDateTime,
    pub recorded_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = follow_up_calls, treat_none_as_default_value = false)]
pub struct NewFollowUpCall<T = NaiveDateTime> {
    pub case_id: CaseId,
    pub deadline_id: DeadlineId,
    pub evaluated_case_id: CaseId,
    pub round: i32,
    pub department_id: Option<DepartmentId>,
    pub channel: FollowUpChannel,
    pub outcome: CallOutcome,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
    pub citizen_words: Option<String>,
    pub effect: CallEffect,
    pub called_by: UserId,
    pub called_at: T,
    pub recorded_at: T,
}

pub fn insert_call(conn: &mut DbConnection, row: &NewFollowUpCall) -> QueryResult<FollowUpCallRow> {
    diesel::insert_into(follow_up_calls::table)
        .values(row)
        .returning(follow_up_calls::all_columns)
        .get_result(conn)
}

/// A case's attempts, oldest first.
pub fn case_calls(conn: &mut DbConnection, case_id: CaseId) -> QueryResult<Vec<FollowUpCallRow>> {
    follow_up_calls::table
        .filter(follow_up_calls::case_id.eq(case_id))
        .order(follow_up_calls::id.asc())
        .select(follow_up_calls::all_columns)
        .load(conn)
}

/// When the attempts on one follow-up clock failed to reach the citizen.
pub fn unreached_call_times(
    conn: &mut DbConnection,
    deadline_id: DeadlineId,
) -> QueryResult<Vec<NaiveDateTime>> {
    follow_up_calls::table
        .filter(follow_up_calls::deadline_id.eq(deadline_id))
        .filter(follow_up_calls::outcome.eq_any([CallOutcome::NoAnswer, CallOutcome::WrongNumber]))
        .select(follow_up_calls::called_at)
        .load(conn)
}

/// The running follow-up clock of a case, if any.
pub fn running_follow_up_clock(
    conn: &mut DbConnection,
    case_id: CaseId,
) -> QueryResult<Option<DeadlineRow>> {
    deadlines::table
        .filter(deadlines::case_id.eq(case_id))
        .filter(deadlines::kind.eq(DeadlineKind::FollowUp))
        .filter(deadlines::state.eq(DeadlineState::Running))
        .order(deadlines::id.desc())
        .select(deadlines::all_columns)
        .first(conn)
        .optional()
}

/// The open cases merged into `case_id` (并单): closed as merged, pointing to it.
pub fn merged_into(conn: &mut DbConnection, case_id: CaseId) -> QueryResult<Vec<CaseId>> {
    cases::table
        .filter(cases::merged_into.eq(case_id))
        .order(cases::id.asc())
        .select(cases::id)
        .load(conn)
}

/// Filters of the list of attempts across cases; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct CallFilter {
    pub outcome: Option<CallOutcome>,
    pub called_by: Option<UserId>,
    /// Called at or after (UTC).
    pub from: Option<NaiveDateTime>,
    /// Called before (UTC).
    pub until: Option<NaiveDateTime>,
    /// The lead department of the evaluated round.
    pub department_id: Option<DepartmentId>,
}

/// Attempts across cases, newest first.
pub fn list_calls(
    conn: &mut DbConnection,
    filter: &CallFilter,
    page: PageRequest,
) -> QueryResult<Vec<FollowUpCallRow>> {
    let mut query = follow_up_calls::table
        .select(follow_up_calls::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(outcome) = filter.outcome {
        query = query.filter(follow_up_calls::outcome.eq(outcome));
    }
    if let Some(user) = filter.called_by {
        query = query.filter(follow_up_calls::called_by.eq(user));
    }
    if let Some(from) = filter.from {
        query = query.filter(follow_up_calls::called_at.ge(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(follow_up_calls::called_at.lt(until));
    }
    if let Some(department) = filter.department_id {
        query = query.filter(follow_up_calls::department_id.eq(department));
    }
    if let Some(before_id) = page.after {
        query = query.filter(follow_up_calls::id.lt(FollowUpCallId(before_id)));
    }
    query
        .order(follow_up_calls::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

/// One entry of the follow-up queue: the running clock, what the queue shows of its case, and
/// the complainant. Only the columns shown are read (every timestamp read from SQLite is parsed).
#[derive(Debug, Queryable)]
pub struct QueueRow {
    pub deadline_id: DeadlineId,
    pub starts_at: NaiveDateTime,
    pub due_at: NaiveDateTime,
    pub case_id: CaseId,
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    pub title: String,
    pub status: CaseStatus,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub citizen_id: Option<UserId>,
    pub merged_into: Option<CaseId>,
    pub complainant: Option<ComplainantRow>,
}

/// Running follow-up clocks, oldest first (by clock id, which is the order they started), with
/// their cases and complainants.
pub fn queue(conn: &mut DbConnection, page: PageRequest) -> QueryResult<Vec<QueueRow>> {
    let mut query = deadlines::table
        .inner_join(cases::table.on(cases::id.eq(deadlines::case_id)))
        .left_join(complainants::table.on(complainants::case_id.eq(deadlines::case_id)))
        // The literal predicate lets SQLite use the queue's partial index.
        .filter(diesel::dsl::sql::<Bool>(
            "deadlines.kind = 'follow_up' AND deadlines.state = 'running'",
        ))
        .select((
            deadlines::id,
            deadlines::starts_at,
            deadlines::due_at,
            cases::id,
            cases::case_no,
            cases::channel,
            cases::kind,
            cases::urgency,
            cases::category_id,
            cases::district_id,
            cases::title,
            cases::status,
            cases::created_at,
            cases::updated_at,
            cases::citizen_id,
            cases::merged_into,
            complainants::all_columns.nullable(),
        ))
        .into_boxed::<MultiBackend>();
    if let Some(after) = page.after {
        query = query.filter(deadlines::id.gt(DeadlineId(after)));
    }
    query
        .order(deadlines::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}

/// How many attempts each clock has had.
pub fn attempts(
    conn: &mut DbConnection,
    clocks: &[DeadlineId],
) -> QueryResult<HashMap<DeadlineId, i64>> {
    if clocks.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(follow_up_calls::table
        .filter(follow_up_calls::deadline_id.eq_any(clocks))
        .group_by(follow_up_calls::deadline_id)
        .select((follow_up_calls::deadline_id, diesel::dsl::count_star()))
        .load::<(DeadlineId, i64)>(conn)?
        .into_iter()
        .collect())
}

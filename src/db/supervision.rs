//! Supervision records (督办) and the deadline sweep's queries. Every marking is an UPDATE that
//! only touches rows not yet marked and returns the ones it did mark, so sweeps running at once
//! (several servers on PostgreSQL) each act on a row at most once between them.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId, SupervisionId, UserId};
use crate::service::supervision::{SupervisionKind, SupervisionMethod};

use super::assignments::DeadlineRow;
use super::cases::NewCaseEvent;
use super::schema::{case_events, cases, deadlines, supervisions};
use super::{DbConnection, MultiBackend, PageRequest};

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = supervisions)]
pub struct SupervisionRow {
    pub id: SupervisionId,
    pub kind: SupervisionKind,
    pub method: SupervisionMethod,
    pub case_id: CaseId,
    pub assignment_id: AssignmentId,
    pub department_id: DepartmentId,
    pub deadline_id: Option<DeadlineId>,
    pub note: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
    pub response_deadline_id: Option<DeadlineId>,
    pub explanation: Option<String>,
    pub explained_by: Option<UserId>,
    pub explained_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = supervisions, treat_none_as_default_value = false)]
pub struct NewSupervision {
    pub kind: SupervisionKind,
    pub method: SupervisionMethod,
    pub case_id: CaseId,
    pub assignment_id: AssignmentId,
    pub department_id: DepartmentId,
    pub deadline_id: Option<DeadlineId>,
    pub note: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

pub fn insert_supervision(
    conn: &mut DbConnection,
    row: NewSupervision,
) -> QueryResult<SupervisionRow> {
    diesel::insert_into(supervisions::table)
        .values(row)
        .returning(supervisions::all_columns)
        .get_result(conn)
}

pub fn find_supervision(
    conn: &mut DbConnection,
    id: SupervisionId,
) -> QueryResult<Option<SupervisionRow>> {
    supervisions::table
        .find(id)
        .select(supervisions::all_columns)
        .get_result(conn)
        .optional()
}

/// Links a written supervision to the clock of the explanation it asks for.
pub fn set_response_deadline(
    conn: &mut DbConnection,
    id: SupervisionId,
    deadline_id: DeadlineId,
) -> QueryResult<SupervisionRow> {
    diesel::update(supervisions::table.find(id))
        .set(supervisions::response_deadline_id.eq(deadline_id))
        .returning(supervisions::all_columns)
        .get_result(conn)
}

/// Records the department's explanation unless one is there already; `None` then.
pub fn explain(
    conn: &mut DbConnection,
    id: SupervisionId,
    text: &str,
    by: UserId,
    at: NaiveDateTime,
) -> QueryResult<Option<SupervisionRow>> {
    diesel::update(
        supervisions::table
            .find(id)
            .filter(supervisions::explanation.is_null()),
    )
    .set((
        supervisions::explanation.eq(text),
        supervisions::explained_by.eq(by),
        supervisions::explained_at.eq(at),
    ))
    .returning(supervisions::all_columns)
    .get_result(conn)
    .optional()
}

/// Filters of the supervision list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct SupervisionFilter {
    pub kind: Option<SupervisionKind>,
    pub method: Option<SupervisionMethod>,
    pub department_id: Option<DepartmentId>,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    /// Written supervision still without the department's explanation.
    pub awaiting_explanation: bool,
}

/// Newest first, like every list.
pub fn list_supervisions(
    conn: &mut DbConnection,
    filter: &SupervisionFilter,
    page: PageRequest,
) -> QueryResult<Vec<SupervisionRow>> {
    let mut query = supervisions::table
        .select(supervisions::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(kind) = &filter.kind {
        query = query.filter(supervisions::kind.eq(*kind));
    }
    if let Some(method) = &filter.method {
        query = query.filter(supervisions::method.eq(*method));
    }
    if let Some(department) = filter.department_id {
        query = query.filter(supervisions::department_id.eq(department));
    }
    if let Some(case_id) = filter.case_id {
        query = query.filter(supervisions::case_id.eq(case_id));
    }
    if let Some(assignment) = filter.assignment_id {
        query = query.filter(supervisions::assignment_id.eq(assignment));
    }
    if filter.awaiting_explanation {
        query = query
            .filter(supervisions::method.eq(SupervisionMethod::Written))
            .filter(supervisions::explanation.is_null());
    }
    if let Some(before_id) = page.after {
        query = query.filter(supervisions::id.lt(before_id));
    }
    query
        .order(supervisions::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

// ---------------------------------------------------------------------------------------------
// The sweep

/// `state = 'running'` as a literal, not a bound value: only then can SQLite use the partial
/// indexes of running clocks (a plan may not depend on a bound value).
fn running() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>("deadlines.state = 'running'")
}

/// Running clocks past due that no sweep has marked yet, in (due, id) order, from just after
/// `after` (the last clock of the batch before): a sweep's workers each walk them all, so the walk
/// goes on from where it was rather than from the first clock a slower worker left unmarked.
pub fn past_due_unmarked(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    after: Option<(NaiveDateTime, DeadlineId)>,
    limit: i64,
) -> QueryResult<Vec<DeadlineRow>> {
    let mut query = deadlines::table
        .into_boxed::<MultiBackend>()
        .filter(running())
        .filter(deadlines::missed_marked_at.is_null())
        .filter(deadlines::due_at.lt(now));
    if let Some((due_at, id)) = after {
        // `due_at >= ` as well: the bound the index walk starts from.
        query = query
            .filter(deadlines::due_at.ge(due_at))
            .filter(deadlines::due_at.gt(due_at).or(deadlines::id.gt(id)));
    }
    query
        // In the partial index's own order: with `due_at` alone PostgreSQL does not see that
        // the index (missed_marked_at, due_at) gives it (its leading column is only IS NULL),
        // and read every running clock to sort them, 115 ms a batch at 1 M cases. `id` breaks
        // ties: SQLite's index carries it, PostgreSQL sorts each run of one due instant.
        .order((
            deadlines::missed_marked_at.asc(),
            deadlines::due_at.asc(),
            deadlines::id.asc(),
        ))
        .limit(limit)
        .select(deadlines::all_columns)
        .load(conn)
}

/// Marks the clocks missed that are still running and unmarked; returns those it marked.
pub fn mark_missed(
    conn: &mut DbConnection,
    ids: &[DeadlineId],
    at: NaiveDateTime,
) -> QueryResult<Vec<DeadlineId>> {
    diesel::update(
        deadlines::table
            .filter(deadlines::id.eq_any(ids))
            .filter(running())
            .filter(deadlines::missed_marked_at.is_null())
            // Still past due: an extension granted since the clock was read moved it on.
            .filter(deadlines::due_at.lt(at)),
    )
    .set(deadlines::missed_marked_at.eq(at))
    .returning(deadlines::id)
    .get_results(conn)
}

/// Running clocks, not missed, whose due-soon instant is not worked out yet.
pub fn unplanned(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<DeadlineRow>> {
    deadlines::table
        .filter(running())
        .filter(deadlines::due_soon_marked_at.is_null())
        .filter(deadlines::missed_marked_at.is_null())
        .filter(deadlines::due_soon_at.is_null())
        // The partial index's order, so that each batch starts where the unplanned clocks are
        // (a scan of the table passed over every clock planned by the batches before).
        .order((
            deadlines::due_soon_marked_at.asc(),
            deadlines::missed_marked_at.asc(),
            deadlines::due_soon_at.asc(),
        ))
        .limit(limit)
        .select(deadlines::all_columns)
        .load(conn)
}

/// Stores when clocks become due soon (the same answer whichever sweep works it out); on
/// PostgreSQL in one statement (a backlog plans thousands at once, one round trip each was a
/// tenth of the sweep).
pub fn plan_due_soon(
    conn: &mut DbConnection,
    plans: &[(DeadlineId, NaiveDateTime)],
) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        use diesel::sql_types::{Array, BigInt, Timestamp};
        let ids: Vec<i64> = plans.iter().map(|(id, _)| id.get()).collect();
        let times: Vec<NaiveDateTime> = plans.iter().map(|(_, at)| *at).collect();
        diesel::sql_query(
            "UPDATE deadlines d SET due_soon_at = p.at FROM UNNEST($1, $2) AS p(id, at) \
             WHERE d.id = p.id AND d.due_soon_at IS NULL",
        )
        .bind::<Array<BigInt>, _>(&ids)
        .bind::<Array<Timestamp>, _>(&times)
        .execute(pg)?;
        return Ok(());
    }
    for (id, due_soon_at) in plans {
        diesel::update(
            deadlines::table
                .find(id)
                .filter(deadlines::due_soon_at.is_null()),
        )
        .set(deadlines::due_soon_at.eq(due_soon_at))
        .execute(conn)?;
    }
    Ok(())
}

/// Running clocks due soon by now, not past due nor marked missed, not yet marked.
pub fn due_soon_unmarked(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<DeadlineRow>> {
    deadlines::table
        .filter(running())
        .filter(deadlines::due_soon_marked_at.is_null())
        .filter(deadlines::missed_marked_at.is_null())
        .filter(deadlines::due_soon_at.le(now))
        .filter(deadlines::due_at.ge(now))
        .order(deadlines::due_soon_at.asc())
        .limit(limit)
        .select(deadlines::all_columns)
        .load(conn)
}

/// Marks the clocks due soon that are not marked yet; returns those it marked.
pub fn mark_due_soon(
    conn: &mut DbConnection,
    ids: &[DeadlineId],
    at: NaiveDateTime,
) -> QueryResult<Vec<DeadlineId>> {
    diesel::update(
        deadlines::table
            .filter(deadlines::id.eq_any(ids))
            .filter(running())
            .filter(deadlines::due_soon_marked_at.is_null()),
    )
    .set(deadlines::due_soon_marked_at.eq(at))
    .returning(deadlines::id)
    .get_results(conn)
}

/// Locks those of `case_ids` that no other transaction is changing, for the rest of this one,
/// and returns their statuses (for the timeline events of a sweep's batch); the others are left
/// out. On PostgreSQL, `FOR NO KEY UPDATE SKIP LOCKED`: it waits for no one (a request holding
/// its case, another server's sweep holding a batch), conflicts with both, and not with the
/// key-share locks of rows inserted for the case elsewhere. SQLite's one writer has every case
/// to itself already.
pub fn lock_idle_cases(
    conn: &mut DbConnection,
    case_ids: &[CaseId],
) -> QueryResult<std::collections::HashMap<CaseId, String>> {
    let query = cases::table
        .filter(cases::id.eq_any(case_ids))
        .order(cases::id)
        .select((cases::id, cases::status));
    let rows: Vec<(CaseId, String)> = match conn {
        DbConnection::Postgres(pg) => query.for_no_key_update().skip_locked().load(pg)?,
        DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    for (case, _) in &rows {
        super::stats::held(*case);
    }
    Ok(rows.into_iter().collect())
}

/// Many system urges in few statements.
pub fn insert_supervisions(conn: &mut DbConnection, rows: &[NewSupervision]) -> QueryResult<()> {
    super::insert_many!(conn, supervisions::table, rows);
    Ok(())
}

/// Many timeline events in few statements.
pub fn insert_events(conn: &mut DbConnection, rows: &[NewCaseEvent]) -> QueryResult<()> {
    for row in rows {
        super::stats::touch(row.case_id);
    }
    super::insert_many!(conn, case_events::table, rows);
    super::webhooks::enqueue_timeline(conn, rows)
}

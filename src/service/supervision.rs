//! Supervision (督办, SPEC 2.6) and the deadline sweep (SPEC 4.4). The centre urges or
//! supervises a department on an open assignment, by phone, in writing or on site; written
//! supervision asks for the department's explanation within its own deadline. The sweep marks
//! the clocks that became due soon or were missed, and urges the department of every missed
//! clock once, by itself.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::assignments::{self as assignment_db, DeadlineRow};
use crate::db::cases::NewCaseEvent;
use crate::db::supervision::{
    self as supervision_db, NewSupervision, SupervisionFilter, SupervisionRow,
};
use crate::db::{DbConnection, PageRequest, now, write_transaction};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::dispatch::{DeadlineKind, DeadlineState, due_soon_from};
use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId, SupervisionId, UserId};
use crate::domain::named_enum;

use crate::error::{ApiError, ErrorCode, FieldErrorCode};
use crate::service::assignments::visible_assignment;
use crate::service::cases::event_keeping_status;
use crate::service::deadlines::new_deadline;
use crate::service::reference::ReferenceData;
use crate::validation;

named_enum! {
    /// 催办 (urge) or 督办 (supervise).
    pub enum SupervisionKind {
        Urge,
        Supervise,
    }
}

named_enum! {
    /// How the centre pressed the department; `system` is the sweep's own urge.
    pub enum SupervisionMethod {
        System,
        Phone,
        Written,
        OnSite,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SupervisionView {
    pub id: SupervisionId,
    pub kind: SupervisionKind,
    pub method: SupervisionMethod,
    pub case_id: CaseId,
    pub assignment_id: AssignmentId,
    pub department_id: DepartmentId,
    /// The missed clock a system urge is about.
    pub deadline_id: Option<DeadlineId>,
    pub note: String,
    /// Absent for the sweep's own urges.
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// Written supervision: the clock of the department's explanation.
    pub response_deadline_id: Option<DeadlineId>,
    pub explanation: Option<String>,
    pub explained_by: Option<UserId>,
    pub explained_at: Option<DateTime<Utc>>,
}

fn view(row: SupervisionRow) -> Result<SupervisionView, ApiError> {
    Ok(SupervisionView {
        id: row.id,
        kind: row.kind,
        method: row.method,
        case_id: row.case_id,
        assignment_id: row.assignment_id,
        department_id: row.department_id,
        deadline_id: row.deadline_id,
        note: row.note,
        created_by: row.created_by,
        created_at: row.created_at.and_utc(),
        response_deadline_id: row.response_deadline_id,
        explanation: row.explanation,
        explained_by: row.explained_by,
        explained_at: row.explained_at.map(|t| t.and_utc()),
    })
}

/// What the centre records when it presses a department.
pub struct NewPressure<'a> {
    pub assignment_id: AssignmentId,
    pub kind: SupervisionKind,
    pub method: SupervisionMethod,
    pub note: &'a str,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisionRequest {
    /// The open assignment of the department pressed.
    pub assignment_id: AssignmentId,
    pub kind: SupervisionKind,
    /// `phone`, `written` (the department owes a written explanation) or `on_site`.
    pub method: SupervisionMethod,
    #[schema(
        example = "请于今日内联系诉求人并反馈办理进展。",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub note: String,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplanationRequest {
    /// The department's written explanation (书面说明).
    #[schema(
        example = "因涉及多部门职责交叉，已于本周召开协调会，明确由我局牵头处理。",
        min_length = 1,
        max_length = 5000
    )]
    #[validate(length(min = 1, max = 5000), custom(function = "validation::text"))]
    pub explanation: String,
}

/// A supervisor urges or supervises the department of an open assignment. In writing, the
/// department owes an explanation within the policy's working days, timed by its own clock.
pub fn create(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    pressure: NewPressure<'_>,
) -> Result<SupervisionView, ApiError> {
    if pressure.method == SupervisionMethod::System {
        return Err(ApiError::field(
            "method",
            FieldErrorCode::Invalid,
            "`system` is the sweep's own; use phone, written or on_site",
        ));
    }
    let note = pressure.note.trim().to_owned();
    let row = write_transaction(conn, |conn| -> Result<SupervisionRow, ApiError> {
        let assignment =
            visible_assignment(conn, principal, pressure.assignment_id).map_err(|_| {
                ApiError::field(
                    "assignment_id",
                    FieldErrorCode::NotFound,
                    "no such assignment",
                )
            })?;
        assignment_db::lock_case(conn, assignment.case_id)?;
        let state = assignment.state;
        if !state.is_open() {
            return Err(ApiError::conflict(
                ErrorCode::AssignmentNotOpen,
                "the department has no work left on this assignment",
            ));
        }
        let at = now();
        let mut row = supervision_db::insert_supervision(
            conn,
            NewSupervision {
                kind: pressure.kind,
                method: pressure.method,
                case_id: assignment.case_id,
                assignment_id: assignment.id,
                department_id: assignment.department_id,
                deadline_id: None,
                note: note.clone(),
                created_by: principal.user_id(),
                created_at: at,
            },
        )?;
        let mut details = serde_json::json!({
            "supervision_id": row.id,
            "assignment_id": assignment.id,
            "department_id": assignment.department_id,
            "kind": pressure.kind.as_str(),
            "method": pressure.method.as_str(),
            "note": note,
        });
        if pressure.method == SupervisionMethod::Written {
            let policy = reference.policy();
            let due = reference.calendar().add_working_days(
                at.and_utc(),
                policy.policy.supervision_response_working_days,
            );
            let clock = assignment_db::insert_deadline(
                conn,
                new_deadline(
                    DeadlineKind::SupervisionResponse,
                    assignment.case_id,
                    Some(assignment.id),
                    Some(assignment.department_id),
                    at,
                    due.at,
                    Some(policy.version),
                    format!(
                        "{} working_days",
                        policy.policy.supervision_response_working_days
                    ),
                    !due.calendar_complete,
                ),
            )?;
            row = supervision_db::set_response_deadline(conn, row.id, clock.id)?;
            details["response_deadline_id"] = clock.id.get().into();
            details["explanation_due_at"] = serde_json::json!(due.at);
        }
        let action = match pressure.kind {
            SupervisionKind::Urge => "urged",
            SupervisionKind::Supervise => "supervised",
        };
        event_keeping_status(conn, principal, assignment.case_id, action, details)?;
        Ok(row)
    })?;
    view(row)
}

/// The department admin answers a written supervision of their department, once; the clock of
/// the explanation is met or missed by it.
pub fn explain(
    conn: &mut DbConnection,
    principal: &Principal,
    id: SupervisionId,
    text: &str,
) -> Result<SupervisionView, ApiError> {
    let text = text.trim().to_owned();
    let user = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("a department admin without a user id"))?;
    let row = write_transaction(conn, |conn| -> Result<SupervisionRow, ApiError> {
        let record = visible(conn, principal, id)?;
        assignment_db::lock_case(conn, record.case_id)?;
        if record.method != SupervisionMethod::Written {
            return Err(ApiError::conflict(
                ErrorCode::NoExplanationRequired,
                "only written supervision asks for an explanation",
            ));
        }
        let at = now();
        let row = supervision_db::explain(conn, id, &text, user, at)?.ok_or_else(|| {
            ApiError::conflict(
                ErrorCode::AlreadyExplained,
                "the explanation was given already",
            )
        })?;
        if let Some(clock) = record
            .response_deadline_id
            .map(|d| assignment_db::find_deadline(conn, d))
            .transpose()?
            .flatten()
        {
            let state = if at <= clock.due_at {
                DeadlineState::Met
            } else {
                DeadlineState::Missed
            };
            assignment_db::finish_deadline(conn, clock.id, state, at)?;
        }
        event_keeping_status(
            conn,
            principal,
            record.case_id,
            "supervision_explained",
            serde_json::json!({
                "supervision_id": id,
                "assignment_id": record.assignment_id,
                "department_id": record.department_id,
                "explanation": text,
            }),
        )?;
        Ok(row)
    })?;
    view(row)
}

fn visible(
    conn: &mut DbConnection,
    principal: &Principal,
    id: SupervisionId,
) -> Result<SupervisionRow, ApiError> {
    supervision_db::find_supervision(conn, id)?
        .filter(|row| principal.sees_department_row(Some(row.department_id)))
        .ok_or_else(|| ApiError::not_found("no such supervision record"))
}

pub fn get(
    conn: &mut DbConnection,
    principal: &Principal,
    id: SupervisionId,
) -> Result<SupervisionView, ApiError> {
    view(visible(conn, principal, id)?)
}

/// Lists the records `principal` may see, newest first; department users only their own.
pub fn list(
    conn: &mut DbConnection,
    principal: &Principal,
    mut filter: SupervisionFilter,
    page: PageRequest,
) -> Result<Vec<SupervisionView>, ApiError> {
    let Some(department_id) = principal.department_filter(filter.department_id)? else {
        return Ok(Vec::new());
    };
    filter.department_id = department_id;
    supervision_db::list_supervisions(conn, &filter, page)?
        .into_iter()
        .map(view)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The sweep

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Clocks whose due-soon instant was worked out.
    pub planned: u64,
    /// Clocks marked due soon.
    pub due_soon: u64,
    /// Clocks marked missed.
    pub missed: u64,
    /// System urges created (one per missed clock of an assignment).
    pub urged: u64,
}

/// Rows handled per transaction: short write transactions, so requests are not held up.
const SWEEP_BATCH: i64 = 1000;

/// Marks due-soon and missed clocks and urges the departments of missed ones. Safe to run from
/// several processes at once: each clock is marked, and urged, by one of them only.
///
/// On PostgreSQL the missed clocks, most of a backlog's work, are shared among several
/// connections by case (`case_id % workers`): the work is the database's, and one connection
/// keeps one of its cores busy. Clocks of one case stay on one connection, so no two of them
/// refresh a case's statistics at once. SQLite has one writer; it sweeps on one connection.
pub fn sweep(
    db: &crate::db::Db,
    calendar: &WorkingCalendar,
    at: NaiveDateTime,
) -> Result<SweepReport, ApiError> {
    let workers = match db.backend() {
        "postgres" => sweep_workers(db.pool_size()),
        _ => 1,
    };
    // Missed first: a clock past due needs no due-soon warning any more.
    let shares: Vec<Result<(u64, u64), ApiError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|part| {
                let share = Share { part, of: workers };
                scope.spawn(move || db.with_connection(|conn| mark_missed(conn, at, share)))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(ApiError::internal("a sweep worker panicked")))
            })
            .collect()
    });
    let mut report = SweepReport::default();
    for share in shares {
        let (missed, urged) = share?;
        report.missed += missed;
        report.urged += urged;
    }
    let (planned, due_soon) = db.with_connection(|conn| mark_due_soon(conn, calendar, at))?;
    report.planned = planned;
    report.due_soon = due_soon;
    Ok(report)
}

/// Connections a PostgreSQL sweep shares its missed clocks among: one per core this process
/// sees (the database is taken to have as many), at most 4, and at most half the pool's
/// connections, leaving the rest to the requests (a worker waiting for a connection would fail
/// the sweep).
fn sweep_workers(pool_size: u32) -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get().min(4) as u32);
    cores.min(pool_size / 2).max(1)
}

/// One sweep worker's part of the clocks: those of the cases with `case_id % of == part`.
#[derive(Debug, Clone, Copy)]
struct Share {
    part: u32,
    of: u32,
}

impl Share {
    fn holds(self, row: &DeadlineRow) -> bool {
        row.case_id.get().rem_euclid(i64::from(self.of)) == i64::from(self.part)
    }
}

/// Marks the missed clocks of `share` and urges their departments; returns (missed, urged).
/// Every worker reads every past-due clock (a walk of an index, a tenth of the work) and keeps
/// its own: a filter on `case_id` in SQL made PostgreSQL sort every past-due clock per batch.
fn mark_missed(
    conn: &mut DbConnection,
    at: NaiveDateTime,
    share: Share,
) -> Result<(u64, u64), ApiError> {
    let (mut missed, mut urged) = (0, 0);
    let mut after = None;
    loop {
        let read =
            supervision_db::past_due_unmarked(conn, at, after, SWEEP_BATCH * i64::from(share.of))?;
        let Some(last) = read.last() else {
            break;
        };
        after = Some((last.due_at, last.id));
        let rows: Vec<DeadlineRow> = read.into_iter().filter(|row| share.holds(row)).collect();
        if rows.is_empty() {
            continue;
        }
        let (marked_now, urged_now) = write_transaction(conn, |conn| {
            let (rows, statuses) = idle_cases_only(conn, rows)?;
            let marked: HashSet<DeadlineId> = supervision_db::mark_missed(conn, &ids(&rows), at)?
                .into_iter()
                .collect();
            let urges: Vec<NewSupervision> = rows
                .iter()
                .filter(|row| marked.contains(&row.id))
                .filter_map(|row| system_urge(row, at))
                .collect();
            supervision_db::insert_supervisions(conn, &urges)?;
            let events = system_events(&rows, &marked, &statuses, "deadline_missed", at);
            supervision_db::insert_events(conn, &events)?;
            Ok::<_, ApiError>((marked.len() as u64, urges.len() as u64))
        })?;
        missed += marked_now;
        urged += urged_now;
    }
    Ok((missed, urged))
}

/// Works out when running clocks become due soon, then marks those that are; returns
/// (planned, marked).
fn mark_due_soon(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
    at: NaiveDateTime,
) -> Result<(u64, u64), ApiError> {
    let (mut planned, mut due_soon) = (0, 0);
    loop {
        let rows = supervision_db::unplanned(conn, SWEEP_BATCH)?;
        if rows.is_empty() {
            break;
        }
        let plans: Vec<(DeadlineId, NaiveDateTime)> = rows
            .iter()
            .map(|row| {
                let from = due_soon_from(calendar, row.starts_at.and_utc(), row.due_at.and_utc());
                (row.id, from.naive_utc())
            })
            .collect();
        write_transaction(conn, |conn| supervision_db::plan_due_soon(conn, &plans))?;
        planned += rows.len() as u64;
    }
    loop {
        let rows = supervision_db::due_soon_unmarked(conn, at, SWEEP_BATCH)?;
        if rows.is_empty() {
            break;
        }
        let marked_now = write_transaction(conn, |conn| {
            let (rows, statuses) = idle_cases_only(conn, rows)?;
            let marked: HashSet<DeadlineId> = supervision_db::mark_due_soon(conn, &ids(&rows), at)?
                .into_iter()
                .collect();
            let events = system_events(&rows, &marked, &statuses, "deadline_due_soon", at);
            supervision_db::insert_events(conn, &events)?;
            Ok::<_, ApiError>(marked.len() as u64)
        })?;
        due_soon += marked_now;
        // What is left belongs to cases being changed elsewhere (or marked by another sweep
        // meanwhile): the next sweep's.
        if marked_now == 0 {
            break;
        }
    }
    Ok((planned, due_soon))
}

/// Locks the cases of a batch's clocks and keeps the clocks of those it locked, with the cases'
/// statuses. A case a request or another sweep is changing right now is left to the next sweep:
/// the sweep does not wait for a request that holds the case (nor a request long on the sweep),
/// the case's statistics are refreshed by one transaction at a time (each reads what the one
/// before committed), and the sweep takes the case before its clocks, in the order requests do,
/// so the two cannot deadlock.
fn idle_cases_only(
    conn: &mut DbConnection,
    rows: Vec<DeadlineRow>,
) -> Result<(Vec<DeadlineRow>, HashMap<CaseId, String>), ApiError> {
    let case_ids: Vec<CaseId> = rows.iter().map(|row| row.case_id).collect();
    let statuses = supervision_db::lock_idle_cases(conn, &case_ids)?;
    let rows = rows
        .into_iter()
        .filter(|row| statuses.contains_key(&row.case_id))
        .collect();
    Ok((rows, statuses))
}

fn ids(rows: &[DeadlineRow]) -> Vec<DeadlineId> {
    rows.iter().map(|row| row.id).collect()
}

/// The sweep's urge for a missed clock of an assignment (a case's own clocks, such as the
/// follow-up call's, have no department to urge).
fn system_urge(row: &DeadlineRow, at: NaiveDateTime) -> Option<NewSupervision> {
    Some(NewSupervision {
        kind: SupervisionKind::Urge,
        method: SupervisionMethod::System,
        case_id: row.case_id,
        assignment_id: row.assignment_id?,
        department_id: row.department_id?,
        deadline_id: Some(row.id),
        note: format!(
            "{} deadline passed at {} without the work done",
            row.kind.as_str(),
            row.due_at.and_utc().to_rfc3339()
        ),
        created_by: None,
        created_at: at,
    })
}

/// One system event per marked clock, on its case's timeline.
fn system_events(
    rows: &[DeadlineRow],
    marked: &HashSet<DeadlineId>,
    statuses: &HashMap<CaseId, String>,
    action: &str,
    at: NaiveDateTime,
) -> Vec<NewCaseEvent> {
    rows.iter()
        .filter(|r| marked.contains(&r.id))
        .map(|row| {
            let status = statuses.get(&row.case_id).cloned();
            NewCaseEvent {
                case_id: row.case_id,
                occurred_at: at,
                actor_user_id: None,
                actor_client_id: None,
                actor_role: "system".to_owned(),
                action: action.to_owned(),
                status_before: status.clone(),
                status_after: status,
                details: serde_json::json!({
                    "deadline_id": row.id,
                    "kind": row.kind,
                    "assignment_id": row.assignment_id,
                    "department_id": row.department_id,
                    "due_at": row.due_at.and_utc(),
                })
                .to_string(),
            }
        })
        .collect()
}

/// Runs the sweep every `every` for as long as the server runs, recording each in `metrics`.
/// Every server may run it: the markings make sure each clock is acted on once.
pub async fn sweep_periodically(
    db: crate::db::Db,
    reference: std::sync::Arc<ReferenceData>,
    every: std::time::Duration,
    metrics: crate::metrics::SweepMetrics,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let calendar = reference.calendar();
        let sweep_db = db.clone();
        let swept = actix_web::web::block(move || sweep(&sweep_db, &calendar, now())).await;
        match swept.unwrap_or_else(|e| Err(ApiError::internal(format!("sweep task failed: {e}")))) {
            Ok(report) => {
                metrics.record(&report);
                if report.due_soon + report.missed > 0 {
                    log::info!(
                        "deadline sweep: {} due soon, {} missed, {} urged",
                        report.due_soon,
                        report.missed,
                        report.urged
                    );
                }
            }
            Err(error) => log::warn!("deadline sweep failed (the next one retries): {error}"),
        }
    }
}

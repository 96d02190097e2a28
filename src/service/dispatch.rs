//! Everything after acceptance (SPEC 3): dispatch with its clocks, the departments' work on their
//! assignments, the centre's rulings and review, redo, merge, notes, close and reopen. Every move
//! is one transaction that locks the case, checks the move against `domain::dispatch`, writes the
//! rows and appends the timeline event.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::accounts;
use crate::db::assignments::{
    self as assignment_db, AssignmentChanges, AssignmentFilter, AssignmentRow, DeadlineFilter,
    DeadlineRow, NewAssignment, NewDeadline,
};
use crate::db::cases::{self as case_db, CaseChanges, CaseRow};
use crate::db::{DbConnection, PageRequest, now, organisation, write_transaction};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::case::{CaseStatus, Closure, IllegalTransition};
use crate::domain::dispatch::{
    AssignmentAction, AssignmentRole, AssignmentState, CaseAction, DeadlineKind, DeadlineState,
    DispatchMode, DispatchTarget, ReturnRuling, assignment_transition, case_action_allowed,
    case_status_for_round, clock_flags, dispatch_mode, may_reopen,
};
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Period, PeriodUnit, Urgency};
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::service::cases::{
    CaseSummary, CaseView, decision_text, event, stored, text, view, visible_case, visible_case_at,
};
use crate::service::reference::ReferenceData;

fn conflict(e: IllegalTransition) -> ApiError {
    ApiError::conflict(e.code, e.detail)
}

fn concurrent() -> ApiError {
    ApiError::conflict(
        ErrorCode::ConcurrentUpdate,
        "another request changed this at the same time; fetch it again",
    )
}

fn stale() -> ApiError {
    ApiError::PreconditionFailed {
        code: ErrorCode::VersionMismatch,
        detail: "it changed since you read it; fetch it again".into(),
    }
}

fn optional_text(field: &str, value: Option<&str>, max: usize) -> Result<Option<String>, ApiError> {
    value.map(|v| decision_text(field, v, max)).transpose()
}

/// Locks the case for this transaction, then loads it if the principal may see it.
fn lock_visible_case(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    if_match: Option<i32>,
) -> Result<(CaseRow, CaseStatus), ApiError> {
    assignment_db::lock_case(conn, id)?;
    let case = visible_case_at(conn, principal, id, if_match)?;
    let status = stored(CaseStatus::parse(&case.status), "status")?;
    Ok((case, status))
}

/// Writes the case's new state (one version up) and its timeline event.
fn change_case(
    conn: &mut DbConnection,
    principal: &Principal,
    case: &CaseRow,
    (before, after): (CaseStatus, CaseStatus),
    action: &str,
    changes: CaseChanges,
    details: serde_json::Value,
) -> Result<CaseRow, ApiError> {
    let changes = CaseChanges {
        status: Some(after.as_str().to_owned()),
        updated_at: Some(now()),
        ..changes
    };
    let updated =
        case_db::change_status(conn, case.id, case.version, changes)?.ok_or_else(concurrent)?;
    case_db::insert_event(
        conn,
        event(principal, case.id, action, Some(before), after, details),
    )?;
    Ok(updated)
}

// ---------------------------------------------------------------------------------------------
// Views

/// The department's reply.
#[derive(Debug, Clone, Serialize, eserde::Deserialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// What was investigated (调查核实情况).
    #[schema(
        example = "经现场核查，反映的流动摊贩确实存在。",
        min_length = 1,
        max_length = 5000
    )]
    pub investigation: String,
    /// What was done (处理措施).
    #[schema(
        example = "已联合街道执法队清理占道摊点，并安排每日巡查。",
        min_length = 1,
        max_length = 5000
    )]
    pub actions: String,
    /// The result (办理结果).
    #[schema(example = "已解决", min_length = 1, max_length = 2000)]
    pub result: String,
    /// Whether the department contacted the citizen.
    pub contacted_citizen: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub id: i64,
    pub case_id: i64,
    pub department_id: i64,
    /// The dispatch round (1 for the first dispatch, one more per redo or re-dispatch).
    pub round: i32,
    pub role: AssignmentRole,
    pub mode: DispatchMode,
    /// 交办: the centre set the reply deadline itself.
    pub assigned: bool,
    pub instructions: Option<String>,
    pub state: AssignmentState,
    pub dispatched_by: Option<i64>,
    pub dispatched_at: DateTime<Utc>,
    pub sign_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
    /// The department user it was handed to.
    pub handler_id: Option<i64>,
    pub signed_by: Option<i64>,
    pub signed_at: Option<DateTime<Utc>>,
    pub returned_by: Option<i64>,
    pub returned_at: Option<DateTime<Utc>>,
    pub return_reason: Option<String>,
    pub ruling: Option<ReturnRuling>,
    pub ruling_note: Option<String>,
    pub ruled_at: Option<DateTime<Utc>>,
    pub reply: Option<Reply>,
    pub replied_by: Option<i64>,
    pub replied_at: Option<DateTime<Utc>>,
    /// `approved` or `sent_back`.
    pub review_decision: Option<String>,
    pub review_note: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// Open and past its sign or reply time, now.
    pub overdue: bool,
    pub version: i32,
    pub updated_at: DateTime<Utc>,
}

pub fn assignment_view(row: AssignmentRow) -> Result<AssignmentView, ApiError> {
    let state = stored(AssignmentState::parse(&row.state), "assignment state")?;
    let at = now();
    let overdue = (state == AssignmentState::PendingSign && row.sign_due_at < at)
        || (state.is_open() && row.reply_due_at < at);
    Ok(AssignmentView {
        id: row.id,
        case_id: row.case_id,
        department_id: row.department_id,
        round: row.round,
        role: stored(AssignmentRole::parse(&row.role), "assignment role")?,
        mode: stored(DispatchMode::parse(&row.mode), "dispatch mode")?,
        assigned: row.assigned,
        instructions: row.instructions,
        state,
        dispatched_by: row.dispatched_by,
        dispatched_at: row.dispatched_at.and_utc(),
        sign_due_at: row.sign_due_at.and_utc(),
        reply_due_at: row.reply_due_at.and_utc(),
        handler_id: row.handler_id,
        signed_by: row.signed_by,
        signed_at: row.signed_at.map(|t| t.and_utc()),
        returned_by: row.returned_by,
        returned_at: row.returned_at.map(|t| t.and_utc()),
        return_reason: row.return_reason,
        ruling: row.ruling.as_deref().and_then(ReturnRuling::parse),
        ruling_note: row.ruling_note,
        ruled_at: row.ruled_at.map(|t| t.and_utc()),
        reply: row
            .reply
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| ApiError::internal("unreadable stored reply"))?,
        replied_by: row.replied_by,
        replied_at: row.replied_at.map(|t| t.and_utc()),
        review_decision: row.review_decision,
        review_note: row.review_note,
        reviewed_at: row.reviewed_at.map(|t| t.and_utc()),
        overdue,
        version: row.version,
        updated_at: row.updated_at.and_utc(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadlineView {
    pub id: i64,
    pub kind: DeadlineKind,
    pub case_id: i64,
    pub assignment_id: Option<i64>,
    pub department_id: Option<i64>,
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
    let state = stored(DeadlineState::parse(&row.state), "deadline state")?;
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
        kind: stored(DeadlineKind::parse(&row.kind), "deadline kind")?,
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

// ---------------------------------------------------------------------------------------------
// Dispatch

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DispatchTargetInput {
    pub department_id: i64,
    /// `lead` or `assisting`; a single department always leads. Default `assisting` when there
    /// are several, so name the lead.
    #[serde(default)]
    pub role: Option<AssignmentRole>,
}

/// Dispatch to one department (直接转办) or several with one lead (联合转办). With `assigned`
/// (交办) the centre sets the reply deadline itself in `reply_due_at`.
#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DispatchCase {
    #[schema(min_items = 1, max_items = 10)]
    pub departments: Vec<DispatchTargetInput>,
    #[schema(example = "请于规定时限内核实处理并答复市民。", max_length = 2000)]
    #[serde(default)]
    pub instructions: Option<String>,
    /// 交办: the centre's own deadline (default false).
    #[serde(default)]
    pub assigned: Option<bool>,
    /// Required with `assigned`, in the future; not allowed otherwise.
    #[eserde(compat)]
    #[serde(default)]
    pub reply_due_at: Option<DateTime<Utc>>,
}

pub(crate) fn period_text(period: &Period) -> String {
    let unit = match period.unit {
        PeriodUnit::WorkingDays => "working_days",
        PeriodUnit::Hours => "hours",
    };
    format!("{} {unit}", period.amount)
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_deadline(
    kind: DeadlineKind,
    case_id: i64,
    assignment_id: Option<i64>,
    department_id: Option<i64>,
    starts_at: chrono::NaiveDateTime,
    due_at: DateTime<Utc>,
    policy_version: Option<i32>,
    period: String,
    beyond_calendar: bool,
) -> NewDeadline {
    let at = now();
    NewDeadline {
        kind: kind.as_str().to_owned(),
        case_id,
        assignment_id,
        department_id,
        starts_at,
        due_at: due_at.naive_utc(),
        policy_version,
        period,
        beyond_calendar,
        state: DeadlineState::Running.as_str().to_owned(),
        met_at: None,
        created_at: at,
        updated_at: at,
    }
}

pub fn dispatch(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: i64,
    input: DispatchCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let mut errors = FieldErrors::default();
    let targets: Vec<DispatchTarget> = input
        .departments
        .iter()
        .map(|t| DispatchTarget {
            department_id: t.department_id,
            role: t.role.unwrap_or(AssignmentRole::Assisting),
        })
        .collect();
    let mode = match dispatch_mode(&targets) {
        Ok(mode) => mode,
        Err(message) => {
            errors.add("departments", FieldErrorCode::Invalid, message);
            DispatchMode::Direct
        }
    };
    for (i, target) in targets.iter().enumerate() {
        if organisation::find_department(conn, target.department_id)?.is_none_or(|d| !d.active) {
            errors.add(
                &format!("departments[{i}].department_id"),
                FieldErrorCode::NotFound,
                "no active department with this id",
            );
        }
    }
    let instructions = input
        .instructions
        .as_deref()
        .and_then(|t| text(&mut errors, "instructions", t, 2000));
    let assigned = input.assigned.unwrap_or(false);
    let started = Utc::now();
    match (assigned, input.reply_due_at) {
        (true, None) => errors.add(
            "reply_due_at",
            FieldErrorCode::Required,
            "交办 (assigned) dispatches carry the centre's own reply deadline",
        ),
        (true, Some(due)) if due <= started => errors.add(
            "reply_due_at",
            FieldErrorCode::Invalid,
            "must be in the future",
        ),
        (false, Some(_)) => errors.add(
            "reply_due_at",
            FieldErrorCode::NotAllowed,
            "the reply deadline comes from the policy unless the dispatch is assigned (交办)",
        ),
        _ => {}
    }
    errors.finish()?;

    let calendar = reference.calendar();
    let policy = reference.policy();
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        case_action_allowed(status, CaseAction::Dispatch).map_err(conflict)?;
        let kind = stored(CaseKind::parse(&case.kind), "kind")?;
        let urgency = stored(Urgency::parse(&case.urgency), "urgency")?;
        let rule = policy.policy.rule(kind, urgency).ok_or_else(|| {
            ApiError::internal(format!("the policy has no rule for {kind:?} {urgency:?}"))
        })?;
        let at = now();
        let start = at.and_utc();
        let sign_due = rule.sign.due_from(&calendar, start);
        let (reply_due_at, reply_period, reply_policy, reply_beyond) = match input.reply_due_at {
            Some(due) if assigned => (
                crate::db::truncate(due),
                "set_by_centre".to_owned(),
                None,
                false,
            ),
            _ => {
                let due = rule.reply.due_from(&calendar, start);
                (
                    due.at,
                    period_text(&rule.reply),
                    Some(policy.version),
                    !due.calendar_complete,
                )
            }
        };
        let round = case.current_round + 1;
        let single = targets.len() == 1;
        let mut lead = None;
        let mut departments = Vec::new();
        for target in &targets {
            let role = if single {
                AssignmentRole::Lead
            } else {
                target.role
            };
            let assignment = assignment_db::insert_assignment(
                conn,
                NewAssignment {
                    case_id: case.id,
                    department_id: target.department_id,
                    round,
                    role: role.as_str().to_owned(),
                    mode: mode.as_str().to_owned(),
                    assigned,
                    instructions: instructions.clone(),
                    state: AssignmentState::PendingSign.as_str().to_owned(),
                    dispatched_by: principal.user_id(),
                    dispatched_at: at,
                    sign_due_at: sign_due.at.naive_utc(),
                    reply_due_at: reply_due_at.naive_utc(),
                    handler_id: None,
                    signed_by: None,
                    signed_at: None,
                    returned_by: None,
                    returned_at: None,
                    return_reason: None,
                    ruling: None,
                    ruling_note: None,
                    ruled_at: None,
                    reply: None,
                    replied_by: None,
                    replied_at: None,
                    review_decision: None,
                    review_note: None,
                    reviewed_at: None,
                    version: 1,
                    updated_at: at,
                },
            )?;
            assignment_db::insert_deadline(
                conn,
                new_deadline(
                    DeadlineKind::Sign,
                    case.id,
                    Some(assignment.id),
                    Some(target.department_id),
                    at,
                    sign_due.at,
                    Some(policy.version),
                    period_text(&rule.sign),
                    !sign_due.calendar_complete,
                ),
            )?;
            assignment_db::insert_deadline(
                conn,
                new_deadline(
                    DeadlineKind::Reply,
                    case.id,
                    Some(assignment.id),
                    Some(target.department_id),
                    at,
                    reply_due_at,
                    reply_policy,
                    reply_period.clone(),
                    reply_beyond,
                ),
            )?;
            if role == AssignmentRole::Lead {
                lead = Some(target.department_id);
            }
            departments.push(serde_json::json!({
                "assignment_id": assignment.id,
                "department_id": target.department_id,
                "role": role.as_str(),
            }));
        }
        // What the citizen is told: who handles the case, and by when.
        let details = serde_json::json!({
            "round": round,
            "mode": mode.as_str(),
            "assigned": assigned,
            "departments": departments,
            "lead_department_id": lead,
            "reply_due_at": reply_due_at,
            "instructions": instructions,
        });
        change_case(
            conn,
            principal,
            &case,
            (status, CaseStatus::Dispatched),
            "dispatched",
            CaseChanges {
                current_round: Some(round),
                lead_department_id: Some(lead),
                reply_due_at: Some(Some(reply_due_at.naive_utc())),
                dispatched_at: Some(at),
                ..Default::default()
            },
            details,
        )
    })?;
    view(conn, principal, row)
}

// ---------------------------------------------------------------------------------------------
// Assignments

pub fn visible_assignment(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
) -> Result<AssignmentRow, ApiError> {
    assignment_db::find_assignment(conn, id)?
        .filter(|a| principal.sees_department_row(Some(a.department_id)))
        .ok_or_else(|| ApiError::not_found("no such assignment"))
}

pub fn get_assignment(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
) -> Result<AssignmentView, ApiError> {
    assignment_view(visible_assignment(conn, principal, id)?)
}

/// Lists the assignments `principal` may see; department users only their department's.
pub fn list_assignments(
    conn: &mut DbConnection,
    principal: &Principal,
    mut filter: AssignmentFilter,
    page: PageRequest,
) -> Result<Vec<AssignmentRow>, ApiError> {
    let Some(department_id) = principal.department_filter(filter.department_id)? else {
        return Ok(Vec::new());
    };
    filter.department_id = department_id;
    Ok(assignment_db::list_assignments(conn, &filter, page, now())?)
}

/// What a department or the centre does to an assignment.
pub enum AssignmentMove {
    Sign,
    Return {
        reason: String,
    },
    Rule {
        ruling: ReturnRuling,
        note: Option<String>,
    },
    Handover {
        user_id: i64,
    },
    Progress {
        note: String,
    },
    Reply(Reply),
}

impl AssignmentMove {
    fn action(&self) -> AssignmentAction {
        match self {
            Self::Sign => AssignmentAction::Sign,
            Self::Return { .. } => AssignmentAction::Return,
            Self::Rule { ruling, .. } => AssignmentAction::Rule(*ruling),
            Self::Handover { .. } => AssignmentAction::Handover,
            Self::Progress { .. } => AssignmentAction::Progress,
            Self::Reply(_) => AssignmentAction::Reply,
        }
    }

    fn event_name(&self) -> &'static str {
        match self {
            Self::Sign => "assignment_signed",
            Self::Return { .. } => "assignment_returned",
            Self::Rule {
                ruling: ReturnRuling::Accepted,
                ..
            } => "return_accepted",
            Self::Rule {
                ruling: ReturnRuling::Refused,
                ..
            } => "return_refused",
            Self::Handover { .. } => "assignment_handed_over",
            Self::Progress { .. } => "progress_reported",
            Self::Reply(_) => "assignment_replied",
        }
    }
}

/// Makes `mv` on assignment `id`. `if_match` is the assignment's version the client last saw.
pub fn act_on_assignment(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    mv: AssignmentMove,
    if_match: Option<i32>,
) -> Result<AssignmentView, ApiError> {
    let row = write_transaction(conn, |conn| -> Result<AssignmentRow, ApiError> {
        // Lock the case first: the round's other assignments decide its status with this one.
        let peek = visible_assignment(conn, principal, id)?;
        assignment_db::lock_case(conn, peek.case_id)?;
        let assignment = visible_assignment(conn, principal, id)?;
        if if_match.is_some_and(|v| v != assignment.version) {
            return Err(stale());
        }
        let case = stored(case_db::find_case(conn, assignment.case_id)?, "case")?;
        let case_status = stored(CaseStatus::parse(&case.status), "status")?;
        let state = stored(
            AssignmentState::parse(&assignment.state),
            "assignment state",
        )?;
        if assignment.round != case.current_round {
            return Err(ApiError::conflict(
                ErrorCode::AssignmentSuperseded,
                "this assignment belongs to an earlier dispatch round",
            ));
        }
        // A staff member works on what was handed to them; their department admin on everything.
        if principal.role == Role::DepartmentStaff
            && assignment
                .handler_id
                .is_some_and(|h| Some(h) != principal.user_id())
        {
            return Err(ApiError::Forbidden {
                code: ErrorCode::NotYourAssignment,
                detail: "this assignment was handed to another member of your department".into(),
            });
        }
        let next = assignment_transition(state, assignment.signed_at.is_some(), mv.action())
            .map_err(conflict)?;
        let at = now();
        let user = principal.user_id();
        let mut details = serde_json::json!({
            "assignment_id": assignment.id,
            "department_id": assignment.department_id,
            "state_before": state.as_str(),
            "state_after": next.as_str(),
        });
        let changes = match &mv {
            AssignmentMove::Sign => {
                finish_clock(conn, &assignment, DeadlineKind::Sign, at)?;
                AssignmentChanges {
                    signed_by: user,
                    signed_at: Some(at),
                    handler_id: assignment.handler_id.is_none().then_some(user),
                    ..Default::default()
                }
            }
            AssignmentMove::Return { reason } => {
                details["reason"] = reason.clone().into();
                AssignmentChanges {
                    returned_by: user,
                    returned_at: Some(at),
                    return_reason: Some(reason.clone()),
                    ..Default::default()
                }
            }
            AssignmentMove::Rule { ruling, note } => {
                details["ruling"] = ruling.as_str().into();
                details["note"] = note.clone().into();
                if *ruling == ReturnRuling::Accepted {
                    assignment_db::cancel_deadlines(conn, case.id, Some(assignment.id), at)?;
                }
                AssignmentChanges {
                    ruling: Some(ruling.as_str().to_owned()),
                    ruling_note: note.clone(),
                    ruled_at: Some(at),
                    ..Default::default()
                }
            }
            AssignmentMove::Handover { user_id } => {
                let target = accounts::find_user(conn, *user_id)?.filter(|u| {
                    u.active
                        && u.department_id == Some(assignment.department_id)
                        && (u.role == Role::DepartmentStaff.as_str()
                            || u.role == Role::DepartmentAdmin.as_str())
                });
                if target.is_none() {
                    return Err(ApiError::field(
                        "user_id",
                        FieldErrorCode::NotFound,
                        "no active user of this department with this id",
                    ));
                }
                details["handler_id"] = (*user_id).into();
                AssignmentChanges {
                    handler_id: Some(Some(*user_id)),
                    ..Default::default()
                }
            }
            AssignmentMove::Progress { note } => {
                details["note"] = note.clone().into();
                AssignmentChanges::default()
            }
            AssignmentMove::Reply(reply) => {
                finish_clock(conn, &assignment, DeadlineKind::Reply, at)?;
                details["reply"] =
                    serde_json::to_value(reply).map_err(|e| ApiError::internal(e.to_string()))?;
                AssignmentChanges {
                    reply: Some(
                        serde_json::to_string(reply)
                            .map_err(|e| ApiError::internal(e.to_string()))?,
                    ),
                    replied_by: user,
                    replied_at: Some(at),
                    ..Default::default()
                }
            }
        };
        let updated = assignment_db::update_assignment(
            conn,
            assignment.id,
            assignment.version,
            AssignmentChanges {
                state: Some(next.as_str().to_owned()),
                updated_at: Some(at),
                ..changes
            },
        )?
        .ok_or_else(concurrent)?;
        // The round decides the case's status; every change still moves the case's version.
        let round: Vec<AssignmentState> = assignment_db::case_assignments(conn, case.id)?
            .into_iter()
            .filter(|a| a.round == case.current_round)
            .map(|a| stored(AssignmentState::parse(&a.state), "assignment state"))
            .collect::<Result<_, _>>()?;
        let after = match case_status {
            CaseStatus::Dispatched | CaseStatus::InProgress | CaseStatus::PendingReview => {
                case_status_for_round(&round)
            }
            other => other,
        };
        let case_changes = if after == CaseStatus::PendingDispatch {
            CaseChanges {
                lead_department_id: Some(None),
                reply_due_at: Some(None),
                ..Default::default()
            }
        } else {
            CaseChanges::default()
        };
        change_case(
            conn,
            principal,
            &case,
            (case_status, after),
            mv.event_name(),
            case_changes,
            details,
        )?;
        Ok(updated)
    })?;
    assignment_view(row)
}

/// Stops an assignment's running clock of `kind`: met when on time, missed when late.
fn finish_clock(
    conn: &mut DbConnection,
    assignment: &AssignmentRow,
    kind: DeadlineKind,
    at: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    if let Some(clock) = assignment_db::running_deadline(conn, assignment.id, kind.as_str())? {
        let state = if at <= clock.due_at {
            DeadlineState::Met
        } else {
            DeadlineState::Missed
        };
        assignment_db::finish_deadline(conn, clock.id, state.as_str(), at)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Review, redo, merge, close, reopen, notes

/// The centre's review of a round's replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, eserde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    /// The replies stand: the case awaits the follow-up call.
    Approve,
    /// One assignment goes back to its department with a note (回退).
    SendBack,
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct ReviewCase {
    pub decision: ReviewDecision,
    /// With `send_back`: the assignment of the current round that goes back.
    #[serde(default)]
    pub assignment_id: Option<i64>,
    /// Required with `send_back`: what is missing.
    #[schema(example = "答复未说明整改期限，请补充。", max_length = 2000)]
    #[serde(default)]
    pub note: Option<String>,
}

pub fn review(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: i64,
    input: ReviewCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let mut errors = FieldErrors::default();
    let note = input
        .note
        .as_deref()
        .and_then(|n| text(&mut errors, "note", n, 2000));
    if input.decision == ReviewDecision::SendBack {
        if input.assignment_id.is_none() {
            errors.add(
                "assignment_id",
                FieldErrorCode::Required,
                "name the assignment sent back",
            );
        }
        if note.is_none() && input.note.is_none() {
            errors.add(
                "note",
                FieldErrorCode::Required,
                "say what the department must add",
            );
        }
    }
    errors.finish()?;
    let calendar = reference.calendar();
    let policy = reference.policy();
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        case_action_allowed(status, CaseAction::Review).map_err(conflict)?;
        let at = now();
        match input.decision {
            ReviewDecision::Approve => {
                assignment_db::complete_round(conn, case.id, case.current_round, at)?;
                let due =
                    calendar.add_working_days(at.and_utc(), policy.policy.follow_up_working_days);
                assignment_db::insert_deadline(
                    conn,
                    new_deadline(
                        DeadlineKind::FollowUp,
                        case.id,
                        None,
                        None,
                        at,
                        due.at,
                        Some(policy.version),
                        format!("{} working_days", policy.policy.follow_up_working_days),
                        !due.calendar_complete,
                    ),
                )?;
                change_case(
                    conn,
                    principal,
                    &case,
                    (status, CaseStatus::AwaitingFollowUp),
                    "review_approved",
                    CaseChanges {
                        reviewed_at: Some(at),
                        ..Default::default()
                    },
                    serde_json::json!({"round": case.current_round, "follow_up_due_at": due.at, "note": note}),
                )
            }
            ReviewDecision::SendBack => {
                let assignment_id = input.assignment_id.unwrap_or_default();
                let assignment = assignment_db::find_assignment(conn, assignment_id)?
                    .filter(|a| a.case_id == case.id && a.round == case.current_round)
                    .ok_or_else(|| {
                        ApiError::field(
                            "assignment_id",
                            FieldErrorCode::NotFound,
                            "no assignment of this case's current round with this id",
                        )
                    })?;
                let state = stored(
                    AssignmentState::parse(&assignment.state),
                    "assignment state",
                )?;
                let next = assignment_transition(state, true, AssignmentAction::SendBack)
                    .map_err(conflict)?;
                assignment_db::update_assignment(
                    conn,
                    assignment.id,
                    assignment.version,
                    AssignmentChanges {
                        state: Some(next.as_str().to_owned()),
                        review_decision: Some("sent_back".into()),
                        review_note: note.clone(),
                        reviewed_at: Some(at),
                        updated_at: Some(at),
                        ..Default::default()
                    },
                )?
                .ok_or_else(concurrent)?;
                // The department replies again, against its original reply time.
                assignment_db::insert_deadline(
                    conn,
                    new_deadline(
                        DeadlineKind::Reply,
                        case.id,
                        Some(assignment.id),
                        Some(assignment.department_id),
                        at,
                        assignment.reply_due_at.and_utc(),
                        None,
                        "sent_back".into(),
                        false,
                    ),
                )?;
                change_case(
                    conn,
                    principal,
                    &case,
                    (status, CaseStatus::InProgress),
                    "reply_sent_back",
                    CaseChanges::default(),
                    serde_json::json!({
                        "assignment_id": assignment.id,
                        "department_id": assignment.department_id,
                        "note": note,
                    }),
                )
            }
        }
    })?;
    view(conn, principal, row)
}

/// A reason given for a case-level decision.
#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    #[schema(example = "回访不满意，需重新办理", min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// Redo (重办): the round's work is set aside and the case waits for a new dispatch round.
pub fn redo(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: Reason,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = decision_text("reason", &input.reason, 2000)?;
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        case_action_allowed(status, CaseAction::Redo).map_err(conflict)?;
        let at = now();
        assignment_db::cancel_open_assignments(conn, case.id, at)?;
        assignment_db::cancel_deadlines(conn, case.id, None, at)?;
        change_case(
            conn,
            principal,
            &case,
            (status, CaseStatus::PendingDispatch),
            "redo",
            CaseChanges {
                redo_count: Some(case.redo_count + 1),
                lead_department_id: Some(None),
                reply_due_at: Some(None),
                ..Default::default()
            },
            serde_json::json!({"reason": reason, "previous_round": case.current_round}),
        )
    })?;
    view(conn, principal, row)
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct MergeCase {
    /// The earlier open case this one is the same matter as.
    pub into_case_id: i64,
    #[schema(example = "同一市民重复反映同一事项", max_length = 2000)]
    #[serde(default)]
    pub reason: Option<String>,
}

/// Merges case `id` into an earlier open case (并单): it closes as `merged` and points there.
pub fn merge(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: MergeCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = optional_text("reason", input.reason.as_deref(), 2000)?;
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        // Lock in id order so two merges touching the same pair cannot deadlock.
        let (first, second) = (id.min(input.into_case_id), id.max(input.into_case_id));
        assignment_db::lock_case(conn, first)?;
        assignment_db::lock_case(conn, second)?;
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        case_action_allowed(status, CaseAction::Merge).map_err(conflict)?;
        let target = visible_case(conn, principal, input.into_case_id).map_err(|_| {
            ApiError::field(
                "into_case_id",
                FieldErrorCode::NotFound,
                "no case with this id",
            )
        })?;
        let target_status = stored(CaseStatus::parse(&target.status), "status")?;
        if target.id >= case.id {
            return Err(ApiError::conflict(
                ErrorCode::MergeTargetNotEarlier,
                "a case is merged into an earlier case, not a later one",
            ));
        }
        if matches!(target_status, CaseStatus::Closed | CaseStatus::Rejected) {
            return Err(ApiError::conflict(
                ErrorCode::MergeTargetClosed,
                "the case merged into must still be open",
            ));
        }
        let at = now();
        change_case(
            conn,
            principal,
            &target,
            (target_status, target_status),
            "merged_from",
            CaseChanges::default(),
            serde_json::json!({"case_id": case.id, "case_no": case.case_no, "reason": reason}),
        )?;
        change_case(
            conn,
            principal,
            &case,
            (status, CaseStatus::Closed),
            "merged",
            CaseChanges {
                closure: Some(Some(Closure::Merged.as_str().to_owned())),
                resolution: Some(Some(format!("并入工单 {}", target.case_no))),
                merged_into: Some(Some(target.id)),
                closed_at: Some(Some(at)),
                ..Default::default()
            },
            serde_json::json!({"into_case_id": target.id, "into_case_no": target.case_no, "reason": reason}),
        )
    })?;
    view(conn, principal, row)
}

/// Why a case was suggested as the same matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SimilarityReason {
    /// The same citizen account or complainant phone.
    SameComplainant,
    /// The same category at the same place (district, address, or within about 500 m).
    SameCategoryAndPlace,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SimilarCase {
    pub case: CaseSummary,
    pub reasons: Vec<SimilarityReason>,
}

/// How far back merge candidates are looked for.
pub const SIMILAR_WINDOW_DAYS: i64 = 30;

/// Earlier open cases that may be the same matter (the intake's duplicate suggestions).
pub fn similar(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
) -> Result<Vec<SimilarCase>, ApiError> {
    let case = visible_case(conn, principal, id)?;
    let complainant = case_db::complainant(conn, case.id)?;
    let phone = complainant.as_ref().and_then(|c| c.phone.clone());
    let since = case.created_at - Duration::days(SIMILAR_WINDOW_DAYS);
    let rows = case_db::similar_cases(conn, &case, phone.as_deref(), since, 20)?;
    // One query for the candidates' phones, not one per candidate.
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let phones = case_db::complainant_phones(conn, &ids)?;
    let mut similar = Vec::with_capacity(rows.len());
    for row in rows {
        let mut reasons = Vec::new();
        let same_citizen = case.citizen_id.is_some() && row.citizen_id == case.citizen_id;
        let same_phone = phone.is_some() && phones.get(&row.id) == phone.as_ref();
        if same_citizen || same_phone {
            reasons.push(SimilarityReason::SameComplainant);
        }
        if case.category_id.is_some()
            && row.category_id == case.category_id
            && case_db::same_place(&case, &row)
        {
            reasons.push(SimilarityReason::SameCategoryAndPlace);
        }
        similar.push(SimilarCase {
            case: CaseSummary::from_row(row)?,
            reasons,
        });
    }
    Ok(similar)
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct CloseCase {
    /// Why the case is closed (e.g. the demand exceeds policy).
    #[schema(
        example = "诉求超出政策规定范围，已向市民解释。",
        min_length = 1,
        max_length = 2000
    )]
    pub reason: String,
    /// `closed_by_supervisor` (default) or `resolved`.
    #[serde(default)]
    pub closure: Option<Closure>,
}

/// Closes an open case with a reason: its open assignments and running clocks end.
pub fn close(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: CloseCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = decision_text("reason", &input.reason, 2000)?;
    let closure = input.closure.unwrap_or(Closure::ClosedBySupervisor);
    if !matches!(closure, Closure::ClosedBySupervisor | Closure::Resolved) {
        let mut errors = FieldErrors::default();
        errors.add(
            "closure",
            FieldErrorCode::NotAllowed,
            "close as `closed_by_supervisor` or `resolved`; the other closures have their own actions",
        );
        errors.finish()?;
    }
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        case_action_allowed(status, CaseAction::Close).map_err(conflict)?;
        let at = now();
        assignment_db::cancel_open_assignments(conn, case.id, at)?;
        assignment_db::cancel_deadlines(conn, case.id, None, at)?;
        change_case(
            conn,
            principal,
            &case,
            (status, CaseStatus::Closed),
            "closed",
            CaseChanges {
                closure: Some(Some(closure.as_str().to_owned())),
                resolution: Some(Some(reason.clone())),
                closed_at: Some(Some(at)),
                ..Default::default()
            },
            serde_json::json!({"reason": reason, "closure": closure.as_str()}),
        )
    })?;
    view(conn, principal, row)
}

/// Reopens a case closed within the last 30 days: it waits for a new dispatch round.
pub fn reopen(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: Reason,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = decision_text("reason", &input.reason, 2000)?;
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        case_action_allowed(status, CaseAction::Reopen).map_err(conflict)?;
        let closed_at = case.closed_at.unwrap_or(case.updated_at).and_utc();
        may_reopen(closed_at, Utc::now()).map_err(conflict)?;
        change_case(
            conn,
            principal,
            &case,
            (status, CaseStatus::PendingDispatch),
            "reopened",
            CaseChanges {
                closure: Some(None),
                closed_at: Some(None),
                merged_into: Some(None),
                lead_department_id: Some(None),
                reply_due_at: Some(None),
                ..Default::default()
            },
            serde_json::json!({
                "reason": reason,
                "previous_closure": case.closure,
                "previous_resolution": case.resolution,
            }),
        )
    })?;
    view(conn, principal, row)
}

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Information added to the case (补充材料).
    #[schema(
        example = "今天傍晚摊贩又来了，还占了盲道。",
        min_length = 1,
        max_length = 5000
    )]
    pub text: String,
}

/// Adds a note to an open case (citizens to their own, the centre to any); it joins the timeline.
pub fn add_note(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: NewNote,
) -> Result<crate::service::cases::TimelineEvent, ApiError> {
    let note = decision_text("text", &input.text, 5000)?;
    write_transaction(conn, |conn| -> Result<(), ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, None)?;
        case_action_allowed(status, CaseAction::Note).map_err(conflict)?;
        change_case(
            conn,
            principal,
            &case,
            (status, status),
            "note_added",
            CaseChanges::default(),
            serde_json::json!({"text": note}),
        )?;
        Ok(())
    })?;
    crate::service::cases::timeline(conn, principal, id)?
        .pop()
        .ok_or_else(|| ApiError::internal("the note's event is missing"))
}

// ---------------------------------------------------------------------------------------------
// Deadlines

pub fn get_deadline(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: i64,
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

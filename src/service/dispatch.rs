//! Sending a case to the departments and taking their work back: dispatch with its clocks, the
//! centre's review of a round's replies, and redo (a new round).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::assignments::{self as assignment_db, AssignmentChanges, NewAssignment};
use crate::db::cases::{CaseChanges, CaseRow};
use crate::db::{DbConnection, now, organisation, write_transaction};
use crate::domain::case::CaseStatus;
use crate::domain::dispatch::{
    AssignmentAction, AssignmentRole, AssignmentState, DeadlineKind, DispatchMode, DispatchTarget,
    assignment_transition, dispatch_mode,
};
use crate::domain::ids::{AssignmentId, CaseId, DepartmentId};
use crate::domain::lifecycle::{CaseMove, transition};
use crate::domain::sla::{Period, PeriodUnit};
use crate::error::{ApiError, FieldErrorCode, FieldErrors};
use crate::service::case_views::{CaseView, view};
use crate::service::cases::{change_case, concurrent, conflict, lock_visible_case};
use crate::service::deadlines::new_deadline;
use crate::service::reference::ReferenceData;
use crate::validation::{self, trimmed};

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct DispatchTargetInput {
    pub department_id: DepartmentId,
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
    #[validate(length(min = 1, max = 10), nested)]
    pub departments: Vec<DispatchTargetInput>,
    #[schema(example = "请于规定时限内核实处理并答复市民。", max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
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

pub fn dispatch(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: CaseId,
    input: DispatchCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let mut errors = FieldErrors::default();
    let (targets, mode) = checked_targets(conn, &input.departments, "departments", &mut errors)?;
    let instructions = input.instructions.as_deref().map(trimmed);
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

    let reply_due_at = input.reply_due_at.filter(|_| assigned);
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        let next = transition(status, CaseMove::Dispatch).map_err(conflict)?;
        let round = NewRound {
            targets: &targets,
            mode,
            instructions: instructions.clone(),
            assigned,
            reply_due_at,
        };
        start_round(conn, reference, principal, &case, (status, next), round)
    })?;
    view(conn, principal, row)
}

/// The departments of a dispatch, checked: one lead, each department active. Problems are added
/// to `errors` under `field` (`departments[1].department_id`).
pub(crate) fn checked_targets(
    conn: &mut DbConnection,
    departments: &[DispatchTargetInput],
    field: &str,
    errors: &mut FieldErrors,
) -> Result<(Vec<DispatchTarget>, DispatchMode), ApiError> {
    let targets: Vec<DispatchTarget> = departments
        .iter()
        .map(|t| DispatchTarget {
            department_id: t.department_id,
            role: t.role.unwrap_or(AssignmentRole::Assisting),
        })
        .collect();
    let mode = match dispatch_mode(&targets) {
        Ok(mode) => mode,
        Err(message) => {
            errors.add(field, FieldErrorCode::Invalid, message);
            DispatchMode::Direct
        }
    };
    for (i, target) in targets.iter().enumerate() {
        if organisation::find_department(conn, target.department_id)?.is_none_or(|d| !d.active) {
            errors.add(
                &format!("{field}[{i}].department_id"),
                FieldErrorCode::NotFound,
                "no active department with this id",
            );
        }
    }
    Ok((targets, mode))
}

/// What a new dispatch round sends, and to whom.
pub(crate) struct NewRound<'a> {
    pub targets: &'a [DispatchTarget],
    pub mode: DispatchMode,
    pub instructions: Option<String>,
    /// 交办, with the centre's own reply deadline.
    pub assigned: bool,
    pub reply_due_at: Option<DateTime<Utc>>,
}

/// Opens the case's next round: its assignments with their sign and reply clocks, and the case
/// moved from `status` to `next` (dispatched). Runs inside the caller's transaction, on a case it
/// locked.
pub(crate) fn start_round(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    case: &CaseRow,
    (status, next): (CaseStatus, CaseStatus),
    new_round: NewRound<'_>,
) -> Result<CaseRow, ApiError> {
    let calendar = reference.calendar();
    let policy = reference.policy();
    let NewRound {
        targets,
        mode,
        instructions,
        assigned,
        reply_due_at: centre_due_at,
    } = new_round;
    let kind = case.kind;
    let urgency = case.urgency;
    let rule = policy.policy.rule(kind, urgency).ok_or_else(|| {
        ApiError::internal(format!("the policy has no rule for {kind:?} {urgency:?}"))
    })?;
    let at = now();
    let start = at.and_utc();
    let sign_due = rule.sign.due_from(&calendar, start);
    let (reply_due_at, reply_period, reply_policy, reply_beyond) = match centre_due_at {
        Some(due) => (
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
    for target in targets {
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
                role,
                mode,
                assigned,
                instructions: instructions.clone(),
                state: AssignmentState::PendingSign,
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
        case,
        (status, next),
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
}

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
    pub assignment_id: Option<AssignmentId>,
    /// Required with `send_back`: what is missing.
    #[schema(example = "答复未说明整改期限，请补充。", max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub note: Option<String>,
}

pub fn review(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: CaseId,
    input: ReviewCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let mut errors = FieldErrors::default();
    let note = input.note.as_deref().map(trimmed);
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
        let mv = match input.decision {
            ReviewDecision::Approve => CaseMove::Approve,
            ReviewDecision::SendBack => CaseMove::SendBack,
        };
        let next = transition(status, mv).map_err(conflict)?;
        let at = now();
        match input.decision {
            ReviewDecision::Approve => {
                assignment_db::complete_round(conn, case.id, case.current_round, at)?;
                let due =
                    calendar.add_working_days(at.and_utc(), policy.policy.follow_up_working_days);
                // The citizens of the cases merged into this one (并单) are followed up too, each
                // on a clock of their own case.
                let merged = crate::service::follow_up::merged_citizens(conn, case.id)?;
                for case_id in std::iter::once(case.id).chain(merged) {
                    if case_id != case.id {
                        // A merged citizen not yet reached after an earlier round starts afresh.
                        assignment_db::cancel_deadlines(conn, case_id, None, at)?;
                    }
                    assignment_db::insert_deadline(
                        conn,
                        new_deadline(
                            DeadlineKind::FollowUp,
                            case_id,
                            None,
                            None,
                            at,
                            due.at,
                            Some(policy.version),
                            format!("{} working_days", policy.policy.follow_up_working_days),
                            !due.calendar_complete,
                        ),
                    )?;
                }
                change_case(
                    conn,
                    principal,
                    &case,
                    (status, next),
                    "review_approved",
                    CaseChanges {
                        reviewed_at: Some(at),
                        ..Default::default()
                    },
                    serde_json::json!({"round": case.current_round, "follow_up_due_at": due.at, "note": note}),
                )
            }
            ReviewDecision::SendBack => {
                // Present: checked above. 0 is no assignment.
                let assignment_id = input.assignment_id.unwrap_or(AssignmentId(0));
                let assignment = assignment_db::find_assignment(conn, assignment_id)?
                    .filter(|a| a.case_id == case.id && a.round == case.current_round)
                    .ok_or_else(|| {
                        ApiError::field(
                            "assignment_id",
                            FieldErrorCode::NotFound,
                            "no assignment of this case's current round with this id",
                        )
                    })?;
                let state = assignment.state;
                let back = assignment_transition(state, true, AssignmentAction::SendBack)
                    .map_err(conflict)?;
                assignment_db::update_assignment(
                    conn,
                    assignment.id,
                    assignment.version,
                    AssignmentChanges {
                        state: Some(back),
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
                    (status, next),
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
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub reason: String,
}

/// Redo (重办): the round's work is set aside and the case waits for a new dispatch round.
pub fn redo(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    input: Reason,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = trimmed(&input.reason);
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        let next = transition(status, CaseMove::Redo).map_err(conflict)?;
        let details = redo_details(Some(&reason), case.current_round);
        set_round_aside(conn, principal, &case, (status, next), details)
    })?;
    view(conn, principal, row)
}

/// The `redo` event's details: why, and which round was set aside (the `/redo` of a round under
/// review and the supervisor's redo decision after follow-up write the same; so does the seed).
pub(crate) fn redo_details(reason: Option<&str>, previous_round: i32) -> serde_json::Value {
    serde_json::json!({"reason": reason, "previous_round": previous_round})
}

/// 重办: the round's open work and running clocks end, and the case (moved from `status` to
/// `next`) waits for a new round, counted in `redo_count`; `details` go on the `redo` event.
pub(crate) fn set_round_aside(
    conn: &mut DbConnection,
    principal: &Principal,
    case: &CaseRow,
    (status, next): (CaseStatus, CaseStatus),
    details: serde_json::Value,
) -> Result<CaseRow, ApiError> {
    let at = now();
    assignment_db::cancel_open_assignments(conn, case.id, at)?;
    assignment_db::cancel_deadlines(conn, case.id, None, at)?;
    // The citizens of cases merged into this one wait for the new round's result, not the one
    // set aside: approval starts their clocks again.
    for merged in crate::service::follow_up::merged_citizens(conn, case.id)? {
        assignment_db::cancel_deadlines(conn, merged, None, at)?;
    }
    change_case(
        conn,
        principal,
        case,
        (status, next),
        "redo",
        CaseChanges {
            redo_count: Some(case.redo_count + 1),
            lead_department_id: Some(None),
            reply_due_at: Some(None),
            ..Default::default()
        },
        details,
    )
}

//! Extensions of reply deadlines: a department admin asks, a supervisor decides (SPEC 2.5, 4.3).
//! Each step is one transaction with its timeline event.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::assignments as assignment_db;
use crate::db::cases::{self as case_db, CaseChanges};
use crate::db::extensions::{
    self as extension_db, Decision, ExtensionFilter, ExtensionRow, NewExtension,
};
use crate::db::{DbConnection, PageRequest, now, write_transaction};
use crate::domain::dispatch::{AssignmentRole, DeadlineKind, DeadlineState};
use crate::domain::extension::{
    ExtensionDecision, ExtensionLimits, ExtensionRefusal, ExtensionState,
    MAX_REQUESTED_WORKING_DAYS, extended_due,
};
use crate::domain::ids::{AssignmentId, CaseId, DeadlineId, DepartmentId, ExtensionId, UserId};

use crate::error::{ApiError, ErrorCode, FieldErrorCode};
use crate::service::cases::{event_keeping_status, stored};
use crate::service::reference::ReferenceData;
use crate::validation;

#[derive(Debug, Serialize, ToSchema)]
pub struct ExtensionView {
    pub id: ExtensionId,
    /// The reply deadline it extends.
    pub deadline_id: DeadlineId,
    pub assignment_id: AssignmentId,
    pub case_id: CaseId,
    pub department_id: DepartmentId,
    pub requested_by: UserId,
    pub requested_at: DateTime<Utc>,
    pub reason: String,
    /// Working days asked for, counted from the deadline as it stood.
    #[schema(example = 5)]
    pub working_days: i32,
    /// The reply deadline when the request was made.
    pub due_before: DateTime<Utc>,
    pub state: ExtensionState,
    pub decided_by: Option<UserId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
    /// The reply deadline the approval gave.
    pub new_due_at: Option<DateTime<Utc>>,
}

fn view(row: ExtensionRow) -> Result<ExtensionView, ApiError> {
    Ok(ExtensionView {
        id: row.id,
        deadline_id: row.deadline_id,
        assignment_id: row.assignment_id,
        case_id: row.case_id,
        department_id: row.department_id,
        requested_by: row.requested_by,
        requested_at: row.requested_at.and_utc(),
        reason: row.reason,
        working_days: row.working_days,
        due_before: row.due_before.and_utc(),
        state: row.state,
        decided_by: row.decided_by,
        decided_at: row.decided_at.map(|t| t.and_utc()),
        decision_note: row.decision_note,
        new_due_at: row.new_due_at.map(|t| t.and_utc()),
    })
}

/// The limits of the policy in force, and the new deadline granting would give, or why not.
fn grantable(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    assignment_id: AssignmentId,
    current_due: DateTime<Utc>,
    working_days: u32,
) -> Result<crate::domain::calendar::Due, ApiError> {
    let assignment = stored(
        assignment_db::find_assignment(conn, assignment_id)?,
        "assignment",
    )?;
    let policy = reference.policy();
    let limits = ExtensionLimits {
        max_per_assignment: policy.policy.max_extensions_per_assignment,
        max_reply_working_days: policy.policy.max_reply_working_days_with_extensions,
    };
    let granted =
        extension_db::count_for_assignment(conn, assignment_id, ExtensionState::Approved)?;
    extended_due(
        &reference.calendar(),
        limits,
        assignment.dispatched_at.and_utc(),
        current_due,
        u32::try_from(granted).unwrap_or(u32::MAX),
        working_days,
    )
    .map_err(|refusal| match refusal {
        ExtensionRefusal::LimitReached { max, .. } => ApiError::conflict(
            ErrorCode::ExtensionLimitReached,
            format!("this assignment has had the {max} extensions the policy allows"),
        ),
        ExtensionRefusal::BeyondLatest { latest } => ApiError::field(
            "working_days",
            FieldErrorCode::BeyondLimit,
            format!(
                "the reply deadline may not go past {} ({} working days after dispatch)",
                latest.to_rfc3339(),
                limits.max_reply_working_days
            ),
        ),
    })
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionRequest {
    /// Why the department needs more time (延期理由).
    #[schema(
        example = "需协调区住建局联合现场勘查，原时限内无法完成。",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub reason: String,
    /// Working days asked for, counted from the current reply deadline.
    #[schema(minimum = 1, maximum = 30, example = 5)]
    #[validate(range(min = 1, max = MAX_REQUESTED_WORKING_DAYS, code = "out_of_range"))]
    pub working_days: u32,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecisionRequest {
    pub decision: ExtensionDecision,
    /// Told to the department with the decision.
    #[schema(max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub note: Option<String>,
}

/// A department admin asks for `working_days` more on a running reply deadline of their
/// department.
pub fn request(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    deadline_id: DeadlineId,
    reason: &str,
    working_days: u32,
) -> Result<ExtensionView, ApiError> {
    let reason = reason.trim().to_owned();
    let user = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("a department admin without a user id"))?;
    let row = write_transaction(conn, |conn| -> Result<ExtensionRow, ApiError> {
        let deadline = assignment_db::find_deadline(conn, deadline_id)?
            .filter(|d| {
                d.department_id.is_some() && d.department_id == principal.department_scope()
            })
            .ok_or_else(|| ApiError::not_found("no such deadline"))?;
        assignment_db::lock_case(conn, deadline.case_id)?;
        let (Some(assignment_id), Some(department_id)) =
            (deadline.assignment_id, deadline.department_id)
        else {
            return Err(ApiError::not_found("no such deadline"));
        };
        if deadline.kind != DeadlineKind::Reply {
            return Err(ApiError::conflict(
                ErrorCode::NotExtendable,
                "only reply deadlines are extended",
            ));
        }
        if deadline.state != DeadlineState::Running {
            return Err(ApiError::conflict(
                ErrorCode::DeadlineNotRunning,
                "this deadline has stopped: it was met, missed or cancelled",
            ));
        }
        if extension_db::count_for_assignment(conn, assignment_id, ExtensionState::Pending)? > 0 {
            return Err(pending_already());
        }
        // Refused at once when it could never be granted.
        grantable(
            conn,
            reference,
            assignment_id,
            deadline.due_at.and_utc(),
            working_days,
        )?;
        let at = now();
        let row = extension_db::insert_extension(
            conn,
            NewExtension {
                deadline_id,
                assignment_id,
                case_id: deadline.case_id,
                department_id,
                requested_by: user,
                requested_at: at,
                reason: reason.clone(),
                working_days: working_days as i32,
                due_before: deadline.due_at,
                state: ExtensionState::Pending,
            },
        )
        // Two requests at once: the unique index on pending requests lets one in.
        .map_err(|e| {
            if crate::db::is_unique_violation(&e) {
                pending_already()
            } else {
                e.into()
            }
        })?;
        event_keeping_status(
            conn,
            principal,
            deadline.case_id,
            "extension_requested",
            serde_json::json!({
                "extension_id": row.id,
                "deadline_id": deadline_id,
                "assignment_id": assignment_id,
                "department_id": department_id,
                "working_days": working_days,
                "reason": reason,
            }),
        )?;
        Ok(row)
    })?;
    view(row)
}

fn pending_already() -> ApiError {
    ApiError::conflict(
        ErrorCode::ExtensionPending,
        "a request for this assignment is waiting for a decision",
    )
}

/// A supervisor approves (the reply deadline moves, and with it the time the citizen was told
/// when the lead department asked) or rejects a pending request.
pub fn decide(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: ExtensionId,
    decision: ExtensionDecision,
    note: Option<&str>,
) -> Result<ExtensionView, ApiError> {
    let note = note.map(|n| n.trim().to_owned());
    let user = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("a supervisor without a user id"))?;
    let row = write_transaction(conn, |conn| -> Result<ExtensionRow, ApiError> {
        let request = extension_db::find_extension(conn, id)?
            .ok_or_else(|| ApiError::not_found("no such extension request"))?;
        assignment_db::lock_case(conn, request.case_id)?;
        if request.state != ExtensionState::Pending {
            return Err(already_decided());
        }
        let at = now();
        let mut new_due = None;
        if decision == ExtensionDecision::Approve {
            let deadline = stored(
                assignment_db::find_deadline(conn, request.deadline_id)?,
                "deadline",
            )?;
            if deadline.state != DeadlineState::Running {
                return Err(ApiError::conflict(
                    ErrorCode::DeadlineNotRunning,
                    "the deadline stopped after the request was made; reject the request",
                ));
            }
            let due = grantable(
                conn,
                reference,
                request.assignment_id,
                deadline.due_at.and_utc(),
                request.working_days as u32,
            )?;
            let due_at = due.at.naive_utc();
            extension_db::move_reply_deadline(
                conn,
                deadline.id,
                request.assignment_id,
                due_at,
                !due.calendar_complete,
                at,
            )?;
            let assignment = stored(
                assignment_db::find_assignment(conn, request.assignment_id)?,
                "assignment",
            )?;
            let case = stored(case_db::find_case(conn, request.case_id)?, "case")?;
            if assignment.role == AssignmentRole::Lead && assignment.round == case.current_round {
                case_db::change_status(
                    conn,
                    case.id,
                    case.version,
                    CaseChanges {
                        reply_due_at: Some(Some(due_at)),
                        updated_at: Some(at),
                        ..Default::default()
                    },
                )?
                .ok_or_else(|| {
                    ApiError::conflict(
                        ErrorCode::ConcurrentUpdate,
                        "the case changed meanwhile; retry",
                    )
                })?;
            }
            new_due = Some(due_at);
        }
        let row = extension_db::decide(
            conn,
            id,
            Decision {
                state: decision.outcome(),
                decided_by: user,
                decided_at: at,
                note: note.clone(),
                new_due_at: new_due,
            },
        )?
        .ok_or_else(already_decided)?;
        event_keeping_status(
            conn,
            principal,
            request.case_id,
            match decision {
                ExtensionDecision::Approve => "extension_approved",
                ExtensionDecision::Reject => "extension_rejected",
            },
            serde_json::json!({
                "extension_id": id,
                "deadline_id": request.deadline_id,
                "assignment_id": request.assignment_id,
                "note": note,
                "new_due_at": new_due.map(|t| t.and_utc()),
            }),
        )?;
        Ok(row)
    })?;
    view(row)
}

fn already_decided() -> ApiError {
    ApiError::conflict(
        ErrorCode::ExtensionDecided,
        "this request has been decided already",
    )
}

pub fn get(
    conn: &mut DbConnection,
    principal: &Principal,
    id: ExtensionId,
) -> Result<ExtensionView, ApiError> {
    let row = extension_db::find_extension(conn, id)?
        .filter(|row| principal.sees_department_row(Some(row.department_id)))
        .ok_or_else(|| ApiError::not_found("no such extension request"))?;
    view(row)
}

/// Lists the requests `principal` may see, newest first; department users only their own.
pub fn list(
    conn: &mut DbConnection,
    principal: &Principal,
    mut filter: ExtensionFilter,
    page: PageRequest,
) -> Result<Vec<ExtensionView>, ApiError> {
    let Some(department_id) = principal.department_filter(filter.department_id)? else {
        return Ok(Vec::new());
    };
    filter.department_id = department_id;
    extension_db::list_extensions(conn, &filter, page)?
        .into_iter()
        .map(view)
        .collect()
}

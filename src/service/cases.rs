//! What every use case on a case shares: who may see a case, loading it (locked, checked against
//! the client's version), checked texts, and writing a change with its timeline event.

use crate::auth::Principal;
use crate::db::assignments as assignment_db;
use crate::db::cases::{self as case_db, CaseChanges, CaseRow, ComplainantRow, NewCaseEvent};
use crate::db::{DbConnection, now};
use crate::domain::case::CaseStatus;
use crate::domain::ids::{CaseId, ClientId, UserId};
use crate::domain::lifecycle::IllegalTransition;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode};

/// Who a timeline event names: a signed-in caller, or a citizen answering a survey by its link
/// without signing in (no account to name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventActor {
    pub user_id: Option<UserId>,
    pub client_id: Option<ClientId>,
    pub role: Role,
}

impl EventActor {
    /// A citizen acting through a link they were sent (a survey), not signed in.
    pub fn public_citizen() -> Self {
        EventActor {
            user_id: None,
            client_id: None,
            role: Role::Citizen,
        }
    }
}

impl From<&Principal> for EventActor {
    fn from(principal: &Principal) -> Self {
        EventActor {
            user_id: principal.user_id(),
            client_id: principal.client_id(),
            role: principal.role,
        }
    }
}

impl From<&EventActor> for EventActor {
    fn from(actor: &EventActor) -> Self {
        *actor
    }
}

pub(crate) fn event(
    actor: impl Into<EventActor>,
    case_id: CaseId,
    action: &str,
    before: Option<CaseStatus>,
    after: CaseStatus,
    details: serde_json::Value,
) -> NewCaseEvent {
    let actor = actor.into();
    NewCaseEvent {
        case_id,
        occurred_at: now(),
        actor_user_id: actor.user_id,
        actor_client_id: actor.client_id,
        actor_role: actor.role.as_str().to_owned(),
        action: action.to_owned(),
        status_before: before.map(|s| s.as_str().to_owned()),
        status_after: Some(after.as_str().to_owned()),
        details: details.to_string(),
    }
}

/// Appends an event to a case's timeline for a change that leaves the case's status as it is
/// (extensions, supervision).
pub(crate) fn event_keeping_status(
    conn: &mut DbConnection,
    actor: impl Into<EventActor>,
    case_id: CaseId,
    action: &str,
    details: serde_json::Value,
) -> Result<(), ApiError> {
    let case = stored(case_db::find_case(conn, case_id)?, "case")?;
    let status = case.status;
    case_db::insert_event(
        conn,
        event(actor, case_id, action, Some(status), status, details),
    )
    .map_err(ApiError::from)
}

/// A move the lifecycle refuses: 409 with its code.
pub(crate) fn conflict(e: IllegalTransition) -> ApiError {
    ApiError::conflict(e.code, e.detail)
}

pub(crate) fn stored<T>(value: Option<T>, what: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::internal(format!("unreadable stored {what}")))
}

pub(crate) fn concurrent() -> ApiError {
    ApiError::conflict(
        ErrorCode::ConcurrentUpdate,
        "another request changed this at the same time; fetch it again",
    )
}

pub(crate) fn stale() -> ApiError {
    ApiError::PreconditionFailed {
        code: ErrorCode::VersionMismatch,
        detail: "it changed since you read it; fetch it again".into(),
    }
}

/// Whether `principal` may see `case` at all; everyone else is told it does not exist.
pub fn may_see(principal: &Principal, case: &CaseRow) -> bool {
    match principal.role {
        Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => true,
        Role::Citizen => principal.user_id().is_some() && case.citizen_id == principal.user_id(),
        Role::Integration => {
            principal.client_id().is_some() && case.source_client == principal.client_id()
        }
        // Departments see the cases dispatched to them: a lookup, in `checked_visibility`.
        Role::DepartmentStaff | Role::DepartmentAdmin => false,
        Role::Analyst => false,
    }
}

pub(crate) fn not_found() -> ApiError {
    ApiError::not_found("no such case")
}

/// Loads a case the principal may see, or answers 404.
pub fn visible_case(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
) -> Result<CaseRow, ApiError> {
    let case = case_db::find_case(conn, id)?.ok_or_else(not_found)?;
    checked_visibility(conn, principal, case)
}

/// [`visible_case`] with its complainant, read together.
pub fn visible_case_with_complainant(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
) -> Result<(CaseRow, Option<ComplainantRow>), ApiError> {
    let (case, complainant) =
        case_db::find_case_with_complainant(conn, id)?.ok_or_else(not_found)?;
    Ok((checked_visibility(conn, principal, case)?, complainant))
}

/// The case if `principal` may see it; departments see the cases ever dispatched to them.
fn checked_visibility(
    conn: &mut DbConnection,
    principal: &Principal,
    case: CaseRow,
) -> Result<CaseRow, ApiError> {
    let visible = match (principal.role, principal.department_scope()) {
        (Role::DepartmentStaff | Role::DepartmentAdmin, Some(department)) => {
            crate::db::assignments::department_has_case(conn, department, case.id)?
        }
        _ => may_see(principal, &case),
    };
    if visible { Ok(case) } else { Err(not_found()) }
}

/// Like [`visible_case`], and 412 when the client's `If-Match` version is no longer current.
pub(crate) fn visible_case_at(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    if_match: Option<i32>,
) -> Result<CaseRow, ApiError> {
    let case = visible_case(conn, principal, id)?;
    check_version(&case, if_match)?;
    Ok(case)
}

/// `If-Match` against the case's version: 412 when it changed since the client read it.
pub(crate) fn check_version(case: &CaseRow, if_match: Option<i32>) -> Result<(), ApiError> {
    if if_match.is_some_and(|v| v != case.version) {
        return Err(ApiError::PreconditionFailed {
            code: ErrorCode::VersionMismatch,
            detail: "the case changed since you read it; fetch it again".into(),
        });
    }
    Ok(())
}

pub fn visible_case_by_number(
    conn: &mut DbConnection,
    principal: &Principal,
    case_no: &str,
) -> Result<CaseRow, ApiError> {
    let case = case_db::find_by_number(conn, case_no)?.ok_or_else(not_found)?;
    checked_visibility(conn, principal, case)
}

/// Locks the case for this transaction, then loads it if the principal may see it.
pub(crate) fn lock_visible_case(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    if_match: Option<i32>,
) -> Result<(CaseRow, CaseStatus), ApiError> {
    assignment_db::lock_case(conn, id)?;
    let case = visible_case_at(conn, principal, id, if_match)?;
    let status = case.status;
    Ok((case, status))
}

/// Writes the case's new state (one version up) and its timeline event.
pub(crate) fn change_case(
    conn: &mut DbConnection,
    actor: impl Into<EventActor>,
    case: &CaseRow,
    (before, after): (CaseStatus, CaseStatus),
    action: &str,
    changes: CaseChanges,
    details: serde_json::Value,
) -> Result<CaseRow, ApiError> {
    let changes = CaseChanges {
        status: Some(after),
        updated_at: Some(now()),
        ..changes
    };
    let updated =
        case_db::change_status(conn, case.id, case.version, changes)?.ok_or_else(concurrent)?;
    case_db::insert_event(
        conn,
        event(actor, case.id, action, Some(before), after, details),
    )?;
    Ok(updated)
}

//! The departments' work on their assignments (SPEC 2.5): reading them, and the six moves
//! (sign, return, the centre's ruling on a return, handover, progress, reply), each of which lets
//! the round decide the case's status.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::accounts;
use crate::db::assignments::{
    self as assignment_db, AssignmentChanges, AssignmentFilter, AssignmentRow,
};
use crate::db::cases::{self as case_db, CaseChanges};
use crate::db::{DbConnection, PageRequest, now, write_transaction};
use crate::domain::case::CaseStatus;
use crate::domain::dispatch::{
    AssignmentAction, AssignmentRole, AssignmentState, DeadlineKind, DeadlineState, DispatchMode,
    ReturnRuling, assignment_transition,
};
use crate::domain::ids::{AssignmentId, CaseId, DepartmentId, UserId};
use crate::domain::lifecycle::status_after_round;
use crate::domain::role::Role;
use crate::error::{ApiError, ErrorCode, FieldErrorCode};
use crate::service::cases::{change_case, concurrent, conflict, stale, stored};
use crate::validation;

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
    #[validate(length(min = 1, max = 5000), custom(function = "validation::text"))]
    pub investigation: String,
    /// What was done (处理措施).
    #[schema(
        example = "已联合街道执法队清理占道摊点，并安排每日巡查。",
        min_length = 1,
        max_length = 5000
    )]
    #[validate(length(min = 1, max = 5000), custom(function = "validation::text"))]
    pub actions: String,
    /// The result (办理结果).
    #[schema(example = "已解决", min_length = 1, max_length = 2000)]
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub result: String,
    /// Whether the department contacted the citizen.
    pub contacted_citizen: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AssignmentView {
    pub id: AssignmentId,
    pub case_id: CaseId,
    pub department_id: DepartmentId,
    /// The dispatch round (1 for the first dispatch, one more per redo or re-dispatch).
    pub round: i32,
    pub role: AssignmentRole,
    pub mode: DispatchMode,
    /// 交办: the centre set the reply deadline itself.
    pub assigned: bool,
    pub instructions: Option<String>,
    pub state: AssignmentState,
    pub dispatched_by: Option<UserId>,
    pub dispatched_at: DateTime<Utc>,
    pub sign_due_at: DateTime<Utc>,
    pub reply_due_at: DateTime<Utc>,
    /// The department user it was handed to.
    pub handler_id: Option<UserId>,
    pub signed_by: Option<UserId>,
    pub signed_at: Option<DateTime<Utc>>,
    pub returned_by: Option<UserId>,
    pub returned_at: Option<DateTime<Utc>>,
    pub return_reason: Option<String>,
    pub ruling: Option<ReturnRuling>,
    pub ruling_note: Option<String>,
    pub ruled_at: Option<DateTime<Utc>>,
    pub reply: Option<Reply>,
    pub replied_by: Option<UserId>,
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
    let state = row.state;
    let at = now();
    let overdue = (state == AssignmentState::PendingSign && row.sign_due_at < at)
        || (state.is_open() && row.reply_due_at < at);
    Ok(AssignmentView {
        id: row.id,
        case_id: row.case_id,
        department_id: row.department_id,
        round: row.round,
        role: row.role,
        mode: row.mode,
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
        ruling: row.ruling,
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

pub fn visible_assignment(
    conn: &mut DbConnection,
    principal: &Principal,
    id: AssignmentId,
) -> Result<AssignmentRow, ApiError> {
    assignment_db::find_assignment(conn, id)?
        .filter(|a| principal.sees_department_row(Some(a.department_id)))
        .ok_or_else(|| ApiError::not_found("no such assignment"))
}

pub fn get_assignment(
    conn: &mut DbConnection,
    principal: &Principal,
    id: AssignmentId,
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
        user_id: UserId,
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
    id: AssignmentId,
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
        let case_status = case.status;
        let state = assignment.state;
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
                    ruling: Some(*ruling),
                    ruling_note: note.clone(),
                    ruled_at: Some(at),
                    ..Default::default()
                }
            }
            AssignmentMove::Handover { user_id } => {
                let target = accounts::find_user(conn, *user_id)?.filter(|u| {
                    u.active
                        && u.department_id == Some(assignment.department_id)
                        && (u.role == Role::DepartmentStaff || u.role == Role::DepartmentAdmin)
                });
                if target.is_none() {
                    return Err(ApiError::field(
                        "user_id",
                        FieldErrorCode::NotFound,
                        "no active user of this department with this id",
                    ));
                }
                details["handler_id"] = user_id.get().into();
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
                state: Some(next),
                updated_at: Some(at),
                ..changes
            },
        )?
        .ok_or_else(concurrent)?;
        // The round decides the case's status; every change still moves the case's version.
        let round: Vec<AssignmentState> = assignment_db::case_assignments(conn, case.id)?
            .into_iter()
            .filter(|a| a.round == case.current_round)
            .map(|a| a.state)
            .collect();
        let after = status_after_round(case_status, &round);
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
    if let Some(clock) = assignment_db::running_deadline(conn, assignment.id, kind)? {
        let state = if at <= clock.due_at {
            DeadlineState::Met
        } else {
            DeadlineState::Missed
        };
        assignment_db::finish_deadline(conn, clock.id, state, at)?;
    }
    Ok(())
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnAssignment {
    /// Why the department is not responsible (退单理由).
    #[schema(
        example = "该路段属于区管道路，不在本局职责范围内。",
        min_length = 1,
        max_length = 2000
    )]
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub reason: String,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleOnReturn {
    /// `accepted`: the dispatch was wrong, the assignment is withdrawn (the case goes back to
    /// dispatch when none of the round remains); `refused`: it goes back to the department and
    /// its clocks keep running.
    pub ruling: ReturnRuling,
    #[schema(
        example = "经核实，该事项属于贵单位职责，请继续办理。",
        max_length = 2000
    )]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Handover {
    /// An active staff member (or admin) of the assignment's department.
    pub user_id: UserId,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// What has been done so far (办理进展).
    #[schema(
        example = "已联系街道执法队，计划本周五集中整治。",
        min_length = 1,
        max_length = 5000
    )]
    #[validate(length(min = 1, max = 5000), custom(function = "validation::text"))]
    pub note: String,
}

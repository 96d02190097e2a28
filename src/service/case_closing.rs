//! Ending a case and undoing its end: merge into an earlier case (with the suggestions of similar
//! cases), close by a supervisor, and reopen within the window.

use chrono::{Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::assignments as assignment_db;
use crate::db::cases::{self as case_db, CaseChanges, CaseRow};
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::case::Closure;
use crate::domain::ids::CaseId;
use crate::domain::lifecycle::{CaseMove, may_reopen, transition};
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::service::case_views::{CaseSummary, CaseView, view};
use crate::service::cases::{change_case, conflict, lock_visible_case, visible_case};
use crate::service::dispatch::Reason;
use crate::validation::{self, trimmed};

#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct MergeCase {
    /// The earlier open case this one is the same matter as.
    pub into_case_id: CaseId,
    #[schema(example = "同一市民重复反映同一事项", max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub reason: Option<String>,
}

/// Merges case `id` into an earlier open case (并单): it closes as `merged` and points there.
pub fn merge(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    input: MergeCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = input.reason.as_deref().map(trimmed);
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        // Lock in id order so two merges touching the same pair cannot deadlock.
        let into = input.into_case_id;
        let (first, second) = (id.min(into), id.max(into));
        assignment_db::lock_case(conn, first)?;
        assignment_db::lock_case(conn, second)?;
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        let next = transition(status, CaseMove::Merge).map_err(conflict)?;
        let target = visible_case(conn, principal, into).map_err(|_| {
            ApiError::field(
                "into_case_id",
                FieldErrorCode::NotFound,
                "no case with this id",
            )
        })?;
        let target_status = target.status;
        if target.id >= case.id {
            return Err(ApiError::conflict(
                ErrorCode::MergeTargetNotEarlier,
                "a case is merged into an earlier case, not a later one",
            ));
        }
        let target_next = transition(target_status, CaseMove::TakeMerged).map_err(conflict)?;
        let at = now();
        change_case(
            conn,
            principal,
            &target,
            (target_status, target_next),
            "merged_from",
            CaseChanges::default(),
            serde_json::json!({"case_id": case.id, "case_no": case.case_no, "reason": reason}),
        )?;
        change_case(
            conn,
            principal,
            &case,
            (status, next),
            "merged",
            CaseChanges {
                closure: Some(Some(Closure::Merged)),
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
    id: CaseId,
) -> Result<Vec<SimilarCase>, ApiError> {
    let case = visible_case(conn, principal, id)?;
    let complainant = case_db::complainant(conn, case.id)?;
    let phone = complainant.as_ref().and_then(|c| c.phone.clone());
    let since = case.created_at - Duration::days(SIMILAR_WINDOW_DAYS);
    let rows = case_db::similar_cases(conn, &case, phone.as_deref(), since, 20)?;
    // One query for the candidates' phones, not one per candidate.
    let ids: Vec<CaseId> = rows.iter().map(|r| r.id).collect();
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
    #[validate(length(min = 1, max = 2000), custom(function = "validation::text"))]
    pub reason: String,
    /// `closed_by_supervisor` (default) or `resolved`.
    #[serde(default)]
    pub closure: Option<Closure>,
}

/// Closes an open case with a reason: its open assignments and running clocks end.
pub fn close(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
    input: CloseCase,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = trimmed(&input.reason);
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
        let next = transition(status, CaseMove::Close).map_err(conflict)?;
        let at = now();
        assignment_db::cancel_open_assignments(conn, case.id, at)?;
        assignment_db::cancel_deadlines(conn, case.id, None, at)?;
        change_case(
            conn,
            principal,
            &case,
            (status, next),
            "closed",
            CaseChanges {
                closure: Some(Some(closure)),
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
    id: CaseId,
    input: Reason,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let reason = trimmed(&input.reason);
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        let next = transition(status, CaseMove::Reopen).map_err(conflict)?;
        let closed_at = case.closed_at.unwrap_or(case.updated_at).and_utc();
        may_reopen(closed_at, Utc::now()).map_err(conflict)?;
        // A merged case's citizen was waiting for a follow-up on the other case's result; the
        // reopened case will get its own.
        assignment_db::cancel_deadlines(conn, case.id, None, now())?;
        change_case(
            conn,
            principal,
            &case,
            (status, next),
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

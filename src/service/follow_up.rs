//! Following up with the citizen (回访, SPEC 2.7 and 3 after review): recording attempts and
//! applying what they say, the supervisor's decision after a dissatisfied citizen, the centre's
//! follow-up queue, and the lists of attempts. The rules are `domain::follow_up`'s; each use case
//! here is one transaction that writes the attempt, the case's change and its timeline events.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::Principal;
use crate::db::assignments::{self as assignment_db, DeadlineRow};
use crate::db::cases::{self as case_db, CaseChanges, CaseRow};
use crate::db::follow_up::{self as follow_up_db, CallFilter, FollowUpCallRow, NewFollowUpCall};
use crate::db::{DbConnection, PageRequest, now, write_transaction};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::case::{CaseStatus, Closure};
use crate::domain::dispatch::{DeadlineState, DispatchTarget, clock_flags};
use crate::domain::follow_up::{
    CallEffect, CallOutcome, DecisionReason, Evaluation, FollowUpChannel, FollowUpError, Resolved,
    Satisfaction, Verdict, check_call_time, verdict,
};
use crate::domain::ids::{CaseId, DeadlineId, DepartmentId, FollowUpCallId, UserId};
use crate::domain::lifecycle::{CaseMove, transition};
use crate::domain::role::Role;
use crate::domain::survey::call_evaluation;
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};
use crate::service::case_views::{
    CaseSummary, CaseView, ComplainantView, complainant_view, serialize_complainant, view,
};
use crate::service::cases::{
    EventActor, change_case, conflict, event_keeping_status, lock_visible_case, stored,
    visible_case,
};
use crate::service::dispatch::{
    DispatchTargetInput, NewRound, checked_targets, redo_details, set_round_aside, start_round,
};
use crate::service::reference::ReferenceData;
use crate::service::surveys::{
    PhoneAnswers, PhoneSurvey, SurveyView, centre_view, check_phone_survey, record_phone_survey,
};
use crate::validation::{self, trimmed};

/// One attempt to reach the citizen, as the caller records it.
#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct RecordCall {
    pub channel: FollowUpChannel,
    pub outcome: CallOutcome,
    /// Required when `reached`, not allowed otherwise.
    #[serde(default)]
    pub resolved: Option<Resolved>,
    /// Required when `reached`, not allowed otherwise.
    #[serde(default)]
    pub satisfaction: Option<Satisfaction>,
    /// What the citizen said, in their words.
    #[schema(example = "路灯已经修好了，谢谢。", max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub citizen_words: Option<String>,
    /// When the call was made (default: now); never in the future, never before the result was
    /// approved. The three-days rule counts these times.
    #[eserde(compat)]
    #[serde(default)]
    pub called_at: Option<DateTime<Utc>>,
    /// Only with `reached`: the call recorded as a survey response (channel `phone`), with the
    /// answers checked as through the public link. When the template carries resolved and
    /// satisfaction, the answers give the call's `resolved` and `satisfaction` (if those are sent
    /// as well, they must say the same).
    #[validate(nested)]
    #[serde(default)]
    pub survey: Option<PhoneSurvey>,
}

/// An attempt as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpCallView {
    pub id: FollowUpCallId,
    /// The case whose citizen was called.
    pub case_id: CaseId,
    /// The follow-up clock the attempt answers.
    pub deadline_id: DeadlineId,
    /// The case whose handling the answer evaluates: the case itself, or for a merged case (并单)
    /// the case it was merged into.
    pub evaluated_case_id: CaseId,
    /// The evaluated dispatch round.
    pub round: i32,
    /// The lead department of that round: the answer counts for it.
    pub department_id: Option<DepartmentId>,
    pub channel: FollowUpChannel,
    pub outcome: CallOutcome,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
    /// The citizen's words: shown to the centre only (they may hold personal data).
    pub citizen_words: Option<String>,
    /// What the attempt did to the case.
    pub effect: CallEffect,
    /// The user who called.
    pub called_by: UserId,
    pub called_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

fn call_view(principal: &Principal, row: FollowUpCallRow) -> FollowUpCallView {
    FollowUpCallView {
        id: row.id,
        case_id: row.case_id,
        deadline_id: row.deadline_id,
        evaluated_case_id: row.evaluated_case_id,
        round: row.round,
        department_id: row.department_id,
        channel: row.channel,
        outcome: row.outcome,
        resolved: row.resolved,
        satisfaction: row.satisfaction,
        citizen_words: row.citizen_words.filter(|_| {
            matches!(
                principal.role,
                Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin
            )
        }),
        effect: row.effect,
        called_by: row.called_by,
        called_at: row.called_at.and_utc(),
        recorded_at: row.recorded_at.and_utc(),
    }
}

/// The attempt and the case after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedCall {
    pub call: FollowUpCallView,
    /// The survey response the call was recorded as, when it was.
    pub survey: Option<SurveyView>,
    pub case: CaseView,
}

/// Whose follow-up an attempt belongs to.
struct FollowUpTarget {
    /// The case's running follow-up clock.
    clock: DeadlineRow,
    /// The case whose handling is evaluated (itself, or the case it was merged into).
    evaluated: CaseRow,
}

/// The follow-up a case (locked by the caller) is in: its own (awaiting follow-up), or, for a case
/// merged into another, the follow-up its citizen gets once the surviving case's result is
/// approved. The surviving case is locked too, before the clock is read: its approval or redo
/// restarts or ends this citizen's clock, and a call waiting on it then reads the clock as that
/// left it.
fn follow_up_target(conn: &mut DbConnection, case: &CaseRow) -> Result<FollowUpTarget, ApiError> {
    let status = case.status;
    let merged_into = case
        .merged_into
        .filter(|_| status == CaseStatus::Closed && case.closure == Some(Closure::Merged));
    let evaluated = match merged_into {
        Some(into) => locked_surviving_case(conn, into)?,
        None => {
            transition(status, CaseMove::FollowUpAttempt).map_err(conflict)?;
            case.clone()
        }
    };
    match follow_up_db::running_follow_up_clock(conn, case.id)? {
        Some(clock) => Ok(FollowUpTarget { clock, evaluated }),
        None if merged_into.is_none() => Err(ApiError::internal(format!(
            "case {} awaits follow-up without a running follow-up clock",
            case.id
        ))),
        None if evaluated.reviewed_at.is_none() => Err(ApiError::conflict(
            ErrorCode::FollowUpNotDue,
            "the case this one was merged into has not had its result approved yet",
        )),
        None => Err(ApiError::conflict(
            ErrorCode::FollowUpEnded,
            "this citizen's follow-up is over",
        )),
    }
}

/// How deep merges into merged cases are followed (a chain longer than this is not made by hand).
const MERGE_CHAIN_LIMIT: usize = 32;

/// The case a merge chain ends in: `id`, or the case it was merged into, and so on (A merged into
/// B, later B into C: A's citizen is followed up on C's result).
fn surviving_case(conn: &mut DbConnection, id: CaseId) -> Result<CaseRow, ApiError> {
    let mut case = stored(case_db::find_case(conn, id)?, "case merged into")?;
    for _ in 0..MERGE_CHAIN_LIMIT {
        match case
            .merged_into
            .filter(|_| case.closure == Some(Closure::Merged))
        {
            Some(into) => case = stored(case_db::find_case(conn, into)?, "case merged into")?,
            None => break,
        }
    }
    Ok(case)
}

/// [`surviving_case`], locked (the call counts in its statistics as well) and read once held:
/// an approval waited for has changed it, and a merge or reopening of a link has changed the
/// chain, which is then walked again.
fn locked_surviving_case(conn: &mut DbConnection, into: CaseId) -> Result<CaseRow, ApiError> {
    let mut end = surviving_case(conn, into)?.id;
    for _ in 0..MERGE_CHAIN_LIMIT {
        assignment_db::lock_case(conn, end)?;
        let now = surviving_case(conn, into)?;
        if now.id == end {
            return Ok(now);
        }
        end = now.id;
    }
    Err(ApiError::internal("a merge chain kept changing"))
}

/// Every case merged into `id`, directly or through a chain of merges: the citizens followed up
/// on `id`'s result.
pub(crate) fn merged_citizens(
    conn: &mut DbConnection,
    id: CaseId,
) -> Result<Vec<CaseId>, ApiError> {
    let mut found = Vec::new();
    let mut next = vec![id];
    while let Some(case) = next.pop() {
        for merged in follow_up_db::merged_into(conn, case)? {
            if found.len() < MERGE_CHAIN_LIMIT * 64 && !found.contains(&merged) {
                found.push(merged);
                next.push(merged);
            }
        }
    }
    Ok(found)
}

fn follow_up_error(e: FollowUpError) -> ApiError {
    let (fields, code): (&[&str], _) = match e {
        FollowUpError::EvaluationMissing => {
            (&["resolved", "satisfaction"], FieldErrorCode::Required)
        }
        FollowUpError::EvaluationWithoutReaching => {
            (&["resolved", "satisfaction"], FieldErrorCode::NotAllowed)
        }
        FollowUpError::CalledInFuture | FollowUpError::CalledBeforeApproval => {
            (&["called_at"], FieldErrorCode::Invalid)
        }
    };
    let mut errors = FieldErrors::default();
    for field in fields {
        errors.add(field, code, e.to_string());
    }
    errors.finish().expect_err("at least one field")
}

/// Stops a follow-up clock: met when on time, missed when late.
fn stop_clock(
    conn: &mut DbConnection,
    clock: &DeadlineRow,
    at: NaiveDateTime,
) -> Result<(), ApiError> {
    let state = if at <= clock.due_at {
        DeadlineState::Met
    } else {
        DeadlineState::Missed
    };
    assignment_db::finish_deadline(conn, clock.id, state, at)?;
    Ok(())
}

/// Applies a verdict that ends the follow-up of `case` (awaiting follow-up): closes it, or hands
/// it to the supervisor's decision. Returns the changed case.
fn conclude(
    conn: &mut DbConnection,
    actor: &EventActor,
    case: &CaseRow,
    (clock, answered_at): (&DeadlineRow, NaiveDateTime),
    verdict: Verdict,
    details: serde_json::Value,
) -> Result<CaseRow, ApiError> {
    let status = case.status;
    let at = now();
    // The clock is met by the call when it was made, also when it is recorded later.
    stop_clock(conn, clock, answered_at)?;
    match verdict.closure() {
        Some(closure) => {
            let next = transition(status, CaseMove::FollowUpClose).map_err(conflict)?;
            change_case(
                conn,
                actor,
                case,
                (status, next),
                "closed_after_follow_up",
                CaseChanges {
                    closure: Some(Some(closure)),
                    closed_at: Some(Some(at)),
                    ..Default::default()
                },
                details,
            )
        }
        None => {
            let next = transition(status, CaseMove::FollowUpDissatisfied).map_err(conflict)?;
            change_case(
                conn,
                actor,
                case,
                (status, next),
                "awaiting_decision",
                CaseChanges::default(),
                details,
            )
        }
    }
}

/// Checks a phone survey sent with a call and merges what its answers say into the call's own
/// resolved and satisfaction.
fn phone_survey(
    conn: &mut DbConnection,
    input: &mut RecordCall,
) -> Result<Option<PhoneAnswers>, ApiError> {
    let Some(survey) = input.survey.take() else {
        return Ok(None);
    };
    if input.outcome != CallOutcome::Reached {
        return Err(ApiError::field(
            "survey",
            FieldErrorCode::NotAllowed,
            "only a call that reached the citizen is a survey response",
        ));
    }
    let answers = check_phone_survey(conn, survey)?;
    match call_evaluation((input.resolved, input.satisfaction), &answers.checked) {
        Ok((resolved, satisfaction)) => {
            (input.resolved, input.satisfaction) = (resolved, satisfaction);
            Ok(Some(answers))
        }
        Err(measures) => {
            let mut errors = FieldErrors::default();
            for measure in measures {
                let message = format!(
                    "the call's {0} and the survey's answer on {0} disagree",
                    measure.as_str()
                );
                errors.add(measure.as_str(), FieldErrorCode::Invalid, message.clone());
                if let Some((_, path)) = answers.paths.iter().find(|(m, _)| *m == measure) {
                    errors.add(path, FieldErrorCode::Invalid, message);
                }
            }
            Err(errors.finish().expect_err("at least one disagreement"))
        }
    }
}

pub fn record_call(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: CaseId,
    mut input: RecordCall,
) -> Result<RecordedCall, ApiError> {
    let survey = phone_survey(conn, &mut input)?;
    let evaluation = match (input.resolved, input.satisfaction) {
        (Some(resolved), Some(satisfaction)) => Some(Evaluation {
            resolved,
            satisfaction,
        }),
        (None, None) => None,
        // Half an evaluation: the domain's rule names what is missing or not allowed.
        _ if input.outcome == CallOutcome::Reached => {
            return Err(follow_up_error(FollowUpError::EvaluationMissing));
        }
        _ => return Err(follow_up_error(FollowUpError::EvaluationWithoutReaching)),
    };
    let words = input.citizen_words.as_deref().map(trimmed);
    let caller = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("a follow-up call without a calling user"))?;
    let calendar = reference.calendar();
    let (call, survey, row) = write_transaction(conn, |conn| -> Result<_, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, None)?;
        let FollowUpTarget { clock, evaluated } = follow_up_target(conn, &case)?;
        let recorded_at = now();
        let called_at = input
            .called_at
            .map(crate::db::truncate)
            .unwrap_or_else(|| recorded_at.and_utc());
        check_call_time(called_at, clock.starts_at.and_utc(), Utc::now())
            .map_err(follow_up_error)?;
        let unreached_days: BTreeSet<_> = follow_up_db::unreached_call_times(conn, clock.id)?
            .into_iter()
            .map(|t| calendar.local_date(t.and_utc()))
            .collect();
        let verdict = verdict(
            input.outcome,
            evaluation,
            &unreached_days,
            calendar.local_date(called_at),
        )
        .map_err(follow_up_error)?;
        let merged = evaluated.id != case.id;
        let effect = match verdict {
            Verdict::TryAgain => CallEffect::TryAgain,
            _ if merged => CallEffect::FollowUpEnded,
            _ => verdict.effect(),
        };
        let new_call = NewFollowUpCall {
            case_id: case.id,
            deadline_id: clock.id,
            evaluated_case_id: evaluated.id,
            round: evaluated.current_round,
            department_id: evaluated.lead_department_id,
            channel: input.channel,
            outcome: input.outcome,
            resolved: input.resolved,
            satisfaction: input.satisfaction,
            citizen_words: words.clone(),
            effect,
            called_by: caller,
            called_at: called_at.naive_utc(),
            recorded_at,
        };
        let call = follow_up_db::insert_call(conn, &new_call)?;
        let details = call_details(call.id, &new_call);
        let actor = EventActor::from(principal);
        // The survey response is the call's evaluation on record a second way; the call's rule
        // below is the only one applied.
        let survey = match &survey {
            Some(answers) => Some(record_phone_survey(
                conn,
                &actor,
                (call.id, &new_call),
                answers,
            )?),
            None => None,
        };
        let row = match verdict {
            Verdict::TryAgain => {
                event_keeping_status(conn, actor, case.id, "follow_up_attempt", details)?;
                case
            }
            _ if merged => {
                // The merged case stays closed as merged; its citizen's answer is on record for
                // the case it was merged into.
                stop_clock(conn, &clock, called_at.naive_utc())?;
                event_keeping_status(conn, actor, case.id, "follow_up_recorded", details.clone())?;
                event_keeping_status(
                    conn,
                    actor,
                    evaluated.id,
                    "merged_case_followed_up",
                    serde_json::json!({"case_id": case.id, "call_id": call.id, "outcome": call.outcome.as_str()}),
                )?;
                case
            }
            _ => {
                debug_assert_eq!(status, CaseStatus::AwaitingFollowUp);
                conclude(
                    conn,
                    &actor,
                    &case,
                    (&clock, called_at.naive_utc()),
                    verdict,
                    details,
                )?
            }
        };
        Ok((call, survey, row))
    })?;
    Ok(RecordedCall {
        call: call_view(principal, call),
        survey: survey.map(centre_view).transpose()?,
        case: view(conn, principal, row)?,
    })
}

/// The timeline event's details of an attempt: the answer, not the citizen's words (they stay
/// with the call). The seed writes the same.
pub(crate) fn call_details<T: Copy + Into<NaiveDateTime>>(
    call_id: FollowUpCallId,
    call: &NewFollowUpCall<T>,
) -> serde_json::Value {
    serde_json::json!({
        "call_id": call_id,
        "channel": call.channel.as_str(),
        "outcome": call.outcome.as_str(),
        "resolved": call.resolved.map(Resolved::as_str),
        "satisfaction": call.satisfaction.map(Satisfaction::as_str),
        "called_at": call.called_at.into().and_utc(),
        "evaluated_case_id": call.evaluated_case_id,
    })
}

/// The timeline event's details of the supervisor's closing decision.
pub(crate) fn close_decision_details(
    reason: DecisionReason,
    note: Option<&str>,
) -> serde_json::Value {
    serde_json::json!({"decision": "close", "reason": reason.as_str(), "note": note})
}

/// Applies a citizen's evaluation given another way than a call (an answered survey, asked at
/// `asked_at` and answered at `at`) to a case awaiting follow-up: closes it, or hands it to the
/// supervisor's decision, like a reached call. Only the follow-up running when the question was
/// asked is answered: an invitation from before a redo evaluates a round that was set aside, and
/// is only recorded. Runs inside the caller's transaction; returns the case's new status, or
/// `None` (nothing done).
pub fn apply_evaluation(
    conn: &mut DbConnection,
    actor: &EventActor,
    case_id: CaseId,
    evaluation: Evaluation,
    (asked_at, at): (NaiveDateTime, NaiveDateTime),
    details: serde_json::Value,
) -> Result<Option<CaseStatus>, ApiError> {
    assignment_db::lock_case(conn, case_id)?;
    let case = case_db::find_case(conn, case_id)?.ok_or_else(crate::service::cases::not_found)?;
    if case.status != CaseStatus::AwaitingFollowUp {
        return Ok(None);
    }
    let Some(clock) = follow_up_db::running_follow_up_clock(conn, case.id)? else {
        return Ok(None);
    };
    if asked_at < clock.starts_at {
        return Ok(None);
    }
    let verdict = verdict(
        CallOutcome::Reached,
        Some(evaluation),
        &BTreeSet::new(),
        at.date(),
    )
    .map_err(follow_up_error)?;
    let row = conclude(conn, actor, &case, (&clock, at), verdict, details)?;
    Ok(Some(row.status))
}

pub fn case_calls(
    conn: &mut DbConnection,
    principal: &Principal,
    id: CaseId,
) -> Result<Vec<FollowUpCallView>, ApiError> {
    let case = visible_case(conn, principal, id)?;
    Ok(follow_up_db::case_calls(conn, case.id)?
        .into_iter()
        .map(|row| call_view(principal, row))
        .collect())
}

pub fn list_calls(
    conn: &mut DbConnection,
    principal: &Principal,
    filter: CallFilter,
    page: PageRequest,
) -> Result<Vec<FollowUpCallView>, ApiError> {
    Ok(follow_up_db::list_calls(conn, &filter, page)?
        .into_iter()
        .map(|row| call_view(principal, row))
        .collect())
}

/// A case in the centre's follow-up queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowUpQueueItem {
    /// The follow-up clock; its id is the queue's order (oldest clock first).
    pub deadline_id: DeadlineId,
    pub case: CaseSummary,
    /// The case itself, or for a merged case (并单) the case it was merged into (directly: after
    /// merges into merged cases the call evaluates the case the chain ends in).
    pub evaluated_case_id: CaseId,
    /// Whom to call: the complainant in full (each such read is recorded).
    #[serde(serialize_with = "serialize_complainant")]
    pub complainant: Option<ComplainantView>,
    pub starts_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
    /// Working time left on the clock (SPEC 4.2), in seconds; negative once overdue (the working
    /// time since it fell due).
    pub working_seconds_left: i64,
    pub due_soon: bool,
    pub overdue: bool,
    /// Attempts recorded on this clock so far.
    pub attempts: i64,
}

pub fn queue(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    page: PageRequest,
) -> Result<Vec<FollowUpQueueItem>, ApiError> {
    let rows = follow_up_db::queue(conn, page)?;
    let clocks: Vec<DeadlineId> = rows.iter().map(|row| row.deadline_id).collect();
    let attempts = follow_up_db::attempts(conn, &clocks)?;
    let calendar = reference.calendar();
    let now = Utc::now();
    Ok(rows
        .into_iter()
        .map(|row| queue_item(principal, &calendar, now, &attempts, row))
        .collect())
}

fn queue_item(
    principal: &Principal,
    calendar: &WorkingCalendar,
    now: DateTime<Utc>,
    attempts: &std::collections::HashMap<DeadlineId, i64>,
    row: follow_up_db::QueueRow,
) -> FollowUpQueueItem {
    let (starts_at, due_at) = (row.starts_at.and_utc(), row.due_at.and_utc());
    let (due_soon, overdue) = clock_flags(calendar, starts_at, due_at, true, now);
    let working_seconds_left = if overdue {
        -calendar.working_time_between(due_at, now).0.num_seconds()
    } else {
        calendar.working_time_between(now, due_at).0.num_seconds()
    };
    let complainant = complainant_view(principal, (row.case_id, row.citizen_id), row.complainant);
    FollowUpQueueItem {
        deadline_id: row.deadline_id,
        evaluated_case_id: row.merged_into.unwrap_or(row.case_id),
        complainant,
        starts_at,
        due_at,
        working_seconds_left,
        due_soon,
        overdue,
        attempts: attempts.get(&row.deadline_id).copied().unwrap_or(0),
        case: CaseSummary {
            id: row.case_id,
            case_no: row.case_no,
            channel: row.channel,
            kind: row.kind,
            urgency: row.urgency,
            category_id: row.category_id,
            district_id: row.district_id,
            title: row.title,
            status: row.status,
            citizen_status: row.status.for_citizen(),
            created_at: row.created_at.and_utc(),
            updated_at: row.updated_at.and_utc(),
        },
    }
}

/// What the supervisor decides after a dissatisfied follow-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, eserde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// 重办: a new dispatch round, with new clocks.
    Redo,
    /// Close with a reason from the fixed list.
    Close,
}

/// The supervisor's decision (SPEC 3: redo or close with a reason).
#[derive(Debug, eserde::Deserialize, Serialize, ToSchema, Validate)]
#[serde(deny_unknown_fields)]
pub struct FollowUpDecision {
    pub decision: Decision,
    /// Required with `close`, not allowed with `redo`.
    #[serde(default)]
    pub reason: Option<DecisionReason>,
    /// Why, in words: required with reason `other` and with `redo`.
    #[schema(example = "市民反映问题仍未解决，责成重新办理。", max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub note: Option<String>,
    /// With `redo`: the departments of the new round (default: the previous round's, in their
    /// roles).
    #[schema(min_items = 1, max_items = 10)]
    #[validate(length(min = 1, max = 10), nested)]
    #[serde(default)]
    pub departments: Option<Vec<DispatchTargetInput>>,
    /// With `redo`: instructions for the departments.
    #[schema(example = "请于规定时限内重新办理并答复市民。", max_length = 2000)]
    #[validate(length(max = 2000), custom(function = "validation::text"))]
    #[serde(default)]
    pub instructions: Option<String>,
}

pub fn decide(
    conn: &mut DbConnection,
    reference: &ReferenceData,
    principal: &Principal,
    id: CaseId,
    input: FollowUpDecision,
    if_match: Option<i32>,
) -> Result<CaseView, ApiError> {
    let note = input.note.as_deref().map(trimmed);
    let instructions = input.instructions.as_deref().map(trimmed);
    let mut errors = FieldErrors::default();
    match input.decision {
        Decision::Close => {
            match input.reason {
                None => errors.add(
                    "reason",
                    FieldErrorCode::Required,
                    "say why the case closes",
                ),
                Some(DecisionReason::Other) if note.is_none() => errors.add(
                    "note",
                    FieldErrorCode::Required,
                    "with reason `other`, say why in words",
                ),
                Some(_) => {}
            }
            for (field, given) in [
                ("departments", input.departments.is_some()),
                ("instructions", input.instructions.is_some()),
            ] {
                if given {
                    errors.add(
                        field,
                        FieldErrorCode::NotAllowed,
                        "only a redo is dispatched",
                    );
                }
            }
        }
        Decision::Redo => {
            if input.reason.is_some() {
                errors.add(
                    "reason",
                    FieldErrorCode::NotAllowed,
                    "a redo gives its reason in `note`",
                );
            }
            if note.is_none() {
                errors.add(
                    "note",
                    FieldErrorCode::Required,
                    "say why the case is redone",
                );
            }
        }
    }
    let chosen = match &input.departments {
        Some(departments) => Some(checked_targets(
            conn,
            departments,
            "departments",
            &mut errors,
        )?),
        None => None,
    };
    errors.finish()?;
    let row = write_transaction(conn, |conn| -> Result<CaseRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, id, if_match)?;
        let at = now();
        match input.decision {
            Decision::Close => {
                let next = transition(status, CaseMove::DecideClose).map_err(conflict)?;
                let reason = input.reason.unwrap_or(DecisionReason::Other);
                change_case(
                    conn,
                    principal,
                    &case,
                    (status, next),
                    "follow_up_decision",
                    CaseChanges {
                        closure: Some(Some(reason.closure())),
                        resolution: note.clone().map(Some),
                        closed_at: Some(Some(at)),
                        ..Default::default()
                    },
                    close_decision_details(reason, note.as_deref()),
                )
            }
            Decision::Redo => {
                let next = transition(status, CaseMove::DecideRedo).map_err(conflict)?;
                let (targets, mode) = match &chosen {
                    Some(chosen) => chosen.clone(),
                    None => previous_round(conn, &case)?,
                };
                // The same `redo` event as `/redo`'s: the decision is the reason's context.
                let details = redo_details(note.as_deref(), case.current_round);
                let redone = set_round_aside(conn, principal, &case, (status, next), details)?;
                let dispatched = transition(next, CaseMove::Dispatch).map_err(conflict)?;
                start_round(
                    conn,
                    reference,
                    principal,
                    &redone,
                    (next, dispatched),
                    NewRound {
                        targets: &targets,
                        mode,
                        instructions: instructions.clone(),
                        assigned: false,
                        reply_due_at: None,
                    },
                )
            }
        }
    })?;
    view(conn, principal, row)
}

/// The departments of the case's last round, in their roles, for a redo to the same departments.
fn previous_round(
    conn: &mut DbConnection,
    case: &CaseRow,
) -> Result<(Vec<DispatchTarget>, crate::domain::dispatch::DispatchMode), ApiError> {
    let inputs: Vec<DispatchTargetInput> = assignment_db::case_assignments(conn, case.id)?
        .into_iter()
        .filter(|a| a.round == case.current_round && a.state.is_active())
        .map(|a| DispatchTargetInput {
            department_id: a.department_id,
            role: Some(a.role),
        })
        .collect();
    let mut errors = FieldErrors::default();
    if inputs.is_empty() {
        errors.add(
            "departments",
            FieldErrorCode::Required,
            "the last round has no departments left: name the departments of the new round",
        );
    }
    let chosen = checked_targets(conn, &inputs, "departments", &mut errors)?;
    errors.finish()?;
    Ok(chosen)
}

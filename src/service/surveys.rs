//! Satisfaction surveys (满意度调查, SPEC 2.8): versioned templates, invitations with a single-use
//! token, the citizen's answer through the public link (or signed in), and the lists the centre,
//! the departments and the analysts read. Every invitation and answer goes on the case's timeline.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use validator::Validate;

use crate::auth::{Principal, secrets};
use crate::db::cases::{self as case_db, CaseRow};
use crate::db::follow_up::NewFollowUpCall;
use crate::db::surveys::{
    self as survey_db, AnswerRecord, NewSurvey, NewTemplate, SurveyFilter, SurveyRow, TemplateRow,
};
use crate::db::{DbConnection, PageRequest, is_unique_violation, now, write_transaction};
use crate::domain::case::{CitizenStatus, Closure};
use crate::domain::follow_up::{Resolved, Satisfaction};
use crate::domain::ids::{CaseId, CategoryId, FollowUpCallId, SurveyId, SurveyTemplateId, UserId};
use crate::domain::lifecycle::{CaseMove, transition};
use crate::domain::role::Role;
use crate::domain::sla::CaseKind;
use crate::domain::survey::{
    self, Answer, CheckedAnswers, ChoiceOption, Meaning, Measure, Question, QuestionKind,
    RawAnswer, SurveyChannel, SurveyState,
};
use crate::error::{ApiError, ErrorCode, FieldErrorCode};
use crate::service::cases::{
    EventActor, conflict, event, event_keeping_status, lock_visible_case, stored,
};
use crate::service::follow_up::apply_evaluation;
use crate::validation;

// ---------------------------------------------------------------------------------------------
// Request bodies

#[derive(eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoiceOptionInput {
    /// What an answer sends when it picks this option.
    #[schema(example = "basically_satisfied", min_length = 1, max_length = 50)]
    #[validate(length(min = 1, max = 50), custom(function = "validation::text"))]
    pub value: String,
    /// What the citizen reads.
    #[schema(example = "基本满意", min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::text"))]
    pub label: String,
    /// Required on the options of a question that `carries` a follow-up result: `yes`, `partly`,
    /// `no` for resolved; `satisfied`, `basically_satisfied`, `dissatisfied` for satisfaction.
    #[serde(default)]
    pub maps_to: Option<Meaning>,
}

#[derive(eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionInput {
    /// Names the question in answers; unique within the template.
    #[schema(example = "satisfaction", min_length = 1, max_length = 32)]
    #[validate(length(min = 1, max = 32), custom(function = "validation::text"))]
    pub key: String,
    pub kind: QuestionKind,
    #[schema(example = "您对办理结果是否满意？", min_length = 1, max_length = 500)]
    #[validate(length(min = 1, max = 500), custom(function = "validation::text"))]
    pub text: String,
    /// Default false. A question that carries a follow-up result must be required.
    #[serde(default)]
    pub required: Option<bool>,
    /// Makes an answered survey stand as the follow-up result: a required choice question, each
    /// option saying what it means (`maps_to`). At most one question per measure.
    #[serde(default)]
    pub carries: Option<Measure>,
    /// The options of a choice question (at least two); none for ratings (1–5) and text.
    #[schema(max_items = 20)]
    #[validate(length(max = 20), nested)]
    #[serde(default)]
    pub options: Vec<ChoiceOptionInput>,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    #[schema(example = "市民满意度回访", min_length = 1, max_length = 100)]
    #[validate(length(min = 1, max = 100), custom(function = "validation::text"))]
    pub name: String,
    #[schema(max_length = 1000)]
    #[validate(length(max = 1000), custom(function = "validation::text"))]
    #[serde(default)]
    pub description: Option<String>,
    /// Edit a template: the new one is the next version of this one, which is then superseded
    /// (templates are never changed in place; answers keep pointing at the version they answered).
    /// It must be the current version.
    #[serde(default)]
    pub replaces: Option<SurveyTemplateId>,
    /// Make it the default for new invitations. A new version of the default stays the default
    /// unless this says `false`.
    #[serde(default)]
    pub is_default: Option<bool>,
    /// In the order they are asked.
    #[schema(min_items = 1, max_items = 30)]
    #[validate(length(min = 1, max = 30), nested)]
    pub questions: Vec<QuestionInput>,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueSurvey {
    /// The template to ask; the default template when absent. Must be a current version.
    #[serde(default)]
    pub template_id: Option<SurveyTemplateId>,
}

#[derive(Debug, eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// The question's `key`.
    #[schema(example = "satisfaction", min_length = 1, max_length = 32)]
    #[validate(length(min = 1, max = 32))]
    pub question: String,
    /// A rating (whole number 1–5), the `value` of one of a choice question's options, or text
    /// (at most 2,000 characters). `null` or absent: no answer (allowed for optional questions).
    #[eserde(compat)]
    #[schema(value_type = Object)]
    #[serde(default)]
    pub value: serde_json::Value,
}

/// A survey answered during a follow-up call that reached the citizen (channel `phone`).
#[derive(Debug, eserde::Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneSurvey {
    /// The template asked; the default template when absent. Must be a current version.
    #[serde(default)]
    pub template_id: Option<SurveyTemplateId>,
    /// The citizen's answers, as through the public link.
    #[schema(max_items = 100)]
    #[validate(length(max = 100), nested)]
    pub answers: Vec<AnswerInput>,
}

#[derive(eserde::Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveyResponse {
    #[schema(max_items = 100)]
    #[validate(length(max = 100), nested)]
    pub answers: Vec<AnswerInput>,
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub id: SurveyTemplateId,
    pub name: String,
    pub description: Option<String>,
    /// 1 for a new template, one more for each edit.
    pub version: i32,
    /// The version this one was made from.
    pub replaces: Option<SurveyTemplateId>,
    /// The version that replaced this one; new invitations cannot use a superseded version.
    pub superseded_by: Option<SurveyTemplateId>,
    /// New invitations use it when they name no template.
    pub is_default: bool,
    pub questions: Vec<Question>,
    /// Absent for the template shipped with hotline.
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

fn questions_of(row: &TemplateRow) -> Result<Vec<Question>, ApiError> {
    serde_json::from_str(&row.questions).map_err(|e| {
        ApiError::internal(format!("stored survey template {} unreadable: {e}", row.id))
    })
}

fn template_view(row: TemplateRow) -> Result<TemplateView, ApiError> {
    Ok(TemplateView {
        questions: questions_of(&row)?,
        id: row.id,
        name: row.name,
        description: row.description,
        version: row.version,
        replaces: row.replaces,
        superseded_by: row.superseded_by,
        is_default: row.is_default,
        created_by: row.created_by,
        created_at: row.created_at.and_utc(),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    pub id: SurveyId,
    pub case_id: CaseId,
    /// The template version asked (and answered).
    pub template_id: SurveyTemplateId,
    /// `link` (an invitation answered through its link) or `phone` (answered during a follow-up
    /// call: the call stands for the same evaluation, so statistics count the one or the other).
    pub channel: SurveyChannel,
    /// The follow-up call a phone survey was answered in.
    pub follow_up_call_id: Option<FollowUpCallId>,
    pub state: SurveyState,
    /// Who issued the invitation, or for a phone survey who called.
    pub issued_by: Option<UserId>,
    pub issued_at: DateTime<Utc>,
    /// The link stops working at this time unless answered before.
    pub expires_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
    /// The signed-in citizen who answered; absent when answered through the link alone, and for
    /// readers other than the centre.
    pub answered_by: Option<UserId>,
    /// The answers in the template's order (absent until answered).
    pub answers: Option<Vec<Answer>>,
    /// True when text answers (the citizen's own words, which may hold personal data) were left
    /// out for this reader: analysts, and departments on a confidential case.
    pub text_withheld: bool,
    /// What the answer says, when the template carries it.
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
}

/// What the service needs to build the link and time the invitation.
#[derive(Debug, Clone)]
pub struct SurveySettings {
    /// The citizens' front end, without a trailing slash; links are `{base}/surveys/{token}`.
    pub public_base_url: String,
    pub validity_days: i64,
}

/// A new invitation: the only time its token is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyInvitation {
    pub survey: SurveyView,
    /// The single-use token (only its digest is stored: it cannot be shown again).
    #[schema(example = "q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c")]
    pub token: String,
    /// The link to send the citizen (by SMS, WeChat…): `{HOTLINE_PUBLIC_BASE_URL}/surveys/{token}`.
    #[schema(
        example = "https://12345.example.gov.cn/surveys/q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5h6j7k8l9z0x1c"
    )]
    pub link: String,
}

/// What the public may know of the case a survey is about: no personal data.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicCaseSummary {
    #[schema(example = "20261121-000042")]
    pub case_no: String,
    pub title: String,
    pub kind: CaseKind,
    pub category_id: Option<CategoryId>,
    pub category_name: Option<String>,
    /// The status as citizens are shown it.
    pub status: CitizenStatus,
}

/// A survey as the public link shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicSurvey {
    pub case: PublicCaseSummary,
    pub title: String,
    pub description: Option<String>,
    /// In the order they are asked.
    pub questions: Vec<Question>,
    /// `open` or `answered` (an expired link answers 410).
    pub state: SurveyState,
    pub expires_at: DateTime<Utc>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// What a reader may see of the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The centre desks and admins: everything.
    Full,
    /// Without text answers or who answered (analysts; departments where the complainant is not
    /// disclosed to them in full: confidential, or contact not allowed).
    WithoutText,
    /// Departments on other cases: the answers, not who answered.
    Department,
}

fn survey_view(
    row: SurveyRow,
    now: NaiveDateTime,
    reading: Reading,
) -> Result<SurveyView, ApiError> {
    let mut answers: Option<Vec<Answer>> = row
        .answers
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| ApiError::internal(format!("stored survey {} unreadable: {e}", row.id)))?;
    let text_withheld = reading == Reading::WithoutText
        && answers
            .as_ref()
            .is_some_and(|list| list.iter().any(|a| a.kind == QuestionKind::Text));
    if reading == Reading::WithoutText
        && let Some(list) = answers.as_mut()
    {
        list.retain(|a| a.kind != QuestionKind::Text);
    }
    Ok(SurveyView {
        id: row.id,
        case_id: row.case_id,
        template_id: row.template_id,
        channel: row.channel,
        follow_up_call_id: row.follow_up_call_id,
        state: survey::state(
            row.answered_at.map(|t| t.and_utc()),
            row.expires_at.and_utc(),
            now.and_utc(),
        ),
        issued_by: row.issued_by,
        issued_at: row.issued_at.and_utc(),
        expires_at: row.expires_at.and_utc(),
        answered_at: row.answered_at.map(|t| t.and_utc()),
        answered_by: row.answered_by.filter(|_| reading == Reading::Full),
        answers,
        text_withheld,
        resolved: row.resolved,
        satisfaction: row.satisfaction,
    })
}

/// A survey as the centre desks read it: everything but the token.
pub(crate) fn centre_view(row: SurveyRow) -> Result<SurveyView, ApiError> {
    survey_view(row, now(), Reading::Full)
}

// ---------------------------------------------------------------------------------------------
// Templates

pub fn list_templates(
    conn: &mut DbConnection,
    current_only: bool,
    page: PageRequest,
) -> Result<Vec<TemplateView>, ApiError> {
    survey_db::list_templates(conn, current_only, page)?
        .into_iter()
        .map(template_view)
        .collect()
}

pub fn get_template(
    conn: &mut DbConnection,
    id: SurveyTemplateId,
) -> Result<TemplateView, ApiError> {
    template_view(
        survey_db::find_template(conn, id)?
            .ok_or_else(|| ApiError::not_found("no such survey template"))?,
    )
}

fn superseded() -> ApiError {
    ApiError::conflict(
        ErrorCode::TemplateSuperseded,
        "this template version has been replaced; use or edit its current version",
    )
}

fn questions_from(input: &[QuestionInput]) -> Vec<Question> {
    input
        .iter()
        .map(|q| Question {
            key: validation::trimmed(&q.key),
            kind: q.kind,
            text: validation::trimmed(&q.text),
            required: q.required.unwrap_or(false),
            carries: q.carries,
            options: q
                .options
                .iter()
                .map(|o| ChoiceOption {
                    value: validation::trimmed(&o.value),
                    label: validation::trimmed(&o.label),
                    maps_to: o.maps_to,
                })
                .collect(),
        })
        .collect()
}

/// An administrator stores a new template, or the next version of one (`replaces`).
pub fn create_template(
    conn: &mut DbConnection,
    principal: &Principal,
    body: CreateTemplate,
) -> Result<TemplateView, ApiError> {
    let questions = questions_from(&body.questions);
    let problems = survey::check_template(&questions);
    if !problems.is_empty() {
        return Err(ApiError::validation(problems));
    }
    let questions_json =
        serde_json::to_string(&questions).map_err(|e| ApiError::internal(e.to_string()))?;
    let result = write_transaction(conn, |conn| -> Result<TemplateRow, ApiError> {
        let replaced = match body.replaces {
            None => None,
            Some(id) => {
                let old = survey_db::find_template(conn, id)?.ok_or_else(|| {
                    ApiError::field("replaces", FieldErrorCode::NotFound, "no such template")
                })?;
                if old.superseded_by.is_some() {
                    return Err(superseded());
                }
                Some(old)
            }
        };
        let is_default = body
            .is_default
            .unwrap_or_else(|| replaced.as_ref().is_some_and(|old| old.is_default));
        if is_default {
            survey_db::clear_default(conn)?;
        }
        let row = survey_db::insert_template(
            conn,
            NewTemplate {
                name: validation::trimmed(&body.name),
                description: body.description.as_deref().map(validation::trimmed),
                version: replaced.as_ref().map_or(1, |old| old.version + 1),
                replaces: replaced.as_ref().map(|old| old.id),
                superseded_by: None,
                is_default,
                questions: questions_json,
                created_by: principal.user_id(),
                created_at: now(),
            },
        )?;
        if let Some(old) = &replaced
            && !survey_db::supersede(conn, old.id, row.id)?
        {
            return Err(superseded());
        }
        Ok(row)
    });
    match result {
        // Two edits of one version at once on PostgreSQL: the `replaces` index takes one.
        Err(ApiError::Conflict {
            code: ErrorCode::AlreadyExists,
            ..
        }) if body.replaces.is_some() => Err(superseded()),
        // Two templates made the default at once: the one-default index takes one.
        Err(ApiError::Conflict {
            code: ErrorCode::AlreadyExists,
            ..
        }) => Err(crate::service::cases::concurrent()),
        other => template_view(other?),
    }
}

// ---------------------------------------------------------------------------------------------
// Invitations

/// The template a new survey asks: the one named (at `field`), or the default; a current version.
fn template_to_ask(
    conn: &mut DbConnection,
    template_id: Option<SurveyTemplateId>,
    field: &str,
) -> Result<TemplateRow, ApiError> {
    let template = match template_id {
        Some(id) => survey_db::find_template(conn, id)?
            .ok_or_else(|| ApiError::field(field, FieldErrorCode::NotFound, "no such template"))?,
        None => survey_db::default_template(conn)?.ok_or_else(|| {
            ApiError::field(
                field,
                FieldErrorCode::Required,
                "there is no default template: name one",
            )
        })?,
    };
    if template.superseded_by.is_some() {
        return Err(superseded());
    }
    Ok(template)
}

/// The timeline event's details of an invitation. The seed writes the same.
pub(crate) fn issued_details(
    survey_id: SurveyId,
    template_id: SurveyTemplateId,
    expires_at: DateTime<Utc>,
) -> serde_json::Value {
    serde_json::json!({
        "survey_id": survey_id,
        "template_id": template_id,
        "expires_at": expires_at,
    })
}

/// The timeline event's details of an answered survey: what it says for the follow-up, never the
/// answers themselves (text answers may carry personal data). `call` is the follow-up call a
/// phone survey was answered in. The seed writes the same.
pub(crate) fn answered_details(
    survey_id: SurveyId,
    template_id: SurveyTemplateId,
    call: Option<FollowUpCallId>,
    (resolved, satisfaction): (Option<Resolved>, Option<Satisfaction>),
    signed_in: bool,
) -> serde_json::Value {
    let channel = match call {
        Some(_) => SurveyChannel::Phone,
        None => SurveyChannel::Link,
    };
    serde_json::json!({
        "survey_id": survey_id,
        "template_id": template_id,
        "channel": channel.as_str(),
        "follow_up_call_id": call,
        "resolved": resolved.map(Resolved::as_str),
        "satisfaction": satisfaction.map(Satisfaction::as_str),
        "signed_in": signed_in,
    })
}

/// A phone survey's answers checked against its template, before its call is recorded.
pub(crate) struct PhoneAnswers {
    pub template_id: SurveyTemplateId,
    pub checked: CheckedAnswers,
    /// Where each measure's answer was in the request (`survey.answers[i].value`), to name it
    /// when the call says otherwise.
    pub paths: Vec<(Measure, String)>,
}

/// Checks a phone survey: its template (the default when none is named) and its answers, with
/// the same rules and the same 422 as an answer through the link (paths under `survey.`).
pub(crate) fn check_phone_survey(
    conn: &mut DbConnection,
    input: PhoneSurvey,
) -> Result<PhoneAnswers, ApiError> {
    let template = template_to_ask(conn, input.template_id, "survey.template_id")?;
    let questions = questions_of(&template)?;
    let raw: Vec<RawAnswer> = input
        .answers
        .into_iter()
        .map(|a| RawAnswer {
            question: a.question,
            value: a.value,
        })
        .collect();
    let checked = survey::check_answers(&questions, &raw).map_err(|mut errors| {
        for error in &mut errors {
            error.field.insert_str(0, "survey.");
        }
        ApiError::validation(errors)
    })?;
    let paths = questions
        .iter()
        .filter_map(|q| q.carries.map(|m| (m, q)))
        .filter_map(|(measure, q)| {
            let at = raw.iter().position(|a| a.question == q.key)?;
            Some((measure, format!("survey.answers[{at}].value")))
        })
        .collect();
    Ok(PhoneAnswers {
        template_id: template.id,
        checked,
        paths,
    })
}

/// Stores a phone survey answered in call `call_id` (already recorded, with its effect) and puts
/// it on the case's timeline. Runs inside the call's transaction and applies no follow-up rule of
/// its own: the call did, once.
pub(crate) fn record_phone_survey(
    conn: &mut DbConnection,
    actor: &EventActor,
    (call_id, call): (FollowUpCallId, &NewFollowUpCall),
    answers: &PhoneAnswers,
) -> Result<SurveyRow, ApiError> {
    let json = serde_json::to_string(&answers.checked.answers)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let new = phone_survey_row(
        (call_id, call),
        answers.template_id,
        json,
        (answers.checked.resolved, answers.checked.satisfaction),
    );
    let row = survey_db::insert_survey(conn, new)?;
    event_keeping_status(
        conn,
        actor,
        call.case_id,
        "survey_answered",
        answered_details(
            row.id,
            row.template_id,
            row.follow_up_call_id,
            (row.resolved, row.satisfaction),
            false,
        ),
    )?;
    Ok(row)
}

/// The row of a phone survey answered in call `call_id`: about the called case, issued and
/// answered when the call was made, by its caller, and never open (no token, no link). The seed
/// writes the same.
pub(crate) fn phone_survey_row<T: Copy>(
    (call_id, call): (FollowUpCallId, &NewFollowUpCall<T>),
    template_id: SurveyTemplateId,
    answers: String,
    (resolved, satisfaction): (Option<Resolved>, Option<Satisfaction>),
) -> NewSurvey<T> {
    NewSurvey {
        case_id: call.case_id,
        template_id,
        token_hash: None,
        issued_by: Some(call.called_by),
        issued_at: call.called_at,
        expires_at: call.called_at,
        answered_at: Some(call.called_at),
        answered_by: None,
        answers: Some(answers),
        resolved,
        satisfaction,
        channel: SurveyChannel::Phone,
        follow_up_call_id: Some(call_id),
    }
}

/// The centre invites the citizen of a case awaiting follow-up (or closed) to a survey.
pub fn issue(
    conn: &mut DbConnection,
    settings: &SurveySettings,
    principal: &Principal,
    case_id: CaseId,
    template_id: Option<SurveyTemplateId>,
) -> Result<SurveyInvitation, ApiError> {
    let token = secrets::random_token();
    let token_hash = secrets::digest(&token);
    let row = write_transaction(conn, |conn| -> Result<SurveyRow, ApiError> {
        let (case, status) = lock_visible_case(conn, principal, case_id, None)?;
        transition(status, CaseMove::IssueSurvey).map_err(conflict)?;
        if case.closure == Some(Closure::Merged) {
            // Its citizen is followed up by call on the result of the case it was merged into.
            return Err(ApiError::conflict(
                ErrorCode::CaseNotSurveyable,
                "a merged case's citizen is followed up on the case it was merged into",
            ));
        }
        let template = template_to_ask(conn, template_id, "template_id")?;
        let at = now();
        let expires = survey::expires_at(at.and_utc(), settings.validity_days).naive_utc();
        let row = survey_db::insert_survey(
            conn,
            NewSurvey {
                case_id: case.id,
                template_id: template.id,
                token_hash: Some(token_hash.clone()),
                issued_by: principal.user_id(),
                issued_at: at,
                expires_at: expires,
                answered_at: None,
                answered_by: None,
                answers: None,
                resolved: None,
                satisfaction: None,
                channel: SurveyChannel::Link,
                follow_up_call_id: None,
            },
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::internal("a random survey token collided")
            } else {
                e.into()
            }
        })?;
        case_db::insert_event(
            conn,
            event(
                principal,
                case.id,
                "survey_issued",
                Some(status),
                status,
                issued_details(row.id, template.id, expires.and_utc()),
            ),
        )?;
        Ok(row)
    })?;
    let link = format!("{}/surveys/{token}", settings.public_base_url);
    Ok(SurveyInvitation {
        survey: survey_view(row, now(), Reading::Full)?,
        token,
        link,
    })
}

fn unknown_token() -> ApiError {
    ApiError::not_found("no such survey")
}

fn expired() -> ApiError {
    ApiError::Gone {
        code: ErrorCode::SurveyExpired,
        detail: "this survey link has expired; ask the hotline for a new one".into(),
    }
}

fn answered() -> ApiError {
    ApiError::conflict(
        ErrorCode::SurveyAlreadyAnswered,
        "this survey has been answered already",
    )
}

/// The invitation a token opens. Every token that opens none is the same 404, whatever its shape.
fn by_token(conn: &mut DbConnection, token: &str) -> Result<SurveyRow, ApiError> {
    // Issued tokens are 43 characters; anything much longer is not worth hashing.
    if token.len() > 128 {
        return Err(unknown_token());
    }
    survey_db::find_by_token_hash(conn, &secrets::digest(token))?.ok_or_else(unknown_token)
}

fn public_view(
    conn: &mut DbConnection,
    survey: &SurveyRow,
    case: &CaseRow,
    at: NaiveDateTime,
) -> Result<PublicSurvey, ApiError> {
    let template = stored(
        survey_db::find_template(conn, survey.template_id)?,
        "template",
    )?;
    let category_name = case
        .category_id
        .map(|id| survey_db::category_name(conn, id))
        .transpose()?
        .flatten();
    Ok(PublicSurvey {
        case: PublicCaseSummary {
            case_no: case.case_no.clone(),
            title: case.title.clone(),
            kind: case.kind,
            category_id: case.category_id,
            category_name,
            status: case.status.for_citizen(),
        },
        questions: questions_of(&template)?,
        title: template.name,
        description: template.description,
        state: survey::state(
            survey.answered_at.map(|t| t.and_utc()),
            survey.expires_at.and_utc(),
            at.and_utc(),
        ),
        expires_at: survey.expires_at.and_utc(),
        answered_at: survey.answered_at.map(|t| t.and_utc()),
    })
}

/// The survey behind a public link: its questions and the case's public summary. An answered
/// survey says so; an expired one is 410.
pub fn public_survey(conn: &mut DbConnection, token: &str) -> Result<PublicSurvey, ApiError> {
    let survey = by_token(conn, token)?;
    let at = now();
    if survey::state(
        survey.answered_at.map(|t| t.and_utc()),
        survey.expires_at.and_utc(),
        at.and_utc(),
    ) == SurveyState::Expired
    {
        return Err(expired());
    }
    let case = stored(case_db::find_case(conn, survey.case_id)?, "case")?;
    public_view(conn, &survey, &case, at)
}

/// The citizen's answer through the link, once. `caller` is the signed-in citizen, if any: their
/// account is recorded when the case is their own.
pub fn answer(
    conn: &mut DbConnection,
    token: &str,
    caller: Option<&Principal>,
    raw: Vec<RawAnswer>,
) -> Result<PublicSurvey, ApiError> {
    let survey = by_token(conn, token)?;
    match survey::state(
        survey.answered_at.map(|t| t.and_utc()),
        survey.expires_at.and_utc(),
        now().and_utc(),
    ) {
        SurveyState::Answered => return Err(answered()),
        SurveyState::Expired => return Err(expired()),
        SurveyState::Open => {}
    }
    let template = stored(
        survey_db::find_template(conn, survey.template_id)?,
        "template",
    )?;
    let questions = questions_of(&template)?;
    let checked = survey::check_answers(&questions, &raw).map_err(ApiError::validation)?;
    let answers =
        serde_json::to_string(&checked.answers).map_err(|e| ApiError::internal(e.to_string()))?;
    let (row, case) = write_transaction(conn, |conn| -> Result<(SurveyRow, CaseRow), ApiError> {
        crate::db::assignments::lock_case(conn, survey.case_id)?;
        let case = stored(case_db::find_case(conn, survey.case_id)?, "case")?;
        let own = caller.filter(|p| {
            p.role == Role::Citizen && p.user_id().is_some() && case.citizen_id == p.user_id()
        });
        let at = now();
        let Some(row) = survey_db::answer(
            conn,
            survey.id,
            AnswerRecord {
                answered_at: at,
                answered_by: own.and_then(|p| p.user_id()),
                answers: answers.clone(),
                resolved: checked.resolved,
                satisfaction: checked.satisfaction,
            },
        )?
        else {
            // Another answer came first, or the time ran out since the look-up.
            let current = stored(survey_db::find_survey(conn, survey.id)?, "survey")?;
            return Err(if current.answered_at.is_some() {
                answered()
            } else {
                expired()
            });
        };
        let actor = own.map_or_else(EventActor::public_citizen, EventActor::from);
        let details = answered_details(
            row.id,
            row.template_id,
            None,
            (checked.resolved, checked.satisfaction),
            own.is_some(),
        );
        let status = case.status;
        case_db::insert_event(
            conn,
            event(
                actor,
                case.id,
                "survey_answered",
                Some(status),
                status,
                details.clone(),
            ),
        )?;
        // On a template carrying the follow-up result, for a case awaiting follow-up, the answer
        // is the follow-up's result, as a reached call's would be.
        let case = match checked.evaluation() {
            Some(evaluation) => {
                let times = (row.issued_at, at);
                match apply_evaluation(conn, &actor, case.id, evaluation, times, details)? {
                    Some(_) => stored(case_db::find_case(conn, case.id)?, "case")?,
                    None => case,
                }
            }
            None => case,
        };
        Ok((row, case))
    })?;
    let at = now();
    public_view(conn, &row, &case, at)
}

// ---------------------------------------------------------------------------------------------
// Reading invitations and answers

fn reading_of(principal: &Principal) -> Reading {
    match principal.role {
        Role::DepartmentStaff | Role::DepartmentAdmin => Reading::Department,
        Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => Reading::Full,
        // Analysts, and anyone else the policy might let in later: no personal data.
        _ => Reading::WithoutText,
    }
}

/// Departments: without text (the citizen's words) where the complainant is not disclosed to them
/// in full (SPEC 5.3).
fn readings(
    conn: &mut DbConnection,
    principal: &Principal,
    rows: &[SurveyRow],
) -> Result<Vec<Reading>, ApiError> {
    let reading = reading_of(principal);
    if reading != Reading::Department {
        return Ok(vec![reading; rows.len()]);
    }
    let case_ids: Vec<CaseId> = rows.iter().map(|r| r.case_id).collect();
    let confidential = survey_db::withheld_from_departments(conn, &case_ids)?;
    Ok(rows
        .iter()
        .map(|r| {
            if confidential.contains(&r.case_id) {
                Reading::WithoutText
            } else {
                Reading::Department
            }
        })
        .collect())
}

pub fn get(
    conn: &mut DbConnection,
    principal: &Principal,
    id: SurveyId,
) -> Result<SurveyView, ApiError> {
    let not_found = || ApiError::not_found("no such survey");
    let row = survey_db::find_survey(conn, id)?.ok_or_else(not_found)?;
    if let Some(department) = principal.department_scope()
        && !crate::db::assignments::department_has_case(conn, department, row.case_id)?
    {
        return Err(not_found());
    }
    let reading = readings(conn, principal, std::slice::from_ref(&row))?[0];
    survey_view(row, now(), reading)
}

/// Newest first; department users only the surveys of cases dispatched to their department.
pub fn list(
    conn: &mut DbConnection,
    principal: &Principal,
    mut filter: SurveyFilter,
    page: PageRequest,
) -> Result<Vec<SurveyView>, ApiError> {
    if principal.role.is_department_role() {
        filter.department_id = Some(
            principal
                .department_scope()
                .ok_or_else(|| ApiError::internal("department user without department"))?,
        );
    }
    let rows = survey_db::list_surveys(conn, &filter, page)?;
    let readings = readings(conn, principal, &rows)?;
    let at = now();
    rows.into_iter()
        .zip(readings)
        .map(|(row, reading)| survey_view(row, at, reading))
        .collect()
}

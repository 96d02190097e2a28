//! Survey templates and invitations (with their answers). The single use of an invitation is the
//! database's: [`answer`] is an UPDATE of the row while it is unanswered, so of simultaneous
//! answers one changes the row and the others find nothing to change.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::follow_up::{Resolved, Satisfaction};
use crate::domain::ids::{
    CaseId, CategoryId, DepartmentId, FollowUpCallId, SurveyId, SurveyTemplateId, UserId,
};
use crate::domain::survey::SurveyChannel;

use super::schema::{assignments, complainants, survey_templates, surveys};
use super::{DbConnection, MultiBackend, PageRequest};

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = survey_templates)]
pub struct TemplateRow {
    pub id: SurveyTemplateId,
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    pub replaces: Option<SurveyTemplateId>,
    pub superseded_by: Option<SurveyTemplateId>,
    pub is_default: bool,
    /// JSON: the questions (`domain::survey::Question`).
    pub questions: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = survey_templates, treat_none_as_default_value = false)]
pub struct NewTemplate {
    pub name: String,
    pub description: Option<String>,
    pub version: i32,
    pub replaces: Option<SurveyTemplateId>,
    pub superseded_by: Option<SurveyTemplateId>,
    pub is_default: bool,
    pub questions: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

pub fn find_template(
    conn: &mut DbConnection,
    id: SurveyTemplateId,
) -> QueryResult<Option<TemplateRow>> {
    survey_templates::table
        .find(id)
        .select(survey_templates::all_columns)
        .get_result(conn)
        .optional()
}

pub fn default_template(conn: &mut DbConnection) -> QueryResult<Option<TemplateRow>> {
    survey_templates::table
        .filter(survey_templates::is_default.eq(true))
        .select(survey_templates::all_columns)
        .get_result(conn)
        .optional()
}

/// Newest first; `current_only` leaves out versions that have been replaced.
pub fn list_templates(
    conn: &mut DbConnection,
    current_only: bool,
    page: PageRequest,
) -> QueryResult<Vec<TemplateRow>> {
    let mut query = survey_templates::table
        .select(survey_templates::all_columns)
        .into_boxed::<MultiBackend>();
    if current_only {
        query = query.filter(survey_templates::superseded_by.is_null());
    }
    if let Some(before) = page.after {
        query = query.filter(survey_templates::id.lt(before));
    }
    query
        .order(survey_templates::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

pub fn insert_template(conn: &mut DbConnection, row: NewTemplate) -> QueryResult<TemplateRow> {
    diesel::insert_into(survey_templates::table)
        .values(row)
        .returning(survey_templates::all_columns)
        .get_result(conn)
}

/// Marks `old` as replaced by `new` unless it was replaced already; false then.
pub fn supersede(
    conn: &mut DbConnection,
    old: SurveyTemplateId,
    new: SurveyTemplateId,
) -> QueryResult<bool> {
    let changed = diesel::update(
        survey_templates::table
            .find(old)
            .filter(survey_templates::superseded_by.is_null()),
    )
    .set(survey_templates::superseded_by.eq(new))
    .execute(conn)?;
    Ok(changed == 1)
}

/// Takes the default away from whichever template has it (before another one is made default:
/// at most one default, a unique index says so).
pub fn clear_default(conn: &mut DbConnection) -> QueryResult<()> {
    diesel::update(survey_templates::table.filter(survey_templates::is_default.eq(true)))
        .set(survey_templates::is_default.eq(false))
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = surveys)]
pub struct SurveyRow {
    pub id: SurveyId,
    pub case_id: CaseId,
    pub template_id: SurveyTemplateId,
    /// Never leaves the server. `None` for phone surveys (no link was sent).
    pub token_hash: Option<String>,
    pub issued_by: Option<UserId>,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub answered_by: Option<UserId>,
    /// JSON: the checked answers (`domain::survey::Answer`).
    pub answers: Option<String>,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
    pub channel: SurveyChannel,
    /// The follow-up call a phone survey was asked in.
    pub follow_up_call_id: Option<FollowUpCallId>,
}

/// A survey as it is stored: an invitation (`link`: a token's digest, unanswered) or a phone
/// survey (`phone`: no token, answered in its call). The seed writes answered invitations too.
#[derive(Debug, Insertable)]
#[diesel(table_name = surveys, treat_none_as_default_value = false)]
pub struct NewSurvey<T = NaiveDateTime> {
    pub case_id: CaseId,
    pub template_id: SurveyTemplateId,
    pub token_hash: Option<String>,
    pub issued_by: Option<UserId>,
    pub issued_at: T,
    pub expires_at: T,
    pub answered_at: Option<T>,
    pub answered_by: Option<UserId>,
    pub answers: Option<String>,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
    pub channel: SurveyChannel,
    pub follow_up_call_id: Option<FollowUpCallId>,
}

pub fn insert_survey(conn: &mut DbConnection, row: NewSurvey) -> QueryResult<SurveyRow> {
    diesel::insert_into(surveys::table)
        .values(row)
        .returning(surveys::all_columns)
        .get_result(conn)
}

pub fn find_survey(conn: &mut DbConnection, id: SurveyId) -> QueryResult<Option<SurveyRow>> {
    surveys::table
        .find(id)
        .select(surveys::all_columns)
        .get_result(conn)
        .optional()
}

/// The invitation whose token has this digest. Only link surveys have a token: a phone survey's
/// NULL digest equals nothing in SQL, and the channel is checked as well.
pub fn find_by_token_hash(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<SurveyRow>> {
    surveys::table
        .filter(surveys::token_hash.eq(hash))
        .filter(surveys::channel.eq(SurveyChannel::Link))
        .select(surveys::all_columns)
        .get_result(conn)
        .optional()
}

/// The answer, as it is written once.
pub struct AnswerRecord {
    pub answered_at: NaiveDateTime,
    pub answered_by: Option<UserId>,
    pub answers: String,
    pub resolved: Option<Resolved>,
    pub satisfaction: Option<Satisfaction>,
}

/// Writes the answer if the invitation is still unanswered and unexpired at that moment; `None`
/// when another answer came first (or the time ran out in between).
pub fn answer(
    conn: &mut DbConnection,
    id: SurveyId,
    record: AnswerRecord,
) -> QueryResult<Option<SurveyRow>> {
    diesel::update(
        surveys::table
            .find(id)
            .filter(surveys::answered_at.is_null())
            .filter(surveys::expires_at.gt(record.answered_at)),
    )
    .set((
        surveys::answered_at.eq(record.answered_at),
        surveys::answered_by.eq(record.answered_by),
        surveys::answers.eq(record.answers),
        surveys::resolved.eq(record.resolved),
        surveys::satisfaction.eq(record.satisfaction),
    ))
    .returning(surveys::all_columns)
    .get_result(conn)
    .optional()
}

/// Filters of the survey list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct SurveyFilter {
    pub case_id: Option<CaseId>,
    pub template_id: Option<SurveyTemplateId>,
    pub answered: Option<bool>,
    pub channel: Option<SurveyChannel>,
    /// Issued at or after.
    pub issued_from: Option<NaiveDateTime>,
    /// Issued before.
    pub issued_to: Option<NaiveDateTime>,
    /// Only the surveys of cases ever dispatched to this department.
    pub department_id: Option<DepartmentId>,
}

/// Newest first, like every list.
pub fn list_surveys(
    conn: &mut DbConnection,
    filter: &SurveyFilter,
    page: PageRequest,
) -> QueryResult<Vec<SurveyRow>> {
    let mut query = surveys::table
        .select(surveys::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(case_id) = filter.case_id {
        query = query.filter(surveys::case_id.eq(case_id));
    }
    if let Some(template_id) = filter.template_id {
        query = query.filter(surveys::template_id.eq(template_id));
    }
    match filter.answered {
        Some(true) => query = query.filter(surveys::answered_at.is_not_null()),
        Some(false) => query = query.filter(surveys::answered_at.is_null()),
        None => {}
    }
    if let Some(channel) = filter.channel {
        query = query.filter(surveys::channel.eq(channel));
    }
    if let Some(from) = filter.issued_from {
        query = query.filter(surveys::issued_at.ge(from));
    }
    if let Some(to) = filter.issued_to {
        query = query.filter(surveys::issued_at.lt(to));
    }
    if let Some(department) = filter.department_id {
        query = query.filter(
            surveys::case_id.eq_any(
                assignments::table
                    .filter(assignments::department_id.eq(department))
                    .select(assignments::case_id),
            ),
        );
    }
    if let Some(before) = page.after {
        query = query.filter(surveys::id.lt(before));
    }
    query
        .order(surveys::id.desc())
        .limit(page.fetch_limit())
        .load(conn)
}

/// Of `case_ids`, the cases whose complainant departments may not see in full (SPEC 5.3: asked
/// for confidentiality, or did not allow the department to contact them).
pub fn withheld_from_departments(
    conn: &mut DbConnection,
    case_ids: &[CaseId],
) -> QueryResult<Vec<CaseId>> {
    complainants::table
        .filter(complainants::case_id.eq_any(case_ids))
        .filter(
            complainants::confidential
                .eq(true)
                .or(complainants::contact_allowed.eq(false)),
        )
        .select(complainants::case_id)
        .load(conn)
}

/// The category's name, for the public summary of a case.
pub fn category_name(conn: &mut DbConnection, id: CategoryId) -> QueryResult<Option<String>> {
    super::schema::categories::table
        .find(id)
        .select(super::schema::categories::name)
        .get_result(conn)
        .optional()
}

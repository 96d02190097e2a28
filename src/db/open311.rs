//! What the Open311 facade reads: categories as services, and the public columns of cases
//! (never their text or complainant, which are not even selected).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::case::CaseStatus;
use crate::domain::ids::{AttachmentId, CaseId, CategoryId, DepartmentId};

use super::DbConnection;
use super::schema::{cases, categories, departments};

/// A category: id, code, name, parent, active.
pub type CategoryRow = (CategoryId, String, String, Option<CategoryId>, bool);

/// Every category, by code.
pub fn categories(conn: &mut DbConnection) -> QueryResult<Vec<CategoryRow>> {
    categories::table
        .select((
            categories::id,
            categories::code,
            categories::name,
            categories::parent_id,
            categories::active,
        ))
        .order(categories::code.asc())
        .load(conn)
}

/// The public columns of a case.
#[derive(Debug, Clone, Queryable)]
pub struct PublicCaseRow {
    pub id: CaseId,
    pub case_no: String,
    pub status: CaseStatus,
    pub category_id: Option<CategoryId>,
    pub lead_department_id: Option<DepartmentId>,
    pub district_id: Option<DepartmentId>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub reply_due_at: Option<NaiveDateTime>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

type PublicColumns = (
    cases::id,
    cases::case_no,
    cases::status,
    cases::category_id,
    cases::lead_department_id,
    cases::district_id,
    cases::created_at,
    cases::updated_at,
    cases::reply_due_at,
    cases::latitude,
    cases::longitude,
);

const PUBLIC_COLUMNS: PublicColumns = (
    cases::id,
    cases::case_no,
    cases::status,
    cases::category_id,
    cases::lead_department_id,
    cases::district_id,
    cases::created_at,
    cases::updated_at,
    cases::reply_due_at,
    cases::latitude,
    cases::longitude,
);

/// The cases with these numbers (unknown numbers are left out), newest first.
pub fn cases_by_number(
    conn: &mut DbConnection,
    numbers: &[String],
) -> QueryResult<Vec<PublicCaseRow>> {
    cases::table
        .filter(cases::case_no.eq_any(numbers))
        .select(PUBLIC_COLUMNS)
        .order((cases::created_at.desc(), cases::id.desc()))
        .load(conn)
}

/// Cases registered in `[from, to)`, newest first, at most `limit`; `categories` and `statuses`
/// narrow them when not empty.
pub fn cases_registered_between(
    conn: &mut DbConnection,
    (from, to): (NaiveDateTime, NaiveDateTime),
    categories: &[CategoryId],
    statuses: &[CaseStatus],
    limit: i64,
) -> QueryResult<Vec<PublicCaseRow>> {
    let mut query = cases::table
        .filter(cases::created_at.ge(from))
        .filter(cases::created_at.lt(to))
        .select(PUBLIC_COLUMNS)
        .order((cases::created_at.desc(), cases::id.desc()))
        .limit(limit)
        .into_boxed();
    if !categories.is_empty() {
        query = query.filter(cases::category_id.eq_any(categories.to_vec()));
    }
    if !statuses.is_empty() {
        query = query.filter(cases::status.eq_any(statuses.to_vec()));
    }
    query.load(conn)
}

/// The names of these departments.
pub fn department_names(
    conn: &mut DbConnection,
    ids: &[DepartmentId],
) -> QueryResult<Vec<(DepartmentId, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    departments::table
        .filter(departments::id.eq_any(ids))
        .select((departments::id, departments::name))
        .load(conn)
}

/// For each of `cases` that has one, its first photo sent by whoever raised it (a citizen or an
/// integration client; not the centre's or a department's files), not removed, and not of a
/// case whose complainant asked for confidentiality: the request's `media_url`.
pub fn request_photos(
    conn: &mut DbConnection,
    cases: &[CaseId],
) -> QueryResult<Vec<(CaseId, AttachmentId)>> {
    use super::schema::{attachments, complainants};
    let confidential = complainants::table
        .filter(complainants::confidential.eq(true))
        .select(complainants::case_id);
    let rows: Vec<(Option<CaseId>, AttachmentId)> = attachments::table
        .filter(attachments::case_id.eq_any(cases))
        .filter(attachments::removed_at.is_null())
        .filter(attachments::media_type.eq_any(["image/jpeg", "image/png", "image/webp"]))
        .filter(attachments::uploader_role.eq_any(["citizen", "integration"]))
        .filter(diesel::dsl::not(
            attachments::case_id.assume_not_null().eq_any(confidential),
        ))
        .order(attachments::id.asc())
        .select((attachments::case_id, attachments::id))
        .load(conn)?;
    let mut seen = std::collections::HashSet::new();
    Ok(rows
        .into_iter()
        .filter_map(|(case, attachment)| Some((case?, attachment)))
        .filter(|(case, _)| seen.insert(*case))
        .collect())
}

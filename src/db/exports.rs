//! The case export (`GET /exports/cases`): the cases of a filter in id order, one batch at a time,
//! with only the columns the export shows; and the log of exports of personal data.

use chrono::NaiveDateTime;
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::sqlite::Sqlite;

use crate::domain::case::{CaseStatus, Channel, Closure};
use crate::domain::ids::{CaseId, CategoryId, DepartmentId, UserId};
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Urgency};

use super::cases::{CaseFilter, filtered};
use super::schema::{cases, complainants, personal_data_exports};
use super::stored::StoredTime;
use super::{DbConnection, MultiBackend, PageRequest};

/// Free text as stored, its bytes not yet checked as UTF-8: Diesel's SQLite `String` checks a
/// text twice (a fifth of the reading thread's time for the export's long Chinese texts), and the
/// check belongs with the encoder, which has time to spare (see `service::exports`).
#[derive(Debug, Clone, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct StoredText(pub Vec<u8>);

impl StoredText {
    /// The text; bytes that are not UTF-8 (never written by this program) are replaced.
    pub fn as_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl FromSql<Text, Sqlite> for StoredText {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(StoredText(value.read_blob().to_vec()))
    }
}

impl FromSql<Text, Pg> for StoredText {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(StoredText(value.as_bytes().to_vec()))
    }
}

impl FromSql<Text, MultiBackend> for StoredText {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Text>()
    }
}

/// What every export shows of a case.
#[derive(Debug, Queryable)]
pub struct ExportCase {
    pub id: CaseId,
    pub case_no: String,
    pub status: CaseStatus,
    pub kind: CaseKind,
    pub channel: Channel,
    pub urgency: Urgency,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    pub title: StoredText,
    pub address: Option<StoredText>,
    pub created_at: StoredTime,
    pub accepted_at: Option<StoredTime>,
    pub closed_at: Option<StoredTime>,
    pub closure: Option<Closure>,
    pub lead_department_id: Option<DepartmentId>,
    pub reply_due_at: Option<StoredTime>,
    pub redo_count: i32,
}

/// The complainant as the export needs it: name and phone, and the wishes that decide what
/// departments see of them.
#[derive(Queryable)]
pub struct ExportComplainant {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub contact_allowed: bool,
    pub confidential: bool,
}

/// Personal data: never printed, whatever logs a row.
impl std::fmt::Debug for ExportComplainant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportComplainant").finish_non_exhaustive()
    }
}

/// A case with what only staff who may read cases see: its description and its complainant.
#[derive(Debug, Queryable)]
pub struct ExportCaseWithDetail {
    pub case: ExportCase,
    pub description: StoredText,
    pub complainant: Option<ExportComplainant>,
}

macro_rules! case_columns {
    () => {
        (
            cases::id,
            cases::case_no,
            cases::status,
            cases::kind,
            cases::channel,
            cases::urgency,
            cases::category_id,
            cases::district_id,
            cases::title,
            cases::address,
            cases::created_at,
            cases::accepted_at,
            cases::closed_at,
            cases::closure,
            cases::lead_department_id,
            cases::reply_due_at,
            cases::redo_count,
        )
    };
}

/// Up to `limit` cases matching `filter` with an id above `after`, in id order, without their
/// description or complainant (which are never read for such an export).
pub fn cases_after(
    conn: &mut DbConnection,
    filter: &CaseFilter,
    after: Option<CaseId>,
    limit: i64,
) -> QueryResult<Vec<ExportCase>> {
    let mut query = filtered!(
        cases::table
            .select(case_columns!())
            .into_boxed::<MultiBackend>(),
        filter,
        None
    );
    if let Some(after) = after {
        query = query.filter(cases::id.gt(after));
    }
    query.order(cases::id.asc()).limit(limit).load(conn)
}

/// [`cases_after`] with each case's description and complainant.
pub fn cases_with_detail_after(
    conn: &mut DbConnection,
    filter: &CaseFilter,
    after: Option<CaseId>,
    limit: i64,
) -> QueryResult<Vec<ExportCaseWithDetail>> {
    let mut query = filtered!(
        cases::table
            .left_join(complainants::table)
            .select((
                case_columns!(),
                cases::description,
                (
                    complainants::name,
                    complainants::phone,
                    complainants::contact_allowed,
                    complainants::confidential,
                )
                    .nullable(),
            ))
            .into_boxed::<MultiBackend>(),
        filter,
        None
    );
    if let Some(after) = after {
        query = query.filter(cases::id.gt(after));
    }
    query.order(cases::id.asc()).limit(limit).load(conn)
}

/// An export of personal data, as it starts.
#[derive(Debug, Insertable)]
#[diesel(table_name = personal_data_exports, treat_none_as_default_value = false)]
pub struct NewPersonalDataExport {
    pub user_id: UserId,
    pub role: Role,
    pub format: &'static str,
    pub filters: String,
    pub started_at: NaiveDateTime,
}

/// What an export sent, as it ends.
#[derive(Debug, Clone, Copy, Default, AsChangeset)]
#[diesel(table_name = personal_data_exports, treat_none_as_default_value = false)]
pub struct FinishedExport {
    pub finished_at: Option<NaiveDateTime>,
    pub completed: bool,
    pub rows_exported: Option<i64>,
    pub rows_with_personal_data: Option<i64>,
    pub first_case_id: Option<CaseId>,
    pub last_case_id: Option<CaseId>,
}

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = personal_data_exports)]
pub struct PersonalDataExport {
    pub id: i64,
    pub user_id: UserId,
    pub role: Role,
    pub format: String,
    pub filters: String,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub completed: bool,
    pub rows_exported: Option<i64>,
    pub rows_with_personal_data: Option<i64>,
    pub first_case_id: Option<CaseId>,
    pub last_case_id: Option<CaseId>,
}

/// Records an export as it starts; returns its id.
pub fn start_export(conn: &mut DbConnection, row: NewPersonalDataExport) -> QueryResult<i64> {
    diesel::insert_into(personal_data_exports::table)
        .values(row)
        .returning(personal_data_exports::id)
        .get_result(conn)
}

pub fn finish_export(
    conn: &mut DbConnection,
    id: i64,
    finished: FinishedExport,
) -> QueryResult<()> {
    diesel::update(personal_data_exports::table.find(id))
        .set(finished)
        .execute(conn)?;
    Ok(())
}

/// One page of the export log, oldest first: by whom, and (`case_id`) the exports whose range of
/// case ids covered that case.
pub fn list_exports(
    conn: &mut DbConnection,
    user_id: Option<UserId>,
    case_id: Option<CaseId>,
    page: PageRequest,
) -> QueryResult<Vec<PersonalDataExport>> {
    let mut query = personal_data_exports::table
        .select(personal_data_exports::all_columns)
        .into_boxed::<MultiBackend>();
    if let Some(user_id) = user_id {
        query = query.filter(personal_data_exports::user_id.eq(user_id));
    }
    if let Some(case_id) = case_id {
        query = query
            .filter(personal_data_exports::first_case_id.le(case_id))
            .filter(personal_data_exports::last_case_id.ge(case_id));
    }
    if let Some(after) = page.after {
        query = query.filter(personal_data_exports::id.gt(after));
    }
    query
        .order(personal_data_exports::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}

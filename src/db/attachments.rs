//! Attachment rows: what the API lists and what keeps a stored file alive.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::attachments;
use crate::domain::ids::{ArticleId, AssignmentId, AttachmentId, CaseId, ClientId, UserId};

#[derive(Debug, Clone, Queryable)]
pub struct AttachmentRow {
    pub id: AttachmentId,
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    pub uploaded_by_user_id: Option<UserId>,
    pub uploaded_by_client_id: Option<ClientId>,
    pub uploader_role: String,
    pub file_name: String,
    pub caption: Option<String>,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub shareable: bool,
    pub uploaded_at: NaiveDateTime,
    pub removed_at: Option<NaiveDateTime>,
    pub removed_by_user_id: Option<UserId>,
    pub removal_reason: Option<String>,
    /// The knowledge-base article it belongs to (then no case).
    pub article_id: Option<ArticleId>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = attachments, treat_none_as_default_value = false)]
pub struct NewAttachment {
    pub case_id: Option<CaseId>,
    pub assignment_id: Option<AssignmentId>,
    pub uploaded_by_user_id: Option<UserId>,
    pub uploaded_by_client_id: Option<ClientId>,
    pub uploader_role: String,
    pub file_name: String,
    pub caption: Option<String>,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub shareable: bool,
    pub uploaded_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, row: &NewAttachment) -> QueryResult<AttachmentRow> {
    diesel::insert_into(attachments::table)
        .values(row)
        .returning(attachments::all_columns)
        .get_result(conn)
}

pub fn find(conn: &mut DbConnection, id: AttachmentId) -> QueryResult<Option<AttachmentRow>> {
    attachments::table
        .find(id)
        .select(attachments::all_columns)
        .first(conn)
        .optional()
}

pub fn find_many(conn: &mut DbConnection, ids: &[AttachmentId]) -> QueryResult<Vec<AttachmentRow>> {
    attachments::table
        .filter(attachments::id.eq_any(ids))
        .select(attachments::all_columns)
        .load(conn)
}

/// The case's attachments, removed ones included (their record stays), oldest first.
pub fn of_case(conn: &mut DbConnection, case: CaseId) -> QueryResult<Vec<AttachmentRow>> {
    attachments::table
        .filter(attachments::case_id.eq(case))
        .order(attachments::id.asc())
        .select(attachments::all_columns)
        .load(conn)
}

/// How many files and bytes the case holds now (removed ones not counted), summed by the
/// database (a case's list is not read for it).
pub fn case_usage(conn: &mut DbConnection, case: CaseId) -> QueryResult<(i64, i64)> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    attachments::table
        .filter(attachments::case_id.eq(case))
        .filter(attachments::removed_at.is_null())
        .select((
            sql::<BigInt>("COUNT(*)"),
            // PostgreSQL sums BIGINT as NUMERIC: cast back.
            sql::<BigInt>("CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT)"),
        ))
        .get_result(conn)
}

/// Gives pending uploads (no case yet) their case; the rows it changed (those still pending).
pub fn attach_to_case(
    conn: &mut DbConnection,
    ids: &[AttachmentId],
    case: CaseId,
) -> QueryResult<Vec<AttachmentRow>> {
    diesel::update(
        attachments::table
            .filter(attachments::id.eq_any(ids))
            .filter(attachments::case_id.is_null()),
    )
    .set(attachments::case_id.eq(case))
    .returning(attachments::all_columns)
    .get_results(conn)
}

/// Gives pending uploads (no case, no article) to an article; files already on it stay.
pub fn attach_to_article(
    conn: &mut DbConnection,
    ids: &[AttachmentId],
    article: ArticleId,
) -> QueryResult<usize> {
    if ids.is_empty() {
        return Ok(0);
    }
    diesel::update(
        attachments::table
            .filter(attachments::id.eq_any(ids))
            .filter(attachments::case_id.is_null())
            .filter(attachments::article_id.is_null()),
    )
    .set(attachments::article_id.eq(article))
    .execute(conn)
}

pub fn set_shareable(
    conn: &mut DbConnection,
    id: AttachmentId,
    shareable: bool,
) -> QueryResult<AttachmentRow> {
    diesel::update(attachments::table.find(id))
        .set(attachments::shareable.eq(shareable))
        .returning(attachments::all_columns)
        .get_result(conn)
}

pub fn mark_removed(
    conn: &mut DbConnection,
    id: AttachmentId,
    by: UserId,
    reason: &str,
    at: NaiveDateTime,
) -> QueryResult<AttachmentRow> {
    diesel::update(attachments::table.find(id))
        .set((
            attachments::removed_at.eq(at),
            attachments::removed_by_user_id.eq(by),
            attachments::removal_reason.eq(reason),
        ))
        .returning(attachments::all_columns)
        .get_result(conn)
}

/// Whether a live row (not removed) still points to the file `sha256`.
pub fn file_in_use(conn: &mut DbConnection, sha256: &str) -> QueryResult<bool> {
    Ok(!files_in_use(conn, &[sha256.to_owned()])?.is_empty())
}

/// Of `digests`, those a live row points to.
pub fn files_in_use(conn: &mut DbConnection, digests: &[String]) -> QueryResult<Vec<String>> {
    let mut used = Vec::new();
    for chunk in digests.chunks(500) {
        used.extend(
            attachments::table
                .filter(attachments::sha256.eq_any(chunk))
                .filter(attachments::removed_at.is_null())
                .select(attachments::sha256)
                .distinct()
                .load::<String>(conn)?,
        );
    }
    Ok(used)
}

/// Deletes uploads never given a case that were made before `before`; how many.
pub fn delete_pending_before(conn: &mut DbConnection, before: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        attachments::table
            .filter(attachments::case_id.is_null())
            .filter(attachments::article_id.is_null())
            .filter(attachments::uploaded_at.lt(before)),
    )
    .execute(conn)
}

//! `/personal-data-reads` and `/personal-data-exports`: the logs of full reads of complainants' personal
//! data by staff, one case at a time and in case exports.

use actix_web::{get, web};
use serde::Deserialize;

use crate::auth::{Permit, op};
use crate::domain::ids::{CaseId, UserId};
use crate::error::ApiError;
use crate::service::case_views::PersonalDataReadView;
use crate::startup::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadsQuery {
    pub case_id: Option<CaseId>,
    pub user_id: Option<UserId>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Who read which case's personal data, and when.
#[utoipa::path(
    tag = "cases",
    security(("bearer" = [])),
    params(ReadsQuery),
    responses((status = 200, description = "One page of reads", body = crate::pagination::Page<PersonalDataReadView>)),
)]
#[get("/personal-data-reads")]
pub async fn personal_data_reads(
    state: web::Data<AppState>,
    _permit: Permit<op::PersonalDataReads>,
    query: web::Query<ReadsQuery>,
) -> Result<web::Json<crate::pagination::Page<PersonalDataReadView>>, ApiError> {
    let query = query.into_inner();
    let page = crate::pagination::PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let rows = state
        .db
        .run(move |conn| {
            crate::service::case_views::personal_data_reads(
                conn,
                query.case_id,
                query.user_id,
                page,
            )
        })
        .await?;
    Ok(web::Json(crate::pagination::Page::from_rows(
        rows,
        page,
        |(r, _)| r.id,
        |(r, role)| PersonalDataReadView {
            id: r.id,
            case_id: r.case_id,
            user_id: r.user_id,
            role,
            read_at: r.read_at.and_utc(),
        },
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportsQuery {
    pub user_id: Option<UserId>,
    /// Exports whose range of case ids (`first_case_id` to `last_case_id`) covers this case: the
    /// exports that may have carried it (their filters tell whether they did).
    pub case_id: Option<CaseId>,
    /// Rows per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[A-Za-z0-9_-]*$")]
    pub cursor: Option<String>,
}

/// Who exported cases with personal data (`GET /exports/cases` by the centre and the
/// departments), when, with which filters, and how much: one entry per export.
#[utoipa::path(
    tag = "exports",
    security(("bearer" = [])),
    params(ExportsQuery),
    responses((status = 200, description = "One page of exports, oldest first", body = crate::pagination::Page<PersonalDataExportView>)),
)]
#[get("/personal-data-exports")]
pub async fn personal_data_exports(
    state: web::Data<AppState>,
    _permit: Permit<op::PersonalDataExports>,
    query: web::Query<ExportsQuery>,
) -> Result<web::Json<crate::pagination::Page<PersonalDataExportView>>, ApiError> {
    let query = query.into_inner();
    let page = crate::pagination::PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let rows = state
        .db
        .run(move |conn| {
            crate::service::exports::personal_data_exports(conn, query.user_id, query.case_id, page)
        })
        .await?;
    crate::pagination::Page::try_from_rows(rows, page, |e| e.id, PersonalDataExportView::from_row)
        .map(web::Json)
}

/// One export of cases that could carry complainants' personal data in full.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct PersonalDataExportView {
    pub id: i64,
    pub user_id: UserId,
    pub role: crate::domain::role::Role,
    /// `csv` or `xlsx`.
    pub format: String,
    /// The filters of the request, as given.
    #[schema(value_type = Object)]
    pub filters: serde_json::Value,
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// When it ended; absent while it runs (or if the server stopped during it).
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Whether every row was sent; `false` when the client went away or the export failed.
    pub completed: bool,
    /// Rows sent.
    pub rows_exported: Option<i64>,
    /// Rows sent with the complainant's name or phone in full.
    pub rows_with_personal_data: Option<i64>,
    pub first_case_id: Option<CaseId>,
    pub last_case_id: Option<CaseId>,
}

impl PersonalDataExportView {
    fn from_row(row: crate::db::exports::PersonalDataExport) -> Result<Self, ApiError> {
        Ok(Self {
            id: row.id,
            user_id: row.user_id,
            role: row.role,
            format: row.format,
            filters: serde_json::from_str(&row.filters)
                .map_err(|_| ApiError::internal("unreadable export filters"))?,
            started_at: row.started_at.and_utc(),
            finished_at: row.finished_at.map(|t| t.and_utc()),
            completed: row.completed,
            rows_exported: row.rows_exported,
            rows_with_personal_data: row.rows_with_personal_data,
            first_case_id: row.first_case_id,
            last_case_id: row.last_case_id,
        })
    }
}

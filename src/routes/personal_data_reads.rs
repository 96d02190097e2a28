//! `/personal-data-reads`: the log of centre staff's full reads of complainants' personal data.

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

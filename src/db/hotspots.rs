//! What hot-spot clusters read of the cases: their id, category, district, place (the address's
//! key, the point) and time of registration, nothing else (no text, no complainant), in
//! registration order, all from one covering index.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::cases;
use super::stored::StoredTime;
use crate::domain::ids::{CaseId, CategoryId, DepartmentId};

/// One case as clustering reads it.
#[derive(Debug, Queryable)]
pub struct RegistrationRow {
    pub id: CaseId,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    /// The address's key ([`crate::domain::place::address_key`]), not the address.
    pub address_key: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub created_at: StoredTime,
}

/// The next `limit` cases with a category registered in `[from, to)`, by registration time then
/// id, after `after` (the last row of the batch before); read through the index on
/// `(created_at, id, …)`, which holds every column read.
pub fn registrations(
    conn: &mut DbConnection,
    (from, to): (NaiveDateTime, NaiveDateTime),
    after: Option<(NaiveDateTime, CaseId)>,
    limit: i64,
) -> QueryResult<Vec<RegistrationRow>> {
    // The range starts at the last row read, so that each batch seeks into the index where the
    // one before stopped rather than filtering from `from` again.
    let lower = after.map_or(from, |(at, _)| at);
    let mut query = cases::table
        .filter(cases::created_at.ge(lower))
        .filter(cases::created_at.lt(to))
        .filter(cases::category_id.is_not_null())
        .select((
            cases::id,
            cases::category_id,
            cases::district_id,
            cases::address_key,
            cases::latitude,
            cases::longitude,
            cases::created_at,
        ))
        .order((cases::created_at.asc(), cases::id.asc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = after {
        query = query.filter(cases::created_at.gt(at).or(cases::id.gt(id)));
    }
    query.load(conn)
}

/// The public numbers of `ids` (the few cases each cluster shows).
pub fn case_numbers(
    conn: &mut DbConnection,
    ids: &[CaseId],
) -> QueryResult<std::collections::HashMap<CaseId, String>> {
    Ok(cases::table
        .filter(cases::id.eq_any(ids))
        .select((cases::id, cases::case_no))
        .load::<(CaseId, String)>(conn)?
        .into_iter()
        .collect())
}

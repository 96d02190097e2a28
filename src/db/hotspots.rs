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

/// Hands `each` the cases with a category registered in `[from, to)`, by registration time then
/// id, as they are read (one query streamed, nothing collected); read through the index on
/// `(created_at, id, …)`, which holds every column read.
pub fn each_registration(
    conn: &mut DbConnection,
    (from, to): (NaiveDateTime, NaiveDateTime),
    mut each: impl FnMut(RegistrationRow),
) -> QueryResult<()> {
    let rows = cases::table
        .filter(cases::created_at.ge(from))
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
        .load_iter::<RegistrationRow, diesel::connection::DefaultLoadingMode>(conn)?;
    for row in rows {
        each(row?);
    }
    Ok(())
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

//! The record of POST requests made with an `Idempotency-Key` (see `crate::idempotency`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::idempotent_requests;

/// `status` of a request whose first answer is not recorded yet.
pub const IN_PROGRESS: i32 = 0;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = idempotent_requests, treat_none_as_default_value = false)]
pub struct IdempotentRequest {
    pub principal: String,
    pub key_digest: String,
    pub request_hash: String,
    pub status: i32,
    pub sealed_response: Option<String>,
    pub created_at: NaiveDateTime,
}

pub fn find(
    conn: &mut DbConnection,
    principal: &str,
    key_digest: &str,
) -> QueryResult<Option<IdempotentRequest>> {
    idempotent_requests::table
        .find((principal, key_digest))
        .select(idempotent_requests::all_columns)
        .get_result(conn)
        .optional()
}

/// Records a request as being answered. Fails with a unique violation when another request with
/// the same key got there first.
pub fn insert(conn: &mut DbConnection, row: &IdempotentRequest) -> QueryResult<()> {
    diesel::insert_into(idempotent_requests::table)
        .values(row.clone())
        .execute(conn)
        .map(drop)
}

/// Restarts an expired record for a new first request, if it is still `old` (two retries racing
/// for it: one wins). True when this call restarted it.
pub fn restart(
    conn: &mut DbConnection,
    old: &IdempotentRequest,
    request_hash: &str,
    at: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        idempotent_requests::table
            .find((&old.principal, &old.key_digest))
            .filter(idempotent_requests::created_at.eq(old.created_at))
            .filter(idempotent_requests::request_hash.eq(&old.request_hash)),
    )
    .set((
        idempotent_requests::request_hash.eq(request_hash),
        idempotent_requests::status.eq(IN_PROGRESS),
        idempotent_requests::sealed_response.eq(None::<String>),
        idempotent_requests::created_at.eq(at),
    ))
    .execute(conn)
    .map(|rows| rows == 1)
}

/// Stores the first answer.
pub fn complete(
    conn: &mut DbConnection,
    principal: &str,
    key_digest: &str,
    status: i32,
    sealed_response: &str,
) -> QueryResult<()> {
    diesel::update(idempotent_requests::table.find((principal, key_digest)))
        .set((
            idempotent_requests::status.eq(status),
            idempotent_requests::sealed_response.eq(Some(sealed_response)),
        ))
        .execute(conn)
        .map(drop)
}

/// Forgets a request whose answer was an error, so that a retry runs it anew.
pub fn forget(conn: &mut DbConnection, principal: &str, key_digest: &str) -> QueryResult<()> {
    diesel::delete(idempotent_requests::table.find((principal, key_digest)))
        .execute(conn)
        .map(drop)
}

/// Forgets every record older than `kept_since`; returns how many.
pub fn prune(conn: &mut DbConnection, kept_since: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(
        idempotent_requests::table.filter(idempotent_requests::created_at.lt(kept_since)),
    )
    .execute(conn)
}

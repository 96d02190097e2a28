//! Reference data that every server caches: the working-day calendar and the deadline policies.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::DbConnection;
use super::schema::{calendar_years, sla_policies};
use crate::domain::ids::UserId;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = calendar_years, treat_none_as_default_value = false)]
pub struct CalendarYear {
    pub year: i32,
    pub rules: String,
    pub revision: i64,
    pub updated_by: Option<UserId>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = sla_policies, treat_none_as_default_value = false)]
pub struct SlaPolicyRow {
    pub version: i32,
    pub rules: String,
    pub created_by: Option<UserId>,
    pub created_at: NaiveDateTime,
}

pub fn all_years(conn: &mut DbConnection) -> QueryResult<Vec<CalendarYear>> {
    calendar_years::table
        .select(calendar_years::all_columns)
        .order(calendar_years::year.asc())
        .load(conn)
}

pub fn find_year(conn: &mut DbConnection, year: i32) -> QueryResult<Option<CalendarYear>> {
    calendar_years::table
        .find(year)
        .select(calendar_years::all_columns)
        .get_result(conn)
        .optional()
}

fn next_revision(conn: &mut DbConnection) -> QueryResult<i64> {
    let max: Option<i64> = calendar_years::table
        .select(diesel::dsl::max(calendar_years::revision))
        .get_result(conn)?;
    Ok(max.unwrap_or(0) + 1)
}

/// Writes a year. `replace: false` keeps an existing row (used to seed the shipped defaults, which
/// several servers may try at once).
pub fn save_year(
    conn: &mut DbConnection,
    year: i32,
    rules: String,
    updated_by: Option<UserId>,
    now: NaiveDateTime,
    replace: bool,
) -> QueryResult<CalendarYear> {
    let row = CalendarYear {
        year,
        rules,
        revision: next_revision(conn)?,
        updated_by,
        updated_at: now,
    };
    macro_rules! upsert {
        ($conn:expr) => {{
            let insert = diesel::insert_into(calendar_years::table)
                .values(row.clone())
                .on_conflict(calendar_years::year);
            if replace {
                insert
                    .do_update()
                    .set((
                        calendar_years::rules.eq(&row.rules),
                        calendar_years::revision.eq(row.revision),
                        calendar_years::updated_by.eq(row.updated_by),
                        calendar_years::updated_at.eq(row.updated_at),
                    ))
                    .execute($conn)
            } else {
                insert.do_nothing().execute($conn)
            }
        }};
    }
    match conn {
        DbConnection::Postgres(pg) => upsert!(pg)?,
        DbConnection::Sqlite(sqlite) => upsert!(sqlite)?,
    };
    find_year(conn, year)?.ok_or_else(|| super::unreadable("calendar year vanished after writing"))
}

pub fn current_policy(conn: &mut DbConnection) -> QueryResult<Option<SlaPolicyRow>> {
    sla_policies::table
        .select(sla_policies::all_columns)
        .order(sla_policies::version.desc())
        .get_result(conn)
        .optional()
}

/// Adds a policy version after the current one. `only_if_none` seeds the first version once.
pub fn add_policy(
    conn: &mut DbConnection,
    rules: String,
    created_by: Option<UserId>,
    now: NaiveDateTime,
    only_if_none: bool,
) -> QueryResult<SlaPolicyRow> {
    let current = current_policy(conn)?;
    if let (true, Some(current)) = (only_if_none, &current) {
        return Ok(current.clone());
    }
    let row = SlaPolicyRow {
        version: current.map_or(1, |c| c.version + 1),
        rules,
        created_by,
        created_at: now,
    };
    macro_rules! insert {
        ($conn:expr) => {{
            let insert = diesel::insert_into(sla_policies::table).values(row.clone());
            if only_if_none {
                insert.on_conflict_do_nothing().execute($conn)
            } else {
                insert.execute($conn)
            }
        }};
    }
    match conn {
        DbConnection::Postgres(pg) => insert!(pg)?,
        DbConnection::Sqlite(sqlite) => insert!(sqlite)?,
    };
    current_policy(conn)?.ok_or_else(|| super::unreadable("policy vanished after writing"))
}

/// What changed since the caches were filled: (latest calendar revision, latest policy version).
pub fn revisions(conn: &mut DbConnection) -> QueryResult<(i64, i32)> {
    let calendar: Option<i64> = calendar_years::table
        .select(diesel::dsl::max(calendar_years::revision))
        .get_result(conn)?;
    let policy: Option<i32> = sla_policies::table
        .select(diesel::dsl::max(sla_policies::version))
        .get_result(conn)?;
    Ok((calendar.unwrap_or(0), policy.unwrap_or(0)))
}

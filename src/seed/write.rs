//! What the seed does to the database, in the style of the db layer (every function answers a
//! `QueryResult`): reading what it builds on (organisation, counters, the last ids), writing one
//! batch of rows per transaction through the product's own `Insertable`s (multi-row INSERTs of a
//! fixed size on SQLite, one binary COPY per table on PostgreSQL), and the SQLite settings around
//! that (rollback journal, bulk FTS5 indexing).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime, Timelike};
use diesel::connection::SimpleConnection;
use diesel::expression::AsExpression;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::sqlite::Sqlite;

use crate::db::assignments::{NewAssignment, NewDeadline};
use crate::db::cases::{ComplainantRow, NewCase, NewCaseEvent};
use crate::db::follow_up::NewFollowUpCall;
use crate::db::models::NewUser;
use crate::db::schema::{
    assignments, case_counters, case_events, cases, categories, complainants, deadlines,
    departments, follow_up_calls, surveys, users,
};
use crate::db::surveys::NewSurvey;
use crate::db::{DbConnection, write_transaction};
use crate::domain::ids::{CategoryId, DepartmentId, UserId};
use crate::domain::role::Role;

/// Rows per multi-row INSERT. The widest row (a case with its id, 33 columns) stays well below
/// SQLite's limit of 32,766 bound values per statement.
const CHUNK: usize = 256;

/// One table's rows of a batch, each with its id, assigned here in advance so that the seed never
/// reads ids back. The ids are kept twice: inside the rows as SQLite's multi-row INSERTs bind them
/// (owned, so that every full chunk reuses one prepared statement), and apart for PostgreSQL's
/// COPY, which sorts the rows by them (see `copy_rows`).
pub(super) struct Rows<Id: Expression<SqlType = BigInt>, Row> {
    with_ids: Vec<(diesel::dsl::Eq<Id, i64>, Row)>,
    ids: Vec<i64>,
}

impl<Id: Expression<SqlType = BigInt> + Default, Row> Rows<Id, Row> {
    pub(super) fn push(&mut self, (id, row): (i64, Row)) {
        self.ids.push(id);
        self.with_ids.push((Id::default().eq(id), row));
    }

    pub(super) fn append(&mut self, rows: &mut Vec<(i64, Row)>) {
        rows.drain(..).for_each(|row| self.push(row));
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    fn clear(&mut self) {
        self.ids.clear();
        self.with_ids.clear();
    }

    /// The rows in id order, with the first and last id; an error unless the ids are consecutive.
    fn in_id_order(&self, table: &'static str) -> QueryResult<Option<(Vec<&Row>, i64, i64)>> {
        let mut order: Vec<usize> = (0..self.ids.len()).collect();
        order.sort_unstable_by_key(|&i| self.ids[i]);
        let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
            return Ok(None);
        };
        let (first, last) = (self.ids[first], self.ids[last]);
        if (order.windows(2)).any(|pair| self.ids[pair[1]] != self.ids[pair[0]] + 1) {
            return Err(diesel::result::Error::QueryBuilderError(
                format!("the seeded {table} ids are not consecutive").into(),
            ));
        }
        let rows = order.into_iter().map(|i| &self.with_ids[i].1).collect();
        Ok(Some((rows, first, last)))
    }
}

impl<Id: Expression<SqlType = BigInt>, Row> Default for Rows<Id, Row> {
    fn default() -> Self {
        Rows {
            with_ids: Vec::new(),
            ids: Vec::new(),
        }
    }
}

/// One transaction's worth of rows.
#[derive(Default)]
pub(super) struct Batch {
    pub cases: Rows<cases::id, NewCase<Ts>>,
    pub complainants: Vec<ComplainantRow>,
    pub events: Rows<case_events::id, NewCaseEvent<Ts>>,
    pub assignments: Rows<assignments::id, NewAssignment<Ts>>,
    pub deadlines: Rows<deadlines::id, NewDeadline<Ts>>,
    pub follow_up_calls: Rows<follow_up_calls::id, NewFollowUpCall<Ts>>,
    pub surveys: Rows<surveys::id, NewSurvey<Ts>>,
    /// The batch's cases' ids, first and last (they are consecutive).
    pub case_ids: Option<(i64, i64)>,
    /// Per-day counters reached in this batch (`YYYYMMDD` → last value).
    pub counters: HashMap<String, i64>,
}

impl Batch {
    /// Empties the batch but keeps its vectors' room for the next one.
    pub(super) fn clear(&mut self) {
        self.cases.clear();
        self.complainants.clear();
        self.events.clear();
        self.assignments.clear();
        self.deadlines.clear();
        self.follow_up_calls.clear();
        self.surveys.clear();
        self.case_ids = None;
        self.counters.clear();
    }
}

/// A timestamp with its SQLite text made when the row is generated (on the generator thread): the
/// writer then binds borrowed text, where Diesel would format every value with chrono's `%F %T%.f`
/// while holding the write lock (a tenth of the seed's time).
#[derive(AsExpression, Debug, Clone, Copy)]
#[diesel(sql_type = Timestamp)]
pub(super) struct Ts {
    at: NaiveDateTime,
    text: [u8; 40],
    len: u8,
}

impl Ts {
    pub(super) fn new(at: NaiveDateTime) -> Self {
        let mut ts = Ts {
            at,
            text: [0; 40],
            len: 0,
        };
        let (year, nanos) = (at.year(), at.and_utc().timestamp_subsec_nanos());
        if (1000..=9999).contains(&year) && nanos < 1_000_000_000 {
            // Exactly what chrono writes for `%F %T%.f`: the fraction in the fewest of 3, 6 or 9
            // digits that hold it, or none.
            let fraction = match nanos {
                0 => None,
                n if n % 1_000_000 == 0 => Some((b'.', n / 1_000_000, 3)),
                n if n % 1_000 == 0 => Some((b'.', n / 1_000, 6)),
                n => Some((b'.', n, 9)),
            };
            let fields = [
                (None, year as u32, 4),
                (Some(b'-'), at.month(), 2),
                (Some(b'-'), at.day(), 2),
                (Some(b' '), at.hour(), 2),
                (Some(b':'), at.minute(), 2),
                (Some(b':'), at.second(), 2),
            ];
            let fraction = fraction.map(|(dot, value, digits)| (Some(dot), value, digits));
            for (separator, value, digits) in fields.into_iter().chain(fraction) {
                if let Some(separator) = separator {
                    ts.text[usize::from(ts.len)] = separator;
                    ts.len += 1;
                }
                for place in (0..digits).rev() {
                    ts.text[usize::from(ts.len)] = b'0' + (value / 10u32.pow(place) % 10) as u8;
                    ts.len += 1;
                }
            }
        } else {
            use std::io::Write;
            let mut out = &mut ts.text[..];
            write!(out, "{}", at.format("%F %T%.f")).expect("a timestamp fits in 40 bytes");
            ts.len = (40 - out.len()) as u8;
        }
        ts
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.text[..usize::from(self.len)]).expect("ASCII")
    }
}

impl From<Ts> for NaiveDateTime {
    fn from(ts: Ts) -> Self {
        ts.at
    }
}

impl ToSql<Timestamp, Sqlite> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.text());
        Ok(IsNull::No)
    }
}

impl ToSql<Timestamp, Pg> for Ts {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        ToSql::<Timestamp, Pg>::to_sql(&self.at, out)
    }
}

/// Inserts `rows` into `table` in chunks of [`CHUNK`] rows (SQLite): every full chunk reuses one
/// prepared statement; the rest goes in one statement of its own.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        let mut chunks = rows.chunks_exact(CHUNK);
        for chunk in &mut chunks {
            let chunk: &[_; CHUNK] = chunk.try_into().expect("chunks_exact gives full chunks");
            diesel::insert_into($table).values(chunk).execute($conn)?;
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            diesel::insert_into($table).values(rest).execute($conn)?;
        }
    }};
}

/// Copies `rows` into `table` (PostgreSQL): one `COPY … FROM STDIN (FORMAT binary)` of the
/// product's `Insertable`s, which PostgreSQL takes in without parsing and planning a statement
/// per 256 rows. Diesel copies only flat `Insertable`s, and the seed's ids travel beside the
/// models, so the ids come from the table's identity sequence instead: the rows go in id order,
/// the sequence is set to hand out the first id next, and afterwards it must have handed out
/// exactly the last one (the batch holds the seeded tables against other writers), else the
/// transaction is rolled back.
macro_rules! copy_rows {
    ($conn:expr, $table:expr, $name:literal, $rows:expr) => {{
        if let Some((rows, first, last)) = $rows.in_id_order($name)? {
            move_sequence($conn, $name, first)?;
            diesel::copy_from($table)
                .from_insertable(rows)
                .execute($conn)?;
            if last_handed_out($conn, $name)? != last {
                return Err(diesel::result::Error::QueryBuilderError(
                    concat!("another session took ids of ", $name, " during the seed").into(),
                ));
            }
        }
    }};
}

/// Sets `table`'s identity sequence so that its next value is `next`.
fn move_sequence(conn: &mut PgConnection, table: &str, next: i64) -> QueryResult<()> {
    diesel::sql_query("SELECT setval(pg_get_serial_sequence($1, 'id'), $2, false)")
        .bind::<Text, _>(table)
        .bind::<BigInt, _>(next)
        .execute(conn)
        .map(drop)
}

/// The last value this session took from `table`'s identity sequence.
fn last_handed_out(conn: &mut PgConnection, table: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }
    diesel::sql_query("SELECT currval(pg_get_serial_sequence($1, 'id')) AS value")
        .bind::<Text, _>(table)
        .get_result::<Last>(conn)
        .map(|last| last.value)
}

/// The keyword index's insert trigger on SQLite (its name and its `CREATE TRIGGER` statement as
/// the schema has it), which the seed replaces by one bulk insert per batch.
pub(super) struct FtsTrigger {
    name: String,
    sql: String,
}

/// Moves the per-day case counters up to the batch's last numbers (`$greatest`: the backend's
/// name for the larger of two values).
macro_rules! write_counters {
    ($conn:expr, $counters:expr, $greatest:literal) => {
        for (day, last) in $counters {
            diesel::sql_query(concat!(
                "INSERT INTO case_counters (day, last_value) VALUES ($1, $2) \
                 ON CONFLICT (day) DO UPDATE SET last_value = ",
                $greatest,
                "(case_counters.last_value, excluded.last_value)"
            ))
            .bind::<Text, _>(day)
            .bind::<BigInt, _>(last)
            .execute($conn)?;
        }
    };
}

/// Writes one batch in one transaction.
pub(super) fn write_batch(
    conn: &mut DbConnection,
    batch: &Batch,
    fts: Option<&FtsTrigger>,
) -> QueryResult<()> {
    write_transaction(conn, |conn| {
        match conn {
            DbConnection::Sqlite(c) => {
                // Indexing the batch's cases in one statement costs half of what the trigger's
                // row-by-row inserts do. The trigger is dropped and recreated in this same
                // transaction, so no other connection ever sees it missing or a case unindexed.
                if let Some(fts) = fts {
                    c.batch_execute(&format!("DROP TRIGGER \"{}\"", fts.name))?;
                }
                insert_rows!(c, cases::table, &batch.cases.with_ids);
                insert_rows!(c, complainants::table, &batch.complainants);
                insert_rows!(c, case_events::table, &batch.events.with_ids);
                insert_rows!(c, assignments::table, &batch.assignments.with_ids);
                insert_rows!(c, deadlines::table, &batch.deadlines.with_ids);
                insert_rows!(c, follow_up_calls::table, &batch.follow_up_calls.with_ids);
                insert_rows!(c, surveys::table, &batch.surveys.with_ids);
                write_counters!(c, &batch.counters, "max");
                if let (Some(fts), Some((first, last))) = (fts, batch.case_ids) {
                    diesel::sql_query(
                        "INSERT INTO cases_fts (rowid, title, description) \
                         SELECT id, title, description FROM cases WHERE id BETWEEN $1 AND $2",
                    )
                    .bind::<BigInt, _>(first)
                    .bind::<BigInt, _>(last)
                    .execute(c)?;
                    c.batch_execute(&fts.sql)?;
                }
            }
            DbConnection::Postgres(c) => {
                // Writers wait for the batch (readers too when the seed's own transaction has
                // dropped the indexes), so the identity sequences hand their values to the seed
                // alone (see `copy_rows`).
                c.batch_execute(
                    "LOCK TABLE cases, complainants, case_events, assignments, deadlines, \
                     follow_up_calls, surveys IN EXCLUSIVE MODE",
                )?;
                copy_rows!(c, cases::table, "cases", batch.cases);
                let complainants: Vec<&ComplainantRow> = batch.complainants.iter().collect();
                diesel::copy_from(complainants::table)
                    .from_insertable(complainants)
                    .execute(c)?;
                copy_rows!(c, case_events::table, "case_events", batch.events);
                copy_rows!(c, assignments::table, "assignments", batch.assignments);
                copy_rows!(c, deadlines::table, "deadlines", batch.deadlines);
                copy_rows!(
                    c,
                    follow_up_calls::table,
                    "follow_up_calls",
                    batch.follow_up_calls
                );
                copy_rows!(c, surveys::table, "surveys", batch.surveys);
                write_counters!(c, &batch.counters, "GREATEST");
            }
        }
        Ok(())
    })
}

/// Finds the keyword index's insert trigger, if the schema has the index.
pub(super) fn fts_trigger(conn: &mut DbConnection) -> QueryResult<Option<FtsTrigger>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        sql: String,
    }
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT name, sql FROM sqlite_master \
         WHERE type = 'trigger' AND name = 'cases_fts_after_insert' AND tbl_name = 'cases'",
    )
    .load(conn)?;
    Ok(rows.into_iter().next().map(|row| FtsTrigger {
        name: row.name,
        sql: row.sql,
    }))
}

/// FTS5 flushes its in-memory index into a new segment whenever it passes `hashsize` (1 MiB by
/// default), and merges segments as they pile up. With room for a whole batch, each batch becomes
/// one segment. The setting is stored in the database: [`restore_fts_hashsize`] puts it back.
const SEED_FTS_HASHSIZE: i64 = 512 << 20;

/// Sets the keyword index's `hashsize` for the seed; returns the stored value it replaces.
pub(super) fn raise_fts_hashsize(conn: &mut DbConnection) -> QueryResult<Option<String>> {
    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = Text)]
        v: String,
    }
    write_transaction(conn, |conn| {
        let before: Option<Value> = diesel::sql_query(
            "SELECT CAST(v AS TEXT) AS v FROM cases_fts_config WHERE k = 'hashsize'",
        )
        .get_result(conn)
        .optional()?;
        diesel::sql_query("INSERT INTO cases_fts (cases_fts, rank) VALUES ('hashsize', $1)")
            .bind::<BigInt, _>(SEED_FTS_HASHSIZE)
            .execute(conn)?;
        Ok(before.map(|value| value.v))
    })
}

pub(super) fn restore_fts_hashsize(
    conn: &mut DbConnection,
    before: Option<&str>,
) -> QueryResult<()> {
    write_transaction(conn, |conn| {
        // Setting a value tells every connection to reload the configuration; without a stored
        // value FTS5 uses its default, so the row written for that is removed again.
        diesel::sql_query("INSERT INTO cases_fts (cases_fts, rank) VALUES ('hashsize', $1)")
            .bind::<Text, _>(before.unwrap_or("1048576"))
            .execute(conn)?;
        if before.is_none() {
            diesel::sql_query("DELETE FROM cases_fts_config WHERE k = 'hashsize'").execute(conn)?;
        }
        Ok(())
    })
}

/// PostgreSQL's counterpart of SQLite's `foreign_keys = OFF` for the seeding session: with
/// `session_replication_role = replica` the foreign-key triggers do not fire, where otherwise
/// every seeded row runs one lookup (and a row lock on the referenced row) per reference, about
/// 45 per case: most of the seed's time on PostgreSQL. The generated rows refer only to rows that
/// exist. Only superusers, or roles granted `SET` on the parameter, may change it; without that
/// the seed keeps the checks. The migrations define no other triggers or rules on these tables.
pub(super) fn skip_foreign_key_checks(conn: &mut DbConnection) -> bool {
    let skipped = conn
        .batch_execute("SET session_replication_role = replica")
        .is_ok();
    if !skipped {
        log::info!("seed: not allowed to set session_replication_role; foreign keys are checked");
    }
    skipped
}

pub(super) fn restore_foreign_key_checks(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("RESET session_replication_role")
}

/// Gives every active department without a department user one handler account (department
/// staff, `handler.<department id>`), so that the cases the seed sends there are signed, replied
/// and followed up rather than left unworked. Its password hash is of a random secret nobody
/// keeps: the account cannot sign in until an admin sets a password. Returns how many it made.
pub(super) fn add_handlers(conn: &mut DbConnection, password_hash: &str) -> QueryResult<usize> {
    use std::collections::HashSet;
    let staffed: HashSet<Option<DepartmentId>> = users::table
        .filter(users::role.eq_any([Role::DepartmentStaff, Role::DepartmentAdmin]))
        .filter(users::active.eq(true))
        .select(users::department_id)
        .load::<Option<DepartmentId>>(conn)?
        .into_iter()
        .collect();
    let unstaffed: Vec<(DepartmentId, String)> = departments::table
        .filter(departments::active.eq(true))
        .order(departments::id)
        .select((departments::id, departments::name))
        .load::<(DepartmentId, String)>(conn)?
        .into_iter()
        .filter(|(id, _)| !staffed.contains(&Some(*id)))
        .collect();
    let at = crate::db::now();
    let rows: Vec<NewUser> = unstaffed
        .iter()
        .map(|(id, name)| NewUser {
            username: format!("handler.{id}"),
            display_name: format!("{name}承办人"),
            role: Role::DepartmentStaff,
            department_id: Some(*id),
            phone: None,
            password_hash: password_hash.to_owned(),
            active: true,
            password_changed_at: at,
            created_at: at,
            updated_at: at,
        })
        .collect();
    write_transaction(conn, |conn| {
        for row in &rows {
            diesel::insert_into(users::table)
                .values(row)
                .execute(conn)?;
        }
        Ok(rows.len())
    })
}

/// The tables the seed fills.
const SEEDED_TABLES: [&str; 7] = [
    "cases",
    "complainants",
    "case_events",
    "assignments",
    "deadlines",
    "follow_up_calls",
    "surveys",
];

/// Drops the seeded tables' indexes that back no constraint (PostgreSQL, inside the seed's
/// transaction); returns their `CREATE INDEX` statements. Primary keys, unique constraints and
/// unique indexes stay: they guard the rows going in.
pub(super) fn drop_plain_indexes(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(Vec::new());
    };
    #[derive(QueryableByName)]
    struct Index {
        #[diesel(sql_type = Text)]
        name: String,
        #[diesel(sql_type = Text)]
        definition: String,
    }
    let indexes: Vec<Index> = diesel::sql_query(
        "SELECT c.oid::regclass::text AS name, pg_get_indexdef(c.oid) AS definition \
         FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema()) \
           AND t.relname = ANY($1) AND NOT i.indisunique \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
         ORDER BY c.relname",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&SEEDED_TABLES[..])
    .load(pg)?;
    for index in &indexes {
        // The name as `regclass` prints it: quoted where it must be.
        pg.batch_execute(&format!("DROP INDEX {}", index.name))?;
    }
    Ok(indexes.into_iter().map(|index| index.definition).collect())
}

/// Builds the indexes [`drop_plain_indexes`] dropped, with memory enough to sort each in one go
/// and PostgreSQL's parallel workers where it plans them.
pub(super) fn create_indexes(conn: &mut DbConnection, definitions: &[String]) -> QueryResult<()> {
    conn.batch_execute(
        "SET LOCAL maintenance_work_mem = '512MB'; SET LOCAL max_parallel_maintenance_workers = 2",
    )?;
    for definition in definitions {
        conn.batch_execute(definition)?;
    }
    Ok(())
}

/// The greatest id in `table`, 0 when empty.
pub(super) fn max_id(conn: &mut DbConnection, table: &str) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Max {
        #[diesel(sql_type = BigInt)]
        value: i64,
    }
    let row: Max = diesel::sql_query(format!("SELECT COALESCE(MAX(id), 0) AS value FROM {table}"))
        .get_result(conn)?;
    Ok(row.value)
}

/// What the generator builds on, as stored: active departments (id, name, kind, parent), active
/// categories (id, code, default department) and users (id, role, department).
pub(super) struct OrganisationRows {
    pub departments: Vec<(DepartmentId, String, String, Option<DepartmentId>)>,
    pub categories: Vec<(CategoryId, String, Option<DepartmentId>)>,
    pub users: Vec<(UserId, String, Option<DepartmentId>)>,
}

pub(super) fn load_organisation(conn: &mut DbConnection) -> QueryResult<OrganisationRows> {
    Ok(OrganisationRows {
        departments: departments::table
            .select((
                departments::id,
                departments::name,
                departments::kind,
                departments::parent_id,
            ))
            .filter(departments::active.eq(true))
            .order(departments::id)
            .load(conn)?,
        categories: categories::table
            .select((
                categories::id,
                categories::code,
                categories::default_department_id,
            ))
            .filter(categories::active.eq(true))
            .order(categories::id)
            .load(conn)?,
        users: users::table
            .select((users::id, users::role, users::department_id))
            .filter(users::active.eq(true))
            .order(users::id)
            .load(conn)?,
    })
}

/// The per-day case counters (`YYYYMMDD` → last value).
pub(super) fn counters(conn: &mut DbConnection) -> QueryResult<HashMap<String, i64>> {
    Ok(case_counters::table
        .select((case_counters::day, case_counters::last_value))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect())
}

/// With the database to itself, the seed writes through a rollback journal instead of the WAL:
/// pages appended to the file need no journal at all, where the WAL writes every page twice (into
/// the log, then back into the file). Still safe against a crash of the process (the hot journal
/// rolls the unfinished batch back). While any other connection has the file open, SQLite refuses
/// to leave WAL mode; the seed then stays in it.
pub(super) fn leave_wal(conn: &mut DbConnection) -> bool {
    #[derive(QueryableByName)]
    struct Mode {
        #[diesel(sql_type = Text)]
        journal_mode: String,
    }
    let switched = conn
        .batch_execute("PRAGMA busy_timeout = 1000;")
        .and_then(|()| diesel::sql_query("PRAGMA journal_mode = DELETE").get_result::<Mode>(conn))
        .is_ok_and(|mode| mode.journal_mode.eq_ignore_ascii_case("delete"));
    let _ = conn.batch_execute("PRAGMA busy_timeout = 10000;");
    if !switched {
        log::info!("seed: the database is in use; seeding through the WAL");
    }
    switched
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn rows_are_copied_in_id_order_and_only_without_gaps() {
        let mut rows = Rows::<surveys::id, &str>::default();
        assert!(rows.in_id_order("surveys").unwrap().is_none());
        // An invitation's id is taken before the phone surveys' and its row pushed after them.
        for row in [
            (11, "phone 1"),
            (12, "phone 2"),
            (10, "invitation"),
            (13, "next"),
        ] {
            rows.push(row);
        }
        let (in_order, first, last) = rows.in_id_order("surveys").unwrap().unwrap();
        assert_eq!(in_order, [&"invitation", &"phone 1", &"phone 2", &"next"]);
        assert_eq!((first, last), (10, 13));
        rows.push((15, "after a gap"));
        assert!(rows.in_id_order("surveys").is_err());
        rows.clear();
        for row in [(1, "one"), (1, "one again"), (3, "three")] {
            rows.push(row);
        }
        assert!(rows.in_id_order("surveys").is_err());
        rows.clear();
        rows.append(&mut vec![(7, "again")]);
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn timestamp_text_is_what_diesel_would_bind() {
        let mut rng = fastrand::Rng::with_seed(7);
        let base = chrono::NaiveDate::from_ymd_opt(2026, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        for round in 0..20_000 {
            let mut at = base + TimeDelta::seconds(rng.i64(-400 * 86_400..400 * 86_400));
            at += match round % 5 {
                0 => TimeDelta::zero(),
                1 => TimeDelta::milliseconds(rng.i64(0..1000)),
                2 => TimeDelta::microseconds(rng.i64(0..1_000_000)),
                3 => TimeDelta::nanoseconds(rng.i64(0..1_000_000_000)),
                _ => TimeDelta::microseconds(rng.i64(0..1000) * 1000),
            };
            assert_eq!(Ts::new(at).text(), at.format("%F %T%.f").to_string());
        }
        let far = chrono::NaiveDate::from_ymd_opt(12345, 6, 7)
            .unwrap()
            .and_hms_opt(1, 2, 3)
            .unwrap();
        assert_eq!(Ts::new(far).text(), far.format("%F %T%.f").to_string());
    }
}

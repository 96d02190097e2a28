//! Cases, their complainants, their timeline, case numbers, personal-data reads and idempotency.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::place::address_key;

use crate::domain::case::{CaseStatus, Channel, Closure};
use crate::domain::ids::{CaseId, CategoryId, ClientId, DepartmentId, UserId};
use crate::domain::place::{NEAR, Place};
use crate::domain::role::Role;
use crate::domain::sla::{CaseKind, Urgency};

use super::DbConnection;
use super::schema::{
    case_counters, case_events, cases, complainants, idempotency_keys, personal_data_reads,
};

#[derive(Debug, Clone, Queryable, Identifiable)]
#[diesel(table_name = cases)]
pub struct CaseRow {
    pub id: CaseId,
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<CategoryId>,
    pub title: String,
    pub description: String,
    pub address: Option<String>,
    pub district_id: Option<DepartmentId>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub occurred_at: Option<NaiveDateTime>,
    pub status: CaseStatus,
    pub closure: Option<Closure>,
    pub resolution: Option<String>,
    pub citizen_id: Option<UserId>,
    pub registered_by: Option<UserId>,
    pub source_client: Option<ClientId>,
    pub external_ref: Option<String>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub accepted_at: Option<NaiveDateTime>,
    pub closed_at: Option<NaiveDateTime>,
    /// 0 until the first dispatch; each dispatch (and redo) opens the next round.
    pub current_round: i32,
    pub lead_department_id: Option<DepartmentId>,
    /// The reply time the citizen was told at dispatch.
    pub reply_due_at: Option<NaiveDateTime>,
    pub merged_into: Option<CaseId>,
    pub redo_count: i32,
    pub dispatched_at: Option<NaiveDateTime>,
    pub reviewed_at: Option<NaiveDateTime>,
    /// [`crate::domain::place::address_key`] of `address`.
    pub address_key: Option<i64>,
}

/// A new case row: every column but the id. The service registers cases with the initial values
/// (status `registered`, nothing closed or dispatched yet); the seed writes cases as far as their
/// history has gone. `T` is the timestamp type: `NaiveDateTime`, or the seed's pre-rendered text.
#[derive(Debug, Insertable)]
#[diesel(table_name = cases, treat_none_as_default_value = false)]
pub struct NewCase<T = NaiveDateTime> {
    pub case_no: String,
    pub channel: Channel,
    pub kind: CaseKind,
    pub urgency: Urgency,
    pub category_id: Option<CategoryId>,
    pub title: String,
    pub description: String,
    pub address: Option<String>,
    pub district_id: Option<DepartmentId>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub occurred_at: Option<T>,
    pub status: CaseStatus,
    pub closure: Option<Closure>,
    pub resolution: Option<String>,
    pub citizen_id: Option<UserId>,
    pub registered_by: Option<UserId>,
    pub source_client: Option<ClientId>,
    pub external_ref: Option<String>,
    pub version: i32,
    pub created_at: T,
    pub updated_at: T,
    pub accepted_at: Option<T>,
    pub closed_at: Option<T>,
    pub current_round: i32,
    pub lead_department_id: Option<DepartmentId>,
    pub reply_due_at: Option<T>,
    pub merged_into: Option<CaseId>,
    pub redo_count: i32,
    pub dispatched_at: Option<T>,
    pub reviewed_at: Option<T>,
    /// [`crate::domain::place::address_key`] of `address` (hot spots read it, not the address).
    pub address_key: Option<i64>,
}

/// A status change; `version` is bumped by [`change_status`].
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = cases)]
pub struct CaseChanges {
    pub status: Option<CaseStatus>,
    pub closure: Option<Option<Closure>>,
    pub resolution: Option<Option<String>>,
    pub accepted_at: Option<NaiveDateTime>,
    pub closed_at: Option<Option<NaiveDateTime>>,
    pub updated_at: Option<NaiveDateTime>,
    pub current_round: Option<i32>,
    pub lead_department_id: Option<Option<DepartmentId>>,
    pub reply_due_at: Option<Option<NaiveDateTime>>,
    pub merged_into: Option<Option<CaseId>>,
    pub redo_count: Option<i32>,
    pub dispatched_at: Option<NaiveDateTime>,
    pub reviewed_at: Option<NaiveDateTime>,
}

#[derive(Clone, Queryable, Insertable)]
#[diesel(table_name = complainants, treat_none_as_default_value = false)]
pub struct ComplainantRow {
    pub case_id: CaseId,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub contact_address: Option<String>,
    pub contact_allowed: bool,
    pub confidential: bool,
    pub anonymous: bool,
}

/// Personal data: never printed, whatever logs a row.
impl std::fmt::Debug for ComplainantRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ComplainantRow")
            .field("case_id", &self.case_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = case_events)]
pub struct CaseEventRow {
    pub id: i64,
    pub case_id: CaseId,
    pub occurred_at: NaiveDateTime,
    pub actor_user_id: Option<UserId>,
    pub actor_client_id: Option<ClientId>,
    pub actor_role: String,
    pub action: String,
    pub status_before: Option<String>,
    pub status_after: Option<String>,
    pub details: String,
}

/// A timeline event; `T` as in [`NewCase`].
#[derive(Debug, Insertable)]
#[diesel(table_name = case_events, treat_none_as_default_value = false)]
pub struct NewCaseEvent<T = NaiveDateTime> {
    pub case_id: CaseId,
    pub occurred_at: T,
    pub actor_user_id: Option<UserId>,
    pub actor_client_id: Option<ClientId>,
    pub actor_role: String,
    pub action: String,
    pub status_before: Option<String>,
    pub status_after: Option<String>,
    pub details: String,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = idempotency_keys, treat_none_as_default_value = false)]
pub struct IdempotencyRow {
    pub principal: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub status: i32,
    pub response: String,
    pub created_at: NaiveDateTime,
}

/// On PostgreSQL, outside any transaction: the next number of the day `day` (`YYYYMMDD`), taken
/// in a short transaction of its own; elsewhere `None`, and the registration takes its number
/// inside its own transaction with [`next_sequence`].
///
/// Why apart: inside the registration the counter row stays locked until that transaction has
/// committed, statistics and WAL flush included, and every other registration of the day, on
/// every server, queues behind it (about 250 a second, measured). Apart, the row is locked for one
/// statement. The price is a gap where a registration fails after taking its number; numbers stay
/// unique and increasing, which is what SPEC 2.3 asks. The short transaction does not wait for its
/// WAL flush: the registration's own commit flushes the log past it, so no durable case can hold a
/// number its counter forgot after a crash. It is one statement, its own transaction, which sets
/// that for itself (`set_config(…, true)` lasts until its commit): one round trip, not four.
pub fn next_sequence_apart(conn: &mut DbConnection, day: &str) -> QueryResult<Option<i64>> {
    if super::in_write_transaction() {
        return Ok(None);
    }
    let DbConnection::Postgres(pg) = conn else {
        return Ok(None);
    };
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last_value: i64,
    }
    let taken: Taken = diesel::sql_query(
        "INSERT INTO case_counters (day, last_value) \
         SELECT $1, 1 FROM (SELECT set_config('synchronous_commit', 'off', true)) AS no_flush_wait \
         ON CONFLICT (day) DO UPDATE SET last_value = case_counters.last_value + 1 \
         RETURNING last_value",
    )
    .bind::<diesel::sql_types::Text, _>(day)
    .get_result(pg)?;
    Ok(Some(taken.last_value))
}

/// The next number of the day `day` (`YYYYMMDD`). The counter row is locked by the upsert until
/// the transaction ends, so concurrent registrations — in several processes on PostgreSQL — get
/// distinct numbers.
pub fn next_sequence(conn: &mut DbConnection, day: &str) -> QueryResult<i64> {
    macro_rules! bump {
        ($conn:expr) => {
            diesel::insert_into(case_counters::table)
                .values((
                    case_counters::day.eq(day),
                    case_counters::last_value.eq(1i64),
                ))
                .on_conflict(case_counters::day)
                .do_update()
                .set(case_counters::last_value.eq(case_counters::last_value + 1i64))
                .returning(case_counters::last_value)
                .get_result::<i64>($conn)
        };
    }
    Ok(match conn {
        DbConnection::Postgres(pg) => bump!(pg)?,
        DbConnection::Sqlite(sqlite) => bump!(sqlite)?,
    })
}

/// A version-checked update that changed the case holds its row until the transaction ends, as
/// `lock_case` would.
fn held_when_updated(id: CaseId) -> impl FnOnce(&Option<CaseRow>) {
    move |updated| {
        if updated.is_some() {
            super::stats::held(id);
        }
    }
}

pub fn insert_case(conn: &mut DbConnection, row: NewCase) -> QueryResult<CaseRow> {
    let row: CaseRow = diesel::insert_into(cases::table)
        .values(row)
        .returning(cases::all_columns)
        .get_result(conn)?;
    super::stats::created(row.id);
    Ok(row)
}

pub fn insert_complainant(conn: &mut DbConnection, row: ComplainantRow) -> QueryResult<()> {
    diesel::insert_into(complainants::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Every change of a case writes an event: the statistics refresh the cases that have new ones.
/// Integrators hear of it through the webhooks' outbox, written here in the same transaction.
pub fn insert_event(conn: &mut DbConnection, row: NewCaseEvent) -> QueryResult<()> {
    super::stats::touch(row.case_id);
    super::webhooks::enqueue_timeline(conn, std::slice::from_ref(&row))?;
    diesel::insert_into(case_events::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub fn find_case(conn: &mut DbConnection, id: CaseId) -> QueryResult<Option<CaseRow>> {
    cases::table
        .find(id)
        .select(cases::all_columns)
        .get_result(conn)
        .optional()
}

/// A case and its complainant in one round trip (the hottest read, `GET /cases/{id}`).
pub fn find_case_with_complainant(
    conn: &mut DbConnection,
    id: CaseId,
) -> QueryResult<Option<(CaseRow, Option<ComplainantRow>)>> {
    cases::table
        .left_join(complainants::table)
        .filter(cases::id.eq(id))
        .select((cases::all_columns, complainants::all_columns.nullable()))
        .get_result(conn)
        .optional()
}

pub fn find_by_number(conn: &mut DbConnection, case_no: &str) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::case_no.eq(case_no))
        .select(cases::all_columns)
        .get_result(conn)
        .optional()
}

pub fn find_by_external_ref(
    conn: &mut DbConnection,
    client: ClientId,
    external_ref: &str,
) -> QueryResult<Option<CaseRow>> {
    cases::table
        .filter(cases::source_client.eq(client))
        .filter(cases::external_ref.eq(external_ref))
        .select(cases::all_columns)
        .get_result(conn)
        .optional()
}

fn place_of(case: &CaseRow) -> Place<'_> {
    Place {
        district: case.district_id,
        address: case.address.as_deref(),
        latitude: case.latitude,
        longitude: case.longitude,
    }
}

/// The place test of [`similar_cases`] (`domain::place`), for telling why a candidate was found.
pub fn same_place(a: &CaseRow, b: &CaseRow) -> bool {
    place_of(a).same_place(&place_of(b))
}

/// The complainants' phones of `case_ids` (those that have one).
pub fn complainant_phones(
    conn: &mut DbConnection,
    case_ids: &[CaseId],
) -> QueryResult<std::collections::HashMap<CaseId, String>> {
    let rows: Vec<(CaseId, Option<String>)> = complainants::table
        .filter(complainants::case_id.eq_any(case_ids))
        .select((complainants::case_id, complainants::phone))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, phone)| Some((id, phone?)))
        .collect())
}

/// Earlier open cases that may be the same matter as `case` (SPEC 3, 并单): the same citizen
/// (account or phone), or the same category at the same place (district, address, or within about
/// 500 m), registered since `since`. Newest first, at most `limit`.
pub fn similar_cases(
    conn: &mut DbConnection,
    case: &CaseRow,
    phone: Option<&str>,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<CaseRow>> {
    let same_person = cases::citizen_id
        .eq(case.citizen_id.unwrap_or(UserId(-1)))
        .or(cases::id.eq_any(
            complainants::table
                .filter(complainants::phone.eq(phone.unwrap_or("")))
                .filter(complainants::phone.is_not_null())
                .select(complainants::case_id),
        ));
    let same_place = cases::district_id
        .eq(case.district_id.unwrap_or(DepartmentId(-1)))
        .or(cases::address.eq(case.address.clone().unwrap_or_default()))
        .or(cases::latitude
            .between(
                case.latitude.unwrap_or(1000.0) - NEAR,
                case.latitude.unwrap_or(1000.0) + NEAR,
            )
            .and(cases::longitude.between(
                case.longitude.unwrap_or(1000.0) - NEAR,
                case.longitude.unwrap_or(1000.0) + NEAR,
            )));
    let same_matter = cases::category_id
        .eq(case.category_id.unwrap_or(CategoryId(-1)))
        .and(same_place);
    cases::table
        .filter(cases::id.lt(case.id))
        .filter(cases::created_at.ge(since))
        .filter(cases::status.ne_all([CaseStatus::Closed, CaseStatus::Rejected]))
        .filter(same_person.or(same_matter))
        .order(cases::id.desc())
        .limit(limit)
        .select(cases::all_columns)
        .load(conn)
}

pub fn complainant(
    conn: &mut DbConnection,
    case_id: CaseId,
) -> QueryResult<Option<ComplainantRow>> {
    complainants::table
        .find(case_id)
        .select(complainants::all_columns)
        .get_result(conn)
        .optional()
}

pub fn events(conn: &mut DbConnection, case_id: CaseId) -> QueryResult<Vec<CaseEventRow>> {
    case_events::table
        .filter(case_events::case_id.eq(case_id))
        .order(case_events::id.asc())
        .select(case_events::all_columns)
        .load(conn)
}

/// Applies `changes` only if the case is still at `expected_version`; false when another change
/// came first (the caller answers 409 and nothing is written).
pub fn change_status(
    conn: &mut DbConnection,
    id: CaseId,
    expected_version: i32,
    changes: CaseChanges,
) -> QueryResult<Option<CaseRow>> {
    diesel::update(
        cases::table
            .find(id)
            .filter(cases::version.eq(expected_version)),
    )
    .set((changes, cases::version.eq(expected_version + 1)))
    .returning(cases::all_columns)
    .get_result::<CaseRow>(conn)
    .optional()
    .inspect(held_when_updated(id))
}

/// The read log's insert on PostgreSQL: four arrays whatever the number of reads, in a statement
/// of fixed text that Diesel prepares once per connection. A multi-row VALUES (four parameters
/// a row) was parsed and planned anew for every batch, and so was any statement built from SQL
/// text (`sql_query`), which Diesel never caches.
struct InsertReadsPg<'a> {
    case_ids: &'a [i64],
    user_ids: &'a [i64],
    roles: &'a [&'a str],
    times: &'a [NaiveDateTime],
}

impl diesel::query_builder::QueryId for InsertReadsPg<'_> {
    type QueryId = InsertReadsPg<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl diesel::query_builder::QueryFragment<diesel::pg::Pg> for InsertReadsPg<'_> {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Text, Timestamp};
        out.push_sql(
            "INSERT INTO personal_data_reads (case_id, user_id, role, read_at) \
             SELECT * FROM UNNEST(",
        );
        out.push_bind_param::<Array<BigInt>, _>(self.case_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<BigInt>, _>(self.user_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(self.roles)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Timestamp>, _>(self.times)?;
        out.push_sql(")");
        Ok(())
    }
}

impl RunQueryDsl<diesel::pg::PgConnection> for InsertReadsPg<'_> {}

/// Records full reads of personal data, many in one statement.
pub fn record_reads(
    conn: &mut DbConnection,
    reads: &[super::read_log::FullRead],
) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        let case_ids: Vec<i64> = reads.iter().map(|r| r.case_id.get()).collect();
        let user_ids: Vec<i64> = reads.iter().map(|r| r.user_id.get()).collect();
        let roles: Vec<&str> = reads.iter().map(|r| r.role).collect();
        let times: Vec<NaiveDateTime> = reads.iter().map(|r| r.at).collect();
        InsertReadsPg {
            case_ids: &case_ids,
            user_ids: &user_ids,
            roles: &roles,
            times: &times,
        }
        .execute(pg)?;
        return Ok(());
    }
    let rows: Vec<_> = reads
        .iter()
        .map(|r| {
            (
                personal_data_reads::case_id.eq(r.case_id),
                personal_data_reads::user_id.eq(r.user_id),
                personal_data_reads::role.eq(r.role),
                personal_data_reads::read_at.eq(r.at),
            )
        })
        .collect();
    super::insert_many!(conn, personal_data_reads::table, rows);
    Ok(())
}

pub fn find_idempotent(
    conn: &mut DbConnection,
    principal: &str,
    key: &str,
) -> QueryResult<Option<IdempotencyRow>> {
    idempotency_keys::table
        .find((principal, key))
        .select(idempotency_keys::all_columns)
        .get_result(conn)
        .optional()
}

/// Removes the record of `key` if it is older than `kept_since` (so that the key can be used anew).
pub fn forget_idempotent(
    conn: &mut DbConnection,
    principal: &str,
    key: &str,
    kept_since: NaiveDateTime,
) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table
            .find((principal, key))
            .filter(idempotency_keys::created_at.lt(kept_since)),
    )
    .execute(conn)?;
    Ok(())
}

/// Removes every idempotency record older than `kept_since`; returns how many.
pub fn prune_idempotent(conn: &mut DbConnection, kept_since: NaiveDateTime) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(kept_since)))
        .execute(conn)
}

pub fn save_idempotent(conn: &mut DbConnection, row: IdempotencyRow) -> QueryResult<()> {
    diesel::insert_into(idempotency_keys::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable)]
#[diesel(table_name = personal_data_reads)]
pub struct PersonalDataRead {
    pub id: i64,
    pub case_id: CaseId,
    pub user_id: UserId,
    pub role: Role,
    pub read_at: NaiveDateTime,
}

pub fn list_reads(
    conn: &mut DbConnection,
    case_id: Option<CaseId>,
    user_id: Option<UserId>,
    page: super::PageRequest,
) -> QueryResult<Vec<PersonalDataRead>> {
    let mut query = personal_data_reads::table
        .select(personal_data_reads::all_columns)
        .into_boxed::<super::MultiBackend>();
    if let Some(case_id) = case_id {
        query = query.filter(personal_data_reads::case_id.eq(case_id));
    }
    if let Some(user_id) = user_id {
        query = query.filter(personal_data_reads::user_id.eq(user_id));
    }
    if let Some(after) = page.after {
        query = query.filter(personal_data_reads::id.gt(after));
    }
    query
        .order(personal_data_reads::id.asc())
        .limit(page.fetch_limit())
        .load(conn)
}

/// Filters of the case list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct CaseFilter {
    pub statuses: Vec<CaseStatus>,
    pub kind: Option<CaseKind>,
    pub urgency: Option<Urgency>,
    pub channel: Option<Channel>,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    /// Cases with an assignment (of any round) for this department; also the row scope of
    /// department roles.
    pub department_id: Option<DepartmentId>,
    /// Past the reply time the citizen was told, and still with the departments.
    pub overdue: bool,
    pub registered_from: Option<NaiveDateTime>,
    pub registered_before: Option<NaiveDateTime>,
    /// Substring of the title or description (Chinese has no word breaks: substring matching).
    pub q: Option<String>,
    /// Row scope: only this citizen's cases.
    pub citizen_id: Option<UserId>,
    /// Row scope: only this client's cases.
    pub source_client: Option<ClientId>,
}

/// Queries this long or longer are answered from the trigram index.
pub const MIN_INDEXED_QUERY: usize = 3;

/// `needle` as one FTS5 phrase: in double quotes, with double quotes doubled. Every character is
/// then taken literally (no operators, no column filters, no prefix stars).
pub fn fts_phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

/// Newest first, keyset-paginated on the id.
pub fn list_cases(
    conn: &mut DbConnection,
    filter: &CaseFilter,
    page: super::PageRequest,
) -> QueryResult<Vec<CaseRow>> {
    match &filter.q {
        Some(q)
            if matches!(conn, DbConnection::Sqlite(_))
                && q.chars().count() >= MIN_INDEXED_QUERY =>
        {
            list_by_trigram_index(conn, filter, q, page)
        }
        _ => select_cases(conn, filter, None, page.after, page.fetch_limit()),
    }
}

#[derive(QueryableByName)]
struct MatchedId {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
}

/// SQLite: walks the trigram index newest first, a slice of matching ids at a time, and applies
/// the other filters to each slice until the page is full. A common phrase fills the page from
/// its newest matches without reading the rest (an `IN (…MATCH…)` would collect every match
/// first); a rare one has few matches to read anyway.
fn list_by_trigram_index(
    conn: &mut DbConnection,
    filter: &CaseFilter,
    q: &str,
    page: super::PageRequest,
) -> QueryResult<Vec<CaseRow>> {
    let phrase = fts_phrase(q);
    let wanted = page.fetch_limit();
    let mut rows: Vec<CaseRow> = Vec::new();
    let mut below = page.after;
    let mut slice = 4 * wanted.max(64);
    loop {
        let ids: Vec<i64> = diesel::sql_query(
            "SELECT rowid AS id FROM cases_fts WHERE cases_fts MATCH ? AND rowid < ? \
             ORDER BY rowid DESC LIMIT ?",
        )
        .bind::<diesel::sql_types::Text, _>(&phrase)
        .bind::<diesel::sql_types::BigInt, _>(below.unwrap_or(i64::MAX))
        .bind::<diesel::sql_types::BigInt, _>(slice)
        .load::<MatchedId>(conn)?
        .into_iter()
        .map(|m| m.id)
        .collect();
        let Some(&lowest) = ids.last() else {
            break;
        };
        let exhausted = (ids.len() as i64) < slice;
        let missing = wanted - rows.len() as i64;
        rows.extend(select_cases(conn, filter, Some(ids), below, missing)?);
        if rows.len() as i64 >= wanted || exhausted {
            break;
        }
        below = Some(lowest);
        slice = (slice * 4).min(8192);
    }
    rows.truncate(wanted as usize);
    Ok(rows)
}

/// Narrows a boxed query over `cases` (alone, or joined with tables that leave one row per case)
/// to the cases matching a [`CaseFilter`] (and, when `ids` is given, among those ids): the one
/// place the list's filters are written, for the case list and the export alike.
macro_rules! filtered {
    ($query:expr, $filter:expr, $ids:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::{assignments, cases};
        use $crate::domain::case::CaseStatus;
        let filter: &$crate::db::cases::CaseFilter = $filter;
        let ids: Option<Vec<i64>> = $ids;
        let mut query = $query;
        // One value is the common case: `=` keeps the statement cacheable (`IN` lists are not).
        match filter.statuses.as_slice() {
            [] => {}
            [one] => query = query.filter(cases::status.eq(*one)),
            many => query = query.filter(cases::status.eq_any(many.to_vec())),
        }
        if let Some(kind) = &filter.kind {
            query = query.filter(cases::kind.eq(*kind));
        }
        if let Some(urgency) = &filter.urgency {
            query = query.filter(cases::urgency.eq(*urgency));
        }
        if let Some(channel) = &filter.channel {
            query = query.filter(cases::channel.eq(*channel));
        }
        if let Some(category) = filter.category_id {
            query = query.filter(cases::category_id.eq(category));
        }
        if let Some(district) = filter.district_id {
            query = query.filter(cases::district_id.eq(district));
        }
        if let Some(department) = filter.department_id {
            query = query.filter(diesel::dsl::exists(
                assignments::table
                    .filter(assignments::case_id.eq(cases::id))
                    .filter(assignments::department_id.eq(department)),
            ));
        }
        if filter.overdue {
            query = query
                .filter(cases::status.eq_any([CaseStatus::Dispatched, CaseStatus::InProgress]))
                .filter(cases::reply_due_at.lt($crate::db::now()));
        }
        if let Some(from) = filter.registered_from {
            query = query.filter(cases::created_at.ge(from));
        }
        if let Some(before) = filter.registered_before {
            query = query.filter(cases::created_at.lt(before));
        }
        if let Some(ids) = ids {
            // Candidates from the trigram index: they hold the phrase already.
            query = query.filter(cases::id.eq_any(ids));
        } else if let Some(q) = &filter.q {
            // PostgreSQL answers LIKE from its trigram GIN indexes (three characters or more);
            // shorter queries are too short for any trigram index and are scanned.
            let pattern = $crate::db::like_pattern(q);
            query = query.filter(
                cases::title
                    .like(pattern.clone())
                    .escape('\\')
                    .or(cases::description.like(pattern).escape('\\')),
            );
        }
        if let Some(citizen) = filter.citizen_id {
            query = query.filter(cases::citizen_id.eq(citizen));
        }
        if let Some(client) = filter.source_client {
            query = query.filter(cases::source_client.eq(client));
        }
        query
    }};
}
pub(super) use filtered;

/// The cases matching `filter` (and, when given, among `ids`), with an id below `below`, newest
/// first, at most `fetch`.
fn select_cases(
    conn: &mut DbConnection,
    filter: &CaseFilter,
    ids: Option<Vec<i64>>,
    below: Option<i64>,
    fetch: i64,
) -> QueryResult<Vec<CaseRow>> {
    let mut query = filtered!(
        cases::table
            .select(cases::all_columns)
            .into_boxed::<super::MultiBackend>(),
        filter,
        ids
    );
    if let Some(before_id) = below {
        query = query.filter(cases::id.lt(before_id));
    }
    query.order(cases::id.desc()).limit(fetch).load(conn)
}

/// Classification changes while a case is not yet dispatched.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = cases)]
pub struct Classification {
    pub kind: Option<CaseKind>,
    pub urgency: Option<Urgency>,
    pub category_id: Option<Option<CategoryId>>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub address: Option<Option<String>>,
    /// Set by [`reclassify`] from `address`: the two always change together.
    pub address_key: Option<Option<i64>>,
    pub district_id: Option<Option<DepartmentId>>,
    pub updated_at: Option<NaiveDateTime>,
}

pub fn reclassify(
    conn: &mut DbConnection,
    id: CaseId,
    expected_version: i32,
    mut changes: Classification,
) -> QueryResult<Option<CaseRow>> {
    changes.address_key = changes
        .address
        .as_ref()
        .map(|address| address.as_deref().map(address_key));
    diesel::update(
        cases::table
            .find(id)
            .filter(cases::version.eq(expected_version)),
    )
    .set((changes, cases::version.eq(expected_version + 1)))
    .returning(cases::all_columns)
    .get_result::<CaseRow>(conn)
    .optional()
    .inspect(held_when_updated(id))
}

/// Gives the cases stored before their address key existed (SQLite cannot compute SHA-256 in a
/// migration) their key; found through a partial index, so a start with nothing to fill costs
/// one index probe.
pub fn fill_address_keys(conn: &mut DbConnection) -> QueryResult<usize> {
    let mut filled = 0;
    loop {
        let missing: Vec<(CaseId, Option<String>)> = cases::table
            .filter(cases::address_key.is_null())
            .filter(cases::address.is_not_null())
            .select((cases::id, cases::address))
            .order(cases::id)
            .limit(5_000)
            .load(conn)?;
        if missing.is_empty() {
            return Ok(filled);
        }
        conn.transaction(|conn| {
            for (id, address) in &missing {
                diesel::update(cases::table.find(id))
                    .set(cases::address_key.eq(address.as_deref().map(address_key)))
                    .execute(conn)?;
            }
            QueryResult::Ok(())
        })?;
        filled += missing.len();
    }
}

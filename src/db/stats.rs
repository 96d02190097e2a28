//! Statistics storage (SPEC 6): each case's facts, the per-day figures they add up to, and the
//! settings. Every write transaction that touches a case (every change writes a timeline event,
//! and [`touch`] is called there) refreshes that case's facts just before it commits: the case's
//! raw records are read again, its facts made anew (`domain::stat_facts`), and the difference
//! applied to `stat_days` (SQLite) or appended to `stat_day_changes` (PostgreSQL, folded into
//! `stat_days` in the background by [`fold_changes`]; reads add what is not folded yet). So the
//! figures read always match the committed records, and a case whose raw records were repaired by
//! hand is put right by its next change or by `hotline stats rebuild`.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{
    assignments, case_events, case_stat_facts, cases, deadlines, extensions, follow_up_calls,
    stat_day_changes, stat_days, stat_settings, surveys,
};
use super::{DbConnection, unreadable};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::case::{CaseStatus, Channel, Closure};
use crate::domain::dispatch::{
    AssignmentRole, AssignmentState, DeadlineKind, DeadlineState, ReturnRuling,
};
use crate::domain::extension::ExtensionState;
use crate::domain::follow_up::{CallOutcome, Resolved, Satisfaction};
use crate::domain::ids::{AssignmentId, CaseId, CategoryId, DepartmentId, UserId};
use crate::domain::sla::CaseKind;
use crate::domain::stat_facts::{
    AssignmentRecord, CaseFacts, CaseRecord, CaseRecords, ClockRecord, Counts, DayFigures,
    DayTotals, Exclusion, Figure, FollowUpRecord, case_facts, difference,
};

thread_local! {
    /// Cases changed by the write transaction running on this thread.
    static TOUCHED: RefCell<BTreeSet<CaseId>> = const { RefCell::new(BTreeSet::new()) };
    /// Those of them it created.
    static CREATED: RefCell<BTreeSet<CaseId>> = const { RefCell::new(BTreeSet::new()) };
    /// The cases it locked (debug builds: see [`touch`]).
    static HELD: RefCell<BTreeSet<CaseId>> = const { RefCell::new(BTreeSet::new()) };
}

/// Where the calendar the facts are counted with (working time, local days) is kept: one per
/// database (`Db` holds it and makes it this thread's while it lends a connection), published by
/// the reference-data cache whenever it loads a calendar. Commands that borrow a bare connection
/// use the process's own.
pub type CalendarSlot = Arc<RwLock<Option<Arc<WorkingCalendar>>>>;

static PROCESS_CALENDAR: RwLock<Option<Arc<WorkingCalendar>>> = RwLock::new(None);

thread_local! {
    static CALENDAR_SLOT: RefCell<Option<CalendarSlot>> = const { RefCell::new(None) };
}

/// Makes `slot` this thread's calendar slot until the guard is dropped.
pub(super) fn enter_calendar_slot(slot: CalendarSlot) -> CalendarSlotGuard {
    CalendarSlotGuard(CALENDAR_SLOT.with(|s| s.borrow_mut().replace(slot)))
}

pub(super) struct CalendarSlotGuard(Option<CalendarSlot>);

impl Drop for CalendarSlotGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
        CALENDAR_SLOT.with(|s| *s.borrow_mut() = previous);
    }
}

pub fn publish_calendar(calendar: Arc<WorkingCalendar>) {
    let slot = CALENDAR_SLOT.with(|s| s.borrow().clone());
    match slot {
        Some(slot) => *slot.write().unwrap_or_else(|e| e.into_inner()) = Some(calendar),
        None => *PROCESS_CALENDAR.write().unwrap_or_else(|e| e.into_inner()) = Some(calendar),
    }
}

fn calendar() -> QueryResult<Arc<WorkingCalendar>> {
    let slot = CALENDAR_SLOT.with(|s| s.borrow().clone());
    let calendar = match slot {
        Some(slot) => slot.read().unwrap_or_else(|e| e.into_inner()).clone(),
        None => None,
    };
    calendar
        .or_else(|| {
            PROCESS_CALENDAR
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
        .ok_or_else(|| unreadable("statistics need the calendar: none was loaded"))
}

/// Notes that the running write transaction changed `case`. In debug builds (the tests) it
/// must have locked the case first, or created it: two transactions refreshing one case's
/// statistics at once would each count from what the other had not committed yet.
pub fn touch(case: CaseId) {
    debug_assert!(
        HELD.with(|h| h.borrow().contains(&case)) || CREATED.with(|c| c.borrow().contains(&case)),
        "case {case} changed without its lock (`db::assignments::lock_case`)"
    );
    TOUCHED.with(|t| t.borrow_mut().insert(case));
}

/// Notes that the running write transaction holds `case` (debug builds).
pub(super) fn held(case: CaseId) {
    if cfg!(debug_assertions) {
        HELD.with(|h| h.borrow_mut().insert(case));
    }
}

/// Notes that the running write transaction created `case` (registration, the one place cases
/// are made, writes no assignment, clock, extension, call or survey with it).
pub fn created(case: CaseId) {
    CREATED.with(|c| c.borrow_mut().insert(case));
    touch(case);
}

/// Forgets what an abandoned transaction touched.
pub(super) fn forget_touched() {
    TOUCHED.with(|t| t.borrow_mut().clear());
    CREATED.with(|c| c.borrow_mut().clear());
    HELD.with(|h| h.borrow_mut().clear());
}

/// Refreshes the facts of every case the transaction touched (called by `write_transaction`
/// just before it commits).
pub(super) fn refresh_touched(conn: &mut DbConnection) -> QueryResult<()> {
    HELD.with(|h| h.borrow_mut().clear());
    let created = CREATED.with(|c| std::mem::take(&mut *c.borrow_mut()));
    let (created, touched): (Vec<CaseId>, Vec<CaseId>) = TOUCHED
        .with(|t| std::mem::take(&mut *t.borrow_mut()))
        .into_iter()
        .partition(|case| created.contains(case));
    for chunk in created.chunks(REFRESH_CHUNK) {
        count_created(conn, chunk)?;
    }
    for chunk in touched.chunks(REFRESH_CHUNK) {
        refresh_cases(conn, chunk)?;
    }
    Ok(())
}

/// Counts cases this transaction created: their facts come from the case rows alone, and there
/// are no stored facts to replace. Five reads of other tables and one of the stored facts fewer
/// than [`refresh_cases`], on every registration.
fn count_created(conn: &mut DbConnection, cases: &[CaseId]) -> QueryResult<()> {
    let calendar = calendar()?;
    let (records, _) = case_records(conn, CaseSet::Ids(cases))?;
    let mut changes = Changes::default();
    let mut counted: Vec<(CaseId, CaseFacts)> = Vec::with_capacity(cases.len());
    for &case in cases {
        let facts = records
            .get(&case)
            .map(|r| case_facts(r, &calendar))
            .unwrap_or_default();
        changes.add(&CaseFacts::default(), &facts);
        counted.push((case, facts));
    }
    save_facts(conn, &counted)?;
    changes.write(conn)
}

/// Cases refreshed with one set of reads (bound parameters stay well under SQLite's limit).
const REFRESH_CHUNK: usize = 1_000;

/// Makes the facts of `cases` anew and applies the difference to the per-day figures: the raw
/// records of all of them read at once, and each day row they change written once.
pub fn refresh_cases(conn: &mut DbConnection, cases: &[CaseId]) -> QueryResult<()> {
    let calendar = calendar()?;
    let records = load_records(conn, CaseSet::Ids(cases))?;
    let mut stored = stored_facts_of(conn, cases)?;
    let mut changes = Changes::default();
    let mut changed: Vec<(CaseId, CaseFacts)> = Vec::new();
    for &case in cases {
        let after = records
            .get(&case)
            .map(|r| case_facts(r, &calendar))
            .unwrap_or_default();
        let before = stored.remove(&case);
        let existed = before.is_some();
        let before = before.unwrap_or_default();
        if existed && before == after {
            continue;
        }
        changes.add(&before, &after);
        changed.push((case, after));
    }
    // The facts first: on SQLite the day rows changed next are shared by every case of the day.
    // On PostgreSQL the upsert of a case's facts row also makes a later transaction of the same
    // case wait for this one, so the changes it queues come after these.
    save_facts(conn, &changed)?;
    changes.write(conn)
}

/// Changes to the per-day figures, grouped by row; rows in key order (where rows are locked —
/// the fold on PostgreSQL — they are locked in one order: no deadlocks).
#[derive(Default)]
struct Changes {
    rows: BTreeMap<(i16, i32, String), Vec<(Figure, i64)>>,
    widest_gap: u16,
}

impl Changes {
    /// Adds the change of one case's facts from `before` to `after`.
    fn add(&mut self, before: &CaseFacts, after: &CaseFacts) {
        for (c, sign) in difference(before, after) {
            if let (Figure::ReplyDue { gap, .. }, 1) = (c.figure, sign) {
                self.widest_gap = self.widest_gap.max(gap);
            }
            self.rows
                .entry((c.grouping, c.day, c.key))
                .or_default()
                .push((c.figure, sign));
        }
    }

    fn write(self, conn: &mut DbConnection) -> QueryResult<()> {
        match conn {
            DbConnection::Postgres(pg) => queue_changes(pg, self.rows)?,
            DbConnection::Sqlite(_) => change_days(conn, self.rows, apply_changes)?,
        }
        if self.widest_gap > 0 {
            diesel::update(
                stat_settings::table
                    .filter(stat_settings::max_reply_gap.lt(i32::from(self.widest_gap))),
            )
            .set(stat_settings::max_reply_gap.eq(i32::from(self.widest_gap)))
            .execute(conn)?;
        }
        Ok(())
    }
}

type DayKey = (i16, i32, String);

/// Changes the stored day rows `rows` names with `change` (a missing row starts empty; a row
/// left empty is removed).
fn change_days<V>(
    conn: &mut DbConnection,
    rows: BTreeMap<DayKey, V>,
    change: impl Fn(&mut DayFigures, V),
) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        return change_days_pg(pg, rows, change);
    }
    // SQLite: one writer at a time, and a statement is a function call, not a round trip.
    for ((grouping, day, key), value) in rows {
        let stored = stat_days::table
            .find((grouping, day, &key))
            .select(stat_days::figures)
            .first::<Vec<u8>>(conn)
            .optional()?
            .map(|bytes| decode::<DayFigures>(&bytes))
            .transpose()?;
        let existed = stored.is_some();
        let mut figures = stored.unwrap_or_default();
        change(&mut figures, value);
        save_day(conn, (grouping, day, &key), &figures, existed)?;
    }
    Ok(())
}

/// `change_days` on PostgreSQL, in four statements whatever the number of rows (a sweep batch
/// changes thousands; one round trip per row was most of its time): missing rows created, all
/// of them locked in key order (two servers never both add to the value they read, and never
/// deadlock), changed, and those left empty removed.
fn change_days_pg<V>(
    pg: &mut diesel::PgConnection,
    rows: BTreeMap<DayKey, V>,
    change: impl Fn(&mut DayFigures, V),
) -> QueryResult<()> {
    use diesel::sql_types::{Array, Binary, Integer, SmallInt, Text};
    if rows.is_empty() {
        return Ok(());
    }
    let dims: Vec<i16> = rows.keys().map(|k| k.0).collect();
    let days: Vec<i32> = rows.keys().map(|k| k.1).collect();
    let keys: Vec<&str> = rows.keys().map(|k| k.2.as_str()).collect();
    let empty = encode(&DayFigures::default())?;
    diesel::sql_query(
        "INSERT INTO stat_days (dim, day, key, figures) \
         SELECT dim, day, key, $4 FROM UNNEST($1, $2, $3) AS u(dim, day, key) \
         ORDER BY dim, day, key ON CONFLICT DO NOTHING",
    )
    .bind::<Array<SmallInt>, _>(&dims)
    .bind::<Array<Integer>, _>(&days)
    .bind::<Array<Text>, _>(&keys)
    .bind::<Binary, _>(&empty)
    .execute(pg)?;
    let locked: Vec<DayRowBytes> = diesel::sql_query(
        "SELECT 0::bigint AS id, s.dim, s.day, s.key, s.figures AS bytes FROM stat_days s \
         JOIN UNNEST($1, $2, $3) AS u(dim, day, key) \
           ON s.dim = u.dim AND s.day = u.day AND s.key = u.key \
         ORDER BY s.dim, s.day, s.key FOR UPDATE OF s",
    )
    .bind::<Array<SmallInt>, _>(&dims)
    .bind::<Array<Integer>, _>(&days)
    .bind::<Array<Text>, _>(&keys)
    .load(pg)?;
    let mut stored: HashMap<DayKey, Vec<u8>> = locked
        .into_iter()
        .map(|row| ((row.dim, row.day, row.key), row.bytes))
        .collect();
    let (mut kept, mut emptied) = (DayBatch::default(), DayBatch::default());
    for (row_key, value) in rows {
        let bytes = stored.remove(&row_key).ok_or_else(|| {
            unreadable("a statistics day row vanished while it was locked".to_owned())
        })?;
        let mut figures: DayFigures = decode(&bytes)?;
        change(&mut figures, value);
        if figures.is_empty() {
            emptied.push(row_key, Vec::new());
        } else {
            kept.push(row_key, encode(&figures)?);
        }
    }
    if !kept.dims.is_empty() {
        diesel::sql_query(
            "UPDATE stat_days s SET figures = u.figures \
             FROM UNNEST($1, $2, $3, $4) AS u(dim, day, key, figures) \
             WHERE s.dim = u.dim AND s.day = u.day AND s.key = u.key",
        )
        .bind::<Array<SmallInt>, _>(&kept.dims)
        .bind::<Array<Integer>, _>(&kept.days)
        .bind::<Array<Text>, _>(&kept.keys)
        .bind::<Array<Binary>, _>(&kept.figures)
        .execute(pg)?;
    }
    if !emptied.dims.is_empty() {
        diesel::sql_query(
            "DELETE FROM stat_days s USING UNNEST($1, $2, $3) AS u(dim, day, key) \
             WHERE s.dim = u.dim AND s.day = u.day AND s.key = u.key",
        )
        .bind::<Array<SmallInt>, _>(&emptied.dims)
        .bind::<Array<Integer>, _>(&emptied.days)
        .bind::<Array<Text>, _>(&emptied.keys)
        .execute(pg)?;
    }
    Ok(())
}

fn apply_changes(figures: &mut DayFigures, changes: Vec<(Figure, i64)>) {
    for (figure, sign) in changes {
        figures.apply(figure, sign);
    }
}

/// PostgreSQL: appends a transaction's changes to `stat_day_changes` instead of changing the day
/// rows, which every case of the day shares (see the table's migration). No row is locked.
fn queue_changes(
    pg: &mut diesel::PgConnection,
    rows: BTreeMap<DayKey, Vec<(Figure, i64)>>,
) -> QueryResult<()> {
    let rows = rows
        .into_iter()
        .map(|((dim, day, key), changes)| {
            Ok((
                stat_day_changes::dim.eq(dim),
                stat_day_changes::day.eq(day),
                stat_day_changes::key.eq(key),
                stat_day_changes::changes.eq(encode(&changes)?),
            ))
        })
        .collect::<QueryResult<Vec<_>>>()?;
    // Four parameters a row, well under PostgreSQL's 65,535.
    for chunk in rows.chunks(10_000) {
        diesel::insert_into(stat_day_changes::table)
            .values(chunk)
            .execute(pg)?;
    }
    Ok(())
}

/// Changes folded per transaction by [`fold_changes`].
pub const FOLD_BATCH: i64 = 20_000;

/// Folds the oldest queued changes (at most [`FOLD_BATCH`]) into `stat_days` and removes them, in
/// one transaction, so that a reader sees each change either queued or folded, never both or
/// neither. Returns how many were folded; 0 on SQLite, which queues nothing, and when another
/// process is folding: one folder at a time, so the changes of one case are folded in the order
/// they were made (its transactions are serialised by the case, so their ids are in that order).
pub fn fold_changes(conn: &mut DbConnection) -> QueryResult<usize> {
    /// This lock's key among advisory locks ("STAT").
    const FOLD_LOCK: i64 = 0x5354_4154;
    if !matches!(conn, DbConnection::Postgres(_)) {
        return Ok(0);
    }
    super::write_transaction(conn, |conn| {
        let DbConnection::Postgres(pg) = conn else {
            return Ok(0);
        };
        #[derive(QueryableByName)]
        struct Folder {
            #[diesel(sql_type = diesel::sql_types::Bool)]
            mine: bool,
        }
        let folder: Folder = diesel::sql_query("SELECT pg_try_advisory_xact_lock($1) AS mine")
            .bind::<diesel::sql_types::BigInt, _>(FOLD_LOCK)
            .get_result(pg)?;
        if !folder.mine {
            return Ok(0);
        }
        let mut queued: Vec<DayRowBytes> = diesel::sql_query(
            "DELETE FROM stat_day_changes WHERE id IN \
               (SELECT id FROM stat_day_changes ORDER BY id LIMIT $1) \
             RETURNING id, dim, day, key, changes AS bytes",
        )
        .bind::<diesel::sql_types::BigInt, _>(FOLD_BATCH)
        .load(pg)?;
        queued.sort_unstable_by_key(|q| q.id);
        let folded = queued.len();
        let mut rows: BTreeMap<DayKey, Vec<(Figure, i64)>> = BTreeMap::new();
        for q in queued {
            rows.entry((q.dim, q.day, q.key))
                .or_default()
                .extend(decode::<Vec<(Figure, i64)>>(&q.bytes)?);
        }
        change_days_pg(pg, rows, apply_changes)?;
        Ok(folded)
    })
}

/// A day row as PostgreSQL's raw statements return it: a stored row (`id` 0, `bytes` its encoded
/// figures) or a queued change (`id` its order, `bytes` its encoded changes).
#[derive(QueryableByName)]
struct DayRowBytes {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::SmallInt)]
    dim: i16,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    day: i32,
    #[diesel(sql_type = diesel::sql_types::Text)]
    key: String,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    bytes: Vec<u8>,
}

/// Which day rows a PostgreSQL read wants; `None` is any.
#[derive(Default)]
struct DaySelection<'a> {
    grouping: Option<i16>,
    days: Option<(i32, i32)>,
    key: Option<&'a str>,
}

/// PostgreSQL: the day rows `selection` names as the committed records make them: the stored
/// rows with the changes not folded yet applied, read in one statement (one snapshot, so a fold
/// committing meanwhile is seen whole or not at all). `counts_only` decodes only the counters of
/// the stored rows (what trends read); the rest of their figures are then left empty.
fn days_pg(
    pg: &mut diesel::PgConnection,
    selection: DaySelection,
    counts_only: bool,
) -> QueryResult<BTreeMap<DayKey, DayFigures>> {
    use diesel::sql_types::{Integer, SmallInt, Text};
    // Only the conditions asked for, each selection its own prepared statement: with
    // `($1 IS NULL OR dim = $1)` the generic plan PostgreSQL settles on after a few runs could
    // not use the primary key and read every day row of every grouping.
    let mut conditions = Vec::new();
    let mut placeholder = 0;
    let mut next = || {
        placeholder += 1;
        placeholder
    };
    if selection.grouping.is_some() {
        conditions.push(format!("dim = ${}", next()));
    }
    if selection.days.is_some() {
        conditions.push(format!("day >= ${} AND day <= ${}", next(), next()));
    }
    if selection.key.is_some() {
        conditions.push(format!("key = ${}", next()));
    }
    let filter = if conditions.is_empty() {
        "TRUE".to_owned()
    } else {
        conditions.join(" AND ")
    };
    let mut query = diesel::sql_query(format!(
        "SELECT 0::bigint AS id, dim, day, key, figures AS bytes FROM stat_days WHERE {filter} \
         UNION ALL \
         SELECT id, dim, day, key, changes AS bytes FROM stat_day_changes WHERE {filter}"
    ))
    .into_boxed::<diesel::pg::Pg>();
    if let Some(grouping) = selection.grouping {
        query = query.bind::<SmallInt, _>(grouping);
    }
    if let Some((first, last)) = selection.days {
        query = query.bind::<Integer, _>(first).bind::<Integer, _>(last);
    }
    if let Some(key) = selection.key {
        query = query.bind::<Text, _>(key.to_owned());
    }
    let mut rows: Vec<DayRowBytes> = query.load(pg)?;
    // The stored rows first (id 0), then the changes in the order they were made.
    rows.sort_unstable_by_key(|row| row.id);
    let mut out: BTreeMap<DayKey, DayFigures> = BTreeMap::new();
    for row in rows {
        let key = (row.dim, row.day, row.key);
        if row.id == 0 {
            let figures = if counts_only {
                DayFigures {
                    counts: decode_counts(&row.bytes)?,
                    ..DayFigures::default()
                }
            } else {
                decode(&row.bytes)?
            };
            out.insert(key, figures);
        } else {
            apply_changes(out.entry(key).or_default(), decode(&row.bytes)?);
        }
    }
    out.retain(|_, figures| !figures.is_empty());
    Ok(out)
}

fn decode_counts(bytes: &[u8]) -> QueryResult<Counts> {
    let (counts, _) = postcard::take_from_bytes::<Counts>(bytes)
        .map_err(|e| unreadable(format!("stored statistics: {e}")))?;
    Ok(counts)
}

/// Day rows as the columns PostgreSQL's `UNNEST` takes.
#[derive(Default)]
struct DayBatch {
    dims: Vec<i16>,
    days: Vec<i32>,
    keys: Vec<String>,
    figures: Vec<Vec<u8>>,
}

impl DayBatch {
    fn push(&mut self, (dim, day, key): DayKey, figures: Vec<u8>) {
        self.dims.push(dim);
        self.days.push(day);
        self.keys.push(key);
        self.figures.push(figures);
    }
}

fn encode<T: serde::Serialize>(value: &T) -> QueryResult<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| unreadable(format!("statistics encoding: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> QueryResult<T> {
    postcard::from_bytes(bytes).map_err(|e| unreadable(format!("stored statistics: {e}")))
}

/// The stored facts of `cases` (those that have any).
fn stored_facts_of(
    conn: &mut DbConnection,
    cases: &[CaseId],
) -> QueryResult<HashMap<CaseId, CaseFacts>> {
    let rows: Vec<(CaseId, Vec<u8>)> = case_stat_facts::table
        .filter(case_stat_facts::case_id.eq_any(cases))
        .select((case_stat_facts::case_id, case_stat_facts::facts))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, bytes)| Ok((id, decode(&bytes)?)))
        .collect()
}

#[derive(Insertable)]
#[diesel(table_name = case_stat_facts, treat_none_as_default_value = false)]
struct FactsRow {
    case_id: CaseId,
    facts: Vec<u8>,
}

#[derive(Insertable)]
#[diesel(table_name = stat_days)]
struct DayRow {
    dim: i16,
    day: i32,
    key: String,
    figures: Vec<u8>,
}

/// Stores the new facts of changed cases (on PostgreSQL one multi-row upsert per chunk).
fn save_facts(conn: &mut DbConnection, changed: &[(CaseId, CaseFacts)]) -> QueryResult<()> {
    use diesel::upsert::excluded;
    let rows = changed
        .iter()
        .map(|(case, facts)| {
            Ok(FactsRow {
                case_id: *case,
                facts: encode(facts)?,
            })
        })
        .collect::<QueryResult<Vec<FactsRow>>>()?;
    match conn {
        DbConnection::Postgres(pg) => {
            for chunk in rows.chunks(REFRESH_CHUNK) {
                diesel::insert_into(case_stat_facts::table)
                    .values(chunk)
                    .on_conflict(case_stat_facts::case_id)
                    .do_update()
                    .set(case_stat_facts::facts.eq(excluded(case_stat_facts::facts)))
                    .execute(pg)?;
            }
        }
        // Diesel has no multi-row upsert for SQLite; a statement there costs no round trip.
        DbConnection::Sqlite(sqlite) => {
            for row in &rows {
                diesel::replace_into(case_stat_facts::table)
                    .values(row)
                    .execute(sqlite)?;
            }
        }
    }
    Ok(())
}

fn save_day(
    conn: &mut DbConnection,
    (grouping, day, key): (i16, i32, &str),
    figures: &DayFigures,
    existed: bool,
) -> QueryResult<()> {
    let row = stat_days::table.find((grouping, day, key));
    if figures.is_empty() {
        if existed {
            diesel::delete(row).execute(conn)?;
        }
        return Ok(());
    }
    let bytes = encode(figures)?;
    if existed {
        diesel::update(row)
            .set(stat_days::figures.eq(bytes))
            .execute(conn)?;
    } else {
        diesel::insert_into(stat_days::table)
            .values(DayRow {
                dim: grouping,
                day,
                key: key.to_owned(),
                figures: bytes,
            })
            .execute(conn)?;
    }
    Ok(())
}

// ---- Reading the raw records ------------------------------------------------------------------

/// Which cases' records to read: a range of ids (rebuild, check) or the scattered cases one
/// write transaction touched (a sweep batch marks clocks all over the table).
#[derive(Debug, Clone, Copy)]
pub enum CaseSet<'a> {
    Between(CaseId, CaseId),
    Ids(&'a [CaseId]),
}

/// `query` (boxed) restricted to the cases of `set` by `column`.
macro_rules! of_cases {
    ($query:expr, $column:expr, $set:expr) => {{
        let query = $query.into_boxed::<super::MultiBackend>();
        match $set {
            CaseSet::Between(first, last) => query.filter($column.between(first, last)),
            CaseSet::Ids(ids) => query.filter($column.eq_any(ids)),
        }
    }};
}

type CaseColumns = (
    CaseId,
    NaiveDateTime,
    Option<CategoryId>,
    Option<DepartmentId>,
    Channel,
    CaseKind,
    CaseStatus,
    Option<Closure>,
    Option<NaiveDateTime>,
    NaiveDateTime,
    i32,
);

/// The raw records of the cases of `set`.
pub fn load_records(
    conn: &mut DbConnection,
    set: CaseSet<'_>,
) -> QueryResult<HashMap<CaseId, CaseRecords>> {
    let (mut out, redone) = case_records(conn, set)?;
    if out.is_empty() {
        return Ok(out);
    }
    load_other_records(conn, set, &mut out)?;
    load_redos(conn, &redone, &mut out)?;
    Ok(out)
}

/// The records of the cases of `set` from their own rows, the other records left empty; and
/// which of them were redone.
fn case_records(
    conn: &mut DbConnection,
    set: CaseSet<'_>,
) -> QueryResult<(HashMap<CaseId, CaseRecords>, Vec<CaseId>)> {
    let case_rows: Vec<CaseColumns> = of_cases!(cases::table, cases::id, set)
        .select((
            cases::id,
            cases::created_at,
            cases::category_id,
            cases::district_id,
            cases::channel,
            cases::kind,
            cases::status,
            cases::closure,
            cases::closed_at,
            cases::updated_at,
            cases::redo_count,
        ))
        .load(conn)?;
    // Only a redone case has redo events: the others need no look at their timelines, which
    // are most of what the cases hold (a sweep's batch read 5,000 events to find 19).
    let redone: Vec<CaseId> = case_rows
        .iter()
        .filter(|row| row.10 > 0)
        .map(|row| row.0)
        .collect();
    let out: HashMap<CaseId, CaseRecords> = case_rows
        .into_iter()
        .map(
            |(
                id,
                created,
                category,
                district,
                channel,
                kind,
                status,
                closure,
                closed,
                updated,
                _,
            )| {
                let ended_at = match status {
                    CaseStatus::Rejected => Some(closed.unwrap_or(updated)),
                    _ => closed,
                };
                let case = CaseRecord {
                    created_at: created.and_utc(),
                    category_id: category,
                    district_id: district,
                    channel,
                    kind,
                    status,
                    closure,
                    ended_at: ended_at.map(|t| t.and_utc()),
                };
                (
                    id,
                    CaseRecords {
                        case,
                        assignments: Vec::new(),
                        clocks: Vec::new(),
                        extensions: Vec::new(),
                        follow_ups: Vec::new(),
                        redos: Vec::new(),
                    },
                )
            },
        )
        .collect();
    Ok((out, redone))
}

/// Adds the assignments, clocks, extensions and follow-ups of the cases of `set` to `out`.
fn load_other_records(
    conn: &mut DbConnection,
    set: CaseSet<'_>,
    out: &mut HashMap<CaseId, CaseRecords>,
) -> QueryResult<()> {
    type AssignmentColumns = (
        AssignmentId,
        CaseId,
        DepartmentId,
        i32,
        AssignmentRole,
        AssignmentState,
        NaiveDateTime,
        Option<ReturnRuling>,
        Option<NaiveDateTime>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<AssignmentColumns> = of_cases!(assignments::table, assignments::case_id, set)
        .select((
            assignments::id,
            assignments::case_id,
            assignments::department_id,
            assignments::round,
            assignments::role,
            assignments::state,
            assignments::dispatched_at,
            assignments::ruling,
            assignments::ruled_at,
            assignments::review_decision,
            assignments::reviewed_at,
        ))
        .order(assignments::id)
        .load(conn)?;
    for (id, case, department, round, role, state, dispatched, ruling, ruled, review, reviewed) in
        rows
    {
        if let Some(records) = out.get_mut(&case) {
            records.assignments.push(AssignmentRecord {
                id,
                department_id: department,
                round,
                role,
                state,
                dispatched_at: dispatched.and_utc(),
                ruling: ruling.zip(ruled).map(|(r, at)| (r, at.and_utc())),
                approved_at: reviewed
                    .filter(|_| review.as_deref() == Some("approved"))
                    .map(|t| t.and_utc()),
            });
        }
    }

    type ClockColumns = (
        CaseId,
        Option<AssignmentId>,
        DeadlineKind,
        NaiveDateTime,
        DeadlineState,
        Option<NaiveDateTime>,
        Option<NaiveDateTime>,
    );
    let rows: Vec<ClockColumns> = of_cases!(deadlines::table, deadlines::case_id, set)
        .filter(deadlines::kind.eq_any([DeadlineKind::Sign, DeadlineKind::Reply]))
        .select((
            deadlines::case_id,
            deadlines::assignment_id,
            deadlines::kind,
            deadlines::due_at,
            deadlines::state,
            deadlines::met_at,
            deadlines::missed_marked_at,
        ))
        .order(deadlines::id)
        .load(conn)?;
    for (case, assignment, kind, due, state, met, marked) in rows {
        if let (Some(records), Some(assignment_id)) = (out.get_mut(&case), assignment) {
            records.clocks.push(ClockRecord {
                assignment_id,
                reply: kind == DeadlineKind::Reply,
                due_at: due.and_utc(),
                state,
                met_at: met.map(|t| t.and_utc()),
                marked_missed: marked.is_some(),
            });
        }
    }

    // Filters on other columns stay out of the SQL: with them SQLite may pick an index on the
    // state (all granted extensions) over the one on the case.
    let rows: Vec<(CaseId, DepartmentId, ExtensionState, Option<NaiveDateTime>)> =
        of_cases!(extensions::table, extensions::case_id, set)
            .select((
                extensions::case_id,
                extensions::department_id,
                extensions::state,
                extensions::decided_at,
            ))
            .order(extensions::id)
            .load(conn)?;
    for (case, department, state, decided) in rows {
        if state != ExtensionState::Approved {
            continue;
        }
        if let (Some(records), Some(at)) = (out.get_mut(&case), decided) {
            records.extensions.push((department, at.and_utc()));
        }
    }

    type CallColumns = (
        CaseId,
        CaseId,
        NaiveDateTime,
        Option<DepartmentId>,
        Option<Resolved>,
        Option<Satisfaction>,
    );
    let rows: Vec<CallColumns> = of_cases!(
        follow_up_calls::table,
        follow_up_calls::evaluated_case_id,
        set
    )
    .filter(follow_up_calls::outcome.eq(CallOutcome::Reached))
    .select((
        follow_up_calls::evaluated_case_id,
        follow_up_calls::case_id,
        follow_up_calls::called_at,
        follow_up_calls::department_id,
        follow_up_calls::resolved,
        follow_up_calls::satisfaction,
    ))
    .order(follow_up_calls::id)
    .load(conn)?;
    // A call made on a case merged into the evaluated one is that merged case's follow-up: a
    // case judged apart (分类评价) takes its follow-ups with it.
    let callers: Vec<CaseId> = rows.iter().filter(|r| r.0 != r.1).map(|r| r.1).collect();
    let judged_apart: BTreeSet<CaseId> = if callers.is_empty() {
        BTreeSet::new()
    } else {
        cases::table
            .filter(cases::id.eq_any(&callers))
            .select((cases::id, cases::status, cases::closure))
            .load::<(CaseId, CaseStatus, Option<Closure>)>(conn)?
            .into_iter()
            .filter(|(_, status, closure)| Exclusion::of(*status, *closure).is_some())
            .map(|(id, _, _)| id)
            .collect()
    };
    for (case, caller, at, department, resolved, satisfaction) in rows {
        if judged_apart.contains(&caller) {
            continue;
        }
        if let (Some(records), Some(resolved), Some(satisfaction)) =
            (out.get_mut(&case), resolved, satisfaction)
        {
            records.follow_ups.push(FollowUpRecord {
                at: at.and_utc(),
                department_id: department,
                from_call: true,
                resolved,
                satisfaction,
            });
        }
    }

    // Surveys answered on their own; one asked during a call is that call's answer.
    // (`follow_up_call_id IS NULL` in SQL would let SQLite pick that column's unique index.)
    type SurveyColumns = (
        CaseId,
        Option<NaiveDateTime>,
        Option<Resolved>,
        Option<Satisfaction>,
        Option<i64>,
    );
    let rows: Vec<SurveyColumns> = of_cases!(surveys::table, surveys::case_id, set)
        .select((
            surveys::case_id,
            surveys::answered_at,
            surveys::resolved,
            surveys::satisfaction,
            surveys::follow_up_call_id,
        ))
        .order(surveys::id)
        .load(conn)?;
    for (case, answered, resolved, satisfaction, call) in rows {
        if call.is_some() {
            continue;
        }
        if let (Some(records), Some(at), Some(resolved), Some(satisfaction)) =
            (out.get_mut(&case), answered, resolved, satisfaction)
        {
            records.follow_ups.push(FollowUpRecord {
                at: at.and_utc(),
                department_id: None,
                from_call: false,
                resolved,
                satisfaction,
            });
        }
    }
    Ok(())
}

/// Adds the redos of the cases `redone` to `out`.
fn load_redos(
    conn: &mut DbConnection,
    redone: &[CaseId],
    out: &mut HashMap<CaseId, CaseRecords>,
) -> QueryResult<()> {
    let mut rows: Vec<(CaseId, NaiveDateTime, String)> = Vec::new();
    for chunk in redone.chunks(REFRESH_CHUNK) {
        rows.extend(
            case_events::table
                .filter(case_events::case_id.eq_any(chunk))
                .filter(case_events::action.eq("redo"))
                .select((
                    case_events::case_id,
                    case_events::occurred_at,
                    case_events::details,
                ))
                .order(case_events::id)
                .load::<(CaseId, NaiveDateTime, String)>(conn)?,
        );
    }
    for (case, at, details) in rows {
        let round = serde_json::from_str::<serde_json::Value>(&details)
            .ok()
            .and_then(|d| d["previous_round"].as_i64())
            .ok_or_else(|| unreadable(format!("redo event of case {case} without its round")))?;
        if let Some(records) = out.get_mut(&case) {
            records.redos.push((at.and_utc(), round as i32));
        }
    }
    Ok(())
}

// ---- Rebuild and check ------------------------------------------------------------------------

/// The per-day figures all cases make, computed from the raw records in batches of cases;
/// `each_batch` gets every batch's facts (and the connection) as they are made, so that a
/// decade of cases is never held in memory at once.
#[derive(Default)]
pub struct Recomputed {
    pub cases: usize,
    pub days: BTreeMap<(i16, i32, String), DayFigures>,
    pub max_gap: u16,
}

const BATCH: i64 = 5_000;

pub fn recompute<F>(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
    each_batch: F,
) -> QueryResult<Recomputed>
where
    F: FnMut(&mut DbConnection, (CaseId, CaseId), Vec<(CaseId, CaseFacts)>) -> QueryResult<()>,
{
    recompute_between(
        conn,
        calendar,
        (CaseId(i64::MIN), CaseId(i64::MAX)),
        each_batch,
    )
}

/// [`recompute`] for the cases with ids `first..=last` only.
pub fn recompute_between<F>(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
    (first, last): (CaseId, CaseId),
    mut each_batch: F,
) -> QueryResult<Recomputed>
where
    F: FnMut(&mut DbConnection, (CaseId, CaseId), Vec<(CaseId, CaseFacts)>) -> QueryResult<()>,
{
    let (low, high): (Option<CaseId>, Option<CaseId>) = cases::table
        .filter(cases::id.between(first, last))
        .select((diesel::dsl::min(cases::id), diesel::dsl::max(cases::id)))
        .first(conn)?;
    let (Some(low), Some(high)) = (low, high) else {
        return Ok(Recomputed::default());
    };
    let (mut cases, mut totals) = (0, DayTotals::default());
    let mut first = low.0;
    while first <= high.0 {
        let last = (first + BATCH - 1).min(high.0);
        let records = load_records(conn, CaseSet::Between(CaseId(first), CaseId(last)))?;
        let mut ids: Vec<_> = records.keys().copied().collect();
        ids.sort();
        let mut batch = Vec::with_capacity(ids.len());
        for id in ids {
            let facts = case_facts(&records[&id], calendar);
            totals.add(&facts);
            batch.push((id, facts));
        }
        cases += batch.len();
        each_batch(conn, (CaseId(first), CaseId(last)), batch)?;
        first = last + 1;
    }
    Ok(Recomputed {
        cases,
        max_gap: totals.max_gap(),
        days: totals.into_rows(),
    })
}

/// Every stored per-day row.
pub fn stored_days(
    conn: &mut DbConnection,
) -> QueryResult<BTreeMap<(i16, i32, String), DayFigures>> {
    if let DbConnection::Postgres(pg) = conn {
        return days_pg(pg, DaySelection::default(), false);
    }
    let rows: Vec<(i16, i32, String, Vec<u8>)> = stat_days::table
        .select((
            stat_days::dim,
            stat_days::day,
            stat_days::key,
            stat_days::figures,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(g, d, k, bytes)| Ok(((g, d, k), decode(&bytes)?)))
        .collect()
}

/// The stored facts of the cases `first..=last`.
pub fn stored_facts_between(
    conn: &mut DbConnection,
    (first, last): (CaseId, CaseId),
) -> QueryResult<HashMap<CaseId, CaseFacts>> {
    let rows: Vec<(CaseId, Vec<u8>)> = case_stat_facts::table
        .filter(case_stat_facts::case_id.between(first, last))
        .select((case_stat_facts::case_id, case_stat_facts::facts))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, bytes)| Ok((id, decode(&bytes)?)))
        .collect()
}

/// The encoding the stored day rows are in (`DAYS_FORMAT` once this build has written them).
pub fn days_format(conn: &mut DbConnection) -> QueryResult<i16> {
    stat_settings::table
        .select(stat_settings::days_format)
        .first(conn)
}

/// The encoding of day rows this build reads and writes: 2 since handling times are counted per
/// bucket (migration 000022).
pub const DAYS_FORMAT: i16 = 2;

pub fn stored_max_gap(conn: &mut DbConnection) -> QueryResult<i32> {
    stat_settings::table
        .select(stat_settings::max_reply_gap)
        .first(conn)
}

/// Locks the statistics tables against every writer until the transaction ends (PostgreSQL; on
/// SQLite the write transaction holds the database's one writer lock already).
pub fn lock_all(conn: &mut DbConnection) -> QueryResult<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query(
            "LOCK TABLE case_stat_facts, stat_day_changes, stat_days \
             IN SHARE ROW EXCLUSIVE MODE",
        )
        .execute(pg)?;
    }
    Ok(())
}

/// Forgets every stored fact and figure (a rebuild writes them anew, in the same transaction).
///
/// On PostgreSQL the statistics tables are locked first against every writer until that
/// transaction ends: a change committed between the deletes and the recount would otherwise
/// be counted by the recount and again by its queued change. Writers wait for the rebuild; the
/// facts table first, the table every writer writes before it queues.
pub fn clear_all(conn: &mut DbConnection) -> QueryResult<()> {
    lock_all(conn)?;
    diesel::delete(stat_day_changes::table).execute(conn)?;
    diesel::delete(stat_days::table).execute(conn)?;
    diesel::delete(case_stat_facts::table).execute(conn)?;
    Ok(())
}

pub fn insert_facts(conn: &mut DbConnection, batch: &[(CaseId, CaseFacts)]) -> QueryResult<()> {
    let rows = batch
        .iter()
        .map(|(id, facts)| {
            Ok(FactsRow {
                case_id: *id,
                facts: encode(facts)?,
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    match conn {
        // A count of every case (the seed, a rebuild) writes a row per case: COPY spares
        // PostgreSQL parsing a statement per thousand of them.
        DbConnection::Postgres(pg) => {
            diesel::copy_from(case_stat_facts::table)
                .from_insertable(&rows)
                .execute(pg)?;
        }
        DbConnection::Sqlite(_) => super::insert_many!(conn, case_stat_facts::table, rows),
    }
    Ok(())
}

/// Writes the per-day figures of a rebuild (into emptied tables).
pub fn insert_days(conn: &mut DbConnection, recomputed: &Recomputed) -> QueryResult<()> {
    let rows = recomputed
        .days
        .iter()
        .map(|((dim, day, key), figures)| {
            Ok(DayRow {
                dim: *dim,
                day: *day,
                key: key.clone(),
                figures: encode(figures)?,
            })
        })
        .collect::<QueryResult<Vec<_>>>()?;
    super::insert_many!(conn, stat_days::table, rows);
    diesel::update(stat_settings::table)
        .set((
            stat_settings::max_reply_gap.eq(i32::from(recomputed.max_gap)),
            stat_settings::days_format.eq(DAYS_FORMAT),
        ))
        .execute(conn)?;
    Ok(())
}

/// Adds the figures of cases new to the statistics (a bulk import such as the seed) to the
/// stored ones.
pub fn add_days(conn: &mut DbConnection, recomputed: &Recomputed) -> QueryResult<()> {
    let rows: BTreeMap<DayKey, &DayFigures> = recomputed
        .days
        .iter()
        .map(|(key, figures)| (key.clone(), figures))
        .collect();
    change_days(conn, rows, |sum, figures| sum.add(figures))?;
    diesel::update(
        stat_settings::table.filter(stat_settings::max_reply_gap.lt(i32::from(recomputed.max_gap))),
    )
    .set(stat_settings::max_reply_gap.eq(i32::from(recomputed.max_gap)))
    .execute(conn)?;
    Ok(())
}

// ---- Reading figures --------------------------------------------------------------------------

/// The stored rows of one grouping for the days `first..=last`: (day, key, figures).
pub fn days(
    conn: &mut DbConnection,
    grouping: i16,
    (first, last): (i32, i32),
    key: Option<&str>,
) -> QueryResult<Vec<(i32, String, DayFigures)>> {
    if let DbConnection::Postgres(pg) = conn {
        let selection = DaySelection {
            grouping: Some(grouping),
            days: Some((first, last)),
            key,
        };
        return Ok(days_pg(pg, selection, false)?
            .into_iter()
            .map(|((_, day, key), figures)| (day, key, figures))
            .collect());
    }
    let mut query = stat_days::table
        .filter(stat_days::dim.eq(grouping))
        .filter(stat_days::day.between(first, last))
        .select((stat_days::day, stat_days::key, stat_days::figures))
        .into_boxed();
    if let Some(key) = key {
        query = query.filter(stat_days::key.eq(key.to_owned()));
    }
    let rows: Vec<(i32, String, Vec<u8>)> = query.load(conn)?;
    rows.into_iter()
        .map(|(d, k, bytes)| Ok((d, k, decode(&bytes)?)))
        .collect()
}

/// [`days`], the counters only (what trends read).
pub fn day_counts(
    conn: &mut DbConnection,
    grouping: i16,
    (first, last): (i32, i32),
) -> QueryResult<Vec<(i32, String, Counts)>> {
    if let DbConnection::Postgres(pg) = conn {
        let selection = DaySelection {
            grouping: Some(grouping),
            days: Some((first, last)),
            key: None,
        };
        return Ok(days_pg(pg, selection, true)?
            .into_iter()
            .map(|((_, day, key), figures)| (day, key, figures.counts))
            .collect());
    }
    let rows: Vec<(i32, String, Vec<u8>)> = stat_days::table
        .filter(stat_days::dim.eq(grouping))
        .filter(stat_days::day.between(first, last))
        .select((stat_days::day, stat_days::key, stat_days::figures))
        .load(conn)?;
    rows.into_iter()
        .map(|(d, k, bytes)| Ok((d, k, decode_counts(&bytes)?)))
        .collect()
}

pub fn weights(conn: &mut DbConnection) -> QueryResult<String> {
    stat_settings::table
        .select(stat_settings::weights)
        .first(conn)
}

pub fn save_weights(
    conn: &mut DbConnection,
    weights: String,
    by: UserId,
    at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(stat_settings::table)
        .set((
            stat_settings::weights.eq(weights),
            stat_settings::updated_by.eq(Some(by)),
            stat_settings::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

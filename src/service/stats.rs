//! Statistics (SPEC 6): the department table with its four rates, composite score and rank, the
//! same table grouped by category, district, channel or kind, trends, the composite's weights,
//! and `hotline stats rebuild|check`. Read from the per-day figures (`db::stats`); nothing here
//! reads a case, so no personal data can reach a figure.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::db::schema::{categories, departments};
use crate::db::stats as stats_db;
use crate::db::{DbConnection, now, write_transaction};
use crate::domain::calendar::WorkingCalendar;
use crate::domain::ids::DepartmentId;
use crate::domain::role::Role;
use crate::domain::stat_facts::{Exclusion, Grouping, PeriodFigures, day_number, day_of};
use crate::domain::statistics::{FourRates, Interval, Period, Rate, Weights, composite, rank};
use crate::error::{ApiError, ErrorCode};
use diesel::prelude::*;

/// Cases judged apart (分类评价), by reason.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq, Default)]
pub struct ExcludedCounts {
    pub merged: i64,
    pub rejected: i64,
    pub unreasonable_demand: i64,
    pub beyond_policy: i64,
}

/// One row of the statistics table: a department (or a category, district, channel or kind)
/// over the period. Every rate is from 0 to 1, `null` when its denominator is 0.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsRow {
    /// With `by=department`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_id: Option<DepartmentId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department_name: Option<String>,
    /// With any other `by`: the group's id (category, district) or name (channel, kind).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Assignments dispatched in the period that are due to be signed: signed, or their sign
    /// clock marked missed.
    pub dispatched: i64,
    /// Of those, signed at or before the sign deadline.
    pub signed_on_time: i64,
    /// 响应率 = signed_on_time / dispatched.
    pub response_rate: Option<f64>,
    /// Assignments whose reply deadline's day or reply's day is in the period (replied, or
    /// their reply clock marked missed).
    pub replies_due: i64,
    /// Of those, replied at or before the (possibly extended) deadline.
    pub replied_on_time: i64,
    /// 按时办结率 = replied_on_time / replies_due.
    pub on_time_rate: Option<f64>,
    /// Follow-up calls that reached the citizen and surveys answered, for the evaluated round's
    /// lead department.
    pub follow_ups_reached: i64,
    pub resolved_yes: i64,
    pub resolved_partly: i64,
    /// 解决率 = resolved_yes / follow_ups_reached.
    pub resolution_rate: Option<f64>,
    pub satisfied: i64,
    pub basically_satisfied: i64,
    pub dissatisfied: i64,
    /// 满意率 = (satisfied + basically_satisfied) / follow_ups_reached.
    pub satisfaction_rate: Option<f64>,
    /// Σ weight × rate × 100 over the rates that have a denominator, weights scaled to 100 %;
    /// two decimals.
    pub composite_score: Option<f64>,
    /// By composite score among all rows; ties share a rank.
    pub rank: Option<u32>,
    /// Cases left out of the resolution and satisfaction figures (分类评价), by the day closed.
    pub excluded: ExcludedCounts,
    /// Returns the centre accepted (the dispatch was wrong: counted against the dispatch desk).
    pub returns_accepted: i64,
    /// Returns the centre refused (counted against the department).
    pub returns_refused: i64,
    /// Rounds redone (重办), for the redone round's lead department.
    pub redo: i64,
    /// Lead replies the centre approved in review.
    pub approved_replies: i64,
    /// 重办率 = redo / approved_replies.
    pub redo_rate: Option<f64>,
    /// Extensions granted.
    pub extensions: i64,
    /// Assignments whose reply clock was missed, by the deadline's day.
    pub overdue: i64,
    /// Median working time from dispatch to reply, in hours (two decimals; exact below 128
    /// working minutes, within 0.8 % above: handling times are counted in buckets).
    pub median_handling_working_hours: Option<f64>,
}

/// The statistics table of a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatsTable {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub by: Grouping,
    pub weights: Weights,
    /// Ordered by rank (rows without a score last), then key.
    pub rows: Vec<StatsRow>,
    /// The whole city, every case counted once (also those never dispatched); `null` for
    /// department admins.
    pub total: Option<StatsRow>,
}

fn rate(numerator: i64, denominator: i64) -> Option<f64> {
    Rate::new(numerator, denominator).value()
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn four_rates(f: &PeriodFigures) -> FourRates {
    let c = &f.counts;
    FourRates {
        response: Rate::new(c.signed_on_time, c.sign_due),
        on_time: Rate::new(c.replied_on_time, c.replies_due),
        resolution: Rate::new(c.resolved_yes, c.reached),
        satisfaction: Rate::new(c.satisfied + c.basically_satisfied, c.reached),
    }
}

fn row_of(figures: PeriodFigures, weights: &Weights) -> StatsRow {
    let rates = four_rates(&figures);
    let c = figures.counts;
    StatsRow {
        department_id: None,
        department_name: None,
        key: None,
        name: None,
        dispatched: c.sign_due,
        signed_on_time: c.signed_on_time,
        response_rate: rates.response.value(),
        replies_due: c.replies_due,
        replied_on_time: c.replied_on_time,
        on_time_rate: rates.on_time.value(),
        follow_ups_reached: c.reached,
        resolved_yes: c.resolved_yes,
        resolved_partly: c.resolved_partly,
        resolution_rate: rates.resolution.value(),
        satisfied: c.satisfied,
        basically_satisfied: c.basically_satisfied,
        dissatisfied: c.dissatisfied,
        satisfaction_rate: rates.satisfaction.value(),
        composite_score: composite(&rates, weights).map(round2),
        rank: None,
        excluded: ExcludedCounts {
            merged: c.excluded(Exclusion::Merged),
            rejected: c.excluded(Exclusion::Rejected),
            unreasonable_demand: c.excluded(Exclusion::UnreasonableDemand),
            beyond_policy: c.excluded(Exclusion::BeyondPolicy),
        },
        returns_accepted: c.returns_accepted,
        returns_refused: c.returns_refused,
        redo: c.redo,
        approved_replies: c.approved,
        redo_rate: rate(c.redo, c.approved),
        extensions: c.extensions,
        overdue: c.overdue,
        median_handling_working_hours: figures.median_hours(),
    }
}

/// The figures of every key of `grouping` over `period` (and their sum, the whole city).
pub fn period_figures(
    conn: &mut DbConnection,
    grouping: Grouping,
    period: Period,
) -> Result<(BTreeMap<String, PeriodFigures>, PeriodFigures), ApiError> {
    let (first, last) = (day_number(period.from), day_number(period.to));
    // Replies due kept at a day before the period whose later day is inside it count too.
    let reach_back = stats_db::stored_max_gap(conn)?.max(0);
    let rows = stats_db::days(conn, grouping.code(), (first - reach_back, last), None)?;
    let mut by_key: BTreeMap<String, PeriodFigures> = BTreeMap::new();
    let mut total = PeriodFigures::default();
    for (day, key, figures) in rows {
        if day >= first {
            by_key.entry(key).or_default().add_day(&figures);
            total.add_day(&figures);
        } else {
            by_key
                .entry(key)
                .or_default()
                .add_straddling(day, &figures, (first, last));
            total.add_straddling(day, &figures, (first, last));
        }
    }
    // A key with nothing in the period itself (only what straddles into it from before, and
    // nothing of that) is no row.
    by_key.retain(|_, f| f.counts != Default::default() || !f.handling.is_empty());
    Ok((by_key, total))
}

pub fn weights(conn: &mut DbConnection) -> Result<Weights, ApiError> {
    let stored = stats_db::weights(conn)?;
    serde_json::from_str(&stored)
        .map_err(|e| ApiError::internal(format!("stored statistics weights unreadable: {e}")))
}

pub fn set_weights(
    conn: &mut DbConnection,
    principal: &Principal,
    weights: Weights,
) -> Result<Weights, ApiError> {
    weights.check().map_err(|message| {
        ApiError::field("weights", crate::error::FieldErrorCode::Range, message)
    })?;
    let json = serde_json::to_string(&weights).map_err(|e| ApiError::internal(e.to_string()))?;
    let user = principal
        .user_id()
        .ok_or_else(|| ApiError::internal("weights are set by a signed-in administrator"))?;
    write_transaction(conn, |conn| {
        stats_db::save_weights(conn, json, user, now()).map_err(ApiError::from)
    })?;
    Ok(weights)
}

/// Names of the groups' keys.
pub(crate) fn names(
    conn: &mut DbConnection,
    grouping: Grouping,
) -> Result<HashMap<String, String>, ApiError> {
    let rows: Vec<(i64, String)> = match grouping {
        Grouping::Department | Grouping::District => departments::table
            .select((departments::id, departments::name))
            .load::<(DepartmentId, String)>(conn)?
            .into_iter()
            .map(|(id, name)| (id.0, name))
            .collect(),
        Grouping::Category => categories::table
            .select((categories::id, categories::name))
            .load::<(crate::domain::ids::CategoryId, String)>(conn)?
            .into_iter()
            .map(|(id, name)| (id.0, name))
            .collect(),
        Grouping::Channel | Grouping::Kind => Vec::new(),
    };
    Ok(rows
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect())
}

/// What the caller asked the table for.
#[derive(Debug, Clone, Copy)]
pub struct TableQuery {
    pub period: Period,
    pub by: Grouping,
    /// Only this department's row (ranked among all).
    pub department: Option<DepartmentId>,
}

/// The statistics table. Department admins see their own department's row (with its rank among
/// all) and nothing else.
pub fn table(
    conn: &mut DbConnection,
    principal: &Principal,
    query: TableQuery,
) -> Result<StatsTable, ApiError> {
    let own = if principal.role == Role::DepartmentAdmin {
        let own = principal
            .department_id
            .ok_or_else(|| ApiError::internal("a department admin without a department"))?;
        if query.by != Grouping::Department || query.department.is_some_and(|d| d != own) {
            return Err(ApiError::Forbidden {
                code: ErrorCode::Forbidden,
                detail: "department admins read their own department's row only".into(),
            });
        }
        Some(own)
    } else {
        None
    };
    let (mut rows, total, weights) = ranked_rows(conn, query.by, query.period)?;
    if let Some(only) = own.or(query.department) {
        rows.retain(|r| r.department_id == Some(only));
    }
    Ok(StatsTable {
        from: query.period.from,
        to: query.period.to,
        by: query.by,
        weights,
        rows,
        total: own.is_none().then_some(total),
    })
}

/// Every row of `by` over `period`, ranked and ordered by rank, with the whole city's row and
/// the weights they were scored with.
pub fn ranked_rows(
    conn: &mut DbConnection,
    by: Grouping,
    period: Period,
) -> Result<(Vec<StatsRow>, StatsRow, Weights), ApiError> {
    let weights = weights(conn)?;
    let (by_key, total) = period_figures(conn, by, period)?;
    let names = names(conn, by)?;
    let mut rows: Vec<StatsRow> = by_key
        .into_iter()
        // Figures counted for no department are in the total only.
        .filter(|(key, _)| !(by == Grouping::Department && key.is_empty()))
        .map(|(key, figures)| {
            let mut row = row_of(figures, &weights);
            let name = names.get(&key).cloned();
            if by == Grouping::Department {
                row.department_id = key.parse().ok().map(DepartmentId);
                row.department_name = name;
            } else {
                row.name = Some(name.unwrap_or_else(|| key.clone()));
                row.key = Some(key);
            }
            row
        })
        .collect();
    let ranks = rank(&rows.iter().map(|r| r.composite_score).collect::<Vec<_>>());
    for (row, rank) in rows.iter_mut().zip(ranks) {
        row.rank = rank;
    }
    rows.sort_by_key(|r| (r.rank.unwrap_or(u32::MAX), r.department_id, r.key.clone()));
    Ok((rows, row_of(total, &weights), weights))
}

/// Registrations per interval and group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Trends {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub interval: Interval,
    pub by: Grouping,
    /// The intervals, in order; the first and last clipped to the period.
    pub periods: Vec<TrendPeriod>,
    /// One series per group with any registration in the period, by key.
    pub series: Vec<TrendSeries>,
    /// All registrations per interval.
    pub totals: Vec<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrendSeries {
    /// The category's or district's id, or the channel's or kind's name ("" for none).
    pub key: String,
    pub name: String,
    /// Cases registered in each interval (zero-filled).
    pub counts: Vec<i64>,
}

pub fn trends(
    conn: &mut DbConnection,
    period: Period,
    interval: Interval,
    by: Grouping,
) -> Result<Trends, ApiError> {
    let buckets = interval.buckets(period);
    let periods: Vec<TrendPeriod> = buckets
        .iter()
        .enumerate()
        .map(|(i, start)| {
            let end = buckets
                .get(i + 1)
                .map(|next| next.pred_opt().expect("dates stay in range"))
                .unwrap_or(period.to);
            TrendPeriod {
                from: (*start).max(period.from),
                to: end.min(period.to),
            }
        })
        .collect();
    let (first, last) = (day_number(period.from), day_number(period.to));
    let rows = stats_db::day_counts(conn, by.code(), (first, last))?;
    let names = names(conn, by)?;
    let mut series: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut totals = vec![0i64; periods.len()];
    for (day, key, counts) in rows {
        let registered = counts.registered;
        if registered == 0 {
            continue;
        }
        let bucket = interval.bucket(day_of(day));
        let index = buckets.partition_point(|b| *b < bucket);
        let counts = series.entry(key).or_insert_with(|| vec![0; periods.len()]);
        counts[index] += registered;
        totals[index] += registered;
    }
    Ok(Trends {
        from: period.from,
        to: period.to,
        interval,
        by,
        periods,
        series: series
            .into_iter()
            .map(|(key, counts)| TrendSeries {
                name: names.get(&key).cloned().unwrap_or_else(|| key.clone()),
                key,
                counts,
            })
            .collect(),
        totals,
    })
}

// ---- hotline stats rebuild | check --------------------------------------------------------------

/// What `hotline stats rebuild` did.
#[derive(Debug, Serialize)]
pub struct RebuildReport {
    pub cases: usize,
    pub day_rows: usize,
    pub seconds: f64,
}

/// Recomputes every case's facts and every per-day figure from the raw records, in one
/// transaction.
pub fn rebuild(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
) -> Result<RebuildReport, ApiError> {
    write_transaction(conn, |conn| rebuild_in(conn, calendar))
}

/// [`rebuild`] inside a write transaction already begun.
fn rebuild_in(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
) -> Result<RebuildReport, ApiError> {
    let started = std::time::Instant::now();
    stats_db::clear_all(conn)?;
    let recomputed = stats_db::recompute(conn, calendar, |conn, _, batch| {
        stats_db::insert_facts(conn, &batch)
    })?;
    stats_db::insert_days(conn, &recomputed)?;
    Ok(RebuildReport {
        cases: recomputed.cases,
        day_rows: recomputed.days.len(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Makes the statistics anew when their day rows are in an older build's encoding (once, after
/// the migration that changed it; see `migrations/*/…000022_stat_handling_buckets`). Processes
/// started together make them anew once: the format is read again under the statistics' lock.
pub fn upgrade_stored_format(
    conn: &mut DbConnection,
    tz: chrono_tz::Tz,
) -> Result<Option<RebuildReport>, ApiError> {
    let stored = stats_db::days_format(conn)?;
    if stored > stats_db::DAYS_FORMAT {
        // Not an error: the server still serves everything else, and `hotline stats rebuild`
        // (which must open the database first) can put the figures in this build's encoding.
        log::warn!(
            "the statistics were stored by a newer build (format {stored}; this build reads {}): \
             they cannot be read until `hotline stats rebuild` runs with this build",
            stats_db::DAYS_FORMAT
        );
        return Ok(None);
    }
    if stored == stats_db::DAYS_FORMAT {
        return Ok(None);
    }
    let reference = crate::service::reference::ReferenceData::load(conn, tz)?;
    write_transaction(conn, |conn| {
        stats_db::lock_all(conn)?;
        if stats_db::days_format(conn)? >= stats_db::DAYS_FORMAT {
            return Ok(None); // another process made them anew meanwhile
        }
        rebuild_in(conn, &reference.calendar()).map(Some)
    })
}

/// Counts cases new to the statistics, written in bulk without the per-transaction refresh (the
/// seed): their facts are made and their figures added to the stored ones, in one transaction.
pub fn add_new_cases(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
    (first, last): (crate::domain::ids::CaseId, crate::domain::ids::CaseId),
) -> Result<usize, ApiError> {
    write_transaction(conn, |conn| {
        let recomputed =
            stats_db::recompute_between(conn, calendar, (first, last), |conn, _, batch| {
                stats_db::insert_facts(conn, &batch)
            })?;
        stats_db::add_days(conn, &recomputed)?;
        Ok(recomputed.cases)
    })
}

/// What `hotline stats check` found: case ids and day rows whose stored figures differ from
/// the recomputed ones (never any content of a case).
#[derive(Debug, Serialize)]
pub struct CheckReport {
    pub cases: usize,
    pub day_rows: usize,
    pub cases_differing: usize,
    pub day_rows_differing: usize,
    /// A few of the differences, for the operator.
    pub examples: Vec<String>,
    pub consistent: bool,
}

pub fn check(conn: &mut DbConnection, calendar: &WorkingCalendar) -> Result<CheckReport, ApiError> {
    const EXAMPLES: usize = 20;
    let mut examples = Vec::new();
    let mut cases_differing = 0;
    let recomputed = stats_db::recompute(conn, calendar, |conn, range, batch| {
        let mut stored = stats_db::stored_facts_between(conn, range)?;
        for (id, facts) in batch {
            if stored.remove(&id).as_ref() != Some(&facts) {
                cases_differing += 1;
                if examples.len() < EXAMPLES {
                    examples.push(format!("case {id}: stored facts differ"));
                }
            }
        }
        // Facts stored for cases that no longer exist.
        cases_differing += stored.len();
        Ok(())
    })?;
    let stored = stats_db::stored_days(conn)?;
    let mut day_rows_differing = 0;
    let keys: std::collections::BTreeSet<_> = stored.keys().chain(recomputed.days.keys()).collect();
    for key in keys {
        let (a, b) = (stored.get(key), recomputed.days.get(key));
        if a != b {
            day_rows_differing += 1;
            if examples.len() < EXAMPLES {
                let (grouping, day, group) = key;
                examples.push(format!(
                    "grouping {grouping}, day {}, key {group:?}: stored {:?}, recomputed {:?}",
                    day_of(*day),
                    a.map(|f| f.counts),
                    b.map(|f| f.counts)
                ));
            }
        }
    }
    let gap_ok = i64::from(stats_db::stored_max_gap(conn)?) >= i64::from(recomputed.max_gap);
    if !gap_ok {
        examples.push("the stored reach-back of straddling replies is too short".into());
    }
    Ok(CheckReport {
        cases: recomputed.cases,
        day_rows: recomputed.days.len(),
        cases_differing,
        day_rows_differing,
        consistent: cases_differing == 0 && day_rows_differing == 0 && gap_ok,
        examples,
    })
}

// ---- The table as a file ------------------------------------------------------------------------

/// The table's columns, in the JSON's field names (`excluded.*` flattened).
const COLUMNS: &[&str] = &[
    "dispatched",
    "signed_on_time",
    "response_rate",
    "replies_due",
    "replied_on_time",
    "on_time_rate",
    "follow_ups_reached",
    "resolved_yes",
    "resolved_partly",
    "resolution_rate",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "satisfaction_rate",
    "composite_score",
    "rank",
    "excluded.merged",
    "excluded.rejected",
    "excluded.unreasonable_demand",
    "excluded.beyond_policy",
    "returns_accepted",
    "returns_refused",
    "redo",
    "approved_replies",
    "redo_rate",
    "extensions",
    "overdue",
    "median_handling_working_hours",
];

/// One cell: a number, or nothing for `null`.
enum Cell {
    Text(String),
    Number(f64),
    Empty,
}

/// The table as rows of cells, header first, the whole city last.
fn grid(table: &StatsTable) -> Result<Vec<Vec<Cell>>, ApiError> {
    let (id_column, name_column) = match table.by {
        Grouping::Department => ("department_id", "department_name"),
        _ => ("key", "name"),
    };
    let mut out = vec![
        std::iter::once(id_column)
            .chain(std::iter::once(name_column))
            .chain(COLUMNS.iter().copied())
            .map(|c| Cell::Text(c.to_owned()))
            .collect::<Vec<_>>(),
    ];
    let rows = table.rows.iter().map(|r| (r, false));
    for (row, is_total) in rows.chain(table.total.iter().map(|t| (t, true))) {
        let value = serde_json::to_value(row).map_err(|e| ApiError::internal(e.to_string()))?;
        let cell = |v: &serde_json::Value| match v {
            serde_json::Value::Number(n) => n.as_f64().map(Cell::Number).unwrap_or(Cell::Empty),
            serde_json::Value::String(s) => Cell::Text(s.clone()),
            _ => Cell::Empty,
        };
        let mut cells = if is_total {
            vec![Cell::Empty, Cell::Text("total".into())]
        } else {
            vec![cell(&value[id_column]), cell(&value[name_column])]
        };
        for column in COLUMNS {
            let v = match column.split_once('.') {
                Some((outer, inner)) => &value[outer][inner],
                None => &value[*column],
            };
            cells.push(cell(v));
        }
        out.push(cells);
    }
    Ok(out)
}

/// The table as CSV, UTF-8 with a byte-order mark (for Excel on a Chinese Windows desktop).
pub fn table_csv(table: &StatsTable) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    for row in grid(table)? {
        let record: Vec<String> = row
            .into_iter()
            .map(|c| match c {
                Cell::Text(t) => t,
                Cell::Number(n) => n.to_string(),
                Cell::Empty => String::new(),
            })
            .collect();
        writer
            .write_record(&record)
            .map_err(|e| ApiError::internal(e.to_string()))?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// The table as an XLSX workbook (a few hundred rows at most: made in memory).
pub fn table_xlsx(table: &StatsTable) -> Result<Vec<u8>, ApiError> {
    let fail = |e: rust_xlsxwriter::XlsxError| ApiError::internal(e.to_string());
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (r, row) in grid(table)?.into_iter().enumerate() {
        for (c, cell) in row.into_iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell {
                Cell::Text(t) => {
                    sheet.write_string(r, c, t).map_err(fail)?;
                }
                Cell::Number(n) => {
                    sheet.write_number(r, c, n).map_err(fail)?;
                }
                Cell::Empty => {}
            }
        }
    }
    workbook.save_to_buffer().map_err(fail)
}

/// How often each server folds the queued statistics changes (PostgreSQL; see
/// `db::stats::fold_changes`). Readers add what is not folded yet, so this bounds only how many
/// they add, not what they see.
const FOLD_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Folds the queued statistics changes for as long as the server runs: every [`FOLD_EVERY`], and
/// at once again while a backlog remains. Every server may run it; one folds at a time.
pub async fn fold_periodically(db: crate::db::Db) {
    let mut interval = tokio::time::interval(FOLD_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        loop {
            let folded = db.run(|conn| Ok(stats_db::fold_changes(conn)?)).await;
            match folded {
                Ok(n) if n as i64 == stats_db::FOLD_BATCH => continue,
                Ok(_) => break,
                Err(error) => {
                    // Once, then quiet for a while: a database that is down says so elsewhere.
                    log::warn!("folding the statistics changes failed: {error}");
                    tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                    break;
                }
            }
        }
    }
}

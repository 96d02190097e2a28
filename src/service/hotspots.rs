//! Hot spots (SPEC 6, 热点): the categories and districts whose registrations rose most against
//! the previous period of equal length, read from the per-day figures; and clusters of similar
//! cases (共性问题), read from the cases' category, district, place and time of registration
//! only. Analysts read this: nothing here carries a case's text or anything about who raised it,
//! only case numbers.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::db::hotspots as hotspots_db;
use crate::domain::calendar::WorkingCalendar;
use crate::domain::hotspots::{ClusterRule, Clusters, Registration, Rise, rising};
use crate::domain::ids::{CaseId, CategoryId, DepartmentId};
use crate::domain::stat_facts::Grouping;
use crate::domain::statistics::Period;
use crate::error::ApiError;
use crate::service::stats::{names, period_figures};

/// What the caller asked for, checked.
#[derive(Debug, Clone, Copy)]
pub struct HotspotQuery {
    pub period: Period,
    /// The fewest registrations in the period for a rising key to be listed.
    pub min_count: i64,
    /// The most items of each list.
    pub limit: usize,
    pub cluster_rule: ClusterRule,
}

/// A category whose registrations rose.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RisingCategory {
    pub category_id: CategoryId,
    pub name: String,
    /// Cases registered in the period.
    pub current: i64,
    /// Cases registered in the previous period.
    pub previous: i64,
    /// `current - previous`.
    pub rise: i64,
    /// `rise / previous` (0.5 = 50 % more); `null` when the previous period had none.
    pub relative_rise: Option<f64>,
}

/// A district (区) whose registrations rose.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RisingDistrict {
    pub district_id: DepartmentId,
    pub name: String,
    /// Cases registered in the period.
    pub current: i64,
    /// Cases registered in the previous period.
    pub previous: i64,
    /// `current - previous`.
    pub rise: i64,
    /// `rise / previous` (0.5 = 50 % more); `null` when the previous period had none.
    pub relative_rise: Option<f64>,
}

/// Similar cases: one category, one district, one spot (the same address or within about 500 m
/// of the cluster's first case), each registered within `window_hours` of the one before.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseCluster {
    pub category_id: CategoryId,
    pub category_name: String,
    /// `null` for cases registered without a district.
    pub district_id: Option<DepartmentId>,
    pub district_name: Option<String>,
    pub case_count: i64,
    pub first_registered_at: DateTime<Utc>,
    pub last_registered_at: DateTime<Utc>,
    /// The public numbers of the cluster's first five cases, in registration order.
    #[schema(example = json!(["20261130-000123", "20261130-000187"]))]
    pub case_numbers: Vec<String>,
}

/// Hot spots of a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Hotspots {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// The period compared against: as many days, just before.
    pub previous_from: NaiveDate,
    pub previous_to: NaiveDate,
    /// Categories with at least `min_count` registrations in the period and more than in the
    /// previous one: by rise, then relative rise (a rise from none first), then id.
    pub rising_categories: Vec<RisingCategory>,
    /// Districts, likewise.
    pub rising_districts: Vec<RisingDistrict>,
    /// The largest clusters first, then the earliest.
    pub clusters: Vec<CaseCluster>,
    /// How many clusters the period has (`clusters` shows at most `limit`).
    pub clusters_found: i64,
}

/// Registrations per key of `grouping` over `period`, by id (cases without the attribute left
/// out).
fn registrations_by<K: Ord>(
    conn: &mut DbConnection,
    grouping: Grouping,
    period: Period,
    id: impl Fn(i64) -> K,
) -> Result<BTreeMap<K, i64>, ApiError> {
    let (by_key, _) = period_figures(conn, grouping, period)?;
    Ok(by_key
        .into_iter()
        .filter(|(_, figures)| figures.counts.registered > 0)
        .filter_map(|(key, figures)| Some((id(key.parse().ok()?), figures.counts.registered)))
        .collect())
}

fn rises<K: Ord + Clone>(
    conn: &mut DbConnection,
    grouping: Grouping,
    query: &HotspotQuery,
    id: impl Fn(i64) -> K + Copy,
) -> Result<Vec<Rise<K>>, ApiError> {
    let current = registrations_by(conn, grouping, query.period, id)?;
    let previous = registrations_by(conn, grouping, query.period.previous(), id)?;
    Ok(rising(&current, &previous, query.min_count, query.limit))
}

fn clusters(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
    query: &HotspotQuery,
) -> Result<Vec<crate::domain::hotspots::Cluster<CaseId>>, ApiError> {
    let from = calendar.start_of(query.period.from).naive_utc();
    let to = query
        .period
        .to
        .succ_opt()
        .map_or(chrono::NaiveDateTime::MAX, |day| {
            calendar.start_of(day).naive_utc()
        });
    let mut clusters = Clusters::new(query.cluster_rule);
    hotspots_db::each_registration(conn, (from, to), |row| {
        if let Some(category) = row.category_id {
            clusters.push(Registration {
                case: row.id,
                category,
                district: row.district_id,
                address_key: row.address_key,
                latitude: row.latitude,
                longitude: row.longitude,
                at: row.created_at.0.and_utc(),
            });
        }
    })?;
    Ok(clusters.finish())
}

pub fn hotspots(
    conn: &mut DbConnection,
    calendar: &WorkingCalendar,
    query: HotspotQuery,
) -> Result<Hotspots, ApiError> {
    let categories = rises(conn, Grouping::Category, &query, CategoryId)?;
    let districts = rises(conn, Grouping::District, &query, DepartmentId)?;
    let found = clusters(conn, calendar, &query)?;
    // Numbers only for the cases shown (the clustering itself reads none).
    let shown: Vec<CaseId> = found
        .iter()
        .take(query.limit)
        .flat_map(|c| c.cases.iter().copied())
        .collect();
    let numbers = hotspots_db::case_numbers(conn, &shown)?;
    let category_names = names(conn, Grouping::Category)?;
    let department_names = names(conn, Grouping::District)?;
    let name = |names: &HashMap<String, String>, id: i64| {
        names
            .get(&id.to_string())
            .cloned()
            .unwrap_or_else(|| id.to_string())
    };
    let previous = query.period.previous();
    Ok(Hotspots {
        from: query.period.from,
        to: query.period.to,
        previous_from: previous.from,
        previous_to: previous.to,
        rising_categories: categories
            .into_iter()
            .map(|r| RisingCategory {
                name: name(&category_names, r.key.get()),
                category_id: r.key,
                current: r.current,
                previous: r.previous,
                rise: r.rise,
                relative_rise: r.relative_rise,
            })
            .collect(),
        rising_districts: districts
            .into_iter()
            .map(|r| RisingDistrict {
                name: name(&department_names, r.key.get()),
                district_id: r.key,
                current: r.current,
                previous: r.previous,
                rise: r.rise,
                relative_rise: r.relative_rise,
            })
            .collect(),
        clusters_found: found.len() as i64,
        clusters: found
            .into_iter()
            .take(query.limit)
            .map(|c| CaseCluster {
                category_name: name(&category_names, c.category.get()),
                category_id: c.category,
                district_name: c.district.map(|d| name(&department_names, d.get())),
                district_id: c.district,
                case_count: c.case_count as i64,
                first_registered_at: c.first_at,
                last_registered_at: c.last_at,
                case_numbers: c
                    .cases
                    .iter()
                    .filter_map(|id| numbers.get(id).cloned())
                    .collect(),
            })
            .collect(),
    })
}

/// The defaults and bounds of the query (the handler documents them).
pub const DEFAULT_MIN_COUNT: i64 = 5;
pub const DEFAULT_LIMIT: i64 = 10;
pub const MAX_LIMIT: i64 = 100;
pub const DEFAULT_WINDOW_HOURS: i64 = 72;
pub const MAX_WINDOW_HOURS: i64 = 24 * 31;
pub const DEFAULT_MIN_CLUSTER: i64 = 3;
pub const MAX_MIN_CLUSTER: i64 = 1000;

impl HotspotQuery {
    /// The query with its defaults, or what is out of range.
    pub fn new(
        period: Period,
        min_count: Option<i64>,
        limit: Option<i64>,
        window_hours: Option<i64>,
        min_cluster: Option<i64>,
    ) -> Result<Self, String> {
        let within = |name: &str, value: Option<i64>, default: i64, (low, high): (i64, i64)| {
            let value = value.unwrap_or(default);
            if (low..=high).contains(&value) {
                Ok(value)
            } else {
                Err(format!("{name} is from {low} to {high}"))
            }
        };
        let min_count = within(
            "min_count",
            min_count,
            DEFAULT_MIN_COUNT,
            (1, i64::from(i32::MAX)),
        )?;
        let limit = within("limit", limit, DEFAULT_LIMIT, (1, MAX_LIMIT))?;
        let window_hours = within(
            "window_hours",
            window_hours,
            DEFAULT_WINDOW_HOURS,
            (1, MAX_WINDOW_HOURS),
        )?;
        let min_cluster = within(
            "min_cluster",
            min_cluster,
            DEFAULT_MIN_CLUSTER,
            (2, MAX_MIN_CLUSTER),
        )?;
        Ok(HotspotQuery {
            period,
            min_count,
            limit: limit as usize,
            cluster_rule: ClusterRule {
                window: Duration::hours(window_hours),
                min_cases: min_cluster as usize,
            },
        })
    }
}

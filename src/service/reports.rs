//! The public report (SPEC 6; the seeds require an annual report to the public): registrations by
//! kind, channel and category, and the four rates with the composite score and rank of the city
//! and of each department, over a year or a month. Aggregate figures only, from the per-day
//! figures: no case, no case number, nothing about anyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::DbConnection;
use crate::domain::case::Channel;
use crate::domain::ids::{CategoryId, DepartmentId};
use crate::domain::public_report::ReportPeriod;
use crate::domain::sla::CaseKind;
use crate::domain::stat_facts::Grouping;
use crate::domain::statistics::Weights;
use crate::error::ApiError;
use crate::service::stats::{StatsRow, names, period_figures, ranked_rows};

/// A rate with what it is made of.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq)]
pub struct PublicRate {
    pub numerator: i64,
    pub denominator: i64,
    /// `numerator / denominator`, 0 to 1; `null` when the denominator is 0.
    pub rate: Option<f64>,
}

impl PublicRate {
    fn new(numerator: i64, denominator: i64) -> Self {
        PublicRate {
            numerator,
            denominator,
            rate: (denominator > 0).then(|| numerator as f64 / denominator as f64),
        }
    }
}

/// The four rates the departments are scored on, and the score.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PublicRates {
    /// 响应率: assignments signed within the sign deadline / assignments dispatched.
    pub response: PublicRate,
    /// 按时办结率: replies within the (possibly extended) deadline / replies due.
    pub on_time: PublicRate,
    /// 解决率: follow-ups reached and resolved / follow-ups reached.
    pub resolution: PublicRate,
    /// 满意率: satisfied and basically satisfied / follow-ups reached.
    pub satisfaction: PublicRate,
    /// Σ weight × rate × 100 over the rates with a denominator, weights scaled to 100 %.
    pub composite_score: Option<f64>,
}

impl PublicRates {
    fn of(row: &StatsRow) -> Self {
        PublicRates {
            response: PublicRate::new(row.signed_on_time, row.dispatched),
            on_time: PublicRate::new(row.replied_on_time, row.replies_due),
            resolution: PublicRate::new(row.resolved_yes, row.follow_ups_reached),
            satisfaction: PublicRate::new(
                row.satisfied + row.basically_satisfied,
                row.follow_ups_reached,
            ),
            composite_score: row.composite_score,
        }
    }
}

/// A department's rates, score and rank in the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicDepartment {
    pub department_id: DepartmentId,
    pub department_name: String,
    /// By composite score among the departments; ties share a rank; `null` without a score.
    pub rank: Option<u32>,
    pub rates: PublicRates,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KindCount {
    pub kind: CaseKind,
    pub registered: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelCount {
    pub channel: Channel,
    pub registered: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CategoryCount {
    pub category_id: CategoryId,
    pub name: String,
    pub registered: i64,
}

/// Cases registered in the period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicRegistrations {
    pub total: i64,
    /// Every kind, in a fixed order (zeros included).
    pub by_kind: Vec<KindCount>,
    /// Every channel, in a fixed order (zeros included).
    pub by_channel: Vec<ChannelCount>,
    /// The ten categories with the most registrations (most first, then by id).
    pub top_categories: Vec<CategoryCount>,
}

/// The public report of a year or a month.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicReport {
    pub year: i32,
    /// `null` for a whole year.
    pub month: Option<u32>,
    /// The local dates covered (a period not over yet counts up to now).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// When these figures were read (they may be served for a few minutes).
    pub generated_at: DateTime<Utc>,
    pub registrations: PublicRegistrations,
    /// The weights of the composite score, in percent.
    pub weights: Weights,
    /// The whole city, every case counted once.
    pub city: PublicRates,
    /// Every department with figures in the period, by rank (unranked last).
    pub departments: Vec<PublicDepartment>,
}

const TOP_CATEGORIES: usize = 10;

fn registered_by(
    conn: &mut DbConnection,
    grouping: Grouping,
    period: crate::domain::statistics::Period,
) -> Result<HashMap<String, i64>, ApiError> {
    let (by_key, _) = period_figures(conn, grouping, period)?;
    Ok(by_key
        .into_iter()
        .map(|(key, figures)| (key, figures.counts.registered))
        .collect())
}

pub fn public_report(
    conn: &mut DbConnection,
    which: ReportPeriod,
) -> Result<PublicReport, ApiError> {
    let period = which.period();
    let (rows, city, weights) = ranked_rows(conn, Grouping::Department, period)?;
    let kinds = registered_by(conn, Grouping::Kind, period)?;
    let channels = registered_by(conn, Grouping::Channel, period)?;
    let categories = registered_by(conn, Grouping::Category, period)?;
    let category_names = names(conn, Grouping::Category)?;
    let mut top: Vec<CategoryCount> = categories
        .into_iter()
        .filter(|(_, registered)| *registered > 0)
        .filter_map(|(key, registered)| {
            Some(CategoryCount {
                category_id: CategoryId(key.parse().ok()?),
                name: category_names.get(&key).cloned().unwrap_or(key),
                registered,
            })
        })
        .collect();
    top.sort_by_key(|c| (std::cmp::Reverse(c.registered), c.category_id));
    top.truncate(TOP_CATEGORIES);
    Ok(PublicReport {
        year: which.year,
        month: which.month,
        from: period.from,
        to: period.to,
        generated_at: Utc::now(),
        registrations: PublicRegistrations {
            total: kinds.values().sum(),
            by_kind: CaseKind::ALL
                .iter()
                .map(|kind| KindCount {
                    kind: *kind,
                    registered: kinds.get(kind.as_str()).copied().unwrap_or(0),
                })
                .collect(),
            by_channel: Channel::ALL
                .iter()
                .map(|channel| ChannelCount {
                    channel: *channel,
                    registered: channels.get(channel.as_str()).copied().unwrap_or(0),
                })
                .collect(),
            top_categories: top,
        },
        weights,
        city: PublicRates::of(&city),
        departments: rows
            .iter()
            .filter_map(|row| {
                Some(PublicDepartment {
                    department_id: row.department_id?,
                    department_name: row.department_name.clone().unwrap_or_default(),
                    rank: row.rank,
                    rates: PublicRates::of(row),
                })
            })
            .collect(),
    })
}

/// How long a report is served from memory: anyone may ask for it without signing in, so a
/// burst of requests must not each read a year of figures; the figures may lag this much.
pub const REPORT_TTL: Duration = Duration::from_secs(300);

/// Reports made recently, per period. Kept in the application state rather than in a static:
/// each server (and each test's server in one process) has its own database, and a report of one
/// must never be served for another. At most one entry per period that can be asked for (about
/// 30 years × 13), so it needs no eviction beyond replacing stale entries.
#[derive(Debug, Default)]
pub struct ReportCache {
    entries: Mutex<HashMap<ReportPeriod, (Instant, Arc<PublicReport>)>>,
}

impl ReportCache {
    /// The report of `which` if it was made less than [`REPORT_TTL`] ago.
    pub fn get(&self, which: ReportPeriod) -> Option<Arc<PublicReport>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&which)
            .filter(|(made, _)| made.elapsed() < REPORT_TTL)
            .map(|(_, report)| report.clone())
    }

    pub fn put(&self, which: ReportPeriod, report: Arc<PublicReport>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(which, (Instant::now(), report));
    }
}

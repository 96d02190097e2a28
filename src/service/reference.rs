//! The calendar and the deadline policy, cached in memory. Writes go to the database and replace
//! the cache at once; every server also polls the database's revisions, so that a change made
//! through another server (PostgreSQL deployments) takes effect here within seconds.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use crate::db::reference::{self, CalendarYear, SlaPolicyRow};
use crate::db::{Db, DbConnection, now, write_transaction};
use crate::domain::calendar::{WorkingCalendar, YearRules, default_years};
use crate::domain::ids::UserId;
use crate::domain::sla::SlaPolicy;
use crate::error::{ApiError, ErrorCode, FieldErrorCode, FieldErrors};

/// How often each server looks for changes made through other servers.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// A policy version as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyVersion {
    /// Deadlines record this number.
    pub version: i32,
    /// The periods and rules of this version (what `PUT /sla-policies` takes).
    pub policy: SlaPolicy,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
}

/// One year's calendar as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarYearView {
    pub year: i32,
    /// The holidays and make-up days (what `PUT /calendar/{year}` takes).
    pub rules: YearRules,
    pub updated_by: Option<UserId>,
    pub updated_at: DateTime<Utc>,
}

struct Snapshot {
    calendar: Arc<WorkingCalendar>,
    policy: Arc<PolicyVersion>,
    revisions: (i64, i32),
}

pub struct ReferenceData {
    tz: Tz,
    current: RwLock<Snapshot>,
}

fn parse_year(row: &CalendarYear) -> Result<YearRules, ApiError> {
    serde_json::from_str(&row.rules)
        .map_err(|e| ApiError::internal(format!("stored calendar {} unreadable: {e}", row.year)))
}

fn parse_policy(row: SlaPolicyRow) -> Result<PolicyVersion, ApiError> {
    let policy = serde_json::from_str(&row.rules).map_err(|e| {
        ApiError::internal(format!("stored policy {} unreadable: {e}", row.version))
    })?;
    Ok(PolicyVersion {
        version: row.version,
        policy,
        created_by: row.created_by,
        created_at: row.created_at.and_utc(),
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| ApiError::internal(e.to_string()))
}

fn check_year(year: i32) -> Result<(), ApiError> {
    if (1900..=2200).contains(&year) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            ErrorCode::InvalidPathParameter,
            "the year must be from 1900 to 2200",
        ))
    }
}

/// Seeds the shipped calendars (2025, 2026) and the SPEC 4.3 policy where nothing is stored yet.
pub fn ensure_defaults(conn: &mut DbConnection) -> Result<(), ApiError> {
    write_transaction(conn, |conn| {
        for (year, rules) in default_years() {
            if reference::find_year(conn, year)?.is_none() {
                reference::save_year(conn, year, to_json(&rules)?, None, now(), false)?;
            }
        }
        reference::add_policy(
            conn,
            to_json(&SlaPolicy::default_policy())?,
            None,
            now(),
            true,
        )?;
        Ok(())
    })
}

fn load_snapshot(conn: &mut DbConnection, tz: Tz) -> Result<Snapshot, ApiError> {
    let revisions = reference::revisions(conn)?;
    let years = reference::all_years(conn)?
        .iter()
        .map(|row| Ok((row.year, parse_year(row)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    let policy = reference::current_policy(conn)?
        .ok_or_else(|| ApiError::internal("no deadline policy stored"))?;
    let calendar = Arc::new(WorkingCalendar::new(tz, &years));
    crate::db::stats::publish_calendar(calendar.clone());
    Ok(Snapshot {
        calendar,
        policy: Arc::new(parse_policy(policy)?),
        revisions,
    })
}

impl ReferenceData {
    /// Seeds the defaults if needed and fills the cache (blocking: call off the executor).
    pub fn load(conn: &mut DbConnection, tz: Tz) -> Result<Self, ApiError> {
        ensure_defaults(conn)?;
        Ok(Self {
            tz,
            current: RwLock::new(load_snapshot(conn, tz)?),
        })
    }

    pub fn calendar(&self) -> Arc<WorkingCalendar> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .calendar
            .clone()
    }

    pub fn policy(&self) -> Arc<PolicyVersion> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .policy
            .clone()
    }

    /// Reloads when the stored revisions differ from the cached ones; true when it reloaded.
    pub fn refresh(&self, conn: &mut DbConnection) -> Result<bool, ApiError> {
        let stored = reference::revisions(conn)?;
        if stored
            == self
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .revisions
        {
            return Ok(false);
        }
        let snapshot = load_snapshot(conn, self.tz)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = snapshot;
        Ok(true)
    }

    pub fn get_year(
        &self,
        conn: &mut DbConnection,
        year: i32,
    ) -> Result<CalendarYearView, ApiError> {
        check_year(year)?;
        let row = reference::find_year(conn, year)?.ok_or_else(|| ApiError::NotFound {
            code: ErrorCode::CalendarNotLoaded,
            detail: format!(
                "no calendar is loaded for {year}; deadlines there count weekends only"
            )
            .into(),
        })?;
        Ok(CalendarYearView {
            year,
            rules: parse_year(&row)?,
            updated_by: row.updated_by,
            updated_at: row.updated_at.and_utc(),
        })
    }

    /// Replaces a year's calendar and takes it into use at once.
    pub fn put_year(
        &self,
        conn: &mut DbConnection,
        year: i32,
        rules: YearRules,
        by: UserId,
    ) -> Result<CalendarYearView, ApiError> {
        check_year(year)?;
        let mut errors = FieldErrors::default();
        for error in rules.validate(year) {
            errors.add(&error.field, FieldErrorCode::Invalid, error.message);
        }
        errors.finish()?;
        let json = to_json(&rules)?;
        let row = write_transaction(conn, |conn| {
            reference::save_year(conn, year, json, Some(by), now(), true)
        })?;
        self.refresh(conn)?;
        Ok(CalendarYearView {
            year,
            rules,
            updated_by: row.updated_by,
            updated_at: row.updated_at.and_utc(),
        })
    }

    /// Stores a new policy version and takes it into use at once.
    pub fn put_policy(
        &self,
        conn: &mut DbConnection,
        policy: SlaPolicy,
        by: UserId,
    ) -> Result<PolicyVersion, ApiError> {
        let mut errors = FieldErrors::default();
        for (field, message) in policy.validate() {
            errors.add(&field, FieldErrorCode::Invalid, message);
        }
        errors.finish()?;
        let json = to_json(&policy)?;
        let row = write_transaction(conn, |conn| {
            reference::add_policy(conn, json, Some(by), now(), false)
        })?;
        self.refresh(conn)?;
        parse_policy(row)
    }
}

/// Keeps `data` in step with the database for as long as the server runs.
pub async fn poll_for_changes(db: Db, data: Arc<ReferenceData>) {
    let mut interval = tokio::time::interval(RELOAD_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let data = data.clone();
        match db.run(move |conn| data.refresh(conn)).await {
            Ok(true) => log::info!("calendar or deadline policy changed elsewhere: reloaded"),
            Ok(false) => {}
            Err(error) => {
                log::warn!("could not check the calendar and policy for changes: {error}")
            }
        }
    }
}

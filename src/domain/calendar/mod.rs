//! The working-day calendar (SPEC 4.1–4.2): pure computation, no I/O.
//!
//! A working day is Monday–Friday, minus public holidays, plus make-up working days (调休上班),
//! in the centre's local time zone. Years without a loaded calendar count weekends only, and every
//! answer says whether it relied on such a year (`calendar_complete`).

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate as _;

/// One year's official arrangement, as published (and as `PUT /calendar/{year}` takes it).
/// Its dates need the year, so they are checked by [`YearRules::validate`]; the names by the derive.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema, validator::Validate,
)]
#[serde(deny_unknown_fields)]
pub struct YearRules {
    /// Blocks of days off.
    #[validate(nested)]
    pub holidays: Vec<HolidayBlock>,
    /// Make-up working days that fall on a weekend.
    #[schema(value_type = Vec<String>, example = json!(["2026-02-14", "2026-02-28"]))]
    #[eserde(compat)]
    pub workdays: Vec<NaiveDate>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema, validator::Validate,
)]
#[serde(deny_unknown_fields)]
pub struct HolidayBlock {
    #[schema(example = "春节 Spring Festival", min_length = 1, max_length = 100)]
    #[validate(
        length(min = 1, max = 100),
        custom(function = "crate::validation::text")
    )]
    pub name: String,
    /// First day off (inclusive).
    #[schema(value_type = String, format = Date, example = "2026-02-15")]
    #[eserde(compat)]
    pub from: NaiveDate,
    /// Last day off (inclusive).
    #[schema(value_type = String, format = Date, example = "2026-02-23")]
    #[eserde(compat)]
    pub to: NaiveDate,
}

/// What is wrong with a year's rules, by field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

impl YearRules {
    /// Every date inside `year`, blocks in order, no date both a holiday and a make-up day.
    pub fn validate(&self, year: i32) -> Vec<RuleError> {
        let mut errors = Vec::new();
        let mut error = |field: String, message: &str| {
            errors.push(RuleError {
                field,
                message: message.into(),
            })
        };
        let mut days_off = std::collections::HashSet::new();
        for (i, block) in self.holidays.iter().enumerate() {
            for (field, date) in [("from", block.from), ("to", block.to)] {
                if date.year() != year {
                    error(format!("holidays[{i}].{field}"), "lies outside the year");
                }
            }
            if block.to < block.from {
                error(format!("holidays[{i}].to"), "is before from");
                continue;
            }
            if block.from.year() == year && block.to.year() == year {
                days_off.extend(block.from.iter_days().take_while(|d| *d <= block.to));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, day) in self.workdays.iter().enumerate() {
            if day.year() != year {
                error(format!("workdays[{i}]"), "lies outside the year");
            }
            if days_off.contains(day) {
                error(format!("workdays[{i}]"), "is also a holiday");
            }
            if !seen.insert(*day) {
                error(format!("workdays[{i}]"), "is listed twice");
            }
        }
        errors
    }
}

/// The shipped default: the official 2025 and 2026 calendars.
pub fn default_years() -> Vec<(i32, YearRules)> {
    #[derive(Deserialize)]
    struct File {
        years: HashMap<String, YearRules>,
    }
    let file: File = serde_json::from_str(include_str!("holidays-cn.json"))
        .expect("the shipped calendar parses");
    let mut years: Vec<(i32, YearRules)> = file
        .years
        .into_iter()
        .map(|(year, rules)| (year.parse().expect("a year"), rules))
        .collect();
    years.sort_by_key(|(year, _)| *year);
    years
}

/// One bit per day of the year (ordinal 0..366): set when the day is worked.
#[derive(Debug, Clone, Copy)]
struct YearBits([u64; 6]);

impl YearBits {
    fn from_rules(year: i32, rules: &YearRules) -> Self {
        let mut bits = [0u64; 6];
        let mut set = |day: NaiveDate, on: bool| {
            if day.year() == year {
                let i = day.ordinal0() as usize;
                if on {
                    bits[i / 64] |= 1 << (i % 64)
                } else {
                    bits[i / 64] &= !(1 << (i % 64))
                }
            }
        };
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("a valid year");
        for day in first.iter_days().take_while(|d| d.year() == year) {
            set(day, is_weekday(day));
        }
        for block in &rules.holidays {
            for day in block.from.iter_days().take_while(|d| *d <= block.to) {
                set(day, false);
            }
        }
        for day in &rules.workdays {
            set(*day, true);
        }
        Self(bits)
    }

    fn is_working(&self, day: NaiveDate) -> bool {
        let i = day.ordinal0() as usize;
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
}

fn is_weekday(day: NaiveDate) -> bool {
    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
}

/// A computed due time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub at: DateTime<Utc>,
    /// The local calendar date the deadline falls on.
    pub local_date: NaiveDate,
    /// False when a year without a loaded calendar was counted (weekends only).
    pub calendar_complete: bool,
}

/// The calendar used for every computation: loaded years plus the local time zone.
#[derive(Debug, Clone)]
pub struct WorkingCalendar {
    tz: Tz,
    years: HashMap<i32, YearBits>,
    /// Per loaded year, the working seconds of its days before each day (by ordinal, one entry
    /// more than the year has days): working time over many days is a subtraction, not a walk
    /// (the follow-up queue shows how long clocks months overdue have been overdue).
    worked_before: HashMap<i32, Box<[i64]>>,
}

impl WorkingCalendar {
    pub fn new(tz: Tz, years: &[(i32, YearRules)]) -> Self {
        let mut calendar = Self {
            tz,
            years: years
                .iter()
                .map(|(year, rules)| (*year, YearBits::from_rules(*year, rules)))
                .collect(),
            worked_before: HashMap::new(),
        };
        let worked_before = calendar
            .years
            .iter()
            .map(|(year, bits)| (*year, calendar.cumulative_working_seconds(*year, bits)))
            .collect();
        calendar.worked_before = worked_before;
        calendar
    }

    /// Working seconds of `year`'s days before each day (each day as long as it is locally:
    /// 23 or 25 hours where the clocks change).
    fn cumulative_working_seconds(&self, year: i32, bits: &YearBits) -> Box<[i64]> {
        let first = NaiveDate::from_ymd_opt(year, 1, 1).expect("a valid year");
        let mut sums = vec![0i64];
        let mut total = 0i64;
        let mut begin = self.start_of(first);
        for day in first.iter_days().take_while(|d| d.year() == year) {
            let next = self.start_of(day.succ_opt().expect("dates stay in range"));
            if bits.is_working(day) {
                total += (next - begin).num_seconds();
            }
            sums.push(total);
            begin = next;
        }
        sums.into_boxed_slice()
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Whether `day` is worked, and whether a loaded calendar said so.
    pub fn is_working_day(&self, day: NaiveDate) -> (bool, bool) {
        match self.years.get(&day.year()) {
            Some(bits) => (bits.is_working(day), true),
            None => (is_weekday(day), false),
        }
    }

    pub fn local_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.tz).date_naive()
    }

    /// The instant a local date ends (23:59:59 local).
    fn end_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let local = day.and_time(NaiveTime::from_hms_opt(23, 59, 59).expect("a valid time"));
        self.tz
            .from_local_datetime(&local)
            .latest()
            .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// The instant a local date begins (00:00 local, or the first instant that exists).
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let mut local = day.and_time(NaiveTime::MIN);
        for _ in 0..4 {
            if let Some(t) = self.tz.from_local_datetime(&local).earliest() {
                return t.with_timezone(&Utc);
            }
            local += Duration::minutes(30); // inside a DST gap
        }
        local.and_utc()
    }

    /// "N working days from S": 23:59:59 local of the N-th working day after S's local date
    /// (S's own day does not count). N = 0 is the end of S's own day.
    pub fn add_working_days(&self, start: DateTime<Utc>, n: u32) -> Due {
        let mut day = self.local_date(start);
        let mut complete = true;
        let mut counted = 0;
        let mut cached: Option<(i32, Option<&YearBits>)> = None;
        while counted < n {
            day = day.succ_opt().expect("dates stay far from the end of time");
            let year = day.year();
            let bits = match cached {
                Some((y, bits)) if y == year => bits,
                _ => {
                    let bits = self.years.get(&year);
                    cached = Some((year, bits));
                    bits
                }
            };
            let working = match bits {
                Some(bits) => bits.is_working(day),
                None => {
                    complete = false;
                    is_weekday(day)
                }
            };
            if working {
                counted += 1;
            }
        }
        Due {
            at: self.end_of(day),
            local_date: day,
            calendar_complete: complete,
        }
    }

    /// "N hours" for urgent cases: calendar hours, every day counts.
    pub fn add_hours(&self, start: DateTime<Utc>, hours: u32) -> Due {
        let at = start + Duration::hours(i64::from(hours));
        Due {
            at,
            local_date: self.local_date(at),
            calendar_complete: true,
        }
    }

    /// Time between two instants that falls on working days (whole local days 00:00–24:00), and
    /// whether a loaded calendar covered every day involved. Zero when `to` is not after `from`.
    pub fn working_time_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> (Duration, bool) {
        if to <= from {
            return (Duration::zero(), true);
        }
        let (first, last) = (self.local_date(from), self.local_date(to));
        if (last - first).num_days() < 2 {
            return self.working_time_by_days(from, to);
        }
        // The two partial days by the walk, the whole days between from the per-year sums.
        let after_first = first.succ_opt().expect("dates stay in range");
        let (head, head_known) = self.working_time_by_days(from, self.start_of(after_first));
        let (tail, tail_known) = self.working_time_by_days(self.start_of(last), to);
        let (middle, middle_known) =
            self.whole_days(after_first, last.pred_opt().expect("dates stay in range"));
        (
            head + middle + tail,
            head_known && middle_known && tail_known,
        )
    }

    /// Working time of the whole local days `from..=to`.
    fn whole_days(&self, from: NaiveDate, to: NaiveDate) -> (Duration, bool) {
        let mut seconds = 0i64;
        let mut complete = true;
        for year in from.year()..=to.year() {
            let start = from.max(NaiveDate::from_ymd_opt(year, 1, 1).expect("a valid year"));
            let end = to.min(NaiveDate::from_ymd_opt(year, 12, 31).expect("a valid year"));
            match self.worked_before.get(&year) {
                Some(sums) => {
                    seconds += sums[end.ordinal0() as usize + 1] - sums[start.ordinal0() as usize];
                }
                None => {
                    let next = end.succ_opt().expect("dates stay in range");
                    let (walked, _) =
                        self.working_time_by_days(self.start_of(start), self.start_of(next));
                    seconds += walked.num_seconds();
                    complete = false;
                }
            }
        }
        (Duration::seconds(seconds), complete)
    }

    /// [`Self::working_time_between`] by walking the days one by one.
    fn working_time_by_days(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> (Duration, bool) {
        if to <= from {
            return (Duration::zero(), true);
        }
        let mut total = Duration::zero();
        let mut complete = true;
        let mut day = self.local_date(from);
        let last = self.local_date(to);
        loop {
            let (working, known) = self.is_working_day(day);
            complete &= known;
            if working {
                let next = day.succ_opt().expect("dates stay far from the end of time");
                let begin = self.start_of(day).max(from);
                let end = self.start_of(next).min(to);
                if end > begin {
                    total += end - begin;
                }
            }
            if day >= last {
                break;
            }
            day = day.succ_opt().expect("dates stay far from the end of time");
        }
        (total, complete)
    }

    /// The instant `amount` of working time before `end`: the inverse of
    /// [`Self::working_time_between`]. Stops at a year's worth of days (an amount no deadline
    /// comes near).
    pub fn working_time_before(&self, end: DateTime<Utc>, amount: Duration) -> DateTime<Utc> {
        let mut left = amount;
        let mut until = end;
        let mut day = self.local_date(end);
        for _ in 0..366 {
            let begin = self.start_of(day);
            if self.is_working_day(day).0 && until > begin {
                let here = until - begin;
                if here >= left {
                    return until - left;
                }
                left -= here;
            }
            until = begin.min(until);
            day = day
                .pred_opt()
                .expect("dates stay far from the beginning of time");
        }
        until
    }
}

#[cfg(test)]
mod tests;

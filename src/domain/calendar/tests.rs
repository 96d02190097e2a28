//! Hand-checked answers against the official 2025/2026 calendars, and exhaustive properties.

use super::*;
use chrono_tz::Asia::Shanghai;

fn calendar() -> WorkingCalendar {
    WorkingCalendar::new(Shanghai, &default_years())
}

/// A local Shanghai time as UTC.
fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn spring_festival_2026_with_its_make_up_saturdays() {
    // Fri 13 Feb 18:00 → Sat 14 (make-up, 1), 15–23 off, Tue 24 (2), 25 (3), 26 (4), Fri 27 (5).
    let due = calendar().add_working_days(local(2026, 2, 13, 18, 0), 5);
    assert_eq!(due.local_date, date(2026, 2, 27));
    assert_eq!(due.at, local(2026, 2, 27, 23, 59) + Duration::seconds(59));
    assert!(due.calendar_complete);
    // The second make-up Saturday, 28 Feb, is the 6th.
    assert_eq!(
        calendar()
            .add_working_days(local(2026, 2, 13, 18, 0), 6)
            .local_date,
        date(2026, 2, 28)
    );
}

#[test]
fn national_day_2026() {
    // Wed 30 Sep → 1–7 Oct off → Thu 8 Oct.
    assert_eq!(
        calendar()
            .add_working_days(local(2026, 9, 30, 10, 0), 1)
            .local_date,
        date(2026, 10, 8)
    );
}

#[test]
fn new_year_across_the_year_boundary() {
    // Wed 31 Dec 2025 → 1–3 Jan off, Sun 4 Jan make-up (1), Mon 5 (2), Tue 6 (3).
    let due = calendar().add_working_days(local(2025, 12, 31, 9, 0), 3);
    assert_eq!(due.local_date, date(2026, 1, 6));
    assert!(due.calendar_complete);
}

#[test]
fn into_a_year_without_a_calendar_counts_weekends_only_and_says_so() {
    // Mon 28 Dec 2026 → 29, 30, 31 (3), then 2027: Fri 1 Jan (4), Mon 4 … Fri 8 (9), Mon 11 (10).
    let due = calendar().add_working_days(local(2026, 12, 28, 9, 0), 10);
    assert_eq!(due.local_date, date(2027, 1, 11));
    assert!(!due.calendar_complete);
    // Staying inside 2026 is complete.
    assert!(
        calendar()
            .add_working_days(local(2026, 12, 28, 9, 0), 3)
            .calendar_complete
    );
}

#[test]
fn the_local_date_decides_not_the_utc_date() {
    // 20:00 UTC Monday is 04:00 Tuesday in Shanghai: counting starts after Tuesday.
    let start = Utc.with_ymd_and_hms(2026, 3, 2, 20, 0, 0).unwrap();
    assert_eq!(
        calendar().add_working_days(start, 1).local_date,
        date(2026, 3, 4)
    );
}

#[test]
fn urgent_cases_count_calendar_hours() {
    let due = calendar().add_hours(local(2026, 2, 16, 23, 30), 2);
    assert_eq!(
        due.at,
        local(2026, 2, 17, 1, 30),
        "through midnight and a holiday alike"
    );
    assert_eq!(due.local_date, date(2026, 2, 17));
}

#[test]
fn working_time_skips_weekends_and_holidays() {
    let cal = calendar();
    // Fri 12:00 → Mon 12:00: Friday's last 12 hours and Monday's first 12.
    let (time, complete) =
        cal.working_time_between(local(2026, 3, 6, 12, 0), local(2026, 3, 9, 12, 0));
    assert_eq!(time, Duration::hours(24));
    assert!(complete);
    // Wed 30 Sep 18:00 → Thu 8 Oct 09:00: 6 h of 30 Sep, nothing during the holiday, 9 h of 8 Oct.
    let (time, _) = cal.working_time_between(local(2026, 9, 30, 18, 0), local(2026, 10, 8, 9, 0));
    assert_eq!(time, Duration::hours(15));
    // Saturday 10 Oct is a make-up working day and counts.
    let (time, _) = cal.working_time_between(local(2026, 10, 10, 0, 0), local(2026, 10, 11, 0, 0));
    assert_eq!(time, Duration::hours(24));
    assert_eq!(
        cal.working_time_between(local(2026, 3, 9, 12, 0), local(2026, 3, 6, 12, 0))
            .0,
        Duration::zero()
    );
}

#[test]
fn single_days() {
    let cal = calendar();
    assert_eq!(
        cal.is_working_day(date(2026, 2, 14)),
        (true, true),
        "make-up Saturday"
    );
    assert_eq!(
        cal.is_working_day(date(2026, 2, 16)),
        (false, true),
        "Spring Festival Monday"
    );
    assert_eq!(
        cal.is_working_day(date(2026, 3, 7)),
        (false, true),
        "ordinary Saturday"
    );
    assert_eq!(
        cal.is_working_day(date(2027, 3, 8)),
        (true, false),
        "unknown year, Monday"
    );
}

/// Exhaustive over every start day of 2025–2026 and N up to 30: the N-th working day is a
/// working day, after the start, and strictly later for every larger N.
#[test]
fn the_nth_working_day_is_a_working_day_and_strictly_increasing() {
    let cal = calendar();
    for start_day in date(2025, 1, 1)
        .iter_days()
        .take_while(|d| d.year() <= 2026)
    {
        let start = local(start_day.year(), start_day.month(), start_day.day(), 15, 0);
        let mut previous = start_day;
        for n in 1..=30 {
            let due = cal.add_working_days(start, n);
            assert!(cal.is_working_day(due.local_date).0, "{start_day} + {n}");
            assert!(due.local_date > previous, "{start_day} + {n}");
            previous = due.local_date;
        }
    }
}

#[test]
fn validation_catches_bad_years() {
    let rules = YearRules {
        holidays: vec![
            HolidayBlock {
                name: "春节".into(),
                from: date(2026, 2, 15),
                to: date(2026, 2, 23),
            },
            HolidayBlock {
                name: "".into(),
                from: date(2026, 5, 5),
                to: date(2026, 5, 1),
            },
            HolidayBlock {
                name: "跨年".into(),
                from: date(2026, 12, 31),
                to: date(2027, 1, 1),
            },
        ],
        workdays: vec![
            date(2026, 2, 16),
            date(2025, 12, 28),
            date(2026, 2, 14),
            date(2026, 2, 14),
        ],
    };
    let fields: Vec<String> = rules.validate(2026).into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        [
            "holidays[1].to",
            "holidays[2].to",
            "workdays[0]",
            "workdays[1]",
            "workdays[3]"
        ]
    );
    // The names are the declared rules' to check (every field of the body at once).
    let declared = validator::Validate::validate(&rules).unwrap_err();
    let flattened = crate::extract::flatten_validation_errors(&declared);
    let names: Vec<&str> = flattened.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(names, ["holidays[1].name"]);
    for (year, rules) in default_years() {
        assert!(rules.validate(year).is_empty(), "{year}");
    }
}

#[test]
fn working_time_before_walks_back_over_weekends_and_holidays() {
    let cal = calendar();
    // Monday 00:30 back one working hour: Friday 23:30 (the weekend counts nothing).
    assert_eq!(
        cal.working_time_before(local(2026, 11, 23, 0, 30), Duration::hours(1)),
        local(2026, 11, 20, 23, 30)
    );
    // Thursday 8 October 2026, 06:00, back 10 hours: over the National Day holiday (1–7
    // October) into Wednesday 30 September, 20:00.
    assert_eq!(
        cal.working_time_before(local(2026, 10, 8, 6, 0), Duration::hours(10)),
        local(2026, 9, 30, 20, 0)
    );
    // It inverts working_time_between.
    let end = local(2026, 2, 24, 15, 0);
    for hours in [1, 9, 15, 40, 100, 300] {
        let from = cal.working_time_before(end, Duration::hours(hours));
        assert_eq!(
            cal.working_time_between(from, end).0,
            Duration::hours(hours)
        );
    }
}

/// Whole days from the per-year sums give what walking every day gives: across years with and
/// without a loaded calendar, in a zone without clock changes and in one with them.
#[test]
fn working_time_over_many_days_is_the_walk_of_every_day() {
    let years = default_years();
    for tz in [chrono_tz::Asia::Shanghai, chrono_tz::Europe::Berlin] {
        let calendar = WorkingCalendar::new(tz, &years);
        let mut rng = fastrand::Rng::with_seed(11);
        let base = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
        for _ in 0..2_000 {
            let from = base + Duration::seconds(rng.i64(0..3 * 365 * 86_400));
            let to = from + Duration::seconds(rng.i64(0..400 * 86_400));
            assert_eq!(
                calendar.working_time_between(from, to),
                calendar.working_time_by_days(from, to),
                "{tz} {from} .. {to}"
            );
        }
    }
}

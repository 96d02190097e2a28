//! Plain timing benchmark (`cargo bench --bench deadlines`): computes 1,000,000 "N working days
//! from S" deadlines over the shipped calendars, as the deadline sweep and dispatch do, and reports
//! the rate. The floor: under one second for the million.

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use hotline::domain::calendar::{WorkingCalendar, default_years};

fn main() {
    let calendar = WorkingCalendar::new(chrono_tz::Asia::Shanghai, &default_years());
    let first = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    // Starts spread over both years at odd minutes; periods of 1 to 15 working days, like the policy.
    let starts: Vec<_> = (0..1_000_000i64)
        .map(|i| {
            (
                first + Duration::minutes(i * 7 % 1_051_200),
                (i % 15) as u32 + 1,
            )
        })
        .collect();

    let mut best = f64::MAX;
    for round in 1..=3 {
        let started = Instant::now();
        let mut checksum = 0i64;
        for (start, days) in &starts {
            checksum = checksum.wrapping_add(
                black_box(calendar.add_working_days(*start, *days))
                    .at
                    .timestamp(),
            );
        }
        let secs = started.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "round {round}: 1,000,000 deadlines in {:.3} s ({:.0} ns each, checksum {checksum})",
            secs,
            secs * 1e3
        );
    }
    println!("best: {best:.3} s for 1,000,000 deadlines (floor: 1 s)");
    assert!(best < 1.0, "slower than the floor");
}

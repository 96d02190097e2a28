//! The public report's periods (SPEC 6: the seeds require a report to the public per year): a
//! calendar year, or one month of it. Pure.

use chrono::{Datelike, NaiveDate};

use super::statistics::Period;

/// The first year a report can be asked for.
pub const FIRST_YEAR: i32 = 2000;

/// A year, or a month of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportPeriod {
    pub year: i32,
    pub month: Option<u32>,
}

impl ReportPeriod {
    /// A year from 2000 to next year (the year after `today`'s; further ahead is a mistake, not a
    /// plan), and a month from 1 to 12.
    pub fn parse(year: i32, month: Option<u32>, today: NaiveDate) -> Result<Self, String> {
        let last = today.year() + 1;
        if !(FIRST_YEAR..=last).contains(&year) {
            return Err(format!("year is from {FIRST_YEAR} to {last}"));
        }
        if month.is_some_and(|m| !(1..=12).contains(&m)) {
            return Err("month is from 1 to 12".into());
        }
        Ok(ReportPeriod { year, month })
    }

    /// The local dates the report covers.
    pub fn period(self) -> Period {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("a checked year and month");
        let (from, to) = match self.month {
            None => (day(self.year, 1, 1), day(self.year, 12, 31)),
            Some(month) => {
                let from = day(self.year, month, 1);
                let next = from
                    .checked_add_months(chrono::Months::new(1))
                    .expect("a checked year");
                (from, next.pred_opt().expect("a checked year"))
            }
        };
        Period { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn years_from_2000_to_next_year_and_months_1_to_12() {
        let today = date(2026, 11, 30);
        assert!(ReportPeriod::parse(1999, None, today).is_err());
        assert!(ReportPeriod::parse(2000, None, today).is_ok());
        assert!(ReportPeriod::parse(2027, Some(12), today).is_ok());
        assert!(ReportPeriod::parse(2028, None, today).is_err());
        assert!(ReportPeriod::parse(2026, Some(0), today).is_err());
        assert!(ReportPeriod::parse(2026, Some(13), today).is_err());
    }

    #[test]
    fn a_year_or_a_month_of_local_dates() {
        let today = date(2026, 11, 30);
        let year = ReportPeriod::parse(2024, None, today).unwrap().period();
        assert_eq!((year.from, year.to), (date(2024, 1, 1), date(2024, 12, 31)));
        let february = ReportPeriod::parse(2024, Some(2), today).unwrap().period();
        assert_eq!(
            (february.from, february.to),
            (date(2024, 2, 1), date(2024, 2, 29))
        );
        let december = ReportPeriod::parse(2026, Some(12), today).unwrap().period();
        assert_eq!(december.to, date(2026, 12, 31));
    }
}

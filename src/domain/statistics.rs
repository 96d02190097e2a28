//! Department performance (SPEC 6, 接诉即办考核): rates with their numerators and denominators, the
//! composite score with admin-set weights, ranking, medians, and the periods and intervals the
//! figures are counted over. Pure arithmetic; the counting itself is the database layer's.

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A share: `numerator` of `denominator`, from 0 to 1; `None` when nothing was counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rate {
    pub numerator: i64,
    pub denominator: i64,
}

impl Rate {
    pub fn new(numerator: i64, denominator: i64) -> Self {
        Rate {
            numerator,
            denominator,
        }
    }

    pub fn value(self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64)
    }
}

/// The four rates a department is scored on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FourRates {
    /// 响应率: signed on time / due to be signed.
    pub response: Rate,
    /// 按时办结率: replied on time / replies due.
    pub on_time: Rate,
    /// 解决率: resolved `yes` / reached follow-ups.
    pub resolution: Rate,
    /// 满意率: satisfied or basically satisfied / reached follow-ups.
    pub satisfaction: Rate,
}

/// The composite score's weights, in percent (default 10 / 20 / 35 / 35).
#[derive(
    Debug, Clone, Copy, PartialEq, Serialize, eserde::Deserialize, ToSchema, validator::Validate,
)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Weight of the response rate (响应率).
    #[validate(range(min = 0.0, max = 100.0))]
    #[schema(minimum = 0, maximum = 100)]
    pub response: f64,
    /// Weight of the on-time rate (按时办结率).
    #[validate(range(min = 0.0, max = 100.0))]
    #[schema(minimum = 0, maximum = 100)]
    pub on_time: f64,
    /// Weight of the resolution rate (解决率).
    #[validate(range(min = 0.0, max = 100.0))]
    #[schema(minimum = 0, maximum = 100)]
    pub resolution: f64,
    /// Weight of the satisfaction rate (满意率).
    #[validate(range(min = 0.0, max = 100.0))]
    #[schema(minimum = 0, maximum = 100)]
    pub satisfaction: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            response: 10.0,
            on_time: 20.0,
            resolution: 35.0,
            satisfaction: 35.0,
        }
    }
}

impl Weights {
    /// Weights are non-negative, finite, and not all zero; they need not sum to 100 (they are
    /// scaled).
    pub fn check(&self) -> Result<(), &'static str> {
        let all = [
            self.response,
            self.on_time,
            self.resolution,
            self.satisfaction,
        ];
        if all.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err("weights are numbers of 0 or more");
        }
        if all.iter().sum::<f64>() <= 0.0 {
            return Err("at least one weight must be above 0");
        }
        Ok(())
    }
}

/// Σ weight × rate × 100 over the rates that have a denominator, the weights of the others
/// scaled away so that the used ones sum to 100 %. `None` when no rate has a denominator (or no
/// used rate has weight).
pub fn composite(rates: &FourRates, weights: &Weights) -> Option<f64> {
    let pairs = [
        (rates.response.value(), weights.response),
        (rates.on_time.value(), weights.on_time),
        (rates.resolution.value(), weights.resolution),
        (rates.satisfaction.value(), weights.satisfaction),
    ];
    let used: f64 = pairs
        .iter()
        .filter(|(rate, _)| rate.is_some())
        .map(|(_, w)| w)
        .sum();
    if used <= 0.0 {
        return None;
    }
    let score: f64 = pairs
        .iter()
        .filter_map(|(rate, w)| rate.map(|r| r * w))
        .sum();
    Some(score / used * 100.0)
}

/// Competition ranking by score, highest first: ties share a rank and the next rank skips
/// (1, 2, 2, 4). Scores within a millionth count as tied; `None` scores get no rank.
pub fn rank(scores: &[Option<f64>]) -> Vec<Option<u32>> {
    const TIE: f64 = 1e-6;
    scores
        .iter()
        .map(|score| {
            score.map(|own| {
                1 + scores
                    .iter()
                    .flatten()
                    .filter(|other| **other > own + TIE)
                    .count() as u32
            })
        })
        .collect()
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

/// A range of local dates, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

/// The longest period one request may ask for.
pub const MAX_PERIOD_DAYS: i64 = 366 * 10 + 3;

impl Period {
    pub fn parse(from: NaiveDate, to: NaiveDate) -> Result<Self, &'static str> {
        if from > to {
            return Err("`from` is after `to`");
        }
        if (to - from).num_days() >= MAX_PERIOD_DAYS {
            return Err("a period spans at most ten years");
        }
        Ok(Period { from, to })
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    /// The period of equal length just before this one (for rises against the previous period).
    pub fn previous(&self) -> Period {
        let length = Duration::days(self.days());
        Period {
            from: self.from - length,
            to: self.to - length,
        }
    }
}

/// How trends are bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Day,
    /// ISO weeks (Monday to Sunday), named by their Monday.
    Week,
    Month,
}

impl Interval {
    /// The first day of the bucket `day` falls in.
    pub fn bucket(self, day: NaiveDate) -> NaiveDate {
        match self {
            Interval::Day => day,
            Interval::Week => day - Duration::days(i64::from(day.weekday().num_days_from_monday())),
            Interval::Month => day.with_day(1).expect("every month has a first day"),
        }
    }

    /// Every bucket that meets `period`, in order: what a zero-filled series is made of.
    pub fn buckets(self, period: Period) -> Vec<NaiveDate> {
        let mut buckets = Vec::new();
        let mut start = self.bucket(period.from);
        while start <= period.to {
            buckets.push(start);
            start = match self {
                Interval::Day => start + Duration::days(1),
                Interval::Week => start + Duration::days(7),
                Interval::Month => start
                    .checked_add_months(chrono::Months::new(1))
                    .expect("dates stay in range"),
            };
        }
        buckets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(r: (i64, i64), o: (i64, i64), s: (i64, i64), t: (i64, i64)) -> FourRates {
        FourRates {
            response: Rate::new(r.0, r.1),
            on_time: Rate::new(o.0, o.1),
            resolution: Rate::new(s.0, s.1),
            satisfaction: Rate::new(t.0, t.1),
        }
    }

    #[test]
    fn a_rate_without_a_denominator_is_none() {
        assert_eq!(Rate::new(0, 0).value(), None);
        assert_eq!(Rate::new(3, 4).value(), Some(0.75));
    }

    #[test]
    fn the_composite_weighs_the_rates_and_scales_away_empty_ones() {
        let weights = Weights::default();
        let all = rates((9, 10), (8, 10), (7, 10), (19, 20));
        let expected = 10.0 * 0.9 + 20.0 * 0.8 + 35.0 * 0.7 + 35.0 * 0.95;
        assert!((composite(&all, &weights).unwrap() - expected).abs() < 1e-9);
        // No follow-ups: resolution and satisfaction are left out; response and on-time carry
        // 10 and 20 scaled to 100 %.
        let no_follow_ups = rates((9, 10), (8, 10), (0, 0), (0, 0));
        let expected = (10.0 * 0.9 + 20.0 * 0.8) / 30.0 * 100.0;
        assert!((composite(&no_follow_ups, &weights).unwrap() - expected).abs() < 1e-9);
        assert_eq!(composite(&FourRates::default(), &weights), None);
        let custom = Weights {
            response: 0.0,
            on_time: 0.0,
            resolution: 50.0,
            satisfaction: 50.0,
        };
        assert!((composite(&all, &custom).unwrap() - 82.5).abs() < 1e-9);
        assert_eq!(composite(&no_follow_ups, &custom), None);
    }

    #[test]
    fn weights_are_checked() {
        assert!(Weights::default().check().is_ok());
        for response in [-1.0, f64::NAN] {
            let w = Weights {
                response,
                ..Weights::default()
            };
            assert!(w.check().is_err());
        }
        let zero = Weights {
            response: 0.0,
            on_time: 0.0,
            resolution: 0.0,
            satisfaction: 0.0,
        };
        assert!(zero.check().is_err());
    }

    #[test]
    fn ties_share_a_rank_and_the_next_skips() {
        assert_eq!(
            rank(&[Some(80.0), Some(90.0), Some(80.0), None, Some(70.0)]),
            [Some(2), Some(1), Some(2), None, Some(4)]
        );
        assert_eq!(rank(&[]), Vec::<Option<u32>>::new());
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn periods_and_buckets() {
        let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap();
        assert!(Period::parse(day(2, 1), day(1, 1)).is_err());
        let january = Period::parse(day(1, 1), day(1, 31)).unwrap();
        assert_eq!(january.days(), 31);
        assert_eq!(
            january.previous(),
            Period {
                from: NaiveDate::from_ymd_opt(2025, 12, 1).unwrap(),
                to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap()
            }
        );
        // 2026-01-01 is a Thursday: its ISO week starts on Monday 2025-12-29.
        let weeks = Interval::Week.buckets(january);
        assert_eq!(
            weeks.first(),
            Some(&NaiveDate::from_ymd_opt(2025, 12, 29).unwrap())
        );
        assert_eq!(weeks.len(), 5);
        assert_eq!(
            Interval::Month
                .buckets(Period::parse(day(1, 15), day(3, 1)).unwrap())
                .len(),
            3
        );
        assert_eq!(Interval::Day.buckets(january).len(), 31);
    }
}

//! Handling times (working minutes from dispatch to reply) kept for the median (SPEC 6) as
//! counts per bucket, not one value per reply: a day row of a busy department holds a few hundred
//! buckets however many replies it counts, so a year's department table reads the same few
//! megabytes at 10 million cases as at one million (the exact values grew with the cases: a year
//! of them was most of the table's bytes and time).
//!
//! Buckets are log-linear: exact to the minute below 128 minutes, then 64 buckets per doubling
//! (each at most 1/64 of its values wide). A median is reported at its bucket's middle, within
//! 0.8 % of the exact one (and exact below 128 minutes). `hdrhistogram` has these buckets but not
//! the taking back of one value nor a sparse encoding small enough for a day row.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Buckets per doubling above the exact range; the exact range is twice as many minutes.
const PER_DOUBLING: u32 = 64;
const EXACT_BELOW: u32 = 2 * PER_DOUBLING;
/// log2 of [`PER_DOUBLING`].
const SUB_BITS: u32 = PER_DOUBLING.trailing_zeros();

/// The bucket of `minutes`.
pub fn bucket(minutes: u32) -> u16 {
    if minutes < EXACT_BELOW {
        return minutes as u16;
    }
    let exponent = 31 - minutes.leading_zeros(); // >= SUB_BITS + 1
    let shift = exponent - SUB_BITS;
    let sub = (minutes >> shift) - PER_DOUBLING; // 0..PER_DOUBLING
    (EXACT_BELOW + (exponent - SUB_BITS - 1) * PER_DOUBLING + sub) as u16
}

/// The bucket of the largest time, `u32::MAX` minutes: none is above it.
const LAST_BUCKET: u16 = (EXACT_BELOW + (31 - SUB_BITS) * PER_DOUBLING - 1) as u16;

/// The smallest value of a bucket and how many minutes it spans.
fn bounds(bucket: u16) -> (u32, u32) {
    let bucket = u32::from(bucket);
    if bucket < EXACT_BELOW {
        return (bucket, 1);
    }
    let above = bucket - EXACT_BELOW;
    let shift = above / PER_DOUBLING + 1;
    let sub = above % PER_DOUBLING;
    ((PER_DOUBLING + sub) << shift, 1 << shift)
}

/// The value a bucket stands for: its middle (the value itself where it is exact).
pub fn representative(bucket: u16) -> f64 {
    let (low, width) = bounds(bucket);
    f64::from(low) + f64::from(width - 1) / 2.0
}

/// Counts per bucket, sorted by bucket, no zero counts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandlingTimes {
    buckets: Vec<(u16, u32)>,
}

impl HandlingTimes {
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// How many handling times are counted.
    pub fn len(&self) -> u64 {
        self.buckets.iter().map(|&(_, n)| u64::from(n)).sum()
    }

    pub fn record(&mut self, minutes: u32) {
        let b = bucket(minutes);
        match self.buckets.binary_search_by_key(&b, |&(b, _)| b) {
            Ok(at) => self.buckets[at].1 += 1,
            Err(at) => self.buckets.insert(at, (b, 1)),
        }
    }

    /// Takes back one handling time of `minutes` (nothing if none is counted).
    pub fn take_back(&mut self, minutes: u32) {
        if let Ok(at) = self
            .buckets
            .binary_search_by_key(&bucket(minutes), |&(b, _)| b)
        {
            self.buckets[at].1 -= 1;
            if self.buckets[at].1 == 0 {
                self.buckets.remove(at);
            }
        }
    }

    pub fn add(&mut self, other: &HandlingTimes) {
        let mut merged = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut mine, mut theirs) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        while let (Some(&&(a, m)), Some(&&(b, n))) = (mine.peek(), theirs.peek()) {
            merged.push(
                match a.cmp(&b) {
                    std::cmp::Ordering::Less => mine.next().copied(),
                    std::cmp::Ordering::Greater => theirs.next().copied(),
                    std::cmp::Ordering::Equal => {
                        mine.next();
                        theirs.next();
                        Some((a, m + n))
                    }
                }
                .expect("peeked"),
            );
        }
        merged.extend(mine.chain(theirs).copied());
        self.buckets = merged;
    }
}

/// A period's handling times: counts indexed by bucket (adding a year of day rows is an
/// addition per bucket).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodHandling {
    counts: Vec<u64>,
}

impl PeriodHandling {
    pub fn add(&mut self, day: &HandlingTimes) {
        for &(b, n) in &day.buckets {
            let b = usize::from(b);
            if b >= self.counts.len() {
                self.counts.resize(b + 1, 0);
            }
            self.counts[b] += u64::from(n);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&n| n == 0)
    }

    /// The median in minutes: the middle value, or the mean of the middle two, each at its
    /// bucket's middle.
    pub fn median_minutes(&self) -> Option<f64> {
        let n: u64 = self.counts.iter().sum();
        if n == 0 {
            return None;
        }
        let at_rank = |rank: u64| {
            let mut seen = 0;
            for (b, &count) in self.counts.iter().enumerate() {
                seen += count;
                if seen > rank {
                    return representative(b as u16);
                }
            }
            unreachable!("rank below the total")
        };
        Some(if n % 2 == 1 {
            at_rank(n / 2)
        } else {
            (at_rank(n / 2 - 1) + at_rank(n / 2)) / 2.0
        })
    }
}

/// Stored as (bucket distance from the one before, count) pairs: postcard writes each as one or
/// two varint bytes.
impl Serialize for HandlingTimes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut before = 0;
        let deltas: Vec<(u16, u32)> = self
            .buckets
            .iter()
            .map(|&(b, n)| {
                let delta = b - before;
                before = b;
                (delta, n)
            })
            .collect();
        deltas.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for HandlingTimes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let deltas = Vec::<(u16, u32)>::deserialize(deserializer)?;
        let mut at: u16 = 0;
        let mut buckets = Vec::with_capacity(deltas.len());
        for (i, (delta, n)) in deltas.into_iter().enumerate() {
            at = at
                .checked_add(delta)
                .filter(|_| i == 0 || delta > 0)
                .ok_or_else(|| serde::de::Error::custom("handling buckets out of order"))?;
            if at > LAST_BUCKET {
                return Err(serde::de::Error::custom("no such handling bucket"));
            }
            if n == 0 {
                return Err(serde::de::Error::custom("an empty handling bucket"));
            }
            buckets.push((at, n));
        }
        Ok(HandlingTimes { buckets })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_exact_below_128_minutes_and_within_a_64th_above() {
        for minutes in 0..128 {
            assert_eq!(representative(bucket(minutes)), f64::from(minutes));
        }
        let mut last = bucket(127);
        for minutes in (128..5_000_000u32).chain([u32::MAX - 1, u32::MAX]) {
            let b = bucket(minutes);
            if minutes < 5_000_000 {
                assert!(
                    b == last || b == last + 1,
                    "buckets follow each other at {minutes}"
                );
            }
            last = b;
            let (low, width) = bounds(b);
            assert!(width <= low / 64, "{minutes}: {width} wide from {low}");
            let (low, width) = (u64::from(low), u64::from(width));
            assert!((low..low + width).contains(&u64::from(minutes)));
            let error = (representative(b) - f64::from(minutes)).abs() / f64::from(minutes);
            assert!(error <= 1.0 / 128.0, "{minutes}: off by {error}");
        }
    }

    #[test]
    fn recorded_times_can_be_taken_back() {
        let mut times = HandlingTimes::default();
        for m in [90, 90, 5000, 5001, 12] {
            times.record(m);
        }
        assert_eq!(times.len(), 5);
        times.take_back(90);
        times.take_back(7); // never counted
        times.take_back(5001);
        assert_eq!(times.len(), 3);
        for m in [90, 5000, 12] {
            times.take_back(m);
        }
        assert!(times.is_empty());
    }

    #[test]
    fn adding_merges_buckets() {
        let (mut a, mut b) = (HandlingTimes::default(), HandlingTimes::default());
        for m in [1, 300, 300, 9000] {
            a.record(m);
        }
        for m in [2, 300, 20000] {
            b.record(m);
        }
        let mut one = HandlingTimes::default();
        for m in [1, 300, 300, 9000, 2, 300, 20000] {
            one.record(m);
        }
        a.add(&b);
        assert_eq!(a, one);
    }

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_middle_two() {
        let mut times = HandlingTimes::default();
        let median = |t: &HandlingTimes| {
            let mut period = PeriodHandling::default();
            period.add(t);
            period.median_minutes()
        };
        assert_eq!(median(&times), None);
        for m in [100, 20, 60] {
            times.record(m);
        }
        assert_eq!(median(&times), Some(60.0));
        times.record(120);
        assert_eq!(median(&times), Some(80.0));
        // Above the exact range: within 0.8 % of the exact median.
        let mut large = HandlingTimes::default();
        for m in [4000, 4321, 9999] {
            large.record(m);
        }
        let got = median(&large).expect("a median");
        assert!((got - 4321.0).abs() / 4321.0 <= 1.0 / 128.0, "{got}");
    }

    #[test]
    fn the_encoding_round_trips_and_refuses_disorder() {
        let mut times = HandlingTimes::default();
        for m in [0, 3, 3, 700, 65_000, 4_000_000] {
            times.record(m);
        }
        let bytes = postcard::to_stdvec(&times).expect("encodes");
        assert_eq!(
            postcard::from_bytes::<HandlingTimes>(&bytes).ok(),
            Some(times)
        );
        let disordered = postcard::to_stdvec(&vec![(5u16, 1u32), (0, 1)]).expect("encodes");
        assert!(postcard::from_bytes::<HandlingTimes>(&disordered).is_err());
        let empty = postcard::to_stdvec(&vec![(5u16, 0u32)]).expect("encodes");
        assert!(postcard::from_bytes::<HandlingTimes>(&empty).is_err());
        assert_eq!(bucket(u32::MAX), LAST_BUCKET);
        let beyond = postcard::to_stdvec(&vec![(LAST_BUCKET + 1, 1u32)]).expect("encodes");
        assert!(postcard::from_bytes::<HandlingTimes>(&beyond).is_err());
        let last = postcard::to_stdvec(&vec![(LAST_BUCKET, 1u32)]).expect("encodes");
        assert!(postcard::from_bytes::<HandlingTimes>(&last).is_ok());
    }
}

//! Hot spots (SPEC 6, 热点): the keys whose registrations rose most against the previous period,
//! and clusters of similar cases — the same category at the same place within a short interval,
//! the common problems (共性问题) the centre should fix at the root rather than case by case.
//! Pure rules; the service feeds them figures and registrations.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use smallvec::SmallVec;

use super::ids::{CategoryId, DepartmentId};
use super::place::{NEAR, Place};

/// A key's registrations in a period against the period of equal length before it.
#[derive(Debug, Clone, PartialEq)]
pub struct Rise<K> {
    pub key: K,
    pub current: i64,
    pub previous: i64,
    /// `current - previous`.
    pub rise: i64,
    /// `rise / previous`; `None` when there was nothing before (a rise from nothing).
    pub relative_rise: Option<f64>,
}

/// The keys that rose: at least `min_count` registrations now (so that 1 → 3 does not top the
/// list) and more than before; by absolute rise, then relative rise (a rise from nothing first),
/// then key; at most `limit`.
pub fn rising<K: Ord + Clone>(
    current: &BTreeMap<K, i64>,
    previous: &BTreeMap<K, i64>,
    min_count: i64,
    limit: usize,
) -> Vec<Rise<K>> {
    let mut rises: Vec<Rise<K>> = current
        .iter()
        .filter(|(_, now)| **now >= min_count)
        .filter_map(|(key, &now)| {
            let before = previous.get(key).copied().unwrap_or(0);
            let rise = now - before;
            (rise > 0).then(|| Rise {
                key: key.clone(),
                current: now,
                previous: before,
                rise,
                relative_rise: (before > 0).then(|| rise as f64 / before as f64),
            })
        })
        .collect();
    rises.sort_by(|a, b| {
        b.rise
            .cmp(&a.rise)
            .then_with(|| relative_desc(a.relative_rise, b.relative_rise))
            .then_with(|| a.key.cmp(&b.key))
    });
    rises.truncate(limit);
    rises
}

/// Larger relative rises first; a rise from nothing (`None`) before any other.
fn relative_desc(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => b.total_cmp(&a),
    }
}

/// When similar cases make a cluster.
#[derive(Debug, Clone, Copy)]
pub struct ClusterRule {
    /// Each case of a cluster registered at most this long after the one before it.
    pub window: Duration,
    /// The fewest cases a cluster has.
    pub min_cases: usize,
}

/// How many case numbers a cluster shows (its first ones).
pub const CASE_NUMBERS_SHOWN: usize = 5;

/// One registered case as clustering reads it: never its text, never who raised it.
#[derive(Debug, Clone)]
/// `C` names the case (its id; its number in tests).
pub struct Registration<C> {
    pub case: C,
    pub category: CategoryId,
    pub district: Option<DepartmentId>,
    /// The address's key ([`super::place::address_key`]): equal keys, the same address.
    pub address_key: Option<i64>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub at: DateTime<Utc>,
}

impl<C> Registration<C> {
    /// Whether anything finer than the district is known.
    fn has_spot(&self) -> bool {
        self.address_key.is_some() || (self.latitude.is_some() && self.longitude.is_some())
    }
}

/// Cases of one category and district at one place, each registered within the rule's window of
/// the one before.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster<C> {
    pub category: CategoryId,
    pub district: Option<DepartmentId>,
    pub case_count: usize,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    /// The first [`CASE_NUMBERS_SHOWN`], in registration order.
    pub cases: Vec<C>,
}

/// A cluster still taking cases, with the place of its first case: later cases join when they
/// are at the same spot as that one (so a cluster cannot creep across the city 500 m at a time).
/// Its category and district are its group's.
#[derive(Debug)]
struct Open<C> {
    anchor: Anchor,
    case_count: usize,
    first_at: DateTime<Utc>,
    last_at: DateTime<Utc>,
    /// Inline: most clusters stay one case and never allocate.
    cases: SmallVec<[C; CASE_NUMBERS_SHOWN]>,
}

/// A place in a group's list: a cluster while it is open, and the link of its cell's chain even
/// after it closed (until the next compaction), so that the chain stays whole.
#[derive(Debug)]
struct Slot<C> {
    open: Option<Open<C>>,
    /// The slot opened before this one in the same grid cell ([`NO_SLOT`]: none).
    next_in_cell: usize,
}

const NO_SLOT: usize = usize::MAX;

/// Maps of the clustering's hot loop: a fast hash (the keys are not chosen by clients, and a
/// collision costs only a comparison).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// Where a cluster's first case was.
#[derive(Debug)]
struct Anchor {
    address_key: Option<i64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

impl Anchor {
    /// Whether `case` is at this anchor's spot, by [`Place::same_spot`]: the same address (key)
    /// or near.
    fn same_spot<C>(&self, case: &Registration<C>) -> bool {
        let same_address = self.address_key.is_some() && self.address_key == case.address_key;
        let point = |latitude, longitude| Place {
            latitude,
            longitude,
            ..Place::default()
        };
        same_address
            || point(self.latitude, self.longitude).same_spot(&point(case.latitude, case.longitude))
    }
}

/// Groups registrations, fed in registration order, into clusters.
///
/// Cases are grouped by category and district (a case without a category is in no cluster);
/// within a group a case joins the open cluster whose first case is at the same spot
/// ([`Place::same_spot`]: the same address or within about 500 m) and whose last case is at
/// most the window before it (the most recent such cluster if several), or opens a cluster of
/// its own. A case with no spot finer than its district is in no cluster: a whole district is
/// not a place. Runs of fewer than `min_cases` are dropped.
#[derive(Debug)]
pub struct Clusters<C> {
    rule: ClusterRule,
    open: FastMap<(CategoryId, Option<DepartmentId>), Group<C>>,
    done: Vec<Cluster<C>>,
    /// The candidates of the case being placed (kept: one allocation, not one per case).
    candidates: Vec<usize>,
}

/// The open clusters of one category and district, found by their first case's address key and
/// by the grid cell of its point (cells as wide as "near", so a case looks in the nine around
/// its own): a busy group has hundreds open at once, and a case is compared with the few that
/// could be at its spot. An address has at most one open cluster (a case there always matches
/// it), so the address map keeps the latest slot; a cell chains its slots through the slots
/// themselves, so that opening a cluster allocates nothing. Clusters that ended are dropped when
/// met, and all of them every so often, so the slots hold about what is open.
#[derive(Debug)]
struct Group<C> {
    category: CategoryId,
    district: Option<DepartmentId>,
    slots: Vec<Slot<C>>,
    by_address: FastMap<i64, usize>,
    /// The latest slot of each cell, the head of its chain.
    by_cell: FastMap<(i64, i64), usize>,
    /// Pushes since the ended clusters were last all taken out.
    since_compaction: usize,
}

fn cell_of(latitude: f64, longitude: f64) -> (i64, i64) {
    (
        (latitude / NEAR).floor() as i64,
        (longitude / NEAR).floor() as i64,
    )
}

impl<C> Group<C> {
    fn new(category: CategoryId, district: Option<DepartmentId>) -> Self {
        Group {
            category,
            district,
            slots: Vec::new(),
            by_address: FastMap::default(),
            by_cell: FastMap::default(),
            since_compaction: 0,
        }
    }

    fn cluster(&self, open: Open<C>) -> Cluster<C> {
        Cluster {
            category: self.category,
            district: self.district,
            case_count: open.case_count,
            first_at: open.first_at,
            last_at: open.last_at,
            cases: open.cases.into_vec(),
        }
    }

    fn index(&mut self, slot: usize) {
        let Slot {
            open: Some(open),
            next_in_cell,
        } = &mut self.slots[slot]
        else {
            return;
        };
        if let Some(key) = open.anchor.address_key {
            self.by_address.insert(key, slot);
        }
        *next_in_cell = NO_SLOT;
        if let (Some(lat), Some(lon)) = (open.anchor.latitude, open.anchor.longitude) {
            let head = self.by_cell.entry(cell_of(lat, lon)).or_insert(NO_SLOT);
            *next_in_cell = std::mem::replace(head, slot);
        }
    }

    /// Takes the cluster in `slot` out if it ended before `cutoff`, into `done` if it is large
    /// enough; whether it is (still) open. An ended slot keeps its place in its cell's chain
    /// (as `None`) until the next compaction.
    fn close_if_ended(
        &mut self,
        slot: usize,
        cutoff: DateTime<Utc>,
        min_cases: usize,
        done: &mut Vec<Cluster<C>>,
    ) -> bool {
        match &self.slots[slot].open {
            None => false,
            Some(open) if open.last_at >= cutoff => true,
            Some(_) => {
                let open = self.slots[slot].open.take().expect("checked above");
                if open.case_count >= min_cases {
                    done.push(self.cluster(open));
                }
                false
            }
        }
    }

    /// Takes every ended cluster out and renumbers the slots, once as many cases came as
    /// there were slots (so the work is spread over the cases).
    fn compact(&mut self, cutoff: DateTime<Utc>, min_cases: usize, done: &mut Vec<Cluster<C>>) {
        self.since_compaction += 1;
        if self.since_compaction < self.slots.len().max(64) {
            return;
        }
        self.since_compaction = 0;
        for slot in 0..self.slots.len() {
            self.close_if_ended(slot, cutoff, min_cases, done);
        }
        self.slots.retain(|slot| slot.open.is_some());
        self.by_address.clear();
        self.by_cell.clear();
        for slot in 0..self.slots.len() {
            self.index(slot);
        }
    }

    /// Puts in `found` the slots of the open clusters that could be at `case`'s spot (with
    /// repeats; ended ones too, which the caller closes).
    fn candidates(&self, case: &Registration<C>, found: &mut Vec<usize>) {
        found.clear();
        if let Some(&slot) = case.address_key.and_then(|k| self.by_address.get(&k)) {
            found.push(slot);
        }
        if let (Some(lat), Some(lon)) = (case.latitude, case.longitude) {
            let (row, column) = cell_of(lat, lon);
            for r in row - 1..=row + 1 {
                for c in column - 1..=column + 1 {
                    let mut slot = self.by_cell.get(&(r, c)).copied().unwrap_or(NO_SLOT);
                    while slot != NO_SLOT {
                        found.push(slot);
                        slot = self.slots[slot].next_in_cell;
                    }
                }
            }
        }
    }
}

impl<C: Ord> Clusters<C> {
    pub fn new(rule: ClusterRule) -> Self {
        Clusters {
            rule,
            open: FastMap::default(),
            done: Vec::new(),
            candidates: Vec::new(),
        }
    }

    /// Takes the next case; cases come in registration order.
    pub fn push(&mut self, case: Registration<C>) {
        if !case.has_spot() {
            return;
        }
        let group = self
            .open
            .entry((case.category, case.district))
            .or_insert_with(|| Group::new(case.category, case.district));
        let cutoff = case.at - self.rule.window;
        let (done, min_cases) = (&mut self.done, self.rule.min_cases);
        group.compact(cutoff, min_cases, done);
        // The most recent cluster at the spot; of two as recent, the one opened later (slots
        // keep the order clusters were opened in).
        let mut joined: Option<usize> = None;
        let mut found = std::mem::take(&mut self.candidates);
        group.candidates(&case, &mut found);
        for &slot in &found {
            let Some(open) = group.slots[slot].open.as_ref() else {
                continue;
            };
            if !open.anchor.same_spot(&case) {
                continue;
            }
            if open.last_at < cutoff {
                // Ended: taken out now (it keeps its chain link until compaction).
                group.close_if_ended(slot, cutoff, min_cases, done);
                continue;
            }
            let better = joined.is_none_or(|best| {
                let best_at = group.slots[best].open.as_ref().expect("open").last_at;
                (open.last_at, slot) > (best_at, best)
            });
            if better {
                joined = Some(slot);
            }
        }
        self.candidates = found;
        match joined {
            Some(slot) => {
                let open = group.slots[slot].open.as_mut().expect("open");
                open.case_count += 1;
                open.last_at = case.at;
                if open.cases.len() < CASE_NUMBERS_SHOWN {
                    open.cases.push(case.case);
                }
            }
            None => {
                let anchor = Anchor {
                    address_key: case.address_key,
                    latitude: case.latitude,
                    longitude: case.longitude,
                };
                let mut cases = SmallVec::new();
                cases.push(case.case);
                group.slots.push(Slot {
                    open: Some(Open {
                        anchor,
                        case_count: 1,
                        first_at: case.at,
                        last_at: case.at,
                        cases,
                    }),
                    next_in_cell: NO_SLOT,
                });
                group.index(group.slots.len() - 1);
            }
        }
    }

    /// Every cluster of at least `min_cases`: the largest first, then the earliest, then by
    /// category and district.
    pub fn finish(mut self) -> Vec<Cluster<C>> {
        let min = self.rule.min_cases;
        for (_, mut group) in self.open.drain() {
            let slots = std::mem::take(&mut group.slots);
            self.done.extend(
                slots
                    .into_iter()
                    .filter_map(|slot| slot.open)
                    .filter(|open| open.case_count >= min)
                    .map(|open| group.cluster(open)),
            );
        }
        self.done.sort_by(|a, b| {
            b.case_count
                .cmp(&a.case_count)
                .then(a.first_at.cmp(&b.first_at))
                .then(a.category.cmp(&b.category))
                .then(a.district.cmp(&b.district))
                .then(a.cases.cmp(&b.cases))
        });
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::place::address_key;
    use chrono::TimeZone;

    fn counts(pairs: &[(&'static str, i64)]) -> BTreeMap<&'static str, i64> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn rises_need_the_minimum_now_and_more_than_before() {
        let now = counts(&[("a", 10), ("b", 4), ("c", 6), ("d", 8), ("e", 5)]);
        let before = counts(&[("a", 4), ("b", 0), ("c", 6), ("d", 9)]);
        let rises = rising(&now, &before, 5, 10);
        // b is below the minimum; c did not rise; d fell.
        assert_eq!(
            rises,
            [
                Rise {
                    key: "a",
                    current: 10,
                    previous: 4,
                    rise: 6,
                    relative_rise: Some(1.5)
                },
                Rise {
                    key: "e",
                    current: 5,
                    previous: 0,
                    rise: 5,
                    relative_rise: None
                },
            ]
        );
    }

    #[test]
    fn equal_rises_go_by_relative_rise_a_rise_from_nothing_first_then_key() {
        let now = counts(&[("a", 13), ("b", 6), ("c", 9), ("d", 9)]);
        let before = counts(&[("a", 10), ("c", 6), ("d", 6)]);
        let rises = rising(&now, &before, 1, 10);
        let keys: Vec<_> = rises.iter().map(|r| r.key).collect();
        // b rose 6 from nothing; c and d 3 by 50 %; a 3 by 30 %.
        assert_eq!(keys, ["b", "c", "d", "a"]);
        assert_eq!(rising(&now, &before, 1, 2).len(), 2);
        assert!(rising(&now, &before, 100, 10).is_empty());
    }

    fn hour(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn case(
        no: &str,
        category: i64,
        district: Option<i64>,
        address: &str,
        h: i64,
    ) -> Registration<String> {
        Registration {
            case: no.into(),
            category: CategoryId(category),
            district: district.map(DepartmentId),
            address_key: (!address.is_empty()).then(|| address_key(address)),
            latitude: None,
            longitude: None,
            at: hour(h),
        }
    }

    fn at_point(mut case: Registration<String>, lat: f64, lon: f64) -> Registration<String> {
        case.latitude = Some(lat);
        case.longitude = Some(lon);
        case
    }

    fn cluster(
        cases: Vec<Registration<String>>,
        window_hours: i64,
        min_cases: usize,
    ) -> Vec<Cluster<String>> {
        let mut clusters = Clusters::new(ClusterRule {
            window: Duration::hours(window_hours),
            min_cases,
        });
        for case in cases {
            clusters.push(case);
        }
        clusters.finish()
    }

    fn numbers(clusters: &[Cluster<String>]) -> Vec<Vec<&str>> {
        clusters
            .iter()
            .map(|c| c.cases.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn a_run_at_one_address_within_the_window_is_a_cluster() {
        let clusters = cluster(
            vec![
                case("1", 7, Some(1), "甲路1号", 0),
                case("2", 7, Some(1), "甲路1号", 72),
                case("3", 7, Some(1), "甲路1号", 100),
                // 73 hours after the one before: the run has ended.
                case("4", 7, Some(1), "甲路1号", 173),
                case("5", 7, Some(1), "甲路1号", 180),
            ],
            72,
            3,
        );
        assert_eq!(
            clusters,
            [Cluster {
                category: CategoryId(7),
                district: Some(DepartmentId(1)),
                case_count: 3,
                first_at: hour(0),
                last_at: hour(100),
                cases: vec!["1".into(), "2".into(), "3".into()],
            }]
        );
    }

    #[test]
    fn category_district_and_spot_all_have_to_match() {
        let clusters = cluster(
            vec![
                case("a1", 7, Some(1), "甲路1号", 0),
                case("b1", 8, Some(1), "甲路1号", 1),
                case("c1", 7, Some(2), "甲路1号", 2),
                case("d1", 7, Some(1), "乙路2号", 3),
                case("a2", 7, Some(1), "甲路1号", 4),
                case("b2", 8, Some(1), "甲路1号", 5),
                case("a3", 7, Some(1), "甲路1号", 6),
                // Only a district: not a place.
                case("e1", 7, Some(1), "", 7),
                case("e2", 7, Some(1), "", 8),
                case("e3", 7, Some(1), "", 9),
            ],
            72,
            2,
        );
        assert_eq!(
            numbers(&clusters),
            [vec!["a1", "a2", "a3"], vec!["b1", "b2"]]
        );
    }

    #[test]
    fn nearby_coordinates_are_one_spot_measured_from_the_first_case() {
        let clusters = cluster(
            vec![
                at_point(case("1", 7, Some(1), "", 0), 39.900, 116.400),
                at_point(case("2", 7, Some(1), "", 1), 39.904, 116.400),
                // 800 m from the first, 400 m from the second: its own cluster.
                at_point(case("3", 7, Some(1), "", 2), 39.908, 116.400),
                at_point(case("4", 7, Some(1), "", 3), 39.903, 116.403),
                // Same address as nothing else, but near the first.
                at_point(case("5", 7, Some(1), "丙路3号", 4), 39.899, 116.401),
                at_point(case("6", 7, Some(1), "", 5), 39.909, 116.401),
                // No district: grouped with the other cases without one.
                at_point(case("7", 7, None, "", 6), 39.900, 116.400),
                at_point(case("8", 7, None, "", 7), 39.901, 116.400),
            ],
            72,
            2,
        );
        assert_eq!(
            numbers(&clusters),
            [vec!["1", "2", "4", "5"], vec!["3", "6"], vec!["7", "8"]]
        );
        assert_eq!(clusters[2].district, None);
    }

    #[test]
    fn a_case_joins_the_most_recent_matching_cluster_and_shows_five_numbers() {
        // Two clusters at addresses that the third case's coordinates are near of both.
        let mut cases = vec![
            at_point(case("x1", 7, Some(1), "", 0), 39.900, 116.400),
            at_point(case("y1", 7, Some(1), "", 1), 39.906, 116.400),
            at_point(case("z", 7, Some(1), "", 2), 39.903, 116.400),
        ];
        for i in 0..6 {
            cases.push(case(&format!("q{i}"), 9, Some(1), "丁路4号", 10 + i));
        }
        let clusters = cluster(cases, 72, 2);
        assert_eq!(
            numbers(&clusters),
            [vec!["q0", "q1", "q2", "q3", "q4"], vec!["y1", "z"]]
        );
        assert_eq!(clusters[0].case_count, 6);
        assert_eq!(clusters[0].last_at, hour(15));
    }

    #[test]
    fn clusters_go_by_size_then_first_registration() {
        let clusters = cluster(
            vec![
                case("a1", 1, Some(1), "甲", 0),
                case("b1", 2, Some(1), "乙", 1),
                case("c1", 3, Some(1), "丙", 2),
                case("a2", 1, Some(1), "甲", 3),
                case("b2", 2, Some(1), "乙", 4),
                case("c2", 3, Some(1), "丙", 5),
                case("c3", 3, Some(1), "丙", 6),
            ],
            72,
            2,
        );
        assert_eq!(
            numbers(&clusters),
            [vec!["c1", "c2", "c3"], vec!["a1", "a2"], vec!["b1", "b2"]]
        );
    }

    /// The rule as the doc of [`Clusters`] states it, one open cluster compared with the next:
    /// what the indexed version must give.
    fn clusters_by_comparing_all(
        cases: &[Registration<String>],
        rule: ClusterRule,
    ) -> Vec<Cluster<String>> {
        let mut open: Vec<(usize, Cluster<String>)> = Vec::new();
        for case in cases.iter().filter(|c| c.has_spot()) {
            let joined = open
                .iter()
                .enumerate()
                .filter(|(_, (anchor, cluster))| {
                    let first = &cases[*anchor];
                    cluster.category == case.category
                        && cluster.district == case.district
                        && cluster.last_at >= case.at - rule.window
                        && Anchor {
                            address_key: first.address_key,
                            latitude: first.latitude,
                            longitude: first.longitude,
                        }
                        .same_spot(case)
                })
                .max_by_key(|(i, (_, cluster))| (cluster.last_at, *i))
                .map(|(i, _)| i);
            match joined {
                Some(i) => {
                    let cluster = &mut open[i].1;
                    cluster.case_count += 1;
                    cluster.last_at = case.at;
                    if cluster.cases.len() < CASE_NUMBERS_SHOWN {
                        cluster.cases.push(case.case.clone());
                    }
                }
                None => {
                    let anchor = cases.iter().position(|c| c.case == case.case).unwrap();
                    open.push((
                        anchor,
                        Cluster {
                            category: case.category,
                            district: case.district,
                            case_count: 1,
                            first_at: case.at,
                            last_at: case.at,
                            cases: vec![case.case.clone()],
                        },
                    ));
                }
            }
        }
        let mut all = Clusters::new(rule);
        all.done = open
            .into_iter()
            .map(|(_, c)| c)
            .filter(|c| c.case_count >= rule.min_cases)
            .collect();
        all.finish()
    }

    #[test]
    fn the_indexed_clusters_are_the_ones_comparing_every_open_cluster_gives() {
        // Thousands of cases in few groups, few addresses and a small patch of the map, so
        // that clusters meet, end, and the groups are compacted many times over.
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut cases = Vec::new();
        let mut minutes = 0;
        for i in 0..3_000 {
            minutes += next(90) as i64;
            let address = format!("戊路{}号", next(40));
            let mut case = case(
                &format!("{i:05}"),
                1 + next(2) as i64,
                Some(1 + next(2) as i64),
                if next(3) == 0 { "" } else { &address },
                0,
            );
            case.at = hour(0) + Duration::minutes(minutes);
            if next(2) == 0 {
                case.latitude = Some(39.9 + next(60) as f64 * 0.001);
                case.longitude = Some(116.4 + next(60) as f64 * 0.001);
            }
            cases.push(case);
        }
        for (hours, min_cases) in [(6, 2), (24, 3), (72, 3)] {
            let rule = ClusterRule {
                window: Duration::hours(hours),
                min_cases,
            };
            let expected = clusters_by_comparing_all(&cases, rule);
            assert!(expected.len() > 10, "the scenario makes clusters");
            assert_eq!(
                cluster(cases.clone(), hours, min_cases),
                expected,
                "{hours} h"
            );
        }
    }
}

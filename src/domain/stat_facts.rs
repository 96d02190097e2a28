//! What each case contributes to the statistics (SPEC 6), and the per-day figures those
//! contributions add up to. Pure rules: the storage layer loads a case's raw records, this module
//! says which figures of which local day and department they make, and the storage layer keeps
//! per-day sums of them up to date with every transaction that changes a case (on PostgreSQL
//! through a queue folded in the background; see `db::stats`), so that a period is read from a
//! few rows per day, never from every case.
//!
//! Each figure is attributed to one local day:
//! - registered: the day the case was registered;
//! - due to be signed / signed on time: the day of the dispatch (an assignment counts once it is
//!   signed or once the sweep marked its sign clock missed);
//! - replies due / replied on time: counted in a period when the reply deadline's day **or** the
//!   reply's day falls in it (once); kept at the earlier of the two days with the distance to the
//!   later one, so that a period's start can add the replies that straddle it;
//! - overdue: the reply deadline's day; handling time: the reply's day;
//! - follow-ups: the day of the call or of the survey answer, for the evaluated round's lead;
//! - excluded (分类评价): the day the case was closed or rejected;
//! - returns: the day of the ruling; redo: the day of the decision; approved replies: the day of
//!   the review; extensions: the day they were granted.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkingCalendar;
use super::case::{CaseStatus, Channel, Closure};
use super::dispatch::{AssignmentRole, AssignmentState, DeadlineState, ReturnRuling};
use super::follow_up::{Resolved, Satisfaction};
use super::handling_times::{HandlingTimes, PeriodHandling};
use super::ids::{AssignmentId, CategoryId, DepartmentId};
use super::sla::CaseKind;

named_enum! {
    /// How figures are grouped: by the department a figure is counted for, or by an attribute of
    /// the case.
    pub enum Grouping {
        Department,
        Category,
        District,
        Channel,
        Kind,
    }
}

impl Grouping {
    /// The stored code of the grouping (`stat_days.dim`).
    pub fn code(self) -> i16 {
        match self {
            Grouping::Department => 0,
            Grouping::Category => 1,
            Grouping::District => 2,
            Grouping::Channel => 3,
            Grouping::Kind => 4,
        }
    }
}

/// Why a case is left out of its department's resolution and satisfaction figures (分类评价).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Exclusion {
    Merged,
    Rejected,
    UnreasonableDemand,
    BeyondPolicy,
}

impl Exclusion {
    pub const ALL: [Exclusion; 4] = [
        Exclusion::Merged,
        Exclusion::Rejected,
        Exclusion::UnreasonableDemand,
        Exclusion::BeyondPolicy,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// Whether a case in this state is judged apart.
    pub fn of(status: CaseStatus, closure: Option<Closure>) -> Option<Self> {
        if status == CaseStatus::Rejected {
            return Some(Exclusion::Rejected);
        }
        match closure {
            Some(Closure::Merged) => Some(Exclusion::Merged),
            Some(Closure::UnreasonableDemand) => Some(Exclusion::UnreasonableDemand),
            Some(Closure::BeyondPolicy) => Some(Exclusion::BeyondPolicy),
            _ => None,
        }
    }
}

/// One counted thing. Small and ordered so that two sets of facts can be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Figure {
    Registered,
    SignDue {
        on_time: bool,
    },
    /// Kept at the earlier of the deadline's and the reply's day; `gap` days to the later one.
    ReplyDue {
        gap: u16,
        on_time: bool,
    },
    Overdue,
    Handled {
        minutes: u32,
    },
    FollowUp {
        resolved: u8,
        satisfaction: u8,
    },
    Excluded(Exclusion),
    ReturnRuled {
        accepted: bool,
    },
    Redo,
    Approved,
    Extension,
}

/// A figure of one local day (days since 1970-01-01), counted for a department or for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Fact {
    pub day: i32,
    pub department: Option<DepartmentId>,
    pub figure: Figure,
}

/// Everything one case contributes: its facts and the groups its facts count in.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CaseFacts {
    /// The keys of the case's category, district, channel and kind (`""` for none).
    pub keys: [String; 4],
    /// Sorted.
    pub facts: Vec<Fact>,
}

/// One counted thing as a contribution to one stored row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Contribution {
    pub grouping: i16,
    pub day: i32,
    pub key: String,
    pub figure: Figure,
}

impl CaseFacts {
    /// Every fact in every grouping.
    pub fn contributions(&self) -> Vec<Contribution> {
        let mut out = Vec::with_capacity(self.facts.len() * 5);
        self.for_each_contribution(|grouping, day, key, figure| {
            out.push(Contribution {
                grouping,
                day,
                key: key.to_owned(),
                figure,
            })
        });
        out
    }

    /// [`Self::contributions`] one at a time, the key borrowed: adding up a million cases'
    /// contributions made a string per contribution, most of the count's time.
    pub fn for_each_contribution(&self, mut each: impl FnMut(i16, i32, &str, Figure)) {
        let mut department = String::new();
        for fact in &self.facts {
            department.clear();
            if let Some(id) = fact.department {
                use std::fmt::Write;
                write!(department, "{}", id.0).expect("writing to a String does not fail");
            }
            each(
                Grouping::Department.code(),
                fact.day,
                &department,
                fact.figure,
            );
            for (grouping, key) in [
                Grouping::Category,
                Grouping::District,
                Grouping::Channel,
                Grouping::Kind,
            ]
            .into_iter()
            .zip(&self.keys)
            {
                each(grouping.code(), fact.day, key, fact.figure);
            }
        }
    }
}

/// Many cases' contributions added up per stored row (grouping, day, key), as a count of every
/// case (the seed, a rebuild, the check) makes them. The keys, a few dozen distinct ones, are
/// held once each and the rows refer to them by number, so that adding a contribution allocates
/// nothing.
#[derive(Debug, Default)]
pub struct DayTotals {
    key_numbers: HashMap<String, u32>,
    rows: HashMap<(i16, i32, u32), DayFigures>,
    max_gap: u16,
}

impl DayTotals {
    pub fn add(&mut self, facts: &CaseFacts) {
        facts.for_each_contribution(|grouping, day, key, figure| {
            if let Figure::ReplyDue { gap, .. } = figure {
                self.max_gap = self.max_gap.max(gap);
            }
            let number = match self.key_numbers.get(key) {
                Some(&number) => number,
                None => {
                    let number = self.key_numbers.len() as u32;
                    self.key_numbers.insert(key.to_owned(), number);
                    number
                }
            };
            (self.rows.entry((grouping, day, number)).or_default()).apply(figure, 1);
        });
    }

    /// The widest gap of a reply counted on an earlier day than its deadline's, in days.
    pub fn max_gap(&self) -> u16 {
        self.max_gap
    }

    /// The rows that count anything, by (grouping, day, key).
    pub fn into_rows(self) -> BTreeMap<(i16, i32, String), DayFigures> {
        let mut keys = vec![String::new(); self.key_numbers.len()];
        for (key, number) in self.key_numbers {
            keys[number as usize] = key;
        }
        (self.rows.into_iter())
            .filter(|(_, figures)| !figures.is_empty())
            .map(|((grouping, day, number), figures)| {
                ((grouping, day, keys[number as usize].clone()), figures)
            })
            .collect()
    }
}

/// What `after` adds and what it takes away against `before`: (contribution, +1 or -1), the
/// contributions both share left out.
pub fn difference(before: &CaseFacts, after: &CaseFacts) -> Vec<(Contribution, i64)> {
    let mut old = before.contributions();
    let mut new = after.contributions();
    old.sort();
    new.sort();
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < old.len() || j < new.len() {
        match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a < b => {
                out.push((a.clone(), -1));
                i += 1;
            }
            (Some(_), Some(b)) | (None, Some(b)) => {
                out.push((b.clone(), 1));
                j += 1;
            }
            (Some(a), None) => {
                out.push((a.clone(), -1));
                i += 1;
            }
            (None, None) => unreachable!("the loop stops before"),
        }
    }
    out
}

/// The figures of one grouping's key on one local day. `counts` comes first: a reader that
/// wants only the counters (trends) decodes that much and stops.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DayFigures {
    pub counts: Counts,
    /// Handling times in working minutes, counted per bucket (`domain::handling_times`).
    pub handling: HandlingTimes,
    /// Replies due kept at this day whose later day is `gap` days on: (gap, due, on time), by gap.
    pub spans: Vec<(u16, i64, i64)>,
}

/// Additive counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub registered: i64,
    pub sign_due: i64,
    pub signed_on_time: i64,
    pub replies_due: i64,
    pub replied_on_time: i64,
    pub overdue: i64,
    pub reached: i64,
    pub resolved_yes: i64,
    pub resolved_partly: i64,
    pub satisfied: i64,
    pub basically_satisfied: i64,
    pub dissatisfied: i64,
    pub excluded: [i64; 4],
    pub returns_accepted: i64,
    pub returns_refused: i64,
    pub redo: i64,
    pub approved: i64,
    pub extensions: i64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        macro_rules! sum {
            ($($field:ident),*) => { $(self.$field += other.$field;)* };
        }
        sum!(
            registered,
            sign_due,
            signed_on_time,
            replies_due,
            replied_on_time,
            overdue,
            reached,
            resolved_yes,
            resolved_partly,
            satisfied,
            basically_satisfied,
            dissatisfied,
            returns_accepted,
            returns_refused,
            redo,
            approved,
            extensions
        );
        for (mine, theirs) in self.excluded.iter_mut().zip(other.excluded) {
            *mine += theirs;
        }
    }

    pub fn excluded(&self, reason: Exclusion) -> i64 {
        self.excluded[reason.index()]
    }
}

pub const RESOLVED_YES: u8 = 0;
pub const RESOLVED_PARTLY: u8 = 1;
pub const RESOLVED_NO: u8 = 2;
pub const SATISFIED: u8 = 0;
pub const BASICALLY_SATISFIED: u8 = 1;
pub const DISSATISFIED: u8 = 2;

fn resolved_code(resolved: Resolved) -> u8 {
    match resolved {
        Resolved::Yes => RESOLVED_YES,
        Resolved::Partly => RESOLVED_PARTLY,
        Resolved::No => RESOLVED_NO,
    }
}

fn satisfaction_code(satisfaction: Satisfaction) -> u8 {
    match satisfaction {
        Satisfaction::Satisfied => SATISFIED,
        Satisfaction::BasicallySatisfied => BASICALLY_SATISFIED,
        Satisfaction::Dissatisfied => DISSATISFIED,
    }
}

impl DayFigures {
    /// Adds (`sign` 1) or takes away (-1) one figure.
    pub fn apply(&mut self, figure: Figure, sign: i64) {
        let c = &mut self.counts;
        match figure {
            Figure::Registered => c.registered += sign,
            Figure::SignDue { on_time } => {
                c.sign_due += sign;
                c.signed_on_time += sign * i64::from(on_time);
            }
            Figure::ReplyDue { gap, on_time } => {
                c.replies_due += sign;
                c.replied_on_time += sign * i64::from(on_time);
                if gap > 0 {
                    let at = self.spans.partition_point(|s| s.0 < gap);
                    if self.spans.get(at).is_none_or(|s| s.0 != gap) {
                        self.spans.insert(at, (gap, 0, 0));
                    }
                    let span = &mut self.spans[at];
                    span.1 += sign;
                    span.2 += sign * i64::from(on_time);
                    if span.1 == 0 && span.2 == 0 {
                        self.spans.remove(at);
                    }
                }
            }
            Figure::Overdue => c.overdue += sign,
            Figure::Handled { minutes } => {
                if sign > 0 {
                    self.handling.record(minutes);
                } else {
                    self.handling.take_back(minutes);
                }
            }
            Figure::FollowUp {
                resolved,
                satisfaction,
            } => {
                c.reached += sign;
                match resolved {
                    RESOLVED_YES => c.resolved_yes += sign,
                    RESOLVED_PARTLY => c.resolved_partly += sign,
                    _ => {}
                }
                match satisfaction {
                    SATISFIED => c.satisfied += sign,
                    BASICALLY_SATISFIED => c.basically_satisfied += sign,
                    _ => c.dissatisfied += sign,
                }
            }
            Figure::Excluded(reason) => c.excluded[reason.index()] += sign,
            Figure::ReturnRuled { accepted: true } => c.returns_accepted += sign,
            Figure::ReturnRuled { accepted: false } => c.returns_refused += sign,
            Figure::Redo => c.redo += sign,
            Figure::Approved => c.approved += sign,
            Figure::Extension => c.extensions += sign,
        }
    }

    /// Adds another day's figures of the same key (a batch of new cases).
    pub fn add(&mut self, other: &DayFigures) {
        self.counts.add(&other.counts);
        self.handling.add(&other.handling);
        for &(gap, due, on_time) in &other.spans {
            let at = self.spans.partition_point(|s| s.0 < gap);
            match self.spans.get_mut(at) {
                Some(span) if span.0 == gap => {
                    span.1 += due;
                    span.2 += on_time;
                }
                _ => self.spans.insert(at, (gap, due, on_time)),
            }
        }
    }

    /// Nothing counted: the stored row can go.
    pub fn is_empty(&self) -> bool {
        self.counts == Counts::default() && self.handling.is_empty() && self.spans.is_empty()
    }
}

/// The figures of one key over a period: the days inside it, plus the replies kept at a day
/// before it whose later day falls inside.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeriodFigures {
    pub counts: Counts,
    pub handling: PeriodHandling,
}

impl PeriodFigures {
    /// Adds a day of the period.
    pub fn add_day(&mut self, day: &DayFigures) {
        self.counts.add(&day.counts);
        self.handling.add(&day.handling);
    }

    /// Adds what straddles the period's start from `day`, before it: replies due whose later
    /// day is in `first..=last`.
    pub fn add_straddling(&mut self, day: i32, figures: &DayFigures, (first, last): (i32, i32)) {
        for &(gap, due, on_time) in &figures.spans {
            let later = day + i32::from(gap);
            if (first..=last).contains(&later) {
                self.counts.replies_due += due;
                self.counts.replied_on_time += on_time;
            }
        }
    }

    /// The median handling time in working hours, to two decimals (within 0.8 % of the exact
    /// one above 128 minutes: `domain::handling_times`).
    pub fn median_hours(&self) -> Option<f64> {
        let minutes = self.handling.median_minutes()?;
        Some((minutes / 60.0 * 100.0).round() / 100.0)
    }
}

/// Days since 1970-01-01 of a local date.
pub fn day_number(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")).num_days() as i32
}

/// The local date of a day number.
pub fn day_of(number: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date")
        + chrono::Duration::days(number.into())
}

// ---- The raw records a case's facts are made from --------------------------------------------

#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub created_at: DateTime<Utc>,
    pub category_id: Option<CategoryId>,
    pub district_id: Option<DepartmentId>,
    pub channel: Channel,
    pub kind: CaseKind,
    pub status: CaseStatus,
    pub closure: Option<Closure>,
    /// When it was closed or rejected (`updated_at` for a rejection that kept no time).
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct AssignmentRecord {
    pub id: AssignmentId,
    pub department_id: DepartmentId,
    pub round: i32,
    pub role: AssignmentRole,
    pub state: AssignmentState,
    pub dispatched_at: DateTime<Utc>,
    pub ruling: Option<(ReturnRuling, DateTime<Utc>)>,
    /// When the centre approved the reply in review.
    pub approved_at: Option<DateTime<Utc>>,
}

/// A sign or reply clock of an assignment; the last of each kind (by id) is the one that counts.
#[derive(Debug, Clone)]
pub struct ClockRecord {
    pub assignment_id: AssignmentId,
    pub reply: bool,
    pub due_at: DateTime<Utc>,
    pub state: DeadlineState,
    pub met_at: Option<DateTime<Utc>>,
    pub marked_missed: bool,
}

#[derive(Debug, Clone)]
pub struct FollowUpRecord {
    pub at: DateTime<Utc>,
    /// The evaluated round's lead department, when the record says it (calls do); `None` for a
    /// survey answer, whose round is the one running when it was answered.
    pub department_id: Option<DepartmentId>,
    pub from_call: bool,
    pub resolved: Resolved,
    pub satisfaction: Satisfaction,
}

/// Everything about one case the statistics read.
#[derive(Debug, Clone)]
pub struct CaseRecords {
    pub case: CaseRecord,
    pub assignments: Vec<AssignmentRecord>,
    /// In id order.
    pub clocks: Vec<ClockRecord>,
    /// Granted extensions: (department, when granted).
    pub extensions: Vec<(DepartmentId, DateTime<Utc>)>,
    /// Reached calls that evaluated this case, and surveys of it answered on their own.
    pub follow_ups: Vec<FollowUpRecord>,
    /// Redo decisions: (when, the round set aside).
    pub redos: Vec<(DateTime<Utc>, i32)>,
}

impl CaseRecords {
    fn lead_of(&self, round: i32) -> Option<DepartmentId> {
        self.assignments
            .iter()
            .find(|a| a.round == round && a.role == AssignmentRole::Lead)
            .map(|a| a.department_id)
    }

    /// The lead of the latest round dispatched at or before `at`.
    fn lead_at(&self, at: DateTime<Utc>) -> Option<DepartmentId> {
        self.assignments
            .iter()
            .filter(|a| a.role == AssignmentRole::Lead && a.dispatched_at <= at)
            .max_by_key(|a| (a.round, a.id))
            .map(|a| a.department_id)
    }

    fn last_lead(&self) -> Option<DepartmentId> {
        self.assignments
            .iter()
            .filter(|a| a.role == AssignmentRole::Lead)
            .max_by_key(|a| (a.round, a.id))
            .map(|a| a.department_id)
    }
}

/// The facts of one case, by the rules in this module's description.
pub fn case_facts(records: &CaseRecords, calendar: &WorkingCalendar) -> CaseFacts {
    let day = |at: DateTime<Utc>| day_number(calendar.local_date(at));
    let case = &records.case;
    let mut facts = vec![Fact {
        day: day(case.created_at),
        department: None,
        figure: Figure::Registered,
    }];
    let mut push = |at: i32, department: Option<DepartmentId>, figure: Figure| {
        facts.push(Fact {
            day: at,
            department,
            figure,
        })
    };

    let excluded = Exclusion::of(case.status, case.closure);
    if let (Some(reason), Some(at)) = (excluded, case.ended_at) {
        push(day(at), records.last_lead(), Figure::Excluded(reason));
    }

    for assignment in &records.assignments {
        let department = Some(assignment.department_id);
        if let Some((ruling, at)) = assignment.ruling {
            let accepted = ruling == ReturnRuling::Accepted;
            push(day(at), department, Figure::ReturnRuled { accepted });
        }
        if let Some(at) = assignment.approved_at
            && assignment.role == AssignmentRole::Lead
        {
            push(day(at), department, Figure::Approved);
        }
        // The centre took back a wrong dispatch: the department is not measured on it.
        if assignment.state == AssignmentState::Withdrawn {
            continue;
        }
        let last = |reply: bool| {
            records
                .clocks
                .iter()
                .rev()
                .find(|c| c.assignment_id == assignment.id && c.reply == reply)
        };
        if let Some(sign) = last(false) {
            let on_time = match sign.state {
                DeadlineState::Met => Some(true),
                DeadlineState::Missed => Some(false),
                _ if sign.marked_missed => Some(false),
                _ => None,
            };
            if let Some(on_time) = on_time {
                push(
                    day(assignment.dispatched_at),
                    department,
                    Figure::SignDue { on_time },
                );
            }
        }
        if let Some(reply) = last(true) {
            let deadline_day = day(reply.due_at);
            let replied = match (reply.state, reply.met_at) {
                (DeadlineState::Met | DeadlineState::Missed, Some(at)) => Some(at),
                _ => None,
            };
            let missed = reply.state == DeadlineState::Missed || reply.marked_missed;
            match replied {
                Some(at) => {
                    let reply_day = day(at);
                    let first = deadline_day.min(reply_day);
                    let gap = (deadline_day.max(reply_day) - first).clamp(0, i32::from(u16::MAX));
                    push(
                        first,
                        department,
                        Figure::ReplyDue {
                            gap: gap as u16,
                            on_time: reply.state == DeadlineState::Met,
                        },
                    );
                    let (worked, _) = calendar.working_time_between(assignment.dispatched_at, at);
                    let minutes = u32::try_from(worked.num_minutes().max(0)).unwrap_or(u32::MAX);
                    push(reply_day, department, Figure::Handled { minutes });
                }
                None if missed => push(
                    deadline_day,
                    department,
                    Figure::ReplyDue {
                        gap: 0,
                        on_time: false,
                    },
                ),
                None => {}
            }
            if missed {
                push(deadline_day, department, Figure::Overdue);
            }
        }
    }

    for &(department, at) in &records.extensions {
        push(day(at), Some(department), Figure::Extension);
    }
    for &(at, round) in &records.redos {
        push(day(at), records.lead_of(round), Figure::Redo);
    }
    // A case judged apart takes its follow-ups with it (分类评价).
    if excluded.is_none() {
        for follow_up in &records.follow_ups {
            let department = if follow_up.from_call {
                follow_up.department_id
            } else {
                records.lead_at(follow_up.at)
            };
            push(
                day(follow_up.at),
                department,
                Figure::FollowUp {
                    resolved: resolved_code(follow_up.resolved),
                    satisfaction: satisfaction_code(follow_up.satisfaction),
                },
            );
        }
    }

    facts.sort();
    let key = |id: Option<i64>| id.map(|i| i.to_string()).unwrap_or_default();
    CaseFacts {
        keys: [
            key(case.category_id.map(|c| c.0)),
            key(case.district_id.map(|d| d.0)),
            case.channel.as_str().to_owned(),
            case.kind.as_str().to_owned(),
        ],
        facts,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn day_totals_add_up_what_the_contributions_say() {
        let case = |keys: [&str; 4], facts: Vec<Fact>| CaseFacts {
            keys: keys.map(str::to_owned),
            facts,
        };
        let fact = |day, department: Option<i64>, figure| Fact {
            day,
            department: department.map(DepartmentId),
            figure,
        };
        let cases = [
            case(
                ["noise", "12", "phone", "complaint"],
                vec![
                    fact(100, None, Figure::Registered),
                    fact(
                        101,
                        Some(7),
                        Figure::ReplyDue {
                            gap: 3,
                            on_time: true,
                        },
                    ),
                ],
            ),
            case(
                ["noise", "", "app", "complaint"],
                vec![
                    fact(100, None, Figure::Registered),
                    fact(
                        101,
                        Some(7),
                        Figure::ReplyDue {
                            gap: 1,
                            on_time: false,
                        },
                    ),
                    fact(102, Some(8), Figure::Redo),
                ],
            ),
        ];
        let mut totals = DayTotals::default();
        let mut expected: BTreeMap<(i16, i32, String), DayFigures> = BTreeMap::new();
        for facts in &cases {
            totals.add(facts);
            for c in facts.contributions() {
                (expected.entry((c.grouping, c.day, c.key)).or_default()).apply(c.figure, 1);
            }
        }
        assert_eq!(totals.max_gap(), 3);
        let rows = totals.into_rows();
        assert_eq!(rows, expected);
        let department = Grouping::Department.code();
        assert_eq!(rows[&(department, 100, String::new())].counts.registered, 2);
        assert!(rows.contains_key(&(department, 102, "8".to_owned())));
    }
    use crate::domain::calendar::default_years;

    fn calendar() -> WorkingCalendar {
        WorkingCalendar::new(chrono_tz::Asia::Shanghai, &default_years())
    }

    /// A local time in Shanghai on 2026-03-`day`.
    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 3, day, hour, 0, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn day(d: u32) -> i32 {
        day_number(NaiveDate::from_ymd_opt(2026, 3, d).unwrap())
    }

    fn records() -> CaseRecords {
        CaseRecords {
            case: CaseRecord {
                created_at: at(2, 9),
                category_id: Some(CategoryId(4)),
                district_id: None,
                channel: Channel::Phone,
                kind: CaseKind::Complaint,
                status: CaseStatus::Closed,
                closure: Some(Closure::Resolved),
                ended_at: Some(at(20, 9)),
            },
            assignments: vec![
                AssignmentRecord {
                    id: AssignmentId(1),
                    department_id: DepartmentId(7),
                    round: 1,
                    role: AssignmentRole::Lead,
                    state: AssignmentState::Completed,
                    dispatched_at: at(2, 10),
                    ruling: None,
                    approved_at: Some(at(13, 9)),
                },
                AssignmentRecord {
                    id: AssignmentId(2),
                    department_id: DepartmentId(8),
                    round: 1,
                    role: AssignmentRole::Assisting,
                    state: AssignmentState::Withdrawn,
                    dispatched_at: at(2, 10),
                    ruling: Some((ReturnRuling::Accepted, at(3, 9))),
                    approved_at: None,
                },
            ],
            clocks: vec![
                ClockRecord {
                    assignment_id: AssignmentId(1),
                    reply: false,
                    due_at: at(3, 23),
                    state: DeadlineState::Met,
                    met_at: Some(at(2, 11)),
                    marked_missed: false,
                },
                ClockRecord {
                    assignment_id: AssignmentId(1),
                    reply: true,
                    due_at: at(10, 23),
                    state: DeadlineState::Missed,
                    met_at: Some(at(12, 10)),
                    marked_missed: true,
                },
                ClockRecord {
                    assignment_id: AssignmentId(2),
                    reply: false,
                    due_at: at(3, 23),
                    state: DeadlineState::Cancelled,
                    met_at: None,
                    marked_missed: false,
                },
            ],
            extensions: vec![],
            follow_ups: vec![FollowUpRecord {
                at: at(16, 10),
                department_id: None,
                from_call: false,
                resolved: Resolved::Partly,
                satisfaction: Satisfaction::BasicallySatisfied,
            }],
            redos: vec![],
        }
    }

    fn figures_of(facts: &CaseFacts) -> Vec<(i32, Option<i64>, Figure)> {
        facts
            .facts
            .iter()
            .map(|f| (f.day, f.department.map(|d| d.0), f.figure))
            .collect()
    }

    #[test]
    fn a_late_reply_counts_at_its_deadline_with_the_distance_to_the_reply() {
        let facts = case_facts(&records(), &calendar());
        let figures = figures_of(&facts);
        assert!(figures.contains(&(day(2), None, Figure::Registered)));
        assert!(figures.contains(&(day(2), Some(7), Figure::SignDue { on_time: true })));
        assert!(figures.contains(&(
            day(10),
            Some(7),
            Figure::ReplyDue {
                gap: 2,
                on_time: false
            }
        )));
        assert!(figures.contains(&(day(10), Some(7), Figure::Overdue)));
        assert!(figures.contains(&(day(13), Some(7), Figure::Approved)));
        // The withdrawn assignment counts its ruling only.
        assert!(figures.contains(&(day(3), Some(8), Figure::ReturnRuled { accepted: true })));
        assert!(!figures.iter().any(|(_, d, f)| *d == Some(8)
            && matches!(f, Figure::SignDue { .. } | Figure::ReplyDue { .. })));
        // The survey answered on its own counts for the lead of the round running then.
        assert!(figures.contains(&(
            day(16),
            Some(7),
            Figure::FollowUp {
                resolved: RESOLVED_PARTLY,
                satisfaction: BASICALLY_SATISFIED
            }
        )));
        // Handling: 2 March 10:00 to 12 March 10:00, working days only (2026-03-02 is a Monday):
        // eight whole working days.
        assert!(figures.contains(&(
            day(12),
            Some(7),
            Figure::Handled {
                minutes: 8 * 24 * 60
            }
        )));
        assert_eq!(
            facts.keys,
            [
                "4".to_owned(),
                String::new(),
                "phone".into(),
                "complaint".into()
            ]
        );
    }

    #[test]
    fn a_case_judged_apart_takes_its_follow_ups_with_it() {
        let mut records = records();
        records.case.closure = Some(Closure::UnreasonableDemand);
        let figures = figures_of(&case_facts(&records, &calendar()));
        assert!(figures.contains(&(
            day(20),
            Some(7),
            Figure::Excluded(Exclusion::UnreasonableDemand)
        )));
        assert!(
            !figures
                .iter()
                .any(|(_, _, f)| matches!(f, Figure::FollowUp { .. }))
        );
    }

    #[test]
    fn a_clock_neither_stopped_nor_marked_counts_nowhere_yet() {
        let mut records = records();
        records.clocks[1].state = DeadlineState::Running;
        records.clocks[1].met_at = None;
        records.clocks[1].marked_missed = false;
        let figures = figures_of(&case_facts(&records, &calendar()));
        assert!(!figures.iter().any(|(_, _, f)| matches!(
            f,
            Figure::ReplyDue { .. } | Figure::Overdue | Figure::Handled { .. }
        )));
        // Marked missed by the sweep: due (at the deadline) and overdue, not yet handled.
        records.clocks[1].marked_missed = true;
        let figures = figures_of(&case_facts(&records, &calendar()));
        assert!(figures.contains(&(
            day(10),
            Some(7),
            Figure::ReplyDue {
                gap: 0,
                on_time: false
            }
        )));
        assert!(figures.contains(&(day(10), Some(7), Figure::Overdue)));
    }

    #[test]
    fn the_difference_of_two_sets_of_facts_adds_and_takes_away_only_what_changed() {
        let before = case_facts(&records(), &calendar());
        let mut changed = records();
        changed.clocks[0].state = DeadlineState::Missed;
        let after = case_facts(&changed, &calendar());
        let diff = difference(&before, &after);
        // One figure changed, in each of the five groupings.
        assert_eq!(diff.len(), 10);
        assert_eq!(diff.iter().filter(|(_, sign)| *sign == 1).count(), 5);
        assert!(diff.iter().all(|(c, sign)| c.figure
            == Figure::SignDue {
                on_time: *sign == -1
            }));
        assert!(difference(&after, &after).is_empty());
        // From nothing: every contribution added.
        assert_eq!(
            difference(&CaseFacts::default(), &after).len(),
            after.facts.len() * 5
        );
    }

    #[test]
    fn applying_and_taking_back_leaves_an_empty_row() {
        let mut figures = DayFigures::default();
        let late = Figure::ReplyDue {
            gap: 3,
            on_time: false,
        };
        for figure in [late, Figure::Handled { minutes: 90 }, Figure::Registered] {
            figures.apply(figure, 1);
        }
        assert_eq!(figures.spans, vec![(3, 1, 0)]);
        assert_eq!(figures.handling.len(), 1);
        for figure in [late, Figure::Handled { minutes: 90 }, Figure::Registered] {
            figures.apply(figure, -1);
        }
        assert!(figures.is_empty());
    }

    #[test]
    fn replies_straddling_a_period_start_count_once_in_each_period_they_touch() {
        // Deadline on day 10, replied on day 12 (late): kept at day 10 with a gap of 2.
        let mut kept = DayFigures::default();
        kept.apply(
            Figure::ReplyDue {
                gap: 2,
                on_time: false,
            },
            1,
        );
        let count = |first: i32, last: i32| {
            let mut period = PeriodFigures::default();
            if (first..=last).contains(&10) {
                period.add_day(&kept);
            } else if first > 10 {
                period.add_straddling(10, &kept, (first, last));
            }
            period.counts.replies_due
        };
        assert_eq!(count(1, 10), 1, "the deadline's day");
        assert_eq!(count(11, 12), 1, "the reply's day");
        assert_eq!(count(10, 12), 1, "both, once");
        assert_eq!(count(11, 11), 0, "between the two");
        assert_eq!(count(13, 20), 0, "after both");
    }

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_middle_two() {
        let mut period = PeriodFigures::default();
        assert_eq!(period.median_hours(), None);
        let mut day = DayFigures::default();
        for minutes in [180, 60, 120] {
            day.apply(Figure::Handled { minutes }, 1);
        }
        period.add_day(&day);
        assert_eq!(period.median_hours(), Some(2.0));
        let mut another = DayFigures::default();
        another.apply(Figure::Handled { minutes: 150 }, 1);
        period.add_day(&another);
        assert_eq!(period.median_hours(), Some(2.25));
    }
}

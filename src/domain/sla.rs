//! Deadline policies (SPEC 4.3): sign and reply periods per kind × urgency, follow-up and
//! supervision periods, and the extension rules. Versioned by the storage layer; plain data here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::calendar::{Due, WorkingCalendar};

named_enum! {
    /// What a citizen's request is (SPEC 2.3).
    pub enum CaseKind {
        Consultation,
        Complaint,
        Suggestion,
        Help,
        Report,
        Praise,
    }
}

named_enum! {
    pub enum Urgency {
        Normal,
        Urgent,
        Complex,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodUnit {
    /// Working days per the calendar, due at 23:59:59 local of the last one.
    WorkingDays,
    /// Calendar hours, for urgent cases.
    Hours,
}

/// A length of time a clock runs for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    pub unit: PeriodUnit,
    /// 1 to 60 working days, or 1 to 720 hours.
    #[schema(minimum = 1, maximum = 720, example = 5)]
    pub amount: u32,
}

impl Period {
    pub const fn working_days(amount: u32) -> Self {
        Self {
            unit: PeriodUnit::WorkingDays,
            amount,
        }
    }

    pub const fn hours(amount: u32) -> Self {
        Self {
            unit: PeriodUnit::Hours,
            amount,
        }
    }

    fn valid(&self) -> bool {
        match self.unit {
            PeriodUnit::WorkingDays => (1..=60).contains(&self.amount),
            PeriodUnit::Hours => (1..=720).contains(&self.amount),
        }
    }

    /// When a clock of this length started at `start` runs out.
    pub fn due_from(&self, calendar: &WorkingCalendar, start: DateTime<Utc>) -> Due {
        match self.unit {
            PeriodUnit::WorkingDays => calendar.add_working_days(start, self.amount),
            PeriodUnit::Hours => calendar.add_hours(start, self.amount),
        }
    }
}

/// The sign and reply periods for one kind at one urgency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandlingRule {
    pub kind: CaseKind,
    pub urgency: Urgency,
    /// Time the department has to sign for an assignment.
    pub sign: Period,
    /// Time the department has to reply.
    pub reply: Period,
}

/// A whole policy: what `PUT /sla-policies` takes and every version stores. Its numbers are
/// checked by their declared ranges; its rules by [`SlaPolicy::validate`], which sees them as a whole.
#[derive(
    Debug, Clone, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema, validator::Validate,
)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// One rule for every kind × urgency (18 in all).
    pub rules: Vec<HandlingRule>,
    /// The follow-up call is due this many working days after the result is approved.
    #[schema(minimum = 1, maximum = 60, example = 2)]
    #[validate(range(min = 1, max = 60))]
    pub follow_up_working_days: u32,
    /// A written supervision's explanation is due this many working days after it is issued.
    #[schema(minimum = 1, maximum = 60, example = 2)]
    #[validate(range(min = 1, max = 60))]
    pub supervision_response_working_days: u32,
    /// Extensions one assignment may be granted.
    #[schema(minimum = 0, maximum = 10, example = 2)]
    #[validate(range(max = 10))]
    pub max_extensions_per_assignment: u32,
    /// An extended reply deadline never goes beyond this many working days after dispatch.
    #[schema(minimum = 1, maximum = 120, example = 30)]
    #[validate(range(min = 1, max = 120))]
    pub max_reply_working_days_with_extensions: u32,
}

impl SlaPolicy {
    /// SPEC 4.3's table.
    pub fn default_policy() -> Self {
        let mut rules = Vec::new();
        for kind in CaseKind::ALL {
            for urgency in Urgency::ALL {
                let (sign, reply) = match (urgency, kind) {
                    (Urgency::Urgent, _) => (Period::hours(2), Period::hours(24)),
                    (Urgency::Complex, _) => (Period::working_days(1), Period::working_days(15)),
                    (Urgency::Normal, CaseKind::Consultation) => {
                        (Period::working_days(1), Period::working_days(3))
                    }
                    (Urgency::Normal, CaseKind::Complaint | CaseKind::Help | CaseKind::Report) => {
                        (Period::working_days(1), Period::working_days(5))
                    }
                    (Urgency::Normal, CaseKind::Suggestion | CaseKind::Praise) => {
                        (Period::working_days(1), Period::working_days(10))
                    }
                };
                rules.push(HandlingRule {
                    kind: *kind,
                    urgency: *urgency,
                    sign,
                    reply,
                });
            }
        }
        Self {
            rules,
            follow_up_working_days: 2,
            supervision_response_working_days: 2,
            max_extensions_per_assignment: 2,
            max_reply_working_days_with_extensions: 30,
        }
    }

    /// Problems by field path; empty when the policy is usable.
    pub fn validate(&self) -> Vec<(String, &'static str)> {
        let mut errors = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if !seen.insert((rule.kind, rule.urgency)) {
                errors.push((format!("rules[{i}]"), "repeats a kind and urgency"));
            }
            if !rule.sign.valid() {
                errors.push((
                    format!("rules[{i}].sign.amount"),
                    "must be 1–60 working days or 1–720 hours",
                ));
            }
            if !rule.reply.valid() {
                errors.push((
                    format!("rules[{i}].reply.amount"),
                    "must be 1–60 working days or 1–720 hours",
                ));
            }
        }
        if seen.len() < CaseKind::ALL.len() * Urgency::ALL.len() {
            errors.push((
                "rules".into(),
                "must have one rule for every kind and urgency",
            ));
        }
        errors
    }

    /// The rule for `kind` at `urgency`. Validated policies have one for every pair.
    pub fn rule(&self, kind: CaseKind, urgency: Urgency) -> Option<&HandlingRule> {
        self.rules
            .iter()
            .find(|r| r.kind == kind && r.urgency == urgency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_default_policy_is_spec_4_3() {
        let policy = SlaPolicy::default_policy();
        assert!(policy.validate().is_empty());
        assert_eq!(policy.rules.len(), 18);
        let rule = |k, u| *policy.rule(k, u).unwrap();
        assert_eq!(
            rule(CaseKind::Consultation, Urgency::Normal).reply,
            Period::working_days(3)
        );
        assert_eq!(
            rule(CaseKind::Report, Urgency::Normal).reply,
            Period::working_days(5)
        );
        assert_eq!(
            rule(CaseKind::Praise, Urgency::Normal).reply,
            Period::working_days(10)
        );
        assert_eq!(
            rule(CaseKind::Praise, Urgency::Urgent).sign,
            Period::hours(2)
        );
        assert_eq!(
            rule(CaseKind::Help, Urgency::Complex).reply,
            Period::working_days(15)
        );
    }

    #[test]
    fn incomplete_or_out_of_range_policies_are_refused() {
        let mut policy = SlaPolicy::default_policy();
        policy.rules.pop();
        policy.rules[0].reply = Period::working_days(0);
        let fields: Vec<String> = policy.validate().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["rules[0].reply.amount", "rules"]);
        // The numbers are the declared ranges' to check.
        policy.follow_up_working_days = 0;
        let errors = validator::Validate::validate(&policy).unwrap_err();
        assert!(errors.field_errors().contains_key("follow_up_working_days"));
    }

    #[test]
    fn periods_use_the_calendar() {
        let calendar = WorkingCalendar::new(
            chrono_tz::Asia::Shanghai,
            &crate::domain::calendar::default_years(),
        );
        let start = chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(2026, 9, 30, 10, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Period::working_days(1)
                .due_from(&calendar, start)
                .local_date
                .to_string(),
            "2026-10-08"
        );
        assert_eq!(
            Period::hours(24).due_from(&calendar, start).at,
            start + chrono::Duration::hours(24)
        );
    }
}

//! Extensions of reply deadlines (延期, SPEC 2.5 and 4.3): a department admin asks for more
//! working days with a reason, a supervisor decides. An assignment gets at most a policy-set
//! number of them, and an extended reply deadline never goes beyond a policy-set number of
//! working days after dispatch.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::calendar::{Due, WorkingCalendar};

/// The most working days one request may ask for.
pub const MAX_REQUESTED_WORKING_DAYS: u32 = 30;

named_enum! {
    pub enum ExtensionState {
        /// Waiting for a supervisor.
        Pending,
        Approved,
        Rejected,
    }
}

/// A supervisor's answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, eserde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionDecision {
    Approve,
    Reject,
}

impl ExtensionDecision {
    pub fn outcome(self) -> ExtensionState {
        match self {
            Self::Approve => ExtensionState::Approved,
            Self::Reject => ExtensionState::Rejected,
        }
    }
}

/// The policy's limits on extensions.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionLimits {
    pub max_per_assignment: u32,
    pub max_reply_working_days: u32,
}

/// Why an extension cannot be granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionRefusal {
    /// The assignment has had all the extensions the policy allows.
    LimitReached { granted: u32, max: u32 },
    /// The new deadline would pass the last allowed moment.
    BeyondLatest { latest: DateTime<Utc> },
}

/// The reply deadline that granting `working_days` more would give: that many working days
/// counted from the current deadline (SPEC 4.2's rule), refused when the assignment has had its
/// share of extensions or when the result passes the limit counted from the dispatch.
pub fn extended_due(
    calendar: &WorkingCalendar,
    limits: ExtensionLimits,
    dispatched_at: DateTime<Utc>,
    current_due: DateTime<Utc>,
    granted: u32,
    working_days: u32,
) -> Result<Due, ExtensionRefusal> {
    if granted >= limits.max_per_assignment {
        return Err(ExtensionRefusal::LimitReached {
            granted,
            max: limits.max_per_assignment,
        });
    }
    let due = calendar.add_working_days(current_due, working_days);
    let latest = calendar
        .add_working_days(dispatched_at, limits.max_reply_working_days)
        .at;
    if due.at > latest {
        return Err(ExtensionRefusal::BeyondLatest { latest });
    }
    Ok(due)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use chrono_tz::Asia::Shanghai;

    use super::*;
    use crate::domain::calendar::default_years;

    const LIMITS: ExtensionLimits = ExtensionLimits {
        max_per_assignment: 2,
        max_reply_working_days: 30,
    };

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> DateTime<Utc> {
        Shanghai
            .with_ymd_and_hms(y, m, d, h, min, s)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn days_are_counted_from_the_current_deadline_over_holidays() {
        let calendar = WorkingCalendar::new(Shanghai, &default_years());
        // Dispatched Monday 28 September 2026, reply due Wednesday 30 September; the National
        // Day holiday (1–7 October) and its make-up Saturday (10 October) lie ahead.
        let dispatched = local(2026, 9, 28, 10, 0, 0);
        let due = local(2026, 9, 30, 23, 59, 59);
        let extended = extended_due(&calendar, LIMITS, dispatched, due, 0, 3).unwrap();
        // Working days after 30 September: 8, 9, 10 (make-up Saturday) October.
        assert_eq!(extended.at, local(2026, 10, 10, 23, 59, 59));
    }

    #[test]
    fn at_most_the_allowed_number_of_extensions() {
        let calendar = WorkingCalendar::new(Shanghai, &default_years());
        let dispatched = local(2026, 3, 2, 9, 0, 0);
        let due = local(2026, 3, 9, 23, 59, 59);
        assert!(extended_due(&calendar, LIMITS, dispatched, due, 1, 2).is_ok());
        assert_eq!(
            extended_due(&calendar, LIMITS, dispatched, due, 2, 2),
            Err(ExtensionRefusal::LimitReached { granted: 2, max: 2 })
        );
    }

    #[test]
    fn never_beyond_the_limit_counted_from_dispatch() {
        let calendar = WorkingCalendar::new(Shanghai, &default_years());
        // Dispatched Monday 2 March 2026; 30 working days later is Tuesday 14 April (Qingming
        // takes Monday 6 April).
        let dispatched = local(2026, 3, 2, 9, 0, 0);
        let latest = local(2026, 4, 14, 23, 59, 59);
        let due = local(2026, 3, 30, 23, 59, 59);
        // From Monday 30 March, 10 working days (31 Mar–3 Apr, 7–10 Apr, 13–14 Apr) reach the
        // limit...
        assert_eq!(
            extended_due(&calendar, LIMITS, dispatched, due, 0, 10)
                .unwrap()
                .at,
            latest
        );
        // ...and one more day passes it.
        assert_eq!(
            extended_due(&calendar, LIMITS, dispatched, due, 0, 11),
            Err(ExtensionRefusal::BeyondLatest { latest })
        );
    }

    #[test]
    fn states_round_trip() {
        for state in [
            ExtensionState::Pending,
            ExtensionState::Approved,
            ExtensionState::Rejected,
        ] {
            assert_eq!(ExtensionState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ExtensionState::parse("granted"), None);
    }
}

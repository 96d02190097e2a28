//! Dispatch and the departments' work (SPEC 2.4, 2.5, 3): assignment states and which moves on an
//! assignment are legal, a dispatch's departments, and the clocks' derived flags. The case's own
//! statuses move in `domain::lifecycle`. Pure rules; the services apply them in transactions.

use chrono::{DateTime, Duration, Utc};

use super::calendar::WorkingCalendar;
use super::ids::DepartmentId;
use super::lifecycle::{IllegalTransition, illegal};
use crate::error::ErrorCode;

named_enum! {
    /// Where one department's share of a case stands.
    pub enum AssignmentState {
        /// Dispatched; the department has not signed for it yet (待签收).
        PendingSign,
        /// Signed for and being handled (办理中).
        InProgress,
        /// Returned by the department (退单), waiting for the centre's ruling.
        Returned,
        /// The department replied (已答复), waiting for the centre's review.
        Replied,
        /// The centre approved the round's replies.
        Completed,
        /// The centre accepted the department's return: the dispatch was wrong.
        Withdrawn,
        /// Ended without a reply: the case was redone, merged or closed.
        Cancelled,
    }
}

named_enum! {
    /// A department's part in a joint dispatch.
    pub enum AssignmentRole {
        Lead,
        Assisting,
    }
}

named_enum! {
    /// 直接转办 (one department) or 联合转办 (several, one of them lead).
    pub enum DispatchMode {
        Direct,
        Joint,
    }
}

named_enum! {
    /// What a clock measures.
    pub enum DeadlineKind {
        Sign,
        Reply,
        FollowUp,
        SupervisionResponse,
    }
}

named_enum! {
    pub enum DeadlineState {
        Running,
        Met,
        Missed,
        Cancelled,
    }
}

named_enum! {
    /// The centre's ruling on a return (派单异议审核).
    pub enum ReturnRuling {
        /// The dispatch was wrong: the assignment is withdrawn.
        Accepted,
        /// The department must handle it: the assignment goes back, its clocks keep running.
        Refused,
    }
}

impl AssignmentState {
    /// Still part of its round: counts when deciding the case's status.
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Withdrawn | Self::Cancelled)
    }

    /// The department still has work to do on it.
    pub fn is_open(self) -> bool {
        matches!(self, Self::PendingSign | Self::InProgress | Self::Returned)
    }
}

/// A move on an assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentAction {
    Sign,
    Return,
    Rule(ReturnRuling),
    Handover,
    Progress,
    Reply,
    /// The centre's review sends this reply back to the department.
    SendBack,
}

/// The assignment's state after `action`, or why it may not happen. `signed` says whether the
/// department had signed before (a refused return goes back to where it was).
pub fn assignment_transition(
    state: AssignmentState,
    signed: bool,
    action: AssignmentAction,
) -> Result<AssignmentState, IllegalTransition> {
    use AssignmentState::*;
    match (action, state) {
        (AssignmentAction::Sign, PendingSign) => Ok(InProgress),
        (AssignmentAction::Sign, _) => Err(illegal(
            ErrorCode::AssignmentNotPendingSign,
            "only an assignment waiting to be signed for can be signed",
        )),
        (AssignmentAction::Return, PendingSign | InProgress) => Ok(Returned),
        (AssignmentAction::Return, _) => Err(illegal(
            ErrorCode::AssignmentNotReturnable,
            "an assignment can be returned only before it is replied to",
        )),
        (AssignmentAction::Rule(ReturnRuling::Accepted), Returned) => Ok(Withdrawn),
        (AssignmentAction::Rule(ReturnRuling::Refused), Returned) if signed => Ok(InProgress),
        (AssignmentAction::Rule(ReturnRuling::Refused), Returned) => Ok(PendingSign),
        (AssignmentAction::Rule(_), _) => Err(illegal(
            ErrorCode::AssignmentNotReturned,
            "only a returned assignment can be ruled on",
        )),
        (AssignmentAction::Handover, PendingSign | InProgress) => Ok(state),
        (AssignmentAction::Handover, _) => Err(illegal(
            ErrorCode::AssignmentNotOpen,
            "only an assignment being worked on can be handed over",
        )),
        (AssignmentAction::Progress, InProgress) => Ok(InProgress),
        (AssignmentAction::Progress, _) => Err(illegal(
            ErrorCode::AssignmentNotInProgress,
            "progress is reported on a signed assignment that is not yet replied to",
        )),
        (AssignmentAction::Reply, InProgress) => Ok(Replied),
        (AssignmentAction::Reply, PendingSign) => Err(illegal(
            ErrorCode::AssignmentNotSigned,
            "sign for the assignment before replying",
        )),
        (AssignmentAction::Reply, _) => Err(illegal(
            ErrorCode::AssignmentNotInProgress,
            "only a signed assignment that is not yet replied to can be replied to",
        )),
        (AssignmentAction::SendBack, Replied) => Ok(InProgress),
        (AssignmentAction::SendBack, _) => Err(illegal(
            ErrorCode::AssignmentNotReplied,
            "only a replied assignment can be sent back",
        )),
    }
}

/// One department in a dispatch request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchTarget {
    pub department_id: DepartmentId,
    pub role: AssignmentRole,
}

/// At most this many departments share one case in one round.
pub const MAX_DEPARTMENTS_PER_DISPATCH: usize = 10;

/// Checks a dispatch's targets: one to ten distinct departments, exactly one lead. Returns the
/// mode the targets imply, or a message for the `departments` field.
pub fn dispatch_mode(targets: &[DispatchTarget]) -> Result<DispatchMode, &'static str> {
    if targets.is_empty() {
        return Err("name at least one department");
    }
    if targets.len() > MAX_DEPARTMENTS_PER_DISPATCH {
        return Err("at most 10 departments share one dispatch");
    }
    let mut ids: Vec<DepartmentId> = targets.iter().map(|t| t.department_id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != targets.len() {
        return Err("each department appears once");
    }
    let leads = targets
        .iter()
        .filter(|t| t.role == AssignmentRole::Lead)
        .count();
    match (targets.len(), leads) {
        (1, _) => Ok(DispatchMode::Direct),
        (_, 1) => Ok(DispatchMode::Joint),
        _ => Err("a joint dispatch has exactly one lead department"),
    }
}

/// Whether a running clock is close to or past its end *now* (SPEC 4.4): due soon when less than
/// 20 % of its period, or less than 4 working hours, is left.
pub fn clock_flags(
    calendar: &WorkingCalendar,
    starts_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
    running: bool,
    now: DateTime<Utc>,
) -> (bool, bool) {
    if !running {
        return (false, false);
    }
    if now > due_at {
        return (false, true);
    }
    let (left, _) = calendar.working_time_between(now, due_at);
    let (period, _) = calendar.working_time_between(starts_at, due_at);
    let due_soon = left < Duration::hours(4) || left.num_seconds() * 5 < period.num_seconds();
    (due_soon, false)
}

/// The instant from which a clock counts as due soon (see [`clock_flags`]): when the working
/// time left falls to 4 hours or to a fifth of its period, whichever comes first.
pub fn due_soon_from(
    calendar: &WorkingCalendar,
    starts_at: DateTime<Utc>,
    due_at: DateTime<Utc>,
) -> DateTime<Utc> {
    let (period, _) = calendar.working_time_between(starts_at, due_at);
    let threshold = Duration::hours(4).max(period / 5);
    calendar.working_time_before(due_at, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssignmentAction::*;
    use AssignmentState::*;

    #[test]
    fn assignment_moves() {
        assert_eq!(
            assignment_transition(PendingSign, false, Sign),
            Ok(InProgress)
        );
        assert_eq!(
            assignment_transition(InProgress, true, Sign)
                .unwrap_err()
                .code,
            ErrorCode::AssignmentNotPendingSign
        );
        assert_eq!(
            assignment_transition(PendingSign, false, Return),
            Ok(Returned)
        );
        assert_eq!(
            assignment_transition(InProgress, true, Return),
            Ok(Returned)
        );
        assert!(assignment_transition(Replied, true, Return).is_err());
        assert_eq!(
            assignment_transition(Returned, false, Rule(ReturnRuling::Accepted)),
            Ok(Withdrawn)
        );
        assert_eq!(
            assignment_transition(Returned, true, Rule(ReturnRuling::Refused)),
            Ok(InProgress),
            "a refused return goes back to where it was"
        );
        assert_eq!(
            assignment_transition(Returned, false, Rule(ReturnRuling::Refused)),
            Ok(PendingSign)
        );
        assert_eq!(
            assignment_transition(PendingSign, false, Reply)
                .unwrap_err()
                .code,
            ErrorCode::AssignmentNotSigned
        );
        assert_eq!(assignment_transition(InProgress, true, Reply), Ok(Replied));
        assert_eq!(
            assignment_transition(Replied, true, SendBack),
            Ok(InProgress)
        );
        assert!(assignment_transition(Replied, true, Progress).is_err());
        assert!(assignment_transition(Completed, true, Handover).is_err());
        for state in AssignmentState::ALL {
            for action in [Sign, Return, Handover, Progress, Reply, SendBack] {
                if matches!(state, Withdrawn | Cancelled | Completed) {
                    assert!(
                        assignment_transition(*state, true, action).is_err(),
                        "{state:?} is final"
                    );
                }
            }
        }
    }

    #[test]
    fn dispatch_targets() {
        let lead = |id| DispatchTarget {
            department_id: DepartmentId(id),
            role: AssignmentRole::Lead,
        };
        let assisting = |id| DispatchTarget {
            department_id: DepartmentId(id),
            role: AssignmentRole::Assisting,
        };
        assert_eq!(dispatch_mode(&[lead(1)]), Ok(DispatchMode::Direct));
        assert_eq!(
            dispatch_mode(&[assisting(1)]),
            Ok(DispatchMode::Direct),
            "a single department leads whatever it was called"
        );
        assert_eq!(
            dispatch_mode(&[lead(1), assisting(2)]),
            Ok(DispatchMode::Joint)
        );
        assert!(dispatch_mode(&[]).is_err());
        assert!(dispatch_mode(&[lead(1), lead(2)]).is_err());
        assert!(dispatch_mode(&[assisting(1), assisting(2)]).is_err());
        assert!(dispatch_mode(&[lead(1), assisting(1)]).is_err());
        let many: Vec<_> = (0..11).map(assisting).collect();
        assert!(dispatch_mode(&many).is_err());
    }

    #[test]
    fn clock_flags_follow_spec_4_4() {
        let calendar = WorkingCalendar::new(
            chrono_tz::Asia::Shanghai,
            &crate::domain::calendar::default_years(),
        );
        // Monday 2026-11-16 09:00 local (01:00 UTC) + 5 working days → Monday 23 Nov 23:59:59.
        let start: DateTime<Utc> = "2026-11-16T01:00:00Z".parse().unwrap();
        let due = calendar.add_working_days(start, 5).at;
        assert_eq!(
            clock_flags(&calendar, start, due, true, start),
            (false, false)
        );
        // Monday 23 Nov 08:00 local: 16 working hours of 136 left (< 20 %).
        let late: DateTime<Utc> = "2026-11-23T00:00:00Z".parse().unwrap();
        assert_eq!(
            clock_flags(&calendar, start, due, true, late),
            (true, false)
        );
        let after = due + Duration::seconds(1);
        assert_eq!(
            clock_flags(&calendar, start, due, true, after),
            (false, true)
        );
        assert_eq!(
            clock_flags(&calendar, start, due, false, after),
            (false, false)
        );
    }

    #[test]
    fn due_soon_from_is_where_the_flag_turns() {
        let calendar = WorkingCalendar::new(
            chrono_tz::Asia::Shanghai,
            &crate::domain::calendar::default_years(),
        );
        // A period of 135 working hours less a second (Monday 16 from 09:00, Tuesday to Friday,
        // Monday 23 to 23:59:59): a fifth of it, 27 hours, reaches back over Monday 23 into
        // Friday 20 November, just before 21:00 local; the weekend between counts nothing.
        let start: DateTime<Utc> = "2026-11-16T01:00:00Z".parse().unwrap();
        let due = calendar.add_working_days(start, 5).at;
        let from = due_soon_from(&calendar, start, due);
        let local = from.with_timezone(&chrono_tz::Asia::Shanghai);
        assert_eq!(local.format("%F %H:%M").to_string(), "2026-11-20 20:59");
        let minute = Duration::minutes(1);
        assert!(!clock_flags(&calendar, start, due, true, from - minute).0);
        assert!(clock_flags(&calendar, start, due, true, from + minute).0);
        // A short clock (2 hours) is due soon from its start: 4 hours is more than all of it.
        let urgent = start + Duration::hours(2);
        assert!(due_soon_from(&calendar, start, urgent) <= start);
    }
}

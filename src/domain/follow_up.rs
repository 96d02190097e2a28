//! Follow-up calls (回访, SPEC 2.7, 3 after review): what one attempt to reach the citizen says,
//! and what it does to a case awaiting follow-up. Pure rules; the service records the attempt and
//! applies the verdict in one transaction.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use super::case::Closure;

named_enum! {
    /// How the centre reached out.
    pub enum FollowUpChannel {
        Phone,
        Sms,
        Wechat,
        App,
    }
}

named_enum! {
    /// What came of one attempt.
    pub enum CallOutcome {
        /// The citizen answered and evaluated the handling.
        Reached,
        NoAnswer,
        /// The citizen answered but would not evaluate.
        Refused,
        WrongNumber,
    }
}

named_enum! {
    /// Whether the problem was solved, in the citizen's words.
    pub enum Resolved {
        Yes,
        Partly,
        No,
    }
}

named_enum! {
    /// How satisfied the citizen is with the handling.
    pub enum Satisfaction {
        Satisfied,
        BasicallySatisfied,
        Dissatisfied,
    }
}

/// The citizen's evaluation, given when the call reached them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Evaluation {
    pub resolved: Resolved,
    pub satisfaction: Satisfaction,
}

/// What an attempt does to the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Satisfied or basically satisfied: the case closes, as resolved as the citizen says.
    Close { resolved: Resolved },
    /// Dissatisfied: a supervisor decides (redo, or close with a reason).
    AwaitSupervisor,
    /// The citizen would not evaluate: closed without an evaluation.
    CloseWithoutEvaluation,
    /// The third day the citizen could not be reached: closed as unreachable.
    CloseUnreachable,
    /// Not reached yet; the centre tries again.
    TryAgain,
}

impl Verdict {
    /// How the case ends, when the verdict ends it.
    pub fn closure(self) -> Option<Closure> {
        match self {
            Verdict::Close {
                resolved: Resolved::Yes,
            } => Some(Closure::Resolved),
            Verdict::Close {
                resolved: Resolved::Partly,
            } => Some(Closure::PartlyResolved),
            Verdict::Close {
                resolved: Resolved::No,
            } => Some(Closure::Unresolved),
            Verdict::CloseWithoutEvaluation => Some(Closure::NotEvaluated),
            Verdict::CloseUnreachable => Some(Closure::Unreachable),
            Verdict::AwaitSupervisor | Verdict::TryAgain => None,
        }
    }

    /// What the attempt did, as stored with it.
    pub fn effect(self) -> CallEffect {
        match self {
            Verdict::Close { .. } | Verdict::CloseWithoutEvaluation | Verdict::CloseUnreachable => {
                CallEffect::Closed
            }
            Verdict::AwaitSupervisor => CallEffect::AwaitingDecision,
            Verdict::TryAgain => CallEffect::TryAgain,
        }
    }
}

named_enum! {
    /// What a follow-up attempt did to its case.
    pub enum CallEffect {
        /// The case closed (satisfied, refused to evaluate, or unreachable).
        Closed,
        /// The citizen was dissatisfied: the case awaits the supervisor's decision.
        AwaitingDecision,
        /// Not reached yet: the centre tries again.
        TryAgain,
        /// The citizen of a merged case (并单) was followed up: their own follow-up is over; the
        /// answer counts for the case it was merged into, whose status it does not change.
        FollowUpEnded,
    }
}

named_enum! {
    /// Why the supervisor closes a case after a dissatisfied follow-up.
    pub enum DecisionReason {
        /// 超出政策: the demand goes beyond what policy allows.
        BeyondPolicy,
        /// 诉求不合理: the demand is unreasonable.
        UnreasonableDemand,
        /// The department's handling stands as the resolution.
        ResolvedPerDepartment,
        /// Another reason, given in words.
        Other,
    }
}

impl DecisionReason {
    pub fn closure(self) -> Closure {
        match self {
            DecisionReason::BeyondPolicy => Closure::BeyondPolicy,
            DecisionReason::UnreasonableDemand => Closure::UnreasonableDemand,
            DecisionReason::ResolvedPerDepartment => Closure::ResolvedPerDepartment,
            DecisionReason::Other => Closure::ClosedBySupervisor,
        }
    }
}

/// Days on which the citizen must have been tried in vain before the case closes unreachable.
pub const UNREACHED_DAYS_TO_CLOSE: usize = 3;

/// The verdict of an attempt with `outcome` (and `evaluation` when reached), made on local date
/// `day`, after earlier attempts that failed to reach the citizen on `unreached_days`.
pub fn verdict(
    outcome: CallOutcome,
    evaluation: Option<Evaluation>,
    unreached_days: &BTreeSet<NaiveDate>,
    day: NaiveDate,
) -> Result<Verdict, FollowUpError> {
    match (outcome, evaluation) {
        (CallOutcome::Reached, None) => Err(FollowUpError::EvaluationMissing),
        (CallOutcome::Reached, Some(evaluation)) => Ok(match evaluation.satisfaction {
            Satisfaction::Dissatisfied => Verdict::AwaitSupervisor,
            Satisfaction::Satisfied | Satisfaction::BasicallySatisfied => Verdict::Close {
                resolved: evaluation.resolved,
            },
        }),
        (_, Some(_)) => Err(FollowUpError::EvaluationWithoutReaching),
        (CallOutcome::Refused, None) => Ok(Verdict::CloseWithoutEvaluation),
        (CallOutcome::NoAnswer | CallOutcome::WrongNumber, None) => {
            let mut days = unreached_days.clone();
            days.insert(day);
            Ok(if days.len() >= UNREACHED_DAYS_TO_CLOSE {
                Verdict::CloseUnreachable
            } else {
                Verdict::TryAgain
            })
        }
    }
}

/// A call is recorded when it was made: never in the future, never before the reply was approved.
pub fn check_call_time(
    called_at: DateTime<Utc>,
    approved_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), FollowUpError> {
    if called_at > now {
        Err(FollowUpError::CalledInFuture)
    } else if called_at < approved_at {
        Err(FollowUpError::CalledBeforeApproval)
    } else {
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FollowUpError {
    #[error(
        "a call that reached the citizen records whether it was resolved and how satisfied they are"
    )]
    EvaluationMissing,
    #[error("only a call that reached the citizen carries an evaluation")]
    EvaluationWithoutReaching,
    #[error("the call time is in the future")]
    CalledInFuture,
    #[error("the call time is before the reply was approved")]
    CalledBeforeApproval,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
    }

    fn reached(resolved: Resolved, satisfaction: Satisfaction) -> Option<Evaluation> {
        Some(Evaluation {
            resolved,
            satisfaction,
        })
    }

    #[test]
    fn a_satisfied_citizen_closes_the_case_resolved_or_partly() {
        let none = BTreeSet::new();
        for satisfaction in [Satisfaction::Satisfied, Satisfaction::BasicallySatisfied] {
            assert_eq!(
                verdict(
                    CallOutcome::Reached,
                    reached(Resolved::Yes, satisfaction),
                    &none,
                    day(1)
                ),
                Ok(Verdict::Close {
                    resolved: Resolved::Yes
                })
            );
            for resolved in [Resolved::Partly, Resolved::No] {
                assert_eq!(
                    verdict(
                        CallOutcome::Reached,
                        reached(resolved, satisfaction),
                        &none,
                        day(1)
                    ),
                    Ok(Verdict::Close { resolved })
                );
            }
        }
    }

    #[test]
    fn closures_follow_the_citizens_answer() {
        assert_eq!(
            Verdict::Close {
                resolved: Resolved::Partly
            }
            .closure(),
            Some(Closure::PartlyResolved)
        );
        assert_eq!(
            Verdict::CloseUnreachable.closure(),
            Some(Closure::Unreachable)
        );
        assert_eq!(Verdict::AwaitSupervisor.closure(), None);
        assert_eq!(Verdict::TryAgain.effect(), CallEffect::TryAgain);
        assert_eq!(DecisionReason::Other.closure(), Closure::ClosedBySupervisor);
    }

    #[test]
    fn a_dissatisfied_citizen_sends_the_case_to_a_supervisor() {
        for resolved in [Resolved::Yes, Resolved::Partly, Resolved::No] {
            assert_eq!(
                verdict(
                    CallOutcome::Reached,
                    reached(resolved, Satisfaction::Dissatisfied),
                    &BTreeSet::new(),
                    day(1)
                ),
                Ok(Verdict::AwaitSupervisor)
            );
        }
    }

    #[test]
    fn refusing_closes_without_an_evaluation() {
        assert_eq!(
            verdict(CallOutcome::Refused, None, &BTreeSet::new(), day(1)),
            Ok(Verdict::CloseWithoutEvaluation)
        );
    }

    #[test]
    fn three_different_days_unreached_close_the_case() {
        let mut days = BTreeSet::new();
        // Twice on the first day, once on the next: still two days.
        for (outcome, on) in [
            (CallOutcome::NoAnswer, day(4)),
            (CallOutcome::WrongNumber, day(4)),
            (CallOutcome::NoAnswer, day(7)),
        ] {
            assert_eq!(verdict(outcome, None, &days, on), Ok(Verdict::TryAgain));
            days.insert(on);
        }
        assert_eq!(
            verdict(CallOutcome::NoAnswer, None, &days, day(7)),
            Ok(Verdict::TryAgain)
        );
        assert_eq!(
            verdict(CallOutcome::WrongNumber, None, &days, day(8)),
            Ok(Verdict::CloseUnreachable)
        );
    }

    #[test]
    fn evaluations_belong_to_reached_calls_only() {
        let none = BTreeSet::new();
        assert_eq!(
            verdict(CallOutcome::Reached, None, &none, day(1)),
            Err(FollowUpError::EvaluationMissing)
        );
        for outcome in [
            CallOutcome::NoAnswer,
            CallOutcome::Refused,
            CallOutcome::WrongNumber,
        ] {
            assert_eq!(
                verdict(
                    outcome,
                    reached(Resolved::Yes, Satisfaction::Satisfied),
                    &none,
                    day(1)
                ),
                Err(FollowUpError::EvaluationWithoutReaching)
            );
        }
    }

    #[test]
    fn calls_happen_between_approval_and_now() {
        let approved = "2026-12-01T08:00:00Z".parse().unwrap();
        let now = "2026-12-03T08:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(check_call_time(at("2026-12-02T09:00:00Z"), approved, now).is_ok());
        assert!(check_call_time(approved, approved, now).is_ok());
        assert_eq!(
            check_call_time(at("2026-12-03T08:00:01Z"), approved, now),
            Err(FollowUpError::CalledInFuture)
        );
        assert_eq!(
            check_call_time(at("2026-12-01T07:59:59Z"), approved, now),
            Err(FollowUpError::CalledBeforeApproval)
        );
    }
}

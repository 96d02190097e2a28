//! The case lifecycle (SPEC 3) in one table: every move on a case as a whole, the statuses it is
//! legal from, the status it leads to, and the 409 it answers from every other status. The only
//! home of "which move is legal from which status"; the services ask [`transition`] and write.

use chrono::{DateTime, Duration, Utc};

use super::case::CaseStatus;
use super::dispatch::AssignmentState;
use super::sla::CaseKind;
use crate::error::ErrorCode;

/// Why a move is not allowed now: a 409 with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IllegalTransition {
    pub code: ErrorCode,
    pub detail: &'static str,
}

pub(crate) const fn illegal(code: ErrorCode, detail: &'static str) -> IllegalTransition {
    IllegalTransition { code, detail }
}

/// A move on a case as a whole. The departments' moves on their assignments change the case's
/// status only through their round (see [`status_after_round`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseMove {
    /// The intake desk accepts a registered case (受理).
    Accept,
    /// The intake desk does not accept it (不予受理).
    Reject,
    /// The intake desk answers a consultation during the call (see also [`answerable`]).
    Answer,
    /// Kind, urgency, category, texts or place change.
    Reclassify,
    /// The centre sends the case to one or more departments.
    Dispatch,
    /// The centre's review approves the round's replies.
    Approve,
    /// The centre's review sends one reply back to its department.
    SendBack,
    /// 重办: the round's work is set aside for a new dispatch round.
    Redo,
    /// 并单: this case is merged into an earlier one and closes.
    Merge,
    /// The earlier case another one is merged into: it only records the merge.
    TakeMerged,
    /// A supervisor closes the case with a reason.
    Close,
    /// A supervisor reopens a closed case (see also [`may_reopen`]).
    Reopen,
    /// Someone adds a note.
    Note,
    /// A follow-up attempt that leaves the case waiting (not reached yet).
    FollowUpAttempt,
    /// A follow-up that ends the case: satisfied, refused to evaluate, or unreachable.
    FollowUpClose,
    /// A follow-up where the citizen was dissatisfied: the supervisor decides.
    FollowUpDissatisfied,
    /// The supervisor's decision after a dissatisfied follow-up: redo (a new round).
    DecideRedo,
    /// The supervisor's decision after a dissatisfied follow-up: close with a reason.
    DecideClose,
    /// The centre invites the citizen to a satisfaction survey: once the replies are approved.
    IssueSurvey,
}

/// Where a legal move leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    To(CaseStatus),
    /// The status stays as it is.
    Same,
}

/// One row of the table.
struct Rule {
    from: &'static [CaseStatus],
    next: Next,
    refusal: IllegalTransition,
}

use CaseStatus::{
    AwaitingDecision, AwaitingFollowUp, Closed, Dispatched, InProgress, PendingDispatch,
    PendingReview, Registered, Rejected,
};

/// Accepted and not yet ended.
const OPEN: &[CaseStatus] = &[
    PendingDispatch,
    Dispatched,
    InProgress,
    PendingReview,
    AwaitingFollowUp,
    AwaitingDecision,
];

const NOT_REGISTERED: IllegalTransition = illegal(
    ErrorCode::CaseNotRegistered,
    "only a newly registered case can be accepted, rejected or answered directly",
);

/// The table.
const fn rule(mv: CaseMove) -> Rule {
    const fn row(from: &'static [CaseStatus], next: Next, refusal: IllegalTransition) -> Rule {
        Rule {
            from,
            next,
            refusal,
        }
    }
    use Next::{Same, To};
    match mv {
        CaseMove::Accept => row(&[Registered], To(PendingDispatch), NOT_REGISTERED),
        CaseMove::Reject => row(&[Registered], To(Rejected), NOT_REGISTERED),
        CaseMove::Answer => row(&[Registered], To(Closed), NOT_REGISTERED),
        CaseMove::Reclassify => row(
            &[Registered, PendingDispatch],
            Same,
            illegal(
                ErrorCode::ClassificationLocked,
                "the classification can change only until the case is dispatched",
            ),
        ),
        CaseMove::Dispatch => row(
            &[PendingDispatch],
            To(Dispatched),
            illegal(
                ErrorCode::CaseNotPendingDispatch,
                "only an accepted case waiting for dispatch can be dispatched",
            ),
        ),
        CaseMove::Approve => row(&[PendingReview], To(AwaitingFollowUp), NOT_PENDING_REVIEW),
        CaseMove::SendBack => row(&[PendingReview], To(InProgress), NOT_PENDING_REVIEW),
        CaseMove::Redo => row(
            &[PendingReview, AwaitingFollowUp, AwaitingDecision],
            To(PendingDispatch),
            illegal(
                ErrorCode::CaseNotRedoable,
                "a case is redone after its replies are in (pending review, awaiting follow-up or the supervisor's decision)",
            ),
        ),
        CaseMove::Merge => row(
            &[Registered, PendingDispatch],
            To(Closed),
            illegal(
                ErrorCode::CaseNotMergeable,
                "only a case not yet dispatched can be merged into another",
            ),
        ),
        CaseMove::TakeMerged => row(
            NOT_ENDED,
            Same,
            illegal(
                ErrorCode::MergeTargetClosed,
                "the case merged into must still be open",
            ),
        ),
        CaseMove::Close => row(
            OPEN,
            To(Closed),
            illegal(
                ErrorCode::CaseNotOpen,
                "only an open, accepted case can be closed",
            ),
        ),
        CaseMove::Reopen => row(
            &[Closed],
            To(PendingDispatch),
            illegal(
                ErrorCode::CaseNotClosed,
                "only a closed case can be reopened",
            ),
        ),
        CaseMove::Note => row(
            NOT_ENDED,
            Same,
            illegal(
                ErrorCode::CaseClosed,
                "a closed case is read-only; ask a supervisor to reopen it",
            ),
        ),
        CaseMove::FollowUpAttempt => row(&[AwaitingFollowUp], Same, NOT_AWAITING_FOLLOW_UP),
        CaseMove::FollowUpClose => row(&[AwaitingFollowUp], To(Closed), NOT_AWAITING_FOLLOW_UP),
        CaseMove::FollowUpDissatisfied => row(
            &[AwaitingFollowUp],
            To(AwaitingDecision),
            NOT_AWAITING_FOLLOW_UP,
        ),
        CaseMove::DecideRedo => row(
            &[AwaitingDecision],
            To(PendingDispatch),
            NOT_AWAITING_DECISION,
        ),
        CaseMove::DecideClose => row(&[AwaitingDecision], To(Closed), NOT_AWAITING_DECISION),
        CaseMove::IssueSurvey => row(
            &[AwaitingFollowUp, Closed],
            Same,
            illegal(
                ErrorCode::CaseNotSurveyable,
                "a survey is issued once the replies are approved (awaiting follow-up) or the case is closed",
            ),
        ),
    }
}

const NOT_AWAITING_FOLLOW_UP: IllegalTransition = illegal(
    ErrorCode::CaseNotAwaitingFollowUp,
    "follow-up calls are recorded once the centre approved the case's result",
);

const NOT_AWAITING_DECISION: IllegalTransition = illegal(
    ErrorCode::CaseNotAwaitingDecision,
    "only a case whose citizen was dissatisfied at the follow-up awaits a decision",
);

const NOT_PENDING_REVIEW: IllegalTransition = illegal(
    ErrorCode::CaseNotPendingReview,
    "the case is not waiting for review of the departments' replies",
);

/// Neither closed nor rejected (registered counts).
const NOT_ENDED: &[CaseStatus] = &[
    Registered,
    PendingDispatch,
    Dispatched,
    InProgress,
    PendingReview,
    AwaitingFollowUp,
    AwaitingDecision,
];

impl CaseMove {
    pub const ALL: [CaseMove; 19] = [
        CaseMove::Accept,
        CaseMove::Reject,
        CaseMove::Answer,
        CaseMove::Reclassify,
        CaseMove::Dispatch,
        CaseMove::Approve,
        CaseMove::SendBack,
        CaseMove::Redo,
        CaseMove::Merge,
        CaseMove::TakeMerged,
        CaseMove::Close,
        CaseMove::Reopen,
        CaseMove::Note,
        CaseMove::FollowUpAttempt,
        CaseMove::FollowUpClose,
        CaseMove::FollowUpDissatisfied,
        CaseMove::DecideRedo,
        CaseMove::DecideClose,
        CaseMove::IssueSurvey,
    ];
}

/// The status after `mv` on a case in `status`, or why it may not happen.
pub fn transition(status: CaseStatus, mv: CaseMove) -> Result<CaseStatus, IllegalTransition> {
    let rule = rule(mv);
    if !rule.from.contains(&status) {
        return Err(rule.refusal);
    }
    Ok(match rule.next {
        Next::To(next) => next,
        Next::Same => status,
    })
}

/// Only consultations are answered directly; asked after [`transition`] allows the answer.
pub fn answerable(kind: CaseKind) -> Result<(), IllegalTransition> {
    if kind == CaseKind::Consultation {
        Ok(())
    } else {
        Err(illegal(
            ErrorCode::NotAConsultation,
            "only consultations can be answered directly",
        ))
    }
}

/// How long after closing a supervisor may still reopen a case.
pub const REOPEN_WINDOW_DAYS: i64 = 30;

/// Whether a case closed at `closed_at` may still be reopened; asked after [`transition`].
pub fn may_reopen(closed_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), IllegalTransition> {
    if now - closed_at <= Duration::days(REOPEN_WINDOW_DAYS) {
        Ok(())
    } else {
        Err(illegal(
            ErrorCode::ReopenWindowPassed,
            "a closed case can be reopened within 30 days of closing",
        ))
    }
}

/// The case's status after a move on one of its assignments, given the states of its current
/// round's assignments. While the case is with the departments (dispatched, in progress, pending
/// review) the round decides: all withdrawn → back to dispatch; every active one replied →
/// review; every active one signed → in progress; otherwise dispatched. Any other status stays.
pub fn status_after_round(status: CaseStatus, round: &[AssignmentState]) -> CaseStatus {
    if !matches!(status, Dispatched | InProgress | PendingReview) {
        return status;
    }
    let active: Vec<AssignmentState> = round.iter().copied().filter(|s| s.is_active()).collect();
    if active.is_empty() {
        PendingDispatch
    } else if active
        .iter()
        .all(|s| matches!(s, AssignmentState::Replied | AssignmentState::Completed))
    {
        PendingReview
    } else if active
        .iter()
        .all(|s| matches!(s, AssignmentState::InProgress | AssignmentState::Replied))
    {
        InProgress
    } else {
        Dispatched
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssignmentState as A;

    /// The documented lifecycle, written out: for each move, its next status from every status
    /// in `CaseStatus::ALL` order (`__` = refused), and the code every refusal answers.
    #[test]
    fn every_status_times_every_move() {
        const RG: Option<CaseStatus> = Some(Registered);
        const PD: Option<CaseStatus> = Some(PendingDispatch);
        const DI: Option<CaseStatus> = Some(Dispatched);
        const IP: Option<CaseStatus> = Some(InProgress);
        const PR: Option<CaseStatus> = Some(PendingReview);
        const AF: Option<CaseStatus> = Some(AwaitingFollowUp);
        const AD: Option<CaseStatus> = Some(AwaitingDecision);
        const RJ: Option<CaseStatus> = Some(Rejected);
        const CL: Option<CaseStatus> = Some(Closed);
        const __: Option<CaseStatus> = None;
        use ErrorCode as E;
        #[rustfmt::skip]
        let expected: [(CaseMove, [Option<CaseStatus>; 9], ErrorCode); 19] = [
            //                        from: registered pend_disp dispatched in_prog pend_rev await_fu await_dec rejected closed
            (CaseMove::Accept,     [PD, __, __, __, __, __, __, __, __], E::CaseNotRegistered),
            (CaseMove::Reject,     [RJ, __, __, __, __, __, __, __, __], E::CaseNotRegistered),
            (CaseMove::Answer,     [CL, __, __, __, __, __, __, __, __], E::CaseNotRegistered),
            (CaseMove::Reclassify, [RG, PD, __, __, __, __, __, __, __], E::ClassificationLocked),
            (CaseMove::Dispatch,   [__, DI, __, __, __, __, __, __, __], E::CaseNotPendingDispatch),
            (CaseMove::Approve,    [__, __, __, __, AF, __, __, __, __], E::CaseNotPendingReview),
            (CaseMove::SendBack,   [__, __, __, __, IP, __, __, __, __], E::CaseNotPendingReview),
            (CaseMove::Redo,       [__, __, __, __, PD, PD, PD, __, __], E::CaseNotRedoable),
            (CaseMove::Merge,      [CL, CL, __, __, __, __, __, __, __], E::CaseNotMergeable),
            (CaseMove::TakeMerged, [RG, PD, DI, IP, PR, AF, AD, __, __], E::MergeTargetClosed),
            (CaseMove::Close,      [__, CL, CL, CL, CL, CL, CL, __, __], E::CaseNotOpen),
            (CaseMove::Reopen,     [__, __, __, __, __, __, __, __, PD], E::CaseNotClosed),
            (CaseMove::Note,       [RG, PD, DI, IP, PR, AF, AD, __, __], E::CaseClosed),
            (CaseMove::FollowUpAttempt,      [__, __, __, __, __, AF, __, __, __], E::CaseNotAwaitingFollowUp),
            (CaseMove::FollowUpClose,        [__, __, __, __, __, CL, __, __, __], E::CaseNotAwaitingFollowUp),
            (CaseMove::FollowUpDissatisfied, [__, __, __, __, __, AD, __, __, __], E::CaseNotAwaitingFollowUp),
            (CaseMove::DecideRedo,           [__, __, __, __, __, __, PD, __, __], E::CaseNotAwaitingDecision),
            (CaseMove::DecideClose,          [__, __, __, __, __, __, CL, __, __], E::CaseNotAwaitingDecision),
            (CaseMove::IssueSurvey,          [__, __, __, __, __, AF, __, __, CL], E::CaseNotSurveyable),
        ];
        assert_eq!(
            expected.map(|(mv, _, _)| mv),
            CaseMove::ALL,
            "every move is written out once"
        );
        for (mv, row, code) in expected {
            for (status, next) in CaseStatus::ALL.iter().copied().zip(row) {
                match (transition(status, mv), next) {
                    (Ok(got), Some(want)) => assert_eq!(got, want, "{mv:?} from {status:?}"),
                    (Err(e), None) => assert_eq!(e.code, code, "{mv:?} from {status:?}"),
                    (got, want) => panic!("{mv:?} from {status:?}: {got:?}, expected {want:?}"),
                }
            }
        }
    }

    #[test]
    fn only_consultations_are_answered() {
        assert!(answerable(CaseKind::Consultation).is_ok());
        assert_eq!(
            answerable(CaseKind::Help).unwrap_err().code,
            ErrorCode::NotAConsultation
        );
    }

    #[test]
    fn reopening_has_a_window() {
        let closed = "2026-11-01T00:00:00Z".parse().unwrap();
        assert!(may_reopen(closed, "2026-12-01T00:00:00Z".parse().unwrap()).is_ok());
        assert!(may_reopen(closed, "2026-12-01T00:00:01Z".parse().unwrap()).is_err());
    }

    #[test]
    fn the_round_decides_the_case_status() {
        let with_departments = |round: &[AssignmentState]| status_after_round(Dispatched, round);
        assert_eq!(
            with_departments(&[A::PendingSign, A::InProgress]),
            Dispatched
        );
        assert_eq!(with_departments(&[A::InProgress, A::Replied]), InProgress);
        assert_eq!(with_departments(&[A::Replied, A::Replied]), PendingReview);
        assert_eq!(
            with_departments(&[A::Replied, A::Withdrawn]),
            PendingReview,
            "a withdrawn assignment no longer counts"
        );
        assert_eq!(
            with_departments(&[A::Withdrawn, A::Withdrawn]),
            PendingDispatch
        );
        assert_eq!(
            with_departments(&[A::Returned, A::InProgress]),
            Dispatched,
            "a returned assignment waits for the ruling"
        );
        for status in [PendingReview, InProgress] {
            assert_eq!(status_after_round(status, &[A::Replied]), PendingReview);
        }
        for status in [
            Registered,
            PendingDispatch,
            AwaitingFollowUp,
            AwaitingDecision,
            Rejected,
            Closed,
        ] {
            assert_eq!(
                status_after_round(status, &[A::Withdrawn]),
                status,
                "{status:?} is not with the departments"
            );
        }
    }
}

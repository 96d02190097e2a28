//! Cases (SPEC 2.3, 3): statuses, channels, closures, case numbers, and what each role
//! may see of the complainant (SPEC 5.3). Pure rules; the service applies them in transactions.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::phone::PhoneNumber;
use super::role::Role;

named_enum! {
    /// Where a request came in.
    pub enum Channel {
        Phone,
        Web,
        App,
        Wechat,
        Email,
        Letter,
        WalkIn,
        SocialMedia,
    }
}

impl Channel {
    /// Channels citizens use themselves (the rest are registered by call-takers).
    pub fn is_self_service(self) -> bool {
        matches!(self, Channel::Web | Channel::App | Channel::Wechat)
    }
}

named_enum! {
    /// Where a case stands (SPEC 3).
    pub enum CaseStatus {
        Registered,
        PendingDispatch,
        Dispatched,
        InProgress,
        PendingReview,
        AwaitingFollowUp,
        /// The citizen was dissatisfied at the follow-up: a supervisor decides (redo, or close
        /// with a reason).
        AwaitingDecision,
        /// Not accepted (不予受理); read-only like a closed case.
        Rejected,
        Closed,
    }
}

impl CaseStatus {
    /// What a citizen is told: fewer, plainer stages than the centre works with.
    pub fn for_citizen(self) -> CitizenStatus {
        match self {
            CaseStatus::Registered => CitizenStatus::Received,
            CaseStatus::PendingDispatch
            | CaseStatus::Dispatched
            | CaseStatus::InProgress
            | CaseStatus::PendingReview => CitizenStatus::InHand,
            CaseStatus::AwaitingFollowUp | CaseStatus::AwaitingDecision => CitizenStatus::Answered,
            CaseStatus::Rejected => CitizenStatus::NotAccepted,
            CaseStatus::Closed => CitizenStatus::Closed,
        }
    }
}

/// The status as shown to citizens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CitizenStatus {
    /// 已登记: received, not yet assessed.
    Received,
    /// 办理中: accepted and being handled.
    InHand,
    /// 已答复: the departments' answer is in; a follow-up call may come.
    Answered,
    /// 不予受理: not accepted; the answer says where to go instead.
    NotAccepted,
    /// 已办结.
    Closed,
}

named_enum! {
    /// How a closed case ended.
    pub enum Closure {
        /// A consultation answered during the call.
        AnsweredDirectly,
        /// The citizen said at the follow-up that the problem was solved.
        Resolved,
        /// The citizen said it was partly solved, and was satisfied or basically satisfied.
        PartlyResolved,
        /// The citizen was satisfied with the handling though the problem was not solved.
        Unresolved,
        Merged,
        /// Three follow-up attempts on three different days did not reach the citizen.
        Unreachable,
        /// The citizen would not evaluate the handling (the follow-up was refused).
        NotEvaluated,
        /// After a dissatisfied follow-up the supervisor closed it: the demand exceeds policy (超出政策).
        BeyondPolicy,
        /// …: the demand is unreasonable (诉求不合理).
        UnreasonableDemand,
        /// …: the department's handling stands as the resolution.
        ResolvedPerDepartment,
        /// A supervisor closed it with a reason of their own.
        ClosedBySupervisor,
    }
}

/// `YYYYMMDD-NNNNNN`: the local registration date and that day's sequence number.
pub fn case_number(day: NaiveDate, sequence: i64) -> String {
    format!("{}-{sequence:06}", day.format("%Y%m%d"))
}

/// Whether `value` is shaped like a case number.
pub fn is_case_number(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() >= 15
        && bytes.len() <= 18
        && bytes[8] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 8 || b.is_ascii_digit())
}

/// How much of the complainant a viewer sees (SPEC 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    /// Name and phone in full; centre staff's reads are recorded.
    Full,
    /// `张*`, `138****5678`.
    Masked,
    /// Nothing at all.
    Hidden,
}

/// The complainant's wishes that decide what departments see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactWishes {
    pub contact_allowed: bool,
    pub confidential: bool,
}

pub fn disclosure(viewer: Role, is_own_case: bool, wishes: ContactWishes) -> Disclosure {
    match viewer {
        Role::Citizen if is_own_case => Disclosure::Full,
        Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => Disclosure::Full,
        Role::DepartmentStaff | Role::DepartmentAdmin => {
            if wishes.confidential {
                Disclosure::Hidden
            } else if wishes.contact_allowed {
                Disclosure::Full
            } else {
                Disclosure::Masked
            }
        }
        _ => Disclosure::Hidden,
    }
}

/// `张*` for 张三, `欧阳**` keeps only the first character: enough to address, not to identify.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

pub fn mask_phone(phone: &str) -> String {
    PhoneNumber::parse(phone)
        .map(|p| p.masked())
        .unwrap_or_else(|_| "****".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_numbers() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert_eq!(case_number(day, 42), "20261121-000042");
        assert!(is_case_number("20261121-000042"));
        assert!(
            is_case_number("20261121-1000042"),
            "more than a million a day still fits"
        );
        assert!(!is_case_number("2026-11-21-42"));
        assert!(!is_case_number("20261121x000042"));
    }

    #[test]
    fn disclosure_follows_spec_5_3() {
        let open = ContactWishes {
            contact_allowed: true,
            confidential: false,
        };
        let no_contact = ContactWishes {
            contact_allowed: false,
            confidential: false,
        };
        let secret = ContactWishes {
            contact_allowed: true,
            confidential: true,
        };
        assert_eq!(disclosure(Role::Operator, false, secret), Disclosure::Full);
        assert_eq!(
            disclosure(Role::DepartmentStaff, false, open),
            Disclosure::Full
        );
        assert_eq!(
            disclosure(Role::DepartmentAdmin, false, no_contact),
            Disclosure::Masked
        );
        assert_eq!(
            disclosure(Role::DepartmentStaff, false, secret),
            Disclosure::Hidden
        );
        assert_eq!(disclosure(Role::Analyst, false, open), Disclosure::Hidden);
        assert_eq!(
            disclosure(Role::Integration, false, open),
            Disclosure::Hidden
        );
        assert_eq!(disclosure(Role::Citizen, true, secret), Disclosure::Full);
        assert_eq!(disclosure(Role::Citizen, false, open), Disclosure::Hidden);
    }

    #[test]
    fn masking() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("010-12345678"), "010-****5678");
        assert_eq!(citizen(CaseStatus::PendingReview), CitizenStatus::InHand);
    }

    fn citizen(status: CaseStatus) -> CitizenStatus {
        status.for_citizen()
    }
}

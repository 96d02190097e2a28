//! What a case export shows to whom (SPEC 5.3, 6). The centre desks and administrators export
//! everything, the complainant in full; departments the cases dispatched to them, the complainant
//! as they see it through the API (full, masked or nothing); analysts the cases' facts only: no
//! complainant and no description (free text in which citizens write their names and numbers).

use std::borrow::Cow;

use super::case::{ContactWishes, Disclosure, disclosure, mask_name, mask_phone};
use super::role::Role;

/// The three kinds of export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Operators, dispatchers, supervisors, administrators.
    Centre,
    /// Department staff and department admins: their department's cases.
    Department,
    /// Analysts: no personal data, nor text that may hold it.
    Analyst,
}

impl Audience {
    /// Who exports what; `None` for roles that may not export cases (citizens, integration
    /// clients).
    pub fn of(role: Role) -> Option<Self> {
        match role {
            Role::Operator | Role::Dispatcher | Role::Supervisor | Role::Admin => {
                Some(Audience::Centre)
            }
            Role::DepartmentStaff | Role::DepartmentAdmin => Some(Audience::Department),
            Role::Analyst => Some(Audience::Analyst),
            Role::Citizen | Role::Integration => None,
        }
    }

    /// Whether the export carries the description and the complainant's name and phone.
    pub fn sees_case_detail(self) -> bool {
        self != Audience::Analyst
    }

    /// The columns of this audience's export, in order.
    pub fn columns(self) -> &'static [&'static str] {
        if self.sees_case_detail() {
            COLUMNS
        } else {
            &COLUMNS[..FACT_COLUMNS]
        }
    }
}

/// Every column; the first [`FACT_COLUMNS`] are the facts every audience gets. Times are the
/// centre's local time.
pub const COLUMNS: &[&str] = &[
    "case_no",
    "status",
    "kind",
    "channel",
    "urgency",
    "category",
    "district",
    "title",
    "address",
    "registered_at",
    "accepted_at",
    "closed_at",
    "closure",
    "lead_department",
    "reply_due_at",
    "redo_count",
    "description",
    "complainant_name",
    "complainant_phone",
];

/// How many of [`COLUMNS`] analysts get.
pub const FACT_COLUMNS: usize = 16;

/// The complainant's name and phone as they go into a row for `viewer` (SPEC 5.3: the same
/// disclosure and masking as the API's), and whether they are shown in full.
pub fn complainant_cells<'a>(
    viewer: Role,
    name: Option<&'a str>,
    phone: Option<&'a str>,
    wishes: ContactWishes,
) -> (Option<Cow<'a, str>>, Option<Cow<'a, str>>, Disclosure) {
    let shown = disclosure(viewer, false, wishes);
    match shown {
        Disclosure::Full => (name.map(Cow::Borrowed), phone.map(Cow::Borrowed), shown),
        Disclosure::Masked => (
            name.map(|n| Cow::Owned(mask_name(n))),
            phone.map(|p| Cow::Owned(mask_phone(p))),
            shown,
        ),
        Disclosure::Hidden => (None, None, shown),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analysts_get_the_facts_only() {
        let columns = Audience::Analyst.columns();
        assert_eq!(columns.len(), FACT_COLUMNS);
        for hidden in ["description", "complainant_name", "complainant_phone"] {
            assert!(!columns.contains(&hidden));
            assert!(Audience::Centre.columns().contains(&hidden));
        }
        assert_eq!(Audience::of(Role::Citizen), None);
        assert_eq!(Audience::of(Role::Integration), None);
        assert_eq!(Audience::of(Role::Analyst), Some(Audience::Analyst));
    }

    #[test]
    fn complainants_are_shown_as_through_the_api() {
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
        let (name, phone) = (Some("张三"), Some("13812345678"));
        let cells = |role, wishes| {
            let (n, p, d) = complainant_cells(role, name, phone, wishes);
            (n.map(Cow::into_owned), p.map(Cow::into_owned), d)
        };
        assert_eq!(
            cells(Role::Operator, secret),
            (
                Some("张三".into()),
                Some("13812345678".into()),
                Disclosure::Full
            )
        );
        assert_eq!(
            cells(Role::DepartmentStaff, no_contact),
            (
                Some("张*".into()),
                Some("138****5678".into()),
                Disclosure::Masked
            )
        );
        assert_eq!(
            cells(Role::DepartmentAdmin, secret),
            (None, None, Disclosure::Hidden)
        );
        assert_eq!(cells(Role::DepartmentAdmin, open).2, Disclosure::Full);
        assert_eq!(cells(Role::Analyst, open), (None, None, Disclosure::Hidden));
    }
}

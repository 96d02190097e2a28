//! The fixed roles (SPEC 1) and what each may do. Everything is denied unless a rule allows it.

named_enum! {
    pub enum Role {
        /// A member of the public: their own cases only.
        Citizen,
        /// Call-taker (接线员).
        Operator,
        /// Dispatch desk (派单员): an operator's rights plus dispatch and review.
        Dispatcher,
        /// Supervision desk (督办员): a dispatcher's rights plus supervision and decisions.
        Supervisor,
        /// Case handler in a department (承办人): their department's assignments only.
        DepartmentStaff,
        /// Head of a department's hotline desk.
        DepartmentAdmin,
        /// Reads statistics; never personal data.
        Analyst,
        /// System administrator.
        Admin,
        /// A machine client acting for citizens.
        Integration,
    }
}

impl Role {
    /// Roles that belong to exactly one department.
    pub fn is_department_role(self) -> bool {
        matches!(self, Role::DepartmentStaff | Role::DepartmentAdmin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(Role::parse("root"), None);
    }
}

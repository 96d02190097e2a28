//! The domain's enums in text columns: each is stored under the name `as_str` gives it (the same
//! as on the wire), and a stored name the enum does not know is a database error, never a default.
//! One macro for every enum, in place of a parse at each use.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::internal::derives::as_expression::Bound;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text};

macro_rules! stored_enums {
    ($($name:ty),+ $(,)?) => {$(
        impl<DB: Backend> ToSql<Text, DB> for $name
        where
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB: Backend> ToSql<Nullable<Text>, DB> for $name
        where
            Self: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <Self as ToSql<Text, DB>>::to_sql(self, out)
            }
        }

        impl<DB: Backend> FromSql<Text, DB> for $name
        where
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let name = String::from_sql(bytes)?;
                <$name>::parse(&name).ok_or_else(|| {
                    format!("unknown {} stored: {name}", stringify!($name)).into()
                })
            }
        }

        impl<DB: Backend> Queryable<Text, DB> for $name
        where
            Self: FromSql<Text, DB>,
        {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl AsExpression<Text> for $name {
            type Expression = Bound<Text, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl AsExpression<Nullable<Text>> for $name {
            type Expression = Bound<Nullable<Text>, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl<'a> AsExpression<Text> for &'a $name {
            type Expression = Bound<Text, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }

        impl<'a> AsExpression<Nullable<Text>> for &'a $name {
            type Expression = Bound<Nullable<Text>, Self>;

            fn as_expression(self) -> Self::Expression {
                Bound::new(self)
            }
        }
    )+};
}

/// Every enum stored in a text column, listed once: the mapping below and the test take it from here.
macro_rules! with_stored_enums {
    ($apply:ident) => {
        $apply!(
            crate::domain::role::Role,
            crate::domain::organisation::DepartmentKind,
            crate::domain::case::Channel,
            crate::domain::case::CaseStatus,
            crate::domain::case::Closure,
            crate::domain::sla::CaseKind,
            crate::domain::sla::Urgency,
            crate::domain::dispatch::AssignmentState,
            crate::domain::dispatch::AssignmentRole,
            crate::domain::dispatch::DispatchMode,
            crate::domain::dispatch::DeadlineKind,
            crate::domain::dispatch::DeadlineState,
            crate::domain::dispatch::ReturnRuling,
            crate::domain::extension::ExtensionState,
            crate::service::supervision::SupervisionKind,
            crate::service::supervision::SupervisionMethod,
            crate::domain::follow_up::FollowUpChannel,
            crate::domain::follow_up::CallOutcome,
            crate::domain::follow_up::Resolved,
            crate::domain::follow_up::Satisfaction,
            crate::domain::follow_up::CallEffect,
            crate::domain::survey::SurveyChannel,
        );
    };
}

with_stored_enums!(stored_enums);

#[cfg(test)]
mod tests {
    /// Every stored enum: serde writes each value as `as_str` names it, and the name parses back.
    macro_rules! names_agree {
        ($($name:ty),+ $(,)?) => {$(
            assert!(!<$name>::ALL.is_empty());
            for &value in <$name>::ALL {
                assert_eq!(
                    serde_json::to_value(value).unwrap(),
                    value.as_str(),
                    "{}",
                    stringify!($name)
                );
                assert_eq!(<$name>::parse(value.as_str()), Some(value));
            }
            assert_eq!(<$name>::parse("no_such_name"), None);
        )+};
    }

    #[test]
    fn serde_names_are_the_stored_names() {
        with_stored_enums!(names_agree);
    }
}

//! The domain's enums in text columns: each is stored under the name `as_str` gives it (the same
//! as on the wire), and a stored name the enum does not know is a database error, never a default.
//! One macro for every enum, in place of a parse at each use.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::internal::derives::as_expression::Bound;
use diesel::pg::Pg;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, Text, Timestamp};
use diesel::sqlite::Sqlite;

use super::MultiBackend;

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
            crate::domain::knowledge::Visibility,
            crate::domain::knowledge::VersionState,
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

/// A stored time, for reads of many rows (exports, hot spots). On SQLite a time is text that
/// Diesel reads with chrono's general parser, trying one format after another: a sixth of a CSV
/// export's time went there.
/// What the program writes (`YYYY-MM-DD HH:MM:SS` with up to nine decimals) is read here by hand;
/// anything else still goes to Diesel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct StoredTime(pub NaiveDateTime);

/// `YYYY-MM-DD HH:MM:SS` and an optional fraction, the form `diesel` and the seed write.
fn parse_stored_time(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let mut nanos = 0;
    if b.len() > 19 {
        let fraction = &b[20..];
        if b[19] != b'.' || fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        nanos = number(20..b.len())? * 10u32.pow(9 - fraction.len() as u32);
    }
    NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)?.and_hms_nano_opt(
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
        nanos,
    )
}

impl FromSql<Timestamp, Sqlite> for StoredTime {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        match parse_stored_time(value.read_text()) {
            Some(time) => Ok(StoredTime(time)),
            None => <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(StoredTime),
        }
    }
}

impl FromSql<Timestamp, Pg> for StoredTime {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(StoredTime)
    }
}

impl FromSql<Timestamp, MultiBackend> for StoredTime {
    fn from_sql(value: <MultiBackend as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn stored_times_are_read_as_chrono_reads_them() {
        for text in [
            "2026-11-21 09:05:07",
            "2026-11-21 09:05:07.5",
            "2026-11-21 09:05:07.123456",
            "2026-02-28 23:59:59.999999999",
        ] {
            assert_eq!(
                parse_stored_time(text),
                Some(NaiveDateTime::parse_from_str(text, "%F %T%.f").unwrap()),
                "{text}"
            );
        }
        for other in [
            "2026-11-21T09:05:07",
            "2026-11-21 09:05:07Z",
            "2026-11-21 09:05:07.",
            "2026-02-30 09:05:07",
            "2026-11-21 9:05:07",
            "2461000.5",
        ] {
            assert_eq!(parse_stored_time(other), None, "{other}");
        }
    }
}

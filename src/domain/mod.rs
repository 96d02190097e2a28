//! Business rules as plain Rust: no HTTP, no SQL.

/// The one way an enum of the domain is declared and named, on the wire and in the database:
/// serde and strum both with snake_case names (`IntoStaticStr`, `EnumString`, `VariantArray`),
/// the usual derives, and `ALL`, `as_str`, `parse`. `db::stored` maps the same names to text
/// columns; a test checks that serde writes every value as `as_str` does.
macro_rules! named_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($body:tt)* }) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            serde::Serialize,
            eserde::Deserialize,
            utoipa::ToSchema,
            strum::IntoStaticStr,
            strum::EnumString,
            strum::VariantArray,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        $vis enum $name { $($body)* }

        impl $name {
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(value: &str) -> Option<Self> {
                value.parse().ok()
            }
        }
    };
}
pub(crate) use named_enum;

pub mod account;
pub mod attachment;
pub mod calendar;
pub mod case;
pub mod dispatch;
pub mod export;
pub mod extension;
pub mod follow_up;
pub mod handling_times;
pub mod hotspots;
pub mod ids;
pub mod knowledge;
pub mod lifecycle;
pub mod open311;
pub mod organisation;
pub mod phone;
pub mod place;
pub mod public_report;
pub mod role;
pub mod sla;
pub mod stat_facts;
pub mod statistics;
pub mod survey;
pub mod webhook;

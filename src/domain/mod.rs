//! Business rules as plain Rust: no HTTP, no SQL.

/// The one way an enum of the domain gets its names, on the wire and in the database: strum's
/// derives (`IntoStaticStr`, `EnumString`, `VariantArray`, snake_case like serde's), and these
/// inherent methods. `db::stored` maps the same names to text columns; a test checks that serde
/// writes every value as `as_str` does.
macro_rules! named_enum {
    ($($name:ty),+ $(,)?) => {$(
        impl $name {
            pub const ALL: &'static [$name] = <$name as strum::VariantArray>::VARIANTS;

            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(value: &str) -> Option<Self> {
                value.parse().ok()
            }
        }
    )+};
}
pub(crate) use named_enum;

pub mod account;
pub mod calendar;
pub mod case;
pub mod dispatch;
pub mod extension;
pub mod follow_up;
pub mod ids;
pub mod lifecycle;
pub mod organisation;
pub mod phone;
pub mod role;
pub mod sla;

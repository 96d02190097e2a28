//! Business rules as plain Rust: no HTTP, no SQL.

pub mod account;
pub mod calendar;
pub mod case;
pub mod dispatch;
pub mod extension;
pub mod lifecycle;
pub mod organisation;
pub mod phone;
pub mod role;
pub mod sla;

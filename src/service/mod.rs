//! Use cases: each function runs on a blocking thread with one connection, combines the domain
//! rules with the storage layer, and takes its own transaction where it writes. Handlers call
//! these and only translate HTTP.

pub mod auth;
pub mod cases;
pub mod dispatch;
pub mod extensions;
pub mod organisation;
pub mod reference;
pub mod supervision;
pub mod users;

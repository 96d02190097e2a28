//! Use cases: each function runs on a blocking thread with one connection, combines the domain
//! rules with the storage layer, and takes its own transaction where it writes. Handlers call
//! these and only translate HTTP.

pub mod assignments;
pub mod attachments;
pub mod auth;
pub mod case_closing;
pub mod case_views;
pub mod cases;
pub mod deadlines;
pub mod dispatch;
pub mod exports;
pub mod extensions;
pub mod follow_up;
pub mod hotspots;
pub mod intake;
pub mod knowledge;
pub mod notes;
pub mod open311;
pub mod organisation;
pub mod reference;
pub mod reports;
pub mod stats;
pub mod supervision;
pub mod surveys;
pub mod users;
pub mod webhooks;

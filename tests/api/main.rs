//! Black-box API tests: each test starts the real application on a random port with a fresh
//! database of its own, and talks to it over HTTP.
//!
//! Backend: SQLite by default. Set `HOTLINE_TEST_DATABASE_URL=postgres://…` (a server where the
//! user may create databases) to run the same tests against PostgreSQL; each test then creates its
//! own database and drops it afterwards. If that server cannot be reached the tests fail.

mod attachments;
mod auth;
mod calendar;
mod cases;
mod cli;
mod cluster;
mod dispatch;
mod errors;
mod exports;
mod extensions;
mod follow_up;
mod hardening;
mod health;
mod helpers;
mod hotspots;
mod knowledge;
mod matrix;
mod metrics;
mod open311;
mod openapi;
mod organisation;
mod personal_data;
mod search;
mod stats;
mod supervision;
mod surveys;
mod tokens;
mod webhooks;

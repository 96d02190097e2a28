//! hotline: the back end of a government public-service hotline (12345 centre).
//!
//! Layers: [`routes`] (thin HTTP handlers) → [`service`] (the use cases, each in its
//! transactions) → [`domain`] (business rules, no I/O) and [`db`] (all database access);
//! [`error`] maps every failure to one problem document.

pub mod auth;
pub mod commands;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod extract;
pub mod hardening;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod routes;
pub mod seed;
pub mod service;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod validation;

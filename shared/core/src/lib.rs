//! Cruddur's core: domain types and validation, the operations behind each endpoint, the stores
//! (SQLite embedded, DynamoDB in AWS), caller identity and the shared HTTP edge.
//!
//! Core emits `tracing` spans and fields only; where they go is the telemetry runtime's business.

pub mod app;
pub mod auth;
pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
pub mod routes;
pub mod services;
pub mod signup;
pub mod spans;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use app::{trigger_service, App};
pub use config::Config;
pub use error::ApiError;
pub use http::{http_service, Ctx, Reply};
pub use routes::{Endpoint, Route};
pub use store::{Store, StoreError};

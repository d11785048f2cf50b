//! Cruddur's core: domain types and validation, the operations behind each endpoint, the stores
//! (SQLite embedded, DynamoDB in AWS), caller identity and the shared HTTP edge.
//!
//! Core emits `tracing` spans and fields only; where they go is the telemetry runtime's business.
//!
//! What a function uses is public: its row of the route table ([`routes`]), its handler
//! ([`handlers`]), and, at the root, what `cruddur-lambda` runs them with. Everything else is the
//! crate's own; tests reach the internals they check through [`testing`] (feature `testing`).

mod app;
mod auth;
mod aws;
mod config;
mod domain;
mod error;
pub mod handlers;
mod http;
pub mod routes;
mod services;
mod signup;
mod spans;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use app::trigger_service;
pub use aws::sdk_config;
pub use config::{env_var, Config};
pub use error::ApiError;
pub use http::{http_service, Ctx, Reply};
pub use routes::{Endpoint, Route};
pub use signup::{check_sign_up, confirm_sign_up, SignUp, TriggerError};
pub use store::{DynamoStore, Store, StoreError};

//! cruddur-telemetry: the observability runtime of a Rust Lambda function.
//!
//! A function's `main` is one call: [`run`] for HTTP functions (API Gateway, Function URLs),
//! [`run_events`] for functions that take other events. Instrumentation is `tracing` only; this
//! crate sends it on: X-Ray segments over UDP, OTLP traces (e.g. to Honeycomb), JSON log lines and
//! EMF metrics for CloudWatch. It knows nothing about the application.

mod access;
pub mod context;
pub mod export;
mod invocation;
pub mod logs;
pub mod metrics;
pub mod panics;
pub mod pipeline;
pub mod propagation;
pub mod rollbar;
pub mod settings;
mod worker;
pub mod xray;

use std::fmt::Debug;
use std::future::Future;

use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{de::DeserializeOwned, Serialize};

pub use access::{record_status, AccessLog};
pub use invocation::{parent_from_header, InvocationLayer, Parent};
pub use pipeline::Telemetry;
pub use propagation::trace_headers;
pub use settings::Settings;

pub type Error = lambda_runtime::Error;

/// Builds the pipeline from the environment and installs it as the process's subscriber.
pub fn init() -> Telemetry {
    panics::install_hook();
    let (telemetry, subscriber) = Telemetry::build(Settings::from_env(), logs::Output::stdout());
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("cruddur-telemetry: a global tracing subscriber was already set; keeping it");
    }
    if telemetry.reporter.is_none() {
        tracing::info!(target: "cruddur_telemetry", "ROLLBAR_ACCESS_TOKEN is not set: error reports to Rollbar are off");
    }
    telemetry
}

/// Runs an HTTP function: telemetry, then the Lambda runtime loop.
pub async fn run<S>(handler: S) -> Result<(), Error>
where
    S: lambda_http::Service<Request, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Debug + Into<Diagnostic> + Send + 'static,
{
    let telemetry = init();
    lambda_http::runtime(AccessLog::new(handler, telemetry.reporter.clone()))
        .layer(InvocationLayer::new(telemetry))
        .run()
        .await
}

/// Runs a function that takes a JSON event (e.g. a Cognito trigger).
pub async fn run_events<F, Fut, E, R>(handler: F) -> Result<(), Error>
where
    F: Fn(LambdaEvent<E>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let telemetry = init();
    lambda_runtime::Runtime::new(lambda_runtime::service_fn(handler))
        .layer(InvocationLayer::new(telemetry))
        .run()
        .await
}

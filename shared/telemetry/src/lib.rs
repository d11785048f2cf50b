//! Observability for Rust AWS Lambda functions: X-Ray, OpenTelemetry (OTLP, e.g. Honeycomb),
//! CloudWatch JSON logs and EMF metrics, and Rollbar error reports, from `tracing` alone.
//!
//! Handlers write `tracing` spans, fields and events; this crate sends them on. Each invocation
//! is a span under Lambda's X-Ray facade segment (a full segment outside Lambda); spans are
//! exported after the response is posted, so callers never wait for telemetry; panics and 5xx
//! answers are reported; events a function cannot read never end its process.
//!
//! ```no_run
//! use lambda_http::{service_fn, Body, Error, Request, Response};
//! use cruddur_telemetry::Settings;
//!
//! async fn hello(_request: Request) -> Result<Response<Body>, Error> {
//!     tracing::info!(user_id = "u-1", "saying hello");
//!     Ok(Response::new(Body::from("hello")))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), cruddur_telemetry::Error> {
//!     // Standard variables (OTEL_*, AWS_*, ROLLBAR_*), then what only the application knows.
//!     let settings = Settings::from_env()
//!         .default_service_name("greeter")
//!         .annotation("user_id", "user_id");
//!     cruddur_telemetry::run(settings, service_fn(hello)).await
//! }
//! ```
//!
//! [`run`] serves HTTP events (API Gateway REST and HTTP APIs, Function URLs) and [`run_events`]
//! any other event.
//! Functions that assemble their own runtime use [`init`] and the layers:
//! [`InvocationLayer`] (span, parent, flush), [`HttpEventLayer`] (event to request, response to
//! the origin's format, malformed events answered 400),
//! [`HttpLayer`] (access line, status flags) and [`CatchPanicLayer`].
//!
//! The OTLP and Rollbar clients speak TLS through rustls with ring, which [`Telemetry::build`]
//! installs as the process's default crypto provider unless the application installed one first.

#![warn(missing_docs)]

mod context;
mod env;
mod export;
mod http;
mod http_event;
mod invocation;
mod logs;
mod metrics;
mod outcome;
mod panics;
mod pipeline;
mod propagation;
mod rollbar;
mod segment;
mod settings;
mod transport;
mod worker;
mod xray;

use std::fmt::Debug;

use lambda_http::tower::Layer;
use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent, Service};
use serde::{de::DeserializeOwned, Serialize};

pub use http::HttpLayer;
pub use http_event::{HttpEvent, HttpEventLayer};
pub use invocation::InvocationLayer;
pub use panics::CatchPanicLayer;
pub use pipeline::{ExporterStats, Stats, Telemetry};
pub use propagation::trace_headers;
pub use settings::{LateSecrets, Settings};

/// The error a function's `main` returns.
pub type Error = lambda_runtime::Error;

/// Builds the telemetry and installs it as the process's `tracing` subscriber. [`run`] and
/// [`run_events`] call it; call it yourself to assemble your own runtime from the layers.
/// Late secrets (see [`Settings::secrets_later`]) are read from the first [`Telemetry::flush`]
/// on, in a task of the runtime the flush runs on.
pub fn init(settings: Settings) -> Telemetry {
    panics::install_hook();
    let secrets_later = settings.secrets.is_some();
    let (telemetry, subscriber) = Telemetry::build(settings);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("telemetry: a global tracing subscriber was already set; keeping it");
    }
    if secrets_later {
        tracing::info!(target: "telemetry", "error reports and OTLP export start once their secrets are read (off until then)");
    } else if !telemetry.reports_errors() {
        tracing::info!(target: "telemetry", "ROLLBAR_ACCESS_TOKEN is not set: error reports to Rollbar are off");
    }
    telemetry
}

/// The flush the invocation layer runs after each response.
fn flush_of(
    telemetry: &Telemetry,
) -> impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Clone {
    let telemetry = telemetry.clone();
    move || {
        let telemetry = telemetry.clone();
        Box::pin(async move { telemetry.flush().await })
    }
}

/// Runs an HTTP function (API Gateway REST or HTTP API, Function URL) with telemetry.
pub async fn run<S>(settings: Settings, handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Debug + Into<Diagnostic> + Send + 'static,
{
    let telemetry = init(settings);
    let settings = telemetry.settings();
    let bodies = &settings.error_bodies;
    let handler = HttpLayer::new()
        .describing_requests(telemetry.reports_errors())
        .layer(CatchPanicLayer::new(bodies.internal_error.as_str()).layer(handler));
    let service = HttpEventLayer::new(bodies.bad_request.as_str()).layer(handler);
    lambda_runtime::Runtime::new(service)
        .layer(InvocationLayer::new(settings, flush_of(&telemetry)))
        .run()
        .await
}

/// Runs a function that takes any other event (a Cognito trigger, SQS, ...) with telemetry.
pub async fn run_events<S, E, R>(settings: Settings, handler: S) -> Result<(), Error>
where
    S: Service<LambdaEvent<E>, Response = R> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Diagnostic> + Send + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let telemetry = init(settings);
    let settings = telemetry.settings();
    let service =
        CatchPanicLayer::new(settings.error_bodies.internal_error.as_str()).layer(handler);
    lambda_runtime::Runtime::new(service)
        .layer(InvocationLayer::new(settings, flush_of(&telemetry)))
        .run()
        .await
}

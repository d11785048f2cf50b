#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod breaker;
mod context;
mod env;
// Without a trace exporter (`xray`, `otlp`) the export paths are never built.
#[cfg_attr(not(any(feature = "xray", feature = "otlp")), allow(dead_code))]
mod export;
mod http;
mod http_event;
mod invocation;
mod logs;
#[cfg(feature = "emf")]
mod metrics;
mod outcome;
mod panics;
mod pipeline;
mod propagation;
#[cfg(feature = "rollbar")]
mod rollbar;
#[cfg(feature = "xray")]
mod segment;
mod settings;
mod shutdown;
#[cfg(feature = "https")]
mod transport;
mod worker;
#[cfg(feature = "xray")]
mod xray;
#[cfg(feature = "otlp")]
mod xray_otlp;

use std::fmt::Debug;

use lambda_http::tower::Layer;
use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent, Service};
use serde::{de::DeserializeOwned, Serialize};
use tracing_subscriber::layer::SubscriberExt;

pub use http::HttpLayer;
pub use http_event::{HttpEvent, HttpEventLayer};
pub use invocation::InvocationLayer;
pub use panics::{install_panic_hook, CatchPanicLayer};
pub use pipeline::{ExporterStats, Stats, Telemetry};
pub use propagation::trace_headers;
#[cfg(feature = "xray")]
pub use segment::segment_documents;
pub use settings::{LateSecrets, Settings};

/// The error a function's `main` returns.
pub type Error = lambda_runtime::Error;

/// Builds the telemetry, installs [`Telemetry::layer`] as the process's `tracing` subscriber and
/// the panic hook ([`install_panic_hook`]). [`run`] and [`run_events`] call it; call it yourself
/// to assemble your own runtime from the layers (see `examples/own-subscriber.rs` to keep a
/// subscriber of your own instead).
///
/// If a global subscriber is already set, it is kept (with one line on stderr) and this crate's
/// layers receive nothing.
///
/// Late secrets (see [`Settings::secrets_later`]) are read from the first [`Telemetry::flush`]
/// on, in a task of the runtime the flush runs on.
///
/// ```no_run
/// # async fn example() -> Result<(), lambda_telemetry::Error> {
/// use lambda_runtime::{service_fn, LambdaEvent, Runtime};
/// use lambda_telemetry::{CatchPanicLayer, Settings};
/// use lambda_http::tower::Layer;
///
/// async fn handle(event: LambdaEvent<serde_json::Value>) -> Result<serde_json::Value, lambda_runtime::Error> {
///     Ok(event.payload)
/// }
///
/// let telemetry = lambda_telemetry::init(Settings::from_env());
/// let handler = CatchPanicLayer::new(r#"{"message":"Internal Server Error"}"#).layer(service_fn(handle));
/// Runtime::new(handler)
///     .layer(telemetry.invocation_layer())
///     .run()
///     .await
/// # }
/// ```
pub fn init(settings: Settings) -> Telemetry {
    install_panic_hook();
    let secrets_later = settings.secrets.is_some();
    let telemetry = Telemetry::new(settings);
    let subscriber = tracing_subscriber::registry().with(telemetry.layer());
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        eprintln!("lambda-telemetry: a global tracing subscriber was already set; keeping it");
    }
    if secrets_later {
        tracing::info!(target: "telemetry", "error reports and OTLP export start once their secrets are read (off until then)");
    } else if cfg!(feature = "rollbar") && !telemetry.reports_errors() {
        tracing::info!(target: "telemetry", "ROLLBAR_ACCESS_TOKEN is not set: error reports to Rollbar are off");
    }
    telemetry
}

/// Runs an HTTP function (API Gateway REST or HTTP API, Function URL) with telemetry, until
/// Lambda stops the process: [`init`], then the handler behind [`HttpEventLayer`] (an event that
/// is no readable HTTP request is answered 400), [`HttpLayer`] (access line, status) and
/// [`CatchPanicLayer`] (a panic is answered 500), on a runtime with the [`InvocationLayer`].
///
/// With `AWS_LAMBDA_MAX_CONCURRENCY` above 1 (Lambda Managed Instances), up to that many
/// invocations run at once in the process (lambda_runtime's `run_concurrent`), each with its own
/// span, X-Ray parent (from its own `Lambda-Runtime-Trace-Id`), log context and error reports,
/// and each flushing after its own response without holding up the others; unset or 1, one at a
/// time. The handler is cloned for each concurrent poller.
///
/// ```no_run
/// use lambda_http::{service_fn, Body, Error, Request, Response};
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let handler = service_fn(|_request: Request| async {
///         Ok::<_, Error>(Response::new(Body::from("ok")))
///     });
///     lambda_telemetry::run(lambda_telemetry::Settings::from_env(), handler).await
/// }
/// ```
pub async fn run<S>(settings: Settings, handler: S) -> Result<(), Error>
where
    S: Service<Request, Response = Response<Body>> + Clone + Send + 'static,
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
    if settings.flush_on_shutdown && !settings.local {
        telemetry.flush_on_shutdown().await;
    }
    lambda_runtime::Runtime::new(service)
        .layer(telemetry.invocation_layer())
        .run_concurrent()
        .await
}

/// Runs a function that takes any other event (SQS, SNS, a Cognito trigger, ...) with
/// telemetry, until Lambda stops the process. An error the handler returns, or a panic, fails
/// the invocation: a fault in the trace and an error report. Concurrent invocations as with
/// [`run`].
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     let handler = service_fn(|event: LambdaEvent<Value>| async move {
///         tracing::info!(records = event.payload["Records"].as_array().map_or(0, Vec::len), "received");
///         Ok::<_, Error>(Value::Null)
///     });
///     lambda_telemetry::run_events(lambda_telemetry::Settings::from_env(), handler).await
/// }
/// ```
pub async fn run_events<S, E, R>(settings: Settings, handler: S) -> Result<(), Error>
where
    S: Service<LambdaEvent<E>, Response = R> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Diagnostic> + Send + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let telemetry = init(settings);
    let settings = telemetry.settings();
    let service =
        CatchPanicLayer::new(settings.error_bodies.internal_error.as_str()).layer(handler);
    if settings.flush_on_shutdown && !settings.local {
        telemetry.flush_on_shutdown().await;
    }
    lambda_runtime::Runtime::new(service)
        .layer(telemetry.invocation_layer())
        .run_concurrent()
        .await
}

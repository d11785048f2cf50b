//! cruddur-telemetry: the observability runtime of a Rust Lambda function.
//!
//! A function's `main` is one call: [`run`] for HTTP functions (API Gateway, Function URLs),
//! [`run_events`] for functions that take other events. Instrumentation is `tracing` only; this
//! crate decides where spans and events go. It knows nothing about the application.

mod access;
mod invocation;
pub mod logs;
pub mod settings;

use std::fmt::Debug;
use std::future::Future;

use lambda_http::{Body, Request, Response};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::{de::DeserializeOwned, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub use access::AccessLog;
pub use invocation::InvocationLayer;
pub use settings::Settings;

pub type Error = lambda_runtime::Error;

/// Installs the process-wide subscriber: JSON log lines on stdout, filtered by `RUST_LOG` or
/// `AWS_LAMBDA_LOG_LEVEL`. Safe to call more than once (later calls do nothing).
pub fn init(settings: &Settings) {
    let logs = logs::JsonLogLayer::stdout(settings).with_filter(logs::filter(settings));
    let _ = tracing_subscriber::registry().with(logs).try_init();
}

/// Runs an HTTP function: telemetry, then the Lambda runtime loop.
pub async fn run<S>(handler: S) -> Result<(), Error>
where
    S: lambda_http::Service<Request, Response = Response<Body>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Debug + Into<Diagnostic> + Send + 'static,
{
    init(&Settings::from_env());
    lambda_http::runtime(AccessLog::new(handler))
        .layer(InvocationLayer)
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
    init(&Settings::from_env());
    lambda_runtime::Runtime::new(lambda_runtime::service_fn(handler))
        .layer(InvocationLayer)
        .run()
        .await
}

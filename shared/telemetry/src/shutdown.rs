//! The flush at shutdown. Lambda sends a runtime SIGTERM before it shuts a sandbox down only when
//! an extension is registered, and then gives it 500 ms (with an internal extension). So the
//! runtime registers itself as an internal extension that subscribes to no events, through the
//! Extensions API as AWS documents it (register, then one `event/next` that is never answered),
//! and on SIGTERM sends what is still queued (spans held for a failing backend, reports) within
//! a budget, then exits.
//!
//! Written here rather than taken from lambda_runtime's `graceful-shutdown` feature, which
//! panics when the extension cannot be registered (the Runtime API emulators of local runs and
//! tests have no Extensions API), or from the `lambda-extension` crate, which brings a hyper
//! server, stream and tower utilities and tracing's `log` bridge into every function for two
//! requests. The requests go through lambda_runtime's own Runtime API client.

use std::time::Duration;

use lambda_http::http::Method;
use lambda_runtime_api_client::body::Body;
use lambda_runtime_api_client::{build_request, Client};

use crate::Telemetry;

/// The internal extension's name, unique within the function.
const EXTENSION_NAME: &str = "lambda-telemetry-shutdown-flush";
/// What the flush may take of Lambda's 500 ms shutdown budget.
pub(crate) const SHUTDOWN_BUDGET: Duration = Duration::from_millis(400);

/// Registers the extension and listens for SIGTERM, which flushes `telemetry` and ends the
/// process. Without an Extensions API (a local run), says so at debug level and does nothing.
pub(crate) async fn flush_on_shutdown(telemetry: Telemetry) {
    let Ok(client) = Client::builder().build() else {
        return;
    };
    let Ok(mut sigterm) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        return;
    };
    let register = build_request()
        .method(Method::POST)
        .uri("/2020-01-01/extension/register")
        .header("Lambda-Extension-Name", EXTENSION_NAME)
        .header("Content-Type", "application/json")
        .body(Body::from(r#"{"events":[]}"#));
    let Ok(register) = register else {
        return;
    };
    let id = match client.call(register).await {
        Ok(response) if response.status().is_success() => response
            .headers()
            .get("Lambda-Extension-Identifier")
            .and_then(|id| id.to_str().ok())
            .map(str::to_owned),
        Ok(response) => {
            tracing::debug!(target: "telemetry", status = response.status().as_u16(), "no Extensions API: nothing is flushed at shutdown");
            None
        }
        Err(err) => {
            tracing::debug!(target: "telemetry", error = %err, "no Extensions API: nothing is flushed at shutdown");
            None
        }
    };
    let Some(id) = id else {
        return;
    };
    let next = build_request()
        .method(Method::GET)
        .uri("/2020-01-01/extension/event/next")
        .header("Lambda-Extension-Identifier", id)
        .body(Body::empty());
    let Ok(next) = next else {
        return;
    };
    // Spawned, so it runs while the runtime waits for its first event: Lambda starts the first
    // invocation once every extension has asked for its next event.
    let mut parked = client.call(next);
    tokio::spawn(async move {
        tokio::select! {
            // No event ever comes: an answer would be an API that does not know the extension.
            _ = &mut parked => {
                sigterm.recv().await;
            }
            _ = sigterm.recv() => {}
        }
        telemetry.flush_now(SHUTDOWN_BUDGET).await;
        std::process::exit(0);
    });
}

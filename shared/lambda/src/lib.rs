//! Where Cruddur meets its telemetry runtime: the choices Cruddur makes for `cruddur-telemetry`
//! (its service name, its local stage, the span fields worth indexing in X-Ray, the Rollbar
//! environment, its error bodies), and the one call each function's `main` makes.
//!
//! ```text
//! #[tokio::main]
//! async fn main() -> Result<(), cruddur_lambda::Error> {
//!     cruddur_lambda::serve(ENDPOINT, handler).await
//! }
//! ```

use std::future::Future;
use std::sync::Arc;

use cruddur_core::signup::TriggerError;
use cruddur_core::{ApiError, Config, Ctx, Endpoint, Reply, Store};
use cruddur_telemetry::Settings;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use cruddur_telemetry::Error;

/// The telemetry settings of a Cruddur function: the environment's, then Cruddur's choices.
pub fn telemetry_settings(config: &Config) -> Settings {
    Settings::from_env()
        .default_service_name("cruddur")
        // Under `cargo lambda watch` there is no Lambda facade segment to hang a subsegment from.
        .local(config.is_local())
        .rollbar_environment(config.stage.clone())
        // The handle a request is about and its caller: what Cruddur's traces are searched by.
        .annotation("app.handle", "handle")
        .annotation("user_id", "user_id")
        // Cruddur's errors are JSON arrays of codes, the frontend's format.
        .error_bodies(r#"["invalid_request"]"#, r#"["internal_error"]"#)
}

/// Serves an HTTP function: `endpoint`'s row of the route table, `handler` behind the shared edge.
pub async fn serve<H, F>(endpoint: Endpoint, handler: H) -> Result<(), Error>
where
    H: Fn(Ctx) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    let settings = telemetry_settings(&Config::from_env());
    cruddur_telemetry::run(settings, cruddur_core::http_service(endpoint, handler)).await
}

/// Serves a function invoked by something other than API Gateway (a Cognito trigger): `handler`
/// gets the store and the typed event.
pub async fn serve_trigger<E, R, H, F>(handler: H) -> Result<(), Error>
where
    H: Fn(Arc<dyn Store>, E) -> F + Send + Sync + 'static,
    F: Future<Output = Result<R, TriggerError>> + Send + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let settings = telemetry_settings(&Config::from_env());
    cruddur_telemetry::run_events(settings, cruddur_core::trigger_service(handler)).await
}

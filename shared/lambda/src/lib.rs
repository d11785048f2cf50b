//! Where Cruddur meets its telemetry runtime: the choices Cruddur makes for `lambda-telemetry`
//! (its service name, its local stage, the span fields worth indexing in X-Ray, the Rollbar
//! environment, its error bodies), and the one call each function's `main` makes.
//!
//! ```text
//! fn main() -> Result<(), cruddur_lambda::Error> {
//!     cruddur_lambda::serve(ENDPOINT, handler)
//! }
//! ```
//!
//! Both entry points run the function on a current-thread Tokio runtime: a function waits on the
//! network, not the CPU, so one thread serves one invocation at a time on standard Lambda, or
//! many interleaved on Lambda Managed Instances (`AWS_LAMBDA_MAX_CONCURRENCY`); worker threads
//! would only add memory (their stacks and malloc arenas) and hand-offs. The telemetry exports on
//! its own threads. Those threads share the main
//! thread's malloc arena: glibc would give each its own (with its own free memory), though they
//! only ever run between invocations, one at a time. The crate also defines C's `pow` (see
//! [`pow`]), which keeps glibc's libm out of every function's process.

use std::future::Future;
use std::sync::Arc;

use cruddur_core::TriggerError;
use cruddur_core::{ApiError, Config, Ctx, Endpoint, Reply, Store};
use lambda_telemetry::{LateSecrets, Settings};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use lambda_telemetry::Error;

/// The Cognito trigger events the sign-up functions take. Every function reaches
/// `aws_lambda_events` through here, with the same features, so one release build of all of them
/// serves each function's own build.
pub use aws_lambda_events::event::cognito;

/// The SSM parameter (a SecureString) holding Rollbar's token, in AWS.
pub const ROLLBAR_TOKEN_PARAMETER: &str = "ROLLBAR_ACCESS_TOKEN_PARAMETER";
/// The SSM parameter (a SecureString) holding the Honeycomb API key, in AWS.
pub const HONEYCOMB_KEY_PARAMETER: &str = "HONEYCOMB_API_KEY_PARAMETER";

/// The telemetry settings of a Cruddur function: the environment's, then Cruddur's choices.
pub fn telemetry_settings(config: &Config) -> Settings {
    let settings = Settings::from_env()
        .default_service_name("cruddur")
        // Under `cargo lambda watch` there is no Lambda facade segment to hang a subsegment from.
        .local(config.is_local())
        .rollbar_environment(config.stage.clone())
        // The handle a request is about and its caller: what Cruddur's traces are searched by.
        .annotation("app.handle", "handle")
        .annotation("user_id", "user_id")
        // Cruddur's errors are JSON arrays of codes, the frontend's format.
        .error_bodies(r#"["invalid_request"]"#, r#"["internal_error"]"#);
    match secret_parameters() {
        Some((rollbar, honeycomb)) => settings.secrets_later(move || {
            let (rollbar, honeycomb) = (rollbar.clone(), honeycomb.clone());
            async move { read_secrets(rollbar, honeycomb).await }
        }),
        None => settings,
    }
}

/// The names of the SSM parameters holding secrets, if any is configured.
fn secret_parameters() -> Option<(Option<String>, Option<String>)> {
    use cruddur_core::env_var;
    let (rollbar, honeycomb) = (
        env_var(ROLLBAR_TOKEN_PARAMETER),
        env_var(HONEYCOMB_KEY_PARAMETER),
    );
    (rollbar.is_some() || honeycomb.is_some()).then_some((rollbar, honeycomb))
}

/// Reads the secrets from SSM Parameter Store (SecureStrings, decrypted), in the background: the
/// telemetry starts this after the first response, so neither the cold start nor any response
/// waits for it. A parameter that cannot be read fails the whole read (the reason names the
/// parameter, never a value): the telemetry tries again with backoff, and what needs the
/// secrets stays off until a read succeeds.
async fn read_secrets(
    rollbar: Option<String>,
    honeycomb: Option<String>,
) -> Result<LateSecrets, String> {
    let ssm = aws_sdk_ssm::Client::new(&cruddur_core::sdk_config("SSM"));
    let read = |name: Option<String>| {
        let ssm = ssm.clone();
        async move {
            let Some(name) = name else {
                return Ok(None);
            };
            let request = ssm.get_parameter().name(&name).with_decryption(true).send();
            match request.await {
                Ok(output) => Ok(output.parameter.and_then(|p| p.value)),
                Err(err) => Err(format!(
                    "cannot read the secret parameter {name}: {}",
                    aws_sdk_ssm::error::DisplayErrorContext(&err)
                )),
            }
        }
    };
    let (rollbar_token, honeycomb_key) = tokio::join!(read(rollbar), read(honeycomb));
    Ok(LateSecrets {
        rollbar_token: rollbar_token?,
        otlp_headers: honeycomb_key?
            .map(|key| vec![("x-honeycomb-team".to_owned(), key)])
            .unwrap_or_default(),
    })
}

/// Serves an HTTP function until Lambda stops it: `endpoint`'s row of the route table, `handler`
/// behind the shared edge.
pub fn serve<H, F>(endpoint: Endpoint, handler: H) -> Result<(), Error>
where
    H: Fn(Ctx) -> F + Send + Sync + 'static,
    F: Future<Output = Result<Reply, ApiError>> + Send + 'static,
{
    let settings = telemetry_settings(&Config::from_env());
    runtime()?.block_on(lambda_telemetry::run(
        settings,
        cruddur_core::http_service(endpoint, handler),
    ))
}

/// Serves a function invoked by something other than API Gateway (a Cognito trigger) until
/// Lambda stops it: `handler` gets the store and the typed event.
pub fn serve_trigger<E, R, H, F>(handler: H) -> Result<(), Error>
where
    H: Fn(Arc<dyn Store>, E) -> F + Send + Sync + 'static,
    F: Future<Output = Result<R, TriggerError>> + Send + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + Sync + 'static,
{
    let settings = telemetry_settings(&Config::from_env());
    runtime()?.block_on(lambda_telemetry::run_events(
        settings,
        cruddur_core::trigger_service(handler),
    ))
}

/// The runtime a function runs on: one thread (see the crate docs).
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    one_malloc_arena();
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Caps glibc's malloc at one arena, before any thread starts (see the crate docs). Only a
/// tuning: if glibc refuses, each thread keeps its own arena.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a malloc parameter; it is called before this process starts any
    // thread of its own.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// C's `pow`, defined in the function itself. The only call any function makes into glibc's
/// libm is the AWS SDK's adaptive retry rate limiter taking a cube root with `f64::powf`; with
/// this definition in the executable the linker (which links libraries `--as-needed`) drops
/// `libm.so.6`, so no process loads and maps a whole shared library (about 0.3 MiB resident)
/// for one function. The `libm` crate is rust-lang's port of musl's libm.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::pow;

    #[test]
    fn pow_is_c_pow() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(9.0, 0.5), 3.0);
        assert!((pow(27.0, 1.0 / 3.0) - 3.0).abs() < 1e-12);
        assert_eq!(pow(0.0, 0.0), 1.0);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(10.0, -2.0), 0.01);
    }
}

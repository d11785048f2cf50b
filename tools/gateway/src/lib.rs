//! cruddur-gateway: a local API Gateway (REST API) for the functions of a SAM template, in front
//! of `cargo lambda watch`. It routes as the deployed API routes (from template.yaml), runs the
//! Cognito authorizer against a user pool's JWKS, answers CORS preflights and makes the answers
//! API Gateway makes itself (403, 401, 413, 502, 504) with the template's gateway-response
//! headers, invokes each function through the Lambda Invoke API with a real REST proxy event,
//! sends the stage's X-Ray segment, and writes an access log line per request.
//!
//! Not emulated: usage plans and API keys, caching, request validators and mapping templates,
//! binary media types (a body that is not UTF-8 is always passed base64-encoded), custom domains.

pub mod cognito;
pub mod gateway;
pub mod invoke;
pub mod proxy;
pub mod router;
pub mod server;
pub mod template;
pub mod xray;

pub use gateway::Gateway;

/// Makes ring rustls' process-wide crypto provider, for the HTTPS clients that fetch a user
/// pool's keys: the workspace's reqwest carries no provider of its own (see Cargo.toml), so a
/// client built before this would panic. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

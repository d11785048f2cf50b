//! The HTTPS client every AWS SDK client of the workspace uses (the functions', through
//! cruddur-core, and the tools'): rustls on ring, trusting the platform's roots (or
//! `SSL_CERT_FILE`). A crate of its own so the tools get it without cruddur-core's SQLite and
//! DynamoDB. No crate may turn on the SDK's default client instead: Cargo unifies features across
//! a workspace build, and its aws-lc would be linked into every function beside ring.

use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// An HTTPS client for an SDK client or aws-config's loader. A new one per call on purpose: its
/// pooled connections belong to the Tokio runtime that opened them, and a process-wide client
/// would hand a second runtime (a test's, a tool's) connections whose runtime is gone.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

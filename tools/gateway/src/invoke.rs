//! Invoking a function through the Lambda Invoke API (`POST
//! /2015-03-31/functions/{name}/invocations`), which `cargo lambda watch` serves locally and
//! Lambda serves in AWS: the same client works against either.

use std::time::Duration;

use aws_sdk_lambda::config::{Credentials, Region};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::Client;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invoked {
    /// The function answered (its payload, not yet read as a proxy response).
    Answered(Vec<u8>),
    /// The function failed (`X-Amz-Function-Error`): its error payload, for the log.
    FunctionError(String),
    /// The invoke itself failed (nothing listening, a refused request).
    InvokeFailed(String),
    /// The function did not answer within its timeout.
    TimedOut,
}

pub struct Invoker {
    client: Client,
}

impl Invoker {
    /// A client for the Invoke API at `endpoint` (e.g. `cargo lambda watch`'s
    /// `http://127.0.0.1:9000`), or for AWS itself when `None` (credentials and region the usual
    /// way). Retries are off: retrying an invocation could run a POST twice.
    pub async fn new(endpoint: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(cruddur_aws_https::https_client())
            .retry_config(aws_config::retry::RetryConfig::disabled());
        if let Some(endpoint) = endpoint {
            // A local Invoke API checks no signature; the SDK still wants something to sign with.
            loader = loader
                .endpoint_url(endpoint)
                .credentials_provider(Credentials::new(
                    "local",
                    "local",
                    None,
                    None,
                    "cruddur-gateway",
                ));
            if std::env::var_os("AWS_REGION").is_none() {
                loader = loader.region(Region::new("us-east-1"));
            }
        }
        Self {
            client: Client::new(&loader.load().await),
        }
    }

    /// Invokes `function` with `payload`, waiting at most `timeout`.
    pub async fn invoke(&self, function: &str, payload: Vec<u8>, timeout: Duration) -> Invoked {
        let request = self
            .client
            .invoke()
            .function_name(function)
            .payload(Blob::new(payload))
            .send();
        match tokio::time::timeout(timeout, request).await {
            Err(_) => Invoked::TimedOut,
            Ok(Err(err)) => {
                Invoked::InvokeFailed(aws_sdk_lambda::error::DisplayErrorContext(&err).to_string())
            }
            Ok(Ok(output)) => {
                let payload = output.payload.map(Blob::into_inner).unwrap_or_default();
                match output.function_error {
                    Some(kind) => Invoked::FunctionError(format!(
                        "{kind}: {}",
                        String::from_utf8_lossy(&payload)
                    )),
                    None => Invoked::Answered(payload),
                }
            }
        }
    }
}

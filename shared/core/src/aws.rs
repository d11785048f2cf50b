//! AWS SDK configuration from the environment, the way Lambda provides it: the region in
//! `AWS_REGION`, the function role's credentials in `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`
//! and `AWS_SESSION_TOKEN`, and an endpoint override in `AWS_ENDPOINT_URL_<SERVICE>` or
//! `AWS_ENDPOINT_URL` (DynamoDB Local, moto).
//!
//! aws-config's default chains (shared config files and profiles, SSO, STS web identity, container
//! and instance metadata) are left out on purpose: a function never uses them, they were a tenth
//! of every bootstrap, and probing instance metadata would stall a cold start off AWS. Only
//! aws-config's environment credentials provider is used. To run a function against real AWS
//! from a workstation, export a profile's credentials into the environment first
//! (`eval "$(aws configure export-credentials --format env)"`).
//!
//! Clients speak HTTPS through rustls on ring, trusting the platform's roots (or
//! `SSL_CERT_FILE`). Ring is the crypto of the telemetry's OTLP and Rollbar client too, so a
//! bootstrap carries one TLS stack; the SDK's default (aws-lc) would be a second.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};
use cruddur_aws_https::https_client;

use crate::config::env_var as env;

/// The region a local endpoint is addressed in when none is set (DynamoDB Local and moto accept
/// any).
const LOCAL_REGION: &str = "us-east-1";

/// The configuration of a client for `service` (its endpoint variable's suffix: `DYNAMODB`,
/// `SSM`), read from the environment now.
pub fn sdk_config(service: &str) -> SdkConfig {
    let endpoint = env(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| env("AWS_ENDPOINT_URL"));
    let region = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION"));
    let has_credentials = env("AWS_ACCESS_KEY_ID").is_some();
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client());
    // A local endpoint without a region or credentials gets placeholders; in AWS, Lambda always
    // sets both, and a missing one fails the first request with the SDK's own error.
    let region = match (&endpoint, region) {
        (_, Some(region)) => Some(region),
        (Some(_), None) => Some(LOCAL_REGION.to_owned()),
        (None, None) => None,
    };
    builder = builder.region(region.map(Region::new));
    builder = if endpoint.is_some() && !has_credentials {
        builder.credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-endpoint",
        )))
    } else {
        builder.credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
    };
    if let Some(endpoint) = endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    // One test touches the process environment, so cases do not race each other.
    #[test]
    fn the_environment_decides_region_endpoint_and_credentials() {
        let names = [
            "AWS_ENDPOINT_URL_DYNAMODB",
            "AWS_ENDPOINT_URL",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
        ];
        let saved: Vec<_> = names.iter().map(|n| (n, std::env::var_os(n))).collect();
        for name in names {
            std::env::remove_var(name);
        }

        let config = sdk_config("DYNAMODB");
        assert_eq!(config.region(), None);
        assert_eq!(config.endpoint_url(), None);

        std::env::set_var("AWS_ENDPOINT_URL", "http://127.0.0.1:1");
        std::env::set_var("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000");
        let config = sdk_config("DYNAMODB");
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:8000"));
        assert_eq!(config.region().map(|r| r.as_ref()), Some(LOCAL_REGION));
        assert_eq!(
            sdk_config("SSM").endpoint_url(),
            Some("http://127.0.0.1:1"),
            "the generic endpoint for other services"
        );

        std::env::set_var("AWS_REGION", "eu-west-1");
        assert_eq!(
            sdk_config("DYNAMODB").region().map(|r| r.as_ref()),
            Some("eu-west-1")
        );

        for (name, value) in saved {
            match value {
                Some(value) => std::env::set_var(name, value),
                None => std::env::remove_var(name),
            }
        }
    }
}

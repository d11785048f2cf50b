//! A function whose AWS SDK call is a downstream node: `GET /parameter?name=/app/greeting` reads
//! an SSM parameter. The call runs in a client span with the `rpc.*` and `aws.*` fields, which
//! X-Ray draws as an `SSM` node (an `aws` subsegment with its operation, region and request id)
//! and OTLP backends as a client span.
//!
//! The SDK client is built once, at init, and shared by every invocation. Its HTTPS client uses
//! rustls on ring, the crypto provider this crate's own clients use, so the function carries one
//! TLS stack.

use aws_config::BehaviorVersion;
use aws_sdk_ssm::error::ProvideErrorMetadata;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};
use lambda_telemetry::Settings;
use tracing::field::Empty;
use tracing::Instrument;

async fn handler(ssm: &aws_sdk_ssm::Client, request: Request) -> Result<Response<Body>, Error> {
    let Some(name) = request
        .query_string_parameters_ref()
        .and_then(|query| query.first("name"))
        .map(str::to_owned)
    else {
        return Ok(answer(400, "name is required"));
    };
    let region = ssm
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "ssm",
        otel.name = "SSM.GetParameter",
        otel.kind = "client",
        rpc.system = "aws-api",
        rpc.service = "SSM",
        rpc.method = "GetParameter",
        aws.region = %region,
        aws.request_id = Empty,
        http.response.status_code = Empty,
        otel.status_code = Empty,
    );
    let result = ssm
        .get_parameter()
        .name(&name)
        .send()
        .instrument(span.clone())
        .await;
    use aws_sdk_ssm::operation::RequestId as _;
    match result {
        Ok(output) => {
            span.record("aws.request_id", output.request_id().unwrap_or_default());
            span.record("http.response.status_code", 200);
            let value = output.parameter.and_then(|p| p.value).unwrap_or_default();
            Ok(answer(200, value))
        }
        Err(err) => {
            // A failed call is an error (4xx) or a fault (5xx) on its node.
            span.record("otel.status_code", "ERROR");
            let status = err.raw_response().map(|r| r.status().as_u16());
            if let Some(id) = err.request_id() {
                span.record("aws.request_id", id);
            }
            if let Some(status) = status {
                span.record("http.response.status_code", status);
            }
            if err.code() == Some("ParameterNotFound") {
                Ok(answer(404, "no such parameter"))
            } else {
                tracing::error!(error.type = err.code().unwrap_or("SdkError"), error = %aws_sdk_ssm::error::DisplayErrorContext(&err), "cannot read the parameter");
                Ok(answer(502, "the parameter store did not answer"))
            }
        }
    }
}

fn answer(status: u16, text: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Body::from(text.into()))
        .expect("a valid response")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .load()
        .await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let settings = Settings::from_env().default_service_name("parameters");
    lambda_telemetry::run(
        settings,
        service_fn(move |request| {
            let ssm = ssm.clone();
            async move { handler(&ssm, request).await }
        }),
    )
    .await
}

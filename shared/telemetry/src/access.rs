//! HTTP-level instrumentation on the invocation span: method, path, status, the API Gateway
//! correlation id, error flags for the trace backends, and one access line per request (as the
//! original app's `after_request` log).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use lambda_http::request::RequestContext;
use lambda_http::tower::Service;
use lambda_http::{Body, Request, RequestExt, Response};
use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::cause::take_cause;

/// Wraps an HTTP handler with the access log and status reporting.
#[derive(Debug, Clone)]
pub struct AccessLog<S> {
    inner: S,
}

impl<S> AccessLog<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// API Gateway's own request id, which its access logs and the client's `x-amzn-requestid` share.
fn correlation_id(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}

/// Marks the invocation span for the trace backends: 4xx is an error, 429 a throttle, 5xx a
/// fault with its cause. X-Ray only reads the status code when the span's status is Error.
pub fn record_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    if status < 400 {
        return;
    }
    if status >= 500 {
        let cause = take_cause(span).unwrap_or_default();
        let kind = if cause.kind.is_empty() {
            format!("HTTP {status}")
        } else {
            cause.kind
        };
        let message = if cause.message.is_empty() {
            format!("the function answered {status}")
        } else {
            cause.message
        };
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", kind),
                KeyValue::new("exception.message", message.clone()),
            ],
        );
        span.set_status(Status::error(message));
    } else {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
}

impl<S> Service<Request> for AccessLog<S>
where
    S: Service<Request, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = Instant::now();
        let method = req.method().to_string();
        let path = req.raw_http_path().to_owned();
        let span = tracing::Span::current();
        span.record(
            "correlation_id",
            correlation_id(&req).unwrap_or_default().as_str(),
        );
        span.record("http.request.method", method.as_str());
        span.record("url.path", path.as_str());
        let future = self.inner.call(req);
        Box::pin(async move {
            let result = future.await;
            let duration_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
            let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(500);
            record_status(&tracing::Span::current(), status);
            tracing::info!(target: "access", method = %method, path = %path, status, duration_ms, "{method} {path} {status}");
            result
        })
    }
}

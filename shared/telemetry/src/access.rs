//! HTTP-level instrumentation: the request's correlation id, and one access line per request
//! (method, path, status, duration), as the original app's `after_request` log.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use lambda_http::request::RequestContext;
use lambda_http::tower::Service;
use lambda_http::{Body, Request, RequestExt, Response};
use tracing::Instrument;

/// Wraps an HTTP handler with the access log.
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
        let correlation_id = correlation_id(&req).unwrap_or_default();
        tracing::Span::current().record("correlation_id", correlation_id.as_str());
        let span = tracing::info_span!(
            "request",
            http.request.method = %method,
            url.path = %path,
            http.response.status_code = tracing::field::Empty,
        );
        let future = span.in_scope(|| self.inner.call(req));
        Box::pin(
            async move {
                let result = future.await;
                let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
                let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(500);
                tracing::Span::current().record("http.response.status_code", status);
                tracing::info!(
                    target: "access",
                    method = %method,
                    path = %path,
                    status,
                    duration_ms = (duration_ms * 1000.0).round() / 1000.0,
                    "{method} {path} {status}"
                );
                result
            }
            .instrument(span),
        )
    }
}

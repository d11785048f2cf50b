//! The HTTP layer: what the invocation span says about an HTTP request (method, path, URL, the
//! API Gateway correlation id), the status it got (as the trace backends' error flags), and one
//! access line per request (method, path, status, duration), as web frameworks log them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use lambda_http::http::header::HOST;
use lambda_http::request::RequestContext;
use lambda_http::tower::{Layer, Service};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{json, Map, Value};

use crate::context::with_context;
use crate::outcome::record_http_status;

/// Records each request and its answer on the invocation span, and writes its access line.
#[derive(Clone, Debug, Default)]
pub struct HttpLayer {
    describe_requests: bool,
}

impl HttpLayer {
    /// The layer, without request descriptions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also keeps a scrubbed description of each request on the invocation, for error reports
    /// (off by default: it costs a little per request, and only a report reads it).
    pub fn describing_requests(mut self, describe: bool) -> Self {
        self.describe_requests = describe;
        self
    }
}

impl<S> Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService {
            inner,
            describe_requests: self.describe_requests,
        }
    }
}

/// The service [`HttpLayer`] makes.
#[derive(Clone)]
pub struct HttpService<S> {
    inner: S,
    describe_requests: bool,
}

/// API Gateway's own request id, which its access logs and the client's `x-amzn-requestid` share.
fn correlation_id(req: &Request) -> Option<String> {
    match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}

/// Header and query names that must never leave the function.
pub(crate) fn is_sensitive(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "token",
        "secret",
        "password",
        "passwd",
        "api-key",
        "apikey",
        "api_key",
        "session",
        "credential",
        "signature",
        "x-amz-security",
    ]
    .iter()
    .any(|s| name.contains(s))
}

/// The request as an error report describes it: no Authorization, Cookie or token-like header or
/// query parameter, and no body.
fn request_description(req: &Request) -> Value {
    let headers: Map<String, Value> = req
        .headers()
        .iter()
        .filter(|(name, _)| !is_sensitive(name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), Value::from(value.to_str().ok()?)))
        })
        .collect();
    let query: Vec<String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| {
            !pair.is_empty() && !is_sensitive(pair.split('=').next().unwrap_or_default())
        })
        .map(str::to_owned)
        .collect();
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let route = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.resource_path.clone(),
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        _ => None,
    }
    .unwrap_or_else(|| req.raw_http_path().to_owned());
    let user_ip = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|ip| ip.trim().to_owned());
    json!({
        "method": req.method().as_str(),
        "url": format!("https://{host}{}", req.uri().path()),
        "route": route,
        "query_string": query.join("&"),
        "headers": headers,
        "user_ip": user_ip,
    })
}

impl<S> Service<Request> for HttpService<S>
where
    S: Service<Request, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = HttpFuture<S::Future>;

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
        // The service map and trace views show where a request went; never the query string.
        if let Some(host) = req.headers().get(HOST).and_then(|h| h.to_str().ok()) {
            let scheme = req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("http");
            span.record("url.full", format!("{scheme}://{host}{path}").as_str());
        }
        if self.describe_requests {
            let description = request_description(&req);
            with_context(&span, |c| c.request = Some(description));
        }
        HttpFuture {
            inner: Box::pin(self.inner.call(req)),
            access: Some(Access {
                started,
                method,
                path,
                span,
            }),
        }
    }
}

struct Access {
    started: Instant,
    method: String,
    path: String,
    span: tracing::Span,
}

impl Access {
    /// Records the answer on the span and writes the access line.
    fn finish(self, status: u16) {
        record_http_status(&self.span, status);
        let Access {
            started,
            method,
            path,
            span,
        } = self;
        let duration_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
        span.in_scope(|| {
            tracing::info!(target: "access", method = %method, path = %path, status, duration_ms, "{method} {path} {status}");
        });
    }
}

/// The answer of an HTTP request, recorded and logged once it is known.
pub struct HttpFuture<F> {
    inner: Pin<Box<F>>,
    access: Option<Access>,
}

impl<F, E> Future for HttpFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let result = std::task::ready!(self.inner.as_mut().poll(cx));
        let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(500);
        if let Some(access) = self.access.take() {
            access.finish(status);
        }
        Poll::Ready(result)
    }
}

/// Records a request the telemetry answered itself (e.g. a malformed event) as the HTTP layer
/// records the others.
pub(crate) fn record_answer(span: &tracing::Span, method: &str, path: &str, status: u16) {
    Access {
        started: Instant::now(),
        method: method.to_owned(),
        path: path.to_owned(),
        span: span.clone(),
    }
    .finish(status);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_names() {
        for name in [
            "Authorization",
            "cookie",
            "X-Api-Key",
            "x-amz-security-token",
            "access_token",
            "Session-Id",
            "password",
        ] {
            assert!(is_sensitive(name), "{name}");
        }
        for name in [
            "user-agent",
            "content-type",
            "x-forwarded-for",
            "page",
            "host",
        ] {
            assert!(!is_sensitive(name), "{name}");
        }
    }
}

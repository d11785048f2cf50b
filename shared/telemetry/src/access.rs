//! HTTP-level instrumentation on the invocation span: method, path, status, the API Gateway
//! correlation id, error flags for the trace backends, error reports for 5xx and panics, and one
//! access line per request (as the original app's `after_request` log).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Instant;

use lambda_http::http::header::{CONTENT_TYPE, HOST};
use lambda_http::request::RequestContext;
use lambda_http::tower::Service;
use lambda_http::{Body, Request, RequestExt, Response};
use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
use serde_json::{json, Map, Value};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::{with_context, Cause};
use crate::panics::{CatchPanic, PanicReport};
use crate::rollbar::{is_sensitive, Item, Level, Reporter};

/// Wraps an HTTP handler with the access log, status reporting and panic recovery.
#[derive(Clone)]
pub struct AccessLog<S> {
    inner: S,
    reporter: Option<Arc<Reporter>>,
}

impl<S> AccessLog<S> {
    pub fn new(inner: S, reporter: Option<Arc<Reporter>>) -> Self {
        Self { inner, reporter }
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

/// The request as an error report describes it: no Authorization, Cookie or token-like header or
/// query parameter, and no body.
pub fn request_description(req: &Request) -> Value {
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

/// Marks the invocation span for the trace backends: 4xx is an error, 429 a throttle, 5xx a
/// fault with its cause. X-Ray only reads the status code when the span's status is Error.
pub fn record_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    if status < 400 {
        return;
    }
    if status >= 500 {
        let cause = fault_cause(span, status);
        span.add_event(
            "exception",
            vec![
                KeyValue::new("exception.type", cause.kind),
                KeyValue::new("exception.message", cause.message.clone()),
            ],
        );
        span.set_status(Status::error(cause.message));
    } else {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
}

/// Why the invocation answered `status`: the error logged during it, else the status itself.
fn fault_cause(span: &tracing::Span, status: u16) -> Cause {
    let logged = with_context(span, |c| c.cause.clone())
        .flatten()
        .unwrap_or_default();
    Cause {
        kind: Some(logged.kind)
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| format!("HTTP {status}")),
        message: Some(logged.message)
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("the function answered {status}")),
    }
}

/// The answer to a request whose handler panicked: no panic text leaves the function.
fn internal_error() -> Response<Body> {
    let mut response = Response::new(Body::Text("[\"internal_error\"]".to_owned()));
    *response.status_mut() = lambda_http::http::StatusCode::INTERNAL_SERVER_ERROR;
    response.headers_mut().insert(
        CONTENT_TYPE,
        "application/json".parse().expect("static header"),
    );
    response
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
        // The service map and trace views show where a request went; never the query string.
        if let Some(host) = req.headers().get(HOST).and_then(|h| h.to_str().ok()) {
            let scheme = req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("http");
            span.record("url.full", format!("{scheme}://{host}{path}").as_str());
        }
        if self.reporter.is_some() {
            let description = request_description(&req);
            with_context(&span, |c| c.request = Some(description));
        }
        let reporter = self.reporter.clone();
        let future = CatchPanic::new(self.inner.call(req));
        Box::pin(async move {
            let span = tracing::Span::current();
            let result = match future.await {
                Ok(result) => result,
                Err(panic) => Ok(recover(&span, &panic, reporter.as_deref())),
            };
            let status = result.as_ref().map(|r| r.status().as_u16()).unwrap_or(500);
            record_status(&span, status);
            // A panic was reported (as critical) when it was caught.
            if status >= 500 && !panicked(&span) {
                report_fault(&span, status, reporter.as_deref());
            }
            let duration_ms = (started.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0;
            tracing::info!(target: "access", method = %method, path = %path, status, duration_ms, "{method} {path} {status}");
            result
        })
    }
}

/// Logs and reports a handler panic, and answers 500.
fn recover(
    span: &tracing::Span,
    panic: &PanicReport,
    reporter: Option<&Reporter>,
) -> Response<Body> {
    let location = panic
        .location
        .as_ref()
        .map(|(file, line)| format!("{file}:{line}"))
        .unwrap_or_default();
    tracing::error!(error.type = "panic", error = %panic.message, location = %location, "handler panicked");
    with_context(span, |c| c.panicked = true);
    if let Some(reporter) = reporter {
        // The panic's own location is the newest frame; release builds carry no line tables, so
        // the backtrace frames may only name functions.
        let mut frames = panic.frames.clone();
        if let Some((file, line)) = &panic.location {
            let known = frames
                .last()
                .is_some_and(|f| &f.filename == file && f.lineno == Some(*line));
            if !known {
                frames.push(crate::rollbar::Frame {
                    filename: file.clone(),
                    lineno: Some(*line),
                    method: None,
                });
            }
        }
        let context = with_context(span, |c| c.clone()).unwrap_or_default();
        reporter.report(
            Item::exception(Level::Critical, "panic", &panic.message, &frames, &location),
            &context,
        );
    }
    internal_error()
}

fn panicked(span: &tracing::Span) -> bool {
    with_context(span, |c| c.panicked).unwrap_or(false)
}

/// Reports a 5xx at level error, with the cause chain that was logged.
fn report_fault(span: &tracing::Span, status: u16, reporter: Option<&Reporter>) {
    let Some(reporter) = reporter else { return };
    let cause = fault_cause(span, status);
    let context = with_context(span, |c| c.clone()).unwrap_or_default();
    reporter.report(
        Item::exception(Level::Error, &cause.kind, &cause.message, &[], "lambda"),
        &context,
    );
}

//! The runtime-level layer: one span per invocation, parented on Lambda's X-Ray trace header, and
//! the export flush once the response is posted.
//!
//! It wraps lambda_runtime's whole per-invocation service (decode, handler, posting the response
//! to the Runtime API), so when the inner future is done the caller has its answer; only then are
//! the spans exported, before the runtime asks for the next invocation.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use opentelemetry::Context;
use opentelemetry_aws::trace::{MissingSampledBehavior, XrayPropagator};
use tracing::field::Empty;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::INVOCATION_SPAN;
use crate::pipeline::{Telemetry, XRAY_UNSAMPLED};

/// True until the first invocation of this process has begun.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// How an invocation joins the trace.
#[derive(Debug, Clone, PartialEq)]
pub enum Parent {
    /// Under Lambda's facade segment: the invocation is an X-Ray subsegment of it.
    Lambda { context: SpanContext, sampled: bool },
    /// A new trace: the invocation is a full segment (local runs, no or unusable header).
    Root,
}

/// Reads Lambda's trace header (`Root=...;Parent=...;Sampled=1`). A missing `Sampled` counts as
/// sampled; a missing or malformed header, or a local run, starts a new trace.
pub fn parent_from_header(header: Option<&str>, local: bool) -> Parent {
    let Some(header) = header.filter(|_| !local) else {
        return Parent::Root;
    };
    let carrier = HashMap::from([("x-amzn-trace-id".to_owned(), header.to_owned())]);
    let propagator =
        XrayPropagator::new().with_missing_sampled_behavior(MissingSampledBehavior::Sampled);
    let extracted = propagator.extract(&carrier);
    let context = extracted.span().span_context().clone();
    if !context.is_valid() {
        return Parent::Root;
    }
    let sampled = !header.split(';').any(|part| part.trim() == "Sampled=0");
    Parent::Lambda { context, sampled }
}

impl Parent {
    /// The OpenTelemetry parent context. Spans are always recorded (the OTLP backend samples on
    /// its own); Lambda's "not sampled" travels in the trace state so only X-Ray drops them.
    fn otel_context(&self) -> Option<Context> {
        let Parent::Lambda { context, sampled } = self else {
            return None;
        };
        let mut state = context.trace_state().clone();
        if !sampled {
            state = state
                .insert(XRAY_UNSAMPLED.0, XRAY_UNSAMPLED.1)
                .unwrap_or_else(|_| TraceState::default());
        }
        let remote = SpanContext::new(
            context.trace_id(),
            context.span_id(),
            TraceFlags::SAMPLED,
            true,
            state,
        );
        Some(Context::new().with_remote_span_context(remote))
    }
}

/// Wraps the runtime's service so each invocation is traced and flushed.
#[derive(Clone)]
pub struct InvocationLayer {
    telemetry: Telemetry,
}

impl InvocationLayer {
    pub fn new(telemetry: Telemetry) -> Self {
        Self { telemetry }
    }
}

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

#[derive(Clone)]
pub struct InvocationService<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
    S::Future: 'static,
{
    type Response = ();
    type Error = S::Error;
    // The runtime's own per-invocation future is not `Send`; it never leaves its task.
    type Future = Pin<Box<dyn Future<Output = Result<(), S::Error>>>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let settings = &self.telemetry.settings;
        self.telemetry.begin_invocation();
        let cold_start = COLD_START.swap(false, Ordering::Relaxed);
        let context = &invocation.context;
        let header = context.xray_trace_id.as_deref();
        let parent = parent_from_header(header, settings.is_local());
        let function = settings
            .function_name
            .clone()
            .unwrap_or_else(|| "function".to_owned());
        let span = tracing::info_span!(
            INVOCATION_SPAN,
            otel.name = %function,
            otel.kind = if parent == Parent::Root { "server" } else { "internal" },
            otel.status_code = Empty,
            function = %function,
            service = %settings.service_name,
            function_request_id = %context.request_id,
            xray_trace_id = header.unwrap_or_default(),
            trace_id = Empty,
            cold_start,
            faas.coldstart = cold_start,
            correlation_id = Empty,
            http.request.method = Empty,
            url.path = Empty,
            url.full = Empty,
            http.response.status_code = Empty,
        );
        if let Some(parent_context) = parent.otel_context() {
            let _ = span.set_parent(parent_context);
        }
        let trace_id = span.context().span().span_context().trace_id();
        if trace_id != opentelemetry::TraceId::INVALID {
            span.record(
                "trace_id",
                crate::propagation::xray_trace_id(trace_id).as_str(),
            );
        }
        if cold_start {
            span.in_scope(|| tracing::info!(metric.ColdStart = 1u64, "cold start"));
        }
        let future = span
            .in_scope(|| self.inner.call(invocation))
            .instrument(span);
        let telemetry = self.telemetry.clone();
        Box::pin(async move {
            // The span ends with this future, after the response is posted...
            let result = future.await;
            // ...so it is in this flush, which runs before the next invocation is polled.
            telemetry.flush().await;
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

    #[test]
    fn lambda_header_parents_the_invocation() {
        let Parent::Lambda { context, sampled } = parent_from_header(Some(HEADER), false) else {
            panic!()
        };
        assert!(sampled);
        assert_eq!(
            format!("{:032x}", context.trace_id()),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(format!("{:016x}", context.span_id()), "53995c3f42cd8ad8");
    }

    #[test]
    fn sampling_flag() {
        let unsampled = HEADER.replace("Sampled=1", "Sampled=0");
        assert!(matches!(
            parent_from_header(Some(&unsampled), false),
            Parent::Lambda { sampled: false, .. }
        ));
        let missing = HEADER.replace(";Sampled=1", "");
        assert!(matches!(
            parent_from_header(Some(&missing), false),
            Parent::Lambda { sampled: true, .. }
        ));
        let deferred = HEADER.replace("Sampled=1", "Sampled=?");
        assert!(matches!(
            parent_from_header(Some(&deferred), false),
            Parent::Lambda { sampled: true, .. }
        ));
    }

    #[test]
    fn missing_garbage_or_local_starts_a_new_trace() {
        for header in [
            None,
            Some(""),
            Some("garbage"),
            Some("Root=1-zz;Parent=xx"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793"),
        ] {
            assert_eq!(
                parent_from_header(header, false),
                Parent::Root,
                "{header:?}"
            );
        }
        assert_eq!(parent_from_header(Some(HEADER), true), Parent::Root);
    }

    #[test]
    fn unsampled_travels_in_trace_state() {
        let unsampled = HEADER.replace("Sampled=1", "Sampled=0");
        let cx = parent_from_header(Some(&unsampled), false)
            .otel_context()
            .unwrap();
        let sc = cx.span().span_context().clone();
        assert!(sc.is_sampled(), "recorded for the OTLP side");
        assert_eq!(sc.trace_state().get("xray"), Some("0"));
    }
}

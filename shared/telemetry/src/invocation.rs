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
    /// Outside Lambda, called by a traced service (a local API Gateway): the invocation is a
    /// full segment whose parent is that service's call, in its trace.
    Upstream { context: SpanContext, sampled: bool },
    /// A new trace: the invocation is a full segment (local runs, no or unusable header).
    Root,
}

/// Reads an X-Ray trace header (`Root=...;Parent=...;Sampled=1`): a missing `Sampled` counts as
/// sampled; a missing or malformed header (or one without a `Parent`) gives `None`.
fn trace_context(header: Option<&str>) -> Option<(SpanContext, bool)> {
    let header = header?;
    let carrier = HashMap::from([("x-amzn-trace-id".to_owned(), header.to_owned())]);
    let propagator =
        XrayPropagator::new().with_missing_sampled_behavior(MissingSampledBehavior::Sampled);
    let extracted = propagator.extract(&carrier);
    let context = extracted.span().span_context().clone();
    let sampled = !header.split(';').any(|part| part.trim() == "Sampled=0");
    context.is_valid().then_some((context, sampled))
}

/// Reads Lambda's trace header. In Lambda, the invocation hangs under the facade segment; a
/// missing or malformed header starts a new trace. A local run has no facade segment, and
/// `cargo lambda watch` makes up a header of its own, so it is ignored there.
pub fn parent_from_header(header: Option<&str>, local: bool) -> Parent {
    match trace_context(header.filter(|_| !local)) {
        Some((context, sampled)) => Parent::Lambda { context, sampled },
        None => Parent::Root,
    }
}

/// Outside Lambda, the `X-Amzn-Trace-Id` an HTTP event carries (a local API Gateway puts its
/// own call there, as API Gateway does): the invocation continues that trace. Any other event,
/// or a header without `Root` and `Parent`, starts a new one. Only read on local runs.
pub fn parent_from_event(event: &[u8]) -> Parent {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(event) else {
        return Parent::Root;
    };
    let header = event
        .get("headers")
        .and_then(serde_json::Value::as_object)
        .and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("x-amzn-trace-id"))
        })
        .and_then(|(_, value)| value.as_str());
    match trace_context(header) {
        Some((context, sampled)) => Parent::Upstream { context, sampled },
        None => Parent::Root,
    }
}

impl Parent {
    /// The OpenTelemetry parent context. Spans are always recorded (the OTLP backend samples on
    /// its own); the caller's "not sampled" travels in the trace state so only X-Ray drops them.
    fn otel_context(&self) -> Option<Context> {
        let (Parent::Lambda { context, sampled } | Parent::Upstream { context, sampled }) = self
        else {
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
        let parent = if settings.is_local() {
            parent_from_event(&invocation.body)
        } else {
            parent_from_header(header, false)
        };
        let function = settings
            .function_name
            .clone()
            .unwrap_or_else(|| "function".to_owned());
        let span = tracing::info_span!(
            INVOCATION_SPAN,
            otel.name = %function,
            // A segment of its own (a root, or under an upstream service); in Lambda, a
            // subsegment of the facade segment.
            otel.kind = if matches!(parent, Parent::Lambda { .. }) { "internal" } else { "server" },
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
    fn local_runs_continue_the_trace_their_http_event_names() {
        let event = serde_json::json!({
            "httpMethod": "GET",
            "headers": {"X-Amzn-Trace-Id": HEADER},
        });
        let Parent::Upstream { context, sampled } = parent_from_event(event.to_string().as_bytes())
        else {
            panic!("not continued")
        };
        assert!(sampled);
        assert_eq!(format!("{:016x}", context.span_id()), "53995c3f42cd8ad8");
        for other in [
            serde_json::json!({"headers": {"x-amzn-trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793"}}),
            serde_json::json!({"headers": null}),
            serde_json::json!({"userName": "quark"}),
            serde_json::json!([1, 2]),
        ] {
            assert_eq!(
                parent_from_event(other.to_string().as_bytes()),
                Parent::Root,
                "{other}"
            );
        }
        assert_eq!(parent_from_event(b"\xff not json"), Parent::Root);
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

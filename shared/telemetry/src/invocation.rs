//! The runtime-level layer: one span per invocation, parented on Lambda's X-Ray trace header,
//! and the export flush once the response is posted.
//!
//! It wraps lambda_runtime's whole per-invocation service (decode, handler, posting the response
//! to the Runtime API), so when the inner future is done the caller has its answer; only then are
//! the spans exported, before the runtime asks for the next invocation. It is also the first to
//! see the event's bytes, and the only place that can keep bytes that are not UTF-8 from ending
//! the runtime.

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
use tracing::instrument::Instrumented;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::INVOCATION_SPAN;
use crate::propagation::{xray_trace_id, XRAY_TRACE_HEADER, XRAY_UNSAMPLED};
use crate::settings::Settings;

/// True until the first invocation of this process has begun.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// How an invocation joins the trace.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Parent {
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
    let carrier = HashMap::from([(XRAY_TRACE_HEADER.to_owned(), header.to_owned())]);
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
pub(crate) fn parent_from_header(header: Option<&str>, local: bool) -> Parent {
    match trace_context(header.filter(|_| !local)) {
        Some((context, sampled)) => Parent::Lambda { context, sampled },
        None => Parent::Root,
    }
}

/// Outside Lambda, the `X-Amzn-Trace-Id` an HTTP event carries (a local API Gateway puts its
/// own call there, as API Gateway does): the invocation continues that trace. Any other event,
/// or a header without `Root` and `Parent`, starts a new one. Only read on local runs.
pub(crate) fn parent_from_event(event: &[u8]) -> Parent {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(event) else {
        return Parent::Root;
    };
    let header = event
        .get("headers")
        .and_then(serde_json::Value::as_object)
        .and_then(|headers| {
            headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(XRAY_TRACE_HEADER))
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

/// What an invocation span is named and how it is parented.
#[derive(Debug, Clone)]
struct Naming {
    service: String,
    function: String,
    local: bool,
}

/// Wraps the runtime's service so each invocation is traced, and flushed by `flush` once its
/// response is posted. `flush` exports what the invocation recorded (e.g. [`Telemetry::flush`]).
///
/// [`Telemetry::flush`]: crate::Telemetry::flush
#[derive(Clone)]
pub struct InvocationLayer<F> {
    naming: Naming,
    flush: F,
}

impl<F, Fut> InvocationLayer<F>
where
    F: Fn() -> Fut + Clone,
    Fut: Future<Output = ()>,
{
    /// The layer for a function named by `settings`, flushing with `flush`.
    pub fn new(settings: &Settings, flush: F) -> Self {
        Self {
            naming: Naming {
                service: settings.service_name.clone(),
                function: settings
                    .function_name
                    .clone()
                    .unwrap_or_else(|| "function".to_owned()),
                local: settings.local,
            },
            flush,
        }
    }
}

impl<S, F: Clone> Layer<S> for InvocationLayer<F> {
    type Service = InvocationService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService {
            inner,
            naming: self.naming.clone(),
            flush: self.flush.clone(),
        }
    }
}

/// The service [`InvocationLayer`] makes.
#[derive(Clone)]
pub struct InvocationService<S, F> {
    inner: S,
    naming: Naming,
    flush: F,
}

/// An event that is not UTF-8 cannot be JSON. lambda_runtime traces a raw event as text and ends
/// its loop when it cannot (the process exits, and Lambda cold-starts another); so the bytes are
/// replaced by a JSON string that says what happened, which no handler's event type reads, and
/// the invocation fails with a deserialisation error instead.
fn guard_utf8(invocation: &mut LambdaInvocation) {
    if std::str::from_utf8(&invocation.body).is_err() {
        tracing::error!(
            error.type = "InvalidEvent",
            bytes = invocation.body.len(),
            "the event is not UTF-8, so not JSON; the invocation fails"
        );
        invocation.body = bytes::Bytes::from_static(b"\"the event was not UTF-8\"");
    }
}

impl<S, F, Fut> Service<LambdaInvocation> for InvocationService<S, F>
where
    S: Service<LambdaInvocation, Response = ()>,
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    type Response = ();
    type Error = S::Error;
    type Future = InvocationFuture<S::Future, Fut, S::Error>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut invocation: LambdaInvocation) -> Self::Future {
        let naming = &self.naming;
        let cold_start = COLD_START.swap(false, Ordering::Relaxed);
        let context = &invocation.context;
        let header = context.xray_trace_id.clone();
        let parent = if naming.local {
            parent_from_event(&invocation.body)
        } else {
            parent_from_header(header.as_deref(), false)
        };
        let span = tracing::info_span!(
            INVOCATION_SPAN,
            otel.name = %naming.function,
            // A segment of its own (a root, or under an upstream service); in Lambda, a
            // subsegment of the facade segment.
            otel.kind = if matches!(parent, Parent::Lambda { .. }) { "internal" } else { "server" },
            otel.status_code = Empty,
            function = %naming.function,
            service = %naming.service,
            function_request_id = %context.request_id,
            xray_trace_id = header.as_deref().unwrap_or_default(),
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
            span.record("trace_id", xray_trace_id(trace_id).as_str());
        }
        span.in_scope(|| {
            if cold_start {
                tracing::info!(metric.ColdStart = 1u64, "cold start");
            }
            guard_utf8(&mut invocation);
        });
        let running = span
            .in_scope(|| self.inner.call(invocation))
            .instrument(span);
        InvocationFuture::Running {
            running: Box::pin(running),
            flush: Some(Box::pin((self.flush)())),
        }
    }
}

/// An invocation, then its flush.
pub enum InvocationFuture<R, Fl, E> {
    /// The runtime's own per-invocation future (not `Send`: it never leaves its task).
    Running {
        running: Pin<Box<Instrumented<R>>>,
        flush: Option<Pin<Box<Fl>>>,
    },
    /// The span has ended with the response posted; its export runs before the next poll.
    Flushing {
        flush: Pin<Box<Fl>>,
        result: Option<Result<(), E>>,
    },
}

// Both states box what they poll; nothing is pinned structurally.
impl<R, Fl, E> Unpin for InvocationFuture<R, Fl, E> {}

impl<R, Fl, E> Future for InvocationFuture<R, Fl, E>
where
    R: Future<Output = Result<(), E>>,
    Fl: Future<Output = ()>,
{
    type Output = Result<(), E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                InvocationFuture::Running { running, flush } => {
                    let result = std::task::ready!(running.as_mut().poll(cx));
                    // The running future (and with it the span) ends here...
                    let flush = flush.take().expect("flushed once");
                    // ...so its spans are in this flush.
                    *this = InvocationFuture::Flushing {
                        flush,
                        result: Some(result),
                    };
                }
                InvocationFuture::Flushing { flush, result } => {
                    std::task::ready!(flush.as_mut().poll(cx));
                    return Poll::Ready(result.take().expect("answered once"));
                }
            }
        }
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

//! The runtime-level layer: one span per invocation, around everything the runtime does for it
//! (decoding the event, the handler, posting the response to the Runtime API).

use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::LambdaInvocation;
use tracing::field::Empty;
use tracing::instrument::Instrumented;
use tracing::Instrument;

/// True until the first invocation of this process has begun.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// Wraps the runtime's service so each invocation runs inside its own span.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationLayer;

impl<S> Layer<S> for InvocationLayer {
    type Service = InvocationService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InvocationService { inner }
    }
}

#[derive(Debug, Clone)]
pub struct InvocationService<S> {
    inner: S,
}

impl<S> Service<LambdaInvocation> for InvocationService<S>
where
    S: Service<LambdaInvocation, Response = ()>,
{
    type Response = ();
    type Error = S::Error;
    type Future = Instrumented<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let cold_start = COLD_START.swap(false, Ordering::Relaxed);
        let context = &invocation.context;
        let span = tracing::info_span!(
            "invocation",
            function_request_id = %context.request_id,
            xray_trace_id = context.xray_trace_id.as_deref().unwrap_or_default(),
            cold_start,
            correlation_id = Empty,
        );
        let future = span.in_scope(|| self.inner.call(invocation));
        future.instrument(span)
    }
}

//! How an invocation ended, written where the trace backends read it: the HTTP status and, for a
//! failure, the span's error status with an `exception` event (X-Ray turns them into its
//! error/throttle/fault flags and the fault's `cause`).

use opentelemetry::trace::Status;
use opentelemetry::KeyValue;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::context::{with_context, Cause};

/// Marks the invocation span for an HTTP status: 4xx is an error, 429 a throttle, 5xx a fault
/// with its cause (the error logged during the invocation, else the status). X-Ray only reads
/// the status code when the span's status is Error.
pub(crate) fn record_http_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    with_context(span, |c| c.status = Some(status));
    if status >= 500 {
        let cause = with_context(span, |c| {
            c.cause_or(
                format!("HTTP {status}"),
                format!("the function answered {status}"),
            )
        })
        .unwrap_or_default();
        record_fault(span, &cause);
    } else if status >= 400 {
        span.set_status(Status::error(format!("HTTP {status}")));
    }
}

/// Marks the invocation span as failed, with its cause.
pub(crate) fn record_fault(span: &tracing::Span, cause: &Cause) {
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", cause.kind.clone()),
            KeyValue::new("exception.message", cause.message.clone()),
        ],
    );
    span.set_status(Status::error(cause.message.clone()));
}

//! The spans core emits. Core speaks only `tracing`; the telemetry runtime decides where spans go.

use tracing::Span;

/// The span around one store call: a client call to the backing database.
///
/// `otel.kind = "client"` marks it as a call to a downstream system, so trace backends draw the
/// database as its own node; `db.system` names it (`sqlite`, `dynamodb`).
pub fn store_span(system: &'static str, operation: &'static str) -> Span {
    tracing::info_span!(
        "store",
        otel.name = operation,
        otel.kind = "client",
        db.system = system,
        db.operation = operation,
    )
}

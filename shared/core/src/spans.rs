//! The spans core emits. Core speaks only `tracing`; the telemetry runtime decides where spans go.

use tracing::Span;

/// The span around one store call: a client call to the backing database.
///
/// `otel.kind = "client"` marks it as a call to a downstream system and `peer.service` names that
/// system, so trace backends draw the database as one node (X-Ray: a `remote` subsegment named
/// `SQLite`); the span itself is named after the operation.
pub fn store_span(system: &'static str, operation: &'static str) -> Span {
    tracing::info_span!(
        "store",
        otel.name = operation,
        otel.kind = "client",
        peer.service = peer_service(system),
        db.system = system,
        db.operation = operation,
    )
}

/// The downstream node's display name for a `db.system`.
fn peer_service(system: &str) -> &str {
    match system {
        "sqlite" => "SQLite",
        "dynamodb" => "DynamoDB",
        other => other,
    }
}

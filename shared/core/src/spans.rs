//! The spans core emits. Core speaks only `tracing`; the telemetry runtime decides where spans go.

use tracing::Span;

/// The span of one store operation (`db.system`, `db.operation`).
///
/// An embedded store's operation is itself the call to its database: a client span whose
/// `peer.service` names that database, so trace backends draw it as a node (X-Ray: a `remote`
/// subsegment named `SQLite`). A networked store's operation is internal: each request it makes
/// is a client span of its own (X-Ray: an `aws` subsegment named `DynamoDB`).
pub fn store_span(system: &'static str, operation: &'static str, calls_traced: bool) -> Span {
    if calls_traced {
        tracing::info_span!(
            "store",
            otel.name = operation,
            db.system = system,
            db.operation = operation,
        )
    } else {
        tracing::info_span!(
            "store",
            otel.name = operation,
            otel.kind = "client",
            peer.service = peer_service(system),
            db.system = system,
            db.operation = operation,
        )
    }
}

/// The database's display name as a downstream node.
fn peer_service(system: &str) -> &str {
    match system {
        "sqlite" => "SQLite",
        other => other,
    }
}

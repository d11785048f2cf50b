//! Remembers why an invocation failed, so a 5xx can carry its cause to the trace backends.
//!
//! The application logs its errors at ERROR level (with an `error` field, and optionally
//! `error.type`); this layer keeps the latest one on the invocation span, and the HTTP layer
//! attaches it as the `exception` of a 5xx.

use tracing::field::{Field, Visit};
use tracing::span::Attributes;
use tracing::{Event, Id, Level, Span, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::Layer;

/// The span name whose extensions hold the cause.
pub const INVOCATION_SPAN: &str = "invocation";

/// What went wrong, as an exception type and message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cause {
    pub kind: String,
    pub message: String,
}

#[derive(Default)]
struct CauseSlot(Option<Cause>);

/// Records the latest ERROR event of each invocation.
pub struct CauseLayer;

impl<S> Layer<S> for CauseLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() == INVOCATION_SPAN {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(CauseSlot::default());
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        for span in scope.from_root() {
            let mut extensions = span.extensions_mut();
            if let Some(slot) = extensions.get_mut::<CauseSlot>() {
                let mut visitor = CauseVisitor::default();
                event.record(&mut visitor);
                slot.0 = Some(Cause {
                    kind: visitor
                        .kind
                        .unwrap_or_else(|| event.metadata().target().to_owned()),
                    message: match (visitor.message, visitor.error) {
                        (Some(m), Some(e)) => format!("{m}: {e}"),
                        (m, e) => m.or(e).unwrap_or_default(),
                    },
                });
                return;
            }
        }
    }
}

#[derive(Default)]
struct CauseVisitor {
    kind: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

impl Visit for CauseVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_owned());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record(field, value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl CauseVisitor {
    fn record(&mut self, field: &Field, value: String) {
        match field.name() {
            "message" => self.message = Some(value),
            "error" => self.error = Some(value),
            "error.type" => self.kind = Some(value),
            _ => {}
        }
    }
}

/// Takes the cause recorded on `span` (an invocation span), if any.
pub fn take_cause(span: &Span) -> Option<Cause> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let span = registry.span(id)?;
        let mut extensions = span.extensions_mut();
        extensions.get_mut::<CauseSlot>()?.0.take()
    })
    .flatten()
}

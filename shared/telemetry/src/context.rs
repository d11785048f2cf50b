//! What the telemetry knows about the invocation in progress, kept on its span: the request ids,
//! the caller, the HTTP request and status, why it failed, a panic. The layers that act on an
//! invocation (HTTP, panics, error reports) read and write it here instead of talking to each
//! other.
//!
//! The application only writes `tracing`: a `user_id` field on any span, errors logged at ERROR
//! level (with an `error` field and optionally `error.type`). [`ContextLayer`] picks those up.

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Level, Span, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};
use tracing_subscriber::Layer;

use std::backtrace::Backtrace;
use std::sync::Arc;

/// The span name whose extensions hold the context.
pub(crate) const INVOCATION_SPAN: &str = "invocation";

/// What went wrong, as an exception type and message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Cause {
    pub(crate) kind: String,
    pub(crate) message: String,
}

/// What a panic left behind (the panics module records and describes it).
#[derive(Debug, Clone, Default)]
pub(crate) struct PanicReport {
    pub(crate) message: String,
    pub(crate) location: Option<(String, u32)>,
    /// Captured, not resolved: resolving symbols is slow, and only a report needs it.
    #[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
    pub(crate) backtrace: Option<Arc<Backtrace>>,
}

/// The invocation's context.
#[derive(Debug, Clone, Default)]
pub(crate) struct InvocationContext {
    pub(crate) request_id: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) user_id: Option<String>,
    /// The HTTP request as an error report describes it (scrubbed), for HTTP invocations.
    pub(crate) request: Option<Value>,
    /// The HTTP status answered, for HTTP invocations.
    pub(crate) status: Option<u16>,
    /// The first error logged during the invocation: the one nearest the root cause (what
    /// follows, like the runtime's own log of the handler's error, only repeats it).
    pub(crate) cause: Option<Cause>,
    /// The handler panicked.
    pub(crate) panic: Option<PanicReport>,
    /// The handler of a non-HTTP event returned an error.
    pub(crate) failed: bool,
    /// Error reports this invocation has made (shared by the context's copies), for the
    /// per-invocation cap: invocations in flight at once each have their own.
    #[cfg_attr(not(feature = "rollbar"), allow(dead_code))]
    pub(crate) reports: Arc<std::sync::atomic::AtomicUsize>,
}

impl InvocationContext {
    /// Why the invocation failed: its logged error, else `fallback`.
    pub(crate) fn cause_or(&self, kind: String, message: String) -> Cause {
        let logged = self.cause.clone().unwrap_or_default();
        Cause {
            kind: Some(logged.kind).filter(|k| !k.is_empty()).unwrap_or(kind),
            message: Some(logged.message)
                .filter(|m| !m.is_empty())
                .unwrap_or(message),
        }
    }
}

/// Keeps the context of each invocation up to date from span fields and ERROR events.
pub(crate) struct ContextLayer;

/// The invocation span `span` belongs to (itself, or its nearest invocation ancestor).
fn invocation_of<'a, S>(span: Option<SpanRef<'a, S>>) -> Option<SpanRef<'a, S>>
where
    S: Subscriber + for<'b> LookupSpan<'b>,
{
    span?
        .scope()
        .from_root()
        .find(|s| s.extensions().get::<InvocationContext>().is_some())
}

impl<S> Layer<S> for ContextLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if attrs.metadata().name() == INVOCATION_SPAN {
            span.extensions_mut().insert(InvocationContext::default());
        }
        let mut fields = ContextFields::default();
        attrs.record(&mut fields);
        if let Some(invocation) = invocation_of(Some(span)) {
            fields.apply(invocation.extensions_mut().get_mut::<InvocationContext>());
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut fields = ContextFields::default();
        values.record(&mut fields);
        if let Some(invocation) = invocation_of(ctx.span(id)) {
            fields.apply(invocation.extensions_mut().get_mut::<InvocationContext>());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() != Level::ERROR {
            return;
        }
        let Some(invocation) = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find(|s| s.extensions().get::<InvocationContext>().is_some())
        }) else {
            return;
        };
        let mut fields = ErrorFields::default();
        event.record(&mut fields);
        let message = fields.message.unwrap_or_default();
        let cause = Cause {
            kind: fields
                .kind
                .unwrap_or_else(|| event.metadata().target().to_owned()),
            message: match fields.error {
                Some(error) if !message.is_empty() => format!("{message}: {error}"),
                Some(error) => error,
                None => message,
            },
        };
        let mut extensions = invocation.extensions_mut();
        if let Some(context) = extensions.get_mut::<InvocationContext>() {
            context.cause.get_or_insert(cause);
        }
    }
}

#[derive(Default)]
struct ContextFields {
    request_id: Option<String>,
    trace_id: Option<String>,
    user_id: Option<String>,
}

impl ContextFields {
    fn apply(self, context: Option<&mut InvocationContext>) {
        let Some(context) = context else { return };
        if self.request_id.is_some() {
            context.request_id = self.request_id;
        }
        if self.trace_id.is_some() {
            context.trace_id = self.trace_id;
        }
        if self.user_id.is_some() {
            context.user_id = self.user_id;
        }
    }
}

impl Visit for ContextFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        let value = Some(value.to_owned()).filter(|v| !v.is_empty());
        match field.name() {
            "function_request_id" => self.request_id = value,
            "trace_id" => self.trace_id = value,
            "user_id" => self.user_id = value,
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

#[derive(Default)]
struct ErrorFields {
    kind: Option<String>,
    message: Option<String>,
    error: Option<String>,
}

impl Visit for ErrorFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_owned()),
            "error" => self.error = Some(value.to_owned()),
            "error.type" => self.kind = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.record_str(field, &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Reads or changes the context of `span` (an invocation span, or any span inside one).
pub(crate) fn with_context<T>(
    span: &Span,
    f: impl FnOnce(&mut InvocationContext) -> T,
) -> Option<T> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let invocation = invocation_of(registry.span(id))?;
        let mut extensions = invocation.extensions_mut();
        extensions.get_mut::<InvocationContext>().map(f)
    })
    .flatten()
}

/// The context of the invocation span with this id, when it closes (for the layers that act on
/// a finished invocation).
#[cfg_attr(not(feature = "rollbar"), allow(dead_code))] // what error reports read
pub(crate) fn closing_context<S>(id: &Id, ctx: &Context<'_, S>) -> Option<InvocationContext>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.span(id)?;
    let extensions = span.extensions();
    extensions.get::<InvocationContext>().cloned()
}

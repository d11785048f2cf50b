//! What the telemetry knows about the invocation in progress, kept on its span: the request, the
//! caller, the trace, and why it failed. The HTTP layer and the error reports read it.
//!
//! The application only writes `tracing`: a `user_id` field on any span, errors logged at ERROR
//! level (with an `error` field and optionally `error.type`), and `report = true` on an event that
//! should reach the error tracker. This layer picks those up.

use std::sync::Arc;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Record};
use tracing::{Event, Id, Level, Span, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};
use tracing_subscriber::Layer;

use crate::rollbar::{Item, Reporter};

/// The span name whose extensions hold the context.
pub const INVOCATION_SPAN: &str = "invocation";

/// What went wrong, as an exception type and message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cause {
    pub kind: String,
    pub message: String,
}

/// The invocation's context.
#[derive(Debug, Clone, Default)]
pub struct InvocationContext {
    pub request_id: Option<String>,
    pub trace_id: Option<String>,
    pub user_id: Option<String>,
    /// Rollbar's `request` object (scrubbed), for HTTP invocations.
    pub request: Option<Value>,
    pub cause: Option<Cause>,
    /// The handler panicked (and that was reported).
    pub panicked: bool,
}

/// Keeps the context of each invocation and turns `report = true` events into error reports.
pub struct ContextLayer {
    reporter: Option<Arc<Reporter>>,
}

impl ContextLayer {
    pub fn new(reporter: Option<Arc<Reporter>>) -> Self {
        Self { reporter }
    }
}

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
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let is_error = *event.metadata().level() == Level::ERROR;
        if !is_error && !fields.report {
            return;
        }
        let invocation = ctx.event_scope(event).and_then(|scope| {
            scope
                .from_root()
                .find(|s| s.extensions().get::<InvocationContext>().is_some())
        });
        let message = fields.message.clone().unwrap_or_default();
        if is_error {
            if let Some(invocation) = &invocation {
                if let Some(context) = invocation.extensions_mut().get_mut::<InvocationContext>() {
                    context.cause = Some(Cause {
                        kind: fields
                            .kind
                            .clone()
                            .unwrap_or_else(|| event.metadata().target().to_owned()),
                        message: match &fields.error {
                            Some(error) if !message.is_empty() => format!("{message}: {error}"),
                            Some(error) => error.clone(),
                            None => message.clone(),
                        },
                    });
                }
            }
        }
        if fields.report {
            if let Some(reporter) = &self.reporter {
                let context = invocation
                    .and_then(|s| s.extensions().get::<InvocationContext>().cloned())
                    .unwrap_or_default();
                reporter.report(Item::message(event.metadata().level(), &message), &context);
            }
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
struct EventFields {
    kind: Option<String>,
    message: Option<String>,
    error: Option<String>,
    report: bool,
}

impl Visit for EventFields {
    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "report" {
            self.report = value;
        }
    }
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
pub fn with_context<T>(span: &Span, f: impl FnOnce(&mut InvocationContext) -> T) -> Option<T> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let invocation = invocation_of(registry.span(id))?;
        let mut extensions = invocation.extensions_mut();
        extensions.get_mut::<InvocationContext>().map(f)
    })
    .flatten()
}

//! Trace context for outgoing HTTP calls: `x-amzn-trace-id` (X-Ray) and `traceparent` (W3C).

use opentelemetry::propagation::{Injector, TextMapPropagator};
use opentelemetry::TraceId;
use opentelemetry_aws::trace::XrayPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The X-Ray trace header: Lambda's, API Gateway's, and the one outgoing calls carry.
pub(crate) const XRAY_TRACE_HEADER: &str = "x-amzn-trace-id";

/// Trace-state key marking a trace that Lambda's X-Ray sampling left out (`xray=0`): the spans
/// are still recorded for the OTLP backend, which samples on its own; only X-Ray drops them.
pub(crate) const XRAY_UNSAMPLED: (&str, &str) = ("xray", "0");

/// Whether X-Ray gets the span: Lambda's sampling decision did not leave its trace out.
#[cfg_attr(not(any(feature = "xray", feature = "otlp")), allow(dead_code))]
pub(crate) fn xray_sampled(span: &opentelemetry_sdk::trace::SpanData) -> bool {
    span.span_context.trace_state().get(XRAY_UNSAMPLED.0) != Some(XRAY_UNSAMPLED.1)
}

/// A trace id in X-Ray's form: `1-<8 hex epoch seconds>-<24 hex>`.
pub(crate) fn xray_trace_id(trace_id: TraceId) -> String {
    let hex = format!("{trace_id:032x}");
    format!("1-{}-{}", &hex[..8], &hex[8..])
}

/// The headers that carry the current span's trace to a downstream HTTP service
/// (`x-amzn-trace-id` and `traceparent`), so it joins the trace in both X-Ray and the OTLP
/// backend. Add them to every outgoing request; empty outside a traced span.
pub fn trace_headers() -> Vec<(String, String)> {
    struct Headers(Vec<(String, String)>);
    impl Injector for Headers {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_owned(), value));
        }
    }
    let context = tracing::Span::current().context();
    let mut headers = Headers(Vec::new());
    XrayPropagator::default().inject_context(&context, &mut headers);
    TraceContextPropagator::new().inject_context(&context, &mut headers);
    headers.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_form() {
        let id = TraceId::from_hex("5759e988bd862e3fe1be46a994272793").unwrap();
        assert_eq!(xray_trace_id(id), "1-5759e988-bd862e3fe1be46a994272793");
    }
}

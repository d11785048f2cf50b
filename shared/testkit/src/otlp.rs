//! Decoding what an OTLP/HTTP protobuf exporter sent.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

use crate::http::Recorded;

/// Every span in some OTLP export requests, with its resource's attributes.
pub fn spans(requests: &[Recorded]) -> Vec<(Vec<KeyValue>, Span)> {
    let mut out = Vec::new();
    for request in requests.iter().filter(|r| r.path.ends_with("/v1/traces")) {
        let Some(body) = body(request) else {
            continue;
        };
        let Ok(export) = ExportTraceServiceRequest::decode(body.as_slice()) else {
            continue;
        };
        for resource_spans in export.resource_spans {
            let resource = resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    out.push((resource.clone(), span));
                }
            }
        }
    }
    out
}

/// A request's body, gunzipped when its `content-encoding` says gzip; `None` if it does not
/// unzip.
pub fn body(request: &Recorded) -> Option<Vec<u8>> {
    if request.header("content-encoding") != Some("gzip") {
        return Some(request.body.clone());
    }
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(request.body.as_slice()),
        &mut body,
    )
    .ok()?;
    Some(body)
}

/// An attribute's value as text.
pub fn attr(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()?;
    Some(match value {
        Value::StringValue(s) => s.clone(),
        Value::BoolValue(b) => b.to_string(),
        Value::IntValue(i) => i.to_string(),
        Value::DoubleValue(d) => d.to_string(),
        Value::ArrayValue(list) => list
            .values
            .iter()
            .filter_map(|v| match v.value.as_ref()? {
                Value::StringValue(s) => Some(s.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(","),
        other => format!("{other:?}"),
    })
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

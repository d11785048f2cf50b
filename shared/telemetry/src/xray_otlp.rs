//! Spans to X-Ray's OTLP endpoint (`https://xray.<region>.amazonaws.com/v1/traces`), the path
//! AWS documents since the X-Ray daemon and SDKs went into maintenance: OTLP/HTTP protobuf,
//! gzip-compressed, signed with SigV4 for service `xray` from the credentials Lambda puts in the
//! environment.
//!
//! An exporter of its own rather than opentelemetry-otlp's: the endpoint's limits are per
//! request (5 MB uncompressed, 10,000 spans) and per span (200 KB), and only the encoded sizes
//! say whether a batch fits, so this exporter encodes each span itself, trims one that is too
//! large, and splits the batch into requests that fit. The encoding is opentelemetry-proto's
//! (the same messages opentelemetry-otlp sends), the signature aws-sigv4's.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use lambda_http::http::Request;
use opentelemetry::InstrumentationScope;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource as ProtoResource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use prost::Message;

use crate::export::xray_otlp_view;
use crate::settings::{AwsCredentials, XrayOtlp};
use crate::transport::BlockingHttp;

/// The endpoint's limits: uncompressed bytes and spans per request, bytes per span.
pub(crate) const MAX_REQUEST_BYTES: usize = 5_000_000;
pub(crate) const MAX_REQUEST_SPANS: usize = 10_000;
pub(crate) const MAX_SPAN_BYTES: usize = 200_000;
/// Room left in each request for the resource and the scopes (at most 16 KB by the endpoint's
/// rules) and their framing.
const ENVELOPE_BYTES: usize = 32 * 1024;

/// The X-Ray OTLP exporter.
pub(crate) struct XrayOtlpExporter {
    target: XrayOtlp,
    /// Span fields that are X-Ray annotations: (field, key).
    annotations: Vec<(String, String)>,
    identity: Identity,
    http: BlockingHttp,
    resource: ProtoResource,
    schema_url: String,
    /// Spans cut to fit the per-span limit, since the process started.
    trimmed: Arc<AtomicU64>,
    trim_logged: AtomicBool,
}

impl std::fmt::Debug for XrayOtlpExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XrayOtlpExporter")
            .field("target", &self.target)
            .finish()
    }
}

impl XrayOtlpExporter {
    /// The exporter, or `None` (said once) without credentials to sign with.
    pub(crate) fn new(
        target: XrayOtlp,
        annotations: Vec<(String, String)>,
        http: BlockingHttp,
        trimmed: Arc<AtomicU64>,
    ) -> Option<Self> {
        let Some(AwsCredentials {
            access_key_id,
            secret_access_key,
            session_token,
        }) = target.credentials.clone()
        else {
            tracing::warn!(target: "telemetry", "the OTLP traces endpoint is X-Ray's, and signing its requests needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (Lambda sets them); traces are not exported");
            return None;
        };
        let identity = Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "environment",
        )
        .into();
        Some(Self {
            target,
            annotations,
            identity,
            http,
            resource: ProtoResource::default(),
            schema_url: String::new(),
            trimmed,
            trim_logged: AtomicBool::new(false),
        })
    }

    /// The batch in X-Ray's view ([`xray_otlp_view`], made here on the exporter's thread, not
    /// where spans end), as requests within the endpoint's limits, each span trimmed to fit its
    /// own.
    pub(crate) fn requests(&self, batch: Vec<SpanData>) -> Vec<ExportTraceServiceRequest> {
        let budget = MAX_REQUEST_BYTES - ENVELOPE_BYTES;
        let mut requests = Vec::new();
        let mut current: Vec<(InstrumentationScope, Span)> = Vec::new();
        let mut current_bytes = 0;
        for span in batch {
            let scope = span.instrumentation_scope.clone();
            let mut span = Span::from(xray_otlp_view(span, &self.annotations));
            let mut len = span.encoded_len();
            if len > MAX_SPAN_BYTES {
                trim(&mut span, MAX_SPAN_BYTES);
                self.count_trim();
                len = span.encoded_len();
            }
            let bytes = framed_len(len);
            if !current.is_empty()
                && (current.len() == MAX_REQUEST_SPANS || current_bytes + bytes > budget)
            {
                requests.push(self.request(std::mem::take(&mut current)));
                current_bytes = 0;
            }
            current.push((scope, span));
            current_bytes += bytes;
        }
        if !current.is_empty() {
            requests.push(self.request(current));
        }
        requests
    }

    fn count_trim(&self) {
        self.trimmed.fetch_add(1, Ordering::Relaxed);
        if !self.trim_logged.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "telemetry", limit_bytes = MAX_SPAN_BYTES, "a span is larger than X-Ray's OTLP endpoint takes; its largest attributes, then its events, were left out (counted as the span's dropped attributes and events; further trims are counted, not logged)");
        }
    }

    /// One request: the process's resource, the spans grouped by their scope.
    fn request(&self, spans: Vec<(InstrumentationScope, Span)>) -> ExportTraceServiceRequest {
        let mut scopes: Vec<(InstrumentationScope, ScopeSpans)> = Vec::new();
        for (scope, span) in spans {
            match scopes.iter_mut().find(|(known, _)| *known == scope) {
                Some((_, group)) => group.spans.push(span),
                None => {
                    let group = ScopeSpans {
                        scope: Some((&scope, None).into()),
                        schema_url: scope.schema_url().unwrap_or_default().to_owned(),
                        spans: vec![span],
                    };
                    scopes.push((scope, group));
                }
            }
        }
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: scopes.into_iter().map(|(_, group)| group).collect(),
                schema_url: self.schema_url.clone(),
            }],
        }
    }

    /// Sends one request: encoded, gzipped, signed. A status other than 2xx is an error (the
    /// breaker reads the status from the client).
    fn send(&self, request: &ExportTraceServiceRequest) -> OTelSdkResult {
        let body = gzip(&request.encode_to_vec())
            .map_err(|err| OTelSdkError::InternalFailure(format!("gzip: {err}")))?;
        let mut http_request = Request::post(&self.target.url)
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "gzip")
            .body(&body[..])
            .map_err(|err| {
                OTelSdkError::InternalFailure(format!(
                    "X-Ray OTLP endpoint {}: {err}",
                    self.target.url
                ))
            })?;
        self.sign(&mut http_request, &body)?;
        let response = self.http.send(http_request).map_err(|err| {
            OTelSdkError::InternalFailure(format!("X-Ray OTLP endpoint {}: {err}", self.target.url))
        })?;
        if response.status().is_success() {
            return Ok(());
        }
        let answer = String::from_utf8_lossy(&response.body()[..response.body().len().min(300)])
            .into_owned();
        Err(OTelSdkError::InternalFailure(format!(
            "X-Ray OTLP endpoint {} answered {}: {answer}",
            self.target.url,
            response.status()
        )))
    }

    /// Adds SigV4's headers (`authorization`, `x-amz-date`, `x-amz-security-token`) for service
    /// `xray` in the endpoint's region. The content headers are signed too.
    fn sign(&self, request: &mut Request<&[u8]>, body: &[u8]) -> OTelSdkResult {
        let failed = |err: String| OTelSdkError::InternalFailure(format!("SigV4: {err}"));
        let params = v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.target.region)
            .name("xray")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| failed(err.to_string()))?
            .into();
        let headers = request
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)));
        let signable = SignableRequest::new(
            request.method().as_str(),
            request.uri().to_string(),
            headers,
            SignableBody::Bytes(body),
        )
        .map_err(|err| failed(err.to_string()))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|err| failed(err.to_string()))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

impl SpanExporter for XrayOtlpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        // A later request failing leaves the earlier ones delivered: the batch is then retried
        // whole, and X-Ray keeps the first copy of a span id. Only batches over 5 MB split.
        for request in self.requests(batch) {
            self.send(&request)?;
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let resource = ResourceAttributesWithSchema::from(resource);
        self.resource = ProtoResource {
            attributes: resource.attributes.0,
            dropped_attributes_count: 0,
            entity_refs: Vec::new(),
        };
        self.schema_url = resource.schema_url.unwrap_or_default();
    }
}

/// A message's size inside its parent: its tag, its length, itself.
fn framed_len(len: usize) -> usize {
    1 + prost::encoding::encoded_len_varint(len as u64) + len
}

/// Cuts `span` to at most `limit` encoded bytes: its largest attributes go first, then its
/// events (latest first), then its links; what goes is counted in the span's dropped counts.
fn trim(span: &mut Span, limit: usize) {
    let size = |kv: &KeyValue| kv.encoded_len();
    span.attributes
        .sort_by_key(|kv| std::cmp::Reverse(size(kv)));
    while span.encoded_len() > limit && !span.attributes.is_empty() {
        span.attributes.remove(0);
        span.dropped_attributes_count += 1;
    }
    while span.encoded_len() > limit && span.events.pop().is_some() {
        span.dropped_events_count += 1;
    }
    while span.encoded_len() > limit && span.links.pop().is_some() {
        span.dropped_links_count += 1;
    }
    if span.encoded_len() > limit {
        // Only the name and status message are left to be that large.
        span.name.truncate(1024);
        span.status
            .iter_mut()
            .for_each(|s| s.message.truncate(1024));
    }
}

fn gzip(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(bytes)?;
    encoder.finish()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::time::Duration;

    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    fn exporter() -> XrayOtlpExporter {
        XrayOtlpExporter::new(
            XrayOtlp {
                region: "eu-west-1".into(),
                url: "http://127.0.0.1:9/v1/traces".into(),
                credentials: Some(AwsCredentials {
                    access_key_id: "AKIDEXAMPLE".into(),
                    secret_access_key: "secret".into(),
                    session_token: None,
                }),
            },
            Vec::new(),
            BlockingHttp::new(Duration::from_secs(1)),
            Arc::default(),
        )
        .expect("credentials are given")
    }

    fn span(id: u64, attribute_bytes: usize) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(7u128),
                SpanId::from(id),
                TraceFlags::SAMPLED,
                false,
                TraceState::NONE,
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Borrowed("work"),
            start_time: SystemTime::now(),
            end_time: SystemTime::now(),
            attributes: vec![
                opentelemetry::KeyValue::new("small", "x"),
                opentelemetry::KeyValue::new("big", "b".repeat(attribute_bytes)),
            ],
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("test").build(),
        }
    }

    #[test]
    fn batches_split_at_the_span_count_and_byte_limits() {
        let exporter = exporter();
        let many: Vec<_> = (1..=MAX_REQUEST_SPANS as u64 + 5)
            .map(|i| span(i, 10))
            .collect();
        let requests = exporter.requests(many);
        let counts: Vec<usize> = requests
            .iter()
            .map(|r| r.resource_spans[0].scope_spans[0].spans.len())
            .collect();
        assert_eq!(counts, vec![MAX_REQUEST_SPANS, 5]);

        // 60 spans of ~150 KB: 9 MB in all, so two requests, each within 5 MB.
        let large: Vec<_> = (1..=60).map(|i| span(i, 150_000)).collect();
        let requests = exporter.requests(large);
        assert_eq!(requests.len(), 2);
        let total: usize = requests
            .iter()
            .map(|r| r.resource_spans[0].scope_spans[0].spans.len())
            .sum();
        assert_eq!(total, 60, "no span is lost in the split");
        for request in &requests {
            assert!(request.encoded_len() <= MAX_REQUEST_BYTES);
        }
        assert_eq!(exporter.trimmed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_span_over_the_limit_loses_its_largest_attributes_and_is_counted() {
        let exporter = exporter();
        let requests = exporter.requests(vec![span(1, 300_000), span(2, 10)]);
        let spans = &requests[0].resource_spans[0].scope_spans[0].spans;
        assert!(spans[0].encoded_len() <= MAX_SPAN_BYTES);
        let keys: Vec<&str> = spans[0]
            .attributes
            .iter()
            .map(|kv| kv.key.as_str())
            .collect();
        assert_eq!(
            keys,
            vec!["small"],
            "the big attribute went, the small one stayed"
        );
        assert_eq!(spans[0].dropped_attributes_count, 1);
        assert_eq!(
            spans[1].attributes.len(),
            2,
            "a span within the limit is untouched"
        );
        assert_eq!(exporter.trimmed.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn requests_are_gzipped_protobuf() {
        let request = exporter().request(vec![(
            InstrumentationScope::builder("test").build(),
            Span::from(span(1, 10)),
        )]);
        let encoded = request.encode_to_vec();
        let zipped = gzip(&encoded).unwrap();
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&zipped[..]),
            &mut unzipped,
        )
        .unwrap();
        assert_eq!(unzipped, encoded);
        assert_eq!(
            ExportTraceServiceRequest::decode(&unzipped[..]).unwrap(),
            request
        );
    }
}

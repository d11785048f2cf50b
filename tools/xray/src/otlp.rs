//! `listen --otlp`: X-Ray's OTLP endpoint (`POST /v1/traces`), locally. Requests are checked as
//! X-Ray checks them (a SigV4 signature for service `xray`, recomputed from the request and the
//! local credentials; a bad one is a 403), decoded (protobuf, gzip or not), and each span becomes
//! the segment document X-Ray would draw, through the same translation the telemetry crate's
//! daemon path uses, so the trees and the map are those of the UDP path.

use std::borrow::Cow;
use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Array, InstrumentationScope, KeyValue, StringValue, Value};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue as ProtoKeyValue;
use opentelemetry_proto::tonic::trace::v1::{
    span::SpanKind as ProtoKind, Span, Status as ProtoStatus,
};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use opentelemetry_sdk::Resource;
use prost::Message;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The largest request body taken (X-Ray's: 5 MB uncompressed; a gzipped body is smaller).
const MAX_BODY_BYTES: usize = 5_000_000;
/// How far a request's signing time may be from now, as AWS allows.
const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The credentials requests must be signed with: those the local functions are given.
#[derive(Clone, PartialEq, Eq)]
pub struct LocalCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for LocalCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl LocalCredentials {
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, as the functions
    /// read them.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Self {
                access_key_id,
                secret_access_key,
                session_token: var("AWS_SESSION_TOKEN"),
            }),
            _ => Err("listen --otlp checks each request's signature against AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN): set them, any values, to what the functions are given".into()),
        }
    }
}

/// Why a request was refused: its status and X-Ray's kind of message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
}

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
struct Authorization<'a> {
    access_key_id: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut scope = credential?.split('/');
    let access_key_id = scope.next()?;
    let _date = scope.next()?;
    let region = scope.next()?;
    let service = scope.next()?;
    (scope.next()? == "aws4_request").then_some(())?;
    Some(Authorization {
        access_key_id,
        region,
        service,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    })
}

/// Checks a request's SigV4 signature as X-Ray would: the key is the local one, the scope is
/// service `xray`, the time is within 15 minutes, and the signature recomputed from the
/// request's method, URL, signed headers and body with the local secret is the one it carries.
pub fn verify(
    parts: &hyper::http::request::Parts,
    body: &[u8],
    credentials: &LocalCredentials,
    now: SystemTime,
) -> Result<(), Refusal> {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let Some(authorization) = header("authorization") else {
        return Err(Refusal::new(
            403,
            "Missing Authentication Token: requests to X-Ray's OTLP endpoint are signed with SigV4",
        ));
    };
    let auth = parse_authorization(authorization)
        .ok_or_else(|| Refusal::new(403, "the Authorization header is not a SigV4 signature"))?;
    if auth.access_key_id != credentials.access_key_id {
        return Err(Refusal::new(
            403,
            format!(
                "The security token included in the request is invalid (access key {} is not the local one)",
                auth.access_key_id
            ),
        ));
    }
    if auth.service != "xray" {
        return Err(Refusal::new(
            403,
            format!(
                "Credential should be scoped to correct service: 'xray', not '{}'",
                auth.service
            ),
        ));
    }
    let token = header("x-amz-security-token");
    if token != credentials.session_token.as_deref() {
        return Err(Refusal::new(
            403,
            "The security token included in the request is invalid (the session token is not the local one)",
        ));
    }
    let signed_at = header("x-amz-date")
        .and_then(|d| chrono::NaiveDateTime::parse_from_str(d, "%Y%m%dT%H%M%SZ").ok())
        .and_then(|d| u64::try_from(d.and_utc().timestamp()).ok())
        .map(|secs| UNIX_EPOCH + Duration::from_secs(secs))
        .ok_or_else(|| Refusal::new(403, "no valid X-Amz-Date header"))?;
    let skew = now
        .duration_since(signed_at)
        .or_else(|_| signed_at.duration_since(now))
        .unwrap_or_default();
    if skew > MAX_CLOCK_SKEW {
        return Err(Refusal::new(
            403,
            "Signature expired: the signing time is more than 15 minutes from now",
        ));
    }
    let host = header("host").ok_or_else(|| Refusal::new(400, "no Host header"))?;
    let url = format!(
        "http://{host}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    // The signer adds the host, the date and the token itself; every other signed header is
    // passed as the request carried it.
    let mut headers = Vec::new();
    for name in &auth.signed_headers {
        if matches!(*name, "host" | "x-amz-date" | "x-amz-security-token") {
            continue;
        }
        let value = header(name)
            .ok_or_else(|| Refusal::new(403, format!("signed header {name} is missing")))?;
        headers.push((*name, value));
    }
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "local",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name("xray")
        .time(signed_at)
        .settings(SigningSettings::default())
        .build()
        .map_err(|err| Refusal::new(500, err.to_string()))?
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        url,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|err| Refusal::new(400, err.to_string()))?;
    let (_, expected) = sign(signable, &params)
        .map_err(|err| Refusal::new(500, err.to_string()))?
        .into_parts();
    if expected != auth.signature {
        return Err(Refusal::new(
            403,
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
        ));
    }
    Ok(())
}

/// An export request's body: gunzipped when `content-encoding` says gzip, then protobuf.
pub fn decode(
    content_encoding: Option<&str>,
    body: &[u8],
) -> Result<ExportTraceServiceRequest, Refusal> {
    let unzipped;
    let bytes = match content_encoding {
        None | Some("identity") => body,
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|err| Refusal::new(400, format!("the gzip body does not unzip: {err}")))?;
            if out.len() > MAX_BODY_BYTES {
                return Err(Refusal::new(413, "over 5 MB uncompressed"));
            }
            unzipped = out;
            &unzipped
        }
        Some(other) => {
            return Err(Refusal::new(
                415,
                format!("content-encoding {other} (gzip or none)"),
            ))
        }
    };
    ExportTraceServiceRequest::decode(bytes)
        .map_err(|err| Refusal::new(400, format!("not an OTLP protobuf export request: {err}")))
}

/// The segment documents of every span in `request`.
pub fn documents(request: &ExportTraceServiceRequest) -> Vec<serde_json::Value> {
    let mut documents = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = Resource::builder_empty()
            .with_attributes(
                resource_spans
                    .resource
                    .iter()
                    .flat_map(|r| r.attributes.iter().map(key_value)),
            )
            .build();
        let spans: Vec<SpanData> = resource_spans
            .scope_spans
            .iter()
            .flat_map(|scope_spans| {
                let scope = scope_spans.scope.as_ref().map_or_else(
                    || InstrumentationScope::builder("").build(),
                    |s| InstrumentationScope::builder(s.name.clone()).build(),
                );
                scope_spans
                    .spans
                    .iter()
                    .filter_map(move |span| span_data(span, scope.clone()))
            })
            .collect();
        documents.extend(lambda_telemetry::segment_documents(&resource, &spans));
    }
    documents
}

/// An OTLP span as the SDK's span data; `None` without valid ids.
fn span_data(span: &Span, scope: InstrumentationScope) -> Option<SpanData> {
    let trace_id = TraceId::from_bytes(span.trace_id.as_slice().try_into().ok()?);
    let span_id = SpanId::from_bytes(span.span_id.as_slice().try_into().ok()?);
    let parent_span_id = match span.parent_span_id.as_slice() {
        [] => SpanId::INVALID,
        bytes => SpanId::from_bytes(bytes.try_into().ok()?),
    };
    // OTLP's span flags: bit 9 says the parent is remote.
    const PARENT_IS_REMOTE: u32 = 0x200;
    let time = |nanos: u64| UNIX_EPOCH + Duration::from_nanos(nanos);
    Some(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::SAMPLED,
            false,
            TraceState::NONE,
        ),
        parent_span_id,
        parent_span_is_remote: span.flags & PARENT_IS_REMOTE != 0,
        span_kind: match ProtoKind::try_from(span.kind) {
            Ok(ProtoKind::Server) => SpanKind::Server,
            Ok(ProtoKind::Client) => SpanKind::Client,
            Ok(ProtoKind::Producer) => SpanKind::Producer,
            Ok(ProtoKind::Consumer) => SpanKind::Consumer,
            _ => SpanKind::Internal,
        },
        name: Cow::Owned(span.name.clone()),
        start_time: time(span.start_time_unix_nano),
        end_time: time(span.end_time_unix_nano),
        attributes: span.attributes.iter().map(key_value).collect(),
        dropped_attributes_count: span.dropped_attributes_count,
        events: SpanEvents::default(),
        links: SpanLinks::default(),
        status: match &span.status {
            Some(ProtoStatus { code: 2, message }) => Status::Error {
                description: Cow::Owned(message.clone()),
            },
            Some(ProtoStatus { code: 1, .. }) => Status::Ok,
            _ => Status::Unset,
        },
        instrumentation_scope: scope,
    })
}

fn key_value(kv: &ProtoKeyValue) -> KeyValue {
    KeyValue::new(
        kv.key.clone(),
        value(kv.value.as_ref().and_then(|v| v.value.as_ref())),
    )
}

fn value(any: Option<&AnyValue>) -> Value {
    match any {
        Some(AnyValue::StringValue(s)) => Value::from(s.clone()),
        Some(AnyValue::BoolValue(b)) => Value::Bool(*b),
        Some(AnyValue::IntValue(i)) => Value::I64(*i),
        Some(AnyValue::DoubleValue(d)) => Value::F64(*d),
        Some(AnyValue::ArrayValue(list)) => {
            let items: Vec<Option<&AnyValue>> =
                list.values.iter().map(|v| v.value.as_ref()).collect();
            if items
                .iter()
                .all(|v| matches!(v, Some(AnyValue::IntValue(_))))
            {
                Value::Array(Array::I64(
                    items
                        .iter()
                        .filter_map(|v| match v {
                            Some(AnyValue::IntValue(i)) => Some(*i),
                            _ => None,
                        })
                        .collect(),
                ))
            } else {
                Value::Array(Array::String(
                    items
                        .into_iter()
                        .map(|v| StringValue::from(value(v).as_str().into_owned()))
                        .collect(),
                ))
            }
        }
        Some(other) => Value::from(format!("{other:?}")),
        None => Value::from(""),
    }
}

/// One request to the endpoint: the documents it brought, or why it was refused.
pub async fn accept(
    request: Request<Incoming>,
    credentials: &LocalCredentials,
) -> Result<Vec<serde_json::Value>, Refusal> {
    let (parts, body) = request.into_parts();
    if parts.method != hyper::Method::POST || parts.uri.path() != "/v1/traces" {
        return Err(Refusal::new(
            404,
            "X-Ray's OTLP endpoint is POST /v1/traces",
        ));
    }
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|err| Refusal::new(413, format!("the body could not be read: {err}")))?
        .to_bytes();
    verify(&parts, &body, credentials, SystemTime::now())?;
    let encoding = parts
        .headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok());
    Ok(documents(&decode(encoding, &body)?))
}

/// The answer to a request: an empty `ExportTraceServiceResponse` (all taken), or the refusal
/// as X-Ray words it.
fn answer(outcome: &Result<Vec<serde_json::Value>, Refusal>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match outcome {
        Ok(_) => (200, "application/x-protobuf", Bytes::new()),
        Err(refusal) => (
            refusal.status,
            "application/json",
            Bytes::from(json!({ "message": refusal.message }).to_string()),
        ),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    response.headers_mut().insert(
        "content-type",
        content_type.parse().expect("a header value"),
    );
    response
}

/// Serves the endpoint on `listener`; the documents of accepted requests go to `documents`,
/// refusals are printed.
pub async fn serve(
    listener: TcpListener,
    credentials: LocalCredentials,
    documents: mpsc::Sender<Vec<serde_json::Value>>,
) {
    loop {
        let Ok((stream, from)) = listener.accept().await else {
            continue;
        };
        let credentials = credentials.clone();
        let documents = documents.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let credentials = credentials.clone();
                let documents = documents.clone();
                async move {
                    let outcome = accept(request, &credentials).await;
                    let response = answer(&outcome);
                    match outcome {
                        Ok(docs) => {
                            let _ = documents.send(docs).await;
                        }
                        Err(refusal) => eprintln!(
                            "cruddur-xray: refused an OTLP request from {from} ({}): {}",
                            refusal.status, refusal.message
                        ),
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds the endpoint's address.
pub async fn bind(address: &str) -> Result<(TcpListener, SocketAddr), String> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on tcp {address}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    Ok((listener, local))
}

//! Spans as X-Ray segment documents (the daemon's JSON format), one document per span.
//!
//! Written here rather than taken from opentelemetry-aws's `SegmentTranslator` (the crate stays
//! for the X-Ray propagator, id generator and Lambda resource detector): that translator checks
//! every segment name against a Unicode regular expression, which brings the `regex` engine and
//! its Unicode tables into every function: 1.1 MB of each bootstrap and 1.2 MiB of each
//! process's peak memory (measured with `scripts/bench`), an eighth of a function's memory
//! budget. The mapping follows the same OpenTelemetry-to-X-Ray rules (those of the AWS Distro
//! for OpenTelemetry) for what application spans carry: HTTP, AWS SDK calls, databases, errors,
//! annotations and metadata. Where that translator dropped a span (a name X-Ray would refuse),
//! this one repairs the name instead.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry::{Array, Value};
use opentelemetry_sdk::trace::SpanData;
use opentelemetry_sdk::Resource;
use serde_json::{json, Map, Value as Json};

use crate::propagation::xray_trace_id;
use crate::settings::{annotation_key, XRAY_ANNOTATIONS_ATTRIBUTE};

/// The longest string attribute kept whole; longer ones are cut (and marked).
const MAX_ATTRIBUTE_CHARS: usize = 4096;
/// X-Ray's limits: annotations per document, characters of an annotation's string value, of a
/// segment's name and of a subsegment's name.
const MAX_ANNOTATIONS: usize = 50;
const MAX_ANNOTATION_VALUE_CHARS: usize = 1000;
const MAX_SEGMENT_NAME_CHARS: usize = 200;
const MAX_SUBSEGMENT_NAME_CHARS: usize = 250;

/// What every document of the process says about where it runs, read once from the resource.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Origin {
    /// `origin` of segments (`AWS::Lambda::Function` in Lambda).
    origin: Option<&'static str>,
    /// `aws.xray`: the SDK that made the documents (`sdk`, `sdk_version`).
    xray: Json,
    account_id: Option<String>,
    /// The region subsegments default to.
    region: Option<String>,
    service_version: Option<String>,
    log_groups: Vec<String>,
    log_group_arns: Vec<String>,
}

impl Default for Origin {
    /// Nothing known: not on AWS, the OpenTelemetry SDK for Rust.
    fn default() -> Self {
        Self::from_resource(&Resource::builder_empty().build())
    }
}

impl Origin {
    pub(crate) fn from_resource(resource: &Resource) -> Self {
        let mut origin = Origin {
            origin: None,
            xray: Json::Null,
            account_id: None,
            region: None,
            service_version: None,
            log_groups: Vec::new(),
            log_group_arns: Vec::new(),
        };
        let (mut provider, mut platform) = (None, None);
        let (mut sdk_name, mut sdk_language, mut sdk_version) = (None, None, None);
        for (key, value) in resource.iter() {
            let text = || Some(value.as_str().into_owned());
            match key.as_str() {
                "cloud.provider" => provider = text(),
                "cloud.platform" => platform = text(),
                "telemetry.sdk.name" => sdk_name = text(),
                "telemetry.sdk.language" => sdk_language = text(),
                "telemetry.sdk.version" => sdk_version = text(),
                "cloud.account.id" => origin.account_id = text(),
                "cloud.region" => origin.region = text(),
                "service.version" => origin.service_version = text(),
                "aws.log.group.names" => origin.log_groups = strings(value),
                "aws.log.group.arns" => origin.log_group_arns = strings(value),
                _ => {}
            }
        }
        origin.origin = match (provider.as_deref(), platform.as_deref()) {
            (Some("aws"), Some("aws_lambda")) => Some("AWS::Lambda::Function"),
            (Some("aws"), Some("aws_ec2")) => Some("AWS::EC2::Instance"),
            (Some("aws"), Some("aws_ecs")) => Some("AWS::ECS::Container"),
            (Some("aws"), Some("aws_eks")) => Some("AWS::EKS::Container"),
            (Some("aws"), Some("aws_elastic_beanstalk")) => {
                Some("AWS::ElasticBeanstalk::Environment")
            }
            _ => None,
        };
        let mut xray = Map::new();
        let sdk = format!(
            "{} for {}",
            sdk_name.as_deref().unwrap_or("opentelemetry"),
            sdk_language.as_deref().unwrap_or("rust")
        );
        xray.insert("sdk".into(), sdk.into());
        if let Some(version) = sdk_version {
            xray.insert("sdk_version".into(), version.into());
        }
        origin.xray = xray.into();
        origin
    }
}

/// A string or a list of strings as a list.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(Array::String(items)) => items.iter().map(|s| s.as_str().to_owned()).collect(),
        Value::String(s) => vec![s.as_str().to_owned()],
        _ => Vec::new(),
    }
}

/// The span attributes X-Ray has a field for (OpenTelemetry semantic conventions, current and
/// older names).
#[derive(Default)]
struct Known<'a> {
    peer_service: Option<&'a Value>,
    aws_service: Option<&'a Value>,
    rpc_is_aws: bool,
    rpc_service: Option<&'a Value>,
    operation: Option<&'a Value>,
    db_service: Option<&'a Value>,
    db_system: Option<&'a Value>,
    db_query: Option<&'a Value>,
    db_user: Option<&'a Value>,
    method: Option<&'a Value>,
    url: Option<&'a Value>,
    status: Option<u16>,
    content_length: Option<i64>,
    client_ip: Option<&'a Value>,
    user_agent: Option<&'a Value>,
    region: Option<&'a Value>,
    request_id: Option<&'a Value>,
    table_name: Option<&'a Value>,
    table_names: Option<&'a Value>,
    queue_url: Option<&'a Value>,
    user: Option<&'a Value>,
}

impl<'a> Known<'a> {
    fn note(&mut self, key: &str, value: &'a Value) {
        let slot = match key {
            "peer.service" => &mut self.peer_service,
            "aws.service" => &mut self.aws_service,
            "rpc.system" => {
                self.rpc_is_aws = value.as_str() == "aws-api";
                return;
            }
            "rpc.service" => &mut self.rpc_service,
            "aws.operation" => &mut self.operation,
            "rpc.method" => {
                self.operation.get_or_insert(value);
                return;
            }
            "db.service" => &mut self.db_service,
            "db.system" | "db.system.name" => &mut self.db_system,
            "db.query.text" | "db.statement" => &mut self.db_query,
            "db.user" => &mut self.db_user,
            "http.request.method" | "http.method" => &mut self.method,
            "url.full" | "http.url" => &mut self.url,
            "client.address" => &mut self.client_ip,
            "user_agent.original" => &mut self.user_agent,
            "aws.region" => &mut self.region,
            "aws.request_id" => &mut self.request_id,
            "aws.table.name" => &mut self.table_name,
            "aws.dynamodb.table_names" => &mut self.table_names,
            "aws.queue_url" | "aws.sqs.queue_url" => &mut self.queue_url,
            "enduser.id" => &mut self.user,
            "http.response.status_code" | "http.status_code" => {
                self.status = integer(value).and_then(|code| u16::try_from(code).ok());
                return;
            }
            "http.response.body.size" => {
                self.content_length = integer(value);
                return;
            }
            _ => return,
        };
        *slot = Some(value);
    }

    /// The downstream node's name where the span names one, else the span's own name.
    fn name(&self, span_name: &'a str) -> String {
        let named = self
            .peer_service
            .or(self.aws_service)
            .or(self.rpc_service.filter(|_| self.rpc_is_aws))
            .or(self.db_service);
        match named {
            Some(value) => value.as_str().into_owned(),
            None => span_name.to_owned(),
        }
    }
}

/// X-Ray's segment documents for spans received over OTLP (by an X-Ray stand-in, say), as X-Ray
/// would draw them: one per span with valid ids, `resource` saying where they ran. The attributes
/// a span lists in `aws.xray.annotations` are its annotations; the others are metadata.
pub fn segment_documents(resource: &Resource, spans: &[SpanData]) -> Vec<Json> {
    let origin = Origin::from_resource(resource);
    spans
        .iter()
        .filter_map(|span| segment_document(span, &origin, &[]))
        .collect()
}

/// The segment document of one span, or `None` for a span without valid ids. Attributes named in
/// `annotations` (field, key) become annotations too; every other attribute is in the metadata
/// (long strings cut and marked), so nothing is dropped silently. Attributes named
/// `annotation.<key>`, and those the span lists in `aws.xray.annotations`, are annotations only;
/// `metadata.<key>` is metadata under `<key>`.
pub(crate) fn segment_document(
    span: &SpanData,
    origin: &Origin,
    annotations: &[(String, String)],
) -> Option<Json> {
    let context = &span.span_context;
    if context.trace_id() == TraceId::INVALID || context.span_id() == SpanId::INVALID {
        return None;
    }
    let is_segment = span.span_kind == SpanKind::Server;
    let mut known = Known::default();
    let mut annotated = Map::new();
    let mut metadata = Map::new();
    let listed = span
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == XRAY_ANNOTATIONS_ATTRIBUTE)
        .map(|kv| strings(&kv.value))
        .unwrap_or_default();
    for kv in &span.attributes {
        let key = kv.key.as_str();
        if key == XRAY_ANNOTATIONS_ATTRIBUTE {
            continue;
        }
        if listed.iter().any(|listed| listed == key) {
            annotate(&mut annotated, annotation_key(key), &kv.value);
            known.note(key, &kv.value);
            continue;
        }
        if let Some(key) = key.strip_prefix("annotation.") {
            annotate(&mut annotated, annotation_key(key), &kv.value);
            known.note(key, &kv.value);
            continue;
        }
        let key = key.strip_prefix("metadata.").unwrap_or(key);
        known.note(key, &kv.value);
        // Configured keys are valid already (`Settings::annotation`).
        if let Some((_, annotation)) = annotations.iter().find(|(field, _)| field == key) {
            annotate(&mut annotated, annotation.clone(), &kv.value);
        }
        metadata.insert(key.to_owned(), json_value(&kv.value));
    }

    let mut doc = Map::new();
    let limit = if is_segment {
        MAX_SEGMENT_NAME_CHARS
    } else {
        MAX_SUBSEGMENT_NAME_CHARS
    };
    doc.insert(
        "name".into(),
        valid_name(&known.name(&span.name), limit).into(),
    );
    doc.insert("id".into(), context.span_id().to_string().into());
    doc.insert("trace_id".into(), xray_trace_id(context.trace_id()).into());
    doc.insert("start_time".into(), epoch_seconds(span.start_time).into());
    doc.insert("end_time".into(), epoch_seconds(span.end_time).into());
    if span.parent_span_id != SpanId::INVALID {
        doc.insert("parent_id".into(), span.parent_span_id.to_string().into());
    }
    if is_segment {
        if let Some(origin) = origin.origin {
            doc.insert("origin".into(), origin.into());
        }
        if let Some(user) = known.user {
            doc.insert("user".into(), text(user).into());
        }
        if let Some(version) = &origin.service_version {
            doc.insert("service".into(), json!({ "version": version }));
        }
    } else {
        doc.insert("type".into(), "subsegment".into());
        let namespace = if known.rpc_is_aws || known.aws_service.is_some() {
            Some("aws")
        } else if span.span_kind == SpanKind::Client {
            Some("remote")
        } else {
            None
        };
        if let Some(namespace) = namespace {
            doc.insert("namespace".into(), namespace.into());
        }
        insert_sql(&mut doc, &known);
    }
    insert_http(&mut doc, &known);
    insert_aws(&mut doc, &known, origin, is_segment);
    if !origin.log_groups.is_empty() || !origin.log_group_arns.is_empty() {
        let mut logs = Map::new();
        if !origin.log_groups.is_empty() {
            logs.insert("log_group".into(), json!(origin.log_groups));
        }
        if !origin.log_group_arns.is_empty() {
            logs.insert("arn".into(), json!(origin.log_group_arns));
        }
        doc.insert("cloudwatch_logs".into(), logs.into());
    }
    insert_errors(&mut doc, span, &known);
    if !annotated.is_empty() {
        doc.insert("annotations".into(), annotated.into());
    }
    if !metadata.is_empty() {
        doc.insert("metadata".into(), metadata.into());
    }
    Some(doc.into())
}

fn insert_sql(doc: &mut Map<String, Json>, known: &Known<'_>) {
    let mut sql = Map::new();
    // DynamoDB is an `aws` call, not a database X-Ray draws queries for: set as a database type,
    // the console stops showing its operations.
    if let Some(system) = known
        .db_system
        .filter(|system| system.as_str() != "aws.dynamodb")
    {
        sql.insert("database_type".into(), text(system).into());
    }
    if let Some(query) = known.db_query {
        sql.insert("sanitized_query".into(), text(query).into());
    }
    if let Some(user) = known.db_user {
        sql.insert("user".into(), text(user).into());
    }
    if !sql.is_empty() {
        doc.insert("sql".into(), sql.into());
    }
}

fn insert_http(doc: &mut Map<String, Json>, known: &Known<'_>) {
    let mut request = Map::new();
    for (field, value) in [
        ("method", known.method),
        ("url", known.url),
        ("client_ip", known.client_ip),
        ("user_agent", known.user_agent),
    ] {
        if let Some(value) = value {
            request.insert(field.into(), text(value).into());
        }
    }
    let mut response = Map::new();
    if let Some(status) = known.status {
        response.insert("status".into(), status.into());
    }
    if let Some(length) = known.content_length {
        response.insert("content_length".into(), length.into());
    }
    let mut http = Map::new();
    if !request.is_empty() {
        http.insert("request".into(), request.into());
    }
    if !response.is_empty() {
        http.insert("response".into(), response.into());
    }
    if !http.is_empty() {
        doc.insert("http".into(), http.into());
    }
}

fn insert_aws(doc: &mut Map<String, Json>, known: &Known<'_>, origin: &Origin, is_segment: bool) {
    let mut aws = Map::new();
    aws.insert("xray".into(), origin.xray.clone());
    if let Some(account) = &origin.account_id {
        aws.insert("account_id".into(), account.clone().into());
    }
    if !is_segment {
        // What the call was: X-Ray's AWS fields belong to the subsegment of the call.
        if let Some(operation) = known.operation {
            aws.insert("operation".into(), text(operation).into());
        }
        let region = known.region.map(text).or_else(|| origin.region.clone());
        if let Some(region) = region {
            aws.insert("region".into(), region.into());
        }
        if let Some(id) = known.request_id {
            aws.insert("request_id".into(), text(id).into());
        }
        if let Some(url) = known.queue_url {
            aws.insert("queue_url".into(), text(url).into());
        }
        let names = known.table_names.map(strings).unwrap_or_default();
        if let Some(name) = known
            .table_name
            .map(text)
            .or_else(|| names.first().cloned())
        {
            aws.insert("table_name".into(), name.into());
        }
        if names.len() > 1 {
            aws.insert("table_names".into(), json!(names));
        }
    }
    doc.insert("aws".into(), aws.into());
}

/// X-Ray's flags and cause for a span in error: 429 is a throttle (and an error), another 4xx an
/// error, a 5xx (or an error without a status) a fault; each `exception` event is an exception
/// of the cause.
fn insert_errors(doc: &mut Map<String, Json>, span: &SpanData, known: &Known<'_>) {
    let in_error = matches!(span.status, Status::Error { .. });
    let exceptions: Vec<_> = span
        .events
        .iter()
        .filter(|event| event.name == "exception")
        .collect();
    if !in_error && exceptions.is_empty() {
        return;
    }
    match known.status {
        Some(429) => {
            doc.insert("throttle".into(), true.into());
            doc.insert("error".into(), true.into());
        }
        Some(400..=499) => {
            doc.insert("error".into(), true.into());
        }
        Some(500..=599) => {
            doc.insert("fault".into(), true.into());
        }
        _ if in_error => {
            doc.insert("fault".into(), true.into());
        }
        _ => {}
    }
    if exceptions.is_empty() {
        return;
    }
    let description = match &span.status {
        Status::Error { description } if !description.is_empty() => Some(description.to_string()),
        _ => None,
    };
    let remote = matches!(span.span_kind, SpanKind::Client | SpanKind::Producer);
    let span_id = u64::from_be_bytes(span.span_context.span_id().to_bytes());
    let exceptions: Vec<Json> = exceptions
        .iter()
        .enumerate()
        .map(|(index, event)| {
            let mut exception = Map::new();
            // Unique among the trace's exceptions: the span's id, told apart by position.
            exception.insert(
                "id".into(),
                format!("{:016x}", span_id ^ index as u64).into(),
            );
            let attribute = |key: &str| {
                event
                    .attributes
                    .iter()
                    .find(|kv| kv.key.as_str() == key)
                    .map(|kv| text(&kv.value))
            };
            if let Some(kind) = attribute("exception.type") {
                exception.insert("type".into(), kind.into());
            }
            if let Some(message) = attribute("exception.message").or_else(|| description.clone()) {
                exception.insert("message".into(), message.into());
            }
            if remote {
                exception.insert("remote".into(), true.into());
            }
            exception.into()
        })
        .collect();
    doc.insert("cause".into(), json!({ "exceptions": exceptions }));
}

/// Adds an annotation under a valid `key` ([`annotation_key`]): X-Ray indexes booleans, numbers
/// and strings of up to 1,000 characters, at most 50 per document.
fn annotate(annotations: &mut Map<String, Json>, key: String, value: &Value) {
    let value = match value {
        Value::Bool(b) => Json::from(*b),
        Value::I64(i) => Json::from(*i),
        Value::F64(f) if f.is_finite() => Json::from(*f),
        Value::String(s) if s.as_str().chars().count() <= MAX_ANNOTATION_VALUE_CHARS => {
            Json::from(s.as_str())
        }
        _ => return,
    };
    if key.is_empty() || (annotations.len() >= MAX_ANNOTATIONS && !annotations.contains_key(&key)) {
        return;
    }
    annotations.insert(key, value);
}

/// An attribute as metadata: strings longer than [`MAX_ATTRIBUTE_CHARS`] are cut and marked.
fn json_value(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::from(*b),
        Value::I64(i) => Json::from(*i),
        Value::F64(f) => Json::from(*f),
        Value::String(s) => Json::from(cut(s.as_str())),
        Value::Array(Array::Bool(items)) => json!(items),
        Value::Array(Array::I64(items)) => json!(items),
        Value::Array(Array::F64(items)) => json!(items),
        Value::Array(Array::String(items)) => {
            Json::Array(items.iter().map(|s| Json::from(cut(s.as_str()))).collect())
        }
        other => Json::from(cut(&other.as_str())),
    }
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_ATTRIBUTE_CHARS) {
        Some((end, _)) => format!("{}…[truncated]", &s[..end]),
        None => s.to_owned(),
    }
}

fn text(value: &Value) -> String {
    value.as_str().into_owned()
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::I64(i) => Some(*i),
        Value::String(s) => s.as_str().trim().parse().ok(),
        _ => None,
    }
}

/// A name X-Ray accepts: letters, numbers, spaces and `_ . : / % & # = + - @`, 1 to `limit`
/// characters. Other characters become `_`.
fn valid_name(name: &str, limit: usize) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            let allowed = c.is_alphanumeric()
                || (c.is_whitespace() && !c.is_control())
                || "_.:/%&#=+-@".contains(c);
            if allowed {
                c
            } else {
                '_'
            }
        })
        .take(limit)
        .collect();
    if name.trim().is_empty() {
        "unnamed".into()
    } else {
        name
    }
}

fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use opentelemetry::trace::{Event, SpanContext, TraceFlags, TraceState};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};

    use super::*;

    const TRACE: u128 = 0x5759e988_bd862e3fe1be46a994272793;
    const SPAN: u64 = 0x53995c3f42cd8ad8;
    const PARENT: u64 = 0x70de5b6f19ff9a0a;

    fn span(kind: SpanKind, name: &'static str, attributes: Vec<KeyValue>) -> SpanData {
        let start = UNIX_EPOCH + Duration::from_millis(1_478_293_361_271);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(TRACE),
                SpanId::from(SPAN),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::from(PARENT),
            parent_span_is_remote: false,
            span_kind: kind,
            name: name.into(),
            start_time: start,
            end_time: start + Duration::from_millis(250),
            attributes,
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::default(),
        }
    }

    fn lambda() -> Origin {
        Origin::from_resource(
            &Resource::builder_empty()
                .with_attributes([
                    // A segment is named after its function, not the whole service.
                    KeyValue::new("service.name", "orders"),
                    KeyValue::new("cloud.provider", "aws"),
                    KeyValue::new("cloud.platform", "aws_lambda"),
                    KeyValue::new("cloud.region", "eu-west-1"),
                    KeyValue::new("telemetry.sdk.name", "opentelemetry"),
                    KeyValue::new("telemetry.sdk.language", "rust"),
                    KeyValue::new("telemetry.sdk.version", "0.33.1"),
                    KeyValue::new(
                        "aws.log.group.names",
                        Value::Array(Array::String(vec!["/aws/lambda/list-orders".into()])),
                    ),
                ])
                .build(),
        )
    }

    fn document(span: &SpanData) -> Json {
        segment_document(span, &lambda(), &[("app.handle".into(), "handle".into())]).unwrap()
    }

    #[test]
    fn a_server_span_is_a_segment_of_its_function() {
        let doc = document(&span(
            SpanKind::Server,
            "list-orders",
            vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.full", "https://api.example.com/api/orders"),
                KeyValue::new("http.response.status_code", 200),
                KeyValue::new("app.handle", "worf"),
            ],
        ));
        assert_eq!(
            doc,
            json!({
                "name": "list-orders",
                "id": "53995c3f42cd8ad8",
                "trace_id": "1-5759e988-bd862e3fe1be46a994272793",
                "parent_id": "70de5b6f19ff9a0a",
                "start_time": 1_478_293_361.271,
                "end_time": 1_478_293_361.521,
                "origin": "AWS::Lambda::Function",
                "http": {
                    "request": {"method": "GET", "url": "https://api.example.com/api/orders"},
                    "response": {"status": 200}
                },
                "aws": {"xray": {"sdk": "opentelemetry for rust", "sdk_version": "0.33.1"}},
                "cloudwatch_logs": {"log_group": ["/aws/lambda/list-orders"]},
                "annotations": {"handle": "worf"},
                "metadata": {
                    "http.request.method": "GET",
                    "url.full": "https://api.example.com/api/orders",
                    "http.response.status_code": 200,
                    "app.handle": "worf"
                }
            })
        );
    }

    #[test]
    fn an_aws_sdk_call_is_an_aws_subsegment_named_after_the_service() {
        let doc = document(&span(
            SpanKind::Client,
            "Query",
            vec![
                KeyValue::new("rpc.system", "aws-api"),
                KeyValue::new("rpc.service", "DynamoDB"),
                KeyValue::new("rpc.method", "Query"),
                KeyValue::new("db.system", "dynamodb"),
                KeyValue::new("aws.table.name", "orders"),
                KeyValue::new("aws.region", "us-east-1"),
                KeyValue::new("aws.request_id", "R2D2"),
            ],
        ));
        assert_eq!(doc["type"], "subsegment");
        assert_eq!(doc["name"], "DynamoDB");
        assert_eq!(doc["namespace"], "aws");
        assert_eq!(doc["parent_id"], "70de5b6f19ff9a0a");
        assert_eq!(
            doc["aws"],
            json!({
                "xray": {"sdk": "opentelemetry for rust", "sdk_version": "0.33.1"},
                "operation": "Query",
                "region": "us-east-1",
                "request_id": "R2D2",
                "table_name": "orders"
            })
        );
        assert_eq!(doc["sql"], json!({"database_type": "dynamodb"}));
        assert!(doc.get("origin").is_none(), "origin is for segments");
    }

    #[test]
    fn a_database_call_is_a_remote_subsegment_named_after_its_peer() {
        let doc = document(&span(
            SpanKind::Client,
            "recent_orders",
            vec![
                KeyValue::new("peer.service", "SQLite"),
                KeyValue::new("db.system", "sqlite"),
                KeyValue::new("db.operation", "recent_orders"),
            ],
        ));
        assert_eq!(doc["name"], "SQLite");
        assert_eq!(doc["namespace"], "remote");
        assert_eq!(doc["sql"], json!({"database_type": "sqlite"}));
        assert_eq!(doc["metadata"]["db.operation"], "recent_orders");
        // Subsegments default to the function's region.
        assert_eq!(doc["aws"]["region"], "eu-west-1");

        let internal = document(&span(SpanKind::Internal, "handler", vec![]));
        assert_eq!(internal["type"], "subsegment");
        assert_eq!(internal["name"], "handler");
        assert!(internal.get("namespace").is_none());
        assert!(internal.get("metadata").is_none());
    }

    #[test]
    fn statuses_set_xray_flags_only_on_spans_in_error() {
        let flags = |status: i64, error: bool| {
            let mut span = span(
                SpanKind::Server,
                "f",
                vec![KeyValue::new("http.response.status_code", status)],
            );
            if error {
                span.status = Status::error(format!("HTTP {status}"));
            }
            let doc = document(&span);
            ["error", "throttle", "fault"].map(|flag| doc.get(flag) == Some(&Json::Bool(true)))
        };
        assert_eq!(flags(200, false), [false, false, false]);
        assert_eq!(flags(404, false), [false, false, false]);
        assert_eq!(flags(404, true), [true, false, false]);
        assert_eq!(flags(429, true), [true, true, false]);
        assert_eq!(flags(503, true), [false, false, true]);
        let mut unknown = span(SpanKind::Internal, "f", vec![]);
        unknown.status = Status::error("boom");
        assert_eq!(document(&unknown)["fault"], true);
    }

    #[test]
    fn exception_events_are_the_cause() {
        let mut call = span(SpanKind::Client, "call", vec![]);
        call.status = Status::error("the store did not answer");
        call.events.events = vec![
            Event::new(
                "exception",
                SystemTime::now(),
                vec![
                    KeyValue::new("exception.type", "ServiceUnavailable"),
                    KeyValue::new("exception.message", "store unavailable"),
                ],
                0,
            ),
            Event::new(
                "exception",
                SystemTime::now(),
                vec![KeyValue::new("exception.type", "Timeout")],
                0,
            ),
            Event::new("retry", SystemTime::now(), vec![], 0),
        ];
        let doc = document(&call);
        assert_eq!(doc["fault"], true);
        let exceptions = doc["cause"]["exceptions"].as_array().unwrap();
        assert_eq!(exceptions.len(), 2);
        assert_eq!(exceptions[0]["type"], "ServiceUnavailable");
        assert_eq!(exceptions[0]["message"], "store unavailable");
        assert_eq!(exceptions[0]["remote"], true);
        // Without a message of its own, the span's error description.
        assert_eq!(exceptions[1]["message"], "the store did not answer");
        assert_ne!(exceptions[0]["id"], exceptions[1]["id"]);
        assert_eq!(exceptions[1]["id"].as_str().unwrap().len(), 16);
    }

    #[test]
    fn annotations_follow_xray_rules_and_metadata_keeps_everything() {
        let mut attributes = vec![
            KeyValue::new("annotation.user id", "u-1"),
            KeyValue::new("metadata.blob", "y".repeat(10_000)),
            KeyValue::new("app.handle", "z".repeat(1_001)),
            KeyValue::new("ratio", 0.5),
            KeyValue::new("ids", Value::Array(Array::I64(vec![1, 2]))),
        ];
        for i in 0..60 {
            attributes.push(KeyValue::new(format!("annotation.k{i}"), i64::from(i)));
        }
        let doc = document(&span(SpanKind::Internal, "work", attributes));
        let annotations = doc["annotations"].as_object().unwrap();
        assert_eq!(annotations.len(), MAX_ANNOTATIONS);
        assert_eq!(annotations["user_id"], "u-1");
        // Too long to index: metadata only.
        assert!(!annotations.contains_key("handle"));
        assert_eq!(doc["metadata"]["app.handle"].as_str().unwrap().len(), 1_001);
        assert!(doc["metadata"].get("annotation.user id").is_none());
        let blob = doc["metadata"]["blob"].as_str().unwrap();
        assert!(blob.ends_with("…[truncated]"));
        assert_eq!(
            blob.chars().count(),
            MAX_ATTRIBUTE_CHARS + "…[truncated]".chars().count()
        );
        assert_eq!(doc["metadata"]["ratio"], 0.5);
        assert_eq!(doc["metadata"]["ids"], json!([1, 2]));
    }

    #[test]
    fn names_xray_would_refuse_are_repaired_not_dropped() {
        let doc = document(&span(SpanKind::Internal, "GET /users/{handle}?x=1", vec![]));
        assert_eq!(doc["name"], "GET /users/_handle__x=1");
        let doc = document(&span(SpanKind::Internal, "", vec![]));
        assert_eq!(doc["name"], "unnamed");
        let long: &'static str = "n".repeat(300).leak();
        let doc = document(&span(SpanKind::Server, long, vec![]));
        assert_eq!(doc["name"].as_str().unwrap().len(), MAX_SEGMENT_NAME_CHARS);
        let doc = document(&span(SpanKind::Internal, "名前 ünd zahlen 42", vec![]));
        assert_eq!(doc["name"], "名前 ünd zahlen 42");
    }

    #[test]
    fn spans_without_ids_have_no_document() {
        let mut no_trace = span(SpanKind::Server, "f", vec![]);
        no_trace.span_context = SpanContext::empty_context();
        assert!(segment_document(&no_trace, &lambda(), &[]).is_none());
        let mut root = span(SpanKind::Server, "f", vec![]);
        root.parent_span_id = SpanId::INVALID;
        let doc = segment_document(&root, &Origin::default(), &[]).unwrap();
        assert!(doc.get("parent_id").is_none());
        assert!(doc.get("origin").is_none(), "not on AWS: no origin");
        assert_eq!(doc["aws"]["xray"]["sdk"], "opentelemetry for rust");
    }
}
